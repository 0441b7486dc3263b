// SPDX-License-Identifier: MIT
/*
 * guest_memfd slots in transactions.  Two vCPUs walk a 256 KiB region
 * whose slots bind a guest_memfd (KVM_SET_USER_MEMORY_REGION2) while the
 * host splits, merges, grows and shrinks them: every slot must keep the
 * file range that matches its host memory, the guest must see no hole and
 * no bad data, and kvmhold_regions() must report each slot's file offset.
 * Then a guest_memfd slot moves (the commit deletes and re-creates it, as
 * for any slot; KVM could not move it in place anyway), the calls KVM would refuse fail with -EINVAL
 * and change nothing (no undo failed), clearing flags over a range that
 * ends inside a guest_memfd slot leaves that slot whole, and a guest_memfd
 * slot the VMM made itself is adopted and split.  Where KVM lacks guest_memfd, the call
 * must fail with -EOPNOTSUPP.
 *
 * Can fail: KVMHOLD_TEST_BREAK=gmem-offset (cuts do not advance the file
 * offset: KVM refuses a range bound twice).
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hold_checks.h"
#include "kvm_compat.h"

#define REGION (256 * 1024ull)
#define PAGE_SZ 4096ull
#define MAX_R 256

struct create_guest_memfd {
	uint64_t size, flags, reserved[6];
};

static uint64_t rng = 88172645463325252ull;

static int regions(struct kvmhold_txn *txn, struct tvm *t, struct kvmhold_region *r)
{
	int n = kvmhold_txn_regions(txn, t->test_gpa, REGION, r, MAX_R);

	CHECK(n > 0 && n <= MAX_R, "regions: %d", n);
	return n;
}

/* Every slot binds the file range that matches its host memory. */
static void check_offsets(struct tvm *t, int gmem)
{
	struct kvmhold_region r[MAX_R];
	int i, n = kvmhold_regions(t->vm, t->test_gpa, REGION, r, MAX_R);

	CHECK(n > 0 && n <= MAX_R, "regions: %d", n);
	for (i = 0; i < n; i++) {
		uint64_t want = (uint64_t)((char *)r[i].hva - (char *)t->test_hva);

		CHECK(r[i].flags == KVMHOLD_MEM_GUEST_MEMFD && r[i].guest_memfd == gmem &&
		      r[i].guest_memfd_offset == want,
		      "slot at +%#lx: flags %#x fd %d offset %#lx, want offset %#lx",
		      (unsigned long)(r[i].gpa - t->test_gpa), r[i].flags, r[i].guest_memfd,
		      (unsigned long)r[i].guest_memfd_offset, (unsigned long)want);
	}
}

/* One random change that keeps every page mapped to the same memory. */
static int add_change(struct tvm *t, struct kvmhold_txn *txn, int gmem)
{
	struct kvmhold_region r[MAX_R], *a, *b;
	int n = regions(txn, t, r), i = (int)test_rand(&rng, (uint64_t)n);
	uint64_t pages = r[i].size / PAGE_SZ, k;

	a = &r[i];
	b = i + 1 < n ? &r[i + 1] : NULL;
	switch (test_rand(&rng, 4)) {
	case 0:         /* split */
		if (pages < 2)
			return 0;
		CHECK_OK(kvmhold_txn_split(txn, a->gpa + (1 + test_rand(&rng, pages - 1)) * PAGE_SZ));
		return 1;
	case 1:         /* merge with the next slot */
		if (!b)
			return 0;
		CHECK_OK(kvmhold_txn_merge(txn, a->gpa, a->size + b->size));
		return 1;
	case 2:         /* a takes the first k pages of the next slot */
		if (!b || b->size < 2 * PAGE_SZ)
			return 0;
		k = 1 + test_rand(&rng, b->size / PAGE_SZ - 1);
		CHECK_OK(kvmhold_txn_unmap(txn, b->gpa, k * PAGE_SZ));
		CHECK_OK(kvmhold_txn_resize(txn, a->gpa, a->size + k * PAGE_SZ));
		return 1;
	default:        /* a gives its last k pages to a new slot */
		if (pages < 2)
			return 0;
		k = 1 + test_rand(&rng, pages - 1);
		CHECK_OK(kvmhold_txn_resize(txn, a->gpa, a->size - k * PAGE_SZ));
		CHECK_OK(kvmhold_txn_map_gmem(txn, a->gpa + a->size - k * PAGE_SZ, k * PAGE_SZ,
					      (char *)a->hva + a->size - k * PAGE_SZ, 0, gmem,
					      a->guest_memfd_offset + a->size - k * PAGE_SZ));
		return 1;
	}
}

