"""Pieces shared by the table-like figures (forest, sensitivity, risk of bias, funnel).

The forest plot, the leave-one-out and cumulative plots and the risk-of-bias figures are
tables laid out in inches from measured text widths, with rows of fixed height, a plot
panel whose y axis runs in row units, and texts printed literally (mathtext and LaTeX
off). This module holds what they draw the same way: the layout constants, the number
formats, text measurement and truncation, the x-axis scale with its ticks, CI lines
with arrows, the study square, the pooled diamond and the risk-of-bias judgement mark.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib import ticker
from matplotlib import transforms as mtransforms
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon

from metareview.present.formats import num, pval

# --------------------------------------------------------------------------- constants

FIG_WIDTH = 7.2  # inches: a two-column journal page
MARGIN = 0.10  # left/right margin, inches
ROW_H = 0.165  # inches per table row (7 pt text with generous leading)
GAP = 0.12  # horizontal gap between columns, inches
MIN_PLOT_W = 1.6  # inches
MAX_PLOT_W = 2.6  # inches
FONT_SIZE = 7.0
TITLE_SIZE = 8.0
ELLIPSIS = "\u2026"
MINUS = "\u2212"

SQUARE_COLOR = "#3b5488"
LINE_COLOR = "#000000"
MUTED = "#555555"
DIAMOND_COLOR = "#000000"

ROB_DOT = 8.0  # points: diameter of a judgement circle in the forest plot
ROB_EDGE = "#444444"
ROB_EMPTY = "#BBBBBB"
# symbols drawn as centred line markers (text glyphs sit on the baseline, not the centre)
_SYMBOL_MARKERS = {"+": "+", "\u2212": "_", "-": "_", "\u00d7": "x", "x": "x", "X": "x"}

# Axis limits: study CIs (and the prediction interval) beyond these get arrows.
_RATIO_CAP = (0.01, 100.0)
_RATIO_HARD_CAP = (0.001, 1000.0)

_CONTROL_CHARS = re.compile(r"\s+")


# --------------------------------------------------------------------------- values and texts


def finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def clean(text: Any) -> str:
    """A user's label as one printable line (control characters become spaces)."""
    s = "" if text is None else str(text)
    s = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in s)
    return _CONTROL_CHARS.sub(" ", s).strip()


def study_label(sid: Any, study_labels: Mapping[str, str] | None) -> str:
    """The label shown for study ``sid``: from ``study_labels`` if it has one, else the id."""
    label = None
    if study_labels is not None and sid is not None:
        label = study_labels.get(str(sid))
    return clean(label if label is not None else sid) or "(unnamed)"


def back_interval(back: Mapping[str, Any] | None) -> tuple[Any, Any, Any]:
    """``(estimate, ci_lb, ci_ub)`` of a ``back`` dictionary, None where not finite."""
    back = back or {}
    return tuple(
        back.get(k) if finite(back.get(k)) else None for k in ("estimate", "ci_lb", "ci_ub")
    )


def minus(s: str) -> str:
    return s.replace("-", MINUS)


def fmt_num(x: Any) -> str:
    if not finite(x):
        return "NA"
    x = float(x)
    a = abs(x)
    if a < 100:
        s = f"{x:.2f}"
    elif a < 1000:
        s = f"{x:.1f}"
    else:
        s = f"{x:.0f}"
    if s.lstrip("-").strip("0.") == "":  # -0.00 -> 0.00
        s = s.lstrip("-")
    return minus(s)


def fmt_ci(lo: Any, hi: Any) -> str:
    return f"[{fmt_num(lo)}, {fmt_num(hi)}]"


def fmt_p(p: Any) -> str:
    """The p-value as "p = 0.012" or "p < 0.001": the report tables' rule
    (:func:`metareview.present.formats.pval`: 3 decimals, "<0.001" below 0.001)."""
    if not finite(p):
        return "p = NA"
    s = pval(float(p))
    return "p " + s.replace("<", "< ") if s.startswith("<") else f"p = {s}"


