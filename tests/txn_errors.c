// SPDX-License-Identifier: MIT
/*
 * Bad transaction input, each with its errno, and each failed operation
 * leaving the transaction usable and the layout unchanged: unaligned
 * gpa/size/hva, size 0, overflow, overlap, unmapping a hole, merging
 * non-contiguous host memory or different flags, moving onto mapped
 * memory, unknown flags, more slots than KVM allows, committing twice,
 * using an aborted transaction, a commit KVM itself refuses.
 *
 * Can fail: KVMHOLD_TEST_BREAK=range-check accepts unaligned and wrapping
 * ranges.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <linux/kvm.h>

#include "check.h"
#include "kvmhold.h"

#define PAGE 4096ull
#define MB   (1024 * 1024ull)

static struct kvmhold_vm *vm;
static char *mem;                  /* 64 MiB of host memory to map from */

static int nr_regions(void)
{
	return kvmhold_regions(vm, 0, ~0ull, NULL, 0);
}

static void test_validation(void)
{
	struct kvmhold_txn *txn, *stale;

	CHECK_OK(kvmhold_txn_begin(vm, &txn));
	CHECK_RET(kvmhold_txn_map(txn, 0x1001, PAGE, mem, 0), -EINVAL);         /* gpa */
	CHECK_RET(kvmhold_txn_map(txn, 0, PAGE + 1, mem, 0), -EINVAL);          /* size */
	CHECK_RET(kvmhold_txn_map(txn, 0, PAGE, mem + 8, 0), -EINVAL);          /* hva */
	CHECK_RET(kvmhold_txn_map(txn, 0, PAGE, NULL, 0), -EINVAL);
	CHECK_RET(kvmhold_txn_map(txn, 0, 0, mem, 0), -EINVAL);                 /* size 0 */
	CHECK_RET(kvmhold_txn_map(txn, ~0ull - PAGE + 1, 2 * PAGE, mem, 0), -EOVERFLOW);
	CHECK_RET(kvmhold_txn_map(txn, 0, PAGE, mem, 0x80), -EINVAL);           /* flags */
	CHECK_RET(kvmhold_txn_map(txn, 0, PAGE, mem, 1u << 2), -EINVAL);

	/* The transaction is still usable after all that. */
	CHECK_OK(kvmhold_txn_map(txn, 0, 16 * PAGE, mem, 0));
	CHECK_OK(kvmhold_txn_map(txn, 16 * PAGE, 16 * PAGE, mem + 16 * PAGE, KVMHOLD_MEM_LOG_DIRTY));
	CHECK_OK(kvmhold_txn_map(txn, 64 * PAGE, 16 * PAGE, mem + 128 * PAGE, 0));
	CHECK_RET(kvmhold_txn_map(txn, 8 * PAGE, 16 * PAGE, mem, 0), -EEXIST);  /* overlap */
	CHECK_RET(kvmhold_txn_unmap(txn, 30 * PAGE, 4 * PAGE), -ENOENT);       /* hole inside */
	CHECK_RET(kvmhold_txn_unmap(txn, 40 * PAGE, PAGE), -ENOENT);           /* all hole */
	CHECK_RET(kvmhold_txn_merge(txn, 0, 32 * PAGE), -EINVAL);              /* flags differ */
	CHECK_RET(kvmhold_txn_merge(txn, 16 * PAGE, 64 * PAGE), -ENOENT);      /* a hole */
	CHECK_RET(kvmhold_txn_merge(txn, 0, 8 * PAGE), -EINVAL);               /* ends inside */
	CHECK_RET(kvmhold_txn_merge(txn, 4 * PAGE, 12 * PAGE), -EINVAL);       /* starts inside */
	CHECK_RET(kvmhold_txn_move(txn, 0, 16 * PAGE, 64 * PAGE), -EEXIST);    /* onto mapped */
	CHECK_RET(kvmhold_txn_move(txn, 0, 16 * PAGE, 70 * PAGE), -EEXIST);
	CHECK_RET(kvmhold_txn_move(txn, 32 * PAGE, 4 * PAGE, 90 * PAGE), -ENOENT); /* unmapped */
	CHECK_RET(kvmhold_txn_split(txn, 0), -EINVAL);                         /* a boundary */
	CHECK_RET(kvmhold_txn_split(txn, 40 * PAGE), -ENOENT);
	CHECK_RET(kvmhold_txn_split(txn, 3 * PAGE + 1), -EINVAL);
	CHECK_RET(kvmhold_txn_resize(txn, PAGE, 4 * PAGE), -ENOENT);           /* not a start */
	CHECK_RET(kvmhold_txn_resize(txn, 0, 20 * PAGE), -EEXIST);             /* grows onto */
	CHECK_RET(kvmhold_txn_set_flags(txn, 0, 40 * PAGE, 0), -ENOENT);
	CHECK_RET(kvmhold_txn_set_flags(txn, 0, PAGE, 0x40), -EINVAL);
	CHECK_RET(kvmhold_txn_set_timeout(txn, -2), -EINVAL);
	CHECK_RET(kvmhold_txn_regions(txn, 0, 0, NULL, 0), -EINVAL);

	/* A thread with a transaction open cannot begin a second one. */
	CHECK_RET(kvmhold_txn_begin(vm, &stale), -EDEADLK);

	/* Contiguous host memory and equal flags: merge works. */
	CHECK_OK(kvmhold_txn_set_flags(txn, 16 * PAGE, 16 * PAGE, 0));
	CHECK_OK(kvmhold_txn_merge(txn, 0, 32 * PAGE));
	CHECK_RET(kvmhold_txn_regions(txn, 0, 1ull << 40, NULL, 0), 2);
	CHECK_RET(nr_regions(), 0);                /* nothing committed yet */
	CHECK_OK(kvmhold_txn_commit(txn));
	CHECK_RET(nr_regions(), 2);
	CHECK(kvmhold_gpa_to_hva(vm, 5 * PAGE + 7) == mem + 5 * PAGE + 7, "gpa_to_hva");
	CHECK(kvmhold_gpa_to_hva(vm, 40 * PAGE) == NULL, "gpa_to_hva of a hole");

	/* A committed or aborted transaction is gone. */
	stale = txn;
	CHECK_RET(kvmhold_txn_commit(stale), -EBADF);
	CHECK_RET(kvmhold_txn_map(stale, 200 * PAGE, PAGE, mem, 0), -EBADF);
	CHECK_OK(kvmhold_txn_begin(vm, &txn));
	kvmhold_txn_abort(txn);
	CHECK_RET(kvmhold_txn_commit(txn), -EBADF);
	CHECK_RET(kvmhold_txn_unmap(txn, 0, PAGE), -EBADF);
	kvmhold_txn_abort(txn);          /* twice: no-op */
	CHECK_RET(kvmhold_txn_commit(NULL), -EINVAL);
	CHECK_RET(kvmhold_txn_begin(NULL, &txn), -EINVAL);
	printf("validation: every bad operation refused with its errno, transaction still usable\n");
}

