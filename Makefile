# SPDX-License-Identifier: MIT
#
# kvmhold: GNU make only.  Everything is built under $(O) (default: build/),
# so the source tree stays clean; `make O=/some/dir` builds elsewhere.
#
#   make                    libkvmhold.so and libkvmhold.a
#   make check              build and run the test suite
#   make check SANITIZE=thread            (or address,undefined)
#   make bench              run kvmhold-bench with its default comparison
#   make check-nested       the suite again on upstream KVM (kvm_amd, Debian's
#                           kernel booted under QEMU TCG), with both kick
#                           backends (the kernel one on the patched modules
#                           of kernel/): see nested/ and below
#   make bench-nested       kvmhold-bench inside that guest
#   make check-kvmtool      kvmtool (lkvm) ported to kvmhold, in that guest on
#                           Debian's stock kvm_amd, booting a second Linux
#                           with a self-checking workload: reshape, migration
#                           check, and the proof runs (see below)
#   make kernel-modules     KVM modules with the kernel kick (kernel/, GPL)
#   make STATIC=1 ...       tests, tools and examples linked -static
#   make install PREFIX=/usr DESTDIR=/tmp/stage

VERSION      := 0.2.0
SOVERSION    := 1
PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
MANDIR       ?= $(PREFIX)/share/man
DESTDIR      ?=

O            ?= build
SANITIZE     ?=
comma        := ,
ifneq ($(SANITIZE),)
  # Each sanitizer gets a build directory of its own.
  override O := $(O)/san-$(subst $(comma),-,$(SANITIZE))
endif

SRCDIR       := $(dir $(lastword $(MAKEFILE_LIST)))
SRCDIR       := $(SRCDIR:%/=%)

CFLAGS       ?= -O2 -g
OBJCOPY      ?= objcopy
# Warnings are errors here and in CI; a distribution building with a newer
# compiler than ours can say WERROR= to keep new warnings from failing it.
WERROR       ?= -Werror
WARNINGS     := -Wall -Wextra $(WERROR) -Wmissing-prototypes -Wstrict-prototypes \
                -Wshadow -Wformat=2 -Wpointer-arith -Wundef -Wvla
BASE_CFLAGS  := -std=c11 -D_GNU_SOURCE -pthread -I$(SRCDIR)/include $(WARNINGS)
# Sanitizer reports are fatal, so a finding fails its test.
SAN_FLAGS    := $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all)
# -MMD -MP: every object and program also depends on the headers it
# included last time it was built (the .d files, included at the end).
ALL_CFLAGS   := $(BASE_CFLAGS) $(SAN_FLAGS) $(CPPFLAGS) $(CFLAGS) -MMD -MP
LDLIBS       := $(LDFLAGS) -pthread
# STATIC=1: link test programs, tools and examples statically (the nested
# lane copies them into a guest that has no C library).
STATIC       ?=
ifneq ($(STATIC),)
  ifneq ($(SANITIZE),)
    $(error STATIC=1 and SANITIZE= do not go together)
  endif
endif
LDSTATIC     := $(if $(STATIC),-static)

