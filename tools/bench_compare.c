// SPDX-License-Identifier: MIT
/*
 * `kvmhold-bench compare`: one thread changes the memslots while N vCPUs
 * walk the test region (GUEST_PROG_WALK), every strategy side by side, in
 * rounds next to a baseline without changes, the floor and ideal.
 * tools/README.md ("compare") describes the workload and every figure.  A
 * transaction that timed out is retried (the layout did not change); a
 * failed ioctl ends that strategy's run with an error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define COUNT_ONLY_LIMIT_S 600.0     /* --count without --duration: a hang guard */
#define MIGRATE_LIMIT_S    120.0     /* a migration check: a hang guard */
/* The migration check's P at least, so a page whose dirty bit got lost is seldom written again. */
#define MIGRATE_MIN_PAGES  256u

const struct cmp_op_info cmp_ops[CMP__COUNT] = {
	[CMP_SPLIT]  = { "split", BOP_SPLIT, false,
			 "split the walked slot in two (timed), merge it back (not timed)" },
	[CMP_MERGE]  = { "merge", BOP_MERGE, false,
			 "merge the walked slot's two halves (timed), split it again (not timed)" },
	[CMP_GROW]   = { "grow", BOP_GROW, false, "grow the walked slot from P to 2P pages in "
			 "place (timed), shrink it back (not timed)" },
	[CMP_SHRINK] = { "shrink", BOP_SHRINK, false, "shrink the walked slot from 2P to P pages "
			 "in place (timed), grow it back (not timed)" },
	[CMP_MOVE]   = { "move", BOP_MOVE, true,
			 "move a 4-page slot the guest does not touch, there and back (both timed)" },
	[CMP_LOG]    = { "log", BOP_LOG_ON, true,
			 "dirty logging on and off on the walked slot (both timed)" },
	[CMP_MIX]    = { "mix", BOP_SPLIT, true,
			 "split the walked slot in two and merge it back (both timed)" },
};

struct run_cfg {
	const struct bench_opts *o;
	unsigned vcpus, slots, pages;
	double rate;                 /* transactions per second, 0: as fast as possible */
	double slice_s;              /* seconds per line and round */
	uint64_t slice_count;        /* transactions per line and round (0: by time) */
};

/* One line of the table, accumulated over the rounds. */
struct line_acc {
	const struct strategy *s;    /* NULL: the baseline */
	struct strat_result *res;
	struct samples lat, pause, kind[BOP__COUNT];
	uint64_t pages;              /* walked inside the timed windows */
	bool failed;                 /* an error: no more rounds for this line */
	/* Per round (0: the line did not run in it). */
	uint64_t round_txn_p50[CMP_MAX_ROUNDS], round_pause_p50[CMP_MAX_ROUNDS];
	double round_pages_per_s[CMP_MAX_ROUNDS];
	bool round_ran[CMP_MAX_ROUNDS];
};

/* An error ends the line: no more rounds. */
static void line_error(struct line_acc *a, const char *what, const char *why)
{
	snprintf(a->res->error, sizeof(a->res->error), "%s: %s", what, why);
	a->failed = true;
}

/* The transactions of one slice; vCPUs running, layout in place. */
static void transact(struct strat_ctx *c, const struct run_cfg *rc, struct line_acc *a,
		     uint64_t t_start)
{
	const struct cmp_op_info *ci = &cmp_ops[rc->o->op];
	struct strat_result *res = a->res;
	uint64_t k, done = 0, limit_ns = (uint64_t)(rc->slice_s * 1e9);
	bool inverse = false;        /* the first transaction (always timed) or its inverse */

	for (k = 0; (!rc->slice_count || done < rc->slice_count) &&
		    bench_now_ns() - t_start < limit_ns; k++) {
		struct txn_sample smp = { 0 };
		enum bop op = inverse ? bop_inverse(ci->first) : ci->first;

		if (rc->rate > 0)
			bench_sleep_until(t_start + (uint64_t)((double)k * 1e9 / rc->rate));
		c->s->apply(c, op, &smp);
		res->ioctls += smp.ioctls;
		if (smp.timeout) {
			res->timeouts++;
			continue;        /* nothing changed: try the same one again */
		}
		if (smp.err) {
			res->errors++;
			line_error(a, bop_name(op), strerror(-smp.err));
			break;           /* the layout is unknown now */
		}
		done++;
		res->txns++;
		if (!inverse || ci->both_timed) {
			res->timed_txns++;
			samples_add(&a->lat, smp.lat_ns);
			samples_add(&a->kind[op], smp.lat_ns);
		}
		if (smp.paused)
			res->paused_txns++;
		/*
		 * Back to back, a pause often finds every vCPU still parked from
		 * the last one: it costs nothing and says nothing about stopping
		 * a vCPU, so only pauses that had to stop one are sampled.
		 */
		if (smp.paused && smp.kicked) {
			res->kicked_txns++;
			samples_add(&a->pause, smp.pause_ns);
		}
		inverse = !inverse;
		if (!(res->txns % 64))
			bench_progress("compare: %u vCPU(s), %s: %llu transactions", rc->vcpus,
				       res->name, (unsigned long long)res->txns);
	}
}

