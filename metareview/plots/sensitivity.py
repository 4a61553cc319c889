"""Figures of the sensitivity analyses (``metareview.engine.sensitivity`` dictionaries).

* :func:`draw_leave_one_out`: a forest-style table, one row per omitted study ("Omitting
  X") with the refitted estimate and CI on the reporting scale (log axis for ratios), the
  estimate of all studies as a dashed reference line and a diamond in the last row.
* :func:`draw_cumulative`: one row per step ("+ X (year)"), the estimate and CI after
  adding that study; the last step is the full model (dashed line).
* :func:`draw_baujat`: the Baujat scatter (contribution to heterogeneity against
  influence on the overall result) with unambiguous study labels: beside their points
  or joined to them by leader lines that never cross (crowded points get their labels
  stacked in a block beside them; points whose markers overlap share one label, a name
  per line); if names cannot be placed so, numbers and a key under the plot.

Under the axis of the leave-one-out and cumulative plots: the axis title (the measure)
and, as in the forest plot, "Favours ..." either side of the null line. p, I² and tau²
are printed as the report's tables print them (:mod:`metareview.present.formats`).

Like the forest plot, the layout is computed in inches from measured text widths, rows
have a fixed height, every text is printed literally (mathtext and LaTeX off), and the
figures are built without pyplot inside :func:`~metareview.plots.common.journal_style`.
Artists carry ``gid`` s that end up as SVG ids: ``loo-row-<i>`` / ``cumul-row-<i>`` (the
row label), ``loo-ci-<i>`` / ``cumul-ci-<i>``, ``loo-marker-<i>`` / ``cumul-marker-<i>``,
``loo-full-diamond``, ``loo-full-line``, ``cumul-final-line``, ``axis-title``,
``favours-left``, ``favours-right``, ``baujat-point-<i>``, ``baujat-label-<i>`` (the
study's name), ``baujat-leader-<i>`` (``i``: the label's first point) and, when numbered,
``baujat-number-<i>`` and ``baujat-key-<n>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
    favours_line,
    finite,
    fmt_ci,
    fmt_num,
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
from metareview.plots.common import journal_style, new_figure, when_drawn
from metareview.plots.forest import default_measure_label, measure_kind
from metareview.present.formats import pct, pval

__all__ = ["draw_baujat", "draw_cumulative", "draw_leave_one_out"]

MAX_LABEL_W = 2.6
REF_COLOR = "#7a0000"
DASH = "\u2013"  # a statistic that does not apply
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
    """Header and per-row texts of the columns right of the plot, as the report's tables
    print them: p with :func:`metareview.present.formats.pval`, I² with
    :func:`~metareview.present.formats.pct` and tau² with 3 decimals
    (:func:`~metareview.present.formats.num`), "\u2013" where they do not apply (I² without a
    degree of freedom for Q, tau² of fewer than two studies)."""
    model = str(d.get("model") or "").upper()
    heads = ["p", "I\u00b2"]
    rows = []
    for e in entries:
        i2 = e.get("i2") if finite(e.get("i2")) else None
        if finite(e.get("q_df")) and e["q_df"] < 1:
            i2 = None
        rows.append([pval(e.get("pval") if finite(e.get("pval")) else None), pct(i2)])
    if model == "RE":
        heads.append("tau\u00b2")
        for r, e in zip(rows, entries, strict=True):
            single = finite(e.get("k")) and e["k"] < 2
            r.append(DASH if single or not finite(e.get("tau2")) else fmt_tau2(e["tau2"]))
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
    measure_label: str | None = None,
    favours: tuple[str, str] = ("", ""),
) -> Figure:
    kind = measure_kind(d)
    level = d.get("level") if finite(d.get("level")) else 95
    mlabel = measure_label or default_measure_label(d)
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
    cursor = y_axis + 1.25  # below tick labels
    y_xlab = cursor + 0.3  # the axis title, as the forest plot's column header names it
    cursor = y_xlab + 0.5
    have_favours = kind != "proportion" and any(favours)
    y_favours = None
    if have_favours:
        y_favours = cursor + 0.55
        cursor = y_favours + 0.5
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
    xlab = m.fit(mlabel, W - 2 * MARGIN)
    x_mid = min(max(px0 + plot_w / 2, MARGIN + m.width(xlab) / 2), W - MARGIN - m.width(xlab) / 2)
    text(x_mid, y_xlab, xlab, ha="center", gid="axis-title")
    if y_favours is not None:
        favours_line(text, m, y_favours, favours, scale, px0, plot_w, W)
    for yy, s in zip(y_footers, footers, strict=True):
        text(x_label, yy, m.fit(s, W - 2 * MARGIN), color=MUTED)
    return fig


@when_drawn
def draw_leave_one_out(
    loo_dict: Mapping[str, Any],
    fit_dict: Mapping[str, Any],
    *,
    title: str,
    study_labels: Mapping[str, str] | None = None,
    measure_label: str | None = None,
    favours_left: str = "",
    favours_right: str = "",
    note: str = "",
) -> Figure:
    """Leave-one-out forest plot from ``LeaveOneOut.to_dict()`` and the full ``Fit.to_dict()``.

    One row per omitted study ("Omitting <label>") with the refitted estimate and CI on the
    reporting scale, p-value, I^2 (and tau^2 for random-effects models); the last row and
    the dashed line are the model of all studies (``fit_dict``). Under the axis: its title
    (``measure_label``, default the measure's name) and, as in
    :func:`~metareview.plots.forest.draw_forest`, "Favours <favours_left>" and "Favours
    <favours_right>" either side of the null line (ratio and difference measures; empty
    strings are skipped).
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
        if note:  # e.g. which rows of a very large review are shown
            footers.append(clean(note))
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
            measure_label=clean(measure_label) if measure_label else None,
            favours=(clean(favours_left), clean(favours_right)),
        )


