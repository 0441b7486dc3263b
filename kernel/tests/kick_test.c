// SPDX-License-Identifier: GPL-2.0-only
/*
 * kick_test: tests of KVM_KICK_ALL_RUNNING_VCPUS / KVM_RESUME_ALL_KICKED_VCPUS
 * (the patch series in kernel/patches/), run on the patched KVM modules,
 * e.g. inside the nested lane (upstream kvm_amd under QEMU TCG).  Guests
 * are a few bytes of real-mode code.
 *
 * usage: kick_test           the capability must be present; run all tests
 *        kick_test --stock   the capability must be absent (stock modules):
 *                            KVM_CHECK_EXTENSION gives 0, the ioctls ENOTTY
 *
 * Prints "PASS  name" / "FAIL  name: why" per test and "N passed, N failed".
 * Exit 0 if all passed, 1 otherwise, 77 if /dev/kvm is missing.
 *
 * No sleep stands in for synchronisation: every wait is for an observable
 * state (a guest counter moving, a vCPU thread's own counters, the thread
 * asleep inside its KVM_RUN as /proc shows it), with a deadline that fails
 * the test.  The only fixed delays are observation windows, during which
 * something must NOT happen (a held guest's counter must not move); each
 * says so where it is used.
 *
 * Build (make kernel-modules does it): take the series' uapi header out of
 * its first patch, then compile with the folder holding it on the path:
 *   mkdir uapi && patch -p1 -d uapi < kernel/patches/0001-*.patch
 *   cc -O2 -static -pthread -I uapi/arch/x86/kvm/include/uapi \
 *      -o kick_test kernel/tests/kick_test.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/*
 * The numbers twice: the library's copy (src/kvm_kick_abi.h, what
 * libkvmhold uses) and the series' uapi header (kvm_kick.h, the authority).
 * The library's values and types are captured, its names undefined, the
 * series' header read, and the build stops if any of them differs.  The
 * tests below use the series' definitions.
 */
#include "../../src/kvm_kick_abi.h"

#define LIB_ABI(x) typedef __typeof__(x) lib_type_##x; enum { lib_value_##x = (x) };
LIB_ABI(KVM_CAP_KICK_ALL_RUNNING_VCPUS)
LIB_ABI(KVM_KICK_CAP_TO_USERSPACE)
LIB_ABI(KVM_KICK_ALL_RUNNING_VCPUS)
LIB_ABI(KVM_RESUME_ALL_KICKED_VCPUS)
LIB_ABI(KVM_KICK_TO_USERSPACE)
#undef KVM_CAP_KICK_ALL_RUNNING_VCPUS
#undef KVM_KICK_CAP_TO_USERSPACE
#undef KVM_KICK_ALL_RUNNING_VCPUS
#undef KVM_RESUME_ALL_KICKED_VCPUS
#undef KVM_KICK_TO_USERSPACE

#include "kvm_kick.h"

