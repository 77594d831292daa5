/*
 * test_frame.c - the wire format: docs/PROTOCOL.md's vectors byte for byte,
 * round trips, one test per rejection reason, sealed frames, and the
 * keyring (its changes, its file).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "internal.h"
#include "vectors.h"
#include "vigil_runtime.h"

#ifndef VIGIL_SOURCE_DIR
#error "VIGIL_SOURCE_DIR must point at the repository (set by CMake)"
#endif
#define PROTOCOL_MD VIGIL_SOURCE_DIR "/docs/PROTOCOL.md"

#define TEST_KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static const vector *find(const vector *v, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (strcmp(v[i].name, name) == 0) return &v[i];
  return NULL;
}

static vigil_frame *new_frame(void) { return calloc(1, sizeof(vigil_frame)); }

/* Where a sealed datagram's sealed bytes start ([2, nil, bin 8 or bin 16]),
 * or 0 when it is not one. */
static size_t sealed_at(const uint8_t *d, size_t len) {
  if (len < 6 || d[0] != 0x93 || d[1] != 0x02 || d[2] != 0xc0) return 0;
  return d[3] == 0xc4 ? 5 : d[3] == 0xc5 ? 6 : 0;
}

/* Whether the n bytes at p hold the text s. */
static bool contains(const uint8_t *p, size_t n, const char *s) {
  size_t k = strlen(s);
  for (size_t i = 0; i + k <= n; i++)
    if (memcmp(p + i, s, k) == 0) return true;
  return false;
}

TEST(protocol_vectors_decode_and_reencode_byte_for_byte) {
  static vector v[16];
  int n = load_vectors(PROTOCOL_MD, v, 16);
  CHECK_INT(n, 8);
  vigil_keyring kr = {0};
  vigil_keyring_add_base64(&kr, TEST_KEY);
  vigil_frame *f = new_frame();
  for (int i = 0; i < n; i++) {
    const vigil_keyring *k = strstr(v[i].name, "sealed") ? &kr : NULL;
    int rc = vigil_frame_decode(v[i].bytes, v[i].len, k, f);
    if (rc != VIGIL_OK) {
      CHECK_FAIL_("vector %s: %s", v[i].name, vigil_frame_reason(rc));
      continue;
    }
    /* A sealed vector re-encodes under its own nonce (the encoder draws
     * one at random: internal.h's entry point takes it as an argument). */
    uint8_t out[VIGIL_FRAME_MAX], nonce[VIGIL_NONCE_BYTES] = {0};
    size_t at = sealed_at(v[i].bytes, v[i].len);
    if (k) {
      CHECK(at > 0);
      if (at) memcpy(nonce, v[i].bytes + at + 1, sizeof nonce);
    }
    int len = vigil__frame_encode_nonce(f, k, nonce, out, sizeof out);
    CHECK_INT(len, (int)v[i].len);
    if (len == (int)v[i].len && memcmp(out, v[i].bytes, v[i].len) != 0)
      CHECK_FAIL_("vector %s re-encodes to different bytes", v[i].name);
  }
  const vector *hb = find(v, n, "heartbeat");
  CHECK(hb != NULL);
  if (hb && vigil_frame_decode(hb->bytes, hb->len, NULL, f) == VIGIL_OK) {
    CHECK_INT(f->type, VIGIL_FRAME_HEARTBEAT);
    CHECK_STR(f->from, "10.0.0.1:7000");
    CHECK_INT(f->generation, 1764151200);
    CHECK_INT(f->version, 42);
    CHECK_STR(f->dc, "dc1");
    CHECK_STR(f->rack, "r1");
    CHECK_INT(f->ntokens, 1);
    CHECK_INT(f->tokens[0].mag[0], 101134286);
    CHECK(f->has_state);
    CHECK_INT(f->state, VIGIL_STATE_NORMAL);
    CHECK_INT(f->ndigest, 0);
    /* Protocol 2's sender fields, absent here, read as 0. */
    CHECK_INT(f->incarnation, 0);
    CHECK_INT(f->flags, 0);
    CHECK_INT(f->members, 0);
    CHECK_INT(f->view, 0);
    CHECK_INT(f->nalerts, 0);
  }
  const vector *hd = find(v, n, "heartbeat_digest");
  if (hd && vigil_frame_decode(hd->bytes, hd->len, NULL, f) == VIGIL_OK) {
    CHECK_INT(f->ndigest, 2);
    CHECK_STR(f->digest[0].pname, "10.0.0.2:7000");
    CHECK_INT(f->digest[0].generation, 1764151100);
    CHECK_INT(f->digest[0].incarnation, 977);
    CHECK_INT(f->digest[0].version, 0);
    CHECK_STR(f->digest[0].dc, "");
    CHECK_STR(f->digest[1].pname, "10.0.0.3:7000");
    CHECK_INT(f->digest[1].generation, 1764151300);
    CHECK_INT(f->digest[1].incarnation, 5);
    CHECK_INT(f->digest[1].version, 0);
    CHECK_STR(f->digest[1].dc, "dc2");
    CHECK_STR(f->digest[1].rack, "r9");
  } else {
    CHECK_FAIL_("heartbeat_digest vector missing or undecodable");
  }
  const vector *ho = find(v, n, "heartbeat_observer");
  if (ho && vigil_frame_decode(ho->bytes, ho->len, NULL, f) == VIGIL_OK) {
    CHECK_INT(f->type, VIGIL_FRAME_HEARTBEAT);
    CHECK_STR(f->from, "10.0.0.1:7000");
    CHECK_INT(f->version, 42);
    CHECK_INT(f->incarnation, 3);
    CHECK_INT(f->flags, VIGIL_FLAG_WANT);
    CHECK_INT(f->members, 1000);
    CHECK(f->view == 0x0123456789abcdefull);
    CHECK_INT(f->ndigest, 1);
    CHECK_STR(f->digest[0].pname, "10.0.0.3:7000");
    CHECK_INT(f->digest[0].generation, 1764151300);
    CHECK_INT(f->digest[0].incarnation, 5);
    CHECK_STR(f->digest[0].dc, "");
    CHECK_STR(f->digest[0].rack, "");
    CHECK_INT(f->digest[0].version, 0);
    CHECK_INT(f->nalerts, 0);
  } else {
    CHECK_FAIL_("heartbeat_observer vector missing or undecodable");
  }
  const vector *dg = find(v, n, "digest");
  if (dg && vigil_frame_decode(dg->bytes, dg->len, NULL, f) == VIGIL_OK) {
    CHECK_INT(f->type, VIGIL_FRAME_DIGEST);
    CHECK_STR(f->from, "[::1]:7001");
    CHECK_INT(f->version, 300);
    CHECK_INT(f->ndigest, 1);
    CHECK_STR(f->digest[0].pname, "10.0.0.2:7000");
    CHECK_INT(f->digest[0].incarnation, 978);
  } else {
    CHECK_FAIL_("digest vector missing or undecodable");
  }
  const vector *da = find(v, n, "digest_alerts");
  if (da && vigil_frame_decode(da->bytes, da->len, NULL, f) == VIGIL_OK) {
    CHECK_INT(f->type, VIGIL_FRAME_DIGEST);
    CHECK_STR(f->from, "10.0.0.1:7000");
    CHECK_INT(f->generation, 1764151200);
    CHECK_INT(f->version, 42);
    CHECK_INT(f->ndigest, 0);
    CHECK_INT(f->nalerts, 2);
    for (int i = 0; i < 2; i++) {
      CHECK_STR(f->alerts[i].subject, "10.0.0.2:7000");
      CHECK_INT(f->alerts[i].generation, 1764151100);
      CHECK_INT(f->alerts[i].incarnation, 0);
    }
    CHECK_STR(f->alerts[0].observer, "10.0.0.1:7000");
    CHECK_STR(f->alerts[1].observer, "10.0.0.3:7000");
  } else {
    CHECK_FAIL_("digest_alerts vector missing or undecodable");
  }
  const vector *sd = find(v, n, "shutdown_sealed"), *sp = find(v, n, "shutdown");
  if (sd && sp) {
    CHECK_INT(vigil_frame_decode(sd->bytes, sd->len, &kr, f), VIGIL_OK);
    CHECK_INT(f->type, VIGIL_FRAME_SHUTDOWN);
    CHECK_STR(f->from, "10.0.0.1:7000");
    CHECK_INT(f->version, 43);
    CHECK(f->authenticated);
    /* The hint is the key's fingerprint's first byte, the nonce 0x40 ..
     * 0x57, and what is sealed is the plaintext vector's body. */
    char fp[VIGIL_KEY_FINGERPRINT];
    vigil_key_fingerprint(kr.keys[0], fp);
    CHECK_STR(fp, "cb2f5160");
    size_t at = sealed_at(sd->bytes, sd->len);
    CHECK_INT(at, 5);
    CHECK_INT(sd->bytes[at], 0xcb);
    for (int b = 0; b < VIGIL_NONCE_BYTES; b++) CHECK_INT(sd->bytes[at + 1 + b], 0x40 + b);
    size_t body_len = sp->bytes[3]; /* shutdown: 92 02 c4 LEN body */
    CHECK_INT(sd->len, at + VIGIL_SEAL_OVERHEAD + body_len);
    CHECK_INT(sd->bytes[4], VIGIL_SEAL_OVERHEAD + body_len);
    /* Nothing of the body is readable: its pname is not in the datagram. */
    CHECK(!contains(sd->bytes, sd->len, "10.0.0.1"));
    CHECK(contains(sp->bytes, sp->len, "10.0.0.1"));
    /* A receiver without a keyring cannot read it, and says so. */
    CHECK_INT(vigil_frame_decode(sd->bytes, sd->len, NULL, f), VIGIL_FRAME_EENCRYPTED);
  } else {
    CHECK_FAIL_("shutdown or shutdown_sealed vector missing");
  }
  free(f);
}

