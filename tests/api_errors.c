// SPDX-License-Identifier: MIT
/*
 * Every bad input gets a clear -errno and changes nothing: NULL handles,
 * destroyed handles, bad options, double releases, bad timeouts, a kick
 * signal the VMM already owns, fds that are not KVM's.
 *
 * Can fail: KVMHOLD_TEST_BREAK=signal-owner takes over a kick signal the
 * VMM handles, and the -EBUSY check fails.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "check.h"
#include "kvmhold.h"
#include "kvm_kick_abi.h"

static void on_usr2(int sig)
{
	(void)sig;
}

static void test_null_handles(void)
{
	struct kvmhold_stats st;

	CHECK_RET(kvmhold_vm_create(NULL, NULL), -EINVAL);
	CHECK_RET(kvmhold_vm_adopt(-1, NULL, NULL), -EINVAL);
	CHECK_RET(kvmhold_vm_fd(NULL), -EINVAL);
	CHECK_RET(kvmhold_vcpu_create(NULL, 0, NULL), -EINVAL);
	CHECK_RET(kvmhold_vcpu_adopt(NULL, 0, NULL), -EINVAL);
	CHECK_RET(kvmhold_vcpu_fd(NULL), -EINVAL);
	CHECK(kvmhold_vcpu_kvm_run(NULL) == NULL, "kvm_run of NULL");
	CHECK_RET(kvmhold_vcpu_run(NULL), -EINVAL);
	CHECK_RET(kvmhold_vcpu_kick(NULL), -EINVAL);
	CHECK_RET(kvmhold_hold(NULL, -1), -EINVAL);
	CHECK_RET(kvmhold_release(NULL), -EINVAL);
	CHECK_RET(kvmhold_is_held(NULL), -EINVAL);
	CHECK_RET(kvmhold_vm_ioctl(NULL, KVM_CHECK_EXTENSION, NULL), -EINVAL);
	CHECK_RET(kvmhold_vcpu_ioctl(NULL, KVM_GET_REGS, NULL), -EINVAL);
	CHECK_RET(kvmhold_mem_begin(NULL), -EINVAL);
	CHECK_RET(kvmhold_mem_end(NULL), -EINVAL);
	CHECK_RET(kvmhold_stats_get(NULL, &st, sizeof(st)), -EINVAL);
	CHECK_RET(kvmhold_hold_stragglers(NULL, NULL, 0), -EINVAL);
	kvmhold_vm_destroy(NULL);      /* no-ops, no crash */
	kvmhold_vcpu_destroy(NULL);
	printf("NULL handles: -EINVAL\n");
}

static void test_bad_options(void)
{
	struct {
		struct kvmhold_vm_opts o;
		unsigned char newer_field[8];
	} big;
	struct kvmhold_vm_opts o;
	struct kvmhold_vm *vm = NULL;

	memset(&o, 0, sizeof(o));
	CHECK_RET(kvmhold_vm_create(&o, &vm), -EINVAL);          /* size 0 */
	o.size = sizeof(o);
	o.flags = 0x80;
	CHECK_RET(kvmhold_vm_create(&o, &vm), -EINVAL);          /* unknown flag */
	o.flags = 0;
	o.kick_signal = SIGKILL;
	CHECK_RET(kvmhold_vm_create(&o, &vm), -EINVAL);          /* unusable signal */
	o.kick_signal = SIGSEGV;
	CHECK_RET(kvmhold_vm_create(&o, &vm), -EINVAL);
	o.kick_signal = 0;
	o.dirty_ring_bytes = 4096 + 16;
	CHECK_RET(kvmhold_vm_create(&o, &vm), -EINVAL);          /* not a power of two */
	o.dirty_ring_bytes = 0;
	o.kick = 3;
	CHECK_RET(kvmhold_vm_create(&o, &vm), -EINVAL);          /* unknown kick backend */
	o.kick = 0;
	o.reserved[2] = 1;
	CHECK_RET(kvmhold_vm_create(&o, &vm), -EINVAL);          /* reserved not zero */
	o.reserved[2] = 0;
	CHECK(kvmhold_version() == KVMHOLD_VERSION, "library %#x, header %#x",
	      kvmhold_version(), KVMHOLD_VERSION);

	/* A newer caller's struct: zero tail is fine, a non-zero one is refused. */
	memset(&big, 0, sizeof(big));
	big.o.size = sizeof(big);
	CHECK_OK(kvmhold_vm_create(&big.o, &vm));
	kvmhold_vm_destroy(vm);
	big.newer_field[3] = 1;
	vm = NULL;
	CHECK_RET(kvmhold_vm_create(&big.o, &vm), -E2BIG);
	CHECK(vm == NULL, "failed create wrote the handle");

	/* A signal the VMM handles itself is never taken over. */
	signal(SIGUSR2, on_usr2);
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.kick_signal = SIGUSR2;
	CHECK_RET(kvmhold_vm_create(&o, &vm), -EBUSY);
	CHECK(signal(SIGUSR2, SIG_DFL) == on_usr2, "the VMM's handler was replaced");
	signal(SIGUSR2, SIG_IGN);     /* nor one it ignores */
	CHECK_RET(kvmhold_vm_create(&o, &vm), -EBUSY);
	CHECK(signal(SIGUSR2, SIG_DFL) == SIG_IGN, "the VMM's SIG_IGN was replaced");
	printf("bad options: -EINVAL / -E2BIG / -EBUSY\n");
}