#define SAME_ABI(x) _Static_assert(lib_value_##x == (x) && \
	__builtin_types_compatible_p(lib_type_##x, __typeof__(x)), \
	"src/kvm_kick_abi.h and the series' uapi header differ on " #x);
SAME_ABI(KVM_CAP_KICK_ALL_RUNNING_VCPUS)
SAME_ABI(KVM_KICK_CAP_TO_USERSPACE)
SAME_ABI(KVM_KICK_ALL_RUNNING_VCPUS)
SAME_ABI(KVM_RESUME_ALL_KICKED_VCPUS)
SAME_ABI(KVM_KICK_TO_USERSPACE)

#define MEM_SIZE	0x10000		/* slot 0: code and counters */
#define DATA_GPA	0x10000		/* slot 1 (split test): 16 pages */
#define DATA_SIZE	0x10000
#define CODE_COUNT	0x1000		/* inc dword [bx]; jmp $-3 */
#define CODE_IO		0x1100		/* out 0x10,al; inc dword [bx]; jmp */
#define CODE_HLT	0x1200		/* cli; hlt; jmp $-1 */
#define CODE_PAGES	0x1300		/* ds=0x1000: inc dword [si], 16 pages */
#define COUNTERS	0x2000		/* vCPU i counts at COUNTERS + 4 * i */

static const uint8_t code_count[] = { 0x66, 0xff, 0x07, 0xeb, 0xfb };
static const uint8_t code_io[] = { 0xe6, 0x10, 0x66, 0xff, 0x07, 0xeb, 0xf9 };
static const uint8_t code_hlt[] = { 0xfa, 0xf4, 0xeb, 0xfd };
static const uint8_t code_pages[] = {
	0xb8, 0x00, 0x10,		/* mov ax, 0x1000 */
	0x8e, 0xd8,			/* mov ds, ax */
	0x31, 0xf6,			/* top: xor si, si */
	0x66, 0xff, 0x04,		/* l: inc dword [si] */
	0x81, 0xc6, 0x00, 0x10,		/* add si, 0x1000 */
	0x75, 0xf7,			/* jnz l */
	0xeb, 0xf3,			/* jmp top */
};

static int kvm_fd;
static int passed, failed;

struct vm;
struct vcpu {
	struct vm *vm;
	int id, fd;
	struct kvm_run *run;
	pthread_t th;
	int tid;			/* set by the thread; 0 before */
	unsigned long entries;		/* KVM_RUN calls started (atomic) */
	volatile int stop;
	/* park: on an IO exit, stay in userspace until it is cleared. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int park, parked;		/* under lock */
	volatile unsigned long io_exits, eintr, hole_exits, other_exits;
	void (*on_io)(struct vcpu *);	/* called on each IO exit */
};

struct vm {
	int fd;
	uint8_t *mem, *data;
	struct vcpu vcpu[4];
	int nr;
	int irqchip;
};

__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "kick_test: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (errno %d: %s)\n", errno, strerror(errno));
	va_end(ap);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void msleep(int ms)
{
	usleep(ms * 1000);
}

/*
 * Evaluates cond every millisecond until it holds or secs seconds pass:
 * true if it held.  A bounded wait for an observable state.
 */
#define WAIT_FOR(secs, cond) ({						\
	double end_ = now() + (secs);					\
	int ok_;							\
	while (!(ok_ = !!(cond)) && now() < end_)			\
		msleep(1);						\
	ok_;								\
})

static void result(const char *name, const char *why)
{
	if (why) {
		printf("FAIL  %s: %s\n", name, why);
		failed++;
	} else {
		printf("PASS  %s\n", name);
		passed++;
	}
	fflush(stdout);
}

static void on_sig(int sig)
{
	(void)sig;
}

static uint32_t counter(struct vm *vm, int i)
{
	return __atomic_load_n((uint32_t *)(vm->mem + COUNTERS + 4 * i), __ATOMIC_RELAXED);
}

static void set_slot(struct vm *vm, int slot, uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r))
		die("KVM_SET_USER_MEMORY_REGION slot %d", slot);
}

static void vm_create(struct vm *vm, int irqchip)
{
	memset(vm, 0, sizeof(*vm));
	vm->fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm->fd < 0)
		die("KVM_CREATE_VM");
	vm->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	vm->data = mmap(NULL, DATA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (vm->mem == MAP_FAILED || vm->data == MAP_FAILED)
		die("mmap");
	memcpy(vm->mem + CODE_COUNT, code_count, sizeof(code_count));
	memcpy(vm->mem + CODE_IO, code_io, sizeof(code_io));
	memcpy(vm->mem + CODE_HLT, code_hlt, sizeof(code_hlt));
	memcpy(vm->mem + CODE_PAGES, code_pages, sizeof(code_pages));
	set_slot(vm, 0, 0, MEM_SIZE, vm->mem);
	if (irqchip && ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0))
		die("KVM_CREATE_IRQCHIP");
	vm->irqchip = irqchip;
}

