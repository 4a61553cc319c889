"""Journal-style forest plot from a fit dictionary (``Fit.to_dict()``).

The figure is a table with a plot panel, as Cochrane RevMan, the Lancet or the NEJM print
it: one row per study (label, n/N per arm, a square sized by weight with its confidence
interval, the back-transformed estimate and CI as text, the weight), then the pooled
diamond with the totals, the prediction interval for random-effects models, and the
heterogeneity and overall-effect lines under the axis.

Layout is computed in inches from measured text widths, with rows of fixed height, so the
figure height grows with the number of studies and columns never overlap. Every text comes
from users' tables and is printed literally: mathtext and LaTeX are off for every artist.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib import ticker
from matplotlib import transforms as mtransforms
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon

from metareview.plots.common import journal_style, new_figure

__all__ = ["draw_forest", "measure_kind", "default_measure_label"]

# --------------------------------------------------------------------------- constants

FIG_WIDTH = 7.2  # inches: a two-column journal page
MARGIN = 0.10  # left/right margin, inches
ROW_H = 0.165  # inches per table row (7 pt text with generous leading)
GAP = 0.12  # horizontal gap between columns, inches
MIN_PLOT_W = 1.6  # inches
MAX_PLOT_W = 2.6  # inches
SHORT_HEADER_W = 0.9  # arm headers up to this width stay on one line, inches
MAX_ARM_W = 1.25  # widest an arm column (header included) may get, inches
FONT_SIZE = 7.0
TITLE_SIZE = 8.0
ELLIPSIS = "\u2026"
MINUS = "\u2212"

SQUARE_COLOR = "#3b5488"
LINE_COLOR = "#000000"
MUTED = "#555555"
DIAMOND_COLOR = "#000000"
PI_COLOR = "#7a0000"

RATIO_MEASURES = frozenset({"OR", "RR", "PETO", "IRR", "HR", "ROM", "RR_MH", "OR_MH"})
DIFFERENCE_MEASURES = frozenset({"RD", "MD", "SMD", "SMDH", "IRD"})
PROPORTION_MEASURES = frozenset({"PR", "PRAW", "PLN", "PLO", "PAS", "PFT"})

_MEASURE_LABELS = {
    "OR": "Odds ratio",
    "PETO": "Peto odds ratio",
    "RR": "Risk ratio",
    "IRR": "Rate ratio",
    "HR": "Hazard ratio",
    "ROM": "Ratio of means",
    "RD": "Risk difference",
    "IRD": "Rate difference",
    "MD": "Mean difference",
    "SMD": "Standardised mean difference",
    "SMDH": "Standardised mean difference",
}

# Axis limits: study CIs (and the prediction interval) beyond these get arrows.
_RATIO_CAP = (0.01, 100.0)
_RATIO_HARD_CAP = (0.001, 1000.0)

_CONTROL_CHARS = re.compile(r"\s+")


# --------------------------------------------------------------------------- helpers


def measure_kind(fit: Mapping[str, Any]) -> str:
    """``"ratio"`` (log axis, null at 1), ``"difference"`` (null at 0) or ``"proportion"``.

    Unknown measures are classified from the studies: back-transformation ``exp`` means a
    ratio, the identity a difference, anything else a linear axis without a null line.
    """
    measure = str(fit.get("measure") or "").upper()
    if measure in RATIO_MEASURES:
        return "ratio"
    if measure in DIFFERENCE_MEASURES:
        return "difference"
    if measure in PROPORTION_MEASURES:
        return "proportion"
    pairs = []
    for s in fit.get("studies") or []:
        yi = s.get("yi")
        est = (s.get("back") or {}).get("estimate")
        if _finite(yi) and _finite(est):
            pairs.append((float(yi), float(est)))
    if pairs:
        if all(math.isclose(math.exp(y), b, rel_tol=1e-6, abs_tol=1e-12) for y, b in pairs):
            return "ratio"
        if all(math.isclose(y, b, rel_tol=1e-9, abs_tol=1e-12) for y, b in pairs):
            return "difference"
    return "proportion"


def default_measure_label(fit: Mapping[str, Any]) -> str:
    measure = str(fit.get("measure") or "").upper()
    if measure in PROPORTION_MEASURES:
        return "Proportion"
    if fit.get("model") == "PETO" and measure == "OR":
        return "Peto odds ratio"
    return _MEASURE_LABELS.get(measure, measure or "Estimate")


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _clean(text: Any) -> str:
    """A user's label as one printable line (control characters become spaces)."""
    s = "" if text is None else str(text)
    s = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in s)
    return _CONTROL_CHARS.sub(" ", s).strip()


