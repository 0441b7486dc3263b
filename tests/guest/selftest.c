// SPDX-License-Identifier: MIT
/* Programs that fail on purpose, to prove failures reach the host. */
#include "guest.h"

#define ASSERT_TEST_VALUE 0xc0ffee

/* Fails unless the host put ASSERT_TEST_VALUE - idx in params[0]. */
void prog_assert_test(struct tvm_shared *sh, unsigned idx)
{
	uint64_t value = READ_ONCE(sh->params[0]) + idx;

	GUEST_ASSERT_EQ(value, ASSERT_TEST_VALUE);
}

void prog_exception_test(struct tvm_shared *sh, unsigned idx)
{
	(void)sh;
	(void)idx;
	__asm__ volatile("ud2");
}
