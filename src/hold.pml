/* SPDX-License-Identifier: MIT */
/*
 * hold.pml: a Promela model of the hold protocol, for spin.  `make
 * check-model` runs it (see the Makefile): for each configuration an
 * exhaustive safety search and a liveness search, then the mutations
 * below, each of which spin must catch.
 *
 * It mirrors hold.c (holder: H1-H3, R1-R3, X1/X3/X4, the IDLE / KICKING /
 * HELD machine and hold_count), gate.c (entrant: announce E1/E2, retreat
 * L1/L2, park P1-P5, wait_and_announce with C and T, enter_as_holder with
 * X2), vcpu.c (kvmhold_vcpu_run, kvmhold_vcpu_kick K1-K4, eintr_is_ours),
 * kick_signal.c (the mark, kick_vcpu_out) and kick_kernel.c.  Each
 * statement names the step or the C function it stands for.  Every access
 * to a shared word is one Promela step, as it is one atomic operation in
 * C, with two kinds of exceptions, each said where it is made: what only
 * vm->lock's holder touches (state, hold_count, kick_done) is folded into
 * the step that takes or drops the lock, and ghost variables, which only
 * the properties read, ride along with a real step.
 *
 * The environment:
 *  - KVM_RUN returns -EINTR at once if immediate_exit != 0 or a signal is
 *    pending; otherwise the vCPU is in guest mode until a signal arrives
 *    (-EINTR) or the guest exits on its own (0; at most NEXIT times per
 *    vCPU, so that a vCPU can also stay in the guest for good, and a kick
 *    that does not get it out is a deadlock or a stuck vCPU).  It reads
 *    immediate_exit only on entry.
 *  - Signals: a send makes the signal pending on the thread.  In guest
 *    mode or in a futex wait it ends the call with EINTR, and the handler
 *    runs on the way out; otherwise the handler runs at any later moment
 *    (process sigdeliver).  The library's handler counts (kicks_seen); the
 *    VMM's does nothing, or writes immediate_exit = 1 (QEMU style).
 *  - Futexes: a wait compares and enqueues in one step; a wake dequeues.
 *    Bitsets as in gate.c: releases wake every parked thread, a kick (K4)
 *    only the threads parked for its vCPU, the end of a held commit (X4)
 *    only the holders waiting for it (PARK_EXCLUSIVE_BIT).  The park's recheck timer
 *    (PARK_RECHECK_NS) fires only while the VMM's 1 sits in
 *    immediate_exit, the one case gate.c relies on it for, so that any
 *    other lost wake-up is a deadlock spin reports.
 *  - The VMM: each vCPU thread calls kvmhold_vcpu_run() NRUN times and,
 *    after each -EINTR, clears immediate_exit (a plain store of 0, outside
 *    the call, as include/kvmhold.h lets it).  Process kicker asks for
 *    vCPU 0 once, by one of (KICKS, bits 1, 2, 4, 8; all by default):
 *    kvmhold_vcpu_kick(); immediate_exit = 1, then a signal of the VMM's
 *    own (kvmtool, cloud-hypervisor); a VMM signal whose handler writes
 *    immediate_exit = 1 (QEMU); a VMM signal whose handler does nothing.
 *  - KERNEL_KICK, the kernel backend with KVM_KICK_TO_USERSPACE: the kick
 *    takes every vCPU out of guest mode (its KVM_RUN returns -EINTR) and,
 *    until the resume, every KVM_RUN returns -EINTR before entering the
 *    guest; it does not wait for a vCPU handling an exit inside KVM_RUN
 *    (a fault, at most NFAULT per vCPU), which only a signal ends.  The
 *    kick may fail (KVM then holds nothing).
 *
 * Properties:
 *  - held_quiet: while the state is HELD no vCPU is in KVM_RUN and no
 *    non-holder is inside a mem section.
 *  - exclusive: while a held commit applies (between X3 and X4) no other
 *    holder is inside a section.
 *  - no lost hold kick: once H2 is done, every vCPU in KVM_RUN has a
 *    signal on its way to it (or, kernel backend, is on its way out).
 *  - no lost kick: once a kick of vCPU 0 (kvmhold_vcpu_kick(), or the
 *    VMM's immediate_exit with a signal) has done all its steps, vCPU 0 is
 *    neither in KVM_RUN nor asleep in the park without a signal on its way
 *    (asleep with the VMM's 1 in immediate_exit is fine: the recheck
 *    timer ends that sleep).
 *  - holds do not surface: kvmhold_vcpu_run() returns -EINTR only after
 *    the VMM asked for the vCPU; a VMM signal alone that ends KVM_RUN or
 *    the park is never absorbed (unless a kick of the library lands in the
 *    same wait: then the two cannot be told apart, as vcpu.c says).
 *  - kvm resumed: the kernel kick never outlives its hold.
 *  - no deadlock: every process ends, or rests at an end label (a vCPU in
 *    the guest for good, the signal deliverer, the monitor).
 *  - liveness (ltl progress, pan -a): every kvmhold_hold() returns, and
 *    every run call of a kicked vCPU returns.  Checked without fairness:
 *    no path at all violates it, so none does under any fairness either
 *    (every loop of the model waits for something bounded to happen).
 *
 * Switches (spin -DNAME=...):
 *  NV=1|2 vCPUs; NRUN run calls per vCPU; NEXIT own exits per vCPU;
 *  NH=1|2 holders, HTMO bit n: holder n has a deadline; MEM=0|1 a mem
 *  section thread; KICKER=0|1 and KICKS; COMMIT=1: holder 0 makes a held
 *  commit, holder 1 enters a section as a holder; KERNEL_KICK; NFAULT;
 *  OWN=1 (NH=1 only): holder 0 holds from inside a section of its own, so
 *  it waits for target 1 and ends that section after its hold.
 *  Mutations, most of them the model's KVMHOLD_TEST_BREAK switches
 *  (test_hooks.h: IMMEDIATE_EXIT, ENTRY_CHECK, LEAVE_WAKE, PARK_EXITS,
 *  IE_OWNER, KICKS_SAMPLE, COMMIT_EXCLUSIVE):
 *   MUT_NO_MARK         kick_vcpu_out() does not set immediate_exit
 *   MUT_NO_K4           kvmhold_vcpu_kick() does not wake parked threads
 *   MUT_NO_ENTRY_CHECK  entrants do not look at pending (E2)
 *   MUT_NO_L2           retreat() does not wake the sleeping holder (L2)
 *   MUT_WAKE_TARGET     the sleeping holder publishes target 0, whatever
 *                       sections of its own it has open
 *   MUT_NO_PARK_EXITS   a parked vCPU waits for the release whatever happens
 *   MUT_IE_OWNER        eintr_is_ours() takes any non-zero immediate_exit
 *                       for the library's and clears it
 *   MUT_KICKS_SAMPLE    kicks_before is read at the top of the run loop,
 *                       before the park, instead of after E1
 *   MUT_NO_EXCLUSIVE    a holder's entry does not look at exclusive (X2)
 *   MUT_NO_X4_WAKE      the end of a held commit wakes no waiting holder
 *   MUT_X4_COUNT_EARLY  X4 reads the count of waiting holders before it
 *                       clears exclusive (a holder counted in between
 *                       sleeps through the end)
 *   MUT_X4_NO_GEN       X4 does not bump release_gen (a holder between its
 *                       look at exclusive and its futex wait sleeps
 *                       through the end)
 *
 * Not modelled: gated vCPU ioctls (for the protocol they are mem sections
 * that a kick may end while parked), the EDEADLK/EBUSY checks, deferred
 * releases and thread_state (holders here never enter sections of their
 * own before they hold), held_epoch, more than one commit at a time
 * (txn_mutex) and a commit's timeout, two vCPUs sharing a park bit, the
 * dirty ring, vCPU creation and destruction, diagnostics.
 */

