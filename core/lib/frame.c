/*
 * frame.c - the wire format: one msgpack frame per UDP datagram.
 *
 * Owns: encoding a vigil_frame into at most VIGIL_FRAME_MAX bytes and
 * decoding a datagram back, with every rejection given a reason.
 * docs/PROTOCOL.md is the contract; its test vectors are checked by
 * spec/c/test_frame.c byte for byte.
 *
 * Must never: trust a length, a count or a depth it has not checked
 * against what is left of the datagram; allocate; or accept a frame that
 * would not re-encode to something a peer could decode.
 *
 * Encoding uses msgpack-c's packer (it picks the smallest representation of
 * every integer, as the protocol requires). Decoding does not use msgpack-c's
 * unpacker on purpose: it sizes its allocations from the counts written in
 * the input before it has seen the elements, so a 5-byte datagram
 * (an array32 header) can ask it for tens of gigabytes. The reader below
 * walks the subset of msgpack the protocol uses in place, checks each count
 * against the bytes that remain (every element takes at least one), caps
 * nesting at VIGIL_FRAME_DEPTH_MAX, and copies strings into the fixed
 * fields of vigil_frame.
 *
 * With a keyring the body is sealed: encrypted and authenticated with
 * XChaCha20-Poly1305 (libsodium's crypto_aead_xchacha20poly1305_ietf_*),
 * the primary key and a random 24-byte nonce per frame -- random nonces of
 * that size never repeat in practice, so senders keep no counter. The
 * associated data binds the protocol version and the key hint. A receiver
 * opens a frame with the keys its hint names first, then with the others:
 * at most VIGIL_KEYRING_MAX attempts, each a Poly1305 check that fails
 * before anything is decrypted. Only what opens is decoded; a sealed
 * frame is never half-trusted.
 */
#include <msgpack.h>
#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Field keys of the frame body (a msgpack map with integer keys). */
enum {
  KEY_TYPE = 1,
  KEY_FROM = 2,
  KEY_GENERATION = 3,
  KEY_VERSION = 4,
  KEY_DC = 5,
  KEY_RACK = 6,
  KEY_TOKENS = 7,
  KEY_STATE = 8,
  KEY_DIGEST = 9,
  KEY_INCARNATION = 10,
  KEY_FLAGS = 11,
  KEY_ALERTS = 12,
  KEY_MEMBERS = 13,
  KEY_VIEW = 14,
  KEY_SENT = 15,
  KEY_TAGS = 16,
  KEY_MAX = 16
};

static const char *const reasons[VIGIL_FRAME_REASONS] = {
    "too_big",   "truncated", "malformed",       "version", "depth",  "count", "length",     "missing",   "value",
    "duplicate", "trailing",  "unauthenticated", "auth",    "source", "skew",  "generation", "encrypted",
};

int vigil_frame_reason_index(int rc) {
  int i = VIGIL_FRAME_ETOOBIG - rc;
  return i >= 0 && i < VIGIL_FRAME_REASONS ? i : -1;
}

const char *vigil_frame_reason(int rc) {
  int i = vigil_frame_reason_index(rc);
  return i < 0 ? "unknown" : reasons[i];
}

/* ---- sealing: the envelope's encryption ------------------------------------ */

/* The associated data of a sealed frame: "vigil-frame", the protocol
 * version and the key hint, one byte each (docs/PROTOCOL.md). */
static const char aad_domain[] = "vigil-frame";
#define AAD_BYTES (sizeof aad_domain - 1 + 2)

static void frame__aad(uint8_t aad[AAD_BYTES], uint8_t hint) {
  memcpy(aad, aad_domain, sizeof aad_domain - 1);
  aad[AAD_BYTES - 2] = VIGIL_PROTOCOL_VERSION;
  aad[AAD_BYTES - 1] = hint;
}

static void frame__sodium(void) {
  if (sodium_init() < 0) abort(); /* idempotent; fails only without entropy */
}

/* Seal body (len bytes) into out: hint, nonce, ciphertext and tag, len +
 * VIGIL_SEAL_OVERHEAD bytes. */
