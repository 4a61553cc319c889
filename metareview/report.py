"""The review's HTML report (one self-contained page) and the audit of published values.

The audit rule is in :mod:`metareview.audit`. The stages write each analysis with a
report-ready table in an index (``subgroup/<outcome>/index.json``, ...); the report reads
the analysis' own result file (``result`` in the index) for what a table must say about
applicability: heterogeneity statistics of single studies, the studies that enter Q,
warnings of the small-study tests, the influence criteria, which figures were drawn.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from .audit import audit_outcome, audit_summary, deviations, is_registered
from .formatting import est_ci, num, pval
from .io import atomic_write_text, write_json
from .presentation import (
    DASH,
    EFFECT_NAMES,
    FIXED_METHODS,
    family,
    i2_text,
    pooled,
    q_studies,
    tau2_text,
)
from .protocol import analysis_plan, load_protocol, outcome_settings
from .text import printable

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
TWO_ARM_MEASURES = ("OR", "RR", "RD")
ZERO_RULES = {  # the studies whose cells ``to`` selects for the correction
    "only0": "studies with a zero cell",
    "all": "every study",
    "if0all": "every study when any study has a zero cell",
}
#: fewest studies for which a prediction interval is shown (tau² from 2 studies is too
#: unstable for one; the JSON results keep it)
MIN_K_PI = 3

UNREGISTERED_TAG = "planned in protocol (unregistered)"


def prespecified_tag(protocol: dict) -> str:
    """The badge of an analysis the protocol plans: "pre-specified" only when the protocol
    records a registration to verify it against."""
    return "pre-specified" if is_registered(protocol) else UNREGISTERED_TAG


def _tag(item: dict, protocol: dict) -> str:
    """An analysis' status in the methods prose (which says once whether the protocol is
    registered)."""
    if item.get("post_hoc"):
        return "post hoc"
    return "pre-specified" if is_registered(protocol) else "planned in the protocol"


def _join(items: list[str], word: str = "and") -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {word} " + items[-1]


# --------------------------------------------------------------------------- methods


def methods_paragraph(protocol: dict, *, rob_recorded: bool | None = None) -> Markup:
    """The statistical methods, in words, from every outcome's effective settings.

    ``rob_recorded``: whether any risk-of-bias judgement is recorded (None: not known, the
    tool is then said to have been used). Returns HTML (protocol texts escaped).
    """
    ids = [o["id"] for o in protocol["outcomes"]]
    settings = [outcome_settings(protocol, o) for o in ids]
    measures = sorted({s["measure"] for s in settings})
    methods = sorted({s["method"] for s in settings})
    levels = sorted({s["level"] for s in settings})
    tests = sorted({s["test"] for s in settings if s["method"] not in ("MH", "PETO")})
    parts: list[str] = []
    reg = protocol.get("registration") or {}
    if is_registered(protocol):
        parts.append(
            f"The review protocol was registered with {reg.get('registry') or 'a registry'} "
            f"({reg['id']})."
        )
    else:
        parts.append(
            "No registration of the review protocol is recorded, so whether the analyses were "
            "pre-specified cannot be verified against a registration; analyses are described as "
            "planned in the protocol or post hoc."
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
            "Heterogeneity was quantified with Cochran's Q, I² and tau², with Q-profile confidence intervals for tau² and I²."
        )
        parts.append(_prediction_interval_sentence(settings))
    else:
        parts.append("Heterogeneity was quantified with Cochran's Q and I².")
    parts += _zero_cell_sentences(protocol, ids, settings)
    parts += _analysis_plan_sentences(protocol, rob_recorded)
    parts.append(
        "Analyses were run with the metareview pipeline, whose engine reproduces R metafor's results "
        "(tolerance 1e-6) on the reference datasets in its test suite."
    )
    return Markup(" ".join(str(escape(p)) if not isinstance(p, Markup) else p for p in parts))


def _prediction_interval_sentence(settings: list[dict]) -> str:
    """metafor's prediction interval (``predict.rma``; :mod:`metareview.models`):
    mu ± crit sqrt(SE² + tau²), crit the normal quantile, or under knha the t(k-1) quantile
    with the Hartung-Knapp-adjusted SE."""
    tests = {s["test"] for s in settings if s["method"] not in FIXED_METHODS}
    z = "z being the standard normal quantile for the confidence level"
    t = (
        "t quantile with k-1 degrees of freedom and the Hartung-Knapp-adjusted SE "
        "under the Hartung-Knapp-Sidik-Jonkman method"
    )
    if tests == {"knha"}:
        formula = f"estimate ± t·√(SE² + tau²), with the {t}"
    elif "knha" in tests:
        formula = f"estimate ± z·√(SE² + tau²), {z} (the {t})"
    else:
        formula = f"estimate ± z·√(SE² + tau²), {z}"
    return (
        "Prediction intervals of the random-effects models were computed as metafor's predict() "
        f"does: {formula}; they are shown only for {MIN_K_PI} or more studies."
    )


def _zero_cell_rule(s: dict) -> str:
    """How the primary analysis of an outcome with settings ``s`` (resolved, as
    ``protocol.outcome_settings``) treats zero cells and double-zero studies
    (:func:`metareview.effects.escalc_two_arm`: ``add`` goes to every cell of the studies
    ``to`` selects; ``drop00`` sets studies with no events, or only events, in both arms
    to missing)."""
    from .effects import default_drop00

    measure, add, to, drop00 = s["measure"], float(s["add"]), s["to"], bool(s["drop00"])
    two_arm = measure in TWO_ARM_MEASURES
    if add <= 0 or to == "none":
        if measure in ("OR", "RR"):
            return (
                "no continuity correction was added, so studies with a zero cell have no "
                f"estimable {EFFECT_NAMES[measure]} and were left out"
            )
        return (
            "no continuity correction was added; studies whose effect size is not estimable "
            "without one (zero variance) were left out"
        )
    where = ZERO_RULES.get(to, f"the studies selected by to = {to}")
    if s.get("correction") == "treatment_arm":
        text = (
            "the treatment-arm continuity correction (Sweeting 2004; the two arms' increments "
            f"sum to {2 * add:g}) was added to the cells of {where}"
        )
    else:
        text = f"{add:g} was added to all cells of {where}"
    if two_arm:
        default = " (metafor's default)" if drop00 == default_drop00(s["method"]) else ""
        if drop00:
            text += (
                "; studies with no events in either arm (or only events in both) were left "
                f"out (drop00){default}"
            )
        else:
            text += (
                "; studies with no events in either arm (or only events in both) were kept, "
                f"with the correction{default}"
            )
    return text


def _zero_cell_text(s: dict) -> str:
    """The zero-cell sentence body for one outcome's primary model."""
    effect = EFFECT_NAMES.get(s["measure"], "effect size")
    if s["method"] == "MH":
        return (
            "the Mantel-Haenszel estimate pools the 2×2 tables without a continuity correction; "
            f"for Q and I² (study-level {effect}s), " + _zero_cell_rule(s)
        )
    if s["method"] == "PETO":
        return (
            "Peto's method pools observed-minus-expected event counts without a continuity "
            "correction; studies with no events (or only events) in both arms contribute to "
            "neither the estimate nor Q"
        )
    return _zero_cell_rule(s)


