/*
 * lua_core.c - `vigil.core`, the LuaJIT binding of libvigil.
 *
 * Owns: the translation between Lua values and the core's C types. Times
 * and durations are seconds (a double) on the Lua side and nanoseconds
 * (uint64) in C; states and events are lower-case strings; peers are
 * plain tables (snapshots, never live pointers).
 *
 * Must never: keep a C pointer into the pool across calls (peer arrays
 * move), or let a Lua error escape with C state half changed: every
 * argument is checked before the core is touched.
 *
 * core.sim wraps the cluster simulator (vigil_sim.h) for vigil.testing:
 * agents are numbered from 1 on the Lua side, from 0 in C.
 *
 * Lifetimes: a handler keeps its pool alive, a subscription keeps its
 * handler alive (through the userdata environment), so Lua's collector can
 * never free something the core still points to.
 *
 * Loadable by plain `luajit` with package.cpath set to "<build>/lib/?.so".
 */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "vigil.h"
#include "vigil_sim.h"
#include "lua_event.h"

#define DETECTOR_MT "vigil.detector"
#define POOL_MT     "vigil.pool"
#define HANDLER_MT  "vigil.handler"
#define SUB_MT      "vigil.subscription"
#define SIM_MT      "vigil.sim"

/* Largest time accepted from Lua: ~584 years in ns fits uint64; keep a
 * round margin. */
#define MAX_SECONDS 1.0e10

typedef struct ldetector {
  vigil_detector_config cfg; /* the detector points here; userdata never moves */
  vigil_detector d;
  bool live;
} ldetector;

typedef struct lpool {
  vigil_pool *pool;
  vigil_ring ring;
} lpool;

typedef struct lhandler {
  vigil_handler *h;
  vigil_events *ev;
  vigil_metrics *m;
  vigil_time latest; /* the latest time the handler was given */
} lhandler;

typedef struct lsub {
  vigil_subscription sub;
} lsub;

/* luaL_argerror with a formatted message: "bad argument #2 to 'add' (...)",
 * with the argument number and name adjusted for methods as Lua does. */
static int argfail(lua_State *L, int arg, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const char *msg = lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return luaL_argerror(L, arg, msg);
}

/* ---- argument helpers --------------------------------------------------- */

static vigil_time seconds_to_ns(lua_State *L, int arg, double s, const char *what) {
  if (!(s >= 0) || !(s <= MAX_SECONDS)) {
    lua_pushfstring(L, "%s must be a finite number of seconds >= 0", what);
    luaL_argerror(L, arg, lua_tostring(L, -1));
  }
  return (vigil_time)llround(s * 1e9);
}

static vigil_time check_time(lua_State *L, int arg) { return seconds_to_ns(L, arg, luaL_checknumber(L, arg), "time"); }

static double ns_to_seconds(vigil_time t) { return (double)t / 1e9; }

/* Read option `key` of the table at `arg` if present, with its type checked.
 * Returns 0 when absent. */
static int opt_field(lua_State *L, int idx, int arg, const char *key, int type) {
  lua_getfield(L, idx, key);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  if (lua_type(L, -1) != type)
    return argfail(L, arg, "option '%s': %s expected, got %s", key, lua_typename(L, type), luaL_typename(L, -1));
  return 1;
}

/* A tags table {key = "value", ...} at idx as a canonical set in out
 * (tags.c); raises naming the tag that is wrong. Numbers are values too
 * (shard = 7). */
static void check_tags(lua_State *L, int arg, int idx, char out[VIGIL_TAGS_TEXT]) {
  char text[VIGIL_TAGS_MAX * (VIGIL_TAG_KEY_MAX + VIGIL_TAG_VALUE_MAX + 2) + 1];
  size_t n = 0;
  int count = 0;
  if (lua_type(L, idx) != LUA_TTABLE) argfail(L, arg, "tags must be a table of key = \"value\"");
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int vt = lua_type(L, -1);
    if (lua_type(L, -2) != LUA_TSTRING || (vt != LUA_TSTRING && vt != LUA_TNUMBER))
      argfail(L, arg, "tags must be a table of key = \"value\", got a %s = %s", luaL_typename(L, -2),
              luaL_typename(L, -1));
    size_t kl, vl;
    const char *k = lua_tolstring(L, -2, &kl);
    lua_pushvalue(L, -1); /* converting a number in place would confuse lua_next: convert a copy */
    const char *v = lua_tolstring(L, -1, &vl);
    if (++count > VIGIL_TAGS_MAX) argfail(L, arg, "at most %d tags", VIGIL_TAGS_MAX);
    if (!vigil_tag_key_valid(k, kl))
      argfail(L, arg, "tag key '%s': 1 to 32 of a-z, 0-9 and '_', starting with a letter", k);
    if (!vigil_tag_value_valid(v, vl))
      argfail(L, arg,
              "tag %s = '%s': a value is 0 to 63 of A-Z, a-z, 0-9, '.', '_', ':', '@', '+' and '-', not "
              "starting with '-'",
              k, v);
    memcpy(text + n, k, kl);
    n += kl;
    text[n++] = '=';
    memcpy(text + n, v, vl);
    n += vl;
    text[n++] = ',';
    lua_pop(L, 2);
  }
  text[n] = '\0';
  const char *why = NULL;
  if (vigil_tags_parse(text, out, &why) != VIGIL_OK) argfail(L, arg, "tags: %s", why ? why : "bad tags");
}

/* Reject keys that are not in `known` (NULL-terminated): typos in an
 * options table must not pass silently. */
static void check_keys(lua_State *L, int idx, int arg, const char *const *known) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    bool ok = false;
    if (lua_type(L, -1) == LUA_TSTRING)
      for (const char *const *k = known; *k; k++) ok = ok || strcmp(*k, lua_tostring(L, -1)) == 0;
    if (!ok) {
      const char *name = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1);
      argfail(L, arg, "unknown option '%s'", name);
    }
  }
}

static double opt_seconds(lua_State *L, int idx, int arg, const char *key, vigil_time *out) {
  if (!opt_field(L, idx, arg, key, LUA_TNUMBER)) return 0;
  double s = lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (!(s >= 0) || !(s <= MAX_SECONDS)) argfail(L, arg, "option '%s' must be a finite number of seconds >= 0", key);
  *out = (vigil_time)llround(s * 1e9);
  return 1;
}

static const char *const detector_keys[] = {"model",       "threshold",        "max_samples",
                                            "min_std_dev", "acceptable_pause", "first_estimate",
                                            "min_mean",    "refused",          NULL};

/* refused = true | false, when present. */
static void opt_refused(lua_State *L, int idx, int arg, bool *out) {
  if (!opt_field(L, idx, arg, "refused", LUA_TBOOLEAN)) return;
  *out = lua_toboolean(L, -1);
  lua_pop(L, 1);
}

/* Fill a detector config from the options table at `arg` (absent = defaults). */
static void read_detector_config(lua_State *L, int idx, int arg, vigil_detector_config *cfg) {
  vigil_detector_config_init(cfg);
  if (lua_isnoneornil(L, idx)) return;
  if (lua_type(L, idx) != LUA_TTABLE)
    argfail(L, arg, "detector options must be a table, got %s", luaL_typename(L, idx));
  check_keys(L, idx, arg, detector_keys);
  if (opt_field(L, idx, arg, "model", LUA_TSTRING)) {
    const char *m = lua_tostring(L, -1);
    if (strcmp(m, "normal") == 0)
      cfg->model = VIGIL_MODEL_NORMAL;
    else if (strcmp(m, "exponential") == 0)
      cfg->model = VIGIL_MODEL_EXPONENTIAL;
    else
      argfail(L, arg, "option 'model' must be \"normal\" or \"exponential\", got \"%s\"", m);
    lua_pop(L, 1);
  }
  if (opt_field(L, idx, arg, "threshold", LUA_TNUMBER)) {
    cfg->threshold = lua_tonumber(L, -1);
    lua_pop(L, 1);
  }
  if (opt_field(L, idx, arg, "max_samples", LUA_TNUMBER)) {
    double n = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (!(n >= 1) || n > VIGIL_MAX_SAMPLES_LIMIT || n != floor(n))
      argfail(L, arg, "option 'max_samples' must be an integer from 1 to %d", (int)VIGIL_MAX_SAMPLES_LIMIT);
    cfg->max_samples = (uint32_t)n;
  }
  opt_seconds(L, idx, arg, "min_std_dev", &cfg->min_std_dev);
  opt_seconds(L, idx, arg, "acceptable_pause", &cfg->acceptable_pause);
  opt_seconds(L, idx, arg, "first_estimate", &cfg->first_estimate);
  opt_seconds(L, idx, arg, "min_mean", &cfg->min_mean);
  opt_refused(L, idx, arg, &cfg->refused);
  const char *why = NULL;
  if (vigil_detector_config_check(cfg, &why) != VIGIL_OK) argfail(L, arg, "%s", why);
}

/* ---- core.phi ------------------------------------------------------------ */

