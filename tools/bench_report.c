// SPDX-License-Identifier: MIT
/*
 * The report as text tables on stdout, one per section and configuration,
 * printed as soon as it is measured.
 */
#include <string.h>

#include "bench.h"

void fmt_ns(char *buf, size_t size, uint64_t ns)
{
	if (ns < 1000)
		snprintf(buf, size, "%llu ns", (unsigned long long)ns);
	else if (ns < 1000000)
		snprintf(buf, size, "%.1f us", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, size, "%.2f ms", (double)ns / 1e6);
	else
		snprintf(buf, size, "%.2f s", (double)ns / 1e9);
}

/* A column: the time, or "-" when nothing was measured. */
static const char *col(char *buf, size_t size, const struct stats *st, uint64_t v)
{
	if (!st->n)
		snprintf(buf, size, "-");
	else
		fmt_ns(buf, size, v);
	return buf;
}

static const char *ratio_str(char *buf, size_t size, double r)
{
	if (r <= 0)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%.2fx", r);
	return buf;
}

/* One row of the hold table: name, p50, p90, p99, max, what. */
static void hold_row(FILE *f, const char *name, const struct stats *st, const char *what)
{
	char a[32], b[32], c[32], d[32];

	fprintf(f, "  %-14s %10s %10s %10s %10s   %s\n", name, col(a, 32, st, st->p50),
		col(b, 32, st, st->p90), col(c, 32, st, st->p99), col(d, 32, st, st->max), what);
}

void report_text_hold(FILE *f, const struct hold_result *h)
{
	char a[32], b[32], c[32], d[32], w[96];
	unsigned i;

	fprintf(f, "hold: %u vCPU(s) busy in GUEST_PROG_COUNT, %u samples\n", h->vcpus, h->samples);
	fprintf(f, "  %-14s %10s %10s %10s %10s\n", "", "p50", "p90", "p99", "max");
	snprintf(w, sizeof(w), "one signal -> EINTR round trip (%u resent)", h->floor_resends);
	hold_row(f, "floor", &h->floor, w);
	if (h->floor_all.n) {
		snprintf(w, sizeof(w), "all %u vCPUs signalled at once", h->vcpus);
		hold_row(f, "floor, all", &h->floor_all, w);
	}
	hold_row(f, "kvmhold", &h->hold, "kvmhold_hold(), call to return");
	hold_row(f, "  stop", &h->stop, "the library's own stop time (last_hold_ns)");
	for (i = 0; i < h->nr_lines; i++) {
		const struct hold_line *l = &h->lines[i];

		if (l->na[0])
			fprintf(f, "  %-14s unavailable: %s\n", l->name, l->na);
		else
			hold_row(f, l->name, &l->lat, l->what);
	}
	fprintf(f, "  hold/floor: p50 %s, p99 %s", ratio_str(a, 32, h->r50), ratio_str(b, 32, h->r99));
	if (h->floor_all.n)
		fprintf(f, " (hold/floor-all: p50 %s, p99 %s)", ratio_str(c, 32, h->r50_all),
			ratio_str(d, 32, h->r99_all));
	fprintf(f, "; %.2f kick signals per hold", (double)h->signals_per_hold_x100 / 100.0);
	if (h->target_applies)
		fprintf(f, "; target p50 <= 1.5x, p99 <= 3x: %s", h->met ? "met" : "NOT met");
	fprintf(f, "\n");
	for (i = 0; i < h->nr_lines; i++) {
		const struct hold_line *l = &h->lines[i];

		if (!l->lat.n)
			continue;
		fprintf(f, "  %s/floor: p50 %s, p99 %s", l->name, ratio_str(a, 32, l->r50),
			ratio_str(b, 32, l->r99));
		if (h->floor_all.n)
			fprintf(f, " (/floor-all: p50 %s, p99 %s)", ratio_str(c, 32, l->r50_all),
				ratio_str(d, 32, l->r99_all));
		fprintf(f, "\n");
	}
	if (h->error[0])
		fprintf(f, "  error: %s\n", h->error);
	for (i = 0; i < h->nr_lines; i++)
		if (h->lines[i].error[0])
			fprintf(f, "  %s: error: %s\n", h->lines[i].name, h->lines[i].error);
	fprintf(f, "\n");
}

