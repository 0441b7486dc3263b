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

/*
 * KVM names a vCPU's anon inode "kvm-vcpu:<id>", which is how an adopted
 * fd tells us its id.  -1 if the fd is not a KVM vCPU, or /proc is not
 * there to say (kvmhold_vcpu_adopt_mapped needs neither).
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

/*
 * The size of a vCPU's kvm_run mapping, asked of /dev/kvm the first time a
 * vCPU is mapped by the library (an adopted VM may never need it).
 */
int vcpu_mmap_size(struct kvmhold_vm *vm)
{
	int size = atomic_load(&vm->vcpu_mmap_size_cache), fd;

	if (size > 0)
		return size;
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < 0)
		size = -errno;
	close(fd);
	if (size > 0)
		atomic_store(&vm->vcpu_mmap_size_cache, size);
	return size;
}

/* run: the VMM's own mapping of run_size bytes, or NULL to map it here. */
static int vcpu_new(struct kvmhold_vm *vm, int fd, bool owns_fd, unsigned long id,
		    struct kvm_run *run, size_t run_size, struct kvmhold_vcpu **out)
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
	if (run) {
		vcpu->run = run;
		vcpu->run_size = run_size;
	} else {
		r = vcpu_mmap_size(vm);
		if (r < 0) {
			free(vcpu);
			return r;
		}
		vcpu->run_size = (size_t)r;
		vcpu->run = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (vcpu->run == MAP_FAILED) {
			r = -errno;
			free(vcpu);
			return r;
		}
		vcpu->owns_run = true;
	}
	r = dirty_ring_vcpu_init(vcpu);
	if (r) {
		if (vcpu->owns_run)
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
	/* Before KVM_CREATE_VCPU: KVM cannot take a vCPU back once made. */
	r = vcpu_mmap_size(vm);
	if (r < 0)
		return r;
	fd = ioctl(vm->fd, KVM_CREATE_VCPU, id);
	if (fd < 0)
		return -errno;
	r = vcpu_new(vm, fd, true, id, NULL, 0, vcpu);
	if (r)
		close(fd);
	return r;
}

KVMHOLD_API int kvmhold_vcpu_adopt(struct kvmhold_vm *vm, int vcpu_fd, struct kvmhold_vcpu **vcpu)
{
	long id;

	if (!vm || !vcpu || vcpu_fd < 0)
		return -EINVAL;
	if (fcntl(vcpu_fd, F_GETFD) < 0)
		return -EBADF;
	id = vcpu_id_of_fd(vcpu_fd);
	if (id < 0)
		return -ENOTTY;
	return vcpu_new(vm, vcpu_fd, false, (unsigned long)id, NULL, 0, vcpu);
}

KVMHOLD_API int kvmhold_vcpu_adopt_mapped(struct kvmhold_vm *vm, int vcpu_fd, unsigned long id,
					  struct kvm_run *run, size_t run_size,
					  struct kvmhold_vcpu **vcpu)
{
	if (!vm || !vcpu || vcpu_fd < 0 || !run || run_size < sizeof(*run) || id > INT_MAX)
		return -EINVAL;
	if (fcntl(vcpu_fd, F_GETFD) < 0)
		return -EBADF;
	/*
	 * No check that vcpu_fd is a vCPU of vm: without /proc only an ioctl
	 * could tell, and every vCPU ioctl takes the vCPU's mutex (it would
	 * block while the vCPU runs) and some change its state.
	 */
	if (test_broken(BREAK_ADOPT_LOOKUP))
		return kvmhold_vcpu_adopt(vm, vcpu_fd, vcpu);
	return vcpu_new(vm, vcpu_fd, false, id, run, run_size, vcpu);
}

/* Free one vCPU; the caller has unlinked it from vm->vcpus or is freeing the VM. */
void vcpu_free(struct kvmhold_vcpu *vcpu)
{
	dirty_ring_vcpu_fini(vcpu);
	if (vcpu->owns_run)
		munmap(vcpu->run, vcpu->run_size);
	if (vcpu->owns_fd)
		close(vcpu->fd);
	free(vcpu);
}

KVMHOLD_API void kvmhold_vcpu_destroy(struct kvmhold_vcpu *vcpu)
{
	struct kvmhold_vm *vm;
	struct kvmhold_vcpu **p;

	if (!vcpu)
		return;
	vm = vcpu->vm;
	pthread_mutex_lock(&vm->lock);
	/*
	 * Ring mode: the pages in this vCPU's ring go to the store first (a
	 * vCPU unplugged during a migration), under vm->lock like
	 * dirty_ring_harvest_all(): a commit's harvest either sees this vCPU
	 * or finds its entries taken, never misses them between the two.
	 */
	if (vcpu->ring.gfns && !test_broken(BREAK_DIRTY_HARVEST))
		dirty_ring_vcpu_harvest(vcpu);
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
	return vcpu->fd;
}

