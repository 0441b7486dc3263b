// SPDX-License-Identifier: MIT
/*
 * The hold protocol: stopping every consumer of memslots, counted and
 * serialized, and the gate those consumers pass through.
 *
 * Who is "inside": a vCPU thread in KVM_RUN, any thread in a gated ioctl,
 * any thread in a kvmhold_mem_begin/end section.  Each such entry adds one
 * to vm->active (and to vcpu->inside for vCPU entries).
 *
 * The handshake between an entrant and a holder is Dekker's:
 *
 *   entrant                              holder
 *   E1 active++            (seq_cst)     H1 pending = 1         (seq_cst)
 *   E2 if (pending) back off (seq_cst)   H2 kick whoever is inside,
 *                                           wait until active <= target
 *
 * With both sides sequentially consistent, at least one of them sees the
 * other: either the entrant sees pending and backs off (and parks until the
 * release), or the holder sees it in active and waits for it to leave.
 * Neither can miss the other, so no thread slips into KVM under a hold.
 *
 * A vCPU that the holder sees inside may not have reached KVM_RUN yet, so a
 * signal alone could land in userspace and be lost (cloud-hypervisor issue
 * #7427).  The holder therefore writes kvm_run->immediate_exit = 1 before it
 * sends the signal; the vCPU clears immediate_exit only before E1.  If the
 * holder saw the vCPU inside, the clear came first and KVM_RUN reads 1 and
 * returns -EINTR at once; if KVM_RUN had already started, the signal gets it
 * out.  (wait_and_announce() below is the other half of this.)
 *
 * With the kernel kick backend (kick_kernel.c), vCPUs in KVM_RUN are not
 * part of this handshake: KVM stops them and keeps them stopped, and the
 * handshake above covers only gated ioctls and mem sections.  stop_vm()
 * sets pending (H1) before the kick, so nothing gated enters while KVM
 * stops the vCPUs, and the release resumes KVM before it clears pending.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "internal.h"
#include "test_hooks.h"

unsigned kvmhold_test_breakage;

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int hold_init(struct kvmhold_vm *vm)
{
	pthread_condattr_t attr;
	int r;

	r = pthread_mutex_init(&vm->lock, NULL);
	if (r)
		return -r;
	/* Hold deadlines are CLOCK_MONOTONIC: wall-clock jumps must not matter. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&vm->quiesced, &attr);
	pthread_cond_init(&vm->released, &attr);
	pthread_cond_init(&vm->kick_done, &attr);
	pthread_condattr_destroy(&attr);
	vm->state = HOLD_IDLE;
	atomic_init(&vm->pending, false);
	atomic_init(&vm->active, 0);
	atomic_init(&vm->quiesce_target, 0);
	return 0;
}

void hold_fini(struct kvmhold_vm *vm)
{
	pthread_cond_destroy(&vm->kick_done);
	pthread_cond_destroy(&vm->released);
	pthread_cond_destroy(&vm->quiesced);
	pthread_mutex_destroy(&vm->lock);
	free(vm->stragglers);
}

/* E1 + E2 of the handshake.  Returns false if a hold is pending. */
static bool announce(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu)
{
	if (vcpu)
		atomic_fetch_add(&vcpu->inside, 1);
	atomic_fetch_add(&vm->active, 1);          /* E1, pairs with H1/H2 */
	if (test_broken(BREAK_ENTRY_CHECK))
		return true;
	return !atomic_load(&vm->pending);        /* E2 */
}

/*
 * Leave a gated region.  A holder waiting for active to drop is woken by the
 * entry that brings it down to the holder's target.  The decrement and the
 * load of pending are seq_cst: if this thread does not see pending, the
 * holder's H1 comes later and its check of active sees the decrement; if it
 * does, it wakes the holder under vm->lock, and the holder tests active
 * under that lock before it sleeps, so the wake-up cannot fall in between.
 */
static void retreat(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu)
{
	unsigned left;

	if (vcpu)
		atomic_fetch_sub(&vcpu->inside, 1);
	left = atomic_fetch_sub(&vm->active, 1) - 1;
	/*
	 * quiesce_target is written before pending (H1, release side of the
	 * seq_cst store), so having read pending == 1 we read the target of
	 * the hold that set it.
	 */
	if (atomic_load(&vm->pending) &&
	    left <= atomic_load_explicit(&vm->quiesce_target, memory_order_relaxed)) {
		pthread_mutex_lock(&vm->lock);
		pthread_cond_broadcast(&vm->quiesced);
		pthread_mutex_unlock(&vm->lock);
	}
}

/*
 * Sleep until no hold is pending.  The releaser clears pending and
 * broadcasts under vm->lock, and we test pending under vm->lock, so the
 * wake-up cannot be lost.
 */
