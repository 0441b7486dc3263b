// SPDX-License-Identifier: MIT
/*
 * tvm lifecycle: VM and memory setup, starting and stopping the vCPU threads,
 * accessors and bounded waits.  The vCPU loop itself is in tvm_run.c, the
 * long-mode setup in tvm_cpu.c.
 *
 * Concurrency: the shared page is guest memory that the guests write while
 * host threads read it, so every host access to it after tvm_start() is an
 * __atomic operation (relaxed for progress counters, release for the stop
 * flag).  Per-vCPU state and statistics are written by the vCPU's thread and
 * read by others with atomics; failures are appended under t->lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "tvm.h"

/* The flat guest image, embedded by guest_blob.S. */
extern const unsigned char tvm_guest_blob[];
extern const unsigned char tvm_guest_blob_end[];

#define POLL_NS             100000      /* waits poll every 100 us */
#define STOP_KICK_GRACE_MS  100         /* tvm_stop: kick after this long */
#define STOP_KICK_EVERY_MS  20

uint64_t tvm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t tvm_now_ms(void)
{
	return tvm_now_ns() / 1000000;
}

static void poll_pause(void)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = POLL_NS };

	nanosleep(&ts, NULL);
}

static uint64_t deadline_ms(int timeout_ms)
{
	return timeout_ms < 0 ? UINT64_MAX : tvm_now_ms() + (uint64_t)timeout_ms;
}

bool tvm_kvm_available(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* ---- memory ------------------------------------------------------------ */

/* One map or unmap, as a memslot transaction of its own. */
static int tvm_txn_one(struct tvm *t, uint64_t gpa, uint64_t size, void *hva, uint32_t flags)
{
	struct kvmhold_txn *txn;
	int r;

	r = kvmhold_txn_begin(t->vm, &txn);
	if (r)
		return r;
	r = hva ? kvmhold_txn_map(txn, gpa, size, hva, flags) : kvmhold_txn_unmap(txn, gpa, size);
	if (r) {
		kvmhold_txn_abort(txn);
		return r;
	}
	return kvmhold_txn_commit(txn);
}

/* The system region's memslot, through the library's transactions. */
int tvm_map_system(struct tvm *t)
{
	return tvm_txn_one(t, 0, t->sys_size, t->sys_hva, 0);
}

int tvm_map_test_region(struct tvm *t, uint32_t flags)
{
	int ret;

	if (!t->test_size)
		return -EINVAL;
	ret = tvm_txn_one(t, t->test_gpa, t->test_size, t->test_hva, flags);
	if (ret >= 0)
		t->test_mapped = true;
	return ret;
}

int tvm_raw_memslot(int vm_fd, uint32_t id, uint64_t gpa, uint64_t size, void *hva,
		    uint32_t flags)
{
	struct kvm_userspace_memory_region region = {
		.slot = id, .flags = flags, .guest_phys_addr = gpa,
		.memory_size = size, .userspace_addr = (uint64_t)(uintptr_t)hva,
	};

	return ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region) ? -errno : 0;
}

/* One memslot made by hand, as the VMM would, then handed to the library. */
static int map_and_adopt(struct tvm *t, uint32_t id, uint64_t gpa, uint64_t size, void *hva,
			 uint32_t flags)
{
	int r = tvm_raw_memslot(t->own_vm_fd, id, gpa, size, hva, flags);

	return r ? r : kvmhold_vm_adopt_region(t->vm, id, gpa, size, hva, flags);
}

/* opts.adopt_vm: the system and test memslots, made before the library knew of them. */
static int map_before_adopting(struct tvm *t)
{
	int r = map_and_adopt(t, TVM_ADOPTED_SYS_SLOT, 0, t->sys_size, t->sys_hva, 0);

	if (r || !t->opts.map_test_region)
		return r;
	r = map_and_adopt(t, TVM_ADOPTED_TEST_SLOT, t->test_gpa, t->test_size, t->test_hva,
			  t->opts.test_slot_flags);
	if (!r)
		t->test_mapped = true;
	return r;
}

