/* SPDX-License-Identifier: MIT */
/*
 * kvmhold: pause and resume every vCPU of a KVM VM from userspace ("holds"),
 * gate every other consumer of memslots, and change the memory layout without
 * a hole.
 *
 * Conventions: every call returns 0 (or a count >= 0) on success and -errno
 * on failure, and changes nothing when it fails.  The library never prints,
 * exits or aborts.  Handles are opaque.
 */
#ifndef KVMHOLD_H
#define KVMHOLD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvm_run;
struct kvmhold_vm;
struct kvmhold_vcpu;

#define KVMHOLD_VERSION_MAJOR 0
#define KVMHOLD_VERSION_MINOR 2
/* The version this header describes, and that of the library in use (major << 16 | minor). */
#define KVMHOLD_VERSION ((KVMHOLD_VERSION_MAJOR << 16) | KVMHOLD_VERSION_MINOR)
unsigned kvmhold_version(void);

/*
 * Options for kvmhold_vm_create() and kvmhold_vm_adopt().  Set .size to
 * sizeof(struct kvmhold_vm_opts); fields the caller's (older) copy lacks take
 * their default.  Zero means "default" for every field.  Fixed-width fields
 * and no implicit padding: the layout is the same for every compiler, and
 * reserved words (and any tail a newer caller's copy has beyond this
 * library's) must be zero, or the call fails instead of ignoring them.
 */
struct kvmhold_vm_opts {
	uint64_t size;
	/* Signal used to kick vCPU threads out of KVM_RUN (0: SIGRTMIN + 4). */
	int32_t kick_signal;
	/* Per-vCPU dirty ring size in bytes (0: use the dirty bitmap). */
	uint32_t dirty_ring_bytes;
	/* KVMHOLD_VM_* flags. */
	uint32_t flags;
#define KVMHOLD_VM_ALWAYS_HOLD (1u << 0)
	/*
	 * KVMHOLD_VM_ALWAYS_HOLD: every commit holds the VM, also one KVM could
	 * apply without (slots added in free space, logging turned on).  The
	 * better choice where KVM's memslot updates wait for running vCPUs
	 * (see the README's measurements).
	 */
#define KVMHOLD_VM_RING_FLUSH  (1u << 1)
	/*
	 * KVMHOLD_VM_RING_FLUSH: with the dirty ring, every kvmhold_dirty_sync()
	 * first makes each vCPU in KVM_RUN leave it once (a kick, not a hold;
	 * skipped when the caller holds the VM), so that writes still in the
	 * CPU's page-modification log (up to 512 per vCPU, pushed into the
	 * ring only when the vCPU leaves guest mode) are in the rings when
	 * they are read.  On by itself where kvm_intel's or kvm_amd's pml
	 * parameter is Y.
	 */
	/* How a hold gets vCPUs out of KVM_RUN: KVMHOLD_KICK_* (0: signal). */
	uint32_t kick;
	/* Machine type passed to KVM_CREATE_VM (kvmhold_vm_create only). */
	uint64_t vm_type;
	/* Must be zero: room for later options without changing the size. */
	uint64_t reserved[4];
};

/*
 * Kick backends.  SIGNAL: immediate_exit plus a signal to each vCPU thread
 * inside KVM_RUN (works on every KVM).  KERNEL: the experimental
 * KVM_KICK_ALL_RUNNING_VCPUS / KVM_RESUME_ALL_KICKED_VCPUS pair of this
 * project's patched KVM modules (kernel/) takes the vCPUs out of guest mode
 * and back to the library (KVM_KICK_TO_USERSPACE), which parks them as with
 * signals and signals only those KVM could not reach.  Creating the VM
 * fails with -EOPNOTSUPP if KVM lacks the capability.
 * AUTO: KERNEL where KVM has the capability, SIGNAL elsewhere.
 */
#define KVMHOLD_KICK_SIGNAL 0
#define KVMHOLD_KICK_KERNEL 1
#define KVMHOLD_KICK_AUTO   2

/* VM and vCPU handles */
int kvmhold_vm_create(const struct kvmhold_vm_opts *opts, struct kvmhold_vm **vm);
int kvmhold_vm_adopt(int vm_fd, const struct kvmhold_vm_opts *opts, struct kvmhold_vm **vm);
void kvmhold_vm_destroy(struct kvmhold_vm *vm);
int kvmhold_vm_fd(const struct kvmhold_vm *vm);

