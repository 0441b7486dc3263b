// SPDX-License-Identifier: MIT
/*
 * The kernel kick backend: KVM_KICK_ALL_RUNNING_VCPUS and
 * KVM_RESUME_ALL_KICKED_VCPUS, the experimental VM ioctls of this project's
 * patched KVM modules (kernel/; the numbers are in kvm_kick_abi.h).
 *
 * With this backend a hold asks KVM to take every vCPU out of guest mode
 * (KVM_KICK_TO_USERSPACE): the kick returns once no vCPU is in guest mode,
 * and while the VM is kicked every KVM_RUN returns -EINTR before entering
 * the guest.  The vCPU threads come back to the library, which parks them
 * like with signals (hold.c), so that no held vCPU keeps its vcpu->mutex
 * inside KVM_RUN; vCPU threads that KVM cannot reach (busy outside
 * KVM_RUN, or in a fault inside it) are signalled after a short grace.
 *
 * The library issues one kick per stop and one resume per release of the
 * last hold; nested holds are counted in the library, not in KVM.
 */
#include <errno.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "internal.h"
#include "kvm_kick_abi.h"

/* Does this VM's KVM offer the kick ioctls? */
bool kick_kernel_available(int vm_fd)
{
	/* Only modules that know KVM_KICK_TO_USERSPACE: older ones ignore the flag. */
	return ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_KICK_ALL_RUNNING_VCPUS) >=
	       KVM_KICK_CAP_TO_USERSPACE;
}

/* Is req one of the ioctls this backend issues (the VMM must not)? */
bool kick_kernel_ioctl(unsigned long req)
{
	return req == KVM_KICK_ALL_RUNNING_VCPUS || req == KVM_RESUME_ALL_KICKED_VCPUS;
}

/*
 * Take every vCPU out of guest mode; returns when none is in it.  KVM
 * makes them leave with its request/IPI protocol, whatever their signal
 * masks, and their KVM_RUN then returns -EINTR.  Fails only with -EINTR
 * (a fatal signal), -EOVERFLOW or -EINVAL (a flag the modules do not know), and
 * KVM then holds nothing.
 */
int kick_kernel_stop(struct kvmhold_vm *vm)
{
	return ioctl(vm->fd, KVM_KICK_ALL_RUNNING_VCPUS, KVM_KICK_TO_USERSPACE) < 0 ? -errno : 0;
}

/* Let the vCPUs blocked by kick_kernel_stop() run again. */
int kick_kernel_resume(struct kvmhold_vm *vm)
{
	return ioctl(vm->fd, KVM_RESUME_ALL_KICKED_VCPUS, 0) < 0 ? -errno : 0;
}