static void frame__seal(const vigil_keyring *kr, const uint8_t nonce[VIGIL_NONCE_BYTES], const uint8_t *body,
                        size_t len, uint8_t *out) {
  uint8_t aad[AAD_BYTES];
  frame__aad(aad, kr->hints[0]);
  out[0] = kr->hints[0];
  memcpy(out + 1, nonce, VIGIL_NONCE_BYTES);
  crypto_aead_xchacha20poly1305_ietf_encrypt(out + 1 + VIGIL_NONCE_BYTES, NULL, body, len, aad, sizeof aad, NULL, nonce,
                                             kr->keys[0]);
}

/* Open a sealed frame (len bytes: hint, nonce, ciphertext, tag) into plain
 * (room for len - VIGIL_SEAL_OVERHEAD bytes): the keys whose hint it
 * names first, then the others, each once. false when none opens it. */
static bool frame__open(const vigil_keyring *kr, const uint8_t *sealed, size_t len, uint8_t *plain, size_t *plain_len) {
  if (len < VIGIL_SEAL_OVERHEAD) return false;
  uint8_t aad[AAD_BYTES];
  frame__aad(aad, sealed[0]);
  const uint8_t *nonce = sealed + 1, *ct = sealed + 1 + VIGIL_NONCE_BYTES;
  size_t ct_len = len - 1 - VIGIL_NONCE_BYTES;
  uint32_t n = kr->nkeys < VIGIL_KEYRING_MAX ? kr->nkeys : VIGIL_KEYRING_MAX;
  frame__sodium();
  for (int hinted = 1; hinted >= 0; hinted--) {
    for (uint32_t k = 0; k < n; k++) {
      if ((kr->hints[k] == sealed[0]) != hinted) continue;
      unsigned long long m = 0;
      if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &m, NULL, ct, ct_len, aad, sizeof aad, nonce,
                                                     kr->keys[k]) == 0) {
        *plain_len = (size_t)m;
        return true;
      }
    }
  }
  return false;
}

/* ---- encoding ------------------------------------------------------------ */

typedef struct wbuf {
  uint8_t *p;
  size_t len, cap;
  bool overflow;
} wbuf;

static int wbuf_write(void *data, const char *buf, size_t len) {
  wbuf *w = data;
  if (w->overflow || len > w->cap - w->len) {
    w->overflow = true;
    return -1;
  }
  memcpy(w->p + w->len, buf, len);
  w->len += len;
  return 0;
}

static void pack_text(msgpack_packer *pk, const char *s) {
  size_t n = strlen(s);
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, s, n);
}

/* A canonical tag set as a map of str -> str, keys in its (sorted) order. */
static void pack_tags(msgpack_packer *pk, const char *tags) {
  msgpack_pack_map(pk, vigil_tags_count(tags));
  size_t pos = 0;
  vigil_tag t;
  while (vigil_tags_next(tags, &pos, &t)) {
    msgpack_pack_str(pk, t.key_len);
    msgpack_pack_str_body(pk, t.key, t.key_len);
    msgpack_pack_str(pk, t.value_len);
    msgpack_pack_str_body(pk, t.value, t.value_len);
  }
}

/* Tags as the decoder would rebuild them (or a peer would reject the frame). */
static bool frame__tags_ok(const char *tags, size_t cap) {
  char canon[VIGIL_TAGS_TEXT];
  if (!memchr(tags, 0, cap)) return false;
  return !tags[0] || (vigil_tags_parse(tags, canon, NULL) == VIGIL_OK && strcmp(canon, tags) == 0);
}

static bool frame__encodable(const vigil_frame *f) {
  if (f->ntokens > VIGIL_FRAME_TOKENS_MAX || f->ndigest > VIGIL_DIGEST_MAX || f->nalerts > VIGIL_ALERTS_MAX)
    return false;
  if (f->has_state && f->state >= VIGIL_STATE_COUNT) return false;
  if (!memchr(f->from, 0, sizeof f->from) || !memchr(f->dc, 0, sizeof f->dc) || !memchr(f->rack, 0, sizeof f->rack))
    return false;
  for (uint32_t i = 0; i < f->ndigest; i++)
    if (!frame__tags_ok(f->digest[i].tags, sizeof f->digest[i].tags)) return false;
  return frame__tags_ok(f->tags, sizeof f->tags);
}

