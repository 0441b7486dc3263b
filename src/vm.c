// SPDX-License-Identifier: MIT
/*
 * VM handles: create or adopt a KVM VM, and tear it down.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "internal.h"
#include "kvm_compat.h"
#include "test_hooks.h"

#define DEFAULT_KICK_OFFSET 4   /* default kick signal: SIGRTMIN + 4 */

static _Atomic uint64_t next_vm_uid = 1;

/*
 * Copy the caller's options, which may come from an older (shorter) or a
 * newer (longer) struct.  Bytes we do not know must be zero: a newer caller
 * asking for something this library cannot do gets -E2BIG, not silence.
 */
_Static_assert(sizeof(struct kvmhold_vm_opts) == 8 + 4 * 4 + 8 + 4 * 8,
	       "struct kvmhold_vm_opts has no implicit padding");

KVMHOLD_API unsigned kvmhold_version(void)
{
	return KVMHOLD_VERSION;
}

static int copy_opts(struct kvmhold_vm_opts *dst, const struct kvmhold_vm_opts *src)
{
	size_t i;

	memset(dst, 0, sizeof(*dst));
	if (!src)
		goto defaults;
	if (src->size < sizeof(src->size))
		return -EINVAL;
	for (i = sizeof(*dst); i < src->size; i++)
		if (((const unsigned char *)src)[i])
			return -E2BIG;
	memcpy(dst, src, src->size < sizeof(*dst) ? src->size : sizeof(*dst));
defaults:
	dst->size = sizeof(*dst);
	if (!dst->kick_signal)
		dst->kick_signal = SIGRTMIN + DEFAULT_KICK_OFFSET;
	if (!kick_signal_usable(dst->kick_signal))
		return -EINVAL;
	if (dst->flags & ~(KVMHOLD_VM_ALWAYS_HOLD | KVMHOLD_VM_RING_FLUSH))
		return -EINVAL;
	for (i = 0; i < sizeof(dst->reserved) / sizeof(dst->reserved[0]); i++)
		if (dst->reserved[i])
			return -EINVAL;
	if (!dst->kick)
		dst->kick = test_kick_default();
	if (dst->kick != KVMHOLD_KICK_SIGNAL && dst->kick != KVMHOLD_KICK_KERNEL &&
	    dst->kick != KVMHOLD_KICK_AUTO)
		return -EINVAL;
	return 0;
}

/* Settle opts.kick to the backend this VM uses. */
static int choose_kick(struct kvmhold_vm *vm)
{
	bool kernel = vm->opts.kick != KVMHOLD_KICK_SIGNAL && kick_kernel_available(vm->fd);

	if (vm->opts.kick == KVMHOLD_KICK_KERNEL && !kernel)
		return -EOPNOTSUPP;
	vm->kernel_kick = kernel;
	vm->stats.kick_backend = kernel ? KVMHOLD_KICK_KERNEL : KVMHOLD_KICK_SIGNAL;
	return 0;
}

/*
 * Is fd a KVM VM?  Asked of the fd itself, so that no /proc is needed:
 * KVM_CHECK_EXTENSION answers on a VM (and on /dev/kvm), while
 * KVM_GET_API_VERSION is a /dev/kvm ioctl that a VM refuses (ENOTTY).
 */
static bool fd_is_kvm_vm(int fd)
{
	return ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) > 0 &&
	       ioctl(fd, KVM_GET_API_VERSION, 0) < 0 && errno == ENOTTY;
}

static int open_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		close(fd);
		return -EPROTO;
	}
	return fd;
}

/* The slot tables of the address spaces KVM has (KVM_CAP_MULTI_ADDRESS_SPACE). */
static int spaces_init(struct kvmhold_vm *vm, uint32_t max_slots)
{
	int r = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_MULTI_ADDRESS_SPACE);
	unsigned i;

	vm->nr_spaces = r > 1 ? (unsigned)r : 1;
	if (vm->nr_spaces > KVMHOLD_MAX_SPACES)
		vm->nr_spaces = KVMHOLD_MAX_SPACES;
	for (i = 0; i < vm->nr_spaces; i++) {
		r = slot_table_init(&vm->spaces[i], max_slots);
		if (r) {
			while (i-- > 0)
				slot_table_fini(&vm->spaces[i]);
			return r;
		}
	}
	return 0;
}

static void spaces_fini(struct kvmhold_vm *vm)
{
	unsigned i;

	for (i = 0; i < vm->nr_spaces; i++)
		slot_table_fini(&vm->spaces[i]);
}

/* Undo the second half of vm_setup(). */
static void vm_teardown(struct kvmhold_vm *vm)
{
	pthread_cond_destroy(&vm->txn_cond);
	pthread_mutex_destroy(&vm->txn_mutex);
	dirty_fini(vm);
	spaces_fini(vm);
}

