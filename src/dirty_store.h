/* SPDX-License-Identifier: MIT */
/*
 * The dirty store: guest writes the library has collected but not yet
 * reported, keyed by host page, so that layout changes do not matter to it.
 * Bits come from a slot's dirty bitmap read just before KVM frees it (a
 * commit deleting, moving or un-logging the slot), from KVM_GET_DIRTY_LOG
 * bits outside the range a sync asked for, and from the dirty rings.
 *
 * Also the set of host ranges that were ever logged, so that a sync of a
 * range nobody asked to log is an error rather than an empty answer.
 *
 * A hash table of 64-page chunks, and whole slot bitmaps harvested under a
 * commit's hold, kept as KVM gave them until a sync takes their bits (the
 * hold then costs KVM's copy of the bitmap only), under one mutex.
 */
#ifndef KVMHOLD_DIRTY_STORE_H
#define KVMHOLD_DIRTY_STORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dirty_chunk {
	uint64_t key;     /* host page number / 64, plus 1 (0: empty slot) */
	uint64_t bits;    /* bit i: host page key * 64 + i is dirty */
};

struct hva_range {
	uint64_t start, end;
};

/* A slot's harvested bitmap, not yet reported. */
struct dirty_bitmap {
	struct dirty_bitmap *next;
	uint64_t hva, npages;
	uint64_t *bits;                 /* npages bits */
	uint64_t set;                   /* how many are still set */
};

struct dirty_store {
	pthread_mutex_t lock;
	struct dirty_chunk *chunks;
	size_t capacity, used;          /* a power of two; used counts non-empty */
	struct dirty_bitmap *bitmaps;   /* harvested bitmaps with bits left */
	struct hva_range *logged;       /* ever-logged host ranges, sorted, merged */
	size_t nr_logged, cap_logged;
	uint64_t pages;                 /* dirty pages held now, in chunks and bitmaps */
};

int dirty_store_init(struct dirty_store *ds);
void dirty_store_fini(struct dirty_store *ds);
/* Mark `count` host pages from hva dirty, one bit of `bits` (LSB first) each. */
int dirty_store_add_bits(struct dirty_store *ds, uint64_t hva, const uint64_t *bits, uint64_t count);
int dirty_store_add_pages(struct dirty_store *ds, const uint64_t *hvas, size_t n);
/* Mark host pages [hva, hva + npages pages) dirty, a chunk at a time. */
int dirty_store_add_range(struct dirty_store *ds, uint64_t hva, uint64_t npages);
/* Keep npages bits of a harvested bitmap (malloc'd; the store frees it). */
void dirty_store_add_bitmap(struct dirty_store *ds, uint64_t hva, uint64_t *bits, uint64_t npages);
/* OR the pages of [hva, hva + npages pages) into bitmap and forget them. */
void dirty_store_take(struct dirty_store *ds, uint64_t hva, uint64_t npages, uint64_t *bitmap);
/* Record that [start, end) is logged; ask whether a range ever was. */
int dirty_store_note_logged(struct dirty_store *ds, uint64_t start, uint64_t end);
int dirty_store_reserve_logged(struct dirty_store *ds, size_t extra);
void dirty_store_note_logged_many(struct dirty_store *ds, struct hva_range *add, size_t k);
bool dirty_store_was_logged(struct dirty_store *ds, uint64_t start, uint64_t end);

#endif
