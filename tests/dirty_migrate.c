// SPDX-License-Identifier: MIT
/*
 * Migration consistency, for both KVM mechanisms (dirty bitmap, dirty
 * ring).  Two vCPUs keep writing the current iteration number into random
 * pages of a 1 MiB region.  The host runs a pre-copy migration into a
 * second buffer: each round it bumps the iteration, commits a random
 * transaction over the region (split, merge, grow, shrink, move, logging
 * off and on), syncs the region's dirty pages and copies them.  Every
 * fourth round the sync is taken with the VM held and checked against the
 * kernel selftest's rule: a page holding the current iteration must be
 * reported dirty (a page reported clean holds an older value).  At the end:
 * hold, final sync, copy, and the destination must equal guest memory,
 * page for page.  Meanwhile a device thread writes into random pages of
 * the region from the host (inside mem sections, as a VMM's device
 * would) and marks what it wrote (kvmhold_dirty_mark): KVM never sees
 * those writes, and the final comparison finds any the marks lost.
 *
 * Then a short run with the harvest switched off (test-only): KVM's dirty
 * bits of destroyed slots are dropped, and the copy must go wrong, which
 * proves the test can fail.  KVMHOLD_TEST_BREAK=dirty-mark fails the
 * device's pages instead.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "hold_checks.h"
#include "layout_ops.h"

#define NP      256
#define REGION  (NP * PAGE)
#define WORDS   (NP / 64)

struct outcome {
	unsigned rounds, rule_checks;
	uint64_t rule_violations, mismatches, copied, holes;
};

static bool bit(const uint64_t *bm, unsigned i)
{
	return bm[i / 64] & (1ull << (i % 64));
}

static void copy_dirty(char *dst, const char *src, const uint64_t *bm, uint64_t *copied)
{
	for (unsigned i = 0; i < NP; i++)
		if (bit(bm, i)) {
			memcpy(dst + i * PAGE, src + i * PAGE, PAGE);
			(*copied)++;
		}
}

struct device {
	struct kvmhold_vm *vm;
	char *src;
	atomic_bool stop;
	uint64_t writes;
};

/* A device writing guest memory from the host: in a mem section, then marked. */
static void *device(void *arg)
{
	struct device *d = arg;
	uint64_t seed = 12345;

	while (!atomic_load(&d->stop)) {
		unsigned p;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		p = (unsigned)(seed >> 33) % NP;
		CHECK_OK(kvmhold_mem_begin(d->vm));
		/* Not the first quadword: that one is the guest's iteration. */
		__atomic_store_n((uint64_t *)(d->src + p * PAGE + 8), ++d->writes, __ATOMIC_RELAXED);
		CHECK_OK(kvmhold_dirty_mark(d->vm, d->src + p * PAGE + 8, 8));
		CHECK_OK(kvmhold_mem_end(d->vm));
		/* A device's pace, not a spin: leave the CPUs to the vCPUs and the migration. */
		usleep(100);
	}
	return NULL;
}

static struct outcome migrate(unsigned ring_bytes, unsigned rounds, bool skip_harvest)
{
	struct device dev = { 0 };
	pthread_t dev_thread;
	unsigned broken = kvmhold_test_breakage & BREAK_DIRTY_MARK;
	struct tvm_opts o = {
		.nr_vcpus = 2, .program = GUEST_PROG_DIRTY, .test_size = REGION,
		.map_test_region = true, .test_slot_flags = KVM_MEM_LOG_DIRTY_PAGES,
		.vm_opts = { .dirty_ring_bytes = ring_bytes }, .quiet = true,
	};
	struct outcome out = { 0 };
	uint64_t bm[WORDS];
	struct layout l;
	struct tvm *t;
	char *dst, *src;
	unsigned r, i;

	__atomic_store_n(&kvmhold_test_breakage, broken | (skip_harvest ? BREAK_DIRTY_HARVEST : 0),
			 __ATOMIC_RELAXED);
	dst = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(dst != MAP_FAILED, "mmap");
	CHECK_OK(tvm_create(&o, &t));
	src = t->test_hva;
	tvm_set_param(t, TVM_DIRTY_ITER, 1);
	tvm_set_param(t, TVM_DIRTY_DELAY, 200);
	CHECK_OK(tvm_start(t));
	l = (struct layout){ .vm = t->vm, .tvm = t, .gpa = t->test_gpa, .size = REGION,
			     .alias_gpa = t->test_gpa + 0x20000000, .rng = 7 + ring_bytes };

	/* First pass: everything (with the device already writing). */
	dev = (struct device){ .vm = t->vm, .src = src };
	CHECK(pthread_create(&dev_thread, NULL, device, &dev) == 0, "pthread_create");
	CHECK_OK(kvmhold_dirty_sync(t->vm, src, REGION, bm));
	CHECK_OK(kvmhold_hold(t->vm, 20000));    /* no device write mid-copy */
	memcpy(dst, src, REGION);
	CHECK_OK(kvmhold_release(t->vm));

