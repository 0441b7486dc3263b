// SPDX-License-Identifier: MIT
/*
 * Device writes in dirty tracking: kvmhold_dirty_mark() and its gpa form.
 *
 * KVM logs only the guest's own writes.  A virtio device, a vhost backend
 * or the VMM's emulation writes guest memory from host threads, and a
 * migration must send those pages too.  Since the store is keyed by host
 * page, a mark goes there directly and survives any layout change, like a
 * bitmap harvested from a slot that went away; the next sync of the page
 * takes it with KVM's bits.
 *
 * Ordering: the device writes, then marks.  A sync that takes the mark
 * (under the store's lock) comes after the write, so the page it reports
 * already holds the data; a sync that runs before the mark misses neither,
 * as the page is reported by the next one.
 */
#include <errno.h>

#include "internal.h"
#include "bits.h"
#include "test_hooks.h"

struct mark_args {
	struct kvmhold_vm *vm;
	uint64_t start, end;
	int r;
};

/* The part of [start, end) a logging slot maps goes to the store. */
static int mark_slot(struct slot *s, void *arg)
{
	struct mark_args *a = arg;
	uint64_t lo, hi;

	if (!(s->flags & KVMHOLD_MEM_LOG_DIRTY))
		return 0;
	lo = a->start > s->hva ? a->start : s->hva;
	hi = a->end < s->hva + s->size ? a->end : s->hva + s->size;
	a->r = dirty_store_add_range(&a->vm->dirty.store, lo, (hi - lo) / PAGE_SIZE_4K);
	return a->r;
}

/*
 * Both calls read every address space's table (a host page logged through
 * an SMM slot counts too): they take the tables' read locks in space order,
 * the one order any thread takes more than one in, and a commit writes
 * only its own space's table.
 */
static void spaces_rdlock(struct kvmhold_vm *vm)
{
	unsigned i;

	for (i = 0; i < vm->nr_spaces; i++)
		pthread_rwlock_rdlock(&vm->spaces[i].lock);
}

static void spaces_unlock(struct kvmhold_vm *vm)
{
	unsigned i = vm->nr_spaces;

	while (i-- > 0)
		pthread_rwlock_unlock(&vm->spaces[i].lock);
}

/* Under spaces_rdlock(): mark host pages [start, end), page aligned. */
static int mark_hva(struct kvmhold_vm *vm, uint64_t start, uint64_t end)
{
	struct mark_args a = { vm, start, end, 0 };
	unsigned i;

	if (test_broken(BREAK_DIRTY_MARK))
		return 0;
	for (i = 0; i < vm->nr_spaces && !a.r; i++)
		slot_table_each_hva(&vm->spaces[i], start, end, mark_slot, &a);
	return a.r;
}

KVMHOLD_API int kvmhold_dirty_mark(struct kvmhold_vm *vm, const void *hva, size_t size)
{
	uint64_t start = (uint64_t)(uintptr_t)hva, end = start + size;
	int r;

	if (!vm || !hva || !size || end < start || end > UINT64_MAX - PAGE_SIZE_4K)
		return -EINVAL;
	start &= ~(PAGE_SIZE_4K - 1);
	end = (end + PAGE_SIZE_4K - 1) & ~(PAGE_SIZE_4K - 1);
	spaces_rdlock(vm);
	r = mark_hva(vm, start, end);
	spaces_unlock(vm);
	return r;
}

KVMHOLD_API int kvmhold_dirty_mark_gpa(struct kvmhold_vm *vm, uint64_t gpa, uint64_t size)
{
	return kvmhold_dirty_mark_gpa_as(vm, 0, gpa, size);
}

KVMHOLD_API int kvmhold_dirty_mark_gpa_as(struct kvmhold_vm *vm, unsigned as_id, uint64_t gpa,
					  uint64_t size)
{
	uint64_t end = gpa + size, pos;
	struct slot_table *st;
	int r = 0;

	if (!vm || !size || end < gpa || end > UINT64_MAX - PAGE_SIZE_4K)
		return -EINVAL;
	st = vm_space(vm, as_id);
	if (!st)
		return -EOPNOTSUPP;
	pos = gpa & ~(PAGE_SIZE_4K - 1);
	end = (end + PAGE_SIZE_4K - 1) & ~(PAGE_SIZE_4K - 1);
	spaces_rdlock(vm);
	while (pos < end && !r) {
		struct slot *s = slot_tree_from(&st->tree, pos);
		uint64_t lo, hi;

		if (!s || slot_gpa(s) >= end)
			break;
		lo = pos > slot_gpa(s) ? pos : slot_gpa(s);
		hi = end < slot_end(s) ? end : slot_end(s);
		/* Through the host pages: aliases of them are marked too. */
		r = mark_hva(vm, s->hva + (lo - slot_gpa(s)), s->hva + (hi - slot_gpa(s)));
		pos = hi;
	}
	spaces_unlock(vm);
	return r;
}
