// SPDX-License-Identifier: MIT
/*
 * The kernel kick backend: KVM_KICK_ALL_RUNNING_VCPUS and
 * KVM_RESUME_ALL_KICKED_VCPUS, the experimental VM ioctls of this project's
 * patched KVM modules (kernel/, whose uapi header is included below).
 *
 * With this backend a hold stops the vCPUs inside KVM instead of sending
 * them signals: the kick returns once no vCPU is in guest mode, and a vCPU
 * that calls KVM_RUN during the hold sleeps in the kernel until the resume.
 * The vCPU threads therefore need no handshake with the holder; the
 * library's gate still holds everything else (gated ioctls, mem sections).
 *
 * The library issues one kick per stop and one resume per release of the
 * last hold; nested holds are counted in the library, not in KVM.
 */
#include <errno.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "internal.h"
#include "../kernel/include/uapi/kvm_kick.h"

/* Does this VM's KVM offer the kick ioctls? */
bool kick_kernel_available(int vm_fd)
{
	return ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_KICK_ALL_RUNNING_VCPUS) > 0;
}

/* Is req one of the ioctls this backend issues (the VMM must not)? */
bool kick_kernel_ioctl(unsigned long req)
{
	return req == KVM_KICK_ALL_RUNNING_VCPUS || req == KVM_RESUME_ALL_KICKED_VCPUS;
}

/*
 * Stop every vCPU in KVM_RUN; returns when none is in guest mode.  KVM
 * makes them leave guest mode with its request/IPI protocol, whatever
 * their signal masks, so no vCPU can straggle; the call only waits longer
 * for a vCPU still handling an exit inside KVM.  Fails only with -EINTR
 * (a fatal signal) or -EOVERFLOW, and KVM then holds nothing.
 */
int kick_kernel_stop(struct kvmhold_vm *vm)
{
	return ioctl(vm->fd, KVM_KICK_ALL_RUNNING_VCPUS, 0) < 0 ? -errno : 0;
}

/* Let the vCPUs blocked by kick_kernel_stop() run again. */
int kick_kernel_resume(struct kvmhold_vm *vm)
{
	return ioctl(vm->fd, KVM_RESUME_ALL_KICKED_VCPUS, 0) < 0 ? -errno : 0;
}