static int l_phi(lua_State *L) {
  double t = luaL_checknumber(L, 1);
  double mean = luaL_checknumber(L, 2);
  double sd = luaL_checknumber(L, 3);
  if (!(sd > 0)) luaL_argerror(L, 3, "standard deviation must be > 0");
  lua_pushnumber(L, vigil_phi_normal(t, mean, sd));
  return 1;
}

/* ---- core.detector -------------------------------------------------------- */

static ldetector *check_detector(lua_State *L) { return luaL_checkudata(L, 1, DETECTOR_MT); }

static int l_detector(lua_State *L) {
  vigil_detector_config cfg;
  read_detector_config(L, 1, 1, &cfg);
  ldetector *ud = lua_newuserdata(L, sizeof *ud);
  memset(ud, 0, sizeof *ud);
  ud->cfg = cfg;
  luaL_getmetatable(L, DETECTOR_MT);
  lua_setmetatable(L, -2);
  if (vigil_detector_init(&ud->d, &ud->cfg) != VIGIL_OK) return luaL_error(L, "detector: out of memory");
  ud->live = true;
  return 1;
}

static int l_detector_gc(lua_State *L) {
  ldetector *ud = check_detector(L);
  if (ud->live) vigil_detector_free(&ud->d);
  ud->live = false;
  return 0;
}

static int l_detector_heartbeat(lua_State *L) {
  ldetector *ud = check_detector(L);
  vigil_detector_heartbeat(&ud->d, check_time(L, 2));
  return 0;
}

static int l_detector_phi(lua_State *L) {
  ldetector *ud = check_detector(L);
  lua_pushnumber(L, vigil_detector_phi(&ud->d, check_time(L, 2)));
  return 1;
}

static int l_detector_is_available(lua_State *L) {
  ldetector *ud = check_detector(L);
  lua_pushboolean(L, vigil_detector_is_available(&ud->d, check_time(L, 2)));
  return 1;
}

static int l_detector_is_monitoring(lua_State *L) {
  lua_pushboolean(L, vigil_detector_is_monitoring(&check_detector(L)->d));
  return 1;
}

static int l_detector_reset(lua_State *L) {
  vigil_detector_reset(&check_detector(L)->d);
  return 0;
}

static int l_detector_mean(lua_State *L) {
  lua_pushnumber(L, vigil_detector_mean(&check_detector(L)->d) / 1e9);
  return 1;
}

static int l_detector_variance(lua_State *L) {
  lua_pushnumber(L, vigil_detector_variance(&check_detector(L)->d) / 1e18);
  return 1;
}

static int l_detector_samples(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)vigil_detector_samples(&check_detector(L)->d));
  return 1;
}

static int l_detector_threshold(lua_State *L) {
  lua_pushnumber(L, check_detector(L)->cfg.threshold);
  return 1;
}

static int l_detector_tostring(lua_State *L) {
  ldetector *ud = check_detector(L);
  lua_pushfstring(L, "vigil.detector(%s, %d samples)", ud->cfg.model == VIGIL_MODEL_NORMAL ? "normal" : "exponential",
                  (int)ud->d.len);
  return 1;
}

static const luaL_Reg detector_methods[] = {
    {"heartbeat", l_detector_heartbeat},
    {"phi", l_detector_phi},
    {"is_available", l_detector_is_available},
    {"is_monitoring", l_detector_is_monitoring},
    {"reset", l_detector_reset},
    {"mean", l_detector_mean},
    {"variance", l_detector_variance},
    {"samples", l_detector_samples},
    {"threshold", l_detector_threshold},
    {NULL, NULL},
};

/* ---- core.pool ------------------------------------------------------------ */

static lpool *check_pool_at(lua_State *L, int arg) {
  lpool *ud = luaL_checkudata(L, arg, POOL_MT);
  if (!ud->pool) luaL_argerror(L, arg, "pool is closed");
  return ud;
}

static void push_state(lua_State *L, vigil_peer_state s) { lua_pushstring(L, vigil_state_name(s)); }

/* A snapshot table of one peer. */
static void push_peer(lua_State *L, const vigil_pool *pool, const vigil_peer *p) {
  lua_createtable(L, 0, 17);
  lua_pushinteger(L, p->idx);
  lua_setfield(L, -2, "idx");
  lua_pushstring(L, p->pname);
  lua_setfield(L, -2, "pname");
  lua_pushlstring(L, p->pname, p->host_len);
  lua_setfield(L, -2, "host");
  lua_pushinteger(L, p->port);
  lua_setfield(L, -2, "port");
  lua_pushstring(L, p->dc);
  lua_setfield(L, -2, "dc");
  lua_pushstring(L, p->rack);
  lua_setfield(L, -2, "rack");
  vigil_lua_push_tags(L, p->tags, VIGIL_TAGS_TEXT);
  lua_setfield(L, -2, "tags");
  push_state(L, p->state);
  lua_setfield(L, -2, "state");
  lua_pushnumber(L, ns_to_seconds(p->since));
  lua_setfield(L, -2, "since");
  lua_pushboolean(L, p->is_local);
  lua_setfield(L, -2, "is_local");
  lua_pushboolean(L, p->is_same_dc);
  lua_setfield(L, -2, "is_same_dc");
  lua_pushboolean(L, p->is_secure);
  lua_setfield(L, -2, "is_secure");
  lua_pushnumber(L, (double)p->heartbeats);
  lua_setfield(L, -2, "heartbeats");
  if (!p->is_local && vigil_detector_is_monitoring(&p->detector)) {
    lua_pushnumber(L, ns_to_seconds(p->detector.last));
    lua_setfield(L, -2, "last_heartbeat");
  }
  lua_pushnumber(L, vigil_pool_threshold_of(pool, p->idx)); /* its dc's or its own override, else the base */
  lua_setfield(L, -2, "threshold");
  lua_pushnumber(L, ns_to_seconds(vigil_pool_acceptable_pause_of(pool, p->idx))); /* likewise */
  lua_setfield(L, -2, "acceptable_pause");
  if (p->last_cause != VIGIL_CAUSE_NONE) { /* its latest up or down: the evidence, and why it came up */
    lua_pushstring(L, vigil_cause_name((vigil_cause)p->last_cause));
    lua_setfield(L, -2, "cause");
  }
  if (p->state == VIGIL_STATE_NORMAL && p->last_reason != VIGIL_UP_NONE) {
    lua_pushstring(L, vigil_up_reason_name((vigil_up_reason)p->last_reason));
    lua_setfield(L, -2, "reason");
  }
  lua_createtable(L, (int)p->ntokens, 0);
  for (uint32_t i = 0; i < p->ntokens; i++) {
    char buf[VIGIL_TOKEN_STRLEN];
    vigil_token_format(&p->tokens[i], buf, sizeof buf);
    lua_pushstring(L, buf);
    lua_rawseti(L, -2, (int)i + 1);
  }
  lua_setfield(L, -2, "tokens");
}

/* Parse a token given as a non-negative integer number or a decimal string. */
static void check_token(lua_State *L, int arg, int idx, vigil_token *t) {
  int rc;
  if (lua_type(L, idx) == LUA_TNUMBER) {
    double v = lua_tonumber(L, idx);
    if (!(v >= 0) || v > 4294967295.0 || v != floor(v))
      argfail(L, arg, "token %f must be an integer from 0 to 4294967295; use a string for larger", v);
    vigil_token_from_u32(t, (uint32_t)v);
    return;
  }
  if (lua_type(L, idx) != LUA_TSTRING)
    argfail(L, arg, "token must be a decimal string or integer, got %s", luaL_typename(L, idx));
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  rc = vigil_token_parse(t, s, len);
  if (rc == VIGIL_ERANGE) argfail(L, arg, "token '%s' is larger than 2^128-1", s);
  if (rc) argfail(L, arg, "token '%s' is not a decimal number", s);
}

static const char *const peer_keys[] = {"pname", "dc", "rack", "tokens", "is_local", "is_secure", NULL};

/* Read a peer spec table at stack index `idx`; tokens go into `toks`. */
static void read_peer_spec(lua_State *L, int arg, int idx, vigil_peer_spec *s, vigil_token *toks) {
  memset(s, 0, sizeof *s);
  if (lua_type(L, idx) != LUA_TTABLE) argfail(L, arg, "peer must be a table, got %s", luaL_typename(L, idx));
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    bool ok = false;
    if (lua_type(L, -1) == LUA_TSTRING)
      for (const char *const *k = peer_keys; *k; k++) ok = ok || strcmp(*k, lua_tostring(L, -1)) == 0;
    if (!ok) argfail(L, arg, "unknown peer field '%s'", lua_tostring(L, -1));
  }
  lua_getfield(L, idx, "pname");
  if (lua_type(L, -1) != LUA_TSTRING) argfail(L, arg, "peer.pname must be a \"host:port\" string");
  s->pname = lua_tostring(L, -1); /* kept alive by the spec table */
  lua_pop(L, 1);
  lua_getfield(L, idx, "dc");
  if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING) argfail(L, arg, "peer.dc must be a string");
  s->dc = lua_tostring(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, idx, "rack");
  if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING) argfail(L, arg, "peer.rack must be a string");
  s->rack = lua_tostring(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, idx, "is_local");
  s->is_local = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, idx, "is_secure");
  s->is_secure = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, idx, "tokens");
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TTABLE) argfail(L, arg, "peer.tokens must be a list");
    int n = (int)lua_objlen(L, -1);
    if (n > VIGIL_TOKENS_MAX) argfail(L, arg, "a peer owns at most %d tokens", VIGIL_TOKENS_MAX);
    for (int i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      check_token(L, arg, lua_gettop(L), &toks[i - 1]);
      lua_pop(L, 1);
    }
    s->tokens = toks;
    s->ntokens = (uint32_t)n;
  }
  lua_pop(L, 1);
}

