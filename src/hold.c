// SPDX-License-Identifier: MIT
/*
 * The hold protocol, holder side: stopping every consumer of memslots,
 * counted and serialized.  The entrant side is in gate.c, the kicks in
 * kick_signal.c and vcpu.c; hold.pml models all of it for spin, with the
 * same step names.
 *
 * Who is "inside": a vCPU thread announced for KVM_RUN, any thread in a
 * gated ioctl, any thread in a kvmhold_mem_begin/end section.  Each such
 * entry adds one to vm->active (and to vcpu->inside for vCPU entries).
 *
 * The handshake between an entrant and a holder is Dekker's:
 *
 *   entrant                                holder
 *   E1 active++              (seq_cst)     H1 pending = 1          (seq_cst)
 *   E2 if (pending) back off (seq_cst)     H2 kick whoever is inside
 *   ... KVM_RUN or the ioctl ...           H3 wait until active <= target
 *   L1 active-- ; L2 wake the holder if it sleeps
 *
 * With both sides sequentially consistent, at least one sees the other:
 * either the entrant sees pending and backs off (it parks, P1-P5 in
 * gate.c, until the release), or the holder sees it in active and waits
 * for it to leave.  Neither can miss the other, so nothing slips into KVM
 * under a hold.
 *
 * H2, the kick, for each vCPU seen inside: put the library's mark in
 * kvm_run->immediate_exit (compare-and-swap from 0, never over the VMM's
 * own 1), then signal the thread published in run_tid.  The vCPU removes
 * an old mark (C) and publishes its thread (T) before E1.  If the holder
 * saw the vCPU inside, the removal came first: KVM_RUN either has not
 * started and reads the mark, or has started and the signal gets it out
 * (cloud-hypervisor issue #7427 is this race without the mark).
 *
 * H3 spins for a bounded time (only while fewer threads are inside than
 * there are CPUs: otherwise the spin takes a CPU one of them needs), then
 * sleeps on the active word itself:
 * it sets ACTIVE_HOLDER_WAITS and its target with a fetch_or and sleeps
 * only if the value it saw is still there; the entrant that leaves (L1)
 * learns from its own fetch_sub whether it is the one that brings the
 * count down to the target, and only that one wakes the holder (L2),
 * without touching the VM again.  So once kvmhold_hold() returns, no
 * thread that was inside touches the VM: the VMM may destroy it at once.
 *
 * The release: R1 pending = 0, R2 release_gen++, R3 wake the parked
 * threads if any (gate.c).
 *
 * Holders pass the gate without waiting, so several may be inside at
 * once, reading the slot table (a sync, a mem section's translation).  A
 * held commit must not change the slots under them: X1 exclusive = 1,
 * X3 wait until active is down to the committer's own entries (H3's
 * wait), apply, X4 exclusive = 0 and wake the holders waiting for it
 * (only them: parked vCPUs wait for the release, not for X4).  A holder's
 * entry (E1, then X2: load exclusive) backs off and waits while it is set.
 * A kick (kvmhold_vcpu_kick, K1-K4 in vcpu.c) also bumps release_gen, so a
 * parked vCPU leaves at once.
 *
 * With the kernel kick backend (kick_kernel.c), H2 marks the vCPUs seen
 * inside without signalling them, then asks KVM to take every vCPU out of
 * guest mode (KVM_KICK_TO_USERSPACE): their KVM_RUN returns -EINTR, the
 * mark tells the run loop it was the library's, and they park in
 * userspace like the others, so no held vCPU keeps its vcpu->mutex (a
 * holder may issue vCPU ioctls).  Whoever is still inside after a short
 * grace (a vCPU thread busy outside KVM_RUN, or in a fault inside it) is
 * signalled as with the signal backend.  The release resumes KVM before
 * R1.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>

#include "internal.h"
#include "test_hooks.h"

/*
 * H3 spins at most this long before it sleeps.  A stop whose last vCPU is
 * already on its way out completes within a few microseconds of the
 * signal (one exit from KVM_RUN); sleeping would add a futex wake-up and
 * a context switch to it.  The bound is about one such round trip on slow
 * hosts, so a stop that is not about to complete (a vCPU in a long exit
 * handler) costs at most that much CPU before the holder sleeps.
 *
 * The budget adapts, per VM.  On a loaded host the vCPU threads wait for
 * a CPU behind other work, every spin runs out, and a fixed budget added
 * all of it to every hold (1 vCPU, both CPUs busy with another VM: 41 us
 * against a floor of 10 us).  So a spin that runs out halves the budget,
 * to nothing below SPIN_MIN_NS, and a stop that completes while spinning raises
 * it to twice what that took (at most HOLD_SPIN_NS): it follows what
 * spinning has been worth lately.  Every SPIN_PROBE_EVERY-th stop spins
 * the whole HOLD_SPIN_NS, so a budget that fell to nothing comes back when
 * the load goes; under load that costs HOLD_SPIN_NS / SPIN_PROBE_EVERY
 * (about 2 us) per stop on average.  Only the stops of the signal backend
 * adapt (wait_quiet() says why).
 */
