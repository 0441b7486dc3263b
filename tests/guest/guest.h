/* SPDX-License-Identifier: MIT */
/* Guest-side helpers: ucalls, asserts, and the program entry points. */
#ifndef TVM_GUEST_H
#define TVM_GUEST_H

#include <stdint.h>

#include "tvm_abi.h"

#define READ_ONCE(x)      (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v)  (*(volatile __typeof__(x) *)&(x) = (v))

static inline int guest_should_stop(const struct tvm_shared *sh)
{
	return READ_ONCE(sh->stop) != 0;
}

/* ucall.c */
void ucall_send(struct tvm_ucall *uc);
void ucall(uint64_t type, uint64_t nr_args, uint64_t a0, uint64_t a1);
void ucall_report(uint64_t type, const char *file, uint64_t line,
		  const char *msg, uint64_t nr_args, uint64_t a0, uint64_t a1);
__attribute__((noreturn)) void guest_halt_forever(void);

/*
 * A failed assert reports file:line, the expression and up to two values,
 * then stops this vCPU for good: the host does not resume it.
 */
#define __GUEST_ASSERT(cond, str, n, a, b)                                     \
	do {                                                                   \
		if (!(cond)) {                                                 \
			ucall_report(TVM_UCALL_ASSERT_FAIL, __FILE__,          \
				     __LINE__, str, n, (uint64_t)(a),          \
				     (uint64_t)(b));                           \
			guest_halt_forever();                                  \
		}                                                              \
	} while (0)

#define GUEST_ASSERT(cond)         __GUEST_ASSERT(cond, #cond, 0, 0, 0)
#define GUEST_ASSERT_1(cond, a)    __GUEST_ASSERT(cond, #cond, 1, a, 0)
#define GUEST_ASSERT_2(cond, a, b) __GUEST_ASSERT(cond, #cond, 2, a, b)
#define GUEST_ASSERT_EQ(a, b)                                                  \
	do {                                                                   \
		uint64_t __a = (uint64_t)(a), __b = (uint64_t)(b);             \
		__GUEST_ASSERT(__a == __b, #a " == " #b, 2, __a, __b);         \
	} while (0)

#define GUEST_PRINT(msg, a, b) \
	ucall_report(TVM_UCALL_PRINT, __FILE__, __LINE__, msg, 2, a, b)

/* The programs, one file each; idx is the vCPU index. */
void prog_count(struct tvm_shared *sh, unsigned idx, int sync);
void prog_halt(struct tvm_shared *sh, unsigned idx);
void prog_walk(struct tvm_shared *sh, unsigned idx);
void prog_assert_test(struct tvm_shared *sh, unsigned idx);
void prog_exception_test(struct tvm_shared *sh, unsigned idx);
void prog_probe(struct tvm_shared *sh, unsigned idx);
void prog_dirty(struct tvm_shared *sh, unsigned idx);

#endif
