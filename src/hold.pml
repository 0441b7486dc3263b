/* SPDX-License-Identifier: MIT */
/*
 * hold.pml: a Promela model of the hold protocol, for spin.  `make
 * check-model` runs it (see the Makefile): an exhaustive safety search,
 * a liveness search under weak fairness, and the mutations below, each of
 * which must be caught.
 *
 * It mirrors hold.c (holder: H1-H3, R1-R3, the IDLE/KICKING/HELD machine
 * and hold_count), gate.c (entrant: announce E1/E2, retreat L1/L2, park
 * P1-P5, wait_and_announce with C and T), vcpu.c (kvmhold_vcpu_run,
 * kvmhold_vcpu_kick K1-K4, eintr_is_ours) and kick_signal.c (the mark and
 * kick_vcpu_out).  Each statement names the step or the C function it
 * stands for.  Every access to a shared word is one Promela step, as each
 * is one atomic operation in C; a few plain writes to variables that only
 * lock holders touch are folded into the neighbouring step.
 *
 * Environment:
 *  - KVM_RUN: returns -EINTR at once if immediate_exit != 0 or a signal is
 *    pending; otherwise the vCPU is in the guest until a signal arrives
 *    (-EINTR) or the guest exits on its own (0, at most NEXIT times per
 *    vCPU, so that a vCPU can also sit in the guest for good).  It reads
 *    immediate_exit only on entry.
 *  - Signals: a send makes the signal pending on the thread.  In the guest
 *    or in a futex wait it ends the call with EINTR and its handler runs on
 *    the way out; otherwise the handler runs at any later moment (process
 *    sigdeliver).  The library's handler counts (kicks_seen); the VMM's
 *    handler does nothing, or writes immediate_exit = 1 (QEMU style).
 *  - Futexes: a wait compares and enqueues in one step; a wake dequeues.
 *    The park's 20 ms recheck timer is allowed to fire only while the VMM's
 *    1 sits in immediate_exit, the one case gate.c relies on it for: any
 *    other lost wake-up is then a deadlock spin reports.
 *  - The VMM: each vCPU thread calls kvmhold_vcpu_run() NRUN times and,
 *    after each -EINTR, clears immediate_exit (plain store 0, outside the
 *    call, as include/kvmhold.h allows).  Process kicker kicks vCPU 0 once,
 *    by one of: kvmhold_vcpu_kick(); immediate_exit = 1 then a signal of the
 *    VMM's own (kvmtool and cloud-hypervisor style); a VMM signal whose
 *    handler writes immediate_exit = 1 (QEMU style).
 *
 * Properties:
 *  - held_quiet: while the state is HELD no vCPU is inside KVM_RUN and no
 *    thread is inside a mem section (the holders own none).
 *  - no lost kick: once a VMM kick of vCPU 0 is complete, vCPU 0 is not in
 *    KVM_RUN and not asleep in the park without a signal on its way to it.
 *  - no lost hold kick: once H2 is done, no vCPU is in KVM_RUN without a
 *    signal on its way to it.
 *  - no deadlock: every process ends, or rests at an end label (a vCPU
 *    left in the guest for good, the signal deliverer, the monitor).
 *  - liveness (ltl progress, pan -a -f): every call of kvmhold_hold()
 *    returns, and every kicked vCPU's run call returns.
 *
 * Switches (spin -DNAME):
 *  NV=1|2 vCPUs, NH=1|2 holders (holder 1 has a deadline), MEM=0|1 a mem
 *  section thread, KICKER=0|1, NRUN, NEXIT, KERNEL_KICK (the kernel kick
 *  backend: kick_kernel_stop() before H2, the resume before R1).
 *  Mutations, each must make spin report an error:
 *   MUT_NO_MARK         kick_vcpu_out() does not set immediate_exit (K2/H2)
 *   MUT_NO_K4           kvmhold_vcpu_kick() does not bump release_gen (K4)
 *   MUT_NO_ENTRY_CHECK  announce() does not look at pending (E2)
 *   MUT_NO_L2           retreat() does not wake the sleeping holder (L2)
 *  Not part of the default run:
 *   PLAIN_VMM_SIGNAL    the kicker may also send a VMM signal whose handler
 *                       does nothing, with the contract of include/kvmhold.h:
 *                       if it interrupts KVM_RUN or the park, the run call
 *                       returns -EINTR (unless a kick signal of the library
 *                       ends the same wait).
 *   KB_AT_ENTRY         kicks_before read just before KVM_RUN instead of at
 *                       the top of the run loop.
 *
 * Not modelled: gated vCPU ioctls (they behave as mem sections for the
 * protocol), a holder inside its own sections (target > 0, -EDEADLK,
 * -EBUSY), thread_state and held_epoch, the dirty ring, a failing
 * kick_kernel_stop(), vCPU creation and destruction, diagnostics.
 */

