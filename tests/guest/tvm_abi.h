/* SPDX-License-Identifier: MIT */
/*
 * The contract between the test VMM (tests/vmm) and its guests (tests/guest):
 * the guest-physical layout, the shared host/guest page, the program numbers
 * and the ucall protocol.  Included by freestanding guest code and by host
 * code, so it may use nothing but <stdint.h>.
 *
 * The guest runs in 64-bit long mode with paging on and an identity map of
 * the first 4 GiB, so a guest pointer is also a guest-physical address.
 */
#ifndef TVM_ABI_H
#define TVM_ABI_H

#include <stdint.h>

/*
 * Guest-physical layout of the "system" region (mapped at gpa 0).  The
 * linker script (guest.lds) repeats TVM_CODE_GPA.
 */
#define TVM_GDT_GPA        0x1000ull    /* GDT (TSS at +TVM_TSS_OFFSET) */
#define TVM_TSS_OFFSET     0x800ull
#define TVM_IDT_GPA        0x2000ull    /* 256 gates * 16 bytes */
#define TVM_PML4_GPA       0x3000ull
#define TVM_PDPT_GPA       0x4000ull
#define TVM_PD_GPA         0x5000ull    /* 4 page directories */
#define TVM_SHARED_GPA     0x10000ull   /* struct tvm_shared */
#define TVM_SHARED_SIZE    0x10000ull
#define TVM_CODE_GPA       0x100000ull  /* guest image */
#define TVM_CODE_MAX       0x100000ull
#define TVM_STACK_GPA      0x200000ull  /* vCPU i: [base + i*size, + size) */
#define TVM_STACK_SIZE     0x1000ull    /* the guests use well under 1 KiB */
#define TVM_SCRATCH_GPA    0x300000ull  /* free for tests */
#define TVM_SCRATCH_SIZE   0x100000ull
#define TVM_SYS_SIZE       0x400000ull  /* 4 MiB */

#define TVM_IDENTITY_MAP   0x100000000ull  /* identity-mapped: [0, 4 GiB) */
#define TVM_TEST_GPA_DEFAULT 0x40000000ull /* 1 GiB */

#define TVM_MAX_VCPUS      256           /* benchmarks go to 256 */
#define TVM_PAGE_SIZE      4096ull

/* GDT selectors. */
#define TVM_SEL_CODE       0x08
#define TVM_SEL_DATA       0x10
#define TVM_SEL_TSS        0x18

/* Guest programs, chosen by tvm_shared.program. */
enum tvm_guest_prog {
	GUEST_PROG_NONE = 0,      /* report DONE at once */
	GUEST_PROG_COUNT,         /* counter++ until stop */
	GUEST_PROG_COUNT_SYNC,    /* same, SYNC ucall every sync_every loops */
	GUEST_PROG_HALT,          /* cli; hlt in a loop, counter = wake-ups */
	GUEST_PROG_WALK,          /* write/verify the test region page by page */
	GUEST_PROG_ASSERT_TEST,   /* a GUEST_ASSERT that fails on purpose */
	GUEST_PROG_EXCEPTION_TEST,/* a #UD on purpose */
	GUEST_PROG_PROBE,         /* on request, read or write test-region pages */
	GUEST_PROG_DIRTY,         /* write the iteration number into random pages */
	GUEST_PROG__COUNT
};

/* Ucall: the guest writes a struct tvm_ucall and does `outl` of its gpa. */
#define TVM_UCALL_PORT     0x6b68

enum tvm_ucall_type {
	TVM_UCALL_NONE = 0,
	TVM_UCALL_DONE,           /* program finished (after the stop flag) */
	TVM_UCALL_SYNC,           /* args[0]: counter value */
	TVM_UCALL_ASSERT_FAIL,    /* file, line, msg = expression, args[0..1] */
	TVM_UCALL_PRINT,          /* msg, args[0..1] */
	TVM_UCALL_EXCEPTION,      /* args: vector, error code, rip, cr2 */
	TVM_UCALL__COUNT
};

struct tvm_ucall {
	uint64_t type;
	uint64_t nr_args;         /* how many of args[] are meaningful */
	uint64_t args[4];
	uint64_t file;            /* gpa of a NUL-terminated string, or 0 */
	uint64_t line;
	uint64_t msg;             /* gpa of a NUL-terminated string, or 0 */
};

/*
 * GUEST_PROG_WALK.  vCPU idx of n owns the test-region pages idx, idx + n,
 * idx + 2n, ...  On pass p it writes TVM_WALK_PATTERN(idx, p, page) to the
 * first 8 bytes of each of its pages and reads it back; before the write it
 * checks that the page still holds the pattern of pass p - 1.
 */
