// SPDX-License-Identifier: MIT
/*
 * The report as JSON, in the schema tools/README.md documents.  Within one
 * "schema_version" fields are only added; a removal or a change of meaning
 * bumps it.  Times are integer ns; a measurement not made is null, never 0.
 */
#include <errno.h>
#include <stdarg.h>

#include "bench.h"

struct jw {
	FILE *f;
	int depth;
	bool first;                  /* no member written yet at this depth */
};

/* s as a JSON string, or null when s is NULL. */
static void str(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/*
 * Starts a member ("key": ) or, k NULL, an array element, on a new line two
 * spaces a level in.  Keys are the report's own names: nothing to escape.
 */
static void key(struct jw *w, const char *k)
{
	fprintf(w->f, "%s\n%*s", w->first ? "" : ",", 2 * w->depth, "");
	w->first = false;
	if (k)
		fprintf(w->f, "\"%s\": ", k);
}

static void open_(struct jw *w, const char *k, char c)
{
	key(w, k);
	fputc(c, w->f);
	w->depth++;
	w->first = true;
}

static void close_(struct jw *w, char c)
{
	w->depth--;
	if (!w->first)
		fprintf(w->f, "\n%*s", 2 * w->depth, "");
	fputc(c, w->f);
	w->first = false;
}

static void obj(struct jw *w, const char *k) { open_(w, k, '{'); }
static void obj_end(struct jw *w) { close_(w, '}'); }
static void arr(struct jw *w, const char *k) { open_(w, k, '['); }
static void arr_end(struct jw *w) { close_(w, ']'); }

/* Member k (an array element when k is NULL): v printed, or null when not known. */
__attribute__((format(printf, 4, 5)))
static void val(struct jw *w, const char *k, bool known, const char *fmt, ...)
{
	va_list ap;

	key(w, k);
	if (!known) {
		fputs("null", w->f);
		return;
	}
	va_start(ap, fmt);
	vfprintf(w->f, fmt, ap);
	va_end(ap);
}

/* The _if writers take whether the value is known: what was not measured is never 0. */
static void u_if(struct jw *w, const char *k, uint64_t v, bool known)
{
	val(w, k, known, "%llu", (unsigned long long)v);
}

static void d_if(struct jw *w, const char *k, double v, bool known)
{
	val(w, k, known && v == v, "%.6g", v);
}

static void u_(struct jw *w, const char *k, uint64_t v) { u_if(w, k, v, true); }
static void d_(struct jw *w, const char *k, double v) { d_if(w, k, v, true); }
static void b_(struct jw *w, const char *k, bool v) { val(w, k, true, "%s", v ? "true" : "false"); }
static void null_(struct jw *w, const char *k) { u_if(w, k, 0, false); }
/* A ratio that could not be computed is null. */
static void ratio_(struct jw *w, const char *k, double v) { d_if(w, k, v, v > 0); }

static void s_(struct jw *w, const char *k, const char *v) { key(w, k); str(w->f, v); }
/* A string that is empty is null. */
static void s_nz(struct jw *w, const char *k, const char *v) { s_(w, k, v && v[0] ? v : NULL); }

/* Opens object k, or writes null when there is nothing to put in it. */
static bool obj_if(struct jw *w, const char *k, bool present)
{
	if (present)
		obj(w, k);
	else
		null_(w, k);
	return present;
}

/* Array k of the objects v[0..n), each sz bytes, whose members one() writes. */
static void objs(struct jw *w, const char *k, const void *v, unsigned n, size_t sz,
		 void (*one)(struct jw *, const void *))
{
	unsigned i;

	arr(w, k);
	for (i = 0; i < n; i++) {
		obj(w, NULL);
		one(w, (const char *)v + i * sz);
		obj_end(w);
	}
	arr_end(w);
}

static void stats_(struct jw *w, const char *k, const struct stats *st)
{
	unsigned i;

	if (!obj_if(w, k, st->n))
		return;
	u_(w, "n", st->n);
	u_(w, "min", st->min);
	u_(w, "p50", st->p50);
	u_(w, "p90", st->p90);
	u_(w, "p99", st->p99);
	u_(w, "max", st->max);
	d_(w, "mean", st->mean);
	key(w, "percentiles");
	for (i = 0; i < STATS_QUANTILES; i++)
		fprintf(w->f, "%c%llu", i ? ',' : '[', (unsigned long long)st->q[i]);
	fputc(']', w->f);
	obj_end(w);
}

/* A list option; null when it was not given (the sections' defaults). */
static void list_(struct jw *w, const char *k, const unsigned *v, unsigned n)
{
	unsigned i;

	key(w, k);
	for (i = 0; i < n; i++)
		fprintf(w->f, "%s%u", i ? ", " : "[", v[i]);
	fputs(n ? "]" : "null", w->f);
}

static void options(struct jw *w, const struct bench_opts *o)
{
	unsigned i;

	obj(w, "options");
	arr(w, "sections");
	for (i = 0; i < o->nr_sections; i++)
		s_(w, NULL, section_names[o->sections[i]]);
	arr_end(w);
	list_(w, "vcpus", o->vcpus, o->nr_vcpus);
	list_(w, "slots", o->slots, o->nr_slots);
	s_(w, "op", cmp_ops[o->op].name);
	arr(w, "strategies");
	for (i = 0; i < NR_STRATEGIES; i++)
		if (o->strategies & (1u << i))
			s_(w, NULL, strategies[i]->name);
	arr_end(w);
	d_if(w, "rate", o->rate, o->rate > 0);
	list_(w, "rates", o->rates, o->nr_rates);
	u_if(w, "count", o->count, o->count);
	d_(w, "duration_s", o->duration);
	u_(w, "rounds", o->rounds);
	u_(w, "samples", o->samples);
	u_(w, "pages", o->pages);
	b_(w, "migrate", o->migrate);
	u_(w, "migrate_count", o->migrate_count);
	u_(w, "region_mib", o->region_mib);
	u_(w, "sync_pages", o->sync_pages);
	u_(w, "sync_samples", o->sync_samples);
	u_(w, "park_timeout_ms", o->park_timeout_ms);
	list_(w, "scale_slots", o->scale_slots, o->nr_scale_slots);
	list_(w, "scale_gib", o->scale_gib, o->nr_scale_gib);
	obj_end(w);
}

static void machine(struct jw *w, const struct machine_info *mi)
{
	obj(w, "machine");
	s_(w, "kernel", mi->kernel);
	s_(w, "arch", mi->arch);
	s_nz(w, "kvm_backend", mi->backend);
	s_nz(w, "cpu_model", mi->cpu_model);
	u_(w, "cores", (uint64_t)(mi->cores > 0 ? mi->cores : 0));
	b_(w, "under_hypervisor", mi->hypervisor);
	u_(w, "kvm_nr_memslots", (uint64_t)(mi->nr_memslots > 0 ? mi->nr_memslots : 0));
	u_(w, "kvm_max_vcpus", (uint64_t)(mi->max_vcpus > 0 ? mi->max_vcpus : 0));
	obj_end(w);
}

/*
 * A per-round figure: null when no round measured it.  Times are integer
 * ns like every other time in the report; a percentage stays a number.
 */
static void spread_(struct jw *w, const char *k, const struct spread *sp, bool ns)
{
	if (!obj_if(w, k, sp->n))
		return;
	u_(w, "rounds", sp->n);
	if (ns) {
		u_(w, "median", (uint64_t)(sp->median + 0.5));
		u_(w, "min", (uint64_t)(sp->min + 0.5));
		u_(w, "max", (uint64_t)(sp->max + 0.5));
	} else {
		d_(w, "median", sp->median);
		d_(w, "min", sp->min);
		d_(w, "max", sp->max);
	}
	obj_end(w);
}

static void hold_line(struct jw *w, const void *p)
{
	const struct hold_line *l = p;

	s_(w, "name", l->s->name);
	s_(w, "description", l->what);
	s_nz(w, "unavailable", l->na);
	s_nz(w, "error", l->error);
	stats_(w, "latency", &l->lat);
	ratio_(w, "ratio_p50", l->r50);
	ratio_(w, "ratio_p99", l->r99);
	ratio_(w, "ratio_all_p50", l->r50_all);
	ratio_(w, "ratio_all_p99", l->r99_all);
}

static void hold(struct jw *w, const void *p)
{
	const struct hold_result *h = p;

	u_(w, "vcpus", h->vcpus);
	u_(w, "samples", h->samples);
	stats_(w, "floor", &h->floor);
	stats_(w, "floor_all", &h->floor_all);
	u_(w, "floor_resends", h->floor_resends);
	stats_(w, "kvmhold", &h->hold);
	stats_(w, "kvmhold_stop", &h->stop);
	ratio_(w, "ratio_p50", h->r50);
	ratio_(w, "ratio_p99", h->r99);
	ratio_(w, "ratio_all_p50", h->r50_all);
	ratio_(w, "ratio_all_p99", h->r99_all);
	d_(w, "kick_signals_per_hold", (double)h->signals_per_hold_x100 / 100.0);
	obj(w, "target");
	b_(w, "applies", h->target_applies);
	d_(w, "p50_max", 1.5);
	d_(w, "p99_max", 3.0);
	b_(w, "met", h->met);
	obj_end(w);
	s_nz(w, "error", h->error);
	objs(w, "lines", h->lines, h->nr_lines, sizeof(h->lines[0]), hold_line);
}

static void vcpus_line(struct jw *w, const void *p)
{
	const struct vcpus_line *l = p;

	s_(w, "name", l->name);
	s_nz(w, "unavailable", l->na);
	s_nz(w, "error", l->error);
	stats_(w, "stop", &l->stop);
	stats_(w, "release", &l->release);
	stats_(w, "commit", &l->commit);
	stats_(w, "held", &l->held);
}

static void vcpus(struct jw *w, const void *p)
{
	const struct vcpus_result *v = p;

	u_(w, "vcpus", v->vcpus);
	u_(w, "samples", v->samples);
	stats_(w, "floor_all", &v->floor_all);
	s_nz(w, "floor_error", v->floor_error);
	objs(w, "lines", v->lines, v->nr_lines, sizeof(v->lines[0]), vcpus_line);
}

static void txn_op(struct jw *w, const void *p)
{
	const struct txn_op_result *o = p;

	s_(w, "op", bop_name(o->op));
	stats_(w, "kvmhold", &o->kvmhold);
	stats_(w, "ideal", &o->ideal);
	ratio_(w, "ratio_p50", o->r50);
	d_(w, "ioctls_per_commit", o->ioctls_kvmhold);
	d_(w, "ioctls_ideal", o->ioctls_ideal);
	u_(w, "commits", o->commits);
	u_(w, "held_commits", o->held);
	u_(w, "diff_mismatches", o->diff_mismatch);
	obj(w, "target");
	d_(w, "p50_max", 1.2);
	b_(w, "met", o->met);
	obj_end(w);
	stats_(w, "kernel_ioctl", &o->kick);
	ratio_(w, "kernel_ioctl_ratio_p50", o->r50_kick);
	stats_(w, "kvmhold_kernel", &o->kh_kernel);
	ratio_(w, "kvmhold_kernel_ratio_p50", o->r50_kh_kernel);
}

static void txn_slots(struct jw *w, const void *p)
{
	const struct txn_slots_result *s = p;

	u_(w, "slots", s->slots);
	u_(w, "setup_ns", s->setup_ns);
	stats_(w, "split", &s->split);
	stats_(w, "merge", &s->merge);
	stats_(w, "ideal_split", &s->ideal_split);
	stats_(w, "ideal_merge", &s->ideal_merge);
	s_nz(w, "error", s->error);
}

static void txn(struct jw *w, const void *p)
{
	const struct txn_result *t = p;

	u_(w, "vcpus", t->vcpus);
	u_(w, "samples", t->samples);
	b_(w, "always_hold", (t->vm_flags & KVMHOLD_VM_ALWAYS_HOLD) != 0);
	objs(w, "ops", t->ops, t->nr_ops, sizeof(t->ops[0]), txn_op);
	objs(w, "slots", t->slots, t->nr_slots, sizeof(t->slots[0]), txn_slots);
	u_(w, "holes", t->holes);
	u_(w, "mismatches", t->mismatches);
	s_nz(w, "error", t->error);
	s_nz(w, "kernel_unavailable", t->kernel_na);
	s_nz(w, "kernel_error", t->kernel_error);
	obj(w, "guest_memfd");
	stats_(w, "split_merge", &t->gmem);
	stats_(w, "plain_split_merge", &t->gmem_plain);
	s_nz(w, "unavailable", t->gmem_na);
	s_nz(w, "error", t->gmem_error);
	obj_end(w);
}

/* One migration check (bench_migrate.c); null when m is NULL. */
static void migration(struct jw *w, const char *k, const struct mig_result *m, const char *what)
{
	bool ok;

	if (!obj_if(w, k, m))
		return;
	ok = m->ran && !m->error[0];
	s_(w, "name", m->name);
	if (what)
		s_(w, "description", what);
	b_(w, "ran", m->ran);
	s_nz(w, "error", m->error);
	s_nz(w, "not_applicable", m->na);
	u_(w, "vcpus", m->vcpus);
	u_(w, "pages", m->pages);
	u_(w, "transactions", m->txns);
	u_if(w, "lost", m->lost, ok);
	u_if(w, "unreported", m->unreported, ok);
	d_if(w, "lost_per_1000", per_1000(m->lost, m->txns), ok && m->txns);
	d_if(w, "unreported_per_1000", per_1000(m->unreported, m->txns), ok && m->txns);
	u_(w, "pages_copied", m->copied);
	u_(w, "log_reads_before_delete", m->log_reads);
	u_(w, "guest_writes", m->guest_writes);
	u_(w, "holes", m->holes);
	u_(w, "timeouts", m->timeouts);
	d_(w, "seconds", m->seconds);
	stats_(w, "sync_latency", &m->sync);
	obj_end(w);
}

static void line(struct jw *w, const struct compare_result *c, const struct strat_result *l)
{
	bool mig_ok = l->migrated && l->mig.ran && !l->mig.error[0];
	unsigned k;

	obj(w, NULL);
	s_(w, "name", l->name);
	s_(w, "description", l->s ? l->s->what : NULL);
	b_(w, "reference", l->s == &strat_ideal);
	b_(w, "ran", l->ran);
	s_nz(w, "error", l->error);
	s_nz(w, "unavailable", l->na);
	u_(w, "transactions", l->txns);
	u_(w, "timed_transactions", l->timed_txns);
	u_(w, "ioctls", l->ioctls);
	u_(w, "paused_transactions", l->paused_txns);
	u_(w, "kicked_pauses", l->kicked_txns);
	d_(w, "seconds", l->seconds);
	d_(w, "transactions_per_s", l->txn_per_s);
	stats_(w, "txn_latency", &l->lat);
	stats_(w, "pause_latency", &l->pause);
	obj(w, "by_kind");
	for (k = 0; k < BOP__COUNT; k++)
		if (l->by_kind[k].n)
			stats_(w, bop_name((enum bop)k), &l->by_kind[k]);
	obj_end(w);
	d_(w, "guest_pages_per_s", l->pages_per_s);
	d_if(w, "progress_pct", l->progress_pct, l->ran && c->baseline.pages_per_s > 0);
	obj(w, "rounds");
	spread_(w, "txn_p50", &l->round_txn_p50, true);
	spread_(w, "pause_p50", &l->round_pause_p50, true);
	spread_(w, "progress_pct", &l->round_progress, false);
	obj_end(w);
	u_(w, "holes", l->holes);
	u_(w, "corruption", l->mismatches);
	u_(w, "timeouts", l->timeouts);
	u_(w, "errors", l->errors);
	u_if(w, "dirty_pages_lost", l->mig.lost, mig_ok);
	u_if(w, "dirty_pages_unreported", l->mig.unreported, mig_ok);
	s_(w, "dirty_pages_lost_reason", mig_ok ? NULL : !l->migrated ?
	   "not measured: run with --migrate" : l->mig.na[0] ? l->mig.na :
	   l->mig.error[0] ? l->mig.error : "did not run");
	migration(w, "migration", l->migrated ? &l->mig : NULL, NULL);
	obj_end(w);
}

static void compare(struct jw *w, const void *p)
{
	const struct compare_result *c = p;
	unsigned i;

	u_(w, "vcpus", c->vcpus);
	u_(w, "extra_slots", c->extra_slots);
	u_(w, "pages", c->pages);
	s_(w, "op", cmp_ops[c->op].name);
	s_(w, "op_description", cmp_ops[c->op].what);
	d_(w, "duration_s", c->seconds);
	u_if(w, "count", c->count, c->count);
	d_if(w, "rate", c->rate, c->rate > 0);
	u_(w, "rounds", c->rounds);
	obj(w, "baseline");
	d_(w, "guest_pages_per_s", c->baseline.pages_per_s);
	u_(w, "holes", c->baseline.holes);
	u_(w, "corruption", c->baseline.mismatches);
	obj_end(w);
	stats_(w, "floor", &c->floor);
	stats_(w, "floor_all", &c->floor_all);
	u_(w, "floor_resends", c->floor_resends);
	arr(w, "strategies");
	for (i = 0; i < c->nr_lines; i++)
		line(w, c, &c->lines[i]);
	arr_end(w);
}

static void sync_levels(struct jw *w, const struct sync_result *s, double gib)
{
	unsigned k;

	arr(w, "levels");
	for (k = 0; k < SYNC_LEVELS; k++) {
		const struct sync_level *l = &s->lv[k];

		obj(w, NULL);
		u_(w, "dirty_pages", l->dirtied);
		stats_(w, "latency", &l->lat);
		u_if(w, "p50_ns_per_gib", (uint64_t)((double)l->lat.p50 / gib), l->lat.n);
		stats_(w, "ioctls_latency", &l->ioctls);
		d_(w, "reported_mean", l->reported);
		u_(w, "short_syncs", l->short_syncs);
		obj_end(w);
	}
	arr_end(w);
}

static void dirty(struct jw *w, const struct dirty_result *d)
{
	double gib;
	unsigned i;

	if (!obj_if(w, "dirty", d))
		return;
	gib = (double)d->region_bytes / (double)(1ull << 30);
	obj(w, "sync");
	u_(w, "region_bytes", d->region_bytes);
	u_(w, "samples", d->samples);
	arr(w, "mechanisms");
	for (i = 0; i < 2; i++) {
		const struct sync_result *s = &d->sync[i];

		obj(w, NULL);
		s_(w, "mechanism", i ? "ring" : "bitmap");
		b_(w, "ran", s->ran);
		s_nz(w, "error", s->error);
		u_if(w, "ring_bytes", s->ring_bytes, s->ring_bytes);
		u_if(w, "first_sync_ns", s->first_ns, s->mech != NULL);
		u_if(w, "first_sync_reported", s->first_reported, s->mech != NULL);
		sync_levels(w, s, gib);
		u_(w, "ring_full_exits", s->ring_full_exits);
		obj_end(w);
	}
	arr_end(w);
	obj_end(w);
	obj(w, "migration");
	u_(w, "vcpus", d->mig_vcpus);
	u_(w, "pages", d->mig_pages);
	u_(w, "transactions", d->mig_count);
	s_(w, "op", "mix");
	arr(w, "lines");
	for (i = 0; i < d->nr_mig; i++)
		migration(w, NULL, &d->mig[i], d->mig_what[i]);
	arr_end(w);
	obj_end(w);
	obj_end(w);
}

static void gate(struct jw *w, const struct gate_result *g)
{
	if (!obj_if(w, "gate", g))
		return;
	u_(w, "batches", g->batches);
	u_(w, "batch", g->batch);
	obj(w, "mem");
	stats_(w, "one_thread", &g->mem);
	stats_(w, "two_threads", &g->mem2);
	s_nz(w, "error", g->mem_error);
	obj_end(w);
	obj(w, "dirty_mark");
	stats_(w, "per_call", &g->mark);
	s_nz(w, "error", g->mark_error);
	obj_end(w);
	obj(w, "run_entry");
	stats_(w, "kick_run", &g->kick_run);
	stats_(w, "kick", &g->kick);
	s_nz(w, "error", g->entry_error);
	obj_end(w);
	obj(w, "kick_running");
	u_(w, "samples", g->samples);
	stats_(w, "latency", &g->running);
	stats_(w, "floor", &g->floor);
	u_(w, "floor_resends", g->floor_resends);
	ratio_(w, "ratio_p50", g->r50);
	ratio_(w, "ratio_p99", g->r99);
	s_nz(w, "error", g->running_error);
	obj_end(w);
	obj(w, "kick_parked");
	u_(w, "samples", g->parked_samples);
	u_(w, "timeout_ns", g->park_timeout_ns);
	u_(w, "returned", g->parked.n);
	u_(w, "timeouts", g->parked_timeouts);
	stats_(w, "latency", &g->parked);
	stats_(w, "after_release", &g->after_release);
	u_(w, "not_asleep", g->not_asleep);
	s_nz(w, "error", g->parked_error);
	obj_end(w);
	obj_end(w);
}

/* The "target" of scale: "worst" names the measure or op with the largest ratio. */
static void scale_target(struct jw *w, bool applies, double max, bool met, const char *worst)
{
	obj(w, "target");
	b_(w, "applies", applies);
	d_(w, "ratio_max", max);
	val(w, "met", applies, "%s", met ? "true" : "false");
	s_(w, "worst", applies ? worst : NULL);
	obj_end(w);
}

static void scale_slots(struct jw *w, const struct scale_result *s)
{
	unsigned i, m;

	arr(w, "slots");
	for (i = 0; i < s->nr_slots; i++) {
		const struct scale_slots_result *r = &s->slots[i];
		enum scale_measure worst;
		bool met;

		obj(w, NULL);
		u_(w, "slots", r->slots);
		u_if(w, "map_all_ns", r->map_ns, r->map_ns != 0);
		u_if(w, "log_all_ns", r->log_all_ns, r->log_all_ns != 0);
		arr(w, "measures");
		for (m = 0; m < SM__COUNT; m++) {
			obj(w, NULL);
			s_(w, "name", scale_measures[m].name);
			s_(w, "description", scale_measures[m].what);
			b_(w, "one_slot", scale_measures[m].one_slot);
			stats_(w, "latency", &r->m[m]);
			ratio_(w, "ratio", r->ratio[m]);
			obj_end(w);
		}
		arr_end(w);
		met = scale_slots_target_met(s, i, &worst);
		scale_target(w, scale_slots_target_applies(s, i), SCALE_TARGET_SLOTS, met,
			     worst < SM__COUNT ? scale_measures[worst].name : NULL);
		s_nz(w, "error", r->error);
		obj_end(w);
	}
	arr_end(w);
}

static void scale_gib(struct jw *w, const void *p)
{
	const struct scale_gib_result *g = p;
	enum scale_gib_op worst;
	unsigned k;
	bool met;

	u_(w, "gib", g->gib);
	u_(w, "bytes", (uint64_t)g->gib << 30);
	u_(w, "cycles", g->cycles);
	arr(w, "ops");
	for (k = 0; k < SG__COUNT; k++) {
		obj(w, NULL);
		s_(w, "op", scale_gib_ops[k].name);
		stats_(w, "kvmhold", &g->lib[k]);
		stats_(w, "by_hand", &g->hand[k]);
		ratio_(w, "ratio_p50", g->ratio[k]);
		d_if(w, "kvmhold_ioctls_per_commit", g->ioctls[k], g->lib[k].n);
		u_(w, "by_hand_memslot_ioctls", scale_gib_ops[k].hand_ioctls);
		u_(w, "by_hand_dirty_log_reads", scale_gib_ops[k].hand_log_reads);
		obj_end(w);
	}
	arr_end(w);
	u_(w, "commits", g->commits);
	u_(w, "held_commits", g->held);
	u_(w, "dirty_held", g->dirty_held);
	u_if(w, "rss_kib", g->rss_kib, g->rss_kib);
	met = scale_gib_target_met(g, &worst);
	scale_target(w, scale_gib_target_applies(g), SCALE_TARGET_GIB, met,
		     worst < SG__COUNT ? scale_gib_ops[worst].name : NULL);
	s_nz(w, "error", g->error);
}

static void scale(struct jw *w, const struct scale_result *s)
{
	if (!obj_if(w, "scale", s))
		return;
	u_(w, "rounds", s->rounds);
	u_(w, "samples", s->samples);
	b_(w, "time_budget", s->budgeted);
	u_(w, "lookups_per_batch", s->lookups);
	u_if(w, "ratio_reference_slots", s->ref_slots, s->ref_slots);
	scale_slots(w, s);
	u_if(w, "rss_before_gib_kib", s->rss_base_kib, s->rss_base_kib);
	objs(w, "gib", s->gib, s->nr_gib, sizeof(s->gib[0]), scale_gib);
	d_(w, "seconds", s->seconds);
	obj_end(w);
}

int report_json(const char *path, const struct report *rep)
{
	struct jw w = { .first = true };
	unsigned i;
	int r;

	w.f = fopen(path, "w");
	if (!w.f)
		return -errno;
	obj(&w, NULL);
	u_(&w, "schema_version", BENCH_SCHEMA_VERSION);
	s_(&w, "tool", "kvmhold-bench");
	val(&w, "library_version", true, "\"%d.%d\"", KVMHOLD_VERSION_MAJOR, KVMHOLD_VERSION_MINOR);
	s_(&w, "date", rep->machine.date);
	s_(&w, "command", rep->opts->cmdline);
	s_(&w, "time_unit", "ns");
	machine(&w, &rep->machine);
	options(&w, rep->opts);
	obj(&w, "section_seconds");
	for (i = 0; i < SEC__COUNT; i++)
		if (rep->seconds[i] > 0)
			d_(&w, section_names[i], rep->seconds[i]);
	obj_end(&w);
	objs(&w, "hold", rep->hold, rep->nr_hold, sizeof(rep->hold[0]), hold);
	objs(&w, "vcpus", rep->vcpus, rep->nr_vcpus, sizeof(rep->vcpus[0]), vcpus);
	objs(&w, "txn", rep->txn, rep->nr_txn, sizeof(rep->txn[0]), txn);
	objs(&w, "compare", rep->cmp, rep->nr_cmp, sizeof(rep->cmp[0]), compare);
	dirty(&w, rep->dirty);
	gate(&w, rep->gate);
	scale(&w, rep->scale);
	obj_end(&w);
	fputc('\n', w.f);
	r = ferror(w.f) ? -EIO : 0;
	if (fclose(w.f) && !r)
		r = -errno;
	return r;
}
