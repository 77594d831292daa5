/*
 * sim_views.h - what C tests ask of a simulated cluster, in one place
 * (test_member.c, test_sim.c): how one agent sees another, and whether
 * every alive agent sees every other alive agent up.
 */
#ifndef VIGIL_SIM_VIEWS_H
#define VIGIL_SIM_VIEWS_H

#include <string.h>

#include "vigil_sim.h"

/* The state agent j has in agent i's pool ("-" when unknown or i is not running). */
static inline const char *seen(const vigil_sim *s, uint32_t i, uint32_t j) {
  vigil_node *n = vigil_sim_node(s, i);
  vigil_peer *p = n ? vigil_pool_find(vigil_node_pool(n), vigil_sim_pname(s, j)) : NULL;
  return p ? vigil_state_name(p->state) : "-";
}

/* Every alive agent sees every other alive agent as normal. */
static inline bool all_normal(const vigil_sim *s) {
  uint32_t n = vigil_sim_agents(s);
  for (uint32_t i = 0; i < n; i++)
    for (uint32_t j = 0; j < n; j++)
      if (i != j && vigil_sim_status_of(s, i) == VIGIL_SIM_ALIVE && vigil_sim_status_of(s, j) == VIGIL_SIM_ALIVE &&
          strcmp(seen(s, i, j), "normal") != 0)
        return false;
  return true;
}

#endif
