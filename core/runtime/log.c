/*
 * log.c - the agent's logs: one logfmt line per record on stderr; and the
 * one escaper through which every string the agent writes for a program to
 * parse goes: log values here, JSON strings in api.c.
 *
 * Owns: the log level (the process's one piece of mutable global state
 * outside the agent: both threads log), the line format -- ts, level, msg,
 * then key=value fields -- and the escapes.
 *
 * The rules (docs/AGENT.md, "Logs"); go-logfmt writes the same, less the
 * extra escapes below, and logfmt readers (go-logfmt, Loki, Vector) undo them:
 *  - a value is written bare when it is not empty and holds no space, '=',
 *    '"', '\\', control byte (< 0x20, 0x7f) or anything the escapes below
 *    change; otherwise it is quoted. msg is always quoted.
 *  - inside quotes, a value is escaped as a JSON string is: '"' and '\\'
 *    with a backslash, \n \r \t as such, every other control byte as
 *    \u00XX; and, so that what a stranger or a policy wrote cannot pass for
 *    something else on a terminal or in a browser, the C1 controls
 *    (U+0080..U+009F), the bidirectional controls (U+061C, U+200E, U+200F,
 *    U+202A..U+202E, U+2066..U+2069) and the line and paragraph separators
 *    (U+2028, U+2029) as \uXXXX. Bytes that are not UTF-8 become \ufffd,
 *    one per maximal ill-formed subsequence (Unicode's "substitution of
 *    maximal subparts"). A quoted value is therefore a valid JSON string
 *    literal, all of it valid UTF-8.
 *  - keys are [A-Za-z0-9_.-], at most 64: any other byte is written '_' (the
 *    policy layer refuses such keys first, lua/vigil/init.lua; this is the
 *    last guard).
 *
 * Must never: write a line in pieces (one fwrite per line, so the core and
 * script threads never interleave inside a line), grow a line without
 * bound (1 KiB: a value that does not fit is cut at a character boundary,
 * its quote closed, the fields after it dropped, and the line ends with
 * truncated=true), or let a value end a field, a line or a quote.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "runtime.h"

#define LOG__LINE 1024 /* bytes of a line, its newline included */
#define LOG__CUT  " truncated=true"
#define LOG__BODY (LOG__LINE - 1 - (sizeof LOG__CUT - 1)) /* room for the fields, the marker kept free */

static vigil_log_level log__level = VIGIL_LOG_INFO;

int vigil_log_level_parse(const char *name) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  for (int i = 0; i < 4; i++)
    if (strcmp(name, names[i]) == 0) return i;
  return -1;
}

void vigil_log_set_level(vigil_log_level lvl) { log__level = lvl; }

bool vigil__log_enabled(vigil_log_level lvl) { return lvl >= log__level; }

/* ---- the escapes -------------------------------------------------------- */

/* Code points written as \uXXXX although they are valid UTF-8. */
static bool log__special(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029;
}

static size_t log__u(char *out, uint32_t cp) {
  static const char hex[] = "0123456789abcdef";
  out[0] = '\\';
  out[1] = 'u';
  out[2] = hex[(cp >> 12) & 15];
  out[3] = hex[(cp >> 8) & 15];
  out[4] = hex[(cp >> 4) & 15];
  out[5] = hex[cp & 15];
  return 6;
}

size_t vigil__escape_char(const char *str, size_t n, char out[VIGIL__ESCAPE_MAX], size_t *len, bool *escaped) {
  const unsigned char *s = (const unsigned char *)str;
  unsigned c = s[0];
  *escaped = true;
  if (c < 0x80) {
    const char *short_form = c == '"'    ? "\\\""
                             : c == '\\' ? "\\\\"
                             : c == '\n' ? "\\n"
                             : c == '\r' ? "\\r"
                             : c == '\t' ? "\\t"
                                         : NULL;
    if (short_form) {
      memcpy(out, short_form, 2);
      *len = 2;
    } else if (c < 0x20 || c == 0x7f) {
      *len = log__u(out, c);
    } else {
      out[0] = (char)c;
      *len = 1;
      *escaped = false;
    }
    return 1;
  }
  /* RFC 3629: the lead byte says how long the sequence is and narrows the
   * range of the second byte (no overlong forms, no surrogates, nothing
   * past U+10FFFF). */
  size_t need = 0;
  unsigned lo = 0x80, hi = 0xbf;
  uint32_t cp = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    need = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    need = 3;
    cp = c & 0x0f;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 4;
    cp = c & 0x07;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  }
  size_t i = 1;
  for (; i < need && i < n; i++) {
    unsigned b = s[i];
    if (b < lo || b > hi) break;
    lo = 0x80;
    hi = 0xbf;
    cp = cp << 6 | (b & 0x3f);
  }
  if (need == 0 || i < need) { /* ill-formed: its maximal subpart, i bytes, is one U+FFFD */
    *len = log__u(out, 0xfffd);
    return i;
  }
  if (log__special(cp)) {
    *len = log__u(out, cp);
  } else {
    memcpy(out, s, need);
    *len = need;
    *escaped = false;
  }
  return need;
}

