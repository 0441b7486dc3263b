// SPDX-License-Identifier: MIT
/*
 * `kvmhold-bench vcpus` (tools/README.md, "vcpus"): stop, release and a held
 * commit at 1 to 256 vCPUs, for the library and every peer that pauses, next
 * to floor-all and ideal.  The lines take turns within each vCPU count (all
 * for a few samples, then all again), so a change of load hits them alike.
 */
#include <errno.h>
#include <string.h>

#include "bench.h"

#define START_TIMEOUT_MS 60000
#define STOP_TIMEOUT_MS  5000     /* as the peers' own guards */
#define MAX_RETRIES      100      /* transactions that timed out, in a row */
#define BLOCKS           2

/*
 * Samples per line and vCPU count without --samples: many vCPUs on few cores
 * wait three times a sample for every thread to run again (about 1.5 s each at
 * 256 here: 3.1 s a sample and line, 2.4 s for each VM's start and end), so
 * fewer, to stay under 3 minutes (measured: 64 vCPUs 41 s with 8 samples, 256
 * vCPUs 103 s with 4, 66 s with 2).
 */
static unsigned default_samples(unsigned vcpus)
{
	return vcpus <= 8 ? 30 : vcpus <= 64 ? 6 : 3;
}

/* The lines, in the table's order; floor-all is measured by bench_floor.c. */
static const struct strategy *const vcpus_strategies[] = {
	&strat_kvmhold, &strat_kvmhold_kernel, &strat_qemu, &strat_kvmtool, &strat_ch,
	&strat_kernel_ioctl, &strat_ideal,
};
_Static_assert(ARRAY_SIZE(vcpus_strategies) <= VCPUS_LINES, "struct vcpus_result: a line each");

struct line_samples {
	struct samples stop, release, commit, held;
};

/* One stop and release sample, the strategy's way (hold or pause); 0: every vCPU runs again. */
static int stop_release(struct strat_ctx *c, struct line_samples *ls)
{
	static uint64_t before[TVM_MAX_VCPUS];
	uint64_t t0, t1, t2, ns;
	bool lib = c->s->tvm_loop, kicked;
	int r;

	t0 = bench_now_ns();
	r = lib ? kvmhold_hold(c->m->vm, STOP_TIMEOUT_MS) : c->s->pause(c, &ns, &kicked);
	t1 = bench_now_ns();
	if (r)
		return r;
	bvm_progress_all(c->m, before);   /* nobody moves while stopped */
	t2 = bench_now_ns();
	if (lib)
		kvmhold_release(c->m->vm);
	else
		c->s->resume(c);
	r = bvm_wait_all_past(c->m, before, START_TIMEOUT_MS);
	if (r)
		return r;
	samples_add(&ls->stop, t1 - t0);
	return samples_add(&ls->release, bench_now_ns() - t2);
}

/* One split and merge back, both timed; every vCPU back in the guest after. */
static int commit_pair(struct strat_ctx *c, struct line_samples *ls)
{
	static const enum bop ops[2] = { BOP_SPLIT, BOP_MERGE };
	unsigned k;
	int r;

	for (k = 0; k < 2; k++) {
		struct txn_sample smp;
		unsigned tries = 0;

		do {
			memset(&smp, 0, sizeof(smp));
			c->s->apply(c, ops[k], &smp);
		} while (smp.timeout && ++tries < MAX_RETRIES);   /* nothing changed: again */
		/* A last timeout's err is -ETIMEDOUT. */
		if (smp.err)
			return smp.err;
		r = samples_add(&ls->commit, smp.lat_ns);
		if (!r && smp.paused)
			r = samples_add(&ls->held, smp.held_ns);
		/* Each commit starts with every vCPU back in the guest. */
		if (!r)
			r = bvm_wait_all_moved(c->m, START_TIMEOUT_MS);
		if (r)
			return r;
	}
	return 0;
}