def fmt_tau2(t: Any) -> str:
    """tau² with 3 decimals, as the report tables print it (``present.formats.num``)."""
    if not finite(t):
        return "NA"
    return num(float(t), 3)


def fmt_tick(t: float) -> str:
    s = f"{round(t, 10):g}"
    if s in ("-0", "-0.0"):
        s = "0"
    return minus(s)


def wrap_words(text: str, fits: Callable[[str], bool], max_lines: int) -> list[str]:
    """Greedy word wrap with a width predicate; the last line is left for truncation."""
    words = text.split(" ")
    lines: list[str] = []
    current = ""
    for i, word in enumerate(words):
        trial = f"{current} {word}" if current else word
        if fits(trial) or not current:
            current = trial
            continue
        lines.append(current)
        if len(lines) == max_lines - 1:
            current = " ".join(words[i:])
            break
        current = word
    lines.append(current)
    return lines


class Measurer:
    """Text widths in inches, measured with the Agg renderer (the font that draws them)."""

    def __init__(self, fig) -> None:
        self._renderer = fig.canvas.get_renderer()
        self._dpi = fig.dpi
        self._cache: dict[tuple[str, float, str, str], float] = {}

    @staticmethod
    def props(size: float = FONT_SIZE, weight: str = "normal", style: str = "normal"):
        return FontProperties(size=size, weight=weight, style=style)

    def width(
        self, s: str, size: float = FONT_SIZE, weight: str = "normal", style: str = "normal"
    ) -> float:
        key = (s, size, weight, style)
        if key not in self._cache:
            if s == "":
                self._cache[key] = 0.0
            else:
                w, _, _ = self._renderer.get_text_width_height_descent(
                    s, self.props(size, weight, style), ismath=False
                )
                self._cache[key] = w / self._dpi
        return self._cache[key]

    def max_width(self, texts: Iterable[str], **kw: Any) -> float:
        return max((self.width(t, **kw) for t in texts), default=0.0)

    def fit(self, s: str, max_w: float, **kw: Any) -> str:
        """``s``, or its longest prefix + ellipsis no wider than ``max_w`` inches."""
        if self.width(s, **kw) <= max_w:
            return s
        lo, hi = 0, len(s)
        while lo < hi:  # largest n with width(prefix(n)) <= max_w
            mid = (lo + hi + 1) // 2
            if self.width(s[:mid].rstrip() + ELLIPSIS, **kw) <= max_w:
                lo = mid
            else:
                hi = mid - 1
        return s[:lo].rstrip() + ELLIPSIS if lo > 0 else ELLIPSIS

    def wrap(self, s: str, max_w: float, max_lines: int, **kw: Any) -> list[str]:
        """``s`` wrapped at spaces onto at most ``max_lines`` lines, each fitted to ``max_w``."""
        lines = wrap_words(s, lambda t: self.width(t, **kw) <= max_w, max_lines)
        return [self.fit(line, max_w, **kw) for line in lines]


# --------------------------------------------------------------------------- axis scale