void report_text_txn(FILE *f, const struct txn_result *t)
{
	char a[32], b[32], c[32], d[32], r[32];
	unsigned i;

	fprintf(f, "txn: %u vCPU(s) walking, %u samples per operation; kvmhold_txn_commit() next to\n"
		"     ideal (the same ioctls, vCPUs already stopped, only the ioctls timed)%s\n",
		t->vcpus, t->samples,
		t->vm_flags & KVMHOLD_VM_ALWAYS_HOLD ? "\n     every commit held (KVMHOLD_VM_ALWAYS_HOLD)" : "");
	fprintf(f, "  %-8s %11s %11s %11s %11s %8s %7s %6s  %s\n", "op", "kvmhold p50", "p99",
		"ideal p50", "p99", "p50 x", "ioctls", "held", "target p50 <= 1.2x");
	for (i = 0; i < t->nr_ops; i++) {
		const struct txn_op_result *o = &t->ops[i];

		fprintf(f, "  %-8s %11s %11s %11s %11s %8s %7.1f %3llu/%-3llu %s\n", bop_name(o->op),
			col(a, 32, &o->kvmhold, o->kvmhold.p50), col(b, 32, &o->kvmhold, o->kvmhold.p99),
			col(c, 32, &o->ideal, o->ideal.p50), col(d, 32, &o->ideal, o->ideal.p99),
			ratio_str(r, 32, o->r50), o->ioctls_kvmhold, (unsigned long long)o->held,
			(unsigned long long)o->commits, o->kvmhold.n ? (o->met ? "met" : "NOT met") : "-");
		if (o->diff_mismatch)
			fprintf(f, "           (%u commit(s) issued another ioctl count than the diff)\n",
				o->diff_mismatch);
	}
	if (t->kernel_na[0]) {
		fprintf(f, "  %-14s unavailable: %s\n", "kernel-ioctl", t->kernel_na);
		fprintf(f, "  %-14s unavailable: %s\n", "kvmhold-kernel", t->kernel_na);
	} else {
		fprintf(f, "  the kernel kick lines: kernel-ioctl (kick, the same ioctls, resume; all "
			"timed),\n  kvmhold-kernel (kvmhold_txn_commit() with kick = "
			"KVMHOLD_KICK_KERNEL, a second VM)\n");
		fprintf(f, "  %-8s %11s %11s %8s %11s %11s %8s\n", "op", "k-ioctl p50", "p99",
			"p50 x", "kh-kern p50", "p99", "p50 x");
		for (i = 0; i < t->nr_ops; i++) {
			const struct txn_op_result *o = &t->ops[i];
			char e[32];

			fprintf(f, "  %-8s %11s %11s %8s %11s %11s %8s\n", bop_name(o->op),
				col(a, 32, &o->kick, o->kick.p50), col(b, 32, &o->kick, o->kick.p99),
				ratio_str(r, 32, o->r50_kick),
				col(c, 32, &o->kh_kernel, o->kh_kernel.p50),
				col(d, 32, &o->kh_kernel, o->kh_kernel.p99),
				ratio_str(e, 32, o->r50_kh_kernel));
		}
		fprintf(f, "  (p50 x: / ideal p50)\n");
	}
	if (t->nr_slots) {
		fprintf(f, "  commit of a split / merge of the walked slot next to N extra 1-page slots:\n");
		fprintf(f, "  %-8s %11s %11s %11s %11s %11s\n", "slots", "map them", "split p50",
			"merge p50", "ideal split", "ideal merge");
		for (i = 0; i < t->nr_slots; i++) {
			const struct txn_slots_result *s = &t->slots[i];
			char e[32];

			fmt_ns(e, sizeof(e), s->setup_ns);
			fprintf(f, "  %-8u %11s %11s %11s %11s %11s%s%s\n", s->slots, e,
				col(a, 32, &s->split, s->split.p50), col(b, 32, &s->merge, s->merge.p50),
				col(c, 32, &s->ideal_split, s->ideal_split.p50),
				col(d, 32, &s->ideal_merge, s->ideal_merge.p50),
				s->error[0] ? "  error: " : "", s->error);
		}
	}
	if (t->gmem_na[0])
		fprintf(f, "  guest_memfd: unavailable: %s\n", t->gmem_na);
	else if (t->gmem.n)
		fprintf(f, "  guest_memfd: split + merge of a 2 MiB slot (two commits), p50 %s, p99 %s;"
			" plain slot p50 %s, p99 %s; p50 %s\n", col(a, 32, &t->gmem, t->gmem.p50),
			col(b, 32, &t->gmem, t->gmem.p99), col(c, 32, &t->gmem_plain, t->gmem_plain.p50),
			col(d, 32, &t->gmem_plain, t->gmem_plain.p99),
			ratio_str(r, 32, bench_ratio(t->gmem.p50, t->gmem_plain.p50)));
	if (t->gmem_error[0])
		fprintf(f, "  guest_memfd: error: %s\n", t->gmem_error);
	fprintf(f, "  guest: %llu hole exits, %llu walk mismatches\n",
		(unsigned long long)t->holes, (unsigned long long)t->mismatches);
	if (t->error[0])
		fprintf(f, "  error: %s\n", t->error);
	if (t->kernel_error[0])
		fprintf(f, "  error: %s\n", t->kernel_error);
	fprintf(f, "\n");
}

