// SPDX-License-Identifier: MIT
/*
 * The gate, entrant side: how a thread enters and leaves a region that
 * consumes memslots (KVM_RUN, a gated ioctl, a mem section), and how it
 * waits while the VM is held.  The protocol both sides follow, with the
 * step names (E, L, P, H, R, K) used in the comments below and in the
 * model (hold.pml), is described at the top of hold.c.
 */
#include <errno.h>
#include <limits.h>
#include <linux/kvm.h>

#include "internal.h"
#include "test_hooks.h"

/* E1 + E2 of the handshake.  Returns false if a hold is pending. */
static bool announce(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu)
{
	if (vcpu)
		atomic_fetch_add(&vcpu->inside, 1);
	atomic_fetch_add(&vm->active, 1);          /* E1, pairs with H1/H3 */
	if (test_broken(BREAK_ENTRY_CHECK))
		return true;
	return !atomic_load(&vm->pending);         /* E2 */
}

/*
 * L1 + L2: leave a gated region.  The decrement is this thread's last
 * access to the VM: once it brings active down to the holder's target the
 * holder may return, and the VMM may destroy the VM at once.  So whether a
 * holder sleeps on active is read from the decrement's own result, and
 * the wake-up touches no memory (sys.h).
 */
static void retreat(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu)
{
	atomic_uint *active = &vm->active;
	unsigned old;

	if (vcpu)
		atomic_fetch_sub(&vcpu->inside, 1);
	old = atomic_fetch_sub(active, 1);          /* L1, pairs with H3's fetch_or */
	if (active_leave_wakes(old) && !test_broken(BREAK_LEAVE_WAKE))
		futex_wake(active, 1);              /* L2 */
	test_delay(&kvmhold_test_leave_delay_ns);
}

/* Has the VMM asked this vCPU to leave KVM_RUN through immediate_exit? */
static bool vmm_immediate_exit(struct kvm_run *run)
{
	unsigned char v = __atomic_load_n(&run->immediate_exit, __ATOMIC_SEQ_CST);

	return v && v != IMMEDIATE_EXIT_MARK;
}

/*
 * Who a wake-up on release_gen is for.  Releases wake every waiter; a kick
 * wakes the waiters of its vCPU's bit (vCPU ids share 30 bits, so a kick
 * may wake another vCPU's waiter too, which looks and sleeps again); the
 * end of a held commit (X4) wakes only the holders waiting for it, not the
 * parked threads, which wait for the release: with N vCPUs parked, waking
 * them at every commit made N threads run, look and sleep again while the
 * VM was still held.
 */
#define PARK_RELEASE_BIT   (1u << 31)
#define PARK_EXCLUSIVE_BIT (1u << 30)

static unsigned park_bits(const struct kvmhold_vcpu *vcpu)
{
	return vcpu ? PARK_RELEASE_BIT | vcpu_park_bit(vcpu) : PARK_RELEASE_BIT;
}

/*
 * Wait here while a hold is pending (P1-P5).  The futex word release_gen
 * changes at every release (R2) and at every kick of a parked vCPU (K4),
 * and both read parked after their change (seq_cst), so a thread that saw
 * pending or no kick at P3 either sleeps on the old value and is woken,
 * or finds the value changed and looks again.
 *
 * A thread waiting for a vCPU (vcpu: its run loop, or one of its gated
 * ioctls) also leaves without the release on a kick and on the VMM's
 * immediate_exit, so that a kick brings back a vCPU thread wherever it
 * waits.  The run loop (signals) leaves on a signal of the VMM's own too:
 * a signal ends a wait with a deadline with EINTR even under SA_RESTART
 * (sys.h), and the library's own kick signal is told apart by its
 * per-thread count.  A VMM signal whose handler runs in the instant
 * between P3 and P4 is not seen by the wait; if its handler wrote
 * immediate_exit (as KVM's API document advises), the next look at P3, at
 * most PARK_RECHECK_NS later, sees it.  Other threads wait for the
 * release, without a deadline, whatever happens.
 */
#define PARK_RECHECK_NS 50000000ull

static enum park_end park(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu, bool signals)
{
	enum park_end end = PARK_RELEASED;
	unsigned bits;