static struct vcpu *vcpu_add(struct vm *vm, uint16_t ip)
{
	int mmap_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct vcpu *v = &vm->vcpu[vm->nr];
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	memset(v, 0, sizeof(*v));
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->cond, NULL);
	v->vm = vm;
	v->id = vm->nr++;
	v->fd = ioctl(vm->fd, KVM_CREATE_VCPU, v->id);
	if (v->fd < 0)
		die("KVM_CREATE_VCPU");
	v->run = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED)
		die("mmap kvm_run");
	if (ioctl(v->fd, KVM_GET_SREGS, &sregs))
		die("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs))
		die("KVM_SET_SREGS");
	memset(&regs, 0, sizeof(regs));
	regs.rip = ip;
	regs.rbx = COUNTERS + 4 * v->id;
	regs.rflags = 2;
	if (ioctl(v->fd, KVM_SET_REGS, &regs))
		die("KVM_SET_REGS");
	if (vm->irqchip) {
		/* With the in-kernel LAPIC, APs wait for INIT/SIPI: start them. */
		struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };

		if (ioctl(v->fd, KVM_SET_MP_STATE, &mp))
			die("KVM_SET_MP_STATE");
	}
	return v;
}

static unsigned long entries(struct vcpu *v)
{
	return __atomic_load_n(&v->entries, __ATOMIC_ACQUIRE);
}

/* On the vCPU thread, after an IO exit: stays in userspace while v->park. */
static void park_here(struct vcpu *v)
{
	pthread_mutex_lock(&v->lock);
	if (v->park && !v->stop) {
		v->parked = 1;
		pthread_cond_broadcast(&v->cond);
		while (v->park && !v->stop)
			pthread_cond_wait(&v->cond, &v->lock);
	}
	v->parked = 0;
	pthread_mutex_unlock(&v->lock);
}

/* Waits (up to 5 s) until v's thread is parked in userspace; 0 if it is. */
static int wait_parked(struct vcpu *v)
{
	struct timespec ts;
	int parked;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&v->lock);
	while (!v->parked && pthread_cond_timedwait(&v->cond, &v->lock, &ts) != ETIMEDOUT)
		;
	parked = v->parked;
	pthread_mutex_unlock(&v->lock);
	return parked ? 0 : -1;
}

static void set_park(struct vcpu *v, int park)
{
	pthread_mutex_lock(&v->lock);
	v->park = park;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

static int read_proc(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return 0;
}

/*
 * True if v's thread is asleep inside its KVM_RUN: off the CPU in the
 * system call ioctl(v->fd, KVM_RUN) (/proc/self/task/TID/syscall shows the
 * arguments of a blocked task only, "running" otherwise) and in
 * interruptible sleep (state S in .../stat).  That is where a vCPU blocked
 * by the kick waits, and where a vCPU halted with the in-kernel LAPIC does.
 */
static int blocked_in_run(struct vcpu *v)
{
	int tid = __atomic_load_n(&v->tid, __ATOMIC_ACQUIRE);
	unsigned long fd, req;
	char path[64], buf[512], *p;
	long nr;

	if (!tid)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	if (read_proc(path, buf, sizeof(buf)) ||
	    sscanf(buf, "%ld 0x%lx 0x%lx", &nr, &fd, &req) != 3 ||
	    nr != SYS_ioctl || fd != (unsigned long)v->fd || req != KVM_RUN)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	if (read_proc(path, buf, sizeof(buf)))
		return 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'S';
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct kvm_run *run = v->run;

	__atomic_store_n(&v->tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
	while (!v->stop) {
		/*
		 * Counted before the call and after the handling of the
		 * previous exit: once it moves, every earlier exit is counted
		 * (vcpu_sync() relies on it).
		 */
		__atomic_add_fetch(&v->entries, 1, __ATOMIC_SEQ_CST);
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR) {
				v->eintr++;
				run->immediate_exit = 0;
				continue;
			}
			die("KVM_RUN vcpu %d", v->id);
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			v->io_exits++;
			if (v->on_io)
				v->on_io(v);
			park_here(v);
			break;
		case KVM_EXIT_MMIO:
			if (run->mmio.phys_addr >= DATA_GPA &&
			    run->mmio.phys_addr < DATA_GPA + DATA_SIZE)
				v->hole_exits++;
			else
				v->other_exits++;
			if (!run->mmio.is_write)
				memset(run->mmio.data, 0, sizeof(run->mmio.data));
			break;
		case KVM_EXIT_INTR:
			v->eintr++;
			break;
		default:
			fprintf(stderr, "kick_test: vcpu %d: exit reason %u\n", v->id, run->exit_reason);
			v->other_exits++;
			return NULL;
		}
	}
	return NULL;
}

