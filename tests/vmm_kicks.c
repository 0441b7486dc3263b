// SPDX-License-Identifier: MIT
/*
 * The VMM's own ways to get a vCPU back are never swallowed by the
 * library, with holds coming and going: immediate_exit = 1 written by the
 * VMM (from another thread, or from its signal handler as QEMU does), and
 * a signal of the VMM's own whose handler only sets a flag, whether it
 * interrupts KVM_RUN or a hold's park.  Each must make kvmhold_vcpu_run()
 * return -EINTR; the test VMM then clears its 1, as a VMM does.
 *
 * Also after a hold whose signal arrived late, while the vCPU was already
 * parked: that signal must not make the VMM's next signal look like the
 * library's.
 *
 * Can fail: KVMHOLD_TEST_BREAK=ie-owner (the library takes any non-zero
 * immediate_exit for its own and clears it) loses the VMM's kicks;
 * KVMHOLD_TEST_BREAK=park-exits keeps a parked vCPU parked through them;
 * KVMHOLD_TEST_BREAK=kicks-sample counts the library's signals from
 * before the park, and the late one swallows the VMM's.
 */
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "hold_checks.h"
#include "test_hooks.h"

static struct kvm_run *vcpu_run;
static volatile sig_atomic_t vmm_flag;
static atomic_bool stop_holding;

/* QEMU style: the handler asks KVM to leave through immediate_exit. */
static void handler_sets_immediate_exit(int sig)
{
	struct kvm_run *run = __atomic_load_n(&vcpu_run, __ATOMIC_ACQUIRE);

	(void)sig;
	if (run)
		__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
}

/* A VMM whose handler only records the request (kvmtool style). */
static void handler_sets_flag(int sig)
{
	(void)sig;
	vmm_flag = 1;
}

static void signal_vcpu(struct tvm *t, int sig)
{
	CHECK(syscall(SYS_tgkill, getpid(), tvm_vcpu_tid(t, 0), sig) == 0, "tgkill");
}

static void *holder(void *arg)
{
	struct tvm *t = arg;

	while (!atomic_load(&stop_holding)) {
		CHECK_OK(kvmhold_hold(t->vm, 10000));
		CHECK_OK(kvmhold_release(t->vm));
		sched_yield();
	}
	return NULL;
}

/* VMM kicks while another thread holds and releases in a loop. */
static void kicks_under_holds(struct tvm *t, unsigned rounds)
{
	pthread_t h;
	unsigned i;

	atomic_store(&stop_holding, false);
	CHECK(pthread_create(&h, NULL, holder, t) == 0, "pthread_create");
	for (i = 0; i < rounds; i++) {
		uint64_t e0 = eintr_count_of(t, 0);

		if (i % 2)
			__atomic_store_n(&vcpu_run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		signal_vcpu(t, SIGUSR1);          /* its handler writes 1 too */
		CHECK(wait_eintr_after(t, e0), "VMM kick %u of %u lost (holds running)",
		      i + 1, rounds);
	}
	atomic_store(&stop_holding, true);
	pthread_join(h, NULL);
	printf("%u VMM kicks (immediate_exit = 1, signal) under a hold loop: all returned -EINTR\n",
	       rounds);
}

/* The VMM's flag-only signal, during the guest and during a park. */
static void flag_signals(struct tvm *t, unsigned rounds)
{
	unsigned i;

	for (i = 0; i < rounds; i++) {
		uint64_t e0 = eintr_count_of(t, 0);

		CHECK_OK(tvm_wait_counter_moves(t, 0, 10000));
		signal_vcpu(t, SIGUSR2);
		CHECK(wait_eintr_after(t, e0), "VMM signal in the guest: no -EINTR");

		CHECK_OK(kvmhold_hold(t->vm, 10000));
		/*
		 * Asleep, not only counted as parked: the hold's own signal
		 * has been handled by then (it was sent before kvmhold_hold()
		 * returned), and a flag-only handler that ran before the wait
		 * would not be seen (the window gate.c describes).
		 */
		CHECK(wait_parked_asleep(t, tvm_vcpu_tid(t, 0)), "not parked");
		e0 = eintr_count_of(t, 0);
		signal_vcpu(t, SIGUSR2);
		CHECK(wait_eintr_after(t, e0), "VMM signal during the park: no -EINTR while held");
		CHECK(wait_parked(t), "not parked again");
		e0 = eintr_count_of(t, 0);
		__atomic_store_n(&vcpu_run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		CHECK(wait_eintr_after(t, e0),
		      "VMM immediate_exit during the park: no -EINTR while held");
		CHECK_RET(kvmhold_is_held(t->vm), 1);
		CHECK_OK(kvmhold_release(t->vm));
	}
	CHECK(vmm_flag, "the VMM's handler never ran");
	printf("%u rounds: the VMM's flag-only signal ended KVM_RUN and the park, its "
	       "immediate_exit ended the park, each while held\n", rounds);
}

/*
 * A hold's signal that lands while the vCPU is already parked: the vCPU is
 * held up between its announcement and KVM_RUN (entry delay), so the
 * hold's mark stops it; the hold's signal is held up (kick delay) until the
 * vCPU parked.  After the release, the VMM's flag-only signal must still
 * give -EINTR.
 */
static void late_hold_signal(struct tvm *t)
{
	uint64_t e0 = eintr_count_of(t, 0);

	__atomic_store_n(&kvmhold_test_entry_delay_ns, 200000000u, __ATOMIC_RELAXED);
	CHECK_OK(kvmhold_vcpu_kick(tvm_vcpu(t, 0)));     /* re-enter: into the delay */
	CHECK(wait_eintr_after(t, e0), "kick lost");
	/*
	 * The hold must come while the vCPU is announced: in the entry delay
	 * of its next kvmhold_vcpu_run(), which begins after the -EINTR.
	 */
	CHECK(wait_in_test_delay(), "the vCPU never reached its entry delay");
	__atomic_store_n(&kvmhold_test_kick_delay_ns, 400000000u, __ATOMIC_RELAXED);
	CHECK_OK(kvmhold_hold(t->vm, 10000));            /* mark, 400 ms, signal */
	__atomic_store_n(&kvmhold_test_entry_delay_ns, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&kvmhold_test_kick_delay_ns, 0, __ATOMIC_RELAXED);
	CHECK_OK(kvmhold_release(t->vm));
	CHECK_OK(tvm_wait_counter_moves(t, 0, 10000));
	e0 = eintr_count_of(t, 0);
	signal_vcpu(t, SIGUSR2);
	CHECK(wait_eintr_after(t, e0), "the VMM's signal after a late hold signal was swallowed");
	printf("a hold's signal that arrived during the park did not swallow the VMM's next\n");
}

int main(void)
{
	struct tvm_opts o = { .nr_vcpus = 1, .program = GUEST_PROG_COUNT };
	struct sigaction sa = { .sa_flags = SA_RESTART };
	struct tvm *t;

	test_apply_breakage();
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = handler_sets_immediate_exit;
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
	sa.sa_handler = handler_sets_flag;
	CHECK(sigaction(SIGUSR2, &sa, NULL) == 0, "sigaction");
	t = start_tvm(&o);
	__atomic_store_n(&vcpu_run, kvmhold_vcpu_kvm_run(tvm_vcpu(t, 0)), __ATOMIC_RELEASE);
	kicks_under_holds(t, 300);
	flag_signals(t, 20);
	late_hold_signal(t);
	finish_tvm(t);
	return 0;
}
