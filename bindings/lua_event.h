/*
 * lua_event.h - the one definition of what a policy receives, reads and
 * sends: the event table, the snapshot table (vigil.peers() and friends)
 * and the command a vigil.configure settings table becomes.
 *
 * Included by both the agent's policy host (host.c) and the vigil.core
 * binding (lua_core.c), which vigil.testing uses: an event, a snapshot and
 * a configure look the same to a policy in the agent and in a spec. Fields: type, at (seconds), and
 * for peer events peer, dc, rack, tags ({key = "value"}, {} for none), state, previous, phi, and for peer_up and
 * peer_down cause ("heartbeat", "phi", "refused", "marked", "observers",
 * "membership"), for peer_up reason ("joined", "recovered", "restarted");
 * lagged: missed; gossip_round: duration, peers_seen; seq when the event
 * came from a ring.
 */
#ifndef VIGIL_LUA_EVENT_H
#define VIGIL_LUA_EVENT_H

#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "vigil.h"

/* A tag set (canonical text, tags.c) as a table {key = "value", ...}: an
 * empty table for none, so a policy can read ev.tags.role without a nil
 * check. */
static inline void vigil_lua_push_tags(lua_State *L, const char *tags, size_t cap) {
  char text[VIGIL_TAGS_TEXT];
  size_t n = 0;
  while (n < cap && n < sizeof text - 1 && tags && tags[n]) n++;
  if (tags) memcpy(text, tags, n);
  text[n] = '\0';
  lua_createtable(L, 0, (int)vigil_tags_count(text));
  size_t pos = 0;
  vigil_tag t;
  while (vigil_tags_next(text, &pos, &t)) {
    lua_pushlstring(L, t.key, t.key_len);
    lua_pushlstring(L, t.value, t.value_len);
    lua_rawset(L, -3);
  }
}

static inline void vigil_lua_push_event(lua_State *L, const vigil_event *e) {
  lua_createtable(L, 0, 10);
  lua_pushstring(L, vigil_event_name(e->type));
  lua_setfield(L, -2, "type");
  lua_pushnumber(L, (double)e->at / 1e9);
  lua_setfield(L, -2, "at");
  switch (e->type) {
  case VIGIL_EVENT_LAGGED:
    lua_pushnumber(L, (double)e->missed);
    lua_setfield(L, -2, "missed");
    break;
  case VIGIL_EVENT_GOSSIP_ROUND:
    lua_pushnumber(L, (double)e->duration / 1e9);
    lua_setfield(L, -2, "duration");
    lua_pushinteger(L, e->peers_seen);
    lua_setfield(L, -2, "peers_seen");
    break;
  default:
    lua_pushstring(L, e->peer);
    lua_setfield(L, -2, "peer");
    lua_pushstring(L, e->dc);
    lua_setfield(L, -2, "dc");
    lua_pushstring(L, e->rack);
    lua_setfield(L, -2, "rack");
    vigil_lua_push_tags(L, e->tags, sizeof e->tags);
    lua_setfield(L, -2, "tags");
    lua_pushstring(L, vigil_state_name(e->state));
    lua_setfield(L, -2, "state");
    lua_pushstring(L, vigil_state_name(e->previous));
    lua_setfield(L, -2, "previous");
    lua_pushnumber(L, e->phi); /* the deciding phi for up and down; 0 for the others */
    lua_setfield(L, -2, "phi");
    if (e->cause != VIGIL_CAUSE_NONE) {
      lua_pushstring(L, vigil_cause_name(e->cause));
      lua_setfield(L, -2, "cause");
    }
    if (e->reason != VIGIL_UP_NONE) {
      lua_pushstring(L, vigil_up_reason_name(e->reason));
      lua_setfield(L, -2, "reason");
    }
    break;
  }
  if (e->seq) {
    lua_pushnumber(L, (double)e->seq);
    lua_setfield(L, -2, "seq");
  }
}

/* The snapshot as a policy reads it: {self, threshold, interval, at,
 * peers = {{pname, dc, rack, tags, state, phi, threshold, acceptable_pause,
 * since, generation, is_local, cause, reason}, ...}} (times in seconds;
 * cause and reason of the peer's latest up or down, nil before any, reason
 * only while it is up). */
static inline void vigil_lua_push_snapshot(lua_State *L, const vigil_snapshot *s) {
  lua_createtable(L, 0, 6);
  lua_pushstring(L, s->self);
  lua_setfield(L, -2, "self");
  lua_pushnumber(L, s->threshold);
  lua_setfield(L, -2, "threshold");
  lua_pushnumber(L, (double)s->interval / 1e9);
  lua_setfield(L, -2, "interval");
  lua_pushnumber(L, (double)s->at / 1e9);
  lua_setfield(L, -2, "at");
  lua_createtable(L, (int)s->npeers, 0);
  for (uint32_t i = 0; i < s->npeers; i++) {
    const vigil_snapshot_peer *p = &s->peers[i];
    lua_createtable(L, 0, 13);
    lua_pushstring(L, p->pname);
    lua_setfield(L, -2, "pname");
    lua_pushstring(L, p->dc);
    lua_setfield(L, -2, "dc");
    lua_pushstring(L, p->rack);
    lua_setfield(L, -2, "rack");
    vigil_lua_push_tags(L, p->tags, VIGIL_TAGS_TEXT);
    lua_setfield(L, -2, "tags");
    lua_pushstring(L, vigil_state_name(p->state));
    lua_setfield(L, -2, "state");
    lua_pushnumber(L, p->phi);
    lua_setfield(L, -2, "phi");
    lua_pushnumber(L, p->threshold);
    lua_setfield(L, -2, "threshold");
    lua_pushnumber(L, (double)p->acceptable_pause / 1e9);
    lua_setfield(L, -2, "acceptable_pause");
    if (p->cause != VIGIL_CAUSE_NONE) {
      lua_pushstring(L, vigil_cause_name(p->cause));
      lua_setfield(L, -2, "cause");
    }
    if (p->reason != VIGIL_UP_NONE) {
      lua_pushstring(L, vigil_up_reason_name(p->reason));
      lua_setfield(L, -2, "reason");
    }
    lua_pushnumber(L, (double)p->since / 1e9);
    lua_setfield(L, -2, "since");
    lua_pushnumber(L, (double)p->generation);
    lua_setfield(L, -2, "generation");
    lua_pushboolean(L, p->is_local);
    lua_setfield(L, -2, "is_local");
    lua_rawseti(L, -2, (int)i + 1);
  }
  lua_setfield(L, -2, "peers");
}

