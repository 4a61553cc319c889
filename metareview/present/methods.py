"""The methods paragraph of a review's report, written from its protocol: which measure,
model, estimator and test each outcome uses, the zero-cell handling, the prediction
interval, the planned subgroup, sensitivity and small-study analyses, risk of bias."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from metareview.engine import measures as registry
from metareview.inputs.conventions import preset
from metareview.inputs.protocol import (
    analysis_plan,
    is_registered,
    outcome_kind,
    outcome_settings,
)
from metareview.present.tables import FIXED_METHODS, MIN_K_PI, effect_name, family

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
    "GLMM": (
        "a random-effects logistic regression model (a generalised linear mixed model, as "
        "metafor's rma.glmm: binomial likelihood within series, normally distributed random "
        "intercepts on the logit scale, fitted by maximum likelihood with 7-point adaptive "
        "Gauss-Hermite quadrature)"
    ),
}
#: the GLMM for 2x2 tables (measure OR): metafor's rma.glmm(model = "UM.FS")
GLMM_OR_NAME = (
    "a random-effects logistic regression model for the 2×2 tables (a generalised linear "
    "mixed model, as metafor's rma.glmm with model UM.FS: binomial likelihood within each "
    "arm, a fixed intercept per study and a normally distributed random treatment effect "
    "on the log odds scale, fitted by maximum likelihood with 7-point adaptive "
    "Gauss-Hermite quadrature)"
)


def _method_name(s: dict) -> str:
    """How the methods paragraph names one outcome's pooling method."""
    if s["method"] == "GLMM" and s["measure"] == "OR":
        return GLMM_OR_NAME
    return METHOD_NAMES.get(s["method"], s["method"])


ZERO_RULES = {  # the studies whose cells ``to`` selects for the correction
    "only0": "studies with a zero cell",
    "all": "every study",
    "if0all": "every study when any study has a zero cell",
}

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


def _plural(measure: str) -> str:
    known = registry.find(measure)
    return known.plural if known else measure


def _join(items: list[str], word: str = "and") -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {word} " + items[-1]


# --------------------------------------------------------------------------- methods


def methods_paragraph(
    protocol: dict,
    *,
    rob_recorded: bool | None = None,
    grouped: bool = False,
    derivations: dict[str, list[dict[str, str]]] | None = None,
) -> Markup:
    """The statistical methods, in words, from every outcome's effective settings.

    ``rob_recorded``: whether any risk-of-bias judgement is recorded (None: not known, the
    tool is then said to have been used); ``grouped``: whether some study reported its
    patients in groups (extraction.csv's ``group``) that were combined. ``derivations``: per
    continuous or generic outcome, its studies' ``derivation`` and ``adjusted`` cells (how
    SDs and SEs were obtained, which estimates are adjusted). Returns HTML (protocol texts
    escaped).
    """
    topics = methods_topics(
        protocol, rob_recorded=rob_recorded, grouped=grouped, derivations=derivations
    )
    return Markup(" ").join(text for _, text in topics)


