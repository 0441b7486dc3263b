// SPDX-License-Identifier: MIT
/*
 * hold_demo: the smallest VMM that integrates kvmhold.
 *
 * One real-mode vCPU increments a counter in guest memory forever.  The
 * main thread holds the VM, checks the counter stands still, releases it,
 * checks the counter moves again, and stops the vCPU with a kick.  Built
 * against the installed library alone:
 *
 *	cc hold_demo.c $(pkg-config --cflags --libs kvmhold) -o hold_demo
 *
 * Exit status 0 on success.  It needs read/write access to /dev/kvm.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <linux/kvm.h>

#include <kvmhold.h>

#define MEM_SIZE     0x10000
#define CODE_GPA     0x1000
#define COUNTER_GPA  0x2000

/* inc dword [0x2000]; jmp back to it */
static const uint8_t guest_code[] = { 0x66, 0xff, 0x06, 0x00, 0x20, 0xeb, 0xf9 };

static uint8_t *mem;
static atomic_bool stopping;

static uint32_t counter(void)
{
	return __atomic_load_n((uint32_t *)(mem + COUNTER_GPA), __ATOMIC_RELAXED);
}

static void *vcpu_thread(void *arg)
{
	struct kvmhold_vcpu *vcpu = arg;
	int r;

	for (;;) {
		/* Holds are absorbed inside; -EINTR means our own kick. */
		r = kvmhold_vcpu_run(vcpu);
		if (r == -EINTR && atomic_load(&stopping))
			return NULL;
		if (r < 0 && r != -EINTR) {
			fprintf(stderr, "hold_demo: run: %s\n", strerror(-r));
			return (void *)1;
		}
		if (r == 0) {
			fprintf(stderr, "hold_demo: unexpected exit %u\n",
				kvmhold_vcpu_kvm_run(vcpu)->exit_reason);
			return (void *)1;
		}
	}
}

static int setup_vcpu(struct kvmhold_vcpu *vcpu)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = CODE_GPA, .rflags = 2 };
	int r;

	r = kvmhold_vcpu_ioctl(vcpu, KVM_GET_SREGS, &sregs);
	if (r)
		return r;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = 0;
	sregs.ds.selector = 0;
	r = kvmhold_vcpu_ioctl(vcpu, KVM_SET_SREGS, &sregs);
	if (r)
		return r;
	return kvmhold_vcpu_ioctl(vcpu, KVM_SET_REGS, &regs);
}

/* Wait (bounded) until the counter differs from `from`. */
static int wait_moves(uint32_t from)
{
	time_t end = time(NULL) + 30;

	while (counter() == from)
		if (time(NULL) > end)
			return -1;
		else
			sched_yield();
	return 0;
}

int main(void)
{
	struct kvm_userspace_memory_region region;
	struct kvmhold_vm *vm;
	struct kvmhold_vcpu *vcpu;
	pthread_t thread;
	void *thread_ret;
	uint32_t frozen;
	int r, i;

	r = kvmhold_vm_create(NULL, &vm);
	if (r) {
		fprintf(stderr, "hold_demo: vm_create: %s\n", strerror(-r));
		return 1;
	}
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return 1;
	memcpy(mem + CODE_GPA, guest_code, sizeof(guest_code));
	region = (struct kvm_userspace_memory_region){
		.slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE,
		.userspace_addr = (uintptr_t)mem,
	};
	/* Memslot ioctls go through the gate, so they wait while the VM is held. */
	r = kvmhold_vm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region);
	if (!r)
		r = kvmhold_vcpu_create(vm, 0, &vcpu);
	if (!r)
		r = setup_vcpu(vcpu);
	if (r) {
		fprintf(stderr, "hold_demo: setup: %s\n", strerror(-r));
		return 1;
	}
	pthread_create(&thread, NULL, vcpu_thread, vcpu);
	if (wait_moves(0))
		return fprintf(stderr, "hold_demo: the guest never ran\n"), 1;

	for (i = 0; i < 10; i++) {
		r = kvmhold_hold(vm, 1000);
		if (r)
			return fprintf(stderr, "hold_demo: hold: %s\n", strerror(-r)), 1;
		/* No vCPU is in KVM_RUN now: the counter stands still. */
		frozen = counter();
		for (int spin = 0; spin < 1000; spin++) {
			sched_yield();
			if (counter() != frozen)
				return fprintf(stderr, "hold_demo: guest ran during a hold\n"), 1;
		}
		kvmhold_release(vm);
		if (wait_moves(frozen))
			return fprintf(stderr, "hold_demo: guest did not resume\n"), 1;
	}

	atomic_store(&stopping, true);
	kvmhold_vcpu_kick(vcpu);
	pthread_join(thread, &thread_ret);
	kvmhold_vm_destroy(vm);
	munmap(mem, MEM_SIZE);
	if (thread_ret)
		return 1;
	printf("hold_demo: 10 holds, guest frozen during each, resumed after each\n");
	return 0;
}