/* nr samples of one line on a fresh VM; 0 or -errno (why says what failed). */
static int line_block(const struct strategy *s, unsigned vcpus, unsigned nr,
		      struct line_samples *ls, const char **why)
{
	struct bvm_opts bo = {
		.vcpus = vcpus, .program = GUEST_PROG_WALK, .walk_pages = 2 * vcpus,
		.region_pages = 8 * vcpus, .kick = s->kick,
	};
	struct strat_ctx c = { .s = s };
	bool pauses = s->tvm_loop || s->pause;
	unsigned k;
	int r;

	*why = "creating the VM";
	r = bvm_create(&bo, &c.m);
	if (r)
		return r;
	c.l = (struct layout){ .gpa = c.m->t->test_gpa, .hva = (uintptr_t)c.m->t->test_hva,
			       .pages = bo.walk_pages };
	r = strat_start(&c, false, false, 0, START_TIMEOUT_MS, why);
	if (r && c.why)
		*why = c.why;
	for (k = 0; !r && k < nr; k++) {
		*why = "stop and release";
		if (pauses && s != &strat_ideal)
			r = stop_release(&c, ls);
		if (!r) {
			*why = "commit";
			r = commit_pair(&c, ls);
		}
		if (!(k % 4))
			bench_progress("vcpus: %u vCPU(s), %s, %u of %u", vcpus, s->name, k, nr);
	}
	bvm_stop(c.m);
	if (!r && bvm_failure(c.m)) {
		*why = bvm_failure(c.m);
		r = -EIO;
	}
	if (s->teardown)
		s->teardown(&c);
	bvm_destroy(c.m);
	return r;
}

static void vcpus_one(unsigned vcpus, unsigned samples, struct vcpus_result *v)
{
	struct line_samples ls[ARRAY_SIZE(vcpus_strategies)] = { 0 };
	struct samples floor_all = { 0 };
	unsigned b, i, resends = 0, per = (samples + BLOCKS - 1) / BLOCKS;
	int r;

	*v = (struct vcpus_result){ .vcpus = vcpus, .samples = samples,
				    .nr_lines = ARRAY_SIZE(vcpus_strategies) };
	for (i = 0; i < v->nr_lines; i++) {
		v->lines[i].name = vcpus_strategies[i]->name;
		strategy_unavailable(vcpus_strategies[i], v->lines[i].na, sizeof(v->lines[i].na));
	}
	for (b = 0; b < BLOCKS; b++) {
		unsigned nr = samples - b * per < per ? samples - b * per : per;

		r = floor_measure(vcpus, nr, &floor_all, &resends);
		if (r && !v->floor_error[0])
			snprintf(v->floor_error, sizeof(v->floor_error), "%s", strerror(-r));
		for (i = 0; i < v->nr_lines; i++) {
			struct vcpus_line *l = &v->lines[i];
			const char *why = "";

			if (l->na[0] || l->error[0])
				continue;
			r = line_block(vcpus_strategies[i], vcpus, nr, &ls[i], &why);
			if (r)
				snprintf(l->error, sizeof(l->error), "%s: %s", why, strerror(-r));
		}
	}
	bench_progress_done();
	stats_take(&v->floor_all, &floor_all);
	for (i = 0; i < v->nr_lines; i++) {
		stats_take(&v->lines[i].stop, &ls[i].stop);
		stats_take(&v->lines[i].release, &ls[i].release);
		stats_take(&v->lines[i].commit, &ls[i].commit);
		stats_take(&v->lines[i].held, &ls[i].held);
	}
}

int run_vcpus(const struct bench_opts *o, struct report *rep)
{
	static const unsigned def[] = { 1, 2, 8, 64, 256 };
	const unsigned *list = o->nr_vcpus ? o->vcpus : def;
	unsigned n = o->nr_vcpus ? o->nr_vcpus : ARRAY_SIZE(def), i, k;
	int failed = 0;

	for (i = 0; i < n && rep->nr_vcpus < BENCH_MAX_LIST; i++) {
		struct vcpus_result *v = &rep->vcpus[rep->nr_vcpus++];

		vcpus_one(list[i], o->samples_given ? o->samples : default_samples(list[i]), v);
		summary_vcpus(stdout, v);
		failed |= v->floor_error[0] != 0;
		for (k = 0; k < v->nr_lines; k++)
			failed |= v->lines[k].error[0] != 0;
	}
	return failed ? -EIO : 0;
}