#ifndef NV
#define NV 1
#endif
#ifndef NRUN
#define NRUN 2
#endif
#ifndef NEXIT
#define NEXIT 1
#endif
#ifndef NH
#define NH 1
#endif
#ifndef HTMO
#define HTMO 0
#endif
#ifndef MEM
#define MEM 0
#endif
#ifndef KICKER
#define KICKER 1
#endif
#ifndef KICKS
#define KICKS 15
#endif
#ifndef COMMIT
#define COMMIT 0
#endif
#ifndef NFAULT
#define NFAULT 1
#endif
#ifndef OWN
#define OWN 0
#endif

/* enum hold_state */
#define IDLE    0
#define KICKING 1
#define HELD    2

/* kvm_run->immediate_exit: the VMM's 1, the library's mark */
#define VMM_IE  1
#define MARK    2

/* where a vCPU thread is with respect to KVM_RUN */
#define OUT     0     /* not in KVM_RUN (user space, or another syscall) */
#define GUEST   1     /* in guest mode */
#define KOUT    2     /* taken out of guest mode by the kernel kick: -EINTR */
#define KFAULT  3     /* handling an exit inside KVM_RUN (a fault) */

/* a pending VMM signal: its handler does nothing, or writes 1 */
#define SIG_PLAIN 1
#define SIG_QEMU  2

/* errno values */
#define EINTR     4
#define ETIMEDOUT 110
#define EKVM      1   /* kick_kernel_stop() failed */

