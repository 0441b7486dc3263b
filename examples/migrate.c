// SPDX-License-Identifier: MIT
/*
 * migrate: pre-copy live migration of a running guest's RAM into a second
 * buffer, while the memory layout keeps changing underneath.
 *
 * A 64-bit guest owns 2 MiB of RAM, all in one region at guest address 0.
 * It writes a running count into random words of the upper 1 MiB, and
 * leaves to the host with a port write every 16 writes.  Meanwhile the
 * host
 *
 *   - turns dirty logging on for the whole RAM with a transaction, syncs
 *     once to start from a clean slate, and copies everything,
 *   - then, round after round, syncs the dirty pages of the RAM (asking by
 *     host address, whatever the layout) and copies them; before every
 *     other sync it changes the layout of the RAM in a transaction: a
 *     split, a resize (the boundary between two regions moves), a move (a
 *     region moves away and the same memory is mapped again in its place),
 *     or a merge back into one region,
 *   - finally holds the VM, syncs and copies one last time, and compares
 *     the copy with the guest's RAM while nothing runs.
 *
 * A device thread, as a virtio device would, writes into the guest's
 * [512 KiB, 1 MiB) from the host, each write inside a mem section and
 * followed by kvmhold_dirty_mark(): KVM never sees such writes, and without
 * the mark (--no-mark) the copy misses them.
 *
 * The guest never notices any of this: every address stays mapped to the
 * same host memory all along.  The copy must come out equal, page for
 * page, and no guest access may ever fall into a hole.
 *
 * By default dirty pages come from KVM's dirty bitmap; --ring BYTES uses a
 * per-vCPU dirty ring of that size instead (a power of two, 4096 or more).
 * The guest's regular port writes also keep a small ring from overflowing
 * where KVM notices a full ring only when the vCPU exits (see
 * kvmhold_dirty_sync(3)).  The guest's page tables and the vCPU thread
 * are in example_vm.c, shared with hotplug.c.  Built against the installed
 * library alone:
 *
 *	cc migrate.c example_vm.c $(pkg-config --cflags --libs kvmhold) -o migrate
 *
 * Exit status 0 if the copy equals the guest's RAM.  It needs read/write
 * access to /dev/kvm.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <kvmhold.h>
#include "example_vm.h"

#define PAGE 4096ull

/*
 * Guest physical layout: all of it is RAM, and all of it is migrated
 * (example_vm.h has what its first 64 KiB hold).
 */
#define RAM_SIZE   (2 * MiB)
#define NPAGES     (RAM_SIZE / PAGE)
#define WORDS      (NPAGES / 64)
#define ALIAS_GPA  0x40000000ull      /* where moved regions go, unused by the guest */

/* The control block shared with the guest. */
struct ctrl {
	uint64_t writes;      /* guest: writes so far (also the value written) */
	uint64_t seed;        /* host -> guest: random seed, not 0 */
};

/*
 * 64-bit code at EX_CODE_GPA, the guest's whole program:
 *
 *	mov  $EX_CTRL_GPA, %esi
 *	mov  8(%rsi), %rbx             x = seed
 * 1:	mov  $16, %ecx
 * 2:	mov  %rbx, %rax                x ^= x << 13; x ^= x >> 7; x ^= x << 17
 *	shl  $13, %rax
 *	xor  %rax, %rbx
 *	mov  %rbx, %rax
 *	shr  $7, %rax
 *	xor  %rax, %rbx
 *	mov  %rbx, %rax
 *	shl  $17, %rax
 *	xor  %rax, %rbx
 *	mov  %ebx, %eax                a random word of [1 MiB, 2 MiB)
 *	and  $0xffff8, %eax
 *	or   $0x100000, %eax
 *	mov  (%rsi), %rdx              writes + 1 goes to that word
 *	inc  %rdx
 *	mov  %rdx, (%rax)
 *	mov  %rdx, (%rsi)              and to ctrl->writes
 *	dec  %ecx
 *	jnz  2b
 *	out  %al, $EX_IO_PORT             leave to the host every 16 writes
 *	jmp  1b
 */
