"""The summary of findings with GRADE certainty (``sof.json``, ``sof.csv``).

One row per protocol outcome, in GRADE's layout (GRADE Handbook 5.2.2): participants
(studies), relative effect (95% CI), anticipated absolute effects (risk with the
comparator; risk difference with the intervention per 1,000, with CI), certainty (symbols
and words), a plain-language statement and footnotes. The numbers come from the pooled fit
and the per-outcome table as the earlier stages wrote them; the absolute effects from
:mod:`metareview.engine.absolute`, the judgements from :mod:`metareview.present.grade`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from metareview.engine import measures
from metareview.engine.absolute import (
    CONVERTIBLE,
    absolute_effect,
    median_risk,
    optimal_information_size,
)
from metareview.inputs.protocol import outcome_certainty, outcome_settings
from metareview.io import read_csv_dicts, write_csv, write_json
from metareview.present import grade
from metareview.stages.layout import Layout

#: the columns of sof.csv, as GRADE's table heads them
CSV_COLUMNS = [
    "Outcome",
    "Participants (studies)",
    "Relative effect (95% CI)",
    "Risk with comparator",
    "Risk difference with intervention",
    "Certainty",
    "What happens",
    "Comments",
]


def _read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _note(row: dict, where: str, text: str) -> None:
    """A footnote of a row, marked on its ``where`` cell (outcome, comparator, certainty,
    statement)."""
    row["footnotes"].append(text)
    row["notes"].append({"where": where, "text": text})


def letters(n: int) -> str:
    """0 -> a, 25 -> z, 26 -> aa (GRADE tables mark footnotes with letters)."""
    out = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(ord("a") + r) + out
    return out


def mark_footnotes(rows: list[dict]) -> list[dict[str, str]]:
    """Number the rows' footnotes once per distinct text (letters, in order of first use);
    sets each row's ``marks`` (cell -> letters) and returns the footnotes."""
    seen: dict[str, str] = {}
    for row in rows:
        row["marks"] = {}
        for n in row["notes"]:
            mark = seen.setdefault(n["text"], letters(len(seen)))
            cell = row["marks"].setdefault(n["where"], [])
            if mark not in cell:
                cell.append(mark)
    return [{"mark": mark, "text": text} for text, mark in seen.items()]


def contributing(fit: dict) -> list[dict]:
    """The fit's studies that enter the estimate (not left out by the zero-cell rule)."""
    return [s for s in fit.get("studies") or [] if not s.get("excluded")]


def _design(cfg: dict, rows: list[dict]) -> str:
    if cfg.get("design"):
        return cfg["design"]
    designs = {(r.get("design") or "").strip().lower() for r in rows} - {""}
    return "rct" if designs <= {"rct"} else "observational"


def _rob_sets(layout: Layout) -> tuple[set[str], set[str]]:
    """(studies at high risk, studies with an overall judgement) from rob/assessments.json:
    high risk is the upper half of the tool's severity scale (RoB 2: high; ROBINS-I:
    serious and critical)."""
    path = Path(layout.rob_dir) / "assessments.json"
    if not path.is_file():
        return set(), set()
    data = _read_json(path)
    ranks = {j["id"]: j.get("rank") for j in data.get("judgements") or []}
    ranked = sum(1 for r in ranks.values() if r is not None)
    cut = math.ceil(ranked / 2) if ranked else None
    high, assessed = set(), set()
    for st in data.get("studies") or []:
        overall = (st.get("judgements") or {}).get("overall")
        if overall:
            assessed.add(st["study_id"])
            rank = ranks.get(overall)
            if cut is not None and rank is not None and rank >= cut:
                high.add(st["study_id"])
    return high, assessed


def _small_study_pvals(layout: Layout, outcome: str) -> dict[str, float | None]:
    path = Path(layout.bias(outcome))
    if not path.is_file():
        return {}
    result = _read_json(path).get("result") or {}
    return {
        name: (result.get(name) or {}).get("pval")
        for name in grade.TEST_NAMES
        if isinstance(result.get(name), dict)
    }


