"""Figures of the sensitivity analyses (``metareview.sensitivity`` dictionaries).

* :func:`draw_leave_one_out`: a forest-style table, one row per omitted study ("Omitting
  X") with the refitted estimate and CI on the reporting scale (log axis for ratios), the
  estimate of all studies as a dashed reference line and a diamond in the last row.
* :func:`draw_cumulative`: one row per step ("+ X (year)"), the estimate and CI after
  adding that study; the last step is the full model (dashed line).
* :func:`draw_baujat`: the Baujat scatter (contribution to heterogeneity against
  influence on the overall result) with study labels placed so they do not overlap.

Like the forest plot, the layout is computed in inches from measured text widths, rows
have a fixed height, every text is printed literally (mathtext and LaTeX off), and the
figures are built without pyplot inside :func:`~metareview.plots.common.journal_style`.
Artists carry ``gid`` s that end up as SVG ids: ``loo-row-<i>`` / ``cumul-row-<i>`` (the
row label), ``loo-ci-<i>`` / ``cumul-ci-<i>``, ``loo-marker-<i>`` / ``cumul-marker-<i>``,
``loo-full-diamond``, ``loo-full-line``, ``cumul-final-line``, ``baujat-point-<i>`` and
``baujat-label-<i>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from metareview.plots._table import (
    FIG_WIDTH,
    FONT_SIZE,
    GAP,
    MARGIN,
    MAX_PLOT_W,
    MIN_PLOT_W,
    MUTED,
    ROW_H,
    SQUARE_COLOR,
    TITLE_SIZE,
    Measurer,
    back_interval,
    choose_scale,
    ci_line,
    clean,
    diamond,
    finite,
    fmt_ci,
    fmt_num,
    fmt_p,
    fmt_tau2,
    fmt_tick,
    footer_rows,
    header_rule,
    scale_axis,
    square,
    study_label,
    table_axes,
    text_fn,
    title_line,
)
from metareview.plots.common import journal_style, new_figure
from metareview.plots.forest import default_measure_label, measure_kind

__all__ = ["draw_baujat", "draw_cumulative", "draw_leave_one_out"]

MAX_LABEL_W = 2.6
REF_COLOR = "#7a0000"
POINT_COLOR = SQUARE_COLOR


# --------------------------------------------------------------------------- helpers


def _model_text(d: Mapping[str, Any]) -> str:
    model = str(d.get("model") or "").upper()
    method = clean(d.get("method"))
    test = str(d.get("test") or "z").lower()
    if model == "RE":
        text = f"random-effects model ({method}"
        text += ", Hartung-Knapp)" if test == "knha" else ")"
    elif model == "MH":
        text = "fixed-effect model (Mantel-Haenszel)"
    elif model == "PETO":
        text = "fixed-effect model (Peto)"
    else:
        text = "fixed-effect model (inverse variance"
        text += ", Hartung-Knapp)" if test == "knha" else ")"
    return text


def _fmt_i2(x: Any) -> str:
    return f"{float(x):.0f}%" if finite(x) else "NA"


def _fmt_year(y: Any) -> str | None:
    if y is None or (isinstance(y, str) and not y.strip()):
        return None
    if isinstance(y, float) and not math.isfinite(y):
        return None
    if isinstance(y, float) and y.is_integer():
        return str(int(y))
    return clean(y)


class _Row:
    def __init__(self, label: str, back: Mapping[str, Any] | None, cols: list[str]) -> None:
        self.label = label
        self.est, self.lo, self.hi = back_interval(back)
        self.cols = cols


def _stat_columns(d: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]):
    """Header and per-row texts of the columns right of the plot."""
    model = str(d.get("model") or "").upper()
    heads = ["p", "I\u00b2"]
    rows = []
    for e in entries:
        p = fmt_p(e.get("pval")).replace("p = ", "").replace("p < ", "< ")
        rows.append([p, _fmt_i2(e.get("i2"))])
    if model == "RE":
        heads.append("tau\u00b2")
        for r, e in zip(rows, entries, strict=True):
            r.append(fmt_tau2(e.get("tau2")))
    return heads, rows


# --------------------------------------------------------------------------- row plots


def _draw_rows(
    d: Mapping[str, Any],
    *,
    title: str,
    first_head: str,
    rows: list[_Row],
    stat_heads: list[str],
    prefix: str,
    reference: tuple[str, Mapping[str, Any], list[str]] | None,
    ref_value: float | None,
    ref_gid: str,
    footers: list[str],
) -> Figure:
    kind = measure_kind(d)
    level = d.get("level") if finite(d.get("level")) else 95
    mlabel = default_measure_label(d)
    est_head = f"{mlabel} [{float(level):g}% CI]"
    fig = new_figure(FIG_WIDTH, 4.0)
    m = Measurer(fig)
    W = FIG_WIDTH
    bold = {"weight": "bold"}

    ref_label, ref_back, ref_cols = reference if reference else ("", {}, [])
    ref_est = ref_back.get("estimate") if reference else None
    ref_ok = reference is not None and finite(ref_est)

    est_txt = [fmt_num(r.est) if r.est is not None else "NA" for r in rows]
    ci_txt = [fmt_ci(r.lo, r.hi) if r.est is not None else "" for r in rows]
    ref_est_txt = fmt_num(ref_est) if ref_ok else ""
    ref_ci_txt = fmt_ci(ref_back.get("ci_lb"), ref_back.get("ci_ub")) if ref_ok else ""
    space_w = m.width("\u2002")
    est_w_num = max(m.max_width(est_txt), m.width(ref_est_txt, **bold))
    ci_w = max(m.max_width(ci_txt), m.width(ref_ci_txt, **bold))
    est_col_w = max(est_w_num + space_w + ci_w, m.width(est_head, **bold))
    stat_w = []
    for j, head in enumerate(stat_heads):
        body = [r.cols[j] for r in rows] + ([ref_cols[j]] if ref_cols else [])
        stat_w.append(max(m.max_width(body), m.width(head, **bold), m.width("0.00")))
    label_need = max(
        m.max_width(r.label for r in rows),
        m.width(ref_label, **bold) if reference else 0.0,
        m.width(first_head, **bold),
    )
    fixed = 2 * MARGIN + est_col_w + sum(stat_w) + GAP * (len(stat_w) + 2)
    label_w = min(label_need, MAX_LABEL_W, W - fixed - MIN_PLOT_W)
    plot_w = min(W - fixed - label_w, MAX_PLOT_W)
    label_w = W - fixed - plot_w  # leftover space goes to the label column

    x_label = MARGIN
    px0 = MARGIN + label_w + GAP
    px1 = px0 + plot_w
    x_est0 = px1 + GAP
    x_est_num_r = x_est0 + (est_col_w - (est_w_num + space_w + ci_w)) / 2 + est_w_num
    x_ci_l = x_est_num_r + space_w
    x_stat_r = []
    x = x_est0 + est_col_w
    for w in stat_w:
        x += GAP + w
        x_stat_r.append(x)

    # vertical layout in row units
    k = len(rows)
    y_head = -1.0
    y_title = -2.45 if title else None
    y_rule = -0.5
    y_ref = k + 0.5 if reference else None
    last = y_ref if y_ref is not None else k - 1
    y_axis = last + 0.75
    cursor = y_axis + 1.25
    y_footers, cursor = footer_rows(cursor, len(footers))
    y_bottom = cursor + 0.45
    y_top = (y_title - 0.85) if title else (y_head - 0.9)
    ax, tr = table_axes(
        fig, W, px0, plot_w, y_top=y_top, y_bottom=y_bottom, y_axis=y_axis, y_rule=y_rule
    )
    text = text_fn(fig, tr)

    if title:
        title_line(text, m, y_title, title, W)
    text(x_label, y_head, m.fit(first_head, label_w, **bold), weight="bold")
    text(x_est0 + est_col_w / 2, y_head, m.fit(est_head, est_col_w, **bold), ha="center", **bold)
    for head, xr in zip(stat_heads, x_stat_r, strict=True):
        text(xr, y_head, head, ha="right", weight="bold")
    header_rule(fig, tr, W, y_rule)

    # scale
    core = [r.est for r in rows if r.est is not None]
    extended = [v for r in rows for v in (r.lo, r.hi) if v is not None]
    if ref_ok:
        core += [v for v in (ref_est, ref_back.get("ci_lb"), ref_back.get("ci_ub")) if finite(v)]
    if ref_value is not None and finite(ref_value):
        core.append(ref_value)
    scale = choose_scale(kind, core, extended)
    scale_axis(ax, scale)
    if ref_value is not None and finite(ref_value) and scale.lo <= ref_value <= scale.hi:
        ax.plot(
            [ref_value, ref_value],
            [y_rule, last + 0.5],
            color=REF_COLOR,
            lw=0.7,
            ls=(0, (3, 2)),
            zorder=1,
            gid=ref_gid,
        )

    # rows
    marker = 0.5 * 0.72 * ROW_H * 72
    for i, r in enumerate(rows):
        text(x_label, i, m.fit(r.label, label_w), gid=f"{prefix}-row-{i}")
        text(x_est_num_r, i, est_txt[i], ha="right", color="black" if r.est is not None else MUTED)
        text(x_ci_l, i, ci_txt[i], ha="left")
        for s, xr in zip(r.cols, x_stat_r, strict=True):
            text(xr, i, s, ha="right")
        if r.est is None:
            continue
        if r.lo is not None and r.hi is not None:
            ci_line(ax, r.lo, r.hi, i, scale, gid=f"{prefix}-ci-{i}")
        if scale.lo <= r.est <= scale.hi:
            square(ax, r.est, i, marker, f"{prefix}-marker-{i}")

    if reference is not None and y_ref is not None:
        text(x_label, y_ref, m.fit(ref_label, label_w, **bold), weight="bold")
        if ref_ok:
            text(x_est_num_r, y_ref, ref_est_txt, ha="right", weight="bold")
            text(x_ci_l, y_ref, ref_ci_txt, ha="left", weight="bold")
            for s, xr in zip(ref_cols, x_stat_r, strict=True):
                text(xr, y_ref, s, ha="right", weight="bold")
            lb = ref_back.get("ci_lb") if finite(ref_back.get("ci_lb")) else ref_est
            ub = ref_back.get("ci_ub") if finite(ref_back.get("ci_ub")) else ref_est
            lb, ub = max(lb, scale.lo), min(ub, scale.hi)
            diamond(ax, ref_est, lb, ub, y_ref, f"{prefix}-full-diamond")
    for yy, s in zip(y_footers, footers, strict=True):
        text(x_label, yy, m.fit(s, W - 2 * MARGIN), color=MUTED)
    return fig


def draw_leave_one_out(
    loo_dict: Mapping[str, Any],
    fit_dict: Mapping[str, Any],
    *,
    title: str,
    study_labels: Mapping[str, str] | None = None,
) -> Figure:
    """Leave-one-out forest plot from ``LeaveOneOut.to_dict()`` and the full ``Fit.to_dict()``.

    One row per omitted study ("Omitting <label>") with the refitted estimate and CI on the
    reporting scale, p-value, I^2 (and tau^2 for random-effects models); the last row and
    the dashed line are the model of all studies (``fit_dict``).
    """
    with journal_style():
        entries = list(loo_dict.get("studies") or [])
        heads, cols = _stat_columns(loo_dict, entries)
        rows = [
            _Row(f"Omitting {study_label(e.get('study'), study_labels)}", e.get("back"), c)
            for e, c in zip(entries, cols, strict=True)
        ]
        fit_back = fit_dict.get("back") or {}
        _, ref_cols = _stat_columns(loo_dict, [fit_dict])
        ref_value = fit_back.get("estimate") if finite(fit_back.get("estimate")) else None
        k = fit_dict.get("k") if finite(fit_dict.get("k")) else len(entries)
        footers = [
            f"Each row: the {_model_text(loo_dict)} refitted without that study; "
            "dashed line and diamond: all studies."
        ]
        failed = sum(1 for r in rows if r.est is None)
        if failed:
            footers.append(f"NA: the model could not be fitted without that study ({failed}).")
        return _draw_rows(
            loo_dict,
            title=clean(title),
            first_head="Omitted study",
            rows=rows,
            stat_heads=heads,
            prefix="loo",
            reference=(f"All studies (k = {int(k)})", fit_back, ref_cols[0]),
            ref_value=ref_value,
            ref_gid="loo-full-line",
            footers=footers,
        )


def draw_cumulative(
    cumul_dict: Mapping[str, Any],
    *,
    title: str,
    study_labels: Mapping[str, str] | None = None,
    years: Mapping[str, Any] | None = None,
) -> Figure:
    """Cumulative forest plot from ``Cumulative.to_dict()``: one row per step.

    Row labels are "+ <label> (<year>)"; the year comes from ``years`` (study id -> year)
    or from the steps' ``year`` (as :func:`metareview.sensitivity.run_all` adds
    them) and is left out when unknown. The dashed line marks the last step (all studies).
    """
    with journal_style():
        steps = list(cumul_dict.get("steps") or [])
        heads, cols = _stat_columns(cumul_dict, steps)
        heads = ["k", *heads]
        rows = []
        for e, c in zip(steps, cols, strict=True):
            sid = e.get("study")
            year = years.get(str(sid)) if years is not None else e.get("year")
            ytxt = _fmt_year(year)
            label = f"+ {study_label(sid, study_labels)}"
            if ytxt:
                label += f" ({ytxt})"
            kk = e.get("k")
            rows.append(_Row(label, e.get("back"), [str(int(kk)) if finite(kk) else "", *c]))
        final = None
        if steps:
            back = steps[-1].get("back") or {}
            final = back.get("estimate") if finite(back.get("estimate")) else None
        footers = [
            f"Each row: the {_model_text(cumul_dict)} of the studies up to and including that "
            "row; dashed line: all studies."
        ]
        return _draw_rows(
            cumul_dict,
            title=clean(title),
            first_head="Study added",
            rows=rows,
            stat_heads=heads,
            prefix="cumul",
            reference=None,
            ref_value=final,
            ref_gid="cumul-final-line",
            footers=footers,
        )


# --------------------------------------------------------------------------- Baujat


def _nice_upper(v: float) -> list[float]:
    locator = ticker.MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10])
    ticks = [float(t) for t in locator.tick_values(0.0, v if v > 0 else 1.0)]
    ticks = [t for t in ticks if t >= 0]
    while len(ticks) > 2 and ticks[-2] >= v * 1.08:
        ticks.pop()
    if ticks[-1] < v * 1.08:  # room for the marker and its label
        step = ticks[1] - ticks[0]
        ticks.append(ticks[-1] + step)
    return [round(t, 10) + 0.0 for t in ticks]


def draw_baujat(
    baujat_dict: Mapping[str, Any],
    *,
    title: str,
    study_labels: Mapping[str, str] | None = None,
) -> Figure:
    """Baujat plot from ``Baujat.to_dict()``: x = contribution to heterogeneity, y =
    influence on the overall result, one labelled point per study (studies without both
    coordinates, e.g. a double-zero table under MH, are listed under the plot instead)."""
    with journal_style():
        return _draw_baujat(baujat_dict, clean(title), study_labels)


def _draw_baujat(d: Mapping[str, Any], title: str, study_labels) -> Figure:
    W, H = 4.8, 4.2
    fig = new_figure(W, H)
    m = Measurer(fig)
    entries = list(d.get("studies") or [])
    pts = []
    missing = []
    for e in entries:
        label = study_label(e.get("study"), study_labels)
        if finite(e.get("x")) and finite(e.get("y")):
            pts.append((float(e["x"]), float(e["y"]), label))
        else:
            missing.append(label)
    left, right, top = 0.62, 0.18, 0.42 if title else 0.18
    bottom = 0.52 + (0.2 if missing else 0.0)
    ax = fig.add_axes((left / W, bottom / H, (W - left - right) / W, (H - top - bottom) / H))
    xt = _nice_upper(max((p[0] for p in pts), default=1.0))
    yt = _nice_upper(max((p[1] for p in pts), default=1.0))
    ax.set_xlim(xt[0] - 0.03 * (xt[-1] - xt[0]), xt[-1])
    ax.set_ylim(yt[0] - 0.03 * (yt[-1] - yt[0]), yt[-1])
    ax.set_xticks(xt, [fmt_tick(t) for t in xt])
    ax.set_yticks(yt, [fmt_tick(t) for t in yt])
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.yaxis.set_minor_locator(ticker.NullLocator())
    for lab in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
        lab.set_parse_math(False)
    ax.grid(True, color="#dddddd", lw=0.5, zorder=0)
    ax.set_axisbelow(True)
    xlab = clean(d.get("xlab")) or "Contribution to overall heterogeneity"
    ylab = clean(d.get("ylab")) or "Influence on overall result"
    ax.set_xlabel(xlab, parse_math=False)
    ax.set_ylabel(ylab, parse_math=False)
    if title:
        fig.text(
            0.1 / W,
            1 - 0.2 / H,
            m.fit(title, W - 0.2, size=TITLE_SIZE, weight="bold"),
            ha="left",
            va="center_baseline",
            fontsize=TITLE_SIZE,
            weight="bold",
            parse_math=False,
            usetex=False,
        )
    for i, (xv, yv, _) in enumerate(pts):
        ax.plot(
            [xv],
            [yv],
            marker="o",
            markersize=3.6,
            color=POINT_COLOR,
            markeredgewidth=0,
            linestyle="none",
            zorder=3,
            gid=f"baujat-point-{i}",
        )
    _place_labels(fig, ax, m, pts)
    if missing:
        note = "Not shown (effect size not estimable): " + ", ".join(missing)
        fig.text(
            0.1 / W,
            0.14 / H,
            m.fit(note, W - 0.2),
            ha="left",
            va="center_baseline",
            fontsize=FONT_SIZE,
            color=MUTED,
            parse_math=False,
            usetex=False,
        )
    return fig


def _place_labels(fig: Figure, ax, m: Measurer, pts) -> None:
    """Label each point without overlapping other labels or points.

    Candidates are tried in order of distance: beside the point (right, left), above and
    below it, then further away in steps of one text height (with a thin leader line).
    The first candidate that overlaps nothing and stays inside the axes wins; if none
    does, the one with the least overlap. Deterministic: points are labelled from the
    most influential down.
    """
    dpi = fig.dpi
    ax_box = ax.get_window_extent()
    centers = [tuple(ax.transData.transform((x, y))) for x, y, _ in pts]
    text_h = FONT_SIZE / 72 * dpi * 1.15
    g = 4.0  # pixels between a point and its label
    pad = 1.0
    cands: list[tuple[str, float, float]] = [  # (ha, dx, dy) of the label's centre line
        ("left", g, 0.0),
        ("right", -g, 0.0),
        ("center", 0.0, g + text_h / 2),
        ("center", 0.0, -g - text_h / 2),
    ]
    for ring in range(1, 8):
        dy = ring * text_h
        for sign in (1, -1):
            cands += [("left", g, sign * dy), ("right", -g, sign * dy)]
    for ring in range(1, 4):
        dx = g + ring * 3 * text_h
        cands += [("left", dx, 0.0), ("right", -dx, 0.0)]
    placed: list[tuple[float, float, float, float]] = []
    point_boxes = [(cx - 3, cy - 3, cx + 3, cy + 3) for cx, cy in centers]

    def overlap(a, b) -> float:
        w = min(a[2], b[2]) - max(a[0], b[0]) + 2 * pad
        h = min(a[3], b[3]) - max(a[1], b[1]) + 2 * pad
        return w * h if w > 0 and h > 0 else 0.0

    def box_of(ha, x, y, tw):
        x0 = {"left": x, "right": x - tw, "center": x - tw / 2}[ha]
        return (x0, y - text_h / 2, x0 + tw, y + text_h / 2)

    order = sorted(range(len(pts)), key=lambda i: (-pts[i][1], -pts[i][0], i))
    for i in order:
        cx, cy = centers[i]
        label = pts[i][2]
        tw = m.width(label) * dpi
        best, best_cost = None, math.inf
        for n, (ha, dx, dy) in enumerate(cands):
            box = box_of(ha, cx + dx, cy + dy, tw)
            cost = sum(overlap(box, p) for p in placed)
            cost += sum(overlap(box, p) for j, p in enumerate(point_boxes) if j != i)
            outside = (
                max(0.0, ax_box.x0 - box[0])
                + max(0.0, box[2] - ax_box.x1)
                + max(0.0, ax_box.y0 - box[1])
                + max(0.0, box[3] - ax_box.y1)
            )
            cost += outside * text_h * 4 + n * 1e-3  # prefer near candidates on ties
            if n >= 4:  # a leader line should cross neither labels nor other points
                ex = box[0] if ha == "left" else box[2]
                for t in np.linspace(0.15, 0.95, 9):
                    px, py = cx + t * (ex - cx), cy + t * (cy + dy - cy)
                    for b in placed + [pb for j, pb in enumerate(point_boxes) if j != i]:
                        if b[0] - pad <= px <= b[2] + pad and b[1] - pad <= py <= b[3] + pad:
                            cost += text_h
            if cost < best_cost:
                best, best_cost = (ha, cx + dx, cy + dy, box, n), cost
            if cost < 1:
                break
        ha, tx, ty, box, n = best
        placed.append(box)
        if n >= 4:  # away from the point: a leader line to the label's near edge
            ex = box[0] if ha == "left" else box[2]
            fig.add_artist(
                Line2D(
                    [cx / dpi, ex / dpi],
                    [cy / dpi, ty / dpi],
                    transform=fig.dpi_scale_trans,
                    color=MUTED,
                    lw=0.4,
                    zorder=2,
                    gid=f"baujat-leader-{i}",
                )
            )
        fig.text(
            tx / dpi,
            ty / dpi,
            label,
            transform=fig.dpi_scale_trans,
            ha=ha,
            va="center",
            fontsize=FONT_SIZE,
            parse_math=False,
            usetex=False,
            gid=f"baujat-label-{i}",
        )
