/* SPDX-License-Identifier: MIT */
/*
 * Private to the transaction files: the transaction itself (txn.c builds
 * it, txn_commit.c plans and applies it).
 */
#ifndef KVMHOLD_TXN_H
#define KVMHOLD_TXN_H

#include "avl.h"
#include "internal.h"

struct slot;

struct kvmhold_txn {
	struct kvmhold_vm *vm;
	struct slot_table *base;    /* the committed layout of its address space */
	unsigned as;                /* that address space */
	struct avl_tree added;      /* overlay entries (struct slot), keyed by gpa */
	struct slot *removed;       /* base entries marked txn_removed, via next_removed */
	size_t nr_removed;
	int timeout_ms;             /* for the commit's hold */
	/*
	 * Entries allocated ahead (txn_reserve), linked by next_removed: an
	 * operation reserves all it may need before it changes anything, so
	 * that it either applies whole or fails with nothing changed.
	 */
	struct slot *spare;
	unsigned nr_spare;
};

int txn_lock(struct kvmhold_vm *vm);
void txn_unlock(struct kvmhold_vm *vm);
void txn_discard(struct kvmhold_txn *txn);
void txn_free(struct kvmhold_txn *txn);

#endif