static void test_holds_and_sections(struct kvmhold_vm *vm)
{
	struct kvmhold_stats st;

	CHECK_RET(kvmhold_release(vm), -EINVAL);                 /* release without hold */
	CHECK_RET(kvmhold_hold(vm, -2), -EINVAL);                /* timeout < -1 */
	CHECK_RET(kvmhold_hold(vm, -1000), -EINVAL);
	CHECK_RET(kvmhold_is_held(vm), 0);
	CHECK_OK(kvmhold_hold(vm, 0));                           /* no vCPU: at once */
	CHECK_OK(kvmhold_hold(vm, -1));                          /* nested on one thread */
	CHECK_RET(kvmhold_is_held(vm), 1);
	CHECK_OK(kvmhold_stats_get(vm, &st, sizeof(st)));
	CHECK(st.hold_count == 2 && st.holds == 2 && st.kicking_holds == 1,
	      "count %u holds %lu kicking %lu", st.hold_count, (unsigned long)st.holds,
	      (unsigned long)st.kicking_holds);
	CHECK_OK(kvmhold_release(vm));
	CHECK_RET(kvmhold_is_held(vm), 1);                       /* one hold left */
	CHECK_OK(kvmhold_release(vm));
	CHECK_RET(kvmhold_is_held(vm), 0);
	CHECK_RET(kvmhold_release(vm), -EINVAL);                 /* double release */
	CHECK_RET(kvmhold_mem_end(vm), -EINVAL);                 /* end without begin */

	/* An older, shorter stats struct gets its prefix and nothing more. */
	memset(&st, 0xab, sizeof(st));
	CHECK_OK(kvmhold_stats_get(vm, &st, 8));
	CHECK(st.holds == 2 && st.kicking_holds == 0xababababababababull, "short copy");
	CHECK_RET(kvmhold_stats_get(vm, &st, 0), -EINVAL);
	CHECK_RET(kvmhold_hold_stragglers(vm, NULL, 1), -EINVAL);
	CHECK_RET(kvmhold_hold_stragglers(vm, NULL, 0), 0);
	printf("holds: counted, release without hold and double release -EINVAL\n");
}

