// SPDX-License-Identifier: MIT
/*
 * GUEST_PROG_HALT: interrupts off, hlt, count the wake-ups.  Without an
 * in-kernel irqchip every hlt is a KVM_EXIT_HLT; with one the vCPU blocks in
 * KVM until the host makes it runnable again.
 */
#include "guest.h"

void prog_halt(struct tvm_shared *sh, unsigned idx)
{
	struct tvm_vcpu_line *me = &sh->vcpu[idx];

	while (!guest_should_stop(sh)) {
		__asm__ volatile("cli; hlt" ::: "memory");
		WRITE_ONCE(me->counter, me->counter + 1);
	}
}
