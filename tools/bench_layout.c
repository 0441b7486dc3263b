// SPDX-License-Identifier: MIT
/*
 * The memslot operations of the benchmark, two ways: as the raw
 * KVM_SET_USER_MEMORY_REGION calls a VMM issues by hand (the strategies
 * that are not kvmhold, and "ideal"), and as kvmhold_txn_* calls.  The raw
 * calls are the ones kvmhold's planner issues for the same change (one per
 * slot: DELETE + CREATE where KVM cannot change a slot in place, MOVE and
 * FLAGS where it can), so every strategy does the same KVM work and only
 * the way it keeps the vCPUs out differs.  The layout is in bench.h.
 */
#include <errno.h>
#include <sys/ioctl.h>

#include "bench.h"

#define PG(n) ((uint64_t)(n) * TVM_PAGE_SIZE)

static const char *const bop_names[BOP__COUNT] = {
	[BOP_SPLIT] = "split", [BOP_MERGE] = "merge", [BOP_GROW] = "grow",
	[BOP_SHRINK] = "shrink", [BOP_MOVE] = "move", [BOP_MOVE_BACK] = "move",
	[BOP_LOG_ON] = "log-on", [BOP_LOG_OFF] = "log-off", [BOP_MAP] = "map",
	[BOP_UNMAP] = "unmap",
};

const char *bop_name(enum bop op)
{
	return (unsigned)op < BOP__COUNT ? bop_names[op] : "?";
}

enum bop bop_inverse(enum bop op)
{
	/* The enum lists each operation next to its inverse. */
	return (enum bop)((unsigned)op ^ 1u);
}

/* Where the pieces are (bench.h): offsets in pages from test_gpa / test_hva. */
static uint64_t m_home(const struct layout *l) { return PG(2 * l->pages); }
static uint64_t m_away(const struct layout *l) { return PG(2 * l->pages + 8); }
static uint64_t u_off(const struct layout *l)  { return PG(3 * l->pages); }

static struct kvmhold_region region(const struct layout *l, uint32_t slot, uint32_t flags,
				    uint64_t gpa_off, uint64_t size, uint64_t hva_off)
{
	return (struct kvmhold_region){ .slot = slot, .flags = flags, .gpa = l->gpa + gpa_off,
					.size = size, .hva = (void *)(l->hva + hva_off) };
}

unsigned layout_regions(const struct layout *l, unsigned state, struct kvmhold_region *v)
{
	uint64_t p = PG(l->pages), half = PG(l->pages / 2), small = PG(SMALL_SLOT_PAGES);
	uint32_t wf = l->w_flags | (state & LAYOUT_BIT(BOP_LOG_ON) ? KVM_MEM_LOG_DIRTY_PAGES : 0);
	uint64_t m_gpa = state & LAYOUT_BIT(BOP_MOVE) ? m_away(l) : m_home(l);
	unsigned n = 0;

	if (state & LAYOUT_BIT(BOP_SPLIT)) {
		v[n++] = region(l, RAW_ID_LO, wf, 0, half, 0);
		v[n++] = region(l, RAW_ID_HI, wf, half, half, half);
	} else {
		v[n++] = region(l, RAW_ID_W, wf, 0, state & LAYOUT_BIT(BOP_GROW) ? 2 * p : p, 0);
	}
	v[n++] = region(l, RAW_ID_M, 0, m_gpa, small, m_home(l));
	if (state & LAYOUT_BIT(BOP_MAP))
		v[n++] = region(l, RAW_ID_U, 0, u_off(l), small, u_off(l));
	return n;
}

unsigned layout_initial(bool split, bool grown)
{
	return (split ? LAYOUT_BIT(BOP_SPLIT) : 0) | (grown ? LAYOUT_BIT(BOP_GROW) : 0);
}

/*
 * The diff of the layouts before and after op, which is what kvmhold's
 * planner issues.  Four slots at most: the diff cannot run out of room.
 */
void raw_op(const struct layout *l, enum bop op, struct raw_txn *tx)
{
	struct kvmhold_region from[LAYOUT_MAX_REGIONS], to[LAYOUT_MAX_REGIONS];
	/* An inverse (odd) expects its pair's first operation in effect. */
	unsigned before = op & 1 ? LAYOUT_BIT(op) : 0;
	unsigned nf = layout_regions(l, before, from);

	regions_diff(from, nf, to, layout_regions(l, before ^ LAYOUT_BIT(op), to), tx);
}

