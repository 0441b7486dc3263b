// SPDX-License-Identifier: MIT
/*
 * `kvmhold-bench gate` (tools/README.md, "gate"): what the library costs on the
 * paths a VMM takes all the time when nobody holds the VM (mem sections, dirty
 * marks, kick then run), and how quickly kvmhold_vcpu_kick() gets a vCPU out,
 * running or parked by a hold.
 *
 * The fast paths cost about what the clock costs, so each sample times a
 * batch of calls and records the mean per call; no vCPU runs meanwhile,
 * so the two mem threads have a core each.  The kicks are waited for the
 * way the floor waits (a futex the vCPU thread bumps when its run returned
 * -EINTR, then it waits to be let go), so the two figures differ by what
 * the library adds, not by how the main thread learns of the return.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

#define BATCH            100u     /* calls per sample of mem and run_entry */
#define WARMUP_BATCHES   16u      /* first use of a VM per thread allocates */
#define DEF_BATCHES      1000u
#define DEF_PARKED       20u      /* each may take the whole timeout */
#define BLOCKS           2u
#define KICK_LOST_NS     (2000ull * 1000000)   /* a running vCPU that ignores a kick */
#define RELEASE_WAIT_NS  (10000ull * 1000000)  /* a parked vCPU that ignores the release */
#define ASLEEP_WAIT_NS   (1000ull * 1000000)

#define LOAD(x)      __atomic_load_n(&(x), __ATOMIC_SEQ_CST)

/* ---- the fast paths, in batches ----------------------------------------- */

/* What one call of a fast path works on. */
struct fast {
	struct kvmhold_vm *vm;
	struct kvmhold_vcpu *vcpu;
	char *mem;                   /* mark: the logged slot */
	unsigned next;               /* mark: the page of the next call */
};

static int mem_call(struct fast *f)
{
	int r = kvmhold_mem_begin(f->vm);

	return r ? r : kvmhold_mem_end(f->vm);
}

#define MARK_PAGES 256u          /* the logged slot mark cycles over */
#define MARK_GPA   (8ull << 30)  /* free in the benchmark's VM */

static int mark_call(struct fast *f)
{
	return kvmhold_dirty_mark(f->vm, f->mem + (uint64_t)f->next++ % MARK_PAGES * 4096, 512);
}

/* A run that did not return -EINTR at once: the kick was missed. */
static int run_eintr(struct kvmhold_vcpu *vcpu)
{
	int r = kvmhold_vcpu_run(vcpu);

	return r == -EINTR ? 0 : r < 0 ? r : -EPROTO;
}

static int kick_run_call(struct fast *f)
{
	int r = kvmhold_vcpu_kick(f->vcpu);

	return r ? r : run_eintr(f->vcpu);
}

static int kick_call(struct fast *f)
{
	return kvmhold_vcpu_kick(f->vcpu);
}

/* Batch b: BATCH calls of fn, whose mean per call (nearest ns) goes to s after the warm-up. */
static int batch(int (*fn)(struct fast *), struct fast *f, unsigned b, struct samples *s)
{
	uint64_t t0 = bench_now_ns();
	unsigned i;
	int r = 0;

	for (i = 0; i < BATCH && !r; i++)
		r = fn(f);
	if (r || b < WARMUP_BATCHES)
		return r;
	return samples_add(s, (bench_now_ns() - t0 + BATCH / 2) / BATCH);
}

/* kvmhold_dirty_mark() per call, on a logged slot mapped for it. */
static int mark_measure(struct kvmhold_vm *vm, unsigned batches, struct samples *s)
{
	size_t size = MARK_PAGES * 4096ull;
	struct fast f = { .vm = vm };
	uint64_t bm[MARK_PAGES / 64] = { 0 };
	struct kvmhold_txn *txn;
	unsigned b;
	int r;

	f.mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f.mem == MAP_FAILED)
		return -ENOMEM;
	r = kvmhold_txn_begin(vm, &txn);
	if (!r)
		r = kh_finish(txn, kvmhold_txn_map(txn, MARK_GPA, size, f.mem,
						   KVMHOLD_MEM_LOG_DIRTY));
	for (b = 0; !r && b < WARMUP_BATCHES + batches; b++) {
		r = batch(mark_call, &f, b, s);
		/* Report now and then, so the store does not just keep the same pages. */
		if (!r && b % 8 == 7)
			r = kvmhold_dirty_sync(vm, f.mem, size, bm);
	}
	munmap(f.mem, size);
	return r;
}