#define HOLD_SPIN_NS     30000u
#define SPIN_MIN_NS      1000u
#define SPIN_PROBE_EVERY 16u

/*
 * Spinning only helps while the threads being waited for have CPUs to run
 * on: with as many of them still inside as there are CPUs online, a
 * spinning holder takes a CPU that one of them needs to get out, so it
 * sleeps at once.  (The online count, read once per VM, not an affinity:
 * the thread that creates the VM may be pinned to one housekeeping CPU.)
 */
static bool spin_helps(const struct kvmhold_vm *vm, unsigned inside)
{
	return inside < vm->nr_cpus;
}

/* How long this wait may spin: the budget, or all of it for a probe. */
static uint64_t spin_budget(struct kvmhold_vm *vm)
{
	unsigned n = atomic_fetch_add_explicit(&vm->spin_waits, 1, memory_order_relaxed);

	if (n % SPIN_PROBE_EVERY == SPIN_PROBE_EVERY - 1 || test_broken(BREAK_ADAPTIVE_SPIN))
		return HOLD_SPIN_NS;
	return atomic_load_explicit(&vm->spin_budget_ns, memory_order_relaxed);
}

/* After a wait that spun: won (it ended while spinning) after took ns. */
static void spin_learn(struct kvmhold_vm *vm, bool won, uint64_t took)
{
	uint32_t budget = atomic_load_explicit(&vm->spin_budget_ns, memory_order_relaxed);

	if (won) {
		atomic_fetch_add_explicit(&vm->spins_won, 1, memory_order_relaxed);
		if (2 * took > budget)
			budget = 2 * took < HOLD_SPIN_NS ? (uint32_t)(2 * took) : HOLD_SPIN_NS;
	} else {
		atomic_fetch_add_explicit(&vm->spins_lost, 1, memory_order_relaxed);
		budget /= 2;
		if (budget < SPIN_MIN_NS)
			budget = 0;
	}
	atomic_store_explicit(&vm->spin_budget_ns, budget, memory_order_relaxed);
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
	pthread_cond_init(&vm->kick_done, &attr);
	pthread_condattr_destroy(&attr);
	vm->state = HOLD_IDLE;
	atomic_init(&vm->pending, false);
	atomic_init(&vm->active, 0);
	atomic_init(&vm->release_gen, 0);
	atomic_init(&vm->parked, 0);
	atomic_init(&vm->exclusive_waiters, 0);
	atomic_init(&vm->spin_budget_ns, HOLD_SPIN_NS);
	atomic_init(&vm->spin_waits, 0);
	atomic_init(&vm->spins_won, 0);
	atomic_init(&vm->spins_lost, 0);
	return 0;
}

void hold_fini(struct kvmhold_vm *vm)
{
	pthread_cond_destroy(&vm->kick_done);
	pthread_mutex_destroy(&vm->lock);
	free(vm->stragglers);
}

/*
 * Kernel backend: how long the vCPUs KVM took out of guest mode get to
 * come back before whoever is still inside is signalled.  A vCPU on its
 * way back needs one return from KVM_RUN (microseconds); a thread that
 * takes longer is busy elsewhere, or halted inside KVM_RUN (the kick does
 * not wake halted vCPUs), and only a signal reaches it.  Kept short so an
 * idle guest's halted vCPUs cost little more than with signals alone.
 */
#define KERNEL_KICK_GRACE_NS 50000ull