static void vcpu_start(struct vcpu *v)
{
	if (pthread_create(&v->th, NULL, vcpu_thread, v))
		die("pthread_create");
}

/*
 * Returns once v's thread has handled every exit of the KVM_RUN calls it
 * started before: makes its current or next KVM_RUN return (immediate_exit
 * and a signal, repeated: a signal may land outside KVM_RUN) and waits
 * until it starts another.  0, or -1 if it did not within 5 s.
 */
static int vcpu_sync(struct vcpu *v)
{
	unsigned long e = entries(v);

	return WAIT_FOR(5, ({
		int moved_ = entries(v) != e;

		if (!moved_) {
			v->run->immediate_exit = 1;
			pthread_kill(v->th, SIGUSR1);
		}
		moved_;
	})) ? 0 : -1;
}

static void vm_destroy(struct vm *vm)
{
	for (int i = 0; i < vm->nr; i++) {
		struct vcpu *v = &vm->vcpu[i];

		if (!v->th)
			continue;
		pthread_mutex_lock(&v->lock);
		v->stop = 1;
		pthread_cond_broadcast(&v->cond);
		pthread_mutex_unlock(&v->lock);
		v->run->immediate_exit = 1;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		/*
		 * Re-signal until it leaves: a signal may land outside
		 * KVM_RUN.  A VM still kicked blocks nobody here: the tests
		 * resume before they end, and a signal ends a blocked KVM_RUN.
		 */
		if (!WAIT_FOR(10, ({
			pthread_kill(v->th, SIGUSR1);
			pthread_tryjoin_np(v->th, NULL) != EBUSY;
		})))
			die("vCPU %d: its thread did not stop within 10 s", v->id);
	}
	for (int i = 0; i < vm->nr; i++) {
		munmap(vm->vcpu[i].run, ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0));
		close(vm->vcpu[i].fd);
	}
	close(vm->fd);
	munmap(vm->mem, MEM_SIZE);
	munmap(vm->data, DATA_SIZE);
}

static int kick(struct vm *vm)
{
	return ioctl(vm->fd, KVM_KICK_ALL_RUNNING_VCPUS, 0) ? -errno : 0;
}

static int resume(struct vm *vm)
{
	return ioctl(vm->fd, KVM_RESUME_ALL_KICKED_VCPUS, 0) ? -errno : 0;
}

/* Waits (up to 5 s) until vCPU i's counter moves; 0 if it did. */
static int wait_progress(struct vm *vm, int i)
{
	uint32_t c = counter(vm, i);

	return WAIT_FOR(5, counter(vm, i) != c) ? 0 : -1;
}

/*
 * An observation window, not a wait: 0 if no counter of vm moves during
 * ms milliseconds.  Callers use it where the guests must NOT run.
 */
static int stays_stopped(struct vm *vm, int ms)
{
	uint32_t c[4];

	for (int i = 0; i < vm->nr; i++)
		c[i] = counter(vm, i);
	msleep(ms);
	for (int i = 0; i < vm->nr; i++)
		if (counter(vm, i) != c[i])
			return -1;
	return 0;
}

static char why[256];
#define CHECK(cond, ...) do { if (!(cond)) { snprintf(why, sizeof(why), __VA_ARGS__); goto out; } } while (0)

/* ---- the tests -------------------------------------------------------------- */

static void test_capability(void)
{
	struct vm vm;
	int sys = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_KICK_ALL_RUNNING_VCPUS);
	int per_vm;

	vm_create(&vm, 0);
	per_vm = ioctl(vm.fd, KVM_CHECK_EXTENSION, KVM_CAP_KICK_ALL_RUNNING_VCPUS);
	why[0] = 0;
	if (sys != KVM_KICK_CAP_TO_USERSPACE || per_vm != KVM_KICK_CAP_TO_USERSPACE)
		snprintf(why, sizeof(why), "KVM_CHECK_EXTENSION gives %d (/dev/kvm), %d (VM)", sys, per_vm);
	vm_destroy(&vm);
	result("capability", why[0] ? why : NULL);
}

