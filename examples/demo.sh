#!/usr/bin/env bash
# examples/demo.sh - what `make demo` runs: three agents on loopback with the
# default agent.lua; one is killed, detected, reacted to (once for the whole
# cluster), restarted and seen coming back; then everything stops cleanly.
# About 15 seconds. Needs only the build (make demo does it).
set -euo pipefail
cd "$(dirname "$0")/.."

V=${VIGIL_BIN:-build/vigil}
BASE=${VIGIL_DEMO_PORT:-17946}
dir=$(mktemp -d)
pids=()

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
now() { date +%s.%N; }

cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

for i in 0 1 2; do
  for port in $((BASE + i)) $((BASE + 10 + i)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "demo: port $port is in use; set VIGIL_DEMO_PORT to another base port" >&2
      exit 1
    fi
  done
done

# The reaction agent.lua runs when a peer goes down (section 4 of the file).
export VIGIL_ON_DOWN='echo "drained $VIGIL_PEER from the load balancer (cause $VIGIL_CAUSE, phi $VIGIL_PHI)"'

start() { # start N: agent N on BASE+N, HTTP on BASE+10+N, seeded with agent 0
  local n=$1 seeds=""
  [ "$n" -ne 0 ] && seeds="--seeds 127.0.0.1:$BASE"
  # shellcheck disable=SC2086
  "$V" agent agent.lua --listen "127.0.0.1:$((BASE + n))" --http "127.0.0.1:$((BASE + 10 + n))" $seeds \
    2>>"$dir/agent$n.log" &
  pids[n]=$!
}

members() { "$V" members --http "127.0.0.1:$((BASE + 10))"; }

state_of() { # state of agent N as seen by agent 0
  members | awk -v p="127.0.0.1:$((BASE + $1))" '$1 == p { print $4 }'
}

wait_for() { # wait_for N STATE TIMEOUT_S
  local deadline=$(($(date +%s) + $3))
  while [ "$(state_of "$1")" != "$2" ]; do
    [ "$(date +%s)" -ge "$deadline" ] && { echo "demo: agent $1 never became $2" >&2; exit 1; }
    sleep 0.05
  done
}

bold "starting 3 agents on loopback with agent.lua (gossip every 200 ms)"
for n in 0 1 2; do start "$n"; done
for n in 1 2; do wait_for "$n" normal 10; done
for _ in 1 2 3; do # a few seconds of the live view
  members
  sleep 1
done

bold "stalling agent 1 for 1.5 s (SIGSTOP, as a long GC pause would): not a failure"
kill -STOP "${pids[1]}"
sleep 1.5
kill -CONT "${pids[1]}"
sleep 0.5
members
if grep -q "msg=\"peer down\" peer=127.0.0.1:$((BASE + 1)) " "$dir/agent0.log"; then
  echo "-> agent 1 was convicted (unexpected: acceptable_pause is 2 s)"
else
  echo "-> nobody convicted agent 1: a stall of up to ~2.5 s passes (acceptable_pause 2 s)"
fi

bold "killing agent 2 (kill -9: no goodbye) and watching agent 0's view"
t0=$(now)
{
  kill -KILL "${pids[2]}"
  wait "${pids[2]}"
} 2>/dev/null || true
polls=0
while [ "$(state_of 2)" != down ]; do
  [ $((polls % 5)) -eq 0 ] && members | sed -n "/:$((BASE + 2)) /p"
  polls=$((polls + 1))
  sleep 0.05
done
t1=$(now)
members
cause=$(grep -h "msg=\"peer down\" peer=127.0.0.1:$((BASE + 2)) " "$dir/agent0.log" | tail -1 | sed -E 's/.*cause=([a-z]+).*/\1/')
printf '\ndetected down %.2f s after the kill, cause=%s' "$(echo "$t1 - $t0" | bc)" "$cause"
[ "$cause" = refused ] && printf ' (its host answered "port unreachable")'
printf '\n'


sleep 0.5
bold "what the policy did (agent.lua on agents 0 and 1)"
grep -h 'source=policy' "$dir/agent0.log" "$dir/agent1.log" |
  grep -E 'peer_down|reacting|reaction finished|another agent' | sed -E 's/^ts=[^ ]+ //' || true
reactions=$(grep -h -c 'msg="reacting to a peer down"' "$dir/agent0.log" "$dir/agent1.log" | paste -sd+ | bc)
echo "-> the reaction ran $reactions time(s) for the whole cluster (vigil.responsible picks one agent)"

bold "restarting agent 2"
sleep 1
start 2
wait_for 2 normal 10
sleep 1
members
grep -h -E 'msg="peer (restarted|up)" peer=127.0.0.1:'$((BASE + 2)) "$dir/agent0.log" | tail -2 |
  sed -E 's/^ts=[^ ]+ //'

bold "stopping everything (SIGTERM: each agent tells the others it is leaving)"
for n in 2 1 0; do
  kill -TERM "${pids[n]}"
  wait "${pids[n]}" 2>/dev/null || true
done
grep -h 'msg="peer left"' "$dir/agent0.log" | sed -E 's/^ts=[^ ]+ //' || true
pids=()
echo
echo "demo finished."
