/* SPDX-License-Identifier: MIT */
/*
 * Private state shared by the library's files.  Nothing here is ABI.
 *
 * Concurrency map (the protocol is described at the top of hold.c):
 *  - vm->lock (a mutex) guards the holders' state machine, the vCPU list
 *    and the diagnostics.  Only holders, releasers and vCPU creation and
 *    destruction take it; no entrant, parked thread or kick ever does.
 *  - vm->pending, vm->active, vm->release_gen, vm->parked, vm->exclusive,
 *    vm->exclusive_waiters, vcpu->inside, vcpu->run_tid and
 *    vcpu->kick_requested are atomics: the lock-free handshake between
 *    entrants (gate.c), holders (hold.c), held commits (X1-X4) and kicks.
 */
#ifndef KVMHOLD_INTERNAL_H
#define KVMHOLD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "kvmhold.h"
#include "dirty.h"
#include "slot_table.h"
#include "sys.h"

#define KVMHOLD_API __attribute__((visibility("default")))

enum hold_state {
	HOLD_IDLE,     /* no hold: everybody may run */
	HOLD_KICKING,  /* one holder is stopping the VM; others wait for it */
	HOLD_HELD,     /* stopped; hold_count > 0 */
};

struct kvmhold_vcpu {
	struct kvmhold_vm *vm;
	struct kvmhold_vcpu *next;     /* vm->vcpus list, under vm->lock */
	int fd;
	bool owns_fd;
	unsigned long id;
	struct kvm_run *run;
	size_t run_size;
	bool owns_run;                 /* the library mapped run (else the VMM did) */

	/*
	 * Threads inside a gated region of this vCPU (KVM_RUN or a gated vCPU
	 * ioctl).  Mirrors its share of vm->active; read by the holder to
	 * decide whom to signal and for diagnostics.
	 */
	atomic_uint inside;
	/* Thread announced for KVM_RUN (0 when none), the signal's target. */
	atomic_int run_tid;
	/* Returns from KVM_RUN so far (gate_leave_run), for kick_all_exit_once(). */
	_Atomic uint64_t run_exits;
	/* CLOCK_MONOTONIC time of the last KVM_RUN entry, for diagnostics. */
	_Atomic uint64_t entered_ns;
	/* Set by kvmhold_vcpu_kick() (K1), consumed by kvmhold_vcpu_run(). */
	atomic_bool kick_requested;
	struct dirty_ring ring;        /* dirty ring mode only */
};

/* Address spaces the library manages: x86 has two (normal and SMM), others one. */
#define KVMHOLD_MAX_SPACES 2

struct kvmhold_vm {
	uint64_t uid;                  /* unique per process, never reused */
	int fd;
	bool owns_fd;
	int kick_signal;
	unsigned nr_cpus;              /* CPUs online at setup, for the holder's spin (hold.c) */
	/*
	 * The stopping holder's spin (hold.c, wait_quiet): its budget and
	 * counts.  Only the thread that stops the VM (state KICKING, one at
	 * a time) changes them, so the atomics are relaxed: they are atomic
	 * for the stats reader, not to order anything.
	 */
	_Atomic uint32_t spin_budget_ns;
	_Atomic uint32_t spin_waits;
	_Atomic uint64_t spins_won, spins_lost;
	struct kvmhold_vm_opts opts;
	bool has_readonly_mem;         /* KVM_CAP_READONLY_MEM */
	bool has_guest_memfd;          /* KVM_CAP_GUEST_MEMFD and KVM_CAP_USER_MEMORY2 */
	/*
	 * Holds stop vCPUs with the kernel kick (kick_kernel.c) instead of
	 * signals; set at creation, never changed.
	 */
	bool kernel_kick;

	/*
	 * The memory layout of each address space (slot_table.h: x86 has two,
	 * the second for SMM) and the one open transaction (txn.c).  A slot's
	 * id is KVM's: the space in bits 16-31, as KVM numbers slots.
	 */
	struct slot_table spaces[KVMHOLD_MAX_SPACES];
	unsigned nr_spaces;                    /* KVM_CAP_MULTI_ADDRESS_SPACE, at most the above */
	pthread_mutex_t txn_mutex;
	pthread_cond_t txn_cond;
	bool txn_open;
	int txn_owner;                 /* thread id that began it */
	struct kvmhold_txn *open_txn;  /* so that destroying the VM can abort it */

	struct dirty_state dirty;      /* dirty.h */

	pthread_mutex_t lock;
	pthread_cond_t kick_done;      /* holders wait for another holder's stop */