/*
 * QEMU's test: does a range the transaction deletes overlap one it adds?  A MOVE
 * deletes its old range and adds its new one; a flags change (in place) neither.
 */
bool raw_overlap(const struct raw_txn *tx)
{
	unsigned i, j;

	for (i = 0; i < tx->n; i++) {
		const struct mslot_io *d = &tx->io[i];

		if (d->kind != MIO_DELETE && d->kind != MIO_MOVE)
			continue;
		for (j = 0; j < tx->n; j++) {
			const struct mslot_io *a = &tx->io[j];

			if ((a->kind == MIO_CREATE || a->kind == MIO_MOVE) &&
			    d->old_gpa < a->r.guest_phys_addr + a->r.memory_size &&
			    a->r.guest_phys_addr < d->old_gpa + d->old_size)
				return true;
		}
	}
	return false;
}

int raw_issue(int vm_fd, const struct raw_txn *tx, unsigned *issued)
{
	unsigned i;

	for (i = 0; i < tx->n; i++) {
		struct kvm_userspace_memory_region r = tx->io[i].r;

		if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			return -errno;
		(*issued)++;
	}
	return 0;
}

/* ---- the same through the library --------------------------------------- */

static int kh_apply(struct kvmhold_txn *txn, const struct layout *l, enum bop op)
{
	uint64_t g = l->gpa, p = PG(l->pages);

	switch (op) {
	case BOP_SPLIT:
		return kvmhold_txn_split(txn, g + PG(l->pages / 2));
	case BOP_MERGE:
		return kvmhold_txn_merge(txn, g, p);
	case BOP_GROW:
		return kvmhold_txn_resize(txn, g, 2 * p);
	case BOP_SHRINK:
		return kvmhold_txn_resize(txn, g, p);
	case BOP_MOVE:
		return kvmhold_txn_move(txn, g + m_home(l), PG(SMALL_SLOT_PAGES), g + m_away(l));
	case BOP_MOVE_BACK:
		return kvmhold_txn_move(txn, g + m_away(l), PG(SMALL_SLOT_PAGES), g + m_home(l));
	case BOP_LOG_ON:
		return kvmhold_txn_set_flags(txn, g, p, KVMHOLD_MEM_LOG_DIRTY);
	case BOP_LOG_OFF:
		return kvmhold_txn_set_flags(txn, g, p, 0);
	case BOP_MAP:
		return kvmhold_txn_map(txn, g + u_off(l), PG(SMALL_SLOT_PAGES),
				       (void *)(l->hva + u_off(l)), 0);
	case BOP_UNMAP:
		return kvmhold_txn_unmap(txn, g + u_off(l), PG(SMALL_SLOT_PAGES));
	default:
		return -EINVAL;
	}
}

int kh_finish(struct kvmhold_txn *txn, int r)
{
	if (!r)
		return kvmhold_txn_commit(txn);
	kvmhold_txn_abort(txn);
	return r;
}

int kh_op(struct kvmhold_vm *vm, const struct layout *l, enum bop op, int timeout_ms,
	  uint64_t *commit_ns)
{
	struct kvmhold_txn *txn;
	uint64_t t0;
	int r;

	r = kvmhold_txn_begin(vm, &txn);
	if (r)
		return r;
	r = kh_apply(txn, l, op);
	if (!r)
		r = kvmhold_txn_set_timeout(txn, timeout_ms);
	t0 = bench_now_ns();
	r = kh_finish(txn, r);
	if (commit_ns)
		*commit_ns = bench_now_ns() - t0;
	return r;
}

int kh_initial(struct kvmhold_vm *vm, const struct layout *l, bool split, bool grown)
{
	struct kvmhold_region v[LAYOUT_MAX_REGIONS];
	unsigned n = layout_regions(l, layout_initial(split, grown), v), i;
	struct kvmhold_txn *txn;
	int r;

	r = kvmhold_txn_begin(vm, &txn);
	if (r)
		return r;
	for (i = 0; !r && i < n; i++)
		r = kvmhold_txn_map(txn, v[i].gpa, v[i].size, v[i].hva, v[i].flags);
	return kh_finish(txn, r);
}

/* ---- a strategy's VM, ready to run ----------------------------------------------- */

