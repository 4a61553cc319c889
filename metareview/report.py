"""The review's HTML report (one self-contained page) and the audit of published values.

The audit rule is in :mod:`metareview.audit`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .audit import audit_outcome, audit_summary, deviations
from .formatting import num, pval
from .io import atomic_write_text, write_json
from .protocol import load_protocol, outcome_settings

MEASURE_NAMES = {  # plural, as the methods paragraph uses them
    "OR": "odds ratios",
    "RR": "risk ratios",
    "RD": "risk differences",
    "PR": "proportions",
    "PLN": "log-transformed proportions",
    "PLO": "logit-transformed proportions",
    "PAS": "arcsine-transformed proportions",
    "PFT": "Freeman-Tukey-transformed proportions",
}
METHOD_NAMES = {
    "FE": "a fixed-effect (inverse-variance) model",
    "MH": "the Mantel-Haenszel fixed-effect method",
    "PETO": "the Peto one-step method",
    "DL": "a random-effects model with the DerSimonian-Laird estimator of tau²",
    "REML": "a random-effects model with the restricted maximum-likelihood (REML) estimator of tau²",
    "ML": "a random-effects model with the maximum-likelihood estimator of tau²",
    "PM": "a random-effects model with the Paule-Mandel estimator of tau²",
    "EB": "a random-effects model with the empirical Bayes estimator of tau²",
    "SJ": "a random-effects model with the Sidik-Jonkman estimator of tau²",
    "HE": "a random-effects model with the Hedges estimator of tau²",
    "HS": "a random-effects model with the Hunter-Schmidt estimator of tau²",
}
FIXED_METHODS = ("FE", "MH", "PETO")
ZERO_RULES = {
    "only0": "to every cell of studies with a zero cell",
    "all": "to every cell of every study",
    "if0all": "to every cell of every study when any study has a zero cell",
    "none": "nowhere (no continuity correction)",
}


def _join(items: list[str], word: str = "and") -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {word} " + items[-1]


def methods_paragraph(protocol: dict) -> str:
    """The statistical methods, in words, from every outcome's effective settings."""
    settings = [outcome_settings(protocol, o["id"]) for o in protocol["outcomes"]]
    measures = sorted({s["measure"] for s in settings})
    methods = sorted({s["method"] for s in settings})
    levels = sorted({s["level"] for s in settings})
    tests = sorted({s["test"] for s in settings if s["method"] not in ("MH", "PETO")})
    parts = []
    reg = protocol.get("registration") or {}
    if reg.get("id"):
        parts.append(
            f"The review protocol was registered with {reg.get('registry', 'a registry')} ({reg['id']})."
        )
    parts.append(
        f"Effects were expressed as {_join([MEASURE_NAMES.get(m, m) for m in measures])} with "
        + _join([f"{lv:g}%" for lv in levels], "or")
        + f" confidence intervals and pooled with {_join([METHOD_NAMES.get(m, m) for m in methods], 'or')}."
    )
    if "knha" in tests:
        parts.append(
            "Confidence intervals and tests of the pooled effect "
            + ("of the random-effects models " if "z" in tests else "")
            + "used the Hartung-Knapp-Sidik-Jonkman method (t distribution with k-1 degrees of freedom)"
            + ("; the others, the normal (Wald-type) approximation." if "z" in tests else ".")
        )
    else:
        parts.append(
            "Confidence intervals and tests of the pooled effect used the normal (Wald-type) approximation."
        )
    if any(m not in FIXED_METHODS for m in methods):
        parts.append(
            "Heterogeneity was quantified with Cochran's Q, I² and tau², with Q-profile confidence intervals for tau² and I²; "
            "prediction intervals are reported for random-effects models."
        )
    else:
        parts.append("Heterogeneity was quantified with Cochran's Q and I².")
    rules = sorted(
        {
            (s["add"], s["to"], s["drop00"], s["correction"])
            for s in settings
            if s["method"] not in ("MH", "PETO")
        }
    )
    for add, to, drop00, correction in rules:
        if correction == "treatment_arm":
            text = "Zero cells were handled with the treatment-arm continuity correction (Sweeting 2004)"
        elif add == 0 or to == "none":
            text = "No continuity correction was applied to zero cells"
        else:
            text = f"For study-level effect sizes, {add:g} was added {ZERO_RULES.get(to, to)}"
        parts.append(
            text
            + (
                "; studies without events (or with only events) in both arms were excluded."
                if drop00
                else "."
            )
        )
    if any(m in ("MH", "PETO") for m in methods):
        parts.append(
            "The Mantel-Haenszel and Peto methods pool the 2x2 tables without a continuity correction; "
            "studies without events (or with only events) in both arms do not contribute to them."
        )
    parts += _analysis_plan_sentences(protocol)
    parts.append(
        "Analyses were run with the metareview pipeline, whose engine reproduces R metafor's results "
        "(tolerance 1e-6) on the reference datasets in its test suite."
    )
    return " ".join(parts)


