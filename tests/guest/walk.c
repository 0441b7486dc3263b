// SPDX-License-Identifier: MIT
/*
 * GUEST_PROG_WALK: vCPU idx of n owns test-region pages idx, idx + n, ...
 * Each pass writes TVM_WALK_PATTERN(idx, pass, page) to the first quadword of
 * each page and reads it back; before writing it checks the page still holds
 * the previous pass's pattern, which catches writes that were lost while the
 * page was not backed by a memslot.  counter = completed passes.
 */
#include "guest.h"

static void walk_check(struct tvm_vcpu_line *me, uint64_t flags,
		       uint64_t got, uint64_t want)
{
	if (got == want)
		return;
	if (flags & TVM_WALK_NO_ASSERT)
		WRITE_ONCE(me->mismatches, me->mismatches + 1);
	else
		GUEST_ASSERT_EQ(got, want);
}

void prog_walk(struct tvm_shared *sh, unsigned idx)
{
	struct tvm_vcpu_line *me = &sh->vcpu[idx];
	uint64_t base = READ_ONCE(sh->test_gpa);
	uint64_t npages = READ_ONCE(sh->test_size) / TVM_PAGE_SIZE;
	uint64_t flags = READ_ONCE(sh->walk_flags);
	unsigned n = READ_ONCE(sh->nr_vcpus);
	uint64_t pass, page;

	GUEST_ASSERT_2(npages > idx, npages, idx);
	for (pass = 0;; pass++) {
		WRITE_ONCE(me->pass, pass);
		for (page = idx; page < npages; page += n) {
			volatile uint64_t *p;
			uint64_t want = TVM_WALK_PATTERN(idx, pass, page);

			if (guest_should_stop(sh))
				return;
			p = (volatile uint64_t *)(uintptr_t)(base + page * TVM_PAGE_SIZE);
			if (pass && !(flags & TVM_WALK_NO_PREV))
				walk_check(me, flags, *p,
					   TVM_WALK_PATTERN(idx, pass - 1, page));
			*p = want;
			walk_check(me, flags, *p, want);
			WRITE_ONCE(me->pages, me->pages + 1);
		}
		WRITE_ONCE(me->counter, pass + 1);
		if (flags & TVM_WALK_SYNC)
			ucall(TVM_UCALL_SYNC, 1, pass, 0);
	}
}