/* enum park_end */
#define RELEASED 0
#define KICKED   1
#define VMM_EXIT 2

/* futex waiters on release_gen: the vCPUs, then these */
#define W_MEM    NV
#define W_HOLDER (NV + 1)

/* ---- struct kvmhold_vm: the lock-free handshake ------------------------- */
bit  pending;          /* vm->pending */
byte act;              /* ACTIVE_COUNT(vm->active) ("active" is a keyword) */
bit  hwaits;           /* ACTIVE_HOLDER_WAITS in vm->active */
byte htarget;          /* ACTIVE_TARGET(vm->active): what the sleeper waits for */
bit  hsleep;           /* a holder is queued on the futex of vm->active */
byte release_gen;      /* vm->release_gen, the park's futex word */
byte parked;           /* vm->parked */
byte xwaiters;         /* vm->exclusive_waiters */
bit  exclusive;        /* vm->exclusive */

/* ---- under vm->lock ----------------------------------------------------- */
bit  lock;             /* vm->lock */
byte state;            /* vm->state */
byte hold_count;       /* vm->hold_count */
byte kd_gen;           /* broadcasts of vm->kick_done */

/* ---- KVM ---------------------------------------------------------------- */
bit  kstopped;         /* KERNEL_KICK: the VM is kicked (to userspace) */

/* ---- struct kvmhold_vcpu, its kvm_run and its thread -------------------- */
byte inside[NV];       /* vcpu->inside */
bit  run_tid[NV];      /* vcpu->run_tid != 0 */
bit  kick_req[NV];     /* vcpu->kick_requested */
byte ie[NV];           /* kvm_run->immediate_exit: 0, VMM_IE or MARK */
byte kvm[NV];          /* OUT, GUEST, KOUT, KFAULT */
bit  lsig[NV];         /* the library's kick signal is pending on the thread */
byte vsig[NV];         /* a VMM signal is pending: 0, SIG_PLAIN, SIG_QEMU */
byte kicks[NV];        /* the thread's kicks_seen */
bit  fsleep[NV + 2];   /* queued on the release_gen futex */

/* ---- ghosts: read by the properties only -------------------------------- */
bit  h2done;           /* the KICKING holder has done H2 */
bit  insec;            /* the mem thread is inside its section */
bit  hsec;             /* holder 1 is inside a section of its own */
bit  applying;         /* holder 0's commit is between X3 and X4 */
bit  inrun[NV];        /* inside a kvmhold_vcpu_run() call */
bit  asked[NV];        /* the VMM asked for the vCPU, by any means */
bit  kick_out[NV];     /* a kick started and no -EINTR returned since */
bit  kdone[NV];        /* that kick has done all its steps */
bit  vint[NV];         /* a VMM signal alone ended the last wait */
bit  lkick[NV];        /* a kick of the library came during that wait */
byte holding;          /* callers inside kvmhold_hold() */

/* The plain-signal ghosts cost states: kept out of the runs without it. */
#if KICKER && (KICKS & 8)
#define PV(x) x
#else
#define PV(x) skip
#endif

#define IN_RUN(i)    (kvm[i] != OUT)
#define SIGNALLED(i) (lsig[i] || vsig[i])
#define REACHED(i)   (!IN_RUN(i) || SIGNALLED(i) || kvm[i] == KOUT)

#if NV > 1
#define NO_VCPU_IN_RUN (!IN_RUN(0) && !IN_RUN(1))
#define ALL_REACHED    (REACHED(0) && REACHED(1))
#else
#define NO_VCPU_IN_RUN (!IN_RUN(0))
#define ALL_REACHED    (REACHED(0))
#endif

#define HELD_QUIET        (state != HELD || (NO_VCPU_IN_RUN && !insec))
#define EXCLUSIVE_OK      (!(applying && hsec))
#define NO_LOST_HOLD_KICK (!(h2done && state == KICKING) || ALL_REACHED)
#define NO_LOST_KICK      (!(kdone[0] && kick_out[0]) || SIGNALLED(0) || \
			   (!IN_RUN(0) && !(fsleep[0] && ie[0] != VMM_IE)))
#define KVM_RESUMED       (!kstopped || state != IDLE)
#define ALL_OK (HELD_QUIET && EXCLUSIVE_OK && NO_LOST_HOLD_KICK && NO_LOST_KICK && KVM_RESUMED)

/* ---- liveness ----------------------------------------------------------- */
#define HOLD_WAITING (holding > 0)
#define KICK_WAITING (kick_out[0] && inrun[0])
ltl progress { [] ((HOLD_WAITING -> <> !HOLD_WAITING) && (KICK_WAITING -> <> !KICK_WAITING)) }