int kvmhold_vcpu_create(struct kvmhold_vm *vm, unsigned long id, struct kvmhold_vcpu **vcpu);
int kvmhold_vcpu_adopt(struct kvmhold_vm *vm, int vcpu_fd, struct kvmhold_vcpu **vcpu);
void kvmhold_vcpu_destroy(struct kvmhold_vcpu *vcpu);
int kvmhold_vcpu_fd(const struct kvmhold_vcpu *vcpu);
struct kvm_run *kvmhold_vcpu_kvm_run(struct kvmhold_vcpu *vcpu);

/*
 * Adopt a vCPU the VMM created and mapped itself: the library takes its id
 * and kvm_run mapping as given and makes no /proc lookup, opens nothing and
 * maps nothing (dirty-ring mode still maps the vCPU's ring).  For
 * sandboxes without /proc or /dev/kvm.  run_size is the mapping's length
 * (KVM_GET_VCPU_MMAP_SIZE); the VMM keeps the mapping until the vCPU is
 * destroyed, and the library never unmaps it.
 */
int kvmhold_vcpu_adopt_mapped(struct kvmhold_vm *vm, int vcpu_fd, unsigned long id,
			      struct kvm_run *run, size_t run_size, struct kvmhold_vcpu **vcpu);

/*
 * KVM_RUN on the calling thread.  Returns 0 with kvm_run->exit_reason for the
 * VMM to handle, -EINTR when the VMM asked for the vCPU back (below), or
 * -errno.  Holds do not surface: the call parks inside while the VM is held
 * and re-enters the guest after the last release.
 *
 * -EINTR, never a silent re-entry, after any of: kvmhold_vcpu_kick(); the
 * VMM setting kvm_run->immediate_exit to 1; a signal of the VMM's own that
 * interrupts KVM_RUN or the park.  The VMM owns the value 1 of
 * immediate_exit: it may write 1 at any time from any thread or signal
 * handler, and clears it itself (from the vCPU thread, outside this call)
 * once handled.  The library writes only KVMHOLD_IMMEDIATE_EXIT_MARK, never
 * over a non-zero value, and clears only that value.
 */
int kvmhold_vcpu_run(struct kvmhold_vcpu *vcpu);
#define KVMHOLD_IMMEDIATE_EXIT_MARK 0x80
/*
 * The current or the next kvmhold_vcpu_run() of this vCPU returns -EINTR,
 * promptly in every state: in the guest, about to enter it, or parked by a
 * hold (a later call parks again while the hold lasts).  Async-signal-safe.
 */
int kvmhold_vcpu_kick(struct kvmhold_vcpu *vcpu);

/*
 * Holds.  kvmhold_hold() returns 0 once no vCPU is inside KVM_RUN or another
 * memslot-consuming ioctl and no thread is inside a mem section, and none can
 * enter until the last kvmhold_release().  Holds are counted and may be taken
 * from any thread, including a vCPU thread in its exit handling.
 * timeout_ms: -1 waits forever, 0 succeeds only if everybody leaves at once.
 * On -ETIMEDOUT nothing stays held; kvmhold_hold_stragglers() tells who was
 * still inside.
 */
int kvmhold_hold(struct kvmhold_vm *vm, int timeout_ms);
int kvmhold_release(struct kvmhold_vm *vm);
/* 1 if the VM is held (by anyone) right now, 0 if not, or -errno. */
int kvmhold_is_held(struct kvmhold_vm *vm);

/*
 * Gated ioctls: requests that read or write memslots or guest memory wait
 * while the VM is held; the others pass straight through.  The return value
 * is the ioctl's (>= 0) or -errno.  KVM_RUN is refused (-EINVAL): use
 * kvmhold_vcpu_run().
 */
int kvmhold_vm_ioctl(struct kvmhold_vm *vm, unsigned long req, void *arg);
int kvmhold_vcpu_ioctl(struct kvmhold_vcpu *vcpu, unsigned long req, void *arg);
/* 1 if kvmhold gates this request (it consumes memslots), else 0. */
int kvmhold_ioctl_is_gated(unsigned long req);

/*
 * Mem sections, for every other consumer of guest memory (device threads):
 * between begin and end no hold is in force, and a hold waits for the end.
 * Sections nest on one thread.
 */
int kvmhold_mem_begin(struct kvmhold_vm *vm);
int kvmhold_mem_end(struct kvmhold_vm *vm);

/*
 * Statistics.  Pass sizeof(struct kvmhold_stats); an older, shorter struct
 * gets the fields it has.
 */