/* What KVM would refuse fails at once, and a commit KVM refuses changes nothing. */
static void refused(struct tvm *t, int gmem)
{
	struct kvmhold_region before[MAX_R], after[MAX_R];
	struct kvmhold_stats st;
	struct kvmhold_txn *txn;
	uint64_t alias = t->test_gpa + 0x10000000;
	int n, m;

	/* One slot again: the file ranges of all of them follow each other. */
	CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
	CHECK_OK(kvmhold_txn_merge(txn, t->test_gpa, REGION));
	CHECK_OK(kvmhold_txn_commit(txn));
	n = kvmhold_regions(t->vm, t->test_gpa, REGION, before, MAX_R);
	CHECK(n == 1, "merged into %d slots", n);
	CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
	CHECK_RET(kvmhold_txn_map_gmem(txn, alias, PAGE_SZ, t->test_hva, KVMHOLD_MEM_LOG_DIRTY,
				       gmem, 0), -EINVAL);
	CHECK_RET(kvmhold_txn_map_gmem(txn, alias, PAGE_SZ, t->test_hva, 0, gmem, 100), -EINVAL);
	CHECK_RET(kvmhold_txn_map_gmem(txn, alias, PAGE_SZ, t->test_hva, 0, -1, 0), -EINVAL);
	CHECK_RET(kvmhold_txn_map(txn, alias, PAGE_SZ, t->test_hva, KVMHOLD_MEM_GUEST_MEMFD),
		  -EINVAL);
	CHECK_RET(kvmhold_txn_set_flags(txn, t->test_gpa, REGION, KVMHOLD_MEM_LOG_DIRTY), -EINVAL);
	/* Clearing flags leaves guest_memfd slots alone: nothing to do. */
	CHECK_OK(kvmhold_txn_set_flags(txn, t->test_gpa, REGION, 0));
	/* The first page's file range is bound already: KVM refuses, all undone. */
	CHECK_OK(kvmhold_txn_split(txn, t->test_gpa + PAGE_SZ));
	CHECK_OK(kvmhold_txn_map_gmem(txn, alias, PAGE_SZ, t->test_hva, 0, gmem, 0));
	CHECK(kvmhold_txn_commit(txn) < 0, "KVM bound one guest_memfd range twice");
	m = kvmhold_regions(t->vm, t->test_gpa, REGION, after, MAX_R);
	CHECK(m == n && !memcmp(before, after, (size_t)n * sizeof(before[0])),
	      "a refused commit changed the layout");
	CHECK(kvmhold_gpa_to_hva(t->vm, alias) == NULL, "the refused slot is mapped");
	CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
	CHECK(st.txn_undo_failures == 0 && st.txn_rollbacks == 1, "undo failures %lu, rollbacks %lu",
	      (unsigned long)st.txn_undo_failures, (unsigned long)st.txn_rollbacks);
}

/*
 * Logging off over a plain slot and the first half of the guest_memfd slot
 * after it: the guest_memfd slot has nothing to change and keeps its KVM
 * slot whole.
 */
