// SPDX-License-Identifier: MIT
/*
 * Memslots the VMM made itself, handed to the library with
 * kvmhold_vm_adopt_region().
 *
 * First without guests: every bad input gets its errno and leaves the
 * table as it was; adoption is refused once the library has created a
 * slot (-EBUSY) and inside the caller's own transaction (-EDEADLK); new
 * slots never take an adopted id.
 *
 * Then the VMM's flow: a VM created with KVM_CREATE_VM, its system and test
 * memslots made by raw KVM_SET_USER_MEMORY_REGION (ids 0 and 1), adopted,
 * two vCPUs walking the test region.  A new slot of the test region's size
 * is mapped next to it, then random transactions reshape the adopted
 * region (split, merge, grow, shrink, move, logging): the guest must see no
 * hole and no bad page, and the commits must all succeed.
 *
 * Can fail: KVMHOLD_TEST_BREAK=adopted-ids lets new slots take adopted ids.
 * The fourth new slot then gets id 3, and KVM, given the same size and host
 * memory under an id it has, silently moves the VMM's slot instead of
 * creating one (seen here); in the guest flow the first new slot would get
 * id 0, the system slot, and KVM would refuse the commit.
 */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "hold_checks.h"
#include "layout_ops.h"

#define REGION   (64 * 1024)
#define COMMITS  300

static int nr_regions(struct kvmhold_vm *vm)
{
	return kvmhold_regions(vm, 0, UINT64_MAX, NULL, 0);
}

static void test_bad_input(void)
{
	const uint64_t gpa = 0x100000;
	struct kvmhold_region reg;
	struct kvmhold_txn *txn;
	struct kvmhold_vm *vm;
	int kvm_fd, vm_fd;
	char *mem;

	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	CHECK(kvm_fd >= 0, "/dev/kvm");
	vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	CHECK(vm_fd >= 0, "KVM_CREATE_VM");
	mem = mmap(NULL, 4 * REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED, "mmap");
	CHECK_OK(tvm_raw_memslot(vm_fd, 3, gpa, REGION, mem, 0));   /* the VMM's own slot */
	CHECK_OK(kvmhold_vm_adopt(vm_fd, NULL, &vm));

	CHECK_RET(kvmhold_vm_adopt_region(NULL, 3, gpa, REGION, mem, 0), -EINVAL);
	/* Bits 16-31 name the address space: one KVM lacks is refused. */
	if (kvmhold_vm_address_spaces(vm) == 1)
		CHECK_RET(kvmhold_vm_adopt_region(vm, 1u << 16, gpa, REGION, mem, 0), -EOPNOTSUPP);
	CHECK_RET(kvmhold_vm_adopt_region(vm, UINT32_MAX, gpa, REGION, mem, 0), -EOPNOTSUPP);
	CHECK_RET(kvmhold_vm_adopt_region(vm, 0xffff, gpa, REGION, mem, 0), -EINVAL);
	CHECK_RET(kvmhold_vm_adopt_region(vm, 3, gpa + 1, REGION, mem, 0), -EINVAL);
	CHECK_RET(kvmhold_vm_adopt_region(vm, 3, gpa, REGION + 1, mem, 0), -EINVAL);
	CHECK_RET(kvmhold_vm_adopt_region(vm, 3, gpa, 0, mem, 0), -EINVAL);
	CHECK_RET(kvmhold_vm_adopt_region(vm, 3, gpa, REGION, mem + 8, 0), -EINVAL);
	CHECK_RET(kvmhold_vm_adopt_region(vm, 3, gpa, REGION, NULL, 0), -EINVAL);
	CHECK_RET(kvmhold_vm_adopt_region(vm, 3, UINT64_MAX - 4095, REGION, mem, 0), -EOVERFLOW);
	CHECK_RET(kvmhold_vm_adopt_region(vm, 3, gpa, REGION, mem, 1u << 7), -EINVAL);
	CHECK(nr_regions(vm) == 0, "a refused adoption changed the table");

	CHECK_OK(kvmhold_vm_adopt_region(vm, 3, gpa, REGION, mem, 0));
	CHECK(kvmhold_regions(vm, 0, UINT64_MAX, &reg, 1) == 1 && reg.slot == 3 &&
	      reg.gpa == gpa && reg.size == REGION && reg.hva == mem, "the adopted slot");
	CHECK(kvmhold_gpa_to_hva(vm, gpa + 4096) == mem + 4096, "lookup in the adopted slot");
	/* Overlapping the adopted range, or reusing its id. */
	CHECK_RET(kvmhold_vm_adopt_region(vm, 4, gpa + REGION - 4096, REGION, mem + REGION, 0),
		  -EEXIST);
	CHECK_RET(kvmhold_vm_adopt_region(vm, 3, gpa + REGION, REGION, mem + REGION, 0), -EEXIST);
	CHECK(nr_regions(vm) == 1, "a refused adoption changed the table");

	/* Inside the caller's own transaction it would wait for itself. */
	CHECK_OK(kvmhold_txn_begin(vm, &txn));
	CHECK_RET(kvmhold_vm_adopt_region(vm, 4, gpa + REGION, REGION, mem + REGION, 0), -EDEADLK);
	/* New slots take ids 0, 1, 2, then 4: never the adopted 3. */
	for (int i = 0; i < 3; i++)
		CHECK_OK(kvmhold_txn_map(txn, gpa + (uint64_t)(i + 1) * REGION, REGION,
					 mem + (size_t)(i + 1) * REGION, 0));
	CHECK_OK(kvmhold_txn_commit(txn));
	CHECK_OK(kvmhold_txn_begin(vm, &txn));
	CHECK_OK(kvmhold_txn_map(txn, 0, REGION, mem, 0));
	CHECK_OK(kvmhold_txn_commit(txn));
	CHECK(kvmhold_regions(vm, 0, REGION, &reg, 1) == 1 && reg.slot == 4,
	      "the fourth new slot has id %u, want 4", reg.slot);
	/* The library has made slots: a VMM-made one could share an id now. */
	CHECK_RET(kvmhold_vm_adopt_region(vm, 9, 0x40000000, REGION, mem, 0), -EBUSY);
	CHECK(nr_regions(vm) == 5, "%d regions, want 5", nr_regions(vm));
	printf("bad input: each with its errno, table unchanged; new slots 0, 1, 2, 4 around "
	       "adopted 3; -EBUSY after the first commit\n");

	kvmhold_vm_destroy(vm);
	close(vm_fd);
	close(kvm_fd);
	munmap(mem, 4 * REGION);
}