static void frame__pack_body(msgpack_packer *pk, const vigil_frame *f) {
  uint32_t ntags = vigil_tags_count(f->tags);
  size_t n = 4 + (f->dc[0] != 0) + (f->rack[0] != 0) + (f->ntokens > 0) + f->has_state + (f->ndigest > 0) +
             (f->incarnation > 0) + (f->flags > 0) + (f->nalerts > 0) + (f->members > 0) + (f->view > 0) +
             (f->sent > 0) + (ntags > 0);
  msgpack_pack_map(pk, n);
  msgpack_pack_uint8(pk, KEY_TYPE);
  msgpack_pack_uint32(pk, f->type);
  msgpack_pack_uint8(pk, KEY_FROM);
  pack_text(pk, f->from);
  msgpack_pack_uint8(pk, KEY_GENERATION);
  msgpack_pack_uint64(pk, f->generation);
  msgpack_pack_uint8(pk, KEY_VERSION);
  msgpack_pack_uint64(pk, f->version);
  if (f->dc[0]) {
    msgpack_pack_uint8(pk, KEY_DC);
    pack_text(pk, f->dc);
  }
  if (f->rack[0]) {
    msgpack_pack_uint8(pk, KEY_RACK);
    pack_text(pk, f->rack);
  }
  if (f->ntokens) {
    msgpack_pack_uint8(pk, KEY_TOKENS);
    msgpack_pack_array(pk, f->ntokens);
    for (uint32_t i = 0; i < f->ntokens; i++) {
      char buf[VIGIL_TOKEN_STRLEN];
      vigil_token_format(&f->tokens[i], buf, sizeof buf);
      pack_text(pk, buf);
    }
  }
  if (f->has_state) {
    msgpack_pack_uint8(pk, KEY_STATE);
    msgpack_pack_uint8(pk, f->state);
  }
  if (f->ndigest) {
    msgpack_pack_uint8(pk, KEY_DIGEST);
    msgpack_pack_array(pk, f->ndigest);
    for (uint32_t i = 0; i < f->ndigest; i++) {
      const vigil_digest_entry *e = &f->digest[i];
      /* [pname, gen, inc] (+ dc, rack) (+ version), or all seven with tags */
      bool tagged = e->tags[0] != '\0', placed = tagged || e->dc[0] || e->rack[0];
      msgpack_pack_array(pk, tagged ? 7 : (placed ? 5 : 3) + (e->version > 0));
      pack_text(pk, e->pname);
      msgpack_pack_uint64(pk, e->generation);
      msgpack_pack_uint64(pk, e->incarnation);
      if (placed) {
        pack_text(pk, e->dc);
        pack_text(pk, e->rack);
      }
      if (e->version || tagged) msgpack_pack_uint64(pk, e->version);
      if (tagged) pack_tags(pk, e->tags);
    }
  }
  if (f->incarnation) {
    msgpack_pack_uint8(pk, KEY_INCARNATION);
    msgpack_pack_uint64(pk, f->incarnation);
  }
  if (f->flags) {
    msgpack_pack_uint8(pk, KEY_FLAGS);
    msgpack_pack_uint32(pk, f->flags);
  }
  if (f->nalerts) {
    msgpack_pack_uint8(pk, KEY_ALERTS);
    msgpack_pack_array(pk, f->nalerts);
    for (uint32_t i = 0; i < f->nalerts; i++) {
      const vigil_alert_entry *a = &f->alerts[i];
      msgpack_pack_array(pk, 4);
      pack_text(pk, a->subject);
      msgpack_pack_uint64(pk, a->generation);
      msgpack_pack_uint64(pk, a->incarnation);
      pack_text(pk, a->observer);
    }
  }
  if (f->members) {
    msgpack_pack_uint8(pk, KEY_MEMBERS);
    msgpack_pack_uint32(pk, f->members);
  }
  if (f->view) {
    msgpack_pack_uint8(pk, KEY_VIEW);
    msgpack_pack_uint64(pk, f->view);
  }
  if (f->sent) {
    msgpack_pack_uint8(pk, KEY_SENT);
    msgpack_pack_uint64(pk, f->sent);
  }
  if (ntags) {
    msgpack_pack_uint8(pk, KEY_TAGS);
    pack_tags(pk, f->tags);
  }
}

/* The envelope: [version, body] in plaintext, [version, nil, sealed] with
 * a keyring. The nonce is an argument so that test vectors can fix it
 * (internal.h); every frame the agent sends goes through
 * vigil_frame_encode, which draws it at random. */