LIB_SRCS     := $(filter-out %/test_hooks.c,$(wildcard $(SRCDIR)/src/*.c))
LIB_OBJS     := $(patsubst $(SRCDIR)/src/%.c,$(O)/src/%.o,$(LIB_SRCS))
LIB_A        := $(O)/libkvmhold.a
LIB_SO       := $(O)/libkvmhold.so.$(VERSION)
# The test build: the same sources with the test switches of
# src/test_hooks.h compiled in.  Only the test programs link it; the
# shipped .so and .a contain no switch (check-install checks with nm).
LIB_TEST_OBJS := $(patsubst $(SRCDIR)/src/%.c,$(O)/src-test/%.o,$(wildcard $(SRCDIR)/src/*.c))
LIB_TEST_A   := $(O)/libkvmhold-test.a

.PHONY: all tests check check-prove check-install check-report bench install uninstall clean \
        check-nested bench-nested check-kvmtool
all: $(LIB_SO) $(LIB_A)

$(O)/src/%.o: $(SRCDIR)/src/%.c $(wildcard $(SRCDIR)/src/*.h) $(SRCDIR)/include/kvmhold.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fno-lto -fPIC -fvisibility=hidden -c -o $@ $<

# One relocatable object whose internal symbols are made local, so that a
# static link sees only the kvmhold_* API and nothing of ours can clash
# with the program's own now_ns() or avl_insert().  The objects are built
# without LTO (-fno-lto above): with distribution flags such as
# -flto=auto, the IR in them would keep every symbol global.  The archive
# is not written if anything but kvmhold_* stays global.
$(LIB_A): $(LIB_OBJS)
	@rm -f $@
	$(LD) -r -o $(O)/kvmhold-all.o $^
	$(OBJCOPY) --localize-hidden $(O)/kvmhold-all.o
	@bad=$$(nm --defined-only $(O)/kvmhold-all.o | \
		awk 'NF == 3 && $$2 ~ /[A-Z]/ && $$3 !~ /^kvmhold_/ { print $$3 }'); \
	if [ -n "$$bad" ]; then echo "$@: global by mistake:" $$bad; exit 1; fi
	$(AR) rcs $@ $(O)/kvmhold-all.o

$(O)/src-test/%.o: $(SRCDIR)/src/%.c $(wildcard $(SRCDIR)/src/*.h) $(SRCDIR)/include/kvmhold.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DKVMHOLD_TEST_HOOKS -fvisibility=hidden -c -o $@ $<

$(LIB_TEST_A): $(LIB_TEST_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(LIB_SO): $(LIB_OBJS) $(SRCDIR)/src/libkvmhold.map
	$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,libkvmhold.so.$(SOVERSION) \
		-Wl,--version-script=$(SRCDIR)/src/libkvmhold.map $(if $(SANITIZE),,-Wl,-z,defs) \
		-o $@ $(LIB_OBJS) $(LDLIBS)
	ln -sf libkvmhold.so.$(VERSION) $(O)/libkvmhold.so.$(SOVERSION)
	ln -sf libkvmhold.so.$(SOVERSION) $(O)/libkvmhold.so

# The tiny test VMM and its guests (tests/vmm.mk), then one program per test.
-include $(SRCDIR)/tests/vmm.mk

TEST_SRCS    := $(wildcard $(SRCDIR)/tests/*.c)
TESTS        := $(patsubst $(SRCDIR)/tests/%.c,$(O)/tests/%,$(TEST_SRCS))
TEST_CFLAGS  := $(ALL_CFLAGS) -I$(SRCDIR)/tests -I$(SRCDIR)/tests/vmm -I$(SRCDIR)/src

$(O)/tests/%: $(SRCDIR)/tests/%.c $(TVMM_LIB) $(LIB_TEST_A) $(TVMM_HDRS) $(SRCDIR)/tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -DKVMHOLD_TEST_HOOKS $(LDSTATIC) -o $@ $< $(TVMM_LIB) $(LIB_TEST_A) $(LDLIBS)

TOOL_SRCS    := $(wildcard $(SRCDIR)/tools/*.c)
BENCH        := $(O)/tools/kvmhold-bench
$(BENCH): $(TOOL_SRCS) $(wildcard $(SRCDIR)/tools/*.h) $(wildcard $(SRCDIR)/src/*.h) \
          $(TVMM_LIB) $(LIB_A) $(TVMM_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(LDSTATIC) -I$(SRCDIR)/tools -o $@ $(TOOL_SRCS) $(TVMM_LIB) $(LIB_A) $(LDLIBS) -lm

# One program per example; hold_demo.c stands alone, the others share the
# guest and vCPU setup of examples/example_vm.c.
EXAMPLE_VM   := $(SRCDIR)/examples/example_vm.c
EXAMPLE_SRCS := $(filter-out $(EXAMPLE_VM),$(wildcard $(SRCDIR)/examples/*.c))
EXAMPLES     := $(patsubst $(SRCDIR)/examples/%.c,$(O)/examples/%,$(EXAMPLE_SRCS))
$(O)/examples/%: $(SRCDIR)/examples/%.c $(EXAMPLE_VM) $(SRCDIR)/examples/example_vm.h \
                 $(TVMM_LIB) $(LIB_A) $(TVMM_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(LDSTATIC) -o $@ $< $(if $(filter hold_demo,$*),,$(EXAMPLE_VM)) \
		$(TVMM_LIB) $(LIB_A) $(LDLIBS)

# TEST_TIMEOUT: seconds per test program; TESTS_RUN: a subset by name.
TEST_TIMEOUT ?= 300
# The test programs, built and not run.
tests: $(TESTS)
check: all $(TESTS) $(EXAMPLES) $(if $(TOOL_SRCS),$(BENCH))
	@TEST_TIMEOUT=$(TEST_TIMEOUT) $(SRCDIR)/tests/run.sh $(O)/tests $(TESTS_RUN)
	@$(if $(TESTS_RUN),:,TEST_TIMEOUT=$(TEST_TIMEOUT) $(SRCDIR)/tests/examples.sh $(O)/examples)
	@$(if $(TESTS_RUN),:,$(SRCDIR)/tests/kvmtool_verdict.sh)

# Each test, run with the mechanism it checks switched off, must fail.
check-prove: $(TESTS)
	@$(SRCDIR)/tests/prove.sh $(O)/tests

BENCH_ARGS   ?=
# The HTML page is drawn from the JSON by tools/report.py with Debian's
# python3-matplotlib, so by Debian's interpreter: a python3 earlier on PATH
# (a virtualenv, pyenv) may not see that package.  PYTHON=... to pick another.
PYTHON       ?= /usr/bin/python3
REPORT       := $(PYTHON) $(SRCDIR)/tools/report.py
NEED_MPL     := $(PYTHON) -c 'import matplotlib' 2>/dev/null || $(SRCDIR)/tools/debian-dep.sh
# The default comparison, as fast as possible and at an equal pace of 2000
# transactions per second, with a migration check per line, the hold summary,
# the commit latencies, the dirty-tracking figures and the vcpus scaling from
# 1 to 256 vCPUs: kvmhold-bench writes
# bench-report.json in the current directory, tools/report.py turns it into
# bench-report.html (installs Debian's python3-matplotlib if missing).  The
# page is written even when a section could not be measured (exit status 1).
# BENCH_ARGS replaces the sections and options (the report files stay).
bench: $(BENCH)
	@$(NEED_MPL) bench python3-matplotlib
	$(BENCH) $(if $(BENCH_ARGS),$(BENCH_ARGS),compare hold txn dirty vcpus --rate 0,2000 --duration 4 --migrate) \
		--json bench-report.json; st=$$?; \
		$(REPORT) bench-report.json -o bench-report.html && exit $$st

# A short comparison and the checked-in tools/fixtures/bench-report.json,
# each rendered by tools/report.py and then by headless Chromium
# (CHROMIUM=... to pick another binary): fails unless every line of the
# comparison shows up in both rendered pages, and unless the fixture's page
# has the vcpus section and the per-round table.  Installs Debian's chromium and
# python3-matplotlib if missing (tools/debian-dep.sh).  Reports, pages, DOM
# dumps and screenshots land in $(O)/check-report/.
check-report: $(BENCH)
	@$(SRCDIR)/tools/debian-dep.sh check-report chromium $${CHROMIUM:-chromium}
	@$(NEED_MPL) check-report python3-matplotlib
	@set -e; out=$(O)/check-report; mkdir -p $$out; rm -f $$out/*; \
	chromium=$${CHROMIUM:-chromium}; \
	if ! command -v $$chromium >/dev/null 2>&1; then \
		echo "check-report: $$chromium not found"; \
		exit 1; fi; \
	$(BENCH) compare --duration 0.6 --samples 30 --json $$out/bench-report.json > $$out/bench.txt; \
	$(REPORT) $$out/bench-report.json -o $$out/bench-report.html; \
	$(REPORT) $(SRCDIR)/tools/fixtures/bench-report.json -o $$out/fixture.html; \
	abs=$$(cd $$out && pwd); \
	flags="--headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync"; \
	p1=$$(mktemp -d); p2=$$(mktemp -d); trap 'rm -rf "$$p1" "$$p2"' EXIT; \
	for page in bench-report fixture; do \
		rm -rf $$p1/* $$p2/*; \
		timeout 180 $$chromium $$flags --user-data-dir=$$p1 --dump-dom \
			file://$$abs/$$page.html > $$out/$$page.dom.html 2> $$p1.log || \
			{ cat $$p1.log; rm -f $$p1.log; exit 1; }; \
		timeout 180 $$chromium $$flags --user-data-dir=$$p2 --hide-scrollbars \
			--window-size=1000,10000 --screenshot=$$abs/$$page.png \
			file://$$abs/$$page.html > $$p2.log 2>&1 || { cat $$p2.log; rm -f $$p2.log; exit 1; }; \
		rm -f $$p1.log $$p2.log; \
		test -s $$out/$$page.png || { echo "check-report: no screenshot of $$page.html"; exit 1; }; \
		missing=; for s in $$($(BENCH) --list-strategies); do \
			grep -q "data-strategy=\"$$s\"" $$out/$$page.dom.html || missing="$$missing $$s"; \
		done; \
		if [ -n "$$missing" ]; then \
			echo "check-report: missing from the rendered $$page.html:$$missing"; exit 1; fi; \
		echo "check-report: $$page.html: every strategy in the rendered page ($$page.png)"; \
	done; \
	for want in 'id="vcpus"' 'Per round:'; do \
		grep -q "$$want" $$out/fixture.dom.html || \
			{ echo "check-report: fixture.html lacks $$want"; exit 1; }; \
	done; \
	echo "check-report: OK: both pages rendered ($$out)"

# The nested lane: the same test programs and runner on upstream KVM
# (Debian's kernel and kvm_amd, booted under QEMU TCG with an emulated EPYC),
# built statically under $(O)/nested, with the patched modules and kick_test
# of kernel-modules in $(O)/nested/kernel.  Installs QEMU, busybox-static
# and cpio if missing; the kernel is cached in ~/.cache/kvmhold-nested.  In
# one boot: on Debian's modules, kick_test --stock (result kick_test-stock)
# and the suite with KVMHOLD_TEST_KICK=signal (results signal/NAME); then on
# the patched kvm.ko/kvm-amd.ko, kick_test (result kick_test) and the suite
# with KVMHOLD_TEST_KICK=kernel (results kernel/NAME).  NESTED_KICK picks
# the suite runs ("signal kernel", "signal", "kernel"; both kick_test runs
# always happen).  Ends with "N passed, N failed"; fails on a failed or
# missing result, no /dev/kvm inside, patched modules that do not load, a
# guest kernel BUG/WARNING/Oops/lockup/Call Trace, or NESTED_TIMEOUT
# (seconds for the whole boot) running out.  TESTS_RUN (both suite runs)
# and TEST_TIMEOUT (per test, inside the guest: NESTED_TEST_TIMEOUT) work
# as for check.  bench-nested runs kvmhold-bench on the patched modules.
#   make check-nested TESTS_RUN="hold_freeze hold_timeout" NESTED_KICK=kernel
NESTED_O            := $(O)/nested
NESTED_TIMEOUT      ?= 2400
NESTED_TEST_TIMEOUT ?= 900
NESTED_KICK         ?= signal kernel
NESTED_BENCH_ARGS   ?= $(if $(BENCH_ARGS),$(BENCH_ARGS),compare hold txn --duration 1 --samples 50)
NESTED_TESTS        := $(patsubst $(O)/%,$(NESTED_O)/%,$(TESTS))
# The results boot.sh must see, each once.
# kernel/prove: after the kernel run, prove.sh shows that its tests (those
# of them in TESTS_RUN, if given) fail with the kernel kick switched off.
NESTED_RESULTS      := kick_test-stock kick_test \
	$(foreach k,$(NESTED_KICK),$(addprefix $(k)/,$(or $(TESTS_RUN),$(notdir $(TESTS))))) \
	$(if $(filter kernel,$(NESTED_KICK)),kernel/prove)

check-nested:
	@$(SRCDIR)/nested/deps.sh
	@$(MAKE) --no-print-directory O=$(NESTED_O) STATIC=1 SANITIZE= tests
	@$(MAKE) --no-print-directory O=$(NESTED_O) SANITIZE= kernel-modules
	@set -e; k=$$($(SRCDIR)/nested/kernel.sh); \
	TEST_TIMEOUT=$(NESTED_TEST_TIMEOUT) TESTS_RUN="$(TESTS_RUN)" NESTED_KICK="$(NESTED_KICK)" \
		$(SRCDIR)/nested/initramfs.sh $(NESTED_O)/check.cpio $$k $(NESTED_O)/kernel check \
		$(NESTED_TESTS); \
	NESTED_TIMEOUT=$(NESTED_TIMEOUT) $(SRCDIR)/nested/boot.sh check $$k \
		$(NESTED_O)/check.cpio $(NESTED_O)/check $(NESTED_RESULTS)

bench-nested:
	@$(SRCDIR)/nested/deps.sh
	@$(MAKE) --no-print-directory O=$(NESTED_O) STATIC=1 SANITIZE= $(NESTED_O)/tools/kvmhold-bench
	@$(MAKE) --no-print-directory O=$(NESTED_O) SANITIZE= kernel-modules
	@set -e; k=$$($(SRCDIR)/nested/kernel.sh); \
	BENCH_ARGS="$(NESTED_BENCH_ARGS)" \
		$(SRCDIR)/nested/initramfs.sh $(NESTED_O)/bench.cpio $$k $(NESTED_O)/kernel bench \
		$(NESTED_O)/tools/kvmhold-bench; \
	NESTED_TIMEOUT=$(NESTED_TIMEOUT) $(SRCDIR)/nested/boot.sh bench $$k \
		$(NESTED_O)/bench.cpio $(NESTED_O)/bench

# The kvmtool lane (integrations/kvmtool/): lkvm, built by
# integrations/kvmtool/build.sh with the kvmhold patches and libkvmhold.a
# (KVMTOOL_LKVM=path: that lkvm instead), boots Debian's kernel a second
# time inside the nested lane's guest, on Debian's stock kvm_amd, with two
# vCPUs, a virtio-blk disk and integrations/kvmtool/guest/'s initramfs: two
# kvmhold-checker processes write and verify memory (every page), tmpfs
# files and disk blocks for a fixed time and print a VERDICT.  The runs
# (nested/kvmtool-runs.sh; KVMTOOL_RUNS picks some): reshape
# (--kvmhold-reshape --kvmhold-migrate-check --kvmhold-pause-bench, for
# KVMTOOL_SECONDS) and plain (the same without reshaping) must pass with no
# hole and no mismatch; break-txn-hold must damage the guest and
# break-dirty-mark must give mismatches (KVMTOOL_PROOF_SECONDS each).
# nested/kvmtool-verdict.sh judges them (counts per run; fails on an L2
# panic/Oops/BUG, a checker error, a mismatch, a hole, an lkvm error, a
# missing verdict).  A run that failed only as the nested setup fails (a
# triple fault under a load pristine kvmtool faults under too, or a guest
# that went nowhere while lkvm's watch shows the library live; and no hole,
# mismatch or error) runs again in a fresh outer guest, up to
# KVMTOOL_ATTEMPTS times in all (nested/kvmtool-lane.sh).  KVMTOOL_BOOTS=N instead boots the L2 guest N times
# with KVMTOOL_BOOT_SECONDS of workload (plain lkvm options: a pristine
# lkvm will do; KVMTOOL_BOOT_ARGS gives them options, e.g. reshaping) and
# counts the stalls and triple faults.  KVMTOOL_KVM_PARAMS and
# KVMTOOL_KVM_AMD_PARAMS: parameters of the outer guest's kvm.ko and
# kvm-amd.ko.  Console log: $(O)/kvmtool/log/.
#   make check-kvmtool KVMTOOL_BOOTS=20 KVMTOOL_LKVM=/path/to/lkvm
#   make check-kvmtool KVMTOOL_BOOTS=10 KVMTOOL_BOOT_ARGS="--kvmhold-reshape --kvmhold-pace=200"
KVMTOOL_O             := $(O)/kvmtool
KVMTOOL_CHECKER       := $(KVMTOOL_O)/kvmhold-checker
KVMTOOL_LKVM          ?=
KVMTOOL_BOOTS         ?= 0
KVMTOOL_SECONDS       ?= 60
KVMTOOL_PROOF_SECONDS ?= 20
KVMTOOL_BOOT_SECONDS  ?= 5
KVMTOOL_RUNS          ?= reshape plain break-txn-hold break-dirty-mark
# Attempts at a run that fails only for the nested setup's own reasons
# (nested/kvmtool-lane.sh says which and why).
KVMTOOL_ATTEMPTS      ?= 3
# More lkvm options for those runs.  The port's reshape thread commits a
# transaction (a hold of every vCPU) each --kvmhold-pace ms, 10 by default;
# under TCG that starved the L2 guest (no console line in 170 s), with 200
# it reached its init in 16 s.
KVMTOOL_LKVM_ARGS     ?= --kvmhold-pace=200
# QEMU's TCG threading for this lane: multi.  With thread=single (the
# nested lane's) the second-level Linux stalled for good during boot even
# with nolapic_timer, in 9 of 10 boots; with thread=multi in 0 of 23 (see
# nested/kvmtool-runs.sh), and the two outer vCPUs run in parallel.
KVMTOOL_TCG           ?= multi
# The outer guest's time limit: the runs take 7-10 minutes.  Their own
# limits (nested/kvmtool-runs.sh) add up to 2000 s, but a run that
# reaches its own fails the lane anyway, and a shorter first attempt
# leaves a repeat room in the lane's 2400 s (nested/kvmtool-lane.sh).
KVMTOOL_TIMEOUT       ?= $(if $(filter-out 0,$(KVMTOOL_BOOTS)),$(shell echo $$((600 + $(KVMTOOL_BOOTS) * 200))),1500)

$(KVMTOOL_CHECKER): $(SRCDIR)/integrations/kvmtool/guest/checker.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARNINGS) $(CFLAGS) -static -o $@ $<

check-kvmtool:
	@$(SRCDIR)/nested/deps.sh
	@$(MAKE) --no-print-directory SANITIZE= $(LIB_A) $(KVMTOOL_CHECKER)
	@set -e; lkvm="$(KVMTOOL_LKVM)"; \
	if [ -z "$$lkvm" ]; then \
		if [ ! -x $(SRCDIR)/integrations/kvmtool/build.sh ]; then \
			echo "check-kvmtool: no integrations/kvmtool/build.sh: give KVMTOOL_LKVM=lkvm"; exit 1; fi; \
		KVMHOLD_O=$(abspath $(O)) $(SRCDIR)/integrations/kvmtool/build.sh $(KVMTOOL_O)/lkvm-build; \
		lkvm=$(KVMTOOL_O)/lkvm-build/lkvm; \
	fi; \
	k=$$($(SRCDIR)/nested/kernel.sh); \
	$(SRCDIR)/integrations/kvmtool/guest/initramfs.sh $(KVMTOOL_O)/l2.cpio $$k $(KVMTOOL_CHECKER); \
	if [ $(KVMTOOL_BOOTS) -gt 0 ]; then runs=$$(seq -f boot%g $(KVMTOOL_BOOTS)); else runs="$(KVMTOOL_RUNS)"; fi; \
	KVMTOOL_BOOTS=$(KVMTOOL_BOOTS) KVMTOOL_SECONDS=$(KVMTOOL_SECONDS) \
	KVMTOOL_PROOF_SECONDS=$(KVMTOOL_PROOF_SECONDS) KVMTOOL_BOOT_SECONDS=$(KVMTOOL_BOOT_SECONDS) \
	KVMTOOL_LKVM_ARGS="$(KVMTOOL_LKVM_ARGS)" KVMTOOL_ATTEMPTS=$(KVMTOOL_ATTEMPTS) \
	NESTED_TIMEOUT=$(KVMTOOL_TIMEOUT) NESTED_TCG=$(KVMTOOL_TCG) \
		$(SRCDIR)/nested/kvmtool-lane.sh $$k $$lkvm $(KVMTOOL_O)/l2.cpio $(KVMTOOL_O) $$runs

# pkg-config file, made from the install paths: written on every install,
# since an earlier one may have used other paths.
$(O)/kvmhold.pc: $(SRCDIR)/kvmhold.pc.in Makefile FORCE
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

install: all $(O)/kvmhold.pc
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR)/pkgconfig \
		$(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7
	install -m 644 $(SRCDIR)/include/kvmhold.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libkvmhold.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libkvmhold.so.$(SOVERSION)
	ln -sf libkvmhold.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libkvmhold.so
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 644 $(O)/kvmhold.pc $(DESTDIR)$(LIBDIR)/pkgconfig/
	install -m 644 $(wildcard $(SRCDIR)/man/*.3) $(DESTDIR)$(MANDIR)/man3/
	install -m 644 $(wildcard $(SRCDIR)/man/*.7) $(DESTDIR)$(MANDIR)/man7/

# Install into a staging root, then build every example with nothing but
# the installed header, library and pkg-config file, as their top comments
# say, and run each on the installed libkvmhold.so.  Also checks that the shared library exports
# kvmhold_* symbols only.
STAGE        := $(abspath $(O))/stage
# The staged library folder: LIBDIR if given on the command line.
STAGE_LIB    := $(STAGE)$(if $(filter command line,$(origin LIBDIR)),$(LIBDIR),/usr/lib)
check-install: all
	rm -rf $(STAGE)
	$(MAKE) --no-print-directory install PREFIX=/usr DESTDIR=$(STAGE)
	@set -e; for src in $(EXAMPLE_SRCS); do \
		name=$$(basename $$src .c); \
		shared=$$([ $$name = hold_demo ] || echo $(EXAMPLE_VM)); \
		echo "check-install: building $$name"; \
		PKG_CONFIG_LIBDIR=$(STAGE_LIB)/pkgconfig PKG_CONFIG_SYSROOT_DIR=$(STAGE) \
			sh -c "$(CC) -Wall -Werror -o $(STAGE)/$$name $$src $$shared \
			\$$(pkg-config --cflags --libs kvmhold) -pthread"; \
		out=$$(LD_LIBRARY_PATH=$(STAGE_LIB) $(STAGE)/$$name 2>&1) || \
			{ echo "$$out"; echo "check-install: $$name failed"; exit 1; }; \
		echo "$$out" | tail -n 1; \
	done
	@bad=$$(nm -D --defined-only $(STAGE_LIB)/libkvmhold.so | awk '$$3 !~ /^(kvmhold_|KVMHOLD_)/ { print $$3 }'); \
	if [ -n "$$bad" ]; then echo "exported by mistake: $$bad"; exit 1; fi
	@bad=$$(nm --defined-only $(STAGE_LIB)/libkvmhold.a | awk 'NF == 3 && $$2 ~ /[A-Z]/ && $$3 !~ /^kvmhold_/ { print $$3 }'); \
	if [ -n "$$bad" ]; then echo "global in libkvmhold.a by mistake: $$bad"; exit 1; fi
	@bad=$$( (nm $(STAGE_LIB)/libkvmhold.a; nm -D $(STAGE_LIB)/libkvmhold.so) | grep -i 'test_\|breakage'); \
	if [ -n "$$bad" ]; then echo "test switches in the shipped library: $$bad"; exit 1; fi
	@# The functions the installed header declares (a declaration starts a
	@# line with its return type), the version script's names, and what the
	@# .so and the .a define: one list, or a function is missing somewhere.
	@t=$(STAGE)/api; mkdir -p $$t; \
	grep -oE '^[a-z][^(;]*\bkvmhold_[a-z0-9_]+\(' $(STAGE)/usr/include/kvmhold.h | \
		grep -oE 'kvmhold_[a-z0-9_]+' | sort -u > $$t/header; \
	sed -n 's/^[[:space:]]*\(kvmhold_[a-z0-9_]*\);.*/\1/p' $(SRCDIR)/src/libkvmhold.map | sort -u > $$t/map; \
	nm -D --defined-only $(STAGE_LIB)/libkvmhold.so | \
		awk '$$3 ~ /^kvmhold_/ { sub(/@.*/, "", $$3); print $$3 }' | sort -u > $$t/so; \
	nm --defined-only $(STAGE_LIB)/libkvmhold.a | \
		awk 'NF == 3 && $$2 ~ /[A-Z]/ { print $$3 }' | sort -u > $$t/a; \
	for x in map so a; do cmp -s $$t/header $$t/$$x || \
		{ echo "check-install: the header and the $$x disagree:"; diff $$t/header $$t/$$x; exit 1; }; \
	done; echo "check-install: header, map, .so and .a agree ($$(wc -l < $$t/header) functions)"
	@echo "check-install: OK"

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/kvmhold.h $(DESTDIR)$(LIBDIR)/libkvmhold.* \
	      $(DESTDIR)$(LIBDIR)/pkgconfig/kvmhold.pc
	rm -f $(patsubst $(SRCDIR)/man/%,$(DESTDIR)$(MANDIR)/man3/%,$(wildcard $(SRCDIR)/man/*.3))
	rm -f $(patsubst $(SRCDIR)/man/%,$(DESTDIR)$(MANDIR)/man7/%,$(wildcard $(SRCDIR)/man/*.7))

clean:
	rm -rf $(O)

# ---- kernel side (kernel/, GPL-2.0-only; see kernel/README.md) ----------
# KVM modules with the experimental KVM_KICK_ALL_RUNNING_VCPUS and
# KVM_RESUME_ALL_KICKED_VCPUS, rebuilt from Debian's linux-source-6.1 for
# the kernel of Debian's current linux-image-amd64 (packages downloaded
# with apt-get on first use, cached outside the tree), and their static
# test program: $(O)/kernel/{kvm,kvm-amd,kvm-intel}.ko, $(O)/kernel/kick_test.
.PHONY: kernel-modules
KICK_TEST    := $(O)/kernel/kick_test
kernel-modules: $(KICK_TEST)
	JOBS=$${JOBS:-2} $(SRCDIR)/kernel/build.sh $(O)/kernel

# kick_test checks the library's copy of the numbers against the series'
# uapi header, which the first patch of kernel/patches adds (and which is
# all that patch touches): applied to an empty folder, it gives the header.
KICK_UAPI    := $(O)/kernel/uapi/arch/x86/kvm/include/uapi/kvm_kick.h
$(KICK_UAPI): $(wildcard $(SRCDIR)/kernel/patches/0001-*.patch)
	rm -rf $(O)/kernel/uapi && mkdir -p $(O)/kernel/uapi
	patch -p1 -s --batch -d $(O)/kernel/uapi < $<

$(KICK_TEST): $(SRCDIR)/kernel/tests/kick_test.c $(KICK_UAPI) $(SRCDIR)/src/kvm_kick_abi.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARNINGS) $(CFLAGS) -static -pthread -I$(dir $(KICK_UAPI)) \
		-o $@ $< -pthread

# Building kick_test is the check that the library's copy of the numbers
# matches the series: make check builds it too.
check: $(KICK_TEST)

# ---- the model of the hold protocol (src/hold.pml, spin) -----------------
# spin checks src/hold.pml, the model of hold.c, gate.c, vcpu.c,
# kick_signal.c and kick_kernel.c (its top comment says what it covers).
# Installs Debian's spin if missing (tools/debian-dep.sh; SPIN=... for
# another one).  For each configuration of MODEL_CONFIGS: an exhaustive
# safety search (pan built with -DSAFETY: the invariants, and no invalid
# end state, i.e. no deadlock) and a liveness search (ltl progress, pan -a:
# every hold returns, every kicked run call returns).  Both must find
# nothing; a search cut short (depth, memory) fails too.  Then each
# mutation of MODEL_MUTATIONS, one mechanism of the protocol switched off
# in the model, must make the safety search report an error.  All of it is
# built and run in $(O)/model, one directory per search (spin -a writes
# pan.c into the current directory, and pan its trail next to the model),
# MODEL_JOBS searches at a time.
#   make check-model MODEL_CONFIGS=kick MODEL_MUTATIONS=no-mark
SPIN            ?= spin
MODEL_CC        ?= gcc
MODEL_JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
MODEL_O         := $(O)/model
# pan is built with -O2 for the exhaustive searches; a mutation's search
# stops at its first error, and there building pan with -O2 would cost
# more than it saves.  (-w below: pan.c's warnings are spin's.)
MODEL_CFLAGS    ?= -O2
MODEL_MUT_CFLAGS ?= -O0
MODEL_PANFLAGS  := -m100000 -w24
# Configurations; the defaults (base) are at the top of hold.pml: one vCPU
# making two run calls, one holder without a deadline, one VMM kick of any
# kind, the signal backend.
model_def_base    :=
model_def_kick    := -DHTMO=1
model_def_kernel  := -DKERNEL_KICK
model_def_holders := -DNH=2 -DHTMO=2 -DCOMMIT=1 -DKICKER=0
model_def_mem     := -DMEM=1 -DHTMO=1 -DKICKER=0 -DKERNEL_KICK
model_def_vcpus   := -DNV=2 -DNRUN=1 -DKICKER=0
model_def_own     := -DOWN=1
# Mutations: a configuration and the switch.  On base, the holder has no
# deadline, so that a lost wake-up is a deadlock, not a timeout.
model_mut_no-mark        := base -DMUT_NO_MARK
model_mut_no-k4          := base -DMUT_NO_K4
model_mut_no-entry-check := base -DMUT_NO_ENTRY_CHECK
model_mut_no-l2          := base -DMUT_NO_L2
model_mut_wake-target    := own -DMUT_WAKE_TARGET
model_mut_no-park-exits  := base -DMUT_NO_PARK_EXITS
model_mut_ie-owner       := base -DMUT_IE_OWNER
model_mut_kicks-sample   := base -DMUT_KICKS_SAMPLE
model_mut_no-exclusive   := holders -DMUT_NO_EXCLUSIVE
model_mut_no-x4-wake     := holders -DMUT_NO_X4_WAKE
model_mut_x4-count-early := holders -DMUT_X4_COUNT_EARLY
model_mut_x4-no-gen      := holders -DMUT_X4_NO_GEN
MODEL_CONFIGS   ?= kick kernel holders mem vcpus own
# One per property: held_quiet, lost hold kick, lost kick, deadlock, holds
# surfacing, exclusive, the wake at a commit's end and its two orderings.
# no-park-exits and ie-owner are there to run too.
MODEL_MUTATIONS ?= no-entry-check no-mark no-k4 no-l2 kicks-sample no-exclusive no-x4-wake \
		   x4-count-early x4-no-gen wake-target

MODEL_RESULTS   := $(MODEL_CONFIGS:%=$(MODEL_O)/%/ok) \
                   $(MODEL_MUTATIONS:%=$(MODEL_O)/mutation-%/caught)
# spin's defines of a configuration, of a mutation
model_defs       = $(if $(filter undefined,$(origin model_def_$(1))),\
                   $(error check-model: no configuration "$(1)"),$(model_def_$(1)))
model_mut_defs   = $(if $(model_mut_$(1)),$(call model_defs,$(firstword $(model_mut_$(1)))) \
                   $(wordlist 2,9,$(model_mut_$(1))),$(error check-model: no mutation "$(1)"))

# $(call model_pan,DIR,SPIN-DEFINES,CC-FLAGS,PAN-FLAGS): a fresh DIR with
# a copy of the model, pan built there and run, its output in DIR/pan.log.
model_pan = rm -rf $(1) && mkdir -p $(1) && cp $(SRCDIR)/src/hold.pml $(1)/ && \
	(cd $(1) && $(SPIN) -a $(2) hold.pml > spin.log 2>&1 && \
	 $(MODEL_CC) -w -DMEMLIM=4096 $(3) -o pan pan.c > cc.log 2>&1 && \
	 ./pan $(MODEL_PANFLAGS) $(4) > pan.log 2>&1) || \
	{ echo "model: $(1): spin, cc or pan failed:"; tail -n 20 $(1)/*.log; exit 1; }
# A complete search without findings: "N states, T s" into $@; or fail,
# with pan's verdict and the reason from the trail (printed in one piece,
# as other searches print beside it).
model_clean = log=$(@D)/pan.log; \
	if grep -q 'errors: 0' $$log && \
	   ! grep -Eq 'Search not completed|depth too small|out of memory' $$log; then \
		n=$$(awk '/states, stored/ { print $$1 }' $$log); \
		t=$$(awk '/elapsed time/ { print $$4 }' $$log); \
		echo "$$n states, $$t s" > $@; \
	else \
		msg=$$(echo "model: $(1): spin found a problem (pan output and trail in $(@D)):"; \
		grep -E '^pan:|errors:|Search not completed|depth too small|out of memory' $$log; \
		cd $(@D) && $(SPIN) -t $(2) hold.pml 2>&1 | grep -E 'model-error|trail ends'); \
		echo "$$msg"; exit 1; \
	fi

.PHONY: check-model model-runs
check-model:
	@$(SRCDIR)/tools/debian-dep.sh check-model spin $(SPIN)
	@command -v $(SPIN) >/dev/null 2>&1 || { echo "check-model: $(SPIN) not found"; exit 1; }
	@rm -rf $(MODEL_O)
	@t0=$$(date +%s); \
	$(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) \
		$(if $(findstring jobserver,$(MAKEFLAGS)),,-j$(MODEL_JOBS)) model-runs && \
	echo "check-model: OK: $(words $(MODEL_CONFIGS)) configurations safe, without deadlock," \
		"live; $(words $(MODEL_MUTATIONS)) mutations caught ($$(( $$(date +%s) - t0 )) s)"

model-runs: $(MODEL_RESULTS)

.PRECIOUS: $(MODEL_O)/%/safety/result $(MODEL_O)/%/liveness/result

$(MODEL_O)/%/safety/result:
	@$(call model_pan,$(@D),$(call model_defs,$*),$(MODEL_CFLAGS) -DSAFETY -DNOCLAIM,)
	@$(call model_clean,$* (safety),$(call model_defs,$*))

$(MODEL_O)/%/liveness/result:
	@$(call model_pan,$(@D),$(call model_defs,$*),$(MODEL_CFLAGS) -DNOFAIR -DNOBOUNDCHECK,-a)
	@$(call model_clean,$* (liveness),$(call model_defs,$*))

$(MODEL_O)/%/ok: $(MODEL_O)/%/safety/result $(MODEL_O)/%/liveness/result
	@echo "model: $*: safe, no deadlock, progress (safety: $$(cat $<); liveness: $$(cat $(word 2,$^)))"
	@touch $@

# A mutation must be caught: an error, with its reason from the trail.
$(MODEL_O)/mutation-%/caught:
	@$(call model_pan,$(@D),$(call model_mut_defs,$*),$(MODEL_MUT_CFLAGS) -DSAFETY -DNOCLAIM,)
	@log=$(@D)/pan.log; \
	if ! grep -Eq 'errors: [1-9]' $$log; then \
		echo "model: mutation $* NOT caught: spin finds no error with it"; exit 1; fi; \
	what=$$(cd $(@D) && $(SPIN) -t $(call model_mut_defs,$*) hold.pml 2>&1 | \
		sed -n 's/^ *model-error: //p' | head -n 1); \
	first=$$(grep -m1 '^pan:1:' $$log); \
	depth=$$(echo "$$first" | sed -n 's/.*(at depth \([0-9]*\)).*/\1/p'); \
	case "$$first" in *"invalid end state"*) what="deadlock (invalid end state)";; esac; \
	echo "model: mutation $* caught: $${what:-$$first} (trail of $$depth steps, in $(@D))"; \
	touch $@

# Header dependencies written by -MMD.
-include $(shell find $(O) -name '*.d' 2>/dev/null)

.PHONY: FORCE
FORCE:
