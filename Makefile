# TokenGate - single-header token-managed concurrency for C.
# `make help` lists the targets.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

CC      ?= cc
CXX     ?= c++
BUILD   := build
PREFIX  ?= /usr/local
DESTDIR ?=

WARN        := -Wall -Wextra -Werror
TEST_SRC    := $(wildcard tests/*.c)
TEST_CFLAGS := -std=c11 -g $(WARN) -pthread -DTG_DEBUG
EXAMPLES    := $(basename $(notdir $(wildcard examples/*.c)))

# Token counts of the stress test per build (the sanitizers are slower).
STRESS_PLAIN := 1000000
STRESS_ASAN  := 200000
STRESS_TSAN  := 50000
# Tokens per round of the fault-injection soak (tests/soak.c) per build.
SOAK_PLAIN   := 200000
SOAK_ASAN    := 40000
SOAK_TSAN    := 20000
SOAK_FULL    := 5000000
# Steps per round of the model-based API test (tests/test_model.c) in `make soak`.
MODEL_FULL   := 1000000
# Seconds of libFuzzer per parser in `make fuzz`.
FUZZ_SECONDS ?= 60

.PHONY: help test test-plain test-native test-asan test-tsan test-cxx test-compile \
        test-examples test-readme test-symbols test-taskset test-exports test-lint test-browser fuzz soak examples dashboard demo \
        bench bench-quick bench-ab bench-locality bench-peers install uninstall clean

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

test: ## every check below; ends with one line "N passed, N failed"
	@tests/run_suite.sh

test-plain: ## the test suite, optimised build
	@mkdir -p $(BUILD)
	$(CC) $(TEST_CFLAGS) -O2 $(TEST_SRC) -o $(BUILD)/tests-plain
	TG_STRESS_TOKENS=$(STRESS_PLAIN) TG_SOAK_TOKENS=$(SOAK_PLAIN) $(BUILD)/tests-plain

test-native: ## the test suite built with -march=native (over-aligned stores of the CPU)
	@mkdir -p $(BUILD)
	$(CC) $(TEST_CFLAGS) -O2 -march=native $(TEST_SRC) -o $(BUILD)/tests-native
	TG_STRESS_TOKENS=$(STRESS_ASAN) TG_SOAK_TOKENS=$(SOAK_ASAN) $(BUILD)/tests-native

test-asan: ## the test suite under AddressSanitizer + UBSan
	@mkdir -p $(BUILD)
	$(CC) $(TEST_CFLAGS) -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	    -fno-omit-frame-pointer $(TEST_SRC) -o $(BUILD)/tests-asan
	TG_STRESS_TOKENS=$(STRESS_ASAN) TG_SOAK_TOKENS=$(SOAK_ASAN) ASAN_OPTIONS=detect_leaks=1 $(BUILD)/tests-asan

test-tsan: ## the test suite under ThreadSanitizer
	@mkdir -p $(BUILD)
	$(CC) $(TEST_CFLAGS) -O1 -fsanitize=thread $(TEST_SRC) -o $(BUILD)/tests-tsan
	TG_STRESS_TOKENS=$(STRESS_TSAN) TG_SOAK_TOKENS=$(SOAK_TSAN) \
	    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	    $(BUILD)/tests-tsan

test-cxx: ## the header and its implementation compiled and run as C++
	@mkdir -p $(BUILD)
	$(CXX) -std=c++11 -O1 -g $(WARN) -pthread -x c++ tests/compile/cxx_smoke.cpp -o $(BUILD)/cxx-smoke
	$(BUILD)/cxx-smoke

test-compile: ## gcc/clang, -std=c99 and c11 pedantic, C++, double definition
	@tests/checks.sh compile

test-examples: ## every example builds alone (cc -O2 -pthread) and runs
	@tests/checks.sh examples

test-readme: ## the README quick start is examples/quickstart.c and runs
	@tests/checks.sh readme

test-symbols: ## every exported symbol starts with tg_
	@tests/checks.sh symbols

test-lint: ## structure of tokengate.h: macros undefined, banners in the contents, atomics, function length, monitor, defaults
	@python3 tests/lint.py tokengate.h

test-taskset: ## pinning, nested waits and waits on any graph on a single CPU (taskset -c 0)
	@tests/checks.sh taskset

test-exports: ## tg_stats_json through python3 -m json.tool, tg_stats_prometheus through promtool
	@tests/checks.sh exports

soak: ## the fault-injection soak at full size (5,000,000 tokens per round) and the model test at 1,000,000 steps
	@mkdir -p $(BUILD)
	$(CC) $(TEST_CFLAGS) -O2 $(TEST_SRC) -o $(BUILD)/tests-plain
	TG_SOAK_TOKENS=$(SOAK_FULL) $(BUILD)/tests-plain soak_
	TG_MODEL_STEPS=$(MODEL_FULL) TG_TEST_TIMEOUT=1800 $(BUILD)/tests-plain model_

examples: ## build every example into build/
	@mkdir -p $(BUILD)
	@for e in $(EXAMPLES); do echo "cc -O2 -pthread examples/$$e.c -o $(BUILD)/$$e"; \
	    $(CC) -O2 -pthread examples/$$e.c -o $(BUILD)/$$e || exit 1; done

dashboard: ## the mixed waves with the live monitor at http://127.0.0.1:5000/ (Ctrl-C ends)
	@mkdir -p $(BUILD)
	$(CC) -O2 -pthread examples/dashboard.c -o $(BUILD)/dashboard
	$(BUILD)/dashboard

test-browser: ## the monitor page in headless chromium via playwright-core; screenshot build/monitor.png
	@tests/browser/run.sh

fuzz: ## libFuzzer on the monitor's HTTP and WebSocket parsers, FUZZ_SECONDS each
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

demo: ## the flagship demo: Leibniz pi and mixed waves, as a table
	@mkdir -p $(BUILD)
	$(CC) -O2 -pthread examples/demo.c -o $(BUILD)/demo
	$(BUILD)/demo

bench: ## benchmarks vs peers at -O2, interleaved (writes bench/RESULTS.md)
	@bench/run.sh

bench-quick: ## the benchmarks at their quick sizes, 1 round (about a minute)
	@bench/run.sh --quick

bench-ab: ## fib and skynet against tokengate.h at REV (make bench-ab REV=...), interleaved
	@bench/ab.sh $(REV) $(or $(ROUNDS),11)

bench-locality: ## sticky keys against free routing (bench/locality.c), printed only
	@mkdir -p $(BUILD)/bench
	$(CC) -O2 -pthread bench/locality.c -o $(BUILD)/bench/tokengate-locality -lm
	$(BUILD)/bench/tokengate-locality

bench-peers: ## install the peers, hyperfine and gnuplot with apt-get (root)
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	    libtbb-dev libomp-dev cthreadpool-dev hyperfine gnuplot-nox

install: ## install tokengate.h and tokengate.pc under $(DESTDIR)$(PREFIX)
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 tokengate.h $(DESTDIR)$(PREFIX)/include/tokengate.h
	sed 's|@PREFIX@|$(PREFIX)|g' tokengate.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/tokengate.pc
	chmod 644 $(DESTDIR)$(PREFIX)/lib/pkgconfig/tokengate.pc

uninstall: ## remove what install put there
	rm -f $(DESTDIR)$(PREFIX)/include/tokengate.h $(DESTDIR)$(PREFIX)/lib/pkgconfig/tokengate.pc

clean: ## remove build/
	rm -rf $(BUILD)
