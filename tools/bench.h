/* SPDX-License-Identifier: MIT */
/*
 * kvmhold-bench's shared declarations (which file holds what: tools/README.md,
 * "Files").  Times inside are nanoseconds (uint64_t); the reports convert.
 */
#ifndef KVMHOLD_BENCH_H
#define KVMHOLD_BENCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/kvm.h>

#include "kvmhold.h"
#include "tvm.h"

#define BENCH_SCHEMA_VERSION 2
#define BENCH_MAX_LIST       16      /* entries of --vcpus, --slots */
#define ARRAY_SIZE(a)        (sizeof(a) / sizeof((a)[0]))
#define MOVE_TIMEOUT_MS      30000   /* a hang guard: every vCPU moving again, guest writes */
#define TXN_TIMEOUT_MS       5000    /* a guard on a library hold or commit: a timeout */

/* ---- bench_sys.c ------------------------------------------------------- */

uint64_t bench_now_ns(void);
void bench_sleep_ns(uint64_t ns);
void bench_sleep_until(uint64_t when);
/* 0 when woken (or *addr != val), -ETIMEDOUT, -EINTR.  timeout_ns 0: forever. */
int bench_futex_wait(uint32_t *addr, uint32_t val, uint64_t timeout_ns);
void bench_futex_wake(uint32_t *addr, int nr);
/* Adds 1 to the futex word *addr (seq_cst), then wakes nr of its waiters. */
void bench_futex_bump(uint32_t *addr, int nr);
int bench_gettid(void);
int bench_tgkill(int tid, int sig);
/* sigaction() with an empty mask; fails if the signal already has a handler. */
int bench_install_handler(int sig, void (*fn)(int), int flags);
/* An empty handler, for signals whose only job is to interrupt KVM_RUN. */
void bench_empty_handler(int sig);
/* KVM_CHECK_EXTENSION of cap on /dev/kvm: its answer, 0 when /dev/kvm cannot be opened. */
int bench_kvm_cap(long cap);

/* The progress line: on stderr, and only when stderr is a terminal. */
__attribute__((format(printf, 1, 2)))
void bench_progress(const char *fmt, ...);
void bench_progress_done(void);
/* An error message on stderr, prefixed "kvmhold-bench: ". */
__attribute__((format(printf, 1, 2)))
void bench_err(const char *fmt, ...);

/* ---- bench_stats.c ----------------------------------------------------- */

struct samples {
	uint64_t *v;
	size_t n, cap;
};

#define STATS_QUANTILES 101          /* q[i] = the i-th percentile */

struct stats {
	size_t n;                    /* 0: nothing measured */
	uint64_t min, p50, p90, p99, max;
	double mean;
	uint64_t q[STATS_QUANTILES];
};

int samples_add(struct samples *s, uint64_t ns);
void samples_free(struct samples *s);
/* Sorts s, then fills st (nearest-rank percentiles). */
void stats_compute(struct stats *st, struct samples *s);
/* The same, then frees s: how a measurement ends. */
void stats_take(struct stats *st, struct samples *s);
/* a / b, or 0 when either is missing. */
double bench_ratio(uint64_t a, uint64_t b);

/* ---- bench_machine.c --------------------------------------------------- */

struct machine_info {
	char kernel[128];            /* uname -r */
	char arch[65];               /* uname -m */
	char backend[64];            /* kvm_pvm, kvm_intel, kvm_amd, or "" */
	char cpu_model[160];
	long cores;                  /* online CPUs */
	bool hypervisor;             /* the "hypervisor" CPU flag: we are a guest */
	int nr_memslots;             /* KVM_CAP_NR_MEMSLOTS */
	int max_vcpus;               /* KVM_CAP_MAX_VCPUS */
	char date[40];               /* UTC, ISO 8601 */
};

void machine_describe(struct machine_info *mi);

/* ---- options ----------------------------------------------------------- */

/* The memslot operations (bench_layout.c). */
enum bop {
	BOP_SPLIT, BOP_MERGE,        /* the walked slot: one <-> two halves */
	BOP_GROW, BOP_SHRINK,        /* the walked slot: P <-> 2P pages, in place */
	BOP_MOVE, BOP_MOVE_BACK,     /* a 4-page slot the guest does not touch */
	BOP_LOG_ON, BOP_LOG_OFF,     /* KVM_MEM_LOG_DIRTY_PAGES on the walked slot */
	BOP_MAP, BOP_UNMAP,          /* a 4-page slot in free space */
	BOP__COUNT
};

/* `compare --op`: which transactions run, and which of them are timed. */
enum cmp_op { CMP_SPLIT, CMP_MERGE, CMP_GROW, CMP_SHRINK, CMP_MOVE, CMP_LOG, CMP_MIX, CMP__COUNT };

