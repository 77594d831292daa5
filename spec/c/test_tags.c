/*
 * test_tags.c - node tags: the text form and its checks (tags.c), the
 * frame field (key 16) with every rejection, what a node learns from a
 * peer's own frames and when it changes its mind, the pool's memory for
 * them, snapshots and events, and the simulator's agents.
 */
#include <stdlib.h>

#include "check.h"
#include "internal.h"
#include "sim_views.h"
#include "vectors.h"
#include "vigil_sim.h"

#ifndef VIGIL_SOURCE_DIR
#error "VIGIL_SOURCE_DIR must point at the repository (set by CMake)"
#endif
#define PROTOCOL_MD VIGIL_SOURCE_DIR "/docs/PROTOCOL.md"

#define MS(x) ((vigil_time)(x)*VIGIL_MS)

/* A tag set of exactly 255 bytes of text: 16 tags, the most a set holds. */
static const char *full_set(char out[VIGIL_TAGS_TEXT]) {
  /* "k00=vvvvvvvvvvv,k01=..." : 16 * (3 + 1 + 11) + 15 commas = 255 */
  size_t n = 0;
  for (int i = 0; i < 16; i++) n += (size_t)sprintf(out + n, "%sk%02d=%s", i ? "," : "", i, "vvvvvvvvvvv");
  return out;
}

/* ---- the text form -------------------------------------------------------------- */

