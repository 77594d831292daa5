/*
 * test_pool.c - pnames, the ServerPool (add, find, remove, slot reuse,
 * fresh detectors), tokens and the token ring.
 */
#include <stdlib.h>

#include "check.h"
#include "vigil.h"

static vigil_pool *new_pool(const char *dc) {
  vigil_pool_config cfg;
  vigil_pool_config_init(&cfg);
  cfg.dc = dc;
  cfg.capacity = 2; /* small, so the tests exercise growth */
  return vigil_pool_new(&cfg, NULL);
}

static int add(vigil_pool *pool, const char *pname, bool local, uint32_t *idx) {
  vigil_peer_spec s = {pname, NULL, NULL, NULL, 0, local, false, NULL};
  return vigil_pool_add(pool, &s, 0, idx);
}

TEST(pnames_parse_into_host_and_port) {
  size_t hl;
  uint16_t port;
  CHECK_INT(vigil_pname_parse("10.0.0.1:8101", &hl, &port), VIGIL_OK);
  CHECK_INT(hl, 8);
  CHECK_INT(port, 8101);
  CHECK_INT(vigil_pname_parse("[::1]:7000", &hl, &port), VIGIL_OK);
  CHECK_INT(hl, 5);
  CHECK_INT(port, 7000);
  CHECK_INT(vigil_pname_parse("127.255.0.10:65535", &hl, &port), VIGIL_OK);
  /* An IP literal in the one form a datagram's source prints as: host
   * names (nothing on the wire is resolved), leading zeros, short or long
   * quads and IPv6 written any other way than RFC 5952 are not pnames. */
  static const char *const bad[] = {"",
                                    "host",
                                    ":80",
                                    "host:",
                                    "host:0",
                                    "host:65536",
                                    "host:8x",
                                    "::1:7000",
                                    "[::1:7000",
                                    "a b:80",
                                    "host:123456",
                                    "h\"q:80",
                                    "localhost:80",
                                    "cache-1.example.com:1",
                                    "127.0.0.1:0",
                                    "127.0.0.1:080",
                                    "010.0.0.1:80",
                                    "1.2.3:80",
                                    "1.2.3.4.5:80",
                                    "256.0.0.1:80",
                                    "1.2.3.4 :80",
                                    "[::0001]:80",
                                    "[0:0:0:0:0:0:0:1]:80",
                                    "[::1%lo]:80",
                                    "[127.0.0.1]:80",
                                    "1.2.3.-4:80",
                                    "127.0.0.1:-1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_INT(vigil_pname_parse(bad[i], &hl, &port), VIGIL_EINVAL);
  char longname[200];
  memset(longname, 'a', sizeof longname);
  memcpy(longname + 190, ":80", 4);
  CHECK_INT(vigil_pname_parse(longname, &hl, &port), VIGIL_ENAMETOOLONG);
}

TEST(states_and_events_have_their_names) {
  CHECK_STR(vigil_state_name(VIGIL_STATE_UNKNOWN), "unknown");
  CHECK_STR(vigil_state_name(VIGIL_STATE_NORMAL), "normal");
  CHECK_STR(vigil_state_name(VIGIL_STATE_LEAVING), "leaving");
  CHECK_STR(vigil_state_name((vigil_peer_state)9), "invalid");
  CHECK_INT(VIGIL_STATE_JOINING, 1);
  CHECK_INT(VIGIL_STATE_STANDBY, 3);
  CHECK_INT(VIGIL_STATE_DOWN, 4);
  CHECK_INT(VIGIL_STATE_RESET, 5);
  CHECK_INT(vigil_state_parse("down"), 4);
  CHECK_INT(vigil_state_parse("sideways"), -1);
  CHECK_STR(vigil_event_name(VIGIL_EVENT_PEER_RESTARTED), "peer_restarted");
  CHECK_STR(vigil_event_name(VIGIL_EVENT_LAGGED), "lagged");
  CHECK_STR(vigil_strerror(VIGIL_ENOENT), "no such peer");
}

TEST(local_peer_starts_joining_and_remote_peers_start_down) {
  vigil_pool *pool = new_pool("dc1");
  uint32_t a, b;
  CHECK_INT(add(pool, "127.0.0.1:7001", true, &a), VIGIL_OK);
  CHECK_INT(add(pool, "127.0.0.1:7002", false, &b), VIGIL_OK);
  CHECK_INT(vigil_pool_get(pool, a)->state, VIGIL_STATE_JOINING);
  CHECK_INT(vigil_pool_get(pool, b)->state, VIGIL_STATE_DOWN);
  CHECK_INT(vigil_pool_local(pool), a);
  CHECK_INT(add(pool, "127.0.0.1:7003", true, NULL), VIGIL_EINVAL); /* a second local */
  vigil_pool_free(pool);
}

TEST(peers_carry_endpoint_placement_and_tokens) {
  vigil_pool *pool = new_pool("dc1");
  vigil_token toks[2];
  vigil_token_from_u32(&toks[0], 100);
  vigil_token_parse(&toks[1], "340282366920938463463374607431768211455", 39);
  vigil_peer_spec s = {"127.1.2.3:8101", "dc2", "r7", toks, 2, false, true, NULL};
  uint32_t idx;
  CHECK_INT(vigil_pool_add(pool, &s, 42, &idx), VIGIL_OK);
  vigil_peer *p = vigil_pool_get(pool, idx);
  CHECK_STR(p->pname, "127.1.2.3:8101");
  CHECK_INT(p->host_len, 9);
  CHECK_INT(p->port, 8101);
  CHECK_STR(p->dc, "dc2");
  CHECK_STR(p->rack, "r7");
  CHECK_INT(p->is_same_dc, 0);
  CHECK_INT(p->is_secure, 1);
  CHECK_INT(p->is_local, 0);
  CHECK_INT(p->ntokens, 2);
  CHECK_INT(vigil_token_cmp(&p->tokens[1], &toks[1]), 0);
  CHECK_INT(p->since, 42);
  CHECK_INT(p->idx, idx);
  /* Defaults: the pool's dc and rack "default". */
  uint32_t j;
  add(pool, "127.1.2.4:8101", false, &j);
  CHECK_STR(vigil_pool_get(pool, j)->dc, "dc1");
  CHECK_STR(vigil_pool_get(pool, j)->rack, "default");
  CHECK_INT(vigil_pool_get(pool, j)->is_same_dc, 1);
  vigil_pool_free(pool);
}

TEST(add_rejects_duplicates_and_bad_specs) {
  vigil_pool *pool = new_pool(NULL);
  CHECK_STR(vigil_pool_dc(pool), "default");
  CHECK_INT(add(pool, "127.0.0.1:1", false, NULL), VIGIL_OK);
  CHECK_INT(add(pool, "127.0.0.1:1", false, NULL), VIGIL_EEXIST);
  CHECK_INT(add(pool, "nope", false, NULL), VIGIL_EINVAL);
  char dc[100];
  memset(dc, 'x', 99);
  dc[99] = 0;
  vigil_peer_spec s = {"127.0.0.1:2", dc, NULL, NULL, 0, false, false, NULL};
  CHECK_INT(vigil_pool_add(pool, &s, 0, NULL), VIGIL_ENAMETOOLONG);
  vigil_peer_spec t = {"127.0.0.1:3", NULL, NULL, NULL, VIGIL_TOKENS_MAX + 1, false, false, NULL};
  CHECK_INT(vigil_pool_add(pool, &t, 0, NULL), VIGIL_EINVAL);
  CHECK_INT(vigil_pool_count(pool), 1);
  CHECK(vigil_pool_find(pool, "127.0.0.1:2") == NULL);
  vigil_pool_free(pool);
}

TEST(bad_pool_config_is_rejected_with_a_reason) {
  vigil_pool_config cfg;
  vigil_pool_config_init(&cfg);
  cfg.detector.threshold = 0;
  const char *why = NULL;
  CHECK(vigil_pool_new(&cfg, &why) == NULL);
  CHECK(why && strstr(why, "threshold"));
}

TEST(lookup_by_pname_survives_growth_and_removal) {
  vigil_pool *pool = new_pool("dc1");
  char name[32];
  for (int i = 0; i < 5000; i++) {
    snprintf(name, sizeof name, "127.0.%d.%d:%d", i / 250, i % 250 + 1, 7000 + i % 7);
    CHECK_INT(add(pool, name, false, NULL), VIGIL_OK);
  }
  CHECK_INT(vigil_pool_count(pool), 5000);
  /* Remove every third peer, then every remaining one must still be found. */
  for (int i = 0; i < 5000; i += 3) {
    snprintf(name, sizeof name, "127.0.%d.%d:%d", i / 250, i % 250 + 1, 7000 + i % 7);
    CHECK_INT(vigil_pool_remove(pool, name), VIGIL_OK);
  }
  int found = 0, missing = 0;
  for (int i = 0; i < 5000; i++) {
    snprintf(name, sizeof name, "127.0.%d.%d:%d", i / 250, i % 250 + 1, 7000 + i % 7);
    vigil_peer *p = vigil_pool_find(pool, name);
    if (i % 3 == 0) {
      missing += p == NULL;
    } else if (p && strcmp(p->pname, name) == 0 && vigil_pool_get(pool, p->idx) == p) {
      found++;
    }
  }
  CHECK_INT(found, 3333);
  CHECK_INT(missing, 1667);
  CHECK_INT(vigil_pool_count(pool), 3333);
  CHECK_INT(vigil_pool_remove(pool, "127.0.0.1:7000"), VIGIL_ENOENT);
  vigil_pool_free(pool);
}

TEST(a_removed_and_readded_peer_gets_a_fresh_detector) {
  vigil_pool *pool = new_pool("dc1");
  uint32_t a, b;
  add(pool, "127.0.0.1:1", false, &a);
  add(pool, "127.0.0.1:2", false, NULL);
  vigil_peer *p = vigil_pool_get(pool, a);
  for (int i = 1; i <= 10; i++) vigil_detector_heartbeat(&p->detector, (vigil_time)i * VIGIL_SEC);
  CHECK(vigil_detector_is_monitoring(&p->detector));
  CHECK_INT(vigil_pool_remove(pool, "127.0.0.1:1"), VIGIL_OK);
  CHECK(vigil_pool_get(pool, a) == NULL);
  CHECK_INT(add(pool, "127.0.0.1:1", false, &b), VIGIL_OK);
  CHECK_INT(b, a); /* the freed slot is reused */
  p = vigil_pool_get(pool, b);
  CHECK_INT(vigil_detector_is_monitoring(&p->detector), 0);
  CHECK_INT(vigil_detector_samples(&p->detector), 0);
  CHECK_INT(p->heartbeats, 0);
  CHECK_INT(p->state, VIGIL_STATE_DOWN);
  vigil_pool_free(pool);
}

TEST(removing_the_last_slots_shrinks_the_high_water_mark) {
  vigil_pool *pool = new_pool("dc1");
  add(pool, "127.0.0.1:1", false, NULL);
  add(pool, "127.0.0.1:2", false, NULL);
  add(pool, "127.0.0.1:3", false, NULL);
  vigil_pool_remove(pool, "127.0.0.1:2");
  vigil_pool_remove(pool, "127.0.0.1:3");
  CHECK_INT(vigil_pool_slots(pool), 1);
  uint32_t idx;
  add(pool, "127.0.0.1:4", false, &idx);
  CHECK_INT(idx, 1);
  CHECK_INT(vigil_pool_slots(pool), 2);
  vigil_pool_remove(pool, "127.0.0.1:1");
  add(pool, "127.0.0.1:5", false, &idx);
  CHECK_INT(idx, 0);
  vigil_pool_free(pool);
}

TEST(tokens_parse_format_and_compare) {
  vigil_token t, u;
  char buf[VIGIL_TOKEN_STRLEN];
  CHECK_INT(vigil_token_parse(&t, "0", 1), VIGIL_OK);
  CHECK_INT(vigil_token_format(&t, buf, sizeof buf), 1);
  CHECK_STR(buf, "0");
  const char *max = "340282366920938463463374607431768211455"; /* 2^128 - 1 */
  CHECK_INT(vigil_token_parse(&t, max, strlen(max)), VIGIL_OK);
  CHECK_INT(vigil_token_format(&t, buf, sizeof buf), 39);
  CHECK_STR(buf, max);
  CHECK_INT(vigil_token_parse(&t, "340282366920938463463374607431768211456", 39), VIGIL_ERANGE);
  CHECK_INT(vigil_token_parse(&t, "99999999999999999999999999999999999999999", 41), VIGIL_ERANGE);
  CHECK_INT(vigil_token_parse(&t, "12a", 3), VIGIL_EINVAL);
  CHECK_INT(vigil_token_parse(&t, "-1", 2), VIGIL_EINVAL);
  CHECK_INT(vigil_token_parse(&t, "", 0), VIGIL_EINVAL);
  CHECK_INT(vigil_token_parse(&t, "000042", 6), VIGIL_OK);
  vigil_token_from_u32(&u, 42);
  CHECK_INT(vigil_token_cmp(&t, &u), 0);
  vigil_token_from_u32(&u, 4294967295u);
  vigil_token_format(&u, buf, sizeof buf);
  CHECK_STR(buf, "4294967295");
  CHECK_INT(vigil_token_parse(&t, "4294967296", 10), VIGIL_OK); /* 2^32 */
  CHECK(vigil_token_cmp(&u, &t) < 0);
  CHECK(vigil_token_cmp(&t, &u) > 0);
  CHECK_INT(t.mag[1], 1);
  CHECK_INT(vigil_token_format(&t, buf, 5), VIGIL_ERANGE);
}

TEST(ring_owner_is_the_smallest_token_not_below_wrapping_around) {
  vigil_pool *pool = new_pool("dc1");
  vigil_token ta, tb, tc;
  vigil_token_from_u32(&ta, 100);
  vigil_token_from_u32(&tb, 200);
  vigil_token_parse(&tc, "100000000000000000000", 21);
  uint32_t a, b, c;
  vigil_peer_spec sa = {"127.0.0.1:1", NULL, NULL, &ta, 1, false, false, NULL};
  vigil_peer_spec sb = {"127.0.0.2:1", NULL, NULL, &tb, 1, false, false, NULL};
  vigil_peer_spec sc = {"127.0.0.3:1", NULL, NULL, &tc, 1, false, false, NULL};
  vigil_pool_add(pool, &sc, 0, &c);
  vigil_pool_add(pool, &sa, 0, &a);
  vigil_pool_add(pool, &sb, 0, &b);
  vigil_ring ring;
  vigil_ring_init(&ring);
  CHECK_INT(vigil_ring_build(&ring, pool, 0), VIGIL_OK);
  CHECK_INT(ring.len, 3);
  vigil_token q;
  vigil_token_from_u32(&q, 0);
  CHECK_INT(vigil_ring_owner(&ring, &q), a);
  vigil_token_from_u32(&q, 100);
  CHECK_INT(vigil_ring_owner(&ring, &q), a);
  vigil_token_from_u32(&q, 101);
  CHECK_INT(vigil_ring_owner(&ring, &q), b);
  vigil_token_from_u32(&q, 4000000000u);
  CHECK_INT(vigil_ring_owner(&ring, &q), c);
  vigil_token_parse(&q, "100000000000000000001", 21);
  CHECK_INT(vigil_ring_owner(&ring, &q), a); /* wraps */
  /* Only normal peers: all are down, so the ring is empty. */
  CHECK_INT(vigil_ring_build(&ring, pool, 1u << VIGIL_STATE_NORMAL), VIGIL_OK);
  CHECK_INT(vigil_ring_owner(&ring, &q), -1);
  vigil_pool_get(pool, b)->state = VIGIL_STATE_NORMAL;
  vigil_ring_build(&ring, pool, 1u << VIGIL_STATE_NORMAL);
  CHECK_INT(vigil_ring_owner(&ring, &q), b);
  vigil_ring_free(&ring);
  vigil_pool_free(pool);
}

int main(int argc, char **argv) {
  CHECK_ARGS(argc, argv);
  RUN(pnames_parse_into_host_and_port);
  RUN(states_and_events_have_their_names);
  RUN(local_peer_starts_joining_and_remote_peers_start_down);
  RUN(peers_carry_endpoint_placement_and_tokens);
  RUN(add_rejects_duplicates_and_bad_specs);
  RUN(bad_pool_config_is_rejected_with_a_reason);
  RUN(lookup_by_pname_survives_growth_and_removal);
  RUN(a_removed_and_readded_peer_gets_a_fresh_detector);
  RUN(removing_the_last_slots_shrinks_the_high_water_mark);
  RUN(tokens_parse_format_and_compare);
  RUN(ring_owner_is_the_smallest_token_not_below_wrapping_around);
  return CHECK_DONE();
}
