// SPDX-License-Identifier: MIT
/*
 * The gate without guests: gated ioctls and mem sections wait while the VM
 * is held, non-gated ioctls do not, a hold waits for open sections (or
 * times out with diagnostics), a holder's own calls pass, sections nest.
 *
 * "X waits" is observed, not slept on: a thread that parks at the gate
 * bumps stats.gate_waits, and we check it has not finished before the
 * release.
 *
 * Can fail: KVMHOLD_TEST_BREAK=entry-check lets gated ioctls and sections
 * in under a hold, and nobody parks at the gate.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <time.h>
#include <linux/kvm.h>

#include "check.h"
#include "kvmhold.h"

static struct kvmhold_vm *vm;

static uint64_t gate_waits(void)
{
	struct kvmhold_stats st;

	CHECK_OK(kvmhold_stats_get(vm, &st, sizeof(st)));
	return st.gate_waits;
}

/* Poll (with yields) until the gate_waits counter passes `than`. */
static void wait_for_gate_waits(uint64_t than)
{
	time_t end = time(NULL) + 20;

	while (gate_waits() <= than) {
		CHECK(time(NULL) < end, "nobody parked at the gate within 20 s");
		sched_yield();
	}
}

struct worker {
	pthread_t thread;
	void *(*fn)(struct worker *);
	atomic_int step;    /* progress the worker reports */
	atomic_int go;      /* permission from the main thread */
	long result;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	return w->fn(w);
}

static void start(struct worker *w, void *(*fn)(struct worker *))
{
	memset(w, 0, sizeof(*w));
	w->fn = fn;
	CHECK(pthread_create(&w->thread, NULL, worker_main, w) == 0, "pthread_create");
}

static void wait_step(struct worker *w, int step)
{
	time_t end = time(NULL) + 20;

	while (atomic_load(&w->step) < step) {
		CHECK(time(NULL) < end, "worker did not reach step %d", step);
		sched_yield();
	}
}

static void wait_go(struct worker *w)
{
	while (!atomic_load(&w->go))
		sched_yield();
}

static void *do_gated_ioctl(struct worker *w)
{
	struct kvm_dirty_log log = { .slot = 0 };

	/* Gated; with no memslot 0 KVM answers -ENOENT. */
	w->result = kvmhold_vm_ioctl(vm, KVM_GET_DIRTY_LOG, &log);
	atomic_store(&w->step, 1);
	return NULL;
}

static void *do_plain_ioctl(struct worker *w)
{
	w->result = kvmhold_vm_ioctl(vm, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_USER_MEMORY);
	atomic_store(&w->step, 1);
	return NULL;
}

/* Under a hold, fn's call must park at the gate and finish only after the release. */
static long waits_for_release(void *(*fn)(struct worker *), const char *what)
{
	struct worker w;
	uint64_t before;

	CHECK_OK(kvmhold_hold(vm, -1));
	before = gate_waits();
	start(&w, fn);
	wait_for_gate_waits(before);
	CHECK(atomic_load(&w.step) == 0, "%s under a hold", what);
	CHECK_OK(kvmhold_release(vm));
	pthread_join(w.thread, NULL);
	return w.result;
}

/* Poll until a holder is stopping the VM (waiting for somebody to leave). */
static void wait_stopping(void)
{
	time_t end = time(NULL) + 20;
	struct kvmhold_stats st;

	for (;;) {
		CHECK_OK(kvmhold_stats_get(vm, &st, sizeof(st)));
		if (st.stopping)
			return;
		CHECK(time(NULL) < end, "holder did not start");
		sched_yield();
	}
}

static void test_gated_ioctl_waits(void)
{
	struct worker w;

	CHECK_RET(waits_for_release(do_gated_ioctl, "gated ioctl ran"), -ENOENT);

	/* A non-gated request passes during the hold: joined before release. */
	CHECK_OK(kvmhold_hold(vm, -1));
	start(&w, do_plain_ioctl);
	pthread_join(w.thread, NULL);
	CHECK(w.result > 0, "KVM_CHECK_EXTENSION during a hold: %ld", w.result);
	CHECK_OK(kvmhold_release(vm));
	printf("gated ioctl waits for the release; non-gated passes\n");
}

