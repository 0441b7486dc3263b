// SPDX-License-Identifier: MIT
/*
 * Memslot transactions: the operations.  A transaction is an overlay on the
 * slot table.  Its view of the layout is
 *
 *	(base entries not marked txn_removed) + (entries of txn->added)
 *
 * and every operation first checks itself against that view, then edits
 * the overlay only: a base entry that must change is "owned" (marked
 * removed and copied into the overlay, remembering its origin).  The base
 * table is not touched until the commit (txn_commit.c) succeeds.
 *
 * Only one transaction is open per VM (vm->txn_open), so the base table and
 * the marks on it cannot change under an open transaction.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "slot_table.h"
#include "txn.h"
#include "test_hooks.h"

static struct slot *view_containing(struct kvmhold_txn *txn, uint64_t gpa)
{
	struct slot *s = slot_tree_containing(&txn->added, gpa);

	if (s)
		return s;
	s = slot_tree_containing(&txn->base->tree, gpa);
	return s && !s->txn_removed ? s : NULL;
}

/*
 * The first base entry at or after b that the transaction did not remove.
 * Runs of removed entries are stepped over through their skip pointers,
 * which each walk shortens to the end of the run (path compression), so a
 * transaction that removed k entries and then walks past them again and
 * again pays about k once, not k each time.
 */
static struct slot none_live;   /* skip target: no live entry after this one */

static struct slot *skip_from(const struct slot *s)
{
	return s->skip ? s->skip : slot_of(avl_next(&s->node));
}

static struct slot *first_live(struct slot *b)
{
	struct slot *s, *next;

	for (s = b; s && s != &none_live && s->txn_removed; s = skip_from(s))
		;
	if (!s)
		s = &none_live;
	for (; b && b != s && b != &none_live; b = next) {
		next = skip_from(b);
		b->skip = s;
	}
	return s == &none_live ? NULL : s;
}

/* The first view entry ending above gpa, or NULL. */
static struct slot *view_from(struct kvmhold_txn *txn, uint64_t gpa)
{
	struct slot *a = slot_tree_from(&txn->added, gpa);
	struct slot *b = first_live(slot_tree_from(&txn->base->tree, gpa));

	if (!a || !b)
		return a ? a : b;
	return slot_gpa(a) <= slot_gpa(b) ? a : b;
}

static size_t view_count(const struct kvmhold_txn *txn)
{
	return txn->base->tree.count - txn->nr_removed + txn->added.count;
}

static bool range_mapped(struct kvmhold_txn *txn, uint64_t gpa, uint64_t end)
{
	while (gpa < end) {
		struct slot *s = view_containing(txn, gpa);

		if (!s)
			return false;
		gpa = slot_end(s);
	}
	return true;
}

static bool range_free(struct kvmhold_txn *txn, uint64_t gpa, uint64_t end)
{
	struct slot *s = view_from(txn, gpa);

	return !s || slot_gpa(s) >= end;
}

/* How many of gpa and end fall strictly inside an entry (each cut adds a slot). */
static unsigned cuts_needed(struct kvmhold_txn *txn, uint64_t gpa, uint64_t end)
{
	struct slot *s;
	unsigned n = 0;

	s = view_containing(txn, gpa);
	if (s && slot_gpa(s) < gpa)
		n++;
	s = view_containing(txn, end);
	if (s && slot_gpa(s) < end)
		n++;
	return n;
}

static int check_room(struct kvmhold_txn *txn, unsigned more)
{
	return view_count(txn) + more > txn->base->max_slots ? -ENOSPC : 0;
}

static struct slot *alloc_entry(void)
{
	if (test_alloc_fails())
		return NULL;     /* test-only: this allocation fails */
	return calloc(1, sizeof(struct slot));
}

