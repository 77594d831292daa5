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

/* The detector settings as the operator configured them (flags > VIGIL_*
 * > config file > defaults): the baseline a policy's vigil.configure
 * overrides while its generation is loaded, and that a reload whose policy
 * no longer sets one puts back (docs/POLICIES.md, "Policies and the
 * agent's settings"). threshold_from and interval_from say where the
 * operator set those ("--threshold", "VIGIL_THRESHOLD", a config file), or
 * NULL for the defaults: a policy that overrides one is warned about. Set
 * before the agent starts; copied. Without it: the defaults. */
void vigil_lua_host_set_baseline(const vigil_detector_config *detector, vigil_time interval, const char *threshold_from,
                                 const char *interval_from);

/* Where vigil's Lua modules are (the directory holding vigil/runtime.lua):
 * VIGIL_LUA_PATH when set; otherwise beside the binary as installed
 * (<bindir>/../share/vigil/lua), the source tree for a build-tree binary,
 * then the configured prefix. Writes the directory to out and returns true;
 * otherwise false, and out says where it looked. */
bool vigil_lua_dir(char *out, size_t cap);

/* The same for vigil.core (the directory holding vigil/core.so): beside
 * the binary (<bindir>/../lib/vigil/lua), the build tree, the prefix. */
bool vigil_lua_cdir(char *out, size_t cap);

/* `vigil check FILE`: load a policy without an agent. 0 when it loads;
 * otherwise the error (file:line first) is on stderr and 1 is returned. */
int vigil_policy_check(const char *path);

/* `vigil bench-dispatch policy.lua [n]`: deliver n synthetic peer_down
 * events through the real dispatch path (make bench). */
int vigil_policy_bench(const char *path, long n);

#endif
