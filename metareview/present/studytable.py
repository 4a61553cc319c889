"""The manuscript's study tables: characteristics of the included studies, the studies that
do not contribute to an outcome (and why), and the per-outcome results table.

Pure functions of the rows the stages wrote (studies.csv, effects.csv, validation.json,
pooled/<outcome>.json); the report renders them and the exports write them as CSV and DOCX.
"""

from __future__ import annotations

import re
from typing import Any

from metareview.engine import measures
from metareview.present.formats import pval
from metareview.present.tables import DASH, MIN_K_PI, i2_text, tau2_text

_DOI = re.compile(r"^(?:doi:\s*|https?://(?:dx\.)?doi\.org/)?(10\.\d{4,9}/\S+)$", re.I)
_URL = re.compile(r"^https?://\S+$", re.I)
DESIGNS = {"rct": "RCT", "observational": "Observational", "single_arm": "Single-arm"}


def reference_link(reference: str | None) -> tuple[str, str | None]:
    """(text, URL or None) of a studies.csv reference: a DOI links to doi.org, a web
    address to itself, anything else is printed as text."""
    text = (reference or "").strip()
    if not text:
        return DASH, None
    m = _DOI.match(text)
    if m:
        return f"doi:{m.group(1)}", f"https://doi.org/{m.group(1)}"
    if _URL.match(text):
        return text, text
    return text, None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def participants_by_study(effects: list[dict]) -> dict[str, int]:
    """The largest number of participants a study contributes to any outcome (the sum of
    its arms' totals in effects.csv)."""
    out: dict[str, int] = {}
    for r in effects:
        m = measures.find(r.get("measure"))
        if not m:
            continue
        totals = [_int(r.get(c)) for c in m.columns if c in ("n1i", "n2i", "ni")]
        if totals and all(t is not None for t in totals):
            out[r["study"]] = max(out.get(r["study"], 0), sum(totals))
    return out


def population_columns(protocol: dict) -> list[tuple[str, str, dict[str, str]]]:
    """The studies.csv columns that describe a study's population: the subgroup columns
    (column, heading, display labels of its values)."""
    seen, out = set(), []
    for g in protocol.get("subgroups") or []:
        if g["column"] not in seen:
            seen.add(g["column"])
            out.append((g["column"], g.get("label") or g["column"], g.get("levels") or {}))
    return out


def study_characteristics(
    protocol: dict,
    studies: list[dict],
    effects: list[dict],
    rob_overall: dict[str, str] | None = None,
    rob_heading: str = "Risk of bias",
) -> dict[str, Any]:
    """Characteristics of the included studies: one row per studies.csv row (study, year,
    design, participants, population columns, outcomes it contributes data to, overall risk
    of bias, reference). Each row is a list of cells; ``links`` holds each row's reference
    URL (or None)."""
    n = participants_by_study(effects)
    outcomes_of: dict[str, list[str]] = {}
    labels = {o["id"]: o["id"] for o in protocol["outcomes"]}
    for r in effects:
        outcomes_of.setdefault(r["study"], [])
        if r["outcome"] not in outcomes_of[r["study"]]:
            outcomes_of[r["study"]].append(r["outcome"])
    pops = population_columns(protocol)
    columns = ["Study", "Year", "Design", "Participants"]
    columns += [heading for _, heading, _ in pops]
    columns += ["Outcomes with data", f"{rob_heading} (overall)", "Reference"]
    rows, links = [], []
    for s in studies:
        sid = s["study_id"]
        ref, url = reference_link(s.get("reference"))
        row = [
            s.get("label") or sid,
            s.get("year") or DASH,
            DESIGNS.get((s.get("design") or "").lower(), s.get("design") or DASH),
            f"{n[sid]:,}" if sid in n else DASH,
        ]
        for column, _, levels in pops:
            value = s.get(column) or ""
            row.append(levels.get(value, value) or DASH)
        row.append(", ".join(labels.get(o, o) for o in outcomes_of.get(sid, [])) or "none")
        row.append((rob_overall or {}).get(sid) or "not assessed")
        row.append(ref)
        rows.append(row)
        links.append(url)
    return {
        "caption": "Characteristics of included studies",
        "columns": columns,
        "rows": rows,
        "links": links,
        "notes": [
            "Participants: the largest number analysed for any outcome (both arms), from "
            "extraction.csv; –: no outcome data on file. Outcomes with data: the outcome ids "
            "of the protocol."
        ],
    }


def not_contributing(
    studies: list[dict], fit: dict, warnings: list[dict], outcome: str
) -> list[dict[str, str]]:
    """The included studies that do not contribute to an outcome's estimate, with why:
    left out by the zero-cell rule, an arm without data (validation warnings), no rows in
    extraction.csv at all, or no data for this outcome."""
    in_fit = {s["study"]: s for s in fit.get("studies") or []}
    out = []
    for s in studies:
        sid = s["study_id"]
        label = s.get("label") or sid
        st = in_fit.get(sid)
        if st is not None and not st.get("excluded"):
            continue
        if st is not None:
            reason = f"left out of the analysis: {st['excluded']}"
        else:
            messages = [
                w["message"]
                for w in warnings
                if f"study '{sid}'" in w.get("message", "")
                and (
                    f"outcome '{outcome}'" in w["message"]
                    or "contributes to no outcome" in w["message"]
                )
            ]
            if any("contributes to no outcome" in m for m in messages):
                reason = "no rows in extraction.csv for any outcome"
            elif messages:
                reason = "; ".join(messages)
            else:
                reason = "no data for this outcome in extraction.csv"
        out.append({"study": sid, "label": label, "reason": reason})
    return out


RESULT_COLUMNS = [
    "Outcome",
    "Studies (k)",
    "Participants",
    "Measure",
    "Estimate (95% CI)",
    "p",
    "tau²",
    "I²",
    "95% prediction interval",
    "Model",
]


def results_table(protocol: dict, fits: dict[str, dict], sof: dict | None = None) -> dict:
    """The per-outcome results: k, participants, pooled estimate with CI, p, tau², I² and
    prediction interval, and the model."""
    participants = {r["outcome"]: r.get("participants") for r in (sof or {}).get("outcomes", [])}
    rows = []
    for entry in protocol["outcomes"]:
        fit = fits[entry["id"]]
        back = fit.get("back") or {}
        pooled = bool(fit.get("pooled")) and back.get("estimate") is not None
        n = participants.get(entry["id"])
        pi = DASH
        if pooled and (fit.get("k") or 0) >= MIN_K_PI and back.get("pi_lb") is not None:
            pi = f"{back['pi_lb']:.2f} to {back['pi_ub']:.2f}"
        rows.append(
            [
                entry["label"],
                str(fit.get("k") or 0),
                f"{n:,}" if n else DASH,
                fit.get("measure") or DASH,
                f"{back['estimate']:.2f} ({back['ci_lb']:.2f} to {back['ci_ub']:.2f})"
                if pooled
                else "not pooled",
                pval(fit.get("pval")) if pooled else DASH,
                tau2_text(fit) if pooled else DASH,
                i2_text(fit) if pooled else DASH,
                pi,
                f"{fit.get('method')}, {fit.get('test')}" if pooled else DASH,
            ]
        )
    return {
        "caption": "Results by outcome",
        "columns": RESULT_COLUMNS,
        "rows": rows,
        "notes": [
            "Estimates on the reporting scale (ratios exponentiated); prediction intervals "
            f"for random-effects models of {MIN_K_PI} or more studies."
        ],
    }