#ifndef NV
#define NV 2
#endif
#ifndef NH
#define NH 2
#endif
#ifndef MEM
#define MEM 1
#endif
#ifndef KICKER
#define KICKER 1
#endif
#ifndef NRUN
#define NRUN 2
#endif
#ifndef NEXIT
#define NEXIT 1
#endif
#ifndef HTMO
#define HTMO 2          /* bit n: holder n has a deadline */
#endif

/* enum hold_state */
#define IDLE    0
#define KICKING 1
#define HELD    2

/* kvm_run->immediate_exit: the VMM's 1, the library's mark */
#define VMM_IE  1
#define MARK    2

/* where a vCPU thread is in KVM_RUN */
#define OUT     0     /* not in KVM_RUN (user space, or another syscall) */
#define GUEST   1     /* in guest mode */
#define KBLOCK  2     /* held inside KVM by the kernel kick */

/* pending VMM signal: handler does nothing, or writes immediate_exit = 1 */
#define SIG_PLAIN 1
#define SIG_QEMU  2

/* results */
#define EINTR     4
#define ETIMEDOUT 110

/* enum park_end */
#define RELEASED 0
#define KICKED   1
#define VMM_EXIT 2

/* ---- struct kvmhold_vm: the lock-free handshake ------------------------ */
bit  pending;          /* vm->pending */
byte act;              /* ACTIVE_COUNT(vm->active) ("active" is a keyword) */
bit  hwaits;           /* ACTIVE_HOLDER_WAITS in vm->active */
byte release_gen;      /* vm->release_gen, the park's futex word */
byte parked;           /* vm->parked */
bit  hsleep;           /* a holder is queued on the futex of vm->active */

/* ---- under vm->lock ---------------------------------------------------- */
bit  lock;             /* vm->lock */
byte state;            /* vm->state */
byte hold_count;       /* vm->hold_count */
byte kd_gen;           /* broadcasts of vm->kick_done */
bit  kstopped;         /* KERNEL_KICK: KVM keeps vCPUs out of guest mode */

/* ---- struct kvmhold_vcpu, kvm_run and the vCPU thread ------------------ */
byte inside[NV];       /* vcpu->inside */
bit  run_tid[NV];      /* vcpu->run_tid != 0 */
bit  kick_req[NV];     /* vcpu->kick_requested */
byte ie[NV];           /* kvm_run->immediate_exit: 0, VMM_IE, MARK */
byte kvm[NV];          /* OUT, GUEST, KBLOCK */
bit  lsig[NV];         /* the library's kick signal is pending on the thread */
byte vsig[NV];         /* a VMM signal is pending: 0, SIG_PLAIN, SIG_QEMU */
byte kicks[NV];        /* the thread's kicks_seen */
bit  fsleep[NV + 1];   /* queued on the release_gen futex (NV: the mem thread) */

/* ---- ghosts: for the properties only ----------------------------------- */
bit  h2done;           /* the KICKING holder has done H2 */
bit  insec;            /* the mem thread is inside its section */
bit  inrun[NV];        /* inside a kvmhold_vcpu_run() call */
bit  kick_out[NV];     /* a VMM kick started and no -EINTR returned since */
bit  kdone[NV];        /* that kick has done all its steps */
bit  vint[NV];         /* PLAIN_VMM_SIGNAL: a VMM signal alone ended a wait */
bit  lkick[NV];        /* PLAIN_VMM_SIGNAL: a library kick came during that wait */
byte holding;          /* callers inside kvmhold_hold() */