/* ---- shared pieces ------------------------------------------------------- */

#define LOCK    atomic { !lock -> lock = 1 }    /* pthread_mutex_lock(&vm->lock) */
#define UNLOCK  lock = 0                        /* pthread_mutex_unlock(&vm->lock) */

/*
 * The signal handlers, run on the way out of a wait that a signal ended,
 * or by sigdeliver in user space: kick_signal.c on_kick() counts; the
 * VMM's handler does nothing, or writes its 1 (QEMU).
 */
inline handlers(i)
{
	if
	:: lsig[i] -> kicks[i]++; lsig[i] = 0
	:: else
	fi;
	if
	:: vsig[i] == SIG_QEMU -> ie[i] = VMM_IE
	:: else
	fi;
	vsig[i] = 0
}

/*
 * gate.c gate_wake_parked(), its second half: "if (parked) futex_wake
 * (all)" (R3).  The first half, release_gen++ (R2), is a step of its
 * own before it.  The load of parked and the wake are one step: a thread
 * that parks in between reads the new release_gen at P2, or fails the
 * futex's compare.
 */
inline wake_parked()
{
	if
	:: parked > 0 ->
		fsleep[0] = 0;
#if NV > 1
		fsleep[1] = 0;
#endif
		fsleep[W_MEM] = 0;
		fsleep[W_HOLDER] = 0
	:: else
	fi
}

/* kick_signal.c immediate_exit_mark(): compare-and-swap 0 -> MARK */
inline mark(i)
{
#ifndef MUT_NO_MARK
	atomic {
		if
		:: ie[i] == 0 -> ie[i] = MARK; PV(lkick[i] = 1)
		:: else
		fi
	}
#else
	skip
#endif
}

/* kick_signal.c kick_vcpu_out(): the mark, then the signal to run_tid */
inline kick_vcpu_out(i, tid)
{
	mark(i);
	tid = run_tid[i];                               /* load run_tid */
	if
	:: tid -> atomic { lsig[i] = 1; PV(lkick[i] = 1) }  /* tgkill */
	:: else
	fi
}

/* hold.c kick_all(): H2, for every vCPU seen inside; signal: see stop_vm() */
inline kick_all(signal, tid)
{
	if
	:: inside[0] > 0 ->
		if
		:: signal -> kick_vcpu_out(0, tid)
		:: else -> mark(0)
		fi
	:: else
	fi;
#if NV > 1
	if
	:: inside[1] > 0 ->
		if
		:: signal -> kick_vcpu_out(1, tid)
		:: else -> mark(1)
		fi
	:: else
	fi
#else
	skip
#endif
}

/*
 * gate.c retreat(): L1 + L2; w is a scratch bit.  Only the leave that
 * brings act down to the sleeping holder's target wakes it
 * (active_leave_wakes()); holder 0 waits for target 1 with OWN=1, every
 * other wait for target 0.
 */
inline retreat(w)
{
	atomic { w = hwaits && act <= htarget + 1; act-- }   /* L1: fetch_sub */
	if
#ifndef MUT_NO_L2
	:: w -> hsleep = 0                              /* L2: futex_wake(active, 1) */
#endif
	:: else
	fi
}

/*
 * hold.c wait_quiet(vm, target, deadline): H3 (and the kernel backend's
 * grace wait, and X3).  canto: the deadline may pass.  Leaves r = 0 or
 * ETIMEDOUT.
 */
inline wait_quiet(target, canto)
{
	r = 0;
	if
	:: act <= target                                /* the spin saw it quiet */
	:: else ->                                      /* spin time is up: sleep */
		do
		:: atomic {                     /* fetch_or(WAITS | target) */
			hwaits = 1;
#ifdef MUT_WAKE_TARGET
			htarget = 0;
#else
			htarget = target;
#endif
			seen = act
		};
			if
			:: seen <= target -> break
			:: else
			fi;
			atomic {                        /* futex_wait_until(active, seen) */
				if
				:: act == seen && hwaits -> hsleep = 1
				:: else
				fi
			};
			if
			:: !hsleep -> r = 0             /* woken by L2, or the word changed */
			:: canto -> atomic { hsleep = 0; r = ETIMEDOUT }   /* the deadline */
			fi;
			if
			:: r == ETIMEDOUT && act > target -> break
			:: else -> r = 0
			fi
		od;
		atomic { hwaits = 0; htarget = 0 }      /* fetch_and(~(WAITS | target)) */
	fi
}

/* ---- the vCPU thread: kvmhold_vcpu_run() --------------------------------- */

/* Holds do not surface: no VMM signal that alone ended a wait is lost. */
inline vmm_signal_kept()
{
	if
	:: vint[me] && !lkick[me] ->
		printf("model-error: holds surface: the VMM's signal ended a wait and was taken for the library's\n");
		assert(false)
	:: else
	fi
}