static const uint8_t guest_code[] = {
	0xbe, 0x00, 0x60, 0x00, 0x00,
	0x48, 0x8b, 0x5e, 0x08,
	0xb9, 0x10, 0x00, 0x00, 0x00,
	0x48, 0x89, 0xd8,
	0x48, 0xc1, 0xe0, 0x0d,
	0x48, 0x31, 0xc3,
	0x48, 0x89, 0xd8,
	0x48, 0xc1, 0xe8, 0x07,
	0x48, 0x31, 0xc3,
	0x48, 0x89, 0xd8,
	0x48, 0xc1, 0xe0, 0x11,
	0x48, 0x31, 0xc3,
	0x89, 0xd8,
	0x25, 0xf8, 0xff, 0x0f, 0x00,
	0x0d, 0x00, 0x00, 0x10, 0x00,
	0x48, 0x8b, 0x16,
	0x48, 0xff, 0xc2,
	0x48, 0x89, 0x10,
	0x48, 0x89, 0x16,
	0xff, 0xc9,
	0x75, 0xc6,
	0xe6, EX_IO_PORT,
	0xeb, 0xbd,
};

static struct example_vm ex = { .name = "migrate" };
static uint8_t *ram;                  /* the guest's RAM */
static uint8_t *dst;                  /* the migration's destination */
static struct ctrl *ctrl;
static atomic_ulong device_writes;    /* the device thread's */
static bool device_marks = true;      /* --no-mark: the device does not tell */
static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t rand_below(uint64_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % n;
}

static uint64_t guest_writes(void)
{
	return __atomic_load_n(&ctrl->writes, __ATOMIC_RELAXED);
}

/* Wait (bounded) until the guest has made n more writes. */
static int wait_writes(uint64_t n)
{
	return example_wait_for(&ctrl->writes, guest_writes() + n);
}

/* The regions of the RAM, in gpa order. */
static int ram_regions(struct kvmhold_txn *txn, struct kvmhold_region *reg, unsigned max)
{
	return txn ? kvmhold_txn_regions(txn, 0, RAM_SIZE, reg, max)
		   : kvmhold_regions(ex.vm, 0, RAM_SIZE, reg, max);
}

enum change { SPLIT, RESIZE, MOVE, MERGE, NR_CHANGES };

#define MAX_REGIONS 16

/*
 * Add one layout change of the RAM to txn, and describe it in what.
 * Every page of the RAM stays mapped to the same host memory.
 */