static int add_error(lua_State *L, int arg, const char *pname, int rc) {
  const char *why = rc == VIGIL_EINVAL         ? "is not a valid \"host:port\", or is a second local peer"
                    : rc == VIGIL_EEXIST       ? "is already in the pool"
                    : rc == VIGIL_ENAMETOOLONG ? "has a pname, dc or rack that is too long"
                                               : vigil_strerror(rc);
  return argfail(L, arg, "peer '%s' %s", pname ? pname : "?", why);
}

static const char *const pool_keys[] = {"dc", "detector", "peers", "capacity", NULL};

static int l_pool(lua_State *L) {
  vigil_pool_config cfg;
  vigil_pool_config_init(&cfg);
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    check_keys(L, 1, 1, pool_keys);
    if (opt_field(L, 1, 1, "dc", LUA_TSTRING)) {
      cfg.dc = lua_tostring(L, -1);
      lua_pop(L, 1);
    }
    lua_getfield(L, 1, "detector");
    read_detector_config(L, lua_gettop(L), 1, &cfg.detector);
    lua_pop(L, 1);
  }
  lua_settop(L, 1);
  const char *why = "out of memory";
  lpool *ud = lua_newuserdata(L, sizeof *ud);
  memset(ud, 0, sizeof *ud);
  vigil_ring_init(&ud->ring);
  luaL_getmetatable(L, POOL_MT);
  lua_setmetatable(L, -2);
  if (cfg.dc && strlen(cfg.dc) >= VIGIL_NAME_MAX) return luaL_argerror(L, 1, "option 'dc' is longer than 47 bytes");
  ud->pool = vigil_pool_new(&cfg, &why);
  if (!ud->pool) return luaL_error(L, "pool: %s", why);
  if (!lua_isnoneornil(L, 1)) {
    lua_getfield(L, 1, "peers");
    if (!lua_isnil(L, -1)) {
      if (lua_type(L, -1) != LUA_TTABLE) return luaL_argerror(L, 1, "option 'peers' must be a list of peer tables");
      int n = (int)lua_objlen(L, -1);
      for (int i = 1; i <= n; i++) {
        vigil_token toks[VIGIL_TOKENS_MAX];
        vigil_peer_spec s;
        lua_rawgeti(L, -1, i);
        read_peer_spec(L, 1, lua_gettop(L), &s, toks);
        int rc = vigil_pool_add(ud->pool, &s, 0, NULL);
        if (rc) return add_error(L, 1, s.pname, rc);
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  return 1;
}

static int l_pool_gc(lua_State *L) {
  lpool *ud = luaL_checkudata(L, 1, POOL_MT);
  vigil_pool_free(ud->pool);
  vigil_ring_free(&ud->ring);
  ud->pool = NULL;
  return 0;
}

static int l_pool_add(lua_State *L) {
  lpool *ud = check_pool_at(L, 1);
  vigil_token toks[VIGIL_TOKENS_MAX];
  vigil_peer_spec s;
  read_peer_spec(L, 2, 2, &s, toks);
  vigil_time now = lua_isnoneornil(L, 3) ? 0 : check_time(L, 3);
  uint32_t idx;
  int rc = vigil_pool_add(ud->pool, &s, now, &idx);
  if (rc) return add_error(L, 2, s.pname, rc);
  lua_pushinteger(L, idx);
  return 1;
}

static int l_pool_remove(lua_State *L) {
  lpool *ud = check_pool_at(L, 1);
  lua_pushboolean(L, vigil_pool_remove(ud->pool, luaL_checkstring(L, 2)) == VIGIL_OK);
  return 1;
}

static int l_pool_peer(lua_State *L) {
  lpool *ud = check_pool_at(L, 1);
  const vigil_peer *p = lua_type(L, 2) == LUA_TNUMBER ? vigil_pool_get(ud->pool, (uint32_t)lua_tointeger(L, 2))
                                                      : vigil_pool_find(ud->pool, luaL_checkstring(L, 2));
  if (!p) return 0;
  push_peer(L, ud->pool, p);
  return 1;
}

static int l_pool_peers(lua_State *L) {
  lpool *ud = check_pool_at(L, 1);
  uint32_t slots = vigil_pool_slots(ud->pool);
  lua_createtable(L, (int)vigil_pool_count(ud->pool), 0);
  int n = 0;
  for (uint32_t i = 0; i < slots; i++) {
    const vigil_peer *p = vigil_pool_get(ud->pool, i);
    if (!p) continue;
    push_peer(L, ud->pool, p);
    lua_rawseti(L, -2, ++n);
  }
  return 1;
}

static int l_pool_count(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)vigil_pool_count(check_pool_at(L, 1)->pool));
  return 1;
}

/* pool:owner(token [, state]) -> pname of the owner among peers in `state`
 * (any state when absent), or nil when no peer owns tokens. */
static int l_pool_owner(lua_State *L) {
  lpool *ud = check_pool_at(L, 1);
  vigil_token t;
  check_token(L, 2, 2, &t);
  uint32_t mask = 0;
  if (!lua_isnoneornil(L, 3)) {
    int s = vigil_state_parse(luaL_checkstring(L, 3));
    if (s < 0) return luaL_argerror(L, 3, "unknown state");
    mask = 1u << s;
  }
  if (vigil_ring_build(&ud->ring, ud->pool, mask) != VIGIL_OK) return luaL_error(L, "owner: out of memory");
  int64_t idx = vigil_ring_owner(&ud->ring, &t);
  if (idx < 0) return 0;
  lua_pushstring(L, vigil_pool_get(ud->pool, (uint32_t)idx)->pname);
  return 1;
}

static int l_pool_tostring(lua_State *L) {
  lpool *ud = luaL_checkudata(L, 1, POOL_MT);
  lua_pushfstring(L, "vigil.pool(%d peers)", ud->pool ? (int)vigil_pool_count(ud->pool) : 0);
  return 1;
}

static const luaL_Reg pool_methods[] = {
    {"add", l_pool_add},     {"remove", l_pool_remove}, {"peer", l_pool_peer}, {"peers", l_pool_peers},
    {"count", l_pool_count}, {"owner", l_pool_owner},   {NULL, NULL},
};

/* ---- core.handler ----------------------------------------------------------- */

static lhandler *check_handler(lua_State *L) {
  lhandler *ud = luaL_checkudata(L, 1, HANDLER_MT);
  if (!ud->h) luaL_argerror(L, 1, "handler is closed");
  return ud;
}

/* The time argument at `arg`, or the latest time seen when absent. */
static vigil_time handler_time(lua_State *L, lhandler *ud, int arg) {
  if (lua_isnoneornil(L, arg)) return ud->latest;
  vigil_time t = check_time(L, arg);
  if (t > ud->latest) ud->latest = t;
  return t;
}

static vigil_peer *check_peer(lua_State *L, lhandler *ud, int arg) {
  vigil_pool *pool = vigil_handler_pool(ud->h);
  vigil_peer *p = lua_type(L, arg) == LUA_TNUMBER ? vigil_pool_get(pool, (uint32_t)lua_tointeger(L, arg))
                                                  : vigil_pool_find(pool, luaL_checkstring(L, arg));
  return p;
}

static const char *const handler_keys[] = {"threshold", "interval", "pause_factor", "events", "metrics", NULL};