def methods_topics(
    protocol: dict,
    *,
    rob_recorded: bool | None = None,
    grouped: bool = False,
    derivations: dict[str, list[dict[str, str]]] | None = None,
) -> list[tuple[str, Markup]]:
    """The methods paragraph as short paragraphs by topic: (heading, HTML) in the order
    of :func:`methods_paragraph` (protocol, effect measures and model, heterogeneity, zero
    cells, additional analyses, software)."""
    ids = [o["id"] for o in protocol["outcomes"]]
    settings = [outcome_settings(protocol, o) for o in ids]
    measures = sorted({s["measure"] for s in settings})
    methods = sorted({s["method"] for s in settings})
    levels = sorted({s["level"] for s in settings})
    tests = sorted({s["test"] for s in settings if s["method"] not in ("MH", "PETO")})
    parts: list[str] = []
    topics: list[tuple[str, int]] = [("Protocol and registration", 0)]
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
    sentence = conventions_sentence(protocol)
    if sentence:
        parts.append(sentence)
    topics.append(("Effect measures and model", len(parts)))
    parts.append(
        f"Effects were expressed as {_join([_plural(m) for m in measures])} with "
        + _join([f"{lv:g}%" for lv in levels], "or")
        + " confidence intervals and pooled with "
        + _join(sorted({_method_name(s) for s in settings}), "or")
        + "."
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
    topics.append(("Heterogeneity", len(parts)))
    if "GLMM" in methods:
        glmm_measures = {s["measure"] for s in settings if s["method"] == "GLMM"}
        if glmm_measures - {"OR"}:
            parts += _glmm_sentences()
        if "OR" in glmm_measures:
            parts.append(GLMM_OR_SENTENCE)
    if any(m not in FIXED_METHODS + ("GLMM",) for m in methods):
        parts.append(
            "Heterogeneity was quantified with Cochran's Q, I² and tau², with Q-profile confidence intervals for tau² and I²."
        )
    if any(m not in FIXED_METHODS for m in methods):
        parts.append(_prediction_interval_sentence(settings))
    else:
        parts.append("Heterogeneity was quantified with Cochran's Q and I².")
    topics.append(("Continuous and generic inverse-variance data", len(parts)))
    parts += _data_sentences(protocol, ids, settings, derivations or {})
    topics.append(("Studies with zero events", len(parts)))
    binary = [i for i, o in enumerate(ids) if outcome_kind(protocol, o) in BINARY_KINDS]
    if binary:
        parts += _zero_cell_sentences(
            protocol, [ids[i] for i in binary], [settings[i] for i in binary]
        )
    if grouped:
        parts.append(GROUPS_SENTENCE)
    topics.append(("Additional analyses and risk of bias", len(parts)))
    parts += _analysis_plan_sentences(protocol, rob_recorded)
    topics.append(("Software", len(parts)))
    parts.append(
        "Analyses were run with the metareview pipeline, whose engine reproduces R metafor's results "
        "(tolerance 1e-6) on the reference datasets in its test suite."
    )
    bounds = [start for _, start in topics] + [len(parts)]
    out = []
    for (title, start), end in zip(topics, bounds[1:], strict=True):
        chunk = parts[start:end]
        if chunk:
            text = " ".join(str(escape(p)) if not isinstance(p, Markup) else p for p in chunk)
            out.append((title, Markup(text)))
    return out


GROUPS_SENTENCE = (
    "Where a study reported its patients in separate groups (patient group, technique or "
    "territory), the groups' counts were summed so that each study is one unit of the "
    "pooled analyses; a subgroup analysis by group used each study x group as a unit."
)


GLMM_OR_SENTENCE = (
    "For the random-effects logistic model of the 2×2 tables, the standard error of the "
    "pooled log odds ratio comes from the joint Hessian of tau and the fixed effects; "
    "heterogeneity was tested with the Wald-type and likelihood-ratio tests of the "
    "saturated model (one odds ratio per study) against the fixed-effects logistic model, "
    "and I² = tau²/(tau² + v), v being metafor's typical within-study variance of the log "
    "odds ratios (1/2 added to the cells of tables with a zero cell); no confidence "
    "interval is given for tau² or I², and the model assigns no study weights."
)


def _glmm_sentences() -> list[str]:
    """How a GLMM's test, heterogeneity and study intervals are defined (metafor's
    ``rma.glmm`` conventions, :mod:`metareview.engine.glmm`)."""
    return [
        "For the random-effects logistic model, the standard error of the pooled logit "
        "comes from the joint Hessian of (tau, beta); heterogeneity was tested with the "
        "Wald-type and likelihood-ratio tests against the saturated logistic model (one "
        "parameter per series), and I² = tau²/(tau² + v), v being metafor's typical "
        "within-study variance of the logit proportions (1/2 added to series with 0 or n "
        "events); no confidence interval is given for tau² or I², and the model assigns no "
        "study weights. Study intervals in its forest plots are exact (Clopper-Pearson) "
        "binomial intervals."
    ]


def conventions_sentence(protocol: dict) -> str:
    """The method convention the protocol names (``conventions:``), or "" for none."""
    name = protocol.get("conventions")
    if not name:
        return ""
    p = preset(name)
    return (
        f"Unless the protocol states otherwise, the analyses followed {p['label']} "
        f"(conventions: {name}; {p['source']})."
    )


def _prediction_interval_sentence(settings: list[dict]) -> str:
    """metafor's prediction interval (``predict.rma``; :mod:`metareview.engine.models`):
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
    (:func:`metareview.engine.effects.escalc_two_arm`: ``add`` goes to every cell of the studies
    ``to`` selects; ``drop00`` sets studies with no events, or only events, in both arms
    to missing)."""
    measure, add, to, drop00 = s["measure"], float(s["add"]), s["to"], bool(s["drop00"])
    two_arm = registry.is_two_arm(measure)
    if add <= 0 or to == "none":
        if measure in ("OR", "RR"):
            return (
                "no continuity correction was added, so studies with a zero cell have no "
                f"estimable {effect_name(measure)} and were left out"
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
        default = " (metafor's default)" if drop00 == registry.default_drop00(s["method"]) else ""
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
    effect = effect_name(s["measure"])
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
    if s["method"] == "GLMM" and s["measure"] == "OR":
        return (
            "the random-effects logistic model uses the 2×2 counts as they are, zero cells "
            "included, without a continuity correction; studies with no events in either arm "
            "(or only events in both) were left out (drop00, as metafor's rma.glmm); 1/2 "
            "enters only the study log odds ratios shown and the typical within-study "
            "variance of I²"
        )
    if s["method"] == "GLMM":
        return (
            "the random-effects logistic model uses the binomial counts as they are, 0 or n "
            "events included, without a continuity correction (1/2 enters only the "
            "typical within-study variance of I²)"
        )
    return _zero_cell_rule(s)


BINARY_KINDS = (registry.TWO_ARM_BINARY, registry.SINGLE_ARM_BINARY)


def _data_sentences(
    protocol: dict, ids: list[str], settings: list[dict], provenance: dict
) -> list[str]:
    """What continuous and generic inverse-variance outcomes were computed from: the
    measure, SDs derived from SEs or CIs (Cochrane Handbook 6.5.2.3), estimates given with
    their CIs, and which are adjusted."""
    labels = {o["id"]: o.get("label") or o["id"] for o in protocol["outcomes"]}
    out = []
    for oid, s in zip(ids, settings, strict=True):
        kind = outcome_kind(protocol, oid)
        if kind in BINARY_KINDS:
            continue
        m = registry.get(s["measure"])
        rows = provenance.get(oid, [])
        derived = [r["study"] for r in rows if r.get("derivation")]
        if kind == registry.GENERIC:
            log = " (log-transformed for pooling)" if m.scale == "log" else ""
            text = (
                f"{labels[oid]}: each study's {m.label.lower()} as reported{log} was pooled by "
                "the generic inverse-variance method"
            )
            if derived:
                ratio = " of the log ratio" if m.scale == "log" else ""
                text += (
                    f"; standard errors{ratio} were derived from the confidence interval as "
                    f"(upper - lower) / (2 z) for {_join(derived)}"
                )
            adjusted = [r["study"] for r in rows if r.get("adjusted") == "yes"]
            unadjusted = [r["study"] for r in rows if r.get("adjusted") == "no"]
            unstated = [r["study"] for r in rows if r.get("adjusted") not in ("yes", "no")]
            marks = []
            if adjusted:
                marks.append(f"adjusted estimates: {_join(adjusted)}")
            if unadjusted:
                marks.append(f"unadjusted: {_join(unadjusted)}")
            if unstated:
                marks.append(f"adjustment not stated: {_join(unstated)}")
            out.append(text + (f" ({'; '.join(marks)})." if marks else "."))
        else:
            what = {
                "SMD": "Hedges' g (the standardised mean difference with metafor's exact "
                "small-sample correction and its large-sample variance)",
                "ROM": "the log ratio of means",
            }.get(m.code, m.effect)
            text = f"{labels[oid]}: {what} from each arm's mean, standard deviation and size"
            if derived:
                text += (
                    "; standard deviations not reported were derived from the standard error "
                    "(SD = SE x sqrt(n)) or the confidence interval of the mean (SD = sqrt(n) "
                    "x width / (2 q), q the t quantile below 60 patients per arm, else the "
                    f"normal one; Cochrane Handbook 6.5.2.3) for {_join(derived)}"
                )
            out.append(text + ".")
    return out


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
        families, qm_shown = [], False
        for o in protocol["outcomes"]:
            if analysis_plan(protocol, o["id"])["subgroups"]:
                method = outcome_settings(protocol, o["id"])["method"]
                fam = family(method)
                qm_shown = qm_shown or (fam == "RE" and method != "GLMM")
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
                    if qm_shown
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
        from metareview.inputs.rob import load_tool

        tool = load_tool(rob.get("tool", "rob2"))
        name = tool.name
        if tool.kind == "stars":  # a star-count tool: stars per domain, a derived rating
            full = f"the {tool.full_name} ({name})" if tool.full_name else name
            if rob_recorded is False:
                out.append(
                    f"Study quality is to be rated with {full} (planned in the protocol); the "
                    "studies are not yet rated, so the forest plots have no quality columns."
                )
            else:
                levels = ", ".join(j.label.lower() for j in tool.judgements)
                rule = tool.rating_name[:1].lower() + tool.rating_name[1:]
                out.append(
                    f"Study quality was rated with {full}: stars per domain, converted to "
                    f"{tool.overall.label} ratings ({levels}) by the {rule}."
                )
        elif rob_recorded is False:
            out.append(
                f"Risk of bias is to be assessed with {name} (planned in the protocol); no "
                "judgements are recorded yet, so the forest plots have no risk-of-bias columns "
                "and no analysis by risk of bias was done."
            )
        else:
            out.append(f"Risk of bias was assessed with {name}.")
    return out
