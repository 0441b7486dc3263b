// SPDX-License-Identifier: MIT
/*
 * The dirty store (see dirty_store.h).  Chunks are emptied, not removed,
 * while the store holds anything (a host range dirty once tends to be dirty
 * again); when a sync leaves the store empty the table is freed.  A
 * harvested bitmap is freed as soon as its last bit is taken.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dirty_store.h"
#include "test_hooks.h"

#include "bits.h"

int dirty_store_init(struct dirty_store *ds)
{
	memset(ds, 0, sizeof(*ds));
	return -pthread_mutex_init(&ds->lock, NULL);
}

static void free_bitmaps(struct dirty_store *ds)
{
	struct dirty_bitmap *b;

	while ((b = ds->bitmaps)) {
		ds->bitmaps = b->next;
		free(b->bits);
		free(b);
	}
}

void dirty_store_fini(struct dirty_store *ds)
{
	free_bitmaps(ds);
	free(ds->chunks);
	free(ds->logged);
	pthread_mutex_destroy(&ds->lock);
}

static size_t chunk_slot(uint64_t key, size_t cap)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

/* Under the lock: the chunk for key, created if asked; NULL if absent or no memory. */
static struct dirty_chunk *chunk_get(struct dirty_store *ds, uint64_t key, bool create)
{
	size_t s;

	if (ds->capacity) {
		for (s = chunk_slot(key, ds->capacity); ds->chunks[s].key;
		     s = (s + 1) & (ds->capacity - 1))
			if (ds->chunks[s].key == key)
				return &ds->chunks[s];
	}
	if (!create)
		return NULL;
	if ((ds->used + 1) * 2 > ds->capacity) {
		size_t cap = ds->capacity ? ds->capacity * 2 : 256, i;
		struct dirty_chunk *c = calloc(cap, sizeof(*c));

		if (!c)
			return NULL;
		for (i = 0; i < ds->capacity; i++) {
			if (!ds->chunks[i].key)
				continue;
			for (s = chunk_slot(ds->chunks[i].key, cap); c[s].key; s = (s + 1) & (cap - 1))
				;
			c[s] = ds->chunks[i];
		}
		free(ds->chunks);
		ds->chunks = c;
		ds->capacity = cap;
	}
	for (s = chunk_slot(key, ds->capacity); ds->chunks[s].key; s = (s + 1) & (ds->capacity - 1))
		;
	ds->chunks[s].key = key;
	ds->used++;
	return &ds->chunks[s];
}

/* Under the lock: set one page's bit. */
static int set_page(struct dirty_store *ds, uint64_t page)
{
	struct dirty_chunk *c = chunk_get(ds, (page >> 6) + 1, true);
	uint64_t bit = 1ull << (page & 63);

	if (!c)
		return -ENOMEM;
	ds->pages += !(c->bits & bit);
	c->bits |= bit;
	return 0;
}

/* Under the lock: OR m into the chunk of host pages [chunk * 64, chunk * 64 + 64). */
static int or_chunk(struct dirty_store *ds, uint64_t chunk, uint64_t m)
{
	struct dirty_chunk *c;

	if (!m)
		return 0;
	c = chunk_get(ds, chunk + 1, true);
	if (!c)
		return -ENOMEM;
	ds->pages += (uint64_t)__builtin_popcountll(m & ~c->bits);
	c->bits |= m;
	return 0;
}

int dirty_store_add_range(struct dirty_store *ds, uint64_t hva, uint64_t npages)
{
	uint64_t page = hva >> PAGE_SHIFT_4K, end = page + npages;
	int r = 0;

	pthread_mutex_lock(&ds->lock);
	while (page < end && !r) {
		uint64_t in_chunk = 64 - (page & 63);

		if (in_chunk > end - page)
			in_chunk = end - page;
		r = or_chunk(ds, page >> 6, (in_chunk == 64 ? ~0ull : ((1ull << in_chunk) - 1))
					     << (page & 63));
		page += in_chunk;
	}
	pthread_mutex_unlock(&ds->lock);
	return r;
}

/* A word of bits at a time: one or two chunks each, whatever the alignment. */
int dirty_store_add_bits(struct dirty_store *ds, uint64_t hva, const uint64_t *bits, uint64_t count)
{
	uint64_t first = hva >> PAGE_SHIFT_4K, w;
	int r = 0;

	pthread_mutex_lock(&ds->lock);
	for (w = 0; w * 64 < count && !r; w++) {
		uint64_t m = bits[w] & range_mask(w, 0, count), page = first + w * 64;
		unsigned sh = (unsigned)(page & 63);

		if (!m)
			continue;
		r = or_chunk(ds, page >> 6, m << sh);
		if (!r && sh)
			r = or_chunk(ds, (page >> 6) + 1, m >> (64 - sh));
	}
	pthread_mutex_unlock(&ds->lock);
	return r;
}