int vigil__frame_encode_nonce(const vigil_frame *f, const vigil_keyring *kr, const uint8_t nonce[VIGIL_NONCE_BYTES],
                              uint8_t *buf, size_t cap) {
  if (!frame__encodable(f)) return VIGIL_EINVAL;
  uint8_t body[VIGIL_FRAME_MAX];
  wbuf bw = {body, 0, sizeof body, false};
  msgpack_packer pk;
  msgpack_packer_init(&pk, &bw, wbuf_write);
  frame__pack_body(&pk, f);
  if (bw.overflow) return VIGIL_FRAME_ETOOBIG;

  bool seal = kr && kr->nkeys > 0;
  wbuf out = {buf, 0, cap < VIGIL_FRAME_MAX ? cap : VIGIL_FRAME_MAX, false};
  msgpack_packer_init(&pk, &out, wbuf_write);
  msgpack_pack_array(&pk, seal ? 3 : 2);
  msgpack_pack_uint8(&pk, VIGIL_PROTOCOL_VERSION);
  if (!seal) {
    msgpack_pack_bin(&pk, bw.len);
    msgpack_pack_bin_body(&pk, body, bw.len);
    return out.overflow ? VIGIL_FRAME_ETOOBIG : (int)out.len;
  }
  size_t sealed_len = bw.len + VIGIL_SEAL_OVERHEAD;
  msgpack_pack_nil(&pk);
  msgpack_pack_bin(&pk, sealed_len);
  if (out.overflow || sealed_len > out.cap - out.len) return VIGIL_FRAME_ETOOBIG;
  frame__seal(kr, nonce, body, bw.len, buf + out.len);
  return (int)(out.len + sealed_len);
}

int vigil_frame_encode(const vigil_frame *f, const vigil_keyring *kr, uint8_t *buf, size_t cap) {
  uint8_t nonce[VIGIL_NONCE_BYTES] = {0};
  if (kr && kr->nkeys > 0) {
    frame__sodium();
    randombytes_buf(nonce, sizeof nonce);
  }
  return vigil__frame_encode_nonce(f, kr, nonce, buf, cap);
}

/* ---- decoding: a bounded msgpack reader ----------------------------------- */

typedef struct rd {
  const uint8_t *p;
  const uint8_t *end;
  int err; /* first error, VIGIL_OK while reading went well */
} rd;

static bool rd_fail(rd *r, int err) {
  if (!r->err) r->err = err;
  return false;
}

static size_t rd_left(const rd *r) { return (size_t)(r->end - r->p); }

static bool rd_need(rd *r, size_t n) { return n <= rd_left(r) || rd_fail(r, VIGIL_FRAME_ETRUNCATED); }

static uint64_t rd_be(rd *r, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = v << 8 | *r->p++;
  return v;
}

/* Read a length of 1, 2 or 4 big-endian bytes. */
static bool rd_len(rd *r, int n, uint32_t *out) {
  if (!rd_need(r, (size_t)n)) return false;
  *out = (uint32_t)rd_be(r, n);
  return true;
}

static bool rd_uint(rd *r, uint64_t *v) {
  if (!rd_need(r, 1)) return false;
  uint8_t b = *r->p;
  if (b <= 0x7f) {
    r->p++;
    *v = b;
    return true;
  }
  int n = b == 0xcc ? 1 : b == 0xcd ? 2 : b == 0xce ? 4 : b == 0xcf ? 8 : 0;
  if (!n) return rd_fail(r, VIGIL_FRAME_EMALFORMED);
  r->p++;
  if (!rd_need(r, (size_t)n)) return false;
  *v = rd_be(r, n);
  return true;
}

/* A string or (when bin) a byte string: points into the datagram. */
static bool rd_bytes(rd *r, bool bin, const uint8_t **s, uint32_t *len) {
  if (!rd_need(r, 1)) return false;
  uint8_t b = *r->p++;
  uint32_t n;
  if (!bin && (b & 0xe0) == 0xa0) {
    n = b & 0x1f;
  } else if (b == (bin ? 0xc4 : 0xd9)) {
    if (!rd_len(r, 1, &n)) return false;
  } else if (b == (bin ? 0xc5 : 0xda)) {
    if (!rd_len(r, 2, &n)) return false;
  } else if (b == (bin ? 0xc6 : 0xdb)) {
    if (!rd_len(r, 4, &n)) return false;
  } else {
    return rd_fail(r, VIGIL_FRAME_EMALFORMED);
  }
  if (!rd_need(r, n)) return false;
  *s = r->p;
  *len = n;
  r->p += n;
  return true;
}

