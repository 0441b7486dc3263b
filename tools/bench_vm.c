// SPDX-License-Identifier: MIT
/*
 * The benchmark's VMs: a tvm (tests/vmm) for the guest, memory and vCPU setup,
 * run by tvm's own threads (kvmhold_vcpu_run) or, for the strategies that are
 * not kvmhold, by the raw KVM_RUN loop below (which keeps per-vCPU counters):
 * each strategy brings its own pause protocol as hooks around KVM_RUN.
 *
 * The raw loop handles the same exits as tvm's: ucalls on the ucall port, MMIO
 * inside the test region counted as a "hole" (reads see zeros, writes are
 * dropped, as a naive VMM would do), hlt.  Anything else is a failure (tvm_fail()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>

#include "bench.h"

/*
 * Waits poll every 20 us, with sleeps: a poller that only yields stays
 * runnable and takes CPU time from the vCPUs it waits for (measured: several
 * times `vcpus`' release at 2 vCPUs on 2 CPUs, alike for every line but not
 * what a release costs).
 */
#define POLL_NS      20000
#define JOIN_SECONDS 30

int bvm_create(const struct bvm_opts *o, struct bvm **out)
{
	struct tvm_opts to = {
		.nr_vcpus = o->vcpus, .program = o->program, .quiet = true,
		.test_size = (size_t)o->region_pages * TVM_PAGE_SIZE,
		.walk_flags = TVM_WALK_NO_ASSERT,
		.vm_opts = { .dirty_ring_bytes = o->ring_bytes, .kick = o->kick,
			     .flags = o->vm_flags },
	};
	struct bvm *m = calloc(1, sizeof(*m));
	unsigned i;
	int r;

	*out = NULL;
	if (!m)
		return -ENOMEM;
	r = tvm_create(&to, &m->t);
	if (r) {
		free(m);
		return r;
	}
	m->vm = tvm_vm(m->t);
	m->vm_fd = kvmhold_vm_fd(m->vm);
	m->n = tvm_nr_vcpus(m->t);
	m->region_pages = o->region_pages;
	/*
	 * The walker covers the first walk_pages only; the rest, where holes still
	 * count, is room for the slots the benchmark grows, moves and maps.
	 */
	if (o->walk_pages)
		tvm_shared(m->t)->test_size = (uint64_t)o->walk_pages * TVM_PAGE_SIZE;
	for (i = 0; i < m->n; i++)
		m->v[i] = (struct bvcpu){ .m = m, .idx = i,
					  .fd = kvmhold_vcpu_fd(tvm_vcpu(m->t, i)),
					  .run = kvmhold_vcpu_kvm_run(tvm_vcpu(m->t, i)) };
	*out = m;
	return 0;
}

/* ---- the raw loop -------------------------------------------------------- */

/* A string in the guest's system region, for a message ("?" if it is not there). */
static void guest_string(struct bvm *m, uint64_t gpa, char *buf, size_t size)
{
	size_t max = gpa && gpa < m->t->sys_size ? m->t->sys_size - gpa : 0;

	if (!max)
		snprintf(buf, size, "?");
	else
		snprintf(buf, size, "%.*s", (int)(max < size ? max : size - 1),
			 (char *)m->t->sys_hva + gpa);
}

static enum tvm_vcpu_state ucall(struct bvcpu *v)
{
	struct bvm *m = v->m;
	struct kvm_run *run = v->run;
	struct tvm_ucall uc;
	char file[96], msg[96];
	uint32_t gpa;

	if (run->io.port != TVM_UCALL_PORT || run->io.direction != KVM_EXIT_IO_OUT ||
	    run->io.size != 4 || run->io.count != 1) {
		tvm_fail(m->t, (int)v->idx, "raw loop: unexpected port I/O 0x%x", run->io.port);
		return TVM_VCPU_FAILED;
	}
	memcpy(&gpa, (char *)run + run->io.data_offset, sizeof(gpa));
	if (gpa >= m->t->sys_size || sizeof(uc) > m->t->sys_size - gpa) {
		tvm_fail(m->t, (int)v->idx, "raw loop: ucall at bad gpa 0x%x", gpa);
		return TVM_VCPU_FAILED;
	}
	memcpy(&uc, (char *)m->t->sys_hva + gpa, sizeof(uc));
	switch (uc.type) {
	case TVM_UCALL_DONE:
		return TVM_VCPU_DONE;
	case TVM_UCALL_SYNC:
	case TVM_UCALL_PRINT:
		return TVM_VCPU_RUNNING;
	case TVM_UCALL_ASSERT_FAIL:
		guest_string(m, uc.file, file, sizeof(file));
		guest_string(m, uc.msg, msg, sizeof(msg));
		tvm_fail(m->t, (int)v->idx, "%s:%llu: %s", file, (unsigned long long)uc.line, msg);
		return TVM_VCPU_FAILED;
	case TVM_UCALL_EXCEPTION:
		tvm_fail(m->t, (int)v->idx, "guest exception, vector %llu at rip 0x%llx",
			 (unsigned long long)uc.args[0], (unsigned long long)uc.args[2]);
		return TVM_VCPU_FAILED;
	default:
		tvm_fail(m->t, (int)v->idx, "raw loop: unknown ucall %llu",
			 (unsigned long long)uc.type);
		return TVM_VCPU_FAILED;
	}
}

