/*
 * api.c - the agent's HTTP API: what /metrics, /v1/members, /v1/info,
 * /health and /v1/monitor answer, and what POST /v1/reload, /v1/join,
 * /v1/leave and /v1/force-leave ask for.
 *
 * Owns: rendering the node's state (members as JSON or a table, info,
 * health, Prometheus text with the runtime's own counters appended), the
 * requests an operator makes of the agent (reload, join, leave,
 * force-leave: each checked here, carried out by the node or the agent),
 * and the monitor: every node event rendered as a JSON or logfmt line for
 * each GET /v1/monitor reader. http.c carries the bytes; this file decides
 * what they say.
 *
 * Must never: change a peer but through the node's own calls
 * (vigil_node_join, vigil_node_forget), or emit text a client could
 * misparse: JSON strings are escaped, numbers that are not finite are
 * null, logfmt values go through the log's quoting. Everything in a query
 * string is bounded and checked before anything is done.
 */
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime.h"

/* RFC 8259 strings, valid UTF-8 whatever the input: a policy's error
 * message can hold any bytes, a fixed-size copy can end inside a character.
 * The escapes are the logs' (vigil__escape_char): '"', '\\' and control
 * bytes escaped, invalid UTF-8 as \ufffd, and U+2028/2029, C1 and bidi
 * controls as \uXXXX, which JSON allows and JavaScript needs. Appended in
 * chunks: an escape never contains a NUL. */
void vigil__json_str(vigil__buf *b, const char *s, size_t n) {
  char chunk[256];
  size_t used = 0;
  chunk[used++] = '"';
  for (size_t i = 0; i < n;) {
    size_t len;
    bool escaped;
    i += vigil__escape_char(s + i, n - i, chunk + used, &len, &escaped);
    used += len;
    if (used + VIGIL__ESCAPE_MAX + 2 > sizeof chunk) {
      chunk[used] = '\0';
      vigil__buf_puts(b, chunk);
      used = 0;
    }
  }
  chunk[used++] = '"';
  chunk[used] = '\0';
  vigil__buf_puts(b, chunk);
}

static void api__json_str(vigil__buf *b, const char *s) { vigil__json_str(b, s, strlen(s)); }

static void api__json_num(vigil__buf *b, double v) {
  if (isfinite(v))
    vigil__buf_printf(b, "%.6g", v);
  else
    vigil__buf_puts(b, "null");
}

/* A tag set as a JSON object, {"role":"db","shard":"7"} ({} for none):
 * keys and values are checked on the wire (tags.c) and need no escaping,
 * but go through the escaper like every string from the network. */
static void api__tags_json(vigil__buf *b, const char *tags) {
  vigil__buf_puts(b, "{");
  size_t pos = 0;
  vigil_tag t;
  for (bool first = true; vigil_tags_next(tags, &pos, &t); first = false) {
    if (!first) vigil__buf_puts(b, ",");
    vigil__json_str(b, t.key, t.key_len);
    vigil__buf_puts(b, ":");
    vigil__json_str(b, t.value, t.value_len);
  }
  vigil__buf_puts(b, "}");
}

static void api__members_json(vigil__agent *a, vigil_time now, vigil__buf *b) {
  vigil__buf_puts(b, "{\"self\":");
  api__json_str(b, vigil_node_self(a->node));
  vigil__buf_printf(b, ",\"generation\":%llu,\"members\":[",
                    (unsigned long long)vigil_members_generation(vigil_node_members(a->node)));
  uint32_t slots = vigil_pool_slots(vigil_node_pool(a->node));
  bool first = true;
  for (uint32_t i = 0; i < slots; i++) {
    const vigil_peer *p = vigil_pool_get(vigil_node_pool(a->node), i);
    if (!p) continue;
    uint64_t gen, ver;
    vigil_time heard;
    vigil_members_info(vigil_node_members(a->node), i, &gen, &ver, &heard);
    vigil__buf_puts(b, first ? "{\"pname\":" : ",{\"pname\":");
    first = false;
    api__json_str(b, p->pname);
    vigil__buf_puts(b, ",\"dc\":");
    api__json_str(b, p->dc);
    vigil__buf_puts(b, ",\"rack\":");
    api__json_str(b, p->rack);
    vigil__buf_puts(b, ",\"state\":");
    api__json_str(b, vigil_state_name(p->state));
    vigil__buf_puts(b, ",\"phi\":");
    api__json_num(b, vigil_handler_phi(vigil_node_handler(a->node), i, now));
    vigil__buf_puts(b, ",\"last_heard_seconds\":");
    if (heard && now >= heard)
      api__json_num(b, (double)(now - heard) / 1e9);
    else
      vigil__buf_puts(b, "null");
    vigil__buf_printf(b, ",\"since_seconds\":");
    api__json_num(b, now > p->since ? (double)(now - p->since) / 1e9 : 0.0);
    /* Its latest up or down: the evidence, and while it is up why it came up. */
    const char *cause = vigil_cause_name((vigil_cause)p->last_cause);
    const char *reason = p->state == VIGIL_STATE_NORMAL ? vigil_up_reason_name((vigil_up_reason)p->last_reason) : "";
    vigil__buf_puts(b, ",\"cause\":");
    if (*cause)
      api__json_str(b, cause);
    else
      vigil__buf_puts(b, "null");
    vigil__buf_puts(b, ",\"reason\":");
    if (*reason)
      api__json_str(b, reason);
    else
      vigil__buf_puts(b, "null");
    vigil__buf_printf(b, ",\"generation\":%llu,\"version\":%llu,\"is_local\":%s,\"tokens\":[", (unsigned long long)gen,
                      (unsigned long long)ver, p->is_local ? "true" : "false");
    for (uint32_t k = 0; k < p->ntokens; k++) {
      char tok[VIGIL_TOKEN_STRLEN];
      vigil_token_format(&p->tokens[k], tok, sizeof tok);
      vigil__buf_printf(b, "%s\"%s\"", k ? "," : "", tok);
    }
    vigil__buf_puts(b, "],\"tags\":");
    api__tags_json(b, p->tags);
    vigil__buf_puts(b, "}");
  }
  vigil__buf_puts(b, "]}\n");
}

/* One row a peer: PHI is "-" for a down peer (a down peer stays down until
 * heard, whatever its phi; a number there reads as health, and a peer
 * convicted on a refusal has a low one), CAUSE is the evidence of its
 * latest up or down and, while it is up, why it came up ("heartbeat/joined"),
 * CHANGED when that was, TAGS its tags as k=v,k2=v2 (the alphabets of
 * tags.c hold nothing a terminal would act on), last because it is as wide
 * as they are, and empty for a peer without tags (a row ends at CHANGED,
 * as it did before tags). */