/* Array or map header; the count is checked against the bytes left (every
 * element, every key and every value takes at least one byte). */
static bool rd_container(rd *r, bool map, uint32_t *count) {
  if (!rd_need(r, 1)) return false;
  uint8_t b = *r->p++;
  uint32_t n;
  if ((b & 0xf0) == (map ? 0x80 : 0x90)) {
    n = b & 0x0f;
  } else if (b == (map ? 0xde : 0xdc)) {
    if (!rd_len(r, 2, &n)) return false;
  } else if (b == (map ? 0xdf : 0xdd)) {
    if (!rd_len(r, 4, &n)) return false;
  } else {
    return rd_fail(r, VIGIL_FRAME_EMALFORMED);
  }
  if ((uint64_t)n * (map ? 2u : 1u) > rd_left(r)) return rd_fail(r, VIGIL_FRAME_ETRUNCATED);
  *count = n;
  return true;
}

/* Skip one value of any type, at most VIGIL_FRAME_DEPTH_MAX levels deep. */
static bool rd_skip(rd *r, int depth) {
  if (depth > VIGIL_FRAME_DEPTH_MAX) return rd_fail(r, VIGIL_FRAME_EDEPTH);
  if (!rd_need(r, 1)) return false;
  uint8_t b = *r->p;
  if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) { /* fixints, nil, bool */
    r->p++;
    return true;
  }
  if ((b & 0xe0) == 0xa0 || (b >= 0xd9 && b <= 0xdb)) {
    const uint8_t *s;
    uint32_t n;
    return rd_bytes(r, false, &s, &n);
  }
  if (b >= 0xc4 && b <= 0xc6) {
    const uint8_t *s;
    uint32_t n;
    return rd_bytes(r, true, &s, &n);
  }
  if ((b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd || (b & 0xf0) == 0x80 || b == 0xde || b == 0xdf) {
    bool map = (b & 0xf0) == 0x80 || b == 0xde || b == 0xdf;
    uint32_t n;
    if (!rd_container(r, map, &n)) return false;
    for (uint64_t i = 0; i < (uint64_t)n * (map ? 2u : 1u); i++)
      if (!rd_skip(r, depth + 1)) return false;
    return true;
  }
  /* Fixed-size scalars: uint/int 8-64, float 32/64. */
  int size = 0;
  switch (b) {
  case 0xcc:
  case 0xd0: size = 1; break;
  case 0xcd:
  case 0xd1: size = 2; break;
  case 0xce:
  case 0xd2:
  case 0xca: size = 4; break;
  case 0xcf:
  case 0xd3:
  case 0xcb: size = 8; break;
  case 0xd4: size = 2; break;  /* fixext 1: type + 1 */
  case 0xd5: size = 3; break;  /* fixext 2 */
  case 0xd6: size = 5; break;  /* fixext 4 */
  case 0xd7: size = 9; break;  /* fixext 8 */
  case 0xd8: size = 17; break; /* fixext 16 */
  case 0xc7:
  case 0xc8:
  case 0xc9: { /* ext 8/16/32: length, type, data */
    r->p++;
    uint32_t n;
    if (!rd_len(r, b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4, &n)) return false;
    if (!rd_need(r, (size_t)n + 1)) return false;
    r->p += (size_t)n + 1;
    return true;
  }
  default: return rd_fail(r, VIGIL_FRAME_EMALFORMED); /* 0xc1: never used */
  }
  r->p++;
  if (!rd_need(r, (size_t)size)) return false;
  r->p += size;
  return true;
}

/* A name (dc, rack): at most cap-1 bytes, each a letter, a digit, '.', '_'
 * or '-' (vigil_name_valid). Whatever a stranger puts there ends up in
 * logs, JSON, metrics labels and commands' environments: nothing that
 * needs quoting gets in. */
static bool rd_text(rd *r, char *dst, size_t cap) {
  const uint8_t *s;
  uint32_t n;
  if (!rd_bytes(r, false, &s, &n)) return false;
  if (n >= cap) return rd_fail(r, VIGIL_FRAME_ELENGTH);
  for (uint32_t i = 0; i < n; i++)
    if (!vigil__name_char(s[i])) return rd_fail(r, VIGIL_FRAME_EVALUE);
  memcpy(dst, s, n);
  dst[n] = '\0';
  return true;
}

