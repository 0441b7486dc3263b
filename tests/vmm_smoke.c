// SPDX-License-Identifier: MIT
/*
 * The test VMM itself works: guests run on 1 and 4 vCPUs, SYNC ucalls reach
 * the host, the walker verifies memory, hlt and stop work, and guest
 * failures come back with file:line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tvm.h"

#define WAIT_MS 20000

static int passed, failed;

__attribute__((format(printf, 2, 3)))
static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s ", ok ? "ok  " : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (ok)
		passed++;
	else
		failed++;
}

static struct tvm *create(struct tvm_opts *o, const char *what)
{
	struct tvm *t;
	int r = tvm_create(o, &t);

	if (r) {
		check(0, "%s: tvm_create: %s", what, strerror(-r));
		return NULL;
	}
	r = tvm_start(t);
	if (r) {
		check(0, "%s: tvm_start: %s", what, strerror(-r));
		tvm_destroy(t);
		return NULL;
	}
	return t;
}

/* Stops, checks it was clean, destroys. */
static void finish(struct tvm *t, const char *what, int want_failures)
{
	int r = tvm_stop(t);
	int f = tvm_failures(t);

	check(r == 0 && f == want_failures, "%s: stop %s, %d failure(s)", what,
	      r ? strerror(-r) : "clean", f);
	tvm_destroy(t);
}

static void test_count(unsigned nr_vcpus)
{
	struct tvm_opts o = { .nr_vcpus = nr_vcpus, .program = GUEST_PROG_COUNT };
	struct tvm *t = create(&o, "count");
	unsigned i;

	if (!t)
		return;
	for (i = 0; i < nr_vcpus; i++) {
		int r = tvm_wait_counter_moves(t, i, WAIT_MS);

		check(r == 0, "count, %u vCPU(s): vCPU %u counter moves (%" PRIu64 ")",
		      nr_vcpus, i, tvm_counter(t, i));
	}
	finish(t, "count", 0);
}

struct sync_seen {
	unsigned calls;              /* atomic: vCPU threads write */
	unsigned bad;                /* atomic */
};

static void on_sync(struct tvm *t, unsigned idx, uint64_t arg, void *cookie)
{
	struct sync_seen *s = cookie;

	if (idx >= tvm_nr_vcpus(t) || arg == 0 ||
	    arg % __atomic_load_n(&tvm_shared(t)->sync_every, __ATOMIC_RELAXED))
		__atomic_fetch_add(&s->bad, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->calls, 1, __ATOMIC_RELAXED);
}

static void test_count_sync(void)
{
	struct sync_seen seen = { 0, 0 };
	struct tvm_opts o = {
		.nr_vcpus = 2, .program = GUEST_PROG_COUNT_SYNC,
		.sync_every = 50, .on_sync = on_sync, .cookie = &seen,
	};
	struct tvm *t = create(&o, "count_sync");
	uint64_t deadline = tvm_now_ms() + WAIT_MS;

	if (!t)
		return;
	while (__atomic_load_n(&seen.calls, __ATOMIC_RELAXED) < 10 &&
	       tvm_now_ms() < deadline && !tvm_failures(t))
		tvm_wait_counter_moves(t, 0, 100);
	check(__atomic_load_n(&seen.calls, __ATOMIC_RELAXED) >= 10 &&
	      __atomic_load_n(&seen.bad, __ATOMIC_RELAXED) == 0,
	      "count_sync: %u SYNC callbacks, %u bad, %" PRIu64 " counted",
	      __atomic_load_n(&seen.calls, __ATOMIC_RELAXED),
	      __atomic_load_n(&seen.bad, __ATOMIC_RELAXED), tvm_syncs(t));
	finish(t, "count_sync", 0);
}

/* Every page holds its owner's pattern from some pass. */
static int walk_memory_ok(struct tvm *t, unsigned nr_vcpus)
{
	uint64_t page, npages = t->test_size / TVM_PAGE_SIZE;

	for (page = 0; page < npages; page++) {
		uint64_t v = *(uint64_t *)((char *)t->test_hva + page * TVM_PAGE_SIZE);
		unsigned owner = (unsigned)(page % nr_vcpus);
		uint64_t pass = (v >> 32) & 0xffffff;

		if (v != TVM_WALK_PATTERN(owner, pass, page)) {
			printf("     page %" PRIu64 ": 0x%" PRIx64 "\n", page, v);
			return 0;
		}
	}
	return 1;
}

static void test_walk(void)
{
	struct tvm_opts o = {
		.nr_vcpus = 2, .program = GUEST_PROG_WALK,
		.test_size = 16 * TVM_PAGE_SIZE, .map_test_region = true,
	};
	struct tvm *t = create(&o, "walk");
	unsigned i;
	int r;

	if (!t)
		return;
	for (i = 0; i < o.nr_vcpus; i++) {
		r = tvm_wait_counter_reaches(t, i, 3, WAIT_MS);
		check(r == 0, "walk: vCPU %u completes 3 passes (%" PRIu64 " pages)",
		      i, tvm_walk_pages(t, i));
	}
	r = tvm_stop(t);
	check(r == 0 && tvm_holes(t) == 0, "walk: stop %s, %" PRIu64 " holes",
	      r ? strerror(-r) : "clean", tvm_holes(t));
	check(walk_memory_ok(t, o.nr_vcpus), "walk: host sees the guest's patterns");
	finish(t, "walk", 0);
}

