// SPDX-License-Identifier: MIT
/*
 * The set of live transaction handles, so that a call on a committed,
 * aborted or destroyed transaction gets -EBADF instead of touching freed
 * memory, and of live VMs, so that a thread's record of a VM that is gone
 * can be recycled (thread_state.c).  Both are cold (one lookup per layout
 * change, per VM created or destroyed, or when a thread's records run
 * out); calls on VM and vCPU handles are hot and look nothing up: using a
 * destroyed one is the caller's bug, as in liburing.  An open-addressing
 * hash set under a read-write lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"

#define TOMBSTONE ((const void *)1)

static pthread_rwlock_t registry_lock = PTHREAD_RWLOCK_INITIALIZER;
static const void **table;   /* NULL: empty, TOMBSTONE: deleted */
static size_t capacity;      /* a power of two */
static size_t used;          /* live entries plus tombstones */

static size_t bucket_of(const void *p, size_t cap)
{
	uint64_t h = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 32) & (cap - 1);
}

static int grow(void)
{
	size_t new_cap = capacity ? capacity * 2 : 64, i;
	const void **t = calloc(new_cap, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (i = 0; i < capacity; i++) {
		size_t s;

		if (!table[i] || table[i] == TOMBSTONE)
			continue;
		for (s = bucket_of(table[i], new_cap); t[s]; s = (s + 1) & (new_cap - 1))
			;
		t[s] = table[i];
	}
	free(table);
	table = t;
	capacity = new_cap;
	used = 0;
	for (i = 0; i < capacity; i++)
		used += table[i] != NULL;
	return 0;
}

int registry_add(const void *handle)
{
	size_t s;
	int r = 0;

	pthread_rwlock_wrlock(&registry_lock);
	/* Keep the table at most half full, tombstones included. */
	if ((used + 1) * 2 > capacity)
		r = grow();
	if (!r) {
		for (s = bucket_of(handle, capacity); table[s] && table[s] != TOMBSTONE;
		     s = (s + 1) & (capacity - 1))
			;
		if (!table[s])
			used++;
		table[s] = handle;
	}
	pthread_rwlock_unlock(&registry_lock);
	return r;
}

/* Under the lock: the slot holding handle, or -1. */
static long find(const void *handle)
{
	size_t s;

	if (!capacity)
		return -1;
	for (s = bucket_of(handle, capacity); table[s]; s = (s + 1) & (capacity - 1))
		if (table[s] == handle)
			return (long)s;
	return -1;
}

void registry_remove(const void *handle)
{
	long s;

	pthread_rwlock_wrlock(&registry_lock);
	s = find(handle);
	if (s >= 0)
		table[s] = TOMBSTONE;
	pthread_rwlock_unlock(&registry_lock);
}

bool registry_has(const void *handle)
{
	bool found;

	pthread_rwlock_rdlock(&registry_lock);
	found = find(handle) >= 0;
	pthread_rwlock_unlock(&registry_lock);
	return found;
}

/*
 * Is this thread's record about a VM that is gone, or holds that another
 * thread released?  The VM is read under the registry's lock, which
 * kvmhold_vm_destroy() takes (registry_remove) before it frees the VM; the
 * uid tells a new VM at the same address from the old one.
 */
bool registry_record_stale(const struct thread_vm_state *ts)
{
	const struct kvmhold_vm *vm = ts->vm;
	bool stale;

	pthread_rwlock_rdlock(&registry_lock);
	stale = !vm || find(vm) < 0 || vm->uid != ts->vm_uid ||
		(ts->holds && !ts->sections && atomic_load(&vm->held_epoch) != ts->hold_epoch);
	pthread_rwlock_unlock(&registry_lock);
	return stale;
}
