"""Funnel plots (standard and contour-enhanced) from ``engine.smallstudy.funnel_data``.

As metafor's ``funnel.rma``: x is the effect on the analysis scale (for ratio measures the
log scale, with ticks labelled with the back-transformed ratios), y is the standard error
with 0 at the top, and the pseudo 95% confidence region ``estimate +/- 1.96 sei`` is drawn
as a triangle around the pooled estimate. Trim-and-fill studies are open circles. The
contour-enhanced funnel (Peters et al. 2008, J Clin Epidemiol 61:991) shades the regions
where a study's own test against the null would give p > 0.10, 0.05 < p <= 0.10,
0.01 < p <= 0.05 and p <= 0.01.

Figures are pyplot-free, drawn inside :func:`journal_style`; every text is printed
literally (no mathtext). Artists carry ``gid``s (the SVG element ids): ``funnel-point-<i>``
per study, ``funnel-filled-<i>`` per filled study, ``funnel-region`` (the pseudo-CI
region), ``funnel-estimate`` (the pooled estimate), ``funnel-adjusted`` (the trim-and-fill
estimate when drawn beside the observed one), ``funnel-contour-<j>`` (contour bands,
j = 0 for the innermost, p > 0.10) and ``funnel-null``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon, Rectangle
from matplotlib.text import Text

from metareview.plots._table import FONT_SIZE, TITLE_SIZE, Measurer, clean, fmt_tick
from metareview.plots.common import journal_style, new_figure, when_drawn
from metareview.plots.forest import measure_kind
from metareview.plots.paging import is_paged

__all__ = ["draw_funnel"]

FIG_W = 4.8  # inches
AX_H = 3.1  # inches
LEFT, RIGHT = 0.62, 0.18  # inches
TITLE_LINE = 0.17  # inches per title line
LABEL_SIZE = 6.0
LEGEND_ROW = 0.17  # inches
LEGEND_GAP = 0.46  # axis line to the top of the legend (tick labels, x label), inches

POINT_COLOR = "#000000"
REGION_FILL = "#eeeeee"
REGION_EDGE = "#555555"
ESTIMATE_COLOR = "#000000"
ADJUSTED_COLOR = "#7a0000"
#: contour bands from the innermost (p > 0.10) to the outermost (p <= 0.01)
CONTOUR_FILLS = ("#ffffff", "#e3e3e3", "#c4c4c4", "#a3a3a3")


def _fmt_p(p: float) -> str:
    return f"{p:.2f}" if round(p, 2) == p else f"{p:g}"


def _ratio_ticks(lo: float, hi: float) -> list[float]:
    """Nice ratio values inside [lo, hi] (1-2-5, else decades, else finer)."""
    options = ((1, 2, 5), (1,), (1, 1.5, 2, 3, 5, 7), (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8))
    best: list[float] = []
    for mantissas in options:
        cands = sorted(m * 10.0**e for e in range(-4, 5) for m in mantissas)
        inside = [c for c in cands if lo <= c <= hi]
        if 3 <= len(inside) <= 7:
            return inside
        if len(inside) > len(best) and len(inside) <= 7:
            best = inside
    return best or [math.exp((math.log(lo) + math.log(hi)) / 2)]


def _linear_ticks(lo: float, hi: float, nbins: int = 5) -> list[float]:
    locator = ticker.MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10])
    return [round(float(t), 10) + 0.0 for t in locator.tick_values(lo, hi) if lo <= t <= hi]


@when_drawn
def draw_funnel(
    data: Mapping[str, Any],
    *,
    title: str,
    measure_label: str,
    study_labels: Mapping[str, str] | None = None,
    trimfill: Mapping[str, Any] | None = None,
    contours: bool = False,
) -> Figure:
    """Draw a funnel plot of ``data`` (:func:`metareview.engine.smallstudy.funnel_data`).

    ``measure_label`` names the x axis ("Odds ratio"; " (log scale)" is added for ratio
    measures). ``trimfill`` is a ``TrimFillResult.to_dict()``: its filled studies are drawn
    as open circles and its adjusted estimate as a dashed line (if ``data`` itself was made
    from the trim-and-fill result, its points already hold the filled studies and its
    centre is the adjusted estimate, as ``funnel(trimfill(res))`` in metafor).
    ``study_labels`` (study id -> label; ids not in it are shown as they are): when given,
    the studies outside the pseudo 95% region are labelled. ``contours=True`` draws the
    contour-enhanced funnel around ``data["null"]`` (``data["contours"]``) instead of the
    pseudo-confidence triangle.
    """
    with journal_style():
        fig = _draw(
            data,
            title=clean(title),
            measure_label=clean(measure_label),
            study_labels=study_labels,
            trimfill=trimfill,
            contours=contours,
        )
        for text in fig.findobj(Text):
            text.set_parse_math(False)
            text.set_usetex(False)
        return fig


def _draw(
    data: Mapping[str, Any],
    *,
    title: str,
    measure_label: str,
    study_labels: Mapping[str, str] | None,
    trimfill: Mapping[str, Any] | None,
    contours: bool,
) -> Figure:
    kind = measure_kind({"measure": data.get("measure")})
    points = list(data.get("points") or [])
    if not points:
        raise ValueError("draw_funnel: no points to draw")
    band_list = list(data.get("contours") or [])
    if contours and (data.get("null") is None or not band_list):
        raise ValueError("draw_funnel: contours need a null value (data['null']) and levels")
    observed = [p for p in points if not p.get("filled")]
    filled = [p for p in points if p.get("filled")]
    from_trimfill = bool(filled) or int(data.get("k0") or 0) > 0
    adjusted_est = None
    if trimfill is not None and not from_trimfill:
        for f in trimfill.get("filled") or []:
            filled.append({"study": f["study"], "yi": f["yi"], "sei": math.sqrt(f["vi"])})
        adj = trimfill.get("adjusted") or {}
        if int(trimfill.get("k0") or 0) > 0 and adj.get("estimate") is not None:
            adjusted_est = float(adj["estimate"])
    est = float(data["estimate"])
    top = float(data["sei_top"])
    null = data.get("null")

    # ------------------------------------------------------------------ legend entries
    handles: list[Any] = []
    if contours:
        ps = [float(b["p"]) for b in band_list]
        names = [f"p > {_fmt_p(ps[0])}"]
        names += [f"{_fmt_p(ps[j + 1])} < p \u2264 {_fmt_p(ps[j])}" for j in range(len(ps) - 1)]
        names.append(f"p \u2264 {_fmt_p(ps[-1])}")
        for j, name in enumerate(names):
            handles.append(
                Patch(
                    facecolor=CONTOUR_FILLS[min(j, len(CONTOUR_FILLS) - 1)],
                    edgecolor="#777777",
                    lw=0.4,
                    label=name,
                )
            )
    handles.append(
        Line2D([], [], marker="o", ms=4, color=POINT_COLOR, linestyle="none", label="Studies")
    )
    if filled:
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                ms=4,
                markerfacecolor="white",
                markeredgecolor=POINT_COLOR,
                linestyle="none",
                label="Filled studies (trim and fill)",
            )
        )
    est_label = "Adjusted estimate (trim and fill)" if from_trimfill else "Pooled estimate"
    handles.append(Line2D([], [], color=ESTIMATE_COLOR, lw=0.8, label=est_label))
    if adjusted_est is not None:
        handles.append(
            Line2D(
                [],
                [],
                color=ADJUSTED_COLOR,
                lw=0.8,
                ls="--",
                label="Adjusted estimate (trim and fill)",
            )
        )
    if not contours:
        level = data.get("level") or 95
        handles.append(
            Line2D(
                [],
                [],
                color=REGION_EDGE,
                lw=0.6,
                ls=(0, (3, 2)),
                label=f"Pseudo {float(level):g}% confidence limits",
            )
        )

    # ------------------------------------------------------------------ layout (inches)
    fig = new_figure(FIG_W, 4.0)
    meas = Measurer(fig)
    title_lines = (
        meas.wrap(title, FIG_W - 2 * 0.1, 2, size=TITLE_SIZE, weight="bold") if title else []
    )
    top_margin = 0.12 + TITLE_LINE * len(title_lines) + (0.08 if title_lines else 0)
    legend_rows = math.ceil(len(handles) / 2)
    bottom_margin = LEGEND_GAP + LEGEND_ROW * legend_rows + 0.1
    fig_h = top_margin + AX_H + bottom_margin
    fig.set_size_inches(FIG_W, fig_h)
    ax_w = FIG_W - LEFT - RIGHT
    ax = fig.add_axes((LEFT / FIG_W, bottom_margin / fig_h, ax_w / FIG_W, AX_H / fig_h))
    for j, line in enumerate(title_lines):
        fig.text(
            0.1 / FIG_W,
            1 - (0.12 + TITLE_LINE * (j + 0.7)) / fig_h,
            line,
            ha="left",
            va="baseline",
            fontsize=TITLE_SIZE,
            weight="bold",
        )

    # ------------------------------------------------------------------ limits
    xlim = list(data["contour_xlim"] if contours and data.get("contour_xlim") else data["xlim"])
    if filled:
        xs = [p["yi"] for p in filled]
        span = xlim[1] - xlim[0]
        xlim = [min(xlim[0], min(xs) - 0.05 * span), max(xlim[1], max(xs) + 0.05 * span)]
    ax.set_xlim(*xlim)
    ax.set_ylim(top, 0.0)

    # ------------------------------------------------------------------ background
    if contours:
        rect = Rectangle(
            (xlim[0], 0.0),
            xlim[1] - xlim[0],
            top,
            facecolor=CONTOUR_FILLS[min(len(band_list), len(CONTOUR_FILLS) - 1)],
            edgecolor="none",
            zorder=0,
            gid=f"funnel-contour-{len(band_list)}",
        )
        ax.add_patch(rect)
        nul = float(null)
        for j in range(len(band_list) - 1, -1, -1):  # widest (smallest p) first
            z = float(band_list[j]["crit"])
            tri = Polygon(
                [(nul, 0.0), (nul - z * top, top), (nul + z * top, top)],
                closed=True,
                facecolor=CONTOUR_FILLS[min(j, len(CONTOUR_FILLS) - 1)],
                edgecolor="#777777",
                lw=0.4,
                zorder=0.5,
                gid=f"funnel-contour-{j}",
            )
            ax.add_patch(tri)
        ax.plot([nul, nul], [0.0, top], color="#777777", lw=0.6, zorder=1, gid="funnel-null")
    else:
        region = data["region"]
        s, lb, ub = region["sei"], region["lb"], region["ub"]
        verts = list(zip(lb, s, strict=True)) + list(zip(ub[::-1], s[::-1], strict=True))
        ax.add_patch(
            Polygon(
                verts,
                closed=True,
                facecolor=REGION_FILL,
                edgecolor="none",
                zorder=0.5,
                gid="funnel-region",
            )
        )
        for side, xs in (("lb", lb), ("ub", ub)):
            ax.plot(
                xs,
                s,
                color=REGION_EDGE,
                lw=0.6,
                ls=(0, (3, 2)),
                zorder=1,
                gid=f"funnel-region-{side}",
            )
    ax.plot([est, est], [0.0, top], color=ESTIMATE_COLOR, lw=0.8, zorder=2, gid="funnel-estimate")
    if adjusted_est is not None:
        ax.plot(
            [adjusted_est, adjusted_est],
            [0.0, top],
            color=ADJUSTED_COLOR,
            lw=0.8,
            ls="--",
            zorder=2,
            gid="funnel-adjusted",
        )

    # ------------------------------------------------------------------ points
    many = is_paged(len(observed))  # thousands of studies: one artist, no study labels
    point = {"marker": "o", "ms": 4, "color": POINT_COLOR, "markeredgewidth": 0.5}
    if many:
        xs, ys = [p["yi"] for p in observed], [p["sei"] for p in observed]
        ax.plot(xs, ys, linestyle="none", zorder=4, gid="funnel-points", **point)
    for i, p in enumerate([] if many else observed):
        ax.plot(
            [p["yi"]],
            [p["sei"]],
            **point,
            linestyle="none",
            zorder=4,
            gid=f"funnel-point-{i}",
        )
    for i, p in enumerate(filled):
        ax.plot(
            [p["yi"]],
            [p["sei"]],
            marker="o",
            ms=4,
            markerfacecolor="white",
            markeredgecolor=POINT_COLOR,
            markeredgewidth=0.7,
            linestyle="none",
            zorder=4,
            gid=f"funnel-filled-{i}",
        )
    if study_labels is not None and not many:
        crit = float((data.get("region") or {}).get("crit") or 1.959963984540054)
        for i, p in enumerate(observed):
            if abs(p["yi"] - est) <= crit * p["sei"]:
                continue
            label = clean(study_labels.get(str(p["study"]), p["study"]))
            right = p["yi"] >= est
            ax.annotate(
                meas.fit(label, 1.4, size=LABEL_SIZE),
                xy=(p["yi"], p["sei"]),
                xytext=(4 if right else -4, 0),
                textcoords="offset points",
                ha="left" if right else "right",
                va="center",
                fontsize=LABEL_SIZE,
                color="#333333",
                annotation_clip=False,
                gid=f"funnel-label-{i}",
            )

    # ------------------------------------------------------------------ axes
    if kind == "ratio":
        ticks = _ratio_ticks(math.exp(xlim[0]), math.exp(xlim[1]))
        ax.set_xticks([math.log(t) for t in ticks], [fmt_tick(t) for t in ticks])
        xlabel = f"{measure_label} (log scale)" if measure_label else "(log scale)"
    else:
        ticks = _linear_ticks(xlim[0], xlim[1])
        ax.set_xticks(ticks, [fmt_tick(t) for t in ticks])
        xlabel = measure_label
    yt = _linear_ticks(0.0, top)
    ax.set_yticks(yt, [fmt_tick(t) for t in yt])
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.yaxis.set_minor_locator(ticker.NullLocator())
    ax.set_xlabel(meas.fit(xlabel, ax_w, size=FONT_SIZE))
    ax.set_ylabel("Standard error")
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -LEGEND_GAP / AX_H),
        ncol=2,
        frameon=False,
        handlelength=1.8,
        columnspacing=1.5,
        borderaxespad=0.0,
    )
    return fig
