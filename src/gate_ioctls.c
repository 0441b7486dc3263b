// SPDX-License-Identifier: MIT
/*
 * The ioctl gate and mem sections: the calls through which every consumer
 * of memslots other than KVM_RUN enters the gate (gate.c), and waits while
 * the VM is held.
 *
 * Which requests consume memslots or guest memory is decided by the table
 * below, written from the KVM API document.  A request the table does not
 * know is treated as consuming: waiting for a release is always safe,
 * letting an unknown request run under a hold may not be.
 */
#include <errno.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "internal.h"
#include "kvm_compat.h"

struct ioctl_rule {
	unsigned long req;
	bool gated;
	const char *why;
};

static const struct ioctl_rule ioctl_rules[] = {
	/* VM ioctls */
	{ KVM_SET_USER_MEMORY_REGION, true, "changes the memslots a holder is rearranging" },
	{ KVM_SET_USER_MEMORY_REGION2, true, "changes the memslots a holder is rearranging" },
	{ KVM_GET_DIRTY_LOG, true, "reads a memslot's dirty bitmap; the slot may be gone" },
	{ KVM_CLEAR_DIRTY_LOG, true, "clears a memslot's dirty bitmap; the slot may be gone" },
	{ KVM_RESET_DIRTY_RINGS, true, "re-protects pages named by slot id in the dirty rings" },
	{ KVM_SET_TSS_ADDR, true, "creates a private memslot for the TSS" },
	{ KVM_SET_IDENTITY_MAP_ADDR, true, "creates a private memslot for the EPT identity map" },
	{ KVM_MEMORY_ENCRYPT_OP, true, "SEV/TDX commands read and write guest pages" },
	{ KVM_MEMORY_ENCRYPT_REG_REGION, true, "pins guest memory by address" },
	{ KVM_MEMORY_ENCRYPT_UNREG_REGION, true, "unpins guest memory by address" },
	{ KVM_SET_MEMORY_ATTRIBUTES, true, "changes per-gfn attributes used by the MMU" },
	{ KVM_XEN_HVM_SET_ATTR, true, "maps the Xen shared-info page by gfn" },
	{ KVM_XEN_HVM_EVTCHN_SEND, true, "writes event-channel bits into guest memory" },
	{ KVM_ENABLE_CAP, true, "some capabilities change memslot or dirty-log behaviour" },
	{ KVM_CHECK_EXTENSION, false, "queries a capability" },
	{ KVM_CREATE_VCPU, false, "creates a vCPU; no guest memory" },
	{ KVM_CREATE_IRQCHIP, false, "in-kernel interrupt controller state only" },
	{ KVM_GET_IRQCHIP, false, "interrupt controller state only" },
	{ KVM_SET_IRQCHIP, false, "interrupt controller state only" },
	{ KVM_IRQ_LINE, false, "raises an interrupt line" },
	{ KVM_IRQ_LINE_STATUS, false, "raises an interrupt line" },
	{ KVM_SIGNAL_MSI, true, "with Xen event channels, writes guest memory" },
	{ KVM_SET_GSI_ROUTING, false, "interrupt routing table" },
	{ KVM_IRQFD, false, "binds an eventfd to an interrupt" },
	{ KVM_IOEVENTFD, false, "binds an eventfd to an I/O address, not to memory" },
	{ KVM_REGISTER_COALESCED_MMIO, false, "MMIO ring registration" },
	{ KVM_UNREGISTER_COALESCED_MMIO, false, "MMIO ring registration" },
	{ KVM_GET_CLOCK, false, "reads the VM clock" },
	{ KVM_SET_CLOCK, false, "sets the VM clock; guest pages are updated later, in KVM_RUN" },
	{ KVM_CREATE_PIT2, false, "in-kernel PIT" },
	{ KVM_GET_PIT2, false, "in-kernel PIT" },
	{ KVM_SET_PIT2, false, "in-kernel PIT" },
	{ KVM_SET_BOOT_CPU_ID, false, "vCPU topology" },
	{ KVM_CREATE_DEVICE, false, "creates a device; no guest memory" },
	{ KVM_GET_STATS_FD, false, "statistics" },
	{ KVM_CREATE_GUEST_MEMFD, false, "creates a guest_memfd file; no memslot" },
	{ KVM_SET_PMU_EVENT_FILTER, false, "PMU filter" },
	{ KVM_X86_SET_MSR_FILTER, false, "MSR filter" },
	/* vCPU ioctls */
	{ KVM_TRANSLATE, true, "walks the guest page tables in guest memory" },
	{ KVM_SET_SREGS, true, "may load PAE PDPTEs from guest memory" },
	{ KVM_SET_SREGS2, true, "may load PAE PDPTEs from guest memory" },
	{ KVM_SET_MSRS, true, "pv MSRs (kvmclock, async PF, steal time) map guest pages" },
	{ KVM_SET_NESTED_STATE, true, "maps vmcs12/vmcb12 pages from guest memory" },
	{ KVM_GET_NESTED_STATE, true, "flushes cached vmcs12 to guest memory" },
	{ KVM_KVMCLOCK_CTRL, false, "sets a request; the pvclock page is written at the next entry, in KVM_RUN" },
	{ KVM_SET_VAPIC_ADDR, true, "maps the vAPIC page from guest memory" },
	{ KVM_PRE_FAULT_MEMORY, true, "faults guest memory into the MMU" },
	{ KVM_XEN_VCPU_SET_ATTR, true, "maps Xen vcpu_info and runstate pages" },
	{ KVM_GET_REGS, false, "register state only" },
	{ KVM_SET_REGS, false, "register state only" },
	{ KVM_GET_SREGS, false, "register state only" },
	{ KVM_GET_SREGS2, false, "register state only" },
	{ KVM_GET_MSRS, false, "register state only" },
	{ KVM_GET_FPU, false, "register state only" },
	{ KVM_SET_FPU, false, "register state only" },
	{ KVM_GET_XSAVE, false, "register state only" },
	{ KVM_SET_XSAVE, false, "register state only" },
	{ KVM_GET_XSAVE2, false, "register state only" },
	{ KVM_GET_XCRS, false, "register state only" },
	{ KVM_SET_XCRS, false, "register state only" },
	{ KVM_GET_DEBUGREGS, false, "register state only" },
	{ KVM_SET_DEBUGREGS, false, "register state only" },
	{ KVM_GET_LAPIC, false, "local APIC state only" },
	{ KVM_SET_LAPIC, false, "local APIC state only" },
	{ KVM_GET_CPUID2, false, "CPUID table" },
	{ KVM_SET_CPUID2, false, "CPUID table" },
	{ KVM_GET_VCPU_EVENTS, false, "pending event state" },
	{ KVM_SET_VCPU_EVENTS, false, "pending event state" },
	{ KVM_GET_MP_STATE, false, "run state" },
	{ KVM_SET_MP_STATE, false, "run state" },
	{ KVM_INTERRUPT, false, "queues an interrupt" },
	{ KVM_NMI, false, "queues an NMI" },
	{ KVM_SMI, false, "queues an SMI" },
	{ KVM_SET_SIGNAL_MASK, false, "signal mask used during KVM_RUN" },
	{ KVM_SET_GUEST_DEBUG, false, "debug controls" },
	{ KVM_GET_TSC_KHZ, false, "TSC frequency" },
	{ KVM_SET_TSC_KHZ, false, "TSC frequency" },
	{ KVM_TPR_ACCESS_REPORTING, false, "exit control" },
	{ KVM_X86_SETUP_MCE, false, "machine-check banks" },
	{ KVM_X86_SET_MCE, false, "machine-check banks" },
	{ KVM_GET_SUPPORTED_HV_CPUID, false, "CPUID query" },
};