/* Have n spare entries, or -ENOMEM with the transaction unchanged. */
static int txn_reserve(struct kvmhold_txn *txn, unsigned n)
{
	if (test_broken(BREAK_TXN_RESERVE))
		return 0;       /* allocate as we go, as it used to */
	while (txn->nr_spare < n) {
		struct slot *s = alloc_entry();

		if (!s)
			return -ENOMEM;
		s->next_removed = txn->spare;
		txn->spare = s;
		txn->nr_spare++;
	}
	return 0;
}

/* An entry from the spares the caller reserved (never fails then). */
static struct slot *slot_new(struct kvmhold_txn *txn, uint64_t gpa, uint64_t size, uint64_t hva,
			     uint32_t flags)
{
	struct slot *s = txn->spare;

	if (s) {
		txn->spare = s->next_removed;
		txn->nr_spare--;
	} else {
		s = alloc_entry();   /* only with the reservation switched off */
		if (!s)
			return NULL;
	}
	memset(s, 0, sizeof(*s));
	s->node.key = gpa;
	s->size = size;
	s->hva = hva;
	s->flags = flags;
	s->id = SLOT_ID_NONE;
	s->in_txn = true;
	return s;
}

static void mark_removed(struct kvmhold_txn *txn, struct slot *base)
{
	base->txn_removed = true;
	base->skip = NULL;
	base->next_removed = txn->removed;
	txn->removed = base;
	txn->nr_removed++;
}

/* dst maps the memory of src from byte delta on (guest_memfd range too). */
static void slot_backing_from(struct slot *dst, const struct slot *src, uint64_t delta)
{
	dst->gmem_fd = src->gmem_fd;
	dst->gmem_offset = src->gmem_offset;
	if ((src->flags & KVMHOLD_MEM_GUEST_MEMFD) && !test_broken(BREAK_GMEM_OFFSET))
		dst->gmem_offset += delta;
}

/* Does b map, in every respect, the memory that follows a's? */
static bool slot_backing_follows(const struct slot *a, const struct slot *b)
{
	if (b->hva != a->hva + a->size || b->flags != a->flags)
		return false;
	return !(a->flags & KVMHOLD_MEM_GUEST_MEMFD) ||
	       (b->gmem_fd == a->gmem_fd && b->gmem_offset == a->gmem_offset + a->size);
}

/* The overlay entry for view entry s, copying a base entry on first change. */
static struct slot *own(struct kvmhold_txn *txn, struct slot *s)
{
	struct slot *copy;

	if (s->in_txn)
		return s;
	copy = slot_new(txn, slot_gpa(s), s->size, s->hva, s->flags);
	if (!copy)
		return NULL;
	slot_backing_from(copy, s, 0);
	copy->origin = s;
	mark_removed(txn, s);
	avl_insert(&txn->added, &copy->node);
	return copy;
}

static void view_remove(struct kvmhold_txn *txn, struct slot *s)
{
	if (s->in_txn) {
		avl_remove(&txn->added, &s->node);
		free(s);
	} else {
		mark_removed(txn, s);
	}
}

/* Afterwards no view entry straddles x.  Does not change what is mapped. */
static int cut_at(struct kvmhold_txn *txn, uint64_t x)
{
	struct slot *s = view_containing(txn, x), *right;

	if (!s || slot_gpa(s) == x)
		return 0;
	s = own(txn, s);
	if (!s)
		return -ENOMEM;
	right = slot_new(txn, x, slot_end(s) - x, s->hva + (x - slot_gpa(s)), s->flags);
	if (!right)
		return -ENOMEM;
	slot_backing_from(right, s, x - slot_gpa(s));
	s->size = x - slot_gpa(s);
	avl_insert(&txn->added, &right->node);
	return 0;
}

/* Entries cut_around() may allocate: a copy and a right half at each end. */
#define CUT_AROUND_ENTRIES 4

/* View entries intersecting [gpa, end): a bound on the copies own() makes there. */
static unsigned entries_in(struct kvmhold_txn *txn, uint64_t gpa, uint64_t end)
{
	struct slot *s = view_containing(txn, gpa);
	unsigned n = 0;

	for (s = s ? s : view_from(txn, gpa); s && slot_gpa(s) < end; s = view_from(txn, slot_end(s)))
		n++;
	return n;
}