enum section { SEC_COMPARE, SEC_HOLD, SEC_TXN, SEC_DIRTY, SEC_GATE, SEC_SCALE, SEC_VCPUS,
	       SEC__COUNT };
extern const char *const section_names[SEC__COUNT];   /* bench_main.c */

struct bench_opts {
	enum section sections[SEC__COUNT];  /* in the order given */
	unsigned nr_sections;
	/* The lists: nr 0 when not given (each section has its defaults). */
	unsigned vcpus[BENCH_MAX_LIST], nr_vcpus;
	unsigned slots[BENCH_MAX_LIST], nr_slots;   /* extra memslots in the layout */
	enum cmp_op op;
	unsigned strategies;         /* bit per strategy index */
	double rate;                 /* the first of rates[] */
	unsigned rates[BENCH_MAX_LIST], nr_rates;  /* compare: transactions per second, 0: as fast as possible */
	uint64_t count;              /* transactions per strategy, 0: by duration */
	double duration;             /* seconds per strategy */
	bool duration_given;
	unsigned rounds;             /* compare: rounds the time is split into */
	unsigned samples;            /* hold, txn and floor samples */
	bool samples_given;
	unsigned pages;              /* walked pages of the test region */
	bool pages_given;
	bool migrate;                /* compare: the migration check per line */
	uint64_t migrate_count;      /* transactions per migration check */
	unsigned region_mib;         /* dirty: the logged region of the sync cost */
	unsigned sync_pages;         /* dirty: pages dirtied before a "many" sync */
	unsigned sync_samples;       /* dirty: syncs timed per level */
	unsigned vm_flags;           /* txn: kvmhold_vm_opts.flags of the commits' VMs */
	unsigned park_timeout_ms;    /* gate: how long a parked vCPU gets to return on a kick */
	unsigned scale_slots[BENCH_MAX_LIST], nr_scale_slots;  /* scale: slot counts */
	unsigned scale_gib[BENCH_MAX_LIST], nr_scale_gib;      /* scale: logged slot sizes */
	const char *json_path;
	char cmdline[1024];
};

/* ---- bench_vm.c (its comment says what a bvm adds to a tvm) ------------ */

struct bvcpu;

struct vcpu_hooks {
	/* On the vCPU thread, before each KVM_RUN (may park). */
	void (*before_run)(struct bvcpu *v);
	/* On the vCPU thread, right after KVM_RUN returned (r, errno). */
	void (*after_run)(struct bvcpu *v, int r, int err);
};

struct bvcpu {
	struct bvm *m;
	unsigned idx;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	int tid;                     /* atomic; 0 until the thread runs */
	int state;                   /* atomic: enum tvm_vcpu_state */
	uint64_t holes;              /* atomic, written by the thread */
	uint32_t eintr_seq;          /* floor: futex word, bumped on each -EINTR */
	uint32_t floor_go;           /* floor: futex word, 1 lets it back into KVM_RUN */
	/* Protocol state, one word each, used by one protocol at a time. */
	uint32_t in_ioctl;           /* qemu: inside KVM_RUN (or about to be) */
	uint32_t ack_gen;            /* cloud-hypervisor: pause generation acked */
} __attribute__((aligned(64)));

struct bvm_opts {
	unsigned vcpus;
	enum tvm_guest_prog program;
	unsigned walk_pages;         /* pages the walker touches (GUEST_PROG_WALK) */
	unsigned region_pages;       /* host memory of the test region, >= walk_pages */
	unsigned ring_bytes;         /* kvmhold_vm_opts.dirty_ring_bytes (0: the bitmap) */
	unsigned kick;               /* kvmhold_vm_opts.kick (KVMHOLD_KICK_*) */
	unsigned vm_flags;           /* kvmhold_vm_opts.flags */
};

struct bvm {
	struct tvm *t;
	struct kvmhold_vm *vm;
	int vm_fd;
	unsigned n;
	bool tvm_loops;              /* tvm's threads run the vCPUs (bvm_start()'s tvm) */
	bool lib_run;                /* the raw loop runs through kvmhold_vcpu_run(), not KVM_RUN */
	const struct vcpu_hooks *hooks;
	void *proto;                 /* the protocol's state */
	unsigned region_pages;       /* of the test region (t->test_gpa, t->test_hva) */
	void *extra_hva;             /* the extra 1-page slots of --slots */
	unsigned extra_nr;
	struct bvcpu v[TVM_MAX_VCPUS];
};

int bvm_create(const struct bvm_opts *o, struct bvm **out);
/* Starts tvm's threads (kvmhold_vcpu_run) or raw loops with hooks; returns once all vCPUs moved. */
int bvm_start(struct bvm *m, bool tvm, const struct vcpu_hooks *hooks, void *proto,
	      int timeout_ms);