/* Decode hex (spaces allowed) into *f and return the rejection code. */
static int decode_hex_into(const char *hex, const vigil_keyring *kr, vigil_frame *f) {
  uint8_t buf[2048];
  size_t n = 0;
  for (const char *p = hex; *p && n < sizeof buf;) {
    if (*p == ' ') {
      p++;
      continue;
    }
    unsigned b;
    sscanf(p, "%2x", &b);
    buf[n++] = (uint8_t)b;
    p += 2;
  }
  return vigil_frame_decode(buf, n, kr, f);
}

static int decode_hex(const char *hex, const vigil_keyring *kr) {
  vigil_frame *f = new_frame();
  int rc = decode_hex_into(hex, kr, f);
  free(f);
  return rc;
}

/* Wrap a body (hex, at most 1400 bytes) in a version-2 envelope, a bin 8
 * or a bin 16, and decode it into *f. */
static int decode_body_into(const char *body_hex, vigil_frame *f) {
  char hex[4096];
  size_t len = 0;
  for (const char *p = body_hex; *p; p++) len += *p != ' ';
  len /= 2;
  if (len <= 255)
    snprintf(hex, sizeof hex, "92 02 c4 %02zx %s", len, body_hex);
  else
    snprintf(hex, sizeof hex, "92 02 c5 %02zx %02zx %s", len >> 8, len & 255, body_hex);
  return decode_hex_into(hex, NULL, f);
}

static int decode_body(const char *body_hex) {
  vigil_frame *f = new_frame();
  int rc = decode_body_into(body_hex, f);
  free(f);
  return rc;
}

/* Pnames in hand-written bytes: PXN is "127.0.0.X:N", an 11-byte str. */
#define P10 "ab 31 32 37 2e 30 2e 30 2e 31 3a 30" /* 127.0.0.1:0, a bad port */
#define P11 "ab 31 32 37 2e 30 2e 30 2e 31 3a 31"
#define P12 "ab 31 32 37 2e 30 2e 30 2e 31 3a 32"
#define P13 "ab 31 32 37 2e 30 2e 30 2e 31 3a 33"
#define P22 "ab 31 32 37 2e 30 2e 30 2e 32 3a 32"
#define P23 "ab 31 32 37 2e 30 2e 30 2e 32 3a 33"
/* "from" = 127.0.0.1:1; a body of 84 and REQ is 20 (0x14) bytes. */
#define FROM "02 " P11
#define REQ  "01 01 " FROM " 03 01 04 01" /* type 1, from 127.0.0.1:1, gen 1, ver 1 */

TEST(every_rejection_has_its_reason) {
  uint8_t big[VIGIL_FRAME_MAX + 1] = {0};
  vigil_frame *f = new_frame();
  CHECK_INT(vigil_frame_decode(big, sizeof big, NULL, f), VIGIL_FRAME_ETOOBIG);
  free(f);
  CHECK_INT(decode_hex("", NULL), VIGIL_FRAME_ETRUNCATED);
  CHECK_INT(decode_hex("92 02 c4 10 84", NULL), VIGIL_FRAME_ETRUNCATED);
  CHECK_INT(decode_hex("92 02", NULL), VIGIL_FRAME_ETRUNCATED);
  /* An array32 claiming 4 billion elements: refused before anything else. */
  CHECK_INT(decode_hex("dd ff ff ff ff 01", NULL), VIGIL_FRAME_ETRUNCATED);
  CHECK_INT(decode_body("df ff ff ff ff 01 01"), VIGIL_FRAME_ETRUNCATED);
  CHECK_INT(decode_hex("a3 61 62 63", NULL), VIGIL_FRAME_EMALFORMED);                 /* not an array */
  CHECK_INT(decode_hex("91 02", NULL), VIGIL_FRAME_EMALFORMED);                       /* too short */
  CHECK_INT(decode_hex("92 02 a1 00", NULL), VIGIL_FRAME_EMALFORMED);                 /* body not bin */
  CHECK_INT(decode_body("84 01 a1 78 " FROM " 03 01 04 01"), VIGIL_FRAME_EMALFORMED); /* type is a str */
  CHECK_INT(decode_body("c1"), VIGIL_FRAME_EMALFORMED);
  CHECK_INT(decode_hex("92 01 c4 01 80", NULL), VIGIL_FRAME_EVERSION);
  CHECK_INT(decode_hex("92 03 c4 01 80", NULL), VIGIL_FRAME_EVERSION);
  CHECK_INT(decode_body("85 " REQ " 63 91 91 91 91 91 91 91 91 91 91 01"), VIGIL_FRAME_EDEPTH);
  {
    char body[1024] = "85 " REQ " 07 dc 00 41";
    for (int i = 0; i < 65; i++) strcat(body, " a1 31");
    CHECK_INT(decode_body(body), VIGIL_FRAME_ECOUNT);
  }
  CHECK_INT(decode_body("85 " REQ " 05 d9 30 "
                        "41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 "
                        "41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 "
                        "41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41"),
            VIGIL_FRAME_ELENGTH);
  CHECK_INT(decode_body("83 01 01 " FROM " 03 01"), VIGIL_FRAME_EMISSING);
  CHECK_INT(decode_body("84 01 01 02 " P10 " 03 01 04 01"), VIGIL_FRAME_EVALUE); /* port 0 */
  CHECK_INT(decode_body("85 " REQ " 08 07"), VIGIL_FRAME_EVALUE);                /* state 7 */
  CHECK_INT(decode_body("85 " REQ " 07 91 a2 31 78"), VIGIL_FRAME_EVALUE);       /* token "1x" */
  CHECK_INT(decode_body("85 " REQ " 05 a2 61 0a"), VIGIL_FRAME_EVALUE);          /* newline in dc */
  CHECK_INT(decode_body("85 " REQ " 04 02"), VIGIL_FRAME_EDUPLICATE);
  CHECK_INT(decode_body("86 " REQ " 0e 01 0e 02"), VIGIL_FRAME_EDUPLICATE); /* view twice */
  CHECK_INT(decode_body("84 " REQ " c0"), VIGIL_FRAME_ETRAILING);
  CHECK_INT(decode_hex("92 02 c4 14 84 " REQ " 00", NULL), VIGIL_FRAME_ETRAILING);
  vigil_keyring kr = {0};
  vigil_keyring_add_base64(&kr, TEST_KEY);
  /* With a keyring, a plaintext frame is unauthenticated: with no third
   * element, a nil one, or the BLAKE2b tag an earlier release signed with. */
  CHECK_INT(decode_hex("92 02 c4 14 84 " REQ, &kr), VIGIL_FRAME_EUNSIGNED);
  CHECK_INT(decode_hex("93 02 c4 14 84 " REQ " c0", &kr), VIGIL_FRAME_EUNSIGNED);
  CHECK_INT(decode_hex("93 02 c4 14 84 " REQ " c4 10 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00", &kr),
            VIGIL_FRAME_EUNSIGNED);
  /* A sealed frame no key opens, or too short to hold a hint, a nonce and
   * a tag, is auth; [2, nil] or a sealed part that is not bin, malformed. */
  CHECK_INT(decode_hex("93 02 c0 c4 01 00", &kr), VIGIL_FRAME_EAUTH);
  {
    char hex[512] = "93 02 c0 c4 29";
    for (int i = 0; i < VIGIL_SEAL_OVERHEAD; i++) strcat(hex, " 00");
    CHECK_INT(decode_hex(hex, &kr), VIGIL_FRAME_EAUTH);
    /* Without a keyring, whatever is sealed cannot be read: encrypted. */
    CHECK_INT(decode_hex(hex, NULL), VIGIL_FRAME_EENCRYPTED);
    CHECK_INT(decode_hex("93 02 c0 c4 01 00", NULL), VIGIL_FRAME_EENCRYPTED);
  }
  CHECK_INT(decode_hex("92 02 c0", &kr), VIGIL_FRAME_EMALFORMED);
  CHECK_INT(decode_hex("93 02 c0 a1 78", &kr), VIGIL_FRAME_EMALFORMED);
  CHECK_INT(decode_hex("93 02 c0 c4 05 00", &kr), VIGIL_FRAME_ETRUNCATED);
  CHECK_INT(decode_hex("93 02 c0 c4 01 00 00", &kr), VIGIL_FRAME_ETRAILING);
  /* Reason names are the metric labels. */
  CHECK_STR(vigil_frame_reason(VIGIL_FRAME_ETOOBIG), "too_big");
  CHECK_STR(vigil_frame_reason(VIGIL_FRAME_EAUTH), "auth");
  CHECK_STR(vigil_frame_reason(VIGIL_FRAME_EUNSIGNED), "unauthenticated");
  CHECK_STR(vigil_frame_reason(0), "unknown");
  CHECK_STR(vigil_frame_reason(VIGIL_FRAME_ESOURCE), "source");
  CHECK_STR(vigil_frame_reason(VIGIL_FRAME_ESKEW), "skew");
  CHECK_STR(vigil_frame_reason(VIGIL_FRAME_EGENERATION), "generation");
  CHECK_STR(vigil_frame_reason(VIGIL_FRAME_EENCRYPTED), "encrypted");
  CHECK_INT(vigil_frame_reason_index(VIGIL_FRAME_EENCRYPTED), VIGIL_FRAME_REASONS - 1);
}

