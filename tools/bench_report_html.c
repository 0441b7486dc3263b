// SPDX-License-Identifier: MIT
/*
 * The report as one self-contained HTML page: inline CSS and inline SVG,
 * no script, no network, no external font.  Every line of a comparison
 * carries data-strategy="<name>" (table rows and chart legends), which is
 * what `make check-report` looks for in the rendered page.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "bench.h"

#define W        900             /* chart width */
#define LEFT     150             /* room for the row labels */
#define RIGHT    20
#define ROW_H    22

static const char *color_of(const char *name)
{
	static const struct { const char *name, *color; } colors[] = {
		{ "naive", "#d62728" }, { "qemu", "#ff7f0e" }, { "kvmtool", "#8c564b" },
		{ "cloud-hypervisor", "#9467bd" }, { "kvmhold", "#2ca02c" },
		{ "kernel-ioctl", "#17becf" }, { "kvmhold-kernel", "#006d2c" },
		{ "ideal", "#1f77b4" }, { "floor", "#7f7f7f" }, { "floor, all", "#bcbd22" },
		{ "kvmhold-ring", "#98df8a" }, { "naive-initially-set", "#ff9896" },
		{ "bitmap", "#2ca02c" }, { "ring", "#98df8a" },
	};
	size_t i;

	for (i = 0; i < sizeof(colors) / sizeof(colors[0]); i++)
		if (!strcmp(name, colors[i].name))
			return colors[i].color;
	return "#333333";
}

static void esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
	}
}

static const char *t_(char *buf, size_t size, const struct stats *st, uint64_t v)
{
	if (!st->n)
		snprintf(buf, size, "&ndash;");
	else
		fmt_ns(buf, size, v);
	return buf;
}

/* ---- log-scale time axis --------------------------------------------------- */

struct axis {
	double lo, hi;               /* log10 of ns */
	int x0, x1;
};

static void axis_init(struct axis *a, uint64_t lo, uint64_t hi, int x0, int x1)
{
	if (lo < 100)
		lo = 100;
	if (hi <= lo)
		hi = lo * 10;
	a->lo = floor(log10((double)lo));
	a->hi = ceil(log10((double)hi));
	if (a->hi <= a->lo)
		a->hi = a->lo + 1;
	a->x0 = x0;
	a->x1 = x1;
}

static double axis_x(const struct axis *a, uint64_t ns)
{
	double v = log10(ns < 1 ? 1.0 : (double)ns);

	if (v < a->lo)
		v = a->lo;
	if (v > a->hi)
		v = a->hi;
	return a->x0 + (v - a->lo) / (a->hi - a->lo) * (a->x1 - a->x0);
}

/* 10^d ns as "10 us", "1 ms"... */
static void tick_label(char *buf, size_t size, double d)
{
	static const char *const units[] = { "ns", "us", "ms", "s" };
	int e = (int)(d + 0.5), u = e / 3;

	if (u > 3)
		u = 3;
	snprintf(buf, size, "%.0f %s", pow(10, e - 3 * u), units[u]);
}

static void axis_draw(FILE *f, const struct axis *a, int y0, int y1)
{
	double d;

	for (d = a->lo; d <= a->hi + 1e-9; d += 1) {
		double x = a->x0 + (d - a->lo) / (a->hi - a->lo) * (a->x1 - a->x0);
		char label[32];

		tick_label(label, sizeof(label), d);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"grid\"/>\n",
			x, y0, x, y1);
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"tick\" text-anchor=\"middle\">%s</text>\n",
			x, y1 + 14, label);
	}
}

/* ---- compare ------------------------------------------------------------------ */

static void line_row(FILE *f, const struct strat_result *l)
{
	char a[32], b[32], c[32], d[32], e[32], g[32];

	fprintf(f, "<tr data-strategy=\"");
	esc(f, l->name);
	fprintf(f, "\"><th><span class=\"sw\" style=\"background:%s\"></span>", color_of(l->name));
	esc(f, l->name);
	if (l->na[0]) {
		fprintf(f, "</th><td colspan=\"13\" class=\"na\" style=\"text-align:left\">"
			"unavailable: ");
		esc(f, l->na);
		fprintf(f, "</td></tr>\n");
		return;
	}
	fprintf(f, "</th><td>%llu</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
		"<td>%s</td><td>%s</td>", (unsigned long long)l->txns,
		t_(a, 32, &l->lat, l->lat.p50), t_(b, 32, &l->lat, l->lat.p90),
		t_(c, 32, &l->lat, l->lat.p99), t_(d, 32, &l->lat, l->lat.max),
		t_(e, 32, &l->pause, l->pause.p50), t_(g, 32, &l->pause, l->pause.p99));
	if (l->ran)
		fprintf(f, "<td>%.0f%%</td>", l->progress_pct);
	else
		fprintf(f, "<td>&ndash;</td>");
	fprintf(f, "<td class=\"%s\">%llu</td><td class=\"%s\">%llu</td><td>%llu</td><td>%llu</td>",
		l->holes ? "bad" : "", (unsigned long long)l->holes,
		l->mismatches ? "bad" : "", (unsigned long long)l->mismatches,
		(unsigned long long)l->timeouts, (unsigned long long)l->errors);
	if (l->migrated && l->mig.ran && !l->mig.error[0])
		fprintf(f, "<td class=\"%s\">%llu / %llu</td></tr>\n",
			l->mig.lost || l->mig.unreported ? "bad" : "", (unsigned long long)l->mig.lost,
			(unsigned long long)l->mig.unreported);
	else
		fprintf(f, "<td class=\"na\">n/a</td></tr>\n");
	if (l->error[0]) {
		fprintf(f, "<tr><td></td><td colspan=\"13\" class=\"bad\">");
		esc(f, l->error);
		fprintf(f, "</td></tr>\n");
	}
}

