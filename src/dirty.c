// SPDX-License-Identifier: MIT
/*
 * Dirty tracking: setup, the public sync calls, and the hooks commits call
 * so that no guest write is lost across a layout change.
 *
 * The promise: a page written by the guest is reported by a later sync of
 * its host range, whatever transactions happen in between.  KVM forgets a
 * slot's dirty bits when the slot is deleted or stops logging (bitmap), and
 * drops ring entries of a slot that is gone (ring).  So before a commit
 * deletes, moves or un-logs a logged slot, under the commit's hold (no
 * vCPU runs, so no new bits appear), what the slot holds is moved into the
 * store, keyed by host page; the next sync reports it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "internal.h"
#include "slot_table.h"
#include "test_hooks.h"
#include "bits.h"

uint32_t dirty_id_index(const struct kvmhold_vm *vm, uint32_t id)
{
	uint32_t max = vm->spaces[0].max_slots;

	if (slot_id_space(id) >= vm->nr_spaces || slot_id_index(id) >= max)
		return UINT32_MAX;
	return slot_id_space(id) * max + slot_id_index(id);
}

/* Does this module parameter file read Y (or 1)? */
static bool param_on(const char *path)
{
	char c = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (read(fd, &c, 1) != 1)
		c = 0;
	close(fd);
	return c == 'Y' || c == 'y' || c == '1';
}

/*
 * Does KVM log dirty pages with the CPU's page-modification logging here
 * (Intel PML; AMD's in newer kernels)?  Then up to 512 writes per vCPU sit
 * in a hardware buffer until the vCPU leaves guest mode.  The module
 * parameter is the only way to ask; where sysfs is not readable (a
 * sandbox) the answer is no, and KVMHOLD_VM_RING_FLUSH says yes instead.
 */
static bool host_uses_pml(void)
{
	return param_on("/sys/module/kvm_intel/parameters/pml") ||
	       param_on("/sys/module/kvm_amd/parameters/pml");
}

int dirty_init(struct kvmhold_vm *vm)
{
	struct dirty_state *d = &vm->dirty;
	uint32_t max = vm->spaces[0].max_slots * vm->nr_spaces;   /* see dirty_id_index() */
	int r;

	r = dirty_store_init(&d->store);
	if (r)
		return r;
	pthread_mutex_init(&d->sync_lock, NULL);
	pthread_rwlock_init(&d->id_lock, NULL);
	d->id_hva = calloc(max, sizeof(*d->id_hva));
	d->id_pages = calloc(max, sizeof(*d->id_pages));
	if (!d->id_hva || !d->id_pages)
		r = -ENOMEM;
	else if (vm->opts.dirty_ring_bytes)
		r = dirty_ring_enable(vm, vm->opts.dirty_ring_bytes);
	else
		r = dirty_log_enable_manual(vm);
	if (r)
		dirty_fini(vm);
	d->ring_flush = d->ring_bytes &&
			((vm->opts.flags & KVMHOLD_VM_RING_FLUSH) || host_uses_pml());
	return r;
}

void dirty_fini(struct kvmhold_vm *vm)
{
	struct dirty_state *d = &vm->dirty;

	free(d->scratch);
	free(d->id_hva);
	free(d->id_pages);
	d->id_hva = d->id_pages = NULL;
	pthread_rwlock_destroy(&d->id_lock);
	pthread_mutex_destroy(&d->sync_lock);
	dirty_store_fini(&d->store);
}

void dirty_slot_mapped(struct kvmhold_vm *vm, uint32_t id, uint64_t hva, uint64_t size)
{
	struct dirty_state *d = &vm->dirty;

	uint32_t i = dirty_id_index(vm, id);

	if (!d->ring_bytes || i == UINT32_MAX)
		return;
	pthread_rwlock_wrlock(&d->id_lock);
	d->id_hva[i] = hva;
	d->id_pages[i] = size / PAGE_SIZE_4K;
	pthread_rwlock_unlock(&d->id_lock);
}

int dirty_before_destroy(struct kvmhold_vm *vm, const struct slot *s, bool *rings_done)
{
	if (!(s->flags & KVMHOLD_MEM_LOG_DIRTY))
		return 0;
	if (test_broken(BREAK_DIRTY_HARVEST))
		return 0;
	if (!vm->dirty.ring_bytes)
		return dirty_log_harvest_slot(vm, s);
	/* Rings hold every slot's entries: one harvest serves the whole commit. */
	if (*rings_done)
		return 0;
	*rings_done = true;
	return dirty_ring_harvest_all(vm);
}