TEST(unknown_fields_types_and_keys_are_skipped) {
  /* Field 42 holding a nested map, a str key, an ext and a float: skipped. */
  CHECK_INT(decode_body("88 " REQ " 2a 81 a1 6b 92 01 c3 a3 6e 65 77 cb 40 09 21 fb 54 44 2d 18 "
                        "2b d6 07 01 02 03 04 2c ca 3f 80 00 00"),
            VIGIL_OK);
  /* An unknown frame type decodes; the receiver decides to skip it. */
  vigil_frame *f = new_frame();
  uint8_t buf[] = {0x92, 0x02, 0xc4, 0x14, 0x84, 0x01, 0x63, 0x02, 0xab, '1',  '2',  '7', '.',
                   '0',  '.',  '0',  '.',  '1',  ':',  '1',  0x03, 0x01, 0x04, 0x01, 0x00};
  CHECK_INT(vigil_frame_decode(buf, sizeof buf - 1, NULL, f), VIGIL_OK);
  CHECK_INT(f->type, 99);
  /* Extra envelope elements after the tag slot are skipped too. */
  CHECK_INT(decode_hex("94 02 c4 14 84 " REQ " c0 a1 78", NULL), VIGIL_OK);
  /* Digest entries longer than seven elements keep their first seven (the
   * seventh: tags), alerts longer than four their first four. */
  CHECK_INT(decode_body_into("85 " REQ " 09 91 98 " P22 " 05 06 a1 78 a1 79 07 80 c3", f), VIGIL_OK);
  CHECK_STR(f->digest[0].rack, "y");
  CHECK_INT(f->digest[0].version, 7);
  CHECK_INT(decode_body_into("85 " REQ " 0c 91 95 " P22 " 05 06 " P23 " 81 01 c3", f), VIGIL_OK);
  CHECK_INT(f->nalerts, 1);
  CHECK_STR(f->alerts[0].observer, "127.0.0.2:3");
  free(f);
}

TEST(a_full_frame_round_trips_and_stays_under_1400_bytes) {
  vigil_frame *f = new_frame(), *g = new_frame();
  f->type = VIGIL_FRAME_HEARTBEAT;
  snprintf(f->from, sizeof f->from, "[::1]:7000");
  f->generation = UINT64_MAX;
  f->version = 1ull << 40;
  snprintf(f->dc, sizeof f->dc, "eu-west-1");
  snprintf(f->rack, sizeof f->rack, "rack-17");
  f->has_state = true;
  f->state = VIGIL_STATE_LEAVING;
  f->ntokens = 3;
  vigil_token_parse(&f->tokens[0], "340282366920938463463374607431768211455", 39);
  vigil_token_from_u32(&f->tokens[1], 0);
  vigil_token_from_u32(&f->tokens[2], 4294967295u);
  f->ndigest = 20;
  for (uint32_t i = 0; i < f->ndigest; i++) {
    snprintf(f->digest[i].pname, sizeof f->digest[i].pname, "127.1.%u.%u:7000", i, i * 3);
    f->digest[i].generation = 1764151200u + i;
    f->digest[i].incarnation = i * 1000003u;
    if (i % 2) snprintf(f->digest[i].dc, sizeof f->digest[i].dc, "dc%u", i);
  }
  uint8_t buf[VIGIL_FRAME_MAX];
  vigil_keyring kr = {0};
  vigil_keyring_add_base64(&kr, TEST_KEY);
  int n = vigil_frame_encode(f, &kr, buf, sizeof buf);
  CHECK(n > 0 && n <= VIGIL_FRAME_MAX);
  CHECK_INT(vigil_frame_decode(buf, (size_t)n, &kr, g), VIGIL_OK);
  CHECK_STR(g->from, f->from);
  CHECK_INT(g->generation, UINT64_MAX);
  CHECK_INT(g->version, 1ull << 40);
  CHECK_STR(g->dc, "eu-west-1");
  CHECK_INT(g->state, VIGIL_STATE_LEAVING);
  CHECK_INT(g->ntokens, 3);
  CHECK_INT(vigil_token_cmp(&g->tokens[0], &f->tokens[0]), 0);
  CHECK_INT(g->ndigest, 20);
  CHECK_STR(g->digest[19].pname, "127.1.19.57:7000");
  CHECK_STR(g->digest[19].dc, "dc19");
  CHECK_STR(g->digest[18].dc, "");
  CHECK_INT(g->digest[19].incarnation, 19 * 1000003u);
  /* Every byte tampered with fails: one of the sealed part (hint, nonce,
   * ciphertext, tag) as auth, one of the envelope for its own reason. */
  size_t at = sealed_at(buf, (size_t)n);
  CHECK(at > 0);
  int auth = 0, other_ok = 0;
  for (size_t i = 0; i < (size_t)n; i++) {
    for (int bit = 0; bit < 8; bit += 7) {
      buf[i] ^= (uint8_t)(1u << bit);
      int rc = vigil_frame_decode(buf, (size_t)n, &kr, g);
      buf[i] ^= (uint8_t)(1u << bit);
      if (i >= at)
        auth += rc == VIGIL_FRAME_EAUTH;
      else
        other_ok += rc == VIGIL_OK;
    }
  }
  CHECK_INT(auth, 2 * (n - (int)at));
  CHECK_INT(other_ok, 0);
  CHECK_INT(vigil_frame_decode(buf, (size_t)n, &kr, g), VIGIL_OK); /* untouched, it still opens */
  /* The largest frame allowed (32 digest entries of the longest loopback
   * pnames, the largest numbers and the longest dc and rack) does not fit:
   * the encoder says so instead of writing a bad datagram. */
  f->ndigest = VIGIL_DIGEST_MAX;
  for (uint32_t i = 0; i < f->ndigest; i++) {
    vigil_digest_entry *e = &f->digest[i];
    snprintf(e->pname, sizeof e->pname, "127.255.255.255:65535");
    e->generation = e->incarnation = e->version = UINT64_MAX;
    memset(e->dc, 'd', sizeof e->dc - 1), e->dc[sizeof e->dc - 1] = '\0';
    memset(e->rack, 'r', sizeof e->rack - 1), e->rack[sizeof e->rack - 1] = '\0';
  }
  CHECK_INT(vigil_frame_encode(f, &kr, buf, sizeof buf), VIGIL_FRAME_ETOOBIG);
  f->ndigest = VIGIL_DIGEST_MAX + 1;
  CHECK_INT(vigil_frame_encode(f, &kr, buf, sizeof buf), VIGIL_EINVAL);
  f->ndigest = 0;
  f->nalerts = VIGIL_ALERTS_MAX + 1;
  CHECK_INT(vigil_frame_encode(f, &kr, buf, sizeof buf), VIGIL_EINVAL);
  free(f);
  free(g);
}

