"""The review's HTML report (one self-contained page) and the audit of published values.

The audit rule is in :mod:`metareview.audit`. The stages write each analysis with a
report-ready table in an index (``subgroup/<outcome>/index.json``, ...); the report reads
the analysis' own result file (``result`` in the index) for what a table must say about
applicability: heterogeneity statistics of single studies, the studies that enter Q,
warnings of the small-study tests, the influence criteria, which figures were drawn.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from markupsafe import Markup

from metareview import figures
from metareview.audit import (
    audit_outcome,
    audit_summary,
    deviations,
    published_decimals,
    reported_blocks,
)
from metareview.inputs.protocol import is_registered, load_protocol, outcome_settings
from metareview.io import atomic_write_text, read_csv_dicts, write_json
from metareview.present import grade
from metareview.present.formats import num, pval
from metareview.present.methods import methods_paragraph, methods_topics, prespecified_tag
from metareview.present.studytable import not_contributing, study_characteristics
from metareview.present.tables import i2_text, main_table, pooled, tau2_text
from metareview.stages.layout import Layout
from metareview.text import printable

# --------------------------------------------------------------------------- analyses


_NUMERIC = re.compile(r"^(?:[−\-<>]?\d|–$)")


def is_numeric_cell(value: Any) -> bool:
    """A table cell to right-align: a number, an estimate with its CI, a p-value or '–'."""
    return isinstance(value, int | float) or bool(_NUMERIC.match(str(value)))


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@functools.cache
def _environment(folder: str):
    """The template environment of ``folder``, one per process: a job rendering several
    reviews compiles the template once (jinja2 reloads it when the file changes)."""
    import jinja2  # only the report renders HTML

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
        keep_trailing_newline=True,
    )
    env.filters["num"] = num
    env.filters["p"] = pval
    env.tests["numeric"] = is_numeric_cell
    return env


def inline_figures(review_dir: Path, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An index's figures for the report (none when the run draws no figures)."""
    return [
        {"svg": figure_html(review_dir, f["path"]), "caption": f.get("caption", "")}
        for f in entries
        if figures.drawn() or (review_dir / f["path"]).is_file()
    ]


def _analysis_sections(layout: Layout, outcome: str) -> list[dict[str, Any]]:
    """The outcome's subgroup, sensitivity and small-study analyses, as the stages wrote
    them: each index lists analyses with their tables (:mod:`metareview.present.tables`)
    and the paths of the figures drawn (relative to the review folder)."""
    review_dir = Path(layout.root)
    sections = []
    for path in map(Path, layout.analysis_indexes(outcome)):
        if not path.is_file():
            continue
        for analysis in _read_json(path).get("analyses", []):
            svgs = inline_figures(review_dir, analysis.get("figures") or [])
            sections.append({**analysis, "svgs": svgs})
    return sections


def _review_section(layout: Layout, name: str) -> dict[str, Any] | None:
    """A per-review stage's index (risk of bias, screening), figures inlined."""
    review_dir = Path(layout.root)
    path = Path(layout.review_index(name))
    if not path.is_file():
        return None
    index = _read_json(path)
    index["svgs"] = inline_figures(review_dir, index.get("figures", []))
    return index


def rob_recorded(review_dir: str | Path) -> bool | None:
    """Whether ``rob/assessments.json`` holds any judgement (None: no such file)."""
    path = Path(Layout(Path(review_dir).as_posix()).rob_dir) / "assessments.json"
    if not path.is_file():
        return None
    studies = _read_json(path).get("studies") or []
    return any(v for s in studies for v in (s.get("judgements") or {}).values())


def _published_text(reported: dict | list) -> str:
    """'1.33 [0.90, 1.98] (k = 3)' at the publication's decimals ('' when nothing was);
    '84% [76%, 90%]' for percentages; several blocks joined, each after its label."""
    texts = []
    for block in reported_blocks({"reported": reported}):
        if block.get("estimate") is None:
            continue
        places = published_decimals(block, "estimate")
        unit = "%" if block.get("percent") else ""
        text = " ".join(
            [f"{block['estimate']:.{places}f}{unit}"]
            + (
                [f"[{block['ci_lb']:.{places}f}{unit}, {block['ci_ub']:.{places}f}{unit}]"]
                if block.get("ci_lb") is not None and block.get("ci_ub") is not None
                else []
            )
        )
        text += f" (k = {block['k']})" if block.get("k") else ""
        texts.append(f"{block['label']}: {text}" if block.get("label") else text)
    return "; ".join(texts)


_CI_PARTS = ("estimate", "ci_lb", "ci_ub")
_QUANTITY_NAMES = {"i2": "I²", "tau2": "tau²", "k": "k", "n": "participants", "pval": "p"}


