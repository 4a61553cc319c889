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
from .formatting import est_ci, num, pct, pval
from .io import atomic_write_text, write_json
from .protocol import analysis_plan, load_protocol, outcome_settings

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
#: the study-level effect a fit's Q and I² are computed from
EFFECT_NAMES = {"OR": "log odds ratio", "RR": "log risk ratio", "RD": "risk difference"}
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
TWO_ARM_MEASURES = ("OR", "RR", "RD")
ZERO_RULES = {  # the studies whose cells ``to`` selects for the correction
    "only0": "studies with a zero cell",
    "all": "every study",
    "if0all": "every study when any study has a zero cell",
}
#: fewest studies for which a prediction interval is shown (tau² from 2 studies is too
#: unstable for one; the JSON results keep it)
MIN_K_PI = 3
DASH = "–"

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
#: the test for subgroup differences the subgroup forest plot prints
#: (``plots.forest._subgroup_test_text``), per model family: short name, description
SUBGROUP_TEST_NAMES = {
    "RE": "random-effects Q over the subgroup estimates",
    "FE": "fixed-effect Q-between",
    "MH": "Q over the Mantel-Haenszel subgroup estimates",
    "PETO": "Q over the Peto subgroup estimates",
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


def _family(method: str) -> str:
    return method if method in FIXED_METHODS else "RE"


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
                fam = _family(outcome_settings(protocol, o["id"])["method"])
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


def _pooled(fit: dict | None) -> bool:
    return bool(fit) and fit.get("pooled", True) and fit.get("estimate") is not None


def _q_studies(fit: dict) -> int | None:
    """The studies that enter Cochran's Q and I² (q_df + 1)."""
    q_df = fit.get("q_df")
    return None if q_df is None else int(q_df) + 1


def tau2_text(fit: dict, digits: int = 3, model: str | None = None) -> str:
    """tau² of a random-effects fit of two or more studies; '–' where not applicable (fixed
    effect, Mantel-Haenszel, Peto, a single study)."""
    model = fit.get("model") or model
    if model != "RE" or (fit.get("k") or 0) < 2 or fit.get("tau2") is None:
        return DASH
    return num(fit["tau2"], digits)


def i2_text(fit: dict, digits: int = 0) -> str:
    """I² when Q has at least one degree of freedom; '–' otherwise (a single study)."""
    if fit.get("i2") is None or (fit.get("q_df") or 0) < 1:
        return DASH
    return pct(fit["i2"]) if digits == 0 else f"{num(fit['i2'], digits)}%"


def _q_note(measure: str, fixed_methods: bool) -> str:
    effect = EFFECT_NAMES.get(measure, "effect size")
    return (
        "Q, I² on: the studies that enter Cochran's Q and I², those with an estimable "
        f"study-level {effect} under the row's zero-cell rule"
        + (
            "; the Mantel-Haenszel and Peto estimates pool all k 2×2 tables."
            if fixed_methods
            else "."
        )
    )


FIT_COLUMNS = ["Analysis", "k", "Estimate [95% CI]", "p", "tau²", "I²"]
NA_NOTE = "–: not applicable (tau² only for random-effects models of two or more studies; I² needs two or more studies in Q)."


def fit_table(
    rows: list[tuple[str, dict | None, str]], measure: str, model: str | None = None
) -> dict[str, Any]:
    """A table of fits, one row per ``(label, fit or None, reason it was not computed)``.

    A column "Q, I² on" is added when the studies in Q differ from k for some row (Mantel-
    Haenszel and Peto fits pool tables whose study-level effect is not estimable).
    """
    body: list[list[str]] = []
    in_q: list[int | None] = []
    differing_models = set()
    for label, fit, error in rows:
        if not _pooled(fit):
            why = error or "; ".join((fit or {}).get("warnings") or [])
            body.append(
                [label, DASH, f"not computed: {why}" if why else "not computed"] + [DASH] * 3
            )
            in_q.append(None)
            continue
        body.append(
            [
                label,
                str(fit["k"]),
                est_ci(fit["back"]),
                pval(fit.get("pval")),
                tau2_text(fit, 3, model),
                i2_text(fit),
            ]
        )
        n = _q_studies(fit)
        in_q.append(n)
        if n is not None and n != fit["k"]:
            differing_models.add(fit.get("model") or model)
    table: dict[str, Any] = {"caption": "", "columns": list(FIT_COLUMNS), "rows": body}
    notes = []
    if differing_models:
        table["columns"].append("Q, I² on")
        for r, n in zip(body, in_q, strict=True):
            r.append(DASH if n is None else str(n))
        notes.append(_q_note(measure, differing_models <= {"MH", "PETO"}))
    if any(r[4] == DASH or r[5] == DASH for r, n in zip(body, in_q, strict=True) if n):
        notes.append(NA_NOTE)
    table["notes"] = notes
    return table


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
    n_q = _q_studies(fit)
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


class _Context:
    """What the presentation of one outcome's analyses needs."""

    def __init__(self, review_dir: Path, protocol: dict, oid: str, fit: dict, settings: dict):
        self.review_dir = review_dir
        self.protocol = protocol
        self.outcome = oid
        self.fit = fit
        self.settings = settings
        self.measure = settings["measure"]
        self.plan = analysis_plan(protocol, oid)


def _row_labels(analysis: dict, n: int, table: int = 0) -> list[str] | None:
    """The first column of the index's table ``table`` when it has ``n`` rows."""
    tables = analysis.get("tables") or []
    if len(tables) <= table or len(tables[table].get("rows") or []) != n:
        return None
    return [str(r[0]) for r in tables[table]["rows"]]


def _subgroup_section(a: dict, data: dict, ctx: _Context) -> dict[str, Any]:
    levels = data.get("subgroups") or []
    overall = data.get("overall")
    labels = _row_labels(a, len(levels) + (1 if overall else 0))
    level_labels = data.get("level_labels") or {}  # the protocol's subgroups[].levels
    rows = []
    for g in levels:
        name = str(level_labels.get(str(g["level"]), g["level"]))
        if "not_pooled" in g:
            rows.append([name, str(g.get("k", 0)), g["not_pooled"], DASH, DASH])
        else:
            rows.append([name, str(g["k"]), est_ci(g.get("back")), i2_text(g), tau2_text(g)])
    if overall:
        label = labels[-1] if labels else "All studies"
        rows.append(
            [label, str(overall["k"]), est_ci(overall.get("back")), i2_text(overall)]
            + [tau2_text(overall)]
        )
    model = str((overall or {}).get("model") or ctx.settings["method"]).upper()
    fe, re_ = data.get("test_between_fe"), data.get("test_between_re")
    primary = re_ if (model not in FIXED_METHODS and re_) else fe
    tests = []
    if fe:
        name = {
            "MH": "Q over the Mantel-Haenszel subgroup estimates",
            "PETO": "Q over the Peto subgroup estimates",
        }.get(model, "Fixed-effect Q-between (metafor's QM)")
        tests.append((name, fe))
    if re_:
        tests.append(("Random-effects Q over the subgroup estimates, each with its own tau²", re_))
    test_rows = [
        [name + (" (primary)" if t is primary else ""), num(t["q"]), str(t["df"]), pval(t["pval"])]
        for name, t in tests
    ]
    single = [g for g in levels if g.get("k") == 1]
    notes = list(a.get("notes") or [])
    table_notes = []
    if single:
        table_notes.append(
            "–: not applicable; a subgroup with one study has no heterogeneity statistics."
        )
    if model in FIXED_METHODS:
        table_notes.append("tau²: not estimated by a fixed-effect model.")
    primary_name = SUBGROUP_TEST_NAMES[_family(model)]
    item = next((g for g in ctx.protocol.get("subgroups") or [] if g["id"] == a.get("id")), {})
    label = item.get("label") or item.get("column") or data.get("subgroup", "")
    figures = [
        {
            **f,
            "caption": f"Subgroup forest plot by {label}: the pooled {ctx.measure} per "
            f"subgroup and overall; under the axis, the {primary_name} (the primary test for "
            "subgroup differences).",
        }
        for f in a.get("figures") or []
    ]
    return {
        "notes": notes,
        "tables": [
            {
                "caption": f"Pooled {ctx.measure} per subgroup",
                "columns": ["Subgroup", "k", f"{ctx.measure} [95% CI]", "I²", "tau²"],
                "rows": rows,
                "notes": table_notes,
            },
            {
                "caption": "Test for subgroup differences",
                "columns": ["Test", "Q", "df", "p"],
                "rows": test_rows,
                "notes": ["Primary: the test printed in the subgroup forest plot (see Methods)."],
            },
        ],
        "figures": figures,
    }


def _variants_section(a: dict, data: dict, ctx: _Context) -> dict[str, Any]:
    rows = [(v["analysis"], v.get("fit"), v.get("error") or "") for v in data["variants"]]
    return {"tables": [fit_table(rows, ctx.measure)]}


def _exclusion_section(a: dict, data: dict, ctx: _Context) -> dict[str, Any]:
    labels = _row_labels(a, 2) or ["All studies", a.get("title", "")]
    rows = [
        (labels[0], ctx.fit, ""),  # all studies: the outcome's primary analysis
        (labels[1], data.get("fit"), data.get("error") or ""),
    ]
    return {"tables": [fit_table(rows, ctx.measure)]}


def _case_section(key: str):
    """Leave-one-out (``studies``) and cumulative (``steps``) tables: one refit per row."""

    def build(a: dict, data: dict, ctx: _Context) -> dict[str, Any]:
        entries = data[key]
        labels = _row_labels(a, len(entries)) or [e["study"] for e in entries]
        rows = [(lab, e, "") for lab, e in zip(labels, entries, strict=True)]
        return {"tables": [fit_table(rows, ctx.measure, data.get("model"))]}

    return build


def _chi2_1_median_quantile(p: float) -> float:
    """x with pchisq(x, 1) = p (chi-square with 1 df: the square of a normal quantile)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf((1 + p) / 2) ** 2


INFLUENCE_COLUMNS = [
    "Study",
    "rstudent",
    "DFFITS",
    "Cook's D",
    "cov.r",
    "tau² del.",
    "hat",
    "weight %",
    "DFBETAS",
    "Influential",
]


def _influence_section(a: dict, data: dict, ctx: _Context) -> dict[str, Any]:
    """metafor's influence(): a study is influential when |DFFITS| > 3 sqrt(p/(k-p)),
    pchisq(Cook's D, p) > 0.5, hat > 3p/k or |DFBETAS| > 1 (p = 1: the pooled effect);
    the thresholds are those :func:`metareview.sensitivity.influence` used."""
    inf = data["influence"]
    crit = inf.get("criteria") or {}
    k = int(inf["k"])
    entries = inf["studies"]
    labels = _row_labels(a, len(entries)) or [e["study"] for e in entries]
    cook_cut = _chi2_1_median_quantile(crit.get("cook_d_pchisq", 0.5))

    def why(e: dict) -> str:
        hits = []
        if e.get("dffits") is not None and abs(e["dffits"]) > crit.get("dffits", float("inf")):
            hits.append("DFFITS")
        if e.get("cook_d") is not None and e["cook_d"] > cook_cut:
            hits.append("Cook's D")
        if e.get("hat") is not None and e["hat"] > crit.get("hat", float("inf")):
            hits.append("hat")
        if e.get("dfbs") is not None and abs(e["dfbs"]) > crit.get("dfbs", float("inf")):
            hits.append("DFBETAS")
        return "yes" + (f" ({', '.join(hits)})" if hits else "")

    rows = [
        [
            lab,
            num(e.get("rstudent")),
            num(e.get("dffits")),
            num(e.get("cook_d")),
            num(e.get("cov_r")),
            num(e.get("tau2_del"), 3) if inf.get("model") == "RE" else DASH,
            num(e.get("hat")),
            num(e.get("weight"), 1),
            num(e.get("dfbs")),
            why(e) if e.get("inf") else "",
        ]
        for lab, e in zip(labels, entries, strict=True)
    ]
    note = (
        "Influential: flagged as metafor's influence() does (Viechtbauer and Cheung 2010) when at "
        f"least one criterion holds, with p = 1 coefficient and k = {k} studies: "
        f"|DFFITS| > 3·√(p/(k − p)) = {num(crit.get('dffits'))}; Cook's D > {num(cook_cut)} "
        f"(pchisq(D, p) > {crit.get('cook_d_pchisq', 0.5):g}, the median of χ² with 1 df); "
        f"hat > 3p/k = {num(crit.get('hat'))}; |DFBETAS| > {crit.get('dfbs', 1.0):g}."
    )
    return {
        "tables": [
            {
                "caption": "Case-deletion diagnostics (Viechtbauer and Cheung 2010)",
                "columns": INFLUENCE_COLUMNS,
                "rows": rows,
                "notes": [note],
            }
        ]
    }


def _funnel_caption(funnel: dict, trimfill: dict | None) -> str:
    level = funnel.get("level") or 95
    text = (
        "Funnel plot: each study's effect against its standard error, with the pseudo "
        f"{float(level):g}% confidence region around the pooled estimate (solid line)."
    )
    if trimfill is not None:
        k0 = int(trimfill.get("k0") or 0)
        how = f"estimator {trimfill.get('estimator')}, {trimfill.get('side')} side"
        if k0 > 0:
            what = "Open circle: the study" if k0 == 1 else f"Open circles: the {k0} studies"
            text += f" {what} imputed by trim and fill ({how}); dashed line: the adjusted estimate."
        else:
            text += f" Trim and fill ({how}) imputed no studies, so none is drawn."
    return text


def _p_text(p: float) -> str:
    return f"{p:.2f}" if round(p, 2) == p else f"{p:g}"


def _contour_caption(funnel: dict) -> str:
    ps = [_p_text(float(c["p"])) for c in funnel.get("contours") or [] if c.get("p") is not None]
    return (
        "Contour-enhanced funnel plot (Peters 2008): shading marks where a study's two-sided "
        "p-value against no effect would fall" + (f" below {_join(ps)}" if ps else "") + "."
    )


def _small_study_section(a: dict, data: dict, ctx: _Context) -> dict[str, Any]:
    """Notes and figures of a small-study analysis from ``bias/<outcome>.json``: each
    test's warnings in its Note, and only the funnel plots that were drawn."""
    from .analyses import SMALL_STUDY_TESTS

    result = data.get("result") or {}
    key_of = {label: key for key, label in SMALL_STUDY_TESTS.values()}
    tables = []
    for t in a.get("tables") or []:
        t = {**t, "rows": [list(r) for r in t.get("rows") or []]}
        if "Note" in t.get("columns", []):
            col = t["columns"].index("Note")
            for r in t["rows"]:
                warns = (result.get(key_of.get(r[0], "")) or {}).get("warnings") or []
                r[col] = "; ".join([x for x in [r[col], *warns] if x])
        tables.append(t)
    notes = list(a.get("notes") or [])
    trimfill = result.get("trimfill") if isinstance(result.get("trimfill"), dict) else None
    if trimfill and "error" not in trimfill:
        notes += [f"Trim and fill: {w}" for w in trimfill.get("warnings") or []]
    funnel = result.get("funnel")
    drawn = isinstance(funnel, dict) and "error" not in funnel
    figures = []
    if drawn:
        tf_drawn = (
            trimfill
            if trimfill
            and "error" not in trimfill
            and any("trimfill" in i["tests"] for i in ctx.plan["small_study"])
            else None
        )
        paths = {
            f"funnel/{ctx.outcome}.svg": _funnel_caption(funnel, tf_drawn),
            f"funnel/{ctx.outcome}-contour.svg": _contour_caption(funnel),
        }
        figures = [
            {**f, "caption": paths.get(f["path"], f.get("caption", ""))} for f in a["figures"]
        ]
    elif a.get("figures"):
        why = (funnel if isinstance(funnel, dict) else result).get("error", "not enough studies")
        if "error" in result:
            notes = [n for n in notes if result["error"] not in n]
            notes.insert(0, f"Not computed, and no funnel plot drawn: {why}.")
        else:
            notes.append(f"No funnel plot drawn: {why}.")
    return {"tables": tables, "notes": notes, "figures": figures}


SECTION_BUILDERS = {
    "subgroup": _subgroup_section,
    "methods": _variants_section,
    "zero_cells": _variants_section,
    "exclude": _exclusion_section,
    "leave_one_out": _case_section("studies"),
    "cumulative": _case_section("steps"),
    "influence": _influence_section,
    "small_study": _small_study_section,
}


def heading(title: str) -> str:
    """Sentence case after a 'Kind: ' prefix ('Sensitivity: leave-one-out' ->
    'Sensitivity: Leave-one-out'); a first word with capitals ('mRS') is kept."""
    if ": " not in title:
        return title
    head, rest = title.split(": ", 1)
    first = rest.split(" ", 1)[0]
    if first and first == first.lower() and first[0].isalpha():
        rest = rest[0].upper() + rest[1:]
    return f"{head}: {rest}"


_NUMERIC = re.compile(r"^(?:[−\-<>]?\d|–$)")


def is_numeric_cell(value: Any) -> bool:
    """A table cell to right-align: a number, an estimate with its CI, a p-value or '–'."""
    return isinstance(value, int | float) or bool(_NUMERIC.match(str(value)))


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _result_data(analysis: dict, review_dir: Path, index_dir: Path) -> Any:
    """The analysis' result file (``result`` in the index: relative to the review folder,
    or for subgroup indexes to the index's own folder), None when it has none."""
    rel = analysis.get("result")
    if not rel:
        return None
    for base in (review_dir, index_dir):
        if (base / rel).is_file():
            return _read_json(base / rel)
    return None


def _analysis_sections(review_dir: Path, ctx: _Context) -> list[dict[str, Any]]:
    """The outcome's subgroup, sensitivity and small-study analyses, as the stages wrote
    them (each index lists analyses with tables and figure paths relative to the review
    folder), with what the tables must show read from each analysis' result file."""
    outcome = ctx.outcome
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
            section = {**analysis, "title": heading(analysis.get("title", ""))}
            data = _result_data(analysis, review_dir, path.parent)
            build = SECTION_BUILDERS.get(analysis.get("kind"))
            if build is not None and data is not None:
                section.update(build(section, data, ctx))
            section["svgs"] = [
                {
                    "svg": _inline_svg((review_dir / f["path"]).read_text("utf-8")),
                    "caption": f.get("caption", ""),
                }
                for f in section.get("figures") or []
            ]
            sections.append(section)
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
                "main": main_table(fit) if _pooled(fit) else None,
                "summary": {"tau2": tau2_text(fit), "i2": i2_text(fit)},
                "svg": None
                if no_forest
                else _inline_svg((review_dir / "forest" / f"{oid}.svg").read_text("utf-8")),
                "no_forest": no_forest,
                "audit": rows,
                "settings": settings,
                "analyses": _analysis_sections(
                    review_dir, _Context(review_dir, protocol, oid, fit, settings)
                ),
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
    atomic_write_text(out_html, html)
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