	if (test_broken(BREAK_PARK_EXITS))
		vcpu = NULL;
	bits = park_bits(vcpu);
	signals = signals && vcpu;
	atomic_fetch_add_explicit(&vm->gate_waits, 1, memory_order_relaxed);
	atomic_fetch_add(&vm->parked, 1);                          /* P1 */
	for (;;) {
		unsigned gen = atomic_load(&vm->release_gen);      /* P2 */
		unsigned seen;

		if (!atomic_load(&vm->pending))                    /* P3 */
			break;
		if (vcpu && atomic_load(&vcpu->kick_requested)) {
			end = PARK_KICKED;
			break;
		}
		if (vcpu && vmm_immediate_exit(vcpu->run)) {
			end = PARK_VMM_EXIT;
			break;
		}
		seen = kick_signal_seen();
		if (futex_wait_bits(&vm->release_gen, gen,              /* P4 */
				    signals ? now_ns() + PARK_RECHECK_NS : 0, bits) == EINTR &&
		    signals && kick_signal_seen() == seen) {
			end = PARK_VMM_EXIT;
			break;
		}
	}
	atomic_fetch_sub(&vm->parked, 1);                          /* P5 */
	return end;
}

/* R2 + R3: a release; every parked thread looks again. */
void gate_wake_parked(struct kvmhold_vm *vm)
{
	atomic_fetch_add(&vm->release_gen, 1);
	if (atomic_load(&vm->parked))
		futex_wake_bits(&vm->release_gen, INT_MAX, FUTEX_BITSET_MATCH_ANY);
}

/* K4: a kick; the threads parked for that vCPU look again. */
void gate_wake_vcpu(struct kvmhold_vm *vm, const struct kvmhold_vcpu *vcpu)
{
	atomic_fetch_add(&vm->release_gen, 1);
	futex_wake_bits(&vm->release_gen, INT_MAX, vcpu_park_bit(vcpu));
}

/*
 * Park while a hold is pending, then announce this entry (E1 + E2).  For a
 * vCPU about to run (tid != 0), first remove a mark an earlier kick of the
 * library left in immediate_exit (C), then publish the thread to signal
 * (T).  C, T and E1 are seq_cst and in this order, so a holder that sees
 * the vCPU inside (after E1) also sees the thread to signal, and the mark
 * it then writes (H2) comes after C, which cannot erase it.  Returns 0, or
 * -EINTR when a kick or the VMM ended the park of a vCPU's thread.
 */
static int wait_and_announce(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu, int tid)
{
	for (;;) {
		/* Already pending: park at once (announcing would only wake the holder). */
		if (atomic_load(&vm->pending) && !test_broken(BREAK_ENTRY_CHECK)) {
			if (park(vm, vcpu, tid != 0) != PARK_RELEASED)
				return -EINTR;
			continue;
		}
		if (tid) {
			immediate_exit_unmark(vcpu->run);          /* C */
			atomic_store(&vcpu->run_tid, tid);         /* T */
		}
		if (announce(vm, vcpu))
			return 0;
		if (tid)
			atomic_store(&vcpu->run_tid, 0);
		retreat(vm, vcpu);
	}
}

/*
 * Wait while another thread's held commit is applying (X1-X4).  No lost
 * wake-up: the count (W1) comes before the futex's compare of release_gen,
 * and X4 bumps release_gen before it reads the count, all seq_cst.  So
 * either the compare sees the new release_gen and the wait returns at
 * once, or the wait was queued before X4's bump, W1 before it too, and X4
 * reads a count that includes this thread and wakes its bit.  The look at
 * exclusive only decides whether to sleep at all.  (The model's mutations
 * x4-count-early and x4-no-gen break each half; spin finds the deadlock.)
 */
static void wait_exclusive_end(struct kvmhold_vm *vm)
{
	atomic_fetch_add(&vm->exclusive_waiters, 1);           /* W1 */
	for (;;) {
		unsigned gen = atomic_load(&vm->release_gen);  /* P2 */

		if (!atomic_load(&vm->exclusive))
			break;
		futex_wait_bits(&vm->release_gen, gen, 0, PARK_EXCLUSIVE_BIT);
	}
	atomic_fetch_sub(&vm->exclusive_waiters, 1);
}

