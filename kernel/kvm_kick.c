// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvm_kick: stop every vCPU of a VM inside KVM, and let them go again.
 *
 * An experiment of kvmhold (not upstream Linux), after the 2022 series
 * "KVM: API to block and resume all running vcpus in a vm", with the holes
 * its review found closed where the kernel can close them:
 *
 *  - kicks nest: a count, one resume per kick;
 *  - kick and resume are serialised by a mutex, so a resume has completed
 *    (blocked vCPUs woken) before the next kick starts;
 *  - resume without kick fails with -EINVAL;
 *  - the hold is a flag, not a lock kept across system calls: any thread
 *    (a vCPU thread too) may kick or resume, and no lock is held while
 *    userspace runs;
 *  - a vCPU blocked by a kick sleeps interruptibly and drops the VM's SRCU
 *    read lock while it sleeps: a signal ends KVM_RUN with -EINTR
 *    (KVM_EXIT_INTR), and memslot updates made during the hold do not wait
 *    for it.
 *
 * Structure (as in the seed): a VM-wide request makes the vCPUs leave guest
 * mode; a memory-transaction rw-semaphore is taken for reading by each vCPU
 * around vcpu_enter_guest() (guest mode plus the handling of the exit) and
 * around the completion of a userspace exit at the start of KVM_RUN (which
 * may write guest memory), i.e. every place KVM_RUN uses memslots outside a
 * halt; the kick takes it for writing once, after setting the hold flag and
 * sending the request, so it returns only when no vCPU is inside those
 * sections.  Halted vCPUs (kvm_vcpu_block) hold nothing and are not woken.
 *
 * Limits, as the review said: only KVM_RUN is held; other ioctls and other
 * users of guest memory are not.  A vCPU stuck inside exit handling (for
 * example a page fault waiting on userfaultfd) delays the kick until it
 * returns: userspace must resolve or signal it.
 */
#include <linux/kvm_host.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/sched/signal.h>
#include <linux/wait.h>

#include "kvm_kick.h"

struct kvm_kick_vm {
	/* Read: a vCPU inside vcpu_enter_guest().  Write: the kick's barrier. */
	struct rw_semaphore txn_sem;
	/* Serialises kick and resume; protects count. */
	struct mutex lock;
	/* vCPUs waiting for the hold to end. */
	wait_queue_head_t wq;
	unsigned int count;
	/* count > 0; read locklessly by vCPUs on entry. */
	bool held;
	/* The hold's first kick had KVM_KICK_TO_USERSPACE: return, do not sleep. */
	bool to_user;
};

/*
 * The per-VM state lives after the vendor's VM structure (struct kvm_svm or
 * struct kvm_vmx), in the same zeroed allocation: kvm_arch_alloc_vm()
 * allocates kvm_x86_ops.vm_size bytes, which kvm_kick_reserve() enlarges.
 * No change to struct kvm, and no lookup on the vCPU entry path.
 */
static unsigned int kvm_kick_offset;

static inline struct kvm_kick_vm *kvm_kick_vm(struct kvm *kvm)
{
	return (struct kvm_kick_vm *)((char *)kvm + kvm_kick_offset);
}

void kvm_kick_reserve(unsigned int *vm_size)
{
	kvm_kick_offset = ALIGN(*vm_size, L1_CACHE_BYTES);
	*vm_size = kvm_kick_offset + sizeof(struct kvm_kick_vm);
}

void kvm_kick_init_vm(struct kvm *kvm)
{
	struct kvm_kick_vm *k = kvm_kick_vm(kvm);

	init_rwsem(&k->txn_sem);
	mutex_init(&k->lock);
	init_waitqueue_head(&k->wq);
	k->count = 0;
	k->held = false;
}

static int kvm_kick_intr(struct kvm_vcpu *vcpu)
{
	vcpu->run->exit_reason = KVM_EXIT_INTR;
	++vcpu->stat.signal_exits;
	return -EINTR;
}

/*
 * Called inside the VM's SRCU read side, before each vcpu_enter_guest() and
 * before complete_userspace_io().  Returns 0 with txn_sem held for reading and the VM
 * not held, or -EINTR (KVM_EXIT_INTR) on a signal while blocked.
 */
