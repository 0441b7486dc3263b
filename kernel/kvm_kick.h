/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kvm_kick: KVM_KICK_ALL_RUNNING_VCPUS / KVM_RESUME_ALL_KICKED_VCPUS for
 * x86 KVM (kvmhold's experiment; not upstream).  The hooks that call these
 * functions are inserted into KVM's x86.c by kernel/patch-hooks.sh.
 */
#ifndef KVMHOLD_KVM_KICK_H
#define KVMHOLD_KVM_KICK_H

#include <linux/kvm_host.h>
#include "include/uapi/kvm_kick.h"

/*
 * The request that makes vCPUs leave guest mode.  Bit 47 is far above the
 * x86 requests of Linux 6.1 (0-31).  WAIT: the kick's IPI waits until each
 * vCPU in guest mode has left it.  NO_WAKEUP: a halted vCPU holds no part
 * of the memory-transaction lock, so it is left asleep.
 */
#define KVM_REQ_KICK_HOLD \
	KVM_ARCH_REQ_FLAGS(47, KVM_REQUEST_WAIT | KVM_REQUEST_NO_WAKEUP)

/* kvm_ops_update(): reserve the per-VM state behind the vendor's struct. */
void kvm_kick_reserve(unsigned int *vm_size);
/* kvm_arch_init_vm(): initialise the per-VM state. */
void kvm_kick_init_vm(struct kvm *kvm);
/*
 * vcpu_run(), around vcpu_enter_guest(), and kvm_arch_vcpu_ioctl_run(),
 * around complete_userspace_io(): 0, or -EINTR on a signal.
 */
int kvm_kick_enter(struct kvm_vcpu *vcpu);
void kvm_kick_exit(struct kvm_vcpu *vcpu);
/* kvm_arch_vm_ioctl(): the two ioctls. */
long kvm_kick_vm_ioctl(struct kvm *kvm, unsigned int ioctl, unsigned long arg);

#endif /* KVMHOLD_KVM_KICK_H */
