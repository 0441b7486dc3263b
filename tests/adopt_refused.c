// SPDX-License-Identifier: MIT
/*
 * A refused kvmhold_vm_adopt() leaves the VM exactly as the VMM had it.
 * The kick signal is the VMM's (it installed a handler), so adoption
 * fails with -EBUSY; afterwards the VMM's own dirty log of a new slot is
 * clean (no manual-protect mode with its all-dirty initial bitmap was
 * switched on), and once the signal is free an adoption in dirty-ring mode
 * succeeds (the ring had not been enabled by the refused attempt).
 *
 * Can fail: KVMHOLD_TEST_BREAK=adopt-order enables dirty tracking before
 * the kick signal is checked.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "check.h"
#include "tvm.h"

#define PAGES 64

static void vmm_handler(int sig)
{
	(void)sig;
}

static void take_signal(int sig, void (*handler)(int))
{
	struct sigaction sa = { .sa_handler = handler };

	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(sig, &sa, NULL) == 0, "sigaction");
}

int main(void)
{
	struct kvmhold_vm_opts ring = { .size = sizeof(ring), .dirty_ring_bytes = 65536 };
	uint64_t bitmap[PAGES / 64] = { 0 };
	struct kvm_dirty_log log = { .slot = 0, .dirty_bitmap = bitmap };
	int sig = SIGRTMIN + 4, kvm_fd, vm_fd, r, has_ring;
	struct kvmhold_vm *vm;
	unsigned i, set = 0;
	void *mem;

	test_apply_breakage();
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	CHECK(kvm_fd >= 0, "open /dev/kvm");
	mem = mmap(NULL, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED, "mmap");

	/* Bitmap mode: the refused adoption must not switch on manual protect. */
	vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	CHECK(vm_fd >= 0, "KVM_CREATE_VM");
	take_signal(sig, vmm_handler);
	CHECK_RET(kvmhold_vm_adopt(vm_fd, NULL, &vm), -EBUSY);
	CHECK_OK(tvm_raw_memslot(vm_fd, 0, 0, PAGES * 4096, mem, KVM_MEM_LOG_DIRTY_PAGES));
	CHECK(ioctl(vm_fd, KVM_GET_DIRTY_LOG, &log) == 0, "KVM_GET_DIRTY_LOG: %s", strerror(errno));
	for (i = 0; i < PAGES / 64; i++)
		set += (unsigned)__builtin_popcountll(bitmap[i]);
	CHECK(set == 0, "a fresh slot reads %u dirty pages after the refused adoption", set);
	close(vm_fd);

	/* Ring mode: after a refusal, the same VM adopts with a ring once the signal is free. */
	has_ring = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING_ACQ_REL) > 0 ||
		   ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING) > 0;
	if (has_ring) {
		vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
		CHECK(vm_fd >= 0, "KVM_CREATE_VM");
		CHECK_RET(kvmhold_vm_adopt(vm_fd, &ring, &vm), -EBUSY);
		take_signal(sig, SIG_DFL);
		r = kvmhold_vm_adopt(vm_fd, &ring, &vm);
		CHECK(r == 0, "ring-mode adoption after a refusal: %s", strerror(-r));
		kvmhold_vm_destroy(vm);
		close(vm_fd);
	}
	printf("refused adoptions (-EBUSY) left the VM alone: clean dirty log%s\n",
	       has_ring ? ", ring adoption afterwards works" : " (no dirty ring here)");
	munmap(mem, PAGES * 4096);
	close(kvm_fd);
	return 0;
}