TEST(keys_rotate_the_primary_seals_and_every_key_opens) {
  vigil_keyring old = {0}, both = {0}, other = {0};
  const char *k2 = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="; /* 0x20 .. 0x3f */
  CHECK_INT(vigil_keyring_add_base64(&old, TEST_KEY), VIGIL_OK);
  CHECK_INT(vigil_keyring_add_base64(&both, k2), VIGIL_OK);
  CHECK_INT(vigil_keyring_add_base64(&both, TEST_KEY), VIGIL_OK);
  CHECK_INT(vigil_keyring_add_base64(&other, k2), VIGIL_OK);
  vigil_frame *f = new_frame();
  f->type = 1;
  snprintf(f->from, sizeof f->from, "127.0.0.1:1");
  uint8_t buf[VIGIL_FRAME_MAX], again[VIGIL_FRAME_MAX];
  int n = vigil_frame_encode(f, &old, buf, sizeof buf);
  /* Two frames sealed alike never share a nonce (nor ciphertext). */
  CHECK_INT(vigil_frame_encode(f, &old, again, sizeof again), n);
  CHECK(memcmp(buf, again, (size_t)n) != 0);
  CHECK_INT(vigil_frame_decode(buf, (size_t)n, &both, f), VIGIL_OK); /* opened by the 2nd key */
  CHECK(f->authenticated);
  CHECK_INT(vigil_frame_decode(buf, (size_t)n, &other, f), VIGIL_FRAME_EAUTH);
  CHECK_INT(vigil_keyring_add_base64(&other, "not base64!"), VIGIL_EINVAL);
  CHECK_INT(vigil_keyring_add_base64(&other, "AAEC"), VIGIL_EINVAL); /* 3 bytes */
  free(f);
}

/* Eight keys: the ring of all eight opens a frame sealed by any one of
 * them, a ring without it opens nothing; the hint is tried first but never
 * trusted -- a frame whose hint names no key (or the wrong one) still
 * opens when its key is in the ring, and a hint is not a key. */
TEST(every_key_of_the_ring_opens_and_the_hint_is_only_a_shortcut) {
  static vigil_keyring ring, one, seven;
  uint8_t keys[VIGIL_KEYRING_MAX][VIGIL_KEY_BYTES];
  memset(&ring, 0, sizeof ring);
  memset(&seven, 0, sizeof seven);
  for (int k = 0; k < VIGIL_KEYRING_MAX; k++) {
    for (int b = 0; b < VIGIL_KEY_BYTES; b++) keys[k][b] = (uint8_t)(k * 31 + b * 7 + 1);
    CHECK_INT(vigil_keyring_install(&ring, keys[k]), VIGIL_OK);
    if (k != 5) CHECK_INT(vigil_keyring_install(&seven, keys[k]), VIGIL_OK);
  }
  vigil_frame *f = new_frame(), *g = new_frame();
  f->type = VIGIL_FRAME_HEARTBEAT;
  snprintf(f->from, sizeof f->from, "127.0.0.1:7000");
  f->generation = 1;
  f->version = 2;
  uint8_t buf[VIGIL_FRAME_MAX];
  for (int k = 0; k < VIGIL_KEYRING_MAX; k++) {
    memset(&one, 0, sizeof one);
    vigil_keyring_install(&one, keys[k]);
    int n = vigil_frame_encode(f, &one, buf, sizeof buf);
    CHECK(n > 0);
    CHECK_INT(buf[sealed_at(buf, (size_t)n)], one.hints[0]);
    CHECK_INT(vigil_frame_decode(buf, (size_t)n, &ring, g), VIGIL_OK);
    CHECK_INT(g->version, 2);
    CHECK_INT(vigil_frame_decode(buf, (size_t)n, &seven, g), k == 5 ? VIGIL_FRAME_EAUTH : VIGIL_OK);
    /* A lying hint (sealed under it, so the tag covers it): still opens. */
    one.hints[0] ^= 0x5a;
    n = vigil_frame_encode(f, &one, buf, sizeof buf);
    CHECK_INT(vigil_frame_decode(buf, (size_t)n, &ring, g), VIGIL_OK);
    /* The hint of another key, with key k's tag: the tag decides. */
    one.hints[0] = ring.hints[(k + 1) % VIGIL_KEYRING_MAX];
    n = vigil_frame_encode(f, &one, buf, sizeof buf);
    CHECK_INT(vigil_frame_decode(buf, (size_t)n, &ring, g), VIGIL_OK);
    CHECK_INT(vigil_frame_decode(buf, (size_t)n, &seven, g), k == 5 ? VIGIL_FRAME_EAUTH : VIGIL_OK);
  }
  /* Plaintext to a ring is unauthenticated; sealed to no ring, encrypted. */
  int n = vigil_frame_encode(f, NULL, buf, sizeof buf);
  CHECK_INT(vigil_frame_decode(buf, (size_t)n, &ring, g), VIGIL_FRAME_EUNSIGNED);
  n = vigil_frame_encode(f, &ring, buf, sizeof buf);
  CHECK_INT(vigil_frame_decode(buf, (size_t)n, NULL, g), VIGIL_FRAME_EENCRYPTED);
  vigil_keyring empty = {0};
  CHECK_INT(vigil_frame_decode(buf, (size_t)n, &empty, g), VIGIL_FRAME_EENCRYPTED);
  free(f);
  free(g);
}

/* Sealing costs VIGIL_SEAL_OVERHEAD bytes and a nil: a frame that fits in
 * plaintext may not fit sealed, and the encoder says so (membership then
 * drops digest entries until it fits). */
TEST(sealing_costs_a_fixed_overhead_and_the_encoder_counts_it) {
  vigil_keyring kr = {0};
  vigil_keyring_add_base64(&kr, TEST_KEY);
  vigil_frame *f = new_frame();
  f->type = VIGIL_FRAME_HEARTBEAT;
  snprintf(f->from, sizeof f->from, "127.0.0.1:7000");
  f->generation = 1764151200;
  f->version = 42;
  uint8_t buf[VIGIL_FRAME_MAX];
  int plain = vigil_frame_encode(f, NULL, buf, sizeof buf);
  int sealed = vigil_frame_encode(f, &kr, buf, sizeof buf);
  CHECK_INT(sealed, plain + 1 + VIGIL_SEAL_OVERHEAD);
  /* Digest entries until the plaintext is just under 1400 bytes. */
  while (f->ndigest < VIGIL_DIGEST_MAX) {
    vigil_digest_entry *e = &f->digest[f->ndigest++];
    snprintf(e->pname, sizeof e->pname, "127.0.%u.1:7000", f->ndigest);
    e->generation = e->incarnation = UINT64_MAX;
    memset(e->dc, 'd', 30), e->dc[30] = '\0';
    if (vigil_frame_encode(f, NULL, buf, sizeof buf) < 0) {
      f->ndigest--;
      break;
    }
  }
  plain = vigil_frame_encode(f, NULL, buf, sizeof buf);
  CHECK(plain > VIGIL_FRAME_MAX - 1 - VIGIL_SEAL_OVERHEAD);
  CHECK_INT(vigil_frame_encode(f, &kr, buf, sizeof buf), VIGIL_FRAME_ETOOBIG);
  /* One entry fewer fits, sealed, within the datagram. */
  f->ndigest--;
  sealed = vigil_frame_encode(f, &kr, buf, sizeof buf);
  CHECK(sealed > 0 && sealed <= VIGIL_FRAME_MAX);
  /* And a cap below what the frame needs is refused, never overrun. */
  CHECK_INT(vigil_frame_encode(f, &kr, buf, (size_t)sealed - 1), VIGIL_FRAME_ETOOBIG);
  free(f);
}

/* What a node sends with a keyring: every frame sealed, opened by the
 * keyring, within 1400 bytes however much news it has to tell. Forty
 * members with the longest names (IPv6 pnames, 47-byte dc and rack, 9-byte
 * numbers: ~164 bytes an entry) are more than a datagram holds: the node
 * puts 9 entries in a frame when they fit, and here membership drops
 * entries until the sealed frame fits. */
