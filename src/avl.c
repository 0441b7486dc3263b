// SPDX-License-Identifier: MIT
/*
 * AVL tree with parent pointers.  After every change the heights are fixed
 * from the changed node up to the root, rotating wherever the two subtrees
 * differ by two: that keeps the height below 1.45 log2(n), so every
 * operation is O(log n) (about 22 levels for the 32764 slots KVM allows).
 */
#include "avl.h"
#include "test_hooks.h"

static int height(const struct avl_node *n)
{
	return n ? n->height : 0;
}

static void update_height(struct avl_tree *t, struct avl_node *n)
{
	int l = height(n->left), r = height(n->right);

	n->height = 1 + (l > r ? l : r);
	if (t->augment)
		t->augment(n);
}

/* Make `to` take `from`'s place under `parent` (or at the root). */
static void replace_child(struct avl_tree *t, struct avl_node *parent,
			  struct avl_node *from, struct avl_node *to)
{
	if (!parent)
		t->root = to;
	else if (parent->left == from)
		parent->left = to;
	else
		parent->right = to;
}

static struct avl_node *rotate_left(struct avl_tree *t, struct avl_node *x)
{
	struct avl_node *y = x->right;

	x->right = y->left;
	if (y->left)
		y->left->parent = x;
	y->parent = x->parent;
	replace_child(t, x->parent, x, y);
	y->left = x;
	x->parent = y;
	update_height(t, x);
	update_height(t, y);
	return y;
}

static struct avl_node *rotate_right(struct avl_tree *t, struct avl_node *x)
{
	struct avl_node *y = x->left;

	x->left = y->right;
	if (y->right)
		y->right->parent = x;
	y->parent = x->parent;
	replace_child(t, x->parent, x, y);
	y->right = x;
	x->parent = y;
	update_height(t, x);
	update_height(t, y);
	return y;
}

static void rebalance_up(struct avl_tree *t, struct avl_node *n)
{
	while (n) {
		int balance;

		update_height(t, n);
		balance = height(n->left) - height(n->right);
		if (test_broken(BREAK_AVL_REBALANCE)) {
			/* Heights stay right, the shape goes unbalanced. */
		} else if (balance > 1) {
			if (height(n->left->left) < height(n->left->right))
				rotate_left(t, n->left);
			n = rotate_right(t, n);
		} else if (balance < -1) {
			if (height(n->right->right) < height(n->right->left))
				rotate_right(t, n->right);
			n = rotate_left(t, n);
		}
		n = n->parent;
	}
}

void avl_insert(struct avl_tree *t, struct avl_node *n)
{
	struct avl_node **link = &t->root, *parent = NULL;

	while (*link) {
		parent = *link;
		link = n->key < parent->key ? &parent->left : &parent->right;
	}
	n->left = n->right = NULL;
	n->parent = parent;
	n->height = 1;
	if (t->augment)
		t->augment(n);
	*link = n;
	t->count++;
	rebalance_up(t, parent);
}

void avl_remove(struct avl_tree *t, struct avl_node *n)
{
	struct avl_node *fix;

	if (!n->left || !n->right) {
		struct avl_node *child = n->left ? n->left : n->right;

		if (child)
			child->parent = n->parent;
		replace_child(t, n->parent, n, child);
		fix = n->parent;
	} else {
		/* The successor s (leftmost of the right subtree) takes n's place. */
		struct avl_node *s = n->right;

		while (s->left)
			s = s->left;
		if (s->parent != n) {
			fix = s->parent;
			fix->left = s->right;
			if (s->right)
				s->right->parent = fix;
			s->right = n->right;
			n->right->parent = s;
		} else {
			fix = s;
		}
		s->left = n->left;
		n->left->parent = s;
		s->parent = n->parent;
		replace_child(t, n->parent, n, s);
		s->height = n->height;
	}
	t->count--;
	rebalance_up(t, fix);
}

struct avl_node *avl_floor(const struct avl_tree *t, uint64_t key)
{
	struct avl_node *n = t->root, *best = NULL;

	while (n) {
		if (n->key == key)
			return n;
		if (n->key < key) {
			best = n;
			n = n->right;
		} else {
			n = n->left;
		}
	}
	return best;
}

struct avl_node *avl_ceil(const struct avl_tree *t, uint64_t key)
{
	struct avl_node *n = t->root, *best = NULL;

	while (n) {
		if (n->key == key)
			return n;
		if (n->key > key) {
			best = n;
			n = n->left;
		} else {
			n = n->right;
		}
	}
	return best;
}

struct avl_node *avl_first(const struct avl_tree *t)
{
	struct avl_node *n = t->root;

	while (n && n->left)
		n = n->left;
	return n;
}

struct avl_node *avl_next(const struct avl_node *n)
{
	if (n->right) {
		n = n->right;
		while (n->left)
			n = n->left;
		return (struct avl_node *)n;
	}
	while (n->parent && n->parent->right == n)
		n = n->parent;
	return n->parent;
}
