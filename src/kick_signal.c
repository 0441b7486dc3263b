// SPDX-License-Identifier: MIT
/*
 * The kick signal.  Its only job is to make a vCPU thread that is inside
 * KVM_RUN return with -EINTR; the handler itself does almost nothing.  The
 * library installs it once per process for each signal VMs use, and refuses
 * a signal the VMM already handles itself (-EBUSY): it never replaces
 * another handler or an ignored signal.  SA_RESTART keeps a late kick from failing the VMM's own
 * system calls on a vCPU thread that has already left KVM_RUN.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

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

int kick_signal_install(int sig)
{
	static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
	struct sigaction old, sa;
	int r = 0;

	if (!kick_signal_usable(sig))
		return -EINVAL;
	pthread_mutex_lock(&install_lock);
	if (sigaction(sig, NULL, &old)) {
		r = -errno;
	} else if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == on_kick) {
		r = 0;  /* another VM installed it already */
	} else if (((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) &&
		   !test_broken(BREAK_SIGNAL_OWNER)) {
		r = -EBUSY;   /* the VMM handles or ignores it: not ours to take */
	} else {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_kick;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(sig, &sa, NULL))
			r = -errno;
	}
	pthread_mutex_unlock(&install_lock);
	return r;
}