/* gate.c park(vm, vcpu, signals = true): leaves pe = RELEASED, KICKED or VMM_EXIT */
inline park_vcpu()
{
	parked++;                                       /* P1 */
	do
	:: gen = release_gen;                           /* P2 */
		if
		:: !pending -> pe = RELEASED; break     /* P3 */
		:: else
		fi;
#ifndef MUT_NO_PARK_EXITS
		if
		:: kick_req[me] -> pe = KICKED; break   /* kick_requested */
		:: else
		fi;
		if
		:: ie[me] == VMM_IE -> pe = VMM_EXIT; break   /* vmm_immediate_exit() */
		:: else
		fi;
#endif
		atomic { seen = kicks[me]; PV(lkick[me] = lsig[me]); PV(vint[me] = 0) }; /* kick_signal_seen() */
		atomic {                                /* P4: futex_wait_bits() */
			if
			:: release_gen == gen -> fsleep[me] = 1
			:: else -> fr = 0               /* EAGAIN */
			fi
		};
		if
		:: !fsleep[me] -> fr = 0                /* woken, or EAGAIN */
		:: atomic { fsleep[me] && SIGNALLED(me) ->
				fsleep[me] = 0;
				PV(vint[me] = (vsig[me] != 0 && !lsig[me]));
				handlers(me); fr = EINTR }
		:: atomic { fsleep[me] && ie[me] == VMM_IE ->
				fsleep[me] = 0; fr = ETIMEDOUT }   /* PARK_RECHECK_NS */
		fi;
		if
#ifndef MUT_NO_PARK_EXITS
		:: fr == EINTR && kicks[me] == seen -> pe = VMM_EXIT; break
#endif
		:: else -> vmm_signal_kept()
		fi
	od;
	parked--                                        /* P5 */
}

