// SPDX-License-Identifier: MIT
/*
 * kvmtool's pause (kvm__pause() in kvm.c, the vCPU side in kvm-cpu.c),
 * re-implemented from its description: the pauser sends SIGRTMIN + 1 to every
 * vCPU thread and waits until each reports in; the vCPU parks *inside the
 * signal handler* until the resume.  No immediate_exit: wherever the signal
 * lands (in KVM_RUN, which returns, or in userspace), the handler parks there.
 *
 * kvmtool itself changes memslots without pausing (that is "naive"); this
 * line is its pause mechanism wrapped around the same change.
 *
 * The handler uses only atomics and raw futex calls (async-signal-safe).
 */
#include <errno.h>
#include <signal.h>

#include "bench.h"

#define KVMTOOL_SIG (SIGRTMIN + 1)
#define GUARD_NS    (5000ull * 1000000)   /* kvmtool waits forever: a hang guard */

/* The handler finds the VM here; one kvmtool-style VM exists at a time. */
static struct sig_state *current;

/* Parks until the pause it was sent for is over (the epoch moved on). */
static void park_in_handler(int sig)
{
	struct sig_state *k = __atomic_load_n(&current, __ATOMIC_ACQUIRE);
	uint32_t e;

	(void)sig;
	if (!k)
		return;
	e = __atomic_load_n(&k->epoch, __ATOMIC_SEQ_CST);
	if (!(e & 1))
		return;
	bench_futex_bump(&k->parked, 1);
	while (__atomic_load_n(&k->epoch, __ATOMIC_SEQ_CST) == e)
		bench_futex_wait(&k->epoch, e, 0);
	__atomic_fetch_sub(&k->parked, 1, __ATOMIC_SEQ_CST);
}

/*
 * A thread still inside the handler from the last pause counts as parked:
 * it is, and this pause's signal stays pending (blocked in its own handler)
 * and parks it again as soon as it returns.
 */
static int kvmtool_pause(struct strat_ctx *c, uint64_t *pause_ns, bool *kicked)
{
	struct sig_state *k = c->state;
	struct bvm *m = c->m;
	uint64_t t0 = bench_now_ns(), now;
	unsigned i;

	*kicked = __atomic_load_n(&k->parked, __ATOMIC_SEQ_CST) < k->n;
	__atomic_fetch_add(&k->epoch, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < m->n; i++)
		bench_tgkill(m->v[i].tid, KVMTOOL_SIG);
	for (;;) {
		uint32_t p = __atomic_load_n(&k->parked, __ATOMIC_SEQ_CST);

		now = bench_now_ns();
		if (p >= k->n)
			break;
		if (now - t0 >= GUARD_NS) {
			sig_resume(c);
			return -ETIMEDOUT;
		}
		bench_futex_wait(&k->parked, p, GUARD_NS - (now - t0));
	}
	*pause_ns = now - t0;
	return 0;
}

static int kvmtool_setup(struct strat_ctx *c)
{
	int r = sig_setup(c, KVMTOOL_SIG, park_in_handler, 0);

	if (!r)
		__atomic_store_n(&current, c->state, __ATOMIC_RELEASE);
	return r;
}

/* After the vCPU threads are gone. */
static void kvmtool_teardown(struct strat_ctx *c)
{
	__atomic_store_n(&current, NULL, __ATOMIC_RELEASE);
	state_free(c);
}

/* No hooks: the vCPU loop itself has nothing to do, the handler does it all. */
const struct strategy strat_kvmtool = {
	.name = "kvmtool",
	.what = "kvmtool's pause: SIGRTMIN+1, each vCPU parks inside its signal handler",
	.raw_layout = true,
	.setup = kvmtool_setup,
	.pause = kvmtool_pause,
	.resume = sig_resume,
	.apply = raw_apply,
	.teardown = kvmtool_teardown,
};
