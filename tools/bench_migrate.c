// SPDX-License-Identifier: MIT
/*
 * The migration check, shared by `dirty` and `compare --migrate`: does a
 * pre-copy live migration that keeps changing memslots lose dirty pages?  The
 * guest (GUEST_PROG_DIRTY) writes the round number into random pages of [0, P);
 * each round the host runs one transaction of the strategy, syncs the dirty
 * pages (as that VMM would) and copies them to a destination buffer; at the
 * end, with nothing running, a last sync and copy.  The rule is the kernel's
 * dirty_log_test (tools/README.md, "compare --migrate"): a page holding the
 * round's value that neither this sync nor the previous one reported is
 * "unreported"; a page of the destination that differs from guest memory at
 * the end is "lost".
 *
 * The raw lines (every strategy but kvmhold) read the log themselves.  The
 * library made the VM with KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 and "initially
 * set" for its own use, but it manages none of these slots and tracks no dirty
 * pages here, so set_raw_log_mode() sets what the line needs (KVM lets it change
 * at any time): off, the classic interface (KVM_GET_DIRTY_LOG fetches and clears,
 * a new slot starts clean), or manual protect with initially set (GET, then
 * KVM_CLEAR_DIRTY_LOG of what was got; a new slot starts all dirty).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "bench.h"

#define PG(n)             ((uint64_t)(n) * TVM_PAGE_SIZE)
#define WRITES_PER_ROUND  4
#define HOLD_TIMEOUT_MS   20000

struct migration {
	uintptr_t hva;               /* the tracked pages: P pages from test_hva */
	unsigned pages, words;
	char *dst;                   /* the destination's copy of them */
	uint64_t *bm, *prev;         /* the pages this sync reported, and the last one */
	uint64_t *pending;           /* read before a delete, not reported yet */
	uint64_t *scratch;           /* KVM_GET_DIRTY_LOG: a slot of up to 2P pages */
	unsigned state;              /* the layout now (LAYOUT_BIT()): raw_sync() reads its slots */
	bool manual;                 /* raw lines: manual protect (GET, then CLEAR) */
	uint64_t log_reads;
};

static bool bit(const uint64_t *bm, uint64_t i)
{
	return bm[i / 64] & (1ull << (i % 64));
}

double per_1000(uint64_t n, uint64_t txns)
{
	return txns ? (double)n * 1000.0 / (double)txns : -1;
}

static size_t slot_words(uint64_t size)
{
	return (size / TVM_PAGE_SIZE + 63) / 64;
}

/* Bits of a slot (slot-relative pages) into bm (pages of the tracked range). */
static void add_slot_bits(const struct migration *mg, uint64_t *bm, uintptr_t slot_hva,
			  uint64_t size, const uint64_t *bits)
{
	uint64_t i, n = size / TVM_PAGE_SIZE;

	for (i = 0; i < n; i++) {
		uint64_t hva = slot_hva + PG(i), page = (hva - mg->hva) / TVM_PAGE_SIZE;

		if (!bits[i / 64])
			i |= 63;         /* a word of zeros: on to the next */
		else if (bit(bits, i) && hva >= mg->hva && page < mg->pages)
			bm[page / 64] |= 1ull << (page % 64);
	}
}

