#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Render a kvmhold-bench JSON report as one self-contained HTML page.

usage: tools/report.py bench-report.json -o bench-report.html

The page has tables of the figures and charts drawn by matplotlib (Agg),
embedded as base64 PNG: no script, no network, no file beside it.  Every
line of a comparison has an element with data-strategy="NAME", which is what
`make check-report` looks for in the rendered page.  Sections missing from
the JSON are left out, and a null value shows as a dash.

The shebang names Debian's interpreter on purpose: the renderer uses
Debian's python3-matplotlib, which another python3 on PATH may not see.
"""

import argparse
import base64
import contextlib
import html
import io
import json
import math
import sys

import matplotlib

matplotlib.use("Agg")  # no display: render to memory only
import matplotlib.pyplot as plt  # noqa: E402 (must follow use())
from matplotlib.patches import Patch  # noqa: E402

SCHEMA_VERSION = 2
DASH = "\u2013"
# Same colours as the text report's order of lines, one per name everywhere.
COLORS = {
    "naive": "#d62728", "qemu": "#ff7f0e", "kvmtool": "#8c564b", "cloud-hypervisor": "#9467bd",
    "kernel-ioctl": "#17becf", "kvmhold": "#2ca02c", "kvmhold-kernel": "#006d2c",
    "ideal": "#1f77b4", "floor": "#7f7f7f", "floor, all": "#bcbd22", "kvmhold-ring": "#98df8a",
    "naive-initially-set": "#ff9896", "bitmap": "#2ca02c", "ring": "#98df8a",
    "kick_running": "#17becf", "kick_parked": "#9467bd", "after release": "#8c564b"}
CSS = """
body{font-family:sans-serif;margin:24px auto;max-width:980px;padding:0 12px;color:#222;
line-height:1.4} h3{font-size:1.05em;margin-bottom:4px}
h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:2em}
table{border-collapse:collapse;font-size:11.5px;margin:8px 0} tbody th{text-align:left}
th,td{padding:2px 5px;border-bottom:1px solid #e4e4e4;text-align:right;white-space:nowrap}
thead th{background:#f3f3f3;white-space:normal} td.text{text-align:left;white-space:normal}
.sw{display:inline-block;width:10px;height:10px;margin-right:5px;border-radius:2px}
.bad{color:#b00020;font-weight:bold} .na{color:#888} .small{font-size:12px;color:#555}
.note{background:#f6f8fa;border-left:4px solid #1f77b4;padding:8px 12px}
img.chart{display:block;max-width:100%;margin:6px 0}
"""

def color(name):
    return COLORS.get(name, "#333333")


def get(obj, *keys):
    """obj[k1][k2]..., or None as soon as a level is missing or null."""
    for k in keys:
        if obj is None:
            return None
        obj = obj.get(k) if isinstance(obj, dict) else None
    return obj


def ns(v):
    """A time as the text report writes it: 12.3 us, 4.56 ms."""
    if v is None:
        return DASH
    for limit, fmt in ((1e3, "%d ns"), (1e6, "%.1f us"), (1e9, "%.2f ms")):
        if v < limit:
            return fmt % (v / (limit / 1e3))
    return "%.2f s" % (v / 1e9)


def num(v, fmt="%d"):
    return DASH if v is None else fmt % v


P4 = "p50 p90 p99 max"


def pcts(st, keys="p50 p99"):
    """Columns of one stats object: the given percentiles as times."""
    return [ns(get(st, k)) for k in keys.split()]


def ratio(v):
    return num(v, "%.2f\u00d7")


def esc(s):
    return html.escape("" if s is None else str(s))


def table(head, rows):
    """head: column titles, separated by "|".  rows: (strategy or None,
    cells).  A cell is text
    or (text, css class); a row shorter than head has its last cell span the
    rest (for "unavailable: ..." lines).  The first cell is the row's title;
    with a strategy it gets that strategy's colour and data-strategy."""
    head = head.split("|")
    out = ["<table><thead><tr>"] + ["<th>%s</th>" % esc(h) for h in head]
    out.append("</tr></thead><tbody>")
    for strategy, cells in rows:
        attr = ' data-strategy="%s"' % esc(strategy) if strategy else ""
        out.append("<tr%s>" % attr)
        for i, cell in enumerate(cells):
            text, cls = cell if isinstance(cell, tuple) else (cell, "")
            if i == 0:
                sw = '<span class="sw" style="background:%s"></span>' % color(strategy)
                out.append("<th>%s%s</th>" % (sw if strategy else "", esc(text)))
                continue
            span = len(head) - i if i == len(cells) - 1 and len(cells) < len(head) else 1
            if span > 1:
                cls = (cls + " text").strip()
            out.append('<td%s%s>%s</td>' % (' colspan="%d"' % span if span > 1 else "",
                                            ' class="%s"' % cls if cls else "", esc(text)))
        out.append("</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def bad_if(value, text=None):
    """A count that should be 0 is shown in red when it is not."""
    return (num(value) if text is None else text, "bad" if value else "")


def para(text, cls=None):
    return '<p%s>%s</p>' % (' class="%s"' % cls if cls else "", text)


def error_para(err):
    return para(esc(err), "bad") if err else ""


def why_row(name, why, cls):
    """A line that has no figures: its name and why (unavailable, an error)."""
    return name, [name, (why, cls)]


def section(ident, title, intro):
    return ['<section id="%s"><h2>%s</h2>' % (ident, title), para(intro)]


def strategy_list(items):
    """What each line does, each item carrying its data-strategy."""
    lis = ['<li data-strategy="%s"><b>%s</b>: %s</li>' % (esc(n), esc(n), esc(d))
           for n, d in items]
    return "<ul class=\"small\">%s</ul>" % "".join(lis)


@contextlib.contextmanager
def chart(out, alt, rows, cols, height):
    """A figure of rows x cols axes (a flat list) to draw on; on leaving the
    block it is appended to out as an inline PNG and closed."""
    fig, axes = plt.subplots(rows, cols, figsize=(9.4, height * rows), squeeze=False)
    yield axes.ravel()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    out.append('<img class="chart" alt="%s" src="data:image/png;base64,%s">' % (esc(alt), data))


def time_axis(ax, axis="x"):
    """Log time axis labelled in readable units rather than 1e5 ns."""
    getattr(ax, "set_%sscale" % axis)("log")
    fmt = matplotlib.ticker.FuncFormatter(lambda v, _: ns(v))
    getattr(ax, "%saxis" % axis).set_major_formatter(fmt)
    lo, hi = getattr(ax, "get_%slim" % axis)()
    if hi < lo * 100:
        # Under two decades a log axis has one or two labels: add 2x and 5x.
        two_five = matplotlib.ticker.FuncFormatter(
            lambda v, _: ns(v) if round(v / 10 ** math.floor(math.log10(v))) in (2, 5) else "")
        getattr(ax, "%saxis" % axis).set_minor_formatter(two_five)
    ax.grid(True, which="major", color="#e0e0e0")


def log_curves(ax, curves, xticks, xlabel, title):
    """curves: (label, line style, colour, [(x, p50 ns)]) on log-log axes,
    the x axis ticked at the values measured (slot counts, GiB)."""
    for label, style, col, pts in curves:
        pts = [(x, y) for x, y in pts if x and y]
        if pts:
            ax.plot(*zip(*pts), marker="o", linestyle=style, color=col, label=label)
    if not ax.get_lines():  # nothing measured: no axes to show
        ax.set_axis_off()
        return
    xticks = [v for v in xticks if v]
    ax.set_xscale("log")
    ax.set_xticks(xticks, ["%g" % v for v in xticks])
    ax.minorticks_off()
    ax.set_xlabel(xlabel, fontsize=8)
    time_axis(ax, "y")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=6, ncol=2)


def cdf(ax, series, title):
    """series: (label, stats, colour, dashed).  The JSON keeps the 0th..100th
    percentiles, which is the CDF itself at 1 % steps."""
    drawn = 0
    for label, st, col, dashed in series:
        if not (st and st.get("n") and st.get("percentiles")):
            continue
        xs = [max(v, 1) for v in st["percentiles"]]  # log axis: no zero
        ys = [100.0 * k / (len(xs) - 1) for k in range(len(xs))]
        ax.plot(xs, ys, color=col, linestyle="--" if dashed else "-", linewidth=1.8,
                label="%s (n=%d)" % (label, st["n"]))
        drawn += 1
    if not drawn:
        ax.set_axis_off()
        return
    time_axis(ax)
    ax.set_ylim(0, 100)
    ax.set_ylabel("% at or below")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower right")


def p50_p99_bars(ax, rows, refs, title):
    """Horizontal bars, one per row (label, stats, colour): p99 light, p50
    solid in front of it.  refs: (label, ns, style) vertical marks, for the
    floor and the ideal the lines are judged against."""
    rows = [r for r in rows if r[1] and r[1].get("n")]
    if not rows:
        ax.set_axis_off()
        return
    ys = range(len(rows))
    ax.barh(ys, [r[1]["p99"] for r in rows], color=[r[2] for r in rows], alpha=0.35)
    ax.barh(ys, [r[1]["p50"] for r in rows], height=0.45, color=[r[2] for r in rows])
    # The bars have one colour per line: the legend says which shade is which.
    keys = [Patch(color="#888", alpha=0.35, label="p99"), Patch(color="#888", label="p50")]
    for label, value, style in refs:
        if value:
            keys.append(ax.axvline(value, color="#444", linestyle=style, linewidth=1.2,
                                   label="%s p50 %s" % (label, ns(value))))
    ax.set_yticks(list(ys), [r[0] for r in rows], fontsize=8)
    ax.invert_yaxis()  # first line on top, as in the table
    time_axis(ax)
    # Bars start at 0, which a log axis cannot show: start below the least p50.
    low = min([r[1]["p50"] for r in rows] + [v for _, v, _ in refs if v])
    ax.set_xlim(left=max(low, 1) / 2)
    ax.set_title(title, fontsize=10)
    ax.legend(handles=keys, fontsize=7, loc="best")


def value_bars(ax, labels, values, colors, title, xlabel, ref=None, fmt="%d"):
    """Plain horizontal bars of counts or percentages, value written beside."""
    ys = range(len(labels))
    vals = [v or 0 for v in values]
    ax.barh(ys, vals, color=colors)
    for y, v in zip(ys, values):
        ax.text(v or 0, y, " " + num(v, fmt), va="center", fontsize=7)
    if ref is not None:
        ax.axvline(ref, color="#444", linestyle="--", linewidth=1)
    ax.set_yticks(list(ys), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_xlim(0, max(vals + [ref or 0, 1]) * 1.25)


def header(rep):
    m = rep.get("machine") or {}
    guest = " \u2014 this machine is itself a guest" if m.get("under_hypervisor") else ""
    pairs = [("kernel", "%s (%s)" % (m.get("kernel") or DASH, m.get("arch") or DASH)),
             ("KVM backend", (m.get("kvm_backend") or "not visible") + guest),
             ("CPU", "%s, %s cores" % (m.get("cpu_model") or "unknown", num(m.get("cores")))),
             ("KVM limits", "%s memslots, %s vCPUs" % (num(m.get("kvm_nr_memslots")),
                                                        num(m.get("kvm_max_vcpus")))),
             ("date", rep.get("date") or DASH), ("command", rep.get("command") or DASH),
             ("kvmhold", "%s, schema_version %s" % (rep.get("library_version") or DASH,
                                                     rep.get("schema_version")))]
    took = rep.get("section_seconds") or {}  # missing in reports older than the field
    if took:
        pairs.append(("wall time", ", ".join("%s %.1f s" % (k, v) for k, v in took.items())))
    kv = "".join('<tr><th>%s</th><td class="text">%s</td></tr>' % (esc(k), esc(v))
                 for k, v in pairs)
    out = ['<h1>kvmhold-bench</h1>', para(
        "Times measured on one machine do not transfer to another; what this page shows is "
        "how the lines of one run compare with each other and with two references measured "
        "in the same run: <b>floor</b> (one bare signal-to-EINTR round trip) and <b>ideal</b> "
        "(the same memslot ioctls with the vCPUs already stopped).", "note")]
    if rep.get("schema_version") != SCHEMA_VERSION:
        out.append(para("This renderer knows schema_version %d; this report has %s: fields it "
                        "does not know are left out." % (SCHEMA_VERSION,
                                                         esc(rep.get("schema_version"))), "bad"))
    out += ['<section id="machine"><h2>Machine</h2><table>%s</table></section>' % kv]
    return "\n".join(out)


def compare_row(s):
    name, mig = s.get("name"), s.get("migration")
    if s.get("unavailable"):
        return why_row(name, "unavailable: " + s["unavailable"], "na")
    if s.get("error") and not s.get("ran"):
        return why_row(name, "did not run: " + s["error"], "bad")
    dirty = DASH if s.get("dirty_pages_lost") is None else "%d / %s" % (
        s["dirty_pages_lost"], num(s.get("dirty_pages_unreported")))
    return name, [name, num(s.get("transactions"))] + pcts(s.get("txn_latency"), P4) + pcts(
        s.get("pause_latency")) + [num(s.get("progress_pct"), "%.0f%%"), bad_if(s.get("holes")),
                                   bad_if(s.get("corruption")), num(s.get("timeouts")),
                                   num(s.get("errors")),
                                   bad_if(get(mig, "lost") or get(mig, "unreported"), dirty)]


def compare_charts(c, out):
    lines = [s for s in c.get("strategies") or [] if not s.get("unavailable")]
    names, colors = [s["name"] for s in lines], [color(s["name"]) for s in lines]
    floor, floor_all = c.get("floor"), c.get("floor_all")
    ideal = next((s.get("txn_latency") for s in lines if s["name"] == "ideal"), None)

    def each(key, *more):
        """(name, stats of key, colour, more...) of every line."""
        return [(n, s.get(key), col) + more for n, s, col in zip(names, lines, colors)]
    refs = [("floor", floor, color("floor"), True)]
    with chart(out, "latency distributions per strategy", 1, 2, 3.6) as ax:
        cdf(ax[0], each("txn_latency", False) + refs, "transaction latency (CDF)")
        cdf(ax[1], each("pause_latency", False) + refs
            + [("floor, all", floor_all, color("floor, all"), True)],
            "pause latency, pauses that stopped a running vCPU (CDF)")
    height = 0.9 + 0.32 * len(lines)
    with chart(out, "p50 and p99 per strategy, floor and ideal marked", 1, 2, height) as ax:
        p50_p99_bars(ax[0], each("txn_latency"), [("ideal", get(ideal, "p50"), "-"),
                                                  ("floor", get(floor, "p50"), ":")],
                     "transaction latency p50 / p99")
        p50_p99_bars(ax[1], each("pause_latency"), [("floor", get(floor, "p50"), ":"), (
            "floor, all", get(floor_all, "p50"), "--")], "pause latency p50 / p99")
    with chart(out, "guest progress and damage per strategy", 1, 2, height) as ax:
        value_bars(ax[0], names, [s.get("progress_pct") for s in lines], colors,
                   "guest progress", "% of the baseline (line: 100 %)", ref=100, fmt="%.0f%%")
        value_bars(ax[1], names, [(s.get("holes") or 0) + (s.get("corruption") or 0)
                                  for s in lines], colors,
                   "hole exits + corrupted reads (should be 0)", "count")


def migration_block(lines):
    """Pages lost / unreported per line of a migration check (compare
    --migrate, and dirty's part b), with the sync latency distribution."""
    rows = []
    for m in lines:
        name = m.get("name")
        if not m.get("ran") or m.get("error") or m.get("not_applicable"):
            why = m.get("not_applicable") or m.get("error") or "did not run"
            rows.append(why_row(name, why, "bad" if m.get("error") else "na"))
            continue
        rows.append((name, [name, num(m.get("transactions")), bad_if(m.get("lost")),
                            num(m.get("lost_per_1000"), "%.1f"), bad_if(m.get("unreported")),
                            num(m.get("unreported_per_1000"), "%.1f"),
                            num(m.get("pages_copied")), num(m.get("log_reads_before_delete")),
                            bad_if(m.get("holes"))] + pcts(m.get("sync_latency"))))
    out = [table("line|txns|lost|/1000 txns|unreported|/1000 txns|pages copied|log reads|holes|"
                 "sync p50|p99", rows)]
    ran = [m for m in lines if m.get("ran") and not m.get("error")]
    names = [m["name"] for m in ran]
    if ran:
        with chart(out, "dirty pages lost per 1000 transactions", 1, 2,
                   0.9 + 0.32 * max(len(ran), 3)) as ax:
            value_bars(ax[0], names, [m.get("lost_per_1000") for m in ran],
                       [color(n) for n in names], "pages lost per 1000 txns", "pages", fmt="%.1f")
            cdf(ax[1], [(n, m.get("sync_latency"), color(n), False) for n, m in zip(names, ran)],
                "sync after each transaction (CDF)")
    out.append(para("<b>Lost</b>: pages whose final copy differs from guest memory (a migration "
                    "would resume the guest with them stale). <b>Unreported</b>: pages that "
                    "held the round's value yet no sync reported them.", "small"))
    return out


def compare_section(c, idx):
    pace = ("%s transactions" % c["count"]) if c.get("count") else (
        "%s s" % num(c.get("duration_s"), "%.1f"))
    rate = ("at %s per second" % c["rate"]) if c.get("rate") else "as fast as possible"
    floor, lines, ref = c.get("floor"), c.get("strategies") or [], (
        "reference: one bare signal-to-EINTR round trip")
    out = ['<section id="compare-%d"><h2>compare: %s vCPU(s), op %s, %s extra slot(s), %s</h2>'
           % (idx, num(c.get("vcpus")), esc(c.get("op")), num(c.get("extra_slots")), rate),
           para("%s vCPU(s) walk %s pages while the main thread changes the memslots under "
                "them: %s; %s per strategy, %s, in %s rounds. Baseline without changes: %s "
                "guest pages/s." % (num(c.get("vcpus")), num(c.get("pages")),
                                    esc(c.get("op_description")), pace, rate, num(c.get("rounds")),
                                    num(get(c, "baseline", "guest_pages_per_s"), "%.0f"))),
           table("strategy|txns|txn p50|p90|p99|max|pause p50|p99|progress|hole exits|corruption|"
                 "timeouts|errors|dirty lost / unreported",
                 [("floor", ["floor", num(get(floor, "n"))] + pcts(floor, P4) + [(ref, "na")])]
                 + [compare_row(s) for s in lines])]
    spreads = [s for s in lines if s.get("rounds") and not s.get("unavailable")]
    if spreads and (c.get("rounds") or 0) > 1:
        def spread(sp, fmt=ns):
            if not sp or None in (sp.get("median"), sp.get("min"), sp.get("max")):
                return DASH
            return "%s (%s%s%s)" % (fmt(sp["median"]), fmt(sp["min"]), DASH, fmt(sp["max"]))
        pct = lambda v: "%.0f%%" % v
        out += [para("Per round: the median over the rounds, and their range. A lead counts "
                     "when the ranges do not overlap.", "small"),
                table("strategy|txn p50|pause p50|progress", [(s["name"], [
                    s["name"], spread(get(s, "rounds", "txn_p50")),
                    spread(get(s, "rounds", "pause_p50")),
                    spread(get(s, "rounds", "progress_pct"), pct)]) for s in spreads])]
    compare_charts(c, out)
    migs = [s["migration"] for s in lines if s.get("migration")]
    if migs:
        out += ["<h3>Migration check (--migrate)</h3>"] + migration_block(migs)
    return out + ["<details><summary>What each strategy does</summary>", strategy_list(
        [(s["name"], s.get("description")) for s in lines] + [("floor", ref)]),
        "</details></section>"]


def hold_section(holds):
    out = section("hold", "hold: kvmhold_hold() latency",
                  "N vCPUs busy in the guest; kvmhold_hold(vm, -1) timed from the call to its "
                  "return, next to the floor (and, for N &gt; 1, all N signalled at once). Target "
                  "for N &le; 2: p50 &le; 1.5&times; floor, p99 &le; 3&times; floor (reported, "
                  "not enforced).")
    rows = []
    for h in holds:
        t = h.get("target") or {}
        met = DASH if not t.get("applies") else ("met", "") if t.get("met") else ("not met", "bad")
        rows.append((None, ["%s vCPU(s)" % num(h.get("vcpus"))] + pcts(h.get("floor"))
                     + pcts(h.get("floor_all")) + pcts(h.get("kvmhold"))
                     + [ratio(h.get("ratio_p50")), ratio(h.get("ratio_p99")), met]))
        for l in h.get("lines") or []:
            if l.get("unavailable"):
                rows.append(why_row(l["name"], "unavailable: " + l["unavailable"], "na"))
            elif l.get("error"):
                rows.append(why_row(l["name"], l["error"], "bad"))
            else:
                rows.append((l["name"], [l["name"]] + [DASH] * 4 + pcts(l.get("latency")) + [
                    ratio(l.get("ratio_p50")), ratio(l.get("ratio_p99")), DASH]))
    out.append(table("vCPUs / line|floor p50|p99|floor, all p50|p99|hold p50|p99|/floor p50|p99|"
                     "target", rows))
    out += [error_para(h.get("error")) for h in holds]
    with chart(out, "hold latency next to the floor", len(holds), 2, 0.9 + 0.35 * 5) as ax:
        for i, h in enumerate(holds):
            lines = [("floor", h.get("floor")), ("floor, all", h.get("floor_all")),
                     ("kvmhold", h.get("kvmhold"))]
            lines += [(l["name"], l.get("latency")) for l in h.get("lines") or []]
            title = "%s vCPU(s)" % num(h.get("vcpus"))
            p50_p99_bars(ax[2 * i], [(n, st, color(n)) for n, st in lines],
                         [("floor", get(h, "floor", "p50"), ":")], title + ": p50 / p99")
            cdf(ax[2 * i + 1], [(n, st, color(n), n.startswith("floor")) for n, st in lines],
                title + ": distribution (CDF)")
    return out + ["</section>"]


TXN_LINES = (("kvmhold", "kvmhold"), ("ideal", "ideal"), ("kernel_ioctl", "kernel-ioctl"),
             ("kvmhold_kernel", "kvmhold-kernel"))


def txn_block(t, out):
    """One vCPU count of the txn section."""
    ops = t.get("ops") or []
    out.append("<h3>%s vCPU(s), %s samples per operation%s</h3>" % (
        num(t.get("vcpus")), num(t.get("samples")),
        ", --always-hold" if t.get("always_hold") else ""))
    out.append(table("op|kvmhold p50|p99|ideal p50|p99|ratio p50|kernel-ioctl p50|"
                     "kvmhold-kernel p50|ioctls|held|target", [(None, [
                         o.get("op")] + pcts(o.get("kvmhold")) + pcts(o.get("ideal"))
                         + [ratio(o.get("ratio_p50"))] + pcts(o.get("kernel_ioctl"), "p50")
                         + pcts(o.get("kvmhold_kernel"), "p50")
                         + [num(o.get("ioctls_per_commit"), "%.1f"),
                            "%s/%s" % (num(o.get("held_commits")), num(o.get("commits"))),
                            ("met", "") if get(o, "target", "met") else ("not met", "bad")])
                         for o in ops]))
    if t.get("kernel_unavailable"):
        out.append(para("kernel-ioctl, kvmhold-kernel: unavailable: %s"
                        % esc(t["kernel_unavailable"]), "na"))
    out.append(error_para(t.get("kernel_error")) + error_para(t.get("error")))
    shown = [o for o in ops if get(o, "kvmhold", "n")]
    if shown:
        rows = [("%s: %s" % (o["op"], label), o.get(key), color(label))
                for o in shown for key, label in TXN_LINES if get(o, key, "n")]
        with chart(out, "commit latency per operation", 1, 1, 0.9 + 0.5 * len(shown)) as ax:
            p50_p99_bars(ax[0], rows, [], "commit latency per operation, p50 / p99, next to ideal")
        with chart(out, "commit latency distributions per operation",
                   (len(shown) + 2) // 3, 3, 2.4) as ax:
            for a, o in zip(ax, shown):
                cdf(a, [(label, o.get(key), color(label), label == "ideal")
                        for key, label in TXN_LINES], o["op"])
            for a in ax[len(shown):]:
                a.set_axis_off()
    if t.get("slots"):
        out += [para("A split / merge of the walked slot next to N extra 1-page slots:"), table(
            "slots|mapping them|split p50|merge p50|ideal split p50|ideal merge p50",
            [(None, [num(s.get("slots")), ns(s.get("setup_ns"))] + [
                ns(get(s, k, "p50")) for k in ("split", "merge", "ideal_split", "ideal_merge")])
             for s in t["slots"]])]
    gm = t.get("guest_memfd")
    if gm:
        out.append(para("guest_memfd slots: split + merge p50 %s, plain slots %s%s" % (
            ns(get(gm, "split_merge", "p50")), ns(get(gm, "plain_split_merge", "p50")),
            " (unavailable: %s)" % esc(gm["unavailable"]) if gm.get("unavailable") else ""),
            "small"))
    out.append(para("Guest: %s hole exits, %s walk mismatches." % (
        num(t.get("holes")), num(t.get("mismatches"))), "small"))


def txn_section(txns):
    out = section("txn", "txn: kvmhold_txn_commit() latency",
                  "Each operation committed through the library (commit timed), then the same "
                  "ioctls by hand with the vCPUs already stopped (&ldquo;ideal&rdquo;, ioctls "
                  "timed). Target: p50 &le; 1.2&times; ideal (reported).")
    for t in txns:
        txn_block(t, out)
    return out + ["</section>"]


def dirty_section(d):
    sync, mig = d.get("sync") or {}, d.get("migration") or {}
    gib = (sync.get("region_bytes") or 0) / 2.0 ** 30
    mechs = sync.get("mechanisms") or []
    out = ['<section id="dirty"><h2>dirty: sync cost, and dirty pages lost</h2>',
           "<h3>kvmhold_dirty_sync() over %s GiB logged</h3>" % num(gib or None, "%.3g"),
           para("One vCPU writes exactly the given pages before each sync (%s syncs per "
                "level). Bitmap: manual protect, initially set; ring: dirty_ring_bytes. "
                "&ldquo;ioctls&rdquo;: KVM_GET_DIRTY_LOG + KVM_CLEAR_DIRTY_LOG by hand."
                % num(sync.get("samples")))]
    rows, series = [], []  # series: (label, stats, colour) of each level, for the charts
    for m in mechs:
        name = m.get("mechanism")
        if not m.get("ran") or m.get("error"):
            rows.append(why_row(name, m.get("error") or "did not run", "bad"))
            continue
        rows.append((name, [name, "first", ns(m.get("first_sync_ns")), DASH, DASH, DASH,
                            num(m.get("first_sync_reported")), DASH]))
        for lv in m.get("levels") or []:
            reported = num(lv.get("reported_mean"), "%.0f")
            rows.append((name, [name, num(lv.get("dirty_pages"))]
                         + pcts(lv.get("latency"), "p50 p90 max")
                         + [ns(lv.get("p50_ns_per_gib")), bad_if(lv.get("short_syncs"), reported),
                            ns(get(lv, "ioctls_latency", "p50"))]))
            label = "%s, %s pages" % (name, num(lv.get("dirty_pages")))
            series.append((label, lv.get("latency"), color(name)))
            if name == "bitmap" and get(lv, "ioctls_latency", "n"):
                series.append(("  ioctls alone", lv["ioctls_latency"], "#a0a0a0"))
    out.append(table("mechanism|pages dirty|sync p50|p90|max|p50 per GiB|pages reported|"
                     "ioctls p50", rows))
    if any(m.get("ran") and not m.get("error") for m in mechs):
        with chart(out, "dirty sync cost, bitmap vs ring", 1, 2, 3.2) as ax:
            p50_p99_bars(ax[0], series, [], "sync cost: bitmap vs ring, p50 / p99")
            cdf(ax[1], [(s[0], s[1], s[2], "ring" in s[0]) for s in series
                        if not s[0].startswith(" ")], "sync latency (CDF; ring dashed)")
    lines = mig.get("lines") or []
    out += ["<h3>Dirty pages lost per 1000 transactions</h3>", para(
        "%s vCPU(s) write the round number into random pages of %s pages; each round a split "
        "or merge of their logged slot, then a sync and a copy; %s transactions per line."
        % (num(mig.get("vcpus")), num(mig.get("pages")), num(mig.get("transactions"))))]
    out += migration_block(lines)
    return out + [strategy_list([(m.get("name"), m.get("description")) for m in lines]),
                  "</section>"]


GATE_ROWS = (  # label, where in the gate object, what; the first five are per-call costs
    ("mem, one thread", "mem one_thread", "mem_begin + mem_end, per pair"),
    ("mem, two threads", "mem two_threads", "both threads' samples"),
    ("dirty mark", "dirty_mark per_call", "per call"),
    ("kick + run", "run_entry kick_run", "kick then -EINTR run, per pair"),
    ("kick", "run_entry kick", "kick alone, per call"),
    ("kick_running", "kick_running latency", "kick to -EINTR seen"),
    ("floor", "kick_running floor", "signal to EINTR round trip"),
    ("kick_parked", "kick_parked latency", "vCPU parked by a hold"),
    ("after release", "kick_parked after_release", "timed-out kicks"))


def gate_section(g):
    found = [(label, get(g, *where.split()), what) for label, where, what in GATE_ROWS]
    kp = g.get("kick_parked") or {}
    out = section("gate", "gate: what the library adds on the hot paths",
                  "mem and run_entry samples are the mean of one batch of %s calls. kick_running "
                  "/ floor: p50 %s, p99 %s. kick_parked: %s of %s returned in time, %s timed "
                  "out." % (num(g.get("batch")), ratio(get(g, "kick_running", "ratio_p50")),
                            ratio(get(g, "kick_running", "ratio_p99")), num(kp.get("returned")),
                            num(kp.get("samples")), num(kp.get("timeouts"))))
    out.append(table("measure|n|p50|p90|p99|max|what", [
        (None, [label, num(get(st, "n"))] + pcts(st, P4) + [(what, "na text")])
        for label, st, what in found if st]))
    out += [error_para(get(g, part, "error"))
            for part in ("mem", "dirty_mark", "run_entry", "kick_running", "kick_parked")]
    with chart(out, "gate: per-call costs and kick latency", 1, 2, 3.0) as ax:
        p50_p99_bars(ax[0], [(label, st, "#2ca02c") for label, st, _ in found[:5]], [],
                     "per-call costs, p50 / p99")
        cdf(ax[1], [(label, st, color(label), label == "floor") for label, st, _ in found[5:]],
            "kick latency (CDF)")
    return out + ["</section>"]


def scale_section(s):
    slots, gib = s.get("slots") or [], s.get("gib") or []
    names = [m["name"] for m in (slots[0].get("measures") or [])] if slots else []
    out = section("scale", "scale: cost as the VM grows",
                  "No vCPUs. N memslots; each cell is the p50, with its ratio to the p50 at %s "
                  "slots. Rows marked * touch one slot: target &le; 3&times; (reported)."
                  % num(s.get("ratio_reference_slots")))
    rows = []
    for name in names:
        cells, one = [], False
        for sl in slots:
            m = next((m for m in sl.get("measures") or [] if m["name"] == name), {})
            one, r = one or m.get("one_slot"), m.get("ratio")
            cells.append(("%s (%s)" % (ns(get(m, "latency", "p50")), ratio(r)),
                          "bad" if m.get("one_slot") and r and r > 3 else ""))
        rows.append((None, [name + (" *" if one else "")] + cells))
    out.append(table("|".join(["measure"] + ["N = %s" % num(sl.get("slots")) for sl in slots]),
                     rows))
    out += [error_para(sl.get("error")) for sl in slots]
    out += ["<h3>One logged slot of G GiB: the held commit next to the same ioctls by hand</h3>",
            table("GiB|op|kvmhold p50|by hand p50|ratio|cycles|dirty_held|RSS", [
                (None, ["%s GiB" % num(g.get("gib")), o.get("op"), ns(get(o, "kvmhold", "p50")),
                        ns(get(o, "by_hand", "p50")), ratio(o.get("ratio_p50")),
                        num(g.get("cycles")), num(g.get("dirty_held")),
                        num((g.get("rss_kib") or 0) / 1024.0, "%.1f MiB")])
                for g in gib for o in g.get("ops") or []])]
    out += [error_para(g.get("error")) for g in gib]
    cmap = plt.get_cmap("tab20")
    ops = sorted({o["op"] for g in gib for o in g.get("ops") or []})
    with chart(out, "scale: cost vs slot count and vs GiB", 1, 2, 3.8) as ax:
        log_curves(ax[0], [(name, "-", cmap(i % 20), [
            (sl.get("slots"), get(m, "latency", "p50")) for sl in slots
            for m in sl.get("measures") or [] if m["name"] == name])
            for i, name in enumerate(names)], [sl.get("slots") for sl in slots],
            "memslots (log)", "p50 per operation vs slot count")
        log_curves(ax[1], [("%s, %s" % (op, key.replace("_", " ")), style, cmap(2 * i), [
            (g.get("gib"), get(o, key, "p50")) for g in gib for o in g.get("ops") or []
            if o["op"] == op]) for i, op in enumerate(ops)
            for key, style in (("kvmhold", "-"), ("by_hand", "--"))],
            [g.get("gib") for g in gib], "GiB logged (log)",
            "held time vs GiB: kvmhold (solid) vs by hand (dashed)")
    return out + ["</section>"]


def vcpus_section(runs):
    out = section("vcpus", "vcpus: stop, release and a commit as vCPUs grow",
                  "Each line on its own VM of N walking vCPUs (threads beyond the cores as soon "
                  "as N is as large as the core count): stop = the pause or hold, call to return; release = from the "
                  "resume to every vCPU back in the guest; commit = one split or merge through "
                  "the line's own transaction, call to return; held = that commit's held window, from "
                  "the first kick to the resume (the call returns later when the woken vCPU threads "
                  "take the CPU from the caller). Floor, all: every vCPU signalled at once (a "
                  "reference, not a bound: its observer sleeps between vCPUs).")
    rows, names = [], []
    for v in runs:
        rows.append((None, ["%s vCPU(s)" % num(v.get("vcpus")), "floor, all"]
                     + pcts(v.get("floor_all")) + [DASH] * 6))
        for l in v.get("lines") or []:
            if l.get("unavailable") or l.get("error"):
                rows.append(why_row(l["name"], l.get("unavailable") or l["error"],
                                    "na" if l.get("unavailable") else "bad"))
                continue
            names += [l["name"]] if l["name"] not in names else []
            rows.append((l["name"], ["", l["name"]] + pcts(l.get("stop")) + pcts(l.get("release"))
                         + pcts(l.get("commit")) + pcts(l.get("held"))))
    out.append(table("vCPUs|line|stop p50|p99|release p50|p99|commit p50|p99|held p50|p99", rows))
    counts = [v.get("vcpus") for v in runs]

    def points(name, key):
        return [(v.get("vcpus"), get(l, key, "p50")) for v in runs for l in v.get("lines") or []
                if l["name"] == name]

    def curve(name, key, style="-"):
        return (name, style, color(name), points(name, key))
    floor_pts = [(v.get("vcpus"), get(v, "floor_all", "p50")) for v in runs]
    ideal = dict(points("ideal", "commit"))
    floor = ("floor, all", "--", color("floor, all"), floor_pts)
    bound = ("floor, all + ideal", "--", color("floor, all"),
             [(n, f + ideal[n]) for n, f in floor_pts if f is not None and ideal.get(n) is not None])
    refs = {"stop": [floor], "held": [bound]}
    with chart(out, "stop, release, commit and held window p50 against the vCPU count", 1, 4,
               3.6) as ax:
        for a, key, title in zip(ax, ("stop", "release", "commit", "held"),
                                 ("stop p50", "release p50", "split or merge p50",
                                  "held window p50")):
            curves = [curve(n, key) for n in names]
            log_curves(a, curves + refs.get(key, []), counts, "vCPUs (log)", title)
    return out + ["</section>"]


def render(rep):
    body = [header(rep)]
    for i, c in enumerate(rep.get("compare") or []):
        body += compare_section(c, i)
    for key, draw in (("hold", hold_section), ("vcpus", vcpus_section), ("txn", txn_section),
                      ("dirty", dirty_section),
                      ("gate", gate_section), ("scale", scale_section)):
        if rep.get(key):  # a section not run is missing or null
            body += draw(rep[key])
    body.append(para("Rendered by tools/report.py from the JSON report (schema: "
                     "tools/README.md).", "small"))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width\">"
            "<title>kvmhold-bench report</title><style>%s</style></head><body>\n%s\n"
            "</body></html>\n" % (CSS, "\n".join(x for x in body if x)))


def main():
    ap = argparse.ArgumentParser(description="Render a kvmhold-bench JSON report as HTML.")
    ap.add_argument("json", help="the report written by kvmhold-bench --json")
    ap.add_argument("-o", "--output", required=True, help="the HTML page to write")
    args = ap.parse_args()
    try:
        with open(args.json, encoding="utf-8") as f:
            rep = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit("report.py: %s: %s" % (args.json, e))
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(render(rep))


if __name__ == "__main__":
    main()
