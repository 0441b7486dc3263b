// SPDX-License-Identifier: MIT
/*
 * A kick gets a vCPU back in every state, with either kick backend: from
 * the guest, and from the park of a hold, while the hold stays in force
 * (the VMM that holds, kicks and joins its vCPU threads must not hang);
 * called from another thread and from a signal handler.  A kicked vCPU
 * that calls kvmhold_vcpu_run() again while held parks again.  A holder
 * can issue vCPU ioctls on a held vCPU (the kernel backend used to keep
 * held vCPUs inside KVM_RUN, with their vcpu->mutex).  A vCPU thread that
 * waits for the release in a gated ioctl of its vCPU (exit handling) is
 * brought back by a kick too: the ioctl returns -EINTR; and so is one that
 * waits inside kvmhold_vcpu_run() after a full dirty ring, to reset it.
 *
 * Can fail: KVMHOLD_TEST_BREAK=park-exits makes a parked vCPU wait for the
 * release whatever happens; the kick from the park then never returns
 * while held.
 */
#include <signal.h>
#include <stdatomic.h>
#include <sched.h>
#include <linux/kvm.h>

#include "hold_checks.h"
#include "test_hooks.h"

static struct kvmhold_vcpu *signal_target;

/* A VMM's own signal handler that kicks (async-signal-safe by contract). */
static void kick_from_handler(int sig)
{
	(void)sig;
	kvmhold_vcpu_kick(signal_target);
}

/* kick: 0 from this thread, 1 from a signal handler on this thread. */
static void kick(struct tvm *t, int how)
{
	if (how == 0)
		CHECK_OK(kvmhold_vcpu_kick(tvm_vcpu(t, 0)));
	else
		CHECK_OK(raise(SIGUSR1));
}

static void parked_kicks(struct tvm *t, int how, unsigned rounds)
{
	struct kvm_regs regs;
	uint64_t worst = 0;
	unsigned i;

	for (i = 0; i < rounds; i++) {
		uint64_t e0, t0;

		CHECK_OK(kvmhold_hold(t->vm, 10000));
		CHECK(wait_parked(t), "vCPU not parked 5 s after the hold");
		/* The holder can read a held vCPU's registers. */
		CHECK_OK(kvmhold_vcpu_ioctl(tvm_vcpu(t, 0), KVM_GET_REGS, &regs));
		e0 = eintr_count_of(t, 0);
		t0 = tvm_now_ns();
		kick(t, how);
		CHECK(wait_eintr_after(t, e0),
		      "kick %s: the parked vCPU did not return within 5 s of the kick",
		      how ? "from a signal handler" : "from a thread");
		if (tvm_now_ns() - t0 > worst)
			worst = tvm_now_ns() - t0;
		/* Back in kvmhold_vcpu_run() while still held: it parks again. */
		CHECK(wait_parked(t), "kicked vCPU did not park again while held");
		CHECK_RET(kvmhold_is_held(t->vm), 1);
		CHECK_FROZEN(t, 0, 1000);
		CHECK_OK(kvmhold_release(t->vm));
		CHECK_ALL_MOVE(t);
	}
	printf("parked vCPU kicked %s: returned -EINTR while held %u/%u times "
	       "(slowest %.0f us), parked again, ran after the release\n",
	       how ? "from a signal handler" : "from a thread", rounds, rounds, worst / 1e3);
}

static void running_kicks(struct tvm *t, int how, unsigned rounds)
{
	unsigned i;

	for (i = 0; i < rounds; i++) {
		uint64_t e0 = eintr_count_of(t, 0);

		kick(t, how);
		CHECK(wait_eintr_after(t, e0), "kick %s: the running vCPU did not return",
		      how ? "from a signal handler" : "from a thread");
		CHECK_OK(tvm_wait_counter_moves(t, 0, 10000));
	}
	printf("running vCPU kicked %s: -EINTR %u/%u times\n",
	       how ? "from a signal handler" : "from a thread", rounds, rounds);
}

/* The vCPU thread in exit handling: a gated ioctl of its vCPU while held. */
static atomic_int ioctl_step, ioctl_result;

static void on_sync(struct tvm *t, unsigned idx, uint64_t arg, void *cookie)
{
	struct kvm_translation tr = { .linear_address = 0 };

	(void)arg;
	(void)cookie;
	if (atomic_load(&ioctl_step) != 1)
		return;
	atomic_store(&ioctl_step, 2);           /* in the handler */
	while (atomic_load(&ioctl_step) != 3)   /* until the VM is held */
		sched_yield();
	atomic_store(&ioctl_result, kvmhold_vcpu_ioctl(tvm_vcpu(t, idx), KVM_TRANSLATE, &tr));
	atomic_store(&ioctl_step, 4);
}