/* Unmaps the whole test region, however it is split into slots by now. */
int tvm_unmap_test_region(struct tvm *t)
{
	int ret;

	ret = tvm_txn_one(t, t->test_gpa, t->test_size, NULL, 0);
	if (ret >= 0)
		t->test_mapped = false;
	return ret;
}

void *tvm_gpa_to_hva(struct tvm *t, uint64_t gpa, size_t len)
{
	if (gpa < t->sys_size && len <= t->sys_size - gpa)
		return (char *)t->sys_hva + gpa;
	if (t->test_size && gpa >= t->test_gpa &&
	    gpa - t->test_gpa < t->test_size &&
	    len <= t->test_size - (gpa - t->test_gpa))
		return (char *)t->test_hva + (gpa - t->test_gpa);
	return NULL;
}

static void *map_anon(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Copies the guest image to TVM_CODE_GPA and reads its header. */
static int load_image(struct tvm *t)
{
	size_t size = (size_t)(tvm_guest_blob_end - tvm_guest_blob);
	struct tvm_image_header h;

	if (size < sizeof(h) || size > TVM_CODE_MAX)
		return -ENOEXEC;
	memcpy(&h, tvm_guest_blob, sizeof(h));
	if (h.magic != TVM_IMAGE_MAGIC ||
	    h.entry < TVM_CODE_GPA || h.entry >= TVM_CODE_GPA + size ||
	    h.image_end < TVM_CODE_GPA + size ||
	    h.image_end > TVM_CODE_GPA + TVM_CODE_MAX)
		return -ENOEXEC;
	memcpy((char *)t->sys_hva + TVM_CODE_GPA, tvm_guest_blob, size);
	t->entry = h.entry;
	t->isr_stubs = h.isr_stubs;
	t->isr_stride = h.isr_stride;
	t->nr_isr = h.nr_isr;
	return 0;
}

static int get_supported_cpuid(struct tvm *t)
{
	unsigned nent = 64;

	if (t->opts.kvm_fd_plus1)
		t->kvm_fd = t->opts.kvm_fd_plus1 - 1;
	else
		t->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (t->kvm_fd < 0)
		return -errno;
	for (;;) {
		struct kvm_cpuid2 *c;

		c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		if (!c)
			return -ENOMEM;
		c->nent = nent;
		if (ioctl(t->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			t->cpuid = c;
			return 0;
		}
		free(c);
		if (errno != E2BIG || nent >= 4096)
			return -errno;
		nent *= 2;
	}
}

static void init_shared(struct tvm *t)
{
	struct tvm_shared *sh = t->shared;

	sh->magic = TVM_SHARED_MAGIC;
	sh->program = t->opts.program;
	sh->nr_vcpus = t->nr_vcpus;
	sh->sync_every = t->opts.sync_every;
	sh->test_gpa = t->test_gpa;
	sh->test_size = t->test_size;
	sh->walk_flags = t->opts.walk_flags;
}

static int check_opts(struct tvm *t)
{
	struct tvm_opts *o = &t->opts;

	if (!o->nr_vcpus)
		o->nr_vcpus = 1;
	if (!o->sync_every)
		o->sync_every = 1000;
	if (!o->stop_timeout_ms)
		o->stop_timeout_ms = 10000;
	if (!o->vm_opts.size)
		o->vm_opts.size = sizeof(o->vm_opts);
	if (!o->test_gpa)
		o->test_gpa = TVM_TEST_GPA_DEFAULT;
	if (o->nr_vcpus > TVM_MAX_VCPUS || (unsigned)o->program >= GUEST_PROG__COUNT)
		return -EINVAL;
	if (o->test_size % TVM_PAGE_SIZE || o->test_gpa % TVM_PAGE_SIZE ||
	    o->test_gpa < TVM_SYS_SIZE || o->test_gpa > TVM_IDENTITY_MAP ||
	    o->test_size > TVM_IDENTITY_MAP - o->test_gpa)
		return -EINVAL;
	if (o->map_test_region && !o->test_size)
		return -EINVAL;
	return 0;
}

/* ---- lifecycle --------------------------------------------------------- */

/* opts.adopt_vcpus: the vCPU fd and its kvm_run mapping made as a VMM would. */
static int create_and_adopt_vcpu(struct tvm *t, struct tvm_vcpu *v)
{
	int size = ioctl(t->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	int vm_fd = kvmhold_vm_fd(t->vm);

	if (size < 0)
		return -errno;
	v->own_fd = ioctl(vm_fd, KVM_CREATE_VCPU, v->idx);
	if (v->own_fd < 0)
		return -errno;
	v->own_run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, v->own_fd, 0);
	if (v->own_run == MAP_FAILED) {
		v->own_run = NULL;
		return -errno;
	}
	v->own_run_size = (size_t)size;
	return kvmhold_vcpu_adopt_mapped(t->vm, v->own_fd, v->idx, v->own_run, v->own_run_size,
					 &v->vcpu);
}

int tvm_create(const struct tvm_opts *opts, struct tvm **out)
{
	const char *step;
	struct tvm *t;
	unsigned i;
	int r;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->opts = *opts;
	t->kvm_fd = -1;
	t->own_vm_fd = -1;
	pthread_mutex_init(&t->lock, NULL);

	step = "options";
	r = check_opts(t);
	if (r)
		goto fail;
	t->nr_vcpus = t->opts.nr_vcpus;

	step = "guest memory";
	r = -ENOMEM;
	t->sys_size = TVM_SYS_SIZE;
	t->sys_hva = map_anon(t->sys_size);
	if (!t->sys_hva)
		goto fail;
	t->shared = (struct tvm_shared *)((char *)t->sys_hva + TVM_SHARED_GPA);
	t->test_gpa = t->opts.test_gpa;
	t->test_size = t->opts.test_size;
	if (t->test_size) {
		t->test_hva = t->opts.test_mem ? t->opts.test_mem : map_anon(t->test_size);
		if (!t->test_hva)
			goto fail;
	}

	step = "guest image";
	r = load_image(t);
	if (r)
		goto fail;
	init_shared(t);
	tvm_cpu_build_tables(t);

	step = "KVM_GET_SUPPORTED_CPUID";
	r = get_supported_cpuid(t);
	if (r)
		goto fail;

	if (t->opts.adopt_vm) {
		step = "KVM_CREATE_VM";
		t->own_vm_fd = ioctl(t->kvm_fd, KVM_CREATE_VM, t->opts.vm_opts.vm_type);
		r = t->own_vm_fd < 0 ? -errno : 0;
		if (r)
			goto fail;
		step = "kvmhold_vm_adopt";
		r = kvmhold_vm_adopt(t->own_vm_fd, &t->opts.vm_opts, &t->vm);
	} else {
		step = "kvmhold_vm_create";
		r = kvmhold_vm_create(&t->opts.vm_opts, &t->vm);
	}
	if (r)
		goto fail;

	if (t->opts.irqchip) {
		step = "KVM_CREATE_IRQCHIP";
		r = kvmhold_vm_ioctl(t->vm, KVM_CREATE_IRQCHIP, NULL);
		if (r < 0)
			goto fail;
	}

	if (t->opts.adopt_vm) {
		step = "the VMM's own memslots";
		r = map_before_adopting(t);
		if (r < 0)
			goto fail;
	} else {
		step = "mapping the system region";
		r = tvm_map_system(t);
		if (r < 0)
			goto fail;
	}
	if (t->opts.map_test_region && !t->opts.adopt_vm) {
		step = "mapping the test region";
		r = tvm_map_test_region(t, t->opts.test_slot_flags);
		if (r < 0)
			goto fail;
	}

	for (i = 0; i < t->nr_vcpus; i++) {
		struct tvm_vcpu *v = &t->vcpus[i];

		v->tvm = t;
		v->idx = i;
		v->own_fd = -1;
		if (t->opts.adopt_vcpus) {
			step = "kvmhold_vcpu_adopt_mapped";
			r = create_and_adopt_vcpu(t, v);
		} else {
			step = "kvmhold_vcpu_create";
			r = kvmhold_vcpu_create(t->vm, i, &v->vcpu);
		}
		if (r)
			goto fail;
		v->run = kvmhold_vcpu_kvm_run(v->vcpu);
		step = "vCPU register setup";
		r = tvm_cpu_setup_vcpu(t, i);
		if (r < 0)
			goto fail;
	}
	*out = t;
	return 0;

fail:
	if (r >= 0)
		r = -EIO;
	if (!t->opts.quiet)
		fprintf(stderr, "tvm: %s: %s\n", step, strerror(-r));
	tvm_destroy(t);
	return r;
}

static void *vcpu_thread(void *arg)
{
	struct tvm_vcpu *v = arg;

	tvm_run_vcpu(v->tvm, v->idx);
	return NULL;
}

int tvm_start(struct tvm *t)
{
	unsigned i;
	int r;

	for (i = 0; i < t->nr_vcpus; i++) {
		struct tvm_vcpu *v = &t->vcpus[i];

		if (v->thread_started ||
		    __atomic_load_n(&v->state, __ATOMIC_ACQUIRE) != TVM_VCPU_IDLE)
			return -EBUSY;
	}
	for (i = 0; i < t->nr_vcpus; i++) {
		struct tvm_vcpu *v = &t->vcpus[i];

		/* RUNNING before the thread exists, so tvm_stop() waits for it. */
		__atomic_store_n(&v->state, TVM_VCPU_RUNNING, __ATOMIC_RELEASE);
		r = pthread_create(&v->thread, NULL, vcpu_thread, v);
		if (r) {
			__atomic_store_n(&v->state, TVM_VCPU_IDLE, __ATOMIC_RELEASE);
			tvm_fail(t, -1, "pthread_create: %s", strerror(r));
			return -r;
		}
		v->thread_started = true;
	}
	return 0;
}

static bool vcpu_running(struct tvm *t, unsigned i)
{
	return __atomic_load_n(&t->vcpus[i].state, __ATOMIC_ACQUIRE) ==
	       TVM_VCPU_RUNNING;
}

/* Running, or not started yet (a test's own thread may not have begun). */
static bool vcpu_may_run(struct tvm *t, unsigned i)
{
	int st = __atomic_load_n(&t->vcpus[i].state, __ATOMIC_ACQUIRE);

	return st == TVM_VCPU_RUNNING || st == TVM_VCPU_IDLE;
}

static unsigned kick_running(struct tvm *t)
{
	unsigned i, n = 0;

	for (i = 0; i < t->nr_vcpus; i++) {
		if (vcpu_running(t, i)) {
			kvmhold_vcpu_kick(t->vcpus[i].vcpu);
			n++;
		}
	}
	return n;
}

static unsigned count_running(struct tvm *t)
{
	unsigned i, n = 0;

	for (i = 0; i < t->nr_vcpus; i++)
		n += vcpu_running(t, i);
	return n;
}

/*
 * Guests poll the stop flag and report DONE.  Only a vCPU halted inside KVM
 * (irqchip) cannot see it, so kicks start at once with an irqchip and only
 * after a grace period otherwise; they repeat because a guest may halt again
 * after a kick and before it read the flag.
 */
int tvm_stop(struct tvm *t)
{
	uint64_t start = tvm_now_ms();
	uint64_t deadline = start + (uint64_t)t->opts.stop_timeout_ms;
	uint64_t next_kick = start + (t->opts.irqchip ? 0 : STOP_KICK_GRACE_MS);
	unsigned i;
	int r = 0;

	__atomic_store_n(&t->shared->stop, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&t->stopping, 1, __ATOMIC_RELEASE);

	while (count_running(t)) {
		uint64_t now = tvm_now_ms();

		if (now >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
		if (now >= next_kick) {
			kick_running(t);
			next_kick = now + STOP_KICK_EVERY_MS;
		}
		poll_pause();
	}

	if (r) {
		for (i = 0; i < t->nr_vcpus; i++)
			if (vcpu_running(t, i))
				tvm_fail(t, (int)i, "did not finish within %d ms of tvm_stop()",
					 t->opts.stop_timeout_ms);
		/*
		 * Pull the rest out: their threads leave at the next -EINTR.
		 * Unbounded on purpose: a vCPU parked by a hold that is never
		 * released cannot leave, and joining it would hang anyway.
		 */
		__atomic_store_n(&t->force_stop, 1, __ATOMIC_RELEASE);
		while (kick_running(t))
			poll_pause();
	}

	for (i = 0; i < t->nr_vcpus; i++) {
		struct tvm_vcpu *v = &t->vcpus[i];

		if (v->thread_started) {
			pthread_join(v->thread, NULL);
			v->thread_started = false;
		}
	}
	return r;
}

void tvm_destroy(struct tvm *t)
{
	unsigned i;

	if (!t)
		return;
	if (t->vm) {
		tvm_stop(t);
		for (i = 0; i < t->nr_vcpus; i++)
			if (t->vcpus[i].vcpu)
				kvmhold_vcpu_destroy(t->vcpus[i].vcpu);
		kvmhold_vm_destroy(t->vm);
	}
	for (i = 0; i < t->nr_vcpus; i++) {
		struct tvm_vcpu *v = &t->vcpus[i];

		if (v->own_run)
			munmap(v->own_run, v->own_run_size);
		if (v->own_fd > 0)
			close(v->own_fd);
	}
	if (t->own_vm_fd >= 0)
		close(t->own_vm_fd);   /* an adopted VM's fd stays ours */
	if (t->test_hva && !t->opts.test_mem)
		munmap(t->test_hva, t->test_size);
	if (t->sys_hva)
		munmap(t->sys_hva, t->sys_size);
	if (t->kvm_fd >= 0)
		close(t->kvm_fd);
	free(t->cpuid);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* ---- parameters and accessors ------------------------------------------ */

void tvm_set_program(struct tvm *t, enum tvm_guest_prog prog)
{
	__atomic_store_n(&t->shared->program, (uint32_t)prog, __ATOMIC_RELAXED);
}

void tvm_set_sync_every(struct tvm *t, uint64_t every)
{
	__atomic_store_n(&t->shared->sync_every, every, __ATOMIC_RELAXED);
}

void tvm_set_walk_flags(struct tvm *t, unsigned flags)
{
	__atomic_store_n(&t->shared->walk_flags, (uint64_t)flags, __ATOMIC_RELAXED);
}

void tvm_set_param(struct tvm *t, unsigned i, uint64_t value)
{
	if (i < TVM_NR_PARAMS)
		__atomic_store_n(&t->shared->params[i], value, __ATOMIC_RELAXED);
}

struct kvmhold_vm *tvm_vm(struct tvm *t)
{
	return t->vm;
}

struct kvmhold_vcpu *tvm_vcpu(struct tvm *t, unsigned idx)
{
	return idx < t->nr_vcpus ? t->vcpus[idx].vcpu : NULL;
}

unsigned tvm_nr_vcpus(const struct tvm *t)
{
	return t->nr_vcpus;
}

struct tvm_shared *tvm_shared(struct tvm *t)
{
	return t->shared;
}

bool tvm_stopping(struct tvm *t)
{
	return __atomic_load_n(&t->stopping, __ATOMIC_ACQUIRE) != 0;
}

enum tvm_vcpu_state tvm_vcpu_state(struct tvm *t, unsigned idx)
{
	if (idx >= t->nr_vcpus)
		return TVM_VCPU_IDLE;
	return (enum tvm_vcpu_state)__atomic_load_n(&t->vcpus[idx].state,
						    __ATOMIC_ACQUIRE);
}

int tvm_vcpu_tid(struct tvm *t, unsigned idx)
{
	return idx < t->nr_vcpus ?
	       __atomic_load_n(&t->vcpus[idx].tid, __ATOMIC_ACQUIRE) : 0;
}

static uint64_t line_field(struct tvm *t, unsigned idx, size_t off)
{
	uint64_t *p;

	if (idx >= t->nr_vcpus)
		return 0;
	p = (uint64_t *)((char *)&t->shared->vcpu[idx] + off);
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

uint64_t tvm_counter(struct tvm *t, unsigned idx)
{
	return line_field(t, idx, offsetof(struct tvm_vcpu_line, counter));
}

uint64_t tvm_walk_pages(struct tvm *t, unsigned idx)
{
	return line_field(t, idx, offsetof(struct tvm_vcpu_line, pages));
}

uint64_t tvm_walk_mismatches(struct tvm *t, unsigned idx)
{
	return line_field(t, idx, offsetof(struct tvm_vcpu_line, mismatches));
}

uint64_t tvm_counter_sum(struct tvm *t)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < t->nr_vcpus; i++)
		sum += tvm_counter(t, i);
	return sum;
}

/* ---- waiting ----------------------------------------------------------- */

int tvm_wait_counter_reaches(struct tvm *t, unsigned idx, uint64_t value,
			     int timeout_ms)
{
	uint64_t deadline = deadline_ms(timeout_ms);

	if (idx >= t->nr_vcpus)
		return -EINVAL;
	for (;;) {
		/* Read the state first: a final counter value still counts. */
		bool running = vcpu_may_run(t, idx);

		if (tvm_counter(t, idx) >= value)
			return 0;
		if (!running)
			return -ESRCH;
		if (tvm_now_ms() >= deadline)
			return -ETIMEDOUT;
		poll_pause();
	}
}

int tvm_wait_counter_moves(struct tvm *t, unsigned idx, int timeout_ms)
{
	if (idx >= t->nr_vcpus)
		return -EINVAL;
	return tvm_wait_counter_reaches(t, idx, tvm_counter(t, idx) + 1,
					timeout_ms);
}

int tvm_wait_all_counters_move(struct tvm *t, int timeout_ms)
{
	uint64_t deadline = deadline_ms(timeout_ms);
	uint64_t start[TVM_MAX_VCPUS];
	unsigned i;
	int r;

	for (i = 0; i < t->nr_vcpus; i++)
		start[i] = tvm_counter(t, i);
	for (i = 0; i < t->nr_vcpus; i++) {
		uint64_t now = tvm_now_ms();
		int left = deadline == UINT64_MAX ? -1 :
			   now >= deadline ? 0 : (int)(deadline - now);

		r = tvm_wait_counter_reaches(t, i, start[i] + 1, left);
		if (r)
			return r;
	}
	return 0;
}

int tvm_wait_done(struct tvm *t, int timeout_ms)
{
	uint64_t deadline = deadline_ms(timeout_ms);

	while (count_running(t)) {
		if (tvm_now_ms() >= deadline)
			return -ETIMEDOUT;
		poll_pause();
	}
	return 0;
}

/* ---- statistics and failures ------------------------------------------- */

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

void tvm_vcpu_stats(struct tvm *t, unsigned idx, struct tvm_vcpu_stats *st)
{
	const struct tvm_vcpu_stats *s;

	memset(st, 0, sizeof(*st));
	if (idx >= t->nr_vcpus)
		return;
	s = &t->vcpus[idx].stats;
	st->runs = LOAD(s->runs);
	st->exits = LOAD(s->exits);
	st->eintr = LOAD(s->eintr);
	st->io = LOAD(s->io);
	st->ucalls = LOAD(s->ucalls);
	st->syncs = LOAD(s->syncs);
	st->mmio = LOAD(s->mmio);
	st->holes = LOAD(s->holes);
	st->hlt = LOAD(s->hlt);
}

void tvm_stats(struct tvm *t, struct tvm_vcpu_stats *sum)
{
	struct tvm_vcpu_stats s;
	unsigned i;

	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < t->nr_vcpus; i++) {
		tvm_vcpu_stats(t, i, &s);
		sum->runs += s.runs;
		sum->exits += s.exits;
		sum->eintr += s.eintr;
		sum->io += s.io;
		sum->ucalls += s.ucalls;
		sum->syncs += s.syncs;
		sum->mmio += s.mmio;
		sum->holes += s.holes;
		sum->hlt += s.hlt;
	}
}

uint64_t tvm_holes(struct tvm *t)
{
	struct tvm_vcpu_stats s;

	tvm_stats(t, &s);
	return s.holes;
}

uint64_t tvm_syncs(struct tvm *t)
{
	struct tvm_vcpu_stats s;

	tvm_stats(t, &s);
	return s.syncs;
}

/* GUEST_PROG_PROBE: one request to vCPU 0, and wait until it is done. */
static int probe_request(struct tvm *t, uint64_t op, uint64_t value, int timeout_ms)
{
	uint64_t req, deadline = deadline_ms(timeout_ms);

	__atomic_store_n(&t->shared->params[TVM_PROBE_OP], op, __ATOMIC_RELAXED);
	__atomic_store_n(&t->shared->params[TVM_PROBE_VALUE], value, __ATOMIC_RELAXED);
	req = __atomic_load_n(&t->shared->params[TVM_PROBE_REQUEST], __ATOMIC_RELAXED) + 1;
	__atomic_store_n(&t->shared->params[TVM_PROBE_REQUEST], req, __ATOMIC_RELEASE);
	while (__atomic_load_n(&t->shared->params[TVM_PROBE_DONE], __ATOMIC_ACQUIRE) != req) {
		if (!vcpu_may_run(t, 0))
			return -ESRCH;
		if (tvm_now_ms() >= deadline)
			return -ETIMEDOUT;
		poll_pause();
	}
	return 0;
}

/* What vCPU 0 reads at the first quadword of each of the first npages test pages. */
int tvm_probe(struct tvm *t, uint64_t *out, size_t npages, int timeout_ms)
{
	uint64_t *scratch = tvm_gpa_to_hva(t, TVM_SCRATCH_GPA, npages * sizeof(*out));
	int r;

	if (!scratch || npages > t->test_size / TVM_PAGE_SIZE)
		return -EINVAL;
	r = probe_request(t, TVM_PROBE_READ, 0, timeout_ms);
	for (size_t i = 0; !r && i < npages; i++)
		out[i] = __atomic_load_n(&scratch[i], __ATOMIC_RELAXED);
	return r;
}

/* vCPU 0 writes value into the first quadword of each test page set in bitmap. */
int tvm_probe_write(struct tvm *t, const uint64_t *bitmap, uint64_t value, int timeout_ms)
{
	size_t words = (t->test_size / TVM_PAGE_SIZE + 63) / 64;
	uint64_t *scratch = tvm_gpa_to_hva(t, TVM_SCRATCH_GPA, words * sizeof(*bitmap));

	if (!scratch)
		return -EINVAL;
	for (size_t i = 0; i < words; i++)
		__atomic_store_n(&scratch[i], bitmap[i], __ATOMIC_RELAXED);
	return probe_request(t, TVM_PROBE_WRITE, value, timeout_ms);
}
