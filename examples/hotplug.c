// SPDX-License-Identifier: MIT
/*
 * hotplug: RAM hot-plug and hot-unplug under a running guest, with memslot
 * transactions.
 *
 * A 64-bit guest loops over a "RAM" range at 4 GiB: each pass writes a
 * pattern (address XOR pass number) every KiB of the range, reads it all
 * back and counts mismatches in guest memory.  It reads the size of the
 * range from a control block at the start of every pass and publishes the
 * size that pass uses.  Meanwhile the host
 *
 *   - grows the range by resizing its memslot, then by mapping a second one,
 *   - merges the two slots into one, then splits and re-merges it in
 *     several places,
 *   - unplugs the top of the range: it lowers the size in the control block,
 *     waits until the guest has started a pass that no longer uses the top,
 *     and only then unmaps it,
 *
 * and at the end checks that the guest saw no mismatch, that no access
 * ever fell into a hole (an MMIO exit), and that kvmhold_regions() reports
 * the layout asked for.  The guest's page tables and the vCPU thread are
 * in example_vm.c, shared with migrate.c.  Built against the installed
 * library alone:
 *
 *	cc hotplug.c example_vm.c $(pkg-config --cflags --libs kvmhold) -o hotplug
 *
 * Exit status 0 on success.  It needs read/write access to /dev/kvm.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <kvmhold.h>
#include "example_vm.h"

/* Guest physical layout (example_vm.h has the rest of the first 64 KiB). */
#define LOW_SIZE   (64 * KiB)         /* page tables, control block, code */
#define HP_GPA     0x100000000ull     /* the hot-pluggable RAM */
#define HP_MAX     (2 * MiB)

/* The control block shared with the guest. */
struct ctrl {
	uint64_t limit;       /* host -> guest: bytes of RAM at HP_GPA to use */
	uint64_t in_use;      /* guest -> host: bytes the current pass uses */
	uint64_t passes;      /* guest: completed passes */
	uint64_t mismatches;  /* guest: values read back wrong */
};

/*
 * 64-bit code at EX_CODE_GPA, the guest's whole program:
 *
 *	mov  $EX_CTRL_GPA, %esi
 * pass:
 *	mov  (%rsi), %rcx              limit
 *	mov  %rcx, 8(%rsi)             in_use = limit
 *	mov  16(%rsi), %rdx            pattern key: the pass number
 *	movabs $HP_GPA, %rdi
 *	lea  (%rdi,%rcx), %rbx         end
 *	mov  %rdi, %r8
 * 1:	mov  %rdi, %rax                write address ^ key every KiB
 *	xor  %rdx, %rax
 *	mov  %rax, (%rdi)
 *	add  $1024, %rdi
 *	cmp  %rbx, %rdi
 *	jb   1b
 *	mov  %r8, %rdi
 * 2:	mov  %rdi, %rax                read it back
 *	xor  %rdx, %rax
 *	cmp  %rax, (%rdi)
 *	je   3f
 *	incq 24(%rsi)                  mismatches++
 * 3:	add  $1024, %rdi
 *	cmp  %rbx, %rdi
 *	jb   2b
 *	incq 16(%rsi)                  passes++
 *	jmp  pass
 */
static const uint8_t guest_code[] = {
	0xbe, 0x00, 0x60, 0x00, 0x00,
	0x48, 0x8b, 0x0e,
	0x48, 0x89, 0x4e, 0x08,
	0x48, 0x8b, 0x56, 0x10,
	0x48, 0xbf, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
	0x48, 0x8d, 0x1c, 0x0f,
	0x49, 0x89, 0xf8,
	0x48, 0x89, 0xf8,
	0x48, 0x31, 0xd0,
	0x48, 0x89, 0x07,
	0x48, 0x81, 0xc7, 0x00, 0x04, 0x00, 0x00,
	0x48, 0x39, 0xdf,
	0x72, 0xeb,
	0x4c, 0x89, 0xc7,
	0x48, 0x89, 0xf8,
	0x48, 0x31, 0xd0,
	0x48, 0x39, 0x07,
	0x74, 0x04,
	0x48, 0xff, 0x46, 0x18,
	0x48, 0x81, 0xc7, 0x00, 0x04, 0x00, 0x00,
	0x48, 0x39, 0xdf,
	0x72, 0xe5,
	0x48, 0xff, 0x46, 0x10,
	0xeb, 0xab,
};