/* PLAIN_VMM_SIGNAL's ghosts cost states: kept out of the other runs */
#ifdef PLAIN_VMM_SIGNAL
#define PV(x) x
#else
#define PV(x) skip
#endif

#define IN_RUN(i)   (kvm[i] != OUT)
#define SIGNALLED(i) (lsig[i] || vsig[i])

#if NV > 1
#define NO_VCPU_IN_RUN (!IN_RUN(0) && !IN_RUN(1))
#define HOLD_KICK_OK (!IN_RUN(0) || SIGNALLED(0)) && (!IN_RUN(1) || SIGNALLED(1))
#else
#define NO_VCPU_IN_RUN (!IN_RUN(0))
#define HOLD_KICK_OK (!IN_RUN(0) || SIGNALLED(0))
#endif

#define HELD_QUIET  (state != HELD || (NO_VCPU_IN_RUN && !insec))
#define NO_LOST_HOLD_KICK (!(h2done && state == KICKING) || (HOLD_KICK_OK))
#define NO_LOST_KICK (!(kdone[0] && kick_out[0]) || SIGNALLED(0) || \
		      (!IN_RUN(0) && !(fsleep[0] && ie[0] != VMM_IE)))

/* ---- liveness ----------------------------------------------------------- */
#define HOLD_WAITING (holding > 0)
#define KICK_WAITING (kick_out[0] && inrun[0])
ltl progress { [] ((HOLD_WAITING -> <> !HOLD_WAITING) && (KICK_WAITING -> <> !KICK_WAITING)) }

/* ---- shared pieces ------------------------------------------------------ */

/* pthread_mutex_lock / unlock of vm->lock */
#define LOCK    atomic { !lock -> lock = 1 }
#define UNLOCK  lock = 0

/*
 * The signal handlers, run on the way out of a syscall that a signal ended
 * (and by sigdeliver in user space): kick_signal.c on_kick() counts; the
 * VMM's own handler does nothing, or writes its 1 (QEMU).
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
 * gate.c gate_wake_parked(), second half: "if (parked) futex_wake(all)".
 * The first half, release_gen++ (R2, K4), is a step of its own.  The load
 * of parked and the wake are one step here: a thread that parks in
 * between read the new release_gen at P2, or fails the futex compare.
 */
inline wake_parked()
{
	if
	:: parked > 0 ->
		fsleep[0] = 0;
#if NV > 1
		fsleep[1] = 0;
#endif
		fsleep[NV] = 0
	:: else
	fi
}

/* kick_signal.c immediate_exit_mark(): CAS 0 -> MARK */
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

/* gate.c retreat(): L1 + L2; w is a scratch bit */
inline retreat(w)
{
	atomic { w = hwaits; act-- };                   /* L1: fetch_sub */
	if
#ifndef MUT_NO_L2
	:: w -> hsleep = 0                              /* L2: futex_wake(active, 1) */
#endif
	:: else
	fi
}

/* ---- the vCPU thread: kvmhold_vcpu_run() -------------------------------- */

/*
 * gate.c park(), for a runner.  Leaves pe = RELEASED, KICKED or VMM_EXIT.
 */