/* Cumulative distribution of the transaction latencies, log time axis. */
static void cdf_chart(FILE *f, const struct compare_result *c)
{
	const int top = 10, h = 260, x0 = 60, x1 = W - 170;
	uint64_t lo = UINT64_MAX, hi = 0;
	struct axis ax;
	unsigned i, k, shown = 0;

	for (i = 0; i < c->nr_lines; i++) {
		const struct stats *st = &c->lines[i].lat;

		if (!st->n)
			continue;
		lo = st->min < lo ? st->min : lo;
		hi = st->max > hi ? st->max : hi;
	}
	if (c->floor.n) {
		lo = c->floor.min < lo ? c->floor.min : lo;
		hi = c->floor.max > hi ? c->floor.max : hi;
	}
	if (!hi)
		return;
	axis_init(&ax, lo, hi, x0, x1);
	fprintf(f, "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		"role=\"img\" aria-label=\"transaction latency distribution\">\n",
		W, top + h + 40, W, top + h + 40);
	axis_draw(f, &ax, top, top + h);
	for (k = 0; k <= 100; k += 25) {
		double y = top + h - (double)k / 100.0 * h;

		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"grid\"/>"
			"<text x=\"%d\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">%u%%</text>\n",
			x0, y, x1, y, x0 - 6, y + 4, k);
	}
	fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"axis\" text-anchor=\"middle\">"
		"transaction latency (log scale); y: share of transactions at or below</text>\n",
		(x0 + x1) / 2, top + h + 34);
	for (i = 0; i <= c->nr_lines; i++) {
		const struct stats *st = i < c->nr_lines ? &c->lines[i].lat : &c->floor;
		const char *name = i < c->nr_lines ? c->lines[i].name : "floor";
		double ly = top + 14 + shown * 20.0;

		if (!st->n)
			continue;
		fprintf(f, "<g data-strategy=\"");
		esc(f, name);
		fprintf(f, "\"><polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"",
			color_of(name), i == c->nr_lines ? " stroke-dasharray=\"5,4\"" : "");
		for (k = 0; k < STATS_QUANTILES; k++)
			fprintf(f, "%.1f,%.1f ", axis_x(&ax, st->q[k]),
				top + h - (double)k / 100.0 * h);
		fprintf(f, "\"/><line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" "
			"stroke-width=\"3\"/><text x=\"%d\" y=\"%.1f\" class=\"legend\">", x1 + 16, ly,
			x1 + 36, ly, color_of(name), x1 + 42, ly + 4);
		esc(f, name);
		fprintf(f, "</text></g>\n");
		shown++;
	}
	fprintf(f, "</svg>\n");
}

/* p50 .. p99 of the pause latency (pauses that stopped a running vCPU), and the floor. */
static void pause_chart(FILE *f, const struct compare_result *c)
{
	const struct stats *st[CMP_LINES + 2];
	const char *names[CMP_LINES + 2];
	uint64_t lo = UINT64_MAX, hi = 0;
	unsigned i, n = 0;
	struct axis ax;
	int h;

	if (c->floor.n) {
		st[n] = &c->floor;
		names[n++] = "floor";
	}
	if (c->floor_all.n) {
		st[n] = &c->floor_all;
		names[n++] = "floor, all";
	}
	for (i = 0; i < c->nr_lines; i++) {
		if (!c->lines[i].pause.n)
			continue;
		st[n] = &c->lines[i].pause;
		names[n++] = c->lines[i].name;
	}
	for (i = 0; i < n; i++) {
		lo = st[i]->p50 < lo ? st[i]->p50 : lo;
		hi = st[i]->p99 > hi ? st[i]->p99 : hi;
	}
	if (!n || !hi)
		return;
	h = (int)n * ROW_H;
	axis_init(&ax, lo, hi, LEFT, W - RIGHT);
	fprintf(f, "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		"role=\"img\" aria-label=\"pause latency\">\n", W, h + 30, W, h + 30);
	axis_draw(f, &ax, 0, h);
	for (i = 0; i < n; i++) {
		double y = i * ROW_H + ROW_H / 2.0;
		double x50 = axis_x(&ax, st[i]->p50), x90 = axis_x(&ax, st[i]->p90);
		double x99 = axis_x(&ax, st[i]->p99);

		fprintf(f, "<g data-strategy=\"");
		esc(f, names[i]);
		fprintf(f, "\"><text x=\"%d\" y=\"%.1f\" class=\"label\" text-anchor=\"end\">",
			LEFT - 8, y + 4);
		esc(f, names[i]);
		fprintf(f, "</text><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"10\" "
			"fill=\"%s\" opacity=\"0.35\"/><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
			"y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/><line x1=\"%.1f\" y1=\"%.1f\" "
			"x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1\"/></g>\n",
			x50, y - 5, x99 - x50 > 1 ? x99 - x50 : 1, color_of(names[i]), x50, y - 7, x50,
			y + 7, color_of(names[i]), x90, y - 5, x90, y + 5, color_of(names[i]));
	}
	fprintf(f, "</svg>\n<p class=\"small\">Thick mark: p50; thin mark: p90; the band runs "
		"to p99.</p>\n");
}

/* Horizontal bars: one value per line, labelled. */
static void bar_chart_c(FILE *f, const char *label, const char *const *names, const double *v,
			const char *const *text, const char *const *colors, unsigned n,
			double scale_max, double ref)
{
	int h = (int)n * ROW_H, x0 = LEFT, x1 = W - 90;
	unsigned i;

	if (scale_max <= 0)
		scale_max = 1;
	fprintf(f, "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		"role=\"img\" aria-label=\"%s\">\n", W, h + 8, W, h + 8, label);
	for (i = 0; i < n; i++) {
		double y = i * ROW_H + 4, w = v[i] / scale_max * (x1 - x0);

		if (w > x1 - x0)
			w = x1 - x0;
		if (v[i] > 0 && w < 2)
			w = 2;
		fprintf(f, "<g data-strategy=\"");
		esc(f, names[i]);
		fprintf(f, "\"><text x=\"%d\" y=\"%.1f\" class=\"label\" text-anchor=\"end\">", x0 - 8,
			y + 12);
		esc(f, names[i]);
		fprintf(f, "</text><rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"15\" fill=\"%s\"/>"
			"<text x=\"%.1f\" y=\"%.1f\" class=\"value\">%s</text></g>\n", x0, y, w,
			colors ? colors[i] : color_of(names[i]), x0 + w + 6, y + 12, text[i]);
	}
	if (ref > 0) {
		double x = x0 + ref / scale_max * (x1 - x0);

		fprintf(f, "<line x1=\"%.1f\" y1=\"0\" x2=\"%.1f\" y2=\"%d\" class=\"ref\"/>\n", x, x, h + 4);
	}
	fprintf(f, "</svg>\n");
}

static void bar_chart(FILE *f, const char *label, const char *const *names, const double *v,
		      const char *const *text, unsigned n, double scale_max, double ref)
{
	bar_chart_c(f, label, names, v, text, NULL, n, scale_max, ref);
}

static void progress_chart(FILE *f, const struct compare_result *c)
{
	const char *names[CMP_LINES];
	const char *text[CMP_LINES];
	char buf[CMP_LINES][32];
	double v[CMP_LINES];
	unsigned i;

	for (i = 0; i < c->nr_lines; i++) {
		names[i] = c->lines[i].name;
		v[i] = c->lines[i].ran ? c->lines[i].progress_pct : 0;
		snprintf(buf[i], sizeof(buf[i]), c->lines[i].ran ? "%.0f%%" :
			 c->lines[i].na[0] ? "unavailable" : "not run", v[i]);
		text[i] = buf[i];
	}
	bar_chart(f, "guest progress", names, v, text, c->nr_lines, 125, 100);
	fprintf(f, "<p class=\"small\">Guest pages walked per second, in %% of the baseline "
		"(%.0f pages/s without memslot changes); the line marks 100%%.</p>\n",
		c->baseline_pages_per_s);
}

