// SPDX-License-Identifier: MIT
/*
 * Dirty tracking with KVM's per-slot dirty bitmap.
 *
 * With KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_GET_DIRTY_LOG only reads the
 * bitmap, and KVM_CLEAR_DIRTY_LOG clears (and write-protects again) exactly
 * the pages we pass: a sync reads the slot, reports the pages of the range
 * asked for, and clears just those.  A write that lands between the read
 * and the clear is not lost: if its page was clean at the read, its bit is
 * not in the mask we clear, so it stays set for the next sync; if it was
 * dirty, we report it, and the caller copies it after we return.
 * "Initially set" (pages start dirty when logging is turned on, and KVM
 * write-protects them only when cleared) spares a big slot the cost of
 * write-protecting every page up front; a range starts out reported dirty,
 * which a migration's first pass copies anyway.
 *
 * Without it, KVM_GET_DIRTY_LOG clears the whole slot, so the bits outside
 * the range asked for go to the store, where the sync of their range finds
 * them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "internal.h"
#include "slot_table.h"
#include "bits.h"


int dirty_log_enable_manual(struct kvmhold_vm *vm)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 };
	int supported = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);

	if (supported <= 0)
		return 0;          /* plain KVM_GET_DIRTY_LOG it is */
	/*
	 * Not KVM_DIRTY_LOG_INITIALLY_SET: with it a slot created with
	 * logging reports every page dirty until cleared, and a commit that
	 * splits a logged TiB slot had to clear both halves under its hold
	 * (or have the next sync report the whole TiB).  Without it KVM
	 * write-protects the new slot when it is created, as it does for
	 * every VMM that does not ask for manual protection, and a new
	 * logged slot reports only the pages written since.
	 */
	cap.args[0] = (uint64_t)supported & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
	if (ioctl(vm->fd, KVM_ENABLE_CAP, &cap) < 0)
		return -errno;
	vm->dirty.manual_protect = true;
	return 0;
}

/* The slot's bitmap, in a buffer the caller frees (64-bit words, as KVM wants). */
/* KVM copies the slot's whole bitmap into bits (the slot's size in bits). */
static int get_log_into(struct kvmhold_vm *vm, const struct slot *s, uint64_t *bits)
{
	struct kvm_dirty_log log = { .slot = s->id, .dirty_bitmap = bits };

	return ioctl(vm->fd, KVM_GET_DIRTY_LOG, &log) < 0 ? -errno : 0;
}

static uint64_t log_words(const struct slot *s)
{
	uint64_t words = (s->size / PAGE_SIZE_4K + 63) / 64;

	return words ? words : 1;
}

/* The slot's bitmap in a buffer of its own, which the caller frees (or hands on). */
static int get_log(struct kvmhold_vm *vm, const struct slot *s, uint64_t **out)
{
	uint64_t *bits = malloc(log_words(s) * sizeof(*bits));
	int r;

	if (!bits)
		return -ENOMEM;
	r = get_log_into(vm, s, bits);
	if (r) {
		free(bits);
		return r;
	}
	*out = bits;
	return 0;
}

/*
 * Under sync_lock: the slot's bitmap in the sync's scratch buffer, grown
 * as needed and kept, so a sync allocates nothing per call (KVM still
 * copies the whole slot's bitmap: its API has no smaller unit).
 */
static int get_log_scratch(struct kvmhold_vm *vm, const struct slot *s, uint64_t **out)
{
	struct dirty_state *d = &vm->dirty;
	uint64_t words = log_words(s);

	if (d->scratch_words < words) {
		uint64_t *n = realloc(d->scratch, words * sizeof(*n));

		if (!n)
			return -ENOMEM;
		d->scratch = n;
		d->scratch_words = words;
	}
	*out = d->scratch;
	return get_log_into(vm, s, d->scratch);
}

/*
 * Under a commit's hold, before KVM forgets the slot: its bitmap goes into
 * the store as it is, without a look at its bits, so the vCPUs stay
 * stopped for KVM's copy of the bitmap and no more; a later sync folds it.
 */
int dirty_log_harvest_slot(struct kvmhold_vm *vm, const struct slot *s)
{
	uint64_t *bits;
	int r = get_log(vm, s, &bits);

	if (r)
		return r;
	dirty_store_add_bitmap(&vm->dirty.store, s->hva, bits, s->size / PAGE_SIZE_4K);
	atomic_fetch_add_explicit(&vm->dirty.harvested, 1, memory_order_relaxed);
	return 0;
}

