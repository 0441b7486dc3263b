/* SPDX-License-Identifier: MIT */
/*
 * Assertions for the test programs: a failed check prints file:line and
 * exits 1; skip() exits 77.  Tests may print; the library never does.
 */
#ifndef KVMHOLD_TEST_CHECK_H
#define KVMHOLD_TEST_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__,  \
				__LINE__, #cond);                               \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
			exit(1);                                                \
		}                                                               \
	} while (0)

/* expr must return exactly want (an -errno or a value). */
#define CHECK_RET(expr, want)                                                   \
	do {                                                                    \
		long got_ = (long)(expr);                                       \
		long want_ = (long)(want);                                      \
		if (got_ != want_) {                                            \
			fprintf(stderr, "%s:%d: %s returned %ld (%s), want %ld (%s)\n", \
				__FILE__, __LINE__, #expr, got_,                \
				got_ < 0 ? strerror((int)-got_) : "ok", want_,  \
				want_ < 0 ? strerror((int)-want_) : "ok");      \
			exit(1);                                                \
		}                                                               \
	} while (0)

#define CHECK_OK(expr) CHECK_RET(expr, 0)

static inline void skip(const char *why)
{
	printf("skip: %s\n", why);
	exit(77);
}

#endif
