// SPDX-License-Identifier: MIT
/*
 * The slot table (see slot_table.h) and the public lookups on it.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"
#include "slot_table.h"
#include "test_hooks.h"

static struct slot *slot_of_hva(const struct avl_node *n)
{
	return n ? avl_entry(n, struct slot, hva_node) : NULL;
}

/* by_hva's augment: the highest host end in n's subtree. */
static void hva_max_end(struct avl_node *n)
{
	const struct slot *s = slot_of_hva(n);
	uint64_t max = s->hva + s->size;

	if (n->left && n->left->aug > max)
		max = n->left->aug;
	if (n->right && n->right->aug > max)
		max = n->right->aug;
	n->aug = max;
}

void slot_table_add(struct slot_table *st, struct slot *s)
{
	avl_insert(&st->tree, &s->node);
	/* Host page number and id: unique, and in host address order. */
	s->hva_node.key = (s->hva >> 12) << 16 | slot_id_index(s->id);
	avl_insert(&st->by_hva, &s->hva_node);
}

void slot_table_del(struct slot_table *st, struct slot *s)
{
	avl_remove(&st->tree, &s->node);
	avl_remove(&st->by_hva, &s->hva_node);
}

/*
 * In order: a subtree whose highest end is at or below start holds nothing
 * for us, and nothing right of a node that starts at or after end does.
 */
static int each_hva(const struct avl_node *n, uint64_t start, uint64_t end,
		    int (*fn)(struct slot *s, void *arg), void *arg)
{
	struct slot *s;
	int r;

	if (!n || n->aug <= start)
		return 0;
	r = each_hva(n->left, start, end, fn, arg);
	if (r)
		return r;
	s = slot_of_hva(n);
	if (s->hva >= end)
		return 0;
	if (s->hva + s->size > start) {
		r = fn(s, arg);
		if (r)
			return r;
	}
	return each_hva(n->right, start, end, fn, arg);
}

int slot_table_each_hva(const struct slot_table *st, uint64_t start, uint64_t end,
			int (*fn)(struct slot *s, void *arg), void *arg)
{
	return each_hva(st->by_hva.root, start, end, fn, arg);
}

int slot_table_init(struct slot_table *st, uint32_t max_slots)
{
	int r;

	st->tree = (struct avl_tree){ 0 };
	st->by_hva = (struct avl_tree){ .augment = hva_max_end };
	st->max_slots = max_slots;
	st->ids = (struct slot_ids){ 0 };
	st->ids.ring = calloc(max_slots ? max_slots : 1, sizeof(*st->ids.ring));
	if (!st->ids.ring)
		return -ENOMEM;
	r = pthread_rwlock_init(&st->lock, NULL);
	if (r) {
		free(st->ids.ring);
		return -r;
	}
	return 0;
}

void slot_table_fini(struct slot_table *st)
{
	struct avl_node *n;

	while ((n = st->tree.root)) {
		slot_table_del(st, slot_of(n));
		free(slot_of(n));
	}
	free(st->ids.ring);
	free(st->ids.adopted);
	pthread_rwlock_destroy(&st->lock);
}

int slot_check_range(uint64_t gpa, uint64_t size)
{
	if (test_broken(BREAK_RANGE_CHECK))
		return 0;
	if (!size || (gpa & PAGE_MASK_4K) || (size & PAGE_MASK_4K))
		return -EINVAL;
	if (gpa + size < gpa)   /* wraps, or ends exactly at 2^64 */
		return -EOVERFLOW;
	return 0;
}

int slot_check_flags(const struct kvmhold_vm *vm, uint32_t flags)
{
	if (flags & ~(KVMHOLD_MEM_LOG_DIRTY | KVMHOLD_MEM_READONLY))
		return -EINVAL;
	if ((flags & KVMHOLD_MEM_READONLY) && !vm->has_readonly_mem)
		return -EOPNOTSUPP;
	return 0;
}

int slot_check_mapping(const struct kvmhold_vm *vm, uint64_t gpa, uint64_t size,
		       const void *hva, uint32_t flags)
{
	uint64_t h = (uint64_t)(uintptr_t)hva;
	int r = slot_check_range(gpa, size);

	if (!r && (!hva || (h & PAGE_MASK_4K)))
		r = -EINVAL;
	if (!r && h + size < h)
		r = -EOVERFLOW;
	return r ? r : slot_check_flags(vm, flags);
}