static int l_handler(lua_State *L) {
  lpool *pool = check_pool_at(L, 1);
  double threshold = -1, interval = -1, factor = -1, events = 1024;
  bool metrics = true;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    check_keys(L, 2, 2, handler_keys);
    if (opt_field(L, 2, 2, "threshold", LUA_TNUMBER)) threshold = lua_tonumber(L, -1), lua_pop(L, 1);
    if (opt_field(L, 2, 2, "interval", LUA_TNUMBER)) interval = lua_tonumber(L, -1), lua_pop(L, 1);
    if (opt_field(L, 2, 2, "pause_factor", LUA_TNUMBER)) factor = lua_tonumber(L, -1), lua_pop(L, 1);
    if (opt_field(L, 2, 2, "events", LUA_TNUMBER)) events = lua_tonumber(L, -1), lua_pop(L, 1);
    if (opt_field(L, 2, 2, "metrics", LUA_TBOOLEAN)) metrics = lua_toboolean(L, -1), lua_pop(L, 1);
  }
  if (threshold != -1 && (!(threshold > 0) || !isfinite(threshold)))
    return luaL_argerror(L, 2, "option 'threshold' must be a finite number > 0");
  if (interval != -1 && (!(interval > 0) || interval > MAX_SECONDS))
    return luaL_argerror(L, 2, "option 'interval' must be a number of seconds > 0");
  if (factor != -1 && (!(factor >= 1) || !isfinite(factor)))
    return luaL_argerror(L, 2, "option 'pause_factor' must be a finite number >= 1");
  if (!(events >= 1) || events > 1048576 || events != floor(events))
    return luaL_argerror(L, 2, "option 'events' must be an integer from 1 to 1048576");

  lhandler *ud = lua_newuserdata(L, sizeof *ud);
  memset(ud, 0, sizeof *ud);
  luaL_getmetatable(L, HANDLER_MT);
  lua_setmetatable(L, -2);
  lua_createtable(L, 1, 0); /* environment: keeps the pool alive */
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, 1);
  lua_setfenv(L, -2);
  ud->h = vigil_handler_new(pool->pool);
  ud->ev = vigil_events_new((uint32_t)events);
  ud->m = metrics ? vigil_metrics_new() : NULL;
  if (!ud->h || !ud->ev || (metrics && !ud->m)) return luaL_error(L, "handler: out of memory");
  vigil_handler_attach_events(ud->h, ud->ev);
  vigil_handler_attach_metrics(ud->h, ud->m);
  if (threshold != -1) vigil_handler_set_threshold(ud->h, threshold);
  if (interval != -1) vigil_handler_set_interval(ud->h, (vigil_time)llround(interval * 1e9));
  if (factor != -1) vigil_handler_set_pause_factor(ud->h, factor);
  return 1;
}

static int l_handler_gc(lua_State *L) {
  lhandler *ud = luaL_checkudata(L, 1, HANDLER_MT);
  vigil_handler_free(ud->h);
  vigil_events_free(ud->ev);
  vigil_metrics_free(ud->m);
  ud->h = NULL;
  ud->ev = NULL;
  ud->m = NULL;
  return 0;
}

static int l_handler_threshold(lua_State *L) {
  lua_pushnumber(L, vigil_handler_threshold(check_handler(L)->h));
  return 1;
}

static int l_handler_set_threshold(lua_State *L) {
  lhandler *ud = check_handler(L);
  if (vigil_handler_set_threshold(ud->h, luaL_checknumber(L, 2)) != VIGIL_OK)
    return luaL_argerror(L, 2, "threshold must be a finite number > 0");
  return 0;
}

static int l_handler_set_interval(lua_State *L) {
  lhandler *ud = check_handler(L);
  vigil_time iv = seconds_to_ns(L, 2, luaL_checknumber(L, 2), "interval");
  if (vigil_handler_set_interval(ud->h, iv) != VIGIL_OK) return luaL_argerror(L, 2, "interval must be > 0");
  return 0;
}

static int l_handler_interval(lua_State *L) {
  lua_pushnumber(L, ns_to_seconds(vigil_handler_interval(check_handler(L)->h)));
  return 1;
}

/* The Lua way to report a recoverable failure: nil and a reason. */
static int push_fail(lua_State *L, int rc) {
  lua_pushnil(L);
  lua_pushstring(L, rc == VIGIL_ENOENT ? "unknown peer" : rc == VIGIL_ELOCAL ? "local peer" : vigil_strerror(rc));
  return 2;
}

/* Returns whether the peer changed state (boolean), or nil and the reason
 * the report was ignored. */
static int push_heartbeat_result(lua_State *L, int rc) {
  if (rc < 0) return push_fail(L, rc);
  lua_pushboolean(L, rc == 1);
  return 1;
}

/* h:<report>(pname [, now]) for a handler call that takes a pname and a time
 * and answers 1 (state changed), 0 or a VIGIL_E* error. */
static int report_pname(lua_State *L, int (*report)(vigil_handler *, const char *, vigil_time)) {
  lhandler *ud = check_handler(L);
  const char *pname = luaL_checkstring(L, 2);
  vigil_time t = handler_time(L, ud, 3);
  return push_heartbeat_result(L, report(ud->h, pname, t));
}

static int l_handler_record_heartbeat(lua_State *L) { return report_pname(L, vigil_handler_record_heartbeat_pname); }

static int l_handler_record_heartbeat_idx(lua_State *L) {
  lhandler *ud = check_handler(L);
  lua_Number idx = luaL_checknumber(L, 2);
  vigil_time t = handler_time(L, ud, 3);
  if (!(idx >= 0) || idx > UINT32_MAX) return push_heartbeat_result(L, VIGIL_ENOENT);
  return push_heartbeat_result(L, vigil_handler_record_heartbeat_idx(ud->h, (uint32_t)idx, t));
}

/* h:refused(pname [, now]): its host refused our datagram. Returns whether
 * the peer went down now, or nil and the reason it was ignored. */
static int l_handler_refused(lua_State *L) { return report_pname(L, vigil_handler_refused_pname); }

/* h:next_due([now]): seconds at which evaluate could next convict someone,
 * or nil when no normal peer can be. */
static int l_handler_next_due(lua_State *L) {
  lhandler *ud = check_handler(L);
  vigil_time due = vigil_handler_next_due(ud->h, handler_time(L, ud, 2));
  if (due == UINT64_MAX) return 0;
  lua_pushnumber(L, ns_to_seconds(due));
  return 1;
}

static int l_handler_evaluate(lua_State *L) {
  lhandler *ud = check_handler(L);
  vigil_time t = handler_time(L, ud, 2);
  const vigil_transition *tr;
  size_t n = vigil_handler_evaluate(ud->h, t, &tr);
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, tr[i].idx);
    lua_setfield(L, -2, "idx");
    lua_pushstring(L, vigil_pool_get(vigil_handler_pool(ud->h), tr[i].idx)->pname);
    lua_setfield(L, -2, "pname");
    push_state(L, tr[i].state);
    lua_setfield(L, -2, "state");
    push_state(L, tr[i].previous);
    lua_setfield(L, -2, "previous");
    lua_pushnumber(L, tr[i].phi);
    lua_setfield(L, -2, "phi");
    lua_rawseti(L, -2, (int)i + 1);
  }
  return 1;
}

/* Results of calls that may find no peer: true, or nil and why. */
static int push_rc(lua_State *L, int rc) {
  if (rc != VIGIL_OK) return push_fail(L, rc);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_handler_mark_down(lua_State *L) {
  lhandler *ud = check_handler(L);
  const char *pname = luaL_checkstring(L, 2);
  return push_rc(L, vigil_handler_mark_down_pname(ud->h, pname, handler_time(L, ud, 3)));
}

static int l_handler_reset_detector(lua_State *L) {
  lhandler *ud = check_handler(L);
  vigil_peer *p = check_peer(L, ud, 2);
  return push_rc(L, p ? vigil_handler_reset_detector(ud->h, p->idx) : VIGIL_ENOENT);
}

static int l_handler_state(lua_State *L) {
  lhandler *ud = check_handler(L);
  vigil_peer *p = check_peer(L, ud, 2);
  if (!p) return push_rc(L, VIGIL_ENOENT);
  push_state(L, p->state);
  return 1;
}

static int l_handler_phi(lua_State *L) {
  lhandler *ud = check_handler(L);
  vigil_peer *p = check_peer(L, ud, 2);
  vigil_time t = handler_time(L, ud, 3);
  if (!p) return push_rc(L, VIGIL_ENOENT);
  lua_pushnumber(L, vigil_handler_phi(ud->h, p->idx, t));
  return 1;
}

static int l_handler_peer(lua_State *L) {
  lhandler *ud = check_handler(L);
  vigil_peer *p = check_peer(L, ud, 2);
  if (!p) return push_rc(L, VIGIL_ENOENT);
  push_peer(L, vigil_handler_pool(ud->h), p);
  lua_pushnumber(L, vigil_handler_phi(ud->h, p->idx, handler_time(L, ud, 3)));
  lua_setfield(L, -2, "phi");
  return 1;
}

static int l_handler_add_peer(lua_State *L) {
  lhandler *ud = check_handler(L);
  vigil_token toks[VIGIL_TOKENS_MAX];
  vigil_peer_spec s;
  read_peer_spec(L, 2, 2, &s, toks);
  uint32_t idx;
  int rc = vigil_handler_add_peer(ud->h, &s, handler_time(L, ud, 3), &idx);
  if (rc) return add_error(L, 2, s.pname, rc);
  lua_pushinteger(L, idx);
  return 1;
}

static int l_handler_remove_peer(lua_State *L) {
  lhandler *ud = check_handler(L);
  return push_rc(L, vigil_handler_remove_peer(ud->h, luaL_checkstring(L, 2)));
}

static int l_handler_peer_left(lua_State *L) {
  lhandler *ud = check_handler(L);
  const char *pname = luaL_checkstring(L, 2);
  return push_rc(L, vigil_handler_peer_left(ud->h, pname, handler_time(L, ud, 3)));
}

static int l_handler_peer_restarted(lua_State *L) {
  lhandler *ud = check_handler(L);
  vigil_peer *p = check_peer(L, ud, 2);
  vigil_time t = handler_time(L, ud, 3);
  return push_rc(L, p ? vigil_handler_peer_restarted(ud->h, p->idx, t) : VIGIL_ENOENT);
}

static int l_handler_gossip_round(lua_State *L) {
  lhandler *ud = check_handler(L);
  vigil_time d = seconds_to_ns(L, 2, luaL_checknumber(L, 2), "duration");
  lua_Number seen = luaL_checknumber(L, 3);
  if (!(seen >= 0) || seen > UINT32_MAX) return luaL_argerror(L, 3, "peers_seen must be a count >= 0");
  vigil_handler_gossip_round(ud->h, d, (uint32_t)seen, handler_time(L, ud, 4));
  return 0;
}

static int l_handler_metrics(lua_State *L) {
  lhandler *ud = check_handler(L);
  size_t len;
  char *s = vigil_handler_render_metrics(ud->h, handler_time(L, ud, 2), &len);
  if (!s) return luaL_error(L, "metrics: out of memory");
  lua_pushlstring(L, s, len);
  free(s);
  return 1;
}

static int l_handler_subscribe(lua_State *L) {
  lhandler *ud = check_handler(L);
  lsub *sub = lua_newuserdata(L, sizeof *sub);
  vigil_events_subscribe(ud->ev, &sub->sub);
  luaL_getmetatable(L, SUB_MT);
  lua_setmetatable(L, -2);
  lua_createtable(L, 1, 0); /* environment: keeps the handler (and events) alive */
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, 1);
  lua_setfenv(L, -2);
  return 1;
}