typedef struct sent_log {
  int frames, over, unopened;
  size_t longest;
  uint32_t most_entries; /* digest entries in the fullest frame */
  const vigil_keyring *kr;
} sent_log;

static int sent_check(void *ud, const char *pname, const uint8_t *buf, size_t len) {
  (void)pname;
  sent_log *l = ud;
  static vigil_frame g;
  l->frames++;
  l->over += len > VIGIL_FRAME_MAX;
  if (len > l->longest) l->longest = len;
  bool opened = vigil_frame_decode(buf, len, l->kr, &g) == VIGIL_OK && g.authenticated;
  l->unopened += !opened;
  if (opened && g.ndigest > l->most_entries) l->most_entries = g.ndigest;
  return 0;
}

TEST(a_node_with_a_keyring_seals_every_frame_within_1400_bytes) {
  vigil_keyring kr = {0};
  vigil_keyring_add_base64(&kr, TEST_KEY);
  sent_log log = {0, 0, 0, 0, 0, &kr};
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  cfg.self = "127.0.0.1:7000";
  cfg.keyring = &kr;
  cfg.max_skew = 0; /* no wall clock here */
  cfg.generation = 1;
  vigil_node *n = vigil_node_new(&cfg, sent_check, &log, 0, NULL);
  CHECK(n != NULL);
  if (!n) return;
  vigil_frame *f = new_frame();
  uint8_t buf[VIGIL_FRAME_MAX];
  for (uint32_t i = 0; i < 40; i++) {
    memset(f, 0, sizeof *f);
    f->type = VIGIL_FRAME_HEARTBEAT;
    snprintf(f->from, sizeof f->from, "[2001:db8:aaaa:bbbb:cccc:dddd:eeee:%x]:65000", i + 1);
    f->generation = (1ull << 40) + i;
    f->incarnation = 1ull << 40;
    f->version = 1;
    f->sent = 1;
    memset(f->dc, 'd', VIGIL_NAME_MAX - 1);
    memset(f->rack, 'r', VIGIL_NAME_MAX - 1);
    f->dc[5] = f->rack[5] = (char)('a' + i % 26);
    int len = vigil_frame_encode(f, &kr, buf, sizeof buf);
    CHECK(len > 0);
    CHECK_INT(vigil_node_receive(n, buf, (size_t)len, NULL, VIGIL_MS * (1 + i)), VIGIL_OK);
  }
  for (vigil_time t = 100; t <= 2000; t += 100) vigil_node_timer(n, t * VIGIL_MS);
  CHECK(log.frames > 0);
  CHECK_INT(log.over, 0);
  CHECK_INT(log.unopened, 0);
  /* Entries were dropped (9 do not fit), 4 at a time: the fullest frame
   * is within 4 entries of the limit. */
  CHECK(log.most_entries > 0 && log.most_entries < 9);
  CHECK(log.longest > VIGIL_FRAME_MAX - 4 * 164);
  free(f);
  vigil_node_free(n);
}

