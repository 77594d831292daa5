/*
 * util.c - small helpers every file of the core shares: error names,
 * bounded string copies and the growable text buffer metrics render into.
 *
 * Must never: hold state. Nothing here has a global.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *vigil_strerror(int err) {
  switch (err) {
  case VIGIL_OK: return "ok";
  case VIGIL_EINVAL: return "invalid argument";
  case VIGIL_ENOMEM: return "out of memory";
  case VIGIL_ENOENT: return "no such peer";
  case VIGIL_EEXIST: return "peer already exists";
  case VIGIL_ERANGE: return "value out of range";
  case VIGIL_ENAMETOOLONG: return "name too long";
  case VIGIL_ELOCAL: return "not allowed on the local peer";
  default: return "unknown error";
  }
}

uint32_t vigil_hash(const void *data, size_t n) {
  const unsigned char *p = data;
  uint32_t x = 2166136261u;
  for (size_t i = 0; i < n; i++) x = (x ^ p[i]) * 16777619u;
  return x;
}

bool vigil__copy(char *dst, size_t cap, const char *src) {
  size_t n = strlen(src);
  if (n >= cap) {
    if (cap) dst[0] = '\0';
    return false;
  }
  memcpy(dst, src, n + 1);
  return true;
}

static bool buf__reserve(vigil__buf *b, size_t extra) {
  if (b->failed) return false;
  if (b->len + extra + 1 <= b->cap) return true;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + extra + 1) cap *= 2;
  char *d = realloc(b->data, cap);
  if (!d) {
    b->failed = true;
    return false;
  }
  b->data = d;
  b->cap = cap;
  return true;
}

void vigil__buf_printf(vigil__buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || !buf__reserve(b, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void vigil__buf_puts(vigil__buf *b, const char *s) {
  size_t n = strlen(s);
  if (!buf__reserve(b, n)) return;
  memcpy(b->data + b->len, s, n + 1);
  b->len += n;
}

void vigil__buf_label(vigil__buf *b, const char *s) {
  for (; *s; s++) {
    const char *esc = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n" : NULL;
    if (esc) {
      vigil__buf_puts(b, esc);
    } else if (buf__reserve(b, 1)) {
      b->data[b->len++] = *s;
      b->data[b->len] = '\0';
    }
  }
}

void vigil__buf_value(vigil__buf *b, double v) {
  if (isnan(v))
    vigil__buf_puts(b, "NaN");
  else if (isinf(v))
    vigil__buf_puts(b, v > 0 ? "+Inf" : "-Inf");
  else if (v == floor(v) && fabs(v) < 1e15)
    vigil__buf_printf(b, "%.0f", v);
  else
    vigil__buf_printf(b, "%.17g", v);
}

bool vigil_name_valid(const char *name) {
  size_t n = 0;
  if (!name) return false;
  for (; name[n]; n++)
    if (n + 1 >= VIGIL_NAME_MAX || !vigil__name_char((unsigned char)name[n])) return false;
  return n > 0;
}