/* ---- lines ---------------------------------------------------------------- */

/* Text being put together, at most max bytes (plus a NUL): a log line, or
 * a value quoted for a caller's printf. */
typedef struct log__out {
  char *p;
  size_t len, max;
  bool cut; /* something did not fit: nothing more goes in */
} log__out;

/* Whether s[0..n) must be quoted to be one logfmt value. */
static bool log__needs_quotes(const char *s, size_t n) {
  if (n == 0) return true;
  char esc[VIGIL__ESCAPE_MAX];
  size_t len;
  bool escaped;
  for (size_t i = 0; i < n;) {
    if (s[i] == ' ' || s[i] == '=') return true;
    i += vigil__escape_char(s + i, n - i, esc, &len, &escaped);
    if (escaped) return true;
  }
  return false;
}

/* Append s[0..n) as one value. When it does not fit, as much as fits is
 * written, cut between two characters, and its quote closed. */
static void log__value(log__out *o, const char *s, size_t n, bool quote) {
  if (o->cut) return;
  quote = quote || log__needs_quotes(s, n);
  size_t close = quote ? 1 : 0; /* kept free for the closing quote */
  if (o->len + 2 * close > o->max) {
    o->cut = true;
    return;
  }
  if (quote) o->p[o->len++] = '"';
  char esc[VIGIL__ESCAPE_MAX];
  size_t len;
  bool escaped;
  for (size_t i = 0; i < n;) {
    size_t used = vigil__escape_char(s + i, n - i, esc, &len, &escaped);
    if (o->len + len + close > o->max) {
      o->cut = true;
      break;
    }
    memcpy(o->p + o->len, esc, len);
    o->len += len;
    i += used;
  }
  if (quote) o->p[o->len++] = '"';
}

/* Append " key=value". A key byte outside [A-Za-z0-9_.-] is written '_'. */
static void log__field(log__out *o, const char *key, const char *value, size_t n) {
  if (o->cut) return;
  size_t k = strlen(key);
  if (k > 64) k = 64;
  if (o->len + 1 + (k ? k : 1) + 1 > o->max) {
    o->cut = true;
    return;
  }
  o->p[o->len++] = ' ';
  for (size_t i = 0; i < k; i++) {
    char c = key[i];
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    o->p[o->len++] = ok ? c : '_';
  }
  if (k == 0) o->p[o->len++] = '_';
  o->p[o->len++] = '=';
  log__value(o, value, n, false);
}

/* Append fields the runtime formatted itself ("k=v k2=\"v 2\"", values
 * already quoted by vigil__log_quote where they need it). When they do not
 * all fit, whole fields are kept: the text is cut at the last space outside
 * quotes that fits. */
static void log__formatted(log__out *o, const char *s) {
  size_t n = strlen(s);
  if (o->cut || n == 0) return;
  if (o->len + 1 + n <= o->max) {
    o->p[o->len++] = ' ';
    memcpy(o->p + o->len, s, n);
    o->len += n;
    return;
  }
  size_t room = o->max - o->len - 1, last = 0;
  bool in_quotes = false;
  for (size_t i = 0; i <= room && i < n; i++) {
    if (in_quotes && s[i] == '\\') {
      i++;
    } else if (s[i] == '"') {
      in_quotes = !in_quotes;
    } else if (s[i] == ' ' && !in_quotes) {
      last = i;
    }
  }
  if (last > 0) {
    o->p[o->len++] = ' ';
    memcpy(o->p + o->len, s, last);
    o->len += last;
  }
  o->cut = true;
}

/* ts=... level=... msg="...", into a LOG__LINE buffer. */
static void log__start(log__out *o, char *line, vigil_log_level lvl, const char *msg) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  o->p = line;
  o->max = LOG__BODY;
  o->cut = false;
  int n = snprintf(line, LOG__LINE, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[lvl]);
  o->len = n > 0 ? (size_t)n : 0;
  log__value(o, msg ? msg : "", msg ? strlen(msg) : 0, true);
}