/* One migration check as a table row. */
static void mig_row(FILE *f, const struct mig_result *m)
{
	char a[32], b[32], pl[32], pu[32];

	if (!m->ran) {
		fprintf(f, "  %-20s %s\n", m->name, m->na[0] ? m->na : m->error[0] ? m->error :
			"did not run");
		return;
	}
	snprintf(pl, sizeof(pl), "%.1f", per_1000(m->lost, m->txns));
	snprintf(pu, sizeof(pu), "%.1f", per_1000(m->unreported, m->txns));
	fprintf(f, "  %-20s %6llu %6llu %6s %10llu %6s %8.1f %7.1f %6llu %6llu %9s %9s\n", m->name,
		(unsigned long long)m->txns, (unsigned long long)m->lost, pl,
		(unsigned long long)m->unreported, pu,
		m->txns ? (double)m->copied / (double)m->txns : 0.0,
		m->txns ? (double)m->guest_writes / (double)m->txns : 0.0,
		(unsigned long long)m->log_reads, (unsigned long long)m->holes,
		col(a, 32, &m->sync, m->sync.p50), col(b, 32, &m->sync, m->sync.p99));
	if (m->error[0])
		fprintf(f, "    %s: %s\n", m->name, m->error);
}

static void mig_header(FILE *f)
{
	fprintf(f, "  %-20s %6s %6s %6s %10s %6s %8s %7s %6s %6s %9s %9s\n", "line", "txns", "lost",
		"/1000", "unreported", "/1000", "copy/txn", "wr/txn", "reads", "holes", "sync p50",
		"p99");
}

static void mig_footer(FILE *f)
{
	fprintf(f, "  lost: pages whose final copy differs; unreported: pages holding the round's "
		"value that no\n  sync reported (their dirty bit was lost); copy/txn: pages the "
		"syncs reported per\n  transaction; wr/txn: guest writes per transaction; reads: "
		"KVM_GET_DIRTY_LOG before a\n  slot went away; holes: guest accesses that found no "
		"memslot\n");
}

void report_text_migration(FILE *f, const struct compare_result *c)
{
	unsigned i;

	if (!c->nr_lines)
		return;
	/* --op log: no line has a check (the last line, ideal, always runs). */
	if (c->op == CMP_LOG && c->lines[c->nr_lines - 1].mig.na[0]) {
		fprintf(f, "  migration check: %s\n", c->lines[c->nr_lines - 1].mig.na);
		return;
	}
	mig_header(f);
	for (i = 0; i < c->nr_lines; i++)
		mig_row(f, &c->lines[i].mig);
	mig_footer(f);
}

void report_text_dirty(FILE *f, const struct dirty_result *d)
{
	double gib = (double)d->region_bytes / (double)(1ull << 30);
	unsigned i, k;

	fprintf(f, "dirty (a): kvmhold_dirty_sync() over %llu MiB logged (one memslot), %u syncs "
		"per level;\n  the guest writes exactly the pages given before each sync\n",
		(unsigned long long)(d->region_bytes >> 20), d->samples);
	fprintf(f, "  %-7s %11s %10s %10s %10s %13s %10s %11s\n", "mech", "pages dirty", "sync p50",
		"p90", "max", "p50 per GiB", "reported", "ioctls p50");
	for (i = 0; i < 2; i++) {
		const struct sync_result *s = &d->sync[i];
		char a[32], b[32], c[32], g[32], io[32];

		if (!s->mech) {
			fprintf(f, "  %-7s %s\n", i ? "ring" : "bitmap", s->error);
			continue;
		}
		fmt_ns(a, sizeof(a), s->first_ns);
		fmt_ns(g, sizeof(g), (uint64_t)((double)s->first_ns / gib));
		fprintf(f, "  %-7s %11s %10s %10s %10s %13s %10llu\n", s->mech, "first", a, "", "", g,
			(unsigned long long)s->first_reported);
		for (k = 0; k < SYNC_LEVELS; k++) {
			const struct sync_level *l = &s->lv[k];

			if (!l->lat.n)
				continue;
			fmt_ns(g, sizeof(g), (uint64_t)((double)l->lat.p50 / gib));
			fprintf(f, "  %-7s %11u %10s %10s %10s %13s %10.0f %11s%s\n", s->mech, l->dirtied,
				col(a, 32, &l->lat, l->lat.p50), col(b, 32, &l->lat, l->lat.p90),
				col(c, 32, &l->lat, l->lat.max), g, l->reported,
				col(io, 32, &l->ioctls, l->ioctls.p50),
				l->short_syncs ? "  (SHORT: fewer pages reported than written)" : "");
		}
		if (s->ring_bytes)
			fprintf(f, "  %-7s %u KiB per vCPU, %llu ring-full exits\n", "", s->ring_bytes / 1024,
				(unsigned long long)s->ring_full_exits);
		if (s->error[0])
			fprintf(f, "  %-7s error: %s\n", s->mech, s->error);
	}
	fprintf(f, "  ioctls p50: KVM_GET_DIRTY_LOG + KVM_CLEAR_DIRTY_LOG of the slot alone, by "
		"hand (bitmap)\n");
	if (d->sync[0].ran && d->sync[1].ran) {
		fprintf(f, "  ring/bitmap p50:");
		for (k = 0; k < SYNC_LEVELS; k++)
			fprintf(f, " %u pages %.2fx%s", d->sync[0].lv[k].dirtied,
				bench_ratio(d->sync[1].lv[k].lat.p50, d->sync[0].lv[k].lat.p50),
				k + 1 < SYNC_LEVELS ? "," : "\n");
	}
	fprintf(f, "\ndirty (b): migration check, %u vCPU(s) writing round numbers into %u pages, "
		"split/merge\n  of their slot, a sync after each transaction, %llu transactions per "
		"line\n", d->mig_vcpus, d->mig_pages, (unsigned long long)d->mig_count);
	mig_header(f);
	for (i = 0; i < d->nr_mig; i++)
		mig_row(f, &d->mig[i]);
	for (i = 0; i < d->nr_mig; i++)
		fprintf(f, "  %-20s %s\n", d->mig[i].name, d->mig_what[i]);
	mig_footer(f);
	fprintf(f, "\n");
}