def _minus(s: str) -> str:
    return s.replace("-", MINUS)


def _fmt_num(x: Any) -> str:
    if not _finite(x):
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
    return _minus(s)


def _fmt_ci(lo: Any, hi: Any) -> str:
    return f"[{_fmt_num(lo)}, {_fmt_num(hi)}]"


def _fmt_p(p: Any) -> str:
    if not _finite(p):
        return "p = NA"
    p = float(p)
    if p < 0.001:
        return "p < 0.001"
    if p < 0.01 or round(p, 2) == 0.05:
        return f"p = {p:.3f}"
    return f"p = {p:.2f}"


def _fmt_tau2(t: Any) -> str:
    if not _finite(t):
        return "NA"
    t = float(t)
    if t == 0:
        return "0"
    if t < 0.001:
        return "< 0.001"
    return f"{t:.3f}" if t < 10 else f"{t:.2f}"


def _fmt_count(n: Any) -> str:
    if not _finite(n):
        return "\u2013"
    return f"{int(round(float(n))):,}"


def _fmt_tick(t: float) -> str:
    s = f"{round(t, 10):g}"
    if s in ("-0", "-0.0"):
        s = "0"
    return _minus(s)


def _wrap_words(text: str, fits, max_lines: int) -> list[str]:
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


class _Measurer:
    """Text widths in inches, measured with the Agg renderer (the font that draws them)."""

    def __init__(self, fig: Figure) -> None:
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


def _wrap_header(
    m: _Measurer, label: str, body_w: float, max_w: float = MAX_ARM_W
) -> tuple[float, list[str]]:
    """Width and (at most two) lines of an arm header over a column of ``body_w`` inches.

    The column is as narrow as the counts allow; the header wraps onto two lines before
    the column widens (up to ``max_w``), and is truncated beyond that.
    """
    bold = {"weight": "bold"}
    max_w = max(max_w, body_w)
    if not label:
        return body_w, []
    if m.width(label, **bold) <= min(max(body_w, SHORT_HEADER_W), max_w):
        return max(body_w, m.width(label, **bold)), [label]
    width = max(body_w, min(max(m.width(w, **bold) for w in label.split(" ")), max_w))
    while True:

        def fits(s: str, width: float = width) -> bool:
            return m.width(s, **bold) <= width

        lines = _wrap_words(label, fits, 2)
        if all(fits(line) for line in lines) or width >= max_w:
            return width, [m.fit(line, width, **bold) for line in lines]
        width = min(width + 0.05, max_w)


# --------------------------------------------------------------------------- axis scale


def _nice_log_ticks(lo: float, hi: float) -> list[float]:
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


def _nice_linear_ticks(lo: float, hi: float) -> list[float]:
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
class _Scale:
    kind: str
    ticks: list[float]
    null: float | None

    @property
    def lo(self) -> float:
        return self.ticks[0]

    @property
    def hi(self) -> float:
        return self.ticks[-1]


