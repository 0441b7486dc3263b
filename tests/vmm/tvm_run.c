// SPDX-License-Identifier: MIT
/*
 * The vCPU loop: kvmhold_vcpu_run() until the guest is done, fails or is
 * stopped, handling the guest's ucalls and exits on the vCPU's own thread.
 * Also the failure log, which any thread may append to.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "tvm.h"

/* Statistics: written by the vCPU thread only, read by anybody. */
#define STAT_INC(v, field) \
	__atomic_fetch_add(&(v)->stats.field, 1, __ATOMIC_RELAXED)

/* ---- failures ---------------------------------------------------------- */

void tvm_fail(struct tvm *t, int vcpu_idx, const char *fmt, ...)
{
	char msg[TVM_MSG_LEN];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	pthread_mutex_lock(&t->lock);
	n = t->nr_failures;
	if (n < TVM_MAX_FAILURES) {
		t->failures[n].vcpu = vcpu_idx;
		memcpy(t->failures[n].msg, msg, sizeof(msg));
	}
	__atomic_store_n(&t->nr_failures, n + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&t->lock);

	if (t->opts.quiet)
		return;
	if (vcpu_idx >= 0)
		fprintf(stderr, "tvm: vCPU %d: %s\n", vcpu_idx, msg);
	else
		fprintf(stderr, "tvm: %s\n", msg);
}

int tvm_failures(struct tvm *t)
{
	return __atomic_load_n(&t->nr_failures, __ATOMIC_ACQUIRE);
}

/* Entries are never changed once written; the lock orders their writing. */
const char *tvm_failure_msg(struct tvm *t, int i)
{
	const char *msg = NULL;

	pthread_mutex_lock(&t->lock);
	if (i >= 0 && i < t->nr_failures && i < TVM_MAX_FAILURES)
		msg = t->failures[i].msg;
	pthread_mutex_unlock(&t->lock);
	return msg;
}

int tvm_failure_vcpu(struct tvm *t, int i)
{
	int vcpu = -1;

	pthread_mutex_lock(&t->lock);
	if (i >= 0 && i < t->nr_failures && i < TVM_MAX_FAILURES)
		vcpu = t->failures[i].vcpu;
	pthread_mutex_unlock(&t->lock);
	return vcpu;
}

/* ---- guest data -------------------------------------------------------- */

/* A NUL-terminated guest string from the system region, bounded. */
static void guest_str(struct tvm *t, uint64_t gpa, char *buf, size_t size)
{
	const char *p;
	size_t max, n;

	if (!gpa) {
		snprintf(buf, size, "?");
		return;
	}
	if (gpa >= t->sys_size) {
		snprintf(buf, size, "<gpa 0x%llx>", (unsigned long long)gpa);
		return;
	}
	p = (const char *)t->sys_hva + gpa;
	max = t->sys_size - gpa;
	if (max > size - 1)
		max = size - 1;
	n = strnlen(p, max);
	memcpy(buf, p, n);
	buf[n] = '\0';
}

static uint64_t guest_rip(struct tvm_vcpu *v)
{
	struct kvm_regs regs;

	if (kvmhold_vcpu_ioctl(v->vcpu, KVM_GET_REGS, &regs) < 0)
		return ~0ull;
	return regs.rip;
}

static const char *const exception_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
	"#DF", "CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "#15",
	"#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

/* ---- ucalls ------------------------------------------------------------ */

static enum tvm_vcpu_state assert_failed(struct tvm_vcpu *v,
					 const struct tvm_ucall *uc)
{
	struct tvm *t = v->tvm;
	char file[96], expr[96], vals[64] = "";

	guest_str(t, uc->file, file, sizeof(file));
	guest_str(t, uc->msg, expr, sizeof(expr));
	if (uc->nr_args == 1)
		snprintf(vals, sizeof(vals), " (0x%llx)",
			 (unsigned long long)uc->args[0]);
	else if (uc->nr_args >= 2)
		snprintf(vals, sizeof(vals), " (0x%llx, 0x%llx)",
			 (unsigned long long)uc->args[0],
			 (unsigned long long)uc->args[1]);
	tvm_fail(t, (int)v->idx, "%s:%llu: %s%s", file,
		 (unsigned long long)uc->line, expr, vals);
	return TVM_VCPU_FAILED;
}

