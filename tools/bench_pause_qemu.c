// SPDX-License-Identifier: MIT
/*
 * QEMU >= 8.0's way (accel/accel-blocker.c, "kvm: Atomic memslot updates"),
 * re-implemented from its description:
 *
 *  - every vCPU ioctl is counted: a vCPU increments its own counter before
 *    KVM_RUN and decrements it after;
 *  - a memslot commit inhibits *all* ioctls, and only when a range it
 *    deletes overlaps a range it adds;
 *  - the inhibitor kicks every vCPU still counted with kvm_run->
 *    immediate_exit = 1 plus a signal (QEMU's SIG_IPI is SIGUSR1), re-kicks
 *    the remaining ones whenever one leaves, and waits;
 *  - before a slot that logs dirty pages is deleted (or stops logging), its
 *    dirty log is read: QEMU's "best effort" sync.  The deletions of a
 *    commit run after the inhibit began, so the read is inside it when
 *    there is one (read_log_before(), bench_migrate.c).
 *
 * The main thread plays QEMU's main loop holding the BQL, whose own ioctls
 * are not counted.  Waits are futexes (QEMU's QemuEvent is one too).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>

#include "bench.h"

#define QEMU_SIG      SIGUSR1
#define GUARD_NS      (5000ull * 1000000)   /* no timeout in QEMU: a hang guard */

struct qemu_state {
	/*
	 * Futex word: odd while ioctls are inhibited, bumped at the start and
	 * the end of each inhibit, so a vCPU that slept through both is woken.
	 */
	uint32_t inhibit;
	uint32_t event;              /* futex word: bumped when a counted ioctl ends */
	uint64_t *bitmap;            /* for KVM_GET_DIRTY_LOG (dropped unless migrating) */
};

static void notify(struct qemu_state *q)
{
	__atomic_fetch_add(&q->event, 1, __ATOMIC_SEQ_CST);
	bench_futex_wake(&q->event, 1);
}

/*
 * The counter goes up before inhibit is read, and the inhibitor sets
 * inhibit before it reads the counters (all seq_cst): either this vCPU sees
 * the inhibit and backs off, or the inhibitor sees it counted and kicks it.
 */
static void qemu_before_run(struct bvcpu *v)
{
	struct qemu_state *q = v->m->proto;

	for (;;) {
		__atomic_fetch_add(&v->in_ioctl, 1, __ATOMIC_SEQ_CST);
		if (!(__atomic_load_n(&q->inhibit, __ATOMIC_SEQ_CST) & 1))
			return;
		__atomic_fetch_sub(&v->in_ioctl, 1, __ATOMIC_SEQ_CST);
		notify(q);
		for (;;) {
			uint32_t e = __atomic_load_n(&q->inhibit, __ATOMIC_SEQ_CST);

			if (!(e & 1))
				break;
			bench_futex_wait(&q->inhibit, e, 0);
		}
	}
}

static void qemu_after_run(struct bvcpu *v, int r, int err)
{
	struct qemu_state *q = v->m->proto;

	(void)r;
	(void)err;
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	__atomic_fetch_sub(&v->in_ioctl, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&q->inhibit, __ATOMIC_SEQ_CST) & 1)
		notify(q);
}

const struct vcpu_hooks qemu_hooks = {
	.before_run = qemu_before_run,
	.after_run = qemu_after_run,
};

static void inhibit_end(struct qemu_state *q)
{
	__atomic_fetch_add(&q->inhibit, 1, __ATOMIC_SEQ_CST);
	bench_futex_wake(&q->inhibit, INT_MAX);
}

static int inhibit_begin(struct bvm *m, struct qemu_state *q, uint64_t *pause_ns, bool *kicked)
{
	uint64_t t0 = bench_now_ns(), now;
	bool sent[TVM_MAX_VCPUS] = { false };
	unsigned i;

	__atomic_fetch_add(&q->inhibit, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		uint32_t ev = __atomic_load_n(&q->event, __ATOMIC_SEQ_CST);
		unsigned busy = 0;

		for (i = 0; i < m->n; i++) {
			struct bvcpu *v = &m->v[i];

			if (!__atomic_load_n(&v->in_ioctl, __ATOMIC_SEQ_CST))
				continue;
			busy++;
			/*
			 * QEMU signals a vCPU thread once until it has run again
			 * (cpu->thread_kicked); under the inhibit it cannot.
			 */
			if (sent[i])
				continue;
			sent[i] = true;
			__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
			bench_tgkill(v->tid, QEMU_SIG);
		}
		now = bench_now_ns();
		if (!busy)
			break;
		*kicked = true;
		if (now - t0 >= GUARD_NS) {
			inhibit_end(q);
			return -ETIMEDOUT;
		}
		bench_futex_wait(&q->event, ev, GUARD_NS - (now - t0));
	}
	*pause_ns = now - t0;
	return 0;
}

static int qemu_setup(struct strat_ctx *c)
{
	struct qemu_state *q = calloc(1, sizeof(*q));
	int r;

	if (!q)
		return -ENOMEM;
	/* One bit per page of the largest slot (2P pages), in 64-bit words. */
	q->bitmap = calloc(1, ((size_t)c->l.pages * 2 + 63) / 64 * 8);
	if (!q->bitmap) {
		free(q);
		return -ENOMEM;
	}
	r = bench_install_handler(QEMU_SIG, bench_empty_handler, SA_RESTART);
	if (r) {
		free(q->bitmap);
		free(q);
		return r;
	}
	c->state = q;
	return 0;
}

static int qemu_apply(struct strat_ctx *c, enum bop op, struct txn_sample *out)
{
	struct qemu_state *q = c->state;
	struct raw_txn tx;
	uint64_t t0;
	int r;

	raw_op(&c->l, op, &tx);
	t0 = bench_now_ns();
	r = 0;
	if (raw_overlap(&tx)) {
		r = inhibit_begin(c->m, q, &out->pause_ns, &out->kicked);
		out->timeout = r == -ETIMEDOUT;
		out->paused = !r;
	}
	/*
	 * The commit's deletions come first, each reading the slot's dirty
	 * log just before its DELETE: inside the inhibit when there is one.
	 */
	if (!r)
		r = read_log_before(c, &tx, q->bitmap, &out->ioctls);
	if (!r)
		r = raw_issue(c->m->vm_fd, &tx, &out->ioctls);
	if (out->paused) {
		out->held_ns = bench_now_ns() - t0;
		inhibit_end(q);
	}
	out->lat_ns = bench_now_ns() - t0;
	out->err = r;
	return r;
}

/*
 * The inhibit on its own, for the sections that time stopping and letting
 * go (bench_vcpus.c); qemu_apply() takes it only when a commit needs it.
 */
static int qemu_pause(struct strat_ctx *c, uint64_t *pause_ns, bool *kicked)
{
	return inhibit_begin(c->m, c->state, pause_ns, kicked);
}

static void qemu_resume(struct strat_ctx *c)
{
	inhibit_end(c->state);
}

static void qemu_teardown(struct strat_ctx *c)
{
	struct qemu_state *q = c->state;

	if (q) {
		free(q->bitmap);
		free(q);
	}
	c->state = NULL;
}

const struct strategy strat_qemu = {
	.name = "qemu",
	.what = "QEMU 8+ accel-blocker: counted ioctls, inhibit all (signal + immediate_exit) "
		"only when deleted and added ranges overlap",
	.raw_layout = true,
	.hooks = &qemu_hooks,
	.setup = qemu_setup,
	.pause = qemu_pause,
	.resume = qemu_resume,
	.apply = qemu_apply,
	.teardown = qemu_teardown,
};