void report_text_gate(FILE *f, const struct gate_result *g)
{
	char a[32], b[32], c[32], w[128];

	fprintf(f, "gate: the library's paths with no hold; mem and kick + run: %u samples of %u "
		"calls,\n  ns per call; kicks: %u samples running, %u parked\n", g->batches, g->batch,
		g->samples, g->parked_samples);
	fprintf(f, "  %-14s %10s %10s %10s %10s\n", "", "p50", "p90", "p99", "max");
	hold_row(f, "mem", &g->mem, "kvmhold_mem_begin() + kvmhold_mem_end(), one thread");
	hold_row(f, "mem, 2 threads", &g->mem2, "the same, two threads at once on one VM");
	if (g->mem_error[0])
		fprintf(f, "  %-14s error: %s\n", "mem", g->mem_error);
	hold_row(f, "dirty mark", &g->mark, "kvmhold_dirty_mark() of 512 bytes on a logged slot "
		 "(a device's write)");
	if (g->mark_error[0])
		fprintf(f, "  %-14s error: %s\n", "dirty mark", g->mark_error);
	hold_row(f, "kick + run", &g->kick_run, "kvmhold_vcpu_kick() then kvmhold_vcpu_run() "
		 "-> -EINTR, same thread");
	hold_row(f, "kick", &g->kick, "kvmhold_vcpu_kick() alone");
	if (g->entry_error[0])
		fprintf(f, "  %-14s error: %s\n", "run_entry", g->entry_error);
	hold_row(f, "kick_running", &g->running, "kick -> the vCPU thread saw -EINTR, guest spinning");
	snprintf(w, sizeof(w), "one signal -> EINTR round trip, raw KVM_RUN (%u resent)",
		 g->floor_resends);
	hold_row(f, "floor", &g->floor, w);
	if (g->running_error[0])
		fprintf(f, "  %-14s error: %s\n", "kick_running", g->running_error);
	snprintf(w, sizeof(w), "kick -> -EINTR, vCPU parked by a hold (%zu returned in time)",
		 g->parked.n);
	hold_row(f, "kick_parked", &g->parked, w);
	if (g->after_release.n)
		hold_row(f, "  on release", &g->after_release,
			 "timed out: kvmhold_release() -> the kick's -EINTR");
	if (g->parked_error[0])
		fprintf(f, "  %-14s error: %s\n", "kick_parked", g->parked_error);
	fprintf(f, "  kick_running/floor: p50 %s, p99 %s\n", ratio_str(a, 32, g->r50),
		ratio_str(b, 32, g->r99));
	fmt_ns(c, sizeof(c), g->park_timeout_ns);
	fprintf(f, "  kick_parked: %u of %zu samples timed out (%s each)%s", g->parked_timeouts,
		g->parked.n + g->parked_timeouts, c, g->parked_timeouts ? ": a parked vCPU returned only after the "
		"release" : "");
	if (g->not_asleep)
		fprintf(f, "; %u kick(s) sent before the vCPU was seen asleep", g->not_asleep);
	fprintf(f, "\n\n");
}