static int add_change(struct kvmhold_txn *txn, enum change kind, char *what, size_t len)
{
	struct kvmhold_region reg[MAX_REGIONS], *a, *b;
	int n = ram_regions(txn, reg, MAX_REGIONS), i, r;
	uint64_t k;

	if (n < 1 || n > MAX_REGIONS)
		return n < 0 ? n : -ERANGE;
	switch (kind) {
	case SPLIT:
		/* The largest region, at a random page inside it. */
		for (a = &reg[0], i = 1; i < n; i++)
			if (reg[i].size > a->size)
				a = &reg[i];
		k = 1 + rand_below(a->size / PAGE - 1);
		snprintf(what, len, "split at 0x%llx", (unsigned long long)(a->gpa + k * PAGE));
		return kvmhold_txn_split(txn, a->gpa + k * PAGE);
	case RESIZE:
		/* Two neighbours: the first grows by k pages, the second shrinks. */
		if (n < 2)
			return -ERANGE;
		i = (int)rand_below((uint64_t)n - 1);
		a = &reg[i];
		b = &reg[i + 1];
		if (b->size < 2 * PAGE) {
			/* Or the other way: the first gives its last pages to the second. */
			if (a->size < 2 * PAGE)
				return -ERANGE;
			k = 1 + rand_below(a->size / PAGE - 1);
			snprintf(what, len, "shrink 0x%llx by %llu KiB",
				 (unsigned long long)a->gpa, (unsigned long long)(k * PAGE / KiB));
			r = kvmhold_txn_resize(txn, a->gpa, a->size - k * PAGE);
			if (!r)
				r = kvmhold_txn_unmap(txn, b->gpa, b->size);
			if (!r)
				r = kvmhold_txn_map(txn, b->gpa - k * PAGE, b->size + k * PAGE,
						    (uint8_t *)b->hva - k * PAGE, b->flags);
			return r;
		}
		k = 1 + rand_below(b->size / PAGE - 1);
		snprintf(what, len, "grow 0x%llx by %llu KiB",
			 (unsigned long long)a->gpa, (unsigned long long)(k * PAGE / KiB));
		r = kvmhold_txn_unmap(txn, b->gpa, k * PAGE);
		return r ? r : kvmhold_txn_resize(txn, a->gpa, a->size + k * PAGE);
	case MOVE: {
		struct kvmhold_region alias[MAX_REGIONS];
		int m = kvmhold_txn_regions(txn, ALIAS_GPA, RAM_SIZE, alias, MAX_REGIONS);

		/*
		 * A region moves to the alias area, where the guest does not
		 * look, and the same memory is mapped again in its place.  The
		 * previous alias goes away in the same transaction.  (The commit
		 * notices that the region can keep its slot, and only makes a
		 * slot for the alias.  When that needs no hold, as for the first
		 * move, the new logged slot starts with every page dirty if the
		 * bitmap is used, and the next sync reports the whole region
		 * once more.)
		 */
		if (m < 0 || m > MAX_REGIONS)
			return m < 0 ? m : -ERANGE;
		for (r = 0; m-- > 0 && !r; )
			r = kvmhold_txn_unmap(txn, alias[m].gpa, alias[m].size);
		a = &reg[rand_below((uint64_t)n)];
		snprintf(what, len, "move 0x%llx (%llu KiB), remap",
			 (unsigned long long)a->gpa, (unsigned long long)(a->size / KiB));
		if (!r)
			r = kvmhold_txn_move(txn, a->gpa, a->size, ALIAS_GPA + a->gpa);
		return r ? r : kvmhold_txn_map(txn, a->gpa, a->size, a->hva, a->flags);
	}
	case MERGE:
		snprintf(what, len, "merge %d regions", n);
		return n < 2 ? -ERANGE : kvmhold_txn_merge(txn, 0, RAM_SIZE);
	default:
		return -EINVAL;
	}
}

/* One layout change in one transaction: all of it, or nothing. */
static int change_layout(enum change kind, char *what, size_t len)
{
	struct kvmhold_txn *txn;
	int r = kvmhold_txn_begin(ex.vm, &txn);

	if (r)
		return r;
	r = add_change(txn, kind, what, len);
	if (!r)
		r = kvmhold_txn_set_timeout(txn, 5000);
	if (r) {
		kvmhold_txn_abort(txn);
		return r;
	}
	return kvmhold_txn_commit(txn);   /* frees txn, whatever it returns */
}

#define DEVICE_GPA  (512 * KiB)         /* the device's buffers: [512 KiB, 1 MiB) */
#define DEVICE_SIZE (512 * KiB)

/*
 * A device completing requests: it writes a buffer in guest memory (found
 * by guest address, as from a virtqueue descriptor), then marks it.  The
 * mem section keeps the region from moving away meanwhile, and lets the
 * final hold wait for a write in flight, so that write and mark are never
 * split by it.
 */
static void *device_thread(void *arg)
{
	uint64_t x = 0x9e3779b97f4a7c15ull, n = 0;
	struct timespec pace = { 0, 200 * 1000 };   /* a request every 200 us */

	(void)arg;
	while (!atomic_load(&ex.stopping)) {
		uint64_t gpa;
		uint64_t *word;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		gpa = DEVICE_GPA + (x % DEVICE_SIZE & ~7ull);
		if (kvmhold_mem_begin(ex.vm))
			return (void *)1;
		word = kvmhold_gpa_to_hva(ex.vm, gpa);
		if (word) {
			*word = ++n;
			if (device_marks)
				kvmhold_dirty_mark(ex.vm, word, sizeof(*word));
		}
		kvmhold_mem_end(ex.vm);
		atomic_store(&device_writes, n);
		nanosleep(&pace, NULL);
	}
	return NULL;
}

