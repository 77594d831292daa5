/*
 * tags.c - node metadata: the few key=value tags an agent carries in its
 * heartbeats (role, service, shard), for policies to select peers and
 * react by them.
 *
 * Owns: what a tag is -- its alphabets and bounds -- and the one text form
 * a tag set has everywhere in the core: "k=v,k2=v2", keys sorted, at most
 * VIGIL_TAGS_TEXT - 1 bytes. The frame decoder builds it from the wire
 * (frame.c), the pool stores it (pool.c), events and snapshots copy it,
 * the Lua binding and the HTTP API split it again. A value holds neither
 * ',' nor '=', so the text splits back into its tags without escapes; keys
 * are sorted, so two equal sets are equal strings, and "did its tags
 * change?" is one strcmp.
 *
 * The choices, and why. A tag comes from the wire and ends up in logs,
 * JSON, a command's environment and, through a policy, on command lines
 * (docs/SECURITY.md), so both alphabets are closed lists:
 *   - a key is [a-z][a-z0-9_]{0,31}: upper-cased, VIGIL_TAG_<KEY> is a
 *     valid environment variable name; it is an identifier in Lua
 *     (ev.tags.role) and needs no quoting anywhere;
 *   - a value is 0 to 63 bytes of [A-Za-z0-9._:@+-] and does not start
 *     with '-': the dc/rack alphabet plus ':' '@' '+', for the values
 *     people tag with (10.0.0.1:5432, img@sha256:..., 1.4.2+build7), each
 *     inert in a shell word, a JSON string, a logfmt value and an
 *     environment value. Not '/': with '.', a value could climb out of a
 *     directory a policy builds a path in (../../etc). Not ',' or '=': the
 *     text form. No space, quote, '$', '`', ';', '|', glob character or
 *     control byte. No leading '-': passed as an argument, it would read
 *     as an option of the command;
 *   - at most 16 tags and 255 bytes of text: the whole set travels in every
 *     frame its agent sends and sits inline in every event, so it is kept
 *     to what selecting peers needs -- Serf allows 512 bytes of encoded
 *     tags, Consul 64 pairs of meta; a reaction needs a role, a service, a
 *     shard, a zone.
 *
 * Must never: allocate, or accept a set it could not give back unchanged.
 */
#include <string.h>

#include "internal.h"

bool vigil_tag_key_valid(const char *key, size_t len) {
  if (!key || len == 0 || len > VIGIL_TAG_KEY_MAX || key[0] < 'a' || key[0] > 'z') return false;
  for (size_t i = 1; i < len; i++) {
    char c = key[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

static bool tags__value_char(unsigned char c) { return vigil__name_char(c) || c == ':' || c == '@' || c == '+'; }

bool vigil_tag_value_valid(const char *value, size_t len) {
  if (len > VIGIL_TAG_VALUE_MAX || (len && (!value || value[0] == '-'))) return false;
  for (size_t i = 0; i < len; i++)
    if (!tags__value_char((unsigned char)value[i])) return false;
  return true;
}

/* a < b by key (bytes, then length: "ab" < "abc"). */
static bool tags__before(const vigil_tag *a, const vigil_tag *b) {
  size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
  int c = memcmp(a->key, b->key, n);
  return c < 0 || (c == 0 && a->key_len < b->key_len);
}

int vigil__tags_build(vigil_tag *t, uint32_t n, char out[VIGIL_TAGS_TEXT]) {
  out[0] = '\0';
  if (n > VIGIL_TAGS_MAX) return VIGIL_EINVAL;
  for (uint32_t i = 1; i < n; i++) { /* insertion sort: 16 at most */
    vigil_tag x = t[i];
    uint32_t j = i;
    for (; j > 0 && tags__before(&x, &t[j - 1]); j--) t[j] = t[j - 1];
    t[j] = x;
  }
  size_t len = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (i && t[i].key_len == t[i - 1].key_len && memcmp(t[i].key, t[i - 1].key, t[i].key_len) == 0) {
      out[0] = '\0';
      return VIGIL_EEXIST;
    }
    size_t need = (i ? 1 : 0) + t[i].key_len + 1 + t[i].value_len;
    if (len + need > VIGIL_TAGS_TEXT - 1) {
      out[0] = '\0';
      return VIGIL_ENAMETOOLONG;
    }
    if (i) out[len++] = ',';
    memcpy(out + len, t[i].key, t[i].key_len);
    len += t[i].key_len;
    out[len++] = '=';
    memcpy(out + len, t[i].value, t[i].value_len);
    len += t[i].value_len;
  }
  out[len] = '\0';
  return VIGIL_OK;
}

int vigil_tags_parse(const char *text, char out[VIGIL_TAGS_TEXT], const char **why) {
  static const char *const too_many = "at most 16 tags";
  vigil_tag t[VIGIL_TAGS_MAX];
  uint32_t n = 0;
  const char *bad = NULL;
  out[0] = '\0';
  for (const char *p = text ? text : ""; *p && !bad;) {
    size_t len = strcspn(p, ",");
    const char *eq = memchr(p, '=', len);
    if (len == 0) {
      /* an empty item ("a=1,,b=2", a trailing comma): nothing */
    } else if (!eq) {
      bad = "a tag is key=value";
    } else if (n == VIGIL_TAGS_MAX) {
      bad = too_many;
    } else {
      t[n] = (vigil_tag){p, (size_t)(eq - p), eq + 1, len - (size_t)(eq - p) - 1};
      if (!vigil_tag_key_valid(t[n].key, t[n].key_len))
        bad = "a tag key is 1 to 32 of a-z, 0-9 and '_', starting with a letter";
      else if (!vigil_tag_value_valid(t[n].value, t[n].value_len))
        bad = "a tag value is 0 to 63 of A-Z, a-z, 0-9, '.', '_', ':', '@', '+' and '-', not starting with '-'";
      n++;
    }
    p += len;
    if (*p) p++;
  }
  if (!bad) {
    int rc = vigil__tags_build(t, n, out);
    if (rc == VIGIL_EEXIST) bad = "a tag key is given twice";
    if (rc == VIGIL_ENAMETOOLONG) bad = "the tags take more than 255 bytes written as k=v,k2=v2";
  }
  if (!bad) return VIGIL_OK;
  out[0] = '\0';
  if (why) *why = bad;
  return VIGIL_EINVAL;
}

bool vigil_tags_next(const char *tags, size_t *pos, vigil_tag *t) {
  if (!tags) return false;
  const char *p = tags + *pos;
  if (*pos && *p == ',') p++;
  if (!*p) return false;
  size_t len = strcspn(p, ",");
  const char *eq = memchr(p, '=', len);
  t->key = p;
  t->key_len = eq ? (size_t)(eq - p) : len;
  t->value = eq ? eq + 1 : p + len;
  t->value_len = eq ? len - t->key_len - 1 : 0;
  *pos = (size_t)(p + len - tags);
  return true;
}

const char *vigil_tags_get(const char *tags, const char *key, size_t *len) {
  size_t pos = 0, klen = key ? strlen(key) : 0;
  vigil_tag t;
  while (vigil_tags_next(tags, &pos, &t)) {
    if (t.key_len == klen && memcmp(t.key, key, klen) == 0) {
      if (len) *len = t.value_len;
      return t.value;
    }
  }
  return NULL;
}

uint32_t vigil_tags_count(const char *tags) {
  if (!tags || !*tags) return 0;
  uint32_t n = 1;
  for (const char *p = tags; *p; p++) n += *p == ',';
  return n;
}