static const struct strat_result *line_named(const struct compare_result *c, const char *name)
{
	unsigned i;

	for (i = 0; i < c->nr_lines; i++)
		if (!strcmp(c->lines[i].name, name))
			return &c->lines[i];
	return NULL;
}

/* Each pausing line next to ideal (txn p50) and the floor (pause p50), and its progress. */
static void ratios(FILE *f, const struct compare_result *c)
{
	static const char *const names[] = { "kvmhold", "kvmhold-kernel", "kernel-ioctl" };
	const struct strat_result *id = line_named(c, "ideal");
	char a[32];
	unsigned i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct strat_result *l = line_named(c, names[i]);

		if (!l || !l->lat.n || !id || !id->lat.n)
			continue;
		fprintf(f, "  %s: txn p50 %.2fx ideal, pause p50 %s the floor, progress %.0f%%\n",
			l->name, bench_ratio(l->lat.p50, id->lat.p50),
			ratio_str(a, 32, bench_ratio(l->pause.p50, c->floor.p50)), l->progress_pct);
	}
}

/* "median (min-max)" of a per-round figure in ns, or "-". */
static const char *spread_ns(char *buf, size_t size, const struct spread *sp)
{
	char m[32], lo[32], hi[32];

	if (!sp->n)
		return "-";
	fmt_ns(m, sizeof(m), (uint64_t)sp->median);
	fmt_ns(lo, sizeof(lo), (uint64_t)sp->min);
	fmt_ns(hi, sizeof(hi), (uint64_t)sp->max);
	snprintf(buf, size, "%s (%s-%s)", m, lo, hi);
	return buf;
}

/* Each line's figures round by round: a lead is real when the ranges do not overlap. */
static void rounds_table(FILE *f, const struct compare_result *c)
{
	char a[100], b[100], p[64];
	unsigned i;

	if (c->rounds < 2)
		return;
	fprintf(f, "  per round, median (min-max) over the rounds each line ran (of %u):\n", c->rounds);
	fprintf(f, "  %-16s %30s %30s %18s\n", "strategy", "txn p50", "pause p50", "progress");
	for (i = 0; i < c->nr_lines; i++) {
		const struct strat_result *l = &c->lines[i];

		if (l->na[0] || !l->ran)
			continue;
		if (l->round_progress.n)
			snprintf(p, sizeof(p), "%.0f%% (%.0f-%.0f)", l->round_progress.median,
				 l->round_progress.min, l->round_progress.max);
		else
			snprintf(p, sizeof(p), "-");
		fprintf(f, "  %-16s %30s %30s %18s\n", l->name,
			spread_ns(a, sizeof(a), &l->round_txn_p50),
			spread_ns(b, sizeof(b), &l->round_pause_p50), p);
	}
}

void report_text_compare(FILE *f, const struct compare_result *c)
{
	char a[32], b[32], d[32], e[32], g[32], h[32], p[32];
	unsigned i;

	fprintf(f, "compare: %u vCPU(s) walking %u pages, %u extra slot(s), op %s: %s\n", c->vcpus,
		c->pages, c->extra_slots, cmp_op_name(c->op), cmp_op_what(c->op));
	if (c->count)
		fprintf(f, "  %llu transactions per strategy", (unsigned long long)c->count);
	else
		fprintf(f, "  %.1f s per strategy", c->seconds);
	if (c->rate > 0)
		fprintf(f, " at %.1f per second", c->rate);
	else
		fprintf(f, ", as fast as possible");
	fprintf(f, ", in %u rotating rounds; baseline %.0f guest pages/s without memslot changes\n",
		c->rounds, c->baseline_pages_per_s);
	fprintf(f, "  floor (one signal -> EINTR round trip): p50 %s, p99 %s", col(a, 32, &c->floor,
		c->floor.p50), col(b, 32, &c->floor, c->floor.p99));
	if (c->floor_all.n)
		fprintf(f, "; all %u vCPUs at once: p50 %s, p99 %s", c->vcpus,
			col(d, 32, &c->floor_all, c->floor_all.p50),
			col(e, 32, &c->floor_all, c->floor_all.p99));
	fprintf(f, "\n");
	fprintf(f, "  %-16s %7s %9s %9s %9s %9s %9s %9s %8s %7s %7s %4s %4s %9s\n", "strategy",
		"txns", "txn p50", "p90", "p99", "max", "pause p50", "p99", "progress", "holes",
		"corrupt", "t/o", "err", "dirty l/u");
	for (i = 0; i < c->nr_lines; i++) {
		const struct strat_result *l = &c->lines[i];
		char dl[32];

		if (l->na[0]) {
			fprintf(f, "  %-16s unavailable: %s\n", l->name, l->na);
			continue;
		}
		snprintf(p, sizeof(p), l->ran ? "%.0f%%" : "-", l->progress_pct);
		if (l->migrated && l->mig.ran && !l->mig.error[0])
			snprintf(dl, sizeof(dl), "%llu/%llu", (unsigned long long)l->mig.lost,
				 (unsigned long long)l->mig.unreported);
		else
			snprintf(dl, sizeof(dl), "n/a");
		fprintf(f, "  %-16s %7llu %9s %9s %9s %9s %9s %9s %8s %7llu %7llu %4llu %4llu %9s\n",
			l->name, (unsigned long long)l->txns, col(a, 32, &l->lat, l->lat.p50),
			col(b, 32, &l->lat, l->lat.p90), col(d, 32, &l->lat, l->lat.p99),
			col(e, 32, &l->lat, l->lat.max), col(g, 32, &l->pause, l->pause.p50),
			col(h, 32, &l->pause, l->pause.p99), p, (unsigned long long)l->holes,
			(unsigned long long)l->mismatches, (unsigned long long)l->timeouts,
			(unsigned long long)l->errors, dl);
		if (l->error[0])
			fprintf(f, "    %s: %s\n", l->name, l->error);
	}
	ratios(f, c);
	rounds_table(f, c);
	if (c->nr_lines && c->lines[0].migrated) {
		fprintf(f, "  dirty l/u: pages lost / unreported in the migration check of each line "
			"(a fresh VM, the\n  guests writing round numbers into %u pages, a sync after each "
			"transaction):\n", c->lines[0].mig.pages);
		report_text_migration(f, c);
	} else {
		fprintf(f, "  dirty: dirty pages lost: n/a (run with --migrate)\n");
	}
	fprintf(f, "\n");
}