static enum tvm_vcpu_state handle_exit(struct bvcpu *v)
{
	struct bvm *m = v->m;
	struct kvm_run *run = v->run;
	uint64_t gpa, end = m->t->test_gpa + (uint64_t)m->region_pages * TVM_PAGE_SIZE;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return ucall(v);
	case KVM_EXIT_MMIO:
		gpa = run->mmio.phys_addr;
		if (gpa >= m->t->test_gpa && gpa < end) {
			__atomic_fetch_add(&v->holes, 1, __ATOMIC_RELAXED);
			if (!run->mmio.is_write)
				memset(run->mmio.data, 0, sizeof(run->mmio.data));
			return TVM_VCPU_RUNNING;
		}
		tvm_fail(m->t, (int)v->idx, "raw loop: MMIO at gpa 0x%llx",
			 (unsigned long long)gpa);
		return TVM_VCPU_FAILED;
	case KVM_EXIT_HLT:
		return TVM_VCPU_RUNNING;
	default:
		tvm_fail(m->t, (int)v->idx, "raw loop: exit reason %u", run->exit_reason);
		return TVM_VCPU_FAILED;
	}
}

static void *raw_loop(void *arg)
{
	struct bvcpu *v = arg;
	const struct vcpu_hooks *h = v->m->hooks;
	enum tvm_vcpu_state st = TVM_VCPU_RUNNING;

	__atomic_store_n(&v->tid, bench_gettid(), __ATOMIC_SEQ_CST);
	while (st == TVM_VCPU_RUNNING) {
		int r, err;

		if (h && h->before_run)
			h->before_run(v);
		if (v->m->lib_run) {
			r = kvmhold_vcpu_run(tvm_vcpu(v->m->t, v->idx));
			err = r < 0 ? -r : 0;
		} else {
			r = ioctl(v->fd, KVM_RUN, 0);
			err = r < 0 ? errno : 0;
		}
		if (h && h->after_run)
			h->after_run(v, r, err);
		if (r >= 0) {
			st = handle_exit(v);
		} else if (err != EINTR) {
			tvm_fail(v->m->t, (int)v->idx, "raw loop: %s: %s",
				 v->m->lib_run ? "kvmhold_vcpu_run" : "KVM_RUN", strerror(err));
			st = TVM_VCPU_FAILED;
		}
	}
	__atomic_store_n(&v->state, st, __ATOMIC_RELEASE);
	/* A main thread in floor_wait_return() must not sleep on a dead thread. */
	bench_futex_bump(&v->eintr_seq, 1);
	return NULL;
}

int bvm_start(struct bvm *m, bool tvm, const struct vcpu_hooks *hooks, void *proto,
	      int timeout_ms)
{
	unsigned i;
	int r = 0;

	m->hooks = hooks;
	m->proto = proto;
	if (tvm) {
		r = tvm_start(m->t);
		m->tvm_loops = !r;
	}
	for (i = 0; !tvm && !r && i < m->n; i++) {
		struct bvcpu *v = &m->v[i];

		__atomic_store_n(&v->state, TVM_VCPU_RUNNING, __ATOMIC_RELEASE);
		r = -pthread_create(&v->thread, NULL, raw_loop, v);
		v->thread_started = !r;
		if (r)
			__atomic_store_n(&v->state, TVM_VCPU_IDLE, __ATOMIC_RELEASE);
	}
	/* The protocols signal by thread id: wait until every one is known (or tvm's ended). */
	for (i = 0; !r && i < m->n; i++)
		while (tvm ? !tvm_vcpu_tid(m->t, i) && tvm_vcpu_state(m->t, i) == TVM_VCPU_RUNNING :
		       !__atomic_load_n(&m->v[i].tid, __ATOMIC_ACQUIRE))
			bench_sleep_ns(POLL_NS);
	return r ? r : bvm_wait_all_moved(m, timeout_ms);
}

int bvm_stop(struct bvm *m)
{
	unsigned i;

	if (m->tvm_loops)
		return tvm_stop(m->t);
	__atomic_store_n(&tvm_shared(m->t)->stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < m->n; i++) {
		struct bvcpu *v = &m->v[i];
		struct timespec ts;

		if (!v->thread_started)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += JOIN_SECONDS;
		if (pthread_timedjoin_np(v->thread, NULL, &ts)) {
			/* A protocol left it parked: nothing safe is left to do. */
			bench_err("vCPU %u did not stop within %d s (a pause protocol bug?)",
				  i, JOIN_SECONDS);
			exit(1);
		}
		v->thread_started = false;
	}
	return 0;
}

