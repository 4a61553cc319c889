"""Bubble plot of a meta-regression (``pooling.meta_regression``), as metafor's
``regplot``: each study a circle with area proportional to its weight in the model, the
fitted line with its confidence band along a continuous moderator, or the fitted value
with its confidence interval at each level of a categorical one. Effects are shown on the
reporting scale (a log axis for ratios, proportions as they are)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.text import Text

from metareview.engine import measures
from metareview.plots._table import clean
from metareview.plots.common import journal_style, new_figure, when_drawn

FIG_W, FIG_H = 5.0, 3.4
POINT_FACE = "#9ecae1"
POINT_EDGE = "#08519c"
LINE = "#000000"
BAND = "#d9d9d9"
MAX_AREA = 260.0  # points^2 of the heaviest study


@when_drawn
def draw_bubble(
    result: Mapping[str, Any],
    *,
    title: str,
    y_label: str,
    x_label: str | None = None,
    level_labels: Mapping[str, str] | None = None,
) -> Figure:
    pred = result["prediction"]
    studies = list(result.get("studies") or [])
    if not studies:
        raise ValueError("draw_bubble: no studies")
    m = measures.find(result.get("measure"))
    ratio = bool(m and m.axis == "ratio")
    back = pred.get("back") or {}
    use_back = result.get("back_yi") is not None and back.get("estimate") is not None
    yi = np.array(result["back_yi"] if use_back else [s["yi"] for s in studies], float)
    src = back if use_back else pred
    est, lb, ub = (np.array(src[k], float) for k in ("estimate", "ci_lb", "ci_ub"))
    weights = np.array([s["weight"] for s in studies], float)
    area = MAX_AREA * weights / weights.max()
    moderator = pred["moderator"]
    labels = dict(level_labels or {})
    with journal_style():
        fig = new_figure(FIG_W, FIG_H)
        ax = fig.add_axes((0.13, 0.16, 0.83, 0.70))
        if pred["categorical"]:
            levels = [str(v) for v in pred["x"]]
            pos = {lev: i for i, lev in enumerate(levels)}
            xs = np.array([pos[str(s[moderator])] for s in studies], float)
            ax.errorbar(
                np.arange(len(levels)) + 0.22,
                est,
                yerr=[est - lb, ub - est],
                fmt="D",
                color=LINE,
                markersize=4,
                capsize=3,
                zorder=4,
                label=f"Fitted value, {result.get('level', 95):g}% CI",
            )
            ax.set_xticks(range(len(levels)))
            ax.set_xticklabels([labels.get(lev, lev) for lev in levels])
            ax.set_xlim(-0.6, len(levels) - 0.4)
        else:
            xs = np.array([float(s[moderator]) for s in studies], float)
            grid = np.array(pred["x"], float)
            ax.fill_between(grid, lb, ub, color=BAND, linewidth=0, zorder=1)
            ax.plot(grid, est, color=LINE, zorder=3, label="Fitted line")
            ax.plot([], [], color=BAND, linewidth=6, label=f"{result.get('level', 95):g}% CI")
        order = np.argsort(-area)  # small circles drawn over large ones
        ax.scatter(
            xs[order],
            yi[order],
            s=area[order],
            facecolor=POINT_FACE,
            edgecolor=POINT_EDGE,
            linewidth=0.6,
            alpha=0.85,
            zorder=2,
        )
        if ratio and use_back:
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(ticker.NullFormatter())
            ax.axhline(1.0, color="#777777", linewidth=0.5, linestyle=":", zorder=0)
        ax.set_xlabel(clean(x_label or moderator))
        ax.set_ylabel(clean(y_label))
        ax.legend(loc="best", frameon=False)
        title_text = clean(title)
        if pred.get("others_at_means"):
            title_text += "\n(other moderators at their mean values)"
        fig.suptitle(title_text, x=0.5, y=0.975, va="top")
        fig.text(
            0.99,
            0.01,
            "Circle area proportional to the study's weight in the model",
            ha="right",
            va="bottom",
            fontsize=6,
            color="#444444",
        )
        for text in fig.findobj(Text):
            text.set_parse_math(False)
            text.set_usetex(False)
    return fig
