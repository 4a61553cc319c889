"""Journal-style forest plot from a fit dictionary (``Fit.to_dict()``).

The figure is a table with a plot panel, as Cochrane RevMan, the Lancet or the NEJM print
it: one row per study (label, n/N per arm, a square sized by weight with its confidence
interval, the back-transformed estimate and CI as text, the weight), then the pooled
diamond with the totals, the prediction interval for random-effects models, and the
heterogeneity and overall-effect lines under the axis. ``draw_subgroup_forest`` draws a
subgroup analysis the same way (per level: header, studies, subtotal diamond and its
heterogeneity; then the overall diamond and the test for subgroup differences), and
``draw_forest(..., rob=...)`` adds risk-of-bias columns at the right of the study rows.

Studies with a zero-cell correction are marked with a dagger and a footnote saying what
was added, studies excluded from the model with "*" and "Not estimable"; the prediction
interval is drawn from three studies on; a fit without any study is a short message.

Both are built from one list of table items (study rows, diamonds, notes, headers) laid
out and drawn by ``_render``. Layout is computed in inches from measured text widths, with
rows of fixed height, so the figure height grows with the number of studies and columns
never overlap. Every text comes from users' tables and is printed literally: mathtext and
LaTeX are off for every artist.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from matplotlib.figure import Figure

from metareview.engine import measures
from metareview.plots._table import (
    FIG_WIDTH,
    GAP,
    MARGIN,
    MAX_PLOT_W,
    MIN_PLOT_W,
    MUTED,
    ROB_DOT,
    ROW_H,
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
    fmt_p,
    fmt_tau2,
    footer_rows,
    header_rule,
    message_figure,
    minus,
    rob_mark,
    scale_axis,
    square,
    study_label,
    table_axes,
    text_fn,
    title_line,
    wrap_words,
)
from metareview.plots.common import journal_style, new_figure, when_drawn
from metareview.plots.paging import Page, is_paged, summary_note
from metareview.present.tables import primary_subgroup_test

__all__ = [
    "draw_forest",
    "draw_forest_page",
    "draw_forest_summary",
    "draw_subgroup_forest",
    "measure_kind",
    "default_measure_label",
]

# --------------------------------------------------------------------------- constants

SHORT_HEADER_W = 0.9  # arm headers up to this width stay on one line, inches
MAX_ARM_W = 1.25  # widest an arm column (header included) may get, inches

PI_COLOR = "#7a0000"
NO_DATA = "No study has data for this outcome (k = 0): there is nothing to plot."
NOT_ESTIMABLE = "Not estimable"  # the estimate column of a study excluded from the model
MIN_K_PI = 3  # fewest studies for which the prediction interval is drawn


# --------------------------------------------------------------------------- helpers


def measure_kind(fit: Mapping[str, Any]) -> str:
    """``"ratio"`` (log axis, null at 1), ``"difference"`` (null at 0) or ``"proportion"``.

    Unknown measures are classified from the studies: back-transformation ``exp`` means a
    ratio, the identity a difference, anything else a linear axis without a null line.
    """
    known = measures.find(fit.get("measure"))
    if known:
        return known.axis
    pairs = []
    for s in fit.get("studies") or []:
        yi = s.get("yi")
        est = (s.get("back") or {}).get("estimate")
        if finite(yi) and finite(est):
            pairs.append((float(yi), float(est)))
    if pairs:
        if all(math.isclose(math.exp(y), b, rel_tol=1e-6, abs_tol=1e-12) for y, b in pairs):
            return "ratio"
        if all(math.isclose(y, b, rel_tol=1e-9, abs_tol=1e-12) for y, b in pairs):
            return "difference"
    return "proportion"


def default_measure_label(fit: Mapping[str, Any]) -> str:
    measure = str(fit.get("measure") or "").upper()
    if fit.get("model") == "PETO" and measure == "OR":
        measure = "PETO"
    known = measures.find(measure)
    return known.label if known else (measure or "Estimate")


def _fmt_count(n: Any) -> str:
    if not finite(n):
        return "\u2013"
    return f"{int(round(float(n))):,}"


def _wrap_clauses(text: str, fits, max_lines: int) -> list[str]:
    """Wrap at '; ' (clause) boundaries when that fits in ``max_lines``, else at spaces."""
    clauses = text.split("; ")
    if len(clauses) > 1 and all(fits(c + ";") for c in clauses):
        lines: list[str] = []
        current = ""
        for clause in clauses:
            trial = f"{current}; {clause}" if current else clause
            if fits(trial + ";") or not current:
                current = trial
            else:
                lines.append(current + ";")
                current = clause
        lines.append(current)
        if len(lines) <= max_lines:
            return lines
    return wrap_words(text, fits, max_lines)


def _wrap_header(
    m: Measurer, label: str, body_w: float, max_w: float = MAX_ARM_W
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

        lines = wrap_words(label, fits, 2)
        if all(fits(line) for line in lines) or width >= max_w:
            return width, [m.fit(line, width, **bold) for line in lines]
        width = min(width + 0.05, max_w)


# --------------------------------------------------------------------------- axis scale


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
    study: str | None = None  # the study id
    correction: str | None = None  # zero-cell correction applied to its cells (None: none)
    mark: str = ""  # marker after the label (see _marks)
    means: bool = False  # arms are ((mean, SD), n) of a continuous outcome, not (events, n)


def _study_rows(
    fit: Mapping[str, Any], two_arm: bool, study_labels: Mapping[str, str] | None
) -> list[_StudyRow]:
    rows = []
    for s in fit.get("studies") or []:
        sid = s.get("study")
        means = "m1i" in s or "mi" in s
        if "m1i" in s:  # two arms' means: mean (SD) and n per arm
            arms = [((s.get("m1i"), s.get("sd1i")), s.get("n1i"))]
            arms.append(((s.get("m2i"), s.get("sd2i")), s.get("n2i")))
        elif "mi" in s:
            arms = [((s.get("mi"), s.get("sdi")), s.get("ni"))]
        elif two_arm:
            arms = [(s.get("ai"), s.get("n1i")), (s.get("ci"), s.get("n2i"))]
        else:
            arms = [(s.get("xi"), s.get("ni"))]
        est, lo, hi = back_interval(s.get("back"))
        excluded = s.get("excluded")
        rows.append(
            _StudyRow(
                label=study_label(sid, study_labels),
                arms=arms,
                est=est,
                lo=lo,
                hi=hi,
                weight=s.get("weight") if finite(s.get("weight")) else None,
                excluded=clean(excluded) or "excluded" if excluded is not None else None,
                study=None if sid is None else str(sid),
                correction=_correction_of(s),
                means=means,
            )
        )
    return rows


def _correction_of(study: Mapping[str, Any]) -> str | None:
    """The zero-cell correction a study's cells received (``correction`` of the fit's study
    record, as ``metareview.engine.effects`` labels it), None when none was applied."""
    corr = clean(study.get("correction"))
    return None if corr.lower() in ("", "none") else corr


#: markers of the zero-cell corrections (one per distinct correction, in order of use)
CORRECTION_MARKS = ("\u2020", "\u2021", "\u00a7", "\u00b6")
#: marker of studies shown but excluded from the model (not estimable)
EXCLUDED_MARK = "*"

_ADD_RE = re.compile(r"^add ([0-9.eE+-]+) \((\w+)\)$")
_ARM_RE = re.compile(r"^treatment-arm correction \(total ([0-9.eE+-]+), (\w+)\)$")


def _correction_note(corr: str, two_arm: bool, model: str) -> str:
    """What a correction label (``metareview.engine.effects``) added, as a footnote text."""
    cells = "each cell of the 2\u00d72 table" if two_arm else "the events and non-events"
    which = {
        "only0": "(zero cell)",
        "all": "(every study)",
        "if0all": "(every study, as one study has a zero cell)",
    }
    m_add, m_arm = _ADD_RE.match(corr), _ARM_RE.match(corr)
    if m_add:
        note = f"{m_add.group(1)} added to {cells} {which.get(m_add.group(2), '')}".rstrip()
    elif m_arm:
        note = (
            "treatment-arm continuity correction (Sweeting 2004; intervention and control "
            f"increments sum to {m_arm.group(1)}) added to the cells "
            + which.get(m_arm.group(2), "")
        ).rstrip()
    else:
        note = f"continuity correction: {corr}"
    if model in ("MH", "PETO"):
        name = "Mantel-Haenszel" if model == "MH" else "Peto"
        note += f", for the study's own estimate only (the {name} pooled estimate uses the counts)"
    return note


def _marks(rows: Sequence[_StudyRow], two_arm: bool, model: str) -> list[str]:
    """Set the markers after study labels (``row.mark``); returns their footnotes.

    Studies whose cells received a zero-cell correction get a dagger (one symbol per
    distinct correction) and a footnote saying what was added; studies shown but excluded
    from the model get an asterisk and a footnote with the reason.
    """
    symbols: dict[str, str] = {}
    reasons: dict[str, list[str]] = {}
    for r in rows:
        if r.excluded is not None:
            r.mark = EXCLUDED_MARK
            reasons.setdefault(r.excluded, []).append(r.label)
        elif r.correction is not None:
            if r.correction not in symbols:
                n = len(symbols)
                base = CORRECTION_MARKS[n % len(CORRECTION_MARKS)]
                symbols[r.correction] = base * (n // len(CORRECTION_MARKS) + 1)
            r.mark = symbols[r.correction]
    notes = [f"{sym} {_correction_note(corr, two_arm, model)}" for corr, sym in symbols.items()]
    if reasons:
        if len(reasons) == 1:
            why = next(iter(reasons))
        else:
            why = "; ".join(f"{reason} ({', '.join(labels)})" for reason, labels in reasons.items())
        notes.append(f"{EXCLUDED_MARK} Not estimable, excluded from the model: {why}")
    return notes


#: the arm columns' heading: events of totals, or a continuous outcome's mean (SD) and n
ARM_UNIT = "n/N"
ARM_UNIT_MEANS = "Mean (SD)\u2002N"


def _n_arms(fit: Mapping[str, Any]) -> int:
    """Arm columns of a forest: 2 (two arms' counts or means), 1 (one arm), 0 (generic
    inverse-variance estimates, which have no per-arm data)."""
    studies = fit.get("studies") or []
    if any(k in s for s in studies for k in ("ai", "n1i", "m1i")):
        return 2
    if any(k in s for s in studies for k in ("xi", "ni", "mi")):
        return 1
    if studies:
        return 0  # generic (yi, sei): nothing per arm to show
    return 2 if _is_two_arm(fit) else 1


def _is_two_arm(fit: Mapping[str, Any]) -> bool:
    studies = fit.get("studies") or []
    if any(("ai" in s or "n1i" in s) for s in studies):
        return True
    if any(("xi" in s or "ni" in s) for s in studies):
        return False
    known = measures.find(fit.get("measure"))
    return known.two_arm if known else True


def _model_label(fit: Mapping[str, Any], short: bool = False) -> str:
    """The pooled row's label ("Random-effects model (REML)"); ``short``: the form for a
    narrow study column ("RE model (REML)")."""
    if short:
        return (
            _model_label(fit)
            .replace("Random-effects model", "RE model")
            .replace("Fixed-effect model", "FE model")
        )
    model = str(fit.get("model") or "").upper()
    method = clean(fit.get("method"))
    if model == "RE":  # Hartung-Knapp is named on the overall-effect line
        return f"Random-effects model ({method})" if method else "Random-effects model"
    if model == "MH":
        return "Fixed-effect model (M-H)"  # as RevMan abbreviates Mantel-Haenszel
    if model == "PETO":
        return "Fixed-effect model (Peto)"
    if model == "FE":
        return "Fixed-effect model"
    return "Pooled estimate"


def _heterogeneity_text(fit: Mapping[str, Any], pi_not_shown: bool = False) -> str | None:
    """ "Heterogeneity: tau² = ..; I² = ..%, Q = .., df = .. (p = ..)" of ``fit``;
    ``pi_not_shown`` adds that the prediction interval is not drawn (k < 3)."""
    parts = []
    model = str(fit.get("model") or "").upper()
    if model == "RE" and finite(fit.get("tau2")):
        parts.append(f"tau\u00b2 = {fmt_tau2(fit['tau2'])}")
    i2 = fit.get("i2")
    q = fit.get("q")
    if not (finite(q) or finite(i2)):
        return None
    stats = []
    if finite(i2):
        stats.append(f"I\u00b2 = {float(i2):.0f}%")
    if finite(q):
        stats.append(f"Q = {float(q):.2f}")
        df = fit.get("q_df")
        if finite(df):
            stats.append(f"df = {int(df)}")
    text = ", ".join(stats)
    if finite(q) and fit.get("q_pval") is not None:
        text += f" ({fmt_p(fit.get('q_pval'))})"
    parts.append(text)
    if pi_not_shown:
        parts.append(f"prediction interval not shown (k < {MIN_K_PI})")
    return "Heterogeneity: " + "; ".join(parts)


def _overall_text(fit: Mapping[str, Any]) -> str | None:
    stat = fit.get("stat")
    if not finite(stat):
        return None
    test = str(fit.get("test") or "z").lower()
    name = "Test for overall effect"
    if test in ("knha", "hksj"):
        name += " (Hartung-Knapp)"
    if test in ("knha", "t", "hksj") or finite(fit.get("df")):
        letter = "t"
        df = f", df = {int(fit['df'])}" if finite(fit.get("df")) else ""
    else:
        letter, df = "z", ""
    value = minus(f"{float(stat):.2f}")
    return f"{name}: {letter} = {value}{df} ({fmt_p(fit.get('pval'))})"


def _not_pooled_reason(fit: Mapping[str, Any]) -> str:
    warnings = [clean(w) for w in fit.get("warnings") or [] if clean(w)]
    if not warnings:
        return "Not pooled"
    return "Not pooled: " + "; ".join(warnings)


# --------------------------------------------------------------------------- table items

_TABLE_KINDS = ("study", "diamond", "pi")


@dataclass
class _Item:
    """One line of the figure's table, top to bottom.

    ``kind``: ``"study"`` (a study: n/N, marker and CI, estimate, weight), ``"diamond"`` (a
    pooled estimate), ``"pi"`` (a prediction interval), ``"header"`` (a bold heading over
    the columns left of the plot) or ``"note"`` (text over the same columns, wrapped onto
    at most ``max_lines`` lines). ``gap`` is the space above the item, in rows.
    """

    kind: str
    label: str = ""
    mark: str = ""  # marker printed after the label (never truncated)
    short: str = ""  # a shorter label, used when ``label`` does not fit its column
    bold: bool = False
    style: str = "normal"
    color: str | None = None
    arms: list[tuple[str, str]] = field(default_factory=list)  # (events + "/", total)
    est: str = ""
    ci: str = ""
    weight: str = ""
    gap: float = 0.0
    row: _StudyRow | None = None  # study rows
    values: tuple[float, ...] = ()  # diamond: (estimate, lower, upper); pi: (lower, upper)
    gid: str | None = None  # marker, diamond, prediction interval or header text
    ci_gid: str | None = None
    max_lines: int = 1
    rob: list[Mapping[str, Any] | None] | None = None  # risk-of-bias cells of a study row
    rob_gid: str | None = None  # prefix: "<rob_gid>-<col>"
    y: float = 0.0  # set by the vertical layout
    lines: list[str] = field(default_factory=list)

    @property
    def font(self) -> dict[str, str]:
        return {"weight": "bold" if self.bold else "normal", "style": self.style}

    def fitted_label(self, m: Measurer, width: float) -> str:
        """The label truncated to ``width`` inches, its marker kept whole; the ``short``
        label instead when the label does not fit and a short one is given."""
        room = width - (m.width(self.mark, **self.font) if self.mark else 0.0)
        label = self.label
        if self.short and m.width(label, **self.font) > room:
            label = self.short
        return m.fit(label, room, **self.font) + self.mark


def _fmt_mean(value: Any) -> str:
    return f"{float(value):.4g}".replace("-", "\u2212") if finite(value) else "\u2013"


def _arm_cells(arms: Sequence[tuple[Any, Any]]) -> list[tuple[str, str]]:
    cells = []
    for ev, nn in arms:
        if isinstance(ev, tuple):  # (mean, SD) of a continuous outcome
            cells.append((f"{_fmt_mean(ev[0])} ({_fmt_mean(ev[1])})\u2002", _fmt_count(nn)))
        else:
            cells.append((_fmt_count(ev) + "/", _fmt_count(nn)))
    return cells


def _totals(rows: Sequence[_StudyRow], n_arms: int) -> list[tuple[str, str]]:
    """Summed events and totals per arm, as the bold cells of a pooled row."""
    out = []
    for a in range(n_arms):
        if any(r.means for r in rows):  # continuous: the arm's total size
            sizes = [r.arms[a][1] for r in rows if finite(r.arms[a][1])]
            out.append(("", _fmt_count(sum(sizes))) if sizes else ("\u2013", ""))
            continue
        pairs = [r.arms[a] for r in rows if finite(r.arms[a][0]) and finite(r.arms[a][1])]
        if pairs:
            out.append(
                (_fmt_count(sum(p[0] for p in pairs)) + "/", _fmt_count(sum(p[1] for p in pairs)))
            )
        else:
            out.append(("\u2013", ""))
    return out


def _study_item(
    r: _StudyRow,
    n_arms: int,
    suffix: str,
    rob: list[Mapping[str, Any] | None] | None = None,
) -> _Item:
    shown = r.excluded is None
    return _Item(
        "study",
        label=r.label,
        mark=r.mark,
        arms=_arm_cells(r.arms[:n_arms]),
        est=fmt_num(r.est) if shown else "",
        ci=fmt_ci(r.lo, r.hi) if shown else "",
        weight=f"{r.weight:.1f}%" if r.weight is not None and shown else "",
        row=r,
        gid=f"study-marker-{suffix}",
        ci_gid=f"study-ci-{suffix}",
        rob=rob,
        rob_gid=f"rob-forest-{suffix}" if rob is not None else None,
    )


def _diamond_item(
    label: str,
    fit: Mapping[str, Any],
    totals: list[tuple[str, str]],
    weight: str,
    gid: str,
    gap: float,
) -> _Item:
    back = fit.get("back") or {}
    est, lb, ub = back["estimate"], back.get("ci_lb"), back.get("ci_ub")
    return _Item(
        "diamond",
        label=label,
        bold=True,
        arms=[(ev if nn else ev.rstrip("/"), nn) for ev, nn in totals],
        est=fmt_num(est),
        ci=fmt_ci(lb, ub),
        weight=weight,
        gap=gap,
        values=(est, lb if finite(lb) else est, ub if finite(ub) else est),
        gid=gid,
    )


def _pooled(fit: Mapping[str, Any] | None) -> bool:
    if not fit:
        return False
    back = fit.get("back") or {}
    return finite(fit.get("estimate")) and finite(back.get("estimate"))


# --------------------------------------------------------------------------- risk of bias

ROB_CELL_W = 0.18  # inches: narrowest risk-of-bias column


@dataclass
class _RobSpec:
    headers: list[str]
    domains: list[tuple[str, str]]  # (short, long) for the legend
    judgements: list[tuple[str, str, str]]  # (label, colour, symbol), display order
    cells: dict[str, list[Mapping[str, Any] | None]]
    heading: str = "Risk of bias"  # the tool's heading (star-count tools: "Study quality")
    not_assessed: str = "Not assessed"

    def for_study(self, study: Any) -> list[Mapping[str, Any] | None]:
        return list(self.cells.get(str(study), [None] * len(self.headers)))


def _rob_spec(rob: Any) -> _RobSpec:
    """Normalise ``rob`` (a ``RobTable`` or study id -> list of judgement dicts)."""
    if hasattr(rob, "forest_cells"):
        cells = rob.forest_cells()
    elif isinstance(rob, Mapping):
        cells = {str(k): list(v) for k, v in rob.items()}
    else:
        raise TypeError("rob must be a RobTable or map study id -> list of judgement dicts")
    widths = {len(v) for v in cells.values()}
    if len(widths) > 1:
        raise ValueError("rob: every study needs the same number of judgements (columns)")
    ncols = widths.pop() if widths else 0
    heading, not_assessed = "Risk of bias", "Not assessed"
    if hasattr(rob, "tool"):
        cols = rob.tool.columns
        headers = [clean(getattr(c, "tight", c.short)) for c in cols]
        domains = [
            (h, clean(getattr(c, "long_label", c.label)))
            for h, c in zip(headers, cols, strict=True)
        ]
        judgements = [(clean(j.label), j.colour, j.symbol) for j in rob.tool.judgements]
        heading = clean(getattr(rob.tool, "heading", heading)) or heading
        not_assessed = getattr(rob.tool, "not_assessed_label", not_assessed)
    else:
        headers, domains = [], []
        for j in range(ncols):
            first = next((c[j] for c in cells.values() if c[j]), None) or {}
            short = clean(first.get("domain")) or f"D{j + 1}"
            headers.append(short)
            domains.append((short, clean(first.get("domain_label")) or short))
        seen: dict[tuple[str, str, str], tuple[float, int]] = {}
        for c in cells.values():
            for cell in c:
                if not cell:
                    continue
                key = (
                    clean(cell.get("label") or cell.get("judgement")),
                    str(cell.get("colour")),
                    str(cell.get("symbol") or ""),
                )
                rank = cell.get("rank")
                r = float(rank) if finite(rank) else math.inf
                if key not in seen:
                    seen[key] = (r, len(seen))  # by rank, then by first appearance
                elif r < seen[key][0]:
                    seen[key] = (r, seen[key][1])
        judgements = sorted(seen, key=lambda k: seen[k])
    return _RobSpec(headers, domains, judgements, cells, heading, not_assessed)


# --------------------------------------------------------------------------- layout


@dataclass
class _Columns:
    W: float
    study_w: float
    arm_x: list[tuple[float, float, float]]  # (left, right, end of "events/") per arm
    arm_head: list[list[str]]
    px0: float
    plot_w: float
    x_est0: float
    x_est_num_r: float
    x_ci_l: float
    x_est_c: float
    est_col_w: float
    x_weight_r: float
    rob_x: list[float]  # centres of the risk-of-bias columns
    rob_x0: float
    rob_total: float  # width of the risk-of-bias block with its gap
    study_needed: float  # width of the widest label of the study column
    arm_unit: str = ARM_UNIT  # the arm columns' second heading line
    weighted: bool = True  # whether the fit gives study weights (not the GLMM)


def _columns(
    m: Measurer,
    W: float,
    items: Sequence[_Item],
    arm_labels: Sequence[str],
    est_head: tuple[str, str],
    study_head: str,
    rob_headers: Sequence[str],
) -> _Columns:
    """Horizontal layout: column widths from the measured texts of the table items."""
    bold = {"weight": "bold"}
    n_arms = len(arm_labels)
    table = [it for it in items if it.kind in _TABLE_KINDS]
    means = any(it.row is not None and it.row.means for it in table)
    unit = ARM_UNIT_MEANS if means else ARM_UNIT

    # n/N columns: events right-aligned up to and including "/", totals left-aligned.
    arm_ev_w, arm_n_w, arm_body_w = [], [], []
    for a in range(n_arms):
        cells = [(it.arms[a], it.font) for it in table if len(it.arms) > a]
        ev_w = max((m.width(c[0], **f) for c, f in cells), default=0.0)
        n_w = max((m.width(c[1], **f) for c, f in cells), default=0.0)
        arm_ev_w.append(ev_w)
        arm_n_w.append(n_w)
        arm_body_w.append(max(ev_w + n_w, m.width(unit, **bold)))

    est_w_num = max((m.width(it.est, **it.font) for it in table), default=0.0)
    ci_w = max((m.width(it.ci, **it.font) for it in table), default=0.0)
    space_w = m.width("\u2002")  # en space between estimate and [CI]
    est_w = est_w_num + space_w + ci_w
    est_head_w = max(m.width(t, **bold) for t in est_head)
    est_col_w = max(est_w, min(est_head_w, 1.6))
    # a model without study weights (the GLMM) gets no weight column
    weighted = any(it.weight for it in table)
    weight_w = (
        max(
            max((m.width(it.weight, **it.font) for it in table), default=0.0),
            m.width("100.0%", **bold),
            m.width("Weight", **bold),
        )
        if weighted
        else 0.0
    )
    rob_ws = [max(ROB_CELL_W, m.width(h, **bold) + 0.05) for h in rob_headers]
    for it in table:  # cells printed as text (the stars of a star-count tool)
        for c, cell in enumerate(it.rob or []):
            if cell and cell.get("text") and c < len(rob_ws):
                rob_ws[c] = max(rob_ws[c], m.width(str(cell["text"])) + 0.05)
    rob_total = sum(rob_ws) + GAP if rob_ws else 0.0

    study_needed = max(
        max((m.width(it.label + it.mark, **it.font) for it in table), default=0.0),
        m.width(study_head, **bold),
    )
    # Study labels and the pooled-model label come before wide arm headers: narrow the
    # arm columns (headers wrap, then truncate) until the study column gets what it needs
    # (at least the widest pooled label or 1.6 in).
    key_w = max((m.width(it.label, **it.font) for it in table if it.kind == "diamond"), default=0)
    study_wanted = min(study_needed, max(key_w, 1.6))
    cap = MAX_ARM_W
    while True:
        heads = [_wrap_header(m, arm_labels[a], arm_body_w[a], cap) for a in range(n_arms)]
        arm_w = [h[0] for h in heads]
        arm_head = [h[1] for h in heads]
        fixed = 2 * MARGIN + sum(arm_w) + est_col_w + weight_w + GAP * (n_arms + 3) + rob_total
        study_max = W - fixed - MIN_PLOT_W
        if study_max >= study_wanted - 1e-9 or all(
            w <= b + 1e-9 for w, b in zip(arm_w, arm_body_w, strict=True)
        ):
            break
        # narrow from the current cap: an arm whose counts are wider than the cap keeps its
        # width, so max(arm_w) alone would never decrease
        cap = min(cap, max(arm_w)) - 0.05
        if cap <= 0.05:
            break
    study_w = min(study_needed, study_max)
    plot_w = min(W - fixed - study_w, MAX_PLOT_W)
    study_w = W - fixed - plot_w  # leftover space goes to the study column

    x = MARGIN + study_w + GAP
    arm_x = []
    for a in range(n_arms):
        body_w = arm_ev_w[a] + arm_n_w[a]
        slash_end = x + (arm_w[a] - body_w) / 2 + arm_ev_w[a]
        arm_x.append((x, x + arm_w[a], slash_end))
        x += arm_w[a] + GAP
    px0 = x
    x_est0 = px0 + plot_w + GAP
    x_est_num_r = x_est0 + (est_col_w - est_w) / 2 + est_w_num
    x_weight_r = W - MARGIN - rob_total
    rob_x, xr = [], x_weight_r + GAP
    for w in rob_ws:
        rob_x.append(xr + w / 2)
        xr += w
    return _Columns(
        W=W,
        study_w=study_w,
        arm_x=arm_x,
        arm_head=arm_head,
        px0=px0,
        plot_w=plot_w,
        x_est0=x_est0,
        x_est_num_r=x_est_num_r,
        x_ci_l=x_est_num_r + space_w,
        x_est_c=x_est0 + est_col_w / 2,
        est_col_w=est_col_w,
        x_weight_r=x_weight_r,
        rob_x=rob_x,
        rob_x0=x_weight_r + GAP,
        rob_total=rob_total,
        study_needed=study_needed,
        arm_unit=unit,
        weighted=weighted,
    )


# --------------------------------------------------------------------------- drawing


def _render(
    *,
    title: str,
    subtitle: str,
    study_head: str,
    arm_labels: list[str],
    kind: str,
    est_head: tuple[str, str],
    favours: tuple[str, str],
    items: list[_Item],
    footers: list[tuple[str, str | None]],
    rob: _RobSpec | None = None,
    scale_items: list[_Item] | None = None,
) -> Figure:
    """Draw the table ``items`` with a plot panel, the axis and the ``footers`` under it;
    the axis and the largest square come from ``scale_items`` when given (every page of a
    paged forest plot shares them), else from ``items``."""
    fig = new_figure(FIG_WIDTH, 4.0)
    m = Measurer(fig)
    bold = {"weight": "bold"}
    n_arms = len(arm_labels)
    rob_headers = rob.headers if rob is not None else []
    cols = _columns(m, FIG_WIDTH, items, arm_labels, est_head, study_head, [])
    if rob_headers:
        # The risk-of-bias columns take what the table can spare (plot panel down to its
        # minimum, study column down to its widest label); the figure widens by the rest.
        slack = max(0.0, cols.plot_w - MIN_PLOT_W) + max(0.0, cols.study_w - cols.study_needed)
        probe = _columns(m, FIG_WIDTH, items, arm_labels, est_head, study_head, rob_headers)
        W = FIG_WIDTH + max(0.0, probe.rob_total - slack)
        cols = _columns(m, W, items, arm_labels, est_head, study_head, rob_headers)
    W = cols.W
    x_study = MARGIN
    px0, plot_w = cols.px0, cols.plot_w
    left_w = px0 - GAP - MARGIN  # headers and notes span the columns left of the plot

    # ---------------------------------------------------------------- vertical layout
    cursor = 0.0
    for it in items:
        if it.kind in ("note", "header"):
            font = it.font

            def fits(s: str, font: dict[str, str] = font) -> bool:
                return m.width(s, **font) <= left_w

            lines = _wrap_clauses(it.label, fits, it.max_lines) if it.max_lines > 1 else [it.label]
            it.lines = [m.fit(s, left_w, **font) for s in lines]
        it.y = cursor + it.gap
        cursor = it.y + max(len(it.lines), 1)
    y_head1, y_head2 = -2.0, -1.0
    n_head = max((len(h) for h in cols.arm_head), default=1)
    y_sub = y_head1 - (n_head - 1) - 1.45 if subtitle else None
    if title:
        y_title = (y_sub - 1.1) if y_sub is not None else y_head1 - (n_head - 1) - 1.45
    else:
        y_title = None
    y_rule = -0.5
    last = max((it.y + max(len(it.lines), 1) - 1 for it in items), default=0.0)
    y_axis = last + 0.75  # bottom of the plot panel (x-axis line)
    have_favours = kind != "proportion" and any(favours)
    cursor = y_axis + 1.25  # below tick labels
    y_favours = None
    if have_favours:
        y_favours = cursor + 0.55
        cursor = y_favours + 0.5
    # footers wrap onto at most three lines each; a gid goes on the first line
    footer_lines: list[tuple[str, str | None]] = []
    for s, gid in footers:
        for j, line in enumerate(m.wrap(s, W - 2 * MARGIN, 3)):
            footer_lines.append((line, gid if j == 0 else None))
    y_footers, cursor = footer_rows(cursor, len(footer_lines))
    rob_legend: list[tuple[float, float, str, Any]] = []  # (x, y, kind, payload)
    if rob is not None:
        cursor = _rob_legend_layout(m, rob, W, cursor, rob_legend, items)
    y_bottom = cursor + 0.45
    y_head_top = y_head1 - (n_head - 1)
    if y_title is not None:
        y_top = y_title - 0.85
    elif y_sub is not None:
        y_top = y_sub - 0.85
    else:
        y_top = y_head_top - 0.9
    ax, tr = table_axes(
        fig, W, px0, plot_w, y_top=y_top, y_bottom=y_bottom, y_axis=y_axis, y_rule=y_rule
    )
    text = text_fn(fig, tr)

    # ---------------------------------------------------------------- header
    if title and y_title is not None:
        title_line(text, m, y_title, title, W)
    if subtitle and y_sub is not None:
        text(x_study, y_sub, m.fit(subtitle, W - 2 * MARGIN), color=MUTED)
    text(x_study, y_head2, m.fit(study_head, cols.study_w, **bold), weight="bold")
    for a in range(n_arms):
        x0, x1, _ = cols.arm_x[a]
        for j, line in enumerate(reversed(cols.arm_head[a])):
            text((x0 + x1) / 2, y_head1 - j, line, ha="center", weight="bold")
        text((x0 + x1) / 2, y_head2, cols.arm_unit, ha="center", weight="bold")
    est_col_w, x_est_c = cols.est_col_w, cols.x_est_c
    text(x_est_c, y_head1, m.fit(est_head[0], est_col_w, **bold), ha="center", weight="bold")
    text(x_est_c, y_head2, m.fit(est_head[1], est_col_w, **bold), ha="center", weight="bold")
    if cols.weighted:
        text(cols.x_weight_r, y_head2, "Weight", ha="right", weight="bold")
    if rob is not None and cols.rob_x:
        rob_w = W - MARGIN - cols.rob_x0
        head = m.fit(rob.heading, rob_w, **bold)
        text((cols.rob_x0 + W - MARGIN) / 2, y_head1, head, ha="center", weight="bold")
        for xx, h in zip(cols.rob_x, rob.headers, strict=True):
            text(xx, y_head2, h, ha="center", weight="bold")
    header_rule(fig, tr, W, y_rule)

    # ---------------------------------------------------------------- scale
    core: list[float] = []
    extended: list[float] = []
    scale_src = items if scale_items is None else scale_items
    for it in scale_src:
        r = it.row
        if it.kind == "study" and r is not None and r.excluded is None and r.est is not None:
            core.append(r.est)
            extended += [v for v in (r.lo, r.hi) if v is not None]
        elif it.kind == "diamond":
            core += list(it.values)
        elif it.kind == "pi":
            extended += list(it.values)
    scale = choose_scale(kind, core, extended)
    scale_axis(ax, scale)

    # ---------------------------------------------------------------- rows
    weights = [
        it.row.weight
        for it in scale_src
        if it.kind == "study"
        and it.row is not None
        and it.row.excluded is None
        and it.row.weight is not None
    ]
    wmax = max(weights, default=0)
    max_side = 0.72 * ROW_H * 72  # points
    label_w = cols.study_w + 1e-9  # the column may be exactly its widest label
    x_est0, x_est_num_r, x_ci_l, x_weight_r = (
        cols.x_est0,
        cols.x_est_num_r,
        cols.x_ci_l,
        cols.x_weight_r,
    )
    for it in items:
        y = it.y
        if it.kind in ("note", "header"):
            for j, line in enumerate(it.lines):
                kw: dict[str, Any] = {"style": it.style, "weight": it.font["weight"]}
                if it.color:
                    kw["color"] = it.color
                if it.gid and j == 0:
                    kw["gid"] = it.gid
                text(x_study, y + j, line, **kw)
            continue
        weight = "bold" if it.bold else "normal"
        text(x_study, y, it.fitted_label(m, label_w), weight=weight, style=it.style)
        for a, (ev, nn) in enumerate(it.arms):
            _, _, slash_end = cols.arm_x[a]
            text(slash_end, y, ev, ha="right", weight=weight)
            text(slash_end, y, nn, ha="left", weight=weight)
        if it.kind == "study" and it.row is not None:
            r = it.row
            if it.rob is not None:
                for c, cell in enumerate(it.rob):
                    rob_mark(fig, tr, cols.rob_x[c], y, cell, f"{it.rob_gid}-{c}")
            if r.excluded is not None:  # the reason is in the footnote of its marker
                text(x_est0, y, NOT_ESTIMABLE, style="italic", color=MUTED)
                continue
            text(x_est_num_r, y, it.est, ha="right")
            text(x_ci_l, y, it.ci, ha="left")
            text(x_weight_r, y, it.weight, ha="right")
            if r.est is None:
                continue
            if r.lo is not None and r.hi is not None:
                ci_line(ax, r.lo, r.hi, y, scale, gid=it.ci_gid or "")
            if scale.lo <= r.est <= scale.hi:
                if wmax > 0 and r.weight is not None:
                    side = max(max_side * math.sqrt(r.weight / wmax), 2.5)
                else:
                    side = 0.6 * max_side
                square(ax, r.est, y, side, it.gid)
        elif it.kind == "diamond":
            text(x_est_num_r, y, it.est, ha="right", weight="bold")
            text(x_ci_l, y, it.ci, ha="left", weight="bold")
            text(x_weight_r, y, it.weight, ha="right", weight="bold")
            est, lb, ub = it.values
            diamond(ax, est, lb, ub, y, it.gid)
        elif it.kind == "pi":
            text(x_ci_l, y, it.ci, ha="left")
            lo, hi = it.values
            ci_line(ax, lo, hi, y, scale, gid=it.gid or "", color=PI_COLOR, lw=1.2, caps=True)

    # ---------------------------------------------------------------- under the axis
    if have_favours and y_favours is not None:
        favours_line(text, m, y_favours, favours, scale, px0, plot_w, W)
    for yy, (s, gid) in zip(y_footers, footer_lines, strict=True):
        kw = {"gid": gid} if gid else {}
        text(x_study, yy, s, **kw)
    for xx, yy, what, payload in rob_legend:
        if what == "mark":
            rob_mark(fig, tr, xx + ROB_DOT / 144, yy, payload, None)
        else:
            text(xx, yy, payload, weight="bold" if what == "head" else "normal")
    return fig


def _rob_legend_layout(
    m: Measurer,
    rob: _RobSpec,
    W: float,
    cursor: float,
    out: list[tuple[float, float, str, Any]],
    items: Sequence[_Item],
) -> float:
    """Place the risk-of-bias legend under the footers; returns the new cursor (rows)."""
    avail = W - 2 * MARGIN
    cursor += 0.4
    out.append((MARGIN, cursor + 0.5, "head", f"{rob.heading} legend"))
    cursor += 1.0
    entries = [f"({short}) {long}" for short, long in rob.domains]
    col_w = (avail - GAP) / 2
    two = len(entries) > 3 and all(m.width(e) <= col_w for e in entries)
    per_col = math.ceil(len(entries) / 2) if two else len(entries)
    for n, entry in enumerate(entries):
        c, r = divmod(n, per_col) if per_col else (0, n)
        x = MARGIN + c * (col_w + GAP)
        out.append((x, cursor + 0.5 + r, "text", m.fit(entry, col_w if two else avail)))
    cursor += per_col
    keys: list[tuple[str, Any]] = [
        (label, {"colour": colour, "symbol": symbol}) for label, colour, symbol in rob.judgements
    ]
    if any(it.rob is not None and any(c is None for c in it.rob) for it in items):
        keys.append((rob.not_assessed, None))
    x = MARGIN
    y = cursor + 0.5 + 0.2
    dot = ROB_DOT / 72
    for label, cell in keys:
        w = dot + 0.05 + m.width(label)
        if x > MARGIN and x + w > W - MARGIN:
            x = MARGIN
            y += 1.0
            cursor += 1.0
        out.append((x, y, "mark", cell))
        out.append((x + dot + 0.05, y, "text", m.fit(label, W - MARGIN - x - dot - 0.05)))
        x += w + 0.2
    return cursor + 1.2


# --------------------------------------------------------------------------- public API


@when_drawn
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
    rob: Any = None,
) -> Figure:
    """Draw a journal-style forest plot of ``fit`` (a ``Fit.to_dict()`` dictionary).

    ``intervention_label``/``control_label`` head the n/N columns (single-arm fits show
    one column, headed by ``intervention_label``). ``favours_left``/``favours_right`` are
    printed as "Favours <...>" on either side of the null line (ratio and difference
    measures only; empty strings are skipped). ``study_labels`` maps study id to the
    label shown (ids not in it are shown as they are). All texts are printed literally.

    ``rob`` adds risk-of-bias columns at the right of each study row (one coloured circle
    with its symbol per domain, then the overall judgement) and their legend under the
    figure, as Cochrane RevMan prints them. Give a ``metareview.inputs.rob.RobTable`` or a
    mapping study id -> list (one entry per column) of dicts with ``colour``, ``symbol``,
    ``label`` (the judgement's display label), ``domain`` (column header),
    ``domain_label`` (legend text) and optionally ``rank`` (legend order); None marks a
    study not assessed in that column (hollow grey circle). Studies of the fit missing
    from ``rob`` show hollow circles. Gids ``rob-forest-<row>-<col>`` (0-based).

    Studies whose cells received a zero-cell correction (their record's ``correction``)
    are marked with a dagger after the label and a footnote says what was added; studies
    shown but excluded from the model are marked "*" ("Not estimable"; the reason in the
    footnote). Gids ``footnote-<n>``. The prediction interval of a random-effects model
    is drawn from k = 3 studies on (the heterogeneity line says when it is not). A fit
    without any study gives a small figure without axes that says so
    (gid ``forest-no-data``).
    """
    with journal_style():
        return _draw(
            fit,
            **_texts(
                title, intervention_label, control_label, favours_left, favours_right, measure_label
            ),
            study_labels=study_labels,
            rob=_rob_spec(rob) if rob is not None else None,
        )


@when_drawn
def draw_forest_summary(
    fit: Mapping[str, Any],
    *,
    pages: int,
    title: str,
    intervention_label: str,
    control_label: str,
    favours_left: str,
    favours_right: str,
    measure_label: str | None = None,
) -> Figure:
    """The forest plot of a fit with too many studies for one figure
    (:func:`metareview.plots.paging.is_paged`): no study rows, the pooled estimate (and
    prediction interval) with the totals, the heterogeneity and overall-effect lines, and
    a note (gid ``paged``) saying that the study rows are on ``pages`` pages
    (:func:`draw_forest_page`). Texts as :func:`draw_forest`."""
    with journal_style():
        return _draw(
            fit,
            **_texts(
                title, intervention_label, control_label, favours_left, favours_right, measure_label
            ),
            study_labels=None,
            summary_pages=pages,
        )


@when_drawn
def draw_forest_page(
    fit: Mapping[str, Any],
    page: Page,
    *,
    title: str,
    intervention_label: str,
    control_label: str,
    favours_left: str,
    favours_right: str,
    measure_label: str | None = None,
    study_labels: Mapping[str, str] | None = None,
    rob: Any = None,
) -> Figure:
    """One page of a paged forest plot: the study rows ``page.start`` .. ``page.stop - 1``
    of :func:`draw_forest`'s table (a subtitle says which), then the pooled diamond,
    the footers and footnotes of the whole fit. Every page has the axis and the square
    sizes of all studies, so pages compare; study gids keep their row number
    (``study-marker-<row>``). Arguments as :func:`draw_forest`."""
    with journal_style():
        return _draw(
            fit,
            **_texts(
                title, intervention_label, control_label, favours_left, favours_right, measure_label
            ),
            study_labels=study_labels,
            rob=_rob_spec(rob) if rob is not None else None,
            page=page,
        )


def _texts(
    title: str,
    intervention_label: str,
    control_label: str,
    favours_left: str,
    favours_right: str,
    measure_label: str | None,
) -> dict[str, Any]:
    """The caller's texts of a forest plot, cleaned, as keyword arguments of ``_draw*``."""
    return {
        "title": clean(title),
        "arm_labels": [clean(intervention_label), clean(control_label)],
        "favours": (clean(favours_left), clean(favours_right)),
        "measure_label": clean(measure_label) if measure_label else None,
    }


def _pooled_diamond(
    fit: Mapping[str, Any], rows: Sequence[_StudyRow], n_arms: int, gap: float
) -> _Item:
    """The diamond of a pooled model of all studies, labelled with the model (no weight for
    a model that defines no study weights, as metafor's ``rma.glmm``)."""
    weight = "" if weightless(fit) else "100.0%"
    item = _diamond_item(
        _model_label(fit), fit, _totals(rows, n_arms), weight, "pooled-diamond", gap
    )
    item.short = _model_label(fit, short=True)
    return item


def weightless(fit: Mapping[str, Any]) -> bool:
    """Whether the fit's study records carry no weights at all (a GLMM: metafor's
    ``rma.glmm`` defines none)."""
    studies = fit.get("studies") or []
    return bool(studies) and all(s.get("weight") is None for s in studies)


def _pooled_footers(
    fit: Mapping[str, Any], kind: str, pi_not_shown: bool = False
) -> list[tuple[str, str | None]]:
    """Heterogeneity and (not for proportions) overall-effect lines of a pooled model."""
    texts = [_heterogeneity_text(fit, pi_not_shown)]
    if kind != "proportion":  # a test of "proportion = 0" means nothing
        texts.append(_overall_text(fit))
    return [(t, None) for t in texts if t]


def _est_head(fit: Mapping[str, Any], measure_label: str | None) -> tuple[str, str]:
    level = fit.get("level") if finite(fit.get("level")) else 95
    return (measure_label or default_measure_label(fit), f"({float(level):g}% CI)")


def _draw(
    fit: Mapping[str, Any],
    *,
    title: str,
    arm_labels: list[str],
    favours: tuple[str, str],
    measure_label: str | None,
    study_labels: Mapping[str, str] | None,
    rob: _RobSpec | None = None,
    page: Page | None = None,
    summary_pages: int | None = None,
) -> Figure:
    two_arm = _is_two_arm(fit)
    n_arms = _n_arms(fit)
    rows = _study_rows(fit, two_arm, study_labels)
    if not rows:
        return message_figure(title, NO_DATA, gid="forest-no-data")
    back = fit.get("back") or {}
    pooled = _pooled(fit)
    model = str(fit.get("model") or "").upper()
    has_pi = pooled and model == "RE" and finite(back.get("pi_lb")) and finite(back.get("pi_ub"))
    # metafor gives a prediction interval for k = 2; with so few studies it means nothing
    k = fit.get("k") if finite(fit.get("k")) else sum(r.excluded is None for r in rows)
    show_pi = has_pi and int(k) >= MIN_K_PI
    notes = _marks(rows, two_arm, model)

    items = [
        _study_item(r, n_arms, str(i), rob.for_study(r.study) if rob is not None else None)
        for i, r in enumerate(rows)
    ]
    study_items = items
    subtitle = ""
    if page is not None:  # one page of the study rows; axis and squares of all studies
        items = items[page.start : page.stop]
        subtitle = page.subtitle(len(rows))
    elif summary_pages is not None:  # no study rows: the pooled estimate and the pages
        items = [
            _Item("note", label=summary_note(len(rows), summary_pages), max_lines=3, gid="paged")
        ]
        rob, notes = None, []
    tail = []
    if pooled:
        tail.append(_pooled_diamond(fit, rows, n_arms, 0.5))
        if show_pi:
            tail.append(
                _Item(
                    "pi",
                    label="Prediction interval",
                    ci=fmt_ci(back.get("pi_lb"), back.get("pi_ub")),
                    values=(back["pi_lb"], back["pi_ub"]),
                    gid="prediction-interval",
                )
            )
    else:
        tail.append(
            _Item("note", label=_not_pooled_reason(fit), style="italic", gap=0.5, max_lines=3)
        )
    items = items + tail
    return _render(
        scale_items=study_items + tail if page is not None else None,
        title=title,
        subtitle=subtitle,
        study_head="Study",
        arm_labels=arm_labels[:n_arms],
        kind=measure_kind(fit),
        est_head=_est_head(fit, measure_label),
        favours=favours,
        items=items,
        footers=(_pooled_footers(fit, measure_kind(fit), has_pi and not show_pi) if pooled else [])
        + [(n, f"footnote-{i}") for i, n in enumerate(notes)],
        rob=rob,
    )


# --------------------------------------------------------------------------- subgroups


def _gid_part(text: str) -> str:
    """A level as a gid part: letters, digits, '_', '.', '-' (others become '_')."""
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip("_") or "level"


def _subgroup_test_text(result: Mapping[str, Any], model: str) -> str | None:
    """ "Test for subgroup differences (<which>): Q = .., df = .., p = .., I² = ..%".

    A random-effects ``model`` gets the random-effects test when the result has it
    (``test_between_re``: Cochran's Q over the subgroup estimates, each subgroup pooled
    with its own tau²), any other the fixed-effect one (``test_between_fe``: the Q-between
    of a fixed-effect model, or for Mantel-Haenszel and Peto fits Q over their subgroup
    estimates). The label names the test that is printed.
    """
    test, fam = primary_subgroup_test(result, model)
    which = {
        "RE": "random effects, separate tau\u00b2 per subgroup",
        "FE": "fixed effect",
        "MH": "fixed effect, Mantel-Haenszel subgroup estimates",
        "PETO": "fixed effect, Peto subgroup estimates",
    }.get(fam, "")  # "": a result with only the generic key, its kind unknown
    if not test or not finite(test.get("q")):
        return None
    q = float(test["q"])
    df = test.get("df")
    parts = [f"Q = {q:.2f}"]
    if finite(df):
        parts.append(f"df = {int(df)}")
    parts.append(fmt_p(test.get("pval")))
    if finite(df):
        i2 = max(0.0, (q - float(df)) / q) * 100 if q > 0 else 0.0
        parts.append(f"I\u00b2 = {i2:.1f}%")
    name = f"Test for subgroup differences ({which})" if which else "Test for subgroup differences"
    return f"{name}: " + ", ".join(parts)


@when_drawn
def draw_subgroup_forest(
    result: Mapping[str, Any],
    *,
    title: str,
    intervention_label: str,
    control_label: str,
    favours_left: str,
    favours_right: str,
    measure_label: str | None = None,
    study_labels: Mapping[str, str] | None = None,
    subgroup_label: str | None = None,
    level_labels: Mapping[str, str] | None = None,
    summary: bool | None = None,
) -> Figure:
    """Forest plot of a subgroup analysis (``SubgroupResult.to_dict()``), as RevMan draws it.

    ``summary`` (default: when the subgroups hold more studies than one figure shows,
    :func:`metareview.plots.paging.is_paged`) leaves out the study rows: each subgroup is
    its header, its subtotal (labelled with its number of studies) and heterogeneity.

    For each level: a header row, its studies, the subtotal diamond and its heterogeneity
    line; then the overall diamond (``result["overall"]``, when present) and, under the
    axis, the overall heterogeneity and effect and the test for subgroup differences
    (the random-effects form for random-effects models, the fixed-effect Q-between
    otherwise, named on the line: "Test for subgroup differences (random effects, separate
    tau² per subgroup): Q = .., df = .., p = .., I² = ..%"; I² of subgroup differences =
    (Q - df) / Q), and the footnotes of marked studies (as :func:`draw_forest`).

    Weights are the studies' weights in the overall model (a subtotal shows the sum of its
    studies' weights, as RevMan does); without an overall fit, weights within each
    subgroup. ``subgroup_label`` names the subgrouping variable (default: its column);
    ``level_labels`` maps a level to the text of its header (default: the level itself).
    Gids: ``subgroup-header-<level>``, ``study-marker-<level>-<i>``,
    ``study-ci-<level>-<i>``, ``subtotal-diamond-<level>``, ``pooled-diamond``,
    ``subgroup-test``, ``footnote-<n>`` (characters other than letters, digits, '_', '.',
    '-' in a level become '_').
    """
    with journal_style():
        return _draw_subgroups(
            result,
            **_texts(
                title, intervention_label, control_label, favours_left, favours_right, measure_label
            ),
            study_labels=study_labels,
            subgroup_label=clean(subgroup_label or result.get("subgroup") or ""),
            level_labels=level_labels or {},
            summary=summary,
        )


def _draw_subgroups(
    result: Mapping[str, Any],
    *,
    title: str,
    arm_labels: list[str],
    favours: tuple[str, str],
    measure_label: str | None,
    study_labels: Mapping[str, str] | None,
    subgroup_label: str,
    level_labels: Mapping[str, str],
    summary: bool | None = None,
) -> Figure:
    subgroups = list(result.get("subgroups") or [])
    if summary is None:
        summary = is_paged(sum(len(s.get("studies") or []) for s in subgroups))
    overall = result.get("overall") or None
    fits = [s for s in subgroups if s.get("studies")]
    all_studies = [st for s in fits for st in s["studies"]]
    ref: dict[str, Any] = dict(overall or (fits[0] if fits else {}))
    ref["studies"] = all_studies or ref.get("studies") or []
    if not ref.get("measure"):
        ref["measure"] = next((s.get("measure") for s in subgroups if s.get("measure")), None)
    two_arm = _is_two_arm(ref)
    n_arms = _n_arms(ref)
    kind = measure_kind(ref)
    model = str(
        (overall or {}).get("model")
        or next((s.get("model") for s in fits if s.get("model") in ("RE", "FE")), "")
        or ""
    ).upper()

    overall_weights: dict[str, float | None] | None = None
    if overall and _pooled(overall) and overall.get("studies"):
        overall_weights = {
            str(s.get("study")): (s.get("weight") if finite(s.get("weight")) else None)
            for s in overall["studies"]
        }

    level_rows = [_study_rows(sub, two_arm, study_labels) for sub in subgroups]
    notes = _marks([r for rows in level_rows for r in rows], two_arm, model)
    if summary:  # the footnotes explain marks of study rows, which are not drawn
        notes = []
    items: list[_Item] = []
    used: set[str] = set()
    for n, sub in enumerate(subgroups):
        level = str(sub.get("level"))
        part = _gid_part(level)
        while part in used:
            part += "_"
        used.add(part)
        header = clean(level_labels.get(level, level)) or "(empty)"
        items.append(
            _Item(
                "header",
                label=header,
                bold=True,
                gap=0.0 if n == 0 else 0.6,
                gid=f"subgroup-header-{part}",
            )
        )
        rows = level_rows[n]
        if overall_weights is not None:
            for r in rows:
                r.weight = overall_weights.get(str(r.study))
        if not summary:
            items += [_study_item(r, n_arms, f"{part}-{i}") for i, r in enumerate(rows)]
        if not _pooled(sub):
            reason = sub.get("not_pooled") or _not_pooled_reason(sub)
            if not str(reason).startswith("Not pooled"):
                reason = f"Not pooled: {reason}"
            items.append(_Item("note", label=clean(reason), style="italic", max_lines=2))
            continue
        shown = [r.weight for r in rows if r.weight is not None and r.excluded is None]
        weight = f"{sum(shown):.1f}%" if overall_weights is not None else "100.0%"
        if weightless(sub):
            weight = ""
        k = sub.get("k")
        label = "Subtotal" if not (finite(k) and int(k) == 1) else "Subtotal (one study)"
        if summary and finite(k) and int(k) != 1:
            label = f"Subtotal (k = {int(k):,})"
        items.append(
            _diamond_item(
                label, sub, _totals(rows, n_arms), weight, f"subtotal-diamond-{part}", 0.2
            )
        )
        if finite(k) and int(k) == 1:
            het = "Heterogeneity: not applicable"
        else:
            het = _heterogeneity_text(sub) or "Heterogeneity: not estimable"
        items.append(_Item("note", label=het, max_lines=2))
    footers: list[tuple[str, str | None]] = []
    if overall and _pooled(overall):
        orows = _study_rows(overall, two_arm, study_labels)
        items.append(_pooled_diamond(overall, orows, n_arms, 0.6))
        footers += _pooled_footers(overall, kind)
    test = _subgroup_test_text(result, model)
    if test:
        footers.append((test, "subgroup-test"))
    footers += [(note, f"footnote-{i}") for i, note in enumerate(notes)]
    subtitle = f"Subgroups: {subgroup_label}" if subgroup_label else ""
    if summary:
        n = sum(len(r) for r in level_rows)
        subtitle += ("; " if subtitle else "") + f"{n:,} studies, subtotals only"
    return _render(
        title=title,
        subtitle=subtitle,
        study_head="Study or subgroup",
        arm_labels=arm_labels[:n_arms],
        kind=kind,
        est_head=_est_head(ref, measure_label),
        favours=favours,
        items=items,
        footers=footers,
    )