KVMHOLD_API struct kvm_run *kvmhold_vcpu_kvm_run(struct kvmhold_vcpu *vcpu)
{
	return vcpu ? vcpu->run : NULL;
}

/*
 * A VMM kick, K1-K4.  K1 sets kick_requested; K2 marks immediate_exit; K3
 * signals the thread published in run_tid; K4 wakes parked threads if
 * there are any.  The run loop publishes its thread (T), then announces
 * (E1), then reads kick_requested (all seq_cst).  Whatever the
 * interleaving, either the run loop sees the request before KVM_RUN, or
 * KVM_RUN sees the mark, or the signal interrupts KVM_RUN; and a vCPU
 * parked by a hold either sees the request at P3 or sleeps on a futex
 * value that K4 changes (gate.c).  Lock-free and async-signal-safe.
 */
KVMHOLD_API int kvmhold_vcpu_kick(struct kvmhold_vcpu *vcpu)
{
	struct kvmhold_vm *vm;
	int saved_errno;

	if (!vcpu)
		return -EINVAL;
	vm = vcpu->vm;
	saved_errno = errno;    /* a signal handler may be calling us */
	atomic_store(&vcpu->kick_requested, true);     /* K1 */
	kick_vcpu_out(vcpu);                           /* K2, K3 */
	if (atomic_load(&vm->parked) && !test_broken(BREAK_PARK_EXITS))
		gate_wake_vcpu(vm, vcpu);              /* K4 */
	errno = saved_errno;
	return 0;
}

/*
 * After KVM_RUN returned -EINTR: is it the library's own doing, to be
 * absorbed (park if a hold is pending, then enter again)?  Decided by the
 * library's own state, never by assuming a non-zero immediate_exit is
 * ours:
 *  - the library's mark is still in immediate_exit and we remove it: a
 *    hold (or a late kick) marked this vCPU, and the VMM did not write its
 *    1 over the mark (which would make the removal fail);
 *  - the field is 0 and one of the library's kick signals arrived on this
 *    thread since the entry.
 * Anything else is the VMM's: its immediate_exit (left in place for it to
 * clear) or its own signal.  When the library's kick and a VMM signal
 * whose handler does not write immediate_exit land together, KVM_RUN
 * returns once and the two cannot be told apart; VMMs that kick with
 * signals set immediate_exit in the handler, as KVM's API document advises.
 */
static bool eintr_is_ours(struct kvmhold_vcpu *vcpu, unsigned kicks_before)
{
	unsigned char v = __atomic_load_n(&vcpu->run->immediate_exit, __ATOMIC_SEQ_CST);

	if (test_broken(BREAK_IE_OWNER)) {
		/* The old rule: any non-zero immediate_exit is ours; clear it. */
		__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		return v || kick_signal_seen() != kicks_before;
	}
	if (v == IMMEDIATE_EXIT_MARK)
		return immediate_exit_unmark(vcpu->run);
	if (v)
		return false;
	return kick_signal_seen() != kicks_before;
}

KVMHOLD_API int kvmhold_vcpu_run(struct kvmhold_vcpu *vcpu)
{
	struct kvmhold_vm *vm;
	struct thread_vm_state *ts;
	unsigned kicks_before = 0;
	int tid, r, err;

	if (!vcpu)
		return -EINVAL;
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
		if (test_broken(BREAK_KICKS_SAMPLE))
			kicks_before = kick_signal_seen();
		r = gate_enter_run(vm, vcpu, tid);
		if (r == -EINTR) {
			/* Left the park: kicked, or the VMM asked for the vCPU. */
			atomic_store(&vcpu->kick_requested, false);
			return -EINTR;
		}
		if (r)
			return r;
		/*
		 * After E1, not before the park: a hold's late signal that
		 * lands during the park must not make a VMM signal in the
		 * coming KVM_RUN look like the library's.  A hold signals only
		 * after it saw E1, and marks immediate_exit first, so a signal
		 * of this round that arrives before this read is still told
		 * apart by the mark.
		 */
		if (!test_broken(BREAK_KICKS_SAMPLE))
			kicks_before = kick_signal_seen();
		if (atomic_exchange(&vcpu->kick_requested, false)) {
			gate_leave_run(vm, vcpu);
			return -EINTR;
		}
		test_delay(&kvmhold_test_entry_delay_ns);
		r = ioctl(vcpu->fd, KVM_RUN, 0);
		err = r < 0 ? errno : 0;
		gate_leave_run(vm, vcpu);
		if (!err && vcpu->run->exit_reason == KVM_EXIT_DIRTY_RING_FULL) {
			/* Ours to handle: empty the ring and go back in. */
			r = dirty_ring_full(vcpu);
			if (r == -EINTR)   /* kicked while it waited for a release */
				atomic_store(&vcpu->kick_requested, false);
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
		if (!eintr_is_ours(vcpu, kicks_before))
			return -EINTR;
		/* A hold kicked us: the next gate_enter_run() parks until the release. */
	}
}