struct kvmhold_stats {
	uint64_t holds;           /* successful kvmhold_hold() calls */
	uint64_t kicking_holds;   /* of those, the ones that stopped the VM */
	uint64_t releases;        /* successful kvmhold_release() calls */
	uint64_t signals_sent;    /* kick signals sent to vCPU threads */
	uint64_t hold_timeouts;   /* kvmhold_hold() calls that gave -ETIMEDOUT */
	uint64_t gate_waits;      /* entries (vCPU or gated call) that waited for a release */
	uint64_t last_hold_ns;    /* time the last stopping hold took to stop the VM */
	uint64_t max_hold_ns;     /* longest such time */
	uint32_t hold_count;      /* holds in force now */
	uint32_t nr_vcpus;        /* vCPUs known to the library */
	uint32_t inside_now;      /* entries into gated regions now (nested ones and
				     ones about to back off from a hold count too) */
	uint32_t timeout_vcpus;   /* last -ETIMEDOUT: vCPUs still inside */
	uint32_t timeout_others;  /* last -ETIMEDOUT: other threads still inside */
	uint32_t stopping;        /* 1 while a hold is waiting for everybody to leave */
	uint64_t timeout_at_ns;   /* last -ETIMEDOUT: CLOCK_MONOTONIC time */
	/* Memslot transactions */
	uint64_t txn_commits;     /* successful commits */
	uint64_t txn_held_commits;/* of those, the ones applied under a hold */
	uint64_t txn_ioctls;      /* memslot ioctls issued by commits (undo included) */
	uint64_t txn_rollbacks;   /* commits that failed and were undone */
	uint64_t txn_undo_failures; /* undo ioctls that failed (the VM may differ from the table) */
	uint32_t last_txn_ioctls; /* memslot ioctls of the last successful commit */
	uint32_t nr_slots;        /* memslots in the table now */
	/* Dirty tracking */
	uint64_t dirty_syncs;     /* successful kvmhold_dirty_sync() calls */
	uint64_t dirty_reported;  /* pages those syncs reported dirty */
	uint64_t dirty_harvests;  /* slot bitmaps collected before KVM freed them */
	uint64_t dirty_held;      /* pages collected, not yet reported, now */
	uint64_t ring_entries;    /* dirty-ring entries harvested */
	uint64_t ring_full_exits; /* KVM_EXIT_DIRTY_RING_FULL handled inside kvmhold_vcpu_run() */
	uint64_t ring_unknown;    /* ring entries naming a slot the library does not know */
	/* Kick backend */
	uint32_t kick_backend;    /* KVMHOLD_KICK_SIGNAL or KVMHOLD_KICK_KERNEL, as chosen */
	uint32_t kernel_resume_errors; /* KVM_RESUME_ALL_KICKED_VCPUS failures (someone else resumed) */
	uint32_t parked_now;      /* threads waiting for a release, or a held commit's end, now */
	uint32_t ring_flush;      /* 1: ring syncs stop the vCPUs first (KVMHOLD_VM_RING_FLUSH) */
	uint64_t ring_flushes;    /* syncs that did */
	/* Time the vCPUs were kept out of the guest */
	uint64_t last_stopped_ns; /* the last stop: from its start to the release (or timeout) ending it */
	uint64_t stopped_ns;      /* every stop so far, together */
	/* The holder's spin before it sleeps (kvmhold_hold(3), "Waiting") */
	uint64_t spins_won;       /* stops that completed while the holder spun */
	uint64_t spins_lost;      /* spins that ran out their budget, then slept */
	uint32_t spin_budget_ns;  /* the budget now */
	uint32_t reserved;
};
int kvmhold_stats_get(struct kvmhold_vm *vm, struct kvmhold_stats *st, size_t size);

/* A vCPU that was still inside KVM when the last hold timed out. */
struct kvmhold_straggler {
	unsigned long vcpu_id;    /* KVM vCPU id */
	int tid;                  /* thread that was running it */
	uint32_t reserved;
	uint64_t entered_ns;      /* CLOCK_MONOTONIC time it entered KVM */
	uint64_t inside_ns;       /* how long it had been inside at the timeout */
};
/* Fills up to max entries; returns how many vCPUs there were (may be > max). */
int kvmhold_hold_stragglers(struct kvmhold_vm *vm, struct kvmhold_straggler *out, unsigned max);