static void damage_chart(FILE *f, const struct compare_result *c)
{
	const char *names[2 * CMP_LINES];
	const char *text[2 * CMP_LINES];
	char buf[2 * CMP_LINES][64], nm[2 * CMP_LINES][48];
	double v[2 * CMP_LINES], max = 0;
	unsigned i, n = 0;

	for (i = 0; i < c->nr_lines; i++) {
		const struct strat_result *l = &c->lines[i];

		if (l->na[0])
			continue;
		v[n] = (double)l->holes;
		snprintf(buf[n], sizeof(buf[n]), "%llu hole exits", (unsigned long long)l->holes);
		snprintf(nm[n], sizeof(nm[n]), "%s", l->name);
		names[n] = nm[n];
		text[n] = buf[n];
		n++;
		v[n] = (double)l->mismatches;
		snprintf(buf[n], sizeof(buf[n]), "%llu corrupted reads", (unsigned long long)l->mismatches);
		snprintf(nm[n], sizeof(nm[n]), "%s", l->name);
		names[n] = nm[n];
		text[n] = buf[n];
		n++;
	}
	for (i = 0; i < n; i++)
		max = v[i] > max ? v[i] : max;
	bar_chart(f, "holes and corruption", names, v, text, n, max, 0);
}

/* ---- migration checks ------------------------------------------------------------ */

static void mig_table(FILE *f, const struct mig_result *const *m, const char *const *what,
		      unsigned n)
{
	char a[32], b[32];
	unsigned i;

	fprintf(f, "<table class=\"lines\"><thead><tr><th>line</th><th>txns</th><th>lost</th>"
		"<th>/1000 txns</th><th>unreported</th><th>/1000 txns</th><th>copied/txn</th>"
		"<th>writes/txn</th><th>log reads</th><th>holes</th><th>sync p50</th><th>p99</th>"
		"</tr></thead><tbody>\n");
	for (i = 0; i < n; i++) {
		fprintf(f, "<tr data-strategy=\"");
		esc(f, m[i]->name);
		fprintf(f, "\"><th><span class=\"sw\" style=\"background:%s\"></span>",
			color_of(m[i]->name));
		esc(f, m[i]->name);
		fprintf(f, "</th>");
		if (!m[i]->ran || m[i]->error[0]) {
			fprintf(f, "<td colspan=\"11\" class=\"%s\" style=\"text-align:left\">",
				m[i]->error[0] ? "bad" : "na");
			esc(f, m[i]->na[0] ? m[i]->na : m[i]->error[0] ? m[i]->error : "did not run");
			fprintf(f, "</td></tr>\n");
			continue;
		}
		fprintf(f, "<td>%llu</td><td class=\"%s\">%llu</td><td>%.1f</td><td class=\"%s\">%llu"
			"</td><td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%llu</td><td>%llu</td><td>%s</td>"
			"<td>%s</td></tr>\n", (unsigned long long)m[i]->txns, m[i]->lost ? "bad" : "",
			(unsigned long long)m[i]->lost, per_1000(m[i]->lost, m[i]->txns),
			m[i]->unreported ? "bad" : "", (unsigned long long)m[i]->unreported,
			per_1000(m[i]->unreported, m[i]->txns),
			(double)m[i]->copied / (double)m[i]->txns,
			(double)m[i]->guest_writes / (double)m[i]->txns,
			(unsigned long long)m[i]->log_reads, (unsigned long long)m[i]->holes,
			t_(a, 32, &m[i]->sync, m[i]->sync.p50), t_(b, 32, &m[i]->sync, m[i]->sync.p99));
	}
	fprintf(f, "</tbody></table>\n");
	if (what) {
		fprintf(f, "<ul class=\"small\">\n");
		for (i = 0; i < n; i++) {
			fprintf(f, "<li data-strategy=\"");
			esc(f, m[i]->name);
			fprintf(f, "\"><b>");
			esc(f, m[i]->name);
			fprintf(f, "</b>: ");
			esc(f, what[i]);
			fprintf(f, "</li>\n");
		}
		fprintf(f, "</ul>\n");
	}
	fprintf(f, "<p class=\"small\"><b>Lost</b>: pages whose final copy differs from the guest's "
		"memory (a migration would resume the guest with them stale). <b>Unreported</b>: pages "
		"that held the round's value yet no sync reported them: their dirty bit was lost (a "
		"later write may have covered it again, so not every one is lost at the end). "
		"Copied/txn: pages the syncs reported per transaction (what reporting too much "
		"costs); writes/txn: guest writes per transaction; log reads: "
		"<code>KVM_GET_DIRTY_LOG</code> before a slot went away; holes: guest accesses that "
		"found no memslot.</p>\n");
}

static void mig_chart(FILE *f, const struct mig_result *const *m, unsigned n)
{
	const char *names[CMP_LINES + DIRTY_MIG_LINES], *text[CMP_LINES + DIRTY_MIG_LINES];
	char buf[CMP_LINES + DIRTY_MIG_LINES][64];
	double v[CMP_LINES + DIRTY_MIG_LINES], max = 0;
	unsigned i, k = 0;

	for (i = 0; i < n && k < CMP_LINES + DIRTY_MIG_LINES; i++) {
		if (!m[i]->ran || m[i]->error[0])
			continue;
		names[k] = m[i]->name;
		v[k] = per_1000(m[i]->unreported, m[i]->txns);
		snprintf(buf[k], sizeof(buf[k]), "%.1f unreported, %.1f lost per 1000 txns", v[k],
			 per_1000(m[i]->lost, m[i]->txns));
		text[k] = buf[k];
		max = v[k] > max ? v[k] : max;
		k++;
	}
	if (k)
		bar_chart(f, "dirty pages unreported per 1000 transactions", names, v, text, k, max, 0);
}

static void migration_block(FILE *f, const struct compare_result *c)
{
	const struct mig_result *m[CMP_LINES];
	unsigned i;

	fprintf(f, "<h3>Migration check (<code>--migrate</code>)</h3>\n<p>Each line on a fresh VM: "
		"the guests write the round number into random pages of %u pages (the walked slot, "
		"at least 256 pages here); each "
		"round one transaction of the line (<code>--op</code>), then a sync the way that VMM "
		"reads the dirty log (kvmhold: <code>kvmhold_dirty_sync()</code>; the others: "
		"<code>KVM_GET_DIRTY_LOG</code> before each delete, under the line's pause if it has "
		"one, and of every logged slot after the transaction), and a copy of what it "
		"reported; at the end, nothing running, a last sync and copy.</p>\n",
		c->lines[0].mig.pages);
	for (i = 0; i < c->nr_lines; i++)
		m[i] = &c->lines[i].mig;
	mig_table(f, m, NULL, c->nr_lines);
	mig_chart(f, m, c->nr_lines);
}

