// SPDX-License-Identifier: MIT
/*
 * The floor (tools/README.md): bare signal-to-EINTR round trips on raw
 * KVM_RUN loops of ours, the least any pause costs; with N vCPUs, all
 * signalled at once and timed until the last has returned.
 *
 * A signalled vCPU waits (on a futex) until the main thread has taken the time,
 * as a held vCPU would, instead of going straight back into the guest.
 * Signalling one vCPU of several while the others keep running is not measured:
 * with as many busy vCPUs as cores, the woken main thread then waits for a core
 * until the next scheduler tick (a thread inside the guest is not preempted at
 * once on this machine's KVM), and the floor would measure the tick (ms), not the signal.
 */
#include <errno.h>
#include <signal.h>

#include "bench.h"

#define FLOOR_WAIT_NS   (2000ull * 1000000)  /* a signal that got lost: 2 s */
/* An empty handler of ours, never the library's (its default is SIGRTMIN + 4). */
#define FLOOR_SIGNAL    (SIGRTMIN + 2)

static void floor_after_run(struct bvcpu *v, int r, int err)
{
	if (r < 0 && err == EINTR) {
		bench_futex_bump(&v->eintr_seq, 1);
		while (!__atomic_load_n(&v->floor_go, __ATOMIC_SEQ_CST))
			bench_futex_wait(&v->floor_go, 0, 0);
		__atomic_store_n(&v->floor_go, 0, __ATOMIC_SEQ_CST);
	}
}

const struct vcpu_hooks floor_hooks = { .after_run = floor_after_run };

/* Back into KVM_RUN (harmless if it is not waiting: it then does not park). */
void floor_let_go(struct bvcpu *v)
{
	__atomic_store_n(&v->floor_go, 1, __ATOMIC_SEQ_CST);
	bench_futex_wake(&v->floor_go, 1);
}

int floor_wait_return(struct bvcpu *v, uint32_t seq, uint64_t deadline)
{
	while (__atomic_load_n(&v->eintr_seq, __ATOMIC_SEQ_CST) == seq) {
		uint64_t now = bench_now_ns();

		if (now >= deadline)
			return -ETIMEDOUT;
		bench_futex_wait(&v->eintr_seq, seq, deadline - now);
	}
	return __atomic_load_n(&v->state, __ATOMIC_ACQUIRE) == TVM_VCPU_RUNNING ? 0 : -ESRCH;
}

/* One sample over all vCPUs of m; 0 if a signal got lost. */
static uint64_t one_round_trip(struct bvm *m, int sig)
{
	uint32_t seq[TVM_MAX_VCPUS];
	uint64_t t0, t1 = 0;
	unsigned i;

	for (i = 0; i < m->n; i++)
		seq[i] = __atomic_load_n(&m->v[i].eintr_seq, __ATOMIC_SEQ_CST);
	t0 = bench_now_ns();
	for (i = 0; i < m->n; i++)
		bench_tgkill(m->v[i].tid, sig);
	for (i = 0; i < m->n; i++)
		if (floor_wait_return(&m->v[i], seq[i], t0 + FLOOR_WAIT_NS))
			break;
	if (i == m->n)
		t1 = bench_now_ns();
	for (i = 0; i < m->n; i++)
		floor_let_go(&m->v[i]);
	return !t1 ? 0 : t1 - t0 ? t1 - t0 : 1;
}

int floor_measure(unsigned vcpus, unsigned nr, struct samples *s, unsigned *resends)
{
	struct bvm_opts o = { .vcpus = vcpus, .program = GUEST_PROG_COUNT };
	size_t want = s->n + nr;
	unsigned lost = 0;
	struct bvm *m;
	int r;

	r = bench_install_handler(FLOOR_SIGNAL, bench_empty_handler, SA_RESTART);
	if (!r)
		r = bvm_create(&o, &m);
	if (r)
		return r;
	r = bvm_start(m, false, &floor_hooks, NULL, MOVE_TIMEOUT_MS);
	while (!r && s->n < want) {
		uint64_t ns;

		r = bvm_wait_all_moved(m, MOVE_TIMEOUT_MS);
		if (r)
			break;
		ns = one_round_trip(m, FLOOR_SIGNAL);
		if (!ns) {
			(*resends)++;
			if (++lost > nr)
				r = -ETIMEDOUT;
			continue;
		}
		r = samples_add(s, ns);
		if (!(s->n % 16))
			bench_progress("floor: %u vCPU(s), %zu samples", vcpus, s->n);
	}
	if (!r && bvm_failure(m))
		r = -EIO;
	bvm_destroy(m);
	return r;
}