static void test_kvm_refuses(void)
{
	struct kvmhold_region before[4], after[4];
	struct kvmhold_txn *txn;
	int n;

	n = kvmhold_regions(vm, 0, ~0ull, before, 4);
	CHECK_OK(kvmhold_txn_begin(vm, &txn));
	CHECK_OK(kvmhold_txn_unmap(txn, 8 * PAGE, 4 * PAGE));          /* applied first... */
	CHECK_OK(kvmhold_txn_map(txn, 1ull << 62, PAGE, mem, 0));      /* ...then KVM says no */
	CHECK_RET(kvmhold_txn_commit(txn), -EINVAL);
	CHECK_RET(kvmhold_regions(vm, 0, ~0ull, after, 4), n);
	CHECK(!memcmp(before, after, (size_t)n * sizeof(*before)), "layout changed");
	CHECK(kvmhold_gpa_to_hva(vm, 9 * PAGE) == mem + 9 * PAGE, "the unmap was not undone");
	printf("a commit KVM refuses half-way: -EINVAL, layout exactly as before\n");
}

static void test_slot_limit(void)
{
	struct kvmhold_txn *txn;
	int room, i, have = nr_regions();
	uint64_t base = 1ull << 32;

	/* KVM_CAP_NR_MEMSLOTS slots, minus those mapped already. */
	room = kvmhold_vm_ioctl(vm, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_NR_MEMSLOTS) - have;
	CHECK(room > 0, "KVM_CAP_NR_MEMSLOTS");
	CHECK_OK(kvmhold_txn_begin(vm, &txn));
	for (i = 0; i < room; i++)
		CHECK_OK(kvmhold_txn_map(txn, base + (uint64_t)i * 2 * PAGE, PAGE,
					 mem + (uint64_t)(i % 1024) * PAGE, 0));
	CHECK_RET(kvmhold_txn_map(txn, base - 2 * PAGE, PAGE, mem, 0), -ENOSPC);
	CHECK_RET(kvmhold_txn_split(txn, 4 * PAGE), -ENOSPC);         /* splitting adds one */
	CHECK_RET(kvmhold_txn_unmap(txn, 4 * PAGE, PAGE), -ENOSPC);   /* so does a punched hole */
	CHECK_OK(kvmhold_txn_unmap(txn, 0, PAGE));                    /* shrinking does not */
	kvmhold_txn_abort(txn);
	CHECK_RET(nr_regions(), have);
	printf("slot limit: %d slots fit, one more is -ENOSPC\n", room + have);
}

