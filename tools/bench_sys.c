// SPDX-License-Identifier: MIT
/*
 * Small system helpers: clocks, futexes, signals, and the progress line.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>

#include "bench.h"

uint64_t bench_now_ns(void)
{
	return tvm_now_ns();         /* CLOCK_MONOTONIC */
}

void bench_sleep_until(uint64_t when)
{
	struct timespec ts = { .tv_sec = (time_t)(when / 1000000000ull),
			       .tv_nsec = (long)(when % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

void bench_sleep_ns(uint64_t ns)
{
	bench_sleep_until(bench_now_ns() + ns);
}

/*
 * Raw futex calls: async-signal-safe, so the kvmtool protocol can park in
 * its signal handler with them.  Private futexes: all waiters are threads of
 * this process.  errno is saved for the same reason.
 */
int bench_futex_wait(uint32_t *addr, uint32_t val, uint64_t timeout_ns)
{
	struct timespec ts = { .tv_sec = (time_t)(timeout_ns / 1000000000ull),
			       .tv_nsec = (long)(timeout_ns % 1000000000ull) };
	int saved = errno, r;

	r = (int)syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val,
			 timeout_ns ? &ts : NULL, NULL, 0);
	if (r < 0)
		r = errno == EAGAIN ? 0 : -errno;
	errno = saved;
	return r;
}

void bench_futex_wake(uint32_t *addr, int nr)
{
	int saved = errno;

	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, nr, NULL, NULL, 0);
	errno = saved;
}

void bench_futex_bump(uint32_t *addr, int nr)
{
	__atomic_fetch_add(addr, 1, __ATOMIC_SEQ_CST);
	bench_futex_wake(addr, nr);
}

int bench_gettid(void)
{
	return (int)syscall(SYS_gettid);
}

int bench_tgkill(int tid, int sig)
{
	int saved = errno;
	int r = syscall(SYS_tgkill, getpid(), tid, sig) < 0 ? -errno : 0;

	errno = saved;
	return r;
}

void bench_empty_handler(int sig)
{
	(void)sig;
}

int bench_install_handler(int sig, void (*fn)(int), int flags)
{
	struct sigaction sa = { .sa_handler = fn, .sa_flags = flags }, old;

	if (sigaction(sig, NULL, &old))
		return -errno;
	if (old.sa_handler == fn && !(old.sa_flags & SA_SIGINFO))
		return 0;
	if ((old.sa_flags & SA_SIGINFO) ||
	    (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN))
		return -EBUSY;
	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL) ? -errno : 0;
}

int bench_kvm_cap(long cap)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC), r;

	if (fd < 0)
		return 0;
	r = ioctl(fd, KVM_CHECK_EXTENSION, cap);
	close(fd);
	return r;
}

static int progress_shown = -1;   /* -1: not decided, 0: no tty, 1: tty */

void bench_progress(const char *fmt, ...)
{
	va_list ap;

	if (progress_shown < 0)
		progress_shown = isatty(STDERR_FILENO) ? 1 : 0;
	if (!progress_shown)
		return;
	fputs("\r\033[K", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

void bench_progress_done(void)
{
	if (progress_shown == 1) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
}

void bench_err(const char *fmt, ...)
{
	va_list ap;

	bench_progress_done();
	fputs("kvmhold-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
