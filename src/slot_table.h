/* SPDX-License-Identifier: MIT */
/*
 * The slot table: the library's authoritative guest-physical map, one
 * entry per KVM memslot, in an AVL tree keyed by gpa.  Also the allocator of
 * KVM slot ids.
 *
 * Locking: the tree changes only at the end of a successful commit, under
 * `lock` held for writing; lookups take it for reading.  A commit that
 * needs a hold changes the tree while the VM is held, so a lookup made
 * inside kvmhold_mem_begin/end never sees a mapping change under it.
 * Fields a transaction marks on base entries (txn_removed, claimed) are
 * private to the one open transaction (vm->txn_lock) and never read by
 * lookups.
 */
#ifndef KVMHOLD_SLOT_TABLE_H
#define KVMHOLD_SLOT_TABLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "avl.h"

#define SLOT_ID_NONE UINT32_MAX
#define PAGE_MASK_4K 4095ull      /* gpa, size and hva are 4 KiB aligned */

struct slot {
	struct avl_node node;      /* key: gpa */
	struct avl_node hva_node;  /* table entries only: key hva page << 16 | id */
	uint64_t size;
	uint64_t hva;
	uint32_t flags;            /* KVMHOLD_MEM_* (the KVM_MEM_* values) */
	uint32_t id;               /* KVM slot id; SLOT_ID_NONE: not yet in KVM */
	/* With KVMHOLD_MEM_GUEST_MEMFD in flags: the private memory's file range. */
	int gmem_fd;
	uint64_t gmem_offset;

	/* Transaction bookkeeping (see txn.c). */
	bool in_txn;               /* an entry of the transaction's overlay */
	bool txn_removed;          /* base entry the open transaction removed */
	bool claimed;              /* base entry the planner kept for an overlay entry */
	struct slot *origin;       /* overlay entry: the base entry it was copied from */
	struct slot *next_removed; /* base entry: link in the transaction's removed list */
	struct slot *skip;         /* removed base entry: a later base entry, none live between */
};

static inline uint64_t slot_gpa(const struct slot *s)
{
	return s->node.key;
}

static inline uint64_t slot_end(const struct slot *s)
{
	return s->node.key + s->size;
}

static inline struct slot *slot_of(const struct avl_node *n)
{
	return n ? avl_entry(n, struct slot, node) : NULL;
}

/*
 * Slot ids: freed ids in the order they were freed, then never-used ones,
 * skipping those of adopted slots (created by the VMM before the library
 * allocated any id: see slot_adopt.c).
 */
struct slot_ids {
	uint32_t next_fresh;
	uint32_t *ring;            /* freed ids, max_slots entries */
	uint32_t head, tail;       /* free-running counters into ring */
	uint64_t *adopted;         /* bitmap of adopted ids, NULL if none */
};

struct slot_table {
	pthread_rwlock_t lock;
	struct avl_tree tree;
	/*
	 * The same entries by host address, each subtree knowing its highest
	 * end: the slots mapping a host range in O(log n + k).  Host ranges
	 * may overlap (aliases), so it is an interval tree, not a map.
	 */
	struct avl_tree by_hva;
	uint32_t max_slots;        /* KVM_CAP_NR_MEMSLOTS */
	struct slot_ids ids;
};

int slot_table_init(struct slot_table *st, uint32_t max_slots);
void slot_table_fini(struct slot_table *st);

/* Add an entry to the table (both indexes) or take it out; under lock for writing. */
void slot_table_add(struct slot_table *st, struct slot *s);
void slot_table_del(struct slot_table *st, struct slot *s);
/*
 * Call fn for each table entry whose host range meets [start, end), in
 * host address order, until fn returns non-zero (returned).  Under lock.
 */
int slot_table_each_hva(const struct slot_table *st, uint64_t start, uint64_t end,
			int (*fn)(struct slot *s, void *arg), void *arg);

/* The entry of tree t containing gpa, or NULL.  Caller guards t. */
struct slot *slot_tree_containing(const struct avl_tree *t, uint64_t gpa);
/* The first entry of t ending above gpa (containing it or after it), or NULL. */
struct slot *slot_tree_from(const struct avl_tree *t, uint64_t gpa);

struct kvmhold_region;
void slot_to_region(const struct slot *s, struct kvmhold_region *out);

/*
 * Checks of a mapping's arguments, shared by transactions and adoption:
 * 4 KiB aligned, not empty, no wrap (-EINVAL, -EOVERFLOW); known flags
 * (-EINVAL), READONLY only where KVM has it (-EOPNOTSUPP); a host address.
 */
struct kvmhold_vm;
int slot_check_range(uint64_t gpa, uint64_t size);
int slot_check_flags(const struct kvmhold_vm *vm, uint32_t flags);
int slot_check_mapping(const struct kvmhold_vm *vm, uint64_t gpa, uint64_t size,
		       const void *hva, uint32_t flags);
/* slot_check_mapping() for a guest_memfd range as well. */
int slot_check_gmem(const struct kvmhold_vm *vm, uint64_t gpa, uint64_t size, const void *hva,
		    uint32_t flags, int gmem_fd, uint64_t gmem_offset);

static inline bool slot_id_adopted(const struct slot_ids *ids, uint32_t id)
{
	return ids->adopted && (ids->adopted[id / 64] >> (id % 64) & 1);
}

/*
 * Id allocation; a commit snapshots the allocator and restores it on
 * failure (the adopted bitmap does not change after the first allocation).
 */
uint32_t slot_id_alloc(struct slot_ids *ids, uint32_t max_slots);
void slot_id_free(struct slot_ids *ids, uint32_t max_slots, uint32_t id);

#endif