/* Under vm->lock: H2's kick of every vCPU seen inside (mark only: !signal). */
static void kick_all(struct kvmhold_vm *vm, bool signal)
{
	struct kvmhold_vcpu *v;

	for (v = vm->vcpus; v; v = v->next) {
		if (!atomic_load(&v->inside))
			continue;
		if (signal)
			kick_vcpu_out(v);
		else if (!test_broken(BREAK_IMMEDIATE_EXIT))
			immediate_exit_mark(v->run);
	}
}

/*
 * Make every vCPU that is in KVM_RUN leave it once, without a hold: no
 * gate, no wait for mem sections, and the vCPUs go back in at once.
 * KVM empties a vCPU's page-modification log into its dirty ring at every
 * exit from guest mode, so when this returns 0, the ring entry of every
 * guest write made before the call is published.
 *
 * Ordering: a vCPU seen outside KVM_RUN (run_tid 0, seq_cst, stored after
 * KVM_RUN returned) left guest mode after its last write.  One seen inside
 * gets the library's mark and signal, and its exit is seen as run_exits
 * moving past the value read before the kick (seq_cst increment after
 * KVM_RUN returned): KVM's release-store of each ring entry comes before
 * that return, so the harvest's acquire loads that follow see it.  The
 * vCPU thread takes the mark and signal for its own and re-enters.
 * -ETIMEDOUT if a vCPU stayed inside for timeout_ns (it blocks the kick
 * signal and sleeps in KVM, say).
 */
int kick_all_exit_once(struct kvmhold_vm *vm, uint64_t timeout_ns)
{
	uint64_t deadline = now_ns() + timeout_ns, *gens;
	struct kvmhold_vcpu *v;
	unsigned n = 0, i;
	int r = 0;

	pthread_mutex_lock(&vm->lock);
	gens = calloc(vm->nr_vcpus ? vm->nr_vcpus : 1, sizeof(*gens));
	if (!gens) {
		pthread_mutex_unlock(&vm->lock);
		return -ENOMEM;
	}
	for (v = vm->vcpus, i = 0; v; v = v->next, i++) {
		gens[i] = atomic_load(&v->run_exits);
		if (!atomic_load(&v->run_tid)) {
			gens[i] = UINT64_MAX;              /* outside: nothing to wait for */
			continue;
		}
		kick_vcpu_out(v);
		n++;
	}
	/* vm->lock keeps the list (and each vCPU) alive while we wait. */
	while (n && !r) {
		for (v = vm->vcpus, i = 0, n = 0; v; v = v->next, i++)
			if (gens[i] != UINT64_MAX && atomic_load(&v->run_exits) == gens[i] &&
			    atomic_load(&v->run_tid))
				n++;
		if (n && now_ns() > deadline)
			r = -ETIMEDOUT;
		else if (n)
			sched_yield();
	}
	pthread_mutex_unlock(&vm->lock);
	free(gens);
	return r;
}

