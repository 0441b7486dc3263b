// SPDX-License-Identifier: MIT
/*
 * Device writes in dirty tracking (kvmhold_dirty_mark and its gpa form):
 * pages a host thread writes and marks are reported by the next sync like
 * guest writes, exactly those pages, sub-page and unaligned marks widened
 * to whole pages; across a split and a merge made in between; not where
 * no slot logs (as a guest write there would not be); and, with a device
 * thread marking while the main thread syncs and commits, every marked
 * page is reported by some sync.  Bad input: -EINVAL.
 *
 * Can fail: KVMHOLD_TEST_BREAK=dirty-mark records nothing.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "check.h"
#include "tvm.h"

#define PAGE  4096ull
#define NP    64
#define G     (1ull << 30)
#define U     (2ull << 30)   /* an unlogged region */

static struct kvmhold_vm *vm;
static char *mem, *unlogged;

static uint64_t sync_all(void)
{
	uint64_t bm = 0;

	CHECK_OK(kvmhold_dirty_sync(vm, mem, NP * PAGE, &bm));
	return bm;
}

static void commit(int (*op)(struct kvmhold_txn *, uint64_t, uint64_t), uint64_t a, uint64_t b)
{
	struct kvmhold_txn *txn;

	CHECK_OK(kvmhold_txn_begin(vm, &txn));
	CHECK_OK(op(txn, a, b));
	CHECK_OK(kvmhold_txn_commit(txn));
}

static int op_split(struct kvmhold_txn *t, uint64_t gpa, uint64_t unused)
{
	(void)unused;
	return kvmhold_txn_split(t, gpa);
}

static int op_merge(struct kvmhold_txn *t, uint64_t gpa, uint64_t size)
{
	return kvmhold_txn_merge(t, gpa, size);
}

static int op_log_off(struct kvmhold_txn *t, uint64_t gpa, uint64_t size)
{
	return kvmhold_txn_set_flags(t, gpa, size, 0);
}

static void exact(void)
{
	uint64_t got, bm;

	memset(mem + 3 * PAGE + 100, 1, 10);
	CHECK_OK(kvmhold_dirty_mark(vm, mem + 3 * PAGE + 100, 10));    /* inside page 3 */
	memset(mem + 10 * PAGE + 4000, 2, 200);
	CHECK_OK(kvmhold_dirty_mark(vm, mem + 10 * PAGE + 4000, 200)); /* pages 10, 11 */
	memset(mem + 40 * PAGE, 3, PAGE);
	CHECK_OK(kvmhold_dirty_mark_gpa(vm, G + 40 * PAGE, PAGE));     /* page 40 */
	got = sync_all();
	bm = 1ull << 3 | 1ull << 10 | 1ull << 11 | 1ull << 40;
	CHECK(got == bm, "reported %#lx, marked %#lx", (unsigned long)got, (unsigned long)bm);
	CHECK(sync_all() == 0, "a second sync reported the marks again");

	CHECK_OK(kvmhold_dirty_mark(vm, mem + 5 * PAGE, PAGE));
	commit(op_split, G + 32 * PAGE, 0);
	commit(op_merge, G, NP * PAGE);
	got = sync_all();
	CHECK(got == 1ull << 5, "after a split and a merge: reported %#lx, marked page 5",
	      (unsigned long)got);

	/* No slot logs there: nothing recorded, and nothing to sync. */
	CHECK_OK(kvmhold_dirty_mark(vm, unlogged, PAGE));
	CHECK_RET(kvmhold_dirty_sync(vm, unlogged, PAGE, &bm), -ENODATA);
	printf("marks: exactly the marked pages (sub-page, unaligned, by gpa), across a split "
	       "and a merge; none where nothing logs\n");
}

static atomic_bool stop;
static _Atomic uint64_t marked;    /* pages the device marked */

