/* SPDX-License-Identifier: MIT */
/*
 * KVM ABI newer than the installed <linux/kvm.h> (Linux 6.1 on the build
 * machine), written from the documented ABI (Documentation/virt/kvm/api.rst).
 * Each definition is guarded so a newer header wins.
 */
#ifndef KVMHOLD_KVM_COMPAT_H
#define KVMHOLD_KVM_COMPAT_H

#include <linux/kvm.h>

#ifndef KVM_CAP_USER_MEMORY2
#define KVM_CAP_USER_MEMORY2 231
#endif

#ifndef KVM_CAP_GUEST_MEMFD
#define KVM_CAP_GUEST_MEMFD 234
#endif

#ifndef KVM_MEM_GUEST_MEMFD
#define KVM_MEM_GUEST_MEMFD (1u << 2)
#endif

#ifndef KVM_SET_USER_MEMORY_REGION2
/* struct kvm_userspace_memory_region2 is 160 bytes: 5 u64 fields, 2 u32, 14 u64 of padding. */
#define KVM_SET_USER_MEMORY_REGION2 _IOC(_IOC_WRITE, KVMIO, 0x49, 160)
#endif

/*
 * The argument of KVM_SET_USER_MEMORY_REGION2, under the library's own
 * name so that a newer <linux/kvm.h> defining the kernel's does not clash.
 * Its first five fields are those of KVM_SET_USER_MEMORY_REGION.
 */
struct kvmhold_memory_region2 {
	__u32 slot;
	__u32 flags;
	__u64 guest_phys_addr;
	__u64 memory_size;
	__u64 userspace_addr;
	__u64 guest_memfd_offset;
	__u32 guest_memfd;
	__u32 pad1;
	__u64 pad2[14];
};
_Static_assert(sizeof(struct kvmhold_memory_region2) == 160, "KVM's region2 is 160 bytes");

#ifndef KVM_SET_MEMORY_ATTRIBUTES
/* struct kvm_memory_attributes: address, size, attributes, flags (u64 each). */
#define KVM_SET_MEMORY_ATTRIBUTES _IOC(_IOC_WRITE, KVMIO, 0xd2, 32)
#endif

#ifndef KVM_CREATE_GUEST_MEMFD
/* struct kvm_create_guest_memfd: size, flags, 6 reserved u64. */
#define KVM_CREATE_GUEST_MEMFD _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0xd4, 64)
#endif

#ifndef KVM_PRE_FAULT_MEMORY
/* struct kvm_pre_fault_memory: gpa, size, flags, 5 u64 of padding. */
#define KVM_PRE_FAULT_MEMORY _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0xd5, 64)
#endif

#endif