static void test_stock(void)
{
	struct vm vm;
	int sys = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_KICK_ALL_RUNNING_VCPUS);
	int per_vm, rk, rr;

	vm_create(&vm, 0);
	per_vm = ioctl(vm.fd, KVM_CHECK_EXTENSION, KVM_CAP_KICK_ALL_RUNNING_VCPUS);
	rk = kick(&vm);
	rr = resume(&vm);
	why[0] = 0;
	if (sys != 0 || per_vm != 0 || rk != -ENOTTY || rr != -ENOTTY)
		snprintf(why, sizeof(why), "cap %d/%d, kick %d, resume %d (want 0/0, -ENOTTY)",
			 sys, per_vm, rk, rr);
	vm_destroy(&vm);
	result("stock-absent", why[0] ? why : NULL);
}

/* A kick returns only when no vCPU is in guest mode; resume restarts them. */
static void test_kick_resume(void)
{
	struct vm vm;
	double t;
	int r;

	why[0] = 0;
	vm_create(&vm, 0);
	vcpu_start(vcpu_add(&vm, CODE_COUNT));
	vcpu_start(vcpu_add(&vm, CODE_COUNT));
	CHECK(!wait_progress(&vm, 0) && !wait_progress(&vm, 1), "guest counters do not move");
	for (int round = 0; round < 20; round++) {
		t = now();
		r = kick(&vm);
		CHECK(r == 0, "kick: %s", strerror(-r));
		t = now() - t;
		CHECK(!stays_stopped(&vm, 50), "round %d: a counter moved after the kick returned", round);
		r = resume(&vm);
		CHECK(r == 0, "resume: %s", strerror(-r));
		CHECK(!wait_progress(&vm, 0) && !wait_progress(&vm, 1),
		      "round %d: counters do not move after resume", round);
		if (round == 0)
			printf("      kick took %.0f us with 2 vCPUs in guest mode\n", t * 1e6);
	}
out:
	vm_destroy(&vm);
	result("kick-resume", why[0] ? why : NULL);
}

static void test_nested(void)
{
	struct vm vm;
	int r;

	why[0] = 0;
	vm_create(&vm, 0);
	vcpu_start(vcpu_add(&vm, CODE_COUNT));
	CHECK(!wait_progress(&vm, 0), "guest counter does not move");
	CHECK((r = kick(&vm)) == 0, "kick 1: %s", strerror(-r));
	CHECK((r = kick(&vm)) == 0, "kick 2: %s", strerror(-r));
	CHECK((r = kick(&vm)) == 0, "kick 3: %s", strerror(-r));
	CHECK((r = resume(&vm)) == 0, "resume 1: %s", strerror(-r));
	CHECK(!stays_stopped(&vm, 50), "runs after 1 of 3 resumes");
	CHECK((r = resume(&vm)) == 0, "resume 2: %s", strerror(-r));
	CHECK(!stays_stopped(&vm, 50), "runs after 2 of 3 resumes");
	CHECK((r = resume(&vm)) == 0, "resume 3: %s", strerror(-r));
	CHECK(!wait_progress(&vm, 0), "does not run after 3 of 3 resumes");
	CHECK((r = resume(&vm)) == -EINVAL, "a 4th resume gave %d, not -EINVAL", r);
	CHECK(!wait_progress(&vm, 0), "does not run after the extra resume");
out:
	vm_destroy(&vm);
	result("nested", why[0] ? why : NULL);
}

static void test_resume_without_kick(void)
{
	struct vm vm;
	int r;

	why[0] = 0;
	vm_create(&vm, 0);
	r = resume(&vm);
	CHECK(r == -EINVAL, "resume without kick gave %d, not -EINVAL", r);
	CHECK(kick(&vm) == 0 && resume(&vm) == 0, "kick/resume after it failed");
	r = resume(&vm);
	CHECK(r == -EINVAL, "resume after a paired resume gave %d, not -EINVAL", r);
out:
	vm_destroy(&vm);
	result("resume-without-kick", why[0] ? why : NULL);
}