/* Sets the guests' stop flag and joins every vCPU thread. */
int bvm_stop(struct bvm *m);
void bvm_destroy(struct bvm *m);

/* Every vCPU's progress now into p (TVM_MAX_VCPUS values); did any move since? */
void bvm_progress_all(struct bvm *m, uint64_t *p);
bool bvm_moved_since(struct bvm *m, const uint64_t *p);
uint64_t bvm_pages(struct bvm *m);          /* walked pages, all vCPUs */
uint64_t bvm_holes(struct bvm *m);          /* MMIO exits inside the test region */
uint64_t bvm_mismatches(struct bvm *m);     /* walker mismatches, all vCPUs */
/* The first failure, tvm's or the raw loop's (tvm_fail()), or NULL when none. */
const char *bvm_failure(struct bvm *m);
/* Until every vCPU's progress moved past what it was at the call, or past p[]. */
int bvm_wait_all_moved(struct bvm *m, int timeout_ms);
int bvm_wait_all_past(struct bvm *m, const uint64_t *p, int timeout_ms);
/* Until every vCPU completed a whole walk pass (touched all its pages) after the call. */
int bvm_wait_all_passes(struct bvm *m, int timeout_ms);
/* The extra 1-page slots of --slots: raw ioctls (ids from RAW_ID_EXTRA) or one transaction. */
int bvm_map_extra(struct bvm *m, unsigned nr, bool raw);

/* ---- bench_floor.c ----------------------------------------------------- */

/*
 * Adds nr samples to s, on a fresh VM of vcpus vCPUs running
 * GUEST_PROG_COUNT in raw loops: all vCPUs signalled at once, timed until
 * the last KVM_RUN returned -EINTR (vcpus = 1: one bare round trip).
 * *resends counts samples lost to a signal that never came back.
 */
int floor_measure(unsigned vcpus, unsigned nr, struct samples *s, unsigned *resends);
/*
 * The floor's raw-loop hooks, which gate's kicks share: after a run that
 * returned -EINTR the vCPU thread bumps eintr_seq, wakes the main thread,
 * and waits for floor_let_go() before it runs again.
 */
extern const struct vcpu_hooks floor_hooks;
void floor_let_go(struct bvcpu *v);
/* Until v's thread has seen -EINTR after seq: 0, -ETIMEDOUT, or -ESRCH (it ended). */
int floor_wait_return(struct bvcpu *v, uint32_t seq, uint64_t deadline);

/* ---- bench_layout.c ---------------------------------------------------- */

/*
 * The test region, in pages from test_gpa (P = walked pages, even, >= 16):
 *   W  gpa [0, P) (or [0, 2P) grown), hva 0: the walked slot, or two halves
 *   M  gpa [2P, 2P+4) or [2P+8, 2P+12), hva 2P: the moved slot
 *   U  gpa [3P, 3P+4), hva 3P: the mapped/unmapped slot
 * so the host memory is 4P pages.  Raw slot ids (VMs whose only library
 * slot is the system region, id 0): W 1, halves 2 and 3, M 4, U 5, extra
 * slots from 16.
 */
#define RAW_ID_W       1u
#define RAW_ID_LO      2u
#define RAW_ID_HI      3u
#define RAW_ID_M       4u
#define RAW_ID_U       5u
#define RAW_ID_EXTRA   16u
#define SMALL_SLOT_PAGES 4u
#define EXTRA_GPA      0x80000000ull      /* 2 GiB: the extra 1-page slots */

enum mio_kind { MIO_DELETE, MIO_MOVE, MIO_FLAGS, MIO_CREATE };

struct mslot_io {
	enum mio_kind kind;
	struct kvm_userspace_memory_region r;
	uint64_t old_gpa, old_size;  /* DELETE, MOVE, FLAGS: where the slot was, its size */
	uint32_t old_flags;          /* and its flags */
};

#define RAW_TXN_MAX 16

struct raw_txn {
	struct mslot_io io[RAW_TXN_MAX];
	unsigned n;
};

struct layout {
	uint64_t gpa;                /* test_gpa */
	uintptr_t hva;               /* test_hva */
	unsigned pages;              /* P */
	uint32_t w_flags;            /* KVM_MEM_* of W and its halves (migration: logged) */
};

/*
 * A state of the layout: bit LAYOUT_BIT(op) is set while the first of op's
 * pair (split, grow, move, log-on, map) is in effect.
 */
#define LAYOUT_BIT(op)      (1u << ((unsigned)(op) / 2))
#define LAYOUT_MAX_REGIONS  4