def _zero_cell_sentences(protocol: dict, ids: list[str], settings: list[dict]) -> list[str]:
    """One sentence per distinct zero-cell handling of the outcomes' primary analyses."""
    groups: dict[str, list[str]] = {}
    labels = {o["id"]: o.get("label") or o["id"] for o in protocol["outcomes"]}
    for oid, s in zip(ids, settings, strict=True):
        groups.setdefault(_zero_cell_text(s), []).append(labels[oid])
    if len(groups) == 1:
        text = next(iter(groups))
        return [f"Zero cells in the primary analyses: {text}."]
    return [f"Zero cells ({_join(outs)}): {text}." for text, outs in groups.items()]


SENSITIVITY_NAMES = {
    "leave_one_out": "leave-one-out analysis",
    "influence": "influence diagnostics (studentized residuals, DFFITS, Cook's distances, hat values; Viechtbauer and Cheung 2010)",
    "cumulative": "cumulative meta-analysis",
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
SUBGROUP_TESTS = {
    "RE": "Cochran's Q over the random-effects subgroup estimates and their standard errors "
    "(each subgroup with its own tau²; df = number of subgroups - 1; Cochrane Handbook "
    "10.11.3.1, as RevMan computes it)",
    "FE": "the fixed-effect Q-between (metafor's QM of a fixed-effect meta-regression on the "
    "subgroup indicators)",
    "MH": "Cochran's Q over the Mantel-Haenszel subgroup estimates (inverse-variance weights, as "
    "RevMan computes it)",
    "PETO": "Cochran's Q over the Peto subgroup estimates (inverse-variance weights, as RevMan "
    "computes it)",
}


def _analysis_plan_sentences(protocol: dict, rob_recorded: bool | None) -> list[Any]:
    """The subgroup, sensitivity, small-study and risk-of-bias plans, in words."""
    out: list[Any] = []
    subgroups = protocol.get("subgroups") or []
    if subgroups:
        out.append(
            "Subgroup analyses ("
            + "; ".join(f"{g.get('label') or g['column']}, {_tag(g, protocol)}" for g in subgroups)
            + ") pooled each subgroup with the outcome's model; a subgroup with a single study "
            "is shown with that study's estimate and without heterogeneity statistics."
        )
        families = []
        for o in protocol["outcomes"]:
            if analysis_plan(protocol, o["id"])["subgroups"]:
                fam = family(outcome_settings(protocol, o["id"])["method"])
                if fam not in families:
                    families.append(fam)
        if families:
            names = {"RE": "random-effects", "FE": "fixed-effect", "MH": "Mantel-Haenszel"}
            names["PETO"] = "Peto"
            if len(families) == 1:
                primary = SUBGROUP_TESTS[families[0]]
            else:
                primary = "; ".join(
                    f"for {names[f]} models, {SUBGROUP_TESTS[f]}" for f in sorted(families)
                )
            out.append(
                "The test for subgroup differences printed in the subgroup forest plots, and "
                f"taken as the primary one, is {primary}"
                + (
                    "; the fixed-effect Q-between (metafor's QM) is shown beside it in the tables."
                    if "RE" in families
                    else "."
                )
            )
    sens = protocol.get("sensitivity") or []
    if sens:
        items = []
        for a in sens:
            what = escape(SENSITIVITY_NAMES.get(a["kind"], a["kind"]))
            if a["kind"] == "cumulative":
                what = escape(
                    "cumulative meta-analysis ordered by "
                    + ", ".join(a.get("order_by") or ["year"])
                )
            if a["kind"] == "exclude":
                if a.get("label"):
                    what += Markup(" “") + escape(a["label"]) + Markup("”")
                else:
                    what += Markup(" (<code>") + escape(a["filter"]) + Markup("</code>)")
            if a["kind"] == "methods" and a.get("methods"):
                what += escape(f" ({', '.join(a['methods'])})")
            items.append(what + escape(f", {_tag(a, protocol)}"))
        out.append(Markup("Sensitivity analyses: ") + Markup("; ").join(items) + Markup("."))
    for plan in protocol.get("small_study") or []:
        tests = [SMALL_STUDY_NAMES.get(t, t) for t in plan["tests"]]
        out.append(
            "Small-study effects were examined with funnel plots, "
            + ", ".join(tests)
            + f" ({_tag(plan, protocol)}); following the Cochrane Handbook (section 13.3.5.4), tests "
            f"with fewer than {plan.get('min_k', 10)} studies are reported as underpowered."
        )
    rob = protocol.get("risk_of_bias")
    if rob:
        from .rob import load_tool

        name = load_tool(rob.get("tool", "rob2")).name
        if rob_recorded is False:
            out.append(
                f"Risk of bias is to be assessed with {name} (planned in the protocol); no "
                "judgements are recorded yet, so the forest plots have no risk-of-bias columns "
                "and no analysis by risk of bias was done."
            )
        else:
            out.append(f"Risk of bias was assessed with {name}.")
    return out


# --------------------------------------------------------------------------- table cells


def main_table(fit: dict) -> dict[str, Any]:
    """The per-outcome table of a pooled fit: columns, one row, notes."""
    measure, model, k = fit.get("measure"), fit.get("model"), int(fit.get("k") or 0)
    back = fit.get("back") or {}
    notes = []
    if model == "RE" and k >= MIN_K_PI and back.get("pi_lb") is not None:
        pi = f"{num(back['pi_lb'])} to {num(back['pi_ub'])}"
    elif model == "RE":
        pi = DASH
        notes.append(f"Prediction interval: not shown for fewer than {MIN_K_PI} studies (k = {k}).")
    else:
        pi = DASH
        notes.append("Prediction interval: none for a fixed-effect model.")
    tau2 = tau2_text(fit, 4)
    if tau2 != DASH and fit.get("tau2_ci_lb") is not None:
        tau2 += f" [{num(fit['tau2_ci_lb'], 4)}, {num(fit['tau2_ci_ub'], 4)}]"
    i2 = i2_text(fit, 1)
    if i2 != DASH and fit.get("i2_ci_lb") is not None:
        i2 += f" [{num(fit['i2_ci_lb'], 1)}, {num(fit['i2_ci_ub'], 1)}]"
    n_q = q_studies(fit)
    has_q = fit.get("q") is not None and (fit.get("q_df") or 0) >= 1
    q = f"{num(fit['q'])} ({fit['q_df']}), {pval(fit.get('q_pval'))}" if has_q else DASH
    if n_q is not None and n_q != k:
        notes.append(
            f"Q, I² and H² on {n_q} of {k} studies (those with an estimable study-level "
            f"{EFFECT_NAMES.get(measure, 'effect size')}); the pooled estimate uses all {k}."
        )
    return {
        "columns": [
            "k",
            f"Pooled {measure} [95% CI]",
            "Prediction interval",
            "t" if fit.get("test") == "knha" else "z",
            "p",
            "tau² [95% CI]",
            "I² [95% CI]",
            "H²",
            "Q (df), p",
        ],
        "row": [
            str(k),
            est_ci(back),
            pi,
            num(fit.get("stat")),
            pval(fit.get("pval")),
            tau2,
            i2,
            num(fit.get("h2")) if has_q else DASH,
            q,
        ],
        "notes": notes,
    }


# --------------------------------------------------------------------------- analyses


_NUMERIC = re.compile(r"^(?:[−\-<>]?\d|–$)")


def is_numeric_cell(value: Any) -> bool:
    """A table cell to right-align: a number, an estimate with its CI, a p-value or '–'."""
    return isinstance(value, int | float) or bool(_NUMERIC.match(str(value)))


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _analysis_sections(review_dir: Path, outcome: str) -> list[dict[str, Any]]:
    """The outcome's subgroup, sensitivity and small-study analyses, as the stages wrote
    them: each index lists analyses with their tables (:mod:`metareview.presentation`)
    and the paths of the figures drawn (relative to the review folder)."""
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
            svgs = [
                {
                    "svg": _inline_svg((review_dir / f["path"]).read_text("utf-8")),
                    "caption": f.get("caption", ""),
                }
                for f in analysis.get("figures") or []
            ]
            sections.append({**analysis, "svgs": svgs})
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


def rob_recorded(review_dir: Path) -> bool | None:
    """Whether ``rob/assessments.json`` holds any judgement (None: no such file)."""
    path = Path(review_dir) / "rob" / "assessments.json"
    if not path.is_file():
        return None
    studies = _read_json(path).get("studies") or []
    return any(v for s in studies for v in (s.get("judgements") or {}).values())


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


def _forest_absent(fit: dict) -> str:
    """Why an outcome has no forest plot ('' when it has one: any study to show)."""
    if fit.get("studies"):
        return ""
    return "No forest plot: no study has data for this outcome (k = 0)."


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
                "svg": None
                if no_forest
                else _inline_svg((review_dir / "forest" / f"{oid}.svg").read_text("utf-8")),
                "no_forest": no_forest,
                "audit": rows,
                "settings": settings,
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
    env.tests["numeric"] = is_numeric_cell
    html = env.get_template(Path(template_path).name).render(
        protocol=protocol,
        registered=is_registered(protocol),
        prespecified=prespecified_tag(protocol),
        methods=methods_paragraph(protocol, rob_recorded=rob_recorded(review_dir)),
        outcomes=outcomes,
        validation=validation,
        audit=audit,
        deviations=deviations(protocol),
        rob=_review_section(review_dir, "rob"),
        screening=_review_section(review_dir, "screening"),
    )
    atomic_write_text(out_html, printable(html))  # no control character in the page
    return []


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
