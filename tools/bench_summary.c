// SPDX-License-Identifier: MIT
/*
 * The terminal summary: the headline figures of each section, a line or
 * two, printed as soon as the section is measured.  Every figure is in the
 * JSON report, and tools/report.py draws the tables and charts from it.
 */
#include <stdarg.h>

#include "bench.h"

/*
 * The p50 of st in the unit that suits it ("12.3 us"), or "-" if nothing was
 * measured; in one of four static buffers, so that a line can print four.
 */
static const char *p50(const struct stats *st)
{
	static char bufs[4][32];
	static unsigned next;
	char *buf = bufs[next++ % 4];
	uint64_t ns = st->p50;

	if (!st->n)
		return "-";
	if (ns < 1000)
		snprintf(buf, sizeof(bufs[0]), "%llu ns", (unsigned long long)ns);
	else if (ns < 1000000)
		snprintf(buf, sizeof(bufs[0]), "%.1f us", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, sizeof(bufs[0]), "%.2f ms", (double)ns / 1e6);
	else
		snprintf(buf, sizeof(bufs[0]), "%.2f s", (double)ns / 1e9);
	return buf;
}

/* The next item of a list on one line: a space before the first, then commas. */
__attribute__((format(printf, 3, 4)))
static void item(FILE *f, unsigned *items, const char *fmt, ...)
{
	va_list ap;

	fputs((*items)++ ? ", " : " ", f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
}

/* "name 1.23x", or nothing when the ratio could not be taken. */
static void ratio_item(FILE *f, unsigned *items, const char *name, double r)
{
	if (r > 0)
		item(f, items, "%s %.2fx", name, r);
}

static void error_line(FILE *f, const char *what, const char *error)
{
	if (error[0])
		fprintf(f, "  %s: error: %s\n", what, error);
}

void summary_hold(FILE *f, const struct hold_result *h)
{
	unsigned i, n = 0;

	fprintf(f, "hold, %u vCPU(s): kvmhold_hold() p50 %s, / floor: p50 %.2fx, p99 %.2fx", h->vcpus,
		p50(&h->hold), h->r50, h->r99);
	if (h->target_applies)
		fprintf(f, " (target <= 1.5x, 3x: %s)", h->met ? "met" : "NOT met");
	fprintf(f, "\n  kernel lines p50 / floor:");
	for (i = 0; i < h->nr_lines; i++) {
		if (h->lines[i].na[0])
			item(f, &n, "%s unavailable", h->lines[i].s->name);
		ratio_item(f, &n, h->lines[i].s->name, h->lines[i].r50);
	}
	fprintf(f, "\n");
	error_line(f, "hold", h->error);
	for (i = 0; i < h->nr_lines; i++)
		error_line(f, h->lines[i].s->name, h->lines[i].error);
}

void summary_vcpus(FILE *f, const struct vcpus_result *v)
{
	const struct vcpus_line *kh = &v->lines[0], *ideal = &v->lines[v->nr_lines - 1];
	unsigned i, n = 0;

	fprintf(f, "vcpus, %u vCPU(s): kvmhold p50 stop %s, release %s, commit %s, held %s\n",
		v->vcpus, p50(&kh->stop), p50(&kh->release), p50(&kh->commit), p50(&kh->held));
	fprintf(f, "  kvmhold stop p50 / each peer's:");
	for (i = 1; i < v->nr_lines; i++)
		ratio_item(f, &n, v->lines[i].name, bench_ratio(kh->stop.p50, v->lines[i].stop.p50));
	/* What a commit's stop costs on top of its ioctls, against the bare stop. */
	fprintf(f, "\n  held p50 - ideal p50, / floor-all p50:");
	for (i = n = 0; i < v->nr_lines; i++) {
		const struct stats *h = &v->lines[i].held;

		if (h->n && ideal->commit.n && h->p50 > ideal->commit.p50)
			ratio_item(f, &n, v->lines[i].name,
				   bench_ratio(h->p50 - ideal->commit.p50, v->floor_all.p50));
	}
	fprintf(f, "\n");
	error_line(f, "floor", v->floor_error);
	for (i = 0; i < v->nr_lines; i++)
		error_line(f, v->lines[i].name, v->lines[i].error);
}

void summary_txn(FILE *f, const struct txn_result *t)
{
	unsigned i, n = 0, met = 0, measured = 0;

	fprintf(f, "txn, %u vCPU(s): kvmhold_txn_commit() p50 / ideal:", t->vcpus);
	for (i = 0; i < t->nr_ops; i++) {
		ratio_item(f, &n, bop_name(t->ops[i].op), t->ops[i].r50);
		measured += t->ops[i].kvmhold.n != 0;
		met += t->ops[i].met;
	}
	fprintf(f, "\n  target <= 1.2x met by %u of %u operations", met, measured);
	if (t->kernel_na[0])
		fprintf(f, "; kernel lines unavailable");
	if (t->gmem.n)
		fprintf(f, "; guest_memfd split + merge p50 / plain %.2fx",
			bench_ratio(t->gmem.p50, t->gmem_plain.p50));
	fprintf(f, "; guest: %llu holes, %llu mismatches\n", (unsigned long long)t->holes,
		(unsigned long long)t->mismatches);
	error_line(f, "txn", t->error);
	error_line(f, "kernel lines", t->kernel_error);
	error_line(f, "guest_memfd", t->gmem_error);
	for (i = 0; i < t->nr_slots; i++)
		error_line(f, "slots", t->slots[i].error);
}

void summary_compare(FILE *f, const struct compare_result *c)
{
	const struct strat_result *ideal = &c->lines[c->nr_lines - 1];
	unsigned i, n = 0;

	fprintf(f, "compare, %u vCPU(s), %u extra slot(s), op %s, ", c->vcpus, c->extra_slots,
		cmp_ops[c->op].name);
	if (c->rate > 0)
		fprintf(f, "%.0f/s: txn p50 / ideal:", c->rate);
	else
		fprintf(f, "as fast as possible: txn p50 / ideal:");
	for (i = 0; i + 1 < c->nr_lines; i++)
		ratio_item(f, &n, c->lines[i].name, bench_ratio(c->lines[i].lat.p50, ideal->lat.p50));
	fprintf(f, "\n  progress / holes + corrupt reads%s:", c->lines[0].migrated ?
		" / dirty pages lost" : "");
	for (i = 0, n = 0; i < c->nr_lines; i++) {
		const struct strat_result *l = &c->lines[i];

		if (!l->ran)
			continue;
		item(f, &n, "%s %.0f%% / %llu", l->name, l->progress_pct,
		     (unsigned long long)(l->holes + l->mismatches));
		if (l->migrated && l->mig.ran && !l->mig.error[0])
			fprintf(f, " / %llu", (unsigned long long)l->mig.lost);
	}
	fprintf(f, "\n");
	for (i = 0; i < c->nr_lines; i++) {
		error_line(f, c->lines[i].name, c->lines[i].error);
		error_line(f, c->lines[i].name, c->lines[i].mig.error);
	}
}

void summary_dirty(FILE *f, const struct dirty_result *d)
{
	const struct mig_result *m = d->mig;
	unsigned i, n = 0;

	fprintf(f, "dirty: sync of %llu MiB, p50 with %u pages written:",
		(unsigned long long)(d->region_bytes >> 20), d->sync[0].lv[SYNC_MANY].dirtied);
	for (i = 0; i < 2; i++)
		if (d->sync[i].ran)
			item(f, &n, "%s %s", d->sync[i].mech, p50(&d->sync[i].lv[SYNC_MANY].lat));
	fprintf(f, "\n  pages lost / unreported per 1000 transactions:");
	for (i = 0, n = 0; i < d->nr_mig; i++)
		if (m[i].ran)
			item(f, &n, "%s %.1f / %.1f", m[i].name, per_1000(m[i].lost, m[i].txns),
			     per_1000(m[i].unreported, m[i].txns));
	fprintf(f, "\n");
	for (i = 0; i < 2; i++)
		error_line(f, i ? "ring" : "bitmap", d->sync[i].error);
	for (i = 0; i < d->nr_mig; i++)
		error_line(f, m[i].name, m[i].error);
}

void summary_gate(FILE *f, const struct gate_result *g)
{
	fprintf(f, "gate: per call p50: mem %s (two threads %s), dirty mark %s, kick %s\n",
		p50(&g->mem), p50(&g->mem2), p50(&g->mark), p50(&g->kick));
	fprintf(f, "  kick of a running vCPU / floor: p50 %.2fx, p99 %.2fx; of a parked one: "
		"%zu returned, %u timed out\n", g->r50, g->r99, g->parked.n, g->parked_timeouts);
	error_line(f, "mem", g->mem_error);
	error_line(f, "dirty mark", g->mark_error);
	error_line(f, "kick + run", g->entry_error);
	error_line(f, "kick_running", g->running_error);
	error_line(f, "kick_parked", g->parked_error);
}

void summary_scale_slots(FILE *f, const struct scale_result *s)
{
	enum scale_measure worst;
	unsigned i, n = 0;

	fprintf(f, "scale: worst one-slot p50 / p50 at %u slots (target <= %.0fx):", s->ref_slots,
		SCALE_TARGET_SLOTS);
	for (i = 0; i < s->nr_slots; i++) {
		scale_slots_target_met(s, i, &worst);
		if (scale_slots_target_applies(s, i) && worst < SM__COUNT)
			item(f, &n, "%u slots %.2fx (%s)", s->slots[i].slots,
			     s->slots[i].ratio[worst], scale_measures[worst].name);
	}
	fprintf(f, "\n");
	for (i = 0; i < s->nr_slots; i++)
		error_line(f, "scale", s->slots[i].error);
}

void summary_scale_gib(FILE *f, const struct scale_result *s)
{
	enum scale_gib_op worst;
	unsigned i, n = 0;

	fprintf(f, "  held commit / by hand, worst op (target <= %.0fx at 1 TiB):", SCALE_TARGET_GIB);
	for (i = 0; i < s->nr_gib; i++) {
		const struct scale_gib_result *g = &s->gib[i];

		scale_gib_target_met(g, &worst);
		if (worst < SG__COUNT)
			item(f, &n, "%u GiB %.2fx (%s)", g->gib, g->ratio[worst],
			     scale_gib_ops[worst].name);
	}
	fprintf(f, "; %.1f s in all\n", s->seconds);
	for (i = 0; i < s->nr_gib; i++)
		error_line(f, "scale", s->gib[i].error);
}

void summary_seconds(FILE *f, const struct report *rep)
{
	const struct bench_opts *o = rep->opts;
	unsigned i, n = 0;

	fprintf(f, "\nwall time per section:");
	for (i = 0; i < o->nr_sections; i++)
		item(f, &n, "%s %.1f s", section_names[o->sections[i]], rep->seconds[o->sections[i]]);
	fprintf(f, "\n");
}
