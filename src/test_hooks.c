// SPDX-License-Identifier: MIT
/* The switches of test_hooks.h: in the test build of the library only. */
#include "test_hooks.h"

#ifdef KVMHOLD_TEST_HOOKS
unsigned long long kvmhold_test_breakage;
unsigned kvmhold_test_entry_delay_ns;
unsigned kvmhold_test_leave_delay_ns;
unsigned kvmhold_test_kick_delay_ns;
void (*kvmhold_test_commit_hook)(void);
unsigned kvmhold_test_fail_alloc, kvmhold_test_allocs;
unsigned kvmhold_test_fail_ioctl;
unsigned kvmhold_test_ring_full_delay_ns;
unsigned kvmhold_test_sync_delay_ns;
unsigned kvmhold_test_delays_begun, kvmhold_test_delays_ended;
unsigned kvmhold_test_kick_default;
#endif