static struct example_vm ex = { .name = "hotplug" };
static uint8_t *low;                  /* host memory behind [0, LOW_SIZE) */
static uint8_t *hp;                   /* host memory behind the hot-pluggable RAM */
static struct ctrl *ctrl;

static uint64_t ctrl_get(const uint64_t *field)
{
	return __atomic_load_n(field, __ATOMIC_ACQUIRE);
}

static void ctrl_set(uint64_t *field, uint64_t value)
{
	__atomic_store_n(field, value, __ATOMIC_RELEASE);
}

/* Wait (bounded) until the guest has completed n more passes. */
static int wait_passes(uint64_t n)
{
	return example_wait_for(&ctrl->passes, ctrl_get(&ctrl->passes) + n);
}

/*
 * Ask the guest to use `bytes` of the range, and wait until a pass has
 * started with that size: from then on it touches nothing above it.
 */
static int set_guest_limit(uint64_t bytes)
{
	time_t end = time(NULL) + 60;

	ctrl_set(&ctrl->limit, bytes);
	while (ctrl_get(&ctrl->in_use) != bytes) {
		if (time(NULL) > end)
			return -ETIMEDOUT;
		usleep(1000);
	}
	return 0;
}

/* Report what the last commit cost. */
static void report(const char *what)
{
	static uint64_t held_before;
	struct kvmhold_stats st;

	memset(&st, 0, sizeof(st));
	if (kvmhold_stats_get(ex.vm, &st, sizeof(st)))
		return;
	printf("hotplug: %-38s %u memslot ioctl%s, %s\n", what, st.last_txn_ioctls,
	       st.last_txn_ioctls == 1 ? "" : "s",
	       st.txn_held_commits > held_before ? "under a hold" : "no hold needed");
	held_before = st.txn_held_commits;
}

enum change { RESIZE, MAP, MERGE, SPLIT, UNMAP };

/*
 * Every step is one transaction.  Its operations are checked as they are
 * added; the commit applies them all or none, and holds the VM (for at
 * most a second) only if the change needs it.
 */
static int change(enum change what, uint64_t gpa, uint64_t size, void *hva)
{
	struct kvmhold_txn *txn;
	int r = kvmhold_txn_begin(ex.vm, &txn);

	if (r)
		return r;
	switch (what) {
	case RESIZE:
		r = kvmhold_txn_resize(txn, gpa, size);
		break;
	case MAP:
		r = kvmhold_txn_map(txn, gpa, size, hva, 0);
		break;
	case MERGE:
		r = kvmhold_txn_merge(txn, gpa, size);
		break;
	case SPLIT:
		r = kvmhold_txn_split(txn, gpa);
		break;
	case UNMAP:
		r = kvmhold_txn_unmap(txn, gpa, size);
		break;
	}
	if (!r)
		r = kvmhold_txn_set_timeout(txn, 1000);
	if (r) {
		kvmhold_txn_abort(txn);
		return r;
	}
	return kvmhold_txn_commit(txn);   /* frees txn, whatever it returns */
}

/* The final layout must be exactly: low RAM, and 1.5 MiB at HP_GPA in one slot. */
static int check_layout(void)
{
	struct kvmhold_region reg[8];
	int n = kvmhold_regions(ex.vm, 0, UINT64_MAX, reg, 8);

	if (n < 0)
		return example_fail(&ex, "regions", n);
	printf("hotplug: final layout, %d regions:\n", n);
	for (int i = 0; i < n && i < 8; i++)
		printf("hotplug:   gpa %#11llx size %5llu KiB  slot %u\n",
		       (unsigned long long)reg[i].gpa, (unsigned long long)(reg[i].size / KiB),
		       reg[i].slot);
	if (n != 2 ||
	    reg[0].gpa != 0 || reg[0].size != LOW_SIZE || reg[0].hva != low ||
	    reg[1].gpa != HP_GPA || reg[1].size != HP_MAX - 512 * KiB || reg[1].hva != hp ||
	    reg[1].flags != 0)
		return fprintf(stderr, "hotplug: the layout is not the one asked for\n"), 1;
	if (kvmhold_gpa_to_hva(ex.vm, HP_GPA + MiB + 8) != hp + MiB + 8 ||
	    kvmhold_gpa_to_hva(ex.vm, HP_GPA + HP_MAX - 512 * KiB) != NULL)
		return fprintf(stderr, "hotplug: kvmhold_gpa_to_hva disagrees\n"), 1;
	return 0;
}