/*
 * Memory layout transactions.  Describe the layout you want, then commit it:
 * all or nothing, and no running vCPU ever sees a hole or an intermediate
 * state.  Each operation is checked when called against the layout as the
 * transaction has changed it so far; a failed operation changes nothing
 * and the transaction stays usable.  gpa, size and hva are 4 KiB aligned.
 * One transaction is open per VM at a time: kvmhold_txn_begin() waits for
 * another thread's to end (-EDEADLK if the caller has one open).
 */
#define KVMHOLD_MEM_LOG_DIRTY  (1u << 0)   /* = KVM_MEM_LOG_DIRTY_PAGES */
#define KVMHOLD_MEM_READONLY   (1u << 1)   /* = KVM_MEM_READONLY */
/* = KVM_MEM_GUEST_MEMFD: reported by lookups; kvmhold_txn_map_gmem() sets it. */
#define KVMHOLD_MEM_GUEST_MEMFD (1u << 2)

struct kvmhold_txn;
struct kvmhold_region;

int kvmhold_txn_begin(struct kvmhold_vm *vm, struct kvmhold_txn **txn);
/*
 * Address spaces (KVM_CAP_MULTI_ADDRESS_SPACE: x86 has two, the second for
 * SMM).  A transaction changes one: kvmhold_txn_begin() is space 0.  Slot
 * ids are allocated per space and reported as KVM numbers them (the space
 * in bits 16-31).  -EOPNOTSUPP for a space KVM does not have.
 */
int kvmhold_txn_begin_as(struct kvmhold_vm *vm, unsigned as_id, struct kvmhold_txn **txn);
/* How many address spaces the VM has (1 where KVM has no such capability). */
int kvmhold_vm_address_spaces(struct kvmhold_vm *vm);
/* Map [gpa, gpa + size) to host memory hva; the range must be free. */
int kvmhold_txn_map(struct kvmhold_txn *txn, uint64_t gpa, uint64_t size, void *hva, uint32_t flags);
/*
 * Map [gpa, gpa + size) to private memory: guest_memfd (made by
 * KVM_CREATE_GUEST_MEMFD on this VM) from guest_memfd_offset, with hva as
 * its shared memory (KVM_SET_USER_MEMORY_REGION2).  Split, merge, resize,
 * move and unmap carry the file range along; KVM allows neither dirty
 * logging nor READONLY on such slots (flags must be 0), nor a file range
 * bound twice.  The caller keeps guest_memfd open while a slot uses it.
 * -EOPNOTSUPP if KVM lacks KVM_CAP_GUEST_MEMFD.
 */
int kvmhold_txn_map_gmem(struct kvmhold_txn *txn, uint64_t gpa, uint64_t size, void *hva,
			 uint32_t flags, int guest_memfd, uint64_t guest_memfd_offset);
/* Unmap a fully mapped range; slots it cuts through are split. */
int kvmhold_txn_unmap(struct kvmhold_txn *txn, uint64_t gpa, uint64_t size);
/* Grow or shrink, in place, the slot that starts at gpa. */
int kvmhold_txn_resize(struct kvmhold_txn *txn, uint64_t gpa, uint64_t new_size);
/* The slot containing gpa becomes two, split at gpa. */
int kvmhold_txn_split(struct kvmhold_txn *txn, uint64_t gpa);
/*
 * The slots exactly tiling [gpa, gpa + size) become one (contiguous hva,
 * equal flags, and for guest_memfd slots the same file, contiguous offsets).
 */
int kvmhold_txn_merge(struct kvmhold_txn *txn, uint64_t gpa, uint64_t size);
/* Move a fully mapped range to new_gpa; the target must be free (or the range itself). */
int kvmhold_txn_move(struct kvmhold_txn *txn, uint64_t gpa, uint64_t size, uint64_t new_gpa);
/* Set the flags of a fully mapped range, splitting slots it covers in part. */
int kvmhold_txn_set_flags(struct kvmhold_txn *txn, uint64_t gpa, uint64_t size, uint32_t flags);
/* Like kvmhold_regions(), on the layout as this transaction has changed it. */
int kvmhold_txn_regions(struct kvmhold_txn *txn, uint64_t gpa, uint64_t size,
			struct kvmhold_region *out, unsigned max);
