// SPDX-License-Identifier: MIT
/*
 * Ring syncs make every vCPU leave guest mode once first where writes can
 * wait in the CPU (Intel PML keeps up to 512 per vCPU until the vCPU exits):
 * with KVMHOLD_VM_RING_FLUSH each kvmhold_dirty_sync() kicks the vCPU that
 * is in KVM_RUN (a signal is sent, the guest goes on), a gpa sync over
 * several slots does it once for all of them, and a sync by a thread that
 * holds the VM does not (its vCPUs are out already).  The pages the guest
 * wrote are reported each time.  The flush is not a hold: a sync inside a
 * mem section while another thread holds and releases in a loop always
 * succeeds and leaves no hold behind, and a sync made while holding a lock
 * that a device thread takes inside its mem section does not deadlock
 * (both failed when the flush was a hold).  Without the flag, the library
 * turns the flush on exactly where kvm_intel's pml parameter says Y.  This
 * machine has no PML, so the test checks the mechanism, not a lost write.
 *
 * Can fail: KVMHOLD_TEST_BREAK=ring-flush reads the rings without kicking
 * the vCPUs.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "check.h"
#include "tvm.h"

#define PAGE 4096ull
#define NP   64

static bool param_on(const char *path)
{
	char c = 0;
	int fd = open(path, O_RDONLY);

	if (fd >= 0 && read(fd, &c, 1) != 1)
		c = 0;
	if (fd >= 0)
		close(fd);
	return c == 'Y' || c == 'y' || c == '1';
}

static bool pml_on(void)
{
	return param_on("/sys/module/kvm_intel/parameters/pml") ||
	       param_on("/sys/module/kvm_amd/parameters/pml");
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

static atomic_bool stop;

static void *hold_loop(void *arg)
{
	struct tvm *t = arg;

	while (!atomic_load(&stop)) {
		CHECK_OK(kvmhold_hold(t->vm, 10000));
		CHECK_OK(kvmhold_release(t->vm));
	}
	return NULL;
}

/* Syncs from inside a mem section while another thread holds and releases. */
static void sync_in_section(struct tvm *t)
{
	pthread_t h;
	uint64_t bm;
	unsigned i;

	atomic_store(&stop, false);
	CHECK(pthread_create(&h, NULL, hold_loop, t) == 0, "pthread_create");
	for (i = 0; i < 200; i++) {
		CHECK_OK(kvmhold_mem_begin(t->vm));
		CHECK_OK(kvmhold_dirty_sync(t->vm, t->test_hva, NP * PAGE, &bm));
		CHECK_OK(kvmhold_mem_end(t->vm));
	}
	atomic_store(&stop, true);
	pthread_join(h, NULL);
	CHECK_RET(kvmhold_is_held(t->vm), 0);
}

static pthread_mutex_t device_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint device_rounds;

/* A device thread that takes device_lock inside its mem sections. */
static void *device_loop(void *arg)
{
	struct tvm *t = arg;

	while (!atomic_load(&stop)) {
		CHECK_OK(kvmhold_mem_begin(t->vm));
		pthread_mutex_lock(&device_lock);
		pthread_mutex_unlock(&device_lock);
		CHECK_OK(kvmhold_mem_end(t->vm));
		atomic_fetch_add(&device_rounds, 1);
	}
	return NULL;
}

/* A migration thread syncs holding device_lock (QEMU syncs under its big lock). */
static void sync_under_lock(struct tvm *t)
{
	pthread_t d;
	uint64_t bm;
	unsigned i;

	atomic_store(&stop, false);
	CHECK(pthread_create(&d, NULL, device_loop, t) == 0, "pthread_create");
	for (i = 0; i < 50; i++) {
		unsigned r0 = atomic_load(&device_rounds);

		/* The device thread is in its loop, maybe in a section waiting for the lock. */
		while (atomic_load(&device_rounds) == r0)
			sched_yield();
		pthread_mutex_lock(&device_lock);
		CHECK_OK(kvmhold_dirty_sync(t->vm, t->test_hva, NP * PAGE, &bm));
		pthread_mutex_unlock(&device_lock);
	}
	atomic_store(&stop, true);
	pthread_join(d, NULL);
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
	for (i = 0; i < 5; i++) {
		/* The guest is in KVM_RUN (it idles in a loop): the flush kicks it. */
		st = stats(t);
		write_and_sync(t, i, false);
		CHECK(stats(t).ring_flushes == st.ring_flushes + 1, "a sync without a flush");
		CHECK(stats(t).signals_sent > st.signals_sent, "a flush that kicked no vCPU");
	}

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
	CHECK(stats(t).ring_flushes == before, "a holder's sync flushed");

	sync_in_section(t);
	sync_under_lock(t);

	CHECK_OK(tvm_stop(t));
	CHECK(tvm_failures(t) == 0, "failures: %s", tvm_failure_msg(t, 0));
	tvm_destroy(t);
	printf("ring syncs: 5 syncs, 5 flushes, each kicking the running vCPU; a gpa sync over "
	       "3 slots, 1; a holder's, none; 200 syncs in a section beside a hold loop and 50 "
	       "under a device thread's lock, no failure, no hold left (PML here: %s)\n",
	       pml_on() ? "yes" : "no");
	return 0;
}
