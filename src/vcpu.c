// SPDX-License-Identifier: MIT
/*
 * vCPU handles and the run loop: KVM_RUN through the gate, with holds
 * absorbed inside kvmhold_vcpu_run() so the VMM never sees them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "internal.h"
#include "test_hooks.h"

unsigned kvmhold_test_entry_delay_ns;

/*
 * KVM names a vCPU's anon inode "kvm-vcpu:<id>", which is how an adopted
 * fd tells us its id.  -1 if the fd is not a KVM vCPU.
 */
static long vcpu_id_of_fd(int fd)
{
	char path[64], target[64];
	ssize_t n;
	long id;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -1;
	target[n] = '\0';
	if (sscanf(target, "anon_inode:kvm-vcpu:%ld", &id) != 1)
		return -1;
	return id;
}

static int vcpu_new(struct kvmhold_vm *vm, int fd, bool owns_fd, unsigned long id,
		    struct kvmhold_vcpu **out)
{
	struct kvmhold_vcpu *vcpu;
	int r;

	vcpu = calloc(1, sizeof(*vcpu));
	if (!vcpu)
		return -ENOMEM;
	vcpu->vm = vm;
	vcpu->fd = fd;
	vcpu->owns_fd = owns_fd;
	vcpu->id = id;
	vcpu->run_size = (size_t)vm->vcpu_mmap_size;
	vcpu->run = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (vcpu->run == MAP_FAILED) {
		r = -errno;
		free(vcpu);
		return r;
	}
	r = dirty_ring_vcpu_init(vcpu);
	if (!r) {
		r = registry_add(vcpu);
		if (r)
			dirty_ring_vcpu_fini(vcpu);
	}
	if (r) {
		munmap(vcpu->run, vcpu->run_size);
		free(vcpu);
		return r;
	}
	pthread_mutex_lock(&vm->lock);
	vcpu->next = vm->vcpus;
	vm->vcpus = vcpu;
	vm->nr_vcpus++;
	pthread_mutex_unlock(&vm->lock);
	*out = vcpu;
	return 0;
}

KVMHOLD_API int kvmhold_vcpu_create(struct kvmhold_vm *vm, unsigned long id, struct kvmhold_vcpu **vcpu)
{
	int fd, r;

	if (!vm || !vcpu || id > INT_MAX)
		return -EINVAL;
	if (!registry_has(vm))
		return -EBADF;
	fd = ioctl(vm->fd, KVM_CREATE_VCPU, id);
	if (fd < 0)
		return -errno;
	r = vcpu_new(vm, fd, true, id, vcpu);
	if (r)
		close(fd);
	return r;
}

KVMHOLD_API int kvmhold_vcpu_adopt(struct kvmhold_vm *vm, int vcpu_fd, struct kvmhold_vcpu **vcpu)
{
	long id;

	if (!vm || !vcpu || vcpu_fd < 0)
		return -EINVAL;
	if (!registry_has(vm))
		return -EBADF;
	if (fcntl(vcpu_fd, F_GETFD) < 0)
		return -EBADF;
	id = vcpu_id_of_fd(vcpu_fd);
	if (id < 0)
		return -ENOTTY;
	return vcpu_new(vm, vcpu_fd, false, (unsigned long)id, vcpu);
}

/* Free one vCPU; the caller has unlinked it from vm->vcpus or is freeing the VM. */
void vcpu_free(struct kvmhold_vcpu *vcpu)
{
	registry_remove(vcpu);
	dirty_ring_vcpu_fini(vcpu);
	munmap(vcpu->run, vcpu->run_size);
	if (vcpu->owns_fd)
		close(vcpu->fd);
	free(vcpu);
}

KVMHOLD_API void kvmhold_vcpu_destroy(struct kvmhold_vcpu *vcpu)
{
	struct kvmhold_vm *vm;
	struct kvmhold_vcpu **p;

	if (!vcpu || !registry_has(vcpu))
		return;
	vm = vcpu->vm;
	pthread_mutex_lock(&vm->lock);
	for (p = &vm->vcpus; *p; p = &(*p)->next) {
		if (*p == vcpu) {
			*p = vcpu->next;
			vm->nr_vcpus--;
			break;
		}
	}
	pthread_mutex_unlock(&vm->lock);
	vcpu_free(vcpu);
}

KVMHOLD_API int kvmhold_vcpu_fd(const struct kvmhold_vcpu *vcpu)
{
	if (!vcpu)
		return -EINVAL;
	if (!registry_has(vcpu))
		return -EBADF;
	return vcpu->fd;
}

