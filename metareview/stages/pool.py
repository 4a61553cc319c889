"""Stages 2-3 of one outcome: its per-study effect-size table (the extraction stage's
artifact), the pooled fit and its forest plot. Each function reads its declared inputs and
writes only its declared outputs, atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from metareview.engine.models import STATISTIC_FIELDS, clean, norm_crit, study_records
from metareview.engine.pooling import Settings, effect_sizes, pool, table_columns
from metareview.errors import AnalysisError
from metareview.inputs.protocol import outcome_settings
from metareview.inputs.review import ReviewInputs
from metareview.inputs.rob import table_of_rows
from metareview.io import write_csv, write_json
from metareview.plots.common import print_paths, save_figure
from metareview.plots.forest import draw_forest, draw_forest_page, draw_forest_summary
from metareview.plots.paging import is_paged, pages
from metareview.present.labels import forest_labels
from metareview.stages.common import OutcomeContext


def extract_outcome(inputs: ReviewInputs, outcome: str, out_csv) -> list[str]:
    """Write the tidy effect-size table of one outcome; returns warnings for the log."""
    settings = Settings(**outcome_settings(inputs.protocol, outcome))
    table = inputs.outcome_table(outcome)
    counts = list(table_columns(settings))
    rows = [dict(r) for r in table.rows]
    if rows:
        es = effect_sizes(rows, settings.resolved())
        for i, row in enumerate(rows):
            row.update(
                outcome=outcome,
                measure=settings.measure,
                yi=float(es.yi[i]),
                vi=float(es.vi[i]),
                correction=es.correction[i],
                excluded=es.excluded[i] or "",
            )
    covariates = [c for c in table.columns if c not in ["study", *counts, *table.notes]]
    fields = ["study", "outcome", "measure", *counts, "yi", "vi", "correction", "excluded"]
    fields = list(dict.fromkeys(fields + table.notes))  # a generic table's counts hold yi
    write_csv(out_csv, fields + covariates, rows)
    return [str(w) for w in table.warnings]


def not_pooled(rows, settings: Settings, reason: str) -> dict[str, Any]:
    """A fit dictionary with the study rows but no pooled estimate (e.g. k = 1)."""
    s = settings.resolved()
    out: dict[str, Any] = {
        "measure": s.measure,
        "method": s.method,
        "test": s.test,
        "level": s.level,
        "model": None,
        "k": 0,
        "pooled": False,
        "studies": [],
        "warnings": [reason],
        "back": {k: None for k in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub")},
    }
    for key in STATISTIC_FIELDS:
        out[key] = None
    if rows:
        es = effect_sizes(rows, s)
        out["k"] = int(es.usable.sum())
        weights = np.full(len(rows), np.nan)
        out["studies"] = study_records(es, [r["study"] for r in rows], weights, norm_crit(s.level))
    return clean(out)


def pool_outcome(ctx: OutcomeContext, out_json, svg, png, pages_dir=None) -> list[str]:
    """Pool one outcome, write its fit JSON and forest plot; returns warnings for the log.

    With more studies than one figure shows (:func:`metareview.plots.paging.is_paged`) and
    a ``pages_dir``, ``svg``/``png`` get the summary forest plot and ``pages_dir`` the
    pages of study rows (``p1.svg`` ...) with an ``index.json`` listing them."""
    protocol, entry, settings, rows = ctx.protocol, ctx.entry, ctx.settings, ctx.rows
    outcome, labels = ctx.outcome, ctx.labels
    try:
        fit = pool(rows, settings, what=f"outcome '{outcome}'").to_dict()
        fit["pooled"] = True
    except AnalysisError as exc:
        reason = str(exc)
        if not rows:
            reason = f"outcome '{outcome}': no study has data for this outcome"
        fit = not_pooled(rows, settings, reason)
    fit.update(outcome=outcome, label=entry.get("label", outcome), review_id=protocol["review_id"])
    row_level(fit, rows)
    for st in fit["studies"]:
        st["label"] = labels.get(st["study"], st["study"])
    write_json(out_json, fit)
    texts = forest_labels(protocol, entry, settings.measure)
    rob = table_of_rows(rows, protocol.get("risk_of_bias"))
    title = entry.get("label", outcome)
    shown = marked_labels(fit, labels)
    if pages_dir is not None and is_paged(len(fit["studies"])):
        paged = pages(len(fit["studies"]))  # none beyond PAGES_MAX_ROWS studies
        fig = draw_forest_summary(fit, pages=len(paged), title=title, **texts)
        if paged:
            write_forest_pages(fit, paged, pages_dir, title, shown, rob, texts)
    else:
        fig = draw_forest(fit, title=title, study_labels=shown, rob=rob, **texts)
    save_figure(fig, svg, png, pdf_path=print_paths(svg)[1])  # forest/<outcome>.pdf too
    return list(fit.get("warnings", []))


def write_forest_pages(fit, paged, pages_dir, title, labels, rob, texts) -> None:
    """The pages of a paged forest plot and their ``index.json`` (paths relative to the
    review folder, first and last study of each page)."""
    out = Path(pages_dir)
    out.mkdir(parents=True, exist_ok=True)
    rel = f"{out.parent.name}/{out.name}"
    studies = fit["studies"]
    index = []
    for page in paged:
        fig = draw_forest_page(fit, page, title=title, study_labels=labels, rob=rob, **texts)
        save_figure(fig, out / f"{page.name}.svg")
        index.append(
            {
                "path": f"{rel}/{page.name}.svg",
                "page": page.number,
                "first": page.start + 1,
                "last": page.stop,
                "first_label": studies[page.start].get("label"),
                "last_label": studies[page.stop - 1].get("label"),
            }
        )
    write_json(
        out / "index.json",
        {"outcome": fit.get("outcome"), "studies": len(studies), "pages": index},
    )


#: the marker of a study whose outcome definition differs from the protocol's
DEFINITION_MARK = "\u0394"


def row_level(fit: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Record in ``fit`` what extraction.csv's row-level columns say (only when it has
    them): ``combined_groups`` (study -> its groups summed into one unit) and each study
    record's ``definition`` (how its outcome definition differs; '' when it does not)."""
    if not rows or "group" not in rows[0]:
        return
    by_study = {r["study"]: r for r in rows}
    fit["combined_groups"] = {
        r["study"]: r["group"].split("+") for r in rows if "+" in str(r.get("group", ""))
    }
    differ = []
    for st in fit["studies"]:
        st["definition"] = str(by_study.get(st["study"], {}).get("definition", ""))
        if st["definition"]:
            differ.append(
                f"{by_study[st['study']].get('label') or st['study']} ({st['definition']})"
            )
    if differ:
        fit["warnings"] = list(fit.get("warnings") or []) + [
            f"{DEFINITION_MARK} outcome definition differs from the protocol's: "
            + "; ".join(differ)
        ]