/* One optional field of the settings table at idx, pushed when present.
 * Returns 1 when it is there with the right type, 0 when absent; sets
 * *why on a wrong type. */
static inline int vigil_lua__setting(lua_State *L, int idx, const char *key, int type, const char **why) {
  lua_getfield(L, idx, key);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  if (lua_type(L, -1) != type) {
    lua_pop(L, 1);
    *why = key;
    return 0;
  }
  return 1;
}

/*
 * A vigil.configure settings table (at idx) as the command the node
 * applies: threshold, model ("normal" / "exponential"), min_std_dev,
 * acceptable_pause, interval (seconds), refused, thresholds
 * ({["dc or pname"] = number}), acceptable_pauses ({["dc or pname"] =
 * seconds}). Other keys (budget) are the runtime's and
 * ignored here. Returns NULL, or the name of the first setting whose type
 * or value is wrong (the node checks the ranges).
 */
static inline const char *vigil_lua_to_configure(lua_State *L, int idx, vigil_command *c) {
  static const char *const seconds[] = {"min_std_dev", "acceptable_pause", "interval"};
  const char *why = NULL;
  memset(c, 0, sizeof *c);
  c->type = VIGIL_CMD_CONFIGURE;
  if ((c->has_threshold = vigil_lua__setting(L, idx, "threshold", LUA_TNUMBER, &why))) {
    c->threshold = lua_tonumber(L, -1);
    lua_pop(L, 1);
  }
  if (vigil_lua__setting(L, idx, "model", LUA_TSTRING, &why)) {
    const char *m = lua_tostring(L, -1);
    c->has_model = strcmp(m, "normal") == 0 || strcmp(m, "exponential") == 0;
    c->model = strcmp(m, "exponential") == 0 ? VIGIL_MODEL_EXPONENTIAL : VIGIL_MODEL_NORMAL;
    if (!c->has_model) why = "model";
    lua_pop(L, 1);
  }
  for (int k = 0; k < 3; k++) {
    if (!vigil_lua__setting(L, idx, seconds[k], LUA_TNUMBER, &why)) continue;
    double v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (!(v >= 0 && v < 1e9)) {
      why = seconds[k];
      continue;
    }
    vigil_time ns = (vigil_time)(v * 1e9 + 0.5);
    if (k == 0) c->has_min_std_dev = true, c->min_std_dev = ns;
    if (k == 1) c->has_acceptable_pause = true, c->acceptable_pause = ns;
    if (k == 2) c->has_interval = true, c->interval = ns;
  }
  if ((c->has_refused = vigil_lua__setting(L, idx, "refused", LUA_TBOOLEAN, &why))) {
    c->refused = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  if (vigil_lua__setting(L, idx, "thresholds", LUA_TTABLE, &why)) {
    int t = lua_gettop(L);
    c->has_thresholds = true;
    lua_pushnil(L);
    while (lua_next(L, t)) {
      size_t len = 0;
      const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &len) : NULL;
      if (!key || len >= VIGIL_CMD_KEY_MAX || lua_type(L, -1) != LUA_TNUMBER ||
          c->nthresholds == VIGIL_CMD_THRESHOLDS_MAX) {
        why = "thresholds";
        lua_pop(L, 2);
        break;
      }
      memcpy(c->thresholds[c->nthresholds].key, key, len + 1);
      c->thresholds[c->nthresholds].threshold = lua_tonumber(L, -1);
      c->nthresholds++;
      lua_pop(L, 1);
    }
    lua_settop(L, t - 1);
  }
  if (vigil_lua__setting(L, idx, "acceptable_pauses", LUA_TTABLE, &why)) {
    int t = lua_gettop(L);
    c->has_acceptable_pauses = true;
    lua_pushnil(L);
    while (lua_next(L, t)) {
      size_t len = 0;
      const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &len) : NULL;
      double v = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
      if (!key || len == 0 || len >= VIGIL_CMD_KEY_MAX || !(v >= 0 && v <= 3600) ||
          c->nacceptable_pauses == VIGIL_CMD_THRESHOLDS_MAX) {
        why = "acceptable_pauses";
        lua_pop(L, 2);
        break;
      }
      memcpy(c->acceptable_pauses[c->nacceptable_pauses].key, key, len + 1);
      c->acceptable_pauses[c->nacceptable_pauses].acceptable_pause = (vigil_time)(v * 1e9 + 0.5);
      c->nacceptable_pauses++;
      lua_pop(L, 1);
    }
    lua_settop(L, t - 1);
  }
  return why;
}

#endif
