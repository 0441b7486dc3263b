// SPDX-License-Identifier: MIT
/*
 * Guest -> host reports.  The struct lives on this vCPU's stack; `outl` hands
 * its address to the host, which reads it on the vCPU thread before the guest
 * runs again, so no locking is needed.
 */
#include "guest.h"

void ucall_send(struct tvm_ucall *uc)
{
	uint32_t gpa = (uint32_t)(uintptr_t)uc;

	/* "memory": the host reads *uc, so every store must happen first. */
	__asm__ volatile("outl %0, %w1"
			 : : "a"(gpa), "Nd"((uint16_t)TVM_UCALL_PORT) : "memory");
}

void ucall_report(uint64_t type, const char *file, uint64_t line,
		  const char *msg, uint64_t nr_args, uint64_t a0, uint64_t a1)
{
	struct tvm_ucall uc = {
		.type = type,
		.nr_args = nr_args,
		.args = { a0, a1 },
		.file = (uint64_t)(uintptr_t)file,
		.line = line,
		.msg = (uint64_t)(uintptr_t)msg,
	};

	ucall_send(&uc);
}

void ucall(uint64_t type, uint64_t nr_args, uint64_t a0, uint64_t a1)
{
	ucall_report(type, 0, 0, 0, nr_args, a0, a1);
}

void guest_halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt" ::: "memory");
}
