/* SPDX-License-Identifier: MIT */
/*
 * Test-only switches that disable one mechanism of the library, so a test
 * can prove it fails without it.  They exist only in the test build
 * (KVMHOLD_TEST_HOOKS: libkvmhold-test.a, which the tests link; they set
 * them with __atomic_store_n if threads are running, the library reads
 * them relaxed).  In the shipped libkvmhold.so and .a every hook below
 * compiles to nothing.
 */
#ifndef KVMHOLD_TEST_HOOKS_H
#define KVMHOLD_TEST_HOOKS_H

#include <stdbool.h>
#include <stddef.h>

#include "sys.h"

enum kvmhold_breakage {
	/* The holder does not set kvm_run->immediate_exit before signalling. */
	BREAK_IMMEDIATE_EXIT = 1u << 0,
	/* The holder sends no kick signal. */
	BREAK_KICK_SIGNAL    = 1u << 1,
	/* Entrants do not look at a pending hold: they slip in under it. */
	BREAK_ENTRY_CHECK    = 1u << 2,
	/* Commits never hold the VM. */
	BREAK_TXN_HOLD       = 1u << 3,
	/* A failed commit does not undo the ioctls it issued. */
	BREAK_TXN_UNDO       = 1u << 4,
	/* Commits drop the dirty bits of the logged slots they destroy. */
	BREAK_DIRTY_HARVEST  = 1u << 5,
	/* Kernel kick backend: holds neither kick nor resume KVM. */
	BREAK_KERNEL_KICK    = 1u << 6,
	/* A hold that times out leaves the VM stopped instead of undoing itself. */
	BREAK_TIMEOUT_UNDO   = 1u << 7,
	/* The slot table's AVL tree never rotates: it stays ordered, not balanced. */
	BREAK_AVL_REBALANCE  = 1u << 8,
	/* The end of a held commit wakes every parked thread, not only the holders waiting for it. */
	BREAK_EXCLUSIVE_WAKE = 1u << 9,
	/* Mapping checks (transactions, adoption) accept any gpa and size: no alignment, size or wrap check. */
	BREAK_RANGE_CHECK    = 1u << 10,
	/* The library takes over a kick signal the VMM already handles. */
	BREAK_SIGNAL_OWNER   = 1u << 11,
	/* New slots may take the ids of adopted ones (KVM then refuses or moves them). */
	BREAK_ADOPTED_IDS    = 1u << 12,
	/* The entry that leaves does not wake a holder sleeping on active (L2). */
	BREAK_LEAVE_WAKE     = 1u << 13,
	/* A parked vCPU waits for the release whatever happens: kicks, the VMM's
	 * immediate_exit and its signals do not get it out. */
	BREAK_PARK_EXITS     = 1u << 14,
	/* The old rule: a non-zero immediate_exit after -EINTR is the library's. */
	BREAK_IE_OWNER       = 1u << 15,
	/* A thread inside a section may release and leave others holding. */
	BREAK_SECTION_RELEASE = 1u << 16,
	/* kvmhold_vcpu_adopt_mapped() looks the vCPU up in /proc and maps it. */
	BREAK_ADOPT_LOOKUP   = 1u << 17,
	/* kvmhold_vm_adopt() enables dirty tracking before it checks the kick signal. */
	BREAK_ADOPT_ORDER    = 1u << 18,
	/* A held commit does not keep other holders' syncs and sections out. */
	BREAK_COMMIT_EXCLUSIVE = 1u << 19,
	/* A commit whose release is refused (-EBUSY) drops it: the hold leaks. */
	BREAK_DEFERRED_RELEASE = 1u << 20,
	/* A thread's records of gone VMs and released holds are never recycled. */
	BREAK_RECORD_RECLAIM = 1u << 21,
	/* kvmhold_vcpu_run() counts kick signals from before the park, not from E1. */
	BREAK_KICKS_SAMPLE   = 1u << 22,
	/* Plans that create a slot before another ioctl run without a hold. */
	BREAK_TXN_FAIL_HOLD  = 1u << 23,
	/* Transaction operations allocate as they go instead of reserving first. */
	BREAK_TXN_RESERVE    = 1u << 24,
	/* A deferred release does not check that its hold is still the one in force. */
	BREAK_DEFERRED_EPOCH = 1u << 25,
	/* kvmhold_dirty_mark() and its gpa form record nothing. */
	BREAK_DIRTY_MARK     = 1u << 26,
	/* Splits and cuts give both halves of a guest_memfd slot the same file offset. */
	BREAK_GMEM_OFFSET    = 1u << 27,
	/* Releases do not record how long the VM was stopped (last_stopped_ns, stopped_ns). */
	BREAK_STOPPED_TIME   = 1u << 28,
	/* New slots get no address-space bits in their id: they land in space 0. */
	BREAK_SPACE_IDS      = 1u << 29,
	/* Ring syncs do not stop the vCPUs first (writes in PML buffers are missed). */
	BREAK_RING_FLUSH     = 1u << 30,
	/* A batch of logged ranges is appended unsorted and unjoined. */
	BREAK_LOGGED_MERGE   = 1u << 31,
};

