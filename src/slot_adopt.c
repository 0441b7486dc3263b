// SPDX-License-Identifier: MIT
/*
 * Adopting memslots the VMM created itself.
 *
 * A VMM that adopts its VM (kvmhold_vm_adopt) usually has memslots
 * already: its boot RAM, ROMs, device memory.  KVM offers no way to list
 * them, so the library cannot see them, and without being told it would
 * hand out their slot ids to new slots: KVM then refuses the commit, or,
 * where size and host address happen to match, silently moves the VMM's
 * slot.  kvmhold_vm_adopt_region() tells the library about one such slot;
 * from then on the library owns it like the slots it created: transactions
 * may resize, split, merge, move or unmap it, lookups and dirty syncs see
 * it, and no new slot takes its id.
 *
 * Adoption is accepted only until the library allocates its first slot id
 * in that address space (the first commit that creates a slot there):
 * after that a VMM-made slot could already share an id with one of the
 * library's.
 */
#include <errno.h>
#include <stdlib.h>

#include "dirty.h"
#include "internal.h"
#include "slot_table.h"
#include "txn.h"

/* Has the allocator handed out, or taken back, any id? */
static bool ids_used(const struct slot_ids *ids)
{
	return ids->next_fresh || ids->tail;
}

/*
 * Under the transaction lock: checks and records one adopted slot.
 * Ordering: the adopted bitmap and the allocator are written here and read
 * by slot_id_alloc() only inside a commit, whose transaction holds the same
 * lock (txn_lock/txn_unlock take vm->txn_mutex, whose unlock/lock pair
 * orders them), so they need no atomics.  The tree itself changes under
 * slots.lock for writing, as in a commit, because lookups do not take the
 * transaction lock.
 */
static int adopt_locked(struct kvmhold_vm *vm, uint32_t id, uint64_t gpa, uint64_t size,
			void *hva, uint32_t flags, int gmem_fd, uint64_t gmem_offset)
{
	struct slot_table *st = vm_space(vm, slot_id_space(id));
	struct slot_ids *ids = &st->ids;
	uint32_t index = slot_id_index(id);
	struct slot *s, *next;

	if (ids_used(ids))
		return -EBUSY;
	if (slot_id_adopted(ids, index))
		return -EEXIST;
	next = slot_tree_from(&st->tree, gpa);
	if (next && slot_gpa(next) < gpa + size)
		return -EEXIST;
	if (st->tree.count >= st->max_slots)
		return -ENOSPC;
	if (!ids->adopted) {
		ids->adopted = calloc((st->max_slots + 63) / 64, sizeof(*ids->adopted));
		if (!ids->adopted)
			return -ENOMEM;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if ((flags & KVMHOLD_MEM_LOG_DIRTY) &&
	    dirty_note_logged(vm, (uint64_t)(uintptr_t)hva, size)) {
		free(s);
		return -ENOMEM;
	}
	s->node.key = gpa;
	s->size = size;
	s->hva = (uint64_t)(uintptr_t)hva;
	s->flags = flags;
	s->gmem_fd = gmem_fd;
	s->gmem_offset = gmem_offset;
	s->id = id;
	/* Ring entries may already name this slot: map its id to its memory. */
	dirty_slot_mapped(vm, id, s->hva, size);
	ids->adopted[index / 64] |= 1ull << (index % 64);
	pthread_rwlock_wrlock(&st->lock);
	slot_table_add(st, s);
	pthread_rwlock_unlock(&st->lock);
	return 0;
}

/* Both calls: the checks, then adopt_locked() under the transaction lock. */
static int adopt(struct kvmhold_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva,
		 uint32_t flags, int gmem_fd, uint64_t gmem_offset)
{
	int r;

	/* KVM's numbering: the address space in bits 16-31. */
	if (!vm_space(vm, slot_id_space(slot)))
		return -EOPNOTSUPP;
	if (slot_id_index(slot) >= vm_space(vm, slot_id_space(slot))->max_slots)
		return -EINVAL;
	/* No transaction may be open or committing while the table grows. */
	r = txn_lock(vm);
	if (r)
		return r;
	r = adopt_locked(vm, slot, gpa, size, hva, flags, gmem_fd, gmem_offset);
	txn_unlock(vm);
	return r;
}

KVMHOLD_API int kvmhold_vm_adopt_region(struct kvmhold_vm *vm, uint32_t slot, uint64_t gpa,
					uint64_t size, void *hva, uint32_t flags)
{
	int r;

	if (!vm)
		return -EINVAL;
	r = slot_check_mapping(vm, gpa, size, hva, flags);
	return r ? r : adopt(vm, slot, gpa, size, hva, flags, -1, 0);
}

KVMHOLD_API int kvmhold_vm_adopt_region_gmem(struct kvmhold_vm *vm, uint32_t slot, uint64_t gpa,
					     uint64_t size, void *hva, int guest_memfd,
					     uint64_t guest_memfd_offset)
{
	int r;

	if (!vm)
		return -EINVAL;
	r = slot_check_gmem(vm, gpa, size, hva, 0, guest_memfd, guest_memfd_offset);
	return r ? r : adopt(vm, slot, gpa, size, hva, KVMHOLD_MEM_GUEST_MEMFD, guest_memfd,
			     guest_memfd_offset);
}
