// SPDX-License-Identifier: MIT
/* GUEST_PROG_DIRTY: see tvm_abi.h. */
#include "guest.h"

void prog_dirty(struct tvm_shared *sh, unsigned idx)
{
	struct tvm_vcpu_line *me = &sh->vcpu[idx];
	uint64_t base = READ_ONCE(sh->test_gpa);
	uint64_t npages = READ_ONCE(sh->test_size) / TVM_PAGE_SIZE;
	uint64_t x = 0x9e3779b97f4a7c15ull * (idx + 1), n = 0;

	while (!guest_should_stop(sh)) {
		uint64_t delay = READ_ONCE(sh->params[TVM_DIRTY_DELAY]), page;
		volatile uint64_t *p;

		x = x * 6364136223846793005ull + 1442695040888963407ull;
		page = (x >> 33) % npages;
		p = (volatile uint64_t *)(uintptr_t)(base + page * TVM_PAGE_SIZE);
		p[0] = READ_ONCE(sh->params[TVM_DIRTY_ITER]);
		p[1] = page;
		WRITE_ONCE(me->counter, ++n);
		while (delay--)
			__asm__ volatile("" ::: "memory");
	}
}