static void compare_section(FILE *f, const struct compare_result *c, unsigned idx)
{
	char a[32], b[32], d[32], e[32];
	unsigned i;

	fprintf(f, "<section id=\"compare-%u\"><h2>compare: %u vCPU(s), op %s, %u extra slot(s)</h2>\n",
		idx, c->vcpus, cmp_op_name(c->op), c->extra_slots);
	fprintf(f, "<p>%u vCPU(s) run GUEST_PROG_WALK over %u pages; the main thread changes "
		"the memslots under them: ", c->vcpus, c->pages);
	esc(f, cmp_op_what(c->op));
	if (c->count)
		fprintf(f, "; %llu transactions per strategy", (unsigned long long)c->count);
	else
		fprintf(f, "; %.1f s per strategy", c->seconds);
	if (c->rate > 0)
		fprintf(f, " at %.1f per second", c->rate);
	else
		fprintf(f, ", as fast as possible");
	fprintf(f, ", in %u rounds of rotating order. Floor (one signal &rarr; EINTR round trip): "
		"p50 %s, p99 %s", c->rounds, t_(a, 32, &c->floor, c->floor.p50),
		t_(b, 32, &c->floor, c->floor.p99));
	if (c->floor_all.n)
		fprintf(f, "; all %u vCPUs at once: p50 %s, p99 %s", c->vcpus,
			t_(d, 32, &c->floor_all, c->floor_all.p50),
			t_(e, 32, &c->floor_all, c->floor_all.p99));
	fprintf(f, ".</p>\n");
	fprintf(f, "<table class=\"lines\"><thead><tr><th>strategy</th><th>txns</th><th>txn p50</th>"
		"<th>p90</th><th>p99</th><th>max</th><th>pause p50</th><th>p99</th><th>progress</th>"
		"<th>hole exits</th><th>corruption</th><th>timeouts</th><th>errors</th>"
		"<th>dirty pages lost / unreported</th></tr></thead><tbody>\n");
	fprintf(f, "<tr data-strategy=\"floor\"><th><span class=\"sw\" style=\"background:%s\">"
		"</span>floor</th><td>%zu</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
		"<td colspan=\"8\" class=\"small\" style=\"text-align:left\">reference: one bare "
		"signal-to-EINTR round trip</td></tr>\n", color_of("floor"), c->floor.n,
		t_(a, 32, &c->floor, c->floor.p50), t_(b, 32, &c->floor, c->floor.p90),
		t_(d, 32, &c->floor, c->floor.p99), t_(e, 32, &c->floor, c->floor.max));
	for (i = 0; i < c->nr_lines; i++)
		line_row(f, &c->lines[i]);
	fprintf(f, "</tbody></table>\n<p class=\"small\">Pause: only pauses that had to stop a "
		"running vCPU (back to back, most find every vCPU still parked). Dirty pages lost / "
		"unreported: from the migration check of each line (");
	if (c->nr_lines && c->lines[0].migrated)
		fprintf(f, "below");
	else
		fprintf(f, "not run: <code>--migrate</code>");
	fprintf(f, ").</p>\n");
	if (c->nr_lines && c->lines[0].migrated)
		migration_block(f, c);
	fprintf(f, "<h3>Transaction latency</h3>\n");
	cdf_chart(f, c);
	fprintf(f, "<h3>Pause latency</h3>\n");
	pause_chart(f, c);
	fprintf(f, "<h3>Guest progress</h3>\n");
	progress_chart(f, c);
	fprintf(f, "<h3>Hole exits inside mapped RAM, and corruption the guest saw</h3>\n");
	damage_chart(f, c);
	fprintf(f, "<details><summary>What each strategy does</summary><ul>\n");
	for (i = 0; i < c->nr_lines; i++) {
		fprintf(f, "<li data-strategy=\"");
		esc(f, c->lines[i].name);
		fprintf(f, "\"><b>");
		esc(f, c->lines[i].name);
		fprintf(f, "</b>: ");
		esc(f, c->lines[i].s ? c->lines[i].s->what : "");
		fprintf(f, "</li>\n");
	}
	fprintf(f, "<li data-strategy=\"floor\"><b>floor</b>: reference: one bare signal-to-EINTR "
		"round trip</li>\n</ul></details></section>\n");
}

/* ---- hold ----------------------------------------------------------------------- */

/* The kernel kick lines of each vCPU count, next to the same floor. */
static void hold_kernel_table(FILE *f, const struct report *rep)
{
	char a[32], b[32], c[32];
	unsigned i, j;

	if (!rep->hold[0].nr_lines)
		return;
	fprintf(f, "<p>The in-kernel alternative, in the same blocks: <b>kernel-ioctl</b> times "
		"<code>KVM_KICK_ALL_RUNNING_VCPUS</code> from the call to its return (vCPU threads "
		"looping on raw <code>KVM_RUN</code>), <b>kvmhold-kernel</b> times "
		"<code>kvmhold_hold()</code> with <code>kick = KVMHOLD_KICK_KERNEL</code>.</p>\n"
		"<table><thead><tr><th>vCPUs</th><th>line</th><th>p50</th><th>p99</th><th>max</th>"
		"<th>/floor p50</th><th>p99</th><th>/floor, all p50</th><th>p99</th></tr></thead>"
		"<tbody>\n");
	for (i = 0; i < rep->nr_hold; i++) {
		const struct hold_result *h = &rep->hold[i];

		for (j = 0; j < h->nr_lines; j++) {
			const struct hold_line *l = &h->lines[j];

			fprintf(f, "<tr data-strategy=\"%s\"><th>%u</th><th><span class=\"sw\" "
				"style=\"background:%s\"></span>%s</th>", l->name, h->vcpus,
				color_of(l->name), l->name);
			if (l->na[0] || l->error[0]) {
				fprintf(f, "<td colspan=\"7\" class=\"%s\" style=\"text-align:left\">%s",
					l->na[0] ? "na" : "bad", l->na[0] ? "unavailable: " : "");
				esc(f, l->na[0] ? l->na : l->error);
				fprintf(f, "</td></tr>\n");
				continue;
			}
			fprintf(f, "<td>%s</td><td>%s</td><td>%s</td>", t_(a, 32, &l->lat, l->lat.p50),
				t_(b, 32, &l->lat, l->lat.p99), t_(c, 32, &l->lat, l->lat.max));
			fprintf(f, "<td>%.2f&times;</td><td>%.2f&times;</td>", l->r50, l->r99);
			if (l->r50_all > 0)
				fprintf(f, "<td>%.2f&times;</td><td>%.2f&times;</td></tr>\n", l->r50_all,
					l->r99_all);
			else
				fprintf(f, "<td>&ndash;</td><td>&ndash;</td></tr>\n");
		}
	}
	fprintf(f, "</tbody></table>\n");
}