static void api__members_text(vigil__agent *a, vigil_time now, vigil__buf *b) {
  vigil__buf_printf(b, "%-24s %-10s %-10s %-8s %9s %11s %-13s %-20s %-10s %s\n", "PEER", "DC", "RACK", "STATE", "PHI",
                    "LAST HEARD", "GENERATION", "CAUSE", "CHANGED", "TAGS");
  uint32_t slots = vigil_pool_slots(vigil_node_pool(a->node));
  for (uint32_t i = 0; i < slots; i++) {
    const vigil_peer *p = vigil_pool_get(vigil_node_pool(a->node), i);
    if (!p) continue;
    uint64_t gen, ver;
    vigil_time heard;
    vigil_members_info(vigil_node_members(a->node), i, &gen, &ver, &heard);
    char last[32] = "-", phi[32] = "-";
    if (p->is_local)
      snprintf(last, sizeof last, "(self)");
    else if (heard && now >= heard)
      snprintf(last, sizeof last, "%.1fs ago", (double)(now - heard) / 1e9);
    if (!p->is_local && p->state != VIGIL_STATE_DOWN)
      snprintf(phi, sizeof phi, "%.2f", vigil_handler_phi(vigil_node_handler(a->node), i, now));
    char cause[32] = "-", changed[32] = "-";
    if (p->last_cause != VIGIL_CAUSE_NONE) {
      const char *why = p->state == VIGIL_STATE_NORMAL ? vigil_up_reason_name((vigil_up_reason)p->last_reason) : "";
      snprintf(cause, sizeof cause, "%s%s%s", vigil_cause_name((vigil_cause)p->last_cause), *why ? "/" : "", why);
      snprintf(changed, sizeof changed, "%.1fs ago", now > p->since ? (double)(now - p->since) / 1e9 : 0.0);
    }
    vigil__buf_printf(b, "%-24s %-10s %-10s %-8s %9s %11s %-13llu %-20s ", p->pname, p->dc, p->rack,
                      vigil_state_name(p->state), phi, last, (unsigned long long)gen, cause);
    if (p->tags)
      vigil__buf_printf(b, "%-10s %s\n", changed, p->tags);
    else
      vigil__buf_printf(b, "%s\n", changed);
  }
  if (a->bridge) {
    vigil_policy_status st;
    vigil_bridge_status(a->bridge, &st);
    if (st.error[0]) {
      /* The error quotes the policy's text: escaped, so no byte of it can
       * drive the terminal `vigil members` prints to. */
      char q[VIGIL__LOG_QUOTED(sizeof st.error)];
      vigil__buf_printf(b, "\npolicy: %s, generation %llu, LAST LOAD FAILED: %s\n", a->cfg->policy,
                        (unsigned long long)st.generation, vigil__log_quote(q, sizeof q, st.error));
    } else
      vigil__buf_printf(b, "\npolicy: %s, generation %llu, %s\n", a->cfg->policy, (unsigned long long)st.generation,
                        st.loaded ? "ok" : "not loaded");
  }
}

/* /health: "ok" (HTTP 200), or "degraded" (HTTP 503) with the reasons, so
 * that a deploy or a load balancer can gate on it: the policy did not
 * load, its thread is gone, or its last reload failed (the previous
 * generation runs, but not what was deployed). Returns the HTTP status. */
static int api__health(vigil__agent *a, vigil_time now, vigil__buf *b) {
  uint32_t by_state[VIGIL_STATE_COUNT] = {0};
  uint32_t slots = vigil_pool_slots(vigil_node_pool(a->node));
  for (uint32_t i = 0; i < slots; i++) {
    const vigil_peer *p = vigil_pool_get(vigil_node_pool(a->node), i);
    if (p && !p->is_local) by_state[p->state]++;
  }
  vigil_policy_status st;
  memset(&st, 0, sizeof st);
  if (a->bridge) vigil_bridge_status(a->bridge, &st);
  const char *reasons[3];
  int nreasons = 0;
  if (a->bridge && !st.running) reasons[nreasons++] = "policy thread not running";
  if (a->bridge && !st.loaded) reasons[nreasons++] = "policy not loaded";
  if (a->bridge && st.loaded && st.error[0]) reasons[nreasons++] = "last policy reload failed";
  vigil__buf_printf(b, "{\"status\":\"%s\",\"reasons\":[", nreasons ? "degraded" : "ok");
  for (int i = 0; i < nreasons; i++) {
    if (i) vigil__buf_puts(b, ",");
    api__json_str(b, reasons[i]);
  }
  vigil__buf_puts(b, "],\"self\":");
  api__json_str(b, vigil_node_self(a->node));
  vigil__buf_printf(b, ",\"generation\":%llu,\"uptime_seconds\":",
                    (unsigned long long)vigil_members_generation(vigil_node_members(a->node)));
  api__json_num(b, (double)(now - a->started) / 1e9);
  vigil__buf_printf(b, ",\"authenticated\":%s,\"peers\":{", a->cfg->keyring ? "true" : "false");
  for (int s = 0; s < VIGIL_STATE_COUNT; s++)
    vigil__buf_printf(b, "%s\"%s\":%u", s ? "," : "", vigil_state_name((vigil_peer_state)s), by_state[s]);
  vigil__buf_puts(b, "},\"policy\":");
  if (!a->bridge) {
    vigil__buf_puts(b, "null}\n");
    return 200;
  }
  vigil__buf_puts(b, "{\"path\":");
  api__json_str(b, a->cfg->policy);
  vigil__buf_printf(b, ",\"running\":%s,\"loaded\":%s,\"generation\":%llu,\"reloads_failed\":%llu,\"error\":",
                    st.running ? "true" : "false", st.loaded ? "true" : "false", (unsigned long long)st.generation,
                    (unsigned long long)st.reloads_failed);
  if (st.error[0])
    api__json_str(b, st.error);
  else
    vigil__buf_puts(b, "null");
  vigil__buf_puts(b, "}}\n");
  return nreasons ? 503 : 200;
}