def outcome_row(protocol: dict, layout: Layout, entry: dict, rob: tuple[set, set]) -> dict:
    """The summary-of-findings row of one outcome (numbers, judgements and texts)."""
    oid = entry["id"]
    settings = outcome_settings(protocol, oid)
    cfg = outcome_certainty(protocol, oid)
    fit = _read_json(layout.pooled(oid))
    table = read_csv_dicts(layout.outcome_table(oid))
    studies = contributing(fit)
    ids = {s["study"] for s in studies}
    rows = [r for r in table if r["study"] in ids]
    measure = settings["measure"]
    m = measures.get(measure)
    k = len(studies)
    design = _design(cfg, rows)
    row: dict[str, Any] = {
        "outcome": oid,
        "label": entry["label"],
        "role": entry.get("role", "secondary"),
        "measure": measure,
        "k": k,
        "design": design,
        "participants": None,
        "status": "pooled" if fit.get("pooled") else ("single study" if k == 1 else "no data"),
        "footnotes": [],
        "notes": [],
    }
    if m.two_arm:
        totals = [(_int(r.get("n1i")), _int(r.get("n2i"))) for r in rows]
        if rows and all(a is not None and b is not None for a, b in totals):
            row["participants"] = sum(a + b for a, b in totals)
    else:
        totals = [_int(r.get("ni")) for r in rows]
        if rows and all(n is not None for n in totals):
            row["participants"] = sum(totals)
    if k == 0:
        _note(row, "outcome", "No study reports this outcome: no estimate, no certainty.")
        row["texts"] = {
            "participants": "–",
            "relative": "–",
            "risk_comparator": "–",
            "difference": "–",
            "certainty": "–",
            "statement": "No study measured this outcome.",
        }
        row["certainty"] = None
        return row

    back = fit["back"] if fit.get("pooled") else studies[0]["back"]
    est, lb, ub = back.get("estimate"), back.get("ci_lb"), back.get("ci_ub")
    row["relative"] = {"estimate": est, "ci_lb": lb, "ci_ub": ub, "level": fit["level"]}
    if k == 1:
        _note(row, "outcome", "A single study: its own estimate, not a meta-analysis.")

    # the assumed comparator risk and the absolute effect ------------------------------
    absolute = None
    acr = None
    if m.two_arm and measure in CONVERTIBLE + ("PETO",) and grade.finite(est, lb, ub):
        given = cfg.get("comparator_risk")
        if given:
            acr = float(given["risk"])
            row["acr_source"] = given["source"]
            _note(
                row,
                "comparator",
                f"Risk with comparator: {grade.per_1000(acr * 1000)} per 1,000, from "
                f"{given['source']}.",
            )
        else:
            if all("ci" in r for r in rows):
                acr = median_risk([_int(r["ci"]) for r in rows], [_int(r["n2i"]) for r in rows])
            else:  # estimates given with their CIs (generic inverse variance): no counts
                _note(
                    row,
                    "comparator",
                    "No control-group counts (estimates given with their confidence "
                    "intervals): no comparator risk, no absolute effect.",
                )
            row["acr_source"] = f"median control-group risk of the {k} studies"
            if acr is not None:
                _note(
                    row,
                    "comparator",
                    f"Risk with comparator: the median risk of the control groups of the "
                    f"{k} {'study' if k == 1 else 'studies'} "
                    f"({grade.per_1000(acr * 1000)} per 1,000).",
                )
        if acr is not None:
            absolute = absolute_effect(measure, est, lb, ub, acr)
            row["absolute"] = absolute.to_dict()
    row["acr"] = acr

    # the judgements ---------------------------------------------------------------------
    threshold = float(cfg.get("threshold", 0) or 0)
    ratio_ci = (lb, ub) if m.ratio and grade.finite(lb, ub) else None
    null_back = 1.0 if m.ratio else 0.0
    pi = None
    if fit.get("pooled") and grade.finite(fit["back"].get("pi_lb"), fit["back"].get("pi_ub")):
        pi = (fit["back"]["pi_lb"], fit["back"]["pi_ub"])
    ois = optimal_information_size(acr, grade.OIS_RRR) if acr is not None else None
    row["ois"] = ois
    weights = {s["study"]: s.get("weight") or (1.0 if k == 1 else 0.0) for s in studies}
    proposals = {
        "risk_of_bias": lambda: grade.propose_risk_of_bias(weights, *rob),
        "inconsistency": lambda: grade.propose_inconsistency(
            k, fit.get("i2"), fit.get("q_pval"), (lb, ub), pi, null_back
        ),
        "indirectness": lambda: grade.not_from_data("indirectness"),
        "imprecision": lambda: grade.propose_imprecision(
            (absolute.difference_lb, absolute.difference_ub) if absolute else None,
            threshold,
            ratio_ci,
            row["participants"],
            ois,
        ),
        "publication_bias": lambda: grade.propose_publication_bias(
            measure, k, _small_study_pvals(layout, oid)
        ),
        "large_effect": lambda: grade.propose_large_effect(design, est if m.ratio else None),
        "dose_response": lambda: grade.not_from_data("dose_response"),
        "plausible_confounding": lambda: grade.not_from_data("plausible_confounding"),
    }
    judgements = [
        grade.from_protocol(d, cfg[d]) if d in cfg else make() for d, make in proposals.items()
    ]
    cert = grade.certainty(design, judgements)
    row["certainty"] = cert
    for j in judgements:
        if j.change or j.rating == "not assessed" or (j.source == "protocol" and j.reason):
            label = "proposed" if j.source == "proposed" else "reviewers' judgement"
            _note(
                row,
                "certainty",
                f"{grade.DOMAINS[j.domain]}: {j.rating} ({label}): {j.reason}."
                if j.reason
                else f"{grade.DOMAINS[j.domain]}: {j.rating} ({label}).",
            )

    # texts -------------------------------------------------------------------------------
    intervention = (protocol.get("arms") or {}).get("intervention_label") or "The intervention"
    if absolute is not None:
        important = grade.important_effect(
            absolute.difference, (absolute.difference_lb, absolute.difference_ub), threshold
        )
        reduces = absolute.difference < 0
    else:
        important = ratio_ci is not None and not (lb <= null_back <= ub)
        reduces = est < null_back
    if threshold == 0 and cert["level"] > 1:
        _note(
            row,
            "statement",
            "What happens: proposed with no threshold of importance in the protocol "
            "(certainty.threshold): an effect is called important when its CI excludes no "
            "effect.",
        )
    proportion = m.kind == measures.SINGLE_ARM_BINARY  # a rate in one group, no comparison
    if proportion:
        row["statement"] = grade.proportion_statement(entry["label"], cert["level"])
    else:
        row["statement"] = grade.statement(
            intervention, entry["label"], cert["level"], important, reduces
        )
    if m.two_arm:
        relative = grade.relative_text(measure, est, lb, ub, fit["level"])
    elif proportion:
        relative = grade.proportion_text(est, lb, ub, fit["level"])
    else:
        relative = "–"
    row["texts"] = {
        "participants": grade.participants_text(row["participants"], design, k),
        "relative": relative,
        "risk_comparator": (
            f"{grade.per_1000(absolute.risk_comparator)} per 1,000" if absolute else "–"
        ),
        "difference": (
            grade.absolute_text(absolute.difference, absolute.difference_lb, absolute.difference_ub)
            if absolute
            else "–"
        ),
        "certainty": f"{cert['symbols']} {cert['label']}"
        + (" (proposed)" if cert["proposed"] else ""),
        "statement": row["statement"],
    }
    return row