static void hold_section(FILE *f, const struct report *rep)
{
	unsigned i, j, n = 0;
	uint64_t hi = 0, lo = UINT64_MAX;
	struct axis ax;
	char a[32], b[32], c[32], d[32];

	if (!rep->nr_hold)
		return;
	fprintf(f, "<section id=\"hold\"><h2>hold: kvmhold_hold() latency</h2>\n<p>N vCPUs busy in "
		"GUEST_PROG_COUNT; kvmhold_hold(vm, -1) timed from the call to its return, next to the "
		"floor: one bare signal-to-EINTR round trip of one vCPU (and, for N &gt; 1, all N "
		"signalled at once). Target for N &le; 2: p50 &le; 1.5&times; floor, p99 &le; "
		"3&times; floor (reported, not enforced).</p>\n");
	fprintf(f, "<table><thead><tr><th>vCPUs</th><th>floor p50</th><th>p99</th>"
		"<th>floor, all p50</th><th>p99</th><th>kvmhold p50</th><th>p99</th><th>max</th>"
		"<th>hold/floor p50</th><th>p99</th><th>target</th></tr></thead><tbody>\n");
	for (i = 0; i < rep->nr_hold; i++) {
		const struct hold_result *h = &rep->hold[i];

		fprintf(f, "<tr><th>%u</th><td>%s</td><td>%s</td>", h->vcpus,
			t_(a, 32, &h->floor, h->floor.p50), t_(b, 32, &h->floor, h->floor.p99));
		fprintf(f, "<td>%s</td><td>%s</td>", t_(a, 32, &h->floor_all, h->floor_all.p50),
			t_(b, 32, &h->floor_all, h->floor_all.p99));
		fprintf(f, "<td>%s</td><td>%s</td><td>%s</td><td>%.2f&times;</td><td>%.2f&times;</td>"
			"<td class=\"%s\">%s</td></tr>\n", t_(a, 32, &h->hold, h->hold.p50),
			t_(b, 32, &h->hold, h->hold.p99), t_(c, 32, &h->hold, h->hold.max), h->r50, h->r99,
			h->target_applies && !h->met ? "bad" : "",
			!h->target_applies ? "&ndash;" : h->met ? "met" : "not met");
		if (h->error[0]) {
			fprintf(f, "<tr><td></td><td colspan=\"10\" class=\"bad\">");
			esc(f, h->error);
			fprintf(f, "</td></tr>\n");
		}
		if (h->floor.n && h->floor.p50 < lo)
			lo = h->floor.p50;
		if (h->hold.p99 > hi)
			hi = h->hold.p99;
		if (h->floor_all.p99 > hi)
			hi = h->floor_all.p99;
		for (j = 0; j < h->nr_lines; j++) {
			if (h->lines[j].lat.n && h->lines[j].lat.p50 < lo)
				lo = h->lines[j].lat.p50;
			if (h->lines[j].lat.p99 > hi)
				hi = h->lines[j].lat.p99;
		}
	}
	fprintf(f, "</tbody></table>\n");
	hold_kernel_table(f, rep);
	if (hi && lo != UINT64_MAX) {
		int rows = 0;

		for (i = 0; i < rep->nr_hold; i++) {
			rows += 2 + (rep->hold[i].floor_all.n ? 1 : 0);
			for (j = 0; j < rep->hold[i].nr_lines; j++)
				rows += rep->hold[i].lines[j].lat.n ? 1 : 0;
		}
		axis_init(&ax, lo, hi, LEFT, W - RIGHT);
		fprintf(f, "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
			"role=\"img\" aria-label=\"hold latency\">\n", W, rows * ROW_H + 30, W,
			rows * ROW_H + 30);
		axis_draw(f, &ax, 0, rows * ROW_H);
		for (i = 0; i < rep->nr_hold; i++) {
			const struct hold_result *h = &rep->hold[i];
			const struct stats *st[3 + HOLD_LINES] = { &h->floor, &h->floor_all, &h->hold };
			const char *nm[3 + HOLD_LINES] = { "floor", "floor, all", "kvmhold" };
			unsigned k;

			for (k = 0; k < h->nr_lines; k++) {
				st[3 + k] = &h->lines[k].lat;
				nm[3 + k] = h->lines[k].name;
			}
			for (k = 0; k < 3 + h->nr_lines; k++) {
				double y = n * ROW_H + ROW_H / 2.0, x50, x99;

				if (!st[k]->n)
					continue;
				x50 = axis_x(&ax, st[k]->p50);
				x99 = axis_x(&ax, st[k]->p99);
				fprintf(f, "<text x=\"%d\" y=\"%.1f\" class=\"label\" text-anchor=\"end\">"
					"%u vCPU(s): %s</text><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
					"height=\"10\" fill=\"%s\" opacity=\"0.35\"/><line x1=\"%.1f\" "
					"y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/>\n",
					LEFT - 8, y + 4, h->vcpus, nm[k], x50, y - 5,
					x99 - x50 > 1 ? x99 - x50 : 1, color_of(nm[k]), x50, y - 7, x50, y + 7,
					color_of(nm[k]));
				n++;
			}
		}
		fprintf(f, "</svg>\n<p class=\"small\">Thick mark: p50; the band runs to p99.</p>\n");
	}
	(void)d;
	fprintf(f, "</section>\n");
}

/* ---- txn -------------------------------------------------------------------------- */

/* kernel-ioctl and kvmhold-kernel per operation, next to the same ideal. */
static void txn_kernel_table(FILE *f, const struct txn_result *t)
{
	static const char *const names[] = { "kernel-ioctl", "kvmhold-kernel" };
	char a[32], b[32];
	unsigned i, j;

	fprintf(f, "<p>The in-kernel alternative: <b>kernel-ioctl</b> (the old layout put back "
		"and walked again, then <code>KVM_KICK_ALL_RUNNING_VCPUS</code>, the ideal's ioctls, "
		"<code>KVM_RESUME_ALL_KICKED_VCPUS</code>, all timed) and <b>kvmhold-kernel</b> "
		"(<code>kvmhold_txn_commit()</code> on a second VM with <code>kick = "
		"KVMHOLD_KICK_KERNEL</code>).</p>\n");
	fprintf(f, "<table><thead><tr><th>line</th><th>op</th><th>p50</th><th>p99</th>"
		"<th>/ideal p50</th></tr></thead><tbody>\n");
	for (i = 0; i < 2; i++) {
		if (t->kernel_na[0]) {
			fprintf(f, "<tr data-strategy=\"%s\"><th><span class=\"sw\" style=\"background:"
				"%s\"></span>%s</th><td colspan=\"4\" class=\"na\" style=\"text-align:"
				"left\">unavailable: ", names[i], color_of(names[i]), names[i]);
			esc(f, t->kernel_na);
			fprintf(f, "</td></tr>\n");
			continue;
		}
		for (j = 0; j < t->nr_ops; j++) {
			const struct txn_op_result *o = &t->ops[j];
			const struct stats *st = i ? &o->kh_kernel : &o->kick;
			double r = i ? o->r50_kh_kernel : o->r50_kick;

			fprintf(f, "<tr data-strategy=\"%s\"><th><span class=\"sw\" style=\"background:"
				"%s\"></span>%s</th><td>%s</td><td>%s</td><td>%s</td>", names[i],
				color_of(names[i]), names[i], bop_name(o->op), t_(a, 32, st, st->p50),
				t_(b, 32, st, st->p99));
			if (r > 0)
				fprintf(f, "<td>%.2f&times;</td></tr>\n", r);
			else
				fprintf(f, "<td>&ndash;</td></tr>\n");
		}
	}
	fprintf(f, "</tbody></table>\n");
	if (t->kernel_error[0]) {
		fprintf(f, "<p class=\"bad\">");
		esc(f, t->kernel_error);
		fprintf(f, "</p>\n");
	}
}

