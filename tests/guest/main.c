// SPDX-License-Identifier: MIT
/* C entry point (called from start.S) and the exception reporter. */
#include "guest.h"

void guest_main(unsigned idx, struct tvm_shared *sh);
void guest_exception(uint64_t vector, uint64_t error, uint64_t rip);

void guest_main(unsigned idx, struct tvm_shared *sh)
{
	GUEST_ASSERT_EQ(sh->magic, TVM_SHARED_MAGIC);
	GUEST_ASSERT_2(idx < sh->nr_vcpus, idx, sh->nr_vcpus);
	WRITE_ONCE(sh->vcpu[idx].started, 1);

	switch (READ_ONCE(sh->program)) {
	case GUEST_PROG_NONE:
		break;
	case GUEST_PROG_COUNT:
		prog_count(sh, idx, 0);
		break;
	case GUEST_PROG_COUNT_SYNC:
		prog_count(sh, idx, 1);
		break;
	case GUEST_PROG_HALT:
		prog_halt(sh, idx);
		break;
	case GUEST_PROG_WALK:
		prog_walk(sh, idx);
		break;
	case GUEST_PROG_ASSERT_TEST:
		prog_assert_test(sh, idx);
		break;
	case GUEST_PROG_EXCEPTION_TEST:
		prog_exception_test(sh, idx);
		break;
	case GUEST_PROG_PROBE:
		prog_probe(sh, idx);
		break;
	case GUEST_PROG_DIRTY:
		prog_dirty(sh, idx);
		break;
	default:
		GUEST_ASSERT_1(0 && "unknown program", sh->program);
	}
	ucall(TVM_UCALL_DONE, 0, 0, 0);
	guest_halt_forever();
}

/* Called by the stubs in start.S; an exception is fatal for this vCPU. */
void guest_exception(uint64_t vector, uint64_t error, uint64_t rip)
{
	struct tvm_ucall uc = {
		.type = TVM_UCALL_EXCEPTION,
		.nr_args = 4,
		.args = { vector, error, rip, 0 },
	};

	__asm__ volatile("mov %%cr2, %0" : "=r"(uc.args[3]));
	ucall_send(&uc);
	guest_halt_forever();
}
