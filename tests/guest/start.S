/* SPDX-License-Identifier: MIT */
/*
 * Guest entry and exception stubs.  The host enters at _start in long mode
 * with rdi = vCPU index, rsi = shared page, rsp = top of this vCPU's stack
 * (16-byte aligned), interrupts off.
 */
#define ISR_STRIDE 16
#define NR_ISR     32

	/* struct tvm_image_header (tvm_abi.h); the linker puts .head first. */
	.section .head, "a"
	.globl tvm_image_header
tvm_image_header:
	.quad 0x746d766775657374	/* TVM_IMAGE_MAGIC */
	.quad _start
	.quad isr_stubs
	.quad ISR_STRIDE
	.quad NR_ISR
	.quad __image_end

	.text
	.globl _start
_start:
	xor %ebp, %ebp
	call guest_main
1:	cli
	hlt
	jmp 1b

	/*
	 * One stub per vector, ISR_STRIDE bytes apart, so the host can point
	 * the IDT at them.  Each leaves [rsp] = vector, [rsp+8] = error code
	 * (0 for vectors without one), [rsp+16] = the faulting rip.
	 */
	.balign ISR_STRIDE
isr_stubs:
	.irp vec, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.balign ISR_STRIDE
	.if (\vec == 8) || ((\vec >= 10) && (\vec <= 14)) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	pushq $\vec
	.else
	pushq $0
	pushq $\vec
	.endif
	jmp isr_common
	.endr

isr_common:
	mov (%rsp), %rdi
	mov 8(%rsp), %rsi
	mov 16(%rsp), %rdx
	and $-16, %rsp
	call guest_exception	/* does not return */
2:	cli
	hlt
	jmp 2b

	.section .note.GNU-stack, "", @progbits
