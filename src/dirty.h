/* SPDX-License-Identifier: MIT */
/*
 * Dirty tracking, shared between its files: dirty.c (setup, the public
 * sync calls, the hooks commits call), dirty_log.c (the dirty bitmap,
 * KVM_GET_DIRTY_LOG / KVM_CLEAR_DIRTY_LOG) and dirty_ring.c (the per-vCPU
 * dirty rings).  Everything collected ends up, keyed by host page, in
 * vm->dirty.store (dirty_store.h) or in the caller's bitmap.
 */
#ifndef KVMHOLD_DIRTY_H
#define KVMHOLD_DIRTY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "dirty_store.h"

struct kvmhold_vm;
struct kvmhold_vcpu;
struct slot;
struct kvm_dirty_gfn;

struct dirty_state {
	struct dirty_store store;
	pthread_mutex_t sync_lock;       /* one sync at a time */
	uint64_t *scratch;               /* under sync_lock: a slot's bitmap for a sync */
	size_t scratch_words;
	bool manual_protect;             /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 enabled */
	uint32_t ring_bytes;             /* per vCPU; 0: bitmap mode */
	bool ring_flush;                 /* syncs stop the vCPUs before reaping (PML) */
	/* Ring mode: what each KVM slot id maps, as ring entries name slots by id. */
	pthread_rwlock_t id_lock;
	uint64_t *id_hva, *id_pages;     /* by dirty_id_index(): every space's slots */
	/* Statistics (atomic). */
	_Atomic uint64_t syncs, reported, harvested, ring_entries, ring_full_exits, ring_unknown;
	_Atomic uint64_t ring_flushes;
};

/* Per-vCPU ring. */
struct dirty_ring {
	struct kvm_dirty_gfn *gfns;      /* mmap of the ring, NULL in bitmap mode */
	uint32_t entries;                /* a power of two */
	uint32_t next;                   /* next entry to harvest, under lock */
	pthread_mutex_t lock;            /* one harvester per ring */
};

/* dirty.c */
/* Index in id_hva/id_pages of KVM slot id (space in bits 16-31); UINT32_MAX if none. */
uint32_t dirty_id_index(const struct kvmhold_vm *vm, uint32_t id);
int dirty_init(struct kvmhold_vm *vm);
void dirty_fini(struct kvmhold_vm *vm);
/* Commit hooks.  Under the commit's hold, before KVM forgets a logged slot. */
int dirty_before_destroy(struct kvmhold_vm *vm, const struct slot *s, bool *rings_done);
/*
 * Before any ioctl that creates a slot (ring entries may name it at once),
 * and with size 0 after one that deletes it.
 */
void dirty_slot_mapped(struct kvmhold_vm *vm, uint32_t id, uint64_t hva, uint64_t size);
/* After a commit made [hva, hva + size) logged. */
int dirty_note_logged(struct kvmhold_vm *vm, uint64_t hva, uint64_t size);

/* dirty_log.c: bitmap mode */
int dirty_log_enable_manual(struct kvmhold_vm *vm);
int dirty_log_harvest_slot(struct kvmhold_vm *vm, const struct slot *s);
int dirty_log_sync(struct kvmhold_vm *vm, uint64_t hva, uint64_t npages, uint64_t *bitmap);

/* dirty_ring.c: ring mode */
int dirty_ring_enable(struct kvmhold_vm *vm, uint32_t bytes);
int dirty_ring_vcpu_init(struct kvmhold_vcpu *vcpu);
void dirty_ring_vcpu_fini(struct kvmhold_vcpu *vcpu);
/* Collect every vCPU's ring into the store, then KVM_RESET_DIRTY_RINGS. */
int dirty_ring_harvest_all(struct kvmhold_vm *vm);
/* One vCPU's ring into the store (it is about to be destroyed). */
int dirty_ring_vcpu_harvest(struct kvmhold_vcpu *vcpu);
/* KVM_EXIT_DIRTY_RING_FULL on this vCPU's thread. */
int dirty_ring_full(struct kvmhold_vcpu *vcpu);

#endif
