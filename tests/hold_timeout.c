// SPDX-License-Identifier: MIT
/*
 * A vCPU kept inside KVM on purpose (its thread blocks the kick signal, so
 * neither immediate_exit, which KVM reads only on entry, nor the signal
 * gets it out) makes a hold fail with -ETIMEDOUT.
 * The failed hold undoes itself: the other vCPU runs again, nothing is
 * held, and the diagnostics name the vCPU that stayed in and since when.
 *
 * With the kernel backend (KVMHOLD_TEST_KICK=kernel) KVM takes vCPU 1 out
 * of guest mode and back to userspace whatever its signal mask, so the
 * hold succeeds; the timeout is then shown with a device thread that stays
 * in a mem section, and after it KVM must have resumed its stop.
 *
 * Can fail: the test checks the -ETIMEDOUT, the straggler record and that
 * the VM runs afterwards; each check fails if its mechanism is missing.
 * KVMHOLD_TEST_BREAK=timeout-undo leaves the timed-out hold in place (the
 * vCPUs never run again); with the kernel backend, kernel-kick (vCPU 1
 * then stays in the guest and the first hold times out).
 */
#include <pthread.h>
#include <signal.h>

#include "hold_checks.h"

#define TIMEOUT_MS 300
#define KICK_SIGNAL (SIGRTMIN + 7)

/*
 * Not KVM_SET_SIGNAL_MASK: the machine's kvm_pvm backend lets a signal
 * blocked that way interrupt KVM_RUN anyway (seen here), while a signal the
 * thread itself blocks stays pending.
 */
struct vcpu_thread {
	struct tvm *t;
	unsigned idx;
	bool block_kick;
	pthread_t thread;
};

static void *run_vcpu(void *arg)
{
	struct vcpu_thread *v = arg;

	if (v->block_kick) {
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, KICK_SIGNAL);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
	}
	tvm_run_vcpu(v->t, v->idx);
	return NULL;
}

/*
 * A hold that must run out of time, undo itself and count who stayed in.
 * Returns how long it took, in ms.
 */
static uint64_t hold_times_out(struct tvm *t, unsigned want_vcpus, unsigned want_others,
			       struct kvmhold_stats *st)
{
	uint64_t t0 = tvm_now_ms(), took_ms;

	CHECK_RET(kvmhold_hold(t->vm, TIMEOUT_MS), -ETIMEDOUT);
	took_ms = tvm_now_ms() - t0;
	CHECK(took_ms >= TIMEOUT_MS - 5, "gave up after %lu ms", (unsigned long)took_ms);
	CHECK_RET(kvmhold_is_held(t->vm), 0);
	CHECK_OK(kvmhold_stats_get(t->vm, st, sizeof(*st)));
	CHECK(st->hold_timeouts == 1 && st->timeout_vcpus == want_vcpus &&
	      st->timeout_others == want_others, "timeouts %lu, vcpus %u, others %u",
	      (unsigned long)st->hold_timeouts, st->timeout_vcpus, st->timeout_others);
	return took_ms;
}

/*
 * Kernel backend: vCPU 1 (kick signal blocked) is stopped anyway; a mem
 * section makes the hold time out, and KVM's stop is undone with it.
 */
static void kernel_backend(struct tvm *t)
{
	struct section_thread sec = { .vm = t->vm };
	struct kvmhold_stats st;
	uint64_t took_ms;

	CHECK_OK(kvmhold_hold(t->vm, TIMEOUT_MS));
	/*
	 * 50 ms: a single window must see a vCPU that runs, also where the
	 * host is emulated and threads wait milliseconds for a CPU.
	 */
	CHECK_FROZEN(t, 0, 50000);
	CHECK_OK(kvmhold_release(t->vm));
	CHECK_ALL_MOVE(t);

	section_enter(&sec);
	took_ms = hold_times_out(t, 0, 1, &st);
	CHECK(st.kernel_resume_errors == 0, "%u resume errors", st.kernel_resume_errors);
	/* The vCPUs KVM stopped run again although the section is still open. */
	CHECK_ALL_MOVE(t);
	section_leave(&sec);
	printf("kernel backend: vCPU 1 with the kick signal blocked stopped by KVM; "
	       "a mem section made the hold time out after %lu ms, vCPUs resumed\n",
	       (unsigned long)took_ms);
}

int main(void)
{
	struct tvm_opts o = {
		.nr_vcpus = 2, .program = GUEST_PROG_COUNT,
		.vm_opts = { .kick_signal = KICK_SIGNAL },
	};
	struct vcpu_thread threads[2];
	struct kvmhold_straggler s[2];
	struct kvmhold_stats st;
	struct tvm *t;
	uint64_t took_ms;
	int n, i;

	test_apply_breakage();
	CHECK_OK(tvm_create(&o, &t));
	for (i = 0; i < 2; i++) {
		threads[i] = (struct vcpu_thread){ .t = t, .idx = i, .block_kick = i == 1 };
		CHECK(pthread_create(&threads[i].thread, NULL, run_vcpu, &threads[i]) == 0,
		      "pthread_create");
	}
	CHECK_ALL_MOVE(t);
	check_kick_backend(t->vm);
	if (test_kick_kernel(t->vm)) {
		kernel_backend(t);
		goto out;
	}

	took_ms = hold_times_out(t, 1, 0, &st);
	n = kvmhold_hold_stragglers(t->vm, s, 2);
	CHECK(n == 1, "%d stragglers", n);
	CHECK(s[0].vcpu_id == 1, "straggler is vCPU %lu", s[0].vcpu_id);
	CHECK(s[0].tid == tvm_vcpu_tid(t, 1), "straggler thread %d, want %d", s[0].tid,
	      tvm_vcpu_tid(t, 1));
	CHECK(s[0].inside_ns >= (uint64_t)(TIMEOUT_MS - 5) * 1000000,
	      "inside for %lu ns only", (unsigned long)s[0].inside_ns);
	CHECK(s[0].entered_ns && s[0].entered_ns + s[0].inside_ns == st.timeout_at_ns,
	      "entered %lu + inside %lu != timeout at %lu", (unsigned long)s[0].entered_ns,
	      (unsigned long)s[0].inside_ns, (unsigned long)st.timeout_at_ns);

	/* Everybody resumed: both guests run. */
	CHECK_ALL_MOVE(t);
	printf("hold with vCPU 1 kept in KVM: -ETIMEDOUT after %lu ms, straggler vCPU %lu "
	       "(thread %d, inside %.0f ms), VM running again\n", (unsigned long)took_ms,
	       s[0].vcpu_id, s[0].tid, s[0].inside_ns / 1e6);

out:
	/* The stop flag still gets the stuck guest out. */
	__atomic_store_n(&t->shared->stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < 2; i++)
		pthread_join(threads[i].thread, NULL);
	CHECK(tvm_failures(t) == 0, "guest failures: %s", tvm_failure_msg(t, 0));
	tvm_destroy(t);
	return 0;
}