/* Without a memslot the test region is a hole: the tvm must count it. */
static void test_walk_hole(void)
{
	struct tvm_opts o = {
		.nr_vcpus = 1, .program = GUEST_PROG_WALK,
		.test_size = 4 * TVM_PAGE_SIZE, .walk_flags = TVM_WALK_NO_ASSERT,
	};
	struct tvm *t = create(&o, "walk_hole");

	if (!t)
		return;
	tvm_wait_counter_reaches(t, 0, 2, WAIT_MS);
	tvm_stop(t);
	check(tvm_holes(t) > 0 && tvm_walk_mismatches(t, 0) > 0,
	      "walk_hole: unmapped region: %" PRIu64 " holes, %" PRIu64 " mismatches",
	      tvm_holes(t), tvm_walk_mismatches(t, 0));
	finish(t, "walk_hole", 0);
}

static void test_halt(bool irqchip)
{
	struct tvm_opts o = {
		.nr_vcpus = 2, .program = GUEST_PROG_HALT, .irqchip = irqchip,
	};
	const char *what = irqchip ? "halt (irqchip)" : "halt";
	struct tvm_vcpu_stats st;
	struct tvm *t;
	uint64_t start;
	int r;

	r = tvm_create(&o, &t);
	if (r == -EINVAL || r == -ENOTTY || r == -EEXIST || r == -ENXIO) {
		printf("skip %s: tvm_create: %s\n", what, strerror(-r));
		return;
	}
	if (r) {
		check(0, "%s: tvm_create: %s", what, strerror(-r));
		return;
	}
	r = tvm_start(t);
	if (!irqchip) {
		r = tvm_wait_counter_reaches(t, 1, 5, WAIT_MS);
		tvm_stats(t, &st);
		check(r == 0 && st.hlt >= 5, "%s: wake-ups %" PRIu64 ", KVM_EXIT_HLT %" PRIu64,
		      what, tvm_counter(t, 1), st.hlt);
	} else {
		/* Halted inside KVM: wait until both vCPUs got there. */
		while (!__atomic_load_n(&tvm_shared(t)->vcpu[1].started, __ATOMIC_RELAXED) &&
		       tvm_vcpu_state(t, 1) == TVM_VCPU_RUNNING)
			tvm_wait_counter_moves(t, 1, 10);
		r = tvm_wait_counter_moves(t, 0, 100);
		tvm_stats(t, &st);
		check(r == -ETIMEDOUT && st.hlt == 0,
		      "%s: hlt blocks inside KVM (wake-ups %" PRIu64 ", KVM_EXIT_HLT %" PRIu64 ")",
		      what, tvm_counter_sum(t), st.hlt);
	}
	start = tvm_now_ms();
	r = tvm_stop(t);
	check(r == 0 && tvm_vcpu_state(t, 0) == TVM_VCPU_DONE &&
	      tvm_vcpu_state(t, 1) == TVM_VCPU_DONE,
	      "%s: stop %s in %" PRIu64 " ms", what, r ? strerror(-r) : "clean",
	      tvm_now_ms() - start);
	check(tvm_failures(t) == 0, "%s: %d failure(s)", what, tvm_failures(t));
	tvm_destroy(t);
}

static void test_assert(void)
{
	struct tvm_opts o = {
		.nr_vcpus = 1, .program = GUEST_PROG_ASSERT_TEST, .quiet = true,
	};
	char file[128];
	unsigned line = 0;
	const char *msg;
	struct tvm *t;

	if (tvm_create(&o, &t)) {
		check(0, "assert: tvm_create");
		return;
	}
	tvm_start(t);
	tvm_wait_done(t, WAIT_MS);
	msg = tvm_failure_msg(t, 0);
	check(tvm_failures(t) == 1 && tvm_vcpu_state(t, 0) == TVM_VCPU_FAILED &&
	      msg && sscanf(msg, "%127[^:]:%u: ", file, &line) == 2 &&
	      strcmp(file, "tests/guest/selftest.c") == 0 && line > 0 &&
	      strstr(msg, "(0x0, 0xc0ffee)"),
	      "assert: reported as \"%s\"", msg ? msg : "(nothing)");
	tvm_destroy(t);

	/* The same program passes when the host supplies the value. */
	o.quiet = false;
	if (tvm_create(&o, &t)) {
		check(0, "assert: tvm_create");
		return;
	}
	tvm_set_param(t, 0, 0xc0ffee);
	tvm_start(t);
	tvm_wait_done(t, WAIT_MS);
	check(tvm_failures(t) == 0 && tvm_vcpu_state(t, 0) == TVM_VCPU_DONE,
	      "assert: passing assert reports DONE");
	tvm_destroy(t);

	o.program = GUEST_PROG_EXCEPTION_TEST;
	o.quiet = true;
	if (tvm_create(&o, &t)) {
		check(0, "exception: tvm_create");
		return;
	}
	tvm_start(t);
	tvm_wait_done(t, WAIT_MS);
	msg = tvm_failure_msg(t, 0);
	check(tvm_failures(t) == 1 && msg && strstr(msg, "#UD"),
	      "exception: reported as \"%s\"", msg ? msg : "(nothing)");
	tvm_destroy(t);
}

int main(void)
{
	if (!tvm_kvm_available()) {
		printf("skip: /dev/kvm not available\n");
		return TVM_SKIP;
	}
	test_count(1);
	test_count(4);
	test_count_sync();
	test_walk();
	test_walk_hole();
	test_halt(false);
	test_halt(true);
	test_assert();
	printf("vmm_smoke: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
