// SPDX-License-Identifier: MIT
/*
 * kvmhold_stats_get(): one snapshot of every subsystem's counters.  Fields
 * kept under a lock are copied under it; the lock-free counters are read
 * relaxed (each is exact on its own; the snapshot is not atomic as a whole).
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

KVMHOLD_API int kvmhold_stats_get(struct kvmhold_vm *vm, struct kvmhold_stats *st, size_t size)
{
	struct kvmhold_stats s;
	unsigned i;

	if (!vm || !st || !size)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	s = vm->stats;
	s.hold_count = vm->hold_count;
	s.nr_vcpus = vm->nr_vcpus;
	s.stopping = vm->state == HOLD_KICKING;
	pthread_mutex_unlock(&vm->lock);
	s.signals_sent = atomic_load_explicit(&vm->signals_sent, memory_order_relaxed);
	s.gate_waits = atomic_load_explicit(&vm->gate_waits, memory_order_relaxed);
	s.inside_now = ACTIVE_COUNT(atomic_load(&vm->active));
	s.parked_now = atomic_load(&vm->parked) + atomic_load(&vm->exclusive_waiters);
	s.nr_slots = 0;
	for (i = 0; i < vm->nr_spaces; i++) {     /* every address space's */
		pthread_rwlock_rdlock(&vm->spaces[i].lock);
		s.nr_slots += (uint32_t)vm->spaces[i].tree.count;
		pthread_rwlock_unlock(&vm->spaces[i].lock);
	}
	s.dirty_syncs = atomic_load_explicit(&vm->dirty.syncs, memory_order_relaxed);
	s.dirty_reported = atomic_load_explicit(&vm->dirty.reported, memory_order_relaxed);
	s.dirty_harvests = atomic_load_explicit(&vm->dirty.harvested, memory_order_relaxed);
	s.ring_entries = atomic_load_explicit(&vm->dirty.ring_entries, memory_order_relaxed);
	s.ring_full_exits = atomic_load_explicit(&vm->dirty.ring_full_exits, memory_order_relaxed);
	s.ring_flush = vm->dirty.ring_flush;
	s.ring_flushes = atomic_load_explicit(&vm->dirty.ring_flushes, memory_order_relaxed);
	s.ring_unknown = atomic_load_explicit(&vm->dirty.ring_unknown, memory_order_relaxed);
	s.spins_won = atomic_load_explicit(&vm->spins_won, memory_order_relaxed);
	s.spins_lost = atomic_load_explicit(&vm->spins_lost, memory_order_relaxed);
	s.spin_budget_ns = atomic_load_explicit(&vm->spin_budget_ns, memory_order_relaxed);
	pthread_mutex_lock(&vm->dirty.store.lock);
	s.dirty_held = vm->dirty.store.pages;
	pthread_mutex_unlock(&vm->dirty.store.lock);
	memcpy(st, &s, size < sizeof(s) ? size : sizeof(s));
	return 0;
}
