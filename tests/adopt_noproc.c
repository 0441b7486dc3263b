// SPDX-License-Identifier: MIT
/*
 * Adoption in a sandbox: in a private mount namespace with empty /proc and
 * /dev (as a jailer or minijail leaves a VMM), a VMM that already holds
 * its /dev/kvm, VM and vCPU fds and its own kvm_run mappings hands them to
 * the library (kvmhold_vm_adopt, kvmhold_vcpu_adopt_mapped), and holds,
 * kicks and transactions work.  The library needs neither /proc nor
 * /dev/kvm there: the calls that would (kvmhold_vcpu_adopt's /proc
 * lookup, kvmhold_vcpu_create's mapping) fail, which shows the sandbox
 * is real.
 *
 * Can fail: KVMHOLD_TEST_BREAK=adopt-lookup makes kvmhold_vcpu_adopt_mapped()
 * look the vCPU up in /proc and map it itself.
 */
#include <fcntl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "hold_checks.h"

/* Empty /proc and /dev for this process only.  0, or 77 when not allowed. */
static int enter_sandbox(void)
{
	if (unshare(CLONE_NEWNS)) {
		printf("unshare(CLONE_NEWNS): %s (needs CAP_SYS_ADMIN)\n", strerror(errno));
		return TVM_SKIP;
	}
	CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "make / private: %s",
	      strerror(errno));
	CHECK(mount("sandbox", "/proc", "tmpfs", 0, NULL) == 0, "hide /proc: %s", strerror(errno));
	CHECK(mount("sandbox", "/dev", "tmpfs", 0, NULL) == 0, "hide /dev: %s", strerror(errno));
	CHECK(access("/proc/self/fd", F_OK) != 0 && access("/dev/kvm", F_OK) != 0,
	      "/proc or /dev/kvm still visible");
	return 0;
}

int main(void)
{
	struct tvm_opts o = {
		.nr_vcpus = 2, .program = GUEST_PROG_COUNT, .adopt_vm = true, .adopt_vcpus = true,
	};
	struct kvmhold_vcpu *extra;
	struct kvmhold_txn *txn;
	struct tvm *t;
	int kvm_fd, fd, r, i;
	void *mem;

	test_apply_breakage();
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);   /* the VMM's, opened before the jail */
	CHECK(kvm_fd >= 0, "open /dev/kvm");
	r = enter_sandbox();
	if (r)
		return r;
	o.kvm_fd_plus1 = kvm_fd + 1;
	t = start_tvm(&o);

	for (i = 0; i < 20; i++) {
		CHECK_OK(kvmhold_hold(t->vm, 10000));
		CHECK_FROZEN(t, 0, 1000);
		CHECK_OK(kvmhold_release(t->vm));
		CHECK_ALL_MOVE(t);
	}
	CHECK_OK(kvmhold_vcpu_kick(tvm_vcpu(t, 0)));
	CHECK_ALL_MOVE(t);

	mem = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED, "mmap");
	CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
	CHECK_OK(kvmhold_txn_map(txn, 1ull << 30, 1 << 20, mem, 0));
	CHECK_OK(kvmhold_txn_commit(txn));
	CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
	CHECK_OK(kvmhold_txn_split(txn, (1ull << 30) + (1 << 19)));
	CHECK_OK(kvmhold_txn_commit(txn));

	/* What would need /proc or /dev/kvm fails here. */
	fd = ioctl(kvmhold_vm_fd(t->vm), KVM_CREATE_VCPU, 7);
	CHECK(fd >= 0, "KVM_CREATE_VCPU");
	CHECK_RET(kvmhold_vcpu_adopt(t->vm, fd, &extra), -ENOTTY);
	CHECK_RET(kvmhold_vcpu_create(t->vm, 8, &extra), -ENOENT);
	close(fd);

	finish_tvm(t);
	munmap(mem, 1 << 20);
	/* Out of the sandbox again: LeakSanitizer reads /proc at exit. */
	CHECK(umount("/dev") == 0 && umount("/proc") == 0, "leave the sandbox: %s",
	      strerror(errno));
	printf("no /proc, no /dev/kvm: 2 vCPUs adopted with their own mappings ran, 20 holds "
	       "froze them, a kick and two commits worked\n");
	return 0;
}