int dirty_log_get(int vm_fd, uint32_t slot, uint64_t size, uint64_t *buf, bool clear)
{
	struct kvm_dirty_log log = { .slot = slot, .dirty_bitmap = buf };
	struct kvm_clear_dirty_log cl = {
		.slot = slot, .first_page = 0, .num_pages = (uint32_t)(size / TVM_PAGE_SIZE),
		.dirty_bitmap = buf,
	};

	memset(buf, 0, slot_words(size) * sizeof(*buf));
	if (ioctl(vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
		return -errno;
	return clear && ioctl(vm_fd, KVM_CLEAR_DIRTY_LOG, &cl) < 0 ? -errno : 0;
}

int read_log_before(struct strat_ctx *c, const struct raw_txn *tx, uint64_t *scratch,
		    unsigned *ioctls)
{
	struct migration *mg = c->mig;
	unsigned i;
	int r;

	for (i = 0; i < tx->n; i++) {
		const struct mslot_io *io = &tx->io[i];
		uint64_t size = io->old_size;
		uint64_t *buf = mg ? mg->scratch : scratch;

		if (!(io->old_flags & KVM_MEM_LOG_DIRTY_PAGES))
			continue;
		if (io->kind != MIO_DELETE && io->kind != MIO_MOVE &&
		    !(io->kind == MIO_FLAGS && !(io->r.flags & KVM_MEM_LOG_DIRTY_PAGES)))
			continue;
		r = dirty_log_get(c->m->vm_fd, io->r.slot, size, buf, false);
		if (r)
			return r;
		(*ioctls)++;
		if (mg) {
			add_slot_bits(mg, mg->pending, (uintptr_t)io->r.userspace_addr, size, buf);
			mg->log_reads++;
		}
	}
	return 0;
}

/* Raw lines: every logged slot over the tracked range, plus what was read before deletes. */
static int raw_sync(struct strat_ctx *c, uint64_t *bm)
{
	struct migration *mg = c->mig;
	struct kvmhold_region v[LAYOUT_MAX_REGIONS];
	unsigned n = layout_regions(&c->l, mg->state, v), i;
	uintptr_t end = mg->hva + PG(mg->pages);
	int r;

	memcpy(bm, mg->pending, mg->words * sizeof(*bm));
	memset(mg->pending, 0, mg->words * sizeof(*bm));
	for (i = 0; i < n; i++) {
		const struct kvmhold_region *s = &v[i];
		uintptr_t hva = (uintptr_t)s->hva;

		if (!(s->flags & KVM_MEM_LOG_DIRTY_PAGES) || hva >= end || hva + s->size <= mg->hva)
			continue;
		r = dirty_log_get(c->m->vm_fd, s->slot, s->size, mg->scratch, mg->manual);
		if (r)
			return r;
		add_slot_bits(mg, bm, hva, s->size, mg->scratch);
	}
	return 0;
}

static int sync_now(struct strat_ctx *c, uint64_t *bm)
{
	if (!c->s->raw_layout)
		return kvmhold_dirty_sync(c->m->vm, (void *)c->mig->hva, PG(c->mig->pages), bm);
	return raw_sync(c, bm);
}

/* The dirty-log mode the raw line needs (top of the file). */
static int set_raw_log_mode(int vm_fd, bool initially_set)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 };
	int have = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);

	if (initially_set) {
		if (have <= 0 || !(have & KVM_DIRTY_LOG_INITIALLY_SET))
			return -EOPNOTSUPP;
		cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET;
	} else if (have <= 0) {
		return 0;            /* the classic interface is all there is */
	}
	return ioctl(vm_fd, KVM_ENABLE_CAP, &cap) < 0 ? -errno : 0;
}

unsigned bitmap_weight(const uint64_t *bm, size_t words)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < words; i++)
		n += (unsigned)__builtin_popcountll(bm[i]);
	return n;
}

/* The pages this sync reported, to the destination. */
static void copy_reported(const struct migration *mg, struct mig_result *res)
{
	unsigned i;

	for (i = 0; i < mg->pages; i++)
		if (bit(mg->bm, i))
			memcpy(mg->dst + PG(i), (const char *)mg->hva + PG(i), TVM_PAGE_SIZE);
	res->copied += bitmap_weight(mg->bm, mg->words);
}

/* Until the guests' write counters add up to at least target. */
static int wait_writes(struct bvm *m, uint64_t target)
{
	uint64_t deadline = bench_now_ns() + MOVE_TIMEOUT_MS * 1000000ull;

	while (tvm_counter_sum(m->t) < target) {
		if (bvm_failure(m))
			return -EIO;
		if (bench_now_ns() >= deadline)
			return -ETIMEDOUT;
		bench_sleep_ns(20000);
	}
	return 0;
}

static void fail(struct mig_result *res, const char *what, int r)
{
	if (!res->error[0])
		snprintf(res->error, sizeof(res->error), "%s: %s", what, strerror(-r));
}

/* The rounds; returns 0 or -errno (res->error says where). */
static int rounds(const struct mig_opts *mo, struct strat_ctx *c, struct mig_result *res)
{
	struct migration *mg = c->mig;
	const char *src = (const char *)mg->hva;
	struct samples sync_lat = { 0 };
	uint64_t value = 1, t0 = bench_now_ns(), limit = (uint64_t)(mo->limit_s * 1e9);
	unsigned next = 0, i;
	int r = 0;

	while (res->txns < mo->count && bench_now_ns() - t0 < limit) {
		struct txn_sample smp = { 0 };
		enum bop op = mo->seq[next];
		uint64_t ts;

		r = wait_writes(c->m, tvm_counter_sum(c->m->t) + WRITES_PER_ROUND);
		if (r) {
			fail(res, "waiting for guest writes", r);
			break;
		}
		c->s->apply(c, op, &smp);
		if (smp.timeout) {
			res->timeouts++;
			continue;        /* nothing changed: the same one again */
		}
		if (smp.err) {
			r = smp.err;
			fail(res, bop_name(op), r);
			break;
		}
		mg->state ^= LAYOUT_BIT(op);
		res->txns++;
		next ^= 1;

		/* No write of `value` may still be in flight when the sync looks. */
		tvm_set_param(c->m->t, TVM_DIRTY_ITER, value + 1);
		r = bvm_wait_all_moved(c->m, MOVE_TIMEOUT_MS);
		if (r) {
			fail(res, "waiting for the guests", r);
			break;
		}
		ts = bench_now_ns();
		r = sync_now(c, mg->bm);
		if (r) {
			fail(res, "sync", r);
			break;
		}
		samples_add(&sync_lat, bench_now_ns() - ts);
		for (i = 0; i < mg->pages; i++) {
			uint64_t v = __atomic_load_n((const uint64_t *)(src + PG(i)), __ATOMIC_RELAXED);

			if (v == value && !bit(mg->bm, i) && !bit(mg->prev, i))
				res->unreported++;
		}
		copy_reported(mg, res);
		memcpy(mg->prev, mg->bm, mg->words * sizeof(*mg->bm));
		value++;
		if (!(res->txns % 64))
			bench_progress("migration check: %s: %llu transactions", res->name,
				       (unsigned long long)res->txns);
	}
	res->seconds = (double)(bench_now_ns() - t0) / 1e9;
	stats_take(&res->sync, &sync_lat);
	return r;
}