TEST(keyring_changes_install_use_remove_and_fingerprints) {
  vigil_keyring kr = {0};
  uint8_t k1[VIGIL_KEY_BYTES], k2[VIGIL_KEY_BYTES], k3[VIGIL_KEY_BYTES];
  CHECK_INT(vigil_key_from_base64(TEST_KEY, k1), VIGIL_OK);
  CHECK_INT(vigil_key_from_base64("ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\n", k2), VIGIL_OK);
  CHECK_INT(k1[31], 0x1f);
  CHECK_INT(k2[0], 0x20);
  memset(k3, 0xee, sizeof k3);
  CHECK_INT(vigil_key_from_base64("AAEC", k3), VIGIL_EINVAL);
  CHECK_INT(vigil_key_from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=x", k3), VIGIL_EINVAL);
  CHECK_INT(k3[0], 0xee); /* untouched on failure */
  /* Fingerprints: BLAKE2b-256's first 4 bytes (b2sum -l 256 agrees). */
  char fp[VIGIL_KEY_FINGERPRINT];
  vigil_key_fingerprint(k1, fp);
  CHECK_STR(fp, "cb2f5160");
  CHECK_INT(vigil_keyring_install(&kr, k1), VIGIL_OK);
  CHECK_INT(kr.hints[0], 0xcb);
  CHECK_INT(vigil_keyring_install(&kr, k1), VIGIL_EEXIST);
  CHECK_INT(vigil_keyring_use(&kr, k2), VIGIL_ENOENT);
  CHECK_INT(vigil_keyring_remove(&kr, k2), VIGIL_ENOENT);
  CHECK_INT(vigil_keyring_remove(&kr, k1), VIGIL_EINVAL); /* the primary */
  CHECK_INT(vigil_keyring_install(&kr, k2), VIGIL_OK);
  CHECK_INT(kr.nkeys, 2);
  CHECK_INT(vigil_keyring_find(&kr, k1), 0); /* installed keys come after */
  CHECK_INT(vigil_keyring_find(&kr, k2), 1);
  vigil_keyring before = kr;
  CHECK_INT(vigil_keyring_use(&kr, k1), VIGIL_OK); /* the primary already */
  CHECK(vigil_keyring_equal(&kr, &before));
  CHECK_INT(vigil_keyring_use(&kr, k2), VIGIL_OK);
  CHECK(!vigil_keyring_equal(&kr, &before));
  CHECK_INT(vigil_keyring_find(&kr, k2), 0);
  CHECK_INT(vigil_keyring_find(&kr, k1), 1);
  CHECK_INT(kr.hints[1], 0xcb); /* hints follow their keys */
  CHECK_INT(vigil_keyring_remove(&kr, k1), VIGIL_OK);
  CHECK_INT(kr.nkeys, 1);
  CHECK_INT(vigil_keyring_find(&kr, k1), -1);
  CHECK_INT(vigil_keyring_remove(&kr, k2), VIGIL_EINVAL);
  /* Full at eight: the ninth is refused, the ring unchanged. */
  for (int i = 0; kr.nkeys < VIGIL_KEYRING_MAX; i++) {
    memset(k3, i, sizeof k3);
    CHECK_INT(vigil_keyring_install(&kr, k3), VIGIL_OK);
  }
  before = kr;
  memset(k3, 0x77, sizeof k3);
  CHECK_INT(vigil_keyring_install(&kr, k3), VIGIL_ERANGE);
  CHECK(vigil_keyring_equal(&kr, &before));
  CHECK_INT(vigil_keyring_add_base64(&kr, TEST_KEY), VIGIL_ERANGE);
  /* use of the last key moves it first, the others keep their order. */
  memset(k3, 6, sizeof k3);
  CHECK_INT(vigil_keyring_find(&kr, k3), VIGIL_KEYRING_MAX - 1);
  CHECK_INT(vigil_keyring_use(&kr, k3), VIGIL_OK);
  CHECK_INT(vigil_keyring_find(&kr, k3), 0);
  CHECK_INT(vigil_keyring_find(&kr, k2), 1);
  memset(k3, 0, sizeof k3);
  CHECK_INT(vigil_keyring_find(&kr, k3), 2);
  /* A ring's hints are its keys' fingerprints' first bytes, whatever
   * the changes did. */
  for (uint32_t i = 0; i < kr.nkeys; i++) {
    vigil_key_fingerprint(kr.keys[i], fp);
    CHECK_INT(kr.hints[i], (int)strtol((char[3]){fp[0], fp[1], 0}, NULL, 16));
  }
}

TEST(keyring_files_are_checked_line_by_line) {
  char path[] = "/tmp/vigil-keyring-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  FILE *f = fdopen(fd, "w");
  fprintf(f, "# primary\n%s\n\n  ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\n", TEST_KEY);
  fclose(f);
  vigil_keyring kr;
  char err[256] = "";
  CHECK_INT(vigil_keyring_load(&kr, path, err, sizeof err), VIGIL_OK);
  CHECK_INT(kr.nkeys, 2);
  CHECK_INT(kr.keys[0][31], 0x1f);
  f = fopen(path, "w");
  fprintf(f, "%s\nbogus\n", TEST_KEY);
  fclose(f);
  CHECK_INT(vigil_keyring_load(&kr, path, err, sizeof err), VIGIL_EINVAL);
  CHECK(strstr(err, ":2: not a base64 32-byte key") != NULL);
  CHECK_INT(kr.nkeys, 0);
  f = fopen(path, "w");
  fprintf(f, "# nothing\n");
  fclose(f);
  CHECK_INT(vigil_keyring_load(&kr, path, err, sizeof err), VIGIL_EINVAL);
  CHECK(strstr(err, "no key") != NULL);
  remove(path);
  CHECK_INT(vigil_keyring_load(&kr, "/nonexistent/keyring", err, sizeof err), VIGIL_EINVAL);
  CHECK(strstr(err, "cannot open") != NULL);
}

/* The runtime writes the keyring file when `vigil keys` changes it: the
 * primary first, mode 0600, through a new file renamed over the old one
 * (none left behind), the link kept when the path is a symbolic link. */
TEST(keyring_files_are_written_whole_the_primary_first_mode_0600) {
  char dir[] = "/tmp/vigil-keydir-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[256], link[256], err[256] = "";
  snprintf(path, sizeof path, "%s/keyring", dir);
  snprintf(link, sizeof link, "%s/link", dir);
  FILE *f = fopen(path, "w");
  fprintf(f, "# old comment\n%s\n", TEST_KEY);
  fclose(f);
  chmod(path, 0644);
  CHECK_INT(symlink("keyring", link), 0);
  vigil_keyring kr = {0}, back;
  uint8_t k2[VIGIL_KEY_BYTES];
  vigil_key_from_base64("ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=", k2);
  vigil_keyring_add_base64(&kr, TEST_KEY);
  vigil_keyring_install(&kr, k2);
  vigil_keyring_use(&kr, k2);
  CHECK_INT(vigil_keyring_save(&kr, link, err, sizeof err), VIGIL_OK);
  CHECK_INT(vigil_keyring_load(&back, link, err, sizeof err), VIGIL_OK);
  CHECK(vigil_keyring_equal(&kr, &back));
  CHECK_INT(back.keys[0][0], 0x20);
  struct stat st;
  CHECK_INT(lstat(link, &st), 0);
  CHECK(S_ISLNK(st.st_mode));
  CHECK_INT(stat(path, &st), 0);
  CHECK_INT(st.st_mode & 0777, 0600);
  /* Exactly the file and the link remain: no temporary file. */
  char cmd[512];
  snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 2", dir);
  CHECK_INT(system(cmd), 0);
  /* The file reads as the two keys, the new primary first. */
  f = fopen(path, "r");
  char text[1024] = "";
  size_t got = fread(text, 1, sizeof text - 1, f);
  text[got] = '\0';
  fclose(f);
  CHECK(strstr(text, "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\n" TEST_KEY "\n") != NULL);
  CHECK(strstr(text, "old comment") == NULL);
  /* An empty keyring is never written; a directory that cannot be written
   * to leaves the file as it was, and says why. */
  vigil_keyring empty = {0};
  CHECK_INT(vigil_keyring_save(&empty, path, err, sizeof err), VIGIL_EINVAL);
  snprintf(link, sizeof link, "%s/missing/keyring", dir);
  CHECK_INT(vigil_keyring_save(&kr, link, err, sizeof err), VIGIL_EINVAL);
  CHECK(strstr(err, "cannot write") != NULL);
  CHECK(strstr(err, "ICEi") == NULL); /* never a key in a message */
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK_INT(system(cmd), 0);
}

TEST(random_and_mutated_datagrams_never_crash_the_decoder) {
  /* A deterministic smoke fuzz (the real one is spec/fuzz/, libFuzzer):
   * mutate the vectors and random bytes; every outcome must be OK or a
   * named reason. */
  static vector v[16];
  int n = load_vectors(PROTOCOL_MD, v, 16);
  vigil_frame *f = new_frame();
  unsigned seed = 1;
  int named = 0, total = 0;
  for (int round = 0; round < 200000; round++) {
    uint8_t buf[VIGIL_FRAME_MAX];
    size_t len;
    seed = seed * 1103515245u + 12345u;
    if (round % 2 && n > 0) {
      const vector *src = &v[seed % (unsigned)n];
      len = src->len;
      memcpy(buf, src->bytes, len);
      for (int k = 0; k < 3; k++) {
        seed = seed * 1103515245u + 12345u;
        buf[(seed >> 8) % len] = (uint8_t)(seed >> 16);
      }
      seed = seed * 1103515245u + 12345u;
      if (seed % 4 == 0) len = (seed >> 8) % len; /* truncate */
    } else {
      len = (seed >> 8) % 64;
      for (size_t k = 0; k < len; k++) {
        seed = seed * 1103515245u + 12345u;
        buf[k] = (uint8_t)(seed >> 16);
      }
    }
    int rc = vigil_frame_decode(buf, len, NULL, f);
    named += rc == VIGIL_OK || vigil_frame_reason_index(rc) >= 0;
    total++;
  }
  CHECK_INT(named, total);
  free(f);
}

TEST(the_decoder_accepts_exactly_the_pnames_the_pool_accepts) {
  /* rd_pname re-implements vigil_pname_parse in one pass for speed: the
   * two must agree on every pname. */
  static const char *const names[] = {
      "10.0.0.1:7946", "[::1]:7000",
      "host:1",        "h:65535",
      "h:65536",       "h:0",
      "h:00080",       "h:123456",
      ":80",           "h:",
      "::1:7000",      "[::1:7000",
      "[]:80",         "[x]:80",
      "a b:80",        "h\"q:80",
      "h\\q:80",       "h:8a",
      "h:-1",          "host",
      "x.y.z:42",      "[2001:db8::1]:7946",
      "a:b:c",         "[::1]]:80",
      "]:80",
  };
  int disagreements = 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    size_t hl;
    uint16_t port;
    bool pool_ok = vigil_pname_parse(names[i], &hl, &port) == VIGIL_OK;
    char body[512];
    char hex[400] = "";
    for (const char *c = names[i]; *c; c++)
      snprintf(hex + strlen(hex), sizeof hex - strlen(hex), " %02x", (unsigned char)*c);
    snprintf(body, sizeof body, "84 01 01 02 %02zx%s 03 01 04 01", 0xa0 + strlen(names[i]), hex);
    bool frame_ok = decode_body(body) == VIGIL_OK;
    if (pool_ok != frame_ok) {
      disagreements++;
      CHECK_FAIL_("pname '%s': pool says %d, frame decoder says %d", names[i], pool_ok, frame_ok);
    }
  }
  CHECK_INT(disagreements, 0);
}

TEST(version_1_frames_are_rejected_as_version) {
  /* The protocol-1 heartbeat vector, as a version-1 agent still sends it. */
  CHECK_INT(decode_hex("92 01 c4 31 88 01 01 02 ad 31 30 2e 30 2e 30 2e 31 3a 37 30 30 30 03 ce 69 26 cf a0 "
                       "04 2a 05 a3 64 63 31 06 a2 72 31 07 91 a9 31 30 31 31 33 34 32 38 36 08 02",
                       NULL),
            VIGIL_FRAME_EVERSION);
  /* Every vector, stamped version 1: rejected for its version, before its
   * body or its tag is looked at (with a keyring too). */
  static vector v[16];
  int n = load_vectors(PROTOCOL_MD, v, 16);
  CHECK(n > 0);
  vigil_keyring kr = {0};
  vigil_keyring_add_base64(&kr, TEST_KEY);
  vigil_frame *f = new_frame();
  for (int i = 0; i < n; i++) {
    CHECK_INT(v[i].bytes[1], VIGIL_PROTOCOL_VERSION);
    v[i].bytes[1] = 1;
    CHECK_INT(vigil_frame_decode(v[i].bytes, v[i].len, NULL, f), VIGIL_FRAME_EVERSION);
    CHECK_INT(vigil_frame_decode(v[i].bytes, v[i].len, &kr, f), VIGIL_FRAME_EVERSION);
  }
  CHECK_STR(vigil_frame_reason(VIGIL_FRAME_EVERSION), "version");
  free(f);
}