/* Fetch and clear the RAM's dirty pages; copy them.  Returns how many, or -errno. */
static long sync_and_copy(void)
{
	uint64_t bitmap[WORDS];
	long copied = 0;
	unsigned i;
	int r;

	/* By host address: the layout of the moment does not matter. */
	r = kvmhold_dirty_sync(ex.vm, ram, RAM_SIZE, bitmap);
	if (r)
		return r;
	for (i = 0; i < NPAGES; i++)
		if (bitmap[i / 64] & (1ull << (i % 64))) {
			memcpy(dst + i * PAGE, ram + i * PAGE, PAGE);
			copied++;
		}
	return copied;
}

static void usage(void)
{
	fprintf(stderr, "usage: migrate [--ring BYTES] [--rounds N] [--no-mark]\n"
		"  --ring BYTES  track dirty pages with a per-vCPU dirty ring of BYTES\n"
		"                (a power of two) instead of KVM's dirty bitmap\n"
		"  --rounds N    rounds of sync and copy before the final pass (default 12)\n"
		"  --no-mark     the device thread does not mark what it writes: the copy\n"
		"                then misses those pages, and migrate fails\n");
}

int main(int argc, char **argv)
{
	struct kvmhold_vm_opts opts = { .size = sizeof(opts) };
	struct kvmhold_txn *txn;
	struct kvmhold_stats st;
	unsigned long rounds = 12, round, changes = 0, differ = 0, i;
	long copied, total;
	pthread_t device;
	void *device_ret;
	int r, n;

	for (i = 1; i < (unsigned long)argc; i++) {
		char *end = NULL;

		if (!strcmp(argv[i], "--ring") && i + 1 < (unsigned long)argc) {
			opts.dirty_ring_bytes = (unsigned)strtoul(argv[++i], &end, 0);
		} else if (!strcmp(argv[i], "--rounds") && i + 1 < (unsigned long)argc) {
			rounds = strtoul(argv[++i], &end, 0);
		} else if (!strcmp(argv[i], "--no-mark")) {
			device_marks = false;
			continue;
		} else {
			usage();
			return 2;
		}
		if (!end || *end) {
			usage();
			return 2;
		}
	}

	/* The dirty ring, if any, is set up now, before the VM has vCPUs. */
	r = kvmhold_vm_create(&opts, &ex.vm);
	if (r)
		return example_fail(&ex, "vm_create", r);
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dst = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED || dst == MAP_FAILED)
		return example_fail(&ex, "mmap", -errno);
	ctrl = example_guest_setup(ram, 0, guest_code, sizeof(guest_code));
	ctrl->seed = 0x9e3779b97f4a7c15ull;

	/* The RAM, not logged yet: the guest runs for a while before migration starts. */
	r = kvmhold_txn_begin(ex.vm, &txn);
	if (!r)
		r = kvmhold_txn_map(txn, 0, RAM_SIZE, ram, 0);
	if (!r)
		r = kvmhold_txn_commit(txn);
	else
		kvmhold_txn_abort(txn);
	if (r)
		return example_fail(&ex, "initial layout", r);
	r = example_vcpu_start(&ex);
	if (r)
		return example_fail(&ex, "vcpu setup", r);
	if (wait_writes(1000))
		return fprintf(stderr, "migrate: the guest does not run\n"), 1;
	printf("migrate: %s, guest writing into %llu KiB of RAM\n",
	       opts.dirty_ring_bytes ? "dirty ring" : "dirty bitmap",
	       (unsigned long long)(RAM_SIZE / KiB));

	/* Migration starts: logging on (no hold needed), a clean slate, a full copy. */
	r = kvmhold_txn_begin(ex.vm, &txn);
	if (!r)
		r = kvmhold_txn_set_flags(txn, 0, RAM_SIZE, KVMHOLD_MEM_LOG_DIRTY);
	if (!r)
		r = kvmhold_txn_commit(txn);
	else
		kvmhold_txn_abort(txn);
	if (r)
		return example_fail(&ex, "logging on", r);
	/*
	 * With the bitmap, a newly logged range starts out all dirty; with the
	 * ring, clean.  Either way, what this sync reports is covered by the
	 * full copy that follows.
	 */
	copied = sync_and_copy();
	if (copied < 0)
		return example_fail(&ex, "first sync", (int)copied);
	printf("migrate: logging on; the first sync reported %ld pages; full copy: %llu pages\n",
	       copied, (unsigned long long)NPAGES);
	memcpy(dst, ram, RAM_SIZE);
	total = (long)NPAGES;
	if (pthread_create(&device, NULL, device_thread, NULL))
		return fprintf(stderr, "migrate: pthread_create failed\n"), 1;

	/* Pre-copy rounds.  A real VMM would stop once few pages are left. */
	for (round = 1; round <= rounds; round++) {
		char what[64] = "";

		if (wait_writes(64))
			return fprintf(stderr, "migrate: the guest stalled\n"), 1;
		if (round % 2 == 0) {
			r = change_layout((enum change)(changes % NR_CHANGES), what, sizeof(what));
			if (r)
				return example_fail(&ex, what[0] ? what : "layout change", r);
			changes++;
			n = ram_regions(NULL, NULL, 0);
			snprintf(what + strlen(what), sizeof(what) - strlen(what), ": %d region%s",
				 n, n == 1 ? "" : "s");
		}
		copied = sync_and_copy();
		if (copied < 0)
			return example_fail(&ex, "sync", (int)copied);
		total += copied;
		printf("migrate: round %2lu: %-40s %3ld pages dirty, copied\n", round,
		       what[0] ? what : "-", copied);
	}

	/* Final pass: nothing runs between the last sync and the comparison. */
	if (wait_writes(64))
		return fprintf(stderr, "migrate: the guest stalled\n"), 1;
	r = kvmhold_hold(ex.vm, 5000);
	if (r)
		return example_fail(&ex, "hold", r);
	copied = sync_and_copy();
	if (copied < 0)
		return example_fail(&ex, "final sync", (int)copied);
	total += copied;
	for (i = 0; i < NPAGES; i++)
		differ += memcmp(dst + i * PAGE, ram + i * PAGE, PAGE) != 0;
	printf("migrate: final pass under a hold: %ld pages; %lu of %llu pages differ\n",
	       copied, differ, (unsigned long long)NPAGES);
	r = kvmhold_release(ex.vm);
	if (r)
		return example_fail(&ex, "release", r);

	r = example_vcpu_stop(&ex);
	pthread_join(device, &device_ret);
	if (r || device_ret)
		return 1;

	memset(&st, 0, sizeof(st));
	r = kvmhold_stats_get(ex.vm, &st, sizeof(st));
	if (r)
		return example_fail(&ex, "stats", r);
	printf("migrate: %lu rounds, %lu layout changes, %ld pages copied in all\n",
	       rounds, changes, total);
	printf("migrate: the guest made %llu writes and %lu port exits, %lu accesses to a hole;"
	       " the device %lu writes (%s)\n", (unsigned long long)guest_writes(),
	       atomic_load(&ex.port_exits), atomic_load(&ex.holes), atomic_load(&device_writes),
	       device_marks ? "marked" : "not marked");
	printf("migrate: %llu syncs, %llu slot bitmaps harvested by commits, "
	       "%llu ring entries (%llu ring-full exits)\n",
	       (unsigned long long)st.dirty_syncs, (unsigned long long)st.dirty_harvests,
	       (unsigned long long)st.ring_entries, (unsigned long long)st.ring_full_exits);
	kvmhold_vm_destroy(ex.vm);
	munmap(dst, RAM_SIZE);
	munmap(ram, RAM_SIZE);
	if (differ || atomic_load(&ex.holes)) {
		fprintf(stderr, "migrate: FAILED: the copy is not the guest's memory\n");
		return 1;
	}
	printf("migrate: OK\n");
	return 0;
}
