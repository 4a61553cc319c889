"""The per-review studies stage: every outcome's effect sizes in one table
(``effects.csv``), the data-validation findings, and the risk-of-bias table and figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from metareview.errors import InputWarning
from metareview.inputs.protocol import protocol_warnings
from metareview.inputs.review import ReviewInputs
from metareview.inputs.rob import load_tool, read_assessments, summary
from metareview.io import read_csv_dicts, write_csv, write_json
from metareview.plots._table import message_figure
from metareview.plots.paging import is_paged
from metareview.plots.rob import draw_summary_bar, draw_traffic_light
from metareview.stages.common import Output


def _warning_dict(w: InputWarning) -> dict[str, Any]:
    return {"file": w.file, "row": w.row, "column": w.column, "message": w.message}


def gather_effects(inputs: ReviewInputs, tables, out_csv, out_json) -> list[str]:
    """Concatenate the per-outcome tables into effects.csv and record validation findings."""
    protocol, studies, extraction = inputs.protocol, inputs.studies, inputs.extraction
    rows: list[dict[str, str]] = []
    fields: list[str] = []
    warnings = [_warning_dict(w) for w in protocol_warnings(inputs.protocol_path)]
    warnings += [_warning_dict(w) for w in studies.warnings + extraction.warnings]
    per_outcome = {}
    for path in tables:
        part = read_csv_dicts(path)
        outcome = Path(path).stem
        table = inputs.outcome_table(outcome)
        warnings += [_warning_dict(w) for w in table.warnings]
        per_outcome[outcome] = len(part)
        for r in part:
            for key in r:
                if key not in fields:
                    fields.append(key)
        rows += part
    write_csv(out_csv, fields, rows)
    write_json(
        out_json,
        {
            "review_id": protocol["review_id"],
            "studies": len(studies),
            "extraction_rows": len(extraction),
            "studies_per_outcome": per_outcome,
            "warnings": warnings,
        },
    )


def run_rob(
    inputs: ReviewInputs, studies_csv, fit_paths, rob_cfg, out_dir, review_dir
) -> list[str]:
    """The review's risk-of-bias table, traffic-light plot and summary plots (unweighted and
    weighted by the first primary outcome's meta-analysis weights)."""
    protocol = inputs.protocol
    out = Output(out_dir, review_dir)
    if not rob_cfg:
        write_json(
            out.dir / "index.json",
            {
                "id": "risk-of-bias",
                "kind": "risk_of_bias",
                "title": "Risk of bias",
                "post_hoc": False,
                "tables": [],
                "figures": [],
                "notes": ["The protocol names no risk-of-bias tool (risk_of_bias.tool)."],
            },
        )
        return []
    tool = load_tool(rob_cfg.get("tool", "rob2"))
    table = read_assessments(list(inputs.studies), tool, path=studies_csv)
    stars = tool.kind == "stars"  # a star-count tool (NOS) rather than judgements (RoB 2)
    write_json(out.dir / "assessments.json", table.to_dict())
    write_csv(out.dir / "assessments.csv", *table.csv_rows())
    title = f"{tool.heading} ({tool.name})"
    section = {
        "id": "risk-of-bias",
        "kind": "risk_of_bias",
        "title": title,
        "heading": tool.heading,
        "post_hoc": False,
        "notes": [],
        "tables": [],
        "figures": [],
    }
    assessed = [s for s in table if s.assessed]
    if not assessed and stars:
        section["notes"].append(
            f"{tool.full_name or tool.name}: not yet rated. No study's stars are recorded in "
            f"{Path(studies_csv).name} for this review; none has been taken from a source "
            "yet, so none is shown."
        )
    elif not assessed:
        section["notes"].append(
            f"No risk-of-bias judgements are recorded in {Path(studies_csv).name} for this "
            "review; none has been taken from a source yet, so none is shown."
        )
    else:
        section["tables"].append(_assessment_table(table))
        if stars:
            section["notes"] += _star_notes(table)
        n = len(list(table))
        light = (
            message_figure(
                title,
                f"{n:,} studies: too many rows to draw; the judgements per "
                "study are in rob/assessments.json and the table.",
            )
            if is_paged(n)
            else draw_traffic_light(table, title=title)
        )
        section["figures"].append(
            out.figure(
                light,
                "traffic_light.svg",
                f"Stars per study and domain, and the {tool.overall.label} rating."
                if stars
                else "Traffic-light plot: judgement per study and domain.",
            )
        )
        section["figures"].append(
            out.figure(
                draw_summary_bar(table, title=f"{tool.heading} across studies"),
                "summary.svg",
                f"Share of studies with each number of stars, per domain, and with each "
                f"{tool.overall.label} rating."
                if stars
                else "Share of studies with each judgement, per domain.",
            )
        )
        primary = next((o["id"] for o in protocol["outcomes"] if o.get("role") == "primary"), None)
        fits = {Path(p).stem: p for p in fit_paths}
        if primary in fits:
            fit = json.loads(Path(fits[primary]).read_text(encoding="utf-8"))
            if fit.get("pooled"):
                write_json(out.dir / f"summary_weighted_{primary}.json", summary(table, fit))
                section["figures"].append(
                    out.figure(
                        draw_summary_bar(
                            table, title=f"Weighted by {primary} weights", weights=fit
                        ),
                        f"summary_weighted_{primary}.svg",
                        f"Share of the meta-analysis weight of outcome {primary} per "
                        + ("number of stars and rating." if stars else "judgement."),
                    )
                )
        write_json(out.dir / "summary.json", summary(table))
    write_json(out.dir / "index.json", section)
    return [n for n in section["notes"]]


