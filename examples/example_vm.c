// SPDX-License-Identifier: MIT
/*
 * example_vm: the setup examples/hotplug.c and examples/migrate.c share
 * (example_vm.h says what it is).  Built with each of them:
 *
 *	cc hotplug.c example_vm.c $(pkg-config --cflags --libs kvmhold) -o hotplug
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "example_vm.h"

void *example_guest_setup(uint8_t *low, uint64_t high_gpa,
			  const uint8_t *code, size_t code_size)
{
	uint64_t *pml4 = (uint64_t *)(low + EX_PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(low + EX_PDPT_GPA);

	pml4[0] = EX_PDPT_GPA | 0x3;                           /* present, writable */
	pdpt[0] = EX_PD_GPA | 0x3;
	((uint64_t *)(low + EX_PD_GPA))[0] = 0x0 | 0x83;       /* a 2 MiB page */
	if (high_gpa) {
		pdpt[high_gpa >> 30] = EX_PD2_GPA | 0x3;
		((uint64_t *)(low + EX_PD2_GPA))[0] = high_gpa | 0x83;
	}
	memcpy(low + EX_CODE_GPA, code, code_size);
	return low + EX_CTRL_GPA;
}

/*
 * The vCPU thread: KVM_RUN through kvmhold_vcpu_run().  Holds, and so the
 * commits that need one, never surface here: the vCPU parks inside and
 * re-enters the guest after the release (a full dirty ring is emptied
 * inside too).  -EINTR is only ever our own kick.
 */
static void *vcpu_thread(void *arg)
{
	struct example_vm *ex = arg;
	struct kvm_run *run = kvmhold_vcpu_kvm_run(ex->vcpu);
	int r;

	for (;;) {
		r = kvmhold_vcpu_run(ex->vcpu);
		if (r == -EINTR && atomic_load(&ex->stopping))
			return NULL;
		if (r == -EINTR)
			continue;
		if (r < 0) {
			example_fail(ex, "run", r);
			return (void *)1;
		}
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == EX_IO_PORT) {
			atomic_fetch_add(&ex->port_exits, 1);
			continue;
		}
		if (run->exit_reason == KVM_EXIT_MMIO) {
			/* No memslot at that address: the guest found a hole. */
			atomic_fetch_add(&ex->holes, 1);
			if (!run->mmio.is_write)
				memset(run->mmio.data, 0, sizeof(run->mmio.data));
			continue;
		}
		fprintf(stderr, "%s: unexpected exit %u\n", ex->name, run->exit_reason);
		return (void *)1;
	}
}

/* Long mode straight away: flat segments, paging on with the tables above. */
static int setup_long_mode(struct kvmhold_vcpu *vcpu)
{
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x8, .type = 0xb,
		.present = 1, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = {
		.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 0x3,
		.present = 1, .s = 1, .db = 1, .g = 1,
	};
	struct kvm_regs regs = { .rip = EX_CODE_GPA, .rflags = 2 };
	struct kvm_sregs sregs;
	struct kvm_cpuid2 *cpuid;
	int kvm, r;

	/* KVM accepts long mode only if the guest's CPUID says it has it. */
	cpuid = calloc(1, sizeof(*cpuid) + 256 * sizeof(cpuid->entries[0]));
	if (!cpuid)
		return -ENOMEM;
	cpuid->nent = 256;
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	r = kvm < 0 || ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid) < 0 ? -errno : 0;
	if (kvm >= 0)
		close(kvm);
	if (!r)
		r = kvmhold_vcpu_ioctl(vcpu, KVM_SET_CPUID2, cpuid);
	free(cpuid);
	if (r)
		return r;

	r = kvmhold_vcpu_ioctl(vcpu, KVM_GET_SREGS, &sregs);
	if (r)
		return r;
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.cr0 = 0x80000031;         /* PG, NE, ET, PE */
	sregs.cr3 = EX_PML4_GPA;
	sregs.cr4 = 0x20;               /* PAE */
	sregs.efer = 0x500;             /* LMA, LME */
	r = kvmhold_vcpu_ioctl(vcpu, KVM_SET_SREGS, &sregs);
	return r ? r : kvmhold_vcpu_ioctl(vcpu, KVM_SET_REGS, &regs);
}

int example_vcpu_start(struct example_vm *ex)
{
	int r = kvmhold_vcpu_create(ex->vm, 0, &ex->vcpu);

	if (!r)
		r = setup_long_mode(ex->vcpu);
	if (!r)
		r = -pthread_create(&ex->thread, NULL, vcpu_thread, ex);
	return r;
}

int example_vcpu_stop(struct example_vm *ex)
{
	void *ret;

	atomic_store(&ex->stopping, true);
	kvmhold_vcpu_kick(ex->vcpu);
	pthread_join(ex->thread, &ret);
	return ret != NULL;
}

int example_wait_for(const uint64_t *word, uint64_t target)
{
	time_t end = time(NULL) + 60;

	while (__atomic_load_n(word, __ATOMIC_ACQUIRE) < target) {
		if (time(NULL) > end)
			return -ETIMEDOUT;
		usleep(200);
	}
	return 0;
}

int example_fail(const struct example_vm *ex, const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", ex->name, what, strerror(-err));
	return 1;
}
