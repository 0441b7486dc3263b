/* SPDX-License-Identifier: MIT */
/*
 * Assertions for the test programs: a failed check prints file:line and
 * exits 1; skip() exits 77.  Tests may print; the library never does.
 */
#ifndef KVMHOLD_TEST_CHECK_H
#define KVMHOLD_TEST_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmhold.h"
#include "test_hooks.h"

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__,  \
				__LINE__, #cond);                               \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
			exit(1);                                                \
		}                                                               \
	} while (0)

/* expr must return exactly want (an -errno or a value). */
#define CHECK_RET(expr, want)                                                   \
	do {                                                                    \
		long got_ = (long)(expr);                                       \
		long want_ = (long)(want);                                      \
		if (got_ != want_) {                                            \
			fprintf(stderr, "%s:%d: %s returned %ld (%s), want %ld (%s)\n", \
				__FILE__, __LINE__, #expr, got_,                \
				got_ < 0 ? strerror((int)-got_) : "ok", want_,  \
				want_ < 0 ? strerror((int)-want_) : "ok");      \
			exit(1);                                                \
		}                                                               \
	} while (0)

#define CHECK_OK(expr) CHECK_RET(expr, 0)

/*
 * Proving a test can fail: KVMHOLD_TEST_BREAK=name[,name...] disables the
 * named mechanism in the library (src/test_hooks.h), and the test must
 * then fail.  tests/prove.sh runs each test that way.
 */
static inline void test_apply_breakage(void)
{
	static const struct { const char *name; unsigned long long bit; } names[] = {
		{ "immediate-exit", BREAK_IMMEDIATE_EXIT },
		{ "kick-signal", BREAK_KICK_SIGNAL },
		{ "entry-check", BREAK_ENTRY_CHECK },
		{ "txn-hold", BREAK_TXN_HOLD },
		{ "txn-undo", BREAK_TXN_UNDO },
		{ "dirty-harvest", BREAK_DIRTY_HARVEST },
		{ "kernel-kick", BREAK_KERNEL_KICK },
		{ "timeout-undo", BREAK_TIMEOUT_UNDO },
		{ "avl-rebalance", BREAK_AVL_REBALANCE },
		{ "range-check", BREAK_RANGE_CHECK },
		{ "signal-owner", BREAK_SIGNAL_OWNER },
		{ "adopted-ids", BREAK_ADOPTED_IDS },
		{ "leave-wake", BREAK_LEAVE_WAKE },
		{ "park-exits", BREAK_PARK_EXITS },
		{ "ie-owner", BREAK_IE_OWNER },
		{ "section-release", BREAK_SECTION_RELEASE },
		{ "adopt-lookup", BREAK_ADOPT_LOOKUP },
		{ "adopt-order", BREAK_ADOPT_ORDER },
		{ "commit-exclusive", BREAK_COMMIT_EXCLUSIVE },
		{ "deferred-release", BREAK_DEFERRED_RELEASE },
		{ "record-reclaim", BREAK_RECORD_RECLAIM },
		{ "kicks-sample", BREAK_KICKS_SAMPLE },
		{ "txn-fail-hold", BREAK_TXN_FAIL_HOLD },
		{ "txn-reserve", BREAK_TXN_RESERVE },
		{ "deferred-epoch", BREAK_DEFERRED_EPOCH },
		{ "dirty-mark", BREAK_DIRTY_MARK },
		{ "gmem-offset", BREAK_GMEM_OFFSET },
		{ "space-ids", BREAK_SPACE_IDS },
		{ "exclusive-wake", BREAK_EXCLUSIVE_WAKE },
		{ "stopped-time", BREAK_STOPPED_TIME },
		{ "ring-flush", BREAK_RING_FLUSH },
		{ "logged-merge", BREAK_LOGGED_MERGE },
		{ "adaptive-spin", BREAK_ADAPTIVE_SPIN },
		{ "wake-target", BREAK_WAKE_TARGET },
		{ "nested-limit", BREAK_NESTED_LIMIT },
		{ "wake-every-leave", BREAK_WAKE_EVERY_LEAVE },
		{ "commit-holds", BREAK_COMMIT_HOLDS },
	};
	const char *env = getenv("KVMHOLD_TEST_BREAK");
	unsigned i;

	if (!env)
		return;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strstr(env, names[i].name)) {
			kvmhold_test_breakage |= names[i].bit;
			printf("test switch: %s disabled\n", names[i].name);
		}
}

/*
 * KVMHOLD_TEST_KICK=signal|kernel|auto: the kick backend of every VM the
 * test creates without choosing one (opts.kick == 0).  "kernel" needs the
 * patched KVM modules (kernel/): without them creating a VM fails, and so
 * does the test.  Applied before main() so no test can forget it.
 */
static inline unsigned test_kick_from_env(void)
{
	const char *env = getenv("KVMHOLD_TEST_KICK");

	if (!env || !*env || !strcmp(env, "signal"))
		return KVMHOLD_KICK_SIGNAL;
	if (!strcmp(env, "kernel"))
		return KVMHOLD_KICK_KERNEL;
	if (!strcmp(env, "auto"))
		return KVMHOLD_KICK_AUTO;
	fprintf(stderr, "KVMHOLD_TEST_KICK=%s: want signal, kernel or auto\n", env);
	exit(2);
}

__attribute__((constructor)) static void test_apply_kick(void)
{
	kvmhold_test_kick_default = test_kick_from_env();
}

/* Do this test's VMs use the kernel kick backend? */
static inline int test_kick_kernel(struct kvmhold_vm *vm)
{
	struct kvmhold_stats st;

	CHECK_OK(kvmhold_stats_get(vm, &st, sizeof(st)));
	return st.kick_backend == KVMHOLD_KICK_KERNEL;
}

/* The VM got the backend KVMHOLD_TEST_KICK asked for (auto: either). */
static inline void check_kick_backend(struct kvmhold_vm *vm)
{
	unsigned want = test_kick_from_env();
	int kernel = test_kick_kernel(vm);

	CHECK(want == KVMHOLD_KICK_AUTO || kernel == (want == KVMHOLD_KICK_KERNEL),
	      "kick backend is %s, KVMHOLD_TEST_KICK asked for the other",
	      kernel ? "kernel" : "signal");
}

static inline void skip(const char *why)
{
	printf("skip: %s\n", why);
	exit(77);
}

/* The tests' random numbers (xorshift64 on *state): in [0, n), 0 if n is 0. */
static inline uint64_t test_rand(uint64_t *state, uint64_t n)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return n ? *state % n : 0;
}

/* bm (words 64-bit words) with the bits of the n pages listed set, the rest clear. */
static inline void test_page_bits(uint64_t *bm, size_t words, const unsigned *pages, unsigned n)
{
	memset(bm, 0, words * sizeof(*bm));
	while (n-- > 0)
		bm[pages[n] / 64] |= 1ull << (pages[n] % 64);
}

#endif