def nice_log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks covering [lo, hi] if at most 7 are needed, else decades."""
    for mantissas in ((1, 2, 5), (1,)):
        cands = [m * 10.0**e for e in range(-3, 4) for m in mantissas]
        below = [c for c in cands if c <= lo * (1 + 1e-9)]
        above = [c for c in cands if c >= hi * (1 - 1e-9)]
        tmin = max(below) if below else min(cands)
        tmax = min(above) if above else max(cands)
        ticks = [c for c in cands if tmin * (1 - 1e-9) <= c <= tmax * (1 + 1e-9)]
        if len(ticks) <= 7:
            break
    return ticks


def nice_linear_ticks(lo: float, hi: float) -> list[float]:
    if hi - lo < 1e-9:
        lo, hi = lo - 0.05, hi + 0.05
    locator = ticker.MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10])
    ticks = [float(t) for t in locator.tick_values(lo, hi)]
    # MaxNLocator may give one tick beyond each end; keep the smallest cover of [lo, hi].
    while len(ticks) > 2 and ticks[1] <= lo + 1e-12:
        ticks.pop(0)
    while len(ticks) > 2 and ticks[-2] >= hi - 1e-12:
        ticks.pop()
    return [round(t, 10) + 0.0 for t in ticks]


@dataclass
class Scale:
    kind: str
    ticks: list[float]
    null: float | None

    @property
    def lo(self) -> float:
        return self.ticks[0]

    @property
    def hi(self) -> float:
        return self.ticks[-1]


def choose_scale(kind: str, core: Sequence[float], extended: Sequence[float]) -> Scale:
    """Axis from ``core`` values (always shown) and ``extended`` ones (clipped to a cap)."""
    if kind == "ratio":
        core = [v for v in core if finite(v) and v > 0]
        core = [min(max(v, _RATIO_HARD_CAP[0]), _RATIO_HARD_CAP[1]) for v in core]
        ext = [min(max(v, _RATIO_CAP[0]), _RATIO_CAP[1]) for v in extended if finite(v)]
        ext = [v for v in ext if v > 0]
        vals = [1.0, *core, *ext]
        lo, hi = min(vals), max(vals)
        if hi / lo < 4:  # never narrower than 0.5-2 around the data
            mid = math.sqrt(lo * hi)
            lo, hi = min(lo, mid / 2), max(hi, mid * 2)
        return Scale("ratio", nice_log_ticks(lo, hi), 1.0)
    if kind == "difference":
        core = [v for v in core if finite(v)]
        ext = [min(max(v, -1.0), 1.0) for v in extended if finite(v)]
        vals = [0.0, *core, *ext]
        return Scale(kind, nice_linear_ticks(min(vals), max(vals)), 0.0)
    core = [min(max(v, 0.0), 1.0) for v in core if finite(v)]
    ext = [min(max(v, 0.0), 1.0) for v in extended if finite(v)]
    vals = [*core, *ext] or [0.0, 1.0]
    return Scale(kind, nice_linear_ticks(min(vals), max(vals)), None)


def axis_frac(v: float, scale: Scale) -> float:
    if scale.kind == "ratio":
        return (math.log(v) - math.log(scale.lo)) / (math.log(scale.hi) - math.log(scale.lo))
    return (v - scale.lo) / (scale.hi - scale.lo)


# --------------------------------------------------------------------------- the table frame


def table_axes(
    fig,
    W: float,
    px0: float,
    plot_w: float,
    *,
    y_top: float,
    y_bottom: float,
    y_axis: float,
    y_rule: float,
):
    """Size the figure to rows ``y_top`` .. ``y_bottom`` and add the plot panel.

    The panel spans ``px0`` .. ``px0 + plot_w`` inches and rows ``y_rule`` (top) ..
    ``y_axis`` (the x-axis line). Returns the axes and the transform that places texts at
    x in inches and y in rows.
    """
    H = (y_bottom - y_top) * ROW_H
    fig.set_size_inches(W, H)
    ax = fig.add_axes(
        (
            px0 / W,
            (y_bottom - y_axis) * ROW_H / H,
            plot_w / W,
            (y_axis - y_rule) * ROW_H / H,
        )
    )
    ax.set_ylim(y_axis, y_rule)
    tr = mtransforms.blended_transform_factory(fig.dpi_scale_trans, ax.transData)
    return ax, tr


def text_fn(fig, tr) -> Callable[..., None]:
    """``text(x, y, s, ha="left", **kw)``: a literal text (nothing for an empty ``s``)."""

    def text(x: float, y: float, s: str, ha: str = "left", **kw: Any) -> None:
        if not s:
            return
        fig.text(
            x,
            y,
            s,
            transform=tr,
            ha=ha,
            va=kw.pop("va", "center_baseline"),
            fontsize=kw.pop("size", FONT_SIZE),
            parse_math=False,
            usetex=False,
            **kw,
        )

    return text


def title_line(text: Callable[..., None], m: Measurer, y: float, title: str, W: float) -> None:
    """The figure's title at the left margin (bold, truncated to the page width) with
    ``text`` from :func:`text_fn`."""
    bold = {"weight": "bold"}
    text(MARGIN, y, m.fit(title, W - 2 * MARGIN, size=TITLE_SIZE, **bold), size=TITLE_SIZE, **bold)


def header_rule(fig, tr, W: float, y: float) -> None:
    """The rule under the column headers, margin to margin."""
    fig.add_artist(Line2D([MARGIN, W - MARGIN], [y, y], transform=tr, lw=0.6, color="black"))


def footer_rows(cursor: float, n: int) -> tuple[list[float], float]:
    """Rows of ``n`` footer lines under ``cursor``; returns them and the new cursor."""
    rows = []
    cursor += 0.4
    for _ in range(n):
        rows.append(cursor + 0.5)
        cursor += 1.0
    return rows, cursor


def favours_line(
    text: Callable[..., None],
    m: Measurer,
    y: float,
    favours: tuple[str, str],
    scale: Scale,
    px0: float,
    plot_w: float,
    W: float,
) -> None:
    """ "Favours <left>" and "Favours <right>" on either side of the null line (of the plot
    panel at ``px0`` .. ``px0 + plot_w`` inches) at row ``y``, with ``text`` from
    :func:`text_fn`; empty texts are skipped. Gids ``favours-left``, ``favours-right``."""
    null = scale.null if scale.null is not None else scale.lo
    null_x = px0 + plot_w * axis_frac(null, scale)
    pad = 0.06
    left, right = favours
    if left:
        s = m.fit(f"Favours {left}", null_x - pad - MARGIN)
        text(null_x - pad, y, s, ha="right", color=MUTED, gid="favours-left")
    if right:
        s = m.fit(f"Favours {right}", W - MARGIN - null_x - pad)
        text(null_x + pad, y, s, ha="left", color=MUTED, gid="favours-right")


def scale_axis(ax, scale: Scale) -> None:
    """The x axis of the plot panel: ``scale``'s limits and ticks, no y axis, null line."""
    if scale.kind == "ratio":
        ax.set_xscale("log")
    ax.set_xlim(scale.lo, scale.hi)
    ax.set_xticks(scale.ticks, [fmt_tick(t) for t in scale.ticks])
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    for label in ax.get_xticklabels():
        label.set_parse_math(False)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.patch.set_visible(False)
    if scale.null is not None:
        ax.axvline(scale.null, color="black", lw=0.6, zorder=1)


