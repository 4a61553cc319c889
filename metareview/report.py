"""The review's HTML report (one self-contained page) and the audit of published values.

Audit rule: a published value is *reproduced* when our value, rounded to the number of
decimals the publication printed, equals it (0.8143 reproduces 0.81; 0.8151 does not).
Counts (k) must match exactly. A value we cannot compute (outcome not pooled) is
*not computable*, with the reason.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from .io import atomic_write_text, write_json
from .protocol import load_protocol, outcome_settings

MEASURE_NAMES = {
    "OR": "odds ratio",
    "RR": "risk ratio",
    "RD": "risk difference",
    "PR": "proportion",
    "PLN": "proportion (log transformed)",
    "PLO": "proportion (logit transformed)",
    "PAS": "proportion (arcsine transformed)",
    "PFT": "proportion (Freeman-Tukey transformed)",
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
ZERO_RULES = {
    "only0": "to every cell of studies with a zero cell",
    "all": "to every cell of every study",
    "if0all": "to every cell of every study when any study has a zero cell",
    "none": "nowhere (no continuity correction)",
}


def decimals_of(value: Any) -> int:
    text = repr(float(value)) if not isinstance(value, str) else value
    if "e" in text or "E" in text:
        return 6
    return len(text.split(".")[1]) if "." in text else 0


def round_half_up(x: float, places: int) -> Decimal:
    return Decimal(repr(x)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def audit_outcome(entry: dict, fit: dict) -> list[dict[str, Any]]:
    """One row per ``reported:`` value of an outcome."""
    reported = entry.get("reported") or {}
    rows = []
    back = fit.get("back") or {}
    ours_by_key = {
        "estimate": back.get("estimate"),
        "ci_lb": back.get("ci_lb"),
        "ci_ub": back.get("ci_ub"),
        "i2": fit.get("i2"),
        "tau2": fit.get("tau2"),
        "k": fit.get("k") if fit.get("pooled") else None,
        "pval": fit.get("pval"),
        "n": sum(
            (s.get("n1i") or 0) + (s.get("n2i") or 0) + (s.get("ni") or 0)
            for s in fit.get("studies", [])
            if not s.get("excluded")
        )
        or None,
    }
    for key in ("estimate", "ci_lb", "ci_ub", "i2", "tau2", "k", "n", "pval"):
        if key not in reported or reported[key] is None:
            continue
        pub = reported[key]
        ours = ours_by_key.get(key)
        row = {"outcome": entry["id"], "quantity": key, "published": pub, "ours": ours}
        if ours is None or not fit.get("pooled"):
            row["status"] = "not computable"
            row["reason"] = "; ".join(fit.get("warnings") or []) or "not pooled"
            row["ours_rounded"] = None
        elif key in ("k", "n"):
            row["ours_rounded"] = int(ours)
            row["status"] = "reproduced" if int(ours) == int(pub) else "differs"
            row["reason"] = (
                ""
                if row["status"] == "reproduced"
                else (
                    f"{int(ours)} studies with data here vs {int(pub)} published"
                    if key == "k"
                    else ""
                )
            )
        else:
            places = decimals_of(pub)
            rounded = round_half_up(float(ours), places)
            row["ours_rounded"] = float(rounded)
            same = rounded == Decimal(repr(float(pub))).quantize(Decimal(1).scaleb(-places))
            row["status"] = "reproduced" if same else "differs"
            row["reason"] = ""
        rows.append(row)
    # a differing k explains the other differences
    k_row = next((r for r in rows if r["quantity"] == "k" and r["status"] == "differs"), None)
    if k_row:
        for r in rows:
            if r["status"] == "differs" and r is not k_row:
                r["reason"] = k_row["reason"]
    return rows


def methods_paragraph(protocol: dict) -> str:
    d = protocol.get("defaults", {})
    settings = [outcome_settings(protocol, o["id"]) for o in protocol["outcomes"]]
    measures = sorted({s["measure"] for s in settings})
    methods = sorted({s["method"] for s in settings})
    tests = sorted({s["test"] for s in settings})
    parts = []
    reg = protocol.get("registration") or {}
    if reg.get("id"):
        parts.append(
            f"The review protocol was registered with {reg.get('registry', 'a registry')} ({reg['id']})."
        )
    parts.append(
        "Effects were expressed as "
        + " and ".join(MEASURE_NAMES.get(m, m) + "s" for m in measures)
        + " with "
        + f"{d.get('level', 95):g}% confidence intervals and pooled with "
        + " or ".join(METHOD_NAMES.get(m, m) for m in methods)
        + "."
    )
    if "knha" in tests:
        parts.append(
            "Confidence intervals and tests of the pooled effect used the Hartung-Knapp-Sidik-Jonkman method (t distribution with k-1 degrees of freedom)."
        )
    else:
        parts.append(
            "Confidence intervals and tests of the pooled effect used the normal (Wald-type) approximation."
        )
    parts.append(
        "Heterogeneity was quantified with Cochran's Q, I² and tau², with Q-profile confidence intervals for tau² and I²; "
        "95% prediction intervals are reported for random-effects models."
    )
    to = d.get("to", "only0")
    add = d.get("add")
    parts.append(
        f"For study-level effect sizes, {0.5 if add is None else add:g} was added {ZERO_RULES.get(to, to)}"
        + (
            "; studies without events (or with only events) in both arms were excluded."
            if d.get("drop00")
            else "."
        )
    )
    parts.append(
        "Analyses were run with the metareview pipeline, whose engine reproduces R metafor's results "
        "(tolerance 1e-6) on the reference datasets in its test suite."
    )
    return " ".join(parts)


def fmt(x: Any, digits: int = 2) -> str:
    if x is None:
        return "–"
    return f"{x:.{digits}f}".replace("-", "−")


def fmt_p(p: Any) -> str:
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def build_report(
    protocol_path, template_path, validation_path, fit_paths, forest_paths, out_html, out_audit
) -> list[str]:
    import jinja2

    protocol = load_protocol(protocol_path)
    validation = json.loads(Path(validation_path).read_text(encoding="utf-8"))
    fits = {Path(p).stem: json.loads(Path(p).read_text(encoding="utf-8")) for p in fit_paths}
    svgs = {Path(p).stem: _inline_svg(Path(p).read_text(encoding="utf-8")) for p in forest_paths}
    outcomes, audit_rows = [], []
    for entry in protocol["outcomes"]:
        fit = fits[entry["id"]]
        rows = audit_outcome(entry, fit)
        audit_rows += rows
        outcomes.append(
            {
                "entry": entry,
                "fit": fit,
                "svg": svgs[entry["id"]],
                "audit": rows,
                "settings": outcome_settings(protocol, entry["id"]),
            }
        )
    audit = {
        "review_id": protocol["review_id"],
        "rule": "reproduced = our value rounded (half up) to the published number of decimals equals the published value; k must match exactly",
        "values": audit_rows,
        "summary": {
            s: sum(r["status"] == s for r in audit_rows)
            for s in ("reproduced", "differs", "not computable")
        },
    }
    write_json(out_audit, audit)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(template_path).parent)),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
        keep_trailing_newline=True,
    )
    env.filters["num"] = fmt
    env.filters["p"] = fmt_p
    html = env.get_template(Path(template_path).name).render(
        protocol=protocol,
        methods=methods_paragraph(protocol),
        outcomes=outcomes,
        validation=validation,
        audit=audit,
    )
    atomic_write_text(out_html, html)
    return []


def _inline_svg(text: str):
    """Our own matplotlib SVG, stripped of the XML prologue, for inline embedding."""
    from markupsafe import Markup

    start = text.find("<svg")
    return Markup(text[start:])
