/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/*
 * kvm_kick: EXPERIMENTAL userspace API of kvmhold's patched KVM modules.
 *
 * Not part of upstream Linux.  The numbers are chosen outside the ranges
 * upstream uses (as of Linux 6.1, KVMIO ioctl numbers go up to 0xe3 and
 * capabilities up to 223) and may change at any time.  Query the capability
 * with KVM_CHECK_EXTENSION (on /dev/kvm or on a VM fd) before using the
 * ioctls: stock KVM reports 0 for it and fails the ioctls with ENOTTY.
 *
 * KVM_KICK_ALL_RUNNING_VCPUS (VM ioctl, argument: flags)
 *	Makes every vCPU of the VM leave guest mode, blocks new guest entries,
 *	and returns once no vCPU is in guest mode (nor handling a guest exit
 *	inside KVM_RUN).  Kicks nest: each successful kick must be paired with
 *	one KVM_RESUME_ALL_KICKED_VCPUS.  A vCPU blocked by the kick sleeps
 *	inside KVM_RUN; a pending signal makes KVM_RUN return -1/EINTR with
 *	exit_reason KVM_EXIT_INTR.  Returns 0, or -1 with errno EINTR if the
 *	caller got a fatal signal while waiting (the kick is then undone).
 *
 *	With KVM_KICK_TO_USERSPACE the vCPUs do not sleep in KVM: while the VM
 *	is kicked, every KVM_RUN returns -1/EINTR (KVM_EXIT_INTR) before it
 *	enters the guest, so userspace gets its vCPU threads back and waits
 *	for them itself; the call returns once no vCPU is in guest mode and
 *	does not wait for exits being handled inside KVM_RUN (a fault waiting
 *	for its page, say), which userspace must end itself (a signal).  The
 *	flag of the kick that starts a hold applies until its last resume.
 *	Unknown flags: -1/EINVAL.
 *
 * KVM_RESUME_ALL_KICKED_VCPUS (VM ioctl, no argument)
 *	Undoes one kick.  When the last kick is undone, the blocked vCPUs are
 *	woken before the call returns; a later kick starts only after that.
 *	Returns 0, or -1 with errno EINVAL if the VM is not kicked.
 *
 * Both may be called from any thread of the process that created the VM,
 * including a vCPU thread (which is then not inside KVM_RUN).
 */
#ifndef KVMHOLD_UAPI_KVM_KICK_H
#define KVMHOLD_UAPI_KVM_KICK_H

#include <linux/ioctl.h>

#ifndef KVMIO
#define KVMIO 0xAE
#endif

#define KVM_CAP_KICK_ALL_RUNNING_VCPUS	0x4b4b
#define KVM_KICK_ALL_RUNNING_VCPUS	_IO(KVMIO, 0xf0)
#define KVM_RESUME_ALL_KICKED_VCPUS	_IO(KVMIO, 0xf1)

#define KVM_KICK_TO_USERSPACE		(1UL << 0)
/*
 * What KVM_CHECK_EXTENSION(KVM_CAP_KICK_ALL_RUNNING_VCPUS) answers where
 * KVM_KICK_TO_USERSPACE is known (modules without it answered 1 and
 * ignored the argument).
 */
#define KVM_KICK_CAP_TO_USERSPACE	2

#endif /* KVMHOLD_UAPI_KVM_KICK_H */