def _choose_scale(kind: str, core: Sequence[float], extended: Sequence[float]) -> _Scale:
    """Axis from ``core`` values (always shown) and ``extended`` ones (clipped to a cap)."""
    if kind == "ratio":
        core = [v for v in core if _finite(v) and v > 0]
        core = [min(max(v, _RATIO_HARD_CAP[0]), _RATIO_HARD_CAP[1]) for v in core]
        ext = [min(max(v, _RATIO_CAP[0]), _RATIO_CAP[1]) for v in extended if _finite(v)]
        ext = [v for v in ext if v > 0]
        vals = [1.0, *core, *ext]
        lo, hi = min(vals), max(vals)
        if hi / lo < 4:  # never narrower than 0.5-2 around the data
            mid = math.sqrt(lo * hi)
            lo, hi = min(lo, mid / 2), max(hi, mid * 2)
        return _Scale("ratio", _nice_log_ticks(lo, hi), 1.0)
    if kind == "difference":
        core = [v for v in core if _finite(v)]
        ext = [min(max(v, -1.0), 1.0) for v in extended if _finite(v)]
        vals = [0.0, *core, *ext]
        return _Scale(kind, _nice_linear_ticks(min(vals), max(vals)), 0.0)
    core = [min(max(v, 0.0), 1.0) for v in core if _finite(v)]
    ext = [min(max(v, 0.0), 1.0) for v in extended if _finite(v)]
    vals = [*core, *ext] or [0.0, 1.0]
    return _Scale(kind, _nice_linear_ticks(min(vals), max(vals)), None)


# --------------------------------------------------------------------------- rows


@dataclass
class _StudyRow:
    label: str
    arms: list[tuple[Any, Any]]  # (events, total) per arm
    est: float | None
    lo: float | None
    hi: float | None
    weight: float | None
    excluded: str | None


def _study_rows(
    fit: Mapping[str, Any], two_arm: bool, study_labels: Mapping[str, str] | None
) -> list[_StudyRow]:
    rows = []
    for s in fit.get("studies") or []:
        sid = s.get("study")
        label = None
        if study_labels is not None and sid is not None:
            label = study_labels.get(str(sid))
        label = _clean(label if label is not None else sid) or "(unnamed)"
        if two_arm:
            arms = [(s.get("ai"), s.get("n1i")), (s.get("ci"), s.get("n2i"))]
        else:
            arms = [(s.get("xi"), s.get("ni"))]
        back = s.get("back") or {}
        excluded = s.get("excluded")
        rows.append(
            _StudyRow(
                label=label,
                arms=arms,
                est=back.get("estimate") if _finite(back.get("estimate")) else None,
                lo=back.get("ci_lb") if _finite(back.get("ci_lb")) else None,
                hi=back.get("ci_ub") if _finite(back.get("ci_ub")) else None,
                weight=s.get("weight") if _finite(s.get("weight")) else None,
                excluded=_clean(excluded) or "excluded" if excluded is not None else None,
            )
        )
    return rows


def _is_two_arm(fit: Mapping[str, Any]) -> bool:
    studies = fit.get("studies") or []
    if any(("ai" in s or "n1i" in s) for s in studies):
        return True
    if any(("xi" in s or "ni" in s) for s in studies):
        return False
    return str(fit.get("measure") or "").upper() not in PROPORTION_MEASURES


def _model_label(fit: Mapping[str, Any]) -> str:
    model = str(fit.get("model") or "").upper()
    method = _clean(fit.get("method"))
    if model == "RE":  # Hartung-Knapp is named on the overall-effect line
        return f"Random-effects model ({method})" if method else "Random-effects model"
    if model == "MH":
        return "Fixed-effect model (M-H)"  # as RevMan abbreviates Mantel-Haenszel
    if model == "PETO":
        return "Fixed-effect model (Peto)"
    if model == "FE":
        return "Fixed-effect model"
    return "Pooled estimate"


def _heterogeneity_text(fit: Mapping[str, Any]) -> str | None:
    parts = []
    model = str(fit.get("model") or "").upper()
    if model == "RE" and _finite(fit.get("tau2")):
        tau2 = _fmt_tau2(fit["tau2"])
        parts.append(f"tau\u00b2 {tau2}" if tau2.startswith("<") else f"tau\u00b2 = {tau2}")
    i2 = fit.get("i2")
    q = fit.get("q")
    if not (_finite(q) or _finite(i2)):
        return None
    stats = []
    if _finite(i2):
        stats.append(f"I\u00b2 = {float(i2):.0f}%")
    if _finite(q):
        stats.append(f"Q = {float(q):.2f}")
        df = fit.get("q_df")
        if _finite(df):
            stats.append(f"df = {int(df)}")
    text = ", ".join(stats)
    if _finite(q) and fit.get("q_pval") is not None:
        text += f" ({_fmt_p(fit.get('q_pval'))})"
    parts.append(text)
    return "Heterogeneity: " + "; ".join(parts)