/* A pname, checked in one pass while it is copied: the same rules as
 * vigil_pname_parse (spec/c/test_frame.c compares the two), without its
 * string scans, because every digest entry starts with one. */
static bool rd_pname(rd *r, char *dst) {
  const uint8_t *s;
  uint32_t n;
  if (!rd_bytes(r, false, &s, &n)) return false;
  if (n >= VIGIL_PNAME_MAX) return rd_fail(r, VIGIL_FRAME_ELENGTH);
  int32_t colon = -1;
  bool bracket = n > 0 && s[0] == '[';
  for (uint32_t i = 0; i < n; i++) {
    uint8_t c = s[i];
    if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\') return rd_fail(r, VIGIL_FRAME_EVALUE);
    if (c == ':') {
      if (colon >= 0 && !bracket) return rd_fail(r, VIGIL_FRAME_EVALUE); /* bare IPv6 */
      colon = (int32_t)i;
    }
  }
  /* host: at least one byte (brackets: "[x]" at least); port: 1-5 digits, 1..65535 */
  if (colon <= 0 || (uint32_t)colon + 1 >= n || n - (uint32_t)colon - 1 > 5 || colon > 255)
    return rd_fail(r, VIGIL_FRAME_EVALUE);
  if (bracket && (colon < 3 || s[colon - 1] != ']')) return rd_fail(r, VIGIL_FRAME_EVALUE);
  if (s[colon + 1] == '0' || !vigil__host_literal((const char *)s, (size_t)colon))
    return rd_fail(r, VIGIL_FRAME_EVALUE); /* an IP literal and a port, nothing to resolve */
  uint32_t port = 0;
  for (uint32_t i = (uint32_t)colon + 1; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return rd_fail(r, VIGIL_FRAME_EVALUE);
    port = port * 10 + (uint32_t)(s[i] - '0');
  }
  if (port == 0 || port > 65535) return rd_fail(r, VIGIL_FRAME_EVALUE);
  memcpy(dst, s, n);
  dst[n] = '\0';
  return true;
}

static bool rd_tokens(rd *r, vigil_frame *f) {
  uint32_t n;
  if (!rd_container(r, false, &n)) return false;
  if (n > VIGIL_FRAME_TOKENS_MAX) return rd_fail(r, VIGIL_FRAME_ECOUNT);
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t *s;
    uint32_t len;
    if (!rd_bytes(r, false, &s, &len)) return false;
    if (len >= VIGIL_TOKEN_STRLEN) return rd_fail(r, VIGIL_FRAME_ELENGTH);
    if (vigil_token_parse(&f->tokens[i], (const char *)s, len) != VIGIL_OK) return rd_fail(r, VIGIL_FRAME_EVALUE);
  }
  f->ntokens = n;
  return true;
}

static bool rd_tags(rd *r, char out[VIGIL_TAGS_TEXT]);

static bool rd_digest(rd *r, vigil_frame *f) {
  uint32_t n;
  if (!rd_container(r, false, &n)) return false;
  if (n > VIGIL_DIGEST_MAX) return rd_fail(r, VIGIL_FRAME_ECOUNT);
  for (uint32_t i = 0; i < n; i++) {
    vigil_digest_entry *e = &f->digest[i];
    uint32_t m;
    if (!rd_container(r, false, &m)) return false;
    if (m < 3) return rd_fail(r, VIGIL_FRAME_EMALFORMED);
    if (!rd_pname(r, e->pname) || !rd_uint(r, &e->generation) || !rd_uint(r, &e->incarnation)) return false;
    e->dc[0] = e->rack[0] = e->tags[0] = '\0';
    e->version = 0;
    /* [pname, gen, inc], + version, or + dc, rack, or + dc, rack, version,
     * or + dc, rack, version, tags */
    if (m == 4 && !rd_uint(r, &e->version)) return false;
    if (m >= 5 && (!rd_text(r, e->dc, sizeof e->dc) || !rd_text(r, e->rack, sizeof e->rack))) return false;
    if (m >= 6 && !rd_uint(r, &e->version)) return false;
    if (m >= 7 && !rd_tags(r, e->tags)) return false;
    for (uint32_t k = 7; k < m; k++) /* later protocol versions may add more */
      if (!rd_skip(r, 2)) return false;
  }
  f->ndigest = n;
  return true;
}