/* ---- vcpus -------------------------------------------------------------------- */

/* "p50 / p99" of st, or "-" when nothing was measured. */
static const char *p50_p99(char *buf, size_t size, const struct stats *st)
{
	char a[32], b[32];

	if (!st->n)
		return "-";
	fmt_ns(a, sizeof(a), st->p50);
	fmt_ns(b, sizeof(b), st->p99);
	snprintf(buf, size, "%s / %s", a, b);
	return buf;
}

void report_text_vcpus(FILE *f, const struct vcpus_result *v)
{
	const struct vcpus_line *hold = &v->lines[0];
	char a[80], b[80], c[80];
	unsigned i;

	fprintf(f, "vcpus: %u vCPU(s) walking, %u samples per line (p50 / p99)\n", v->vcpus,
		v->samples);
	fprintf(f, "  %-17s %22s %22s %22s\n", "", "stop", "release", "split or merge");
	fprintf(f, "  %-17s %22s\n", "floor, all", p50_p99(a, sizeof(a), &v->floor_all));
	for (i = 0; i < v->nr_lines; i++) {
		const struct vcpus_line *l = &v->lines[i];

		if (l->na[0])
			fprintf(f, "  %-17s unavailable: %s\n", l->name, l->na);
		else
			fprintf(f, "  %-17s %22s %22s %22s\n", l->name,
				p50_p99(a, sizeof(a), &l->stop), p50_p99(b, sizeof(b), &l->release),
				p50_p99(c, sizeof(c), &l->commit));
	}
	if (hold->stop.n && v->floor_all.n)
		fprintf(f, "  kvmhold stop / floor-all (a reference, not a bound: its observer "
			"sleeps between vCPUs): p50 %.2fx\n",
			bench_ratio(hold->stop.p50, v->floor_all.p50));
	for (i = 1; i < v->nr_lines; i++) {
		const struct vcpus_line *l = &v->lines[i];

		if (l->stop.n && hold->stop.n)
			fprintf(f, "  kvmhold / %s: stop p50 %.2fx, release p50 %.2fx, commit p50 %.2fx\n",
				l->name, bench_ratio(hold->stop.p50, l->stop.p50),
				bench_ratio(hold->release.p50, l->release.p50),
				bench_ratio(hold->commit.p50, l->commit.p50));
	}
	if (v->floor_error[0])
		fprintf(f, "  floor: error: %s\n", v->floor_error);
	for (i = 0; i < v->nr_lines; i++)
		if (v->lines[i].error[0])
			fprintf(f, "  %s: error: %s\n", v->lines[i].name, v->lines[i].error);
	fprintf(f, "\n");
}

/* ---- scale -------------------------------------------------------------------- */

/* A cell: ns in units of div, or "-" when nothing was measured. */
static const char *scale_cell(char *buf, size_t size, bool measured, double ns, double div)
{
	if (!measured)
		snprintf(buf, size, "-");
	else if (ns / div >= 100)
		snprintf(buf, size, "%.0f", ns / div);
	else if (ns / div >= 1)
		snprintf(buf, size, "%.1f", ns / div);
	else
		snprintf(buf, size, "%.2f", ns / div);
	return buf;
}

