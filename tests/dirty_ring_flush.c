// SPDX-License-Identifier: MIT
/*
 * Ring syncs stop the vCPUs first where writes can wait in the CPU (Intel
 * PML keeps up to 512 per vCPU until the vCPU leaves guest mode): with
 * KVMHOLD_VM_RING_FLUSH each kvmhold_dirty_sync() holds and releases the
 * VM once before it reads the rings, a gpa sync over several slots does it
 * once for all of them, and a sync by a thread that holds the VM does not
 * (its vCPUs are stopped already).  The pages the guest wrote are reported
 * each time.  Without the flag, the library turns the flush on exactly
 * where kvm_intel's pml parameter says Y.  This machine has no PML, so the
 * test checks the mechanism (the holds), not a lost write.
 *
 * Can fail: KVMHOLD_TEST_BREAK=ring-flush reads the rings without stopping
 * the vCPUs.
 */
#include <fcntl.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "check.h"
#include "tvm.h"

#define PAGE 4096ull
#define NP   64

static bool pml_on(void)
{
	char c = 0;
	int fd = open("/sys/module/kvm_intel/parameters/pml", O_RDONLY);

	if (fd >= 0 && read(fd, &c, 1) != 1)
		c = 0;
	if (fd >= 0)
		close(fd);
	return c == 'Y' || c == 'y' || c == '1';
}

static struct kvmhold_stats stats(struct tvm *t)
{
	struct kvmhold_stats st;

	CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
	return st;
}

/* The guest writes page p; a sync (by hva, or by gpa) must report it. */
static void write_and_sync(struct tvm *t, unsigned p, bool by_gpa)
{
	uint64_t bm = 1ull << p, got = 0;

	CHECK_OK(tvm_probe_write(t, &bm, p + 1, 20000));
	if (by_gpa)
		CHECK_OK(kvmhold_dirty_sync_gpa(t->vm, t->test_gpa, NP * PAGE, &got));
	else
		CHECK_OK(kvmhold_dirty_sync(t->vm, t->test_hva, NP * PAGE, &got));
	CHECK(got == bm, "sync reported %#lx, want %#lx", (unsigned long)got, (unsigned long)bm);
}

static struct tvm *start(unsigned flags)
{
	struct tvm_opts o = {
		.nr_vcpus = 1, .program = GUEST_PROG_PROBE, .test_size = NP * PAGE,
		.map_test_region = true, .test_slot_flags = KVM_MEM_LOG_DIRTY_PAGES, .quiet = true,
		.vm_opts = { .dirty_ring_bytes = 64 * 1024, .flags = flags },
	};
	struct tvm *t;
	uint64_t bm;

	CHECK_OK(tvm_create(&o, &t));
	CHECK_OK(tvm_start(t));
	CHECK_OK(kvmhold_dirty_sync(t->vm, t->test_hva, NP * PAGE, &bm));   /* drain */
	return t;
}

int main(void)
{
	struct kvmhold_txn *txn;
	struct kvmhold_stats st;
	uint64_t before, bm;
	struct tvm *t;
	unsigned i;

	test_apply_breakage();
	t = start(0);
	st = stats(t);
	CHECK(st.ring_flush == pml_on(), "flush %u without the flag, PML %d", st.ring_flush,
	      pml_on());
	CHECK_OK(tvm_stop(t));
	tvm_destroy(t);

	t = start(KVMHOLD_VM_RING_FLUSH);
	CHECK(stats(t).ring_flush == 1, "the flag did not turn the flush on");
	before = stats(t).ring_flushes;
	for (i = 0; i < 5; i++)
		write_and_sync(t, i, false);
	st = stats(t);
	CHECK(st.ring_flushes - before == 5, "5 syncs, %lu flushes",
	      (unsigned long)(st.ring_flushes - before));

	/* Three slots, one gpa sync: one flush. */
	CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
	CHECK_OK(kvmhold_txn_split(txn, t->test_gpa + 16 * PAGE));
	CHECK_OK(kvmhold_txn_split(txn, t->test_gpa + 32 * PAGE));
	CHECK_OK(kvmhold_txn_commit(txn));
	before = stats(t).ring_flushes;
	write_and_sync(t, 40, true);
	CHECK(stats(t).ring_flushes - before == 1, "a gpa sync over 3 slots flushed %lu times",
	      (unsigned long)(stats(t).ring_flushes - before));

	/* A holder's sync: the vCPUs are stopped already. */
	bm = 1ull << 50;
	CHECK_OK(tvm_probe_write(t, &bm, 9, 20000));
	before = stats(t).ring_flushes;
	CHECK_OK(kvmhold_hold(t->vm, 10000));
	CHECK_OK(kvmhold_dirty_sync(t->vm, t->test_hva, NP * PAGE, &bm));
	CHECK_OK(kvmhold_release(t->vm));
	CHECK(bm == 1ull << 50, "holder's sync reported %#lx", (unsigned long)bm);
	CHECK(stats(t).ring_flushes == before, "a holder's sync held again");

	CHECK_OK(tvm_stop(t));
	CHECK(tvm_failures(t) == 0, "failures: %s", tvm_failure_msg(t, 0));
	tvm_destroy(t);
	printf("ring syncs: 5 syncs, 5 flushes; a gpa sync over 3 slots, 1; a holder's, none "
	       "(PML here: %s)\n", pml_on() ? "yes" : "no");
	return 0;
}