int dirty_note_logged(struct kvmhold_vm *vm, uint64_t hva, uint64_t size)
{
	return dirty_store_note_logged(&vm->dirty.store, hva, hva + size);
}

static int found(struct slot *s, void *arg)
{
	(void)s;
	(void)arg;
	return 1;
}

/* -ENOENT if no slot maps any of [hva, end), -ENODATA if one does but none logs. */
static int never_logged_error(struct kvmhold_vm *vm, uint64_t hva, uint64_t end)
{
	int any = 0;
	unsigned i;

	for (i = 0; i < vm->nr_spaces && !any; i++) {
		pthread_rwlock_rdlock(&vm->spaces[i].lock);
		any = slot_table_each_hva(&vm->spaces[i], hva, end, found, NULL);
		pthread_rwlock_unlock(&vm->spaces[i].lock);
	}
	return any ? -ENODATA : -ENOENT;
}

/* How long a flush waits for a vCPU to leave KVM_RUN before the sync fails. */
#define RING_FLUSH_TIMEOUT_NS 1000000000ull

/*
 * Ring mode with PML: make every vCPU in KVM_RUN leave it once before the
 * rings are read, so that the writes the CPU still held in its page-
 * modification log are in the rings (see kick_all_exit_once() for the
 * ordering).  Not a hold: no gate, no wait for mem sections, so a sync
 * keeps its rules (a thread in a section, or holding a lock a device
 * thread's section needs, syncs as before).  A caller that holds the VM
 * has every vCPU out already.
 */
static int ring_flush(struct kvmhold_vm *vm)
{
	struct thread_vm_state *ts;
	int r;

	if (!vm->dirty.ring_flush || test_broken(BREAK_RING_FLUSH))
		return 0;
	ts = thread_state_get(vm, false);
	if (ts && thread_state_holds(ts, vm))
		return 0;
	r = kick_all_exit_once(vm, RING_FLUSH_TIMEOUT_NS);
	if (!r)
		atomic_fetch_add_explicit(&vm->dirty.ring_flushes, 1, memory_order_relaxed);
	return r;
}

/* kvmhold_dirty_sync() once the arguments are checked; flush: ring_flush() first. */
static int sync_hva(struct kvmhold_vm *vm, uint64_t start, uint64_t size, uint64_t *bitmap,
		    bool flush)
{
	uint64_t npages = size / PAGE_SIZE_4K, count;
	struct dirty_state *d = &vm->dirty;
	int r;

	if (!dirty_store_was_logged(&d->store, start, start + size))
		return never_logged_error(vm, start, start + size);
	if (flush) {
		r = ring_flush(vm);
		if (r)
			return r;
	}
	memset(bitmap, 0, (npages + 63) / 64 * sizeof(*bitmap));

	/*
	 * The gate first (a commit that holds the VM is not interleaved with
	 * us), then one sync at a time.  In that order, a thread that holds the
	 * VM can sync: nobody else is inside the gate to own sync_lock.
	 */
	r = gate_enter(vm, NULL);
	if (r)
		return r;
	test_delay(&kvmhold_test_sync_delay_ns);
	pthread_mutex_lock(&d->sync_lock);
	r = d->ring_bytes ? dirty_ring_harvest_all(vm) : dirty_log_sync(vm, start, npages, bitmap);
	if (r) {
		/* What was fetched and cleared before the failure goes back. */
		dirty_store_add_bits(&d->store, start, bitmap, npages);
	} else {
		dirty_store_take(&d->store, start, npages, bitmap);
	}
	pthread_mutex_unlock(&d->sync_lock);
	/*
	 * Counted before gate_leave(): once the leave lets a hold return,
	 * the VMM may destroy the VM, and nothing here may touch it.
	 */
	if (!r) {
		uint64_t reported = 0;

		for (count = 0; count < (npages + 63) / 64; count++)
			reported += __builtin_popcountll(bitmap[count]);
		atomic_fetch_add_explicit(&d->syncs, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&d->reported, reported, memory_order_relaxed);
	}
	gate_leave(vm, NULL);
	return r;
}