/* vCPUs created but never run, and a VM without vCPUs. */
static void test_not_started(void)
{
	struct vm vm;
	int r;

	why[0] = 0;
	vm_create(&vm, 0);
	CHECK((r = kick(&vm)) == 0, "kick, no vCPU: %s", strerror(-r));
	CHECK((r = resume(&vm)) == 0, "resume, no vCPU: %s", strerror(-r));
	vcpu_add(&vm, CODE_COUNT);
	vcpu_add(&vm, CODE_COUNT);
	CHECK((r = kick(&vm)) == 0, "kick, vCPUs not started: %s", strerror(-r));
	/* Started while kicked: must not run until the resume. */
	vcpu_start(&vm.vcpu[0]);
	CHECK(WAIT_FOR(5, blocked_in_run(&vm.vcpu[0])),
	      "a vCPU started during the kick did not block in KVM_RUN");
	/* Observation window: blocked before its first instruction. */
	CHECK(!stays_stopped(&vm, 50) && counter(&vm, 0) == 0, "a vCPU started during the kick ran");
	CHECK((r = resume(&vm)) == 0, "resume: %s", strerror(-r));
	CHECK(!wait_progress(&vm, 0), "does not run after resume");
out:
	vm_destroy(&vm);
	result("not-started", why[0] ? why : NULL);
}

/* A vCPU halted in the kernel (in-kernel LAPIC, HLT with IF=0). */
static void test_halted(void)
{
	struct vm vm;
	unsigned long e0;
	double t;
	int r;

	why[0] = 0;
	vm_create(&vm, 1);
	vcpu_start(vcpu_add(&vm, CODE_HLT));
	vcpu_start(vcpu_add(&vm, CODE_COUNT));
	CHECK(!wait_progress(&vm, 1), "counter of vCPU 1 does not move");
	/* vCPU 0 has reached HLT: it sleeps in the kernel, inside KVM_RUN. */
	CHECK(WAIT_FOR(5, blocked_in_run(&vm.vcpu[0])), "vCPU 0 does not halt in KVM_RUN");
	e0 = entries(&vm.vcpu[0]);
	t = now();
	CHECK((r = kick(&vm)) == 0, "kick: %s", strerror(-r));
	t = now() - t;
	CHECK(t < 1.0, "kick with a halted vCPU took %.3f s", t);
	/* Observation window: vCPU 1 must not run while kicked. */
	CHECK(!stays_stopped(&vm, 50), "vCPU 1 ran during the kick");
	CHECK((r = resume(&vm)) == 0, "resume: %s", strerror(-r));
	CHECK(!wait_progress(&vm, 1), "vCPU 1 does not run after resume");
	CHECK(vm.vcpu[0].other_exits == 0 && entries(&vm.vcpu[0]) == e0,
	      "the halted vCPU left KVM_RUN");
out:
	vm_destroy(&vm);
	result("halted", why[0] ? why : NULL);
}

/* A vCPU in userspace (after an IO exit): the kick does not wait for it,
 * and its next KVM_RUN blocks until the resume. */
static void test_userspace(void)
{
	struct vm vm;
	struct vcpu *v;
	unsigned long io, e;
	int r;

	why[0] = 0;
	vm_create(&vm, 0);
	v = vcpu_add(&vm, CODE_IO);
	v->park = 1;
	vcpu_start(v);
	CHECK(!wait_parked(v), "the vCPU never exited to userspace");
	CHECK((r = kick(&vm)) == 0, "kick: %s", strerror(-r));
	io = v->io_exits;
	e = entries(v);
	set_park(v, 0);	/* back into KVM_RUN, where it must block */
	CHECK(WAIT_FOR(5, entries(v) != e && blocked_in_run(v)),
	      "the vCPU did not block in its next KVM_RUN (%lu IO exits)", v->io_exits - io);
	CHECK(v->io_exits == io, "the vCPU ran during the kick (%lu IO exits)", v->io_exits - io);
	/* Observation window: the guest must not run while kicked. */
	CHECK(!stays_stopped(&vm, 20), "the guest counter moved during the kick");
	CHECK((r = resume(&vm)) == 0, "resume: %s", strerror(-r));
	CHECK(WAIT_FOR(5, v->io_exits != io), "the vCPU does not run after resume");
out:
	vm_destroy(&vm);
	result("userspace", why[0] ? why : NULL);
}