static void log__finish(log__out *o) {
  if (o->cut) {
    memcpy(o->p + o->len, LOG__CUT, sizeof LOG__CUT - 1); /* LOG__BODY kept room for it */
    o->len += sizeof LOG__CUT - 1;
  }
  o->p[o->len++] = '\n';
  fwrite(o->p, 1, o->len, stderr);
}

const char *vigil__log_quote(char *dst, size_t cap, const char *s) {
  if (cap == 0) return "";
  log__out o = {dst, 0, cap - 1, false};
  log__value(&o, s ? s : "", s ? strlen(s) : 0, false);
  dst[o.len] = '\0';
  return dst;
}

void vigil__logf(vigil_log_level lvl, const char *msg, const char *fmt, ...) {
  if (lvl < log__level) return;
  char line[LOG__LINE];
  log__out o;
  log__start(&o, line, lvl, msg);
  if (fmt && *fmt) {
    char fields[2 * LOG__LINE];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(fields, sizeof fields, fmt, ap);
    va_end(ap);
    if (k > 0) log__formatted(&o, fields);
    if (k >= (int)sizeof fields) o.cut = true;
  }
  log__finish(&o);
}

void vigil_log(vigil_log_level lvl, const char *msg, const char *fields) {
  if (fields && *fields)
    vigil__logf(lvl, msg, "%s", fields);
  else
    vigil__logf(lvl, msg, NULL);
}

void vigil_log_fields(vigil_log_level lvl, const char *msg, const vigil_log_field *fields, size_t n) {
  if (lvl < log__level) return;
  char line[LOG__LINE];
  log__out o;
  log__start(&o, line, lvl, msg);
  for (size_t i = 0; i < n; i++) {
    const char *v = fields[i].value ? fields[i].value : "";
    log__field(&o, fields[i].key ? fields[i].key : "", v, fields[i].value ? fields[i].len : 0);
  }
  log__finish(&o);
}

#define LOG__F(k, v)                                                                                                   \
  { k, v, strlen(v) }

/* The handler put the deciding phi and the cause in up and down events,
 * and in an up why it came up (joined, recovered, restarted).
 * Peer, dc and rack came from the wire: written as values, never as text. */
void vigil__log_event(const vigil_event *e) {
  switch (e->type) {
  case VIGIL_EVENT_PEER_UP:
  case VIGIL_EVENT_PEER_DOWN: {
    char phi[32];
    snprintf(phi, sizeof phi, "%.3f", e->phi);
    vigil_log_field f[] = {
        {"peer", e->peer, strnlen(e->peer, sizeof e->peer)},
        {"dc", e->dc, strnlen(e->dc, sizeof e->dc)},
        {"rack", e->rack, strnlen(e->rack, sizeof e->rack)},
        LOG__F("from", vigil_state_name(e->previous)),
        LOG__F("to", vigil_state_name(e->state)),
        LOG__F("phi", phi),
        LOG__F("cause", vigil_cause_name(e->cause)),
        LOG__F("reason", vigil_up_reason_name(e->reason)), /* peer up only: dropped below for a down */
    };
    bool down = e->type == VIGIL_EVENT_PEER_DOWN;
    vigil_log_fields(down ? VIGIL_LOG_WARN : VIGIL_LOG_INFO, down ? "peer down" : "peer up", f,
                     sizeof f / sizeof f[0] - (down ? 1 : 0));
    break;
  }
  case VIGIL_EVENT_PEER_JOINED:
  case VIGIL_EVENT_PEER_LEFT:
  case VIGIL_EVENT_PEER_RESTARTED: {
    vigil_log_field f[] = {
        {"peer", e->peer, strnlen(e->peer, sizeof e->peer)},
        {"dc", e->dc, strnlen(e->dc, sizeof e->dc)},
        {"rack", e->rack, strnlen(e->rack, sizeof e->rack)},
    };
    vigil_log_fields(VIGIL_LOG_INFO,
                     e->type == VIGIL_EVENT_PEER_JOINED ? "peer joined"
                     : e->type == VIGIL_EVENT_PEER_LEFT ? "peer left"
                                                        : "peer restarted",
                     f, 3);
    break;
  }
  case VIGIL_EVENT_LAGGED:
    vigil__logf(VIGIL_LOG_WARN, "event log lagged", "missed=%llu", (unsigned long long)e->missed);
    break;
  default: break;
  }
}