/* Wait on cond under vm->lock until the deadline (0: forever). */
static int wait_until(struct kvmhold_vm *vm, pthread_cond_t *cond, uint64_t deadline_ns)
{
	struct timespec ts;

	if (!deadline_ns)
		return pthread_cond_wait(cond, &vm->lock);
	ts = ns_to_timespec(deadline_ns);
	return pthread_cond_timedwait(cond, &vm->lock, &ts);
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
	active = ACTIVE_COUNT(atomic_load(&vm->active));
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

/*
 * Under vm->lock, as a stop ends (released, timed out or refused by KVM):
 * from its first kick to now, the vCPUs that left stayed parked, which is
 * what the guest lost, also when the stop did not complete.
 */
static void record_stopped(struct kvmhold_vm *vm)
{
	uint64_t stopped = now_ns() - vm->stop_start_ns;

	if (test_broken(BREAK_STOPPED_TIME))
		return;
	vm->stats.last_stopped_ns = stopped;
	vm->stats.stopped_ns += stopped;
}

/* Under vm->lock: end the stop, everybody may run again (R1-R3). */
static void resume_all(struct kvmhold_vm *vm)
{
	record_stopped(vm);
	resume_kernel(vm);
	vm->state = HOLD_IDLE;
	atomic_store(&vm->held_epoch, 0);
	atomic_store(&vm->pending, false);           /* R1 */
	gate_wake_parked(vm);                        /* R2, R3 */
	pthread_cond_broadcast(&vm->kick_done);
}

/*
 * H3, without vm->lock: wait until at most target entries are inside.
 * Returns 0 or ETIMEDOUT.  adaptive: the stop of the signal backend,
 * whose spin budget adapts (spin_budget()); the other waits spin the
 * whole HOLD_SPIN_NS and teach the budget nothing, because what they wait
 * for is not a kicked vCPU thread getting a CPU: the kernel kick's grace
 * waits for vCPUs that may be halted and not leave at all, a held
 * commit's X3 for other holders' sections.  Only a wait that would spin
 * takes a budget, and so counts towards the probes: one per stop.
 */
static int wait_quiet(struct kvmhold_vm *vm, unsigned target, uint64_t deadline_ns,
		      bool adaptive)
{
	uint64_t start = now_ns(), spin_until = 0;
	unsigned seen, count, waits;
	bool spun = false;
	int r = 0;

	while ((count = ACTIVE_COUNT(atomic_load(&vm->active))) > target) {
		if (!spin_helps(vm, count - target))
			break;
		if (!spin_until) {
			spin_until = start + (adaptive ? spin_budget(vm) : HOLD_SPIN_NS);
			if (deadline_ns && deadline_ns < spin_until)
				spin_until = deadline_ns;
		}
		if (now_ns() >= spin_until)
			break;
		spun = true;
		cpu_relax();
	}
	if (spun && adaptive)
		spin_learn(vm, count <= target, now_ns() - start);
	if (count <= target)
		return 0;
	/* The target goes with the bit, for L2's test (active_leave_wakes()). */
	waits = target < ACTIVE_TARGET_ANY ? target : ACTIVE_TARGET_ANY;
	if (test_broken(BREAK_WAKE_TARGET))
		waits = 0;      /* as if the holder had no sections of its own */
	else if (test_broken(BREAK_WAKE_EVERY_LEAVE))
		waits = ACTIVE_TARGET_ANY;
	waits = ACTIVE_HOLDER_WAITS | waits << ACTIVE_TARGET_SHIFT;
	for (;;) {
		/*
		 * Pairs with L1: the entry whose leave brings the count down
		 * to the target, after this, sees the bit and the target and
		 * wakes us; a leave before this changed the word, so the
		 * futex wait returns at once and we look again.
		 */
		seen = atomic_fetch_or(&vm->active, waits) | waits;
		if (ACTIVE_COUNT(seen) <= target)
			break;
		r = futex_wait_until(&vm->active, seen, deadline_ns);
		if (r == ETIMEDOUT && ACTIVE_COUNT(atomic_load(&vm->active)) > target)
			break;
		r = 0;
	}
	atomic_fetch_and(&vm->active, ~(ACTIVE_HOLDER_WAITS | ACTIVE_TARGET_MASK));
	return r;
}

/*
 * Under vm->lock, state IDLE: stop the VM.  The caller's own gated
 * sections (target) do not count: it cannot wait for itself.  vm->lock is
 * dropped around the kernel kick and the wait: state KICKING keeps other
 * holders waiting on kick_done, and no release can run (hold_count is 0).
 */
static int stop_vm(struct kvmhold_vm *vm, unsigned target, uint64_t deadline_ns)
{
	uint64_t start = now_ns(), took;
	int r;

	vm->state = HOLD_KICKING;
	vm->stop_start_ns = start;
	atomic_store(&vm->pending, true);            /* H1 */
	if (vm->kernel_kick) {
		uint64_t grace = now_ns() + KERNEL_KICK_GRACE_NS;

		kick_all(vm, false);                 /* H2: marks only */
		pthread_mutex_unlock(&vm->lock);
		r = test_broken(BREAK_KERNEL_KICK) ? 0 : kick_kernel_stop(vm);
		if (!r)
			r = -wait_quiet(vm, target, deadline_ns && deadline_ns < grace ?
						    deadline_ns : grace, false);
		pthread_mutex_lock(&vm->lock);
		if (r && r != -ETIMEDOUT) {          /* KVM refused: nothing held */
			record_stopped(vm);
			atomic_store(&vm->pending, false);
			gate_wake_parked(vm);
			vm->state = HOLD_IDLE;
			pthread_cond_broadcast(&vm->kick_done);
			return r;
		}
	}
	kick_all(vm, true);                          /* H2: mark and signal */
	pthread_mutex_unlock(&vm->lock);
	r = wait_quiet(vm, target, deadline_ns, true);     /* H3 */
	pthread_mutex_lock(&vm->lock);
	if (r) {
		record_stragglers(vm, target);
		vm->stats.hold_timeouts++;
		if (test_broken(BREAK_TIMEOUT_UNDO))
			return -ETIMEDOUT;   /* stays KICKING: nothing runs again */
		resume_all(vm);
		return -ETIMEDOUT;
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

/* kvmhold_hold(); for_commit: the hold of a held commit (commit_holds). */
static int hold(struct kvmhold_vm *vm, int timeout_ms, bool for_commit)
{
	struct thread_vm_state *ts;
	uint64_t deadline = 0;
	int r = 0;

	if (!vm || timeout_ms < -1)
		return -EINVAL;
	ts = thread_state_get(vm, true);
	if (!ts)
		return -ENOMEM;
	if (timeout_ms >= 0)
		deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;

	pthread_mutex_lock(&vm->lock);
	/* Serialization: one stop at a time, and only from IDLE. */
	while (vm->state == HOLD_KICKING) {
		/* That stop waits for our sections to end: do not wait for it. */
		if (ts->sections) {
			r = -EDEADLK;
			goto out;
		}
		if (wait_until(vm, &vm->kick_done, deadline) == ETIMEDOUT &&
		    vm->state == HOLD_KICKING) {
			vm->stats.hold_timeouts++;
			r = -ETIMEDOUT;
			goto out;
		}
	}
	if (vm->state == HOLD_IDLE)
		r = stop_vm(vm, ts->sections, deadline);
	if (!r) {
		vm->hold_count++;
		vm->commit_holds += for_commit;
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

KVMHOLD_API int kvmhold_hold(struct kvmhold_vm *vm, int timeout_ms)
{
	return hold(vm, timeout_ms, false);
}

/* The hold of a held commit: kvmhold_release() cannot take it away. */
int hold_for_commit(struct kvmhold_vm *vm, int timeout_ms)
{
	return hold(vm, timeout_ms, true);
}

/*
 * The calling thread holds the VM and is about to change its slots (a
 * held commit): keep every other holder's sync and section out until
 * hold_commit_end() (X1, X3).  0, or -ETIMEDOUT with nothing changed.
 */
int hold_commit_begin(struct kvmhold_vm *vm, int timeout_ms)
{
	struct thread_vm_state *ts = thread_state_get(vm, false);
	uint64_t deadline = timeout_ms >= 0 ? now_ns() + (uint64_t)timeout_ms * 1000000ull : 0;

	if (!ts)
		return -EINVAL;   /* not a holder: cannot happen from a commit */
	atomic_store(&vm->exclusive, true);                  /* X1 */
	ts->exclusive = true;
	if (wait_quiet(vm, ts->sections, deadline, false)) { /* X3 */
		hold_commit_end(vm);
		return -ETIMEDOUT;
	}
	return 0;
}

/* X4: the commit's ioctls and table update are done. */
void hold_commit_end(struct kvmhold_vm *vm)
{
	struct thread_vm_state *ts = thread_state_get(vm, false);

	if (ts)
		ts->exclusive = false;
	atomic_store(&vm->exclusive, false);                 /* X4 */
	gate_wake_exclusive(vm);
	/*
	 * The old way: every parked thread too.  Not instead: the holders
	 * waiting no longer count in parked, and gate_wake_parked() wakes
	 * nobody while parked is 0.
	 */
	if (test_broken(BREAK_EXCLUSIVE_WAKE))
		gate_wake_parked(vm);
}

/* Under vm->lock: one release; the calling thread's own count drops if it has one. */
static void release_locked(struct kvmhold_vm *vm, struct thread_vm_state *ts, bool own)
{
	if (own)
		ts->holds--;
	vm->stats.releases++;
	/*
	 * The last release finishes under vm->lock, so a later holder, which
	 * takes the lock first, cannot start kicking before it is complete.
	 */
	if (--vm->hold_count == 0)
		resume_all(vm);
}

/*
 * Under vm->lock: is every hold left one a commit in progress took?  Holds
 * are counted, not owned, but a commit's is not the VMM's to release: a
 * release now would resume the vCPUs under the commit's ioctls.
 */
static bool only_commit_holds_left(const struct kvmhold_vm *vm)
{
	return vm->hold_count <= vm->commit_holds && !test_broken(BREAK_COMMIT_HOLDS);
}

/* kvmhold_release(); for_commit: a held commit lets its own hold go. */
static int release(struct kvmhold_vm *vm, bool for_commit)
{
	struct thread_vm_state *ts;
	bool own;

	if (!vm)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	/* A commit's own count goes first, whatever follows: it is done. */
	if (for_commit && vm->commit_holds)
		vm->commit_holds--;
	if (!vm->hold_count) {
		pthread_mutex_unlock(&vm->lock);
		return -EINVAL;
	}
	if (!for_commit && only_commit_holds_left(vm)) {
		pthread_mutex_unlock(&vm->lock);
		return -EBUSY;
	}
	/* Holds are counted, not owned: any thread may release. */
	ts = thread_state_get(vm, false);
	own = ts && thread_state_holds(ts, vm);
	/*
	 * A thread inside one of the VM's sections may not become a
	 * non-holder while other holds stay in force: those holders were
	 * promised that no non-holder is inside.  The last release, or one
	 * that leaves the thread a hold of its own, is fine.
	 */
	if (ts && ts->sections && vm->hold_count > 1 && (!own || ts->holds == 1) &&
	    !test_broken(BREAK_SECTION_RELEASE)) {
		pthread_mutex_unlock(&vm->lock);
		return -EBUSY;
	}
	release_locked(vm, ts, own);
	thread_state_put(ts);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

KVMHOLD_API int kvmhold_release(struct kvmhold_vm *vm)
{
	return release(vm, false);
}

/*
 * A held commit's release of its own hold; -EBUSY as kvmhold_release()
 * when the commit ran inside one of the thread's sections and another
 * holder joined (the hold is then an ordinary one, deferred).
 */
int hold_release_commit(struct kvmhold_vm *vm)
{
	return release(vm, true);
}

/*
 * A commit made inside one of the calling thread's sections could not
 * release its hold (another holder joined, kvmhold_release() said
 * -EBUSY): keep it until the thread's last section ends, when
 * hold_release_deferred() lets it go.
 */
void hold_defer_release(struct kvmhold_vm *vm)
{
	struct thread_vm_state *ts = thread_state_get(vm, false);

	if (ts) {
		ts->deferred_releases++;
		ts->deferred_epoch = atomic_load(&vm->held_epoch);
	}
}

/* gate_leave(), as the last section ends and before it is left (L1). */
void hold_release_deferred(struct kvmhold_vm *vm, struct thread_vm_state *ts)
{
	pthread_mutex_lock(&vm->lock);
	/*
	 * Only if the stop they were taken in still lasts: holds are counted,
	 * not owned, and others may have released them all since, after which
	 * this thread's holds (thread_state_holds) are new ones of its own.
	 */
	while (ts->deferred_releases) {
		ts->deferred_releases--;
		if (!vm->hold_count || !thread_state_holds(ts, vm) ||
		    (ts->deferred_epoch != atomic_load(&vm->held_epoch) &&
		     !test_broken(BREAK_DEFERRED_EPOCH)))
			continue;
		/*
		 * Not a hold of a commit in progress either: with only those
		 * left, others released this thread's hold already, and only
		 * the thread's record of it goes.
		 */
		if (!only_commit_holds_left(vm))
			release_locked(vm, ts, true);
		else
			ts->holds--;
	}
	pthread_mutex_unlock(&vm->lock);
}

KVMHOLD_API int kvmhold_is_held(struct kvmhold_vm *vm)
{
	int held;

	if (!vm)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	held = vm->state == HOLD_HELD;
	pthread_mutex_unlock(&vm->lock);
	return held;
}

KVMHOLD_API int kvmhold_hold_stragglers(struct kvmhold_vm *vm, struct kvmhold_straggler *out, unsigned max)
{
	unsigned n;

	if (!vm || (!out && max))
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	n = vm->nr_stragglers;
	if (out && n && max)
		memcpy(out, vm->stragglers, (n < max ? n : max) * sizeof(*out));
	pthread_mutex_unlock(&vm->lock);
	return (int)n;
}