KVMHOLD_API int kvmhold_ioctl_is_gated(unsigned long req)
{
	size_t i;

	for (i = 0; i < sizeof(ioctl_rules) / sizeof(ioctl_rules[0]); i++)
		if (ioctl_rules[i].req == req)
			return ioctl_rules[i].gated;
	return 1;
}

/*
 * Issue one ioctl, through the gate if the request needs it.  errno is read
 * right after the ioctl, before the gate's own calls could change it.
 */
static int gated_ioctl(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu, int fd,
		       unsigned long req, void *arg)
{
	bool gated = kvmhold_ioctl_is_gated(req);
	int r, err = 0;

	if (gated) {
		r = gate_enter(vm, vcpu);
		if (r)
			return r;
	}
	r = ioctl(fd, req, arg);
	if (r < 0)
		err = errno;
	if (gated)
		gate_leave(vm, vcpu);
	return r < 0 ? -err : r;
}

KVMHOLD_API int kvmhold_vm_ioctl(struct kvmhold_vm *vm, unsigned long req, void *arg)
{
	if (!vm)
		return -EINVAL;
	/* The kernel kick pair is the library's (kvmhold_hold): a VMM's own
	 * kick or resume would unbalance KVM's count of kicks. */
	if (kick_kernel_ioctl(req))
		return -EINVAL;
	return gated_ioctl(vm, NULL, vm->fd, req, arg);
}

KVMHOLD_API int kvmhold_vcpu_ioctl(struct kvmhold_vcpu *vcpu, unsigned long req, void *arg)
{
	if (!vcpu)
		return -EINVAL;
	if (req == KVM_RUN)
		return -EINVAL;  /* KVM_RUN goes through kvmhold_vcpu_run() */
	return gated_ioctl(vcpu->vm, vcpu, vcpu->fd, req, arg);
}

KVMHOLD_API int kvmhold_mem_begin(struct kvmhold_vm *vm)
{
	if (!vm)
		return -EINVAL;
	return gate_enter(vm, NULL);
}

KVMHOLD_API int kvmhold_mem_end(struct kvmhold_vm *vm)
{
	struct thread_vm_state *ts;

	if (!vm)
		return -EINVAL;
	/* Only a thread that is inside may leave: an unmatched end is refused. */
	ts = thread_state_get(vm, false);
	if (!ts || !ts->sections)
		return -EINVAL;
	gate_leave(vm, NULL);
	return 0;
}