KVMHOLD_API struct kvm_run *kvmhold_vcpu_kvm_run(struct kvmhold_vcpu *vcpu)
{
	if (!vcpu || !registry_has(vcpu))
		return NULL;
	return vcpu->run;
}

/*
 * A VMM kick.  kick_requested is set before immediate_exit and before we
 * look for the thread to signal (all seq_cst); the run loop publishes its
 * thread id, then clears immediate_exit, then reads kick_requested.
 * Whatever the interleaving, either the run loop sees the request before
 * KVM_RUN, or KVM_RUN sees immediate_exit, or we see the thread and the
 * signal interrupts KVM_RUN.
 */
KVMHOLD_API int kvmhold_vcpu_kick(struct kvmhold_vcpu *vcpu)
{
	if (!vcpu)
		return -EINVAL;
	if (!registry_has(vcpu))
		return -EBADF;
	atomic_store(&vcpu->kick_requested, true);
	vcpu_force_exit(vcpu);
	return 0;
}

/*
 * Was this -EINTR ours (a hold's kick), to be absorbed?  A hold always sets
 * immediate_exit before it signals, and the run loop clears it only before
 * the next entry, so immediate_exit == 1 or a kick signal seen on this
 * thread since the entry means yes.  Anything else is a signal of the
 * VMM's own, which the VMM gets to see.
 */
static bool kicked_by_us(struct kvmhold_vcpu *vcpu, unsigned kicks_before)
{
	return __atomic_load_n(&vcpu->run->immediate_exit, __ATOMIC_SEQ_CST) ||
	       kick_signal_seen() != kicks_before;
}

/*
 * Before KVM_RUN.  Signal backend: the gate's handshake with holders
 * (hold.c).  Kernel backend: KVM itself blocks the entry during a hold, so
 * only the VMM-kick protocol remains: publish the thread id, then clear
 * immediate_exit, both seq_cst and before the caller reads kick_requested
 * (the order kvmhold_vcpu_kick() pairs with).
 */
static int run_enter(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu, int tid)
{
	if (!vm->kernel_kick)
		return gate_enter_run(vm, vcpu, tid);
	atomic_store(&vcpu->run_tid, tid);
	__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	return 0;
}

static void run_leave(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu)
{
	if (!vm->kernel_kick)
		gate_leave_run(vm, vcpu);
	else
		atomic_store(&vcpu->run_tid, 0);
}

KVMHOLD_API int kvmhold_vcpu_run(struct kvmhold_vcpu *vcpu)
{
	struct kvmhold_vm *vm;
	struct thread_vm_state *ts;
	unsigned kicks_before, delay_ns;
	int tid, r, err;

	if (!vcpu)
		return -EINVAL;
	if (!registry_has(vcpu))
		return -EBADF;
	vm = vcpu->vm;
	/*
	 * A thread that holds the VM, or sits in one of its mem sections,
	 * would wait for itself at the next hold: refuse instead of hanging.
	 */
	ts = thread_state_get(vm, false);
	if (ts && (thread_state_holds(ts, vm) || ts->sections))
		return -EDEADLK;
	tid = gettid();
	for (;;) {
		kicks_before = kick_signal_seen();
		r = run_enter(vm, vcpu, tid);
		if (r)
			return r;
		if (atomic_exchange(&vcpu->kick_requested, false)) {
			run_leave(vm, vcpu);
			return -EINTR;
		}
		delay_ns = __atomic_load_n(&kvmhold_test_entry_delay_ns, __ATOMIC_RELAXED);
		if (delay_ns) {
			uint64_t until = now_ns() + delay_ns;

			while (now_ns() < until)
				;
		}
		r = ioctl(vcpu->fd, KVM_RUN, 0);
		err = r < 0 ? errno : 0;
		run_leave(vm, vcpu);
		if (!err && vcpu->run->exit_reason == KVM_EXIT_DIRTY_RING_FULL) {
			/* Ours to handle: empty the ring and go back in. */
			r = dirty_ring_full(vcpu);
			if (r)
				return r;
			continue;
		}
		if (!err)
			return 0;
		if (err != EINTR)
			return -err;
		if (atomic_exchange(&vcpu->kick_requested, false))
			return -EINTR;
		if (!kicked_by_us(vcpu, kicks_before))
			return -EINTR;
		/*
		 * A hold kicked us (signal backend only): the next
		 * run_enter() parks until the release.
		 */
	}
}