static int l_handler_pool(lua_State *L) {
  check_handler(L);
  lua_getfenv(L, 1);
  lua_rawgeti(L, -1, 1);
  return 1;
}

/* h:configure{threshold=, model=, min_std_dev=, acceptable_pause=, first_estimate=, min_mean=, refused=}:
 * the given settings replace the pool's, live, for every detector. */
static int l_handler_configure(lua_State *L) {
  lhandler *ud = check_handler(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  vigil_pool *pool = vigil_handler_pool(ud->h);
  vigil_detector_config next = *vigil_pool_detector_config(pool);
  check_keys(L, 2, 2, detector_keys);
  if (opt_field(L, 2, 2, "model", LUA_TSTRING)) {
    const char *m = lua_tostring(L, -1);
    if (strcmp(m, "normal") && strcmp(m, "exponential"))
      argfail(L, 2, "option 'model' must be \"normal\" or \"exponential\"");
    next.model = strcmp(m, "exponential") == 0 ? VIGIL_MODEL_EXPONENTIAL : VIGIL_MODEL_NORMAL;
    lua_pop(L, 1);
  }
  if (opt_field(L, 2, 2, "threshold", LUA_TNUMBER)) {
    next.threshold = lua_tonumber(L, -1);
    lua_pop(L, 1);
  }
  opt_seconds(L, 2, 2, "min_std_dev", &next.min_std_dev);
  opt_seconds(L, 2, 2, "acceptable_pause", &next.acceptable_pause);
  opt_seconds(L, 2, 2, "first_estimate", &next.first_estimate);
  opt_seconds(L, 2, 2, "min_mean", &next.min_mean);
  opt_refused(L, 2, 2, &next.refused);
  const char *why = NULL;
  if (vigil_pool_configure(pool, &next, &why) != VIGIL_OK) argfail(L, 2, "%s", why ? why : "invalid settings");
  return 0;
}

/* h:set_thresholds{[dc or pname] = threshold, ...} (an empty table clears). */
static int l_handler_set_thresholds(lua_State *L) {
  lhandler *ud = check_handler(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  vigil_threshold_override ov[VIGIL_CMD_THRESHOLDS_MAX];
  uint32_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    if (n == VIGIL_CMD_THRESHOLDS_MAX) argfail(L, 2, "at most %d thresholds", VIGIL_CMD_THRESHOLDS_MAX);
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TNUMBER)
      argfail(L, 2, "thresholds are [\"dc or pname\"] = number");
    ov[n].key = lua_tostring(L, -2);
    ov[n].threshold = lua_tonumber(L, -1);
    n++;
    lua_pop(L, 1);
  }
  if (vigil_pool_set_thresholds(vigil_handler_pool(ud->h), ov, n) != VIGIL_OK)
    argfail(L, 2, "every threshold must be a number > 0");
  return 0;
}

/* h:set_acceptable_pauses{[dc or pname] = seconds, ...} (an empty table
 * clears; thresholds set apart stay). */
static int l_handler_set_acceptable_pauses(lua_State *L) {
  lhandler *ud = check_handler(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  vigil_pause_override ov[VIGIL_CMD_THRESHOLDS_MAX];
  uint32_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    if (n == VIGIL_CMD_THRESHOLDS_MAX) argfail(L, 2, "at most %d acceptable pauses", VIGIL_CMD_THRESHOLDS_MAX);
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TNUMBER)
      argfail(L, 2, "acceptable pauses are [\"dc or pname\"] = seconds");
    double v = lua_tonumber(L, -1);
    if (!(v >= 0 && v <= 3600))
      argfail(L, 2, "acceptable pause of '%s' must be 0 to 3600 seconds", lua_tostring(L, -2));
    ov[n].key = lua_tostring(L, -2);
    ov[n].acceptable_pause = (vigil_time)(v * 1e9 + 0.5);
    n++;
    lua_pop(L, 1);
  }
  int rc = vigil_pool_set_acceptable_pauses(vigil_handler_pool(ud->h), ov, n);
  if (rc != VIGIL_OK) argfail(L, 2, "%s", rc == VIGIL_ENOMEM ? "out of memory" : "every key must be a dc or pname");
  return 0;
}

/* h:set_local_state("normal") -- the local peer's own state. */
static int l_handler_set_local_state(lua_State *L) {
  lhandler *ud = check_handler(L);
  int s = vigil_state_parse(luaL_checkstring(L, 2));
  if (s < 0) return argfail(L, 2, "unknown state '%s'", lua_tostring(L, 2));
  return push_rc(L, vigil_handler_set_local_state(ud->h, (vigil_peer_state)s, handler_time(L, ud, 3)));
}

static const luaL_Reg handler_methods[] = {
    {"configure", l_handler_configure},
    {"set_thresholds", l_handler_set_thresholds},
    {"set_acceptable_pauses", l_handler_set_acceptable_pauses},
    {"set_local_state", l_handler_set_local_state},
    {"threshold", l_handler_threshold},
    {"set_threshold", l_handler_set_threshold},
    {"interval", l_handler_interval},
    {"set_interval", l_handler_set_interval},
    {"record_heartbeat", l_handler_record_heartbeat},
    {"record_heartbeat_idx", l_handler_record_heartbeat_idx},
    {"evaluate", l_handler_evaluate},
    {"mark_down", l_handler_mark_down},
    {"refused", l_handler_refused},
    {"next_due", l_handler_next_due},
    {"reset_detector", l_handler_reset_detector},
    {"state", l_handler_state},
    {"phi", l_handler_phi},
    {"peer", l_handler_peer},
    {"add_peer", l_handler_add_peer},
    {"remove_peer", l_handler_remove_peer},
    {"peer_left", l_handler_peer_left},
    {"peer_restarted", l_handler_peer_restarted},
    {"gossip_round", l_handler_gossip_round},
    {"metrics", l_handler_metrics},
    {"subscribe", l_handler_subscribe},
    {"pool", l_handler_pool},
    {NULL, NULL},
};

/* ---- subscriptions ------------------------------------------------------------ */

/* sub:poll([max]) -> list of every event not yet delivered (at most max). */
static int l_sub_poll(lua_State *L) {
  lsub *sub = luaL_checkudata(L, 1, SUB_MT);
  lua_Number max = luaL_optnumber(L, 2, 1e18);
  if (!(max >= 1)) return luaL_argerror(L, 2, "max must be >= 1");
  lua_newtable(L);
  int n = 0;
  vigil_event e;
  while (n < max && vigil_subscription_poll(&sub->sub, &e)) {
    vigil_lua_push_event(L, &e);
    lua_rawseti(L, -2, ++n);
  }
  return 1;
}

static int l_sub_lagged(lua_State *L) {
  lsub *sub = luaL_checkudata(L, 1, SUB_MT);
  lua_pushnumber(L, (double)sub->sub.lagged_total);
  return 1;
}

static const luaL_Reg sub_methods[] = {
    {"poll", l_sub_poll},
    {"lagged", l_sub_lagged},
    {NULL, NULL},
};

