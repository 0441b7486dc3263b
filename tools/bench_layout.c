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
#include <string.h>
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

static void add(struct raw_txn *tx, enum mio_kind kind, uint32_t slot, uint32_t flags,
		uint64_t gpa_off, uint64_t size, uint64_t hva_off, const struct layout *l)
{
	struct mslot_io *io = &tx->io[tx->n++];

	memset(io, 0, sizeof(*io));
	io->kind = kind;
	io->r.slot = slot;
	/* A DELETE passes no flags; the ones the slot had are kept for the dirty-log read. */
	io->r.flags = kind == MIO_DELETE ? 0 : flags;
	io->r.guest_phys_addr = l->gpa + gpa_off;
	io->r.memory_size = kind == MIO_DELETE ? 0 : size;
	io->r.userspace_addr = l->hva + hva_off;
	io->old_size = size;
	io->old_flags = flags;
}

void raw_op(const struct layout *l, enum bop op, struct raw_txn *tx)
{
	uint64_t p = PG(l->pages), half = PG(l->pages / 2);
	uint32_t wf = l->w_flags;
	struct mslot_io *io;

	tx->n = 0;
	switch (op) {
	case BOP_SPLIT:
		add(tx, MIO_DELETE, RAW_ID_W, wf, 0, p, 0, l);
		add(tx, MIO_CREATE, RAW_ID_LO, wf, 0, half, 0, l);
		add(tx, MIO_CREATE, RAW_ID_HI, wf, half, half, half, l);
		break;
	case BOP_MERGE:
		add(tx, MIO_DELETE, RAW_ID_LO, wf, 0, half, 0, l);
		add(tx, MIO_DELETE, RAW_ID_HI, wf, half, half, half, l);
		add(tx, MIO_CREATE, RAW_ID_W, wf, 0, p, 0, l);
		break;
	case BOP_GROW:
		add(tx, MIO_DELETE, RAW_ID_W, wf, 0, p, 0, l);
		add(tx, MIO_CREATE, RAW_ID_W, wf, 0, 2 * p, 0, l);
		break;
	case BOP_SHRINK:
		add(tx, MIO_DELETE, RAW_ID_W, wf, 0, 2 * p, 0, l);
		add(tx, MIO_CREATE, RAW_ID_W, wf, 0, p, 0, l);
		break;
	case BOP_MOVE:
	case BOP_MOVE_BACK:
		add(tx, MIO_MOVE, RAW_ID_M, 0, op == BOP_MOVE ? m_away(l) : m_home(l),
		    PG(SMALL_SLOT_PAGES), m_home(l), l);
		io = &tx->io[0];
		io->old_gpa = l->gpa + (op == BOP_MOVE ? m_home(l) : m_away(l));
		break;
	case BOP_LOG_ON:
	case BOP_LOG_OFF:
		add(tx, MIO_FLAGS, RAW_ID_W, op == BOP_LOG_ON ? KVM_MEM_LOG_DIRTY_PAGES : 0,
		    0, p, 0, l);
		tx->io[0].old_flags = op == BOP_LOG_ON ? 0 : KVM_MEM_LOG_DIRTY_PAGES;
		break;
	case BOP_MAP:
		add(tx, MIO_CREATE, RAW_ID_U, 0, u_off(l), PG(SMALL_SLOT_PAGES), u_off(l), l);
		break;
	case BOP_UNMAP:
		add(tx, MIO_DELETE, RAW_ID_U, 0, u_off(l), PG(SMALL_SLOT_PAGES), u_off(l), l);
		break;
	default:
		break;
	}
}

void raw_initial(const struct layout *l, bool split, bool grown, struct raw_txn *tx)
{
	uint64_t p = PG(l->pages), half = PG(l->pages / 2);

	tx->n = 0;
	if (split) {
		add(tx, MIO_CREATE, RAW_ID_LO, l->w_flags, 0, half, 0, l);
		add(tx, MIO_CREATE, RAW_ID_HI, l->w_flags, half, half, half, l);
	} else {
		add(tx, MIO_CREATE, RAW_ID_W, l->w_flags, 0, grown ? 2 * p : p, 0, l);
	}
	add(tx, MIO_CREATE, RAW_ID_M, 0, m_home(l), PG(SMALL_SLOT_PAGES), m_home(l), l);
}

static bool ranges_overlap(uint64_t a, uint64_t an, uint64_t b, uint64_t bn)
{
	return a < b + bn && b < a + an;
}

/*
 * QEMU's test: does some range the transaction deletes overlap some range it
 * adds?  A MOVE deletes its old range and adds its new one; a flags change
 * is done in place and does neither.
 */
