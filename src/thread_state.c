// SPDX-License-Identifier: MIT
/*
 * What the calling thread has taken on each VM: its holds and the gated
 * regions it is inside.  The gate needs this to let a thread through that
 * would otherwise wait for itself (a holder issuing a gated ioctl, a nested
 * mem section), and kvmhold_vcpu_run() needs it to refuse a run that would
 * deadlock.  Keyed by the VM's uid, never by its address, so a VM freed and
 * another allocated at the same address do not share state.
 */
#include "internal.h"
#include "test_hooks.h"

/* A thread rarely works on more than one or two VMs at once. */
#define MAX_THREAD_VMS 16

static _Thread_local struct thread_vm_state thread_vms[MAX_THREAD_VMS];

/*
 * All records in use: recycle those whose VM is gone or whose holds
 * another thread released (and that are in no section).  Cold: only when
 * a thread has worked on more VMs than it has records for.
 */
static struct thread_vm_state *reclaim(void)
{
	struct thread_vm_state *found = NULL;
	unsigned i;

	for (i = 0; i < MAX_THREAD_VMS; i++) {
		struct thread_vm_state *ts = &thread_vms[i];

		if (ts->sections || test_broken(BREAK_RECORD_RECLAIM) || !registry_record_stale(ts))
			continue;
		*ts = (struct thread_vm_state){ 0 };
		if (!found)
			found = ts;
	}
	return found;
}

struct thread_vm_state *thread_state_get(const struct kvmhold_vm *vm, bool create)
{
	struct thread_vm_state *free_slot = NULL;
	unsigned i;

	for (i = 0; i < MAX_THREAD_VMS; i++) {
		if (thread_vms[i].vm_uid == vm->uid)
			return &thread_vms[i];
		if (!thread_vms[i].vm_uid && !free_slot)
			free_slot = &thread_vms[i];
	}
	if (!create)
		return NULL;
	if (!free_slot)
		free_slot = reclaim();
	if (!free_slot)
		return NULL;
	*free_slot = (struct thread_vm_state){ .vm_uid = vm->uid, .vm = vm };
	return free_slot;
}

/*
 * Does this thread hold the VM?  Its count is forgotten once the stop it
 * was taken in has ended: another thread may have released those holds
 * (holds are counted, not owned).
 */
bool thread_state_holds(struct thread_vm_state *ts, const struct kvmhold_vm *vm)
{
	if (ts->holds && ts->hold_epoch != atomic_load(&vm->held_epoch))
		ts->holds = 0;
	return ts->holds;
}

/* Frees the entry once the thread has nothing left on that VM. */
void thread_state_put(struct thread_vm_state *ts)
{
	if (ts && !ts->holds && !ts->sections)
		ts->vm_uid = 0;
}

/*
 * The VM is being destroyed: forget the calling thread's record of it (a
 * holder commonly destroys the VM it holds).  A record another thread
 * keeps for a destroyed VM stays until that thread runs out of records
 * and reclaim() recycles it (a uid is never reused, so it is never
 * mistaken for another VM's meanwhile).
 */
void thread_state_forget(const struct kvmhold_vm *vm)
{
	struct thread_vm_state *ts = thread_state_get(vm, false);

	if (ts)
		*ts = (struct thread_vm_state){ 0 };
}