/* ---- core.sim ---------------------------------------------------------------------- */

/*
 * core.sim(opts): a whole cluster of real nodes on the simulator's
 * in-memory network, in virtual time (vigil_sim.h). Agents are numbered
 * from 1 on the Lua side (0 in C); times are seconds. Methods that apply a
 * fault answer true, or nil and why when the agent is not in a state the
 * fault applies to; an index that names no agent is a bad argument.
 */

typedef struct lsim {
  vigil_sim *s;
} lsim;

static lsim *check_sim(lua_State *L) {
  lsim *ud = luaL_checkudata(L, 1, SIM_MT);
  if (!ud->s) luaL_argerror(L, 1, "simulation is closed");
  return ud;
}

/* A 1-based agent index at `arg`, checked against the agents there are. */
static uint32_t check_agent(lua_State *L, lsim *ud, int arg) {
  lua_Number i = luaL_checknumber(L, arg);
  uint32_t n = vigil_sim_agents(ud->s);
  if (!(i >= 1) || i > n || i != floor(i)) argfail(L, arg, "no agent %f (agents are 1 to %d)", i, (int)n);
  return (uint32_t)i - 1;
}

/* A fraction 0..1 at `arg`. */
static double check_fraction(lua_State *L, int arg, const char *what) {
  double x = luaL_checknumber(L, arg);
  if (!(x >= 0 && x <= 1)) argfail(L, arg, "%s must be a number from 0 to 1", what);
  return x;
}

/* Read one agent spec (a pname string or {pname=, dc=, rack=, tags=}) at
 * `idx`; its tags go into `tags`, which must outlive the spec. */
