/* SPDX-License-Identifier: MIT */
/*
 * An intrusive AVL tree keyed by a 64-bit integer (the slot table's gpa):
 * O(log n) insert, remove, floor/ceiling lookups and in-order steps.  Keys
 * are unique; the caller embeds struct avl_node and guards the tree.
 * Optionally augmented: the tree's augment() recomputes a node's aug from
 * the node and its children, and is called bottom-up wherever the tree
 * changes (the slot table's hva index keeps each subtree's highest end).
 */
#ifndef KVMHOLD_AVL_H
#define KVMHOLD_AVL_H

#include <stddef.h>
#include <stdint.h>

struct avl_node {
	struct avl_node *left, *right, *parent;
	int height;
	uint64_t key;
	uint64_t aug;         /* the tree's augment() value; unused otherwise */
};

struct avl_tree {
	struct avl_node *root;
	size_t count;
	void (*augment)(struct avl_node *n);   /* NULL: not augmented */
};

void avl_insert(struct avl_tree *t, struct avl_node *n);
void avl_remove(struct avl_tree *t, struct avl_node *n);
/* Greatest key <= key, or NULL. */
struct avl_node *avl_floor(const struct avl_tree *t, uint64_t key);
/* Smallest key >= key, or NULL. */
struct avl_node *avl_ceil(const struct avl_tree *t, uint64_t key);
struct avl_node *avl_first(const struct avl_tree *t);
struct avl_node *avl_next(const struct avl_node *n);

#define avl_entry(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#endif
