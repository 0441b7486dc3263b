/* SPDX-License-Identifier: MIT */
/*
 * Not a kernel header.  The kick ioctls' uapi header is added to KVM by the
 * patch series in kernel/patches/ (arch/x86/kvm/include/uapi/kvm_kick.h).
 * This file only forwards to the library's copy of the numbers, for the
 * programs outside kernel/ that still include it by this path
 * (tests/api_errors.c, tools/bench_pause_kernel.c); remove it once they
 * include src/kvm_kick_abi.h.
 */
#include "../../../src/kvm_kick_abi.h"