/* Hold timeout used by the commit (default -1: wait). */
int kvmhold_txn_set_timeout(struct kvmhold_txn *txn, int timeout_ms);
/* Apply; frees txn.  0, or -errno with the layout exactly as before. */
int kvmhold_txn_commit(struct kvmhold_txn *txn);
void kvmhold_txn_abort(struct kvmhold_txn *txn);
/*
 * Hand the library a memslot the VMM created itself on an adopted VM, slot
 * numbered as KVM does (address space in bits 16-31), before the first
 * commit that creates a slot in that space (-EBUSY after):
 * transactions and lookups then cover it, and no new slot takes its id.
 * The caller vouches that KVM has exactly this slot; KVM cannot be asked.
 */
int kvmhold_vm_adopt_region(struct kvmhold_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size,
			    void *hva, uint32_t flags);
/* The same for a slot the VMM made with KVM_SET_USER_MEMORY_REGION2 and a guest_memfd. */
int kvmhold_vm_adopt_region_gmem(struct kvmhold_vm *vm, uint32_t slot, uint64_t gpa,
				 uint64_t size, void *hva, int guest_memfd,
				 uint64_t guest_memfd_offset);

/*
 * Lookups in the committed layout.  Stable inside kvmhold_mem_begin/end:
 * no commit that removes or moves memory can happen until the section ends.
 */
struct kvmhold_region {
	uint64_t gpa;
	uint64_t size;
	void *hva;
	uint32_t flags;           /* KVMHOLD_MEM_* */
	uint32_t slot;            /* KVM slot id */
	int32_t guest_memfd;      /* with KVMHOLD_MEM_GUEST_MEMFD, else -1 */
	uint32_t reserved;
	uint64_t guest_memfd_offset;
};
/* Host address of gpa, or NULL if gpa is not mapped. */
void *kvmhold_gpa_to_hva(struct kvmhold_vm *vm, uint64_t gpa);
void *kvmhold_gpa_to_hva_as(struct kvmhold_vm *vm, unsigned as_id, uint64_t gpa);
/*
 * The regions intersecting [gpa, gpa + size), in gpa order: fills up to
 * max, returns how many there are (may be > max).
 */
int kvmhold_regions(struct kvmhold_vm *vm, uint64_t gpa, uint64_t size,
		    struct kvmhold_region *out, unsigned max);
int kvmhold_regions_as(struct kvmhold_vm *vm, unsigned as_id, uint64_t gpa, uint64_t size,
		       struct kvmhold_region *out, unsigned max);

/*
 * Dirty-page tracking, by host memory: migration code asks about its RAM
 * blocks whatever the memory layout has become.  Fetch and clear: bit i of
 * bitmap (size / 4096 bits) is set if the page at hva + i * 4096 may have
 * been written by the guest since the last sync that reported it, through
 * any gpa that maps it, across any transactions in between.  Logging is
 * switched per range with KVMHOLD_MEM_LOG_DIRTY in transactions; turning
 * it off keeps what was gathered until it is reported.  The mechanism is
 * KVM's dirty bitmap, or the dirty ring if kvmhold_vm_opts.dirty_ring_bytes
 * is set.  -ENOENT: nothing maps the range; -ENODATA: it was never logged.
 */
int kvmhold_dirty_sync(struct kvmhold_vm *vm, void *hva, size_t size, uint64_t *bitmap);
/* The same for a guest-physical range (all of it mapped); bit i is page gpa + i * 4096. */
int kvmhold_dirty_sync_gpa(struct kvmhold_vm *vm, uint64_t gpa, uint64_t size, uint64_t *bitmap);
int kvmhold_dirty_sync_gpa_as(struct kvmhold_vm *vm, unsigned as_id, uint64_t gpa, uint64_t size,
			      uint64_t *bitmap);
/*
 * Device writes: host threads (virtio devices, vhost, the VMM's emulation)
 * wrote [hva, hva + size); KVM never sees such writes, so tell the library
 * after writing, and the next sync reports those pages like guest writes,
 * whatever transactions happen in between.  Pages that no slot logging
 * dirty pages maps now are not recorded, as a guest write there would not
 * be.  The range is widened to whole 4 KiB pages.  No system call.
 */
int kvmhold_dirty_mark(struct kvmhold_vm *vm, const void *hva, size_t size);
/* The same for guest-physical [gpa, gpa + size); unmapped parts are skipped. */
int kvmhold_dirty_mark_gpa(struct kvmhold_vm *vm, uint64_t gpa, uint64_t size);
int kvmhold_dirty_mark_gpa_as(struct kvmhold_vm *vm, unsigned as_id, uint64_t gpa, uint64_t size);

#ifdef __cplusplus
}
#endif

#endif /* KVMHOLD_H */