/*
 * Clear, in KVM, the pages [first, first + n) of slot s that are set in
 * bits (slot-relative).  KVM wants the range 64-page aligned (or running
 * to the end of the slot); the mask keeps the pages outside ours set.
 */
static int clear_log(struct kvmhold_vm *vm, const struct slot *s, const uint64_t *bits,
		     uint64_t first, uint64_t n)
{
	uint64_t npages = s->size / PAGE_SIZE_4K, lo = first & ~63ull, hi, w;
	struct kvm_clear_dirty_log clear = { .slot = s->id };
	uint64_t *mask, any = 0;
	int r = 0;

	hi = (first + n + 63) & ~63ull;
	if (hi > npages)
		hi = npages;
	mask = calloc((hi - lo + 63) / 64, sizeof(*mask));
	if (!mask)
		return -ENOMEM;
	for (w = lo / 64; w * 64 < first + n; w++) {
		mask[w - lo / 64] = bits[w] & range_mask(w, first, n);
		any |= mask[w - lo / 64];
	}
	clear.first_page = lo;
	clear.num_pages = (uint32_t)(hi - lo);
	clear.dirty_bitmap = mask;
	if (any && ioctl(vm->fd, KVM_CLEAR_DIRTY_LOG, &clear) < 0)
		r = -errno;
	free(mask);
	return r;
}

/* One logged slot's part of a sync of host pages [hva, hva + npages pages). */
static int sync_slot(struct kvmhold_vm *vm, const struct slot *s, uint64_t hva, uint64_t npages,
		     uint64_t *bitmap)
{
	uint64_t end = hva + npages * PAGE_SIZE_4K, lo, hi, first, n, w, *bits;
	int64_t delta;   /* caller's bit index minus the slot's, for the same page */
	int r;

	lo = hva > s->hva ? hva : s->hva;
	hi = end < s->hva + s->size ? end : s->hva + s->size;
	first = (lo - s->hva) / PAGE_SIZE_4K;   /* slot-relative */
	n = (hi - lo) / PAGE_SIZE_4K;
	delta = (int64_t)((lo - hva) / PAGE_SIZE_4K) - (int64_t)first;
	r = get_log_scratch(vm, s, &bits);
	if (r)
		return r;
	for (w = first / 64; w * 64 < first + n; w++)
		if (bits[w])
			or_bits_at(bitmap, (int64_t)(w * 64) + delta, bits[w] & range_mask(w, first, n));
	if (vm->dirty.manual_protect) {
		r = clear_log(vm, s, bits, first, n);
	} else {
		/* KVM cleared the whole slot: keep what lies outside our range. */
		for (w = first / 64; w * 64 < first + n; w++)
			bits[w] &= ~range_mask(w, first, n);
		r = dirty_store_add_bits(&vm->dirty.store, s->hva, bits, s->size / PAGE_SIZE_4K);
	}
	return r;
}

struct sync_args {
	struct kvmhold_vm *vm;
	uint64_t hva, npages, *bitmap;
};

static int sync_one(struct slot *s, void *arg)
{
	struct sync_args *a = arg;

	if (!(s->flags & KVMHOLD_MEM_LOG_DIRTY))
		return 0;
	return sync_slot(a->vm, s, a->hva, a->npages, a->bitmap);
}

/*
 * Caller is inside the gate: no commit that deletes slots runs meanwhile.
 * Only the slots that map the range are visited (the table's host index).
 */
int dirty_log_sync(struct kvmhold_vm *vm, uint64_t hva, uint64_t npages, uint64_t *bitmap)
{
	struct sync_args a = { vm, hva, npages, bitmap };
	unsigned i;
	int r = 0;

	/* Every address space: an SMM slot may map the same host memory. */
	for (i = 0; i < vm->nr_spaces && !r; i++) {
		struct slot_table *st = &vm->spaces[i];

		pthread_rwlock_rdlock(&st->lock);
		r = slot_table_each_hva(st, hva, hva + npages * PAGE_SIZE_4K, sync_one, &a);
		pthread_rwlock_unlock(&st->lock);
	}
	return r;
}