static void kick_in_ioctl(void)
{
	struct tvm_opts o = {
		.nr_vcpus = 1, .program = GUEST_PROG_COUNT_SYNC, .sync_every = 200,
		.on_sync = on_sync,
	};
	struct tvm *t = start_tvm(&o);
	uint64_t end;

	atomic_store(&ioctl_step, 1);
	while (atomic_load(&ioctl_step) != 2)
		sched_yield();
	CHECK_OK(kvmhold_hold(t->vm, 10000));    /* the vCPU thread is out: in its handler */
	atomic_store(&ioctl_step, 3);
	CHECK(wait_parked(t), "the gated ioctl did not wait for the release");
	CHECK_OK(kvmhold_vcpu_kick(tvm_vcpu(t, 0)));
	end = tvm_now_ns() + 5000000000ull;
	while (atomic_load(&ioctl_step) != 4 && tvm_now_ns() < end)
		sched_yield();
	CHECK(atomic_load(&ioctl_step) == 4, "kicked vCPU thread still waits in its ioctl");
	CHECK_RET(atomic_load(&ioctl_result), -EINTR);
	CHECK_RET(kvmhold_is_held(t->vm), 1);
	CHECK_OK(kvmhold_release(t->vm));
	CHECK_ALL_MOVE(t);
	finish_tvm(t);
	printf("vCPU thread waiting in a gated ioctl of its vCPU: a kick returned it "
	       "(-EINTR) while held\n");
}

/*
 * Dirty ring full: the run loop harvests, then waits at the gate to reset
 * the ring.  The hold lands right there (a test hook holds the thread
 * between the two for 100 ms after each full ring), and the kick must get
 * the thread out.
 */
static void kick_in_ring_full(void)
{
	struct tvm_opts o = {
		.nr_vcpus = 1, .program = GUEST_PROG_WALK, .test_size = 1 << 20,
		.map_test_region = true, .test_slot_flags = KVM_MEM_LOG_DIRTY_PAGES,
		.walk_flags = TVM_WALK_NO_ASSERT,
		.vm_opts = { .dirty_ring_bytes = 4096 }, .quiet = true,
	};
	struct tvm *t = start_tvm(&o);
	struct kvmhold_stats st;
	unsigned round;

	__atomic_store_n(&kvmhold_test_ring_full_delay_ns, 100000000u, __ATOMIC_RELAXED);
	for (round = 0; round < 5; round++) {
		uint64_t full0, e0, end = tvm_now_ns() + 5000000000ull;

		CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
		full0 = st.ring_full_exits;
		do {    /* until the vCPU is between its harvest and the gate */
			CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
			CHECK(tvm_now_ns() < end, "the ring never filled up");
			sched_yield();
		} while (st.ring_full_exits == full0);
		CHECK_OK(kvmhold_hold(t->vm, 10000));
		CHECK(wait_parked(t), "the ring reset did not wait for the release");
		e0 = eintr_count_of(t, 0);
		CHECK_OK(kvmhold_vcpu_kick(tvm_vcpu(t, 0)));
		CHECK(wait_eintr_after(t, e0), "kick lost while the vCPU waited to reset its ring");
		CHECK_OK(kvmhold_release(t->vm));
	}
	__atomic_store_n(&kvmhold_test_ring_full_delay_ns, 0, __ATOMIC_RELAXED);
	finish_tvm(t);
	printf("vCPU waiting to reset its full dirty ring: 5 kicks returned it while held\n");
}

int main(void)
{
	struct tvm_opts o = { .nr_vcpus = 1, .program = GUEST_PROG_COUNT };
	struct sigaction sa = { .sa_handler = kick_from_handler, .sa_flags = SA_RESTART };
	struct tvm *t;

	test_apply_breakage();
	t = start_tvm(&o);
	signal_target = tvm_vcpu(t, 0);
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
	running_kicks(t, 0, 20);
	running_kicks(t, 1, 20);
	parked_kicks(t, 0, 20);
	parked_kicks(t, 1, 20);
	finish_tvm(t);
	kick_in_ioctl();
	kick_in_ring_full();
	return 0;
}