static void txn_section(FILE *f, const struct report *rep)
{
	char a[32], b[32], c[32], d[32];
	unsigned i, j;

	if (!rep->nr_txn)
		return;
	fprintf(f, "<section id=\"txn\"><h2>txn: kvmhold_txn_commit() latency</h2>\n<p>vCPUs walk "
		"the test region; each operation is committed through the library (commit timed), "
		"then the same ioctls are issued by hand with the vCPUs already stopped (&ldquo;ideal"
		"&rdquo;, ioctls timed). Target: p50 &le; 1.2&times; ideal (reported).</p>\n");
	for (i = 0; i < rep->nr_txn; i++) {
		const struct txn_result *t = &rep->txn[i];
		uint64_t lo = UINT64_MAX, hi = 0;
		struct axis ax;

		fprintf(f, "<h3>%u vCPU(s), %u samples per operation</h3>\n<table><thead><tr>"
			"<th>op</th><th>kvmhold p50</th><th>p99</th><th>ideal p50</th><th>p99</th>"
			"<th>p50 ratio</th><th>ioctls</th><th>held</th><th>target</th></tr></thead>"
			"<tbody>\n", t->vcpus, t->samples);
		for (j = 0; j < t->nr_ops; j++) {
			const struct txn_op_result *o = &t->ops[j];

			fprintf(f, "<tr><th>%s</th><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
				"<td>%.2f&times;</td><td>%.1f</td><td>%llu/%llu</td><td class=\"%s\">%s"
				"</td></tr>\n", bop_name(o->op), t_(a, 32, &o->kvmhold, o->kvmhold.p50),
				t_(b, 32, &o->kvmhold, o->kvmhold.p99), t_(c, 32, &o->ideal, o->ideal.p50),
				t_(d, 32, &o->ideal, o->ideal.p99), o->r50, o->ioctls_kvmhold,
				(unsigned long long)o->held, (unsigned long long)o->commits,
				o->met ? "" : "bad", o->met ? "met" : "not met");
			if (o->kvmhold.n && o->ideal.n) {
				lo = o->ideal.p50 < lo ? o->ideal.p50 : lo;
				hi = o->kvmhold.p50 > hi ? o->kvmhold.p50 : hi;
			}
		}
		fprintf(f, "</tbody></table>\n");
		txn_kernel_table(f, t);
		if (hi) {
			int rows = (int)t->nr_ops * 2;
			unsigned row = 0;

			axis_init(&ax, lo, hi, LEFT, W - RIGHT);
			fprintf(f, "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
				"role=\"img\" aria-label=\"commit latency\">\n", W, rows * 14 + 30, W,
				rows * 14 + 30);
			axis_draw(f, &ax, 0, rows * 14);
			for (j = 0; j < t->nr_ops; j++) {
				const struct txn_op_result *o = &t->ops[j];
				double y = row * 14.0;

				if (!o->kvmhold.n || !o->ideal.n)
					continue;
				fprintf(f, "<text x=\"%d\" y=\"%.1f\" class=\"label\" text-anchor=\"end\">"
					"%s</text><rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"11\" "
					"fill=\"%s\"/><rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"11\" "
					"fill=\"%s\"/>\n", LEFT - 8, y + 18, bop_name(o->op), LEFT, y + 2,
					axis_x(&ax, o->kvmhold.p50) - LEFT, color_of("kvmhold"), LEFT, y + 15,
					axis_x(&ax, o->ideal.p50) - LEFT, color_of("ideal"));
				row += 2;
			}
			fprintf(f, "</svg>\n<p class=\"small\"><span class=\"sw\" style=\"background:%s\">"
				"</span>kvmhold p50 <span class=\"sw\" style=\"background:%s\"></span>ideal "
				"p50 (log scale)</p>\n", color_of("kvmhold"), color_of("ideal"));
		}
		if (t->nr_slots) {
			fprintf(f, "<p>A split / merge of the walked slot next to N extra 1-page slots "
				"(the claim: about the same at any N):</p><table><thead><tr><th>slots</th>"
				"<th>mapping them</th><th>split p50</th><th>merge p50</th><th>ideal split "
				"p50</th><th>ideal merge p50</th></tr></thead><tbody>\n");
			for (j = 0; j < t->nr_slots; j++) {
				const struct txn_slots_result *s = &t->slots[j];
				char e[32];

				fmt_ns(e, sizeof(e), s->setup_ns);
				fprintf(f, "<tr><th>%u</th><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
					"<td>%s</td></tr>\n", s->slots, e, t_(a, 32, &s->split, s->split.p50),
					t_(b, 32, &s->merge, s->merge.p50),
					t_(c, 32, &s->ideal_split, s->ideal_split.p50),
					t_(d, 32, &s->ideal_merge, s->ideal_merge.p50));
			}
			fprintf(f, "</tbody></table>\n");
		}
		fprintf(f, "<p class=\"small\">Guest: %llu hole exits, %llu walk mismatches.</p>\n",
			(unsigned long long)t->holes, (unsigned long long)t->mismatches);
		if (t->error[0]) {
			fprintf(f, "<p class=\"bad\">");
			esc(f, t->error);
			fprintf(f, "</p>\n");
		}
	}
	fprintf(f, "</section>\n");
}

/* ---- dirty ------------------------------------------------------------------------ */