static void *device(void *arg)
{
	uint64_t seed = 99;

	(void)arg;
	while (!atomic_load(&stop)) {
		unsigned p;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		p = (unsigned)(seed >> 33) % NP;
		mem[p * PAGE + 8] = (char)seed;            /* the device's write */
		atomic_fetch_or(&marked, 1ull << p);       /* before the mark: see below */
		CHECK_OK(kvmhold_dirty_mark(vm, mem + p * PAGE + 8, 1));
	}
	return NULL;
}

/*
 * The device records a page in `marked` before it marks it, so a page in
 * `marked` may not be marked yet at a sync; after the device stops, a last
 * sync takes whatever was marked since.  Every page in `marked` must then
 * have been reported by one of the syncs.
 */
static void concurrent(void)
{
	uint64_t reported = 0;
	unsigned i;
	pthread_t dev;

	atomic_store(&marked, 0);
	CHECK(pthread_create(&dev, NULL, device, NULL) == 0, "pthread_create");
	for (i = 0; i < 200; i++) {
		reported |= sync_all();
		if (i % 10 == 0) {
			commit(op_split, G + (1 + i % 60) * PAGE, 0);
			commit(op_merge, G, NP * PAGE);
		}
	}
	atomic_store(&stop, true);
	pthread_join(dev, NULL);
	reported |= sync_all();
	CHECK((atomic_load(&marked) & ~reported) == 0, "marked pages %#lx never reported",
	      (unsigned long)(atomic_load(&marked) & ~reported));
	printf("a device marking while syncs and commits ran: all %d marked pages reported\n",
	       __builtin_popcountll(atomic_load(&marked)));
}

static void bad_input(void)
{
	uint64_t bm;

	CHECK_RET(kvmhold_dirty_mark(NULL, mem, PAGE), -EINVAL);
	CHECK_RET(kvmhold_dirty_mark(vm, mem, 0), -EINVAL);
	CHECK_RET(kvmhold_dirty_mark(vm, NULL, PAGE), -EINVAL);
	CHECK_RET(kvmhold_dirty_mark(vm, (void *)(uintptr_t)(UINT64_MAX - 10), 100), -EINVAL);
	CHECK_RET(kvmhold_dirty_mark_gpa(vm, G, 0), -EINVAL);
	CHECK_RET(kvmhold_dirty_mark_gpa(vm, UINT64_MAX - 10, 100), -EINVAL);
	CHECK_OK(kvmhold_dirty_mark_gpa(vm, 5ull << 30, PAGE));    /* unmapped: nothing */
	/* Logging off: later marks are not recorded, like later guest writes. */
	commit(op_log_off, G, NP * PAGE);
	CHECK_OK(kvmhold_dirty_mark(vm, mem + 7 * PAGE, PAGE));
	CHECK_OK(kvmhold_dirty_sync(vm, mem, NP * PAGE, &bm));
	CHECK(bm == 0, "a mark after logging was turned off was reported (%#lx)",
	      (unsigned long)bm);
	printf("bad input -EINVAL; unmapped and unlogged memory: nothing recorded\n");
}

int main(void)
{
	struct kvmhold_txn *txn;

	test_apply_breakage();
	mem = mmap(NULL, NP * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unlogged = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED && unlogged != MAP_FAILED, "mmap");
	CHECK_OK(kvmhold_vm_create(NULL, &vm));
	CHECK_OK(kvmhold_txn_begin(vm, &txn));
	CHECK_OK(kvmhold_txn_map(txn, G, NP * PAGE, mem, KVMHOLD_MEM_LOG_DIRTY));
	CHECK_OK(kvmhold_txn_map(txn, U, PAGE, unlogged, 0));
	CHECK_OK(kvmhold_txn_commit(txn));
	sync_all();     /* start from nothing */
	exact();
	concurrent();
	bad_input();
	kvmhold_vm_destroy(vm);
	munmap(mem, NP * PAGE);
	munmap(unlogged, PAGE);
	return 0;
}