/* X4's wake (after exclusive = 0): the holders in wait_exclusive_end() look again. */
void gate_wake_exclusive(struct kvmhold_vm *vm)
{
	atomic_fetch_add(&vm->release_gen, 1);
	if (atomic_load(&vm->exclusive_waiters))
		futex_wake_bits(&vm->release_gen, INT_MAX, PARK_EXCLUSIVE_BIT);
}

/*
 * A holder enters without looking at pending (waiting would be waiting
 * for itself), but not while another thread's held commit applies its
 * ioctls: those change the slots a holder's sync or mem section reads.
 * The same handshake as with pending: E1 here, then X2 (load exclusive);
 * the commit sets exclusive (X1) before it waits for active (X3), both
 * seq_cst, so either this entry backs off or the commit waits for it.
 */
static void enter_as_holder(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu)
{
	for (;;) {
		if (vcpu)
			atomic_fetch_add(&vcpu->inside, 1);
		atomic_fetch_add(&vm->active, 1);                  /* E1 */
		if (!atomic_load(&vm->exclusive) ||                /* X2 */
		    test_broken(BREAK_COMMIT_EXCLUSIVE))
			return;
		retreat(vm, vcpu);
		wait_exclusive_end(vm);
	}
}

/*
 * Enter a gated region.  A thread already inside one of the VM's gated
 * regions enters at once (it is counted already, so no commit runs
 * beside it); a holder enters without waiting for the release; everyone
 * else parks while a hold is pending.  Every entry counts, so a later
 * holder waits for it to leave.  -EINTR: a vCPU's gated ioctl (vcpu set)
 * waited for a release and that vCPU was kicked meanwhile; the kick stays
 * pending for its next kvmhold_vcpu_run().  -EOVERFLOW: a nested entry
 * with ACTIVE_NESTED_LIMIT entries inside (a thread that never ends its
 * sections, most likely).
 */
int gate_enter(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu)
{
	struct thread_vm_state *ts = thread_state_get(vm, true);

	if (!ts)
		return -ENOMEM;
	if (ts->sections || ts->exclusive) {
		if (ACTIVE_COUNT(atomic_load(&vm->active)) >= ACTIVE_NESTED_LIMIT &&
		    !test_broken(BREAK_NESTED_LIMIT)) {
			thread_state_put(ts);
			return -EOVERFLOW;
		}
		if (vcpu)
			atomic_fetch_add(&vcpu->inside, 1);
		atomic_fetch_add(&vm->active, 1);
	} else if (thread_state_holds(ts, vm)) {
		enter_as_holder(vm, vcpu);
	} else if (wait_and_announce(vm, vcpu, 0)) {
		/* A gated vCPU ioctl whose vCPU was kicked while it waited. */
		thread_state_put(ts);
		return -EINTR;
	}
	ts->sections++;
	return 0;
}

/* The thread's record is found before L1: after it, the VM may be gone. */
void gate_leave(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu)
{
	struct thread_vm_state *ts = thread_state_get(vm, false);

	if (ts && ts->sections == 1 && ts->deferred_releases)
		hold_release_deferred(vm, ts);
	retreat(vm, vcpu);
	if (ts) {
		ts->sections--;
		thread_state_put(ts);
	}
}

/*
 * The vCPU side: enter KVM_RUN's gated region.  The caller
 * (kvmhold_vcpu_run) has checked the thread neither holds the VM nor sits
 * in one of its sections.  -EINTR: kicked, or the VMM asked for the vCPU,
 * while parked.
 */
int gate_enter_run(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu, int tid)
{
	struct thread_vm_state *ts = thread_state_get(vm, true);
	int r;

	if (!ts)
		return -ENOMEM;
	r = wait_and_announce(vm, vcpu, tid);
	if (r) {
		thread_state_put(ts);
		return r;
	}
	atomic_store_explicit(&vcpu->entered_ns, now_ns(), memory_order_relaxed);
	ts->sections++;
	return 0;
}

void gate_leave_run(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu)
{
	atomic_store(&vcpu->run_tid, 0);
	/*
	 * After KVM_RUN returned, so after everything KVM did at the exit
	 * (it publishes the dirty-ring entries of the CPU's page-modification
	 * log then); seq_cst, read by kick_all_exit_once().
	 */
	atomic_fetch_add(&vcpu->run_exits, 1);
	gate_leave(vm, vcpu);
}