static void dirty_section(FILE *f, const struct report *rep)
{
	const struct dirty_result *d = rep->dirty;
	const struct mig_result *m[DIRTY_MIG_LINES];
	const char *names[2 * SYNC_LEVELS], *text[2 * SYNC_LEVELS], *colors[2 * SYNC_LEVELS];
	char buf[2 * SYNC_LEVELS][64], nm[2 * SYNC_LEVELS][48];
	double v[2 * SYNC_LEVELS], gib, max = 0;
	char a[32], b[32], c[32], e[32];
	unsigned i, k, n = 0;

	if (!d)
		return;
	gib = (double)d->region_bytes / (double)(1ull << 30);
	fprintf(f, "<section id=\"dirty\"><h2>dirty: sync cost, and dirty pages lost</h2>\n"
		"<h3>kvmhold_dirty_sync() over %llu MiB logged</h3>\n<p>One memslot of anonymous "
		"memory with dirty logging; one vCPU writes exactly the given pages before each sync "
		"(%u syncs per level), the rest of the region is never touched. Bitmap: manual "
		"protect, initially set (the library's default); ring: <code>dirty_ring_bytes</code>. "
		"&ldquo;ioctls&rdquo;: <code>KVM_GET_DIRTY_LOG</code> + <code>KVM_CLEAR_DIRTY_LOG</code> "
		"of the slot alone, by hand: what KVM's part costs.</p>\n",
		(unsigned long long)(d->region_bytes >> 20), d->samples);
	fprintf(f, "<table><thead><tr><th>mechanism</th><th>pages dirty</th><th>sync p50</th>"
		"<th>p90</th><th>max</th><th>p50 per GiB</th><th>pages reported</th>"
		"<th>ioctls p50</th></tr></thead><tbody>\n");
	for (i = 0; i < 2; i++) {
		const struct sync_result *s = &d->sync[i];
		const char *mech = i ? "ring" : "bitmap";

		if (!s->mech || s->error[0]) {
			fprintf(f, "<tr data-strategy=\"%s\"><th>%s</th><td colspan=\"7\" class=\"bad\" "
				"style=\"text-align:left\">", mech, mech);
			esc(f, s->error);
			fprintf(f, "</td></tr>\n");
			if (!s->mech)
				continue;
		}
		fmt_ns(a, sizeof(a), s->first_ns);
		fmt_ns(e, sizeof(e), (uint64_t)((double)s->first_ns / gib));
		fprintf(f, "<tr data-strategy=\"%s\"><th><span class=\"sw\" style=\"background:%s\">"
			"</span>%s</th><td>first</td><td>%s</td><td></td><td></td><td>%s</td><td>%llu</td>"
			"<td></td></tr>\n", mech, color_of(mech), mech, a, e,
			(unsigned long long)s->first_reported);
		for (k = 0; k < SYNC_LEVELS; k++) {
			const struct sync_level *l = &s->lv[k];

			if (!l->lat.n)
				continue;
			fmt_ns(e, sizeof(e), (uint64_t)((double)l->lat.p50 / gib));
			fprintf(f, "<tr data-strategy=\"%s\"><th>%s</th><td>%u</td><td>%s</td><td>%s</td>"
				"<td>%s</td><td>%s</td><td class=\"%s\">%.0f</td><td>%s</td></tr>\n", mech,
				mech, l->dirtied, t_(a, 32, &l->lat, l->lat.p50),
				t_(b, 32, &l->lat, l->lat.p90), t_(c, 32, &l->lat, l->lat.max), e,
				l->short_syncs ? "bad" : "", l->reported,
				t_(a, 32, &l->ioctls, l->ioctls.p50));
			if (n < 2 * SYNC_LEVELS) {
				snprintf(nm[n], sizeof(nm[n]), "%s, %u pages", mech, l->dirtied);
				names[n] = nm[n];
				colors[n] = color_of(mech);
				v[n] = (double)l->lat.p50 / gib / 1e3;
				snprintf(buf[n], sizeof(buf[n]), "%.1f us per GiB", v[n]);
				text[n] = buf[n];
				max = v[n] > max ? v[n] : max;
				n++;
			}
		}
	}
	fprintf(f, "</tbody></table>\n");
	if (n) {
		fprintf(f, "<p class=\"small\">The first sync after logging began is apart: with the "
			"bitmap every page starts dirty (&ldquo;initially set&rdquo;), so it reports and "
			"write-protects the whole region once.</p>\n");
		bar_chart_c(f, "sync cost per GiB", names, v, text, colors, n, max, 0);
	}
	fprintf(f, "<h3>Dirty pages lost per 1000 transactions</h3>\n<p>%u vCPU(s) write the round "
		"number into random pages of %u pages; each round the host splits or merges their "
		"logged slot, then syncs and copies what was reported; %llu transactions per line; at "
		"the end, nothing running, a last sync and copy. The naive lines read the dirty log "
		"with <code>KVM_GET_DIRTY_LOG</code> just before each DELETE, with the vCPUs "
		"running.</p>\n", d->mig_vcpus, d->mig_pages, (unsigned long long)d->mig_count);
	for (i = 0; i < d->nr_mig; i++)
		m[i] = &d->mig[i];
	mig_table(f, m, d->mig_what, d->nr_mig);
	mig_chart(f, m, d->nr_mig);
	fprintf(f, "</section>\n");
}

/* ---- scale ------------------------------------------------------------------------ */