bool raw_overlap(const struct raw_txn *tx)
{
	unsigned i, j;

	for (i = 0; i < tx->n; i++) {
		const struct mslot_io *d = &tx->io[i];
		uint64_t dg, dn;

		if (d->kind == MIO_DELETE)
			dg = d->r.guest_phys_addr, dn = d->old_size;
		else if (d->kind == MIO_MOVE)
			dg = d->old_gpa, dn = d->r.memory_size;
		else
			continue;
		for (j = 0; j < tx->n; j++) {
			const struct mslot_io *a = &tx->io[j];

			if ((a->kind == MIO_CREATE || a->kind == MIO_MOVE) &&
			    ranges_overlap(dg, dn, a->r.guest_phys_addr, a->r.memory_size))
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
	if (r) {
		kvmhold_txn_abort(txn);
		return r;
	}
	return kvmhold_txn_commit(txn);
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
	if (r) {
		kvmhold_txn_abort(txn);
		return r;
	}
	t0 = bench_now_ns();
	r = kvmhold_txn_commit(txn);
	if (commit_ns)
		*commit_ns = bench_now_ns() - t0;
	return r;
}

int kh_initial(struct kvmhold_vm *vm, const struct layout *l, bool split, bool grown)
{
	uint64_t p = PG(l->pages), half = PG(l->pages / 2);
	struct kvmhold_txn *txn;
	int r;

	r = kvmhold_txn_begin(vm, &txn);
	if (r)
		return r;
	if (split) {
		r = kvmhold_txn_map(txn, l->gpa, half, (void *)l->hva, l->w_flags);
		if (!r)
			r = kvmhold_txn_map(txn, l->gpa + half, half, (void *)(l->hva + half),
					    l->w_flags);
	} else {
		r = kvmhold_txn_map(txn, l->gpa, grown ? 2 * p : p, (void *)l->hva, l->w_flags);
	}
	if (!r)
		r = kvmhold_txn_map(txn, l->gpa + m_home(l), PG(SMALL_SLOT_PAGES),
				    (void *)(l->hva + m_home(l)), 0);
	return kh_finish(txn, r);
}

/* ---- mapping the test region ----------------------------------------------- */

/* The library must hold the system region only (slot 0): raw ids are ours. */
static int check_library_slots(struct bvm *m)
{
	struct kvmhold_region reg[2];
	int n = kvmhold_regions(m->vm, 0, UINT64_MAX, reg, 2);

	if (n < 0)
		return n;
	return n == 1 && reg[0].slot == 0 ? 0 : -EEXIST;
}

int layout_map(struct strat_ctx *c, bool raw, bool split, bool grown, unsigned nr_extra)
{
	struct raw_txn tx;
	unsigned issued = 0;
	int r;

	if (raw) {
		r = check_library_slots(c->m);
		if (!r) {
			raw_initial(&c->l, split, grown, &tx);
			r = raw_issue(c->m->vm_fd, &tx, &issued);
		}
		if (!r)
			r = bvm_map_extra_raw(c->m, nr_extra, RAW_ID_EXTRA);
		return r;
	}
	r = kh_initial(c->m->vm, &c->l, split, grown);
	if (!r)
		r = bvm_map_extra_txn(c->m, nr_extra);
	return r;
}

/* A mirror of the raw slots: what KVM has after tx, as far as the benchmark made it. */
void raw_slots_apply(struct raw_slots *t, const struct raw_txn *tx)
{
	unsigned i, j;

	for (i = 0; i < tx->n; i++) {
		const struct mslot_io *io = &tx->io[i];

		for (j = 0; j < t->n && t->s[j].id != io->r.slot; j++)
			;
		switch (io->kind) {
		case MIO_DELETE:
			if (j < t->n)
				t->s[j] = t->s[--t->n];
			break;
		case MIO_MOVE:
			if (j < t->n)
				t->s[j].gpa = io->r.guest_phys_addr;
			break;
		case MIO_FLAGS:
			if (j < t->n)
				t->s[j].flags = io->r.flags;
			break;
		case MIO_CREATE:
			if (j == t->n && t->n < RAW_SLOTS_MAX)
				t->n++;
			if (j < t->n)
				t->s[j] = (struct raw_slot){
					.id = io->r.slot, .flags = io->r.flags,
					.gpa = io->r.guest_phys_addr, .size = io->r.memory_size,
					.hva = (uintptr_t)io->r.userspace_addr,
				};
			break;
		}
	}
}

/* ---- diffs of committed layouts (txn's "ideal") ------------------------- */

static const struct kvmhold_region *by_slot(const struct kvmhold_region *v, unsigned n,
					    uint32_t slot)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (v[i].slot == slot)
			return &v[i];
	return NULL;
}

static int push(struct raw_txn *tx, enum mio_kind kind, const struct kvmhold_region *r,
		const struct kvmhold_region *old)
{
	struct mslot_io *io;

	if (tx->n == RAW_TXN_MAX)
		return -E2BIG;
	io = &tx->io[tx->n++];
	memset(io, 0, sizeof(*io));
	io->kind = kind;
	io->r.slot = r->slot;
	io->r.flags = r->flags;
	io->r.guest_phys_addr = r->gpa;
	io->r.memory_size = kind == MIO_DELETE ? 0 : r->size;
	io->r.userspace_addr = (uintptr_t)r->hva;
	if (old) {
		io->old_gpa = old->gpa;
		io->old_size = old->size;
		io->old_flags = old->flags;
	}
	return 0;
}

/*
 * Matched by KVM slot id, in the planner's order: DELETE, MOVE, FLAGS,
 * CREATE.  A slot id whose size or host address changed was deleted and
 * created again (KVM cannot resize a slot).
 */
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
			bool replaced = !t || t->size != f->size || t->hva != f->hva ||
					(t->gpa != f->gpa && t->flags != f->flags);

			if (pass == MIO_DELETE && replaced)
				r = push(tx, MIO_DELETE, f, f);
			else if (pass == MIO_MOVE && !replaced && t->gpa != f->gpa)
				r = push(tx, MIO_MOVE, t, f);
			else if (pass == MIO_FLAGS && !replaced && t->gpa == f->gpa &&
				 t->flags != f->flags)
				r = push(tx, MIO_FLAGS, t, f);
		}
		for (i = 0; i < nt && !r && pass == MIO_CREATE; i++) {
			const struct kvmhold_region *t = &to[i], *f = by_slot(from, nf, t->slot);

			if (!f || t->size != f->size || t->hva != f->hva ||
			    (t->gpa != f->gpa && t->flags != f->flags))
				r = push(tx, MIO_CREATE, t, NULL);
		}
	}
	return r;
}
