/* SPDX-License-Identifier: MIT */
/*
 * tvm: the tiny x86-64 test VMM used by kvmhold's tests and benchmark.
 *
 * A tvm is a KVM VM made through kvmhold, with N vCPUs started directly in
 * 64-bit long mode, running one of the small guest programs of tests/guest
 * (tvm_abi.h lists them).  Each vCPU gets a host thread that loops on
 * kvmhold_vcpu_run() and handles the guest's ucalls and exits.
 *
 *	struct tvm_opts o = { .nr_vcpus = 2, .program = GUEST_PROG_COUNT };
 *	struct tvm *t;
 *
 *	if (tvm_create(&o, &t) == 0) {
 *		tvm_start(t);
 *		tvm_wait_counter_moves(t, 0, 5000);
 *		tvm_stop(t);
 *		failed = tvm_failures(t);
 *		tvm_destroy(t);
 *	}
 *
 * Calls that can fail return 0 or -errno.  Unlike the library, tvm prints:
 * every failure it records goes to stderr too (unless opts.quiet).
 *
 * Guest-physical layout: the "system" region [0, TVM_SYS_SIZE) is one
 * memslot (mapped through kvmhold's transactions, or by hand with
 * opts.adopt_vm) and holds GDT, IDT, page tables, the shared page, the
 * guest image and the stacks.  The optional test region sits at test_gpa
 * (1 GiB by default) and is only given a memslot by tvm itself when
 * opts.map_test_region is set; the page tables map all of [0, 4 GiB) anyway.
 */
#ifndef TVM_H
#define TVM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmhold.h"
#include "../guest/tvm_abi.h"

#define TVM_SKIP       77          /* exit code for "test skipped" */
/* The memslot ids an adopt_vm VM is given before the library sees it. */
#define TVM_ADOPTED_SYS_SLOT  0u
#define TVM_ADOPTED_TEST_SLOT 1u

struct tvm;
struct kvm_cpuid2;

/* Called on the vCPU's thread for every SYNC ucall; arg = guest counter. */
typedef void tvm_sync_fn(struct tvm *t, unsigned vcpu_idx, uint64_t arg,
			 void *cookie);

struct tvm_opts {
	unsigned nr_vcpus;           /* 1 .. TVM_MAX_VCPUS; 0 means 1 */
	enum tvm_guest_prog program; /* may be changed before tvm_start() */
	uint64_t sync_every;         /* GUEST_PROG_COUNT_SYNC; 0 means 1000 */

	size_t test_size;            /* test region bytes (page multiple), 0: none */
	uint64_t test_gpa;           /* 0: TVM_TEST_GPA_DEFAULT */
	bool map_test_region;        /* tvm_create() maps it as one memslot */
	void *test_mem;              /* test region memory (test_size bytes), the
	                              * caller's to keep and free; NULL: tvm maps
	                              * anonymous memory */
	uint32_t test_slot_flags;    /* KVM_MEM_* flags for that memslot */
	unsigned walk_flags;         /* TVM_WALK_* for GUEST_PROG_WALK */

	/* KVM_CREATE_IRQCHIP, so that a guest hlt blocks inside KVM_RUN. */
	bool irqchip;
	/* tvm_stop(): how long guests get to report DONE (0: 10000 ms). */
	int stop_timeout_ms;
	/* Passed to kvmhold_vm_create(); .size is filled in when 0. */
	struct kvmhold_vm_opts vm_opts;
	/*
	 * Set up the VM the way a VMM that owns it would: KVM_CREATE_VM and
	 * the system (and, with map_test_region, the test) memslots by raw
	 * KVM_SET_USER_MEMORY_REGION under the ids below, then
	 * kvmhold_vm_adopt() and kvmhold_vm_adopt_region() for each slot.
	 */
	bool adopt_vm;
	/*
	 * With adopt_vm: create each vCPU by raw KVM_CREATE_VCPU, map its
	 * kvm_run here, and hand both to kvmhold_vcpu_adopt_mapped(), so that
	 * the library itself opens and maps nothing (sandbox-style adoption).
	 */
	bool adopt_vcpus;
	/* A /dev/kvm fd for tvm to use (and close) instead of opening its own (+1; 0: none). */
	int kvm_fd_plus1;

