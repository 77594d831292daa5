/*
 * lua_event.h - the one definition of the event table a policy receives.
 *
 * Included by both the agent's policy host (host.c) and the vigil.core
 * binding (lua_core.c), which vigil.testing uses: an event looks the same
 * to a policy in the agent and in a spec. Fields: type, at (seconds), and
 * for peer events peer, dc, rack, state, previous, phi, and for peer_up and
 * peer_down cause ("heartbeat", "phi", "refused", "marked"); lagged: missed;
 * gossip_round: duration, peers_seen; seq when the event came from a ring.
 */
#ifndef VIGIL_LUA_EVENT_H
#define VIGIL_LUA_EVENT_H

#include <lauxlib.h>
#include <lua.h>

#include "vigil.h"

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
    break;
  }
  if (e->seq) {
    lua_pushnumber(L, (double)e->seq);
    lua_setfield(L, -2, "seq");
  }
}

#endif