def _assessment_table(table) -> dict[str, Any]:
    """The report's table of the assessments: a judgement per study and column, or (a
    star-count tool) the stars per domain, their total and the derived rating."""
    tool = table.tool
    if tool.kind != "stars":
        return {
            "caption": "Judgements per study",
            "columns": ["Study", *[c.label for c in table.columns]],
            "rows": [[s.label] + [table.cell_text(s, c) for c in table.columns] for s in table],
        }
    rows = []
    for s in table:
        total = table.total(s)
        rows.append(
            [s.label]
            + [table.cell_text(s, d) for d in tool.domains]
            + ["not rated" if total is None else f"{total} of {tool.max_total}"]
            + [table.cell_text(s, tool.overall)]
        )
    return {
        "caption": f"Stars per study ({tool.full_name or tool.name}) and the {tool.rating_name}",
        "columns": ["Study"]
        + [f"{d.label} (max. {d.max})" for d in tool.domains]
        + [f"Total (max. {tool.max_total})", tool.overall.label],
        "rows": rows,
    }


def _star_notes(table) -> list[str]:
    """The conversion rule of a star-count tool's rating and the studies left unrated."""
    tool = table.tool
    notes = [f"{tool.overall.label} ratings derived from the stars: {tool.rating_citation}"]
    partial = [s.label for s in table if s.assessed and s.judgements.get(tool.overall.id) is None]
    unrated = [s.label for s in table if not s.assessed]
    if partial:
        notes.append("Rated in some domains only, so without a rating: " + ", ".join(partial) + ".")
    if unrated:
        notes.append("Not yet rated: " + ", ".join(unrated) + ".")
    return notes


def run_studies(
    protocol_path,
    studies_path,
    extraction_path,
    tables,
    fits,
    rob_cfg,
    *,
    review_dir,
    effects,
    validation,
    rob,
) -> list[str]:
    """The job: the inputs read once, then the effects table and the risk of bias."""
    inputs = ReviewInputs.load(protocol_path, studies_path, extraction_path)
    warnings = gather_effects(inputs, tables, effects, validation) or []
    return warnings + run_rob(inputs, studies_path, fits, rob_cfg, rob, review_dir)