struct mem_thread {
	struct fast f;
	unsigned batches;
	unsigned nr;                 /* the threads in the gate at once, 1 or 2 */
	unsigned *arrived;           /* atomic: their start line */
	struct samples s;
	int r;
};

static void *mem_thread_fn(void *arg)
{
	struct mem_thread *mt = arg;
	unsigned b;
	int r = 0;

	for (b = 0; b < WARMUP_BATCHES + mt->batches; b++) {
		/*
		 * Two threads start timing together, so the samples show the cost
		 * with the other thread in the gate at the same time.  A spin: each
		 * has a core, and the wait is one warm-up long.  A thread that
		 * failed still comes to the line, or the other would wait forever.
		 */
		if (b == WARMUP_BATCHES) {
			__atomic_fetch_add(mt->arrived, 1, __ATOMIC_SEQ_CST);
			while (__atomic_load_n(mt->arrived, __ATOMIC_SEQ_CST) < mt->nr)
				;
		}
		if (!r)
			r = batch(mem_call, &mt->f, b, &mt->s);
	}
	mt->r = r;
	return NULL;
}

/*
 * kvmhold_mem_begin() + end() per call, on nr threads (1 or 2) at once: the
 * caller, like every other measure of the gate, and with nr 2 one more.
 */
static int mem_measure(struct kvmhold_vm *vm, unsigned nr, unsigned batches, struct samples *s)
{
	struct mem_thread mt[2];
	unsigned arrived = 0, k;
	pthread_t th;
	size_t j;
	int r = 0;

	for (k = 0; k < 2; k++)
		mt[k] = (struct mem_thread){ .f.vm = vm, .batches = batches, .nr = nr,
					     .arrived = &arrived };
	if (nr == 2)
		r = -pthread_create(&th, NULL, mem_thread_fn, &mt[1]);
	if (r)
		return r;
	mem_thread_fn(&mt[0]);
	if (nr == 2)
		pthread_join(th, NULL);
	for (k = 0; k < nr && !r; k++)
		r = mt[k].r;
	for (k = 0; k < nr; k++) {
		for (j = 0; !r && j < mt[k].s.n; j++)
			r = samples_add(s, mt[k].s.v[j]);
		samples_free(&mt[k].s);
	}
	return r;
}

/* Kick then run (-EINTR without entering the guest), and the kick alone. */
static int entry_measure(struct kvmhold_vcpu *vcpu, unsigned batches, struct samples *kr,
			 struct samples *k)
{
	struct fast f = { .vcpu = vcpu };
	unsigned b;
	int r = 0;

	for (b = 0; !r && b < WARMUP_BATCHES + batches; b++) {
		r = batch(kick_run_call, &f, b, kr);
		if (!r)
			r = batch(kick_call, &f, b, k);
		/* Take the kicks back, so the next batch starts like the first. */
		if (!r)
			r = run_eintr(vcpu);
	}
	return r;
}

/* What went wrong with the vCPU thread of m (if any), or with the call that returned r. */
static void fail(struct bvm *m, char *buf, size_t size, const char *what, int r)
{
	if (m && bvm_failure(m))
		snprintf(buf, size, "%s: %s", what, bvm_failure(m));
	else if (r == -EPROTO)
		snprintf(buf, size, "%s: kvmhold_vcpu_run() entered the guest after a kick", what);
	else if (r == -ETIMEDOUT)
		snprintf(buf, size, "%s: a kick got no return within %llu ms", what,
			 (unsigned long long)(KICK_LOST_NS / 1000000));
	else
		snprintf(buf, size, "%s: %s", what, strerror(-r));
}

