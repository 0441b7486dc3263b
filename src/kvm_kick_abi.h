/* SPDX-License-Identifier: MIT */
/*
 * The ABI of the experimental kernel kick backend (kick_kernel.c): a
 * capability and two VM ioctls that upstream Linux does not have, only
 * KVM modules built with this project's patch series.
 *
 * The authoritative definitions are in that series, kernel/patches/ (its
 * uapi header, arch/x86/kvm/include/uapi/kvm_kick.h, is added by the first
 * patch and documents each call).  This is the library's copy, so that
 * the library builds without anything from kernel/.  kernel/tests/
 * kick_test.c reads both and does not compile if they differ in a value
 * or a type.  Each name is defined only if not defined already, so the
 * series' header may be included first.
 */
#ifndef KVMHOLD_KVM_KICK_ABI_H
#define KVMHOLD_KVM_KICK_ABI_H

#include <linux/kvm.h>

/* KVM_CHECK_EXTENSION: 0 on stock KVM, 1 or 2 with the patched modules. */
#ifndef KVM_CAP_KICK_ALL_RUNNING_VCPUS
#define KVM_CAP_KICK_ALL_RUNNING_VCPUS 0x4b4b
#endif

/* The capability's answer where KVM_KICK_TO_USERSPACE is understood. */
#ifndef KVM_KICK_CAP_TO_USERSPACE
#define KVM_KICK_CAP_TO_USERSPACE 2
#endif

/* VM ioctl; the argument is a set of flags. */
#ifndef KVM_KICK_ALL_RUNNING_VCPUS
#define KVM_KICK_ALL_RUNNING_VCPUS _IO(KVMIO, 0xf0)
#endif

/* VM ioctl, no argument: undoes one kick. */
#ifndef KVM_RESUME_ALL_KICKED_VCPUS
#define KVM_RESUME_ALL_KICKED_VCPUS _IO(KVMIO, 0xf1)
#endif

/*
 * The kick's flag: while kicked, KVM_RUN returns -EINTR instead of
 * sleeping in KVM.  An unsigned long, as the ioctl's argument is.
 */
#ifndef KVM_KICK_TO_USERSPACE
#define KVM_KICK_TO_USERSPACE (1UL << 0)
#endif

#endif /* KVMHOLD_KVM_KICK_ABI_H */