/*
 * CPUs online (at least 1), for the holder's spin (hold.c).  Not the
 * creating thread's affinity: a VMM often pins its main thread to one
 * housekeeping CPU and its vCPU threads elsewhere.
 */
static unsigned online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

/*
 * Fill in everything but the fd; the caller owns vm->fd.  Checks that
 * change nothing come first: a failure after dirty_init() cannot undo the
 * capabilities it enabled on the VM.
 */
static int vm_setup(struct kvmhold_vm *vm, const struct kvmhold_vm_opts *opts)
{
	uint32_t max_slots;
	int r;

	vm->opts = *opts;
	vm->kick_signal = vm->opts.kick_signal;
	vm->nr_cpus = online_cpus();
	r = choose_kick(vm);
	if (r)
		return r;
	if (!test_broken(BREAK_ADOPT_ORDER)) {
		r = kick_signal_check(vm->kick_signal);
		if (r)
			return r;
	}
	vm->uid = atomic_fetch_add(&next_vm_uid, 1);
	r = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	max_slots = r > 0 ? (uint32_t)r : 32;  /* KVM's documented minimum before the cap */
	vm->has_readonly_mem = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) > 0;
	vm->has_guest_memfd = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD) > 0 &&
			      ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY2) > 0;
	r = spaces_init(vm, max_slots);
	if (r)
		return r;
	r = hold_init(vm);
	if (r) {
		spaces_fini(vm);
		return r;
	}
	pthread_mutex_init(&vm->txn_mutex, NULL);
	pthread_cond_init(&vm->txn_cond, NULL);
	r = dirty_init(vm);
	if (r) {
		pthread_cond_destroy(&vm->txn_cond);
		pthread_mutex_destroy(&vm->txn_mutex);
		hold_fini(vm);
		spaces_fini(vm);
	}
	return r;
}

static int vm_new(int fd, bool owns_fd, const struct kvmhold_vm_opts *opts, struct kvmhold_vm **out)
{
	struct kvmhold_vm *vm;
	int r;

	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->fd = fd;
	vm->owns_fd = owns_fd;
	r = vm_setup(vm, opts);
	if (r) {
		free(vm);
		return r;
	}
	/*
	 * Last, so that a failed create leaves the process's signals alone.
	 * vm_setup() checked the signal is free; it can fail here only if
	 * another thread took it in between.
	 */
	r = kick_signal_install(vm->kick_signal);
	if (!r)
		r = registry_add(vm);
	if (r) {
		hold_fini(vm);
		vm_teardown(vm);
		free(vm);
		return r;
	}
	*out = vm;
	return 0;
}

KVMHOLD_API int kvmhold_vm_create(const struct kvmhold_vm_opts *opts, struct kvmhold_vm **vm)
{
	struct kvmhold_vm_opts checked;
	int kvm_fd, vm_fd, mmap_size, r;

	if (!vm)
		return -EINVAL;
	r = copy_opts(&checked, opts);
	if (r)
		return r;
	kvm_fd = open_kvm();
	if (kvm_fd < 0)
		return kvm_fd;
	vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, checked.vm_type);
	r = vm_fd < 0 ? -errno : 0;
	/* /dev/kvm is open now: spare the first vCPU opening it again. */
	mmap_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	close(kvm_fd);
	if (r)
		return r;
	r = vm_new(vm_fd, true, &checked, vm);
	if (r)
		close(vm_fd);
	else if (mmap_size > 0)
		atomic_store(&(*vm)->vcpu_mmap_size_cache, mmap_size);
	return r;
}

KVMHOLD_API int kvmhold_vm_adopt(int vm_fd, const struct kvmhold_vm_opts *opts, struct kvmhold_vm **vm)
{
	struct kvmhold_vm_opts checked;
	int r;

	if (!vm || vm_fd < 0)
		return -EINVAL;
	r = copy_opts(&checked, opts);
	if (r)
		return r;
	if (fcntl(vm_fd, F_GETFD) < 0)
		return -EBADF;
	if (!fd_is_kvm_vm(vm_fd))
		return -ENOTTY;
	return vm_new(vm_fd, false, &checked, vm);
}

KVMHOLD_API void kvmhold_vm_destroy(struct kvmhold_vm *vm)
{
	struct kvmhold_vcpu *v, *next;

	if (!vm)
		return;
	registry_remove(vm);
	thread_state_forget(vm);
	txn_abort_on_destroy(vm);
	for (v = vm->vcpus; v; v = next) {
		next = v->next;
		vcpu_free(v);
	}
	if (vm->owns_fd)
		close(vm->fd);
	hold_fini(vm);
	vm_teardown(vm);
	free(vm);
}

KVMHOLD_API int kvmhold_vm_fd(const struct kvmhold_vm *vm)
{
	if (!vm)
		return -EINVAL;
	return vm->fd;
}