static atomic_int section_state;   /* 1: inside, 2: may leave, 3: left */

static void *in_section(void *arg)
{
	(void)arg;
	CHECK_OK(kvmhold_mem_begin(vm));
	atomic_store(&section_state, 1);
	while (atomic_load(&section_state) != 2)
		sched_yield();
	CHECK_OK(kvmhold_mem_end(vm));
	atomic_store(&section_state, 3);
	return NULL;
}

/* Removing memory waits for other threads' mem sections, even one plain unmap. */
static void test_unmap_waits_for_sections(void)
{
	struct kvmhold_txn *txn;
	pthread_t t;

	CHECK_OK(kvmhold_txn_begin(vm, &txn));
	CHECK_OK(kvmhold_txn_map(txn, 512 * PAGE, 4 * PAGE, mem, 0));
	CHECK_OK(kvmhold_txn_commit(txn));
	CHECK(pthread_create(&t, NULL, in_section, NULL) == 0, "pthread_create");
	while (atomic_load(&section_state) != 1)
		sched_yield();
	CHECK_OK(kvmhold_txn_begin(vm, &txn));
	CHECK_OK(kvmhold_txn_unmap(txn, 512 * PAGE, 4 * PAGE));
	CHECK_OK(kvmhold_txn_set_timeout(txn, 100));
	CHECK_RET(kvmhold_txn_commit(txn), -ETIMEDOUT);
	CHECK(kvmhold_gpa_to_hva(vm, 512 * PAGE) == mem, "unmapped under a mem section");
	atomic_store(&section_state, 2);
	pthread_join(t, NULL);
	CHECK_OK(kvmhold_txn_begin(vm, &txn));
	CHECK_OK(kvmhold_txn_unmap(txn, 512 * PAGE, 4 * PAGE));
	CHECK_OK(kvmhold_txn_commit(txn));
	CHECK(kvmhold_gpa_to_hva(vm, 512 * PAGE) == NULL, "not unmapped");
	printf("unmapping a whole slot waits for another thread's mem section (-ETIMEDOUT after 100 ms)\n");
}

/* Flags already as asked: no cuts, no ioctls. */
static void test_set_flags_noop(void)
{
	struct kvmhold_txn *txn;
	struct kvmhold_stats st;
	int before = nr_regions();

	CHECK_OK(kvmhold_txn_begin(vm, &txn));
	CHECK_OK(kvmhold_txn_set_flags(txn, 2 * PAGE, 4 * PAGE, 0));
	CHECK_OK(kvmhold_txn_commit(txn));
	CHECK_OK(kvmhold_stats_get(vm, &st, sizeof(st)));
	CHECK(st.last_txn_ioctls == 0 && nr_regions() == before, "%u ioctls, %d -> %d regions",
	      st.last_txn_ioctls, before, nr_regions());
	printf("set_flags that changes nothing: no ioctl\n");
}

/* A VM destroyed with a transaction open takes the transaction with it. */
static void test_destroy_with_open_txn(void)
{
	struct kvmhold_vm *other;
	struct kvmhold_txn *txn;

	CHECK_OK(kvmhold_vm_create(NULL, &other));
	CHECK_OK(kvmhold_txn_begin(other, &txn));
	CHECK_OK(kvmhold_txn_map(txn, 0, PAGE, mem, 0));
	kvmhold_vm_destroy(other);
	CHECK_RET(kvmhold_txn_map(txn, PAGE, PAGE, mem, 0), -EBADF);
	CHECK_RET(kvmhold_txn_commit(txn), -EBADF);
	kvmhold_txn_abort(txn);
	printf("destroying a VM with a transaction open: the handle is gone (-EBADF)\n");
}

int main(void)
{
	test_apply_breakage();
	CHECK_OK(kvmhold_vm_create(NULL, &vm));
	mem = mmap(NULL, 64 * MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED, "mmap");
	test_validation();
	test_kvm_refuses();
	test_set_flags_noop();
	test_unmap_waits_for_sections();
	test_destroy_with_open_txn();
	test_slot_limit();
	kvmhold_vm_destroy(vm);
	munmap(mem, 64 * MB);
	return 0;
}