const char *bop_name(enum bop op);
enum bop bop_inverse(enum bop op);
/* The slots of state into v (W or its halves, M, U if mapped), with their raw ids. */
unsigned layout_regions(const struct layout *l, unsigned state, struct kvmhold_region *v);
/* The state a layout starts in: split, grown or neither. */
unsigned layout_initial(bool split, bool grown);
/* The raw ioctls of op (from the state op expects). */
void raw_op(const struct layout *l, enum bop op, struct raw_txn *tx);
/* Do deleted and added ranges overlap (QEMU's test for inhibiting)? */
bool raw_overlap(const struct raw_txn *tx);
/* Issue in order; stops at the first failure (-errno). *issued counts. */
int raw_issue(int vm_fd, const struct raw_txn *tx, unsigned *issued);
/* The same operation through the library: begin, the op, commit. */
int kh_op(struct kvmhold_vm *vm, const struct layout *l, enum bop op, int timeout_ms,
	  uint64_t *commit_ns);
int kh_initial(struct kvmhold_vm *vm, const struct layout *l, bool split, bool grown);
/* The end of a transaction whose calls returned r: commit, or abort on an error. */
int kh_finish(struct kvmhold_txn *txn, int r);
/* The ioctls that turn layout `from` into `to` (regions with slot ids). */
int regions_diff(const struct kvmhold_region *from, unsigned nf,
		 const struct kvmhold_region *to, unsigned nt, struct raw_txn *tx);

/* ---- strategies (bench_strategies.c and bench_pause_*.c) --------------- */

struct strat_ctx;

struct txn_sample {
	uint64_t lat_ns;             /* the whole transaction */
	uint64_t pause_ns;           /* stopping the vCPUs (when paused) */
	uint64_t held_ns;            /* when paused: from the pause's start to the resume */
	bool paused;
	bool kicked;                 /* the pause had to stop a vCPU that ran */
	unsigned ioctls;             /* memslot and dirty-log ioctls issued */
	bool timeout;
	int err;                     /* -errno of a failed ioctl or call */
};

struct strategy {
	const char *name;
	const char *what;            /* one line for --help and the reports */
	bool tvm_loop;               /* runs vCPUs with tvm (kvmhold_vcpu_run) */
	bool raw_layout;             /* test region mapped with raw ioctls */
	unsigned kick;               /* tvm loops: kvmhold_vm_opts.kick of its VMs */
	/* NULL, or why the strategy cannot run on this KVM (then it is not run). */
	const char *(*unavailable)(void);
	const struct vcpu_hooks *hooks;  /* own loops only */
	int (*setup)(struct strat_ctx *c);
	int (*apply)(struct strat_ctx *c, enum bop op, struct txn_sample *out);
	/*
	 * For raw_apply(): stop the vCPUs, filling pause_ns and kicked (a
	 * vCPU had to be stopped); 0, -ETIMEDOUT (nothing paused) or -errno.
	 */
	int (*pause)(struct strat_ctx *c, uint64_t *pause_ns, bool *kicked);
	void (*resume)(struct strat_ctx *c);
	void (*teardown)(struct strat_ctx *c);
	bool overlap_only;           /* raw_apply() pauses only when raw_overlap() (qemu) */
	bool sync_before_delete;     /* raw_apply() reads the log migrating or not (qemu) */
};

struct migration;

struct strat_ctx {
	const struct strategy *s;
	struct bvm *m;
	struct layout l;
	void *state;                 /* the strategy's own */
	struct migration *mig;       /* a migration check is running (bench_migrate.c) */
	const char *why;             /* setup may say why it failed (else strerror) */
};

/* The .apply of the raw strategies but ideal: op's ioctls, in the pause if any. */
int raw_apply(struct strat_ctx *c, enum bop op, struct txn_sample *out);

/* The state of the signalling protocols (qemu, kvmtool, cloud-hypervisor). */
struct sig_state {
	/*
	 * Futex word: odd while paused (qemu: inhibited), bumped by every pause
	 * and every resume, so it never returns to a value a sleeper saw (a 0/1
	 * flag could flip to 0 and back to 1 before a woken vCPU looked, and it
	 * would sleep through the resume: an artefact, not the VMM).
	 */
	uint32_t epoch;
	uint32_t event;              /* futex word: bumped when a vCPU reports (qemu, ch) */
	uint32_t parked;             /* vCPUs parked (kvmtool: the futex word it waits on) */
	unsigned n;                  /* vCPUs */
	/*
	 * qemu: its log reads' bits (dropped unless migrating), written in the
	 * pause: at offset 64, never in the cache line of the futex words,
	 * which every vCPU reads at each exit.
	 */
	uint64_t scratch[] __attribute__((aligned(64)));
};