TEST(the_sender_fields_incarnation_flags_members_and_view_round_trip) {
  vigil_frame *f = new_frame(), *g = new_frame();
  f->type = VIGIL_FRAME_HEARTBEAT;
  snprintf(f->from, sizeof f->from, "127.0.0.1:7000");
  f->generation = 1764151200;
  f->version = 42;
  f->incarnation = 1ull << 40;
  f->flags = VIGIL_FLAG_WANT;
  f->members = UINT32_MAX;
  f->view = UINT64_MAX;
  uint8_t buf[VIGIL_FRAME_MAX];
  int n = vigil_frame_encode(f, NULL, buf, sizeof buf);
  CHECK(n > 0);
  CHECK_INT(vigil_frame_decode(buf, (size_t)n, NULL, g), VIGIL_OK);
  CHECK(g->incarnation == 1ull << 40);
  CHECK_INT(g->flags, VIGIL_FLAG_WANT);
  CHECK_INT(g->members, UINT32_MAX);
  CHECK(g->view == UINT64_MAX);
  /* 0 is "not given": the field is left out (a map of the 4 required). */
  f->incarnation = f->flags = f->members = 0;
  f->view = 0;
  n = vigil_frame_encode(f, NULL, buf, sizeof buf);
  CHECK(n > 4);
  CHECK_INT(buf[4], 0x84);
  CHECK_INT(vigil_frame_decode(buf, (size_t)n, NULL, g), VIGIL_OK);
  CHECK_INT(g->incarnation, 0);
  CHECK_INT(g->flags, 0);
  CHECK_INT(g->members, 0);
  CHECK_INT(g->view, 0);
  /* Unknown flag bits are ignored, even beyond 32 bits; want still reads. */
  CHECK_INT(decode_body_into("85 " REQ " 0b cf 00 00 00 01 00 00 00 03", g), VIGIL_OK);
  CHECK(g->flags & VIGIL_FLAG_WANT);
  CHECK_INT(decode_body_into("85 " REQ " 0b cd ff fe", g), VIGIL_OK);
  CHECK(!(g->flags & VIGIL_FLAG_WANT));
  /* members beyond 2^32 - 1 are clamped. */
  CHECK_INT(decode_body_into("85 " REQ " 0d cf 00 00 00 01 00 00 00 00", g), VIGIL_OK);
  CHECK_INT(g->members, UINT32_MAX);
  CHECK_INT(decode_body_into("85 " REQ " 0d cd 03 e8", g), VIGIL_OK);
  CHECK_INT(g->members, 1000);
  /* They are uints: another type is malformed. */
  CHECK_INT(decode_body("85 " REQ " 0a a1 31"), VIGIL_FRAME_EMALFORMED);
  CHECK_INT(decode_body("85 " REQ " 0e c3"), VIGIL_FRAME_EMALFORMED);
  free(f);
  free(g);
}

TEST(digest_entries_carry_the_heartbeat_version_in_their_fourth_or_sixth_element) {
  vigil_frame *f = new_frame(), *g = new_frame();
  /* [pname, generation, incarnation, version] */
  CHECK_INT(decode_body_into("85 " REQ " 09 91 94 " P22 " 05 06 07", f), VIGIL_OK);
  CHECK_INT(f->ndigest, 1);
  CHECK_STR(f->digest[0].pname, "127.0.0.2:2");
  CHECK_INT(f->digest[0].generation, 5);
  CHECK_INT(f->digest[0].incarnation, 6);
  CHECK_INT(f->digest[0].version, 7);
  CHECK_STR(f->digest[0].dc, "");
  CHECK_STR(f->digest[0].rack, "");
  /* [pname, generation, incarnation, dc, rack, version] */
  CHECK_INT(decode_body_into("85 " REQ " 09 91 96 " P22 " 05 06 a1 78 a1 79 cd 01 2c", f), VIGIL_OK);
  CHECK_INT(f->digest[0].incarnation, 6);
  CHECK_STR(f->digest[0].dc, "x");
  CHECK_STR(f->digest[0].rack, "y");
  CHECK_INT(f->digest[0].version, 300);
  /* Three and five elements: no version. */
  CHECK_INT(decode_body_into("85 " REQ " 09 92 93 " P22 " 05 06 95 " P23 " 05 06 a1 78 a1 79", f), VIGIL_OK);
  CHECK_INT(f->digest[0].version, 0);
  CHECK_INT(f->digest[1].version, 0);
  CHECK_STR(f->digest[1].dc, "x");
  /* The version is a uint; fewer than three elements is no entry. */
  CHECK_INT(decode_body("85 " REQ " 09 91 94 " P22 " 05 06 a1 78"), VIGIL_FRAME_EMALFORMED);
  CHECK_INT(decode_body("85 " REQ " 09 91 96 " P22 " 05 06 a1 78 a1 79 c3"), VIGIL_FRAME_EMALFORMED);
  CHECK_INT(decode_body("85 " REQ " 09 91 92 " P22 " 05"), VIGIL_FRAME_EMALFORMED);
  /* The encoder picks the form: 4 elements without placement, 6 with. */
  memset(f, 0, sizeof *f);
  f->type = VIGIL_FRAME_HEARTBEAT;
  snprintf(f->from, sizeof f->from, "127.0.0.1:1");
  f->generation = f->version = 1;
  f->ndigest = 2;
  snprintf(f->digest[0].pname, sizeof f->digest[0].pname, "127.0.0.2:2");
  f->digest[0].generation = 5;
  f->digest[0].incarnation = 6;
  f->digest[0].version = 977;
  snprintf(f->digest[1].pname, sizeof f->digest[1].pname, "127.0.0.2:3");
  f->digest[1].generation = 5;
  f->digest[1].incarnation = 6;
  snprintf(f->digest[1].dc, sizeof f->digest[1].dc, "dc2");
  snprintf(f->digest[1].rack, sizeof f->digest[1].rack, "r9");
  f->digest[1].version = 1ull << 33;
  uint8_t buf[VIGIL_FRAME_MAX];
  int n = vigil_frame_encode(f, NULL, buf, sizeof buf);
  /* The body after the required fields, byte for byte. */
  static const uint8_t tail[] = {0x09, 0x92, 0x94, 0xab, '1',  '2',  '7',  '.',  '0',  '.',  '0',  '.', '2',
                                 ':',  '2',  0x05, 0x06, 0xcd, 0x03, 0xd1, 0x96, 0xab, '1',  '2',  '7', '.',
                                 '0',  '.',  '0',  '.',  '2',  ':',  '3',  0x05, 0x06, 0xa3, 'd',  'c', '2',
                                 0xa2, 'r',  '9',  0xcf, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00};
  CHECK(n > (int)sizeof tail);
  if (n > (int)sizeof tail && memcmp(buf + n - sizeof tail, tail, sizeof tail) != 0)
    CHECK_FAIL_(
        "digest entries encode to other bytes than [127.0.0.2:2, 5, 6, 977], [127.0.0.2:3, 5, 6, dc2, r9, 2^33]");
  CHECK_INT(vigil_frame_decode(buf, (size_t)n, NULL, g), VIGIL_OK);
  CHECK_INT(g->digest[0].version, 977);
  CHECK_STR(g->digest[0].dc, "");
  CHECK(g->digest[1].version == 1ull << 33);
  CHECK_STR(g->digest[1].dc, "dc2");
  CHECK_STR(g->digest[1].rack, "r9");
  CHECK_INT(g->digest[1].incarnation, 6);
  free(f);
  free(g);
}

/* One alert entry in hex: subject 127.0.0.1:2, generation 1, incarnation 0,
 * observer 127.0.0.1:3. */
#define ALERT " 94 " P12 " 01 00 " P13

TEST(alerts_round_trip_with_subject_generation_incarnation_and_observer) {
  vigil_frame *f = new_frame(), *g = new_frame();
  f->type = VIGIL_FRAME_DIGEST;
  snprintf(f->from, sizeof f->from, "127.0.0.1:7000");
  f->generation = 1764151200;
  f->version = 42;
  f->nalerts = VIGIL_ALERTS_MAX;
  for (uint32_t i = 0; i < f->nalerts; i++) {
    vigil_alert_entry *a = &f->alerts[i];
    snprintf(a->subject, sizeof a->subject, "[::1]:%u", 7001 + i);
    a->generation = 1764151100u + i;
    a->incarnation = i == 0 ? 0 : 1ull << (i * 4);
    snprintf(a->observer, sizeof a->observer, "127.0.0.%u:7000", 100 + i);
  }
  uint8_t buf[VIGIL_FRAME_MAX];
  int n = vigil_frame_encode(f, NULL, buf, sizeof buf);
  CHECK(n > 0);
  CHECK_INT(vigil_frame_decode(buf, (size_t)n, NULL, g), VIGIL_OK);
  CHECK_INT(g->type, VIGIL_FRAME_DIGEST);
  CHECK_INT(g->nalerts, VIGIL_ALERTS_MAX);
  CHECK_INT(g->ndigest, 0);
  for (uint32_t i = 0; i < g->nalerts; i++) {
    CHECK_STR(g->alerts[i].subject, f->alerts[i].subject);
    CHECK_INT(g->alerts[i].generation, f->alerts[i].generation);
    CHECK(g->alerts[i].incarnation == f->alerts[i].incarnation);
    CHECK_STR(g->alerts[i].observer, f->alerts[i].observer);
  }
  /* And from hand-written bytes: [127.0.0.1:2, 1, 0, 127.0.0.1:3]. */
  CHECK_INT(decode_body_into("85 " REQ " 0c 91" ALERT, g), VIGIL_OK);
  CHECK_INT(g->nalerts, 1);
  CHECK_STR(g->alerts[0].subject, "127.0.0.1:2");
  CHECK_INT(g->alerts[0].generation, 1);
  CHECK_INT(g->alerts[0].incarnation, 0);
  CHECK_STR(g->alerts[0].observer, "127.0.0.1:3");
  /* A frame without alerts decodes none, even into a frame that had some. */
  CHECK_INT(decode_body_into("84 " REQ, g), VIGIL_OK);
  CHECK_INT(g->nalerts, 0);
  free(f);
  free(g);
}