static void gate_fast(struct gate_result *g)
{
	/* GUEST_PROG_NONE: a run that missed the kick exits at once instead of spinning. */
	struct bvm_opts bo = { .vcpus = 1, .program = GUEST_PROG_NONE };
	struct samples mem = { 0 }, mem2 = { 0 }, mark = { 0 }, kr = { 0 }, k = { 0 };
	struct bvm *m;
	int r;

	r = bvm_create(&bo, &m);
	if (r) {
		fail(NULL, g->mem_error, sizeof(g->mem_error), "VM", r);
		fail(NULL, g->entry_error, sizeof(g->entry_error), "VM", r);
		return;
	}
	bench_progress("gate: mem");
	r = mem_measure(m->vm, 1, g->batches, &mem);
	if (!r)
		r = mem_measure(m->vm, 2, g->batches, &mem2);
	if (r)
		fail(NULL, g->mem_error, sizeof(g->mem_error), "kvmhold_mem_begin/end", r);
	bench_progress("gate: mark");
	r = mark_measure(m->vm, g->batches, &mark);
	if (r)
		fail(NULL, g->mark_error, sizeof(g->mark_error), "kvmhold_dirty_mark", r);
	bench_progress("gate: run_entry");
	r = entry_measure(tvm_vcpu(m->t, 0), g->batches, &kr, &k);
	if (r)
		fail(NULL, g->entry_error, sizeof(g->entry_error), "kick then run", r);
	bvm_destroy(m);
	stats_take(&g->mem, &mem);
	stats_take(&g->mem2, &mem2);
	stats_take(&g->mark, &mark);
	stats_take(&g->kick_run, &kr);
	stats_take(&g->kick, &k);
}

/* ---- a vCPU thread on kvmhold_vcpu_run() ---------------------------------- */

/*
 * One vCPU spinning in the guest (GUEST_PROG_COUNT), run by the raw loop of
 * bench_vm.c through kvmhold_vcpu_run() with the floor's hooks: each -EINTR
 * is published, then the thread waits to be let go, so it is not back in
 * the guest competing for a core while the main thread takes the time.
 */
static int kick_vm_start(struct bvm **m)
{
	struct bvm_opts bo = { .vcpus = 1, .program = GUEST_PROG_COUNT };
	int r = bvm_create(&bo, m);

	if (r)
		return r;
	(*m)->lib_run = true;
	return bvm_start(*m, false, &floor_hooks, NULL, MOVE_TIMEOUT_MS);
}

/* ---- kick_running --------------------------------------------------------- */

static int running_block(unsigned nr, struct samples *s, char *error, size_t size)
{
	struct bvm *m = NULL;
	struct bvcpu *v;
	unsigned k;
	int r;

	r = kick_vm_start(&m);
	for (k = 0; !r && k < nr; k++) {
		uint32_t seq;
		uint64_t t0, t1;

		v = &m->v[0];
		r = bvm_wait_all_moved(m, MOVE_TIMEOUT_MS);
		if (r)
			break;
		seq = LOAD(v->eintr_seq);
		t0 = bench_now_ns();
		r = kvmhold_vcpu_kick(tvm_vcpu(m->t, 0));
		if (!r)
			r = floor_wait_return(v, seq, t0 + KICK_LOST_NS);
		t1 = bench_now_ns();
		if (!r)
			r = samples_add(s, t1 - t0);
		floor_let_go(v);
		if (!(k % 16))
			bench_progress("gate: kick_running, %zu samples", s->n);
	}
	if (r)
		fail(m, error, size, "kick_running", r);
	bvm_destroy(m);
	return r;
}

static void gate_running(struct gate_result *g)
{
	struct samples run = { 0 }, floor = { 0 };
	unsigned b, per = (g->samples + BLOCKS - 1) / BLOCKS;
	int r = 0;

	/* Alternating blocks, so a change in the machine's load hits both alike. */
	for (b = 0; !r && b < BLOCKS; b++) {
		unsigned nr = g->samples - b * per < per ? g->samples - b * per : per;

		r = floor_measure(1, nr, &floor, &g->floor_resends);
		if (r)
			snprintf(g->running_error, sizeof(g->running_error), "floor: %s", strerror(-r));
		else
			r = running_block(nr, &run, g->running_error, sizeof(g->running_error));
	}
	stats_take(&g->running, &run);
	stats_take(&g->floor, &floor);
	g->r50 = bench_ratio(g->running.p50, g->floor.p50);
	g->r99 = bench_ratio(g->running.p99, g->floor.p99);
}

/* ---- kick_parked ---------------------------------------------------------- */

