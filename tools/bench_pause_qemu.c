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
#include <signal.h>

#include "bench.h"

#define QEMU_SIG      SIGUSR1
#define GUARD_NS      (5000ull * 1000000)   /* no timeout in QEMU: a hang guard */

/*
 * The counter goes up before the inhibit (the epoch) is read, and the inhibitor
 * bumps the epoch before it reads the counters (all seq_cst): either this vCPU
 * sees the inhibit and backs off, or the inhibitor sees it counted and kicks it.
 */
static void qemu_before_run(struct bvcpu *v)
{
	struct sig_state *q = v->m->proto;
	uint32_t e;

	for (;;) {
		__atomic_fetch_add(&v->in_ioctl, 1, __ATOMIC_SEQ_CST);
		if (!(__atomic_load_n(&q->epoch, __ATOMIC_SEQ_CST) & 1))
			return;
		__atomic_fetch_sub(&v->in_ioctl, 1, __ATOMIC_SEQ_CST);
		bench_futex_bump(&q->event, 1);
		while ((e = __atomic_load_n(&q->epoch, __ATOMIC_SEQ_CST)) & 1)
			bench_futex_wait(&q->epoch, e, 0);
	}
}

static void qemu_after_run(struct bvcpu *v, int r, int err)
{
	struct sig_state *q = v->m->proto;

	(void)r;
	(void)err;
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	__atomic_fetch_sub(&v->in_ioctl, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&q->epoch, __ATOMIC_SEQ_CST) & 1)
		bench_futex_bump(&q->event, 1);
}

static const struct vcpu_hooks qemu_hooks = {
	.before_run = qemu_before_run,
	.after_run = qemu_after_run,
};

/*
 * The inhibit (sig_resume() ends it): raw_apply() takes it only when a commit
 * needs it, bench_vcpus.c (timing the stop and the release) on its own.
 */
static int qemu_pause(struct strat_ctx *c, uint64_t *pause_ns, bool *kicked)
{
	struct sig_state *q = c->state;
	struct bvm *m = c->m;
	uint64_t t0 = bench_now_ns(), now;
	bool sent[TVM_MAX_VCPUS] = { false };
	unsigned i;

	__atomic_fetch_add(&q->epoch, 1, __ATOMIC_SEQ_CST);
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
			sig_resume(c);
			return -ETIMEDOUT;
		}
		bench_futex_wait(&q->event, ev, GUARD_NS - (now - t0));
	}
	*pause_ns = now - t0;
	return 0;
}

/* The scratch: one bit per page of the largest slot (2P pages), in 64-bit words. */
static int qemu_setup(struct strat_ctx *c)
{
	return sig_setup(c, QEMU_SIG, bench_empty_handler, ((size_t)c->l.pages * 2 + 63) / 64 * 8);
}

const struct strategy strat_qemu = {
	.name = "qemu",
	.what = "QEMU 8+ accel-blocker: counted ioctls, inhibit all (signal + immediate_exit) "
		"only when deleted and added ranges overlap",
	.raw_layout = true,
	.hooks = &qemu_hooks,
	.setup = qemu_setup,
	.pause = qemu_pause,
	.resume = sig_resume,
	.apply = raw_apply,
	.overlap_only = true,
	.sync_before_delete = true,
	.teardown = state_free,
};
