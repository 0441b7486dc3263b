// SPDX-License-Identifier: MIT
/*
 * Samples and their percentiles.  Nearest-rank percentiles on the sorted
 * samples: p-th percentile = the smallest sample with at least p% of the
 * samples at or below it, so p100 is the maximum and every reported value
 * is a time that was actually measured.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

int samples_add(struct samples *s, uint64_t ns)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		uint64_t *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = ns;
	return 0;
}

void samples_free(struct samples *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void stats_compute(struct stats *st, struct samples *s)
{
	double sum = 0;
	unsigned i;
	size_t k;

	memset(st, 0, sizeof(*st));
	if (!s->n)
		return;
	qsort(s->v, s->n, sizeof(s->v[0]), cmp_u64);
	for (k = 0; k < s->n; k++)
		sum += (double)s->v[k];
	/* The i-th percentile is the sample of rank ceil(i% of n), p0 the first. */
	for (i = 0; i < STATS_QUANTILES; i++) {
		k = (size_t)ceil((double)i / 100.0 * (double)s->n);
		st->q[i] = s->v[k ? k - 1 : 0];
	}
	st->n = s->n;
	st->min = s->v[0];
	st->max = s->v[s->n - 1];
	st->mean = sum / (double)s->n;
	st->p50 = st->q[50];
	st->p90 = st->q[90];
	st->p99 = st->q[99];
}

void stats_take(struct stats *st, struct samples *s)
{
	stats_compute(st, s);
	samples_free(s);
}

double bench_ratio(uint64_t a, uint64_t b)
{
	return a && b ? (double)a / (double)b : 0;
}