proctype vcpu(byte me)
{
	byte kb;        /* kicks_before */
	byte gen;       /* park: release_gen read at P2 */
	byte seen;      /* park: kick_signal_seen() before P4 */
	byte fr;        /* futex_wait_bits() result */
	byte pe;        /* park() result */
	byte err;       /* KVM_RUN's errno */
	byte r;         /* kvmhold_vcpu_run() result: 0 or EINTR */
	byte v;         /* immediate_exit as eintr_is_ours() read it */
	byte n;         /* run calls made */
	byte exits = NEXIT;
	byte faults = NFAULT;
	bit  t;

	do
	:: n < NRUN ->                                  /* kvmhold_vcpu_run() */
		n++;
again:
#ifdef MUT_KICKS_SAMPLE
		atomic { kb = kicks[me]; inrun[me] = 1 };      /* kicks_before, at the top */
#else
		inrun[me] = 1;
#endif
		/* gate_enter_run() -> wait_and_announce(vm, vcpu, tid) */
wa:
#ifndef MUT_NO_ENTRY_CHECK
		if
		:: pending ->                           /* already pending: park at once */
			park_vcpu();
			if
			:: pe != RELEASED ->            /* run: r == -EINTR */
				kick_req[me] = 0;       /* kick_requested = false */
				r = EINTR;
				goto ret
			:: else -> goto wa
			fi
		:: else
		fi;
#endif
		atomic {                                /* C: immediate_exit_unmark() */
			if
			:: ie[me] == MARK -> ie[me] = 0
			:: else
			fi
		};
		run_tid[me] = 1;                        /* T */
		inside[me]++;                           /* announce(): vcpu->inside++ */
		atomic { act++; PV(lkick[me] = lsig[me]); PV(vint[me] = 0) }   /* E1 */
#ifndef MUT_NO_ENTRY_CHECK
		if
		:: pending ->                           /* E2: back off */
			run_tid[me] = 0;
			inside[me]--;
			retreat(t);
			goto wa
		:: else
		fi;
#endif
#ifndef MUT_KICKS_SAMPLE
		kb = kicks[me];                         /* kicks_before, after E1 */
#endif
		atomic { t = kick_req[me]; kick_req[me] = 0 };  /* atomic_exchange(kick_requested) */
		if
		:: t ->
			run_tid[me] = 0;                /* gate_leave_run() */
			inside[me]--;
			retreat(t);
			r = EINTR;
			goto ret
		:: else
		fi;
		atomic {                                /* ioctl(KVM_RUN) */
			if
			:: ie[me] != 0 || SIGNALLED(me) || kstopped ->
				PV(vint[me] = (ie[me] == 0 && !kstopped && vsig[me] != 0 && !lsig[me]));
				err = EINTR; handlers(me)
			:: else ->
				err = 0; kvm[me] = GUEST
			fi
		};
		if
		:: err == 0 ->
end_guest:		do
			:: atomic { SIGNALLED(me) ->            /* a signal ends KVM_RUN */
					PV(vint[me] = (vsig[me] != 0 && !lsig[me] && kvm[me] != KOUT));
					err = EINTR; handlers(me); kvm[me] = OUT };
				break
			:: atomic { kvm[me] == GUEST && exits > 0 ->
					exits--; kvm[me] = OUT };       /* the guest's own exit */
				break
			:: atomic { kvm[me] == KOUT ->          /* kicked by the kernel */
					err = EINTR; handlers(me); kvm[me] = OUT };
				break
#ifdef KERNEL_KICK
			:: atomic { kvm[me] == GUEST && faults > 0 ->
					faults--; kvm[me] = KFAULT }    /* an exit KVM handles */
			:: atomic { kvm[me] == KFAULT ->        /* handled: back to the guest */
					if
					:: kstopped -> kvm[me] = KOUT
					:: else -> kvm[me] = GUEST
					fi }
#endif
			od
		:: else
		fi;
		run_tid[me] = 0;                        /* gate_leave_run() */
		inside[me]--;
		retreat(t);
		if
		:: err == 0 -> r = 0; goto ret
		:: else
		fi;
		atomic { t = kick_req[me]; kick_req[me] = 0 };  /* atomic_exchange(kick_requested) */
		if
		:: t -> r = EINTR; goto ret
		:: else
		fi;
		/* eintr_is_ours() */
#ifdef MUT_IE_OWNER
		/* the old rule: any non-zero immediate_exit is ours; clear it */
		atomic { v = ie[me]; ie[me] = 0 };
		t = (v != 0 || kicks[me] != kb);
		if
		:: true
#else
		v = ie[me];
		if
		:: v == MARK ->                         /* immediate_exit_unmark() */
			atomic {
				if
				:: ie[me] == MARK -> ie[me] = 0; t = 1
				:: else -> t = 0
				fi
			}
		:: v == VMM_IE -> t = 0
		:: v == 0 -> t = (kicks[me] != kb)
#endif
		fi;
		if
		:: !t -> r = EINTR; goto ret
		:: else ->
			vmm_signal_kept();
			goto again                      /* a hold kicked us: park */
		fi;
ret:
		/* back in the VMM, which clears its immediate_exit after -EINTR */
		if                                      /* holds do not surface */
		:: r == EINTR && !asked[me] ->
			printf("model-error: holds surface: -EINTR, and the VMM did not ask\n");
			assert(false)
		:: else
		fi;
		atomic {
			inrun[me] = 0;
			if
			:: r == EINTR -> kick_out[me] = 0; ie[me] = 0
			:: else
			fi
		}
	:: else -> break
	od
}

/* ---- holders: kvmhold_hold() ... kvmhold_release() ------------------------ */

