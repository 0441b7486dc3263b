// SPDX-License-Identifier: MIT
/*
 * The library's kick: the immediate_exit mark plus a signal to the thread
 * in KVM_RUN, and the signal's handler.
 *
 * The handler's only job is to make a vCPU thread that is inside KVM_RUN
 * return with -EINTR; it just counts.  The library installs it once per
 * process for each signal VMs use, and refuses a signal the VMM already
 * handles itself (-EBUSY): it never replaces another handler or an ignored
 * signal.  SA_RESTART keeps a late kick from failing the VMM's own
 * restartable system calls on a thread that has left KVM_RUN; calls that
 * are never restarted (poll, epoll_wait, nanosleep, select, sigtimedwait,
 * semop and others, see signal(7)) can still see EINTR from a late kick.
 *
 * Everything a kick does is async-signal-safe: lock-free atomics and the
 * getpid, tgkill and futex system calls.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "internal.h"
#include "test_hooks.h"

/*
 * Counts kick signals delivered to this thread.  initial-exec TLS has no
 * lazy allocation, so it is safe to touch from a signal handler.
 */
static __thread volatile sig_atomic_t kicks_seen __attribute__((tls_model("initial-exec")));

static void on_kick(int sig)
{
	(void)sig;
	kicks_seen++;
}

unsigned kick_signal_seen(void)
{
	return (unsigned)kicks_seen;
}

bool kick_signal_usable(int sig)
{
	return sig == SIGUSR1 || sig == SIGUSR2 || (sig >= SIGRTMIN && sig <= SIGRTMAX);
}

static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;

/* Under install_lock: 1 if the handler is ours already, 0 if free, or -errno. */
static int signal_owner(int sig)
{
	struct sigaction old;

	if (sigaction(sig, NULL, &old))
		return -errno;
	if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == on_kick)
		return 1;  /* another VM installed it already */
	if (((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) &&
	    !test_broken(BREAK_SIGNAL_OWNER))
		return -EBUSY;   /* the VMM handles or ignores it: not ours to take */
	return 0;
}

/* Could kick_signal_install(sig) succeed?  Changes nothing. */
int kick_signal_check(int sig)
{
	int r;

	if (!kick_signal_usable(sig))
		return -EINVAL;
	pthread_mutex_lock(&install_lock);
	r = signal_owner(sig);
	pthread_mutex_unlock(&install_lock);
	return r < 0 ? r : 0;
}

int kick_signal_install(int sig)
{
	struct sigaction sa;
	int r;

	if (!kick_signal_usable(sig))
		return -EINVAL;
	pthread_mutex_lock(&install_lock);
	r = signal_owner(sig);
	if (r == 0) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_kick;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(sig, &sa, NULL))
			r = -errno;
	}
	pthread_mutex_unlock(&install_lock);
	return r < 0 ? r : 0;
}

/* Put the library's mark in immediate_exit unless the field is set already. */
bool immediate_exit_mark(struct kvm_run *run)
{
	unsigned char zero = 0;

	return __atomic_compare_exchange_n(&run->immediate_exit, &zero, IMMEDIATE_EXIT_MARK,
					   false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* Remove the library's mark; false if the field did not hold it (0, or the VMM's 1). */
bool immediate_exit_unmark(struct kvm_run *run)
{
	unsigned char mark = IMMEDIATE_EXIT_MARK;

	if (__atomic_load_n(&run->immediate_exit, __ATOMIC_SEQ_CST) != IMMEDIATE_EXIT_MARK)
		return false;
	return __atomic_compare_exchange_n(&run->immediate_exit, &mark, 0, false,
					   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/*
 * Force one vCPU out of KVM_RUN: the mark first, then the signal (the
 * order that closes the lost-kick race, see the top of hold.c).  The
 * signal goes by thread id, so a thread that has since left KVM_RUN only
 * sees a spurious, harmless signal.
 */
void kick_vcpu_out(struct kvmhold_vcpu *vcpu)
{
	int tid;

	if (!test_broken(BREAK_IMMEDIATE_EXIT))
		immediate_exit_mark(vcpu->run);
	tid = atomic_load(&vcpu->run_tid);
	test_delay(&kvmhold_test_kick_delay_ns);
	if (tid && !test_broken(BREAK_KICK_SIGNAL)) {
		syscall(SYS_tgkill, getpid(), tid, vcpu->vm->kick_signal);
		atomic_fetch_add_explicit(&vcpu->vm->signals_sent, 1, memory_order_relaxed);
	}
}