def audit_groups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The audit lines for reading: one group per reported block (outcome and label), the
    estimate and its CI on one line ('84% [76%, 90%]'), every other quantity on its own,
    and the block's reasons once."""
    blocks: dict[tuple, list[dict]] = {}
    for r in rows:
        blocks.setdefault((r["outcome"], r.get("block", 0)), []).append(r)
    out = []
    for (outcome, _), lines in blocks.items():
        items = []
        ci = [r for r in lines if r["quantity"] in _CI_PARTS]
        if ci:
            items.append(_ci_item(ci))
        for r in lines:
            if r["quantity"] not in _CI_PARTS:
                items.append(
                    {
                        "quantity": _QUANTITY_NAMES.get(r["quantity"], r["quantity"]),
                        "published": _shown(r.get("published_text") or r["published"]),
                        "ours": _shown(r["ours_rounded"]),
                        "difference": _shown(r["difference"]),
                        "status": r["status"],
                    }
                )
        reasons = [r["reason"] for r in lines if r.get("reason")]
        out.append(
            {
                "outcome": outcome,
                "label": lines[0].get("label", ""),
                "items": items,
                "reason": " / ".join(dict.fromkeys(reasons)),
            }
        )
    return out


def _shown(value) -> str:
    return "–" if value is None else str(value).replace("-", "−")


def _ci_item(ci: list[dict]) -> dict[str, Any]:
    """Estimate and CI bounds of one block as one line."""
    by = {r["quantity"]: r for r in ci}
    unit = "%" if ci[0].get("percent") else ""

    def text(key: str) -> str:
        parts = [by[q].get(key) for q in _CI_PARTS if q in by]
        parts = [
            "–" if v is None else f"{v}{unit}" if key != "difference" else str(v) for v in parts
        ]
        head = [parts.pop(0)] if "estimate" in by else []
        tail = f"[{', '.join(parts)}]" if parts else ""
        return _shown(" ".join(head + ([tail] if tail else [])))

    differing = [q for q in _CI_PARTS if q in by and by[q]["status"] != "reproduced"]
    names = {"estimate": "estimate", "ci_lb": "lower bound", "ci_ub": "upper bound"}
    if not differing:
        status = "reproduced"
    elif len(differing) == len(by):
        status = by[differing[0]]["status"]
    else:
        status = "differs"
    return {
        "quantity": "estimate [95% CI]" if "estimate" in by else "95% CI",
        "published": text("published_text"),
        "ours": text("ours_rounded"),
        "difference": text("difference"),
        "status": status,
        "which": ""
        if status == "reproduced" or len(differing) == len(by)
        else ", ".join(names[q] for q in differing),
    }


def _forest_absent(fit: dict) -> str:
    """Why an outcome has no forest plot ('' when it has one: any study to show)."""
    if fit.get("studies"):
        return ""
    return "No forest plot: no study has data for this outcome (k = 0)."


def rob_overall(layout: Layout) -> dict[str, str]:
    """Study id -> the label of its overall risk-of-bias judgement (rob/assessments.json)."""
    path = Path(layout.rob_dir) / "assessments.json"
    if not path.is_file():
        return {}
    data = _read_json(path)
    labels = {j["id"]: j.get("label") or j["id"] for j in data.get("judgements") or []}
    out = {}
    for st in data.get("studies") or []:
        overall = (st.get("judgements") or {}).get("overall")
        if overall:
            out[st["study_id"]] = labels.get(overall, overall)
    return out


def rob_heading(layout: Layout) -> str:
    """What the review's assessment is called ("Risk of bias"; a star-count tool such as
    the Newcastle-Ottawa Scale: "Study quality"), from rob/assessments.json."""
    path = Path(layout.rob_dir) / "assessments.json"
    if not path.is_file():
        return "Risk of bias"
    return (_read_json(path).get("tool") or {}).get("heading") or "Risk of bias"