/* The p50 of s's samples past the first `from` (0: none); sorts them in place, harmlessly. */
static uint64_t p50_since(struct samples *s, size_t from)
{
	struct samples part = { .v = s->v + from, .n = s->n - from };
	struct stats st;

	stats_compute(&st, &part);
	return st.n ? st.p50 : 0;
}

/* One slice of one line on a fresh VM: the strategy's transactions (the baseline: just time). */
static void run_slice(const struct run_cfg *rc, struct line_acc *a, unsigned round)
{
	size_t lat0 = a->lat.n, pause0 = a->pause.n;
	const struct strategy *s = a->s;
	struct strat_result *res = a->res;
	struct bvm_opts bo = {
		.vcpus = rc->vcpus, .program = GUEST_PROG_WALK,
		.walk_pages = rc->pages, .region_pages = 4 * rc->pages, .kick = s ? s->kick : 0,
	};
	struct strat_ctx c = { .s = s };
	uint64_t pages, t0, t1;
	const char *why;
	int r;

	r = bvm_create(&bo, &c.m);
	if (r) {
		line_error(a, "creating the VM", strerror(-r));
		return;
	}
	c.l = (struct layout){ .gpa = c.m->t->test_gpa, .hva = (uintptr_t)c.m->t->test_hva,
			       .pages = rc->pages };
	r = strat_start(&c, rc->o->op == CMP_MERGE, rc->o->op == CMP_SHRINK, rc->slots,
			MOVE_TIMEOUT_MS, &why);
	if (r) {
		/* A setup that failed may have said why. */
		line_error(a, why, c.why ? c.why : strerror(-r));
		goto stop;
	}
	res->ran = true;
	pages = bvm_pages(c.m);
	t0 = bench_now_ns();
	if (s)
		transact(&c, rc, a, t0);
	else
		bench_sleep_ns((uint64_t)(rc->o->duration / rc->o->rounds * 1e9));
	t1 = bench_now_ns();
	pages = bvm_pages(c.m) - pages;
	res->seconds += (double)(t1 - t0) / 1e9;
	a->pages += pages;
	a->round_ran[round] = t1 > t0;
	if (t1 > t0)
		a->round_pages_per_s[round] = (double)pages * 1e9 / (double)(t1 - t0);
	a->round_txn_p50[round] = p50_since(&a->lat, lat0);
	a->round_pause_p50[round] = p50_since(&a->pause, pause0);
stop:
	bvm_stop(c.m);
	res->holes += bvm_holes(c.m);
	res->mismatches += bvm_mismatches(c.m);
	if (bvm_failure(c.m) && !res->error[0])
		line_error(a, "guest", bvm_failure(c.m));
	if (s && s->teardown)
		s->teardown(&c);
	bvm_destroy(c.m);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median and range of v[0..n), the rounds' values of one figure. */
static struct spread spread_of(double *v, unsigned n)
{
	struct spread sp = { .n = n };

	if (!n)
		return sp;
	qsort(v, n, sizeof(*v), cmp_double);
	sp.min = v[0];
	sp.max = v[n - 1];
	sp.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return sp;
}

/* A line's figures; progress against base (the baseline, done first), also round by round. */
static void finish_line(struct line_acc *a, const struct line_acc *base, unsigned rounds)
{
	double txn[CMP_MAX_ROUNDS], pause[CMP_MAX_ROUNDS], prog[CMP_MAX_ROUNDS];
	struct strat_result *res = a->res;
	unsigned k, nt = 0, np = 0, ng = 0;

	stats_take(&res->lat, &a->lat);
	stats_take(&res->pause, &a->pause);
	for (k = 0; k < BOP__COUNT; k++)
		stats_take(&res->by_kind[k], &a->kind[k]);
	if (res->seconds > 0) {
		res->pages_per_s = (double)a->pages / res->seconds;
		res->txn_per_s = (double)res->txns / res->seconds;
	}
	if (base->res->pages_per_s > 0)
		res->progress_pct = 100.0 * res->pages_per_s / base->res->pages_per_s;
	if (res->error[0])
		bench_err("compare: %s: %s", res->name, res->error);
	for (k = 0; k < rounds && k < CMP_MAX_ROUNDS; k++) {
		if (a->round_txn_p50[k])
			txn[nt++] = (double)a->round_txn_p50[k];
		if (a->round_pause_p50[k])
			pause[np++] = (double)a->round_pause_p50[k];
		/* A round the line ran counts, progress 0 included. */
		if (a->round_ran[k] && base->round_pages_per_s[k] > 0)
			prog[ng++] = 100.0 * a->round_pages_per_s[k] / base->round_pages_per_s[k];
	}
	res->round_txn_p50 = spread_of(txn, nt);
	res->round_pause_p50 = spread_of(pause, np);
	res->round_progress = spread_of(prog, ng);
}

/*
 * --migrate: after the timed rounds, each line (every strategy and ideal) runs
 * bench_migrate.c's check on a fresh VM of the same configuration (the walked
 * slot raised to MIGRATE_MIN_PAGES): --migrate-count of its own transactions
 * (--op), the dirty log read the way that VMM reads it.
 */
static void migrate_lines(const struct run_cfg *rc, struct compare_result *c)
{
	const struct bench_opts *o = rc->o;
	unsigned i;

	for (i = 0; i < c->nr_lines; i++) {
		struct strat_result *l = &c->lines[i];
		struct mig_opts mo = {
			.s = l->s, .vcpus = rc->vcpus,
			.pages = rc->pages > MIGRATE_MIN_PAGES ? rc->pages : MIGRATE_MIN_PAGES,
			.seq = { cmp_ops[o->op].first, bop_inverse(cmp_ops[o->op].first) },
			.split = o->op == CMP_MERGE, .grown = o->op == CMP_SHRINK, .extra_slots = rc->slots,
			.count = o->migrate_count, .limit_s = MIGRATE_LIMIT_S,
		};

		/* Asked again, not read from l->na: one snprintf() from one line into
		 * itself trips gcc's -Wrestrict (the TSan build). */
		char why[sizeof(l->na)];
		bool na = strategy_unavailable(l->s, why, sizeof(why));

		l->migrated = true;
		if (na || o->op == CMP_LOG) {
			l->mig = (struct mig_result){ .name = l->name, .vcpus = mo.vcpus,
						      .pages = mo.pages };
			if (na)
				snprintf(l->mig.na, sizeof(l->mig.na), "unavailable: %s", why);
			else
				snprintf(l->mig.na, sizeof(l->mig.na), "--op log switches logging off "
					 "every other transaction: nothing is tracked then");
			continue;
		}
		bench_progress("compare: %u vCPU(s): migration check: %s", rc->vcpus, l->name);
		if (mig_run(&mo, &l->mig) && l->mig.error[0])
			bench_err("compare: %s: migration check: %s", l->name, l->mig.error);
	}
}

/*
 * One configuration.  The lines run in rounds, each getting 1/rounds of its
 * time per round, in an order rotating from round to round, so that a change
 * of the machine's load (other work shares these cores) spreads over all lines
 * instead of falling on whichever ran then.  Each round starts with the floor.
 */
static int compare_one(const struct bench_opts *o, unsigned vcpus, unsigned slots, double rate,
		       struct compare_result *c)
{
	struct run_cfg rc = { .o = o, .vcpus = vcpus, .slots = slots, .rate = rate };
	struct line_acc acc[CMP_LINES + 1];
	struct samples floor = { 0 }, floor_all = { 0 };
	unsigned i, n = 0, round, samples = o->samples, per;
	int r, failed = 0;

	rc.pages = o->pages > vcpus ? o->pages : vcpus + (vcpus & 1);
	rc.slice_s = (o->count && !o->duration_given ? COUNT_ONLY_LIMIT_S : o->duration) / o->rounds;
	*c = (struct compare_result){ .vcpus = vcpus, .extra_slots = slots, .pages = rc.pages,
				      .op = o->op, .seconds = o->duration, .count = o->count,
				      .rate = rate, .rounds = o->rounds };

	c->baseline.name = "baseline";
	acc[n++] = (struct line_acc){ .s = NULL, .res = &c->baseline };
	/* The strategies chosen, then ideal. */
	for (i = 0; i <= NR_STRATEGIES; i++) {
		const struct strategy *s = i < NR_STRATEGIES ? strategies[i] : &strat_ideal;
		struct strat_result *l = &c->lines[c->nr_lines];

		if (i < NR_STRATEGIES && !(o->strategies & (1u << i)))
			continue;
		*l = (struct strat_result){ .s = s, .name = s->name };
		/* A line this KVM cannot run is shown as such and never started. */
		strategy_unavailable(s, l->na, sizeof(l->na));
		acc[n++] = (struct line_acc){ .s = s, .res = l, .failed = l->na[0] != '\0' };
		c->nr_lines++;
	}

	if (!o->samples_given && vcpus > 16)
		samples = samples / 4 ? samples / 4 : 1;
	per = (samples + o->rounds - 1) / o->rounds;
	for (round = 0; round < o->rounds; round++) {
		/* --count spread exactly over the rounds (a round may get none). */
		rc.slice_count = o->count / o->rounds + (round < o->count % o->rounds);
		if (o->count && !rc.slice_count)
			continue;
		bench_progress("compare: %u vCPU(s), round %u: floor", vcpus, round + 1);
		r = floor_measure(1, per, &floor, &c->floor_resends);
		if (!r && vcpus > 1)
			r = floor_measure(vcpus, per, &floor_all, &c->floor_resends);
		if (r) {
			bench_err("compare, %u vCPU(s): floor: %s", vcpus, strerror(-r));
			failed = 1;
		}
		for (i = 0; i < n; i++) {
			struct line_acc *a = &acc[(i + round) % n];

			if (a->failed)
				continue;
			bench_progress("compare: %u vCPU(s), round %u: %s", vcpus, round + 1,
				       a->res->name);
			run_slice(&rc, a, round);
		}
	}
	bench_progress_done();
	stats_take(&c->floor, &floor);
	stats_take(&c->floor_all, &floor_all);

	if (o->migrate)
		migrate_lines(&rc, c);

	for (i = 0; i < n; i++) {
		finish_line(&acc[i], &acc[0], o->rounds);
		failed |= !acc[i].res->ran && !acc[i].res->na[0];
	}
	failed |= c->baseline.error[0] != 0;
	return failed ? -EIO : 0;
}

int run_compare(const struct bench_opts *o, struct report *rep)
{
	/* Lists not given: 2 vCPUs; slots and rate 0, which their unset first entries hold. */
	unsigned nv = o->nr_vcpus ? o->nr_vcpus : 1, ns = o->nr_slots ? o->nr_slots : 1;
	unsigned nr = o->nr_rates ? o->nr_rates : 1, i, j, k;
	int failed = 0;

	rep->cmp = calloc((size_t)nv * ns * nr, sizeof(*rep->cmp));
	if (!rep->cmp)
		return -ENOMEM;
	for (i = 0; i < nv; i++) {
		for (j = 0; j < ns; j++) {
			for (k = 0; k < nr; k++) {
				struct compare_result *c = &rep->cmp[rep->nr_cmp++];

				failed |= compare_one(o, o->nr_vcpus ? o->vcpus[i] : 2, o->slots[j],
						      o->rates[k], c) != 0;
				summary_compare(stdout, c);
			}
		}
	}
	return failed ? -EIO : 0;
}