static void clear_flags_beside(struct tvm *t, int gmem)
{
	static char plain[64 * 4096] __attribute__((aligned(4096)));
	uint64_t below = t->test_gpa - sizeof(plain);
	struct kvmhold_region before, after;
	struct kvmhold_txn *txn;

	CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
	CHECK_OK(kvmhold_txn_map(txn, below, sizeof(plain), plain, KVMHOLD_MEM_LOG_DIRTY));
	CHECK_OK(kvmhold_txn_commit(txn));
	CHECK(kvmhold_regions(t->vm, t->test_gpa, 1, &before, 1) == 1, "guest_memfd slot");
	CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
	CHECK_OK(kvmhold_txn_set_flags(txn, below, sizeof(plain) + REGION / 2, 0));
	CHECK_OK(kvmhold_txn_commit(txn));
	CHECK(kvmhold_regions(t->vm, t->test_gpa, REGION, &after, 1) == 1 &&
	      !memcmp(&before, &after, sizeof(before)) && after.guest_memfd == gmem,
	      "clearing flags beside it cut the guest_memfd slot");
	CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
	CHECK_OK(kvmhold_txn_unmap(txn, below, sizeof(plain)));
	CHECK_OK(kvmhold_txn_commit(txn));
}

struct create_guest_memfd_args {
	uint64_t size, flags, reserved[6];
};

/* A guest_memfd slot the VMM made by hand, adopted, then split. */
static void adopted(void)
{
	struct create_guest_memfd_args cg = { .size = REGION };
	struct kvmhold_memory_region2 reg = { 0 };
	struct kvmhold_region r[2];
	struct kvmhold_txn *txn;
	struct kvmhold_vm *vm;
	int kvm_fd, vm_fd, gmem;
	void *mem = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t gpa = 1ull << 30;

	CHECK(mem != MAP_FAILED, "mmap");
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	CHECK(vm_fd >= 0, "KVM_CREATE_VM");
	gmem = ioctl(vm_fd, KVM_CREATE_GUEST_MEMFD, &cg);
	CHECK(gmem >= 0, "KVM_CREATE_GUEST_MEMFD");
	reg = (struct kvmhold_memory_region2){
		.slot = 5, .flags = KVM_MEM_GUEST_MEMFD, .guest_phys_addr = gpa,
		.memory_size = REGION, .userspace_addr = (uintptr_t)mem,
		.guest_memfd = (uint32_t)gmem,
	};
	CHECK(ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION2, &reg) == 0, "REGION2: %s", strerror(errno));
	CHECK_OK(kvmhold_vm_adopt(vm_fd, NULL, &vm));
	CHECK_RET(kvmhold_vm_adopt_region_gmem(vm, 5, gpa, REGION, mem, -1, 0), -EINVAL);
	CHECK_OK(kvmhold_vm_adopt_region_gmem(vm, 5, gpa, REGION, mem, gmem, 0));
	CHECK_OK(kvmhold_txn_begin(vm, &txn));
	CHECK_OK(kvmhold_txn_split(txn, gpa + REGION / 2));
	CHECK_OK(kvmhold_txn_commit(txn));
	CHECK(kvmhold_regions(vm, gpa, REGION, r, 2) == 2 && r[0].guest_memfd == gmem &&
	      r[1].guest_memfd == gmem && r[0].guest_memfd_offset == 0 &&
	      r[1].guest_memfd_offset == REGION / 2,
	      "adopted guest_memfd slot after a split");
	kvmhold_vm_destroy(vm);
	close(gmem);
	close(vm_fd);
	close(kvm_fd);
	munmap(mem, REGION);
}

/*
 * A guest_memfd slot moves (KVM deletes and re-creates it) and comes back;
 * the guest is stopped by then, as it would see its region gone.
 */
