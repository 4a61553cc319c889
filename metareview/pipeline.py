"""The pipeline's stages as plain functions (the Snakemake scripts only call these).

Each stage reads its declared inputs and writes only its declared outputs, atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import AnalysisError, InputWarning
from .io import read_csv_dicts, write_csv, write_json
from .protocol import (
    check_against_studies,
    load_protocol,
    outcome_arms,
    outcome_settings,
    protocol_arms,
    protocol_warnings,
)
from .tables import load_extraction, load_studies, single_arm_table, two_arm_table

TWO_ARM_COLUMNS = ["ai", "n1i", "ci", "n2i"]
SINGLE_ARM_COLUMNS = ["xi", "ni"]


def _warning_dict(w: InputWarning) -> dict[str, Any]:
    return {"file": w.file, "row": w.row, "column": w.column, "message": w.message}


def load_inputs(protocol_path, studies_path, extraction_path):
    """Protocol, studies and extraction, validated against each other."""
    protocol = load_protocol(protocol_path)
    studies = load_studies(studies_path)
    check_against_studies(protocol, protocol_path, studies)
    if protocol.get("risk_of_bias"):
        from .rob import read_assessments

        # unknown judgements are errors naming file, row and column
        read_assessments(list(studies), protocol["risk_of_bias"]["tool"], path=studies_path)
    extraction = load_extraction(
        extraction_path, studies, {o["id"] for o in protocol["outcomes"]}, protocol_arms(protocol)
    )
    return protocol, studies, extraction


def outcome_table(protocol, studies, extraction, outcome: str):
    """Per-study counts of one outcome plus every study covariate."""
    arms = outcome_arms(protocol, outcome)
    covariates = [c for c in studies.columns if c not in ("study_id",)]
    if len(arms) == 2:
        table = two_arm_table(extraction, studies, outcome, arms[0], arms[1], covariates)
    else:
        table = single_arm_table(extraction, studies, outcome, arms[0], covariates)
    return table


def extract_outcome(protocol_path, studies_path, extraction_path, outcome, out_csv) -> list[str]:
    """Write the tidy effect-size table of one outcome; returns warnings for the log."""
    from .pooling import Settings, effect_sizes

    protocol, studies, extraction = load_inputs(protocol_path, studies_path, extraction_path)
    settings = Settings(**outcome_settings(protocol, outcome))
    table = outcome_table(protocol, studies, extraction, outcome)
    counts = TWO_ARM_COLUMNS if len(outcome_arms(protocol, outcome)) == 2 else SINGLE_ARM_COLUMNS
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


def gather_effects(protocol_path, studies_path, extraction_path, tables, out_csv, out_json):
    """Concatenate the per-outcome tables into effects.csv and record validation findings."""
    protocol, studies, extraction = load_inputs(protocol_path, studies_path, extraction_path)
    rows: list[dict[str, str]] = []
    fields: list[str] = []
    warnings = [_warning_dict(w) for w in protocol_warnings(protocol_path)]
    warnings += [_warning_dict(w) for w in studies.warnings + extraction.warnings]
    per_outcome = {}
    for path in tables:
        part = read_csv_dicts(path)
        outcome = Path(path).stem
        table = outcome_table(protocol, studies, extraction, outcome)
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


def typed_rows(path) -> list[dict[str, Any]]:
    rows = read_csv_dicts(path)
    for r in rows:
        for key in ("ai", "n1i", "ci", "n2i", "xi", "ni"):
            if key in r and r[key] != "":
                r[key] = int(r[key])
    return rows


def not_pooled(rows, settings, reason: str) -> dict[str, Any]:
    """A fit dictionary with the study rows but no pooled estimate (e.g. k = 1)."""
    from .models import STATISTIC_FIELDS, _clean, _study_records, norm_crit
    from .pooling import effect_sizes

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
        out["studies"] = _study_records(es, [r["study"] for r in rows], weights, norm_crit(s.level))
    return _clean(out)


def pool_outcome(table_csv, protocol_path, outcome, settings_dict, out_json, svg, png) -> list[str]:
    """Pool one outcome, write its fit JSON and forest plot; returns warnings for the log."""
    from .plots.common import save_figure
    from .plots.forest import draw_forest
    from .pooling import Settings, pool

    protocol = load_protocol(protocol_path)
    entry = next(o for o in protocol["outcomes"] if o["id"] == outcome)
    settings = Settings(**settings_dict)
    rows = typed_rows(table_csv)
    labels = {r["study"]: r.get("label") or r["study"] for r in rows}
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
    from .rob import table_of_rows

    fig = draw_forest(
        fit,
        title=entry.get("label", outcome),
        study_labels=labels,
        rob=table_of_rows(rows, protocol.get("risk_of_bias")),
        **forest_labels(protocol, entry, settings.measure),
    )
    save_figure(fig, svg, png)
    return list(fit.get("warnings", []))


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
) -> list[str]:
    """One outcome's job: its effect-size table, then its fit and forest plot."""
    warnings = extract_outcome(protocol_path, studies_path, extraction_path, outcome, table_csv)
    return warnings + pool_outcome(
        table_csv, protocol_path, outcome, settings_dict, out_json, svg, png
    )


def forest_labels(protocol: dict, entry: dict, measure: str) -> dict[str, str]:
    """Arm column headers and the "Favours ..." texts of an outcome's forest plots, from the
    protocol's arm labels and the outcome's direction (no favours for proportions)."""
    arms = protocol.get("arms") or {}
    treat = arms.get("intervention_label", arms.get("intervention", "Intervention"))
    ctrl = arms.get("control_label", arms.get("control", "Control"))
    if measure not in ("OR", "RR", "RD"):
        left = right = ""
        treat = arms.get("single_label", arms.get("single", treat))
    elif entry.get("direction", "higher_is_better") == "higher_is_better":
        left, right = ctrl.lower(), treat.lower()
    else:
        left, right = treat.lower(), ctrl.lower()
    return {
        "intervention_label": treat,
        "control_label": ctrl,
        "favours_left": left,
        "favours_right": right,
    }
