// SPDX-License-Identifier: MIT
/*
 * Part of `kvmhold-bench txn`: what a commit over a guest_memfd slot costs
 * next to the same commit over a plain one, side by side in one VM.  Two
 * 2 MiB slots, one plain and one binding a guest_memfd, while one vCPU
 * spins (GUEST_PROG_COUNT) so that the commits' holds stop a running
 * guest.  Each sample splits a slot in the middle and merges it back, two
 * commits timed together, alternating plain and guest_memfd.  KVM moves
 * nothing here: a split or merge is a delete and creates either way, and
 * for the guest_memfd slot each create binds its file range again.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"
#include "kvm_compat.h"

#define GMEM_SIZE (2ull << 20)
#define PLAIN_GPA (16ull << 30)
#define GMEM_GPA  (17ull << 30)

struct create_gmem {
	uint64_t size, flags, reserved[6];
};

/* One sample: the slot at gpa split in the middle, then merged back. */
static int split_merge(struct kvmhold_vm *vm, uint64_t gpa, struct samples *s)
{
	uint64_t t0 = bench_now_ns();
	struct kvmhold_txn *txn;
	int r = kvmhold_txn_begin(vm, &txn);

	if (!r)
		r = kh_finish(txn, kvmhold_txn_split(txn, gpa + GMEM_SIZE / 2));
	if (!r)
		r = kvmhold_txn_begin(vm, &txn);
	if (!r)
		r = kh_finish(txn, kvmhold_txn_merge(txn, gpa, GMEM_SIZE));
	return r ? r : samples_add(s, bench_now_ns() - t0);
}

static int map_both(struct kvmhold_vm *vm, void *plain, void *shared, int gmem)
{
	struct kvmhold_txn *txn;
	int r = kvmhold_txn_begin(vm, &txn);

	if (r)
		return r;
	r = kvmhold_txn_map(txn, PLAIN_GPA, GMEM_SIZE, plain, 0);
	if (!r)
		r = kvmhold_txn_map_gmem(txn, GMEM_GPA, GMEM_SIZE, shared, 0, gmem, 0);
	return kh_finish(txn, r);
}

void gmem_compare(unsigned samples, struct txn_result *t)
{
	struct bvm_opts bo = { .vcpus = 1, .program = GUEST_PROG_COUNT };
	struct create_gmem cg = { .size = GMEM_SIZE };
	struct samples plain = { 0 }, gm = { 0 };
	char *mem = MAP_FAILED;
	struct bvm *m = NULL;
	unsigned i;
	int gmem = -1, r;

	r = bvm_create(&bo, &m);
	if (r)
		goto out;
	if (ioctl(m->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD) <= 0 ||
	    ioctl(m->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY2) <= 0) {
		snprintf(t->gmem_na, sizeof(t->gmem_na), "no guest_memfd in this KVM");
		goto out;
	}
	gmem = ioctl(m->vm_fd, KVM_CREATE_GUEST_MEMFD, &cg);
	mem = mmap(NULL, 2 * GMEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (gmem < 0 || mem == MAP_FAILED) {
		r = -errno;
		goto out;
	}
	r = map_both(m->vm, mem, mem + GMEM_SIZE, gmem);
	if (!r)
		r = bvm_start(m, true, NULL, NULL, MOVE_TIMEOUT_MS);
	for (i = 0; !r && i < samples; i++) {
		bench_progress("txn: guest_memfd %u/%u", i, samples);
		r = split_merge(m->vm, PLAIN_GPA, &plain);
		if (!r)
			r = split_merge(m->vm, GMEM_GPA, &gm);
	}
out:
	if (r)
		snprintf(t->gmem_error, sizeof(t->gmem_error), "%s", strerror(-r));
	bvm_destroy(m);
	if (gmem >= 0)
		close(gmem);
	if (mem != MAP_FAILED)
		munmap(mem, 2 * GMEM_SIZE);
	stats_take(&t->gmem_plain, &plain);
	stats_take(&t->gmem, &gm);
}