static void move_slot(struct tvm *t, int gmem)
{
	struct kvmhold_region r;
	struct kvmhold_txn *txn;
	uint64_t alias = t->test_gpa + 0x10000000;
	int i;

	for (i = 0; i < 2; i++) {
		uint64_t from = i ? alias : t->test_gpa, to = i ? t->test_gpa : alias;

		CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
		CHECK_OK(kvmhold_txn_move(txn, from, REGION, to));
		CHECK_OK(kvmhold_txn_commit(txn));
		CHECK(kvmhold_regions(t->vm, to, PAGE_SZ, &r, 1) == 1, "moved slot missing");
		CHECK(r.flags == KVMHOLD_MEM_GUEST_MEMFD && r.guest_memfd == gmem &&
		      r.guest_memfd_offset == (uint64_t)((char *)r.hva - (char *)t->test_hva),
		      "moved slot lost its file range");
	}
}

int main(void)
{
	struct tvm_opts o = {
		.nr_vcpus = 2, .program = GUEST_PROG_WALK, .test_size = REGION,
		.walk_flags = TVM_WALK_NO_ASSERT, .quiet = true,
	};
	struct create_guest_memfd cg = { .size = REGION };
	struct kvmhold_stats st;
	struct kvmhold_txn *txn;
	unsigned i, commits = 0;
	uint64_t holes, bad;
	struct tvm *t;
	int gmem, r;

	test_apply_breakage();
	r = tvm_create(&o, &t);
	CHECK(r == 0, "tvm_create: %s", strerror(-r));
	CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
	if (ioctl(kvmhold_vm_fd(t->vm), KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD) <= 0 ||
	    ioctl(kvmhold_vm_fd(t->vm), KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY2) <= 0) {
		CHECK_RET(kvmhold_txn_map_gmem(txn, t->test_gpa, REGION, t->test_hva, 0, 0, 0),
			  -EOPNOTSUPP);
		kvmhold_txn_abort(txn);
		tvm_destroy(t);
		printf("no guest_memfd in this KVM: kvmhold_txn_map_gmem() gives -EOPNOTSUPP\n");
		return 0;
	}
	gmem = ioctl(kvmhold_vm_fd(t->vm), KVM_CREATE_GUEST_MEMFD, &cg);
	CHECK(gmem >= 0, "KVM_CREATE_GUEST_MEMFD: %s", strerror(errno));
	CHECK_OK(kvmhold_txn_map_gmem(txn, t->test_gpa, REGION, t->test_hva, 0, gmem, 0));
	CHECK_OK(kvmhold_txn_commit(txn));
	CHECK_OK(tvm_start(t));
	CHECK_ALL_MOVE(t);

	for (i = 0; i < 1000; i++) {
		int ops = 1 + (int)test_rand(&rng, 3), added = 0;

		CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
		while (ops-- > 0)
			added += add_change(t, txn, gmem);
		CHECK_OK(kvmhold_txn_commit(txn));
		commits += added > 0;
	}
	check_offsets(t, gmem);
	CHECK_ALL_MOVE(t);
	holes = tvm_holes(t);
	bad = tvm_walk_mismatches(t, 0) + tvm_walk_mismatches(t, 1);
	CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
	printf("%u transactions over guest_memfd slots (%lu under a hold, %lu ioctls); "
	       "guest: %lu hole exits, %lu bad pages\n", commits,
	       (unsigned long)st.txn_held_commits, (unsigned long)st.txn_ioctls,
	       (unsigned long)holes, (unsigned long)bad);
	CHECK(holes == 0 && bad == 0, "the guest saw holes or bad data");

	refused(t, gmem);
	clear_flags_beside(t, gmem);
	CHECK_OK(tvm_stop(t));
	move_slot(t, gmem);
	check_offsets(t, gmem);
	printf("a guest_memfd slot moved out and back; refused calls changed nothing\n");
	CHECK(tvm_failures(t) == 0, "failures: %s", tvm_failure_msg(t, 0));
	tvm_destroy(t);
	close(gmem);
	adopted();
	printf("clearing flags beside a guest_memfd slot left it whole; an adopted one split\n");
	return 0;
}