#define TVM_WALK_PATTERN(idx, pass, page) \
	(((uint64_t)(idx) << 56) | (((uint64_t)(pass) & 0xffffffull) << 32) | \
	 ((uint64_t)(page) & 0xffffffffull))
/*
 * GUEST_PROG_PROBE (vCPU 0 only; others idle).  When the host bumps
 * params[TVM_PROBE_REQUEST], the guest reads the first quadword of every
 * test-region page into the scratch area (an unmapped page reads as
 * whatever the host's MMIO handler returns, 0 with tvm) and then sets
 * params[TVM_PROBE_DONE] to the request number.  This is KVM's own view of
 * the memory layout, seen from inside the guest.
 */
#define TVM_PROBE_REQUEST  0
#define TVM_PROBE_DONE     1
/*
 * params[TVM_PROBE_OP]: TVM_PROBE_READ as above, or TVM_PROBE_WRITE: write
 * params[TVM_PROBE_VALUE] into the first quadword of every page whose bit
 * is set in a bitmap the host put in the scratch area, with a SYNC ucall
 * (an exit to the host) after every 32 pages.  Those exits matter on the
 * kvm_pvm backend: it raises KVM_EXIT_DIRTY_RING_FULL only when the vCPU
 * next leaves the guest, so a guest dirtying more pages than the ring's
 * reserve without an exit overflows the ring and KVM overwrites entries
 * (seen here: 158 of 1024 pages lost with a 256-entry ring).
 */
#define TVM_PROBE_OP       2
#define TVM_PROBE_VALUE    3
#define TVM_PROBE_READ     0
#define TVM_PROBE_WRITE    1

/*
 * GUEST_PROG_DIRTY: every vCPU writes params[TVM_DIRTY_ITER] into the first
 * quadword of pseudo-random test-region pages (the page index into the
 * second), pausing params[TVM_DIRTY_DELAY] loops between writes; counter =
 * writes done.
 */
#define TVM_DIRTY_ITER     0
#define TVM_DIRTY_DELAY    1

#define TVM_WALK_NO_ASSERT  (1u << 0)  /* count mismatches, do not assert */
#define TVM_WALK_NO_PREV    (1u << 1)  /* skip the previous-pass check */
#define TVM_WALK_SYNC       (1u << 2)  /* a SYNC ucall after every pass */

/* One 64-byte line per vCPU, written by that vCPU only. */
struct tvm_vcpu_line {
	uint64_t counter;         /* progress: loops, wake-ups or walk passes */
	uint64_t pages;           /* walk: pages written and verified */
	uint64_t mismatches;      /* walk with TVM_WALK_NO_ASSERT */
	uint64_t pass;            /* walk: pass in progress */
	uint64_t started;         /* 1 once the program has begun */
	uint64_t pad[3];
} __attribute__((aligned(64)));

#define TVM_NR_PARAMS      8
#define TVM_SHARED_MAGIC   0x6b766d686f6c6431ull   /* "kvmhold1" */

struct tvm_shared {
	uint64_t magic;
	uint32_t program;         /* enum tvm_guest_prog */
	uint32_t nr_vcpus;
	uint64_t sync_every;      /* COUNT_SYNC: loops between SYNC ucalls */
	uint64_t test_gpa;        /* test region, for GUEST_PROG_WALK */
	uint64_t test_size;
	uint64_t walk_flags;      /* TVM_WALK_* */
	uint64_t params[TVM_NR_PARAMS]; /* free for tests and new programs */
	/* Host -> guest: finish now.  Written by the host with atomics. */
	uint64_t stop __attribute__((aligned(64)));
	struct tvm_vcpu_line vcpu[TVM_MAX_VCPUS];
};

_Static_assert(sizeof(struct tvm_vcpu_line) == 64, "one line per vCPU");
_Static_assert(sizeof(struct tvm_shared) <= TVM_SHARED_SIZE, "shared area");
_Static_assert(TVM_STACK_GPA + TVM_MAX_VCPUS * TVM_STACK_SIZE <= TVM_SCRATCH_GPA,
	       "every vCPU's stack below the scratch area");

/*
 * The start of the guest image, so the host finds the entry point and the
 * exception stubs without parsing ELF.
 */
#define TVM_IMAGE_MAGIC    0x746d766775657374ull   /* "tmvguest" */

struct tvm_image_header {
	uint64_t magic;
	uint64_t entry;           /* gpa of the entry point */
	uint64_t isr_stubs;       /* gpa of exception stub 0 */
	uint64_t isr_stride;      /* bytes between stubs */
	uint64_t nr_isr;          /* stubs for vectors 0 .. nr_isr - 1 */
	uint64_t image_end;       /* gpa just past .bss */
};

#endif
