/*
 * api.c - the agent's HTTP API: what /metrics, /v1/members, /health and
 * POST /v1/reload answer.
 *
 * Owns: rendering the node's state (members as JSON or a table, health,
 * Prometheus text with the runtime's own counters appended) and the reload
 * request. http.c carries the bytes; this file decides what they say.
 *
 * Must never: change a peer (the API reads; only the node decides), or
 * emit text a client could misparse: JSON strings are escaped, numbers
 * that are not finite are null.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    vigil__buf_printf(b, ",\"generation\":%llu,\"version\":%llu,\"is_local\":%s,\"tokens\":[", (unsigned long long)gen,
                      (unsigned long long)ver, p->is_local ? "true" : "false");
    for (uint32_t k = 0; k < p->ntokens; k++) {
      char tok[VIGIL_TOKEN_STRLEN];
      vigil_token_format(&p->tokens[k], tok, sizeof tok);
      vigil__buf_printf(b, "%s\"%s\"", k ? "," : "", tok);
    }
    vigil__buf_puts(b, "]}");
  }
  vigil__buf_puts(b, "]}\n");
}

static void api__members_text(vigil__agent *a, vigil_time now, vigil__buf *b) {
  vigil__buf_printf(b, "%-24s %-10s %-10s %-8s %9s %11s %s\n", "PEER", "DC", "RACK", "STATE", "PHI", "LAST HEARD",
                    "GENERATION");
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
    if (!p->is_local) snprintf(phi, sizeof phi, "%.2f", vigil_handler_phi(vigil_node_handler(a->node), i, now));
    vigil__buf_printf(b, "%-24s %-10s %-10s %-8s %9s %11s %llu\n", p->pname, p->dc, p->rack, vigil_state_name(p->state),
                      phi, last, (unsigned long long)gen);
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

/* The policy's counters, appended to /metrics. */
static void api__policy_metrics(vigil__agent *a, vigil__buf *b) {
  if (!a->bridge) return;
  vigil_policy_status st;
  vigil_bridge_status(a->bridge, &st);
  vigil__buf_puts(b, "# HELP policy_errors_total Policy handlers that raised an error, by event.\n"
                     "# TYPE policy_errors_total counter\n");
  for (int k = 0; k < VIGIL_POLICY_KINDS; k++)
    vigil__buf_printf(b, "policy_errors_total{event=\"%s\"} %llu\n", vigil_policy_kind_name(k),
                      (unsigned long long)st.errors[k]);
  vigil__buf_puts(b, "# HELP policy_interrupted_total Policy handlers stopped at their time budget, by event.\n"
                     "# TYPE policy_interrupted_total counter\n");
  for (int k = 0; k < VIGIL_POLICY_KINDS; k++)
    vigil__buf_printf(b, "policy_interrupted_total{event=\"%s\"} %llu\n", vigil_policy_kind_name(k),
                      (unsigned long long)st.interrupted[k]);
  vigil__buf_printf(b,
                    "# HELP policy_reloads_total Policy loads, by result.\n# TYPE policy_reloads_total counter\n"
                    "policy_reloads_total{result=\"ok\"} %llu\npolicy_reloads_total{result=\"error\"} %llu\n",
                    (unsigned long long)st.reloads_ok, (unsigned long long)st.reloads_failed);
  vigil__buf_printf(b,
                    "# HELP policy_events_total Events handed to the policy.\n# TYPE policy_events_total counter\n"
                    "policy_events_total %llu\n"
                    "# HELP policy_events_lagged_total Events lost because the policy fell behind.\n"
                    "# TYPE policy_events_lagged_total counter\npolicy_events_lagged_total %llu\n",
                    (unsigned long long)st.delivered, (unsigned long long)st.lagged);
  vigil__buf_printf(b,
                    "# HELP policy_exec_total Commands the policy ran, by result.\n# TYPE policy_exec_total counter\n"
                    "policy_exec_total{result=\"ok\"} %llu\npolicy_exec_total{result=\"failed\"} %llu\n"
                    "policy_exec_total{result=\"timeout\"} %llu\npolicy_exec_total{result=\"rejected\"} %llu\n",
                    (unsigned long long)st.exec_ok, (unsigned long long)st.exec_failed,
                    (unsigned long long)st.exec_timeout, (unsigned long long)st.exec_rejected);
  vigil__buf_printf(b,
                    "# HELP policy_generation Policy generations loaded successfully.\n"
                    "# TYPE policy_generation gauge\npolicy_generation %llu\n",
                    (unsigned long long)st.generation);
}