/* The library must hold the system region only (slot 0): raw ids are ours. */
static int check_library_slots(struct bvm *m)
{
	struct kvmhold_region reg[2];
	int n = kvmhold_regions(m->vm, 0, UINT64_MAX, reg, 2);

	if (n < 0)
		return n;
	return n == 1 && reg[0].slot == 0 ? 0 : -EEXIST;
}

int strat_start(struct strat_ctx *c, bool split, bool grown, unsigned nr_extra, int timeout_ms,
		const char **why)
{
	const struct strategy *s = c->s;
	struct kvmhold_region v[LAYOUT_MAX_REGIONS];
	unsigned n = layout_regions(&c->l, layout_initial(split, grown), v), issued = 0;
	bool raw = !s || s->raw_layout;
	struct raw_txn tx;
	int r;

	*why = "mapping the layout";
	r = raw ? check_library_slots(c->m) : kh_initial(c->m->vm, &c->l, split, grown);
	/* Raw: the CREATEs of W (or its halves) and M, the diff from nothing. */
	regions_diff(NULL, 0, v, n, &tx);
	if (!r && raw)
		r = raw_issue(c->m->vm_fd, &tx, &issued);
	if (!r)
		r = bvm_map_extra(c->m, nr_extra, raw);
	if (!r && s && s->setup) {
		*why = "setup";
		r = s->setup(c);
	}
	if (r)
		return r;
	*why = "starting the vCPUs";
	return bvm_start(c->m, s && s->tvm_loop, s ? s->hooks : NULL, c->state, timeout_ms);
}

/* ---- diffs of layouts (raw_op(), txn's "ideal") ------------------------- */

static const struct kvmhold_region *by_slot(const struct kvmhold_region *v, unsigned n,
					    uint32_t slot)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (v[i].slot == slot)
			return &v[i];
	return NULL;
}

/* Append kind's ioctl for slot r, whose old gpa, size and flags are old's. */
static int push(struct raw_txn *tx, enum mio_kind kind, const struct kvmhold_region *r,
		const struct kvmhold_region *old)
{
	if (tx->n == RAW_TXN_MAX)
		return -E2BIG;
	tx->io[tx->n++] = (struct mslot_io){
		.kind = kind, .old_gpa = old->gpa, .old_size = old->size, .old_flags = old->flags,
		/* A DELETE passes no flags, as the peers' code did before. */
		.r = { .slot = r->slot, .flags = kind == MIO_DELETE ? 0 : r->flags,
		       .guest_phys_addr = r->gpa, .memory_size = kind == MIO_DELETE ? 0 : r->size,
		       .userspace_addr = (uintptr_t)r->hva },
	};
	return 0;
}

/*
 * Does slot id f become t by a DELETE and a CREATE: gone, new, its size or
 * host address changed (KVM cannot resize a slot), or moved and flags changed?
 */
static bool replaced(const struct kvmhold_region *f, const struct kvmhold_region *t)
{
	return !f || !t || t->size != f->size || t->hva != f->hva ||
	       (t->gpa != f->gpa && t->flags != f->flags);
}

/* Matched by KVM slot id, in the planner's order: DELETE, MOVE, FLAGS, CREATE. */
int regions_diff(const struct kvmhold_region *from, unsigned nf,
		 const struct kvmhold_region *to, unsigned nt, struct raw_txn *tx)
{
	enum mio_kind pass;
	unsigned i;
	int r = 0;

	tx->n = 0;
	for (pass = MIO_DELETE; pass <= MIO_CREATE && !r; pass++) {
		for (i = 0; i < nf && !r && pass != MIO_CREATE; i++) {
			const struct kvmhold_region *f = &from[i], *t = by_slot(to, nt, f->slot);
			bool repl = replaced(f, t);

			if (pass == MIO_DELETE && repl)
				r = push(tx, MIO_DELETE, f, f);
			else if (pass == MIO_MOVE && !repl && t->gpa != f->gpa)
				r = push(tx, MIO_MOVE, t, f);
			else if (pass == MIO_FLAGS && !repl && t->gpa == f->gpa &&
				 t->flags != f->flags)
				r = push(tx, MIO_FLAGS, t, f);
		}
		for (i = 0; i < nt && !r && pass == MIO_CREATE; i++)
			if (replaced(by_slot(from, nf, to[i].slot), &to[i]))
				r = push(tx, MIO_CREATE, &to[i], &to[i]);
	}
	return r;
}