/* c->state, one allocation (state_free()); handler installed (SA_RESTART) for sig. */
int sig_setup(struct strat_ctx *c, int sig, void (*handler)(int), size_t scratch_bytes);
/* The resume of all three: bump the epoch, wake every vCPU waiting on it. */
void sig_resume(struct strat_ctx *c);

/*
 * Strategy c->s (NULL: none, the baseline) ready to run on c->m: the test
 * region (layout l of c) mapped, raw ioctls at the raw ids (after checking the
 * library holds nothing but slot 0) or one transaction, plus nr_extra 1-page
 * slots; the strategy set up; its vCPUs started and seen running.  *why: the
 * step that failed (a setup may also say why in c->why).
 */
int strat_start(struct strat_ctx *c, bool split, bool grown, unsigned nr_extra, int timeout_ms,
		const char **why);

#define NR_STRATEGIES 7
extern const struct strategy *const strategies[NR_STRATEGIES];
extern const struct strategy strat_naive, strat_qemu, strat_kvmtool, strat_ch,
	strat_kernel_ioctl, strat_kvmhold, strat_kvmhold_kernel, strat_ideal;
int strategy_index(const char *name);
/* Why s cannot run on this KVM into buf, and true; "" and false if it can. */
bool strategy_unavailable(const struct strategy *s, char *buf, size_t size);
/* The teardown of a strategy whose state is one allocation: frees c->state. */
void state_free(struct strat_ctx *c);

/* ---- bench_pause_kernel.c ------------------------------------------------ */

/* NULL if KVM has KVM_CAP_KICK_ALL_RUNNING_VCPUS, else why it cannot be used. */
const char *kick_ioctl_unavailable(void);
/* KVM_KICK_ALL_RUNNING_VCPUS / KVM_RESUME_ALL_KICKED_VCPUS on vm_fd: 0 or -errno. */
int kick_ioctl_kick(int vm_fd);
int kick_ioctl_resume(int vm_fd);
/* c->state of both kernel lines: each vCPU's progress at the last resume. */
int progress_setup(struct strat_ctx *c);
/* 0 if the library runs vm with the kernel kick backend, else -EOPNOTSUPP. */
int kick_ioctl_check_backend(struct kvmhold_vm *vm);

/* ---- results ----------------------------------------------------------- */

/* hold: another way of stopping the vCPUs, measured in the same blocks. */
struct hold_line {
	const struct strategy *s;    /* kernel-ioctl or kvmhold-kernel */
	const char *what;
	struct stats lat;            /* call to return */
	double r50, r99;             /* / floor */
	double r50_all, r99_all;     /* / floor_all */
	char na[120];                /* why this KVM cannot run it: not run, not an error */
	char error[200];
};

#define HOLD_LINES 2

struct hold_result {
	struct hold_line lines[HOLD_LINES];
	unsigned nr_lines;
	unsigned vcpus, samples;
	struct stats floor;          /* one vCPU, one round trip */
	struct stats floor_all;      /* N vCPUs signalled at once (N > 1) */
	struct stats hold, stop;     /* stop: the library's own last_hold_ns */
	unsigned floor_resends;
	double r50, r99;             /* hold / floor */
	double r50_all, r99_all;     /* hold / floor_all */
	bool target_applies, met;    /* N <= 2: p50 <= 1.5x, p99 <= 3x */
	uint64_t signals_per_hold_x100;
	char error[200];
};

/* vcpus: one way of stopping, letting go and committing, at one vCPU count. */
struct vcpus_line {
	const char *name;            /* a strategy's */
	struct stats stop;           /* pause or hold, call to return */
	struct stats release;        /* resume or release until every vCPU ran again */
	struct stats commit;         /* a split and a merge, each timed */
	struct stats held;           /* their held window: first kick to the resume */
	char na[120];                /* why this KVM cannot run it: not run, not an error */
	char error[200];
};

#define VCPUS_LINES 7

struct vcpus_result {
	unsigned vcpus, samples;
	struct stats floor_all;      /* every vCPU signalled at once */
	struct vcpus_line lines[VCPUS_LINES];
	unsigned nr_lines;
	char floor_error[120];
};

#define TXN_KINDS BOP__COUNT

struct txn_op_result {
	enum bop op;
	struct stats kvmhold, ideal;
	double ioctls_kvmhold, ioctls_ideal; /* per commit */
	uint64_t held, commits;      /* commits that took a hold */
	double r50;
	bool met;                    /* p50 <= 1.2x ideal */
	unsigned diff_mismatch;      /* commits whose ioctl count differed from the diff */
	/* The kernel kick lines (empty when unavailable). */
	struct stats kick;           /* kernel-ioctl: kick, the ideal's ioctls, resume */
	struct stats kh_kernel;      /* kvmhold-kernel: the commit, kick = KERNEL */
	double r50_kick, r50_kh_kernel;  /* / ideal p50 */
};

