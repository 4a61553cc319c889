"""Risk-of-bias figures as robvis draws them: the traffic-light plot and the summary bars.

* :func:`draw_traffic_light`: one row per study, one column per domain and the overall
  judgement; a coloured circle with the judgement's symbol per cell (colours and symbols
  from the tool template), a hollow grey circle where a study was not assessed; the
  domains' long labels and the judgements' key under the grid. Gids
  ``rob-cell-<row>-<col>`` (0-based; every cell has one).
* :func:`draw_summary_bar`: one horizontal 100% stacked bar per domain (and the overall
  judgement, last and bold), the share of each judgement printed in its segment when it
  fits; optionally weighted by the studies' meta-analysis weights. Gids
  ``rob-bar-<domain id>`` (one group of segments per bar).

Layout is in inches from measured text (as in the forest plot), texts are printed
literally, and :func:`metareview.plots.save_figure` writes the files deterministically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib import transforms as mtransforms
from matplotlib.collections import PatchCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from metareview.inputs.rob import NOT_ASSESSED, RobTable, summary
from metareview.plots._table import (
    FONT_SIZE,
    GAP,
    MARGIN,
    MUTED,
    ROB_EDGE,
    TITLE_SIZE,
    Measurer,
    clean,
    rob_mark,
    text_fn,
    title_line,
)
from metareview.plots.common import journal_style, new_figure, when_drawn

__all__ = ["draw_summary_bar", "draw_traffic_light"]

MAX_WIDTH = 7.2  # inches: a two-column journal page
MIN_WIDTH = 3.0
LINE = 0.17  # inches per line of text
TL_ROW = 0.26  # inches per study row of the traffic-light plot
TL_DOT = 14.0  # points: circle diameter in the traffic-light plot
TL_CELL = 0.32  # inches: narrowest traffic-light column
MAX_LABEL_W = 2.4  # inches: widest study label column
BAR_ROW = 0.30  # inches per bar
BAR_H = 0.62  # bar height, fraction of a row
NOT_ASSESSED_COLOUR = "#DDDDDD"
OVERALL_BAND = "#EEEEEE"


def _key_layout(
    m: Measurer, keys: Sequence[tuple[str, Any]], x0: float, x1: float, mark_w: float
) -> list[list[tuple[float, str, Any]]]:
    """Legend keys (label, payload) in rows that fit between ``x0`` and ``x1`` inches."""
    rows: list[list[tuple[float, str, Any]]] = [[]]
    x = x0
    for label, payload in keys:
        w = mark_w + 0.06 + m.width(label)
        if rows[-1] and x + w > x1:
            rows.append([])
            x = x0
        rows[-1].append((x, m.fit(label, x1 - x - mark_w - 0.06), payload))
        x += w + 0.22
    return rows


def _long_label(column: Any) -> str:
    """A column's label for legends (a star-count domain's label with its maximum)."""
    return clean(getattr(column, "long_label", column.label))


# --------------------------------------------------------------------------- traffic light


@when_drawn
def draw_traffic_light(
    rob_table: RobTable,
    *,
    title: str,
    study_labels: Mapping[str, str] | None = None,
) -> Figure:
    """Traffic-light plot of ``rob_table`` (rows = studies, columns = domains + overall).

    ``study_labels`` maps study id to the label shown (default: the table's labels).
    """
    with journal_style():
        return _traffic_light(rob_table, clean(title), study_labels)


def _traffic_light(table: RobTable, title: str, study_labels: Mapping[str, str] | None) -> Figure:
    fig = new_figure(MAX_WIDTH, 4.0)
    m = Measurer(fig)
    bold = {"weight": "bold"}
    cols = table.columns
    labels = []
    for s in table.studies:
        label = study_labels.get(s.study_id) if study_labels else None
        labels.append(clean(label if label is not None else s.label) or s.study_id)
    label_w = min(max(m.max_width(labels), m.width("Study", **bold), 0.6), MAX_LABEL_W)
    cell_w = [max(TL_CELL, m.width(clean(c.short), **bold) + 0.08) for c in cols]
    cells = table.forest_cells()  # per study: a mark (judgement) or a text (stars) per column
    for row in cells.values():
        for n, cell in enumerate(row):
            if cell and cell.get("text"):
                cell_w[n] = max(cell_w[n], m.width(str(cell["text"])) + 0.1)
    band_gap = 0.08  # the overall column stands apart
    x_cells = MARGIN + label_w + GAP
    centres = []
    x = x_cells
    for n, w in enumerate(cell_w):
        if n == len(cols) - 1:
            x += band_gap
        centres.append(x + w / 2)
        x += w
    grid_right = x
    domain_lines = [
        _long_label(c)
        if _long_label(c).startswith(clean(c.short))  # "Selection (max. 4 stars)"
        else f"{clean(c.short)}: {_long_label(c)}"
        for c in cols
    ]
    keys: list[tuple[str, Any]] = [
        (clean(j.label), {"colour": j.colour, "symbol": j.symbol}) for j in table.tool.judgements
    ]
    if any(v is None for s in table.studies for v in s.judgements.values()):
        keys.append((table.tool.not_assessed_label, None))
    dot = TL_DOT * 0.7 / 72
    key_w = sum(dot + 0.06 + m.width(k[0]) + 0.22 for k in keys)
    W = max(
        grid_right + MARGIN,
        min(m.max_width(domain_lines) + 2 * MARGIN, MAX_WIDTH),
        min(key_w + 2 * MARGIN, MAX_WIDTH),
        min(m.width(title, size=TITLE_SIZE, **bold) + 2 * MARGIN, MAX_WIDTH),
        MIN_WIDTH,
    )
    W = min(W, max(MAX_WIDTH, grid_right + MARGIN))

    # vertical layout, inches from the top
    y = MARGIN
    y_title = None
    if title:
        y_title = y + 0.12
        y += 0.34
    y_dom = y + 0.1
    y_head = y_dom + LINE + 0.02
    y_rows0 = y_head + 0.2 + TL_ROW / 2
    n = len(table.studies)
    grid_top = y_head + 0.1
    grid_bottom = y_rows0 + (n - 0.5) * TL_ROW
    y = grid_bottom + 0.25
    y_legend_head = y + 0.05
    y_lines = [y_legend_head + LINE * (i + 1) for i in range(len(domain_lines))]
    y = (y_lines[-1] if y_lines else y_legend_head) + 0.28
    y_key_head = y
    key_rows = _key_layout(m, keys, MARGIN, W - MARGIN, dot)
    y_keys = [y_key_head + 0.22 + i * 0.22 for i in range(len(key_rows))]
    H = (y_keys[-1] if y_keys else y_key_head) + 0.12 + MARGIN
    fig.set_size_inches(W, H)

    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.set_axis_off()
    tr = ax.transData
    text = text_fn(fig, tr)

    if y_title is not None:
        title_line(text, m, y_title, title, W)
    dom_x0, dom_x1 = x_cells, grid_right - cell_w[-1] - band_gap
    head = m.fit(f"{clean(table.tool.heading)} domains", max(dom_x1 - dom_x0, 0.5))
    text((dom_x0 + dom_x1) / 2, y_dom, head, ha="center", color=MUTED)
    text(MARGIN, y_head, "Study", weight="bold")
    for c, xx in zip(cols, centres, strict=True):
        text(xx, y_head, clean(c.short), ha="center", weight="bold")
    # overall column band and row rules
    ov_w = cell_w[-1]
    ax.add_patch(
        Rectangle(
            (centres[-1] - ov_w / 2, grid_top),
            ov_w,
            grid_bottom - grid_top,
            facecolor=OVERALL_BAND,
            edgecolor="none",
            zorder=0,
        )
    )
    for i in range(n + 1):
        yy = y_rows0 + (i - 0.5) * TL_ROW
        ax.add_line(Line2D([MARGIN, grid_right], [yy, yy], color="#D0D0D0", lw=0.5, zorder=0.5))
    for r, (s, label) in enumerate(zip(table.studies, labels, strict=True)):
        yy = y_rows0 + r * TL_ROW
        text(MARGIN, yy, m.fit(label, label_w))
        for c, xx in enumerate(centres):
            rob_mark(fig, tr, xx, yy, cells[s.study_id][c], f"rob-cell-{r}-{c}", size=TL_DOT)

    text(MARGIN, y_legend_head, "Domains", weight="bold")
    for yy, line in zip(y_lines, domain_lines, strict=True):
        text(MARGIN, yy, m.fit(line, W - 2 * MARGIN))
    text(MARGIN, y_key_head, clean(table.tool.rating_heading), weight="bold")
    for yy, row in zip(y_keys, key_rows, strict=True):
        for xx, label, cell in row:
            rob_mark(fig, tr, xx + dot / 2, yy, cell, None, size=TL_DOT * 0.7)
            text(xx + dot + 0.06, yy, label, va="center")
    return fig


# --------------------------------------------------------------------------- summary bars


def _dark(colour: str) -> bool:
    r, g, b = to_rgb(colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.45


@when_drawn
def draw_summary_bar(
    rob_table: RobTable,
    *,
    title: str,
    weights: Any = None,
) -> Figure:
    """Summary plot of ``rob_table``: per domain the share of studies with each judgement.

    ``weights`` (study id -> meta-analysis weight, or a ``Fit.to_dict()`` dictionary)
    weights each study as robvis ``weighted = TRUE`` does (see ``metareview.inputs.rob.summary``).
    """
    with journal_style():
        return _summary_bar(rob_table, clean(title), weights)


def _judgement_bars(table: RobTable, summ: dict) -> tuple[list[dict], list[list]]:
    """Bars (one per domain, then the overall judgement) and legend keys of a judgement
    tool: the share of each judgement."""
    cols = summ["columns"]
    order = [j for j in summ["judgements"] if j != NOT_ASSESSED]
    style = {j.id: (j.colour, clean(j.label)) for j in table.tool.judgements}
    style[NOT_ASSESSED] = (NOT_ASSESSED_COLOUR, table.tool.not_assessed_label)
    shown = order + (
        [NOT_ASSESSED] if any(c["proportions"][NOT_ASSESSED] > 0 for c in cols) else []
    )
    bars = [
        {
            "id": c["id"],
            "label": clean(c["label"]),
            "bold": i == len(cols) - 1,
            "segments": [(100.0 * c["proportions"][j], style[j][0]) for j in shown],
        }
        for i, c in enumerate(cols)
    ]
    return bars, [["", [(style[j][1], style[j][0]) for j in shown]]]


def _star_bars(table: Any, summ: dict) -> tuple[list[dict], list[list]]:
    """Bars and legend keys of a star-count tool: per domain the share of studies with
    each number of stars (most stars first), then the share of each rating (bold)."""
    tool = table.tool
    palette = tool.star_colours
    ratings = {j.id: (j.colour, clean(j.label)) for j in tool.judgements}
    rated_none = any(c["proportions"][NOT_ASSESSED] > 0 for c in summ["columns"])
    bars, most = [], 0
    for c in summ["columns"]:
        if c["rating"]:
            order = [j for j in c["levels"] if j != NOT_ASSESSED]
            colours = {j: ratings[j][0] for j in order}
            label = clean(c["label"])
        else:
            most = max(most, c["max"])
            order = [str(n) for n in range(c["max"], -1, -1)]
            colours = {j: palette[int(j)] for j in order}
            label = f"{clean(c['label'])} (max. {c['max']})"
        colours[NOT_ASSESSED] = NOT_ASSESSED_COLOUR
        keys = order + [NOT_ASSESSED]
        bars.append(
            {
                "id": c["id"],
                "label": label,
                "bold": c["rating"],
                "segments": [(100.0 * c["proportions"][j], colours[j]) for j in keys],
            }
        )
    star_keys = [(f"{n} star" if n == 1 else f"{n} stars", palette[n]) for n in range(most, -1, -1)]
    rating_keys = [(label, colour) for colour, label in ratings.values()]
    if rated_none:
        rating_keys.append((tool.not_assessed_label, NOT_ASSESSED_COLOUR))
    return bars, [["Stars:", star_keys], [f"{clean(tool.rating_heading)}:", rating_keys]]


def _summary_bar(table: Any, title: str, weights: Any) -> Figure:
    summ = summary(table, weights)
    if summ.get("kind") == "stars":
        bars, key_groups = _star_bars(table, summ)
    else:
        bars, key_groups = _judgement_bars(table, summ)
    caption = "Share of studies"
    if summ["weighted"]:
        caption = "Share of studies, weighted by their meta-analysis weight"
    return _bar_figure(title, bars, key_groups, caption)


def _bar_figure(title: str, bars: list[dict], key_groups: list[list], caption: str) -> Figure:
    """100% stacked horizontal bars (``bars``: id, label, bold, segments of (percent,
    colour)) with the legend ``key_groups`` ([heading, [(label, colour), ...]], each group
    on its own rows after its heading)."""
    fig = new_figure(MAX_WIDTH, 3.0)
    m = Measurer(fig)
    bold = {"weight": "bold"}
    W = MAX_WIDTH
    n = len(bars)
    labels = [b["label"] for b in bars]
    label_w = min(
        max((m.width(b["label"], **(bold if b["bold"] else {})) for b in bars), default=0.0),
        W * 0.45,
    )
    px0 = MARGIN + label_w + GAP
    plot_w = W - MARGIN - 0.15 - px0  # room for the "100%" tick label

    sw = 0.11  # legend swatch, inches
    key_rows: list[tuple[str, list]] = []
    heads = [m.width(head, **bold) + 0.1 for head, _ in key_groups if head]
    x0 = MARGIN + max(heads, default=0.0)  # the keys of every group start at one x
    for head, keys in key_groups:
        for r, row in enumerate(_key_layout(m, keys, x0, W - MARGIN, sw)):
            key_rows.append((head if r == 0 else "", row))

    # vertical layout, rows in BAR_ROW units from the top of the bars
    top_in = MARGIN + (0.34 if title else 0.0) + 0.08
    bars_h = n * BAR_ROW
    axis_block = 0.48  # tick labels and the axis caption
    legend_h = 0.2 + (len(key_rows) - 1) * 0.22
    H = top_in + bars_h + axis_block + legend_h + MARGIN
    fig.set_size_inches(W, H)
    ax = fig.add_axes((px0 / W, (H - top_in - bars_h) / H, plot_w / W, bars_h / H))
    ax.set_xlim(0, 100)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_yticks([])
    ax.set_xticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"])
    for lab in ax.get_xticklabels():
        lab.set_parse_math(False)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.patch.set_visible(False)
    tr = mtransforms.blended_transform_factory(fig.dpi_scale_trans, ax.transData)
    text = text_fn(fig, tr)
    ftext = text_fn(fig, fig.dpi_scale_trans)

    if title:
        title_line(ftext, m, H - MARGIN - 0.12, title, W)
    seg_scale = plot_w / 100.0  # inches per percentage point
    for i, bar in enumerate(bars):
        font = bold if bar["bold"] else {}
        text(px0 - GAP, i, m.fit(labels[i], label_w, **font), ha="right", **font)
        rects, faces = [], []
        x = 0.0
        segments = []
        for share, colour in bar["segments"]:
            if share <= 0:
                continue
            rects.append(Rectangle((x, i - BAR_H / 2), share, BAR_H))
            faces.append(colour)
            segments.append((x, share, colour))
            x += share
        coll = PatchCollection(
            rects,
            facecolors=faces,
            edgecolors=ROB_EDGE,
            linewidths=0.4,
            gid=f"rob-bar-{bar['id']}",
            zorder=2,
        )
        ax.add_collection(coll)
        for x0, share, colour in segments:
            pct = f"{share:.0f}%"
            if m.width(pct) + 0.06 <= share * seg_scale:
                ax.text(
                    x0 + share / 2,
                    i,
                    pct,
                    ha="center",
                    va="center_baseline",
                    fontsize=FONT_SIZE - 0.5,
                    color="white" if _dark(colour) else "black",
                    parse_math=False,
                    usetex=False,
                    zorder=3,
                )
    y_axis = H - top_in - bars_h  # inches from the bottom
    ftext(px0 + plot_w / 2, y_axis - 0.34, m.fit(caption, plot_w), ha="center", color=MUTED)
    y_key = y_axis - axis_block - 0.1
    for r, (head, row) in enumerate(key_rows):
        yy = y_key - r * 0.22
        if head:
            ftext(MARGIN, yy, head, va="center", weight="bold")
        for xx, label, colour in row:
            fig.add_artist(
                Rectangle(
                    (xx, yy - sw / 2),
                    sw,
                    sw,
                    transform=fig.dpi_scale_trans,
                    facecolor=colour,
                    edgecolor=ROB_EDGE,
                    lw=0.4,
                )
            )
            ftext(xx + sw + 0.06, yy, label, va="center")
    return fig