static void read_sim_agent(lua_State *L, int arg, int idx, vigil_sim_agent *a, char tags[VIGIL_TAGS_TEXT]) {
  memset(a, 0, sizeof *a);
  if (lua_type(L, idx) == LUA_TSTRING) {
    a->pname = lua_tostring(L, idx);
    return;
  }
  if (lua_type(L, idx) != LUA_TTABLE)
    argfail(L, arg, "an agent must be a pname or {pname=, dc=, rack=, tags=}, got %s", luaL_typename(L, idx));
  static const char *const keys[] = {"pname", "dc", "rack", "tags", NULL};
  check_keys(L, idx, arg, keys);
  if (opt_field(L, idx, arg, "pname", LUA_TSTRING)) {
    a->pname = lua_tostring(L, -1); /* kept alive by the spec table */
    lua_pop(L, 1);
  }
  if (opt_field(L, idx, arg, "dc", LUA_TSTRING)) {
    a->dc = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  if (opt_field(L, idx, arg, "rack", LUA_TSTRING)) {
    a->rack = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  if (opt_field(L, idx, arg, "tags", LUA_TTABLE)) {
    check_tags(L, arg, lua_gettop(L), tags);
    a->tags = tags;
    lua_pop(L, 1);
  }
}

static const char *const sim_keys[] = {
    "agents",      "seeds",   "seed",           "interval",  "tick",        "reap_after",
    "delay",       "jitter",  "start_spread",   "observers", "quorum",      "loss",
    "events",      "backlog", "threshold",      "model",     "min_std_dev", "acceptable_pause",
    "max_samples", "refused", "first_estimate", "min_mean",  NULL};

/* A whole number from lo to hi in option `key`, when present. */
static int opt_count(lua_State *L, int idx, int arg, const char *key, double lo, double hi, double *out) {
  if (!opt_field(L, idx, arg, key, LUA_TNUMBER)) return 0;
  double v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (!(v >= lo && v <= hi) || v != floor(v))
    argfail(L, arg, "option '%s' must be an integer from %.0f to %.0f", key, lo, hi);
  *out = v;
  return 1;
}

static int l_sim(lua_State *L) {
  vigil_sim_config cfg;
  vigil_sim_config_init(&cfg);
  cfg.collect = true;
  lua_settop(L, 1);
  if (lua_isnil(L, 1)) {
    lua_newtable(L);
    lua_replace(L, 1);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  check_keys(L, 1, 1, sim_keys);

  /* agents: a count, or a list of names */
  vigil_sim_agent *names = NULL;
  lua_getfield(L, 1, "agents");
  int agents_idx = lua_gettop(L);
  if (lua_type(L, agents_idx) == LUA_TNUMBER) {
    double n = lua_tonumber(L, agents_idx);
    if (!(n >= 1 && n <= 100000) || n != floor(n)) argfail(L, 1, "option 'agents' must be an integer from 1 to 100000");
    cfg.agents = (uint32_t)n;
  } else if (lua_type(L, agents_idx) == LUA_TTABLE) {
    int n = (int)lua_objlen(L, agents_idx);
    if (n < 1) argfail(L, 1, "option 'agents' must list at least one agent");
    /* userdata, so that a Lua error below frees them */
    names = lua_newuserdata(L, (size_t)n * sizeof *names);
    char(*tags)[VIGIL_TAGS_TEXT] = lua_newuserdata(L, (size_t)n * sizeof *tags);
    for (int i = 1; i <= n; i++) {
      lua_rawgeti(L, agents_idx, i);
      read_sim_agent(L, 1, lua_gettop(L), &names[i - 1], tags[i - 1]);
      lua_pop(L, 1); /* the string or table stays referenced by opts.agents */
    }
    cfg.agents = (uint32_t)n;
    cfg.names = names;
  } else if (!lua_isnil(L, agents_idx)) {
    argfail(L, 1, "option 'agents': number or list expected, got %s", luaL_typename(L, agents_idx));
  } else {
    cfg.agents = 1;
  }

  double v;
  if (opt_count(L, 1, 1, "seeds", 0, cfg.agents, &v)) cfg.seeds = (uint32_t)v;
  if (opt_count(L, 1, 1, "seed", 0, 9007199254740992.0, &v)) cfg.seed = (uint64_t)v;
  if (opt_count(L, 1, 1, "observers", 1, 16, &v)) cfg.observers = (uint32_t)v;
  if (opt_count(L, 1, 1, "quorum", 2, 16, &v)) cfg.quorum = (uint32_t)v;
  if (opt_count(L, 1, 1, "events", 1, 1048576, &v)) cfg.events = (uint32_t)v;
  if (opt_count(L, 1, 1, "backlog", 1, 1048576, &v)) cfg.backlog = (uint32_t)v;
  opt_seconds(L, 1, 1, "interval", &cfg.interval);
  opt_seconds(L, 1, 1, "tick", &cfg.tick);
  opt_seconds(L, 1, 1, "reap_after", &cfg.reap_after);
  opt_seconds(L, 1, 1, "delay", &cfg.delay);
  opt_seconds(L, 1, 1, "jitter", &cfg.jitter);
  opt_seconds(L, 1, 1, "start_spread", &cfg.start_spread);
  if (opt_field(L, 1, 1, "loss", LUA_TNUMBER)) {
    cfg.loss = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (!(cfg.loss >= 0 && cfg.loss <= 1)) argfail(L, 1, "option 'loss' must be a number from 0 to 1");
  }

  /* The detector: the node's defaults, with what opts sets. */
  vigil_detector_config *d = &cfg.detector;
  if (opt_field(L, 1, 1, "model", LUA_TSTRING)) {
    const char *m = lua_tostring(L, -1);
    if (strcmp(m, "normal") == 0)
      d->model = VIGIL_MODEL_NORMAL;
    else if (strcmp(m, "exponential") == 0)
      d->model = VIGIL_MODEL_EXPONENTIAL;
    else
      argfail(L, 1, "option 'model' must be \"normal\" or \"exponential\", got \"%s\"", m);
    lua_pop(L, 1);
  }
  if (opt_field(L, 1, 1, "threshold", LUA_TNUMBER)) {
    d->threshold = lua_tonumber(L, -1);
    lua_pop(L, 1);
  }
  if (opt_count(L, 1, 1, "max_samples", 1, VIGIL_MAX_SAMPLES_LIMIT, &v)) d->max_samples = (uint32_t)v;
  opt_seconds(L, 1, 1, "min_std_dev", &d->min_std_dev);
  opt_seconds(L, 1, 1, "acceptable_pause", &d->acceptable_pause);
  opt_seconds(L, 1, 1, "first_estimate", &d->first_estimate);
  opt_seconds(L, 1, 1, "min_mean", &d->min_mean);
  opt_refused(L, 1, 1, &d->refused);

  lsim *ud = lua_newuserdata(L, sizeof *ud);
  ud->s = NULL;
  luaL_getmetatable(L, SIM_MT);
  lua_setmetatable(L, -2);
  const char *why = NULL;
  ud->s = vigil_sim_new(&cfg, &why);
  if (!ud->s) return argfail(L, 1, "%s", why ? why : "cannot create the simulation");
  return 1;
}

static int l_sim_gc(lua_State *L) {
  lsim *ud = luaL_checkudata(L, 1, SIM_MT);
  vigil_sim_free(ud->s);
  ud->s = NULL;
  return 0;
}

static int l_sim_tostring(lua_State *L) {
  lsim *ud = luaL_checkudata(L, 1, SIM_MT);
  if (!ud->s) {
    lua_pushliteral(L, "vigil.sim(closed)");
    return 1;
  }
  lua_pushfstring(L, "vigil.sim(%d agents, t=%f s)", (int)vigil_sim_agents(ud->s), ns_to_seconds(vigil_sim_now(ud->s)));
  return 1;
}

static int l_sim_now(lua_State *L) {
  lua_pushnumber(L, ns_to_seconds(vigil_sim_now(check_sim(L)->s)));
  return 1;
}

/* sim:run(until [, stop_on_event]) -> steps taken */
static int l_sim_run(lua_State *L) {
  lsim *ud = check_sim(L);
  vigil_time until = check_time(L, 2);
  bool stop = lua_toboolean(L, 3);
  lua_pushnumber(L, (double)vigil_sim_run(ud->s, until, stop));
  return 1;
}

static int l_sim_agents(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)vigil_sim_agents(check_sim(L)->s));
  return 1;
}

static int l_sim_pname(lua_State *L) {
  lsim *ud = check_sim(L);
  lua_pushstring(L, vigil_sim_pname(ud->s, check_agent(L, ud, 2)));
  return 1;
}

/* sim:find(pname) -> index, or nil */
static int l_sim_find(lua_State *L) {
  lsim *ud = check_sim(L);
  int64_t i = vigil_sim_find(ud->s, luaL_checkstring(L, 2));
  if (i < 0) return 0;
  lua_pushinteger(L, (lua_Integer)i + 1);
  return 1;
}

static int l_sim_status(lua_State *L) {
  lsim *ud = check_sim(L);
  lua_pushstring(L, vigil_sim_status_name(vigil_sim_status_of(ud->s, check_agent(L, ud, 2))));
  return 1;
}

/* sim:add(pname | {pname=, dc=, rack=}) -> index of the new agent, started now */
static int l_sim_add(lua_State *L) {
  lsim *ud = check_sim(L);
  vigil_sim_agent a;
  char tags[VIGIL_TAGS_TEXT];
  if (lua_isnoneornil(L, 2))
    memset(&a, 0, sizeof a);
  else
    read_sim_agent(L, 2, 2, &a, tags);
  int64_t i = vigil_sim_add(ud->s, &a);
  if (i < 0) {
    const char *why = i == VIGIL_EEXIST         ? "is already an agent"
                      : i == VIGIL_EINVAL       ? "is not a valid \"host:port\""
                      : i == VIGIL_ENAMETOOLONG ? "has a pname, dc or rack that is too long"
                                                : vigil_strerror((int)i);
    return argfail(L, 2, "agent '%s' %s", a.pname ? a.pname : "?", why);
  }
  lua_pushinteger(L, (lua_Integer)i + 1);
  return 1;
}

/* sim:set_tags(i, {key = "value"}): the tags agent i starts with from its
 * next start (a running process keeps its own until restarted). */
static int l_sim_set_tags(lua_State *L) {
  lsim *ud = check_sim(L);
  uint32_t i = check_agent(L, ud, 2);
  char tags[VIGIL_TAGS_TEXT];
  check_tags(L, 3, 3, tags);
  vigil_sim_set_tags(ud->s, i, tags);
  return 0;
}

/* A fault's result: true, or nil and why. */
static int sim_result(lua_State *L, lsim *ud, uint32_t i, int rc) {
  if (rc == VIGIL_OK) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  if (rc == VIGIL_EINVAL)
    lua_pushfstring(L, "agent %s is %s", vigil_sim_pname(ud->s, i),
                    vigil_sim_status_name(vigil_sim_status_of(ud->s, i)));
  else
    lua_pushstring(L, vigil_strerror(rc));
  return 2;
}

static int sim_fault(lua_State *L, int (*fault)(vigil_sim *, uint32_t)) {
  lsim *ud = check_sim(L);
  uint32_t i = check_agent(L, ud, 2);
  return sim_result(L, ud, i, fault(ud->s, i));
}

static int l_sim_kill(lua_State *L) { return sim_fault(L, vigil_sim_kill); }
static int l_sim_stop(lua_State *L) { return sim_fault(L, vigil_sim_stop); }
static int l_sim_resume(lua_State *L) { return sim_fault(L, vigil_sim_resume); }
static int l_sim_restart(lua_State *L) { return sim_fault(L, vigil_sim_restart); }
static int l_sim_leave(lua_State *L) { return sim_fault(L, vigil_sim_leave); }

/* sim:stall(i, seconds): frozen for that long, then it resumes */
static int l_sim_stall(lua_State *L) {
  lsim *ud = check_sim(L);
  uint32_t i = check_agent(L, ud, 2);
  vigil_time d = seconds_to_ns(L, 3, luaL_checknumber(L, 3), "stall");
  return sim_result(L, ud, i, vigil_sim_stall(ud->s, i, d));
}

static int l_sim_set_loss(lua_State *L) {
  lsim *ud = check_sim(L);
  vigil_sim_set_loss(ud->s, check_fraction(L, 2, "loss"));
  return 0;
}

/* sim:set_delay(delay [, jitter]) */
static int l_sim_set_delay(lua_State *L) {
  lsim *ud = check_sim(L);
  vigil_time d = seconds_to_ns(L, 2, luaL_checknumber(L, 2), "delay");
  vigil_time j = seconds_to_ns(L, 3, luaL_optnumber(L, 3, 0), "jitter");
  vigil_sim_set_delay(ud->s, d, j);
  return 0;
}

/* sim:agent_jitter(i, seconds): extra latency deviation on everything i
 * sends or receives */
static int l_sim_agent_jitter(lua_State *L) {
  lsim *ud = check_sim(L);
  uint32_t i = check_agent(L, ud, 2);
  vigil_time j = seconds_to_ns(L, 3, luaL_checknumber(L, 3), "jitter");
  return sim_result(L, ud, i, vigil_sim_set_agent_jitter(ud->s, i, j));
}

static int l_sim_agent_loss(lua_State *L) {
  lsim *ud = check_sim(L);
  uint32_t i = check_agent(L, ud, 2);
  return sim_result(L, ud, i, vigil_sim_set_agent_loss(ud->s, i, check_fraction(L, 3, "loss")));
}

/* sim:link_loss(a, b, loss [, oneway]) */
static int l_sim_link_loss(lua_State *L) {
  lsim *ud = check_sim(L);
  uint32_t a = check_agent(L, ud, 2), b = check_agent(L, ud, 3);
  double x = check_fraction(L, 4, "loss");
  return sim_result(L, ud, a, vigil_sim_set_link_loss(ud->s, a, b, x, lua_toboolean(L, 5)));
}

/* sim:cut(a, b [, oneway]) */
static int l_sim_cut(lua_State *L) {
  lsim *ud = check_sim(L);
  uint32_t a = check_agent(L, ud, 2), b = check_agent(L, ud, 3);
  if (a == b) return luaL_argerror(L, 3, "an agent cannot be cut from itself");
  int rc = vigil_sim_cut(ud->s, a, b, lua_toboolean(L, 4));
  if (rc == VIGIL_ENOMEM) return luaL_error(L, "cut: out of memory");
  return sim_result(L, ud, a, rc);
}

static int l_sim_heal(lua_State *L) {
  vigil_sim_heal(check_sim(L)->s);
  return 0;
}

/* sim:next_event() -> agent index, event table; or nil when none waits */
static int l_sim_next_event(lua_State *L) {
  lsim *ud = check_sim(L);
  uint32_t i;
  vigil_event e;
  if (!vigil_sim_next_event(ud->s, &i, &e)) return 0;
  lua_pushinteger(L, (lua_Integer)i + 1);
  vigil_lua_push_event(L, &e);
  return 2;
}

/* Agent i's node, or NULL when it has no live process. */
static vigil_node *sim_node(lua_State *L, lsim *ud, int arg) { return vigil_sim_node(ud->s, check_agent(L, ud, arg)); }

/* sim:state(observer, pname) -> the observer's verdict, or nil (no process,
 * or it does not know the peer) */
static int l_sim_state(lua_State *L) {
  lsim *ud = check_sim(L);
  vigil_node *n = sim_node(L, ud, 2);
  const char *pname = luaL_checkstring(L, 3);
  const vigil_peer *p = n ? vigil_pool_find(vigil_node_pool(n), pname) : NULL;
  if (!p) return 0;
  push_state(L, p->state);
  return 1;
}

/* sim:phi(observer, pname) -> phi now, or nil */
static int l_sim_phi(lua_State *L) {
  lsim *ud = check_sim(L);
  vigil_node *n = sim_node(L, ud, 2);
  const char *pname = luaL_checkstring(L, 3);
  const vigil_peer *p = n ? vigil_pool_find(vigil_node_pool(n), pname) : NULL;
  if (!p) return 0;
  lua_pushnumber(L, p->is_local ? 0 : vigil_handler_phi(vigil_node_handler(n), p->idx, vigil_sim_now(ud->s)));
  return 1;
}

/* sim:snapshot(i) -> what a policy on agent i reads (as the agent's host
 * gives it: self, threshold, interval, at, peers), or nil */
static int l_sim_snapshot(lua_State *L) {
  lsim *ud = check_sim(L);
  vigil_node *n = sim_node(L, ud, 2);
  if (!n) return 0;
  vigil_snapshot *s = vigil_node_snapshot(n, vigil_sim_now(ud->s));
  if (!s) return luaL_error(L, "snapshot: out of memory");
  vigil_lua_push_snapshot(L, s);
  free(s);
  return 1;
}

/* Apply command c to agent i: true and the note of what is in force, or
 * nil and why. */
static int sim_apply(lua_State *L, lsim *ud, uint32_t i, const vigil_command *c) {
  char note[512];
  int rc = vigil_sim_apply(ud->s, i, c, note, sizeof note);
  if (rc == VIGIL_ENOENT && !vigil_sim_node(ud->s, i)) {
    lua_pushnil(L);
    lua_pushfstring(L, "agent %s is %s", vigil_sim_pname(ud->s, i),
                    vigil_sim_status_name(vigil_sim_status_of(ud->s, i)));
    return 2;
  }
  if (rc != VIGIL_OK)
    lua_pushnil(L);
  else
    lua_pushboolean(L, 1);
  lua_pushstring(L, note);
  return 2;
}

static const char *const apply_keys[] = {"threshold", "model",      "min_std_dev",       "acceptable_pause", "interval",
                                         "refused",   "thresholds", "acceptable_pauses", "budget",           NULL};

/* sim:apply(i, settings): vigil.configure's settings (already checked by
 * lua/vigil/init.lua in a policy; checked for type here), as the agent's
 * host sends them to its node. `budget` belongs to the policy runtime and
 * is ignored. */
static int l_sim_apply(lua_State *L) {
  lsim *ud = check_sim(L);
  uint32_t i = check_agent(L, ud, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  check_keys(L, 3, 3, apply_keys);
  vigil_command *c = lua_newuserdata(L, sizeof *c); /* large: not on the C stack, freed by the collector */
  const char *bad = vigil_lua_to_configure(L, 3, c);
  if (bad) return argfail(L, 3, "option '%s' has a wrong type or value", bad);
  return sim_apply(L, ud, i, c);
}

/* sim:mark_down(i, pname): agent i's policy marks a peer down */
static int l_sim_mark_down(lua_State *L) {
  lsim *ud = check_sim(L);
  uint32_t i = check_agent(L, ud, 2);
  size_t len;
  const char *pname = luaL_checklstring(L, 3, &len);
  if (len >= VIGIL_PNAME_MAX) return argfail(L, 3, "pname '%s' is too long", pname);
  vigil_command c;
  memset(&c, 0, sizeof c);
  c.type = VIGIL_CMD_MARK_DOWN;
  memcpy(c.pname, pname, len + 1);
  return sim_apply(L, ud, i, &c);
}

static void set_number(lua_State *L, const char *key, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, key);
}

/* sim:stats() -> the score so far (vigil_sim_stats; times in seconds,
 * converged nil until it happened) */
static int l_sim_stats(lua_State *L) {
  lsim *ud = check_sim(L);
  vigil_sim_stats st;
  vigil_sim_stats_get(ud->s, &st);
  lua_createtable(L, 0, 10);
  set_number(L, "false_alarms", (double)st.false_alarms);
  set_number(L, "frames_sent", (double)st.frames_sent);
  set_number(L, "bytes_sent", (double)st.bytes_sent);
  set_number(L, "frames_lost", (double)st.frames_lost);
  set_number(L, "refusals", (double)st.refusals);
  set_number(L, "events_lost", (double)st.events_lost);
  set_number(L, "node_time", ns_to_seconds(st.node_ns));
  set_number(L, "alive_time", ns_to_seconds(st.alive_ns));
  if (st.converged) set_number(L, "converged", ns_to_seconds(st.converged));
  set_number(L, "faults", st.faults);
  return 1;
}

/* sim:faults() -> list of {agent, pname, silent, at, observers, detected,
 * already_down, detections = {seconds after the fault, ascending}} */
static int l_sim_faults(lua_State *L) {
  lsim *ud = check_sim(L);
  vigil_sim_stats st;
  vigil_sim_stats_get(ud->s, &st);
  lua_createtable(L, (int)st.faults, 0);
  for (uint32_t k = 0; k < st.faults; k++) {
    vigil_sim_fault f;
    if (!vigil_sim_fault_get(ud->s, k, &f)) break;
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, (lua_Integer)f.agent + 1);
    lua_setfield(L, -2, "agent");
    lua_pushstring(L, vigil_sim_pname(ud->s, f.agent));
    lua_setfield(L, -2, "pname");
    lua_pushboolean(L, f.silent);
    lua_setfield(L, -2, "silent");
    set_number(L, "at", ns_to_seconds(f.at));
    set_number(L, "observers", f.observers);
    set_number(L, "detected", f.detected);
    set_number(L, "already_down", f.already_down);
    vigil_time first;
    uint32_t n = vigil_sim_fault_detections(ud->s, k, &first, 1); /* how many */
    vigil_time *det = lua_newuserdata(L, (n ? n : 1) * sizeof *det);
    n = vigil_sim_fault_detections(ud->s, k, det, n);
    lua_createtable(L, (int)n, 0);
    for (uint32_t j = 0; j < n; j++) {
      lua_pushnumber(L, ns_to_seconds(det[j]));
      lua_rawseti(L, -2, (int)j + 1);
    }
    lua_setfield(L, -3, "detections");
    lua_pop(L, 1); /* the scratch userdata */
    lua_rawseti(L, -2, (int)k + 1);
  }
  return 1;
}