	/* Under lock. */
	enum hold_state state;
	unsigned hold_count;
	/* Of those, the holds of commits in progress (txn_commit.c). */
	unsigned commit_holds;
	uint64_t epochs;               /* how many times the VM was stopped */
	uint64_t stop_start_ns;        /* when the stop in force (or last) began */
	/*
	 * Non-zero while held: a number unique to this stop.  A thread's
	 * record of its own holds counts only if it names the current stop;
	 * holds are not owned, and another thread may have released them.
	 */
	_Atomic uint64_t held_epoch;
	struct kvmhold_vcpu *vcpus;
	unsigned nr_vcpus;

	/*
	 * The handshake (see hold.c): pending is set by a holder before it
	 * looks at active; an entrant increments active before it looks at
	 * pending.  Both sides use sequentially consistent operations.
	 * active counts entries in its low bits; ACTIVE_HOLDER_WAITS and the
	 * waiting holder's target are set while a holder sleeps on it, so
	 * that the entry that leaves knows from its own decrement whether it
	 * is the one the holder waits for.
	 */
	atomic_bool pending;
	atomic_uint active;
	/* Bumped by every release and by kicks of parked vCPUs: the park's futex. */
	atomic_uint release_gen;
	/* Threads inside park(): a release or kick wakes the futex only if any. */
	atomic_uint parked;
	/* Holders waiting for a held commit to end (gate.c): X4 wakes them if any. */
	atomic_uint exclusive_waiters;
	/*
	 * A held commit is applying its ioctls (X1-X4 in hold.c): other
	 * holders' gated entries wait for it to end.
	 */
	atomic_bool exclusive;

	/* vCPU kvm_run mapping size, from /dev/kvm when first needed (0: not yet). */
	_Atomic int vcpu_mmap_size_cache;

	/* Statistics; updated under lock unless noted. */
	struct kvmhold_stats stats;
	_Atomic uint64_t gate_waits;       /* lock-free increment */
	_Atomic uint64_t signals_sent;     /* lock-free increment */
	struct kvmhold_straggler *stragglers; /* last -ETIMEDOUT */
	unsigned nr_stragglers;
};

/*
 * vm->active: bits 0-23 count the entries; bit 31 says a holder sleeps on
 * the word (H3, X3), bits 24-30 how many entries it waits for at most
 * (its own sections: its target), ACTIVE_TARGET_ANY when that does not
 * fit.  One holder waits at a time: a stop runs only from IDLE, one at a
 * time, and X3 only in a held commit, of which there is one at a time
 * (one open transaction per VM) and whose hold no other thread can
 * release (commit_holds), so that no stop can begin beside it.
 */
#define ACTIVE_HOLDER_WAITS  (1u << 31)
#define ACTIVE_TARGET_SHIFT  24
#define ACTIVE_TARGET_ANY    0x7fu     /* wake the holder at every leave */
#define ACTIVE_TARGET_MASK   (ACTIVE_TARGET_ANY << ACTIVE_TARGET_SHIFT)
#define ACTIVE_COUNT(a)      ((a) & ((1u << ACTIVE_TARGET_SHIFT) - 1))
/*
 * Nested entries (a thread already inside enters again) are the one way
 * the count grows past the number of threads: they are refused from here
 * on, so that concurrent ones cannot carry the count into the target
 * bits, where it would read as 0 and let a hold in with threads inside.
 */
#define ACTIVE_NESTED_LIMIT  (1u << (ACTIVE_TARGET_SHIFT - 1))
#define ACTIVE_TARGET(a)     (((a) & ACTIVE_TARGET_MASK) >> ACTIVE_TARGET_SHIFT)

/*
 * L2's test, from the leaving entry's own fetch_sub result: does this
 * leave bring active down to what the sleeping holder waits for?  Only
 * that one wakes it; the leaves before it would wake a holder that finds
 * the count still too high and sleeps again (at 256 vCPUs on 2 CPUs, 255
 * needless context switches in every stop).
 */
static inline bool active_leave_wakes(unsigned old)
{
	unsigned target = ACTIVE_TARGET(old);

	if (!(old & ACTIVE_HOLDER_WAITS))
		return false;
	return target == ACTIVE_TARGET_ANY || ACTIVE_COUNT(old) - 1 <= target;
}

/*
 * The library's own mark in kvm_run->immediate_exit (any non-zero value
 * makes KVM_RUN return -EINTR).  The VMM writes 1; the library writes only
 * this value, by compare-and-swap from 0, and clears only this value, by
 * compare-and-swap to 0, so it never overwrites or erases the VMM's 1.
 */
