# vigil - the two commands a new user needs are `make demo` and `make test`.
# Every target installs what is missing first (make deps), then builds.

SHELL := /bin/bash
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

# Debian 12 packages the build, the tests, the demo and the linters need
# (lua-cjson: vigil.json for policies, at run time; libjansson-dev: the
# agent's --config file).
DEPS := build-essential cmake pkg-config luajit libluajit-5.1-dev libuv1-dev \
        libmsgpack-dev lua-busted libsodium-dev prometheus lua-check lua-cjson \
        clang-format cppcheck clang libclang-rt-14-dev libhttp-parser-dev curl bc \
        libjansson-dev libsystemd-dev debhelper fakeroot groff-base
# (libsystemd-dev: sd_notify under systemd; debhelper, fakeroot: make test
# builds the Debian package; groff-base: it checks the man page; prometheus:
# its promtool checks /metrics, the alerting rules and their unit tests.)

# What `make deb` needs on top: lintian to judge the package, systemd for
# systemd-analyze verify (spec/install_spec.lua skips what is not there).
DEB_DEPS := lintian systemd

LUA_ENV := LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="$(BUILD)/lib/?.so;;"

SECONDS ?= 60

# What make bench-compare needs on top: the agents vigil is compared with,
# nftables for packet loss, gnuplot for the plots.
BENCH_DEPS := serf tarantool nftables gnuplot-nox iproute2

.PHONY: all deps deps-bench deps-deb deb build test demo demo-core bench bench-compare bench-scale bench-adversary fuzz lint format clean

all: build

# Install whatever is missing, with apt-get (through sudo when not root).
# Does nothing, and needs no network, when everything is already there.
deps:
	@missing=""; \
	for p in $(DEPS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" -ne 0 ] && sudo="sudo"; \
	  echo "deps: installing$$missing"; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

deps-bench: deps
	@$(MAKE) --no-print-directory deps DEPS="$(BENCH_DEPS)"

deps-deb: deps
	@$(MAKE) --no-print-directory deps DEPS="$(DEB_DEPS)"

# The Debian packages (debian/), built on a copy of the tree, into
# $(BUILD)/deb: vigil_*.deb (install with apt install ./vigil_*.deb) and
# libvigil-dev_*.deb; then lintian on them.
deb: deps-deb
	@JOBS=$(JOBS) bash packaging/build-deb.sh $(BUILD)/deb
	@lintian --fail-on error $(BUILD)/deb/*.changes

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@set -o pipefail; MAKEFLAGS= cmake --build $(BUILD) -j $(JOBS) | { grep -Ev "^\[ *[0-9]+%\]|^gmake" || true; }

# ctest, busted under LuaJIT, then the C tests again under ASan + UBSan.
test: build
	@BUILD=$(BUILD) bash spec/run

# The main job: 3 agents on loopback with agent.lua; one is killed,
# detected, reacted to, restarted; then everything stops (~20 s).
demo: build
	@bash examples/demo.sh

# The core alone, in real time, from Lua (no network): 3 peers, one silenced.
demo-core: build
	@$(LUA_ENV) luajit examples/core_demo.lua

bench: deps
	@cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DVIGIL_LUA=OFF >/dev/null
	@cmake --build build-bench -j $(JOBS) --target bench_core
	@./build-bench/bench_core
	@$(MAKE) --no-print-directory build >/dev/null
	@cmake --build build-bench -j $(JOBS) --target flood >/dev/null
	@$(LUA_ENV) luajit bench/sim_bench.lua
	@./build/vigil bench-dispatch bench/micro/dispatch_policy.lua 1000000
	@LUA_PATH="spec/?.lua;;" luajit bench/micro/intake.lua build-bench/flood

# The frame decoder under libFuzzer (clang, ASan + UBSan) for SECONDS
# seconds, seeded with docs/PROTOCOL.md's vectors. Crashes land in
# build-fuzz/ as crash-*; the run fails on the first one.
fuzz: deps
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DVIGIL_FUZZ=ON -DVIGIL_LUA=OFF \
	  -DVIGIL_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@set -o pipefail; MAKEFLAGS= cmake --build build-fuzz -j $(JOBS) --target fuzz_frame fuzz_seeds | { grep -Ev "^\[ *[0-9]+%\]|^gmake" || true; }
	@mkdir -p build-fuzz/corpus
	@./build-fuzz/fuzz_seeds docs/PROTOCOL.md build-fuzz/corpus
	@cd build-fuzz && if ./fuzz_frame -max_total_time=$(SECONDS) -max_len=1500 -print_final_stats=1 \
	    corpus > fuzz.log 2>&1; then grep -E "^(Done|stat::(number_of_executed_units|new_units_added))" fuzz.log; \
	  else tail -60 fuzz.log; echo "fuzz: the decoder crashed; the input is build-fuzz/crash-*"; exit 1; fi

# vigil, Serf and Tarantool SWIM side by side in a network namespace (root).
# About 35 minutes; QUICK=1 for a 5-minute rehearsal. Results in bench/results/.
bench-compare: deps-bench build
	@luajit bench/compare/run.lua

# The protocol at 5 .. 5,000 simulated agents (vigil sim), at 200 ms
# and 1 s, 1 % loss, beside protocol 1's figures. CSV + PNG in
# bench/results/; about 45 minutes here with the runs without faults,
# most of them for 5,000 agents (17.7 GiB; SIZES=5,50,200 for a quick look).
bench-scale: build
	@$(MAKE) --no-print-directory deps DEPS="gnuplot-nox"
	@luajit bench/scale/run.lua

# What the issue-12 attacks cost a real agent (docs/SECURITY.md): bounded.
bench-adversary: build
	@VIGIL_BIN=$(BUILD)/vigil luajit bench/adversary/run.lua

C_SOURCES = core/*/*.c core/*/*.h bindings/*.c bindings/*.h spec/c/*.c spec/c/*.h bench/micro/*.c

lint: deps
	@clang-format --dry-run --Werror $(C_SOURCES)
	@cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --std=c11 -I core/include -I core/lib -I core/runtime -I core/cmd --suppress=missingIncludeSystem core bindings
	@luacheck -q spec examples lua bench agent.lua
	@echo "lint: clean"

format:
	@clang-format -i $(C_SOURCES)

clean:
	rm -rf $(BUILD) build-asan build-bench build-fuzz