int dirty_store_add_pages(struct dirty_store *ds, const uint64_t *hvas, size_t n)
{
	size_t i;
	int r = 0;

	pthread_mutex_lock(&ds->lock);
	for (i = 0; i < n && !r; i++)
		r = set_page(ds, hvas[i] >> PAGE_SHIFT_4K);
	pthread_mutex_unlock(&ds->lock);
	return r;
}

void dirty_store_add_bitmap(struct dirty_store *ds, uint64_t hva, uint64_t *bits, uint64_t npages)
{
	struct dirty_bitmap *b = malloc(sizeof(*b));
	uint64_t set = 0, w;

	for (w = 0; w < (npages + 63) / 64; w++)
		set += (uint64_t)__builtin_popcountll(bits[w]);
	if (!set || !b) {
		/*
		 * No memory for the record: fold now, page by page (slower,
		 * but nothing is lost unless that fails too).
		 */
		if (set)
			dirty_store_add_bits(ds, hva, bits, npages);
		free(bits);
		free(b);
		return;
	}
	*b = (struct dirty_bitmap){ .hva = hva, .npages = npages, .bits = bits, .set = set };
	pthread_mutex_lock(&ds->lock);
	b->next = ds->bitmaps;
	ds->bitmaps = b;
	ds->pages += set;
	pthread_mutex_unlock(&ds->lock);
}

/*
 * Under the lock: move the bits of harvested bitmaps that fall in host
 * pages [first, first + npages) into bitmap, word by word, and free the
 * bitmaps left empty.
 */
static void take_bitmaps(struct dirty_store *ds, uint64_t first, uint64_t npages, uint64_t *bitmap)
{
	struct dirty_bitmap **pp = &ds->bitmaps, *b;

	while ((b = *pp)) {
		uint64_t bfirst = b->hva >> PAGE_SHIFT_4K, lo, hi, w;

		lo = first > bfirst ? first : bfirst;
		hi = first + npages < bfirst + b->npages ? first + npages : bfirst + b->npages;
		for (w = (lo - bfirst) / 64; lo < hi && w * 64 < hi - bfirst; w++) {
			uint64_t m = b->bits[w] & range_mask(w, lo - bfirst, hi - lo);

			if (!m)
				continue;
			or_bits_at(bitmap, (int64_t)(bfirst + w * 64) - (int64_t)first, m);
			b->bits[w] &= ~m;
			b->set -= (uint64_t)__builtin_popcountll(m);
			ds->pages -= (uint64_t)__builtin_popcountll(m);
		}
		if (!b->set) {
			*pp = b->next;
			free(b->bits);
			free(b);
		} else {
			pp = &b->next;
		}
	}
}

void dirty_store_take(struct dirty_store *ds, uint64_t hva, uint64_t npages, uint64_t *bitmap)
{
	uint64_t first = hva >> PAGE_SHIFT_4K, i = 0;

	pthread_mutex_lock(&ds->lock);
	if (ds->bitmaps)
		take_bitmaps(ds, first, npages, bitmap);
	if (!ds->pages || !ds->used)
		npages = 0;     /* no chunks held: no lookups */
	while (i < npages) {
		uint64_t page = first + i;
		struct dirty_chunk *c = ds->used ? chunk_get(ds, (page >> 6) + 1, false) : NULL;
		uint64_t in_chunk = 64 - (page & 63), j;

		if (in_chunk > npages - i)
			in_chunk = npages - i;
		for (j = 0; c && c->bits && j < in_chunk; j++) {
			uint64_t bit = 1ull << ((page + j) & 63);

			if (c->bits & bit) {
				c->bits &= ~bit;
				ds->pages--;
				bitmap[(i + j) / 64] |= 1ull << ((i + j) % 64);
			}
		}
		i += in_chunk;
	}
	/* Empty: give the table back (it grows again as needed). */
	if (!ds->pages && ds->capacity) {
		free(ds->chunks);
		ds->chunks = NULL;
		ds->capacity = ds->used = 0;
	}
	pthread_mutex_unlock(&ds->lock);
}