def summary_of_findings(protocol: dict, review_dir: str | Path) -> dict[str, Any]:
    layout = Layout(Path(review_dir).as_posix())
    rob = _rob_sets(layout)
    rows = [outcome_row(protocol, layout, entry, rob) for entry in protocol["outcomes"]]
    footnotes = mark_footnotes(rows)
    arms = protocol.get("arms") or {}
    pico = protocol.get("pico") or {}
    return {
        "review_id": protocol["review_id"],
        "title": protocol["title"],
        "population": pico.get("population"),
        "intervention": pico.get("intervention") or arms.get("intervention_label"),
        "comparator": pico.get("comparator") or arms.get("control_label"),
        "outcomes": rows,
        "footnotes": footnotes,
        "legend": (
            "GRADE certainty of the evidence. High: very confident that the true effect lies "
            "close to the estimate. Moderate: moderately confident; the true effect is likely "
            "close to the estimate, but may be substantially different. Low: limited "
            "confidence; the true effect may be substantially different. Very low: very "
            "little confidence; the true effect is likely substantially different. "
            "(proposed): at least one domain was judged by a rule from the data, not by the "
            "reviewers; the review team confirms or replaces it in the protocol "
            "(certainty: of the outcome)."
        ),
    }


def csv_rows(sof: dict) -> list[dict[str, str]]:
    return [
        {
            "Outcome": r["label"],
            "Participants (studies)": r["texts"]["participants"],
            "Relative effect (95% CI)": r["texts"]["relative"],
            "Risk with comparator": r["texts"]["risk_comparator"],
            "Risk difference with intervention": r["texts"]["difference"],
            "Certainty": r["texts"]["certainty"],
            "What happens": r["texts"]["statement"],
            "Comments": " ".join(r["footnotes"]),
        }
        for r in sof["outcomes"]
    ]


def write_summary_of_findings(protocol: dict, review_dir, out_json, out_csv) -> dict:
    sof = summary_of_findings(protocol, review_dir)
    write_json(out_json, sof)
    write_csv(out_csv, CSV_COLUMNS, csv_rows(sof))
    return sof