def _overall_text(fit: Mapping[str, Any]) -> str | None:
    stat = fit.get("stat")
    if not _finite(stat):
        return None
    test = str(fit.get("test") or "z").lower()
    name = "Test for overall effect"
    if test in ("knha", "hksj"):
        name += " (Hartung-Knapp)"
    if test in ("knha", "t", "hksj") or _finite(fit.get("df")):
        letter = "t"
        df = f", df = {int(fit['df'])}" if _finite(fit.get("df")) else ""
    else:
        letter, df = "z", ""
    value = _minus(f"{float(stat):.2f}")
    return f"{name}: {letter} = {value}{df} ({_fmt_p(fit.get('pval'))})"


def _not_pooled_reason(fit: Mapping[str, Any]) -> str:
    warnings = [_clean(w) for w in fit.get("warnings") or [] if _clean(w)]
    if not warnings:
        return "Not pooled"
    return "Not pooled: " + "; ".join(warnings)


# --------------------------------------------------------------------------- drawing


def draw_forest(
    fit: Mapping[str, Any],
    *,
    title: str,
    intervention_label: str,
    control_label: str,
    favours_left: str,
    favours_right: str,
    measure_label: str | None = None,
    study_labels: Mapping[str, str] | None = None,
) -> Figure:
    """Draw a journal-style forest plot of ``fit`` (a ``Fit.to_dict()`` dictionary).

    ``intervention_label``/``control_label`` head the n/N columns (single-arm fits show
    one column, headed by ``intervention_label``). ``favours_left``/``favours_right`` are
    printed as "Favours <...>" on either side of the null line (ratio and difference
    measures only; empty strings are skipped). ``study_labels`` maps study id to the
    label shown (ids not in it are shown as they are). All texts are printed literally.
    """
    with journal_style():
        return _draw(
            fit,
            title=_clean(title),
            arm_labels=[_clean(intervention_label), _clean(control_label)],
            favours=(_clean(favours_left), _clean(favours_right)),
            measure_label=_clean(measure_label) if measure_label else None,
            study_labels=study_labels,
        )