TEST(more_than_sixteen_alerts_is_a_count_rejection) {
  char body[2048] = "85 " REQ " 0c dc 00 10";
  for (int i = 0; i < 16; i++) strcat(body, ALERT);
  CHECK_INT(decode_body(body), VIGIL_OK);
  strcpy(body, "85 " REQ " 0c dc 00 11");
  for (int i = 0; i < 17; i++) strcat(body, ALERT);
  CHECK_INT(decode_body(body), VIGIL_FRAME_ECOUNT);
}

TEST(a_short_alert_is_malformed_and_a_bad_pname_in_one_is_a_value) {
  CHECK_INT(decode_body("85 " REQ " 0c 91 93 " P12 " 01 00"), VIGIL_FRAME_EMALFORMED);            /* 3 elements */
  CHECK_INT(decode_body("85 " REQ " 0c 91 90"), VIGIL_FRAME_EMALFORMED);                          /* none */
  CHECK_INT(decode_body("85 " REQ " 0c 91 94 " P12 " a1 31 00 " P13), VIGIL_FRAME_EMALFORMED);    /* gen */
  CHECK_INT(decode_body("85 " REQ " 0c 81 01 02"), VIGIL_FRAME_EMALFORMED);                       /* not an array */
  CHECK_INT(decode_body("85 " REQ " 0c 91 94 " P10 " 01 00 " P13), VIGIL_FRAME_EVALUE);           /* subject port 0 */
  CHECK_INT(decode_body("85 " REQ " 0c 91 94 " P12 " 01 00 a1 61"), VIGIL_FRAME_EVALUE);          /* observer "a" */
  CHECK_INT(decode_body("85 " REQ " 0c 91 94 " P12 " 01 00 a4 3a 3a 3a 31"), VIGIL_FRAME_EVALUE); /* ":::1" */
}

/* dc and rack reach logs, JSON, metric labels and commands' environments:
 * only [A-Za-z0-9._-] is accepted from the wire, in the sender's fields and
 * in digest entries alike. */
TEST(names_outside_the_safe_alphabet_are_a_value) {
  static vigil_frame f, g;
  static const char *const bad[] = {"a b", "r\"k", "x=y", "$(id)", "a;b", "\xc3\xa9", "-x\\", "tab\there"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    for (int where = 0; where < 3; where++) {
      memset(&f, 0, sizeof f);
      f.type = VIGIL_FRAME_HEARTBEAT;
      snprintf(f.from, sizeof f.from, "127.0.0.1:7000");
      f.generation = 1;
      f.version = 1;
      if (where == 0) snprintf(f.dc, sizeof f.dc, "%s", bad[i]);
      if (where == 1) snprintf(f.rack, sizeof f.rack, "%s", bad[i]);
      if (where == 2) {
        f.ndigest = 1;
        snprintf(f.digest[0].pname, sizeof f.digest[0].pname, "127.0.0.2:7000");
        snprintf(f.digest[0].dc, sizeof f.digest[0].dc, "ok");
        snprintf(f.digest[0].rack, sizeof f.digest[0].rack, "%s", bad[i]);
      }
      uint8_t buf[VIGIL_FRAME_MAX];
      int n = vigil_frame_encode(&f, NULL, buf, sizeof buf);
      CHECK(n > 0);
      CHECK_INT(vigil_frame_decode(buf, (size_t)n, NULL, &g), VIGIL_FRAME_EVALUE);
    }
    CHECK(!vigil_name_valid(bad[i]));
  }
  memset(&f, 0, sizeof f);
  f.type = VIGIL_FRAME_HEARTBEAT;
  snprintf(f.from, sizeof f.from, "127.0.0.1:7000");
  snprintf(f.dc, sizeof f.dc, "eu-west_1.b");
  snprintf(f.rack, sizeof f.rack, "R-07");
  uint8_t buf[VIGIL_FRAME_MAX];
  int n = vigil_frame_encode(&f, NULL, buf, sizeof buf);
  CHECK_INT(vigil_frame_decode(buf, (size_t)n, NULL, &g), VIGIL_OK);
  CHECK_STR(g.dc, "eu-west_1.b");
  CHECK(vigil_name_valid("eu-west_1.b") && vigil_name_valid("R-07"));
  CHECK(!vigil_name_valid("") && !vigil_name_valid(NULL));
  char long_name[VIGIL_NAME_MAX + 1];
  memset(long_name, 'a', sizeof long_name - 1);
  long_name[VIGIL_NAME_MAX] = '\0';
  CHECK(!vigil_name_valid(long_name));
  long_name[VIGIL_NAME_MAX - 1] = '\0';
  CHECK(vigil_name_valid(long_name));
  /* A pname is ASCII: bytes past 0x7e (non-UTF-8, bidi controls) are a value. */
  static const char *const bad_pnames[] = {"127.0.0.1\xff:1",
                                           "\xe2\x80\xae"
                                           "1.0.0.127:1",
                                           "h\xc3\xa9:1"};
  for (size_t i = 0; i < sizeof bad_pnames / sizeof bad_pnames[0]; i++) {
    memset(&f, 0, sizeof f);
    f.type = VIGIL_FRAME_HEARTBEAT;
    snprintf(f.from, sizeof f.from, "%s", bad_pnames[i]);
    n = vigil_frame_encode(&f, NULL, buf, sizeof buf);
    CHECK(n > 0);
    CHECK_INT(vigil_frame_decode(buf, (size_t)n, NULL, &g), VIGIL_FRAME_EVALUE);
    size_t hl;
    uint16_t port;
    CHECK_INT(vigil_pname_parse(bad_pnames[i], &hl, &port), VIGIL_EINVAL);
  }
}

int main(int argc, char **argv) {
  CHECK_ARGS(argc, argv);
  RUN(protocol_vectors_decode_and_reencode_byte_for_byte);
  RUN(every_rejection_has_its_reason);
  RUN(unknown_fields_types_and_keys_are_skipped);
  RUN(a_full_frame_round_trips_and_stays_under_1400_bytes);
  RUN(keys_rotate_the_primary_seals_and_every_key_opens);
  RUN(every_key_of_the_ring_opens_and_the_hint_is_only_a_shortcut);
  RUN(sealing_costs_a_fixed_overhead_and_the_encoder_counts_it);
  RUN(a_node_with_a_keyring_seals_every_frame_within_1400_bytes);
  RUN(keyring_changes_install_use_remove_and_fingerprints);
  RUN(keyring_files_are_checked_line_by_line);
  RUN(keyring_files_are_written_whole_the_primary_first_mode_0600);
  RUN(random_and_mutated_datagrams_never_crash_the_decoder);
  RUN(the_decoder_accepts_exactly_the_pnames_the_pool_accepts);
  RUN(version_1_frames_are_rejected_as_version);
  RUN(the_sender_fields_incarnation_flags_members_and_view_round_trip);
  RUN(digest_entries_carry_the_heartbeat_version_in_their_fourth_or_sixth_element);
  RUN(alerts_round_trip_with_subject_generation_incarnation_and_observer);
  RUN(more_than_sixteen_alerts_is_a_count_rejection);
  RUN(a_short_alert_is_malformed_and_a_bad_pname_in_one_is_a_value);
  RUN(names_outside_the_safe_alphabet_are_a_value);
  return CHECK_DONE();
}
