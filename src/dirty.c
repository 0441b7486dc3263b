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
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>

#include "internal.h"
#include "slot_table.h"
#include "test_hooks.h"

#define PAGE_SIZE_4K 4096ull

int dirty_init(struct kvmhold_vm *vm)
{
	struct dirty_state *d = &vm->dirty;
	uint32_t max = vm->slots.max_slots;
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
	return r;
}

void dirty_fini(struct kvmhold_vm *vm)
{
	struct dirty_state *d = &vm->dirty;

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

	if (!d->ring_bytes || id >= vm->slots.max_slots)
		return;
	pthread_rwlock_wrlock(&d->id_lock);
	d->id_hva[id] = hva;
	d->id_pages[id] = size / PAGE_SIZE_4K;
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

/* -ENOENT if no slot maps any of [hva, end), -ENODATA if one does but none logs. */
static int never_logged_error(struct kvmhold_vm *vm, uint64_t hva, uint64_t end)
{
	struct avl_node *n;
	int r = -ENOENT;

	pthread_rwlock_rdlock(&vm->slots.lock);
	for (n = avl_first(&vm->slots.tree); n && r == -ENOENT; n = avl_next(n)) {
		struct slot *s = slot_of(n);

		if (s->hva < end && hva < s->hva + s->size)
			r = -ENODATA;
	}
	pthread_rwlock_unlock(&vm->slots.lock);
	return r;
}

KVMHOLD_API int kvmhold_dirty_sync(struct kvmhold_vm *vm, void *hva, size_t size, uint64_t *bitmap)
{
	uint64_t start = (uint64_t)(uintptr_t)hva, npages = size / PAGE_SIZE_4K, count;
	struct dirty_state *d;
	int r;

	if (!vm || !bitmap || !hva || !size || ((start | size) & (PAGE_SIZE_4K - 1)) ||
	    start + size < start)
		return -EINVAL;
	if (!registry_has(vm))
		return -EBADF;
	d = &vm->dirty;
	if (!dirty_store_was_logged(&d->store, start, start + size))
		return never_logged_error(vm, start, start + size);
	memset(bitmap, 0, (npages + 63) / 64 * sizeof(*bitmap));

	pthread_mutex_lock(&d->sync_lock);
	/* Through the gate: a commit that holds the VM is not interleaved with us. */
	r = gate_enter(vm, NULL);
	if (!r) {
		r = d->ring_bytes ? dirty_ring_harvest_all(vm)
				  : dirty_log_sync(vm, start, npages, bitmap);
		gate_leave(vm, NULL);
	}
	if (!r)
		dirty_store_take(&d->store, start, npages, bitmap);
	pthread_mutex_unlock(&d->sync_lock);
	if (r)
		return r;
	for (count = 0, r = 0; count < (npages + 63) / 64; count++)
		r += __builtin_popcountll(bitmap[count]);
	atomic_fetch_add_explicit(&d->syncs, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&d->reported, (uint64_t)r, memory_order_relaxed);
	return 0;
}

KVMHOLD_API int kvmhold_dirty_sync_gpa(struct kvmhold_vm *vm, uint64_t gpa, uint64_t size,
				       uint64_t *bitmap)
{
	uint64_t end = gpa + size, pos;
	int r = 0;

	if (!vm || !bitmap || !size || ((gpa | size) & (PAGE_SIZE_4K - 1)) || end < gpa)
		return -EINVAL;
	if (!registry_has(vm))
		return -EBADF;
	memset(bitmap, 0, (size / PAGE_SIZE_4K + 63) / 64 * sizeof(*bitmap));
	/*
	 * Piece by piece along the slots: each piece is a contiguous host
	 * range.  The whole gpa range must be mapped.
	 */
	for (pos = gpa; pos < end && !r; ) {
		struct kvmhold_region reg;
		uint64_t len, first = (pos - gpa) / PAGE_SIZE_4K, i, *piece;

		if (kvmhold_regions(vm, pos, PAGE_SIZE_4K, &reg, 1) < 1 || reg.gpa > pos)
			return -ENOENT;
		len = reg.gpa + reg.size - pos;
		if (len > end - pos)
			len = end - pos;
		piece = calloc((len / PAGE_SIZE_4K + 63) / 64, sizeof(*piece));
		if (!piece)
			return -ENOMEM;
		r = kvmhold_dirty_sync(vm, (char *)reg.hva + (pos - reg.gpa), len, piece);
		for (i = 0; !r && i < len / PAGE_SIZE_4K; i++)
			if (piece[i / 64] & (1ull << (i % 64)))
				bitmap[(first + i) / 64] |= 1ull << ((first + i) % 64);
		free(piece);
		pos += len;
	}
	return r;
}