/* Nothing running, a last sync and copy, then count the pages that differ. */
static int final_pass(struct strat_ctx *c, struct mig_result *res)
{
	struct migration *mg = c->mig;
	unsigned i;
	int r;

	if (c->s->tvm_loop) {
		r = kvmhold_hold(c->m->vm, HOLD_TIMEOUT_MS);
		if (r) {
			fail(res, "final hold", r);
			return r;
		}
	} else {
		bvm_stop(c->m);
	}
	r = sync_now(c, mg->bm);
	if (!r) {
		copy_reported(mg, res);
		for (i = 0; i < mg->pages; i++)
			res->lost += memcmp(mg->dst + PG(i), (const char *)mg->hva + PG(i),
					    TVM_PAGE_SIZE) != 0;
	} else {
		fail(res, "final sync", r);
	}
	if (c->s->tvm_loop)
		kvmhold_release(c->m->vm);
	return r;
}

int mig_run(const struct mig_opts *mo, struct mig_result *res)
{
	const struct strategy *s = mo->s;
	struct bvm_opts bo = {
		.vcpus = mo->vcpus, .program = GUEST_PROG_DIRTY, .walk_pages = mo->pages,
		.region_pages = 4 * mo->pages, .ring_bytes = mo->ring_bytes, .kick = s->kick,
	};
	struct strat_ctx c = { .s = s };
	unsigned words = (mo->pages + 63) / 64;
	struct migration mg = { .pages = mo->pages, .words = words, .manual = mo->initially_set,
				.state = layout_initial(mo->split, mo->grown) };
	const char *what;
	uint64_t w0;
	int r;

	*res = (struct mig_result){ .name = mo->name ? mo->name : s->name, .vcpus = mo->vcpus,
				    .pages = mo->pages };
	mg.dst = malloc(PG(mo->pages));
	/* The bitmaps, one allocation: bm, prev and pending of P pages, scratch of 2P. */
	mg.bm = calloc(3 * words + slot_words(PG(2 * mo->pages)), sizeof(*mg.bm));
	if (!mg.dst || !mg.bm) {
		fail(res, "memory", -ENOMEM);
		goto out_free;
	}
	mg.prev = mg.bm + words;
	mg.pending = mg.prev + words;
	mg.scratch = mg.pending + words;
	r = bvm_create(&bo, &c.m);
	if (r) {
		fail(res, "creating the VM", r);
		goto out_free;
	}
	c.l = (struct layout){ .gpa = c.m->t->test_gpa, .hva = (uintptr_t)c.m->t->test_hva,
			       .pages = mo->pages, .w_flags = KVM_MEM_LOG_DIRTY_PAGES };
	mg.hva = c.l.hva;
	r = s->raw_layout ? set_raw_log_mode(c.m->vm_fd, mo->initially_set) : 0;
	if (r) {
		fail(res, "dirty-log mode", r);
		goto out;
	}
	c.mig = &mg;
	tvm_set_param(c.m->t, TVM_DIRTY_ITER, 1);
	tvm_set_param(c.m->t, TVM_DIRTY_DELAY, 0);
	r = strat_start(&c, mo->split, mo->grown, mo->extra_slots, MOVE_TIMEOUT_MS, &what);
	if (r) {
		/* A setup that failed may have said why. */
		if (c.why)
			snprintf(res->error, sizeof(res->error), "setup: %s", c.why);
		fail(res, what, r);
		goto stop;
	}
	res->ran = true;
	w0 = tvm_counter_sum(c.m->t);
	/* The first pass: everything, after a sync that starts the tracking afresh. */
	r = sync_now(&c, mg.bm);
	if (r) {
		fail(res, "first sync", r);
		goto stop;
	}
	memcpy(mg.dst, (void *)mg.hva, PG(mo->pages));
	memcpy(mg.prev, mg.bm, words * sizeof(*mg.bm));
	r = rounds(mo, &c, res);
	if (!r)
		final_pass(&c, res);
	res->guest_writes = tvm_counter_sum(c.m->t) - w0;
stop:
	bvm_stop(c.m);
	res->holes = bvm_holes(c.m);
	res->log_reads = mg.log_reads;
	if (bvm_failure(c.m) && !res->error[0])
		snprintf(res->error, sizeof(res->error), "guest: %s", bvm_failure(c.m));
out:
	c.mig = NULL;
	if (s->teardown)
		s->teardown(&c);
	bvm_destroy(c.m);
out_free:
	free(mg.bm);
	free(mg.dst);
	return res->error[0] ? -EIO : 0;
}
