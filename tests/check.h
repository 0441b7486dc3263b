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

#include "test_hooks.h"

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

/*
 * Proving a test can fail: KVMHOLD_TEST_BREAK=name[,name...] disables the
 * named mechanism in the library (src/test_hooks.h), and the test must
 * then fail.  tests/prove.sh runs each test that way.
 */
static inline void test_apply_breakage(void)
{
	static const struct { const char *name; unsigned bit; } names[] = {
		{ "immediate-exit", BREAK_IMMEDIATE_EXIT },
		{ "kick-signal", BREAK_KICK_SIGNAL },
		{ "entry-check", BREAK_ENTRY_CHECK },
		{ "txn-hold", BREAK_TXN_HOLD },
		{ "txn-undo", BREAK_TXN_UNDO },
		{ "dirty-harvest", BREAK_DIRTY_HARVEST },
	};
	const char *env = getenv("KVMHOLD_TEST_BREAK");
	unsigned i;

	if (!env)
		return;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strstr(env, names[i].name)) {
			kvmhold_test_breakage |= names[i].bit;
			printf("test switch: %s disabled\n", names[i].name);
		}
}

static inline void skip(const char *why)
{
	printf("skip: %s\n", why);
	exit(77);
}

#endif