static void park(struct kvmhold_vm *vm)
{
	atomic_fetch_add_explicit(&vm->gate_waits, 1, memory_order_relaxed);
	pthread_mutex_lock(&vm->lock);
	while (atomic_load(&vm->pending))
		pthread_cond_wait(&vm->released, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
}

/*
 * Park while a hold is pending, then announce this entry (E1 + E2).  For a
 * vCPU about to run (tid != 0), the stores to run_tid and immediate_exit
 * come before E1 in program order and are seq_cst, so a holder that sees
 * the vCPU inside also sees the thread to signal and cannot have its
 * immediate_exit = 1 overwritten by our clear (see the top of this file).
 */
static void wait_and_announce(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu, int tid)
{
	for (;;) {
		/* Already pending: park at once (announcing would only wake the holder). */
		if (atomic_load(&vm->pending) && !test_broken(BREAK_ENTRY_CHECK)) {
			park(vm);
			continue;
		}
		if (tid) {
			atomic_store(&vcpu->run_tid, tid);
			__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		}
		if (announce(vm, vcpu))
			return;
		if (tid)
			atomic_store(&vcpu->run_tid, 0);
		retreat(vm, vcpu);
	}
}

/*
 * Enter a gated region.  A thread that holds the VM, or is already inside
 * one of its gated regions, enters without looking at pending: waiting
 * would be waiting for itself.  Its entry still counts, so a later holder
 * waits for it to leave.
 */
int gate_enter(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu)
{
	struct thread_vm_state *ts = thread_state_get(vm, true);

	if (!ts)
		return -ENOMEM;
	if (thread_state_holds(ts, vm) || ts->sections) {
		if (vcpu)
			atomic_fetch_add(&vcpu->inside, 1);
		atomic_fetch_add(&vm->active, 1);
	} else {
		wait_and_announce(vm, vcpu, 0);
	}
	ts->sections++;
	return 0;
}

void gate_leave(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu)
{
	struct thread_vm_state *ts = thread_state_get(vm, false);

	retreat(vm, vcpu);
	if (ts) {
		ts->sections--;
		thread_state_put(ts);
	}
}

/*
 * The vCPU side of the kick: enter KVM_RUN's gated region.  The caller
 * (kvmhold_vcpu_run) has checked the thread neither holds the VM nor sits
 * in one of its sections.
 */
int gate_enter_run(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu, int tid)
{
	struct thread_vm_state *ts = thread_state_get(vm, true);

	if (!ts)
		return -ENOMEM;
	wait_and_announce(vm, vcpu, tid);
	atomic_store_explicit(&vcpu->entered_ns, now_ns(), memory_order_relaxed);
	ts->sections++;
	return 0;
}

void gate_leave_run(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu)
{
	atomic_store(&vcpu->run_tid, 0);
	gate_leave(vm, vcpu);
}

/*
 * Force one vCPU out of KVM_RUN: immediate_exit first, then the signal
 * (the order that closes the lost-kick race, see the top of this file).
 * The signal goes by thread id, so a thread that has since left KVM_RUN
 * only sees a spurious, harmless signal (the handler is SA_RESTART).
 */
void vcpu_force_exit(struct kvmhold_vcpu *vcpu)
{
	int tid;

	if (!test_broken(BREAK_IMMEDIATE_EXIT))
		__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	tid = atomic_load(&vcpu->run_tid);
	if (tid && !test_broken(BREAK_KICK_SIGNAL)) {
		syscall(SYS_tgkill, getpid(), tid, vcpu->vm->kick_signal);
		atomic_fetch_add_explicit(&vcpu->vm->signals_sent, 1, memory_order_relaxed);
	}
}

/* Under vm->lock: H2's kick of every vCPU seen inside. */
static void kick_all(struct kvmhold_vm *vm)
{
	struct kvmhold_vcpu *v;

	for (v = vm->vcpus; v; v = v->next)
		if (atomic_load(&v->inside))
			vcpu_force_exit(v);
}

static void deadline_after(struct timespec *ts, int timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Wait on cond under vm->lock until the deadline (NULL: forever). */
static int wait_until(struct kvmhold_vm *vm, pthread_cond_t *cond, const struct timespec *deadline)
{
	if (!deadline)
		return pthread_cond_wait(cond, &vm->lock);
	return pthread_cond_timedwait(cond, &vm->lock, deadline);
}

/* Under vm->lock, after a timeout: who was still inside, for diagnostics. */
static void record_stragglers(struct kvmhold_vm *vm, unsigned target)
{
	struct kvmhold_vcpu *v;
	uint64_t now = now_ns();
	unsigned n = 0, vcpu_entries = 0, active;
	struct kvmhold_straggler *s;

	s = calloc(vm->nr_vcpus ? vm->nr_vcpus : 1, sizeof(*s));
	for (v = vm->vcpus; v; v = v->next) {
		unsigned inside = atomic_load(&v->inside);

		if (!inside)
			continue;
		vcpu_entries += inside;
		if (s) {
			s[n].vcpu_id = v->id;
			s[n].tid = atomic_load(&v->run_tid);
			s[n].entered_ns = atomic_load_explicit(&v->entered_ns, memory_order_relaxed);
			s[n].inside_ns = now > s[n].entered_ns ? now - s[n].entered_ns : 0;
		}
		n++;
	}
	free(vm->stragglers);
	vm->stragglers = s;
	vm->nr_stragglers = s ? n : 0;
	active = atomic_load(&vm->active);
	vm->stats.timeout_vcpus = n;
	vm->stats.timeout_others = active > vcpu_entries + target ? active - vcpu_entries - target : 0;
	vm->stats.timeout_at_ns = now;
}

/*
 * Under vm->lock, kernel backend: let KVM run the vCPUs again.  It fails
 * only if someone else resumed the VM behind the library's back (KVM then
 * holds nothing either), which the stats count.
 */
static void resume_kernel(struct kvmhold_vm *vm)
{
	if (vm->kernel_kick && !test_broken(BREAK_KERNEL_KICK) && kick_kernel_resume(vm))
		vm->stats.kernel_resume_errors++;
}

/* Under vm->lock: end the stop, everybody may run again. */
static void resume_all(struct kvmhold_vm *vm)
{
	vm->state = HOLD_IDLE;
	atomic_store(&vm->held_epoch, 0);
	atomic_store(&vm->pending, false);
	pthread_cond_broadcast(&vm->released);
	pthread_cond_broadcast(&vm->kick_done);
}

/*
 * Under vm->lock, state IDLE: stop the VM.  The caller's own gated
 * sections (target) do not count: it cannot wait for itself.
 */
static int stop_vm(struct kvmhold_vm *vm, unsigned target, const struct timespec *deadline)
{
	uint64_t start = now_ns(), took;
	int r;

	vm->state = HOLD_KICKING;
	atomic_store_explicit(&vm->quiesce_target, target, memory_order_relaxed);
	atomic_store(&vm->pending, true);            /* H1 */
	if (vm->kernel_kick) {
		/*
		 * KVM stops the vCPUs.  vm->lock is not kept across the
		 * ioctl: state KICKING already keeps other holders waiting
		 * on kick_done, and no release can run (hold_count is 0).
		 */
		pthread_mutex_unlock(&vm->lock);
		r = test_broken(BREAK_KERNEL_KICK) ? 0 : kick_kernel_stop(vm);
		pthread_mutex_lock(&vm->lock);
		if (r) {
			resume_all(vm);
			return r;
		}
	} else {
		kick_all(vm);                        /* H2 */
	}
	while (atomic_load(&vm->active) > target) {
		if (wait_until(vm, &vm->quiesced, deadline) == ETIMEDOUT &&
		    atomic_load(&vm->active) > target) {
			record_stragglers(vm, target);
			vm->stats.hold_timeouts++;
			if (test_broken(BREAK_TIMEOUT_UNDO))
				return -ETIMEDOUT;   /* stays KICKING: nothing runs again */
			resume_kernel(vm);
			resume_all(vm);
			return -ETIMEDOUT;
		}
	}
	took = now_ns() - start;
	vm->state = HOLD_HELD;
	atomic_store(&vm->held_epoch, ++vm->epochs);
	vm->stats.kicking_holds++;
	vm->stats.last_hold_ns = took;
	if (took > vm->stats.max_hold_ns)
		vm->stats.max_hold_ns = took;
	pthread_cond_broadcast(&vm->kick_done);
	return 0;
}

KVMHOLD_API int kvmhold_hold(struct kvmhold_vm *vm, int timeout_ms)
{
	struct thread_vm_state *ts;
	struct timespec deadline;
	int r = 0;

	if (!vm)
		return -EINVAL;
	if (!registry_has(vm))
		return -EBADF;
	if (timeout_ms < -1)
		return -EINVAL;
	ts = thread_state_get(vm, true);
	if (!ts)
		return -ENOMEM;
	if (timeout_ms >= 0)
		deadline_after(&deadline, timeout_ms);

	pthread_mutex_lock(&vm->lock);
	/* Serialization: one stop at a time, and only from IDLE. */
	while (vm->state == HOLD_KICKING) {
		/* That stop waits for our sections to end: do not wait for it. */
		if (ts->sections) {
			r = -EDEADLK;
			goto out;
		}
		if (wait_until(vm, &vm->kick_done, timeout_ms >= 0 ? &deadline : NULL) == ETIMEDOUT &&
		    vm->state == HOLD_KICKING) {
			vm->stats.hold_timeouts++;
			r = -ETIMEDOUT;
			goto out;
		}
	}
	if (vm->state == HOLD_IDLE)
		r = stop_vm(vm, ts->sections, timeout_ms >= 0 ? &deadline : NULL);
	if (!r) {
		vm->hold_count++;
		vm->stats.holds++;
		if (!thread_state_holds(ts, vm))
			ts->hold_epoch = atomic_load(&vm->held_epoch);
		ts->holds++;
	}
out:
	pthread_mutex_unlock(&vm->lock);
	thread_state_put(ts);
	return r;
}

KVMHOLD_API int kvmhold_release(struct kvmhold_vm *vm)
{
	struct thread_vm_state *ts;

	if (!vm)
		return -EINVAL;
	if (!registry_has(vm))
		return -EBADF;
	pthread_mutex_lock(&vm->lock);
	if (!vm->hold_count) {
		pthread_mutex_unlock(&vm->lock);
		return -EINVAL;
	}
	/*
	 * Holds are counted, not owned: any thread may release.  The calling
	 * thread's own count drops if it has one.
	 */
	ts = thread_state_get(vm, false);
	if (ts && thread_state_holds(ts, vm))
		ts->holds--;
	thread_state_put(ts);
	vm->stats.releases++;
	/*
	 * The last release finishes under vm->lock, so a later holder, which
	 * takes the lock first, cannot start kicking before it is complete.
	 */
	if (--vm->hold_count == 0) {
		resume_kernel(vm);
		resume_all(vm);
	}
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

KVMHOLD_API int kvmhold_is_held(struct kvmhold_vm *vm)
{
	int held;

	if (!vm)
		return -EINVAL;
	if (!registry_has(vm))
		return -EBADF;
	pthread_mutex_lock(&vm->lock);
	held = vm->state == HOLD_HELD;
	pthread_mutex_unlock(&vm->lock);
	return held;
}

KVMHOLD_API int kvmhold_stats_get(struct kvmhold_vm *vm, struct kvmhold_stats *st, size_t size)
{
	struct kvmhold_stats s;

	if (!vm || !st || !size)
		return -EINVAL;
	if (!registry_has(vm))
		return -EBADF;
	pthread_mutex_lock(&vm->lock);
	s = vm->stats;
	s.hold_count = vm->hold_count;
	s.nr_vcpus = vm->nr_vcpus;
	s.stopping = vm->state == HOLD_KICKING;
	pthread_mutex_unlock(&vm->lock);
	s.signals_sent = atomic_load_explicit(&vm->signals_sent, memory_order_relaxed);
	s.gate_waits = atomic_load_explicit(&vm->gate_waits, memory_order_relaxed);
	s.inside_now = atomic_load(&vm->active);
	pthread_rwlock_rdlock(&vm->slots.lock);
	s.nr_slots = (uint32_t)vm->slots.tree.count;
	pthread_rwlock_unlock(&vm->slots.lock);
	s.dirty_syncs = atomic_load_explicit(&vm->dirty.syncs, memory_order_relaxed);
	s.dirty_reported = atomic_load_explicit(&vm->dirty.reported, memory_order_relaxed);
	s.dirty_harvests = atomic_load_explicit(&vm->dirty.harvested, memory_order_relaxed);
	s.ring_entries = atomic_load_explicit(&vm->dirty.ring_entries, memory_order_relaxed);
	s.ring_full_exits = atomic_load_explicit(&vm->dirty.ring_full_exits, memory_order_relaxed);
	s.ring_unknown = atomic_load_explicit(&vm->dirty.ring_unknown, memory_order_relaxed);
	pthread_mutex_lock(&vm->dirty.store.lock);
	s.dirty_held = vm->dirty.store.pages;
	pthread_mutex_unlock(&vm->dirty.store.lock);
	memcpy(st, &s, size < sizeof(s) ? size : sizeof(s));
	return 0;
}

KVMHOLD_API int kvmhold_hold_stragglers(struct kvmhold_vm *vm, struct kvmhold_straggler *out, unsigned max)
{
	unsigned n;

	if (!vm || (!out && max))
		return -EINVAL;
	if (!registry_has(vm))
		return -EBADF;
	pthread_mutex_lock(&vm->lock);
	n = vm->nr_stragglers;
	if (out)
		memcpy(out, vm->stragglers, (n < max ? n : max) * sizeof(*out));
	pthread_mutex_unlock(&vm->lock);
	return (int)n;
}