static bool rd_alerts(rd *r, vigil_frame *f) {
  uint32_t n;
  if (!rd_container(r, false, &n)) return false;
  if (n > VIGIL_ALERTS_MAX) return rd_fail(r, VIGIL_FRAME_ECOUNT);
  for (uint32_t i = 0; i < n; i++) {
    vigil_alert_entry *a = &f->alerts[i];
    uint32_t m;
    if (!rd_container(r, false, &m)) return false;
    if (m < 4) return rd_fail(r, VIGIL_FRAME_EMALFORMED);
    if (!rd_pname(r, a->subject) || !rd_uint(r, &a->generation) || !rd_uint(r, &a->incarnation) ||
        !rd_pname(r, a->observer))
      return false;
    for (uint32_t k = 4; k < m; k++)
      if (!rd_skip(r, 2)) return false;
  }
  f->nalerts = n;
  return true;
}

/* The sender's tags: a map of at most VIGIL_TAGS_MAX str -> str, each key
 * and value checked against the alphabets of tags.c (a stranger's bytes
 * end up in logs, JSON and commands' environments), the whole set no
 * longer than VIGIL_TAGS_TEXT - 1 bytes as text, no key twice; then
 * stored sorted, in the text form the rest of the core uses. */
static bool rd_tags(rd *r, char out[VIGIL_TAGS_TEXT]) {
  uint32_t n;
  if (!rd_container(r, true, &n)) return false;
  if (n > VIGIL_TAGS_MAX) return rd_fail(r, VIGIL_FRAME_ECOUNT);
  vigil_tag t[VIGIL_TAGS_MAX];
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t *k, *v;
    uint32_t klen, vlen;
    if (!rd_bytes(r, false, &k, &klen)) return false;
    if (klen > VIGIL_TAG_KEY_MAX) return rd_fail(r, VIGIL_FRAME_ELENGTH);
    if (!vigil_tag_key_valid((const char *)k, klen)) return rd_fail(r, VIGIL_FRAME_EVALUE);
    if (!rd_bytes(r, false, &v, &vlen)) return false;
    if (vlen > VIGIL_TAG_VALUE_MAX) return rd_fail(r, VIGIL_FRAME_ELENGTH);
    if (!vigil_tag_value_valid((const char *)v, vlen)) return rd_fail(r, VIGIL_FRAME_EVALUE);
    t[i] = (vigil_tag){(const char *)k, klen, (const char *)v, vlen};
  }
  int rc = vigil__tags_build(t, n, out);
  if (rc == VIGIL_ENAMETOOLONG) return rd_fail(r, VIGIL_FRAME_ELENGTH);
  return rc == VIGIL_OK || rd_fail(r, VIGIL_FRAME_EVALUE); /* a key twice */
}

static bool rd_field(rd *r, uint64_t key, vigil_frame *f) {
  uint64_t v;
  switch (key) {
  case KEY_TYPE:
    if (!rd_uint(r, &v)) return false;
    if (v > UINT32_MAX) return rd_fail(r, VIGIL_FRAME_EVALUE);
    f->type = (uint32_t)v;
    return true;
  case KEY_FROM: return rd_pname(r, f->from);
  case KEY_GENERATION: return rd_uint(r, &f->generation);
  case KEY_VERSION: return rd_uint(r, &f->version);
  case KEY_DC: return rd_text(r, f->dc, sizeof f->dc);
  case KEY_RACK: return rd_text(r, f->rack, sizeof f->rack);
  case KEY_TOKENS: return rd_tokens(r, f);
  case KEY_STATE:
    if (!rd_uint(r, &v)) return false;
    if (v >= VIGIL_STATE_COUNT) return rd_fail(r, VIGIL_FRAME_EVALUE);
    f->state = (uint8_t)v;
    f->has_state = true;
    return true;
  case KEY_DIGEST: return rd_digest(r, f);
  case KEY_INCARNATION: return rd_uint(r, &f->incarnation);
  case KEY_FLAGS:
    if (!rd_uint(r, &v)) return false;
    f->flags = (uint32_t)(v & UINT32_MAX); /* unknown bits: a newer peer's, ignored */
    return true;
  case KEY_ALERTS: return rd_alerts(r, f);
  case KEY_VIEW: return rd_uint(r, &f->view);
  case KEY_SENT: return rd_uint(r, &f->sent);
  case KEY_TAGS: return rd_tags(r, f->tags);
  case KEY_MEMBERS:
    if (!rd_uint(r, &v)) return false;
    f->members = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    return true;
  default: return rd_skip(r, 1); /* a field from a newer protocol */
  }
}