struct txn_slots_result {
	unsigned slots;
	uint64_t setup_ns;           /* mapping them (one transaction, vCPUs not running) */
	struct stats split, merge, ideal_split, ideal_merge;
	char error[200];
};

struct txn_result {
	unsigned vcpus, samples;
	unsigned vm_flags;           /* kvmhold_vm_opts.flags of the commits' VMs */
	struct txn_op_result ops[TXN_KINDS];
	unsigned nr_ops;
	struct txn_slots_result slots[BENCH_MAX_LIST];
	unsigned nr_slots;
	uint64_t holes, mismatches;
	char error[200];
	char kernel_na[120];         /* why the kernel lines were not run (not an error) */
	char kernel_error[200];
	/* bench_gmem.c: split + merge, two commits, of a plain and a guest_memfd slot */
	struct stats gmem_plain, gmem;
	char gmem_na[120], gmem_error[200];
};

/* ---- the migration check (bench_migrate.c says how it works) ------------ */

struct mig_opts {
	const struct strategy *s;
	const char *name;            /* the line's name (default s->name) */
	unsigned vcpus, pages;       /* P */
	enum bop seq[2];             /* the transactions, alternating */
	bool split, grown;           /* the initial layout */
	unsigned extra_slots;
	uint64_t count;              /* transactions */
	unsigned ring_bytes;         /* kvmhold: the dirty ring instead of the bitmap */
	bool initially_set;          /* raw lines: KVM_DIRTY_LOG_INITIALLY_SET (else classic) */
	double limit_s;              /* a guard: stop after this long */
};

struct mig_result {
	const char *name;
	bool ran;
	char error[200];
	char na[160];                /* why the check does not apply (then ran is false) */
	unsigned vcpus, pages;       /* the guests, and the pages they write */
	uint64_t txns;               /* transactions completed (= rounds) */
	uint64_t unreported;         /* pages holding the round's value that no sync reported */
	uint64_t lost;               /* pages whose final copy differs from the guest's memory */
	uint64_t copied;             /* pages the syncs reported (after the first full copy) */
	uint64_t log_reads;          /* KVM_GET_DIRTY_LOG issued before a slot went away */
	uint64_t guest_writes, holes, timeouts;
	double seconds;
	struct stats sync;           /* the sync of each round */
};

int mig_run(const struct mig_opts *mo, struct mig_result *res);
/*
 * The VMM's "read the dirty log before the slot goes": KVM_GET_DIRTY_LOG of
 * every logged slot tx deletes, moves or stops logging.  With a migration
 * running the bits join its pending set (reported by the next sync), else
 * they go to scratch (at least 2P pages of bits) and are dropped.
 */
int read_log_before(struct strat_ctx *c, const struct raw_txn *tx, uint64_t *scratch,
		    unsigned *ioctls);
/* KVM_GET_DIRTY_LOG of a slot of size bytes into buf; with clear, KVM_CLEAR_DIRTY_LOG of it. */
int dirty_log_get(int vm_fd, uint32_t slot, uint64_t size, uint64_t *buf, bool clear);
/* The bits set in a bitmap of `words` 64-bit words. */
unsigned bitmap_weight(const uint64_t *bm, size_t words);
/* Per 1000 transactions, or -1 when nothing ran. */
double per_1000(uint64_t n, uint64_t txns);

/* ---- results of compare ------------------------------------------------- */

/* One figure measured once per round: its median and its range over the rounds. */
struct spread {
	unsigned n;                  /* rounds that measured it (0: none) */
	double median, min, max;
};

#define CMP_MAX_ROUNDS 32

struct strat_result {
	const struct strategy *s;    /* NULL for the ideal line */
	const char *name;
	bool ran;
	char error[200];
	char na[120];                /* why it cannot run on this KVM: not run, not an error */
	uint64_t txns, timed_txns, ioctls, paused_txns, kicked_txns;
	struct stats lat, pause;     /* pause: pauses that had to stop a running vCPU */
	struct stats by_kind[BOP__COUNT];
	double seconds, pages_per_s, progress_pct, txn_per_s;
	uint64_t holes, mismatches, timeouts, errors;
	bool migrated;               /* --migrate: mig holds the migration check */
	struct mig_result mig;
	/* Per round: txn p50, pause p50 (ns) and guest progress (% of that round's baseline). */
	struct spread round_txn_p50, round_pause_p50, round_progress;
};

#define CMP_LINES (NR_STRATEGIES + 1)    /* the strategies, then ideal */

struct compare_result {
	unsigned vcpus, extra_slots, pages;
	enum cmp_op op;
	double seconds;              /* per strategy (target) */
	uint64_t count;
	double rate;
	unsigned rounds;
	struct strat_result baseline;    /* no changes: its guest progress, holes and mismatches */
	struct stats floor, floor_all;   /* one vCPU; all N at once (N > 1) */
	unsigned floor_resends;
	struct strat_result lines[CMP_LINES];
	unsigned nr_lines;
};