SENSITIVITY_NAMES = {
    "leave_one_out": "leave-one-out analysis",
    "influence": "influence diagnostics (studentized residuals, DFFITS, Cook's distances, hat values; Viechtbauer and Cheung 2010)",
    "cumulative": "cumulative meta-analysis by publication year",
    "methods": "re-analysis under alternative models",
    "zero_cells": "re-analysis under alternative zero-cell corrections",
    "exclude": "re-analysis excluding studies",
}
SMALL_STUDY_NAMES = {
    "egger": "Egger's regression test",
    "begg": "Begg and Mazumdar's rank correlation test",
    "peters": "Peters' test",
    "harbord": "Harbord's modified test",
    "trimfill": "trim-and-fill (Duval and Tweedie)",
}


def _tag(item: dict) -> str:
    return "post hoc" if item.get("post_hoc") else "pre-specified"


def _analysis_plan_sentences(protocol: dict) -> list[str]:
    """The subgroup, sensitivity, small-study and risk-of-bias plans, in words."""
    out = []
    subgroups = protocol.get("subgroups") or []
    if subgroups:
        out.append(
            "Subgroup analyses ("
            + "; ".join(f"{g.get('label') or g['column']}, {_tag(g)}" for g in subgroups)
            + ") pooled each subgroup separately and tested for subgroup differences with "
            "Cochran's Q between subgroups (for random-effects models also from the "
            "random-effects fits; for Mantel-Haenszel and Peto, over the subgroup estimates "
            "as RevMan does)."
        )
    sens = protocol.get("sensitivity") or []
    if sens:
        items = []
        for a in sens:
            what = SENSITIVITY_NAMES.get(a["kind"], a["kind"])
            if a["kind"] == "exclude":
                what += f" ({a['filter']})"
            if a["kind"] == "methods" and a.get("methods"):
                what += f" ({', '.join(a['methods'])})"
            items.append(f"{what}, {_tag(a)}")
        out.append("Sensitivity analyses: " + "; ".join(items) + ".")
    for plan in protocol.get("small_study") or []:
        tests = [SMALL_STUDY_NAMES.get(t, t) for t in plan["tests"]]
        out.append(
            "Small-study effects were examined with funnel plots, "
            + ", ".join(tests)
            + f" ({_tag(plan)}); following the Cochrane Handbook (section 13.3.5.4), tests "
            f"with fewer than {plan.get('min_k', 10)} studies are reported as underpowered."
        )
    rob = protocol.get("risk_of_bias")
    if rob:
        from .rob import load_tool

        out.append(f"Risk of bias was assessed with {load_tool(rob.get('tool', 'rob2')).name}.")
    return out


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _analysis_sections(review_dir: Path, outcome: str) -> list[dict[str, Any]]:
    """The outcome's subgroup, sensitivity and small-study analyses, as the stages wrote
    them: each index lists analyses with ready-made tables and figure paths (relative to
    the review folder)."""
    indexes = [
        review_dir / "subgroup" / outcome / "index.json",
        review_dir / "sensitivity" / outcome / "index.json",
        review_dir / "bias" / f"{outcome}.json",
    ]
    sections = []
    for path in indexes:
        if not path.is_file():
            continue
        for analysis in _read_json(path).get("analyses", []):
            sections.append(
                {
                    **analysis,
                    "svgs": [
                        {
                            "svg": _inline_svg((review_dir / f["path"]).read_text("utf-8")),
                            "caption": f.get("caption", ""),
                        }
                        for f in analysis.get("figures", [])
                    ],
                }
            )
    return sections