proctype holder(byte id; bit tmo)
{
	byte seen;      /* wait_quiet(): the active word seen by the fetch_or */
	byte g;         /* kick_done broadcasts before the wait */
	byte gen;       /* wait_exclusive_end(): release_gen read at P2 */
	byte xw;        /* MUT_X4_COUNT_EARLY: xwaiters read before X4 */
	byte r;         /* 0, ETIMEDOUT or EKVM */
	bit  tid;
	bit  w;
	bit  tmoflag;   /* the wait on kick_done timed out */

	/*
	 * kvmhold_hold(): lock, "while (state == KICKING) wait", stop_vm() if
	 * IDLE.  state, hold_count and kick_done are the lock holder's alone:
	 * taking the lock, looking at state and dropping the lock again is one
	 * step, and so is taking it for H1.
	 */
wait:
	if
	:: atomic { !lock && state == KICKING && tmoflag ->
			r = ETIMEDOUT; holding-- };     /* timed out, still KICKING */
		goto done
	:: atomic { !lock && state == KICKING && !tmoflag ->
			g = kd_gen };                   /* pthread_cond_timedwait(kick_done) */
		if
		:: kd_gen != g                          /* broadcast */
		:: tmo -> tmoflag = 1                   /* the deadline */
		fi;
		goto wait
	:: atomic { !lock && state == HELD ->
			hold_count++; holding-- };      /* joined: hold_count++, unlock */
		goto held
	:: atomic { !lock && state == IDLE ->
			lock = 1; state = KICKING; pending = 1 }        /* stop_vm(): H1 */
	fi;
#ifdef KERNEL_KICK
	kick_all(0, tid);                               /* H2: marks only */
	UNLOCK;
	if
	:: atomic {                                     /* kick_kernel_stop() */
			kstopped = 1;
			if
			:: kvm[0] == GUEST -> kvm[0] = KOUT
			:: else
			fi;
#if NV > 1
			if
			:: kvm[1] == GUEST -> kvm[1] = KOUT
			:: else
			fi
#endif
		};
		wait_quiet(OWN, 1);                     /* the grace: ETIMEDOUT is fine */
		LOCK
	:: atomic { !lock -> lock = 1; r = EKVM };      /* KVM refused: nothing held */
		pending = 0;                            /* (state IDLE follows, under the lock) */
		release_gen++;                          /* gate_wake_parked() */
		atomic { wake_parked(); state = IDLE; kd_gen++; holding--; UNLOCK };
		goto done
	fi;
#endif
	kick_all(1, tid);                               /* H2: mark and signal */
	atomic { h2done = 1; UNLOCK };
	wait_quiet(OWN, tmo);                           /* H3 */
	if
	:: r == 0 ->
		atomic { !lock -> state = HELD; h2done = 0;     /* lock, HELD, broadcast, */
			 kd_gen++; hold_count++; holding-- };   /* hold_count++, unlock */
		goto held
	:: else ->
		/* timed out: lock, resume_all(), unlock: the undo */
#ifdef KERNEL_KICK
		atomic { !lock -> lock = 1; kstopped = 0 };     /* kick_kernel_resume() */
		atomic { state = IDLE; h2done = 0; pending = 0 }; /* R1 */
#else
		atomic { !lock -> lock = 1;
			 state = IDLE; h2done = 0; pending = 0 }; /* R1 */
#endif
		release_gen++;                          /* R2 */
		atomic { wake_parked(); kd_gen++; holding--; UNLOCK };   /* R3 */
		goto done
	fi;

held:
#if COMMIT
	if
	:: id == 0 ->
		/* txn_commit.c, a held commit: hold_commit_begin() */
		exclusive = 1;                          /* X1 */
		wait_quiet(0, 0);                       /* X3 */
		applying = 1;                           /* the commit's ioctls */
		/* hold_commit_end() */
#ifdef MUT_X4_COUNT_EARLY
		xw = xwaiters;                          /* the count read before X4 */
		atomic { applying = 0; exclusive = 0 }; /* X4 */
		release_gen++;
		atomic {
			if
			:: xw > 0 -> fsleep[W_HOLDER] = 0
			:: else
			fi
		}
#else
		atomic { applying = 0; exclusive = 0 }; /* X4 */
#ifndef MUT_X4_NO_GEN
		release_gen++;                          /* gate_wake_exclusive(): */
#endif
#ifndef MUT_NO_X4_WAKE
		atomic {                                /* the holders waiting, only */
			if
			:: xwaiters > 0 -> fsleep[W_HOLDER] = 0
			:: else
			fi
		}
#else
		skip
#endif
#endif
	:: id == 1 ->
		/* gate_enter() of a holder: enter_as_holder() */
		do
		:: act++;                               /* E1 */
			if
#ifndef MUT_NO_EXCLUSIVE
			:: exclusive ->                 /* X2: back off, wait_exclusive_end() */
				retreat(w);
				xwaiters++;             /* W1 */
				do
				:: gen = release_gen;   /* P2 */
					if
					:: !exclusive -> break
					:: else
					fi;
					atomic {        /* futex_wait_bits(PARK_EXCLUSIVE_BIT) */
						if
						:: release_gen == gen -> fsleep[W_HOLDER] = 1
						:: else
						fi
					};
					!fsleep[W_HOLDER]
				od;
				xwaiters--
#endif
			:: else -> break
			fi
		od;
		hsec = 1;                               /* the section */
		atomic { hsec = 0; w = hwaits && act <= htarget + 1; act-- }; /* gate_leave(): L1 */
		if
		:: w -> hsleep = 0                      /* L2 */
		:: else
		fi
	fi;
#endif
	/* kvmhold_release(): lock, hold_count--, resume_all() if it was the last */
	if
	:: atomic { !lock && hold_count > 1 -> hold_count-- }
	:: atomic { !lock && hold_count == 1 ->
			lock = 1; hold_count = 0;
#ifdef KERNEL_KICK
			kstopped = 0                    /* kick_kernel_resume() */
		};
		atomic {
#endif
			state = IDLE; pending = 0       /* R1 */
		};
		release_gen++;                          /* R2 */
		atomic { wake_parked(); kd_gen++; UNLOCK }      /* R3, broadcast, unlock */
	fi;
done:
#if OWN
	atomic { w = hwaits && act <= htarget + 1; act-- };  /* the holder's own section ends: L1 */
	if
	:: w -> hsleep = 0
	:: else
	fi;
#endif
	skip
}