/* `dirty` (a): the cost of kvmhold_dirty_sync() over a large logged region. */
enum { SYNC_CLEAN, SYNC_FEW, SYNC_MANY, SYNC_LEVELS };

struct sync_level {
	unsigned dirtied;            /* pages the guest wrote before each sync */
	struct stats lat;
	struct stats ioctls;         /* bitmap: KVM_GET_DIRTY_LOG + KVM_CLEAR_DIRTY_LOG alone */
	double reported;             /* pages reported per sync (mean) */
	unsigned short_syncs;        /* syncs that reported fewer pages than were written */
};

struct sync_result {
	const char *mech;            /* "bitmap" or "ring" */
	unsigned ring_bytes;         /* per vCPU (ring) */
	bool ran;
	uint64_t first_ns, first_reported;   /* the first sync after logging began */
	struct sync_level lv[SYNC_LEVELS];
	uint64_t ring_full_exits;
	char error[200];
};

#define DIRTY_MIG_LINES 4

struct dirty_result {
	uint64_t region_bytes;
	unsigned samples;
	struct sync_result sync[2];  /* bitmap, ring */
	unsigned mig_vcpus, mig_pages;
	uint64_t mig_count;
	struct mig_result mig[DIRTY_MIG_LINES];
	const char *mig_what[DIRTY_MIG_LINES];
	unsigned nr_mig;
};

/* `gate`: what the library adds on a VMM's hot paths, and how fast a kick gets a vCPU out. */
struct gate_result {
	unsigned batches, batch;     /* mem and run_entry: samples of `batch` calls each */
	unsigned samples;            /* kick_running and its floor */
	unsigned parked_samples;
	uint64_t park_timeout_ns;
	/* ns per call, each sample the mean over one batch */
	struct stats mem, mem2;      /* begin + end: one thread; two threads at once */
	struct stats mark;           /* kvmhold_dirty_mark() of 512 bytes, logged slot */
	char mark_error[200];
	struct stats kick_run, kick; /* kick then run (-EINTR); kick alone */
	char mem_error[200], entry_error[200];
	/* kick to the vCPU thread seeing -EINTR, next to the raw signal floor */
	struct stats running, floor;
	unsigned floor_resends;
	double r50, r99;             /* running / floor */
	char running_error[200];
	/* the same with the vCPU parked by kvmhold_hold(): returns within the timeout */
	struct stats parked;
	unsigned parked_timeouts;    /* no return within park_timeout_ns */
	struct stats after_release;  /* timed out: kvmhold_release() call to the return */
	unsigned not_asleep;         /* samples whose vCPU was not seen asleep before the kick */
	char parked_error[200];
};

/*
 * `scale`, part 1: what each measure costs next to N memslots (one VM, no
 * vCPUs).  The one-slot measures are the ones the issue's target speaks of
 * (p50 at N within 3x of the p50 at 1024 slots); the others are O(N) by
 * nature and reported for what they are.
 */
enum scale_measure {
	SM_SPLIT, SM_MERGE, SM_UNMAP, SM_MAP, SM_MOVE, SM_MOVE_BACK, SM_LOG_ON, SM_LOG_OFF,
	SM_GROW, SM_SHRINK,          /* begin + the operation + commit, one slot */
	SM_UNMAP_ALL, SM_MERGE_HALF, /* the operation call alone; the transaction is aborted */
	SM_LOOKUP,                   /* kvmhold_gpa_to_hva(), ns per call (batch means) */
	SM_SYNC_ONE, SM_SYNC_ALL, SM_SYNC_GPA_ALL,  /* dirty syncs, every slot logging */
	SM__COUNT
};

#define SCALE_TARGET_SLOTS 3.0       /* one-slot p50 at N <= 3x the p50 at 1024 slots */
#define SCALE_TARGET_GIB   2.0       /* library <= 2x by hand at 1 TiB */

extern const struct scale_measure_info {
	const char *name, *what;
	bool one_slot;               /* touches one slot: the target applies */
} scale_measures[SM__COUNT];

struct scale_slots_result {
	unsigned slots;
	uint64_t map_ns;             /* mapping all of them: one transaction, begin to commit */
	uint64_t log_all_ns;         /* logging on for all of them: one transaction */
	struct stats m[SM__COUNT];
	double ratio[SM__COUNT];     /* p50 / the p50 at the reference count (0: none) */
	char error[200];
};

/* `scale`, part 2: the commits on one logged slot, next to the same ioctls by hand. */
enum scale_gib_op { SG_SPLIT, SG_MERGE, SG_MOVE, SG_LOG_OFF, SG__COUNT };