static const luaL_Reg sim_methods[] = {
    {"now", l_sim_now},
    {"run", l_sim_run},
    {"agents", l_sim_agents},
    {"pname", l_sim_pname},
    {"find", l_sim_find},
    {"status", l_sim_status},
    {"add", l_sim_add},
    {"kill", l_sim_kill},
    {"stop", l_sim_stop},
    {"resume", l_sim_resume},
    {"stall", l_sim_stall},
    {"restart", l_sim_restart},
    {"leave", l_sim_leave},
    {"set_loss", l_sim_set_loss},
    {"set_delay", l_sim_set_delay},
    {"agent_loss", l_sim_agent_loss},
    {"agent_jitter", l_sim_agent_jitter},
    {"link_loss", l_sim_link_loss},
    {"cut", l_sim_cut},
    {"heal", l_sim_heal},
    {"next_event", l_sim_next_event},
    {"state", l_sim_state},
    {"phi", l_sim_phi},
    {"snapshot", l_sim_snapshot},
    {"set_tags", l_sim_set_tags},
    {"apply", l_sim_apply},
    {"mark_down", l_sim_mark_down},
    {"stats", l_sim_stats},
    {"faults", l_sim_faults},
    {NULL, NULL},
};

/* ---- module --------------------------------------------------------------------- */

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc,
                      lua_CFunction tostring) {
  luaL_newmetatable(L, name);
  lua_newtable(L);
  luaL_register(L, NULL, methods);
  lua_setfield(L, -2, "__index");
  if (gc) {
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
  }
  if (tostring) {
    lua_pushcfunction(L, tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);
}

/* core.hash(s) -> the 32-bit hash behind vigil.responsible */
static int l_hash(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  lua_pushnumber(L, vigil_hash(s, n));
  return 1;
}

static const luaL_Reg core_functions[] = {
    {"hash", l_hash}, {"phi", l_phi}, {"detector", l_detector}, {"pool", l_pool}, {"handler", l_handler},
    {"sim", l_sim},   {NULL, NULL},
};

int luaopen_vigil_core(lua_State *L);

int luaopen_vigil_core(lua_State *L) {
  new_class(L, DETECTOR_MT, detector_methods, l_detector_gc, l_detector_tostring);
  new_class(L, POOL_MT, pool_methods, l_pool_gc, l_pool_tostring);
  new_class(L, HANDLER_MT, handler_methods, l_handler_gc, NULL);
  new_class(L, SUB_MT, sub_methods, NULL, NULL);
  new_class(L, SIM_MT, sim_methods, l_sim_gc, l_sim_tostring);
  lua_newtable(L);
  luaL_register(L, NULL, core_functions);
  lua_pushstring(L, VIGIL_VERSION);
  lua_setfield(L, -2, "version");
  lua_createtable(L, VIGIL_STATE_COUNT, 0);
  for (int s = 0; s < VIGIL_STATE_COUNT; s++) {
    lua_pushstring(L, vigil_state_name((vigil_peer_state)s));
    lua_rawseti(L, -2, s);
  }
  lua_setfield(L, -2, "states");
  return 1;
}
