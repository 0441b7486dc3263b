// SPDX-License-Identifier: MIT
/*
 * The strategies of `compare`, and the simple ones: naive (no pause), kvmhold
 * (the library, with either kick backend) and ideal (the reference); the apply
 * of the raw strategies, and the state the signalling protocols share.  Every
 * strategy applies the same operation with the same KVM ioctls (bench_layout.c);
 * what differs is how, and whether, the vCPUs are kept out meanwhile.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

const struct strategy *const strategies[NR_STRATEGIES] = {
	&strat_naive, &strat_qemu, &strat_kvmtool, &strat_ch, &strat_kernel_ioctl,
	&strat_kvmhold, &strat_kvmhold_kernel,
};

int strategy_index(const char *name)
{
	int i;

	for (i = 0; i < NR_STRATEGIES; i++)
		if (!strcmp(name, strategies[i]->name))
			return i;
	return -1;
}

bool strategy_unavailable(const struct strategy *s, char *buf, size_t size)
{
	const char *na = s && s->unavailable ? s->unavailable() : NULL;

	snprintf(buf, size, "%s", na ? na : "");
	return na;
}

void state_free(struct strat_ctx *c)
{
	free(c->state);
	c->state = NULL;
}

/* ---- the raw strategies' apply, and the signalling protocols' state ---- */

/*
 * naive issues the ioctls with the vCPUs running; the others inside their
 * pause (qemu: only when deleted and added ranges overlap).  The dirty log
 * of what goes away is read before its DELETE, inside the pause if there
 * is one: when migrating, and for qemu always (QEMU's "best effort" sync).
 */
int raw_apply(struct strat_ctx *c, enum bop op, struct txn_sample *out)
{
	const struct strategy *s = c->s;
	struct sig_state *st = s->sync_before_delete ? c->state : NULL;
	struct raw_txn tx;
	uint64_t t0;
	int r = 0;

	raw_op(&c->l, op, &tx);
	t0 = bench_now_ns();
	if (s->pause && (!s->overlap_only || raw_overlap(&tx))) {
		r = s->pause(c, &out->pause_ns, &out->kicked);
		out->timeout = r == -ETIMEDOUT;
		out->paused = !r;
	}
	if (!r && (c->mig || st))
		r = read_log_before(c, &tx, st ? st->scratch : NULL, &out->ioctls);
	if (!r)
		r = raw_issue(c->m->vm_fd, &tx, &out->ioctls);
	if (out->paused) {
		out->held_ns = bench_now_ns() - t0;
		s->resume(c);
	}
	out->lat_ns = bench_now_ns() - t0;
	out->err = r;
	return r;
}

int sig_setup(struct strat_ctx *c, int sig, void (*handler)(int), size_t scratch_bytes)
{
	struct sig_state *st = calloc(1, sizeof(*st) + scratch_bytes);
	int r = st ? bench_install_handler(sig, handler, SA_RESTART) : -ENOMEM;

	if (r) {
		free(st);
		return r;
	}
	st->n = c->m->n;
	c->state = st;
	return 0;
}

void sig_resume(struct strat_ctx *c)
{
	struct sig_state *st = c->state;

	bench_futex_bump(&st->epoch, INT_MAX);
}

/* naive: raw_apply() without a pause, the ioctls while the vCPUs run. */
const struct strategy strat_naive = {
	.name = "naive",
	.what = "DELETE + CREATE while the vCPUs run: no pause at all",
	.raw_layout = true,
	.apply = raw_apply,
};

/* ---- kvmhold: the library -------------------------------------------------- */

static int kvmhold_apply(struct strat_ctx *c, enum bop op, struct txn_sample *out)
{
	struct kvmhold_stats a, b;
	uint64_t t0;
	int r;

	/*
	 * The kernel backend sends no signal: as for kernel-ioctl, its stop
	 * had to stop a running vCPU when some vCPU made guest progress since
	 * the last transaction (c->state, kvmhold-kernel only).
	 */
	bool moved = c->state && bvm_moved_since(c->m, c->state);

	kvmhold_stats_get(c->m->vm, &a, sizeof(a));
	t0 = bench_now_ns();
	r = kh_op(c->m->vm, &c->l, op, TXN_TIMEOUT_MS, NULL);
	out->lat_ns = bench_now_ns() - t0;
	kvmhold_stats_get(c->m->vm, &b, sizeof(b));
	if (c->state)
		bvm_progress_all(c->m, c->state);
	out->ioctls = (unsigned)(b.txn_ioctls - a.txn_ioctls);
	if (b.kicking_holds > a.kicking_holds) {
		out->paused = true;
		out->kicked = b.kick_backend == KVMHOLD_KICK_KERNEL ? moved :
			      b.signals_sent > a.signals_sent;
		out->pause_ns = b.last_hold_ns;
		out->held_ns = b.last_stopped_ns;    /* the commit's release ended it */
	}
	out->timeout = r == -ETIMEDOUT;
	out->err = r;
	return r;
}

const struct strategy strat_kvmhold = {
	.name = "kvmhold",
	.what = "the library: kvmhold_txn_* (holds the VM only when the plan needs it)",
	.tvm_loop = true,
	.apply = kvmhold_apply,
};

/* A VM the library made with the signal backend would measure the wrong thing. */
static int kvmhold_kernel_setup(struct strat_ctx *c)
{
	int r = kick_ioctl_check_backend(c->m->vm);

	if (r) {
		c->why = "the library did not choose the kernel kick backend (kick_backend)";
		return r;
	}
	return progress_setup(c);
}

const struct strategy strat_kvmhold_kernel = {
	.name = "kvmhold-kernel",
	.what = "the library with opts.kick = KVMHOLD_KICK_KERNEL: holds stop the vCPUs with "
		"KVM_KICK_ALL_RUNNING_VCPUS",
	.tvm_loop = true,
	.kick = KVMHOLD_KICK_KERNEL,
	.unavailable = kick_ioctl_unavailable,
	.setup = kvmhold_kernel_setup,
	.apply = kvmhold_apply,
	.teardown = state_free,
};

/* ---- ideal: the ioctls alone, the vCPUs already stopped ------------------- */

/*
 * The vCPUs run on tvm's threads through kvmhold_vcpu_run(), so a
 * kvmhold_hold() stops them; the test region is not the library's (raw
 * slots), so the library never touches it.  Only the ioctls are timed.
 */
static int ideal_apply(struct strat_ctx *c, enum bop op, struct txn_sample *out)
{
	struct raw_txn tx;
	uint64_t t0;
	int r;

	raw_op(&c->l, op, &tx);
	r = kvmhold_hold(c->m->vm, TXN_TIMEOUT_MS);
	if (r) {
		out->timeout = r == -ETIMEDOUT;
		out->err = r;
		return r;
	}
	/* Migrating: the dirty log is read under the hold, not timed. */
	r = c->mig ? read_log_before(c, &tx, NULL, &out->ioctls) : 0;
	t0 = bench_now_ns();
	out->err = r ? r : raw_issue(c->m->vm_fd, &tx, &out->ioctls);
	out->lat_ns = bench_now_ns() - t0;
	kvmhold_release(c->m->vm);
	return out->err;
}

const struct strategy strat_ideal = {
	.name = "ideal",
	.what = "reference: the same ioctls while the vCPUs are already stopped (ioctls timed)",
	.tvm_loop = true,
	.raw_layout = true,
	.apply = ideal_apply,
};