int slot_check_gmem(const struct kvmhold_vm *vm, uint64_t gpa, uint64_t size, const void *hva,
		    uint32_t flags, int gmem_fd, uint64_t gmem_offset)
{
	int r = slot_check_mapping(vm, gpa, size, hva, flags);

	if (r)
		return r;
	/* KVM refuses dirty logging and READONLY on guest_memfd slots. */
	if (flags || gmem_fd < 0 || (gmem_offset & PAGE_MASK_4K))
		return -EINVAL;
	if (gmem_offset + size < gmem_offset)
		return -EOVERFLOW;
	return vm->has_guest_memfd ? 0 : -EOPNOTSUPP;
}

struct slot *slot_tree_containing(const struct avl_tree *t, uint64_t gpa)
{
	struct slot *s = slot_of(avl_floor(t, gpa));

	return s && gpa < slot_end(s) ? s : NULL;
}

struct slot *slot_tree_from(const struct avl_tree *t, uint64_t gpa)
{
	struct slot *s = slot_tree_containing(t, gpa);

	return s ? s : slot_of(avl_ceil(t, gpa));
}

/*
 * Freed ids first, oldest first, then never-used ones.  KVM creates a slot
 * faster under an id it has seen before.  Reuse is safe with the dirty ring:
 * before a logged slot is deleted its ring entries are harvested under the
 * commit's hold, so no entry names a freed id.
 */
uint32_t slot_id_alloc(struct slot_ids *ids, uint32_t max_slots)
{
	if (ids->head != ids->tail)
		return ids->ring[ids->head++ % max_slots];
	while (ids->next_fresh < max_slots && slot_id_adopted(ids, ids->next_fresh) &&
	       !test_broken(BREAK_ADOPTED_IDS))
		ids->next_fresh++;
	if (ids->next_fresh < max_slots)
		return ids->next_fresh++;
	return SLOT_ID_NONE;
}

void slot_id_free(struct slot_ids *ids, uint32_t max_slots, uint32_t id)
{
	ids->ring[ids->tail++ % max_slots] = id;
}

/* A new entry of a transaction has no KVM slot yet: its slot reads UINT32_MAX. */
void slot_to_region(const struct slot *s, struct kvmhold_region *out)
{
	*out = (struct kvmhold_region){
		.gpa = slot_gpa(s), .size = s->size, .hva = (void *)(uintptr_t)s->hva,
		.flags = s->flags, .slot = s->id, .guest_memfd = -1,
	};
	if (s->flags & KVMHOLD_MEM_GUEST_MEMFD) {
		out->guest_memfd = s->gmem_fd;
		out->guest_memfd_offset = s->gmem_offset;
	}
}

KVMHOLD_API void *kvmhold_gpa_to_hva_as(struct kvmhold_vm *vm, unsigned as_id, uint64_t gpa)
{
	struct slot_table *st = vm ? vm_space(vm, as_id) : NULL;
	struct slot *s;
	void *hva = NULL;

	if (!st)
		return NULL;
	pthread_rwlock_rdlock(&st->lock);
	s = slot_tree_containing(&st->tree, gpa);
	if (s)
		hva = (void *)(uintptr_t)(s->hva + (gpa - slot_gpa(s)));
	pthread_rwlock_unlock(&st->lock);
	return hva;
}

KVMHOLD_API void *kvmhold_gpa_to_hva(struct kvmhold_vm *vm, uint64_t gpa)
{
	return kvmhold_gpa_to_hva_as(vm, 0, gpa);
}

KVMHOLD_API int kvmhold_regions_as(struct kvmhold_vm *vm, unsigned as_id, uint64_t gpa,
				   uint64_t size, struct kvmhold_region *out, unsigned max)
{
	uint64_t end = gpa + size;
	struct slot_table *st;
	struct slot *s;
	unsigned n = 0;

	if (!vm || (!out && max) || !size)
		return -EINVAL;
	if (end < gpa)
		return -EOVERFLOW;
	st = vm_space(vm, as_id);
	if (!st)
		return -EOPNOTSUPP;
	pthread_rwlock_rdlock(&st->lock);
	for (s = slot_tree_from(&st->tree, gpa); s && slot_gpa(s) < end;
	     s = slot_of(avl_next(&s->node))) {
		if (n < max)
			slot_to_region(s, &out[n]);
		n++;
	}
	pthread_rwlock_unlock(&st->lock);
	return (int)n;
}

KVMHOLD_API int kvmhold_regions(struct kvmhold_vm *vm, uint64_t gpa, uint64_t size,
				struct kvmhold_region *out, unsigned max)
{
	return kvmhold_regions_as(vm, 0, gpa, size, out, max);
}

KVMHOLD_API int kvmhold_vm_address_spaces(struct kvmhold_vm *vm)
{
	return vm ? (int)vm->nr_spaces : -EINVAL;
}