static void scale_section(FILE *f, const struct report *rep)
{
	const struct scale_result *s = rep->scale;
	char a[32], b[32];
	unsigned i, m, k;

	if (!s)
		return;
	fprintf(f, "<section id=\"scale\"><h2>scale: cost as the VM grows</h2>\n<p>No vCPUs. "
		"N memslots of 4 KiB (the middle one 8 KiB); each cell is the p50, and its ratio to "
		"the p50 at %u slots. Rows marked * touch one slot: the issue's target is &le; "
		"%.0f&times; (reported, not enforced).</p>\n<table><thead><tr><th>measure</th>",
		s->ref_slots, SCALE_TARGET_SLOTS);
	for (i = 0; i < s->nr_slots; i++)
		fprintf(f, "<th>N = %u</th>", s->slots[i].slots);
	fprintf(f, "</tr></thead><tbody>\n");
	for (m = 0; m < SM__COUNT; m++) {
		bool one = scale_measure_one_slot((enum scale_measure)m);

		fprintf(f, "<tr><th title=\"");
		esc(f, scale_measure_what((enum scale_measure)m));
		fprintf(f, "\">%s%s</th>", scale_measure_name((enum scale_measure)m), one ? " *" : "");
		for (i = 0; i < s->nr_slots; i++) {
			const struct stats *st = &s->slots[i].m[m];
			double r = s->slots[i].ratio[m];

			if (m == SM_LOOKUP && st->n)
				snprintf(a, sizeof(a), "%llu ns", (unsigned long long)st->p50);
			else
				t_(a, sizeof(a), st, st->p50);
			fprintf(f, "<td class=\"%s\">%s", one && r > SCALE_TARGET_SLOTS ? "bad" : "", a);
			if (r > 0)
				fprintf(f, " (%.2f&times;)", r);
			fprintf(f, "</td>");
		}
		fprintf(f, "</tr>\n");
	}
	fprintf(f, "</tbody></table>\n");
	for (i = 0; i < s->nr_slots; i++) {
		if (!s->slots[i].error[0])
			continue;
		fprintf(f, "<p class=\"bad\">%u slots: ", s->slots[i].slots);
		esc(f, s->slots[i].error);
		fprintf(f, "</p>\n");
	}
	fprintf(f, "<h3>One logged slot of G GiB: the held commit next to the same ioctls by hand"
		"</h3>\n<p><code>kvmhold_txn_commit()</code> alone (with no vCPUs the hold is instant: "
		"the commit is the held window), next to <code>KVM_GET_DIRTY_LOG</code> and "
		"<code>KVM_SET_USER_MEMORY_REGION</code> issued by hand on a raw VM. Target: &le; "
		"%.0f&times; at 1 TiB (reported).</p>\n<table><thead><tr><th>GiB</th><th>op</th>"
		"<th>kvmhold p50</th><th>by hand p50</th><th>ratio</th><th>cycles</th>"
		"<th>dirty_held</th><th>RSS</th></tr></thead><tbody>\n", SCALE_TARGET_GIB);
	for (i = 0; i < s->nr_gib; i++) {
		const struct scale_gib_result *g = &s->gib[i];

		for (k = 0; k < SG__COUNT; k++) {
			bool bad = scale_gib_target_applies(g) && g->ratio[k] > SCALE_TARGET_GIB;

			fprintf(f, "<tr><th>%u</th><td>%s</td><td>%s</td><td>%s</td><td class=\"%s\">",
				g->gib, scale_gib_op_name((enum scale_gib_op)k),
				t_(a, 32, &g->lib[k], g->lib[k].p50), t_(b, 32, &g->hand[k], g->hand[k].p50),
				bad ? "bad" : "");
			if (g->ratio[k] > 0)
				fprintf(f, "%.2f&times;</td>", g->ratio[k]);
			else
				fprintf(f, "&ndash;</td>");
			fprintf(f, "<td>%u</td><td>%llu</td><td>%.1f MiB</td></tr>\n", g->cycles,
				(unsigned long long)g->dirty_held, (double)g->rss_kib / 1024);
		}
		if (g->error[0]) {
			fprintf(f, "<tr><td></td><td colspan=\"7\" class=\"bad\">");
			esc(f, g->error);
			fprintf(f, "</td></tr>\n");
		}
	}
	fprintf(f, "</tbody></table>\n</section>\n");
}

/* ---- the page ------------------------------------------------------------------- */

static void machine_section(FILE *f, const struct report *rep)
{
	const struct machine_info *mi = &rep->machine;

	fprintf(f, "<section id=\"machine\"><h2>Machine</h2><table class=\"kv\">\n");
	fprintf(f, "<tr><th>kernel</th><td>");
	esc(f, mi->kernel);
	fprintf(f, " (");
	esc(f, mi->arch);
	fprintf(f, ")</td></tr>\n<tr><th>KVM backend</th><td>");
	esc(f, mi->backend[0] ? mi->backend : "not visible");
	fprintf(f, "%s</td></tr>\n", mi->hypervisor ? " &mdash; this machine is itself a guest" : "");
	fprintf(f, "<tr><th>cores</th><td>%ld</td></tr>\n<tr><th>CPU</th><td>", mi->cores);
	esc(f, mi->cpu_model[0] ? mi->cpu_model : "unknown");
	fprintf(f, "</td></tr>\n<tr><th>KVM limits</th><td>%d memslots, %d vCPUs</td></tr>\n",
		mi->nr_memslots, mi->max_vcpus);
	fprintf(f, "<tr><th>date</th><td>");
	esc(f, mi->date);
	fprintf(f, "</td></tr>\n<tr><th>command</th><td><code>");
	esc(f, rep->opts->cmdline);
	fprintf(f, "</code></td></tr>\n</table></section>\n");
}

static const char css[] =
	"body{font-family:sans-serif;margin:24px auto;max-width:980px;padding:0 12px;color:#222;line-height:1.4}"
	"h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:4px;"
	"margin-top:2em}h3{font-size:1.05em;margin-bottom:4px}"
	"table{border-collapse:collapse;font-size:11.5px;margin:8px 0}"
	"th,td{padding:3px 6px;border-bottom:1px solid #e4e4e4;text-align:right;white-space:nowrap}"
	"thead th{background:#f3f3f3}tbody th{text-align:left}table.kv th{text-align:left}"
	"table.kv td{text-align:left;white-space:normal}"
	".sw{display:inline-block;width:10px;height:10px;margin-right:5px;border-radius:2px}"
	".bad{color:#b00020;font-weight:bold}.na{color:#888}.small{font-size:12px;color:#555}"
	".note{background:#f6f8fa;border-left:4px solid #1f77b4;padding:8px 12px}"
	"svg.chart{display:block;margin:6px 0;font-size:11px}"
	".grid{stroke:#e0e0e0;stroke-width:1}.ref{stroke:#444;stroke-dasharray:4,3}"
	".tick{fill:#666}.axis{fill:#444}.label{fill:#222}.legend{fill:#222}.value{fill:#333}"
	"code{font-size:12px}";

int report_html(const char *path, const struct report *rep)
{
	FILE *f = fopen(path, "w");
	unsigned i;
	int r;

	if (!f)
		return -errno;
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		"<meta name=\"viewport\" content=\"width=device-width\">"
		"<title>kvmhold-bench report</title><style>%s</style></head><body>\n", css);
	fprintf(f, "<h1>kvmhold-bench</h1>\n<p class=\"note\">Times measured on one machine do "
		"not transfer to another; what this page shows is how the lines of one run compare "
		"with each other, and with the two references measured in the same run: "
		"<b>floor</b> (one bare signal-to-EINTR round trip) and <b>ideal</b> (the same memslot "
		"ioctls with the vCPUs already stopped).</p>\n");
	machine_section(f, rep);
	for (i = 0; i < rep->nr_cmp; i++)
		compare_section(f, &rep->cmp[i], i);
	hold_section(f, rep);
	txn_section(f, rep);
	dirty_section(f, rep);
	scale_section(f, rep);
	fprintf(f, "<footer class=\"small\"><p>Schema of the matching JSON report: tools/README.md "
		"(schema_version %d). kvmhold %d.%d.</p></footer>\n</body></html>\n",
		BENCH_SCHEMA_VERSION, KVMHOLD_VERSION_MAJOR, KVMHOLD_VERSION_MINOR);
	r = ferror(f) ? -EIO : 0;
	if (fclose(f) && !r)
		r = -errno;
	return r;
}
