"""PRISMA 2020 flow diagram from the counts of ``metareview.inputs.screening.counts.count``.

The layout is the PRISMA 2020 template for new reviews (Page et al., BMJ 2021;372:n71):
a header over the "databases and registers" column pair, side bands Identification /
Screening / Included, and the boxes

    Records identified from: databases (per database), registers (per register)
        -> Records removed before screening (duplicates, automation tools, other reasons)
    Records screened -> Records excluded
    Reports sought for retrieval -> Reports not retrieved
    Reports assessed for eligibility -> Reports excluded: reason (n = ...), ...
    Studies included in review / Reports of included studies

plus, when records came from other methods (websites, organisations, citation
searching), the "other methods" column pair whose assessed reports join the included box.

The figure is drawn at print size: 3.5 in (a journal column) for databases and registers
only, 7.2 in (a page) with the other-methods column; text is 7 pt, wrapped to the box
widths measured with the font that draws it, and boxes grow to fit. All text is literal
(no mathtext). Each box is a patch with gid ``prisma-box-<name>`` (identified, removed,
screened, screen-excluded, sought, not-retrieved, assessed, reports-excluded, included,
other-identified, other-sought, other-not-retrieved, other-assessed,
other-reports-excluded); its lines are ``prisma-box-<name>-text-<i>``; arrows are
``prisma-arrow-<from>-<to>``, bands ``prisma-band-<stage>``, headers ``prisma-header-<arm>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from metareview.plots.common import journal_style, new_figure, when_drawn

__all__ = ["draw_prisma", "box_lines", "COLUMN_WIDTH", "PAGE_WIDTH"]

COLUMN_WIDTH = 3.5  # inches: one journal column (89 mm)
PAGE_WIDTH = 7.2  # inches: two columns (183 mm)
FONT_SIZE = 7.0
LINE_H = FONT_SIZE * 1.3 / 72  # inches per text line
PAD_X = 0.06
PAD_Y = 0.055
INDENT = 0.09  # sub-items
HANG = 0.09  # continuation lines of a wrapped item
MARGIN = 0.05
BAND_W = 0.17
BAND_GAP = 0.06
COL_GAP = 0.16  # between a box and the box its horizontal arrow points to
ARM_GAP = 0.22  # between the two arms
ROW_GAP = 0.17  # vertical arrows
HEADER_GAP = 0.12
LEFT_SHARE = 0.5  # of a column pair's width, for the main-flow boxes
NOTE_SIZE = 6.0

BOX_EDGE = "#000000"
BOX_FILL = "#ffffff"
HEADER_FILL = {"databases": "#f6d776", "other": "#d9d9d9"}
BAND_FILL = "#a9c6e6"
ARROW = "#000000"
LINE_W = 0.6

UNSPECIFIED = "Unspecified database"


NBSP = "\u00a0"


NOT_REPORTED = "not reported"


def _n(value: Any) -> str:
    """``(n = 1,234)`` is never broken across lines: its spaces are non-breaking. A box
    the screening export cannot support (None) reads ``(n = not reported)``."""
    if value is None:
        return NOT_REPORTED
    return f"{int(value or 0):,}"


def _count(text: str) -> str:
    return text.replace("(n = ", f"(n{NBSP}={NBSP}")


@dataclass
class _Item:
    text: str
    level: int = 0
    bold: bool = False


@dataclass
class _Box:
    name: str
    items: list[_Item]
    align: str = "center"
    lines: list[tuple[str, float, bool]] = field(default_factory=list)  # text, x offset, bold
    x: float = 0.0
    y: float = 0.0  # top
    w: float = 0.0
    h: float = 0.0

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    @property
    def bottom(self) -> float:
        return self.y + self.h

    @property
    def right(self) -> float:
        return self.x + self.w


def _has_other(c: Mapping[str, Any]) -> bool:
    return bool(
        c.get("website_results") or c.get("organisation_results") or c.get("citations_results")
    )


def box_lines(c: Mapping[str, Any]) -> dict[str, list[_Item]]:
    """The text items of every box (before wrapping), by box name."""
    boxes: dict[str, list[_Item]] = {}
    ident = [_Item("Records identified from:", bold=True)]
    ident.append(_Item(f"Databases (n = {_n(c['database_results'])})"))
    dbs = c.get("database_specific_results") or []
    if not (len(dbs) == 1 and dbs[0]["name"] == UNSPECIFIED):
        ident += [_Item(f"{d['name']} (n = {_n(d['n'])})", level=1) for d in dbs]
    ident.append(_Item(f"Registers (n = {_n(c['register_results'])})"))
    ident += [
        _Item(f"{d['name']} (n = {_n(d['n'])})", level=1)
        for d in c.get("register_specific_results") or []
    ]
    boxes["identified"] = ident
    boxes["removed"] = [
        _Item("Records removed before screening:", bold=True),
        _Item(f"Duplicate records (n = {_n(c['duplicates'])})", level=1),
        _Item(
            f"Records marked as ineligible by automation tools (n = {_n(c['excluded_automatic'])})",
            level=1,
        ),
        _Item(f"Records removed for other reasons (n = {_n(c['excluded_other'])})", level=1),
    ]
    screened = [_Item(f"Records screened (n = {_n(c['records_screened'])})")]
    if c.get("records_awaiting_screening"):
        screened.append(_Item(f"Awaiting screening (n = {_n(c['records_awaiting_screening'])})"))
    boxes["screened"] = screened
    boxes["screen-excluded"] = [_Item(f"Records excluded (n = {_n(c['records_excluded'])})")]
    if c.get("records_excluded_automation"):  # PRISMA 2020 item 16a: person vs tool
        boxes["screen-excluded"] += [
            _Item(f"by a person (n = {_n(c.get('records_excluded_human'))})", level=1),
            _Item(f"by the automation tool (n = {_n(c['records_excluded_automation'])})", level=1),
        ]
    boxes["sought"] = [_Item(f"Reports sought for retrieval (n = {_n(c['dbr_sought_reports'])})")]
    boxes["not-retrieved"] = [
        _Item(f"Reports not retrieved (n = {_n(c['dbr_notretrieved_reports'])})")
    ]
    assessed = [_Item(f"Reports assessed for eligibility (n = {_n(c['dbr_assessed'])})")]
    if c.get("dbr_awaiting_reports"):
        assessed.append(_Item(f"Awaiting assessment (n = {_n(c['dbr_awaiting_reports'])})"))
    boxes["assessed"] = assessed
    boxes["reports-excluded"] = _excluded_items(c["dbr_excluded"], c.get("dbr_excluded_total"))
    boxes["included"] = [
        _Item(f"Studies included in review (n = {_n(c['new_studies'])})", bold=True),
        _Item(f"Reports of included studies (n = {_n(c['new_reports'])})"),
    ]
    if _has_other(c):
        boxes["other-identified"] = [
            _Item("Records identified from:", bold=True),
            _Item(f"Websites (n = {_n(c['website_results'])})"),
            _Item(f"Organisations (n = {_n(c['organisation_results'])})"),
            _Item(f"Citation searching (n = {_n(c['citations_results'])})"),
        ]
        boxes["other-sought"] = [
            _Item(f"Reports sought for retrieval (n = {_n(c['other_sought_reports'])})")
        ]
        boxes["other-not-retrieved"] = [
            _Item(f"Reports not retrieved (n = {_n(c['other_notretrieved_reports'])})")
        ]
        other_assessed = [
            _Item(f"Reports assessed for eligibility (n = {_n(c['other_assessed'])})")
        ]
        if c.get("other_awaiting_reports"):
            other_assessed.append(
                _Item(f"Awaiting assessment (n = {_n(c['other_awaiting_reports'])})")
            )
        boxes["other-assessed"] = other_assessed
        boxes["other-reports-excluded"] = _excluded_items(
            c["other_excluded"], c.get("other_excluded_total")
        )
    return boxes


def _excluded_items(reasons, total) -> list[_Item]:
    if reasons is None:
        return [_Item(f"Reports excluded (n = {NOT_REPORTED})")]
    if not reasons:
        return [_Item("Reports excluded (n = 0)")]
    total = total if total is not None else sum(r["n"] for r in reasons)
    items = [_Item(f"Reports excluded (n = {_n(total)}):", bold=True)]
    items += [_Item(f"{r['reason']} (n = {_n(r['n'])})", level=1) for r in reasons]
    return items


class _Measure:
    def __init__(self, fig: Figure) -> None:
        self._renderer = fig.canvas.get_renderer()
        self._dpi = fig.dpi
        self._props = {
            False: FontProperties(size=FONT_SIZE),
            True: FontProperties(size=FONT_SIZE, weight="bold"),
            "note": FontProperties(size=NOTE_SIZE, style="italic"),
        }
        self._cache: dict[tuple[str, bool | str], float] = {}

    def width(self, s: str, bold: bool | str = False) -> float:
        key = (s, bold)
        if key not in self._cache:
            w, _, _ = self._renderer.get_text_width_height_descent(
                s, self._props[bold], ismath=False
            )
            self._cache[key] = w / self._dpi
        return self._cache[key]

    def wrap(self, text: str, width: float, bold: bool | str = False) -> list[str]:
        """Greedy word wrap; words wider than ``width`` are broken between characters."""
        words = [w for w in _count(text).split(" ") if w]
        lines: list[str] = []
        current = ""
        for word in words:
            trial = f"{current} {word}" if current else word
            if self.width(trial, bold) <= width:
                current = trial
                continue
            if current:
                lines.append(current)
            current = ""
            while self.width(word, bold) > width and len(word) > 1:
                cut = len(word) - 1
                while cut > 1 and self.width(word[:cut] + "-", bold) > width:
                    cut -= 1
                lines.append(word[:cut] + "-")
                word = word[cut:]
            current = word
        if current or not lines:
            lines.append(current)
        return lines


def _layout_text(box: _Box, m: _Measure) -> None:
    inner = box.w - 2 * PAD_X
    box.lines = []
    for item in box.items:
        indent = INDENT * item.level if box.align == "left" else 0.0
        first = m.wrap(item.text, inner - indent, item.bold)
        if len(first) > 1 and box.align == "left":
            rest = m.wrap(" ".join(first[1:]), inner - indent - HANG, item.bold)
            box.lines.append((first[0], indent, item.bold))
            box.lines += [(line, indent + HANG, item.bold) for line in rest]
        else:
            box.lines += [(line, indent, item.bold) for line in first]
    box.h = len(box.lines) * LINE_H + 2 * PAD_Y


@when_drawn
def draw_prisma(counts: Mapping[str, Any], width: float | None = None) -> Figure:
    """The PRISMA 2020 flow diagram of ``counts`` (a ``prisma.count`` dictionary)."""
    with journal_style():
        return _draw(counts, width)


def _draw(c: Mapping[str, Any], width: float | None) -> Figure:
    other = _has_other(c)
    fig_w = width or (PAGE_WIDTH if other else COLUMN_WIDTH)
    fig = new_figure(fig_w, 4.0)
    m = _Measure(fig)
    items = box_lines(c)
    left_aligned = {
        "identified",
        "removed",
        "reports-excluded",
        "other-identified",
        "other-reports-excluded",
        "included",
    }
    boxes = {
        name: _Box(name, its, "left" if name in left_aligned else "center")
        for name, its in items.items()
    }

    # ---- columns
    x0 = MARGIN + BAND_W + BAND_GAP
    avail = fig_w - x0 - MARGIN
    # the right-hand boxes hold the lists (removed records, reasons): give them more room
    if other:
        pair = (avail - ARM_GAP) / 2 - COL_GAP
        widths = [pair * LEFT_SHARE, pair * (1 - LEFT_SHARE)] * 2
        xs = [x0, x0 + widths[0] + COL_GAP]
        xs += [xs[1] + widths[1] + ARM_GAP, xs[1] + widths[1] + ARM_GAP + widths[0] + COL_GAP]
    else:
        pair = avail - COL_GAP
        widths = [pair * LEFT_SHARE, pair * (1 - LEFT_SHARE)]
        xs = [x0, x0 + widths[0] + COL_GAP]
    column = {
        "identified": 0,
        "screened": 0,
        "sought": 0,
        "assessed": 0,
        "included": 0,
        "removed": 1,
        "screen-excluded": 1,
        "not-retrieved": 1,
        "reports-excluded": 1,
        "other-identified": 2,
        "other-sought": 2,
        "other-assessed": 2,
        "other-not-retrieved": 3,
        "other-reports-excluded": 3,
    }
    for box in boxes.values():
        col = column[box.name]
        box.x, box.w = xs[col], widths[col]
        _layout_text(box, m)

    # ---- headers
    headers = [
        (
            "databases",
            "Identification of studies via databases and registers",
            xs[0],
            xs[1] + widths[1],
        )
    ]
    if other:
        headers.append(
            ("other", "Identification of studies via other methods", xs[2], xs[3] + widths[3])
        )
    header_lines = {
        key: m.wrap(text, (right - left) - 2 * PAD_X, bold=True)
        for key, text, left, right in headers
    }
    header_h = max(len(v) for v in header_lines.values()) * LINE_H + 2 * PAD_Y

    # ---- rows
    rows = [
        ["identified", "removed", "other-identified"],
        ["screened", "screen-excluded"],
        ["sought", "not-retrieved", "other-sought", "other-not-retrieved"],
        ["assessed", "reports-excluded", "other-assessed", "other-reports-excluded"],
        ["included"],
    ]
    band_text = {0: "Identification", 4: "Included"}
    y = MARGIN + header_h + HEADER_GAP
    row_top: list[float] = []
    row_h: list[float] = []
    for i, names in enumerate(rows):
        present = [boxes[n] for n in names if n in boxes]
        h = max(b.h for b in present)
        if i in band_text:  # the band label is written along the row's height
            h = max(h, m.width(band_text[i], bold=True) + 2 * PAD_Y)
        for b in present:
            b.y, b.h = y, h
        row_top.append(y)
        row_h.append(h)
        y += h + ROW_GAP
    y -= ROW_GAP
    note_lines: list[str] = []
    if c.get("illustrative_records"):
        total = (c.get("records_identified") or 0) + sum(
            c.get(k, 0) for k in ("website_results", "organisation_results", "citations_results")
        )
        note = (
            f"Illustrative data: {_n(c['illustrative_records'])} of {_n(total)} records are "
            "synthetic placeholders, not the review's search."
        )
        note_lines = m.wrap(note, fig_w - 2 * MARGIN, "note")
        y += HEADER_GAP
    note_top = y
    y += len(note_lines) * NOTE_SIZE * 1.3 / 72
    fig_h = y + MARGIN
    fig.set_size_inches(fig_w, fig_h)

    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, fig_w)
    ax.set_ylim(fig_h, 0)
    ax.axis("off")

    # ---- headers and side bands
    for key, _text, left, right in headers:
        patch = Rectangle(
            (left, MARGIN),
            right - left,
            header_h,
            facecolor=HEADER_FILL[key],
            edgecolor=BOX_EDGE,
            linewidth=LINE_W,
        )
        patch.set_gid(f"prisma-header-{key}")
        ax.add_patch(patch)
        lines = header_lines[key]
        for j, line in enumerate(lines):
            ty = (
                MARGIN
                + PAD_Y
                + (j + 0.5) * LINE_H
                + (header_h - 2 * PAD_Y - len(lines) * LINE_H) / 2
            )
            t = ax.text(
                (left + right) / 2,
                ty,
                line,
                ha="center",
                va="center_baseline",
                fontsize=FONT_SIZE,
                fontweight="bold",
            )
            t.set_gid(f"prisma-header-{key}-text-{j}")
    bands = [
        ("identification", "Identification", row_top[0], row_top[0] + row_h[0]),
        ("screening", "Screening", row_top[1], row_top[3] + row_h[3]),
        ("included", "Included", row_top[4], row_top[4] + row_h[4]),
    ]
    for key, label, top, bottom in bands:
        patch = FancyBboxPatch(
            (MARGIN, top),
            BAND_W,
            bottom - top,
            boxstyle="round,pad=0,rounding_size=0.035",
            facecolor=BAND_FILL,
            edgecolor="none",
        )
        patch.set_gid(f"prisma-band-{key}")
        ax.add_patch(patch)
        t = ax.text(
            MARGIN + BAND_W / 2,
            (top + bottom) / 2,
            label,
            rotation=90,
            ha="center",
            va="center",
            fontsize=FONT_SIZE,
            fontweight="bold",
            rotation_mode="anchor",
        )
        t.set_gid(f"prisma-band-{key}-text")

    # ---- boxes
    for box in boxes.values():
        patch = Rectangle(
            (box.x, box.y), box.w, box.h, facecolor=BOX_FILL, edgecolor=BOX_EDGE, linewidth=LINE_W
        )
        patch.set_gid(f"prisma-box-{box.name}")
        ax.add_patch(patch)
        text_h = len(box.lines) * LINE_H
        top = box.y + (box.h - text_h) / 2
        for j, (line, dx, bold) in enumerate(box.lines):
            ty = top + (j + 0.5) * LINE_H
            if box.align == "left":
                tx, ha = box.x + PAD_X + dx, "left"
            else:
                tx, ha = box.cx, "center"
            t = ax.text(
                tx,
                ty,
                line,
                ha=ha,
                va="center_baseline",
                fontsize=FONT_SIZE,
                fontweight="bold" if bold else "normal",
            )
            t.set_gid(f"prisma-box-{box.name}-text-{j}")

    for j, line in enumerate(note_lines):
        t = ax.text(
            MARGIN,
            note_top + (j + 0.5) * NOTE_SIZE * 1.3 / 72,
            line,
            ha="left",
            va="center_baseline",
            fontsize=NOTE_SIZE,
            fontstyle="italic",
        )
        t.set_gid(f"prisma-note-text-{j}")

    # ---- arrows
    def arrow(a: str, b: str, start, end) -> None:
        patch = FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>,head_length=0.35,head_width=0.18",
            mutation_scale=10,
            linewidth=LINE_W,
            color=ARROW,
            shrinkA=0,
            shrinkB=0,
        )
        patch.set_gid(f"prisma-arrow-{a}-{b}")
        ax.add_patch(patch)

    def down(a: str, b: str) -> None:
        arrow(a, b, (boxes[a].cx, boxes[a].bottom), (boxes[b].cx, boxes[b].y))

    def right(a: str, b: str) -> None:
        arrow(a, b, (boxes[a].right, boxes[a].cy), (boxes[b].x, boxes[a].cy))

    for a, b in (("identified", "screened"), ("screened", "sought"), ("sought", "assessed")):
        down(a, b)
    down("assessed", "included")
    for a, b in (
        ("identified", "removed"),
        ("screened", "screen-excluded"),
        ("sought", "not-retrieved"),
        ("assessed", "reports-excluded"),
    ):
        right(a, b)
    if other:
        down("other-identified", "other-sought")
        down("other-sought", "other-assessed")
        right("other-sought", "other-not-retrieved")
        right("other-assessed", "other-reports-excluded")
        src, dst = boxes["other-assessed"], boxes["included"]
        elbow = Line2D(
            [src.cx, src.cx],
            [src.bottom, dst.cy],
            color=ARROW,
            linewidth=LINE_W,
            solid_capstyle="butt",
        )
        elbow.set_gid("prisma-arrow-other-assessed-included-elbow")
        ax.add_line(elbow)
        arrow("other-assessed", "included", (src.cx, dst.cy), (dst.right, dst.cy))
    return fig