inline park_vcpu()
{
	parked++;                                       /* P1 */
	do
	:: gen = release_gen;                           /* P2 */
		if
		:: !pending -> pe = RELEASED; break     /* P3 */
		:: else
		fi;
		if
		:: kick_req[me] -> pe = KICKED; break   /* kick_requested */
		:: else
		fi;
		if
		:: ie[me] == VMM_IE -> pe = VMM_EXIT; break   /* vmm_immediate_exit() */
		:: else
		fi;
		atomic { seen = kicks[me]; PV(lkick[me] = lsig[me]); PV(vint[me] = 0) };   /* kick_signal_seen() */
		atomic {                                /* P4: futex_wait_until() */
			if
			:: release_gen == gen -> fsleep[me] = 1
			:: else -> fr = 0               /* EAGAIN */
			fi
		};
		if
		:: !fsleep[me] -> fr = 0                /* woken, or EAGAIN */
		:: atomic { fsleep[me] && SIGNALLED(me) ->
				fsleep[me] = 0;
#ifdef PLAIN_VMM_SIGNAL
				vint[me] = (vsig[me] != 0 && !lsig[me]);
#endif
				handlers(me); fr = EINTR }
		:: atomic { fsleep[me] && ie[me] == VMM_IE ->
				fsleep[me] = 0; fr = ETIMEDOUT }   /* PARK_RECHECK_NS */
		fi;
		if
		:: fr == EINTR && kicks[me] == seen -> pe = VMM_EXIT; break
		:: else
#ifdef PLAIN_VMM_SIGNAL
			assert(!vint[me] || lkick[me]); /* the VMM's signal is dropped */
#endif
		fi
	od;
	parked--                                        /* P5 */
}

