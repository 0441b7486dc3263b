// SPDX-License-Identifier: MIT
/*
 * The slot table's AVL tree against a brute-force model: 200000 random
 * inserts and removes, with every invariant (order, parent links, heights,
 * balance) and every lookup (floor, ceiling, in-order walk) checked as it
 * goes.  Then the slot table's host-address index (an interval tree on
 * the same AVL code): random slots with overlapping host ranges added and
 * removed, every subtree's highest end checked, and random host-range
 * queries answered as a scan of all slots would.  No KVM involved: these
 * are the data structures alone.
 *
 * Can fail: KVMHOLD_TEST_BREAK=avl-rebalance leaves the tree unbalanced.
 */
#include <stdbool.h>
#include <stdint.h>

#include "check.h"
#include "avl.h"
#include "slot_table.h"

#define MAX_KEYS 4096

static struct avl_node nodes[MAX_KEYS];
static bool present[MAX_KEYS];

/* Returns the subtree height after checking it. */
static int check_subtree(const struct avl_node *n, const struct avl_node *parent,
			 uint64_t lo, uint64_t hi, size_t *count)
{
	int l, r;

	if (!n)
		return 0;
	CHECK(n->parent == parent, "parent link of %lu", (unsigned long)n->key);
	CHECK(n->key >= lo && n->key <= hi, "order at %lu", (unsigned long)n->key);
	l = check_subtree(n->left, n, lo, n->key - 1, count);
	r = check_subtree(n->right, n, n->key + 1, hi, count);
	CHECK(l - r <= 1 && r - l <= 1, "balance %d/%d at %lu", l, r, (unsigned long)n->key);
	CHECK(n->height == 1 + (l > r ? l : r), "height at %lu", (unsigned long)n->key);
	(*count)++;
	return n->height;
}

static void check_tree(const struct avl_tree *t, unsigned live)
{
	size_t count = 0;
	const struct avl_node *n;
	unsigned k = 0;

	check_subtree(t->root, NULL, 0, UINT64_MAX, &count);
	CHECK(count == t->count && count == live, "count %zu/%zu/%u", count, t->count, live);
	for (n = avl_first(t); n; n = avl_next(n)) {
		while (!present[k])
			k++;
		CHECK(n->key == (uint64_t)k * 2, "in-order walk at %u", k);
		k++;
	}
}

#define NR_SLOTS 1024

static struct slot slots[NR_SLOTS];
static bool in_table[NR_SLOTS];

static uint64_t check_max_end(const struct avl_node *n)
{
	const struct slot *s;
	uint64_t max, l, r;

	if (!n)
		return 0;
	s = avl_entry(n, struct slot, hva_node);
	l = check_max_end(n->left);
	r = check_max_end(n->right);
	max = s->hva + s->size;
	max = l > max ? l : max;
	max = r > max ? r : max;
	CHECK(n->aug == max, "highest end of slot %u's subtree: %#lx, want %#lx", s->id,
	      (unsigned long)n->aug, (unsigned long)max);
	return max;
}

struct hits {
	bool seen[NR_SLOTS];
	uint64_t last_hva;
	unsigned n;
};

static int collect(struct slot *s, void *arg)
{
	struct hits *h = arg;

	CHECK(s->hva >= h->last_hva, "host order");
	h->last_hva = s->hva;
	h->seen[s->id] = true;
	h->n++;
	return 0;
}

static void host_index(void)
{
	struct slot_table st;
	uint64_t seed = 777;
	unsigned step, queries = 0, hits = 0;

	CHECK_OK(slot_table_init(&st, NR_SLOTS));
	for (step = 0; step < 50000; step++) {
		unsigned k, i;
		uint64_t a, len;
		struct hits h = { .n = 0 };

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		k = (unsigned)(seed >> 33) % NR_SLOTS;
		if (in_table[k]) {
			slot_table_del(&st, &slots[k]);
			in_table[k] = false;
		} else {
			/* Host pages 0..4095, lengths 1..64 pages: many overlaps. */
			slots[k] = (struct slot){ .id = k, .size = ((seed >> 8) % 64 + 1) * 4096,
						  .hva = ((seed >> 16) % 4096) * 4096 };
			slots[k].node.key = (uint64_t)k << 32;   /* unique gpa */
			slot_table_add(&st, &slots[k]);
			in_table[k] = true;
		}
		a = ((seed >> 24) % 4200) * 4096;
		len = ((seed >> 40) % 128 + 1) * 4096;
		slot_table_each_hva(&st, a, a + len, collect, &h);
		for (i = 0; i < NR_SLOTS; i++) {
			bool want = in_table[i] && slots[i].hva < a + len && a < slots[i].hva + slots[i].size;

			CHECK(h.seen[i] == want, "query [%#lx, %#lx): slot %u %s", (unsigned long)a,
			      (unsigned long)(a + len), i, want ? "missed" : "reported wrongly");
		}
		queries++;
		hits += h.n;
		if (step % 997 == 0)
			check_max_end(st.by_hva.root);
	}
	check_max_end(st.by_hva.root);
	for (unsigned i = 0; i < NR_SLOTS; i++)
		if (in_table[i])
			slot_table_del(&st, &slots[i]);
	slot_table_fini(&st);
	printf("host index: 50000 random adds/removes of overlapping ranges, %u queries "
	       "(%u hits) answered as a full scan would\n", queries, hits);
}

int main(void)
{
	struct avl_tree t = { 0 };
	unsigned live = 0, i, step;
	uint64_t seed = 12345;

	test_apply_breakage();
	for (i = 0; i < MAX_KEYS; i++)
		nodes[i].key = (uint64_t)i * 2;   /* even keys: odd probes fall between */
	for (step = 0; step < 200000; step++) {
		unsigned k, probe;
		struct avl_node *f, *c;
		int want_f = -1, want_c = -1, j;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		k = (unsigned)(seed >> 33) % MAX_KEYS;
		if (present[k]) {
			avl_remove(&t, &nodes[k]);
			present[k] = false;
			live--;
		} else {
			avl_insert(&t, &nodes[k]);
			present[k] = true;
			live++;
		}
		probe = (unsigned)(seed >> 20) % (MAX_KEYS * 2);
		for (j = (int)probe / 2; j >= 0; j--)
			if (present[j]) {
				want_f = j;
				break;
			}
		for (j = (int)(probe + 1) / 2; j < MAX_KEYS; j++)
			if (present[j]) {
				want_c = j;
				break;
			}
		f = avl_floor(&t, probe);
		c = avl_ceil(&t, probe);
		CHECK(want_f < 0 ? !f : f == &nodes[want_f], "floor(%u)", probe);
		CHECK(want_c < 0 ? !c : c == &nodes[want_c], "ceil(%u)", probe);
		if (step % 997 == 0)
			check_tree(&t, live);
	}
	check_tree(&t, live);
	printf("avl: 200000 random inserts/removes, invariants and lookups hold\n");
	host_index();
	return 0;
}
