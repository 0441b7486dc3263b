// SPDX-License-Identifier: MIT
/*
 * `kvmhold-bench dirty` (tools/README.md, "dirty"): (a) what kvmhold_dirty_sync()
 * costs over a large logged region, bitmap and ring, at three levels of pages
 * written before each sync by one GUEST_PROG_PROBE vCPU; (b) the migration check
 * of bench_migrate.c for kvmhold (bitmap, ring) and the naive order (classic
 * log, and "initially set").
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define PROBE_TIMEOUT_MS 300000
#define FEW_PAGES        64
#define MIG_PAGES        256         /* the migration check's P unless --pages */
#define MIG_LIMIT_S      120.0

/* Dirty ring bytes per vCPU: room for `pages` entries twice over, within KVM's limit (0: none). */
static unsigned ring_for(unsigned pages)
{
	int r = bench_kvm_cap(KVM_CAP_DIRTY_LOG_RING_ACQ_REL);
	unsigned max, b = 64 * 1024;

	if (r <= 0)
		r = bench_kvm_cap(KVM_CAP_DIRTY_LOG_RING);
	max = r > 0 ? (unsigned)r : 0;
	while (b < 2ull * pages * sizeof(struct kvm_dirty_gfn) && b < max)
		b *= 2;
	return b > max ? max : b;
}

/* (a) for one mechanism. */
static int sync_cost(const struct bench_opts *o, uint64_t region, unsigned ring_bytes,
		     struct sync_result *sr)
{
	struct tvm_opts to = {
		.nr_vcpus = 1, .program = GUEST_PROG_PROBE, .test_size = region,
		.map_test_region = true, .test_slot_flags = KVM_MEM_LOG_DIRTY_PAGES, .quiet = true,
		.vm_opts = { .dirty_ring_bytes = ring_bytes },
	};
	size_t words = (size_t)(region / TVM_PAGE_SIZE + 63) / 64;
	unsigned many = o->sync_pages, lv, k, value = 1;
	/* The syncs' bitmap, then the pattern of the pages the guest writes. */
	uint64_t *bm = calloc(2 * words, sizeof(*bm)), *pattern, t0;
	const char *what = "memory";
	struct kvmhold_stats st;
	struct kvmhold_region reg;
	struct tvm *t = NULL;
	int r = -ENOMEM;

	sr->mech = ring_bytes ? "ring" : "bitmap";
	sr->ring_bytes = ring_bytes;
	if ((uint64_t)many * TVM_PAGE_SIZE > region)
		many = (unsigned)(region / TVM_PAGE_SIZE);
	sr->lv[SYNC_FEW].dirtied = FEW_PAGES < many ? FEW_PAGES : many;
	sr->lv[SYNC_MANY].dirtied = many;
	if (!bm)
		goto out;
	pattern = bm + words;
	what = "creating the VM";
	r = tvm_create(&to, &t);
	if (r)
		goto out;
	/* The probe scans (and writes) only the first `many` pages. */
	tvm_shared(t)->test_size = (uint64_t)many * TVM_PAGE_SIZE;
	what = "starting the vCPU";
	r = tvm_start(t);
	if (r)
		goto out;
	what = "first sync";
	t0 = bench_now_ns();
	r = kvmhold_dirty_sync(t->vm, t->test_hva, region, bm);
	sr->first_ns = bench_now_ns() - t0;
	if (r)
		goto out;
	sr->first_reported = bitmap_weight(bm, words);
	what = "the test region's slot";
	if (kvmhold_regions(t->vm, t->test_gpa, region, &reg, 1) != 1 || reg.size != region) {
		r = -ENOENT;
		goto out;
	}
	for (lv = 0; lv < SYNC_LEVELS; lv++) {
		struct sync_level *l = &sr->lv[lv];
		struct samples s = { 0 }, io = { 0 };
		uint64_t reported = 0;
		unsigned i;

		memset(pattern, 0, words * sizeof(*pattern));
		for (i = 0; i < l->dirtied; i++) {
			uint64_t page = (uint64_t)i * (many / l->dirtied);

			pattern[page / 64] |= 1ull << (page % 64);
		}
		for (k = 0; k < o->sync_samples && !r; k++) {
			unsigned n, lib;

			bench_progress("dirty: %s sync, %u pages dirty: %u/%u", sr->mech, l->dirtied,
				       k + 1, o->sync_samples);
			/*
			 * The bitmap's reference first (lib 0), on pages written for it
			 * alone: what KVM costs, the ioctls a sync of the whole slot cannot
			 * do without (read the bitmap, clear and write-protect what it
			 * held), by hand on the library's slot.  The pages it clears are
			 * never reported to the library: a benchmark VM may lose them.
			 */
			for (lib = ring_bytes ? 1 : 0; lib < 2 && !r; lib++) {
				what = "guest writes";
				if (l->dirtied)
					r = tvm_probe_write(t, pattern, value++, PROBE_TIMEOUT_MS);
				if (r)
					break;
				what = lib ? "sync" : "KVM_GET_DIRTY_LOG + KVM_CLEAR_DIRTY_LOG";
				t0 = bench_now_ns();
				if (lib)
					r = kvmhold_dirty_sync(t->vm, t->test_hva, region, bm);
				else
					r = dirty_log_get(kvmhold_vm_fd(t->vm), reg.slot, region, bm, true);
				if (!r)
					samples_add(lib ? &s : &io, bench_now_ns() - t0);
			}
			if (r)
				break;
			n = bitmap_weight(bm, words);
			reported += n;
			l->short_syncs += n < l->dirtied;
		}
		stats_take(&l->lat, &s);
		stats_take(&l->ioctls, &io);
		l->reported = l->lat.n ? (double)reported / (double)l->lat.n : 0;
		if (r)
			break;
	}
	if (!r && !kvmhold_stats_get(t->vm, &st, sizeof(st)))
		sr->ring_full_exits = st.ring_full_exits;
	sr->ran = !r;
out:
	if (r)
		snprintf(sr->error, sizeof(sr->error), "%s: %s", what, strerror(-r));
	if (t) {
		tvm_stop(t);
		if (tvm_failures(t) && !sr->error[0])
			snprintf(sr->error, sizeof(sr->error), "guest: %s", tvm_failure_msg(t, 0));
		tvm_destroy(t);
	}
	free(bm);
	return sr->error[0] ? -EIO : 0;
}