	tvm_sync_fn *on_sync;
	void *cookie;                /* passed to on_sync */
	bool quiet;                  /* record failures without printing them */
};

enum tvm_vcpu_state {
	TVM_VCPU_IDLE = 0,   /* thread not started */
	TVM_VCPU_RUNNING,
	TVM_VCPU_DONE,       /* guest reported DONE */
	TVM_VCPU_FAILED,     /* assert, exception, unexpected exit or error */
	TVM_VCPU_STOPPED,    /* tvm_stop() gave up waiting and pulled it out */
};

/* Per-vCPU exit statistics (snapshot). */
struct tvm_vcpu_stats {
	uint64_t runs;       /* kvmhold_vcpu_run() calls */
	uint64_t exits;      /* returns with an exit reason */
	uint64_t eintr;      /* -EINTR returns */
	uint64_t io;         /* KVM_EXIT_IO */
	uint64_t ucalls;
	uint64_t syncs;
	uint64_t mmio;       /* KVM_EXIT_MMIO, holes included */
	uint64_t holes;      /* KVM_EXIT_MMIO inside the test region */
	uint64_t hlt;        /* KVM_EXIT_HLT */
};

#define TVM_MAX_FAILURES 32
#define TVM_MSG_LEN      256

/* Internals; tests use the accessors below. */
struct tvm_vcpu {
	struct tvm *tvm;
	unsigned idx;
	struct kvmhold_vcpu *vcpu;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	int tid;                     /* atomic */
	int state;                   /* enum tvm_vcpu_state, atomic */
	struct tvm_vcpu_stats stats; /* written by the vCPU thread, atomics */
	int own_fd;                  /* adopt_vcpus: the vCPU fd and mapping tvm made */
	void *own_run;
	size_t own_run_size;
};

struct tvm_failure {
	int vcpu;                    /* -1: not a vCPU */
	char msg[TVM_MSG_LEN];
};

struct tvm {
	/* Fixed by tvm_create(); tests may read these directly. */
	struct kvmhold_vm *vm;
	unsigned nr_vcpus;
	struct tvm_opts opts;
	void *sys_hva;               /* system region, gpa 0 */
	size_t sys_size;
	struct tvm_shared *shared;   /* host view of the shared page */
	void *test_hva;              /* test region (NULL if test_size == 0) */
	uint64_t test_gpa;
	size_t test_size;
	bool test_mapped;            /* by tvm_map_test_region() */

	/* Private. */
	int kvm_fd;
	int own_vm_fd;               /* adopt_vm: the VM fd tvm created, else -1 */
	struct kvm_cpuid2 *cpuid;
	uint64_t entry;
	uint64_t isr_stubs, isr_stride, nr_isr;
	int stopping;                /* atomic: tvm_stop() in progress */
	int force_stop;              /* atomic: vCPU threads leave on -EINTR */
	pthread_mutex_t lock;        /* failures[] */
	int nr_failures;             /* atomic; all of them, also past the array */
	struct tvm_failure failures[TVM_MAX_FAILURES];
	struct tvm_vcpu vcpus[TVM_MAX_VCPUS];
};

/* 1 if /dev/kvm can be opened for reading and writing. */
bool tvm_kvm_available(void);

/* Lifecycle */
int tvm_create(const struct tvm_opts *opts, struct tvm **out);
/* One thread per vCPU, each running tvm_run_vcpu(). */
int tvm_start(struct tvm *t);
/*
 * Sets the guests' stop flag, kicks the vCPUs (and makes vCPUs halted inside
 * KVM runnable) until each reports DONE, then joins the threads.  Returns 0,
 * or -ETIMEDOUT if some guest did not finish within stop_timeout_ms (those
 * are pulled out and recorded as failures).  Calling it twice is harmless.
 */
int tvm_stop(struct tvm *t);
/* Stops if needed and frees everything. */
void tvm_destroy(struct tvm *t);

/*
 * The vCPU loop, on the calling thread, for tests that manage threads
 * themselves (do not also tvm_start() then).  Returns when the guest is done,
 * failed or was stopped: 0 for DONE, -1 otherwise.
 */
int tvm_run_vcpu(struct tvm *t, unsigned idx);