static int cut_around(struct kvmhold_txn *txn, uint64_t gpa, uint64_t end)
{
	int r = cut_at(txn, gpa);

	return r ? r : cut_at(txn, end);
}

/*
 * Room for the slots a change of [gpa, end) may add, entries for the cuts
 * and a copy of every entry in the range, then the cuts: after this
 * nothing the change does can fail (but with the reservation switched off
 * for a test, when the cuts may).
 */
static int reserve_and_cut(struct kvmhold_txn *txn, uint64_t gpa, uint64_t end)
{
	int r = check_room(txn, cuts_needed(txn, gpa, end));

	if (!r)
		r = txn_reserve(txn, CUT_AROUND_ENTRIES + entries_in(txn, gpa, end));
	return r ? r : cut_around(txn, gpa, end);
}

/* Validate the handle; the transaction lives until commit or abort. */
static int txn_check(struct kvmhold_txn *txn)
{
	if (!txn)
		return -EINVAL;
	return registry_has(txn) ? 0 : -EBADF;
}

/* The preamble of every operation on a range: a live transaction, a valid range. */
static int txn_check_range(struct kvmhold_txn *txn, uint64_t gpa, uint64_t size)
{
	int r = txn_check(txn);

	return r ? r : slot_check_range(gpa, size);
}

KVMHOLD_API int kvmhold_txn_begin_as(struct kvmhold_vm *vm, unsigned as_id,
				     struct kvmhold_txn **out)
{
	struct kvmhold_txn *txn;
	int r;

	if (!vm || !out)
		return -EINVAL;
	if (!vm_space(vm, as_id))
		return -EOPNOTSUPP;
	txn = calloc(1, sizeof(*txn));
	if (!txn)
		return -ENOMEM;
	txn->vm = vm;
	txn->base = vm_space(vm, as_id);
	txn->as = as_id;
	txn->timeout_ms = -1;
	r = txn_lock(vm);
	if (!r)
		r = registry_add(txn);
	if (r) {
		if (r != -EDEADLK)
			txn_unlock(vm);
		free(txn);
		return r;
	}
	vm->open_txn = txn;
	*out = txn;
	return 0;
}

/* The part of kvmhold_txn_map() and _map_gmem() after their own checks. */
static struct slot *map_checked(struct kvmhold_txn *txn, uint64_t gpa, uint64_t size,
				void *hva, uint32_t flags, int *err)
{
	struct slot *s;
	int r;

	if (!range_free(txn, gpa, gpa + size)) {
		*err = -EEXIST;
		return NULL;
	}
	r = check_room(txn, 1);
	if (!r)
		r = txn_reserve(txn, 1);
	s = r ? NULL : slot_new(txn, gpa, size, (uint64_t)(uintptr_t)hva, flags);
	*err = r ? r : s ? 0 : -ENOMEM;
	return s;
}

KVMHOLD_API int kvmhold_txn_begin(struct kvmhold_vm *vm, struct kvmhold_txn **out)
{
	return kvmhold_txn_begin_as(vm, 0, out);
}

KVMHOLD_API int kvmhold_txn_map(struct kvmhold_txn *txn, uint64_t gpa, uint64_t size,
				void *hva, uint32_t flags)
{
	struct slot *s;
	int r;

	r = txn_check(txn);
	if (!r)
		r = slot_check_mapping(txn->vm, gpa, size, hva, flags);
	if (r)
		return r;
	s = map_checked(txn, gpa, size, hva, flags, &r);
	if (!s)
		return r;
	avl_insert(&txn->added, &s->node);
	return 0;
}