static void test_ioctls(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu)
{
	CHECK_RET(kvmhold_vcpu_ioctl(vcpu, KVM_RUN, NULL), -EINVAL);
	CHECK(kvmhold_vm_ioctl(vm, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_USER_MEMORY) > 0,
	      "KVM_CHECK_EXTENSION through the gate");
	/* errno of a failing ioctl comes back intact through the gate. */
	CHECK_RET(kvmhold_vm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, NULL), -EFAULT);
	CHECK_RET(kvmhold_ioctl_is_gated(KVM_SET_USER_MEMORY_REGION), 1);
	CHECK_RET(kvmhold_ioctl_is_gated(KVM_GET_DIRTY_LOG), 1);
	CHECK_RET(kvmhold_ioctl_is_gated(KVM_TRANSLATE), 1);
	CHECK_RET(kvmhold_ioctl_is_gated(KVM_GET_REGS), 0);
	CHECK_RET(kvmhold_ioctl_is_gated(KVM_IRQ_LINE), 0);
	CHECK_RET(kvmhold_ioctl_is_gated(0xdeadbeefUL), 1);      /* unknown: gated */
	printf("ioctls: KVM_RUN refused, errno kept, classification\n");
}

static void test_adopt(void)
{
	struct kvmhold_vm *vm;
	struct kvmhold_vcpu *vcpu;
	int kvm_fd, vm_fd, vcpu_fd, null_fd;

	null_fd = open("/dev/null", O_RDWR);
	CHECK(null_fd >= 0, "open /dev/null");
	CHECK_RET(kvmhold_vm_adopt(null_fd, NULL, &vm), -ENOTTY);
	close(null_fd);
	CHECK_RET(kvmhold_vm_adopt(null_fd, NULL, &vm), -EBADF);  /* closed fd */

	kvm_fd = open("/dev/kvm", O_RDWR);
	CHECK(kvm_fd >= 0, "open /dev/kvm");
	vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	CHECK(vm_fd >= 0, "KVM_CREATE_VM");
	vcpu_fd = ioctl(vm_fd, KVM_CREATE_VCPU, 5);
	CHECK(vcpu_fd >= 0, "KVM_CREATE_VCPU");
	CHECK_RET(kvmhold_vm_adopt(kvm_fd, NULL, &vm), -ENOTTY);  /* /dev/kvm is no VM */
	CHECK_OK(kvmhold_vm_adopt(vm_fd, NULL, &vm));
	CHECK_RET(kvmhold_vm_fd(vm), vm_fd);
	CHECK_RET(kvmhold_vcpu_adopt(vm, kvm_fd, &vcpu), -ENOTTY); /* not a vCPU */
	CHECK_OK(kvmhold_vcpu_adopt(vm, vcpu_fd, &vcpu));
	CHECK_RET(kvmhold_vcpu_fd(vcpu), vcpu_fd);
	CHECK(kvmhold_vcpu_kvm_run(vcpu) != NULL, "kvm_run mapped");

	/* Running a vCPU on a thread that holds the VM would deadlock. */
	CHECK_OK(kvmhold_hold(vm, -1));
	CHECK_RET(kvmhold_vcpu_run(vcpu), -EDEADLK);
	CHECK_OK(kvmhold_release(vm));
	CHECK_OK(kvmhold_mem_begin(vm));
	CHECK_RET(kvmhold_vcpu_run(vcpu), -EDEADLK);
	CHECK_OK(kvmhold_mem_end(vm));

	/* A kick before the run: the next run returns -EINTR at once. */
	CHECK_OK(kvmhold_vcpu_kick(vcpu));
	CHECK_RET(kvmhold_vcpu_run(vcpu), -EINTR);

	/* Adopted fds stay the VMM's: destroy leaves them open. */
	kvmhold_vm_destroy(vm);
	CHECK(fcntl(vm_fd, F_GETFD) >= 0 && fcntl(vcpu_fd, F_GETFD) >= 0, "adopted fds closed");
	close(vcpu_fd);
	close(vm_fd);
	close(kvm_fd);
	printf("adopt: non-KVM fds -ENOTTY, closed fd -EBADF, -EDEADLK, fds kept\n");
}

/*
 * Kick backends: KERNEL only where KVM has the capability (else
 * -EOPNOTSUPP), AUTO takes it where it is, and the kick ioctls themselves
 * are the library's.
 */
