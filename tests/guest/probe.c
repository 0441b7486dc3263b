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
		if (READ_ONCE(sh->params[TVM_PROBE_OP]) == TVM_PROBE_WRITE) {
			uint64_t value = READ_ONCE(sh->params[TVM_PROBE_VALUE]);

			for (i = 0; i < npages; i++) {
				if (!(out[i / 64] & (1ull << (i % 64))))
					continue;
				*(volatile uint64_t *)(uintptr_t)(base + i * TVM_PAGE_SIZE) = value;
				/* An exit to the host now and then (see tvm_abi.h). */
				if (i % 32 == 31)
					ucall(TVM_UCALL_SYNC, 1, i, 0);
			}
		} else {
			for (i = 0; i < npages; i++)
				out[i] = *(volatile uint64_t *)(uintptr_t)(base + i * TVM_PAGE_SIZE);
		}
		done = req;
		WRITE_ONCE(sh->params[TVM_PROBE_DONE], done);
	}
}