# --------------------------------------------------------------------------- marks


def ci_line(
    ax,
    lo: float,
    hi: float,
    y: float,
    scale: Scale,
    *,
    gid: str,
    color: str = LINE_COLOR,
    lw: float = 0.8,
    caps: bool = False,
) -> None:
    """A CI line clipped to the axis, with an arrowhead where it runs beyond it."""
    seg_lo, seg_hi = max(lo, scale.lo), min(hi, scale.hi)
    if seg_lo < seg_hi:
        ax.plot(
            [seg_lo, seg_hi], [y, y], color=color, lw=lw, solid_capstyle="butt", zorder=2, gid=gid
        )
        if caps:
            for xx, inside in ((lo, lo >= scale.lo), (hi, hi <= scale.hi)):
                if inside:
                    ax.plot([xx, xx], [y - 0.22, y + 0.22], color=color, lw=lw, zorder=2)
    arrow = {
        "arrowstyle": "-|>",
        "color": color,
        "lw": lw,
        "mutation_scale": 5,
        "shrinkA": 0,
        "shrinkB": 0,
    }
    if hi <= scale.lo or lo >= scale.hi:  # entirely off the axis: one arrow at the edge
        edges = [("left", scale.lo)] if hi <= scale.lo else [("right", scale.hi)]
    else:
        edges = []
        if lo < scale.lo:
            edges.append(("left", scale.lo))
        if hi > scale.hi:
            edges.append(("right", scale.hi))
    for side, edge in edges:
        ann = ax.annotate(
            "",
            xy=(edge, y),
            xytext=(6 if side == "left" else -6, 0),
            textcoords="offset points",
            arrowprops=arrow,
            annotation_clip=False,
        )
        if ann.arrow_patch is not None:
            ann.arrow_patch.set_gid(f"{gid}-arrow-{side}")