/* ---- a thread in kvmhold_mem_begin() ... kvmhold_mem_end() ---------------- */

proctype memthread()
{
	byte gen;
	bit  t;

	/* gate_enter() -> wait_and_announce(vm, NULL, 0) */
wa:
#ifndef MUT_NO_ENTRY_CHECK
	if
	:: pending ->
		/* park(vm, NULL, false): waits for the release, whatever happens */
		parked++;                               /* P1 */
		do
		:: gen = release_gen;                   /* P2 */
			if
			:: !pending -> break            /* P3 */
			:: else
			fi;
			atomic {                        /* P4, no deadline */
				if
				:: release_gen == gen -> fsleep[W_MEM] = 1
				:: else
				fi
			};
			!fsleep[W_MEM]
		od;
		parked--;                               /* P5 */
		goto wa
	:: else
	fi;
#endif
	act++;                                          /* E1 */
#ifndef MUT_NO_ENTRY_CHECK
	atomic {
		if
		:: pending -> t = 1                     /* E2: back off */
		:: else -> t = 0; insec = 1             /* in the section */
		fi
	};
	if
	:: t -> retreat(t); goto wa
	:: else
	fi;
#else
	insec = 1;
#endif
	/* gate_leave() */
	atomic { insec = 0; t = hwaits && act <= htarget + 1; act-- };  /* L1 */
	if
#ifndef MUT_NO_L2
	:: t -> hsleep = 0                              /* L2 */
#endif
	:: else
	fi
}

/* ---- the VMM, asking for vCPU 0 ------------------------------------------- */

proctype kicker()
{
	bit tid;

	if
	:: (KICKS & 1) ->                               /* kvmhold_vcpu_kick() */
		atomic { asked[0] = 1; kick_out[0] = 1; kick_req[0] = 1 };     /* K1 */
		kick_vcpu_out(0, tid);                  /* K2, K3 */
#if !defined(MUT_NO_K4) && !defined(MUT_NO_PARK_EXITS)
		if
		:: parked > 0 ->                        /* K4: gate_wake_vcpu() */
			release_gen++;
			atomic { fsleep[0] = 0; kdone[0] = 1 }  /* futex_wake_bits(vCPU 0's bit) */
		:: else -> kdone[0] = 1
		fi
#else
		kdone[0] = 1
#endif
	:: (KICKS & 2) ->                               /* the VMM's 1, then its signal */
		atomic { asked[0] = 1; kick_out[0] = 1; ie[0] = VMM_IE };
		atomic { vsig[0] = SIG_PLAIN; kdone[0] = 1 }
	:: (KICKS & 4) ->                               /* a signal whose handler writes 1 */
		atomic { asked[0] = 1; kick_out[0] = 1; vsig[0] = SIG_QEMU; kdone[0] = 1 }
	:: (KICKS & 8) ->                               /* a signal, an empty handler */
		atomic { asked[0] = 1; vsig[0] = SIG_PLAIN }
	fi
}

/* ---- signal handlers that run in user space -------------------------------- */

active proctype sigdeliver()
{
end:	do
	:: atomic { SIGNALLED(0) && kvm[0] == OUT && !fsleep[0] -> handlers(0) }
#if NV > 1
	:: atomic { SIGNALLED(1) && kvm[1] == OUT && !fsleep[1] -> handlers(1) }
#endif
	od
}

/* ---- the invariants, checked in every state --------------------------------- */

active proctype monitor()
{
end:	atomic {
		!ALL_OK ->
		if
		:: !HELD_QUIET ->
			printf("model-error: held_quiet: HELD with a vCPU in KVM_RUN or a thread in a section\n")
		:: !EXCLUSIVE_OK ->
			printf("model-error: exclusive: a holder inside a section while a commit applies\n")
		:: !NO_LOST_HOLD_KICK ->
			printf("model-error: lost hold kick: a vCPU in KVM_RUN after H2, nothing on its way to it\n")
		:: !NO_LOST_KICK ->
			printf("model-error: lost kick: vCPU 0 kicked, in KVM_RUN or asleep in the park, nothing on its way to it\n")
		:: !KVM_RESUMED ->
			printf("model-error: kvm not resumed: the kernel kick outlives the hold\n")
		:: else
		fi;
		assert(ALL_OK)
	}
}

init
{
	atomic {
		act = OWN;      /* holder 0 sits in a section of its own (NH=1 only) */
		holding = NH;
		run vcpu(0);
#if NV > 1
		run vcpu(1);
#endif
		run holder(0, HTMO & 1);
#if NH > 1
		run holder(1, (HTMO >> 1) & 1);
#endif
#if MEM
		run memthread();
#endif
#if KICKER
		run kicker();
#endif
	}
}