static int frame__decode_body(const uint8_t *body, size_t len, vigil_frame *f) {
  rd r = {body, body + len, VIGIL_OK};
  uint32_t n, seen = 0;
  if (!rd_container(&r, true, &n)) return r.err;
  for (uint32_t i = 0; i < n; i++) {
    if (!rd_need(&r, 1)) return r.err;
    uint8_t b = *r.p;
    bool uint_key = b <= 0x7f || (b >= 0xcc && b <= 0xcf);
    if (!uint_key) { /* a key of another type: a newer peer's; skip it */
      if (!rd_skip(&r, 1) || !rd_skip(&r, 1)) return r.err;
      continue;
    }
    uint64_t key;
    if (!rd_uint(&r, &key)) return r.err;
    if (key >= 1 && key <= KEY_MAX) {
      if (seen & (1u << key)) return VIGIL_FRAME_EDUPLICATE;
      seen |= 1u << key;
    }
    if (!rd_field(&r, key, f)) return r.err;
  }
  if (r.p != r.end) return VIGIL_FRAME_ETRAILING;
  uint32_t required = 1u << KEY_TYPE | 1u << KEY_FROM | 1u << KEY_GENERATION | 1u << KEY_VERSION;
  if ((seen & required) != required) return VIGIL_FRAME_EMISSING;
  return VIGIL_OK;
}

int vigil_frame_decode(const uint8_t *buf, size_t len, const vigil_keyring *kr, vigil_frame *f) {
  /* Reset the fixed fields only: the token and digest arrays (9 KiB) are
   * meaningful up to their counts, so clearing them would be wasted work. */
  memset(f, 0, offsetof(vigil_frame, tokens));
  f->ndigest = 0;
  f->nalerts = 0;
  f->authenticated = false;
  if (len > VIGIL_FRAME_MAX) return VIGIL_FRAME_ETOOBIG;
  rd r = {buf, buf + len, VIGIL_OK};
  uint32_t n;
  uint64_t version;
  const uint8_t *body = NULL, *sealed = NULL, *other;
  uint32_t body_len = 0, sealed_len = 0, other_len;
  if (!rd_container(&r, false, &n)) return r.err;
  if (n < 2) return VIGIL_FRAME_EMALFORMED;
  if (!rd_uint(&r, &version)) return r.err;
  if (version != VIGIL_PROTOCOL_VERSION) return VIGIL_FRAME_EVERSION;
  if (rd_need(&r, 1) && *r.p == 0xc0) { /* nil body: [version, nil, sealed] */
    r.p++;
    if (n < 3) return VIGIL_FRAME_EMALFORMED;
    if (!rd_bytes(&r, true, &sealed, &sealed_len)) return r.err;
  } else {
    if (!rd_bytes(&r, true, &body, &body_len)) return r.err;
    /* A third element beside a plaintext body is nil, or the BLAKE2b tag
     * of an earlier release: either way the frame is plaintext. */
    if (n >= 3) {
      if (rd_need(&r, 1) && *r.p == 0xc0)
        r.p++;
      else if (!rd_bytes(&r, true, &other, &other_len))
        return r.err;
    }
  }
  for (uint32_t i = 3; i < n; i++)
    if (!rd_skip(&r, 1)) return r.err;
  if (r.p != r.end) return VIGIL_FRAME_ETRAILING;

  bool keyed = kr && kr->nkeys > 0;
  uint8_t plain[VIGIL_FRAME_MAX];
  size_t plain_len = 0;
  if (sealed) {
    if (!keyed) return VIGIL_FRAME_EENCRYPTED;
    if (!frame__open(kr, sealed, sealed_len, plain, &plain_len)) return VIGIL_FRAME_EAUTH;
    body = plain;
    body_len = (uint32_t)plain_len;
  } else if (keyed) {
    return VIGIL_FRAME_EUNSIGNED;
  }
  int rc = frame__decode_body(body, body_len, f);
  if (rc != VIGIL_OK) return rc;
  f->authenticated = sealed != NULL;
  return VIGIL_OK;
}