/* A ratio with the digits it needs: the O(N) rows span 0.001x to 1000x. */
static const char *scale_ratio(char *buf, size_t size, double r)
{
	if (r <= 0)
		snprintf(buf, size, "-");
	else if (r >= 100)
		snprintf(buf, size, "%.0fx", r);
	else if (r >= 0.01)
		snprintf(buf, size, "%.2fx", r);
	else
		snprintf(buf, size, "%.4fx", r);
	return buf;
}

static void scale_row_ns(FILE *f, const struct scale_result *s, const char *name, const char *unit,
			 const uint64_t *v, size_t stride, double div)
{
	char a[32];
	unsigned i;

	fprintf(f, "  %-16s %4s", name, unit);
	for (i = 0; i < s->nr_slots; i++) {
		uint64_t ns = *(const uint64_t *)((const char *)v + i * stride);

		fprintf(f, " %10s", scale_cell(a, 32, ns != 0, (double)ns, div));
	}
	fprintf(f, "\n");
}

void report_text_scale_slots(FILE *f, const struct scale_result *s)
{
	const size_t stride = sizeof(s->slots[0]);
	char a[32], w[200];
	unsigned i, m;

	fprintf(f, "scale (1): N memslots of 4 KiB from gpa 1 GiB (the middle one 8 KiB, so it can "
		"be split),\n  one VM per N, no vCPUs, all alive at once and measured in %u rounds "
		"that visit every N\n  in turn; p50 per measure of up to %u samples (%s)\n",
		s->rounds, s->samples, s->budgeted ? "fewer as N grows, or\n  once a measure's time "
		"budget is spent" : "--samples, no time budget");
	fprintf(f, "  %-16s %4s", "measure", "unit");
	for (i = 0; i < s->nr_slots; i++)
		fprintf(f, " %10u", s->slots[i].slots);
	fprintf(f, "\n");
	scale_row_ns(f, s, "map all", "ms", &s->slots[0].map_ns, stride, 1e6);
	for (m = 0; m < SM__COUNT; m++) {
		if (m == SM_SYNC_ONE)
			scale_row_ns(f, s, "log on, all", "ms", &s->slots[0].log_all_ns, stride, 1e6);
		fprintf(f, "  %-16s %4s", scale_measure_name((enum scale_measure)m),
			m == SM_LOOKUP ? "ns" : "us");
		for (i = 0; i < s->nr_slots; i++) {
			const struct stats *st = &s->slots[i].m[m];

			fprintf(f, " %10s", scale_cell(a, 32, st->n != 0, (double)st->p50,
						       m == SM_LOOKUP ? 1.0 : 1e3));
		}
		fprintf(f, "\n");
	}
	fprintf(f, "  %-16s %4s", "samples", "");
	for (i = 0; i < s->nr_slots; i++) {
		size_t lo = 0, hi = 0;

		for (m = 0; m < SM__COUNT; m++) {
			size_t n = s->slots[i].m[m].n;

			if (m == SM_LOOKUP || !n)
				continue;
			lo = !lo || n < lo ? n : lo;
			hi = n > hi ? n : hi;
		}
		snprintf(w, sizeof(w), lo == hi ? "%zu" : "%zu-%zu", lo, hi);
		fprintf(f, " %10s", w);
	}
	fprintf(f, "\n");
	for (i = 0; i < s->nr_slots; i++)
		if (s->slots[i].error[0])
			fprintf(f, "  %u slots: error: %s\n", s->slots[i].slots, s->slots[i].error);
	if (s->ref_slots) {
		fprintf(f, "  p50 / p50 at %u slots (* one slot: the issue's target is <= %.0fx; "
			"reported, not enforced):\n", s->ref_slots, SCALE_TARGET_SLOTS);
		for (m = 0; m < SM__COUNT; m++) {
			snprintf(w, sizeof(w), "%s%s", scale_measure_name((enum scale_measure)m),
				 scale_measure_one_slot((enum scale_measure)m) ? " *" : "");
			fprintf(f, "  %-16s %4s", w, "");
			for (i = 0; i < s->nr_slots; i++)
				fprintf(f, " %10s", scale_ratio(a, 32, s->slots[i].ratio[m]));
			fprintf(f, "\n");
		}
	}
	for (i = 0; i < s->nr_slots; i++) {
		enum scale_measure worst;
		bool met;

		if (!scale_slots_target_applies(s, i))
			continue;
		met = scale_slots_target_met(s, i, &worst);
		fprintf(f, "  target at %u slots, every one-slot measure <= %.0fx: %s", s->slots[i].slots,
			SCALE_TARGET_SLOTS, met ? "met" : "NOT met");
		if (worst < SM__COUNT)
			fprintf(f, " (worst: %s %.2fx)", scale_measure_name(worst),
				s->slots[i].ratio[worst]);
		fprintf(f, "\n");
	}
	fprintf(f, "  map all: the N slots mapped in one transaction; log on, all: LOG_DIRTY on "
		"every slot in\n  one transaction, before the syncs; gpa_to_hva: %u batches of %u "
		"lookups, ns per lookup\n", s->lookup_batches, s->lookups);
	for (m = 0; m < SM__COUNT; m++)
		fprintf(f, "    %-14s %s\n", scale_measure_name((enum scale_measure)m),
			scale_measure_what((enum scale_measure)m));
	fprintf(f, "\n");
}