static void test_kick_backends(void)
{
	struct kvmhold_vm_opts o = { .size = sizeof(o) };
	struct kvmhold_vm *vm = NULL;
	struct kvmhold_stats st;
	int kvm_fd, cap;

	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	CHECK(kvm_fd >= 0, "/dev/kvm: %s", strerror(errno));
	cap = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_KICK_ALL_RUNNING_VCPUS) > 0;
	close(kvm_fd);

	o.kick = KVMHOLD_KICK_KERNEL;
	if (!cap) {
		CHECK_RET(kvmhold_vm_create(&o, &vm), -EOPNOTSUPP);
		CHECK(vm == NULL, "failed create wrote the handle");
	} else {
		CHECK_OK(kvmhold_vm_create(&o, &vm));
		CHECK_OK(kvmhold_stats_get(vm, &st, sizeof(st)));
		CHECK(st.kick_backend == KVMHOLD_KICK_KERNEL, "backend %u", st.kick_backend);
		kvmhold_vm_destroy(vm);
	}
	o.kick = KVMHOLD_KICK_AUTO;
	CHECK_OK(kvmhold_vm_create(&o, &vm));
	CHECK_OK(kvmhold_stats_get(vm, &st, sizeof(st)));
	CHECK(st.kick_backend == (cap ? KVMHOLD_KICK_KERNEL : KVMHOLD_KICK_SIGNAL),
	      "auto chose backend %u with the capability %s", st.kick_backend,
	      cap ? "present" : "absent");
	CHECK_RET(kvmhold_vm_ioctl(vm, KVM_KICK_ALL_RUNNING_VCPUS, NULL), -EINVAL);
	CHECK_RET(kvmhold_vm_ioctl(vm, KVM_RESUME_ALL_KICKED_VCPUS, NULL), -EINVAL);
	/* Holds still work, and release resumes whatever the backend stopped. */
	CHECK_OK(kvmhold_hold(vm, 1000));
	CHECK_OK(kvmhold_hold(vm, 1000));
	CHECK_OK(kvmhold_release(vm));
	CHECK_OK(kvmhold_release(vm));
	CHECK_RET(kvmhold_release(vm), -EINVAL);
	CHECK_OK(kvmhold_stats_get(vm, &st, sizeof(st)));
	CHECK(st.kernel_resume_errors == 0, "%u resume errors", st.kernel_resume_errors);
	kvmhold_vm_destroy(vm);
	printf("kick backends: capability %s, kernel %s, auto took %s, kick ioctls refused\n",
	       cap ? "present" : "absent", cap ? "works" : "-EOPNOTSUPP",
	       cap ? "kernel" : "signal");
}

/*
 * Destroying: KVM's own errno for a duplicate vCPU id, and the id free
 * again after the destroy.  A destroyed handle is not checked on later
 * calls (that would put a process-wide lookup on every hot path); using
 * one is the caller's bug, as with a freed pointer.
 */
static void test_destroyed(void)
{
	struct kvmhold_vm *vm;
	struct kvmhold_vcpu *vcpu, *vcpu2;

	CHECK_OK(kvmhold_vm_create(NULL, &vm));
	CHECK_OK(kvmhold_vcpu_create(vm, 0, &vcpu));
	CHECK_RET(kvmhold_vcpu_create(vm, 0, &vcpu2), -EEXIST);  /* KVM's own errno */
	kvmhold_vcpu_destroy(vcpu);
	CHECK_OK(kvmhold_vcpu_create(vm, 1, &vcpu));
	kvmhold_vm_destroy(vm);
	printf("destroy: duplicate id -EEXIST from KVM, vCPUs go with their VM\n");
}

int main(void)
{
	struct kvmhold_vm *vm;
	struct kvmhold_vcpu *vcpu;

	test_apply_breakage();
	test_null_handles();
	test_bad_options();
	CHECK_OK(kvmhold_vm_create(NULL, &vm));
	CHECK_OK(kvmhold_vcpu_create(vm, 0, &vcpu));
	test_holds_and_sections(vm);
	test_ioctls(vm, vcpu);
	kvmhold_vm_destroy(vm);
	test_adopt();
	test_kick_backends();
	test_destroyed();
	return 0;
}