KVMHOLD_API int kvmhold_txn_map_gmem(struct kvmhold_txn *txn, uint64_t gpa, uint64_t size,
				     void *hva, uint32_t flags, int guest_memfd,
				     uint64_t guest_memfd_offset)
{
	struct slot *s;
	int r;

	r = txn_check(txn);
	if (!r)
		r = slot_check_gmem(txn->vm, gpa, size, hva, flags, guest_memfd, guest_memfd_offset);
	if (r)
		return r;
	s = map_checked(txn, gpa, size, hva, KVMHOLD_MEM_GUEST_MEMFD, &r);
	if (!s)
		return r;
	s->gmem_fd = guest_memfd;
	s->gmem_offset = guest_memfd_offset;
	avl_insert(&txn->added, &s->node);
	return 0;
}

KVMHOLD_API int kvmhold_txn_unmap(struct kvmhold_txn *txn, uint64_t gpa, uint64_t size)
{
	uint64_t end = gpa + size, pos;
	struct slot *s;
	int r;

	r = txn_check_range(txn, gpa, size);
	if (r)
		return r;
	if (!range_mapped(txn, gpa, end))
		return -ENOENT;
	/* Only a hole punched inside one slot leaves more slots than before. */
	s = view_containing(txn, gpa);
	r = check_room(txn, slot_gpa(s) < gpa && slot_end(s) > end);
	if (!r)
		r = txn_reserve(txn, CUT_AROUND_ENTRIES);
	if (!r)
		r = cut_around(txn, gpa, end);
	if (r)
		return r;
	/*
	 * Walk on from each removed entry, not from gpa again: view_from()
	 * steps over removed base entries one by one, which from gpa would
	 * make unmapping k slots cost k^2.
	 */
	for (pos = gpa; (s = view_from(txn, pos)) && slot_gpa(s) < end; ) {
		pos = slot_end(s);
		view_remove(txn, s);
	}
	return 0;
}

KVMHOLD_API int kvmhold_txn_resize(struct kvmhold_txn *txn, uint64_t gpa, uint64_t new_size)
{
	struct slot *s;
	int r;

	r = txn_check_range(txn, gpa, new_size);
	if (r)
		return r;
	s = view_containing(txn, gpa);
	if (!s || slot_gpa(s) != gpa)
		return -ENOENT;
	if (new_size == s->size)
		return 0;
	if (new_size > s->size) {
		if (s->hva + new_size < s->hva)
			return -EOVERFLOW;
		if (!range_free(txn, slot_end(s), gpa + new_size))
			return -EEXIST;
	}
	r = txn_reserve(txn, 1);
	if (r)
		return r;
	s = own(txn, s);
	if (!s)
		return -ENOMEM;
	s->size = new_size;
	return 0;
}

KVMHOLD_API int kvmhold_txn_split(struct kvmhold_txn *txn, uint64_t gpa)
{
	struct slot *s;
	int r;

	r = txn_check(txn);
	if (r)
		return r;
	if (gpa & PAGE_MASK_4K)
		return -EINVAL;
	s = view_containing(txn, gpa);
	if (!s)
		return -ENOENT;
	if (slot_gpa(s) == gpa)
		return -EINVAL;   /* already a slot boundary */
	r = check_room(txn, 1);
	if (!r)
		r = txn_reserve(txn, 2);
	return r ? r : cut_at(txn, gpa);
}

KVMHOLD_API int kvmhold_txn_merge(struct kvmhold_txn *txn, uint64_t gpa, uint64_t size)
{
	uint64_t end = gpa + size, pos;
	struct slot *first, *prev = NULL, *s;
	unsigned n = 0;
	int r;

	r = txn_check_range(txn, gpa, size);
	if (r)
		return r;
	first = view_containing(txn, gpa);
	if (!first)
		return -ENOENT;
	if (slot_gpa(first) != gpa)
		return -EINVAL;
	for (pos = gpa; pos < end; pos = slot_end(s), prev = s, n++) {
		s = view_containing(txn, pos);
		if (!s)
			return -ENOENT;           /* a hole in the range */
		if (slot_end(s) > end)
			return -EINVAL;           /* range ends inside a slot */
		if (prev && !slot_backing_follows(prev, s))
			return -EINVAL;
	}
	if (n == 1)
		return 0;
	r = txn_reserve(txn, 1);
	if (r)
		return r;
	first = own(txn, first);
	if (!first)
		return -ENOMEM;
	/* From each removed entry on, as in unmap (k^2 otherwise). */
	for (pos = slot_end(first); (s = view_from(txn, pos)) && slot_gpa(s) < end; ) {
		pos = slot_end(s);
		view_remove(txn, s);
	}
	first->size = size;
	return 0;
}