void report_text_scale_gib(FILE *f, const struct scale_result *s)
{
	char a[32], b[32], r[32], h[32], io[32];
	unsigned i, k;

	fprintf(f, "scale (2): one logged slot of G GiB at gpa 1 TiB, no vCPUs: kvmhold_txn_commit() "
		"alone\n  (it holds the VM, instantly without vCPUs: this is the held window) next to "
		"the same\n  change by hand on a raw VM (KVM_GET_DIRTY_LOG of each slot that goes or "
		"stops logging,\n  then KVM_SET_USER_MEMORY_REGION); cycles alternate between the two; "
		"p50, seconds\n");
	fprintf(f, "  %6s %6s  %-8s %11s %11s %8s %7s %6s\n", "GiB", "cycles", "op", "kvmhold",
		"by hand", "ratio", "ioctls", "held");
	for (i = 0; i < s->nr_gib; i++) {
		const struct scale_gib_result *g = &s->gib[i];

		for (k = 0; k < SG__COUNT; k++) {
			unsigned reads, hand = scale_gib_hand_ioctls((enum scale_gib_op)k, &reads);

			if (g->lib[k].n)
				snprintf(a, sizeof(a), "%.4f s", (double)g->lib[k].p50 / 1e9);
			else
				snprintf(a, sizeof(a), "-");
			if (g->hand[k].n)
				snprintf(b, sizeof(b), "%.4f s", (double)g->hand[k].p50 / 1e9);
			else
				snprintf(b, sizeof(b), "-");
			if (g->lib[k].n)
				snprintf(io, sizeof(io), "%.0f/%u", g->ioctls[k], hand);
			else
				snprintf(io, sizeof(io), "-/%u", hand);
			if (!k)
				snprintf(h, sizeof(h), "%llu/%llu", (unsigned long long)g->held,
					 (unsigned long long)g->commits);
			else
				h[0] = '\0';
			if (k)
				fprintf(f, "  %6s %6s", "", "");
			else
				fprintf(f, "  %6u %6u", g->gib, g->cycles);
			fprintf(f, "  %-8s %11s %11s %8s %7s %6s\n",
				scale_gib_op_name((enum scale_gib_op)k), a, b,
				ratio_str(r, 32, g->ratio[k]), io, h);
		}
		fprintf(f, "  %6s %6s  dirty_held %llu pages; RSS %.1f MiB\n", "", "",
			(unsigned long long)g->dirty_held, (double)g->rss_kib / 1024);
		if (g->error[0])
			fprintf(f, "  %6s %6s  error: %s\n", "", "", g->error);
	}
	fprintf(f, "  ioctls: memslot ioctls per commit, kvmhold (last_txn_ioctls) / by hand (which "
		"also reads\n  the log: 2 KVM_GET_DIRTY_LOG for a merge, 1 otherwise); held: the "
		"library's timed commits\n  that held the VM; dirty_held (kvmhold_stats) and RSS "
		"(/proc/self/statm) after the cycles,\n  the library's VM still alive; RSS before "
		"part 2: %.1f MiB\n", (double)s->rss_base_kib / 1024);
	for (i = 0; i < s->nr_gib; i++) {
		const struct scale_gib_result *g = &s->gib[i];
		enum scale_gib_op worst;
		bool met;

		if (!scale_gib_target_applies(g))
			continue;
		met = scale_gib_target_met(g, &worst);
		fprintf(f, "  target at %u GiB, kvmhold <= %.0fx by hand for each op: %s", g->gib,
			SCALE_TARGET_GIB, met ? "met" : "NOT met");
		if (worst < SG__COUNT)
			fprintf(f, " (worst: %s %.2fx)", scale_gib_op_name(worst), g->ratio[worst]);
		fprintf(f, "\n");
	}
	fprintf(f, "  scale: %.1f s in all\n\n", s->seconds);
}