def marked_labels(fit: dict[str, Any], labels: dict[str, str]) -> dict[str, str]:
    """Study labels for the forest plot: a study whose outcome definition differs carries
    ``DEFINITION_MARK`` (explained in the report's data notes)."""
    out = dict(labels)
    for st in fit.get("studies") or []:
        if st.get("definition"):
            out[st["study"]] = f"{DEFINITION_MARK} {labels.get(st['study'], st['study'])}"
    return out


def extract_and_pool(
    protocol_path,
    studies_path,
    extraction_path,
    outcome,
    settings_dict,
    table_csv,
    out_json,
    svg,
    png,
    pages_dir=None,
) -> list[str]:
    """One outcome's job: its effect-size table, then (read back from that table, as every
    later stage reads it) its fit and forest plot (paged in ``pages_dir`` when large)."""
    inputs = ReviewInputs.load(protocol_path, studies_path, extraction_path)
    warnings = extract_outcome(inputs, outcome, table_csv)
    ctx = OutcomeContext.load(inputs.protocol, outcome, settings_dict, table_csv)
    if pages_dir is not None:
        Path(pages_dir).mkdir(parents=True, exist_ok=True)  # a declared output, even empty
    return warnings + pool_outcome(ctx, out_json, svg, png, pages_dir)