/*
 * kvmhold_hold() returns once the vCPU is out of KVM_RUN, maybe before its thread
 * sleeps in the park.  The kick is meant for a parked vCPU, so wait (spinning on
 * /proc, no sleep) until the thread sleeps: with the VM held and no library lock
 * held by it, the park is the only place it can sleep.  false if not seen asleep.
 */
static bool wait_asleep(int tid)
{
	uint64_t deadline = bench_now_ns() + ASLEEP_WAIT_NS;
	char buf[512], *p;
	bool asleep = false;
	ssize_t n;
	int fd;

	snprintf(buf, sizeof(buf), "/proc/self/task/%d/stat", tid);
	fd = open(buf, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	do {
		/* Each read at offset 0 is a fresh one. */
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		/* "tid (comm) S ...": comm may hold anything, so look from the last ')'. */
		p = strrchr(buf, ')');
		asleep = p && p[1] == ' ' && p[2] == 'S';
	} while (!asleep && bench_now_ns() < deadline);
	close(fd);
	return asleep;
}

static void gate_parked(struct gate_result *g)
{
	struct samples parked = { 0 }, after = { 0 };
	struct bvm *m = NULL;
	bool held = false;
	unsigned k;
	int r;

	r = kick_vm_start(&m);
	for (k = 0; !r && k < g->parked_samples; k++) {
		struct bvcpu *v = &m->v[0];
		uint32_t seq;
		uint64_t t0, t1;

		bench_progress("gate: kick_parked, %u of %u samples (%u timed out)", k,
			       g->parked_samples, g->parked_timeouts);
		r = bvm_wait_all_moved(m, MOVE_TIMEOUT_MS);
		if (!r)
			r = kvmhold_hold(m->vm, -1);
		if (r)
			break;
		held = true;
		if (!wait_asleep(LOAD(v->tid)))
			g->not_asleep++;
		seq = LOAD(v->eintr_seq);
		t0 = bench_now_ns();
		r = kvmhold_vcpu_kick(tvm_vcpu(m->t, 0));
		if (!r)
			r = floor_wait_return(v, seq, t0 + g->park_timeout_ns);
		t1 = bench_now_ns();
		if (!r) {
			r = samples_add(&parked, t1 - t0);
			if (!r)
				r = kvmhold_release(m->vm);
			held = r != 0;
		} else if (r == -ETIMEDOUT) {
			/* Still parked: the release must bring the kick's return. */
			g->parked_timeouts++;
			t0 = bench_now_ns();
			r = kvmhold_release(m->vm);
			held = r != 0;
			if (!r)
				r = floor_wait_return(v, seq, t0 + RELEASE_WAIT_NS);
			if (r == -ETIMEDOUT) {
				snprintf(g->parked_error, sizeof(g->parked_error),
					 "kick_parked: no return within %llu ms of the release",
					 (unsigned long long)(RELEASE_WAIT_NS / 1000000));
				break;
			}
			if (!r)
				r = samples_add(&after, bench_now_ns() - t0);
		}
		floor_let_go(v);
	}
	if (r && !g->parked_error[0])
		fail(m, g->parked_error, sizeof(g->parked_error), "kick_parked", r);
	if (held)
		kvmhold_release(m->vm);
	bvm_destroy(m);
	stats_take(&g->parked, &parked);
	stats_take(&g->after_release, &after);
}

int run_gate(const struct bench_opts *o, struct report *rep)
{
	struct gate_result *g = calloc(1, sizeof(*g));

	if (!g) {
		bench_err("gate: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	g->batch = BATCH;
	g->batches = o->samples_given ? o->samples : DEF_BATCHES;
	g->samples = o->samples;
	g->parked_samples = o->samples_given ? o->samples : DEF_PARKED;
	g->park_timeout_ns = (uint64_t)o->park_timeout_ms * 1000000;
	gate_fast(g);
	gate_running(g);
	gate_parked(g);
	bench_progress_done();
	rep->gate = g;
	summary_gate(stdout, g);
	/* Timeouts of kick_parked are a finding, not a failure to measure. */
	return g->mem_error[0] || g->mark_error[0] || g->entry_error[0] || g->running_error[0] ||
	       g->parked_error[0] ? -EIO : 0;
}