KVMHOLD_API int kvmhold_txn_move(struct kvmhold_txn *txn, uint64_t gpa, uint64_t size,
				 uint64_t new_gpa)
{
	uint64_t end = gpa + size, new_end = new_gpa + size;
	struct slot *s, *moved = NULL;
	int r;

	r = txn_check_range(txn, gpa, size);
	if (!r)
		r = slot_check_range(new_gpa, size);
	if (r)
		return r;
	if (!range_mapped(txn, gpa, end))
		return -ENOENT;
	if (new_gpa == gpa)
		return 0;
	/* The target may overlap only the range being moved. */
	for (s = view_from(txn, new_gpa); s && slot_gpa(s) < new_end; s = view_from(txn, slot_end(s))) {
		uint64_t lo = slot_gpa(s) > new_gpa ? slot_gpa(s) : new_gpa;
		uint64_t hi = slot_end(s) < new_end ? slot_end(s) : new_end;

		if (lo < gpa || hi > end)
			return -EEXIST;
	}
	r = reserve_and_cut(txn, gpa, end);
	/* Own every entry of the range: nothing can fail after the reservation. */
	for (s = view_from(txn, gpa); !r && s && slot_gpa(s) < end; s = view_from(txn, slot_end(s)))
		if (!own(txn, s))
			r = -ENOMEM;
	if (r)
		return r;
	while ((s = slot_tree_from(&txn->added, gpa)) && slot_gpa(s) < end) {
		avl_remove(&txn->added, &s->node);
		s->next_removed = moved;
		moved = s;
	}
	while ((s = moved)) {
		moved = s->next_removed;
		s->next_removed = NULL;
		s->node.key = s->node.key - gpa + new_gpa;
		avl_insert(&txn->added, &s->node);
	}
	return 0;
}

/* Would kvmhold_txn_set_flags(flags) change slot s? */
static bool flags_change(const struct slot *s, uint32_t flags)
{
	return s->flags != flags && !(s->flags & KVMHOLD_MEM_GUEST_MEMFD);
}

KVMHOLD_API int kvmhold_txn_set_flags(struct kvmhold_txn *txn, uint64_t gpa, uint64_t size,
				      uint32_t flags)
{
	uint64_t end = gpa + size;
	struct slot *s;
	int r;

	r = txn_check_range(txn, gpa, size);
	if (!r)
		r = slot_check_flags(txn->vm, flags);
	if (r)
		return r;
	if (!range_mapped(txn, gpa, end))
		return -ENOENT;
	/*
	 * guest_memfd slots take no flags: KVM allows neither dirty logging
	 * nor READONLY there.  Clearing flags leaves them as they are.
	 */
	for (s = view_from(txn, gpa); flags && s && slot_gpa(s) < end; s = view_from(txn, slot_end(s)))
		if (s->flags & KVMHOLD_MEM_GUEST_MEMFD)
			return -EINVAL;
	/* Nothing to change: no cuts either. */
	for (s = view_from(txn, gpa); s && slot_gpa(s) < end && !flags_change(s, flags);
	     s = view_from(txn, slot_end(s)))
		;
	if (!s || slot_gpa(s) >= end)
		return 0;
	/*
	 * Start at the first slot that changes and stop after the last: the
	 * slots around them keep their flags, so a guest_memfd slot at either
	 * end is not cut (KVM would have to delete and re-create it).
	 */
	gpa = slot_gpa(s) > gpa ? slot_gpa(s) : gpa;
	for (s = view_containing(txn, end - 1); s && !flags_change(s, flags);
	     s = view_containing(txn, slot_gpa(s) - 1))
		end = slot_gpa(s);
	r = reserve_and_cut(txn, gpa, end);
	for (s = view_from(txn, gpa); !r && s && slot_gpa(s) < end; s = view_from(txn, slot_end(s))) {
		if (!flags_change(s, flags))
			continue;
		s = own(txn, s);
		if (!s)
			return -ENOMEM;
		s->flags = flags;
	}
	return r;
}

