// SPDX-License-Identifier: MIT
/*
 * A thread that opens sections inside sections without end (a device
 * loop that leaks one per request, say) gets -EOVERFLOW once 2^23 entries
 * are inside, and the VM stays safe: another thread's hold still waits
 * for those sections instead of being let in.  The count of entries
 * shares its word with the sleeping holder's target; without the limit
 * it would run into those bits, read as 0 after 2^24 nested sections,
 * and a hold would be granted with the sections open.
 *
 * Can fail: KVMHOLD_TEST_BREAK=nested-limit (no limit): 2^24 nested
 * sections all succeed.
 */
#include <errno.h>
#include <pthread.h>

#include "check.h"
#include "kvmhold.h"
#include "test_hooks.h"

#define LIMIT (1u << 23)          /* ACTIVE_NESTED_LIMIT in src/internal.h */
#define TRIES (1u << 24)

static struct kvmhold_vm *vm;

static void *hold_briefly(void *arg)
{
	long *result = arg;

	*result = kvmhold_hold(vm, 100);
	if (!*result)
		kvmhold_release(vm);
	return NULL;
}

int main(void)
{
	unsigned n = 0, i;
	pthread_t t;
	long result;
	int r = 0;

	test_apply_breakage();
	CHECK_OK(kvmhold_vm_create(NULL, &vm));
	while (n < TRIES && !(r = kvmhold_mem_begin(vm)))
		n++;
	CHECK(r == -EOVERFLOW, "%u nested sections opened, and no -EOVERFLOW (last %d)", n, r);
	CHECK(n == LIMIT, "-EOVERFLOW after %u nested sections, not %u", n, LIMIT);

	/* Another thread's hold must still wait for them. */
	CHECK(pthread_create(&t, NULL, hold_briefly, &result) == 0, "pthread_create");
	CHECK(pthread_join(t, NULL) == 0, "pthread_join");
	CHECK(result == -ETIMEDOUT, "a hold with %u sections open returned %ld", n, result);

	for (i = 0; i < n; i++)
		CHECK_OK(kvmhold_mem_end(vm));
	CHECK(pthread_create(&t, NULL, hold_briefly, &result) == 0, "pthread_create");
	CHECK(pthread_join(t, NULL) == 0, "pthread_join");
	CHECK_OK(result);
	kvmhold_vm_destroy(vm);
	printf("%u nested sections, then -EOVERFLOW; holds waited for them\n", n);
	return 0;
}
