/* SPDX-License-Identifier: MIT */
/*
 * The flat guest image (tests/guest, linked by guest.lds), embedded in the
 * host library.  TVM_GUEST_BIN is its path, passed by tests/vmm.mk.
 */
#ifndef TVM_GUEST_BIN
#error "TVM_GUEST_BIN: path of the flat guest binary"
#endif

	.section .rodata.tvm_guest, "a"
	.balign 64
	.globl tvm_guest_blob
	.type tvm_guest_blob, @object
tvm_guest_blob:
	.incbin TVM_GUEST_BIN
	.globl tvm_guest_blob_end
tvm_guest_blob_end:
	.size tvm_guest_blob, tvm_guest_blob_end - tvm_guest_blob

	.section .note.GNU-stack, "", @progbits
