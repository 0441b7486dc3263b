// SPDX-License-Identifier: MIT
/* GUEST_PROG_COUNT and GUEST_PROG_COUNT_SYNC. */
#include "guest.h"

void prog_count(struct tvm_shared *sh, unsigned idx, int sync)
{
	struct tvm_vcpu_line *me = &sh->vcpu[idx];
	uint64_t every = sync ? READ_ONCE(sh->sync_every) : 0;
	uint64_t n = READ_ONCE(me->counter);
	uint64_t left;

	if (sync && !every)
		every = 1;
	left = every;
	while (!guest_should_stop(sh)) {
		WRITE_ONCE(me->counter, ++n);
		if (every && --left == 0) {
			left = every;
			ucall(TVM_UCALL_SYNC, 1, n, 0);
		}
	}
}
