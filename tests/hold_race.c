// SPDX-License-Identifier: MIT
/*
 * No lost kick: 10000 hold/release cycles, each hold racing the vCPUs'
 * re-entry into KVM_RUN after the previous release (the window of
 * cloud-hypervisor issue #7427: a signal between the last check and
 * KVM_RUN).  The guests never exit on their own (GUEST_PROG_COUNT), so a
 * lost kick leaves a vCPU in the guest and its hold times out.
 *
 * With the kernel backend (KVMHOLD_TEST_KICK=kernel) the kernel kick first
 * takes the vCPUs out of guest mode; the same mark and signal then end
 * KVM_RUN, so the same race is checked.
 *
 * Can fail: KVMHOLD_TEST_BREAK=immediate-exit (kicks by signal alone) loses
 * kicks in that window; KVMHOLD_TEST_BREAK=kick-signal cannot stop a vCPU
 * that is already in the guest.
 */
#include "hold_checks.h"

#define CYCLES 10000

static uint64_t seed = 0x9e3779b97f4a7c15ull;

static void random_spin(unsigned max_us)
{
	uint64_t until;

	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	until = tvm_now_ns() + (seed % max_us) * 1000;
	while (tvm_now_ns() < until)
		;
}

/*
 * Did a guest counter move since the last call (a vCPU ran in between, so
 * the next hold had a running vCPU to stop)?  The kernel backend's holds
 * send signals only to stragglers, so this is how its races are counted.
 */
static bool guests_ran_since(struct tvm *t, uint64_t last[2])
{
	bool ran = false;
	unsigned i;

	for (i = 0; i < 2; i++) {
		uint64_t c = tvm_counter(t, i);

		ran |= c != last[i];
		last[i] = c;
	}
	return ran;
}

/* Returns the random wait it ended with, so the next phase starts from it. */
static unsigned race(struct tvm *t, unsigned cycles, unsigned spin_us, const char *what)
{
	struct kvmhold_stats before, st;
	uint64_t start = tvm_now_ns(), max_ns = 0, last[2] = { 0, 0 };
	bool kernel = test_kick_kernel(t->vm);
	unsigned i, raced = 0, ran = 0;

	CHECK_OK(kvmhold_stats_get(t->vm, &before, sizeof(before)));
	for (i = 0; i < cycles; i++) {
		/*
		 * How long a parked vCPU takes to get back into the guest depends
		 * on the machine (much longer when the host itself is emulated,
		 * as in the nested lane): every 200 cycles, if fewer than a third
		 * of the holds found a vCPU to stop, widen the random wait.
		 */
		if (i && i % 200 == 0) {
			CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
			raced = kernel ? ran : (unsigned)(st.signals_sent - before.signals_sent);
			if (raced * 3 < i && spin_us < 20000)
				spin_us *= 2;
		}
		uint64_t t0 = tvm_now_ns(), took;
		int r;

		ran += guests_ran_since(t, last);
		r = kvmhold_hold(t->vm, 2000);

		if (r == -ETIMEDOUT) {
			struct kvmhold_straggler s[2];
			int n = kvmhold_hold_stragglers(t->vm, s, 2);

			CHECK(0, "%s, cycle %u: lost kick, %d vCPU(s) stayed in the guest (vCPU %lu)",
			      what, i, n, n > 0 ? s[0].vcpu_id : 0ul);
		}
		CHECK_OK(r);
		took = tvm_now_ns() - t0;
		if (took > max_ns)
			max_ns = took;
		CHECK_FROZEN(t, 0, 50);
		guests_ran_since(t, last);
		CHECK_OK(kvmhold_release(t->vm));
		/*
		 * Let the parked vCPUs wake for a random time, so that the next
		 * hold lands anywhere in their way back into the guest: parked,
		 * announcing, between the last check and KVM_RUN, in the guest.
		 */
		random_spin(spin_us);
	}
	CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
	st.signals_sent -= before.signals_sent;
	st.gate_waits -= before.gate_waits;
	CHECK((kernel ? ran : st.signals_sent) > cycles / 10 && st.gate_waits > cycles / 10,
	      "the holds did not race the vCPUs (%lu signals, %u met a vCPU that had run, "
	      "%lu parked)", (unsigned long)st.signals_sent, ran, (unsigned long)st.gate_waits);
	printf("%s: %u hold/release cycles racing re-entry on 2 vCPUs in %.2f s, no lost kick; "
	       "slowest hold %.0f us, %lu signals, %lu entries parked (random wait up to %u us)\n",
	       what, cycles, (tvm_now_ns() - start) / 1e9, max_ns / 1e3,
	       (unsigned long)st.signals_sent, (unsigned long)st.gate_waits, spin_us);
	return spin_us;
}

int main(void)
{
	struct tvm_opts o = { .nr_vcpus = 2, .program = GUEST_PROG_COUNT, .quiet = true };
	struct tvm *t;
	unsigned spin;

	test_apply_breakage();
	t = start_tvm(&o);
	spin = race(t, CYCLES, 128, "natural window");
	/*
	 * The window between a vCPU's last check and KVM_RUN is a few hundred
	 * nanoseconds; widened to 30 us, most holds land in it.
	 */
	__atomic_store_n(&kvmhold_test_entry_delay_ns, 30000, __ATOMIC_RELAXED);
	race(t, 2000, spin > 160 ? spin : 160, "window widened to 30 us");
	__atomic_store_n(&kvmhold_test_entry_delay_ns, 0, __ATOMIC_RELAXED);
	CHECK_ALL_MOVE(t);
	finish_tvm(t);
	return 0;
}