proctype vcpu(byte me)
{
	byte kb;        /* kicks_before */
	byte gen;       /* park: release_gen read at P2 */
	byte seen;      /* park: kick_signal_seen() before P4 */
	byte fr;        /* futex_wait_until() result */
	byte pe;        /* park() result */
	byte err;       /* KVM_RUN's errno */
	byte r;         /* kvmhold_vcpu_run() result: 0 or EINTR */
	byte v;         /* immediate_exit as eintr_is_ours() read it */
	byte n;         /* run calls made */
	byte exits = NEXIT;
	bit  t;

	do
	:: n < NRUN ->                                  /* kvmhold_vcpu_run() */
		n++;
again:
#ifndef KB_AT_ENTRY
		atomic { kb = kicks[me]; inrun[me] = 1 };       /* kicks_before = kick_signal_seen() */
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
			:: pe != RELEASED ->
				kick_req[me] = 0;       /* run: r == -EINTR, kick_requested = false */
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
		inside[me]++;                           /* announce: vcpu->inside++ */
		atomic { act++; PV(lkick[me] = lsig[me]); PV(vint[me] = 0) }  /* E1 */
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
		/* kvmhold_vcpu_run(): atomic_exchange(kick_requested, false) */
		atomic { t = kick_req[me]; kick_req[me] = 0 };
		if
		:: t ->
			run_tid[me] = 0;                /* gate_leave_run() */
			inside[me]--;
			retreat(t);
			r = EINTR;
			goto ret
		:: else
		fi;
#ifdef KB_AT_ENTRY
		kb = kicks[me];
#endif
		/* ioctl(KVM_RUN) */
		atomic {
			if
			:: ie[me] != 0 || SIGNALLED(me) ->
#ifdef PLAIN_VMM_SIGNAL
				vint[me] = (ie[me] == 0 && vsig[me] != 0 && !lsig[me]);
#endif
				err = EINTR; handlers(me)
			:: else ->
				err = 0;
				if
				:: kstopped -> kvm[me] = KBLOCK
				:: else -> kvm[me] = GUEST
				fi
			fi
		};
		if
		:: err == 0 ->
end_guest:		do
			:: atomic { SIGNALLED(me) ->
#ifdef PLAIN_VMM_SIGNAL
					vint[me] = (vsig[me] != 0 && !lsig[me]);
#endif
					err = EINTR; handlers(me); kvm[me] = OUT };
				break
			:: atomic { kvm[me] == GUEST && exits > 0 ->
					exits--; kvm[me] = OUT };   /* the guest's own exit */
				break
			:: atomic { kvm[me] == KBLOCK && !kstopped -> kvm[me] = GUEST }
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
		atomic { t = kick_req[me]; kick_req[me] = 0 };
		if
		:: t -> r = EINTR; goto ret
		:: else
		fi;
		/* eintr_is_ours() */
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
		fi;
		if
		:: !t -> r = EINTR; goto ret
		:: else ->
#ifdef PLAIN_VMM_SIGNAL
			assert(!vint[me] || lkick[me]); /* the VMM's signal is absorbed */
#endif
			goto again                      /* absorbed: a hold kicked us */
		fi;
ret:
		/* back in the VMM: it clears its immediate_exit after -EINTR */
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

/* ---- holders: kvmhold_hold() and kvmhold_release() ---------------------- */

proctype holder(bit tmo)
{
	byte seen;      /* wait_quiet: the active word seen by the fetch_or */
	byte g;         /* kick_done broadcasts seen before the wait */
	byte r;         /* 0 or ETIMEDOUT */
	bit  tid;
	bit  tmoflag;   /* the wait on kick_done timed out */

	/*
	 * vm->lock guards state, hold_count and kick_done, which no other
	 * thread reads: a step that only touches them is folded into the step
	 * that takes the lock (a lock-then-look-then-unlock is one step).
	 */

	/* kvmhold_hold(): lock, then "while (state == KICKING) wait" */
wait:
	if
	:: atomic { !lock && state == KICKING && tmoflag ->
			r = ETIMEDOUT; holding-- };     /* timed out, still KICKING */
		goto done
	:: atomic { !lock && state == KICKING && !tmoflag ->
			g = kd_gen };                   /* pthread_cond_timedwait() drops the lock */
		if
		:: kd_gen != g                          /* pthread_cond_broadcast(kick_done) */
		:: tmo -> tmoflag = 1                   /* the deadline */
		fi;
		goto wait
	:: atomic { !lock && state == HELD ->
			hold_count++; holding-- };      /* joined: hold_count++, unlock */
		goto held
	:: atomic { !lock && state == IDLE ->
			lock = 1; state = KICKING;
			pending = 1;                    /* stop_vm(): H1 */
#ifdef KERNEL_KICK
			lock = 0                        /* unlock around the kernel kick */
#endif
		}
	fi;
#ifdef KERNEL_KICK
	atomic {                                        /* kick_kernel_stop() */
		kstopped = 1;
		if
		:: kvm[0] == GUEST -> kvm[0] = KBLOCK
		:: else
		fi;
#if NV > 1
		if
		:: kvm[1] == GUEST -> kvm[1] = KBLOCK
		:: else
		fi
#endif
	};
	LOCK;
#endif
	/* H2: kick_all() */
	if
	:: inside[0] > 0 -> kick_vcpu_out(0, tid)
	:: else
	fi;
#if NV > 1
	if
	:: inside[1] > 0 -> kick_vcpu_out(1, tid)
	:: else
	fi;
#endif
	atomic { h2done = 1; UNLOCK };

	/* H3: wait_quiet(vm, 0, deadline) */
	if
	:: act == 0 -> goto quiet                       /* the spin saw it quiet */
	:: else                                         /* spin time is up: sleep */
	fi;
	do
	:: atomic { hwaits = 1; seen = act };           /* fetch_or(ACTIVE_HOLDER_WAITS) */
		if
		:: seen == 0 -> break
		:: else
		fi;
		atomic {                                /* futex_wait_until(active, seen) */
			if
			:: act == seen && hwaits -> hsleep = 1
			:: else
			fi
		};
		if
		:: !hsleep -> r = 0                     /* woken by L2, or the word changed */
		:: tmo -> atomic { hsleep = 0; r = ETIMEDOUT }  /* the deadline */
		fi;
		if
		:: r == ETIMEDOUT && act > 0 -> break
		:: else -> r = 0
		fi
	od;
	hwaits = 0;                                     /* fetch_and(~ACTIVE_HOLDER_WAITS) */
quiet:
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
		atomic {
			wake_parked();                  /* R3 */
			kd_gen++; holding--; UNLOCK
		};
		goto done
	fi;

held:
	/* the caller's work goes here; then kvmhold_release() */
	if
	:: atomic { !lock && hold_count > 1 -> hold_count-- }
	:: atomic { !lock && hold_count == 1 ->
			lock = 1; hold_count = 0;
#ifdef KERNEL_KICK
			kstopped = 0                    /* resume_all(): kick_kernel_resume() */
		};
		atomic {
#endif
			state = IDLE; pending = 0       /* R1 */
		};
		release_gen++;                          /* R2 */
		atomic { wake_parked(); kd_gen++; UNLOCK }      /* R3, broadcast, unlock */
	fi;
done:
	skip
}

/* ---- a thread in kvmhold_mem_begin() / kvmhold_mem_end() ---------------- */

proctype memthread()
{
	byte gen;
	bit  t;

	/* gate_enter() -> wait_and_announce(vm, NULL, 0) */
wa:
#ifndef MUT_NO_ENTRY_CHECK
	if
	:: pending ->
		/* park(vm, NULL): waits for the release, whatever happens */
		parked++;                               /* P1 */
		do
		:: gen = release_gen;                   /* P2 */
			if
			:: !pending -> break            /* P3 */
			:: else
			fi;
			atomic {                        /* P4 */
				if
				:: release_gen == gen -> fsleep[NV] = 1
				:: else
				fi
			};
			!fsleep[NV]
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
	/* the section; then gate_leave() */
	atomic { insec = 0; t = hwaits; act-- };        /* L1 */
	if
#ifndef MUT_NO_L2
	:: t -> hsleep = 0                              /* L2 */
#endif
	:: else
	fi
}

/* ---- the VMM kicking vCPU 0 --------------------------------------------- */

proctype kicker()
{
	bit tid;

	if
	:: /* kvmhold_vcpu_kick() */
		atomic { kick_out[0] = 1; kick_req[0] = 1 };    /* K1 */
		kick_vcpu_out(0, tid);                  /* K2, K3 */
#ifndef MUT_NO_K4
		if
		:: parked > 0 ->                        /* K4: gate_wake_parked() */
			release_gen++;
			atomic { wake_parked(); kdone[0] = 1 }
		:: else -> kdone[0] = 1
		fi
#else
		kdone[0] = 1
#endif
	:: /* the VMM's 1, then its own signal */
		atomic { kick_out[0] = 1; ie[0] = VMM_IE };
		atomic { vsig[0] = SIG_PLAIN; kdone[0] = 1 }
	:: /* a VMM signal whose handler writes 1 */
		atomic { kick_out[0] = 1; vsig[0] = SIG_QEMU; kdone[0] = 1 }
#ifdef PLAIN_VMM_SIGNAL
	:: /* a VMM signal whose handler does nothing (no kick_out: best effort) */
		vsig[0] = SIG_PLAIN
#endif
	fi
}

/* ---- signal handlers that run in user space ----------------------------- */

active proctype sigdeliver()
{
end:	do
	:: atomic { SIGNALLED(0) && kvm[0] == OUT && !fsleep[0] -> handlers(0) }
#if NV > 1
	:: atomic { SIGNALLED(1) && kvm[1] == OUT && !fsleep[1] -> handlers(1) }
#endif
	od
}

/* ---- the invariants, checked in every state ------------------------------ */

active proctype monitor()
{
end:	atomic {
		!(HELD_QUIET && NO_LOST_HOLD_KICK && NO_LOST_KICK) ->
		if
		:: !HELD_QUIET ->
			printf("model-error: held_quiet: HELD with a vCPU in KVM_RUN or a thread in a section\n")
		:: !NO_LOST_HOLD_KICK ->
			printf("model-error: lost hold kick: a vCPU in KVM_RUN after H2 with no signal on its way\n")
		:: !NO_LOST_KICK ->
			printf("model-error: lost kick: vCPU 0 kicked, in KVM_RUN or asleep in the park, no signal on its way\n")
		:: else
		fi;
		assert(HELD_QUIET && NO_LOST_HOLD_KICK && NO_LOST_KICK)
	}
}

init
{
	atomic {
		holding = NH;
		run vcpu(0);
#if NV > 1
		run vcpu(1);
#endif
		run holder(HTMO & 1);
#if NH > 1
		run holder((HTMO >> 1) & 1);
#endif
#if MEM
		run memthread();
#endif
#if KICKER
		run kicker();
#endif
	}
}