/* A signal to a vCPU blocked by the kick ends its KVM_RUN with EINTR. */
static void test_signal(void)
{
	struct vm vm;
	struct vcpu *v;
	unsigned long e, n;
	int r;

	why[0] = 0;
	vm_create(&vm, 0);
	v = vcpu_add(&vm, CODE_COUNT);
	vcpu_start(v);
	CHECK(!wait_progress(&vm, 0), "counter does not move");
	CHECK((r = kick(&vm)) == 0, "kick: %s", strerror(-r));
	CHECK(WAIT_FOR(5, blocked_in_run(v)), "the kicked vCPU does not block in KVM_RUN");
	e = v->eintr;
	n = entries(v);
	pthread_kill(v->th, SIGUSR1);
	CHECK(WAIT_FOR(5, v->eintr != e), "KVM_RUN of the blocked vCPU did not return EINTR");
	CHECK(WAIT_FOR(5, entries(v) != n && blocked_in_run(v)),
	      "KVM_RUN after the EINTR does not block again");
	/* Observation window: still held, the guest must not run. */
	CHECK(!stays_stopped(&vm, 50), "the guest ran after the signal, during the kick");
	CHECK((r = resume(&vm)) == 0, "resume: %s", strerror(-r));
	CHECK(!wait_progress(&vm, 0), "does not run after resume");
out:
	vm_destroy(&vm);
	result("signal-eintr", why[0] ? why : NULL);
}

/*
 * KVM_KICK_TO_USERSPACE: the vCPU's KVM_RUN returns EINTR instead of
 * sleeping, every time it is called while kicked, and the guest does not
 * run until the resume; unknown flags are refused.
 */
static void test_to_userspace(void)
{
	struct vm vm;
	struct vcpu *v;
	unsigned long e;
	int r;

	why[0] = 0;
	vm_create(&vm, 0);
	v = vcpu_add(&vm, CODE_COUNT);
	vcpu_start(v);
	CHECK(!wait_progress(&vm, 0), "counter does not move");
	r = ioctl(vm.fd, KVM_KICK_ALL_RUNNING_VCPUS, 2UL) ? -errno : 0;
	CHECK(r == -EINVAL, "a kick with an unknown flag gave %d, not -EINVAL", r);
	e = v->eintr;
	r = ioctl(vm.fd, KVM_KICK_ALL_RUNNING_VCPUS, KVM_KICK_TO_USERSPACE) ? -errno : 0;
	CHECK(r == 0, "kick to userspace: %s", strerror(-r));
	/* The thread loops on KVM_RUN: each call must come straight back. */
	CHECK(WAIT_FOR(5, v->eintr >= e + 10), "KVM_RUN did not keep returning EINTR (%lu)",
	      v->eintr - e);
	/* Observation window: kicked, the guest must not run. */
	CHECK(!stays_stopped(&vm, 50), "the guest ran during the kick");
	CHECK((r = resume(&vm)) == 0, "resume: %s", strerror(-r));
	CHECK(!wait_progress(&vm, 0), "does not run after resume");
out:
	vm_destroy(&vm);
	result("to-userspace", why[0] ? why : NULL);
}

/* Kick and resume from a vCPU thread (outside its KVM_RUN). */
static volatile int from_vcpu_rounds, from_vcpu_bad;
static void kick_from_vcpu(struct vcpu *v)
{
	struct vm *vm = v->vm;

	if (from_vcpu_rounds >= 10)
		return;
	if (kick(vm)) {
		from_vcpu_bad = 1;
		return;
	}
	/* Observation window: vCPU 1 must not run while kicked. */
	if (stays_stopped(vm, 20))
		from_vcpu_bad = 2;
	if (resume(vm))
		from_vcpu_bad = 3;
	from_vcpu_rounds++;
}