	for (r = 2; r < rounds + 2; r++) {
		struct kvmhold_txn *txn;
		enum layout_op op = (enum layout_op)layout_rand(&l, LOP_KINDS);
		uint64_t written = tvm_counter_sum(t), untracked[WORDS] = { 0 };

		tvm_set_param(t, TVM_DIRTY_ITER, r);
		/* Let the guests write a few pages with this iteration. */
		while (tvm_counter_sum(t) < written + 4)
			sched_yield();

		CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
		if (op == LOP_LOG_OFF || op == LOP_LOG_ON) {
			/*
			 * Logging off and back on over a random range.  Writes
			 * while it is off are nobody's to track: like a VMM, copy
			 * that range whole once logging is back.  What was gathered
			 * before it went off must still be reported.
			 */
			uint64_t first = layout_rand(&l, NP), n = 1 + layout_rand(&l, NP - first);

			CHECK_OK(kvmhold_txn_set_flags(txn, l.gpa + first * PAGE, n * PAGE, 0));
			CHECK_OK(kvmhold_txn_commit(txn));
			CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
			CHECK_OK(kvmhold_txn_set_flags(txn, l.gpa + first * PAGE, n * PAGE,
						       KVMHOLD_MEM_LOG_DIRTY));
			CHECK_OK(kvmhold_txn_commit(txn));
			CHECK_OK(kvmhold_hold(t->vm, 20000));
			memcpy(dst + first * PAGE, src + first * PAGE, n * PAGE);
			CHECK_OK(kvmhold_release(t->vm));
			for (i = (unsigned)first; i < first + n; i++)
				untracked[i / 64] |= 1ull << (i % 64);
		} else {
			layout_add_op(&l, txn, op);
			CHECK_OK(kvmhold_txn_commit(txn));
		}

		if (r % 4 == 0) {
			CHECK_OK(kvmhold_hold(t->vm, 20000));
			CHECK_OK(kvmhold_dirty_sync(t->vm, src, REGION, bm));
			/*
			 * The rule: a page holding this round's number was written
			 * since the last sync, unless it was written while its
			 * logging was off (the toggle above).
			 */
			for (i = 0; i < NP; i++)
				if (*(uint64_t *)(src + i * PAGE) == r && !bit(bm, i) &&
				    !bit(untracked, i))
					out.rule_violations++;
			copy_dirty(dst, src, bm, &out.copied);
			CHECK_OK(kvmhold_release(t->vm));
			out.rule_checks++;
		} else {
			CHECK_OK(kvmhold_dirty_sync(t->vm, src, REGION, bm));
			copy_dirty(dst, src, bm, &out.copied);
		}
		out.rounds++;
	}

	/* Final pass with the VM held: the destination must now be exact. */
	CHECK_OK(kvmhold_hold(t->vm, 20000));
	CHECK_OK(kvmhold_dirty_sync(t->vm, src, REGION, bm));
	copy_dirty(dst, src, bm, &out.copied);
	for (i = 0; i < NP; i++)
		out.mismatches += memcmp(dst + i * PAGE, src + i * PAGE, PAGE) != 0;
	CHECK_OK(kvmhold_release(t->vm));
	atomic_store(&dev.stop, true);
	pthread_join(dev_thread, NULL);
	out.holes = tvm_holes(t);
	CHECK_OK(tvm_stop(t));
	CHECK(tvm_failures(t) == 0, "guest failures: %s", tvm_failure_msg(t, 0));
	layout_read(&l, NULL);
	printf("%-6s %s: %u rounds (final layout %d slots), %lu pages copied; rule checked %u "
	       "times, %lu violations; %lu device writes; %lu pages differ at the end; "
	       "%lu hole exits\n",
	       ring_bytes ? "ring" : "bitmap", skip_harvest ? "harvest off" : "kvmhold    ",
	       out.rounds, l.n, (unsigned long)out.copied, out.rule_checks,
	       (unsigned long)out.rule_violations, (unsigned long)dev.writes,
	       (unsigned long)out.mismatches, (unsigned long)out.holes);
	tvm_destroy(t);
	munmap(dst, REGION);
	__atomic_store_n(&kvmhold_test_breakage, broken, __ATOMIC_RELAXED);
	return out;
}

int main(void)
{
	static const unsigned rings[] = { 0, 64 * 1024 };
	bool broken;
	unsigned k;

	test_apply_breakage();
	broken = kvmhold_test_breakage & BREAK_DIRTY_HARVEST;
	for (k = 0; k < 2; k++) {
		struct outcome good = migrate(rings[k], 1000, broken), bad;

		CHECK(good.mismatches == 0 && good.rule_violations == 0 && good.holes == 0,
		      "%s: %lu pages differ, %lu rule violations, %lu holes", k ? "ring" : "bitmap",
		      (unsigned long)good.mismatches, (unsigned long)good.rule_violations,
		      (unsigned long)good.holes);
		bad = migrate(rings[k], 200, true);
		CHECK(bad.mismatches + bad.rule_violations > 0,
		      "%s: without the harvest nothing was lost: this test could not fail",
		      k ? "ring" : "bitmap");
	}
	return 0;
}