def _review_section(review_dir: Path, name: str) -> dict[str, Any] | None:
    """A per-review stage's index (risk of bias, screening), figures inlined."""
    path = review_dir / name / "index.json"
    if not path.is_file():
        return None
    index = _read_json(path)
    index["svgs"] = [
        {
            "svg": _inline_svg((review_dir / f["path"]).read_text("utf-8")),
            "caption": f.get("caption", ""),
        }
        for f in index.get("figures", [])
    ]
    return index


def _published_text(reported: dict) -> str:
    """'1.33 [0.90, 1.98] (k = 3)' at the publication's decimals ('' when nothing was)."""
    from .audit import published_decimals

    if reported.get("estimate") is None:
        return ""
    places = published_decimals(reported, "estimate")
    text = " ".join(
        [f"{reported['estimate']:.{places}f}"]
        + (
            [f"[{reported['ci_lb']:.{places}f}, {reported['ci_ub']:.{places}f}]"]
            if reported.get("ci_lb") is not None and reported.get("ci_ub") is not None
            else []
        )
    )
    return text + (f" (k = {reported['k']})" if reported.get("k") else "")


def build_report(protocol_path, template_path, review_dir, out_html, out_audit) -> list[str]:
    """Render ``report.html`` from the results in ``review_dir`` and write ``audit.json``."""
    import jinja2

    protocol = load_protocol(protocol_path)
    review_dir = Path(review_dir)
    validation = _read_json(review_dir / "extraction" / "validation.json")
    outcomes, audit_rows = [], []
    for entry in protocol["outcomes"]:
        oid = entry["id"]
        fit = _read_json(review_dir / "pooled" / f"{oid}.json")
        rows = audit_outcome(entry, fit)
        audit_rows += rows
        outcomes.append(
            {
                "entry": entry,
                "fit": fit,
                "svg": _inline_svg((review_dir / "forest" / f"{oid}.svg").read_text("utf-8")),
                "audit": rows,
                "settings": outcome_settings(protocol, oid),
                "analyses": _analysis_sections(review_dir, oid),
                "published": _published_text(entry.get("reported") or {}),
            }
        )
    audit = audit_summary(protocol["review_id"], audit_rows)
    write_json(out_audit, audit)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(template_path).parent)),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
        keep_trailing_newline=True,
    )
    env.filters["num"] = num
    env.filters["p"] = pval
    html = env.get_template(Path(template_path).name).render(
        protocol=protocol,
        methods=methods_paragraph(protocol),
        outcomes=outcomes,
        validation=validation,
        audit=audit,
        deviations=deviations(protocol),
        rob=_review_section(review_dir, "rob"),
        screening=_review_section(review_dir, "screening"),
    )
    atomic_write_text(out_html, html)
    return []


def _inline_svg(text: str):
    """Our own matplotlib SVG, stripped of the XML prologue, for inline embedding.

    Figures are drawn at print size (7 pt text); on screen they are scaled up to 1.4x
    their natural width, within the page column.
    """
    import re

    from markupsafe import Markup

    start = text.find("<svg")
    svg = text[start:]
    m = re.search(r'width="([0-9.]+)pt"', svg[:500])
    if m:
        px = float(m.group(1)) * 4 / 3 * 1.4
        svg = svg.replace("<svg ", f'<svg style="width:100%;max-width:{px:.0f}px" ', 1)
    return Markup(svg)
