// SPDX-License-Identifier: MIT
/*
 * cloud-hypervisor's pause (vmm/src/cpu.rs), re-implemented from its
 * description: set the pause flag, signal every vCPU thread with SIGRTMIN (an
 * empty handler), re-send every 10 ms to those that have not acknowledged,
 * give up after 1000 ms.  The vCPU checks the flag before each KVM_RUN; if set,
 * it acknowledges and parks until the resume.  There is no immediate_exit, so a
 * signal landing between the check and KVM_RUN is lost (cloud-hypervisor issue
 * #7427) and only the 10 ms re-send recovers it (seen in the pause latency's tail).
 *
 * Acknowledgements carry the pause's epoch, so a vCPU still waking up from
 * the previous pause is never mistaken for one that stopped for this one.
 * The pauser sleeps on a futex between re-sends (no polling delay), so this
 * is the protocol at its best.
 */
#include <errno.h>
#include <signal.h>

#include "bench.h"

#define CH_SIG     SIGRTMIN
#define RESEND_NS  (10ull * 1000000)
#define TIMEOUT_NS (1000ull * 1000000)

/*
 * vCPU side, before each KVM_RUN: if paused, acknowledge this pause (its
 * epoch) and sleep until the epoch moves on; a new pause that starts before
 * this vCPU woke gets a new acknowledgement.  parked is for the report only.
 */
static void ch_before_run(struct bvcpu *v)
{
	struct sig_state *c = v->m->proto;
	uint32_t e = __atomic_load_n(&c->epoch, __ATOMIC_SEQ_CST);

	if (!(e & 1))
		return;
	__atomic_fetch_add(&c->parked, 1, __ATOMIC_SEQ_CST);
	while (e & 1) {
		if (__atomic_load_n(&v->ack_gen, __ATOMIC_SEQ_CST) != e) {
			__atomic_store_n(&v->ack_gen, e, __ATOMIC_SEQ_CST);
			bench_futex_bump(&c->event, 1);
		}
		bench_futex_wait(&c->epoch, e, 0);
		e = __atomic_load_n(&c->epoch, __ATOMIC_SEQ_CST);
	}
	__atomic_fetch_sub(&c->parked, 1, __ATOMIC_SEQ_CST);
}

static const struct vcpu_hooks ch_hooks = { .before_run = ch_before_run };

static int ch_pause(struct strat_ctx *sc, uint64_t *pause_ns, bool *kicked)
{
	struct sig_state *c = sc->state;
	struct bvm *m = sc->m;
	uint64_t t0 = bench_now_ns(), sent = t0, now;
	uint32_t e;
	unsigned i;

	*kicked = __atomic_load_n(&c->parked, __ATOMIC_SEQ_CST) < c->n;
	e = __atomic_add_fetch(&c->epoch, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < m->n; i++)
		bench_tgkill(m->v[i].tid, CH_SIG);
	for (;;) {
		uint32_t ev = __atomic_load_n(&c->event, __ATOMIC_SEQ_CST);
		bool all = true;

		for (i = 0; i < m->n && all; i++)
			all = __atomic_load_n(&m->v[i].ack_gen, __ATOMIC_SEQ_CST) == e;
		now = bench_now_ns();
		if (all)
			break;
		if (now - t0 >= TIMEOUT_NS) {
			sig_resume(sc);
			return -ETIMEDOUT;
		}
		if (now - sent >= RESEND_NS) {
			for (i = 0; i < m->n; i++)
				if (__atomic_load_n(&m->v[i].ack_gen, __ATOMIC_SEQ_CST) != e)
					bench_tgkill(m->v[i].tid, CH_SIG);
			sent = now;
		}
		bench_futex_wait(&c->event, ev, sent + RESEND_NS - now);
	}
	*pause_ns = now - t0;
	return 0;
}

static int ch_setup(struct strat_ctx *c)
{
	return sig_setup(c, CH_SIG, bench_empty_handler, 0);
}

const struct strategy strat_ch = {
	.name = "cloud-hypervisor",
	.what = "cloud-hypervisor's pause: empty-handler SIGRTMIN re-sent every 10 ms "
		"until acknowledged, 1 s timeout",
	.raw_layout = true,
	.hooks = &ch_hooks,
	.setup = ch_setup,
	.pause = ch_pause,
	.resume = sig_resume,
	.apply = raw_apply,
	.teardown = state_free,
};