static void *do_section(struct worker *w)
{
	CHECK_OK(kvmhold_mem_begin(vm));
	atomic_store(&w->step, 1);
	wait_go(w);
	atomic_store(&w->step, 2);        /* about to leave */
	CHECK_OK(kvmhold_mem_end(vm));
	return NULL;
}

struct holder {
	struct worker *section;
	long result;
	int section_step_seen;
};

static void *do_hold(void *arg)
{
	struct holder *h = arg;

	h->result = kvmhold_hold(vm, -1);
	h->section_step_seen = atomic_load(&h->section->step);
	return NULL;
}

static void test_section_blocks_hold(void)
{
	struct kvmhold_straggler s;
	struct kvmhold_stats st;
	struct holder h;
	pthread_t t;
	struct worker w;

	start(&w, do_section);
	wait_step(&w, 1);
	CHECK_RET(kvmhold_hold(vm, 100), -ETIMEDOUT);
	CHECK_OK(kvmhold_stats_get(vm, &st, sizeof(st)));
	CHECK(st.hold_timeouts == 1 && st.timeout_others == 1 && st.timeout_vcpus == 0,
	      "timeouts %lu others %u vcpus %u", (unsigned long)st.hold_timeouts,
	      st.timeout_others, st.timeout_vcpus);
	CHECK_RET(kvmhold_hold_stragglers(vm, &s, 1), 0);
	CHECK_RET(kvmhold_is_held(vm), 0);            /* the timeout undid itself */

	/* A hold without timeout returns only after the section ended. */
	h.section = &w;
	CHECK(pthread_create(&t, NULL, do_hold, &h) == 0, "pthread_create");
	atomic_store(&w.go, 1);
	pthread_join(w.thread, NULL);
	pthread_join(t, NULL);
	CHECK_OK(h.result);
	CHECK(h.section_step_seen == 2, "hold returned while a mem section was open");
	CHECK_OK(kvmhold_release(vm));
	printf("hold waits for mem sections; -ETIMEDOUT leaves diagnostics and nothing held\n");
}

static void *do_begin(struct worker *w)
{
	w->result = kvmhold_mem_begin(vm);
	atomic_store(&w->step, 1);
	if (!w->result)
		CHECK_OK(kvmhold_mem_end(vm));
	return NULL;
}

static void test_section_waits_for_release(void)
{
	CHECK_OK(waits_for_release(do_begin, "mem section entered"));
	printf("mem_begin waits for the release\n");
}

static void *do_nested_section(struct worker *w)
{
	CHECK_OK(kvmhold_mem_begin(vm));
	atomic_store(&w->step, 1);
	wait_go(w);
	/* A hold is pending now; the nested begin must not wait for it. */
	CHECK_OK(kvmhold_mem_begin(vm));
	CHECK_OK(kvmhold_mem_end(vm));
	atomic_store(&w->step, 2);
	CHECK_OK(kvmhold_mem_end(vm));
	return NULL;
}

static void test_nested_sections(void)
{
	struct holder h;
	struct worker w;
	pthread_t t;

	start(&w, do_nested_section);
	wait_step(&w, 1);
	h.section = &w;
	CHECK(pthread_create(&t, NULL, do_hold, &h) == 0, "pthread_create");
	/* Wait until the holder is stopping the VM (pending), then let go. */
	wait_stopping();
	atomic_store(&w.go, 1);
	pthread_join(w.thread, NULL);
	pthread_join(t, NULL);
	CHECK_OK(h.result);
	CHECK(h.section_step_seen == 2, "hold returned inside a section");
	CHECK_OK(kvmhold_release(vm));
	printf("nested sections on one thread do not wait for a pending hold\n");
}

static void test_holder_passes(void)
{
	struct kvm_dirty_log log = { .slot = 0 };

	/* The holder's own gated calls and sections pass. */
	CHECK_OK(kvmhold_hold(vm, -1));
	CHECK_RET(kvmhold_vm_ioctl(vm, KVM_GET_DIRTY_LOG, &log), -ENOENT);
	CHECK_OK(kvmhold_mem_begin(vm));
	CHECK_OK(kvmhold_mem_end(vm));
	CHECK_OK(kvmhold_release(vm));

	/* A thread inside its own section may hold: it does not wait for itself. */
	CHECK_OK(kvmhold_mem_begin(vm));
	CHECK_OK(kvmhold_hold(vm, 0));
	CHECK_OK(kvmhold_release(vm));
	CHECK_OK(kvmhold_mem_end(vm));
	printf("a holder's own gated calls and sections pass\n");
}