TEST(a_tag_set_is_read_sorted_and_checked) {
  char out[VIGIL_TAGS_TEXT];
  const char *why = NULL;
  CHECK_INT(vigil_tags_parse("zone=eu-1a,role=db,shard=7", out, &why), VIGIL_OK);
  CHECK_STR(out, "role=db,shard=7,zone=eu-1a");
  CHECK_INT(vigil_tags_parse("", out, NULL), VIGIL_OK);
  CHECK_STR(out, "");
  CHECK_INT(vigil_tags_parse(NULL, out, NULL), VIGIL_OK);
  CHECK_INT(vigil_tags_parse("a=1,,b=2,", out, NULL), VIGIL_OK); /* empty items are nothing */
  CHECK_STR(out, "a=1,b=2");
  CHECK_INT(vigil_tags_parse("ab=1,a=2,abc=3", out, NULL), VIGIL_OK); /* a prefix sorts first */
  CHECK_STR(out, "a=2,ab=1,abc=3");
  CHECK_INT(vigil_tags_parse("empty=", out, NULL), VIGIL_OK); /* a value may be empty */
  CHECK_STR(out, "empty=");
  CHECK_INT(vigil_tags_parse("ep=10.0.0.1:5432,img=app@sha256:ab12,v=1.4.2+b7,x=A_b-c.d", out, NULL), VIGIL_OK);

  /* Each refusal says why, and leaves nothing behind. */
  static const struct {
    const char *text, *why;
  } bad[] = {
      {"role", "a tag is key=value"},
      {"Role=db", "a tag key is 1 to 32"},
      {"9lives=x", "a tag key is 1 to 32"},
      {"=x", "a tag key is 1 to 32"},
      {"ro-le=x", "a tag key is 1 to 32"},
      {"abcdefghijklmnopqrstuvwxyz0123456=x", "a tag key is 1 to 32"}, /* 33 bytes */
      {"p=../../etc", "a tag value is"},                               /* no '/' */
      {"p=-rf", "a tag value is"},                                     /* no leading '-' */
      {"p=a b", "a tag value is"},
      {"p=$(id)", "a tag value is"},
      {"p=a\"b", "a tag value is"},
      {"p=a=b", "a tag value is"},
      {"p=caf\xc3\xa9", "a tag value is"},
      {"p=0123456789012345678901234567890123456789012345678901234567890123", "a tag value is"}, /* 64 bytes */
      {"role=db,role=cache", "a tag key is given twice"},
      {"a=1,b=1,c=1,d=1,e=1,f=1,g=1,h=1,i=1,j=1,k=1,l=1,m=1,n=1,o=1,p=1,q=1", "at most 16 tags"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    strcpy(out, "junk");
    why = NULL;
    CHECK_INT(vigil_tags_parse(bad[i].text, out, &why), VIGIL_EINVAL);
    CHECK_STR(out, "");
    if (!why || strncmp(why, bad[i].why, strlen(bad[i].why)) != 0)
      CHECK_FAIL_("'%s': why is '%s', want '%s...'", bad[i].text, why ? why : "(null)", bad[i].why);
  }
  /* The budget: 255 bytes of text pass, 256 do not. */
  char set[VIGIL_TAGS_TEXT + 8];
  full_set(set);
  CHECK_INT((int)strlen(set), 255);
  CHECK_INT(vigil_tags_parse(set, out, NULL), VIGIL_OK);
  CHECK_STR(out, set);
  set[254] = '\0';
  strcat(set, "vv"); /* one byte more */
  CHECK_INT(vigil_tags_parse(set, out, &why), VIGIL_EINVAL);
  CHECK(why && strstr(why, "255 bytes"));

  /* Walking and looking up. */
  CHECK_INT(vigil_tags_count("role=db,shard=7"), 2);
  CHECK_INT(vigil_tags_count(""), 0);
  CHECK_INT(vigil_tags_count(NULL), 0);
  size_t pos = 0, len = 0;
  vigil_tag t;
  CHECK(vigil_tags_next("role=db,shard=", &pos, &t));
  CHECK(t.key_len == 4 && memcmp(t.key, "role", 4) == 0 && t.value_len == 2 && memcmp(t.value, "db", 2) == 0);
  CHECK(vigil_tags_next("role=db,shard=", &pos, &t));
  CHECK(t.key_len == 5 && t.value_len == 0);
  CHECK(!vigil_tags_next("role=db,shard=", &pos, &t));
  const char *v = vigil_tags_get("role=db,shard=7", "shard", &len);
  CHECK(v && len == 1 && *v == '7');
  CHECK(vigil_tags_get("role=db,shard=7", "rol", &len) == NULL);
  CHECK(vigil_tags_get("", "role", &len) == NULL);
}

/* ---- the frame field -------------------------------------------------------------- */

static vigil_frame *new_frame(void) { return calloc(1, sizeof(vigil_frame)); }

static void base_frame(vigil_frame *f, const char *tags) {
  memset(f, 0, sizeof *f);
  f->type = VIGIL_FRAME_HEARTBEAT;
  snprintf(f->from, sizeof f->from, "10.0.0.1:7000");
  f->generation = 1764151200;
  f->version = 42;
  snprintf(f->tags, sizeof f->tags, "%s", tags);
}

TEST(tags_round_trip_in_plaintext_and_sealed_frames) {
  vigil_frame *f = new_frame(), *g = new_frame();
  vigil_keyring kr = {0};
  CHECK_INT(vigil_keyring_add_base64(&kr, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="), VIGIL_OK);
  char set[VIGIL_TAGS_TEXT];
  const char *sets[] = {"role=db", "ep=10.0.0.1:5432,role=cache,shard=", full_set(set), ""};
  for (size_t i = 0; i < 4; i++) {
    for (int sealed = 0; sealed < 2; sealed++) {
      base_frame(f, sets[i]);
      uint8_t buf[VIGIL_FRAME_MAX];
      const vigil_keyring *k = sealed ? &kr : NULL;
      int len = vigil_frame_encode(f, k, buf, sizeof buf);
      CHECK(len > 0);
      strcpy(g->tags, "stale=1"); /* decoding must clear what a previous frame left */
      CHECK_INT(vigil_frame_decode(buf, (size_t)len, k, g), VIGIL_OK);
      CHECK_STR(g->tags, sets[i]);
    }
  }
  /* The largest set costs its text and a few headers on the wire. */
  base_frame(f, "");
  uint8_t buf[VIGIL_FRAME_MAX];
  int bare = vigil_frame_encode(f, NULL, buf, sizeof buf);
  base_frame(f, full_set(set));
  int full = vigil_frame_encode(f, NULL, buf, sizeof buf);
  CHECK(full - bare <= 255 + 3 + 2 * 16 + 2);
  free(f);
  free(g);
}

TEST(digest_entries_carry_their_members_tags) {
  vigil_frame *f = new_frame(), *g = new_frame();
  base_frame(f, "");
  f->ndigest = 2;
  memset(f->digest, 0, 2 * sizeof f->digest[0]);
  strcpy(f->digest[0].pname, "127.0.0.5:7946");
  f->digest[0].generation = 5;
  strcpy(f->digest[0].tags, "role=db,shard=3");
  strcpy(f->digest[1].pname, "127.0.0.6:7946"); /* no tags: the short form */
  f->digest[1].generation = 6;
  uint8_t buf[VIGIL_FRAME_MAX];
  int len = vigil_frame_encode(f, NULL, buf, sizeof buf);
  CHECK(len > 0);
  CHECK_INT(vigil_frame_decode(buf, (size_t)len, NULL, g), VIGIL_OK);
  CHECK_INT(g->ndigest, 2);
  CHECK_STR(g->digest[0].tags, "role=db,shard=3");
  CHECK_STR(g->digest[1].tags, "");
  /* An entry's tags are checked as a frame's: a bad one is refused. */
  strcpy(f->digest[0].tags, "Role=db");
  CHECK_INT(vigil_frame_encode(f, NULL, buf, sizeof buf), VIGIL_EINVAL);
  free(f);
  free(g);
}

TEST(the_encoder_refuses_tags_a_peer_would_reject) {
  vigil_frame *f = new_frame();
  uint8_t buf[VIGIL_FRAME_MAX];
  const char *bad[] = {"shard=7,role=db", "role=db,role=db", "Role=db", "p=a b", "role", ",role=db"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    base_frame(f, bad[i]);
    if (vigil_frame_encode(f, NULL, buf, sizeof buf) != VIGIL_EINVAL) CHECK_FAIL_("encoded tags '%s'", bad[i]);
  }
  base_frame(f, "");
  memset(f->tags, 'a', sizeof f->tags); /* no NUL */
  CHECK_INT(vigil_frame_encode(f, NULL, buf, sizeof buf), VIGIL_EINVAL);
  free(f);
}

/* The most an agent's own fields can take -- the longest pname, dc and
 * rack, every number at its widest, a token of 39 digits -- with the
 * widest tag set on the wire, sealed: a small cluster's 8 digest entries
 * still fit beside them in one datagram (placed like these agents: dc
 * "eu-west-1", rack "r12"), and 4 entries as wide as entries come
 * (membership drops 4 at a time until a frame fits). */
TEST(the_widest_tags_leave_room_for_a_heartbeat_s_digest) {
  vigil_frame *f = new_frame();
  memset(f, 0, sizeof *f);
  f->type = VIGIL_FRAME_HEARTBEAT;
  snprintf(f->from, sizeof f->from, "[1111:2222:3333:4444:5555:6666:7777:8888]:65535");
  f->generation = f->version = f->incarnation = f->view = f->sent = UINT64_MAX;
  f->members = UINT32_MAX;
  f->flags = VIGIL_FLAG_WANT;
  f->has_state = true;
  f->state = VIGIL_STATE_NORMAL;
  memset(f->dc, 'd', VIGIL_NAME_MAX - 1);
  memset(f->rack, 'r', VIGIL_NAME_MAX - 1);
  CHECK_INT(vigil_token_parse(&f->tokens[0], "340282366920938463463374607431768211455", 39), VIGIL_OK);
  f->ntokens = 1;
  /* 16 tags, 6 of them with 32-byte values (2-byte str headers): 249 bytes of text. */
  char text[VIGIL_TAGS_TEXT * 2];
  size_t n = 0;
  for (int i = 0; i < 16; i++)
    n += (size_t)sprintf(text + n, "%s%c=%s", i ? "," : "", 'a' + i, i < 6 ? "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv" : "v");
  CHECK_INT(vigil_tags_parse(text, f->tags, NULL), VIGIL_OK);
  vigil_keyring kr = {0};
  CHECK_INT(vigil_keyring_add_base64(&kr, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="), VIGIL_OK);
  vigil_frame *g = new_frame();
  for (int widest = 0; widest < 2; widest++) {
    uint32_t entries = widest ? 4 : 8;
    for (uint32_t i = 0; i < entries; i++) {
      vigil_digest_entry *d = &f->digest[i];
      memset(d, 0, sizeof *d);
      snprintf(d->pname, sizeof d->pname, "10.0.%u.%u:7946", 200 + i, 100 + i);
      d->generation = 1764151200000 + i;
      d->incarnation = i;
      d->version = 12000 + i;
      snprintf(d->dc, sizeof d->dc, "eu-west-1");
      snprintf(d->rack, sizeof d->rack, "r12");
      if (widest) {
        snprintf(d->pname, sizeof d->pname, "255.255.255.%u:65535", 240 + i);
        d->generation = d->incarnation = d->version = UINT64_MAX;
        memset(d->dc, 'd', VIGIL_NAME_MAX - 1);
        memset(d->rack, 'r', VIGIL_NAME_MAX - 1);
      }
    }
    f->ndigest = entries;
    uint8_t buf[VIGIL_FRAME_MAX];
    int len = vigil_frame_encode(f, &kr, buf, sizeof buf);
    CHECK(len > 0 && len <= VIGIL_FRAME_MAX);
    if (len <= 0) continue;
    CHECK_INT(vigil_frame_decode(buf, (size_t)len, &kr, g), VIGIL_OK);
    CHECK_STR(g->tags, f->tags);
    CHECK_INT(g->ndigest, entries);
  }
  free(f);
  free(g);
}

/* A hand-made datagram: [2, bin {1: 1, 2: "10.0.0.1:7000", 3: 7, 4: 9, 16: <tags>}]
 * (and the tags field once more with `twice`). */
typedef struct bytes {
  uint8_t b[4096];
  size_t n;
} bytes;

static void put(bytes *o, const void *p, size_t n) {
  memcpy(o->b + o->n, p, n);
  o->n += n;
}
static void put1(bytes *o, uint8_t x) { o->b[o->n++] = x; }
static void put_str(bytes *o, const char *s) {
  size_t n = strlen(s);
  if (n < 32) {
    put1(o, (uint8_t)(0xa0 | n));
  } else {
    put1(o, 0xd9);
    put1(o, (uint8_t)n);
  }
  put(o, s, n);
}
static void put_map(bytes *o, uint32_t n) {
  if (n < 16) {
    put1(o, (uint8_t)(0x80 | n));
  } else {
    put1(o, 0xde);
    put1(o, (uint8_t)(n >> 8));
    put1(o, (uint8_t)n);
  }
}

static size_t forge(uint8_t *out, const bytes *tags, bool twice) {
  bytes body = {.n = 0};
  put_map(&body, twice ? 6 : 5);
  put1(&body, 1), put1(&body, 1);
  put1(&body, 2), put_str(&body, "10.0.0.1:7000");
  put1(&body, 3), put1(&body, 7);
  put1(&body, 4), put1(&body, 9);
  put1(&body, 16), put(&body, tags->b, tags->n);
  if (twice) put1(&body, 16), put(&body, tags->b, tags->n);
  size_t n = 0;
  out[n++] = 0x92, out[n++] = 0x02, out[n++] = 0xc5;
  out[n++] = (uint8_t)(body.n >> 8), out[n++] = (uint8_t)body.n;
  memcpy(out + n, body.b, body.n);
  return n + body.n;
}

/* The tags field built from pairs {k, v, k, v, ..., NULL}. */
static bytes tags_of(const char *const *kv) {
  bytes t = {.n = 0};
  uint32_t n = 0;
  while (kv[2 * n]) n++;
  put_map(&t, n);
  for (uint32_t i = 0; i < n; i++) put_str(&t, kv[2 * i]), put_str(&t, kv[2 * i + 1]);
  return t;
}

static int decode_tags(const bytes *t, bool twice, vigil_frame *f) {
  uint8_t d[8192];
  size_t n = forge(d, t, twice);
  return n > VIGIL_FRAME_MAX ? VIGIL_FRAME_ETOOBIG : vigil_frame_decode(d, n, NULL, f);
}

TEST(every_bad_tags_field_is_rejected_with_its_reason) {
  vigil_frame *f = new_frame();
  /* Accepted first: any order on the wire, stored sorted; an empty map. */
  bytes ok = tags_of((const char *[]){"zone", "b", "role", "db", NULL});
  CHECK_INT(decode_tags(&ok, false, f), VIGIL_OK);
  CHECK_STR(f->tags, "role=db,zone=b");
  bytes empty = tags_of((const char *[]){NULL});
  CHECK_INT(decode_tags(&empty, false, f), VIGIL_OK);
  CHECK_STR(f->tags, "");

  static const struct {
    const char *kv[8];
    int rc;
  } bad[] = {
      {{"Role", "db", NULL}, VIGIL_FRAME_EVALUE},
      {{"9x", "db", NULL}, VIGIL_FRAME_EVALUE},
      {{"", "db", NULL}, VIGIL_FRAME_EVALUE},
      {{"role", "a/b", NULL}, VIGIL_FRAME_EVALUE},
      {{"role", "-rf", NULL}, VIGIL_FRAME_EVALUE},
      {{"role", "$(reboot)", NULL}, VIGIL_FRAME_EVALUE},
      {{"role", "a\nb", NULL}, VIGIL_FRAME_EVALUE},
      {{"role", "a,b", NULL}, VIGIL_FRAME_EVALUE},
      {{"role", "db", "role", "db", NULL}, VIGIL_FRAME_EVALUE}, /* a key twice */
      {{"abcdefghijklmnopqrstuvwxyz0123456", "x", NULL}, VIGIL_FRAME_ELENGTH},
      {{"role", "0123456789012345678901234567890123456789012345678901234567890123", NULL}, VIGIL_FRAME_ELENGTH},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    bytes t = tags_of(bad[i].kv);
    int rc = decode_tags(&t, false, f);
    if (rc != bad[i].rc)
      CHECK_FAIL_("tags {%s = %s ...}: %s, want %s", bad[i].kv[0], bad[i].kv[1], vigil_frame_reason(rc),
                  vigil_frame_reason(bad[i].rc));
  }
  /* 17 tags: count; 16 tags over 255 bytes of text: length. */
  bytes t = {.n = 0};
  put_map(&t, 17);
  for (int i = 0; i < 17; i++) {
    char k[8];
    snprintf(k, sizeof k, "k%d", i);
    put_str(&t, k), put_str(&t, "v");
  }
  CHECK_INT(decode_tags(&t, false, f), VIGIL_FRAME_ECOUNT);
  t.n = 0;
  put_map(&t, 16);
  for (int i = 0; i < 16; i++) {
    char k[8];
    snprintf(k, sizeof k, "k%02d", i);
    put_str(&t, k), put_str(&t, "vvvvvvvvvvvv"); /* 16 bytes of text each: 271 */
  }
  CHECK_INT(decode_tags(&t, false, f), VIGIL_FRAME_ELENGTH);
  /* Not a map, a key or a value that is not a string: malformed. */
  t.n = 0;
  put1(&t, 0x91), put_str(&t, "role=db");
  CHECK_INT(decode_tags(&t, false, f), VIGIL_FRAME_EMALFORMED);
  t.n = 0;
  put_map(&t, 1), put1(&t, 0x01), put_str(&t, "db");
  CHECK_INT(decode_tags(&t, false, f), VIGIL_FRAME_EMALFORMED);
  t.n = 0;
  put_map(&t, 1), put_str(&t, "role"), put1(&t, 0xc4), put1(&t, 2), put(&t, "db", 2); /* bin */
  CHECK_INT(decode_tags(&t, false, f), VIGIL_FRAME_EMALFORMED);
  /* A count that promises more than the datagram holds: truncated. */
  t.n = 0;
  put1(&t, 0xdf), put(&t, "\xff\xff\xff\xff", 4);
  CHECK_INT(decode_tags(&t, false, f), VIGIL_FRAME_ETRUNCATED);
  /* The field twice: duplicate. */
  CHECK_INT(decode_tags(&ok, true, f), VIGIL_FRAME_EDUPLICATE);
  free(f);
}

TEST(the_protocol_vector_with_tags_decodes_and_reencodes) {
  static vector v[32];
  int n = load_vectors(PROTOCOL_MD, v, 32);
  const vector *ht = NULL;
  for (int i = 0; i < n; i++)
    if (strcmp(v[i].name, "heartbeat_tags") == 0) ht = &v[i];
  CHECK(ht != NULL);
  if (!ht) return;
  vigil_frame *f = new_frame();
  CHECK_INT(vigil_frame_decode(ht->bytes, ht->len, NULL, f), VIGIL_OK);
  CHECK_STR(f->from, "10.0.0.1:7000");
  CHECK_STR(f->dc, "dc1");
  CHECK_STR(f->tags, "role=cache,zone=eu-west-1a");
  uint8_t out[VIGIL_FRAME_MAX];
  CHECK_INT(vigil_frame_encode(f, NULL, out, sizeof out), (int)ht->len);
  CHECK(memcmp(out, ht->bytes, ht->len) == 0);
  free(f);
}

/* ---- a node learns a peer's tags from the peer's own frames ----------------------- */

static int drop(void *ud, const char *pname, const uint8_t *buf, size_t len) {
  (void)ud, (void)pname, (void)buf, (void)len;
  return 0;
}

/* A node (127.0.0.1:7000) and a frame from 127.0.0.2:7000 with tags, handed to it. */
static int hear(vigil_node *n, uint32_t type, uint64_t generation, uint64_t version, const char *tags, vigil_time now) {
  vigil_frame *f = new_frame();
  base_frame(f, tags);
  f->type = type;
  snprintf(f->from, sizeof f->from, "127.0.0.2:7000");
  f->generation = generation;
  f->version = version;
  uint8_t buf[VIGIL_FRAME_MAX];
  int len = vigil_frame_encode(f, NULL, buf, sizeof buf);
  free(f);
  return len < 0 ? len : vigil_node_receive(n, buf, (size_t)len, "127.0.0.2:7000", now);
}

static const char *tags_of_peer(vigil_node *n, const char *pname) {
  vigil_peer *p = vigil_pool_find(vigil_node_pool(n), pname);
  return !p ? "(unknown)" : p->tags ? p->tags : "";
}

TEST(a_peer_s_tags_are_those_of_its_newest_frame) {
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  cfg.self = "127.0.0.1:7000";
  cfg.max_skew = 0; /* frames made here carry no send time */
  vigil_node *n = vigil_node_new(&cfg, drop, NULL, 0, NULL);
  CHECK(n != NULL);
  if (!n) return;
  vigil_subscription sub;
  vigil_events_subscribe(vigil_node_events(n), &sub);
  const char *x = "127.0.0.2:7000";

  /* Its first heartbeat: it joins with them, and peer_joined and peer_up say so. */
  CHECK_INT(hear(n, VIGIL_FRAME_HEARTBEAT, 100, 5, "role=db", MS(10)), VIGIL_OK);
  CHECK_STR(tags_of_peer(n, x), "role=db");
  vigil_event e;
  int joined = 0, up = 0;
  while (vigil_subscription_poll(&sub, &e)) {
    if (e.type == VIGIL_EVENT_PEER_JOINED) {
      joined++;
      CHECK_STR(e.tags, "role=db");
    }
    if (e.type == VIGIL_EVENT_PEER_UP) {
      up++;
      CHECK_STR(e.tags, "role=db");
    }
  }
  CHECK_INT(joined, 1);
  CHECK_INT(up, 1);

  /* A newer heartbeat of the same process with another set: replaced. */
  CHECK_INT(hear(n, VIGIL_FRAME_HEARTBEAT, 100, 6, "role=db,shard=2", MS(20)), VIGIL_OK);
  CHECK_STR(tags_of_peer(n, x), "role=db,shard=2");
  /* Nothing newer -- a replay, a digest frame repeating the version, an
   * older process still talking -- changes nothing. */
  CHECK_INT(hear(n, VIGIL_FRAME_HEARTBEAT, 100, 6, "role=evil", MS(30)), VIGIL_OK);
  CHECK_INT(hear(n, VIGIL_FRAME_DIGEST, 100, 6, "role=evil", MS(31)), VIGIL_OK);
  CHECK_INT(hear(n, VIGIL_FRAME_HEARTBEAT, 100, 5, "role=evil", MS(32)), VIGIL_OK);
  CHECK_INT(hear(n, VIGIL_FRAME_HEARTBEAT, 99, 50, "role=evil", MS(33)), VIGIL_OK);
  CHECK_STR(tags_of_peer(n, x), "role=db,shard=2");
  /* A heartbeat without the field: it has no tags now. */
  CHECK_INT(hear(n, VIGIL_FRAME_HEARTBEAT, 100, 7, "", MS(40)), VIGIL_OK);
  CHECK_STR(tags_of_peer(n, x), "");
  CHECK(vigil_pool_find(vigil_node_pool(n), x)->tags == NULL); /* no memory held for none */

  /* A restart with a new set: peer_restarted already carries it. */
  CHECK_INT(hear(n, VIGIL_FRAME_HEARTBEAT, 100, 8, "role=db", MS(50)), VIGIL_OK);
  while (vigil_subscription_poll(&sub, &e)) {
  }
  CHECK_INT(hear(n, VIGIL_FRAME_HEARTBEAT, 200, 1, "role=cache", MS(60)), VIGIL_OK);
  CHECK_STR(tags_of_peer(n, x), "role=cache");
  int restarted = 0;
  while (vigil_subscription_poll(&sub, &e))
    if (e.type == VIGIL_EVENT_PEER_RESTARTED) {
      restarted++;
      CHECK_STR(e.tags, "role=cache");
    }
  CHECK_INT(restarted, 1);

  /* Its shutdown: peer_down and peer_left carry the set it had. */
  CHECK_INT(hear(n, VIGIL_FRAME_SHUTDOWN, 200, 2, "role=cache", MS(70)), VIGIL_OK);
  int left = 0;
  while (vigil_subscription_poll(&sub, &e)) {
    if (e.type == VIGIL_EVENT_PEER_LEFT) left++;
    if (e.type == VIGIL_EVENT_PEER_LEFT || e.type == VIGIL_EVENT_PEER_DOWN) CHECK_STR(e.tags, "role=cache");
  }
  CHECK_INT(left, 1);

  /* A frame with bad tags is rejected whole and counted: nothing changes. */
  uint8_t d[8192];
  bytes t = tags_of((const char *[]){"role", "a;b", NULL});
  size_t len = forge(d, &t, false);
  CHECK_INT(vigil_node_receive(n, d, len, NULL, MS(80)), VIGIL_FRAME_EVALUE);
  CHECK(vigil_pool_find(vigil_node_pool(n), "10.0.0.1:7000") == NULL);
  size_t mlen;
  char *metrics = vigil_node_render_metrics(n, MS(80), &mlen);
  CHECK(metrics && strstr(metrics, "vigil_frames_rejected_total{reason=\"value\"} 1"));
  free(metrics);
  vigil_node_free(n);
}

TEST(a_node_refuses_bad_tags_of_its_own_with_a_reason) {
  vigil_node_config cfg;
  vigil_node_config_init(&cfg);
  cfg.self = "127.0.0.1:7000";
  cfg.tags = "role=db,Zone=x";
  const char *why = NULL;
  CHECK(vigil_node_new(&cfg, drop, NULL, 0, &why) == NULL);
  CHECK(why && strstr(why, "a tag key is 1 to 32"));
  cfg.tags = "zone=b,role=db";
  vigil_node *n = vigil_node_new(&cfg, drop, NULL, 0, &why);
  CHECK(n != NULL);
  if (!n) return;
  vigil_pool *pool = vigil_node_pool(n);
  CHECK_STR(vigil_pool_get(pool, (uint32_t)vigil_pool_local(pool))->tags, "role=db,zone=b"); /* canonical */
  vigil_node_free(n);
}

/* ---- the pool: memory, snapshots ------------------------------------------------ */

TEST(the_pool_holds_tags_only_for_peers_that_have_them_and_frees_them) {
  vigil_pool *pool = vigil_pool_new(NULL, NULL);
  char set[VIGIL_TAGS_TEXT];
  vigil_peer_spec a = {.pname = "127.0.0.1:1", .tags = "role=db"};
  vigil_peer_spec b = {.pname = "127.0.0.1:2"};
  vigil_peer_spec c = {.pname = "127.0.0.1:3", .tags = full_set(set)};
  vigil_peer_spec bad = {.pname = "127.0.0.1:4", .tags = "role=db,role=db"};
  uint32_t ia, ib, ic;
  CHECK_INT(vigil_pool_add(pool, &a, 0, &ia), VIGIL_OK);
  CHECK_INT(vigil_pool_add(pool, &b, 0, &ib), VIGIL_OK);
  CHECK_INT(vigil_pool_add(pool, &c, 0, &ic), VIGIL_OK);
  CHECK_INT(vigil_pool_add(pool, &bad, 0, NULL), VIGIL_EINVAL);
  CHECK(vigil_pool_get(pool, ib)->tags == NULL);
  CHECK_STR(vigil_pool_get(pool, ic)->tags, set);
  CHECK_INT(vigil__pool_tag_bytes(pool), 8 + 256);
  /* At most a set's text a peer, whatever it is handed. */
  char junk[VIGIL_TAGS_TEXT + 1];
  memset(junk, 'a', sizeof junk - 1);
  junk[sizeof junk - 1] = '\0';
  CHECK_INT(vigil__pool_set_tags(pool, ia, junk), VIGIL_EINVAL);
  CHECK_INT(vigil__pool_set_tags(pool, ia, "role=db"), 0);
  CHECK_INT(vigil__pool_set_tags(pool, ia, "role=cache"), 1);
  CHECK_INT(vigil__pool_set_tags(pool, ib, "zone=a"), 1);
  CHECK_INT(vigil__pool_set_tags(pool, ic, NULL), 1);
  CHECK(vigil_pool_get(pool, ic)->tags == NULL);
  CHECK_INT(vigil__pool_tag_bytes(pool), 11 + 7);
  CHECK_INT(vigil_pool_remove(pool, "127.0.0.1:1"), VIGIL_OK);
  CHECK_INT(vigil__pool_tag_bytes(pool), 7);
  vigil_pool_free(pool); /* and ASan says nothing leaked */
}

TEST(a_snapshot_carries_every_peer_s_tags_in_its_one_allocation) {
  vigil_sim_config cfg;
  vigil_sim_config_init(&cfg);
  vigil_sim_agent names[3] = {{.pname = "127.0.0.1:7000", .tags = "role=lb"},
                              {.pname = "127.0.0.2:7000"},
                              {.pname = "127.0.0.3:7000", .tags = "shard=3,role=db"}};
  cfg.agents = 3;
  cfg.names = names;
  vigil_sim *s = vigil_sim_new(&cfg, NULL);
  CHECK(s != NULL);
  if (!s) return;
  vigil_sim_run(s, MS(2000), false);
  CHECK(all_normal(s));
  vigil_snapshot *snap = vigil_node_snapshot(vigil_sim_node(s, 1), MS(2000));
  CHECK(snap != NULL);
  int found = 0;
  for (uint32_t i = 0; snap && i < snap->npeers; i++) {
    const vigil_snapshot_peer *p = &snap->peers[i];
    CHECK((const char *)p->tags >= (const char *)snap || *p->tags == '\0');
    if (strcmp(p->pname, "127.0.0.1:7000") == 0) {
      found++;
      CHECK_STR(p->tags, "role=lb");
    }
    if (strcmp(p->pname, "127.0.0.2:7000") == 0) {
      found++;
      CHECK_STR(p->tags, "");
    }
    if (strcmp(p->pname, "127.0.0.3:7000") == 0) {
      found++;
      CHECK_STR(p->tags, "role=db,shard=3");
    }
  }
  CHECK_INT(found, 3);
  free(snap);
  vigil_sim_free(s);
}

/* ---- the simulator: agents with tags, in small and large clusters ---------------- */

TEST(simulated_agents_carry_tags_and_a_restart_may_change_them) {
  vigil_sim_config cfg;
  vigil_sim_config_init(&cfg);
  cfg.agents = 4;
  cfg.collect = true;
  vigil_sim *s = vigil_sim_new(&cfg, NULL);
  CHECK(s != NULL);
  if (!s) return;
  CHECK_INT(vigil_sim_set_tags(s, 3, "role=db"), VIGIL_OK);
  CHECK_INT(vigil_sim_set_tags(s, 3, "role=db,role=x"), VIGIL_EINVAL);
  CHECK_INT(vigil_sim_set_tags(s, 9, "role=db"), VIGIL_ENOENT);
  vigil_sim_run(s, MS(2000), false);
  CHECK(all_normal(s));
  for (uint32_t i = 0; i < 3; i++) CHECK_STR(tags_of_peer(vigil_sim_node(s, i), vigil_sim_pname(s, 3)), "role=db");
  /* Set now, in force at its next start. */
  CHECK_INT(vigil_sim_set_tags(s, 3, "role=cache"), VIGIL_OK);
  vigil_sim_run(s, MS(2500), false);
  CHECK_STR(tags_of_peer(vigil_sim_node(s, 0), vigil_sim_pname(s, 3)), "role=db");
  uint32_t who;
  vigil_event e;
  while (vigil_sim_next_event(s, &who, &e)) {
  }
  CHECK_INT(vigil_sim_restart(s, 3), VIGIL_OK);
  vigil_sim_run(s, MS(4000), false);
  int restarted = 0;
  while (vigil_sim_next_event(s, &who, &e))
    if (e.type == VIGIL_EVENT_PEER_RESTARTED && strcmp(e.peer, vigil_sim_pname(s, 3)) == 0) {
      restarted++;
      CHECK_STR(e.tags, "role=cache");
    }
  CHECK_INT(restarted, 3);
  for (uint32_t i = 0; i < 3; i++) CHECK_STR(tags_of_peer(vigil_sim_node(s, i), vigil_sim_pname(s, 3)), "role=cache");
  /* A join with tags. */
  vigil_sim_agent late = {.pname = "127.0.0.9:7946", .tags = "role=late"};
  int64_t k = vigil_sim_add(s, &late);
  CHECK(k >= 0);
  vigil_sim_agent worse = {.pname = "127.0.0.10:7946", .tags = "role"};
  CHECK_INT(vigil_sim_add(s, &worse), VIGIL_EINVAL);
  vigil_sim_run(s, MS(6000), false);
  CHECK_STR(tags_of_peer(vigil_sim_node(s, 0), "127.0.0.9:7946"), "role=late");
  vigil_sim_free(s);
}

/* A peer's tags come from its own frames where it is heard (its observers
 * and subjects) and from membership news everywhere else: in a large
 * cluster every agent knows every peer's tags. */
TEST(in_a_large_cluster_every_agent_learns_every_peers_tags) {
  vigil_sim_config cfg;
  vigil_sim_config_init(&cfg);
  cfg.agents = 12;
  cfg.observers = 2;
  cfg.quorum = 2;
  vigil_sim *s = vigil_sim_new(&cfg, NULL);
  CHECK(s != NULL);
  if (!s) return;
  for (uint32_t i = 0; i < 12; i++) {
    char t[32];
    snprintf(t, sizeof t, "shard=%u", i);
    vigil_sim_set_tags(s, i, t);
  }
  vigil_sim_run(s, MS(8000), false);
  CHECK(all_normal(s));
  CHECK(!vigil_members_small(vigil_node_members(vigil_sim_node(s, 0))));
  int known = 0, unknown = 0;
  for (uint32_t i = 0; i < 12; i++) {
    vigil_node *n = vigil_sim_node(s, i);
    for (uint32_t j = 0; j < 12; j++) {
      if (i == j) continue;
      const char *tags = tags_of_peer(n, vigil_sim_pname(s, j));
      char want[32];
      snprintf(want, sizeof want, "shard=%u", j);
      if (strcmp(tags, want) == 0)
        known++;
      else if (strcmp(tags, "") == 0)
        unknown++;
      else
        CHECK_FAIL_("agent %u holds tags '%s' for agent %u", i, tags, j);
    }
    /* Its observers hear it directly: they know. */
    uint32_t obs[16];
    uint32_t no = vigil_members_observers_of(vigil_node_members(n), vigil_sim_pname(s, i), obs, 16);
    CHECK(no > 0);
    char mine[32];
    snprintf(mine, sizeof mine, "shard=%u", i);
    for (uint32_t k = 0; k < no; k++) {
      int64_t o = vigil_sim_find(s, vigil_pool_get(vigil_node_pool(n), obs[k])->pname);
      CHECK(o >= 0);
      if (o >= 0) CHECK_STR(tags_of_peer(vigil_sim_node(s, (uint32_t)o), vigil_sim_pname(s, i)), mine);
    }
  }
  /* The observers from the peer itself, everyone else from membership news
   * (digest entries carry tags): nobody is left without. */
  CHECK_INT(known, 12 * 11);
  CHECK_INT(unknown, 0);
  vigil_sim_free(s);
}

int main(int argc, char **argv) {
  CHECK_ARGS(argc, argv);
  RUN(a_tag_set_is_read_sorted_and_checked);
  RUN(tags_round_trip_in_plaintext_and_sealed_frames);
  RUN(digest_entries_carry_their_members_tags);
  RUN(the_encoder_refuses_tags_a_peer_would_reject);
  RUN(the_widest_tags_leave_room_for_a_heartbeat_s_digest);
  RUN(every_bad_tags_field_is_rejected_with_its_reason);
  RUN(the_protocol_vector_with_tags_decodes_and_reencodes);
  RUN(a_peer_s_tags_are_those_of_its_newest_frame);
  RUN(a_node_refuses_bad_tags_of_its_own_with_a_reason);
  RUN(the_pool_holds_tags_only_for_peers_that_have_them_and_frees_them);
  RUN(a_snapshot_carries_every_peer_s_tags_in_its_one_allocation);
  RUN(simulated_agents_carry_tags_and_a_restart_may_change_them);
  RUN(in_a_large_cluster_every_agent_learns_every_peers_tags);
  return CHECK_DONE();
}