#define IMMEDIATE_EXIT_MARK KVMHOLD_IMMEDIATE_EXIT_MARK

/* registry.c: live transaction handles, so a stale one gives -EBADF, and live VMs. */
int registry_add(const void *handle);
void registry_remove(const void *handle);
bool registry_has(const void *handle);
struct thread_vm_state;
bool registry_record_stale(const struct thread_vm_state *ts);

/* kick_kernel.c */
bool kick_kernel_available(int vm_fd);
bool kick_kernel_ioctl(unsigned long req);
int kick_kernel_stop(struct kvmhold_vm *vm);
int kick_kernel_resume(struct kvmhold_vm *vm);

/* kick_signal.c */
int kick_signal_install(int sig);
int kick_signal_check(int sig);
bool kick_signal_usable(int sig);
unsigned kick_signal_seen(void);
void kick_vcpu_out(struct kvmhold_vcpu *vcpu);
int kick_all_exit_once(struct kvmhold_vm *vm, uint64_t timeout_ns);
bool immediate_exit_mark(struct kvm_run *run);
bool immediate_exit_unmark(struct kvm_run *run);

/* thread_state.c: what the calling thread has taken on a VM. */
struct thread_vm_state {
	uint64_t vm_uid;     /* 0: free entry */
	uint64_t hold_epoch; /* vm->held_epoch when this thread's holds were taken */
	unsigned holds;      /* holds this thread took and has not released */
	unsigned sections;   /* gated regions this thread is inside */
	bool exclusive;      /* this thread's held commit is applying (hold_commit_begin) */
	unsigned deferred_releases; /* commits' holds to release when the last section ends */
	uint64_t deferred_epoch;    /* the stop they belong to */
	const struct kvmhold_vm *vm; /* valid only while vm_uid names a live VM */
};
struct thread_vm_state *thread_state_get(const struct kvmhold_vm *vm, bool create);
void thread_state_put(struct thread_vm_state *ts);
bool thread_state_holds(struct thread_vm_state *ts, const struct kvmhold_vm *vm);
void thread_state_forget(const struct kvmhold_vm *vm);

/* gate.c: the entrant side, which every consumer of memslots goes through. */
enum park_end {
	PARK_RELEASED,    /* no hold pending any more */
	PARK_KICKED,      /* kvmhold_vcpu_kick() */
	PARK_VMM_EXIT,    /* the VMM wrote immediate_exit or its signal interrupted us */
};
int gate_enter(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu);
void gate_leave(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu);
int gate_enter_run(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu, int tid);
void gate_leave_run(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu);
void gate_wake_parked(struct kvmhold_vm *vm);
void gate_wake_exclusive(struct kvmhold_vm *vm);
void gate_wake_vcpu(struct kvmhold_vm *vm, const struct kvmhold_vcpu *vcpu);

/* The futex bit a vCPU's parked threads wait under: 0-29 (gate.c has 30, 31). */
static inline unsigned vcpu_park_bit(const struct kvmhold_vcpu *vcpu)
{
	return 1u << (vcpu->id % 30);
}

/* hold.c: the holder side. */
int hold_init(struct kvmhold_vm *vm);
void hold_fini(struct kvmhold_vm *vm);
int hold_for_commit(struct kvmhold_vm *vm, int timeout_ms);
int hold_release_commit(struct kvmhold_vm *vm);
int hold_commit_begin(struct kvmhold_vm *vm, int timeout_ms);
void hold_commit_end(struct kvmhold_vm *vm);
void hold_defer_release(struct kvmhold_vm *vm);
void hold_release_deferred(struct kvmhold_vm *vm, struct thread_vm_state *ts);

/* vcpu.c */
void vcpu_free(struct kvmhold_vcpu *vcpu);

/* txn.c */
void txn_abort_on_destroy(struct kvmhold_vm *vm);

/* vcpu.c */
int vcpu_mmap_size(struct kvmhold_vm *vm);

/* The slot table of address space as, or NULL if KVM has no such space. */
static inline struct slot_table *vm_space(struct kvmhold_vm *vm, unsigned as)
{
	return as < vm->nr_spaces ? &vm->spaces[as] : NULL;
}

/* The address space of a KVM slot id, and its index within the space. */
static inline unsigned slot_id_space(uint32_t id)
{
	return id >> 16;
}

static inline uint32_t slot_id_index(uint32_t id)
{
	return id & 0xffff;
}

#endif
