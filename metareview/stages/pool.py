"""Stages 2-3 of one outcome: its per-study effect-size table (the extraction stage's
artifact), the pooled fit and its forest plot. Each function reads its declared inputs and
writes only its declared outputs, atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from metareview.engine import measures
from metareview.engine.models import STATISTIC_FIELDS, clean, norm_crit, study_records
from metareview.engine.pooling import Settings, effect_sizes, pool
from metareview.errors import AnalysisError
from metareview.inputs.protocol import outcome_settings
from metareview.inputs.review import ReviewInputs
from metareview.inputs.rob import table_of_rows
from metareview.io import write_csv, write_json
from metareview.plots.common import save_figure
from metareview.plots.forest import draw_forest, draw_forest_page, draw_forest_summary
from metareview.plots.paging import is_paged, pages
from metareview.present.labels import forest_labels
from metareview.stages.common import OutcomeContext


def extract_outcome(inputs: ReviewInputs, outcome: str, out_csv) -> list[str]:
    """Write the tidy effect-size table of one outcome; returns warnings for the log."""
    settings = Settings(**outcome_settings(inputs.protocol, outcome))
    table = inputs.outcome_table(outcome)
    counts = list(measures.get(settings.measure).columns)
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
    covariates = [c for c in table.columns if c not in ["study", *counts]]
    fields = ["study", "outcome", "measure", *counts, "yi", "vi", "correction", "excluded"]
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
    for st in fit["studies"]:
        st["label"] = labels.get(st["study"], st["study"])
    write_json(out_json, fit)
    texts = forest_labels(protocol, entry, settings.measure)
    rob = table_of_rows(rows, protocol.get("risk_of_bias"))
    title = entry.get("label", outcome)
    if pages_dir is not None and is_paged(len(fit["studies"])):
        paged = pages(len(fit["studies"]))  # none beyond PAGES_MAX_ROWS studies
        fig = draw_forest_summary(fit, pages=len(paged), title=title, **texts)
        if paged:
            write_forest_pages(fit, paged, pages_dir, title, labels, rob, texts)
    else:
        fig = draw_forest(fit, title=title, study_labels=labels, rob=rob, **texts)
    save_figure(fig, svg, png)
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