def square(ax, x: float, y: float, size: float, gid: str | None) -> None:
    """A study's estimate: a filled square of side ``size`` points."""
    ax.plot(
        [x],
        [y],
        marker="s",
        markersize=size,
        color=SQUARE_COLOR,
        markeredgewidth=0,
        linestyle="none",
        zorder=3,
        gid=gid,
    )


def diamond(ax, est: float, lb: float, ub: float, y: float, gid: str | None) -> None:
    """A pooled estimate: a diamond from ``lb`` to ``ub``, its tips at ``est``."""
    hh = 0.34
    ax.add_patch(
        Polygon(
            [(lb, y), (est, y - hh), (ub, y), (est, y + hh)],
            closed=True,
            facecolor=DIAMOND_COLOR,
            edgecolor=DIAMOND_COLOR,
            lw=0.5,
            zorder=4,
            gid=gid,
        )
    )


def rob_mark(
    fig,
    tr,
    x: float,
    y: float,
    cell: Mapping[str, Any] | None,
    gid: str | None,
    size: float = ROB_DOT,
) -> None:
    """A risk-of-bias judgement circle with its symbol (hollow grey circle: not assessed);
    a cell with a ``text`` (the stars of a star-count tool) is that text, centred."""
    if cell and cell.get("text"):
        fig.text(
            x,
            y,
            str(cell["text"]),
            transform=tr,
            ha="center",
            va="center_baseline",
            fontsize=FONT_SIZE,
            color="black",
            parse_math=False,
            usetex=False,
            gid=gid,
        )
        return
    if cell:
        face, edge = str(cell.get("colour") or "#FFFFFF"), ROB_EDGE
    else:
        face, edge = "white", ROB_EMPTY
    fig.add_artist(
        Line2D(
            [x],
            [y],
            transform=tr,
            marker="o",
            markersize=size,
            markerfacecolor=face,
            markeredgecolor=edge,
            markeredgewidth=0.4,
            linestyle="none",
            gid=gid,
        )
    )
    symbol = str((cell or {}).get("symbol") or "")
    if not symbol:
        return
    if symbol in _SYMBOL_MARKERS:
        fig.add_artist(
            Line2D(
                [x],
                [y],
                transform=tr,
                marker=_SYMBOL_MARKERS[symbol],
                markersize=size * 0.5,
                markeredgecolor="black",
                markeredgewidth=max(0.9, size * 0.085),
                linestyle="none",
            )
        )
    else:
        fig.text(
            x,
            y,
            symbol,
            transform=tr,
            ha="center",
            va="center",
            fontsize=size * 0.7,
            weight="bold",
            parse_math=False,
            usetex=False,
        )


def message_figure(title: str, message: str, *, gid: str = "message") -> Any:
    """A small figure without axes: a title and one line saying why there is nothing to
    plot (an output the workflow declares must still exist). Both are truncated to the
    page width."""
    from metareview import figures
    from metareview.plots.common import journal_style, new_figure

    if not figures.drawn():  # config `figures: []`
        return None

    w, rows = FIG_WIDTH, 4.0

    def at(y: float) -> float:  # row units from the top -> figure fraction
        return 1 - y / rows

    with journal_style():
        fig = new_figure(w, rows * ROW_H)
        m = Measurer(fig)
        if title:
            fig.text(
                MARGIN / w,
                at(1.1),
                m.fit(title, w - 2 * MARGIN, size=TITLE_SIZE, weight="bold"),
                fontsize=TITLE_SIZE,
                weight="bold",
                va="center_baseline",
                parse_math=False,
                usetex=False,
            )
        fig.text(
            MARGIN / w,
            at(2.6),
            m.fit(message, w - 2 * MARGIN, style="italic"),
            style="italic",
            va="center_baseline",
            parse_math=False,
            usetex=False,
            gid=gid,
        )
    return fig