def _draw(
    fit: Mapping[str, Any],
    *,
    title: str,
    arm_labels: list[str],
    favours: tuple[str, str],
    measure_label: str | None,
    study_labels: Mapping[str, str] | None,
) -> Figure:
    two_arm = _is_two_arm(fit)
    n_arms = 2 if two_arm else 1
    arm_labels = arm_labels[:n_arms]
    kind = measure_kind(fit)
    mlabel = measure_label or default_measure_label(fit)
    level = fit.get("level") if _finite(fit.get("level")) else 95
    level_txt = f"{float(level):g}% CI"
    rows = _study_rows(fit, two_arm, study_labels)
    k_rows = len(rows)
    back = fit.get("back") or {}
    pooled = _finite(fit.get("estimate")) and _finite(back.get("estimate"))
    model = str(fit.get("model") or "").upper()
    show_pi = pooled and model == "RE" and _finite(back.get("pi_lb")) and _finite(back.get("pi_ub"))

    fig = new_figure(FIG_WIDTH, 4.0)
    m = _Measurer(fig)
    W = FIG_WIDTH
    bold = {"weight": "bold"}

    # ---------------------------------------------------------------- texts per column
    model_label = _model_label(fit) if pooled else ""
    totals: list[tuple[str, str]] = []
    for a in range(n_arms):
        ev = [r.arms[a][0] for r in rows if _finite(r.arms[a][0]) and _finite(r.arms[a][1])]
        nn = [r.arms[a][1] for r in rows if _finite(r.arms[a][0]) and _finite(r.arms[a][1])]
        totals.append((_fmt_count(sum(ev)), _fmt_count(sum(nn))) if nn else ("\u2013", ""))

    est_txt = [_fmt_num(r.est) if r.excluded is None else "" for r in rows]
    ci_txt = [_fmt_ci(r.lo, r.hi) if r.excluded is None else "" for r in rows]
    w_txt = [
        f"{r.weight:.1f}%" if r.weight is not None and r.excluded is None else "" for r in rows
    ]
    pooled_est = _fmt_num(back.get("estimate")) if pooled else ""
    pooled_ci = _fmt_ci(back.get("ci_lb"), back.get("ci_ub")) if pooled else ""
    pi_ci = _fmt_ci(back.get("pi_lb"), back.get("pi_ub")) if show_pi else ""

    # n/N columns: events right-aligned up to and including "/", totals left-aligned.
    arm_ev_w, arm_n_w, arm_body_w = [], [], []
    for a in range(n_arms):
        evs = [_fmt_count(r.arms[a][0]) + "/" for r in rows]
        ns = [_fmt_count(r.arms[a][1]) for r in rows]
        ev_w = max(m.max_width(evs), m.width(totals[a][0] + "/", **bold))
        n_w = max(m.max_width(ns), m.width(totals[a][1], **bold))
        arm_ev_w.append(ev_w)
        arm_n_w.append(n_w)
        arm_body_w.append(max(ev_w + n_w, m.width("n/N", **bold)))

    est_head = (mlabel, f"({level_txt})")
    est_w_num = max(m.max_width(est_txt), m.width(pooled_est, **bold))
    ci_w = max(m.max_width(ci_txt), m.width(pooled_ci, **bold), m.width(pi_ci))
    space_w = m.width("\u2002")  # en space between estimate and [CI]
    est_w = est_w_num + space_w + ci_w
    est_head_w = max(m.width(t, **bold) for t in est_head)
    est_col_w = max(est_w, min(est_head_w, 1.6))
    weight_w = max(m.max_width(w_txt), m.width("100.0%", **bold), m.width("Weight", **bold))

    study_needed = max(
        m.max_width(r.label for r in rows),
        m.width(model_label, **bold),
        m.width("Prediction interval") if show_pi else 0.0,
        m.width("Study", **bold),
    )
    # Study labels and the pooled-model label come before wide arm headers: narrow the
    # arm columns (headers wrap, then truncate) until the study column gets what it needs
    # (at least the model label or 1.6 in).
    study_wanted = min(study_needed, max(m.width(model_label, **bold), 1.6))
    cap = MAX_ARM_W
    while True:
        heads = [_wrap_header(m, arm_labels[a], arm_body_w[a], cap) for a in range(n_arms)]
        arm_w = [h[0] for h in heads]
        arm_head = [h[1] for h in heads]
        fixed = 2 * MARGIN + sum(arm_w) + est_col_w + weight_w + GAP * (n_arms + 3)
        study_max = W - fixed - MIN_PLOT_W
        if study_max >= study_wanted or all(
            w <= b + 1e-9 for w, b in zip(arm_w, arm_body_w, strict=True)
        ):
            break
        cap = max(arm_w) - 0.05
    study_w = min(study_needed, study_max)
    plot_w = min(W - fixed - study_w, MAX_PLOT_W)
    study_w = W - fixed - plot_w  # leftover space goes to the study column

    # x positions (inches from the left edge)
    x_study = MARGIN
    x = MARGIN + study_w + GAP
    arm_x = []
    for a in range(n_arms):
        body_w = arm_ev_w[a] + arm_n_w[a]
        slash_end = x + (arm_w[a] - body_w) / 2 + arm_ev_w[a]
        arm_x.append((x, x + arm_w[a], slash_end))
        x += arm_w[a] + GAP
    px0, px1 = x, x + plot_w
    x_est0 = px1 + GAP
    x_est_num_r = x_est0 + (est_col_w - est_w) / 2 + est_w_num
    x_ci_l = x_est_num_r + space_w
    x_est_c = x_est0 + est_col_w / 2
    x_weight_r = W - MARGIN

    # ---------------------------------------------------------------- vertical layout
    y_head1, y_head2 = -2.0, -1.0
    n_head = max((len(h) for h in arm_head), default=1)
    y_title = y_head1 - (n_head - 1) - 1.45 if title else None
    y_rule = -0.5
    y_pool = k_rows + 0.5
    not_pooled_lines: list[str] = []
    if pooled:
        last = y_pool + (1 if show_pi else 0)
    else:
        left_w = px0 - GAP - MARGIN

        def fits(s: str) -> bool:
            return m.width(s, style="italic") <= left_w

        not_pooled_lines = _wrap_words(_not_pooled_reason(fit), fits, 3)
        not_pooled_lines = [m.fit(s, left_w, style="italic") for s in not_pooled_lines]
        last = y_pool + len(not_pooled_lines) - 1
    y_axis = last + 0.75  # bottom of the plot panel (x-axis line)
    have_favours = kind != "proportion" and any(favours)
    cursor = y_axis + 1.25  # below tick labels
    y_favours = None
    if have_favours:
        y_favours = cursor + 0.55
        cursor = y_favours + 0.5
    footers = [_heterogeneity_text(fit)] if pooled else []
    if pooled and kind != "proportion":  # a test of "proportion = 0" means nothing
        footers.append(_overall_text(fit))
    footers = [t for t in footers if t]
    y_footers = []
    cursor += 0.4
    for _ in footers:
        y_footers.append(cursor + 0.5)
        cursor += 1.0
    y_bottom = cursor + 0.45
    y_head_top = y_head1 - (max((len(h) for h in arm_head), default=1) - 1)
    y_top = (y_title - 0.85) if title else (y_head_top - 0.9)
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

    def text(xx: float, yy: float, s: str, ha: str = "left", **kw: Any) -> None:
        if not s:
            return
        fig.text(
            xx,
            yy,
            s,
            transform=tr,
            ha=ha,
            va="center_baseline",
            fontsize=kw.pop("size", FONT_SIZE),
            parse_math=False,
            usetex=False,
            **kw,
        )

    # ---------------------------------------------------------------- header
    if title:
        text(
            x_study,
            y_title,
            m.fit(title, W - 2 * MARGIN, size=TITLE_SIZE, **bold),
            size=TITLE_SIZE,
            weight="bold",
        )
    text(x_study, y_head2, "Study", weight="bold")
    for a in range(n_arms):
        x0, x1, slash_end = arm_x[a]
        for j, line in enumerate(reversed(arm_head[a])):
            text((x0 + x1) / 2, y_head1 - j, line, ha="center", weight="bold")
        text((x0 + x1) / 2, y_head2, "n/N", ha="center", weight="bold")
    text(x_est_c, y_head1, m.fit(est_head[0], est_col_w, **bold), ha="center", weight="bold")
    text(x_est_c, y_head2, m.fit(est_head[1], est_col_w, **bold), ha="center", weight="bold")
    text(x_weight_r, y_head2, "Weight", ha="right", weight="bold")
    fig.add_artist(
        Line2D([MARGIN, W - MARGIN], [y_rule, y_rule], transform=tr, lw=0.6, color="black")
    )

    # ---------------------------------------------------------------- scale
    core: list[float] = []
    extended: list[float] = []
    for r in rows:
        if r.excluded is None and r.est is not None:
            core.append(r.est)
            extended += [v for v in (r.lo, r.hi) if v is not None]
    if pooled:
        core += [back.get(key) for key in ("estimate", "ci_lb", "ci_ub")]
    if show_pi:
        extended += [back["pi_lb"], back["pi_ub"]]
    scale = _choose_scale(kind, core, extended)
    if kind == "ratio":
        ax.set_xscale("log")
    ax.set_xlim(scale.lo, scale.hi)
    ax.set_xticks(scale.ticks, [_fmt_tick(t) for t in scale.ticks])
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    for label in ax.get_xticklabels():
        label.set_parse_math(False)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.patch.set_visible(False)
    if scale.null is not None:
        ax.axvline(scale.null, color="black", lw=0.6, zorder=1)

    # ---------------------------------------------------------------- study rows
    wmax = max((r.weight for r in rows if r.weight is not None and r.excluded is None), default=0)
    max_side = 0.72 * ROW_H * 72  # points
    label_w = study_w
    for i, r in enumerate(rows):
        text(x_study, i, m.fit(r.label, label_w))
        for a in range(n_arms):
            ev, nn = r.arms[a]
            _, _, slash_end = arm_x[a]
            text(slash_end, i, _fmt_count(ev) + "/", ha="right")
            text(slash_end, i, _fmt_count(nn), ha="left")
        if r.excluded is not None:
            reason = m.fit(r.excluded, x_weight_r - x_est0, style="italic")
            text(x_est0, i, reason, style="italic", color=MUTED)
            continue
        text(x_est_num_r, i, est_txt[i], ha="right")
        text(x_ci_l, i, ci_txt[i], ha="left")
        text(x_weight_r, i, w_txt[i], ha="right")
        if r.est is None:
            continue
        if r.lo is not None and r.hi is not None:
            _ci_line(ax, r.lo, r.hi, i, scale, gid=f"study-ci-{i}")
        if scale.lo <= r.est <= scale.hi:
            if wmax > 0 and r.weight is not None:
                side = max(max_side * math.sqrt(r.weight / wmax), 2.5)
            else:
                side = 0.6 * max_side
            ax.plot(
                [r.est],
                [i],
                marker="s",
                markersize=side,
                color=SQUARE_COLOR,
                markeredgewidth=0,
                linestyle="none",
                zorder=3,
                gid=f"study-marker-{i}",
            )

    # ---------------------------------------------------------------- pooled rows
    if pooled:
        text(x_study, y_pool, m.fit(model_label, label_w, **bold), weight="bold")
        for a in range(n_arms):
            _, _, slash_end = arm_x[a]
            ev, nn = totals[a]
            text(slash_end, y_pool, ev + "/" if nn else ev, ha="right", weight="bold")
            text(slash_end, y_pool, nn, ha="left", weight="bold")
        text(x_est_num_r, y_pool, pooled_est, ha="right", weight="bold")
        text(x_ci_l, y_pool, pooled_ci, ha="left", weight="bold")
        text(x_weight_r, y_pool, "100.0%", ha="right", weight="bold")
        est, lb, ub = back["estimate"], back.get("ci_lb"), back.get("ci_ub")
        lb = lb if _finite(lb) else est
        ub = ub if _finite(ub) else est
        hh = 0.34
        diamond = Polygon(
            [(lb, y_pool), (est, y_pool - hh), (ub, y_pool), (est, y_pool + hh)],
            closed=True,
            facecolor=DIAMOND_COLOR,
            edgecolor=DIAMOND_COLOR,
            lw=0.5,
            zorder=4,
            gid="pooled-diamond",
        )
        ax.add_patch(diamond)
        if show_pi:
            y_pi = y_pool + 1
            text(x_study, y_pi, m.fit("Prediction interval", label_w))
            text(x_ci_l, y_pi, pi_ci, ha="left")
            _ci_line(
                ax,
                back["pi_lb"],
                back["pi_ub"],
                y_pi,
                scale,
                gid="prediction-interval",
                color=PI_COLOR,
                lw=1.2,
                caps=True,
            )
    else:
        for j, line in enumerate(not_pooled_lines):
            text(x_study, y_pool + j, line, style="italic")

    # ---------------------------------------------------------------- under the axis
    if have_favours and y_favours is not None:
        null = scale.null if scale.null is not None else scale.lo
        null_x = px0 + plot_w * _axis_frac(null, scale)
        pad = 0.06
        left, right = favours
        if left:
            s = m.fit(f"Favours {left}", null_x - pad - MARGIN)
            text(null_x - pad, y_favours, s, ha="right", color=MUTED)
        if right:
            s = m.fit(f"Favours {right}", W - MARGIN - null_x - pad)
            text(null_x + pad, y_favours, s, ha="left", color=MUTED)
    for yy, s in zip(y_footers, footers, strict=True):
        text(x_study, yy, m.fit(s, W - 2 * MARGIN))
    return fig


def _axis_frac(v: float, scale: _Scale) -> float:
    if scale.kind == "ratio":
        return (math.log(v) - math.log(scale.lo)) / (math.log(scale.hi) - math.log(scale.lo))
    return (v - scale.lo) / (scale.hi - scale.lo)


def _ci_line(
    ax,
    lo: float,
    hi: float,
    y: float,
    scale: _Scale,
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
