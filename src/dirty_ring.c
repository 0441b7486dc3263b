// SPDX-License-Identifier: MIT
/*
 * Dirty tracking with KVM's per-vCPU dirty rings.
 *
 * Each vCPU has a ring of (slot id, page offset) entries that KVM fills as
 * the guest dirties pages.  Harvesting reads entries in order until one is
 * not yet published, files each page in the store by host address, and
 * hands the entry back; KVM_RESET_DIRTY_RINGS then re-protects the pages
 * and frees the entries.
 *
 * Memory ordering, entry by entry:
 *  - KVM writes slot and offset, then sets KVM_DIRTY_GFN_F_DIRTY with a
 *    store-release; our load-acquire of flags pairs with it, so when we see
 *    DIRTY we also see the slot and offset of that entry.
 *  - We set KVM_DIRTY_GFN_F_RESET with a store-release after reading slot
 *    and offset; KVM's load-acquire of flags in KVM_RESET_DIRTY_RINGS pairs
 *    with it, so KVM cannot reuse the entry before we are done with it.
 * (KVM_CAP_DIRTY_LOG_RING_ACQ_REL is the capability that promises KVM's
 * half of this; plain KVM_CAP_DIRTY_LOG_RING on x86 gives it by TSO.)
 *
 * Entries name a slot by id.  Ids are registered with their host address
 * before KVM creates the slot (dirty_slot_mapped), and before a logged slot
 * is deleted, moved or un-logged the commit harvests every ring under its
 * hold, so no entry can name a slot that is gone, or an id that has since
 * been given to another slot.
 */
#include <errno.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "internal.h"
#include "test_hooks.h"
#include "slot_table.h"
#include "bits.h"

int dirty_ring_enable(struct kvmhold_vm *vm, uint32_t bytes)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_DIRTY_LOG_RING_ACQ_REL };

	if (bytes & (bytes - 1))
		return -EINVAL;
	if (ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING_ACQ_REL) <= 0) {
		cap.cap = KVM_CAP_DIRTY_LOG_RING;
		if (ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING) <= 0)
			return -EOPNOTSUPP;
	}
	cap.args[0] = bytes;
	/* KVM checks the size and refuses once vCPUs exist. */
	if (ioctl(vm->fd, KVM_ENABLE_CAP, &cap) < 0)
		return -errno;
	vm->dirty.ring_bytes = bytes;
	return 0;
}

int dirty_ring_vcpu_init(struct kvmhold_vcpu *vcpu)
{
	struct dirty_ring *ring = &vcpu->ring;
	uint32_t bytes = vcpu->vm->dirty.ring_bytes;
	void *p;

	pthread_mutex_init(&ring->lock, NULL);
	if (!bytes)
		return 0;
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd,
		 KVM_DIRTY_LOG_PAGE_OFFSET * sysconf(_SC_PAGESIZE));
	if (p == MAP_FAILED) {
		int r = -errno;

		pthread_mutex_destroy(&ring->lock);
		return r;
	}
	ring->gfns = p;
	ring->entries = bytes / sizeof(struct kvm_dirty_gfn);
	ring->next = 0;
	return 0;
}

void dirty_ring_vcpu_fini(struct kvmhold_vcpu *vcpu)
{
	struct dirty_ring *ring = &vcpu->ring;

	if (ring->gfns)
		munmap(ring->gfns, vcpu->vm->dirty.ring_bytes);
	ring->gfns = NULL;
	pthread_mutex_destroy(&ring->lock);
}

/*
 * Move one vCPU's published entries into the store, in batches that take
 * the store's lock once.  An entry is handed back to KVM only once its page
 * is in the store.  Returns how many entries, or -errno.
 */
#define HARVEST_BATCH 256

static int harvest_one(struct kvmhold_vm *vm, struct kvmhold_vcpu *vcpu)
{
	struct dirty_state *d = &vm->dirty;
	struct dirty_ring *ring = &vcpu->ring;
	uint64_t hvas[HARVEST_BATCH];
	int total = 0, r = 0;

	pthread_mutex_lock(&ring->lock);
	pthread_rwlock_rdlock(&d->id_lock);
	for (;;) {
		unsigned seen = 0, pages = 0, i;

		while (seen < HARVEST_BATCH) {
			struct kvm_dirty_gfn *e = &ring->gfns[(ring->next + seen) & (ring->entries - 1)];
			uint32_t id;

			if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & KVM_DIRTY_GFN_F_DIRTY))
				break;
			/*
			 * Filed by (address space, slot): the space is in the
			 * upper half of the id, as in the library's ids.  An
			 * entry for a pair the library does not know is
			 * counted, never filed under another slot.
			 */
			id = dirty_id_index(vm, e->slot);
			if (id != UINT32_MAX && e->offset < d->id_pages[id])
				hvas[pages++] = d->id_hva[id] + e->offset * PAGE_SIZE_4K;
			else
				atomic_fetch_add_explicit(&d->ring_unknown, 1, memory_order_relaxed);
			seen++;
		}
		if (!seen)
			break;
		r = dirty_store_add_pages(&d->store, hvas, pages);
		if (r)
			break;   /* keep the entries for the next harvest */
		for (i = 0; i < seen; i++) {
			struct kvm_dirty_gfn *e = &ring->gfns[(ring->next + i) & (ring->entries - 1)];

			__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
		}
		ring->next += seen;
		total += (int)seen;
	}
	pthread_rwlock_unlock(&d->id_lock);
	pthread_mutex_unlock(&ring->lock);
	atomic_fetch_add_explicit(&d->ring_entries, (uint64_t)total, memory_order_relaxed);
	return r ? r : total;
}

static int reset_rings(struct kvmhold_vm *vm)
{
	return ioctl(vm->fd, KVM_RESET_DIRTY_RINGS, 0) < 0 ? -errno : 0;
}

int dirty_ring_harvest_all(struct kvmhold_vm *vm)
{
	struct kvmhold_vcpu *v;
	int r = 0;

	/* The vCPU list changes only under vm->lock; harvests themselves do not need it. */
	pthread_mutex_lock(&vm->lock);
	for (v = vm->vcpus; v && r >= 0; v = v->next)
		if (v->ring.gfns)
			r = harvest_one(vm, v);
	pthread_mutex_unlock(&vm->lock);
	if (r >= 0)
		r = reset_rings(vm);
	return r < 0 ? r : 0;
}

int dirty_ring_vcpu_harvest(struct kvmhold_vcpu *vcpu)
{
	int r = harvest_one(vcpu->vm, vcpu);

	return r < 0 ? r : 0;
}

/*
 * On the vCPU's own thread, after KVM_EXIT_DIRTY_RING_FULL: empty our ring
 * and let KVM reuse it.  Through the gate: the reset touches memslots, and
 * while a commit holds the VM it waits, as the vCPU itself would, and like
 * it leaves that wait on a kick (-EINTR; the ring is still full, so the
 * next run exits here again and finishes the job).
 */
int dirty_ring_full(struct kvmhold_vcpu *vcpu)
{
	struct kvmhold_vm *vm = vcpu->vm;
	int r;

	atomic_fetch_add_explicit(&vm->dirty.ring_full_exits, 1, memory_order_relaxed);
	r = harvest_one(vm, vcpu);
	if (r < 0)
		return r;
	test_delay(&kvmhold_test_ring_full_delay_ns);
	r = gate_enter(vm, vcpu);
	if (r)
		return r;
	r = reset_rings(vm);
	gate_leave(vm, NULL);
	return r;
}
