/*
 * host.h - the LuaJIT policy host of the vigil binary (bindings/host.c).
 */
#ifndef VIGIL_HOST_H
#define VIGIL_HOST_H

#include "vigil_runtime.h"

/* Runs agent.lua on the script thread; give it to vigil_agent_config. */
extern const vigil_policy_host vigil_lua_host;

/* The policy VM's memory limit in bytes (default VIGIL_POLICY_MEMORY; 0 =
 * none): a handler that allocates past it fails and is counted. Set before
 * the agent starts. */
#define VIGIL_POLICY_MEMORY (64u << 20)
void vigil_lua_host_set_memory_limit(size_t bytes);

/* `vigil check FILE`: load a policy without an agent. 0 when it loads;
 * otherwise the error (file:line first) is on stderr and 1 is returned. */
int vigil_policy_check(const char *path);

/* `vigil bench-dispatch policy.lua [n]`: deliver n synthetic peer_down
 * events through the real dispatch path (make bench). */
int vigil_policy_bench(const char *path, long n);

#endif
