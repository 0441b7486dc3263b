// SPDX-License-Identifier: MIT
/*
 * example_vm: the guest and the vCPU thread that examples/hotplug.c and
 * examples/migrate.c share, so that each of them shows only what it is
 * about.  Read it once; there is little kvmhold in it beyond the run loop
 * (example_vm.c), which is what every VMM needs.
 *
 * The guest is one vCPU in 64-bit mode from its first instruction,
 * identity-mapped with 2 MiB pages.  Its first 64 KiB hold the page
 * tables, a control block the example shares with its guest, and the code:
 */
#ifndef EXAMPLE_VM_H
#define EXAMPLE_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <kvmhold.h>

#define KiB 1024ull
#define MiB (1024 * KiB)

#define EX_PML4_GPA  0x1000
#define EX_PDPT_GPA  0x2000
#define EX_PD_GPA    0x3000           /* maps [0, 2 MiB) */
#define EX_PD2_GPA   0x4000           /* maps 2 MiB more, if asked for */
#define EX_CTRL_GPA  0x6000           /* the example's control block */
#define EX_CODE_GPA  0x8000           /* where the vCPU starts */
#define EX_IO_PORT   0x10             /* port writes there are counted */

struct example_vm {
	const char *name;             /* the example's, before each message */
	struct kvmhold_vm *vm;
	struct kvmhold_vcpu *vcpu;
	pthread_t thread;
	atomic_bool stopping;
	atomic_ulong holes;           /* guest accesses that found no memory */
	atomic_ulong port_exits;      /* the guest's writes to EX_IO_PORT */
};

/*
 * Writes the page tables and the code into low, the host memory behind
 * guest address 0: [0, 2 MiB) mapped, and [high_gpa, high_gpa + 2 MiB)
 * too unless high_gpa is 0 (below 512 GiB, 1 GiB aligned).  Returns the
 * control block.
 */
void *example_guest_setup(uint8_t *low, uint64_t high_gpa,
			  const uint8_t *code, size_t code_size);

/* vCPU 0 of ex->vm: set up for 64-bit mode at EX_CODE_GPA, and running on
 * a thread of its own.  0 or -errno. */
int example_vcpu_start(struct example_vm *ex);

/* Stops the vCPU thread (a kick) and joins it.  0 if it ran without error. */
int example_vcpu_stop(struct example_vm *ex);

/* Waits, for a minute at most, until the guest has set *word to at least
 * target.  0 or -ETIMEDOUT. */
int example_wait_for(const uint64_t *word, uint64_t target);

/* "NAME: what: strerror(-err)" on stderr; returns 1, an exit status. */
int example_fail(const struct example_vm *ex, const char *what, int err);

#endif