/* Under the lock: the first logged range that ends at or after x (binary search). */
static size_t first_ending_from(const struct dirty_store *ds, uint64_t x)
{
	size_t lo = 0, hi = ds->nr_logged;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ds->logged[mid].end < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Room for `extra` more logged ranges, so that as many later
 * dirty_store_note_logged() calls cannot fail: a commit reserves before it
 * issues its ioctls, and records after they succeeded.
 */
int dirty_store_reserve_logged(struct dirty_store *ds, size_t extra)
{
	int r = 0;

	pthread_mutex_lock(&ds->lock);
	if (ds->nr_logged + extra > ds->cap_logged) {
		size_t cap = ds->cap_logged ? ds->cap_logged : 16;
		struct hva_range *n;

		while (cap < ds->nr_logged + extra)
			cap *= 2;
		n = realloc(ds->logged, cap * sizeof(*n));
		if (n) {
			ds->logged = n;
			ds->cap_logged = cap;
		} else {
			r = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&ds->lock);
	return r;
}

int dirty_store_note_logged(struct dirty_store *ds, uint64_t start, uint64_t end)
{
	size_t i, j;
	int r = 0;

	pthread_mutex_lock(&ds->lock);
	/* Merge with every range it touches, then insert in order. */
	i = first_ending_from(ds, start);
	for (j = i; j < ds->nr_logged && ds->logged[j].start <= end; j++) {
		if (ds->logged[j].start < start)
			start = ds->logged[j].start;
		if (ds->logged[j].end > end)
			end = ds->logged[j].end;
	}
	if (j == i && ds->nr_logged == ds->cap_logged) {
		size_t cap = ds->cap_logged ? ds->cap_logged * 2 : 16;
		struct hva_range *n = realloc(ds->logged, cap * sizeof(*n));

		if (!n) {
			r = -ENOMEM;
			goto out;
		}
		ds->logged = n;
		ds->cap_logged = cap;
	}
	/* Replace entries [i, j) by one. */
	memmove(&ds->logged[i + 1], &ds->logged[j], (ds->nr_logged - j) * sizeof(*ds->logged));
	ds->logged[i] = (struct hva_range){ start, end };
	ds->nr_logged = ds->nr_logged - (j - i) + 1;
out:
	pthread_mutex_unlock(&ds->lock);
	return r;
}

static int range_by_start(const void *a, const void *b)
{
	const struct hva_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * Record a commit's k newly logged host ranges at once: sort them, merge
 * them with the recorded ones from the back (into the room that
 * dirty_store_reserve_logged(ds, k) made, so this cannot fail), then join
 * what overlaps or touches in one forward pass.  Both passes start where
 * the first new range lands, so appending costs O(k log k), and a commit
 * that logs 32k scattered ranges costs one pass over the array instead of
 * one move of it per range.  Sorts add in place.
 */
void dirty_store_note_logged_many(struct dirty_store *ds, struct hva_range *add, size_t k)
{
	size_t i, j, out, from, n;

	if (!k)
		return;
	qsort(add, k, sizeof(*add), range_by_start);
	pthread_mutex_lock(&ds->lock);
	n = ds->nr_logged;
	if (test_broken(BREAK_LOGGED_MERGE)) {
		memcpy(&ds->logged[n], add, k * sizeof(*add));
		ds->nr_logged = n + k;
		pthread_mutex_unlock(&ds->lock);
		return;
	}
	from = first_ending_from(ds, add[0].start);
	if (from)
		from--;    /* the range before may touch the first new one */
	for (i = n, j = k, out = n + k; j > 0; ) {
		if (i > from && ds->logged[i - 1].start > add[j - 1].start)
			ds->logged[--out] = ds->logged[--i];
		else
			ds->logged[--out] = add[--j];
	}
	for (i = from, out = from; i < n + k; i++) {
		if (out > from && ds->logged[i].start <= ds->logged[out - 1].end) {
			if (ds->logged[i].end > ds->logged[out - 1].end)
				ds->logged[out - 1].end = ds->logged[i].end;
		} else {
			ds->logged[out++] = ds->logged[i];
		}
	}
	ds->nr_logged = out;
	pthread_mutex_unlock(&ds->lock);
}

bool dirty_store_was_logged(struct dirty_store *ds, uint64_t start, uint64_t end)
{
	bool found = false;
	size_t i;

	pthread_mutex_lock(&ds->lock);
	/* The ranges are sorted and disjoint: only the first ending after start can overlap. */
	i = first_ending_from(ds, start + 1);
	found = i < ds->nr_logged && ds->logged[i].start < end;
	pthread_mutex_unlock(&ds->lock);
	return found;
}