static void api__metrics(vigil__agent *a, vigil_time now, vigil__http_response *r) {
  size_t len;
  char *text = vigil_node_render_metrics(a->node, now, &len);
  if (!text) {
    r->status = 503;
    return;
  }
  vigil__buf b = {text, len, len + 1, false};
  static const char *const classes[4] = {"1xx", "2xx", "4xx", "5xx"};
  vigil__buf_puts(&b, "# HELP http_requests_total HTTP requests answered, by status class.\n"
                      "# TYPE http_requests_total counter\n");
  for (int i = 1; i < 4; i++)
    vigil__buf_printf(&b, "http_requests_total{code=\"%s\"} %llu\n", classes[i],
                      (unsigned long long)a->http.requests[i]);
  const uint64_t *rej = a->http.rejected;
  vigil__buf_printf(&b,
                    "# HELP http_connections_refused_total Connections turned away (too many open, in all or "
                    "from one address): http_connections_rejected_total's full + per_address.\n"
                    "# TYPE http_connections_refused_total counter\nhttp_connections_refused_total %llu\n",
                    (unsigned long long)(rej[VIGIL__HTTP_REJECT_FULL] + rej[VIGIL__HTTP_REJECT_PER_ADDRESS]));
  vigil__buf_puts(&b, "# HELP http_connections_rejected_total Connections turned away or cut short, by reason: "
                      "full, per_address (refused), evicted (for an address holding fewer), header_timeout "
                      "(request not complete in time), timeout (response not taken in time).\n"
                      "# TYPE http_connections_rejected_total counter\n");
  for (int i = 0; i < VIGIL__HTTP_REJECT_KINDS; i++)
    vigil__buf_printf(&b, "http_connections_rejected_total{reason=\"%s\"} %llu\n", vigil__http_reject_name(i),
                      (unsigned long long)rej[i]);
  vigil__buf_puts(&b, "# HELP http_mutations_refused_total Requests to mutating endpoints refused, by reason: "
                      "loopback_only (no token configured), missing_token, wrong_token.\n"
                      "# TYPE http_mutations_refused_total counter\n");
  for (int i = 1; i < VIGIL__HTTP_AUTH_KINDS; i++)
    vigil__buf_printf(&b, "http_mutations_refused_total{reason=\"%s\"} %llu\n", vigil__http_auth_name(i),
                      (unsigned long long)a->http.mutations_refused[i]);
  vigil__buf_printf(&b,
                    "# HELP frames_unsendable_total Frames for peers whose pname is not an IP address.\n"
                    "# TYPE frames_unsendable_total counter\nframes_unsendable_total %llu\n",
                    (unsigned long long)a->send_unresolvable);
  vigil__buf_printf(&b,
                    "# HELP icmp_errors_total ICMP errors for datagrams this agent sent, by kind: refused by a "
                    "known peer's host (port unreachable), refused by an address no peer has, other.\n"
                    "# TYPE icmp_errors_total counter\n"
                    "icmp_errors_total{kind=\"refused_peer\"} %llu\nicmp_errors_total{kind=\"refused_unknown\"} "
                    "%llu\nicmp_errors_total{kind=\"other\"} %llu\n",
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

void vigil__api_route(void *ud, const vigil__http_request *req, vigil__http_response *r) {
  vigil__agent *a = ud;
  vigil_time now = uv_hrtime();
  const char *method = req->method, *path = req->path, *query = req->query;
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