KVMHOLD_API int kvmhold_txn_regions(struct kvmhold_txn *txn, uint64_t gpa, uint64_t size,
				    struct kvmhold_region *out, unsigned max)
{
	uint64_t end = gpa + size;
	struct slot *s;
	unsigned n = 0;
	int r = txn_check(txn);

	if (r)
		return r;
	if ((!out && max) || !size)
		return -EINVAL;
	if (end < gpa)
		return -EOVERFLOW;
	for (s = view_from(txn, gpa); s && slot_gpa(s) < end; s = view_from(txn, slot_end(s))) {
		if (n < max)
			slot_to_region(s, &out[n]);
		n++;
	}
	return (int)n;
}

KVMHOLD_API int kvmhold_txn_set_timeout(struct kvmhold_txn *txn, int timeout_ms)
{
	int r = txn_check(txn);

	if (r)
		return r;
	if (timeout_ms < -1)
		return -EINVAL;
	txn->timeout_ms = timeout_ms;
	return 0;
}

/* Drop the overlay and the marks on base entries; the table is as before. */
void txn_discard(struct kvmhold_txn *txn)
{
	struct avl_node *n;
	struct slot *b;

	while ((n = txn->added.root)) {
		avl_remove(&txn->added, n);
		free(slot_of(n));
	}
	for (b = txn->removed; b; b = b->next_removed) {
		b->txn_removed = false;
		b->claimed = false;
	}
	txn->removed = NULL;
	txn->nr_removed = 0;
}

/* End the transaction: forget the handle, let the next one begin. */
static void free_spares(struct kvmhold_txn *txn)
{
	struct slot *s;

	while ((s = txn->spare)) {
		txn->spare = s->next_removed;
		free(s);
	}
}

void txn_free(struct kvmhold_txn *txn)
{
	struct kvmhold_vm *vm = txn->vm;

	free_spares(txn);

	registry_remove(txn);
	vm->open_txn = NULL;
	free(txn);
	txn_unlock(vm);
}

/* kvmhold_vm_destroy() with a transaction open: it goes with the VM. */
void txn_abort_on_destroy(struct kvmhold_vm *vm)
{
	struct kvmhold_txn *txn = vm->open_txn;

	if (!txn)
		return;
	txn_discard(txn);
	registry_remove(txn);
	free_spares(txn);
	free(txn);
	vm->open_txn = NULL;
}

KVMHOLD_API void kvmhold_txn_abort(struct kvmhold_txn *txn)
{
	if (txn_check(txn))
		return;
	txn_discard(txn);
	txn_free(txn);
}

/*
 * One open transaction per VM.  Not a mutex: a transaction may be begun on
 * one thread and committed on another.  The owner's thread id lets a thread
 * that begins a second one get -EDEADLK instead of waiting for itself.
 */
int txn_lock(struct kvmhold_vm *vm)
{
	int self = gettid(), r = 0;

	pthread_mutex_lock(&vm->txn_mutex);
	if (vm->txn_open && vm->txn_owner == self)
		r = -EDEADLK;
	while (!r && vm->txn_open)
		pthread_cond_wait(&vm->txn_cond, &vm->txn_mutex);
	if (!r) {
		vm->txn_open = true;
		vm->txn_owner = self;
	}
	pthread_mutex_unlock(&vm->txn_mutex);
	return r;
}

void txn_unlock(struct kvmhold_vm *vm)
{
	pthread_mutex_lock(&vm->txn_mutex);
	vm->txn_open = false;
	vm->txn_owner = 0;
	pthread_cond_signal(&vm->txn_cond);
	pthread_mutex_unlock(&vm->txn_mutex);
}