static void test_from_vcpu(void)
{
	struct vm vm;
	struct vcpu *v;

	why[0] = 0;
	vm_create(&vm, 0);
	v = vcpu_add(&vm, CODE_IO);
	v->on_io = kick_from_vcpu;
	vcpu_add(&vm, CODE_COUNT);
	vcpu_start(&vm.vcpu[1]);
	CHECK(!wait_progress(&vm, 1), "counter of vCPU 1 does not move");
	vcpu_start(v);
	WAIT_FOR(20, from_vcpu_rounds >= 10 || from_vcpu_bad);
	CHECK(!from_vcpu_bad, "failure %d in the vCPU thread", from_vcpu_bad);
	CHECK(from_vcpu_rounds >= 10, "only %d of 10 kick/resume rounds from the vCPU thread",
	      from_vcpu_rounds);
	CHECK(!wait_progress(&vm, 1), "vCPU 1 does not run afterwards");
out:
	vm_destroy(&vm);
	result("from-vcpu-thread", why[0] ? why : NULL);
}

/*
 * Split and merge a 16-page slot the guest keeps writing (DELETE + 2 CREATE,
 * DELETE 2 + CREATE), under a kick: the guest must never see a hole (an
 * MMIO exit in the slot's range).  Without the kick, holes are counted and
 * printed only, as evidence that the test can see them.
 */
static int split_rounds(struct vm *vm, int rounds, int use_kick, unsigned long *holes)
{
	struct vcpu *v = &vm->vcpu[0];
	unsigned long before = v->hole_exits;

	for (int i = 0; i < rounds; i++) {
		if (use_kick && kick(vm))
			die("kick");
		set_slot(vm, 1, DATA_GPA, 0, vm->data);
		set_slot(vm, 1, DATA_GPA, DATA_SIZE / 2, vm->data);
		set_slot(vm, 2, DATA_GPA + DATA_SIZE / 2, DATA_SIZE / 2, vm->data + DATA_SIZE / 2);
		if (use_kick && (resume(vm) || kick(vm)))
			die("resume/kick");
		set_slot(vm, 1, DATA_GPA, 0, vm->data);
		set_slot(vm, 2, DATA_GPA + DATA_SIZE / 2, 0, vm->data + DATA_SIZE / 2);
		set_slot(vm, 1, DATA_GPA, DATA_SIZE, vm->data);
		if (use_kick && resume(vm))
			die("resume");
	}
	/* Every exit of these rounds counted, including one in flight. */
	if (vcpu_sync(v))
		return -1;
	*holes = v->hole_exits - before;
	return 0;
}

static void test_split(void)
{
	struct vm vm;
	unsigned long naive, held;
	uint32_t w;

	why[0] = 0;
	vm_create(&vm, 0);
	set_slot(&vm, 1, DATA_GPA, DATA_SIZE, vm.data);
	vcpu_start(vcpu_add(&vm, CODE_PAGES));
	w = *(volatile uint32_t *)vm.data;
	CHECK(WAIT_FOR(5, *(volatile uint32_t *)vm.data != w), "the guest does not write its pages");
	/*
	 * The kicked rounds first, and each series ends once the vCPU thread
	 * has counted every exit of it (vcpu_sync()): no hole exit can be
	 * charged to the wrong series.
	 */
	CHECK(!split_rounds(&vm, 200, 1, &held), "the vCPU thread does not come back (kicked rounds)");
	CHECK(!split_rounds(&vm, 200, 0, &naive), "the vCPU thread does not come back (naive rounds)");
	printf("      200 split+merge rounds: %lu hole exits without kick, %lu with\n", naive, held);
	CHECK(held == 0, "%lu hole exits under the kick", held);
out:
	vm_destroy(&vm);
	result("split-no-hole", why[0] ? why : NULL);
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	int stock = argc > 1 && !strcmp(argv[1], "--stock");

	setvbuf(stdout, NULL, _IOLBF, 0);
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0) {
		printf("SKIP  kick_test: no /dev/kvm\n");
		return 77;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sig;	/* no SA_RESTART: KVM_RUN returns EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	alarm(300);	/* a deadlock fails the run instead of hanging it */

	if (stock) {
		test_stock();
	} else {
		test_capability();
		if (failed) {
			printf("0 passed, 1 failed\n");
			return 1;
		}
		test_kick_resume();
		test_nested();
		test_resume_without_kick();
		test_not_started();
		test_halted();
		test_userspace();
		test_signal();
		test_from_vcpu();
		test_split();
		test_to_userspace();
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