int run_dirty(const struct bench_opts *o, struct report *rep)
{
	struct dirty_result *d = calloc(1, sizeof(*d));
	uint64_t region = (uint64_t)o->region_mib << 20;
	unsigned vcpus = o->nr_vcpus ? o->vcpus[0] : 2, ring, i;
	int failed = 0;
	struct {
		const char *name, *what;
		const struct strategy *s;
		bool ring, initially_set;
	} lines[DIRTY_MIG_LINES] = {
		{ "kvmhold", "kvmhold_txn_* and kvmhold_dirty_sync(), dirty bitmap (manual protect, "
		  "initially set)", &strat_kvmhold, false, false },
		{ "kvmhold-ring", "kvmhold_txn_* and kvmhold_dirty_sync(), dirty ring",
		  &strat_kvmhold, true, false },
		{ "naive", "KVM_GET_DIRTY_LOG, then DELETE + CREATE with the vCPUs running; classic "
		  "log: a new slot starts clean", &strat_naive, false, false },
		{ "naive-initially-set", "the same order with manual protect and initially set: a "
		  "new slot reports all its pages (GET + CLEAR per sync)", &strat_naive, false, true },
	};

	if (!d)
		return -ENOMEM;
	rep->dirty = d;
	d->region_bytes = region;
	d->samples = o->sync_samples;

	ring = ring_for(o->sync_pages);
	failed |= sync_cost(o, region, 0, &d->sync[0]) != 0;
	if (ring)
		failed |= sync_cost(o, region, ring, &d->sync[1]) != 0;
	else
		snprintf(d->sync[1].error, sizeof(d->sync[1].error), "no dirty ring in this KVM");

	d->mig_vcpus = vcpus;
	d->mig_pages = o->pages_given ? o->pages : MIG_PAGES;
	if (d->mig_pages < vcpus)
		d->mig_pages = vcpus + (vcpus & 1);
	d->mig_count = o->migrate_count;
	d->nr_mig = DIRTY_MIG_LINES;
	for (i = 0; i < DIRTY_MIG_LINES; i++) {
		struct mig_opts mo = {
			.s = lines[i].s, .name = lines[i].name, .vcpus = vcpus, .pages = d->mig_pages,
			.seq = { BOP_SPLIT, BOP_MERGE }, .count = o->migrate_count,
			.initially_set = lines[i].initially_set, .limit_s = MIG_LIMIT_S,
		};

		d->mig_what[i] = lines[i].what;
		mo.ring_bytes = lines[i].ring ? ring_for(4 * d->mig_pages) : 0;
		if (lines[i].ring && !mo.ring_bytes) {
			d->mig[i].name = lines[i].name;
			snprintf(d->mig[i].na, sizeof(d->mig[i].na), "no dirty ring in this KVM");
		} else {
			failed |= mig_run(&mo, &d->mig[i]) != 0;
		}
	}
	bench_progress_done();
	summary_dirty(stdout, d);
	return failed ? -EIO : 0;
}