def build_report(
    protocol,
    template_path,
    review_dir,
    out_html,
    out_audit,
    *,
    studies_csv=None,
    sof: dict | None = None,
    provenance: dict | None = None,
) -> list[str]:
    """Render ``report.html`` from the results in ``review_dir`` and write ``audit.json``;
    ``protocol`` is the loaded protocol (or its path). ``studies_csv`` (the review's
    studies.csv) gives the characteristics-of-studies table and the studies that do not
    contribute to each outcome; ``sof`` the summary of findings (``sof.json``);
    ``provenance`` the version, commit and date of the data printed in the page."""

    if not isinstance(protocol, dict):
        protocol = load_protocol(protocol)
    layout = Layout(Path(review_dir).as_posix())
    validation = _read_json(Path(layout.validation))
    studies = read_csv_dicts(studies_csv) if studies_csv else []
    effects = read_csv_dicts(layout.effects) if Path(layout.effects).is_file() else []
    outcomes, audit_rows, grouped = [], [], False
    for entry in protocol["outcomes"]:
        oid = entry["id"]
        fit = _read_json(Path(layout.pooled(oid)))
        grouped = grouped or bool(fit.get("combined_groups"))
        settings = outcome_settings(protocol, oid)
        rows = audit_outcome(entry, fit)
        audit_rows += rows
        no_forest = _forest_absent(fit)
        outcomes.append(
            {
                "entry": entry,
                "fit": fit,
                "main": main_table(fit) if pooled(fit) else None,
                "summary": {"tau2": tau2_text(fit), "i2": i2_text(fit)},
                "svg": None if no_forest else forest_html(layout, oid),
                "no_forest": no_forest,
                "audit": rows,
                "audit_groups": audit_groups(rows),
                "settings": settings,
                "analyses": _analysis_sections(layout, oid),
                "published": _published_text(entry.get("reported") or {}),
                "reported": reported_blocks(entry),
                "missing": not_contributing(studies, fit, validation.get("warnings") or [], oid),
            }
        )
    audit = audit_summary(protocol["review_id"], audit_rows)
    write_json(out_audit, audit)
    env = _environment(str(Path(template_path).parent))
    derivations = _derivations(protocol, layout)
    html = env.get_template(Path(template_path).name).render(
        protocol=protocol,
        registered=is_registered(protocol),
        prespecified=prespecified_tag(protocol),
        methods=methods_paragraph(
            protocol,
            rob_recorded=rob_recorded(layout.root),
            grouped=grouped,
            derivations=derivations,
        ),
        methods_topics=methods_topics(
            protocol,
            rob_recorded=rob_recorded(layout.root),
            grouped=grouped,
            derivations=derivations,
        )
        + ([("Certainty of the evidence", grade.methods_text())] if sof else []),
        sof=sof,
        study_table=study_characteristics(
            protocol, studies, effects, rob_overall(layout), rob_heading(layout)
        )
        if studies
        else None,
        provenance=provenance,
        outcomes=outcomes,
        validation=validation,
        audit=audit,
        audit_groups=audit_groups(audit["values"]),
        deviations=deviations(protocol),
        rob=_review_section(layout, "rob"),
        screening=_review_section(layout, "screening"),
    )
    atomic_write_text(out_html, printable(html))  # no control character in the page
    return []


def _derivations(protocol: dict, layout: Layout) -> dict[str, list[dict[str, str]]]:
    """Per outcome, the studies whose SD or SE was derived (``derivation``) or whose
    estimate is marked adjusted or unadjusted, from its per-outcome table (binary outcomes
    have neither column: nothing)."""
    out: dict[str, list[dict[str, str]]] = {}
    for entry in protocol["outcomes"]:
        path = Path(layout.outcome_table(entry["id"]))
        if not path.is_file():
            continue
        rows = read_csv_dicts(path)
        if rows and ("derivation" in rows[0] or "adjusted" in rows[0]):
            out[entry["id"]] = [
                {
                    "study": r.get("label") or r["study"],
                    "derivation": r.get("derivation", ""),
                    "adjusted": r.get("adjusted", ""),
                }
                for r in rows
            ]
    return out


#: an SVG figure larger than this is linked from the report, not inlined (a figure of
#: thousands of rows that no reader scrolls through; the bundled reviews' are < 100 kB)
INLINE_MAX_BYTES = 400_000


def figure_html(review_dir: Path, rel: str):
    """A figure of the review folder for the report: the SVG inline, or a link to the file
    when it is larger than :data:`INLINE_MAX_BYTES`."""
    path = Path(review_dir) / rel
    if not figures.drawn() and not path.exists():
        return Markup('<p class="meta">Figure not drawn (configuration <code>figures: []</code>).')
    size = path.stat().st_size
    if size <= INLINE_MAX_BYTES:
        return _inline_svg(path.read_text("utf-8"))
    return Markup(
        '<p class="meta"><a href="{}">Open the figure</a> ({:.1f} MB, not shown here)</p>'
    ).format(rel, size / 1e6)


def forest_html(layout: Layout, outcome: str):
    """The outcome's forest plot, and for one too large for a figure (a summary forest
    plot) the links to its pages (``forest/<outcome>-pages/index.json``)."""
    root = Path(layout.root)
    html = figure_html(root, layout.relative(layout.forest(outcome)))
    index = Path(layout.forest_pages(outcome)) / "index.json"
    if not index.is_file() or not figures.drawn():
        return html
    pages = _read_json(index).get("pages") or []
    links = Markup(", ").join(
        Markup('<a href="{}">{}–{}</a>').format(p["path"], p["first"], p["last"]) for p in pages
    )
    return html + Markup('<p class="meta">Study rows, {} pages (studies): {}</p>').format(
        len(pages), links
    )


def _inline_svg(text: str):
    """Our own matplotlib SVG, stripped of the XML prologue, for inline embedding.

    Figures are drawn at print size (7 pt text); on screen they are scaled up to 1.4x
    their natural width, within the page column.
    """
    start = text.find("<svg")
    svg = text[start:]
    m = re.search(r'width="([0-9.]+)pt"', svg[:500])
    if m:
        px = float(m.group(1)) * 4 / 3 * 1.4
        svg = svg.replace("<svg ", f'<svg style="width:100%;max-width:{px:.0f}px" ', 1)
    return Markup(svg)