/* Memory */
int tvm_map_system(struct tvm *t);
/* Map the whole test region (one memslot transaction). */
int tvm_map_test_region(struct tvm *t, uint32_t flags);
int tvm_unmap_test_region(struct tvm *t);
/* KVM_SET_USER_MEMORY_REGION by hand, behind the library's back (adoption tests). */
int tvm_raw_memslot(int vm_fd, uint32_t id, uint64_t gpa, uint64_t size, void *hva,
		    uint32_t flags);
/* Host address of [gpa, gpa + len) in the system or test region, or NULL. */
void *tvm_gpa_to_hva(struct tvm *t, uint64_t gpa, size_t len);

/* Shared-page parameters; set them before tvm_start(). */
void tvm_set_program(struct tvm *t, enum tvm_guest_prog prog);
void tvm_set_sync_every(struct tvm *t, uint64_t every);
void tvm_set_walk_flags(struct tvm *t, unsigned flags);
void tvm_set_param(struct tvm *t, unsigned i, uint64_t value);

/* Accessors */
struct kvmhold_vm *tvm_vm(struct tvm *t);
struct kvmhold_vcpu *tvm_vcpu(struct tvm *t, unsigned idx);
unsigned tvm_nr_vcpus(const struct tvm *t);
struct tvm_shared *tvm_shared(struct tvm *t);
bool tvm_stopping(struct tvm *t);
enum tvm_vcpu_state tvm_vcpu_state(struct tvm *t, unsigned idx);
int tvm_vcpu_tid(struct tvm *t, unsigned idx);   /* 0 until its thread runs */

/* Guest progress, read from the shared page. */
uint64_t tvm_counter(struct tvm *t, unsigned idx);
uint64_t tvm_walk_pages(struct tvm *t, unsigned idx);
uint64_t tvm_walk_mismatches(struct tvm *t, unsigned idx);
uint64_t tvm_counter_sum(struct tvm *t);

/*
 * Waiting (polling with a short sleep, bounded by timeout_ms; -1 = forever).
 * 0 on success, -ETIMEDOUT, or -ESRCH when the vCPU ended before it happened.
 */
int tvm_wait_counter_moves(struct tvm *t, unsigned idx, int timeout_ms);
int tvm_wait_counter_reaches(struct tvm *t, unsigned idx, uint64_t value,
			     int timeout_ms);
int tvm_wait_all_counters_move(struct tvm *t, int timeout_ms);
/* Until no vCPU thread is running (guests done or failed by themselves). */
int tvm_wait_done(struct tvm *t, int timeout_ms);

/* GUEST_PROG_PROBE: what vCPU 0 reads at each test-region page (0: unmapped). */
int tvm_probe(struct tvm *t, uint64_t *out, size_t npages, int timeout_ms);
/* GUEST_PROG_PROBE: vCPU 0 writes value to each test-region page set in bitmap. */
int tvm_probe_write(struct tvm *t, const uint64_t *bitmap, uint64_t value, int timeout_ms);

/* Statistics and failures */
void tvm_vcpu_stats(struct tvm *t, unsigned idx, struct tvm_vcpu_stats *st);
void tvm_stats(struct tvm *t, struct tvm_vcpu_stats *sum);   /* all vCPUs */
uint64_t tvm_holes(struct tvm *t);
uint64_t tvm_syncs(struct tvm *t);
int tvm_failures(struct tvm *t);
/* Message i ("file:line: expression (values)" for guest asserts), or NULL. */
const char *tvm_failure_msg(struct tvm *t, int i);
int tvm_failure_vcpu(struct tvm *t, int i);
/* Record a failure (from any thread, e.g. an on_sync callback). */
__attribute__((format(printf, 3, 4)))
void tvm_fail(struct tvm *t, int vcpu_idx, const char *fmt, ...);

/* Milliseconds since an arbitrary start (CLOCK_MONOTONIC). */
uint64_t tvm_now_ms(void);
uint64_t tvm_now_ns(void);

/* tvm_cpu.c: long-mode tables and vCPU registers (used by tvm_create). */
void tvm_cpu_build_tables(struct tvm *t);
int tvm_cpu_setup_vcpu(struct tvm *t, unsigned idx);

#endif