/* "# HELP name help" and "# TYPE name type", before a family's samples. */
static void api__family(vigil__buf *b, const char *name, const char *type, const char *help) {
  vigil__buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The policy's counters, appended to /metrics. The three 0/1 gauges are
 * /health's reasons, for alerting rules. */
static void api__policy_metrics(vigil__agent *a, vigil__buf *b) {
  if (!a->bridge) return;
  vigil_policy_status st;
  vigil_bridge_status(a->bridge, &st);
  api__family(b, "vigil_policy_errors_total", "counter", "Policy handlers that raised an error, by event.");
  for (int k = 0; k < VIGIL_POLICY_KINDS; k++)
    vigil__buf_printf(b, "vigil_policy_errors_total{event=\"%s\"} %llu\n", vigil_policy_kind_name(k),
                      (unsigned long long)st.errors[k]);
  api__family(b, "vigil_policy_interrupted_total", "counter",
              "Policy handlers stopped at their time budget, by event.");
  for (int k = 0; k < VIGIL_POLICY_KINDS; k++)
    vigil__buf_printf(b, "vigil_policy_interrupted_total{event=\"%s\"} %llu\n", vigil_policy_kind_name(k),
                      (unsigned long long)st.interrupted[k]);
  api__family(b, "vigil_policy_reloads_total", "counter", "Policy loads, by result.");
  vigil__buf_printf(b, "vigil_policy_reloads_total{result=\"ok\"} %llu\n", (unsigned long long)st.reloads_ok);
  vigil__buf_printf(b, "vigil_policy_reloads_total{result=\"error\"} %llu\n", (unsigned long long)st.reloads_failed);
  api__family(b, "vigil_policy_events_total", "counter", "Events handed to the policy.");
  vigil__buf_printf(b, "vigil_policy_events_total %llu\n", (unsigned long long)st.delivered);
  api__family(b, "vigil_policy_events_lagged_total", "counter", "Events lost because the policy fell behind.");
  vigil__buf_printf(b, "vigil_policy_events_lagged_total %llu\n", (unsigned long long)st.lagged);
  api__family(b, "vigil_policy_exec_total", "counter", "Commands the policy ran, by result.");
  const char *const results[4] = {"ok", "failed", "timeout", "rejected"};
  const uint64_t execs[4] = {st.exec_ok, st.exec_failed, st.exec_timeout, st.exec_rejected};
  for (int i = 0; i < 4; i++)
    vigil__buf_printf(b, "vigil_policy_exec_total{result=\"%s\"} %llu\n", results[i], (unsigned long long)execs[i]);
  api__family(b, "vigil_policy_generation", "gauge", "Policy generations loaded successfully.");
  vigil__buf_printf(b, "vigil_policy_generation %llu\n", (unsigned long long)st.generation);
  api__family(b, "vigil_policy_running", "gauge", "1 while the policy thread runs.");
  vigil__buf_printf(b, "vigil_policy_running %d\n", st.running ? 1 : 0);
  api__family(b, "vigil_policy_loaded", "gauge", "1 while a policy generation is loaded and handles events.");
  vigil__buf_printf(b, "vigil_policy_loaded %d\n", st.loaded ? 1 : 0);
  api__family(b, "vigil_policy_last_reload_failed", "gauge",
              "1 when the latest load of the policy failed (a previous generation, if any, still runs).");
  vigil__buf_printf(b, "vigil_policy_last_reload_failed %d\n", st.error[0] ? 1 : 0);
}

static void api__metrics(vigil__agent *a, vigil_time now, vigil__http_response *r) {
  size_t len;
  char *text = vigil_node_render_metrics(a->node, now, &len);
  if (!text) {
    r->status = 503;
    return;
  }
  vigil__buf b = {text, len, len + 1, false};
  api__family(&b, "vigil_build_info", "gauge", "Always 1: the agent's version and wire protocol, as labels.");
  vigil__buf_printf(&b, "vigil_build_info{version=\"%s\",protocol=\"%d\"} 1\n", VIGIL_VERSION, VIGIL_PROTOCOL_VERSION);
  /* The generation is the wall clock at start, in ms (agent.c): the start
   * time Prometheus wants, in seconds since the epoch. */
  api__family(&b, "vigil_start_time_seconds", "gauge", "When this agent started, in seconds since the Unix epoch.");
  vigil__buf_printf(&b, "vigil_start_time_seconds %.3f\n",
                    (double)vigil_members_generation(vigil_node_members(a->node)) / 1e3);
  static const char *const classes[4] = {"1xx", "2xx", "4xx", "5xx"};
  api__family(&b, "vigil_http_requests_total", "counter", "HTTP requests answered, by status class.");
  for (int i = 1; i < 4; i++)
    vigil__buf_printf(&b, "vigil_http_requests_total{code=\"%s\"} %llu\n", classes[i],
                      (unsigned long long)a->http.requests[i]);
  const uint64_t *rej = a->http.rejected;
  api__family(&b, "vigil_http_connections_refused_total", "counter",
              "Connections turned away (too many open, in all or from one address): "
              "vigil_http_connections_rejected_total's full + per_address.");
  vigil__buf_printf(&b, "vigil_http_connections_refused_total %llu\n",
                    (unsigned long long)(rej[VIGIL__HTTP_REJECT_FULL] + rej[VIGIL__HTTP_REJECT_PER_ADDRESS]));
  api__family(&b, "vigil_http_connections_rejected_total", "counter",
              "Connections turned away or cut short, by reason: full, per_address (refused), evicted (for an "
              "address holding fewer), header_timeout (request not complete in time), timeout (response not "
              "taken in time), streams_full, slow_reader (monitor streams).");
  for (int i = 0; i < VIGIL__HTTP_REJECT_KINDS; i++)
    vigil__buf_printf(&b, "vigil_http_connections_rejected_total{reason=\"%s\"} %llu\n", vigil__http_reject_name(i),
                      (unsigned long long)rej[i]);
  api__family(&b, "vigil_http_mutations_refused_total", "counter",
              "Requests to mutating endpoints refused, by reason: loopback_only (no token configured), "
              "missing_token, wrong_token.");
  for (int i = 1; i < VIGIL__HTTP_AUTH_KINDS; i++)
    vigil__buf_printf(&b, "vigil_http_mutations_refused_total{reason=\"%s\"} %llu\n", vigil__http_auth_name(i),
                      (unsigned long long)a->http.mutations_refused[i]);
  api__family(&b, "vigil_http_monitor_connections", "gauge", "GET /v1/monitor readers connected now.");
  vigil__buf_printf(&b, "vigil_http_monitor_connections %u\n", a->http.streams);
  api__family(&b, "vigil_http_monitor_events_dropped_total", "counter",
              "Events a monitor reader missed because it read too slowly (it is told `lagged`).");
  vigil__buf_printf(&b, "vigil_http_monitor_events_dropped_total %llu\n", (unsigned long long)a->monitor_dropped);
  api__family(&b, "vigil_frames_unsendable_total", "counter", "Frames for peers whose pname is not an IP address.");
  vigil__buf_printf(&b, "vigil_frames_unsendable_total %llu\n", (unsigned long long)a->send_unresolvable);
  api__family(&b, "vigil_icmp_errors_total", "counter",
              "ICMP errors for datagrams this agent sent, by kind: refused by a known peer's host (port "
              "unreachable), refused by an address no peer has, other.");
  vigil__buf_printf(&b,
                    "vigil_icmp_errors_total{kind=\"refused_peer\"} %llu\n"
                    "vigil_icmp_errors_total{kind=\"refused_unknown\"} %llu\n"
                    "vigil_icmp_errors_total{kind=\"other\"} %llu\n",
                    (unsigned long long)vigil_node_refused_known(a->node),
                    (unsigned long long)vigil_node_refused_unknown(a->node), (unsigned long long)a->icmp_other);
  api__policy_metrics(a, &b);
  if (b.failed) {
    free(b.data);
    r->status = 503;
    return;
  }
  r->status = 200;
  r->type = "text/plain; version=0.0.4; charset=utf-8";
  r->body = b.data;
  r->len = b.len;
}

/* Whether req may use a mutating endpoint (vigil__http_authorize). When it
 * may not, *r is the refusal: 403 saying how to enable remote use when no
 * token is configured, 401 with a Bearer challenge when one is and the
 * client did not send it. Every mutating endpoint starts with this. */
static bool api__may_mutate(vigil__agent *a, const vigil__http_request *req, vigil__http_response *r) {
  vigil__http_auth auth = vigil__http_authorize(req, a->cfg->http_token);
  if (auth == VIGIL__HTTP_AUTH_OK) return true;
  a->http.mutations_refused[auth]++;
  vigil__buf b = {NULL, 0, 0, false};
  if (auth == VIGIL__HTTP_AUTH_LOOPBACK_ONLY) {
    vigil__buf_puts(&b, "{\"error\":\"this endpoint answers only clients on loopback (127.0.0.0/8, ::1); to allow "
                        "others, start the agent with --http-token-file FILE and send 'Authorization: Bearer "
                        "<token>'\"}\n");
    r->status = 403;
  } else {
    vigil__buf_printf(&b,
                      "{\"error\":\"%s: send 'Authorization: Bearer <token>' with the token of the agent's "
                      "--http-token-file\"}\n",
                      auth == VIGIL__HTTP_AUTH_MISSING ? "no bearer token" : "wrong token");
    r->status = 401;
    r->headers = "WWW-Authenticate: Bearer realm=\"vigil\"\r\n";
  }
  r->type = "application/json";
  r->body = b.data;
  r->len = b.failed ? 0 : b.len;
  return false;
}

/* ---- /v1/keys: the keyring at runtime (`vigil keys`) ------------------------ */

/* The value of `name` in a query string, percent-decoded into out (cap
 * bytes): its length, -1 when absent, -2 when it does not decode or fit
 * (api__query_next's rules, below). */
static int api__query_value(const char *query, const char *name, char *out, size_t cap);

/* The keyring as JSON, after the caller's opening brace and fields:
 * where it is kept and each key's fingerprint -- never a key. */
static void api__keys_json(vigil__buf *b, const vigil_agent_config *cfg) {
  const vigil_keyring *kr = cfg->keyring;
  vigil__buf_puts(b, "\"keyring\":");
  if (kr && cfg->keyring_path)
    api__json_str(b, cfg->keyring_path);
  else
    vigil__buf_puts(b, "null");
  vigil__buf_printf(b, ",\"encrypted\":%s,\"max\":%d,\"keys\":[", kr ? "true" : "false", VIGIL_KEYRING_MAX);
  for (uint32_t i = 0; kr && i < kr->nkeys; i++) {
    char fp[VIGIL_KEY_FINGERPRINT];
    vigil_key_fingerprint(kr->keys[i], fp);
    vigil__buf_printf(b, "%s{\"fingerprint\":\"%s\",\"primary\":%s}", i ? "," : "", fp, i == 0 ? "true" : "false");
  }
  vigil__buf_puts(b, "]}\n");
}

/* POST /v1/keys/{install,use,remove}?key=BASE64: change a copy of the
 * keyring, write it to the keyring file, and only then put it in force --
 * here, on the core thread, between two datagrams, as SIGHUP does (the
 * node holds a pointer to the keyring). The file must still hold the keys
 * in force: an edit not yet loaded is never overwritten. Returns the HTTP
 * status; msg holds the error, or on success the status word, and fp the
 * key's fingerprint. */
static int api__keys_change(vigil__agent *a, const vigil__http_request *req, const char *verb, char *msg, size_t cap,
                            char fp[VIGIL_KEY_FINGERPRINT]) {
  const vigil_agent_config *cfg = a->cfg;
  if (!cfg->keyring) {
    snprintf(msg, cap,
             "this agent runs without a keyring: its gossip is not encrypted, and a keyring cannot be added "
             "while it runs (every agent must switch at once); restart every agent with --keyring FILE "
             "(make a key with `vigil keygen`)");
    return 409;
  }
  if (!cfg->keyring_path) {
    snprintf(msg, cap, "this agent's keyring was not read from a file: there is nowhere to keep a change");
    return 409;
  }
  char b64[128], err[384];
  uint8_t key[VIGIL_KEY_BYTES];
  int got = api__query_value(req->query, "key", b64, sizeof b64);
  if (got < 0 || vigil_key_from_base64(b64, key) != VIGIL_OK) {
    sodium_memzero(b64, sizeof b64);
    snprintf(msg, cap, "%s",
             got == -1 ? "missing ?key=: the base64 key, percent-encoded"
                       : "key: not a base64 32-byte key (make one with `vigil keygen`)");
    return 400;
  }
  sodium_memzero(b64, sizeof b64);
  vigil_key_fingerprint(key, fp);
  vigil_keyring next = *cfg->keyring, disk;
  int rc = strcmp(verb, "install") == 0 ? vigil_keyring_install(&next, key)
           : strcmp(verb, "use") == 0   ? vigil_keyring_use(&next, key)
                                        : vigil_keyring_remove(&next, key);
  sodium_memzero(key, sizeof key);
  int status = 200;
  if (rc == VIGIL_EEXIST) {
    snprintf(msg, cap, "key %s is installed already", fp);
    status = 409;
  } else if (rc == VIGIL_ERANGE) {
    snprintf(msg, cap, "the keyring holds %d keys, the most it can: remove one first", VIGIL_KEYRING_MAX);
    status = 409;
  } else if (rc == VIGIL_ENOENT) {
    snprintf(msg, cap, "key %s is not installed%s", fp, strcmp(verb, "use") == 0 ? ": install it first" : "");
    status = 409;
  } else if (rc != VIGIL_OK) {
    snprintf(msg, cap,
             "key %s is the primary key, which encrypts what this agent sends: `vigil keys use` another "
             "key first",
             fp);
    status = 409;
  } else if (vigil_keyring_equal(&next, cfg->keyring)) {
    snprintf(msg, cap, "unchanged"); /* use of the primary: nothing to write */
  } else if (vigil_keyring_load(&disk, cfg->keyring_path, err, sizeof err) != VIGIL_OK) {
    snprintf(msg, cap, "%s; the keys in force are unchanged", err);
    status = 409;
  } else if (!vigil_keyring_equal(&disk, cfg->keyring)) {
    snprintf(msg, cap,
             "%s no longer holds the keys in force (edited since it was loaded?): send SIGHUP to load it, or "
             "put it back; nothing changed",
             cfg->keyring_path);
    status = 409;
  } else if (vigil_keyring_save(&next, cfg->keyring_path, err, sizeof err) != VIGIL_OK) {
    snprintf(msg, cap, "%s; the keys in force are unchanged", err);
    status = 500;
  } else {
    *cfg->keyring = next;
    char primary[VIGIL_KEY_FINGERPRINT];
    vigil_key_fingerprint(next.keys[0], primary);
    char qpath[VIGIL__LOG_QUOTED(256)];
    vigil__logf(VIGIL_LOG_INFO, "keyring changed", "action=%s key=%s keys=%u primary=%s path=%s by=http from=%s", verb,
                fp, next.nkeys, primary, vigil__log_quote(qpath, sizeof qpath, cfg->keyring_path), req->peer);
    snprintf(msg, cap, "%s",
             strcmp(verb, "install") == 0 ? "installed"
             : strcmp(verb, "use") == 0   ? "primary"
                                          : "removed");
  }
  sodium_memzero(&next, sizeof next);
  sodium_memzero(&disk, sizeof disk);
  return status;
}

/* GET /v1/keys, POST /v1/keys/{install,use,remove}. */
static void api__keys(vigil__agent *a, const vigil__http_request *req, vigil__http_response *r) {
  const char *verb = req->path[8] ? req->path + 9 : "";
  bool change = strcmp(verb, "install") == 0 || strcmp(verb, "use") == 0 || strcmp(verb, "remove") == 0;
  if (*verb && !change) return; /* 404 */
  vigil__buf b = {NULL, 0, 0, false};
  r->type = "application/json";
  r->status = 200;
  if (!change) {
    vigil__buf_puts(&b, "{");
    api__keys_json(&b, a->cfg);
  } else if (strcmp(req->method, "POST") != 0) {
    vigil__buf_puts(&b, "{\"error\":\"use POST\"}\n");
    r->status = 405;
  } else if (!api__may_mutate(a, req, r)) {
    return;
  } else {
    char msg[768], fp[VIGIL_KEY_FINGERPRINT] = "";
    r->status = api__keys_change(a, req, verb, msg, sizeof msg, fp);
    if (r->status == 200) {
      vigil__buf_printf(&b, "{\"status\":\"%s\",\"fingerprint\":\"%s\",", msg, fp);
      api__keys_json(&b, a->cfg);
    } else {
      vigil__buf_puts(&b, "{\"error\":");
      api__json_str(&b, msg);
      vigil__buf_puts(&b, "}\n");
    }
  }
  if (b.failed) {
    free(b.data);
    b.data = NULL;
    b.len = 0;
    r->status = 503;
  }
  r->body = b.data;
  r->len = b.len;
}

/* ---- answers ------------------------------------------------------------------- */

/* Hand b to the response (503 when it could not be built). Returns the
 * status, as every handler below does. */
static int api__answer(vigil__http_response *r, int status, const char *type, vigil__buf *b) {
  if (b->failed) {
    free(b->data);
    return r->status = 503;
  }
  r->status = status;
  r->type = type;
  r->body = b->data;
  r->len = b->len;
  return status;
}

/* {"error": "..."} with `status`; the message may quote what the client
 * sent: it is a JSON string, escaped. */
static int api__fail(vigil__http_response *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int api__fail(vigil__http_response *r, int status, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  vigil__buf b = {NULL, 0, 0, false};
  vigil__buf_puts(&b, "{\"error\":");
  vigil__json_str(&b, msg, strlen(msg));
  vigil__buf_puts(&b, "}\n");
  return api__answer(r, status, "application/json", &b);
}

/* ---- query strings ------------------------------------------------------------- */

static int api__hex(char ch) {
  int c = (unsigned char)ch;
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* Percent-decode s[0..n) into out (cap bytes, NUL-terminated); '+' stays
 * '+', as in api__query_value. false when it does not fit, an escape is
 * malformed, or it decodes to a NUL. */
static bool api__unescape(const char *s, size_t n, char *out, size_t cap) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)s[i];
    if (c == '%') {
      if (n - i < 3) return false;
      int hi = api__hex(s[i + 1]), lo = api__hex(s[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = hi * 16 + lo;
      i += 2;
    }
    if (c == 0 || k + 1 >= cap) return false;
    out[k++] = (char)c;
  }
  out[k] = '\0';
  return true;
}

/* The query's next key=value pair, decoded (a key alone has the value
 * ""): 1; 0 at the end; -1 for a pair that does not decode or does not fit
 * (the URL is at most 2 KiB: so is the work). */
static int api__query_next(const char **q, char *key, size_t kcap, char *val, size_t vcap) {
  const char *p = *q;
  while (*p == '&') p++;
  if (!*p) {
    *q = p;
    return 0;
  }
  size_t len = strcspn(p, "&");
  *q = p + len;
  const char *eq = memchr(p, '=', len);
  size_t klen = eq ? (size_t)(eq - p) : len;
  if (!api__unescape(p, klen, key, kcap)) return -1;
  if (!api__unescape(eq ? eq + 1 : "", eq ? len - klen - 1 : 0, val, vcap)) return -1;
  return 1;
}

static int api__query_value(const char *query, const char *name, char *out, size_t cap) {
  char key[64];
  int rc;
  const char *q = query;
  while ((rc = api__query_next(&q, key, sizeof key, out, cap)) != 0) {
    if (rc < 0) continue; /* a pair that does not decode: not ours, unless ... */
    if (strcmp(key, name) == 0) return (int)strlen(out);
  }
  /* ... the named one was there and did not decode or fit */
  size_t nl = strlen(name);
  for (const char *p = query; p && *p; p += strcspn(p, "&"), p += *p == '&')
    if (strncmp(p, name, nl) == 0 && p[nl] == '=') return -2;
  return -1;
}

/* A flag's value: "", 1, true, yes (on) or 0, false, no (off); -1 else. */
static int api__bool(const char *v) {
  if (!*v || strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0) return 1;
  if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0 || strcmp(v, "no") == 0) return 0;
  return -1;
}

/* ---- POST /v1/join, /v1/leave, /v1/force-leave --------------------------------- */

#define API_JOIN_MAX 16 /* addresses per join request */

/* Contact each ?addr= now as a seed (vigil_node_join). The client polls
 * /v1/members to see who answered: the answer is the peer's own
 * heartbeat, a round trip or an interval away. */
static int api__join(vigil__agent *a, const vigil__http_request *req, vigil__http_response *r, vigil_time now) {
  static char addrs[API_JOIN_MAX][VIGIL_PNAME_MAX]; /* the core thread's alone */
  uint32_t n = 0;
  const char *q = req->query;
  char key[32], val[VIGIL_PNAME_MAX];
  int rc;
  while ((rc = api__query_next(&q, key, sizeof key, val, sizeof val)) != 0) {
    if (rc < 0)
      return api__fail(r, 400, "a query parameter is malformed or too long (an address is at most %d bytes)",
                       VIGIL_PNAME_MAX - 1);
    if (strcmp(key, "addr") != 0)
      return api__fail(r, 400, "unknown parameter '%s': POST /v1/join?addr=IP:PORT[&addr=IP:PORT...]", key);
    if (n == API_JOIN_MAX) return api__fail(r, 400, "at most %d addresses per join", API_JOIN_MAX);
    size_t hl;
    uint16_t port;
    struct sockaddr_storage ss;
    if (vigil_pname_parse(val, &hl, &port) != VIGIL_OK || vigil__net_sockaddr(val, &ss) != 0 ||
        vigil__net_wildcard(val))
      return api__fail(r, 400,
                       "'%s' is not an agent's address: an IP literal and a port (10.0.0.2:7946, [fd00::2]:7946); "
                       "`vigil join` resolves host names",
                       val);
    memcpy(addrs[n++], val, sizeof val);
  }
  if (!n) return api__fail(r, 400, "no address: POST /v1/join?addr=IP:PORT[&addr=IP:PORT...]");
  const char *self = vigil_node_self(a->node);
  vigil__buf b = {NULL, 0, 0, false};
  vigil__buf_puts(&b, "{\"self\":");
  api__json_str(&b, self);
  vigil__buf_puts(&b, ",\"addrs\":[");
  uint32_t refused = 0;
  char list[API_JOIN_MAX * VIGIL_PNAME_MAX];
  size_t used = 0;
  for (uint32_t i = 0; i < n; i++) {
    const vigil_peer *p = vigil_pool_find(vigil_node_pool(a->node), addrs[i]);
    const char *status = "contacting", *state = p ? vigil_state_name(p->state) : NULL, *err = NULL;
    if (strcmp(addrs[i], self) == 0) {
      status = "self";
    } else {
      rc = vigil_node_join(a->node, addrs[i], now);
      if (rc != VIGIL_OK) {
        status = "refused";
        err = rc == VIGIL_ERANGE ? "this agent holds the most seeds it keeps (1024) already" : vigil_strerror(rc);
        refused++;
      } else if (p) {
        status = "member";
      }
    }
    vigil__buf_puts(&b, i ? ",{\"addr\":" : "{\"addr\":");
    api__json_str(&b, addrs[i]);
    vigil__buf_printf(&b, ",\"status\":\"%s\"", status);
    if (state) vigil__buf_printf(&b, ",\"state\":\"%s\"", state);
    if (err) {
      vigil__buf_puts(&b, ",\"error\":");
      api__json_str(&b, err);
    }
    vigil__buf_puts(&b, "}");
    int k = snprintf(list + used, sizeof list - used, "%s%s", i ? "," : "", addrs[i]);
    if (k > 0 && (size_t)k < sizeof list - used) used += (size_t)k;
  }
  vigil__buf_puts(&b, "]}\n");
  char qlist[VIGIL__LOG_QUOTED(sizeof list)];
  vigil__logf(VIGIL_LOG_INFO, "join requested", "by=http from=%s addrs=%s", req->peer,
              vigil__log_quote(qlist, sizeof qlist, list));
  return api__answer(r, refused == n ? 503 : 202, "application/json", &b);
}

/* Answer 202, then leave as on SIGTERM: the answer is written before the
 * loop stops (http.c writes it as this returns), the shutdown frames go
 * out now. */
static void api__leave(vigil__agent *a, const vigil__http_request *req, vigil__http_response *r) {
  vigil__buf b = {NULL, 0, 0, false};
  vigil__buf_puts(&b, "{\"status\":\"leaving\",\"self\":");
  api__json_str(&b, vigil_node_self(a->node));
  vigil__buf_puts(&b, "}\n");
  api__answer(r, 202, "application/json", &b);
  vigil__logf(VIGIL_LOG_INFO, "leave requested", "by=http from=%s", req->peer);
  vigil__agent_leave(a, "http");
}

/* Mark ?peer= down and forget it now (vigil_node_forget). Refused for a
 * peer that is not down, unless ?force=1: a live agent would be back at
 * its next heartbeat, so forcing it out is almost always a mistake. */
static int api__force_leave(vigil__agent *a, const vigil__http_request *req, vigil__http_response *r, vigil_time now) {
  const char *q = req->query;
  char key[32], val[VIGIL_PNAME_MAX], pname[VIGIL_PNAME_MAX] = "";
  int force = 0, rc;
  while ((rc = api__query_next(&q, key, sizeof key, val, sizeof val)) != 0) {
    if (rc < 0)
      return api__fail(r, 400, "a query parameter is malformed or too long (a peer name is at most %d bytes)",
                       VIGIL_PNAME_MAX - 1);
    if (strcmp(key, "peer") == 0) {
      memcpy(pname, val, sizeof val);
    } else if (strcmp(key, "force") == 0) {
      force = api__bool(val);
      if (force < 0) return api__fail(r, 400, "force: expected 1 or 0, got '%s'", val);
    } else {
      return api__fail(r, 400, "unknown parameter '%s': POST /v1/force-leave?peer=IP:PORT[&force=1]", key);
    }
  }
  if (!pname[0]) return api__fail(r, 400, "no peer: POST /v1/force-leave?peer=IP:PORT[&force=1]");
  if (strcmp(pname, vigil_node_self(a->node)) == 0)
    return api__fail(r, 400, "%s is this agent: to make it leave, run `vigil leave` (POST /v1/leave)", pname);
  vigil_peer *p = vigil_pool_find(vigil_node_pool(a->node), pname);
  if (!p) return api__fail(r, 404, "no member %s here (`vigil members` lists them)", pname);
  uint64_t gen, ver;
  vigil_time heard = 0;
  vigil_members_info(vigil_node_members(a->node), p->idx, &gen, &ver, &heard);
  const char *was = vigil_state_name(p->state);
  if (p->state != VIGIL_STATE_DOWN && !force) {
    char ago[48] = "never heard";
    if (heard && now >= heard) snprintf(ago, sizeof ago, "last heard %.1f s ago", (double)(now - heard) / 1e9);
    return api__fail(r, 409,
                     "%s is %s (%s): force-leave is for peers that failed or left. If its agent runs, it "
                     "comes back at its next heartbeat: stop it with `vigil leave` on its machine, or add --force "
                     "(force=1) to forget it anyway",
                     pname, was, ago);
  }
  rc = vigil_node_forget(a->node, pname, now);
  if (rc != VIGIL_OK) return api__fail(r, 409, "%s: %s", pname, vigil_strerror(rc));
  char qpeer[VIGIL__LOG_QUOTED(VIGIL_PNAME_MAX)];
  vigil__logf(VIGIL_LOG_WARN, "peer forced out", "by=http from=%s peer=%s was=%s forced=%s", req->peer,
              vigil__log_quote(qpeer, sizeof qpeer, pname), was, force ? "true" : "false");
  vigil__agent_settle(a, now);
  vigil__buf b = {NULL, 0, 0, false};
  vigil__buf_puts(&b, "{\"peer\":");
  api__json_str(&b, pname);
  vigil__buf_printf(&b, ",\"was\":\"%s\",\"forgotten\":true}\n", was);
  return api__answer(r, 200, "application/json", &b);
}

/* ---- GET /v1/info ------------------------------------------------------------------ */

static void api__by_state(vigil__agent *a, uint32_t by_state[VIGIL_STATE_COUNT]) {
  memset(by_state, 0, VIGIL_STATE_COUNT * sizeof by_state[0]);
  uint32_t slots = vigil_pool_slots(vigil_node_pool(a->node));
  for (uint32_t i = 0; i < slots; i++) {
    const vigil_peer *p = vigil_pool_get(vigil_node_pool(a->node), i);
    if (p && !p->is_local) by_state[p->state]++;
  }
}

static void api__info_json(vigil__agent *a, vigil_time now, vigil__buf *b) {
  const char *self = vigil_node_self(a->node);
  const vigil_peer *me = vigil_pool_find(vigil_node_pool(a->node), self);
  vigil_members *m = vigil_node_members(a->node);
  vigil__buf_printf(b, "{\"version\":\"%s\",\"protocol\":%d,\"self\":", VIGIL_VERSION, VIGIL_PROTOCOL_VERSION);
  api__json_str(b, self);
  vigil__buf_printf(b, ",\"generation\":%llu,\"incarnation\":%llu,\"dc\":",
                    (unsigned long long)vigil_members_generation(m), (unsigned long long)vigil_members_incarnation(m));
  api__json_str(b, me ? me->dc : "");
  vigil__buf_puts(b, ",\"rack\":");
  api__json_str(b, me ? me->rack : "");
  vigil__buf_puts(b, ",\"tags\":");
  api__tags_json(b, me ? me->tags : NULL);
  vigil__buf_puts(b, ",\"listen\":");
  api__json_str(b, a->cfg->listen);
  vigil__buf_puts(b, ",\"http\":");
  api__json_str(b, a->cfg->http ? a->cfg->http : "");
  vigil__buf_printf(b, ",\"http_token\":%s,\"interval_seconds\":", a->cfg->http_token ? "true" : "false");
  api__json_num(b, (double)vigil_node_interval(a->node) / 1e9);
  vigil__buf_puts(b, ",\"threshold\":");
  api__json_num(b, vigil_handler_threshold(vigil_node_handler(a->node)));
  vigil__buf_puts(b, ",\"reap_seconds\":");
  api__json_num(b, (double)a->cfg->reap_after / 1e9);
  vigil__buf_printf(b, ",\"max_peers\":%u,\"observers\":%u,\"small_cluster\":%s,\"members\":%u,\"peers\":{",
                    a->cfg->max_peers, vigil_node_observers(a->node), vigil_members_small(m) ? "true" : "false",
                    vigil_pool_count(vigil_node_pool(a->node)));
  uint32_t by_state[VIGIL_STATE_COUNT];
  api__by_state(a, by_state);
  for (int s = 0; s < VIGIL_STATE_COUNT; s++)
    vigil__buf_printf(b, "%s\"%s\":%u", s ? "," : "", vigil_state_name((vigil_peer_state)s), by_state[s]);
  vigil__buf_puts(b, "},\"policy\":");
  if (a->bridge) {
    vigil_policy_status st;
    vigil_bridge_status(a->bridge, &st);
    vigil__buf_puts(b, "{\"path\":");
    api__json_str(b, a->cfg->policy);
    vigil__buf_printf(b, ",\"running\":%s,\"loaded\":%s,\"generation\":%llu,\"error\":", st.running ? "true" : "false",
                      st.loaded ? "true" : "false", (unsigned long long)st.generation);
    if (st.error[0])
      api__json_str(b, st.error);
    else
      vigil__buf_puts(b, "null");
    vigil__buf_puts(b, "}");
  } else {
    vigil__buf_puts(b, "null");
  }
  /* The keyring: on or off and how many keys, never a key. */
  vigil__buf_printf(b, ",\"keyring\":{\"enabled\":%s,\"keys\":%u},\"monitors\":%u,\"uptime_seconds\":",
                    a->cfg->keyring ? "true" : "false", a->cfg->keyring ? a->cfg->keyring->nkeys : 0, a->http.streams);
  api__json_num(b, (double)(now - a->started) / 1e9);
  vigil__buf_puts(b, "}\n");
}

static void api__info_text(vigil__agent *a, vigil_time now, vigil__buf *b) {
  const char *self = vigil_node_self(a->node);
  const vigil_peer *me = vigil_pool_find(vigil_node_pool(a->node), self);
  vigil_members *m = vigil_node_members(a->node);
  vigil__buf_printf(b, "%-12s vigil %s (protocol %d)\n", "version", VIGIL_VERSION, VIGIL_PROTOCOL_VERSION);
  vigil__buf_printf(b, "%-12s %s (dc %s, rack %s)\n", "self", self, me ? me->dc : "?", me ? me->rack : "?");
  if (me && me->tags) vigil__buf_printf(b, "%-12s %s\n", "tags", me->tags);
  vigil__buf_printf(b, "%-12s %llu, incarnation %llu\n", "generation", (unsigned long long)vigil_members_generation(m),
                    (unsigned long long)vigil_members_incarnation(m));
  vigil__buf_printf(b, "%-12s %s\n", "listen", a->cfg->listen);
  vigil__buf_printf(b, "%-12s %s (%s)\n", "http", a->cfg->http ? a->cfg->http : "off",
                    a->cfg->http_token ? "clients beyond loopback may change things with the bearer token"
                                       : "only loopback clients may change things");
  vigil__buf_printf(b, "%-12s %.0f ms, threshold %g, reap after %.0f s\n", "interval",
                    (double)vigil_node_interval(a->node) / 1e6, vigil_handler_threshold(vigil_node_handler(a->node)),
                    (double)a->cfg->reap_after / 1e9);
  uint32_t by_state[VIGIL_STATE_COUNT];
  api__by_state(a, by_state);
  vigil__buf_printf(b, "%-12s %u members, this agent included:", "cluster", vigil_pool_count(vigil_node_pool(a->node)));
  bool any = false;
  for (int s = 0; s < VIGIL_STATE_COUNT; s++)
    if (by_state[s]) {
      vigil__buf_printf(b, "%s %u %s", any ? "," : "", by_state[s], vigil_state_name((vigil_peer_state)s));
      any = true;
    }
  vigil__buf_printf(b, "%s; %s\n", any ? "" : " no peers",
                    vigil_members_small(m) ? "every agent observes every other"
                                           : "each agent watched by its observers");
  if (a->bridge) {
    vigil_policy_status st;
    vigil_bridge_status(a->bridge, &st);
    char qpath[VIGIL__LOG_QUOTED(256)];
    vigil__log_quote(qpath, sizeof qpath, a->cfg->policy);
    if (st.error[0]) {
      char q[VIGIL__LOG_QUOTED(sizeof st.error)];
      vigil__buf_printf(b, "%-12s %s, generation %llu, LAST LOAD FAILED: %s\n", "policy", qpath,
                        (unsigned long long)st.generation, vigil__log_quote(q, sizeof q, st.error));
    } else {
      vigil__buf_printf(b, "%-12s %s, generation %llu, %s\n", "policy", qpath, (unsigned long long)st.generation,
                        st.loaded ? "loaded" : "not loaded");
    }
  } else {
    vigil__buf_printf(b, "%-12s none\n", "policy");
  }
  if (a->cfg->keyring)
    vigil__buf_printf(b, "%-12s on, %u key%s\n", "keyring", a->cfg->keyring->nkeys,
                      a->cfg->keyring->nkeys == 1 ? "" : "s");
  else
    vigil__buf_printf(b, "%-12s off: gossip is not authenticated\n", "keyring");
  uint64_t up = (now - a->started) / VIGIL_SEC;
  vigil__buf_printf(b, "%-12s %llud %02lluh %02llum %02llus\n", "uptime", (unsigned long long)(up / 86400),
                    (unsigned long long)(up / 3600 % 24), (unsigned long long)(up / 60 % 60),
                    (unsigned long long)(up % 60));
}

/* ---- GET /v1/monitor ------------------------------------------------------------- */

static void api__monitor_stream(void *ud, vigil__http_stream *s, bool open) {
  struct vigil__monitor *m = ud;
  if (open) {
    m->s = s;
    m->missed = 0;
    vigil__logf(VIGIL_LOG_INFO, "monitor reader connected", "from=%s format=%s all=%s", vigil__http_stream_peer(s),
                m->flags & VIGIL__MONITOR_JSON ? "json" : "logfmt", m->flags & VIGIL__MONITOR_ALL ? "true" : "false");
  } else {
    vigil__logf(VIGIL_LOG_INFO, "monitor reader left", "from=%s", vigil__http_stream_peer(s));
    m->s = NULL;
  }
}

/* A stream of events for as long as the client reads: ?format=json (JSON
 * lines, the default) or logfmt; ?all=1 adds gossip_round. Loopback or the
 * bearer token, like a mutation: it reveals membership as it changes, and
 * holds one of few places for as long as it likes. */
static int api__monitor(vigil__agent *a, const vigil__http_request *req, vigil__http_response *r) {
  if (!api__may_mutate(a, req, r)) return r->status;
  uint32_t flags = VIGIL__MONITOR_JSON;
  const char *q = req->query;
  char key[32], val[32];
  int rc;
  while ((rc = api__query_next(&q, key, sizeof key, val, sizeof val)) != 0) {
    if (rc < 0) return api__fail(r, 400, "a query parameter is malformed or too long");
    if (strcmp(key, "format") == 0 && strcmp(val, "json") == 0) {
      flags |= VIGIL__MONITOR_JSON;
    } else if (strcmp(key, "format") == 0 && strcmp(val, "logfmt") == 0) {
      flags &= ~VIGIL__MONITOR_JSON;
    } else if (strcmp(key, "format") == 0) {
      return api__fail(r, 400, "format: expected json or logfmt, got '%s'", val);
    } else if (strcmp(key, "all") == 0) {
      int on = api__bool(val);
      if (on < 0) return api__fail(r, 400, "all: expected 1 or 0, got '%s'", val);
      flags = on ? flags | VIGIL__MONITOR_ALL : flags & ~VIGIL__MONITOR_ALL;
    } else {
      return api__fail(r, 400, "unknown parameter '%s': GET /v1/monitor[?format=json|logfmt][&all=1]", key);
    }
  }
  /* A free place: http.c opens the stream (or refuses it) as this returns,
   * before any other request can take the place. */
  struct vigil__monitor *m = NULL;
  for (int i = 0; i < VIGIL__HTTP_STREAMS_MAX && !m; i++)
    if (!a->monitors[i].s) m = &a->monitors[i];
  if (!m) { /* every stream is a monitor: http.c would refuse it the same way */
    a->http.rejected[VIGIL__HTTP_REJECT_STREAMS_FULL]++;
    return api__fail(r, 503,
                     "%d streams are open already, the most this agent serves; close one (a `vigil monitor` "
                     "elsewhere) and retry",
                     VIGIL__HTTP_STREAMS_MAX);
  }
  m->flags = flags;
  m->missed = 0;
  r->status = 200;
  r->type = flags & VIGIL__MONITOR_JSON ? "application/x-ndjson" : "text/plain; charset=utf-8";
  r->stream = api__monitor_stream;
  r->stream_ud = m;
  return 200;
}

/* UTC with milliseconds, as the logs write it. */
static void api__ts(char *out, size_t cap) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  /* Each field reduced to its width, so the compiler can see it fits. */
  snprintf(out, cap, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)(tm.tm_year + 1900) % 10000u,
           (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u,
           (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u, (unsigned)(ts.tv_nsec / 1000000) % 1000u);
}

/* A peer's name, dc or rack from an event: at most its field's size. */
static size_t api__field_len(const char *s, size_t cap) { return strnlen(s, cap); }

/* One event as a JSON line: the policy's field names (docs/POLICIES.md);
 * reason (why a peer came up) on peer_up only, as the policy gets it. */
static void api__event_json(vigil__buf *b, const vigil_event *e, const char *ts) {
  vigil__buf_printf(b, "{\"type\":\"%s\",\"ts\":\"%s\"", vigil_event_name(e->type), ts);
  if (e->type == VIGIL_EVENT_GOSSIP_ROUND) {
    vigil__buf_puts(b, ",\"duration_ms\":");
    api__json_num(b, (double)e->duration / 1e6);
    vigil__buf_printf(b, ",\"peers_seen\":%u}\n", e->peers_seen);
    return;
  }
  vigil__buf_puts(b, ",\"peer\":");
  vigil__json_str(b, e->peer, api__field_len(e->peer, sizeof e->peer));
  vigil__buf_puts(b, ",\"dc\":");
  vigil__json_str(b, e->dc, api__field_len(e->dc, sizeof e->dc));
  vigil__buf_puts(b, ",\"rack\":");
  vigil__json_str(b, e->rack, api__field_len(e->rack, sizeof e->rack));
  char tags[VIGIL_TAGS_TEXT];
  vigil__copy(tags, sizeof tags, e->tags);
  vigil__buf_puts(b, ",\"tags\":");
  api__tags_json(b, tags);
  vigil__buf_printf(b, ",\"state\":\"%s\",\"previous\":\"%s\"", vigil_state_name(e->state),
                    vigil_state_name(e->previous));
  if (e->type == VIGIL_EVENT_PEER_UP || e->type == VIGIL_EVENT_PEER_DOWN) {
    vigil__buf_puts(b, ",\"phi\":");
    api__json_num(b, e->phi);
    vigil__buf_printf(b, ",\"cause\":\"%s\"", vigil_cause_name(e->cause));
    const char *reason = e->type == VIGIL_EVENT_PEER_UP ? vigil_up_reason_name(e->reason) : "";
    if (*reason) vigil__buf_printf(b, ",\"reason\":\"%s\"", reason);
  }
  vigil__buf_puts(b, "}\n");
}

/* One event as a logfmt line: the agent's own log line for it (log.c),
 * with event= for a program to match on. */
static void api__event_logfmt(vigil__buf *b, const vigil_event *e, const char *ts) {
  const char *level = "info", *msg;
  switch (e->type) {
  case VIGIL_EVENT_PEER_UP: msg = "peer up"; break;
  case VIGIL_EVENT_PEER_DOWN:
    msg = "peer down";
    level = "warn";
    break;
  case VIGIL_EVENT_PEER_JOINED: msg = "peer joined"; break;
  case VIGIL_EVENT_PEER_LEFT: msg = "peer left"; break;
  case VIGIL_EVENT_PEER_RESTARTED: msg = "peer restarted"; break;
  case VIGIL_EVENT_GOSSIP_ROUND:
    msg = "gossip round";
    level = "debug";
    break;
  default: msg = "event"; break;
  }
  vigil__buf_printf(b, "ts=%s level=%s msg=\"%s\" event=%s", ts, level, msg, vigil_event_name(e->type));
  if (e->type == VIGIL_EVENT_GOSSIP_ROUND) {
    vigil__buf_printf(b, " duration_ms=%.3f peers_seen=%u\n", (double)e->duration / 1e6, e->peers_seen);
    return;
  }
  char peer[VIGIL__LOG_QUOTED(VIGIL_PNAME_MAX)], dc[VIGIL__LOG_QUOTED(VIGIL_NAME_MAX)],
      rack[VIGIL__LOG_QUOTED(VIGIL_NAME_MAX)];
  char p0[VIGIL_PNAME_MAX], d0[VIGIL_NAME_MAX], r0[VIGIL_NAME_MAX];
  vigil__copy(p0, sizeof p0, e->peer);
  vigil__copy(d0, sizeof d0, e->dc);
  vigil__copy(r0, sizeof r0, e->rack);
  vigil__buf_printf(b, " peer=%s dc=%s rack=%s", vigil__log_quote(peer, sizeof peer, p0),
                    vigil__log_quote(dc, sizeof dc, d0), vigil__log_quote(rack, sizeof rack, r0));
  if (e->type == VIGIL_EVENT_PEER_UP || e->type == VIGIL_EVENT_PEER_DOWN)
    vigil__buf_printf(b, " from=%s to=%s phi=%.3f cause=%s", vigil_state_name(e->previous), vigil_state_name(e->state),
                      isfinite(e->phi) ? e->phi : 0.0, vigil_cause_name(e->cause));
  const char *reason = e->type == VIGIL_EVENT_PEER_UP ? vigil_up_reason_name(e->reason) : "";
  if (*reason) vigil__buf_printf(b, " reason=%s", reason);
  vigil__buf_puts(b, "\n");
}

/* What a reader that missed events is told before the next one it gets. */
static void api__lagged_line(vigil__buf *b, bool json, uint64_t missed, const char *ts) {
  if (json)
    vigil__buf_printf(b, "{\"type\":\"lagged\",\"ts\":\"%s\",\"missed\":%llu}\n", ts, (unsigned long long)missed);
  else
    vigil__buf_printf(b, "ts=%s level=warn msg=\"monitor reader lagged\" event=lagged missed=%llu\n", ts,
                      (unsigned long long)missed);
}

void vigil__api_monitor_event(vigil__agent *a, const vigil_event *e) {
  if (!a->http.streams || e->type == VIGIL_EVENT_LAGGED) return; /* lagged is a subscriber's, not the sink's */
  bool round = e->type == VIGIL_EVENT_GOSSIP_ROUND;
  char ts[32] = "";
  vigil__buf line[2] = {{NULL, 0, 0, false}, {NULL, 0, 0, false}}; /* [0] logfmt, [1] JSON: made when needed */
  for (int i = 0; i < VIGIL__HTTP_STREAMS_MAX; i++) {
    struct vigil__monitor *m = &a->monitors[i];
    if (!m->s || (round && !(m->flags & VIGIL__MONITOR_ALL))) continue;
    int f = m->flags & VIGIL__MONITOR_JSON ? 1 : 0;
    if (!ts[0]) api__ts(ts, sizeof ts);
    if (!line[f].data && !line[f].failed) {
      if (f)
        api__event_json(&line[f], e, ts);
      else
        api__event_logfmt(&line[f], e, ts);
    }
    int rc = VIGIL_ENOMEM;
    if (!line[f].failed && !m->missed) {
      rc = vigil__http_stream_write(m->s, line[f].data, line[f].len);
    } else if (!line[f].failed) { /* lagged first, then the event: both or neither */
      vigil__buf both = {NULL, 0, 0, false};
      api__lagged_line(&both, f, m->missed, ts);
      vigil__buf_puts(&both, line[f].data);
      if (!both.failed) rc = vigil__http_stream_write(m->s, both.data, both.len);
      free(both.data);
    }
    if (rc == VIGIL_OK) {
      m->missed = 0;
    } else if (m->s) { /* still open (a failed write closes it): it missed this one */
      m->missed++;
      a->monitor_dropped++;
    }
  }
  free(line[0].data);
  free(line[1].data);
}

void vigil__api_route(void *ud, const vigil__http_request *req, vigil__http_response *r) {
  vigil__agent *a = ud;
  vigil_time now = uv_hrtime();
  const char *method = req->method, *path = req->path, *query = req->query;
  if (strncmp(path, "/v1/keys", 8) == 0 && (path[8] == '\0' || path[8] == '/')) {
    api__keys(a, req, r); /* the keyring at runtime */
    return;
  }
  if (strcmp(path, "/v1/reload") == 0) {
    vigil__buf b = {NULL, 0, 0, false};
    r->type = "application/json";
    if (strcmp(method, "POST") != 0) {
      vigil__buf_puts(&b, "{\"error\":\"use POST\"}\n");
      r->status = 405;
    } else if (!api__may_mutate(a, req, r)) {
      return;
    } else if (!a->bridge) {
      vigil__buf_puts(&b, "{\"error\":\"this agent runs no policy\"}\n");
      r->status = 409;
    } else {
      vigil_bridge_request(a->bridge, true, false);
      vigil__logf(VIGIL_LOG_INFO, "policy reload requested", "by=http from=%s", req->peer);
      vigil__buf_puts(&b, "{\"status\":\"reload requested\"}\n");
      r->status = 202;
    }
    r->body = b.data;
    r->len = b.len;
    return;
  }
  if (strcmp(path, "/v1/join") == 0 || strcmp(path, "/v1/leave") == 0 || strcmp(path, "/v1/force-leave") == 0) {
    if (strcmp(method, "POST") != 0) {
      api__fail(r, 405, "use POST");
      r->headers = "Allow: POST\r\n";
    } else if (api__may_mutate(a, req, r)) {
      if (path[4] == 'j')
        api__join(a, req, r, now);
      else if (path[4] == 'l')
        api__leave(a, req, r);
      else
        api__force_leave(a, req, r, now);
    }
    return;
  }
  if (strcmp(path, "/v1/monitor") == 0) {
    api__monitor(a, req, r);
    return;
  }
  if (strcmp(path, "/metrics") == 0) {
    api__metrics(a, now, r);
    return;
  }
  vigil__buf b = {NULL, 0, 0, false};
  int status = 200;
  if (strcmp(path, "/v1/members") == 0) {
    if (strstr(query, "format=text")) {
      api__members_text(a, now, &b);
      r->type = "text/plain; charset=utf-8";
    } else {
      api__members_json(a, now, &b);
      r->type = "application/json";
    }
  } else if (strcmp(path, "/health") == 0) {
    status = api__health(a, now, &b);
    r->type = "application/json";
  } else if (strcmp(path, "/v1/info") == 0) {
    if (strstr(query, "format=text")) {
      api__info_text(a, now, &b);
      r->type = "text/plain; charset=utf-8";
    } else {
      api__info_json(a, now, &b);
      r->type = "application/json";
    }
  } else {
    return; /* 404 */
  }
  if (b.failed) {
    free(b.data);
    r->status = 503;
    return;
  }
  r->status = status;
  r->body = b.data;
  r->len = b.len;
}