KVMHOLD_API int kvmhold_dirty_sync(struct kvmhold_vm *vm, void *hva, size_t size, uint64_t *bitmap)
{
	uint64_t start = (uint64_t)(uintptr_t)hva;

	if (!vm || !bitmap || !hva || !size || ((start | size) & (PAGE_SIZE_4K - 1)) ||
	    start + size < start)
		return -EINVAL;
	return sync_hva(vm, start, size, bitmap, true);
}

/* A stretch of a gpa range that one slot maps: one contiguous host range. */
struct gpa_piece {
	uint64_t hva, len, first;     /* first: page index in the caller's bitmap */
	bool logged;
};

KVMHOLD_API int kvmhold_dirty_sync_gpa(struct kvmhold_vm *vm, uint64_t gpa, uint64_t size,
				       uint64_t *bitmap)
{
	return kvmhold_dirty_sync_gpa_as(vm, 0, gpa, size, bitmap);
}

KVMHOLD_API int kvmhold_dirty_sync_gpa_as(struct kvmhold_vm *vm, unsigned as_id, uint64_t gpa,
					  uint64_t size, uint64_t *bitmap)
{
	uint64_t end = gpa + size, pos, *piece_bits = NULL;
	struct gpa_piece *pieces = NULL;
	size_t n = 0, cap = 0, i, j;
	bool any_logged = false;
	int r = 0;

	if (!vm || !bitmap || !size || ((gpa | size) & (PAGE_SIZE_4K - 1)) || end < gpa)
		return -EINVAL;
	if (!vm_space(vm, as_id))
		return -EOPNOTSUPP;
	memset(bitmap, 0, (size / PAGE_SIZE_4K + 63) / 64 * sizeof(*bitmap));
	/*
	 * First the whole range, piece by piece along the slots, before any
	 * bit is fetched and cleared: a range with a hole fails as a whole.
	 */
	for (pos = gpa; pos < end; ) {
		struct kvmhold_region reg;
		struct gpa_piece *p;

		if (kvmhold_regions_as(vm, as_id, pos, PAGE_SIZE_4K, &reg, 1) < 1 || reg.gpa > pos) {
			r = -ENOENT;
			goto out;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			p = realloc(pieces, cap * sizeof(*pieces));
			if (!p) {
				r = -ENOMEM;
				goto out;
			}
			pieces = p;
		}
		p = &pieces[n++];
		p->hva = (uint64_t)(uintptr_t)reg.hva + (pos - reg.gpa);
		p->len = reg.gpa + reg.size - pos < end - pos ? reg.gpa + reg.size - pos : end - pos;
		p->first = (pos - gpa) / PAGE_SIZE_4K;
		p->logged = dirty_store_was_logged(&vm->dirty.store, p->hva, p->hva + p->len);
		any_logged |= p->logged;
		pos += p->len;
	}
	if (!any_logged) {
		r = -ENODATA;
		goto out;
	}
	piece_bits = malloc((size / PAGE_SIZE_4K + 63) / 64 * sizeof(*piece_bits));
	if (!piece_bits) {
		r = -ENOMEM;
		goto out;
	}
	/* One flush for all the pieces; pieces never logged have nothing to report. */
	r = ring_flush(vm);
	for (i = 0; i < n && !r; i++) {
		if (!pieces[i].logged)
			continue;
		r = sync_hva(vm, pieces[i].hva, pieces[i].len, piece_bits, false);
		for (j = 0; !r && j < pieces[i].len / PAGE_SIZE_4K; j++)
			if (piece_bits[j / 64] & (1ull << (j % 64)))
				bitmap[(pieces[i].first + j) / 64] |= 1ull << ((pieces[i].first + j) % 64);
	}
	/* A failure: the pieces already fetched go back to the store. */
	while (r && i-- > 1) {
		struct gpa_piece *p = &pieces[i - 1];
		uint64_t k;

		memset(piece_bits, 0, (p->len / PAGE_SIZE_4K + 63) / 64 * sizeof(*piece_bits));
		for (k = 0; k < p->len / PAGE_SIZE_4K; k++)
			if (bitmap[(p->first + k) / 64] & (1ull << ((p->first + k) % 64)))
				piece_bits[k / 64] |= 1ull << (k % 64);
		dirty_store_add_bits(&vm->dirty.store, p->hva, piece_bits, p->len / PAGE_SIZE_4K);
	}
out:
	free(piece_bits);
	free(pieces);
	return r;
}