void bvm_destroy(struct bvm *m)
{
	if (!m)
		return;
	bvm_stop(m);
	tvm_destroy(m->t);
	if (m->extra_hva)
		munmap(m->extra_hva, (size_t)m->extra_nr * TVM_PAGE_SIZE);
	free(m);
}

/* ---- observations ------------------------------------------------------- */

/* Progress of vCPU i: counter plus walked pages (both only ever grow). */
static uint64_t bvm_progress(struct bvm *m, unsigned i)
{
	return tvm_counter(m->t, i) + tvm_walk_pages(m->t, i);
}

void bvm_progress_all(struct bvm *m, uint64_t *p)
{
	unsigned i;

	for (i = 0; i < m->n; i++)
		p[i] = bvm_progress(m, i);
}

bool bvm_moved_since(struct bvm *m, const uint64_t *p)
{
	unsigned i;

	for (i = 0; i < m->n; i++)
		if (bvm_progress(m, i) != p[i])
			return true;
	return false;
}

uint64_t bvm_pages(struct bvm *m)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < m->n; i++)
		sum += tvm_walk_pages(m->t, i);
	return sum;
}

uint64_t bvm_holes(struct bvm *m)
{
	uint64_t sum = tvm_holes(m->t);
	unsigned i;

	for (i = 0; i < m->n; i++)
		sum += __atomic_load_n(&m->v[i].holes, __ATOMIC_RELAXED);
	return sum;
}

uint64_t bvm_mismatches(struct bvm *m)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < m->n; i++)
		sum += tvm_walk_mismatches(m->t, i);
	return sum;
}

const char *bvm_failure(struct bvm *m)
{
	return tvm_failures(m->t) ? tvm_failure_msg(m->t, 0) : NULL;
}

/* Progress, or (passes) the walk passes completed, of vCPU i. */
static uint64_t count_of(struct bvm *m, unsigned i, bool passes)
{
	return passes ? tvm_counter(m->t, i) : bvm_progress(m, i);
}

/* Until every vCPU's count is more than `more` above from[] (NULL: what it is at the call). */
static int wait_all_above(struct bvm *m, bool passes, const uint64_t *from, uint64_t more,
			  int timeout_ms)
{
	uint64_t now[TVM_MAX_VCPUS];
	const uint64_t *start = from ? from : now;
	uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	unsigned i;

	for (i = 0; !from && i < m->n; i++)
		now[i] = count_of(m, i, passes);
	for (i = 0; i < m->n; i++) {
		for (;;) {
			/* Its state before its count: a vCPU that moved, then ended, moved. */
			int state = m->tvm_loops ? (int)tvm_vcpu_state(m->t, i) :
				    __atomic_load_n(&m->v[i].state, __ATOMIC_ACQUIRE);

			if (count_of(m, i, passes) > start[i] + more)
				break;
			if (state != TVM_VCPU_RUNNING)
				return -ESRCH;
			if (bench_now_ns() >= deadline)
				return -ETIMEDOUT;
			bench_sleep_ns(POLL_NS);
		}
	}
	return 0;
}

int bvm_wait_all_moved(struct bvm *m, int timeout_ms)
{
	return wait_all_above(m, false, NULL, 0, timeout_ms);
}

int bvm_wait_all_past(struct bvm *m, const uint64_t *p, int timeout_ms)
{
	return wait_all_above(m, false, p, 0, timeout_ms);
}

/* A pass that began before the call may end first: two completions make a whole one. */
int bvm_wait_all_passes(struct bvm *m, int timeout_ms)
{
	return wait_all_above(m, true, NULL, 1, timeout_ms);
}

/* ---- the extra slots of --slots ------------------------------------------- */

int bvm_map_extra(struct bvm *m, unsigned nr, bool raw)
{
	struct kvmhold_txn *txn = NULL;
	unsigned i;
	int r = 0;
	char *p;

	if (!nr)
		return 0;
	p = mmap(NULL, (size_t)nr * TVM_PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	m->extra_hva = p;
	m->extra_nr = nr;
	if (!raw)
		r = kvmhold_txn_begin(m->vm, &txn);
	for (i = 0; !r && i < nr; i++) {
		uint64_t gpa = EXTRA_GPA + (uint64_t)i * TVM_PAGE_SIZE;
		char *hva = p + (uint64_t)i * TVM_PAGE_SIZE;

		r = raw ? tvm_raw_memslot(m->vm_fd, RAW_ID_EXTRA + i, gpa, TVM_PAGE_SIZE, hva, 0) :
			  kvmhold_txn_map(txn, gpa, TVM_PAGE_SIZE, hva, 0);
	}
	return txn ? kh_finish(txn, r) : r;
}
