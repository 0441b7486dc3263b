// SPDX-License-Identifier: MIT
/* GUEST_PROG_PROBE: see tvm_abi.h. */
#include "guest.h"

void prog_probe(struct tvm_shared *sh, unsigned idx)
{
	volatile uint64_t *out = (volatile uint64_t *)(uintptr_t)TVM_SCRATCH_GPA;
	uint64_t done = 0;

	while (!guest_should_stop(sh)) {
		uint64_t req = READ_ONCE(sh->params[TVM_PROBE_REQUEST]);
		uint64_t base, npages, i;

		if (idx != 0 || req == done)
			continue;
		base = READ_ONCE(sh->test_gpa);
		npages = READ_ONCE(sh->test_size) / TVM_PAGE_SIZE;
		GUEST_ASSERT_1(npages <= TVM_SCRATCH_SIZE / 8, npages);
		for (i = 0; i < npages; i++)
			out[i] = *(volatile uint64_t *)(uintptr_t)(base + i * TVM_PAGE_SIZE);
		done = req;
		WRITE_ONCE(sh->params[TVM_PROBE_DONE], done);
	}
}