extern const struct scale_gib_op_info {
	const char *name;
	unsigned hand_ioctls;        /* the memslot ioctls of the op by hand */
	unsigned hand_log_reads;     /* and its KVM_GET_DIRTY_LOGs */
} scale_gib_ops[SG__COUNT];

struct scale_gib_result {
	unsigned gib;
	unsigned cycles;             /* samples of each operation, per side */
	struct stats lib[SG__COUNT]; /* kvmhold_txn_commit() alone: the held window */
	struct stats hand[SG__COUNT];/* the ioctls by hand, on a raw VM */
	double ratio[SG__COUNT];     /* lib p50 / hand p50 */
	uint64_t commits, held;      /* the library's timed commits, and those that held */
	double ioctls[SG__COUNT];    /* memslot ioctls per library commit (last_txn_ioctls), mean */
	uint64_t dirty_held;         /* kvmhold_stats.dirty_held after the library's cycles */
	uint64_t rss_kib;            /* process RSS then, the library's VM still alive (0: unread) */
	char error[200];
};

struct scale_result {
	struct scale_slots_result slots[BENCH_MAX_LIST];
	unsigned nr_slots;
	unsigned ref_slots;          /* the count ratios are taken to (1024, else the first) */
	unsigned samples;            /* the most samples per measurement at the smallest counts */
	bool budgeted;               /* samples stop early when a measurement's time runs out */
	unsigned rounds;             /* part 1 runs in rounds visiting every count in turn */
	unsigned lookups;            /* gpa_to_hva: lookups per batch */
	struct scale_gib_result gib[BENCH_MAX_LIST];
	unsigned nr_gib;
	uint64_t rss_base_kib;       /* process RSS before part 2 */
	double seconds;              /* the whole section */
};

/*
 * The targets, for the writers.  Slots: does the target apply to entry i (a
 * count above the reference), and are its one-slot measures within 3x
 * (worst: the one with the largest ratio)?  GiB: does it apply (1 TiB and
 * up), and are all four commits within 2x of by hand?
 */
bool scale_slots_target_applies(const struct scale_result *s, unsigned i);
bool scale_slots_target_met(const struct scale_result *s, unsigned i, enum scale_measure *worst);
bool scale_gib_target_applies(const struct scale_gib_result *g);
bool scale_gib_target_met(const struct scale_gib_result *g, enum scale_gib_op *worst);

struct report {
	struct machine_info machine;
	const struct bench_opts *opts;
	struct hold_result hold[BENCH_MAX_LIST];
	unsigned nr_hold;
	struct vcpus_result vcpus[BENCH_MAX_LIST];
	unsigned nr_vcpus;
	struct txn_result txn[BENCH_MAX_LIST];
	unsigned nr_txn;
	struct compare_result *cmp;
	unsigned nr_cmp;
	struct dirty_result *dirty;  /* NULL: not run */
	struct gate_result *gate;    /* NULL: not run */
	struct scale_result *scale;  /* NULL: not run */
	double seconds[SEC__COUNT];  /* each section's wall time; 0: not run */
};

/* `compare --op`: its name, what it does, the transaction that starts the pair. */
extern const struct cmp_op_info {
	const char *name;
	enum bop first;              /* then its inverse (bop_inverse()) */
	bool both_timed;             /* else only the first is timed */
	const char *what;
} cmp_ops[CMP__COUNT];

int run_hold(const struct bench_opts *o, struct report *rep);
int run_txn(const struct bench_opts *o, struct report *rep);
void gmem_compare(unsigned samples, struct txn_result *t);
int run_compare(const struct bench_opts *o, struct report *rep);
int run_dirty(const struct bench_opts *o, struct report *rep);
int run_gate(const struct bench_opts *o, struct report *rep);
int run_scale(const struct bench_opts *o, struct report *rep);
int run_vcpus(const struct bench_opts *o, struct report *rep);

/* bench_summary.c: the headline figures of each section on the terminal. */
void summary_hold(FILE *f, const struct hold_result *h);
void summary_vcpus(FILE *f, const struct vcpus_result *v);
void summary_txn(FILE *f, const struct txn_result *t);
void summary_compare(FILE *f, const struct compare_result *c);
void summary_dirty(FILE *f, const struct dirty_result *d);
void summary_gate(FILE *f, const struct gate_result *g);
void summary_scale_slots(FILE *f, const struct scale_result *s);
void summary_scale_gib(FILE *f, const struct scale_result *s);
/* How long each section took, in the order they ran. */
void summary_seconds(FILE *f, const struct report *rep);

/* bench_report_json.c */
int report_json(const char *path, const struct report *rep);

#endif
