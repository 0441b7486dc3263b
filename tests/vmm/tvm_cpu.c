// SPDX-License-Identifier: MIT
/*
 * x86-64 long mode without a boot loader: the host writes the GDT, IDT and
 * identity-mapped page tables into guest memory and loads the vCPU's
 * registers straight into their 64-bit state with KVM_SET_SREGS/REGS.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>

#include "tvm.h"

#define CR0_PE  (1ull << 0)
#define CR0_MP  (1ull << 1)
#define CR0_ET  (1ull << 4)
#define CR0_NE  (1ull << 5)
#define CR0_WP  (1ull << 16)
#define CR0_PG  (1ull << 31)
#define CR4_PAE (1ull << 5)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

#define PTE_P   (1ull << 0)
#define PTE_RW  (1ull << 1)
#define PTE_PS  (1ull << 7)      /* 2 MiB page in a PD entry */

#define TSS_SIZE 0x68

static void *sys_ptr(struct tvm *t, uint64_t gpa)
{
	return (char *)t->sys_hva + gpa;
}

/* An 8-byte code/data descriptor; base and limit are ignored in 64-bit mode. */
static uint64_t gdt_seg(uint64_t access, uint64_t flags)
{
	return 0xffffull | (access << 40) | (0xfull << 48) | (flags << 52);
}

static void build_gdt(struct tvm *t)
{
	uint64_t *gdt = sys_ptr(t, TVM_GDT_GPA);
	uint64_t tss = TVM_GDT_GPA + TVM_TSS_OFFSET;

	gdt[0] = 0;
	/* P, DPL 0, S, type 0xb (code, read, accessed); G and L. */
	gdt[TVM_SEL_CODE / 8] = gdt_seg(0x9b, 0xa);
	/* P, DPL 0, S, type 0x3 (data, write, accessed); G and D/B. */
	gdt[TVM_SEL_DATA / 8] = gdt_seg(0x93, 0xc);
	/* 16-byte available 64-bit TSS descriptor (type 9). */
	gdt[TVM_SEL_TSS / 8] = (TSS_SIZE - 1) | ((tss & 0xffffff) << 16) |
			       (0x89ull << 40) | (((tss >> 24) & 0xff) << 56);
	gdt[TVM_SEL_TSS / 8 + 1] = tss >> 32;
}

/* Interrupt gates for the guest's exception stubs (tvm_image_header). */
static void build_idt(struct tvm *t)
{
	uint64_t *idt = sys_ptr(t, TVM_IDT_GPA);
	uint64_t v;

	for (v = 0; v < t->nr_isr && v < 256; v++) {
		uint64_t off = t->isr_stubs + v * t->isr_stride;

		idt[2 * v] = (off & 0xffff) | ((uint64_t)TVM_SEL_CODE << 16) |
			     (0x8eull << 40) | (((off >> 16) & 0xffff) << 48);
		idt[2 * v + 1] = off >> 32;
	}
}

/* Identity map of [0, 4 GiB) with 2 MiB pages: 1 PML4, 1 PDPT, 4 PDs. */
static void build_page_tables(struct tvm *t)
{
	uint64_t *pml4 = sys_ptr(t, TVM_PML4_GPA);
	uint64_t *pdpt = sys_ptr(t, TVM_PDPT_GPA);
	uint64_t *pd = sys_ptr(t, TVM_PD_GPA);
	uint64_t i;

	pml4[0] = TVM_PDPT_GPA | PTE_P | PTE_RW;
	for (i = 0; i < 4; i++)
		pdpt[i] = (TVM_PD_GPA + i * TVM_PAGE_SIZE) | PTE_P | PTE_RW;
	for (i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
}

void tvm_cpu_build_tables(struct tvm *t)
{
	build_gdt(t);
	build_idt(t);
	build_page_tables(t);
}

static void set_cpuid(struct tvm *t, unsigned idx, struct kvm_cpuid2 *cpuid)
{
	uint32_t i;

	memcpy(cpuid, t->cpuid, sizeof(*cpuid) +
	       t->cpuid->nent * sizeof(cpuid->entries[0]));
	/* Give each vCPU its own APIC id, as firmware would. */
	for (i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function == 1)
			e->ebx = (e->ebx & 0x00ffffffu) | (idx << 24);
		else if (e->function == 0xb || e->function == 0x1f)
			e->edx = idx;
	}
}

static void seg_flat(struct kvm_segment *s, uint16_t sel, uint8_t type,
		     int code)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;
}

static int set_sregs(struct kvmhold_vcpu *vcpu)
{
	struct kvm_sregs sr;
	int r;

	r = kvmhold_vcpu_ioctl(vcpu, KVM_GET_SREGS, &sr);
	if (r < 0)
		return r;

	seg_flat(&sr.cs, TVM_SEL_CODE, 0xb, 1);
	seg_flat(&sr.ds, TVM_SEL_DATA, 0x3, 0);
	sr.es = sr.fs = sr.gs = sr.ss = sr.ds;

	memset(&sr.tr, 0, sizeof(sr.tr));
	sr.tr.base = TVM_GDT_GPA + TVM_TSS_OFFSET;
	sr.tr.limit = TSS_SIZE - 1;
	sr.tr.selector = TVM_SEL_TSS;
	sr.tr.type = 0xb;            /* busy 64-bit TSS, as VM entry wants */
	sr.tr.present = 1;

	sr.gdt.base = TVM_GDT_GPA;
	sr.gdt.limit = (TVM_SEL_TSS + 16) - 1;
	sr.idt.base = TVM_IDT_GPA;
	sr.idt.limit = 256 * 16 - 1;

	sr.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sr.cr3 = TVM_PML4_GPA;
	sr.cr4 = CR4_PAE;
	sr.efer = EFER_LME | EFER_LMA;

	return kvmhold_vcpu_ioctl(vcpu, KVM_SET_SREGS, &sr);
}

int tvm_cpu_setup_vcpu(struct tvm *t, unsigned idx)
{
	struct kvmhold_vcpu *vcpu = t->vcpus[idx].vcpu;
	struct kvm_cpuid2 *cpuid;
	struct kvm_regs regs;
	int r;

	cpuid = malloc(sizeof(*cpuid) +
		       t->cpuid->nent * sizeof(cpuid->entries[0]));
	if (!cpuid)
		return -ENOMEM;
	set_cpuid(t, idx, cpuid);
	r = kvmhold_vcpu_ioctl(vcpu, KVM_SET_CPUID2, cpuid);
	free(cpuid);
	if (r < 0)
		return r;

	r = set_sregs(vcpu);
	if (r < 0)
		return r;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;           /* reserved bit; interrupts off */
	regs.rip = t->entry;
	regs.rsp = TVM_STACK_GPA + (idx + 1) * TVM_STACK_SIZE;
	regs.rdi = idx;
	regs.rsi = TVM_SHARED_GPA;
	r = kvmhold_vcpu_ioctl(vcpu, KVM_SET_REGS, &regs);
	if (r < 0)
		return r;

	/* With an in-kernel LAPIC, APs would wait for INIT/SIPI. */
	if (t->opts.irqchip) {
		struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };

		r = kvmhold_vcpu_ioctl(vcpu, KVM_SET_MP_STATE, &mp);
		if (r < 0)
			return r;
	}
	return 0;
}