@when_drawn
def draw_cumulative(
    cumul_dict: Mapping[str, Any],
    *,
    title: str,
    study_labels: Mapping[str, str] | None = None,
    years: Mapping[str, Any] | None = None,
    measure_label: str | None = None,
    favours_left: str = "",
    favours_right: str = "",
    note: str = "",
) -> Figure:
    """Cumulative forest plot from ``Cumulative.to_dict()``: one row per step.

    Row labels are "+ <label> (<year>)"; the year comes from ``years`` (study id -> year)
    or from the steps' ``year`` (as :func:`metareview.engine.sensitivity.run_all` adds
    them) and is left out when unknown. The dashed line marks the last step (all studies).
    Axis title and favours labels as :func:`draw_leave_one_out`.
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
        if note:  # e.g. which steps of a very large review are shown
            footers.append(clean(note))
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
            measure_label=clean(measure_label) if measure_label else None,
            favours=(clean(favours_left), clean(favours_right)),
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


@when_drawn
def draw_baujat(
    baujat_dict: Mapping[str, Any],
    *,
    title: str,
    study_labels: Mapping[str, str] | None = None,
) -> Figure:
    """Baujat plot from ``Baujat.to_dict()``: x = contribution to heterogeneity, y =
    influence on the overall result, one labelled point per study (studies without both
    coordinates, e.g. a double-zero table under MH, are listed under the plot instead).

    Labels are placed so that each is unambiguous (beside its point, or joined to it by
    a leader line; leaders never cross; points whose markers overlap share one label,
    one name per line). When the names cannot all be placed so, the points are numbered
    instead (in the data's order) and a key under the plot lists the names."""
    with journal_style():
        fig, conflicts = _draw_baujat(baujat_dict, clean(title), study_labels, numbered=False)
        if conflicts > 0:
            numbered, n_conf = _draw_baujat(baujat_dict, clean(title), study_labels, numbered=True)
            if n_conf < conflicts:
                return numbered
        return fig


def _draw_baujat(
    d: Mapping[str, Any], title: str, study_labels, *, numbered: bool
) -> tuple[Figure, float]:
    W = 4.8
    fig = new_figure(W, 4.2)
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
    key: list[tuple[float, float, str, str]] = []  # (x, row, number, name) in inches, rows
    line = FONT_SIZE / 72 * 1.35  # inches per line of the key
    shown = baujat_labelled(pts)  # the points that get a label (all up to BAUJAT_LABEL_ALL)
    few = len(shown) < len(pts)
    if numbered:
        numbers = [str(i + 1) for i in range(len(shown))]
        entry_w = max(m.width(n, weight="bold") for n in numbers) + 0.06
        col_w = entry_w + max(m.width(pts[i][2]) for i in shown) + 0.2
        n_cols = max(1, int((W - 0.2 + 0.2) // col_w))
        n_rows = math.ceil(len(shown) / n_cols)
        for i, (_, _, label) in enumerate(pts[j] for j in shown):
            c, r = divmod(i, n_rows)
            x = 0.1 + c * col_w
            key.append((x, r, numbers[i], m.fit(label, col_w - entry_w - 0.1)))
        key_h = 0.25 + n_rows * line
    else:
        key_h = 0.0
    H = 4.2 + key_h
    fig.set_size_inches(W, H)
    left, right, top = 0.62, 0.18, 0.42 if title else 0.18
    bottom = 0.52 + (0.2 if missing else 0.0) + (0.2 if few else 0.0) + key_h
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

    def text(x: float, y: float, s: str, **kw: Any) -> None:  # inches from the bottom left
        fig.text(
            x / W,
            y / H,
            s,
            va=kw.pop("va", "center_baseline"),
            fontsize=kw.pop("size", FONT_SIZE),
            parse_math=False,
            usetex=False,
            **kw,
        )

    if title:
        fit = m.fit(title, W - 0.2, size=TITLE_SIZE, weight="bold")
        text(0.1, H - 0.2, fit, ha="left", size=TITLE_SIZE, weight="bold")
    point = {
        "marker": "o",
        "markersize": 3.6,
        "color": POINT_COLOR,
        "markeredgewidth": 0,
        "linestyle": "none",
        "zorder": 3,
    }
    if few:  # thousands of points: one artist, not one per point
        ax.plot([p[0] for p in pts], [p[1] for p in pts], gid="baujat-points", **point)
    else:
        for i, (xv, yv, _) in enumerate(pts):
            ax.plot([xv], [yv], gid=f"baujat-point-{i}", **point)
    names = [str(i + 1) for i in range(len(shown))] if numbered else [pts[i][2] for i in shown]
    conflicts = _place_labels(fig, ax, m, [pts[i] for i in shown], names, numbered, shown)
    if few:
        note = (
            f"Labelled: the {len(shown)} of {len(pts)} studies farthest out on either axis "
            "(all studies: the influence table)."
        )
        text(
            0.1,
            0.14 + (0.2 if missing else 0.0) + key_h,
            m.fit(note, W - 0.2),
            ha="left",
            color=MUTED,
            gid="baujat-labelled",
        )
    if numbered:
        y_key = 0.14 + (0.2 if missing else 0.0) + key_h - 0.2
        text(0.1, y_key + 0.02, "Points numbered; the studies:", color=MUTED, ha="left")
        for x, r, number, name in key:
            y = y_key - (r + 1) * line
            text(x, y, number, ha="left", weight="bold", gid=f"baujat-key-{number}")
            gid = f"baujat-label-{shown[int(number) - 1]}"
            text(x + entry_w, y, name, ha="left", gid=gid)
    if missing:
        note = "Not shown (effect size not estimable): " + ", ".join(missing)
        text(0.1, 0.14, m.fit(note, W - 0.2), ha="left", color=MUTED)
    return fig, conflicts


#: a Baujat plot of up to this many studies labels every point; a larger one labels the
#: BAUJAT_LABEL_TOP points farthest out (the label placement grows faster than linearly)
BAUJAT_LABEL_ALL = 30
BAUJAT_LABEL_TOP = 10


def baujat_labelled(pts: Sequence[tuple[float, float, Any]]) -> list[int]:
    """The points of a Baujat plot (``(x, y, ...)``) that get a label, in data order: all
    up to :data:`BAUJAT_LABEL_ALL`, else the :data:`BAUJAT_LABEL_TOP` farthest out on
    either axis, by ``max(x / max x, y / max y)`` (ties: the earlier point)."""
    n = len(pts)
    if n <= BAUJAT_LABEL_ALL:
        return list(range(n))
    xmax = max(p[0] for p in pts) or 1.0
    ymax = max(p[1] for p in pts) or 1.0
    score = [max(p[0] / xmax, p[1] / ymax) for p in pts]
    top = sorted(range(n), key=lambda i: (-score[i], i))[:BAUJAT_LABEL_TOP]
    return sorted(top)


# geometry of the label placement, in display pixels
Box = tuple[float, float, float, float]  # x0, y0, x1, y1
Segment = tuple[float, float, float, float]  # x0, y0, x1, y1

# leader directions (degrees, up-right first) and lengths (in label heights), near first
_LEADER_ANGLES = tuple(sorted(range(-165, 181, 15), key=lambda a: (abs(a - 45), a)))
_LEADER_RADII = (1.3, 1.7, 2.2, 2.8, 3.5, 4.3, 5.2, 6.2, 7.5, 9.0, 11.0, 13.5, 16.5, 20.0, 24.0)
_BLOCK_DX = (1.0, 1.5, 2.2, 3.0, 4.0, 5.5, 7.5, 10.0, 13.0, 17.0)  # label heights
_BLOCK_DY = tuple(sorted((k / 2 for k in range(-24, 41)), key=lambda d: (abs(d - 2), d)))
_CLUMP = 2.5  # points closer than this (label heights) form a clump
_LEADER_SPACING = 5.0  # pixels between the outer parts of two leaders
_LEADER_OUTER = (0.4, 0.55, 0.7, 0.85, 1.0)  # where along a leader the spacing is checked
_CONFLICT = 1e6  # cost of one crossing, covered label or point, or ambiguous label


def _orient(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> float:
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


def _segments_cross(s: Segment, t: Segment) -> bool:
    """Whether two segments intersect (touching and collinear overlap included)."""
    d1 = _orient(t[0], t[1], t[2], t[3], s[0], s[1])
    d2 = _orient(t[0], t[1], t[2], t[3], s[2], s[3])
    d3 = _orient(s[0], s[1], s[2], s[3], t[0], t[1])
    d4 = _orient(s[0], s[1], s[2], s[3], t[2], t[3])
    if ((d1 > 0) != (d2 > 0) and d1 != 0 and d2 != 0) and (
        (d3 > 0) != (d4 > 0) and d3 != 0 and d4 != 0
    ):
        return True

    def on(a: Segment, px: float, py: float, d: float) -> bool:
        return (
            abs(d) < 1e-9
            and min(a[0], a[2]) - 1e-9 <= px <= max(a[0], a[2]) + 1e-9
            and min(a[1], a[3]) - 1e-9 <= py <= max(a[1], a[3]) + 1e-9
        )

    return (
        on(t, s[0], s[1], d1)
        or on(t, s[2], s[3], d2)
        or on(s, t[0], t[1], d3)
        or on(s, t[2], t[3], d4)
    )


def _segment_hits_box(s: Segment, b: Box, pad: float = 1.0) -> bool:
    """Whether segment ``s`` enters box ``b`` grown by ``pad`` (Liang-Barsky clipping)."""
    x0, y0, x1, y1 = b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad
    dx, dy = s[2] - s[0], s[3] - s[1]
    lo, hi = 0.0, 1.0
    for p, q in ((-dx, s[0] - x0), (dx, x1 - s[0]), (-dy, s[1] - y0), (dy, y1 - s[1])):
        if p == 0:
            if q < 0:
                return False
        else:
            t = q / p
            if p < 0:
                lo = max(lo, t)
            else:
                hi = min(hi, t)
            if lo > hi:
                return False
    return True


def _point_segment_distance(px: float, py: float, s: Segment) -> float:
    dx, dy = s[2] - s[0], s[3] - s[1]
    n2 = dx * dx + dy * dy
    t = 0.0 if n2 == 0 else min(1.0, max(0.0, ((px - s[0]) * dx + (py - s[1]) * dy) / n2))
    return math.hypot(px - (s[0] + t * dx), py - (s[1] + t * dy))


def _along(a: Segment, f: float) -> tuple[float, float]:
    return a[0] + f * (a[2] - a[0]), a[1] + f * (a[3] - a[1])


def _too_close(s: Segment, t: Segment) -> bool:
    """Whether the outer parts of two leaders (away from their points) run too close to
    each other to be told apart."""
    f0 = _LEADER_OUTER[0]
    outer_s, outer_t = (*_along(s, f0), s[2], s[3]), (*_along(t, f0), t[2], t[3])
    return any(
        _point_segment_distance(*_along(a, f), b) < _LEADER_SPACING
        for a, b in ((s, outer_t), (t, outer_s))
        for f in _LEADER_OUTER
    )


def _box_distance(b: Box, px: float, py: float) -> float:
    dx = max(b[0] - px, 0.0, px - b[2])
    dy = max(b[1] - py, 0.0, py - b[3])
    return math.hypot(dx, dy)


def _overlap(a: Box, b: Box, pad: float = 1.0) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0]) + 2 * pad
    h = min(a[3], b[3]) - max(a[1], b[1]) + 2 * pad
    return w * h if w > 0 and h > 0 else 0.0


def _label_box(ax_: float, ay: float, ha: str, va: str, tw: float, th: float) -> Box:
    """The box of a label whose side ``ha``/``va`` touches the anchor (gap 1.5 px)."""
    gap = 1.5
    x0 = {"left": ax_ + gap, "right": ax_ - gap - tw, "center": ax_ - tw / 2}[ha]
    y0 = {"bottom": ay + gap, "top": ay - gap - th, "center": ay - th / 2}[va]
    return (x0, y0, x0 + tw, y0 + th)


def _place_labels(
    fig: Figure,
    ax,
    m: Measurer,
    pts,
    names: Sequence[str],
    numbered: bool,
    index: Sequence[int] | None = None,
) -> float:
    """Label the points with ``names`` so that every label is unambiguous (see
    :func:`_label_layout`); returns the layout's conflicts (0: none). ``index``: the
    points' numbers in the gids (default their positions in ``pts``).

    Points whose markers overlap (centres less than a marker apart on the page) cannot be
    told apart: they share one label, their names one per line, in the data's order.
    Gids: ``baujat-label-<i>`` (the name; ``baujat-number-<i>`` when ``numbered``) and
    ``baujat-leader-<i>`` (``i``: the first point of the label)."""
    gid_of = list(index) if index is not None else list(range(len(pts)))
    dpi = fig.dpi
    axb = ax.get_window_extent()
    centers = [(float(c[0]), float(c[1])) for c in ax.transData.transform([p[:2] for p in pts])]
    th = FONT_SIZE / 72 * dpi * 1.15  # height of a label line
    items = _overlapping(centers, _MARKER_PX)
    layout, conflicts = _label_layout(
        centers,
        items,
        [max(m.width(names[i]) for i in item) * dpi for item in items],
        (axb.x0, axb.y0, axb.x1, axb.y1),
        th,
        [max((pts[i][1], pts[i][0]) for i in item) for item in items],
    )
    for item, (box, leader) in zip(items, layout, strict=True):
        if leader is not None:
            fig.add_artist(
                Line2D(
                    [leader[0] / dpi, leader[2] / dpi],
                    [leader[1] / dpi, leader[3] / dpi],
                    transform=fig.dpi_scale_trans,
                    color=MUTED,
                    lw=0.4,
                    zorder=2,
                    gid=f"baujat-leader-{gid_of[item[0]]}",
                )
            )
        # lines aligned on the side facing the points
        cx = sum(centers[i][0] for i in item) / len(item)
        ha, x = ("right", box[2]) if (box[0] + box[2]) / 2 < cx else ("left", box[0])
        if len(item) == 1:
            ha, x = "center", (box[0] + box[2]) / 2
        for k, i in enumerate(item):
            fig.text(
                x / dpi,
                (box[3] - (k + 0.5) * th) / dpi,
                names[i],
                transform=fig.dpi_scale_trans,
                ha=ha,
                va="center",
                fontsize=FONT_SIZE,
                parse_math=False,
                usetex=False,
                gid=f"baujat-number-{gid_of[i]}" if numbered else f"baujat-label-{gid_of[i]}",
            )
    return conflicts


_MARKER_PX = 6.0  # points closer than this (display pixels) overlap on the page


def _overlapping(centers: Sequence[tuple[float, float]], d: float) -> list[list[int]]:
    """The points grouped by overlap (single linkage at distance ``d``), in data order."""
    groups: list[list[int]] = []
    for i, c in enumerate(centers):
        near = [g for g in groups if any(math.dist(c, centers[j]) < d for j in g)]
        groups = [g for g in groups if g not in near] + [sorted([i, *(j for g in near for j in g)])]
    return sorted(groups)


@dataclass(frozen=True)
class _Choice:
    """The position of one label: its box and, away from its points, its leader line."""

    item: int
    box: Box
    leader: Segment | None = None
    group: int = -1  # labels stacked in one block share a group (their leaders fan out)

    @property
    def extent(self) -> Box:
        """Box and leader, grown by the spacing of leaders (for a quick pre-test)."""
        b, sp = self.box, _LEADER_SPACING + 1
        if self.leader is None:
            return (b[0] - sp, b[1] - sp, b[2] + sp, b[3] + sp)
        xs = (b[0], b[2], self.leader[0], self.leader[2])
        ys = (b[1], b[3], self.leader[1], self.leader[3])
        return (min(xs) - sp, min(ys) - sp, max(xs) + sp, max(ys) + sp)

    @property
    def outer(self) -> Segment | None:
        """The leader's part away from its points (where leaders must stay apart)."""
        if self.leader is None:
            return None
        return (*_along(self.leader, _LEADER_OUTER[0]), self.leader[2], self.leader[3])


def _extents_meet(a: Box, b: Box) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _conflicts(c: _Choice, others: Sequence[_Choice]) -> int:
    """Conflicts of label ``c`` with the labels ``others``: overlapping labels, a leader
    through a label, crossing leaders, or leaders of different blocks too close to be
    told apart."""
    total = 0
    ext = c.extent
    for o in others:
        if not _extents_meet(ext, o.extent):
            continue
        total += _overlap(c.box, o.box) > 0
        if o.leader is not None:
            total += _segment_hits_box(o.leader, c.box)
        if c.leader is not None:
            total += _segment_hits_box(c.leader, o.box)
            if o.leader is not None:
                total += _segments_cross(c.leader, o.leader)
                if c.group < 0 or c.group != o.group:
                    total += _too_close(c.outer, o.outer)
    return total


class _Labeller:
    """The points and label items of a layout (display pixels)."""

    def __init__(self, centers, items, widths, bounds: Box, th: float) -> None:
        self.points = [(float(x), float(y)) for x, y in centers]
        self.items = [list(it) for it in items]
        self.widths = list(widths)
        self.heights = [th * len(it) for it in self.items]
        self.bounds = bounds
        self.th = th
        self.r_pt = 3.0  # point marker radius (with a margin)
        self.clear = 0.9 * th  # another point this close to a label makes it ambiguous
        self.point_boxes = [
            (x - self.r_pt, y - self.r_pt, x + self.r_pt, y + self.r_pt) for x, y in self.points
        ]
        self.centers = []
        self.radius = []  # of the item's points around its centre
        for it in self.items:
            cx = sum(self.points[i][0] for i in it) / len(it)
            cy = sum(self.points[i][1] for i in it) / len(it)
            self.centers.append((cx, cy))
            self.radius.append(max(math.dist((cx, cy), self.points[i]) for i in it))

    def passes(self, k: int, leader: Segment, mates: Sequence[int] = ()) -> int:
        """How many points of other items ``leader`` (of item ``k``) passes close by
        (over, for the points of ``mates``, the items of its block)."""
        near_mates = {i for m in mates for i in self.items[m]}
        own = set(self.items[k])
        return sum(
            1
            for i, (px, py) in enumerate(self.points)
            if i not in own
            and _point_segment_distance(px, py, leader)
            < (self.r_pt if i in near_mates else 2 * self.r_pt)
        )

    def static(self, c: _Choice, mates: Sequence[int] = ()) -> float:
        """Conflicts of a label with the points and the axes (not with other labels)."""
        box, own = c.box, set(self.items[c.item])
        x0, y0, x1, y1 = self.bounds
        n = float(sum(_overlap(box, pb) > 0 for pb in self.point_boxes))
        outside = max(0.0, x0 - box[0]) + max(0.0, box[2] - x1)
        outside += max(0.0, y0 - box[1]) + max(0.0, box[3] - y1)
        n += outside / self.th + (outside > 0)
        n += sum(
            1
            for i, pc in enumerate(self.points)
            if i not in own and _box_distance(box, *pc) < self.clear
        )
        if c.leader is not None:
            n += self.passes(c.item, c.leader, mates)
        return n

    def leader_to(self, k: int, ex: float, ey: float) -> Segment:
        """A leader from item ``k``'s points (outside their markers) to ``(ex, ey)``."""
        cx, cy = self.centers[k]
        length = math.hypot(ex - cx, ey - cy)
        u = min((self.radius[k] + self.r_pt) / length, 0.5) if length > 0 else 0.0
        return (cx + u * (ex - cx), cy + u * (ey - cy), ex, ey)

    def box(self, k: int, ex: float, ey: float, ha: str, va: str) -> Box:
        return _label_box(ex, ey, ha, va, self.widths[k], self.heights[k])

    def beside(self, k: int) -> list[_Choice]:
        """Item ``k``'s label right of, left of, above and below its points."""
        cx, cy = self.centers[k]
        g = 4.0 + self.radius[k]  # pixels between the points and the label
        spots = [(g, 0, "left", "center"), (-g, 0, "right", "center")]
        spots += [(0, g, "center", "bottom"), (0, -g, "center", "top")]
        return [_Choice(k, self.box(k, cx + dx, cy + dy, ha, va)) for dx, dy, ha, va in spots]

    def clean(self, c: _Choice, placed: Sequence[_Choice], mates: Sequence[int] = ()) -> bool:
        return self.static(c, mates) == 0 and _conflicts(c, placed) == 0

    def near(self, a: int, b: int) -> bool:
        """Whether items ``a`` and ``b`` are close enough to share a block of labels."""
        return (
            min(
                math.dist(self.points[i], self.points[j])
                for i in self.items[a]
                for j in self.items[b]
            )
            < _CLUMP * self.th
        )


@dataclass
class _Unit:
    """Labels placed together: one label, or the stacked block of a clump (``group``)."""

    items: list[int]
    choices: list[_Choice]
    group: int = -1


def _label_layout(
    centers: Sequence[tuple[float, float]],
    items: Sequence[Sequence[int]],
    widths: Sequence[float],
    bounds: Box,
    th: float,
    values: Sequence[tuple[float, float]],
) -> tuple[list[tuple[Box, Segment | None]], float]:
    """Label boxes and leader lines (display pixels) for label ``items`` (lists of
    indices of the points at ``centers``; one line per point) whose labels are ``widths``
    wide, inside ``bounds`` (the axes); ``th`` is the height of a line and ``values``
    (the item's data y, x) order the items. Returns the layout in the order of the items
    and its number of conflicts: 0 when no label overlaps another label or a point or
    leaves the axes, no label comes close to another point (where it would look like that
    point's label), and no leader crosses another, runs close beside one, runs through a
    label or passes by another point.

    1. Items are taken from the least crowded up (then from the most influential): a
       label goes beside its point (right, left, above or below) if it can without
       conflict.
    2. Items that cannot, with their close neighbours (whose labels would be in the way
       of leaders), form clumps. A clump's labels are stacked in a block to its right or
       left, at the nearest position without conflict, each joined to its point by a thin
       leader; rows are matched to points by the least total leader length, so the
       leaders do not cross. A clump without such a position joins the nearest clump in
       a larger block.
    3. Labels beside their points and blocks are placed in both orders; an item left
       over gets a label of its own at the nearest position without conflict (or with the
       fewest); labels with conflicts are then moved where they or the labels in their
       way find a clean place. The layout with fewer conflicts, then shorter leaders, is
       kept.

    Deterministic: no randomness, fixed orders and tie-breaks.
    """
    lab = _Labeller(centers, items, widths, bounds, th)
    n_items = len(lab.items)

    def crowd(k: int) -> int:
        return sum(math.dist(lab.centers[k], c) < 3 * th for c in lab.centers) - 1

    order = sorted(range(n_items), key=lambda k: (crowd(k), -values[k][0], -values[k][1], k))

    # the items whose label cannot go beside them, their close neighbours, their clumps
    pending, trial = [], []
    for k in order:
        clean = [c for c in lab.beside(k) if lab.clean(c, trial)]
        if clean:
            trial.append(clean[0])
        else:
            pending.append(k)
    members = sorted({j for k in pending for j in range(n_items) if j == k or lab.near(k, j)})
    clumps: list[list[int]] = []
    for k in members:  # single linkage
        near = [cl for cl in clumps if any(lab.near(k, j) for j in cl)]
        merged = sorted([k, *(j for cl in near for j in cl)])
        clumps = [cl for cl in clumps if cl not in near] + [merged]
    clumps.sort(key=lambda cl: (-len(cl), cl[0]))
    in_clumps = {k for cl in clumps for k in cl}

    def flat(units: list[_Unit], skip: int = -1) -> list[_Choice]:
        return [c for n, u in enumerate(units) if n != skip for c in u.choices]

    def unit_conflicts(units: list[_Unit], n: int) -> float:
        u, rest = units[n], flat(units, n)
        return sum(
            lab.static(c, u.items) + _conflicts(c, rest + u.choices[:m])
            for m, c in enumerate(u.choices)
        )

    def score(units: list[_Unit]) -> tuple[float, float]:
        """(conflicts, total leader length) of a layout."""
        n_conf, length, seen = 0.0, 0.0, []
        for u in units:
            for c in u.choices:
                n_conf += lab.static(c, u.items) + _conflicts(c, seen)
                seen.append(c)
                if c.leader is not None:
                    length += math.dist(c.leader[:2], c.leader[2:])
        return n_conf, length

    def relabel(units: list[_Unit], n: int) -> _Unit | None:
        """Unit ``n`` again, at the nearest place without conflict (None if none)."""
        u, rest = units[n], flat(units, n)
        if u.group >= 0:
            block = _place_block(lab, u.items, rest, u.group)
            return None if block is None else _Unit(u.items, block, u.group)
        k = u.items[0]
        for c in lab.beside(k):
            if lab.clean(c, rest):
                return _Unit([k], [c])
        c = _place_single(lab, k, rest)
        return _Unit([k], [c]) if lab.clean(c, rest) else None

    def place_blocks(units: list[_Unit]) -> list[int]:
        """Blocks for the clumps, largest first; a clump without a clean place is merged
        with the nearest clump (placed or not) into a larger block, if that has a clean
        place. Returns the items of clumps left without a block."""
        queue = [list(cl) for cl in clumps]
        failed: list[list[int]] = []
        group = 0
        while queue:
            clump = queue.pop(0)
            block = _place_block(lab, clump, flat(units), group)
            if block is not None:
                units.append(_Unit(clump, block, group))
                group += 1
                continue
            partners = [("unit", n, u.items) for n, u in enumerate(units) if u.group >= 0]
            partners += [("queue", n, cl) for n, cl in enumerate(queue)]
            partners += [("failed", n, cl) for n, cl in enumerate(failed)]

            def gap(partner: tuple[str, int, list[int]], clump: list[int] = clump) -> float:
                return min(
                    math.dist(lab.points[i], lab.points[j])
                    for a in clump
                    for b in partner[2]
                    for i in lab.items[a]
                    for j in lab.items[b]
                )

            merged = False
            for partner in sorted(partners, key=lambda t: (gap(t), t[0], t[1])):
                if gap(partner) >= 2 * _CLUMP * th:
                    break
                kind, n, other = partner
                grown = sorted([*clump, *other])
                block = _place_block(lab, grown, flat(units, n if kind == "unit" else -1), group)
                if block is None:
                    continue
                if kind == "unit":
                    units[n] = _Unit(grown, block, units[n].group)
                else:
                    (queue if kind == "queue" else failed).pop(n)
                    units.append(_Unit(grown, block, group))
                    group += 1
                merged = True
                break
            if not merged:
                failed.append(clump)
        return [k for cl in failed for k in cl]

    def build(blocks_first: bool) -> list[_Unit]:
        units: list[_Unit] = []
        rest: list[int] = []
        for step in ("blocks", "beside") if blocks_first else ("beside", "blocks"):
            if step == "blocks":
                rest += place_blocks(units)
                continue
            for k in order:
                if k in in_clumps:
                    continue
                clean = [c for c in lab.beside(k) if lab.clean(c, flat(units))]
                if clean:
                    units.append(_Unit([k], clean[:1]))
                else:
                    rest.append(k)
        for k in sorted(rest, key=order.index):  # labels of their own, fewest conflicts
            units.append(_Unit([k], [_place_single(lab, k, flat(units))]))
        return units

    def repair(units: list[_Unit]) -> list[_Unit]:
        """Move labels with conflicts: to a clean place, or beside their points if the
        labels in the way can move to clean places of their own."""
        for _ in range(3):
            changed = False
            for n in range(len(units)):
                if unit_conflicts(units, n) == 0:
                    continue
                new = relabel(units, n)
                if new is not None:
                    units = [*units[:n], new, *units[n + 1 :]]
                    changed = True
                    continue
                if units[n].group >= 0:
                    continue
                k = units[n].items[0]
                for c in lab.beside(k):
                    if lab.static(c) > 0:
                        continue
                    trial = [*units[:n], _Unit([k], [c]), *units[n + 1 :]]
                    for m, u in enumerate(trial):
                        if m == n or not _conflicts(c, u.choices):
                            continue
                        moved = relabel(trial, m)
                        if moved is None:
                            break
                        trial[m] = moved
                    else:
                        if score(trial) < score(units):
                            units, changed = trial, True
                            break
            if not changed:
                break
        return units

    best: tuple[tuple[float, float], list[_Unit]] | None = None
    for blocks_first in (False, True):
        units = build(blocks_first)
        if score(units)[0] > 0:
            units = repair(units)
        sc = score(units)
        if best is None or sc < best[0]:
            best = (sc, units)
        if sc[0] == 0 and not clumps:
            break  # every label beside its points: nothing to gain from the other order
    assert best is not None
    by_item = {c.item: c for u in best[1] for c in u.choices}
    return [(by_item[k].box, by_item[k].leader) for k in range(n_items)], best[0][0]


def min_cost_assignment(cost: Sequence[Sequence[float]]) -> list[int]:
    """The column of each row in a least-total-cost assignment of a square cost matrix
    (the Hungarian method with potentials, O(n^3); Kuhn 1955, Munkres 1957). Ties go to
    the lower column index, so the result is deterministic. A block of labels has a
    handful of rows, so this stays in Python rather than importing scipy.optimize (about
    0.2 s per pipeline job)."""
    n = len(cost)
    inf = float("inf")
    u, v = [0.0] * (n + 1), [0.0] * (n + 1)
    owner = [0] * (n + 1)  # owner[j]: the row (1-based) assigned to column j; 0 = free
    for i in range(1, n + 1):
        owner[0], j0 = i, 0
        minv, used, way = [inf] * (n + 1), [False] * (n + 1), [0] * (n + 1)
        while owner[j0] != 0:
            used[j0] = True
            i0, delta, j1 = owner[j0], inf, 0
            for j in range(1, n + 1):
                if used[j]:
                    continue
                cur = cost[i0 - 1][j - 1] - u[i0] - v[j]
                if cur < minv[j]:
                    minv[j], way[j] = cur, j0
                if minv[j] < delta:
                    delta, j1 = minv[j], j
            for j in range(n + 1):
                if used[j]:
                    u[owner[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
        while j0:
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    col = [0] * n
    for j in range(1, n + 1):
        col[owner[j] - 1] = j - 1
    return col


def _place_block(
    lab: _Labeller, clump: list[int], placed: list[_Choice], group: int
) -> list[_Choice] | None:
    """Stack the labels of the items ``clump`` in a block beside them at the nearest
    position without conflict (None if there is none). Rows are matched to items by the
    least total leader length, so that the block's leaders do not cross."""
    pts = [lab.points[i] for k in clump for i in lab.items[k]]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    cy = (min(ys) + max(ys)) / 2
    gap = 3.0  # between rows, more than the overlap test's padding
    heights = sorted(lab.heights[k] for k in clump)
    bh = sum(heights) + gap * len(clump)
    x0, y0, x1, y1 = lab.bounds
    narrowest = min(lab.widths[k] for k in clump)
    ha = {1: "left", -1: "right"}
    cands = []
    for side in (1, -1):
        for dx in _BLOCK_DX:
            x_near = (max(xs) if side > 0 else min(xs)) + side * dx * lab.th
            if (side > 0 and x_near + narrowest > x1) or (side < 0 and x_near - narrowest < x0):
                continue  # the block leaves the axes
            for dy in _BLOCK_DY:
                top = cy + dy * lab.th + bh / 2
                if top > y1 or top - bh < y0:
                    continue
                cost = sum(math.hypot(x_near - c[0], top - bh / 2 - c[1]) for c in pts)
                cands.append((cost, side, dx, dy, x_near, top))
    cands.sort(key=lambda c: c[:4])

    def rows_for(top: float, order: Sequence[int]) -> list[float]:
        """The centre of each row, rows stacked from ``top`` in ``order`` of items."""
        ys, y = [], top
        for k in order:
            ys.append(y - gap / 2 - lab.heights[k] / 2)
            y -= lab.heights[k] + gap
        return ys

    def build(x_near: float, side: int, slots: list[float], cost) -> list[_Choice]:
        block = []
        for r, c in enumerate(min_cost_assignment(cost)):
            k, y = clump[r], slots[c]
            box = lab.box(k, x_near, y, ha[side], "center")
            block.append(_Choice(k, box, lab.leader_to(k, x_near, y), group))
        return block

    def clean(block: list[_Choice]) -> bool:
        return all(lab.static(c, clump) == 0 for c in block) and all(
            _conflicts(c, placed + block[:n]) == 0 for n, c in enumerate(block)
        )

    same_height = len(set(heights)) == 1
    for _, side, _, _, x_near, top in cands:
        # rows of equal height are slots any item can take; otherwise items keep the
        # order of their points from top to bottom
        if same_height:
            slots = rows_for(top, clump)
        else:
            by_y = sorted(clump, key=lambda k: (-lab.centers[k][1], k))
            slots = rows_for(top, by_y)
            block = [
                _Choice(
                    k, lab.box(k, x_near, y, ha[side], "center"), lab.leader_to(k, x_near, y), group
                )
                for k, y in zip(by_y, slots, strict=True)
            ]
            if clean(block):
                return block
            continue
        dist = [[math.dist((x_near, y), lab.centers[k]) for y in slots] for k in clump]
        block = build(x_near, side, slots, dist)
        if clean(block):
            return block
        # leaders of least total length may pass over other points: avoid them
        passing = [
            [
                dist[a][b] + 1e4 * lab.passes(k, lab.leader_to(k, x_near, y), clump)
                for b, y in enumerate(slots)
            ]
            for a, k in enumerate(clump)
        ]
        block = _uncross(lab, build(x_near, side, slots, passing), clump, ha[side])
        if clean(block):
            return block
    return None


def _uncross(lab: _Labeller, block: list[_Choice], clump: list[int], ha: str) -> list[_Choice]:
    """Swap the rows of crossing leaders of a block (rows of equal height) while that
    passes over no point; each swap shortens the leaders, so this ends."""
    block = list(block)
    for _ in range(len(block) ** 2):
        pair = next(
            (
                (a, b)
                for a in range(len(block))
                for b in range(a + 1, len(block))
                if _segments_cross(block[a].leader, block[b].leader)
            ),
            None,
        )
        if pair is None:
            break
        swapped = []
        for n, m in (pair, pair[::-1]):
            k, end = block[n].item, block[m].leader[2:]
            box = lab.box(k, *end, ha, "center")
            swapped.append(_Choice(k, box, lab.leader_to(k, *end), block[n].group))
        if any(lab.passes(c.item, c.leader, clump) for c in swapped):
            break
        block[pair[0]], block[pair[1]] = swapped
    return block


def _place_single(lab: _Labeller, k: int, placed: list[_Choice]) -> _Choice:
    """Item ``k``'s label at the nearest position with the fewest conflicts, joined to
    its points by a leader."""
    cx, cy = lab.centers[k]
    best, best_cost = None, math.inf
    for r in _LEADER_RADII:
        dist = r * lab.th + lab.radius[k]
        for a in _LEADER_ANGLES:
            c, s_ = math.cos(math.radians(a)), math.sin(math.radians(a))
            ex, ey = cx + dist * c, cy + dist * s_
            if abs(c) > 0.35:
                aligns = [("left" if c > 0 else "right", "center")]
            else:  # a steep leader: the label centred over its end, or beside it
                aligns = [("center", "bottom" if s_ > 0 else "top")]
                aligns += [("left", "center"), ("right", "center")]
            for ha, va in aligns:
                cand = _Choice(k, lab.box(k, ex, ey, ha, va), lab.leader_to(k, ex, ey))
                static = lab.static(cand)
                if static * _CONFLICT + r >= best_cost:
                    continue
                cost = (static + _conflicts(cand, placed)) * _CONFLICT + r
                if cost < best_cost:
                    best, best_cost = cand, cost
        if best_cost < _CONFLICT:
            break  # the nearest ring with a clean position
    assert best is not None
    return best