static enum tvm_vcpu_state guest_exception(struct tvm_vcpu *v,
					   const struct tvm_ucall *uc)
{
	uint64_t vec = uc->args[0];
	const char *name = vec < 32 && exception_names[vec] ?
			   exception_names[vec] : "?";

	tvm_fail(v->tvm, (int)v->idx,
		 "guest exception %s (vector %llu) at rip 0x%llx, error code 0x%llx, cr2 0x%llx",
		 name, (unsigned long long)vec, (unsigned long long)uc->args[2],
		 (unsigned long long)uc->args[1], (unsigned long long)uc->args[3]);
	return TVM_VCPU_FAILED;
}

static void guest_print(struct tvm_vcpu *v, const struct tvm_ucall *uc)
{
	char file[96], msg[128];

	guest_str(v->tvm, uc->file, file, sizeof(file));
	guest_str(v->tvm, uc->msg, msg, sizeof(msg));
	fprintf(stderr, "tvm: vCPU %u: %s:%llu: %s (0x%llx, 0x%llx)\n", v->idx,
		file, (unsigned long long)uc->line, msg,
		(unsigned long long)uc->args[0], (unsigned long long)uc->args[1]);
}

static enum tvm_vcpu_state handle_ucall(struct tvm_vcpu *v, uint32_t gpa)
{
	struct tvm *t = v->tvm;
	struct tvm_ucall uc;

	/* The struct is on the guest's stack, inside the system region. */
	if (gpa >= t->sys_size || sizeof(uc) > t->sys_size - gpa) {
		tvm_fail(t, (int)v->idx, "ucall with bad address 0x%x", gpa);
		return TVM_VCPU_FAILED;
	}
	memcpy(&uc, (char *)t->sys_hva + gpa, sizeof(uc));
	STAT_INC(v, ucalls);

	switch (uc.type) {
	case TVM_UCALL_DONE:
		return TVM_VCPU_DONE;
	case TVM_UCALL_SYNC:
		STAT_INC(v, syncs);
		if (t->opts.on_sync)
			t->opts.on_sync(t, v->idx, uc.args[0], t->opts.cookie);
		return TVM_VCPU_RUNNING;
	case TVM_UCALL_ASSERT_FAIL:
		return assert_failed(v, &uc);
	case TVM_UCALL_PRINT:
		guest_print(v, &uc);
		return TVM_VCPU_RUNNING;
	case TVM_UCALL_EXCEPTION:
		return guest_exception(v, &uc);
	default:
		tvm_fail(t, (int)v->idx, "unknown ucall type %llu",
			 (unsigned long long)uc.type);
		return TVM_VCPU_FAILED;
	}
}

/* ---- exits ------------------------------------------------------------- */

static enum tvm_vcpu_state handle_io(struct tvm_vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t gpa;

	STAT_INC(v, io);
	if (run->io.port != TVM_UCALL_PORT ||
	    run->io.direction != KVM_EXIT_IO_OUT ||
	    run->io.size != 4 || run->io.count != 1) {
		tvm_fail(v->tvm, (int)v->idx,
			 "unexpected port I/O: %s port 0x%x size %u count %u at rip 0x%llx",
			 run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
			 run->io.port, run->io.size, run->io.count,
			 (unsigned long long)guest_rip(v));
		return TVM_VCPU_FAILED;
	}
	memcpy(&gpa, (char *)run + run->io.data_offset, sizeof(gpa));
	return handle_ucall(v, gpa);
}

/*
 * MMIO inside the test region means the guest touched RAM that had no
 * memslot at that moment: a "hole".  Reads see zeros, writes are dropped,
 * as a naive VMM would do; tests count these.
 */
static enum tvm_vcpu_state handle_mmio(struct tvm_vcpu *v)
{
	struct tvm *t = v->tvm;
	struct kvm_run *run = v->run;
	uint64_t gpa = run->mmio.phys_addr;

	STAT_INC(v, mmio);
	if (t->test_size && gpa >= t->test_gpa &&
	    gpa - t->test_gpa < t->test_size) {
		STAT_INC(v, holes);
		if (!run->mmio.is_write)
			memset(run->mmio.data, 0, sizeof(run->mmio.data));
		return TVM_VCPU_RUNNING;
	}
	tvm_fail(t, (int)v->idx, "unexpected MMIO %s at gpa 0x%llx, len %u, rip 0x%llx",
		 run->mmio.is_write ? "write" : "read",
		 (unsigned long long)gpa, run->mmio.len,
		 (unsigned long long)guest_rip(v));
	return TVM_VCPU_FAILED;
}