int kvm_kick_enter(struct kvm_vcpu *vcpu)
{
	struct kvm_kick_vm *k = kvm_kick_vm(vcpu->kvm);
	int r;

	for (;;) {
		if (unlikely(!down_read_trylock(&k->txn_sem))) {
			/* A kick is waiting for the vCPUs in guest mode. */
			kvm_vcpu_srcu_read_unlock(vcpu);
			r = down_read_interruptible(&k->txn_sem);
			kvm_vcpu_srcu_read_lock(vcpu);
			if (r)
				return kvm_kick_intr(vcpu);
		}
		/*
		 * Consume the kick's request before reading the flag.  The
		 * kick writes the flag, then (full barrier) sets the request.
		 * If this clear came after that set, the barrier below makes
		 * the flag visible here; if the flag reads false, the set is
		 * later than the clear and stays pending, so guest entry is
		 * cancelled or interrupted by the kick's IPI (KVM's usual
		 * IN_GUEST_MODE / request protocol), and the kick's down_write
		 * waits for this vCPU's up_read.  Test first: the common case
		 * (no request) costs no atomic operation.
		 */
		if (kvm_test_request(KVM_REQ_KICK_HOLD, vcpu)) {
			kvm_clear_request(KVM_REQ_KICK_HOLD, vcpu);
			smp_mb__after_atomic();
		}
		if (likely(!READ_ONCE(k->held)))
			return 0;

		/* Held, KVM_KICK_TO_USERSPACE: userspace waits, not KVM. */
		if (READ_ONCE(k->to_user)) {
			up_read(&k->txn_sem);
			return kvm_kick_intr(vcpu);
		}

		/* Held: wait outside both txn_sem and SRCU. */
		up_read(&k->txn_sem);
		kvm_vcpu_srcu_read_unlock(vcpu);
		r = wait_event_interruptible(k->wq, !READ_ONCE(k->held));
		kvm_vcpu_srcu_read_lock(vcpu);
		if (r)
			return kvm_kick_intr(vcpu);
	}
}

void kvm_kick_exit(struct kvm_vcpu *vcpu)
{
	up_read(&kvm_kick_vm(vcpu->kvm)->txn_sem);
}

static long kvm_kick_all(struct kvm *kvm, unsigned long flags)
{
	struct kvm_kick_vm *k = kvm_kick_vm(kvm);
	long r = 0;

	if (flags & ~KVM_KICK_TO_USERSPACE)
		return -EINVAL;
	if (mutex_lock_killable(&k->lock))
		return -EINTR;
	if (k->count == UINT_MAX) {
		r = -EOVERFLOW;
		goto out;
	}
	if (k->count++)
		goto out;	/* already held: no vCPU is in guest mode */

	WRITE_ONCE(k->to_user, !!(flags & KVM_KICK_TO_USERSPACE));
	WRITE_ONCE(k->held, true);
	/* Pairs with smp_mb__after_atomic() in kvm_kick_enter(). */
	smp_mb();
	/*
	 * The request's IPI waits until every vCPU in guest mode has left it
	 * (KVM_REQUEST_WAIT).  With to_user that is all: each vCPU then
	 * returns to userspace from its next kvm_kick_enter(), and userspace
	 * waits for its threads; a vCPU held up in exit handling is not waited
	 * for here.
	 */
	kvm_make_all_cpus_request(kvm, KVM_REQ_KICK_HOLD);
	if (k->to_user)
		goto out;
	/*
	 * The barrier: wait for every vCPU still inside vcpu_enter_guest().
	 * vCPUs that get the read side after this see the flag (the
	 * rwsem's release/acquire orders it) and wait on k->wq.
	 */
	if (down_write_killable(&k->txn_sem)) {
		k->count = 0;
		WRITE_ONCE(k->held, false);
		wake_up_all(&k->wq);
		r = -EINTR;
		goto out;
	}
	up_write(&k->txn_sem);
out:
	mutex_unlock(&k->lock);
	return r;
}

static long kvm_kick_resume(struct kvm *kvm)
{
	struct kvm_kick_vm *k = kvm_kick_vm(kvm);
	long r = 0;

	if (mutex_lock_killable(&k->lock))
		return -EINTR;
	if (!k->count) {
		r = -EINVAL;
	} else if (!--k->count) {
		WRITE_ONCE(k->held, false);
		WRITE_ONCE(k->to_user, false);
		/* Under k->lock: the next kick starts after this wake-up. */
		wake_up_all(&k->wq);
	}
	mutex_unlock(&k->lock);
	return r;
}

long kvm_kick_vm_ioctl(struct kvm *kvm, unsigned int ioctl, unsigned long arg)
{
	switch (ioctl) {
	case KVM_KICK_ALL_RUNNING_VCPUS:
		return kvm_kick_all(kvm, arg);
	case KVM_RESUME_ALL_KICKED_VCPUS:
		return kvm_kick_resume(kvm);
	default:
		return -ENOTTY;
	}
}