static void test_guest_flow(void)
{
	struct tvm_opts o = {
		.nr_vcpus = 2, .program = GUEST_PROG_WALK, .test_size = REGION,
		.map_test_region = true, .walk_flags = TVM_WALK_NO_ASSERT, .quiet = true,
		.adopt_vm = true,
	};
	struct kvmhold_region reg;
	struct kvmhold_txn *txn;
	struct layout l;
	uint64_t side_gpa, holes, bad;
	void *side;
	struct tvm *t;
	unsigned i, commits = 0;

	t = start_tvm(&o);
	CHECK(kvmhold_regions(t->vm, t->test_gpa, REGION, &reg, 1) == 1 &&
	      reg.slot == TVM_ADOPTED_TEST_SLOT, "the adopted test slot");

	/* A new slot of the same size: under the VMM's own ids KVM would refuse it. */
	side = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(side != MAP_FAILED, "mmap");
	side_gpa = t->test_gpa + 0x10000000;
	CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
	CHECK_OK(kvmhold_txn_map(txn, side_gpa, REGION, side, 0));
	CHECK_OK(kvmhold_txn_commit(txn));
	CHECK(kvmhold_regions(t->vm, side_gpa, REGION, &reg, 1) == 1 &&
	      reg.slot != TVM_ADOPTED_SYS_SLOT && reg.slot != TVM_ADOPTED_TEST_SLOT,
	      "the new slot took adopted id %u", reg.slot);

	/* Reshape the adopted region while the guest walks it. */
	l = (struct layout){
		.vm = t->vm, .gpa = t->test_gpa, .size = REGION,
		.alias_gpa = t->test_gpa + 0x20000000, .rng = 7,
	};
	for (i = 0; i < COMMITS; i++) {
		int added;

		CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
		added = layout_add_op(&l, txn, (enum layout_op)layout_rand(&l, LOP_KINDS));
		CHECK_OK(kvmhold_txn_commit(txn));
		commits += added > 0;
	}
	CHECK_OK(tvm_wait_counter_moves(t, 0, 20000));
	CHECK_OK(tvm_wait_counter_moves(t, 1, 20000));
	holes = tvm_holes(t);
	bad = tvm_walk_mismatches(t, 0) + tvm_walk_mismatches(t, 1);
	layout_read(&l, NULL);
	printf("adopted VM: %u transactions over the adopted region, final layout %d slots; "
	       "guest: %lu hole exits, %lu bad pages\n", commits, l.n, (unsigned long)holes,
	       (unsigned long)bad);
	CHECK(holes == 0 && bad == 0, "the guest saw %lu holes, %lu bad pages",
	      (unsigned long)holes, (unsigned long)bad);
	CHECK(commits > COMMITS / 2, "only %u of %u transactions changed anything", commits,
	      COMMITS);

	CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
	CHECK_OK(kvmhold_txn_unmap(txn, side_gpa, REGION));
	CHECK_OK(kvmhold_txn_commit(txn));
	finish_tvm(t);
	munmap(side, REGION);
}

int main(void)
{
	test_apply_breakage();
	test_bad_input();
	test_guest_flow();
	return 0;
}