static void *do_hold_release(struct worker *w)
{
	w->result = kvmhold_hold(vm, -1);
	atomic_store(&w->step, 1);
	wait_go(w);
	w->result |= kvmhold_release(vm);
	return NULL;
}

static void test_counted_across_threads(void)
{
	struct worker w;

	CHECK_OK(kvmhold_hold(vm, -1));
	start(&w, do_hold_release);
	wait_step(&w, 1);
	CHECK_OK(w.result);
	CHECK_OK(kvmhold_release(vm));
	CHECK_RET(kvmhold_is_held(vm), 1);         /* the other thread still holds */
	atomic_store(&w.go, 1);
	pthread_join(w.thread, NULL);
	CHECK_OK(w.result);
	CHECK_RET(kvmhold_is_held(vm), 0);
	printf("holds from two threads: the VM resumes at the last release\n");
}

static void *do_release(struct worker *w)
{
	w->result = kvmhold_release(vm);
	atomic_store(&w->step, 1);
	return NULL;
}

/* Hold until somebody parks at the gate, then release. */
static void *do_hold_until_parked(struct worker *w)
{
	uint64_t before;

	w->result = kvmhold_hold(vm, -1);
	before = gate_waits();
	atomic_store(&w->step, 1);
	if (!w->result) {
		wait_for_gate_waits(before);
		w->result = kvmhold_release(vm);
	}
	return NULL;
}

/*
 * Holds are counted, not owned: released by another thread, a hold no
 * longer lets its taker through the gate under somebody else's hold.
 */
static void test_released_elsewhere(void)
{
	struct worker releaser, holder;
	uint64_t before;

	CHECK_OK(kvmhold_hold(vm, -1));
	start(&releaser, do_release);
	pthread_join(releaser.thread, NULL);
	CHECK_OK(releaser.result);
	CHECK_RET(kvmhold_is_held(vm), 0);

	start(&holder, do_hold_until_parked);
	wait_step(&holder, 1);
	CHECK_OK(holder.result);
	before = gate_waits();
	/* Must park until the other thread's release (it releases once we park). */
	CHECK_OK(kvmhold_mem_begin(vm));
	CHECK(gate_waits() > before, "a stale hold let this thread through the gate");
	CHECK_OK(kvmhold_mem_end(vm));
	pthread_join(holder.thread, NULL);
	CHECK_OK(holder.result);
	printf("a hold released by another thread no longer lets its taker through\n");
}

static void *do_plain_hold(struct worker *w)
{
	w->result = kvmhold_hold(vm, -1);
	atomic_store(&w->step, 1);
	if (!w->result)
		w->result = kvmhold_release(vm);
	return NULL;
}

/* A hold asked for inside a section while another hold is stopping the VM. */
static void test_hold_inside_section_deadlock(void)
{
	struct worker h;

	CHECK_OK(kvmhold_mem_begin(vm));
	start(&h, do_plain_hold);           /* waits for our section */
	wait_stopping();
	/* Waiting for that stop would never end: it waits for us. */
	CHECK_RET(kvmhold_hold(vm, -1), -EDEADLK);
	CHECK(atomic_load(&h.step) == 0, "hold granted while a section was open");
	CHECK_OK(kvmhold_mem_end(vm));
	pthread_join(h.thread, NULL);
	CHECK_OK(h.result);
	printf("hold inside a section while another hold stops the VM: -EDEADLK\n");
}

int main(void)
{
	test_apply_breakage();
	CHECK_OK(kvmhold_vm_create(NULL, &vm));
	test_gated_ioctl_waits();
	test_section_blocks_hold();
	test_section_waits_for_release();
	test_nested_sections();
	test_holder_passes();
	test_counted_across_threads();
	test_released_elsewhere();
	test_hold_inside_section_deadlock();
	kvmhold_vm_destroy(vm);
	return 0;
}