int main(void)
{
	struct kvmhold_txn *txn;
	int r, i;

	r = kvmhold_vm_create(NULL, &ex.vm);
	if (r)
		return example_fail(&ex, "vm_create", r);
	low = mmap(NULL, LOW_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	hp = mmap(NULL, HP_MAX, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (low == MAP_FAILED || hp == MAP_FAILED)
		return example_fail(&ex, "mmap", -errno);
	ctrl = example_guest_setup(low, HP_GPA, guest_code, sizeof(guest_code));
	ctrl_set(&ctrl->limit, 512 * KiB);

	/*
	 * The initial layout is a transaction too: once a VM's memslots are
	 * managed by transactions, all of them must be.
	 */
	r = kvmhold_txn_begin(ex.vm, &txn);
	if (!r)
		r = kvmhold_txn_map(txn, 0, LOW_SIZE, low, 0);
	if (!r)
		r = kvmhold_txn_map(txn, HP_GPA, 512 * KiB, hp, 0);
	if (!r)
		r = kvmhold_txn_commit(txn);
	else
		kvmhold_txn_abort(txn);
	if (r)
		return example_fail(&ex, "initial layout", r);
	r = example_vcpu_start(&ex);
	if (r)
		return example_fail(&ex, "vcpu setup", r);
	if (set_guest_limit(512 * KiB) || wait_passes(2))
		return fprintf(stderr, "hotplug: the guest does not run\n"), 1;
	printf("hotplug: guest running over 512 KiB of RAM at %#llx\n",
	       (unsigned long long)HP_GPA);

	/* Plug: grow the slot in place, then hand the guest the new memory. */
	r = change(RESIZE, HP_GPA, MiB, NULL);
	if (r)
		return example_fail(&ex, "resize", r);
	report("plug 512 KiB (resize to 1 MiB):");
	if (set_guest_limit(MiB) || wait_passes(2))
		return fprintf(stderr, "hotplug: the guest stalled\n"), 1;

	/* Plug: a second slot right above the first. */
	r = change(MAP, HP_GPA + MiB, MiB, hp + MiB);
	if (r)
		return example_fail(&ex, "map", r);
	report("plug 1 MiB (map a second slot):");
	if (set_guest_limit(HP_MAX) || wait_passes(2))
		return fprintf(stderr, "hotplug: the guest stalled\n"), 1;

	/* The host memory is contiguous and the flags equal: one slot will do. */
	r = change(MERGE, HP_GPA, HP_MAX, NULL);
	if (r)
		return example_fail(&ex, "merge", r);
	report("merge the two slots:");
	if (wait_passes(1))
		return fprintf(stderr, "hotplug: the guest stalled\n"), 1;

	/* Split and merge back in several places, while the guest walks the range. */
	for (i = 1; i < 8; i++) {
		r = change(SPLIT, HP_GPA + (uint64_t)i * 256 * KiB, 0, NULL);
		if (!r)
			r = change(MERGE, HP_GPA, HP_MAX, NULL);
		if (r)
			return example_fail(&ex, "split/merge", r);
		if (wait_passes(1))
			return fprintf(stderr, "hotplug: the guest stalled\n"), 1;
	}
	report("7 splits, each merged back (last):");

	/*
	 * Unplug the top 512 KiB.  First the guest must stop using it: lower
	 * its limit and wait until a pass has started with the new one.  Then
	 * the unmap, which cuts the slot in two and drops the top part.
	 */
	if (set_guest_limit(HP_MAX - 512 * KiB))
		return fprintf(stderr, "hotplug: the guest did not give the memory back\n"), 1;
	r = change(UNMAP, HP_GPA + HP_MAX - 512 * KiB, 512 * KiB, NULL);
	if (r)
		return example_fail(&ex, "unmap", r);
	report("unplug the top 512 KiB:");
	if (wait_passes(2))
		return fprintf(stderr, "hotplug: the guest stalled\n"), 1;

	if (example_vcpu_stop(&ex))
		return 1;

	printf("hotplug: guest made %llu passes: %llu mismatches, %lu accesses to a hole\n",
	       (unsigned long long)ctrl_get(&ctrl->passes),
	       (unsigned long long)ctrl_get(&ctrl->mismatches), atomic_load(&ex.holes));
	r = check_layout();
	if (!r && (ctrl_get(&ctrl->mismatches) || atomic_load(&ex.holes))) {
		fprintf(stderr, "hotplug: the guest saw the layout change\n");
		r = 1;
	}
	kvmhold_vm_destroy(ex.vm);
	munmap(hp, HP_MAX);
	munmap(low, LOW_SIZE);
	if (!r)
		printf("hotplug: OK\n");
	return r;
}