/* The enum's 32 bits are taken: the switches go on in a 64-bit word. */
/* The holder's spin keeps its whole budget whatever happened before. */
#define BREAK_ADAPTIVE_SPIN  (1ull << 32)
/* A sleeping holder publishes target 0, whatever sections it has open. */
#define BREAK_WAKE_TARGET    (1ull << 33)
/* Nested gated entries are not refused at ACTIVE_NESTED_LIMIT. */
#define BREAK_NESTED_LIMIT   (1ull << 34)
/* The sleeping holder is woken by every leave, as before the target. */
#define BREAK_WAKE_EVERY_LEAVE (1ull << 35)
/* kvmhold_release() may take away the hold of a commit in progress. */
#define BREAK_COMMIT_HOLDS   (1ull << 36)

#ifdef KVMHOLD_TEST_HOOKS
/*
 * The test build of the library (libkvmhold-test.a, which the tests and
 * check-prove link): the switches are variables the tests set.
 */
extern unsigned long long kvmhold_test_breakage;

/* Is this mechanism switched off for a test? */
static inline int test_broken(unsigned long long bit)
{
	return (__atomic_load_n(&kvmhold_test_breakage, __ATOMIC_RELAXED) & bit) != 0;
}

/* If k > 0: the k-th ioctl of every commit fails with -EIO (not issued). */
extern unsigned kvmhold_test_fail_ioctl;

/*
 * Busy-wait this long between a vCPU's last check for a hold and KVM_RUN:
 * widens the lost-kick window so a test can hit it every time.
 */
extern unsigned kvmhold_test_entry_delay_ns;

/*
 * Busy-wait this long right after a thread leaves the gate (after L1/L2):
 * widens the window in which a thread that touched the VM after leaving
 * would touch freed memory, so that a sanitizer build sees it.
 */
extern unsigned kvmhold_test_leave_delay_ns;
/* Busy-wait this long between a kick's look at run_tid and its signal. */
extern unsigned kvmhold_test_kick_delay_ns;
/* If k > 0: the k-th transaction entry allocation (counted in allocs) fails. */
extern unsigned kvmhold_test_fail_alloc, kvmhold_test_allocs;
/* Busy-wait this long in a ring-full exit between the harvest and the gate. */
extern unsigned kvmhold_test_ring_full_delay_ns;
/* Busy-wait this long in a dirty sync, inside the gate, before the harvest. */
extern unsigned kvmhold_test_sync_delay_ns;
/* Called by a held commit right after its hold is taken (test only). */
extern void (*kvmhold_test_commit_hook)(void);
/* Delays above begun and ended: while they differ, a thread is in one. */
extern unsigned kvmhold_test_delays_begun, kvmhold_test_delays_ended;
/*
 * Kick backend (KVMHOLD_KICK_*) for VMs created with opts.kick == 0, so
 * that the whole suite can run on either backend (KVMHOLD_TEST_KICK).
 */
extern unsigned kvmhold_test_kick_default;

static inline void test_delay(const unsigned *ns)
{
	unsigned delay_ns = __atomic_load_n(ns, __ATOMIC_RELAXED);
	uint64_t until;

	if (!delay_ns)
		return;
	__atomic_fetch_add(&kvmhold_test_delays_begun, 1, __ATOMIC_SEQ_CST);
	until = now_ns() + delay_ns;
	while (now_ns() < until)
		;
	__atomic_fetch_add(&kvmhold_test_delays_ended, 1, __ATOMIC_SEQ_CST);
}

/* Is a failure of the k-th allocation armed (kvmhold_test_fail_alloc)? */
static inline bool test_alloc_armed(void)
{
	return __atomic_load_n(&kvmhold_test_fail_alloc, __ATOMIC_RELAXED) != 0;
}

/* Counts one allocation; true if it is the one armed to fail. */
static inline bool test_alloc_fails(void)
{
	unsigned fail_at = __atomic_load_n(&kvmhold_test_fail_alloc, __ATOMIC_RELAXED);

	return fail_at && __atomic_add_fetch(&kvmhold_test_allocs, 1, __ATOMIC_RELAXED) == fail_at;
}

/* Is the i-th ioctl of a commit (from 0) armed to fail? */
static inline bool test_ioctl_fails(size_t i)
{
	unsigned fail_at = __atomic_load_n(&kvmhold_test_fail_ioctl, __ATOMIC_RELAXED);

	return fail_at && i + 1 == fail_at;
}

static inline void test_commit_hook(void)
{
	if (kvmhold_test_commit_hook)
		kvmhold_test_commit_hook();
}

static inline unsigned test_kick_default(void)
{
	return __atomic_load_n(&kvmhold_test_kick_default, __ATOMIC_RELAXED);
}

#else
/* The shipped library: no switch, no variable, nothing left in the code. */
static inline int test_broken(unsigned long long bit)
{
	(void)bit;
	return 0;
}

#define test_delay(ns) ((void)0)

static inline bool test_alloc_armed(void)
{
	return false;
}

static inline bool test_alloc_fails(void)
{
	return false;
}

static inline bool test_ioctl_fails(size_t i)
{
	(void)i;
	return false;
}

static inline void test_commit_hook(void)
{
}

static inline unsigned test_kick_default(void)
{
	return 0;
}
#endif

#endif