static enum tvm_vcpu_state handle_exit(struct tvm_vcpu *v)
{
	struct kvm_run *run = v->run;
	struct tvm *t = v->tvm;
	int idx = (int)v->idx;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return handle_io(v);
	case KVM_EXIT_MMIO:
		return handle_mmio(v);
	case KVM_EXIT_HLT:
		STAT_INC(v, hlt);
		return TVM_VCPU_RUNNING;
	case KVM_EXIT_SHUTDOWN:
		tvm_fail(t, idx, "KVM_EXIT_SHUTDOWN (triple fault?) at rip 0x%llx",
			 (unsigned long long)guest_rip(v));
		return TVM_VCPU_FAILED;
	case KVM_EXIT_INTERNAL_ERROR:
		tvm_fail(t, idx, "KVM_EXIT_INTERNAL_ERROR suberror %u (data %u: 0x%llx 0x%llx) at rip 0x%llx",
			 run->internal.suberror, run->internal.ndata,
			 (unsigned long long)(run->internal.ndata > 0 ? run->internal.data[0] : 0),
			 (unsigned long long)(run->internal.ndata > 1 ? run->internal.data[1] : 0),
			 (unsigned long long)guest_rip(v));
		return TVM_VCPU_FAILED;
	case KVM_EXIT_FAIL_ENTRY:
		tvm_fail(t, idx, "KVM_EXIT_FAIL_ENTRY reason 0x%llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return TVM_VCPU_FAILED;
	default:
		tvm_fail(t, idx, "unexpected exit reason %u at rip 0x%llx",
			 run->exit_reason, (unsigned long long)guest_rip(v));
		return TVM_VCPU_FAILED;
	}
}

/*
 * While stopping, a vCPU halted inside KVM (in-kernel irqchip, interrupts
 * off) would never see the stop flag: make it runnable, so it goes on after
 * its hlt.
 */
static void wake_halted(struct tvm_vcpu *v)
{
	struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };
	int r;

	r = kvmhold_vcpu_ioctl(v->vcpu, KVM_SET_MP_STATE, &mp);
	if (r < 0)
		tvm_fail(v->tvm, (int)v->idx, "KVM_SET_MP_STATE: %s", strerror(-r));
}

static enum tvm_vcpu_state vcpu_step(struct tvm_vcpu *v)
{
	struct tvm *t = v->tvm;
	int r;

	if (__atomic_load_n(&t->force_stop, __ATOMIC_ACQUIRE))
		return TVM_VCPU_STOPPED;
	STAT_INC(v, runs);
	r = kvmhold_vcpu_run(v->vcpu);
	if (r == -EINTR) {
		/*
		 * As a VMM does after its own kick: take back the immediate_exit
		 * it may have set (1 is the VMM's; the library uses another value).
		 */
		if (__atomic_load_n(&v->run->immediate_exit, __ATOMIC_SEQ_CST) == 1)
			__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		STAT_INC(v, eintr);
		if (__atomic_load_n(&t->force_stop, __ATOMIC_ACQUIRE))
			return TVM_VCPU_STOPPED;
		if (t->opts.irqchip && tvm_stopping(t))
			wake_halted(v);
		return TVM_VCPU_RUNNING;
	}
	if (r < 0) {
		tvm_fail(t, (int)v->idx, "kvmhold_vcpu_run: %s", strerror(-r));
		return TVM_VCPU_FAILED;
	}
	STAT_INC(v, exits);
	return handle_exit(v);
}

int tvm_run_vcpu(struct tvm *t, unsigned idx)
{
	struct tvm_vcpu *v;
	enum tvm_vcpu_state st;

	if (idx >= t->nr_vcpus)
		return -1;
	v = &t->vcpus[idx];
	__atomic_store_n(&v->tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
	__atomic_store_n(&v->state, TVM_VCPU_RUNNING, __ATOMIC_RELEASE);
	do
		st = vcpu_step(v);
	while (st == TVM_VCPU_RUNNING);
	__atomic_store_n(&v->state, st, __ATOMIC_RELEASE);
	return st == TVM_VCPU_DONE ? 0 : -1;
}
