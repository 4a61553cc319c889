"""GRADE certainty of evidence and the summary-of-findings row of one outcome.

Certainty starts high for randomised trials and low for non-randomised studies, is rated
down for five domains (risk of bias, inconsistency, indirectness, imprecision, publication
bias) and up for three (large effect, dose-response gradient, plausible confounding that
would reduce the effect) (GRADE Handbook, section 5; Guyatt et al., GRADE guidelines 1-9,
J Clin Epidemiol 2011).

Each domain's judgement comes from the protocol (``certainty:`` of the outcome) with the
reviewers' reason. Where the protocol gives none, a rule below *proposes* one from the data,
and the judgement is labelled ``proposed``: a starting point for the review team, never a
final rating. The rules and their thresholds:

* risk of bias: share of the analysis' weight in studies whose overall risk-of-bias
  judgement is in the upper half of the tool's severity scale (RoB 2: high; ROBINS-I:
  serious, critical) -- serious from :data:`ROB_SERIOUS_SHARE` (GRADE guidelines 4: rate
  down when most of the information comes from studies at high risk); "not assessed"
  when most of the weight has no judgement recorded.
* inconsistency: I² (Cochrane Handbook 10.10.2: 50 % and more may be substantial, 75 %
  and more considerable), the test of heterogeneity at p < 0.10, and a prediction interval
  that includes no effect while the confidence interval excludes it (k >= 3).
* imprecision: the risk difference's CI against the protocol's threshold (the smallest
  important difference per 1,000; default the null effect, GRADE guidelines 34-35), the
  ratio's CI against 0.75 and 1.25 (GRADE guidelines 6: appreciable benefit and harm) and
  the optimal information size (a 25 % relative risk reduction, alpha 0.05, power 0.80).
* publication bias: a small-study test at p < 0.10 where k >= 10 (Cochrane Handbook
  13.3.5.4); for odds ratios Harbord's or Peters' test in preference to Egger's.
* large effect (non-randomised studies only): a ratio of 2 or more (0.5 or less) is large,
  5 or more (0.2 or less) very large (GRADE guidelines 9).
* indirectness, dose-response and plausible confounding cannot be read from the data:
  "not assessed" (indirectness) or "none" until the protocol records a judgement.

Plain-language statements follow GRADE's informative statements (Santesso et al., GRADE
guidelines 26, J Clin Epidemiol 2020;119:126-135).

Pure functions of numbers and texts: the stage gathers the inputs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

#: rate-down domains, in GRADE's order, with their display names
DOWN = {
    "risk_of_bias": "Risk of bias",
    "inconsistency": "Inconsistency",
    "indirectness": "Indirectness",
    "imprecision": "Imprecision",
    "publication_bias": "Publication bias",
}
#: rate-up domains
UP = {
    "large_effect": "Large effect",
    "dose_response": "Dose-response gradient",
    "plausible_confounding": "Plausible confounding",
}
DOMAINS = {**DOWN, **UP}

#: each rating's change of the certainty level, per domain family
RATINGS_DOWN = {"not serious": 0, "serious": -1, "very serious": -2, "not assessed": 0}
RATINGS_PUBLICATION = {
    "undetected": 0,
    "strongly suspected": -1,
    "very strongly suspected": -2,
    "not assessed": 0,
}
RATINGS_UP = {
    "large_effect": {"none": 0, "large": 1, "very large": 2},
    "dose_response": {"none": 0, "present": 1},
    "plausible_confounding": {"none": 0, "present": 1},
}

LEVELS = {4: "High", 3: "Moderate", 2: "Low", 1: "Very low"}
SYMBOLS = {4: "⊕⊕⊕⊕", 3: "⊕⊕⊕◯", 2: "⊕⊕◯◯", 1: "⊕◯◯◯"}
START = {"rct": 4, "observational": 2}

#: the rules' thresholds (module docstring)
ROB_SERIOUS_SHARE = 0.5
ROB_UNASSESSED_SHARE = 0.5
I2_SUBSTANTIAL = 50.0
I2_CONSIDERABLE = 75.0
Q_ALPHA = 0.10
MIN_K_PI = 3
APPRECIABLE_BENEFIT = 0.75
APPRECIABLE_HARM = 1.25
OIS_RRR = 0.25
SMALL_STUDY_MIN_K = 10
SMALL_STUDY_ALPHA = 0.10
LARGE_EFFECT = 2.0
VERY_LARGE_EFFECT = 5.0


def ratings_of(domain: str) -> dict[str, int]:
    """The ratings a domain takes and the change of level each makes."""
    if domain == "publication_bias":
        return RATINGS_PUBLICATION
    if domain in RATINGS_UP:
        return RATINGS_UP[domain]
    return RATINGS_DOWN


@dataclass(frozen=True)
class Judgement:
    domain: str
    rating: str
    reason: str
    #: "protocol" (the reviewers' judgement) or "proposed" (a rule of this module)
    source: str

    @property
    def change(self) -> int:
        return ratings_of(self.domain)[self.rating]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "change": self.change, "name": DOMAINS[self.domain]}


def proposed(domain: str, rating: str, reason: str) -> Judgement:
    return Judgement(domain, rating, reason, "proposed")


def _pct(share: float) -> str:
    return f"{100 * share:.0f}%"


# ------------------------------------------------------------------------- the proposals


def propose_risk_of_bias(
    weights: dict[str, float], high: set[str], assessed: set[str]
) -> Judgement:
    """From the share of weight in high-risk studies (``high``) among the studies of the
    analysis (``weights``: study -> weight); ``assessed``: studies with an overall
    judgement."""
    total = sum(w for w in weights.values() if w and w > 0)
    if total <= 0:
        return proposed("risk_of_bias", "not assessed", "no study weights to judge from")
    share_high = sum(w for s, w in weights.items() if s in high and w) / total
    share_none = sum(w for s, w in weights.items() if s not in assessed and w) / total
    if share_none >= ROB_UNASSESSED_SHARE:
        return proposed(
            "risk_of_bias",
            "not assessed",
            f"no overall risk-of-bias judgement is recorded for studies carrying "
            f"{_pct(share_none)} of the weight; certainty may be overstated",
        )
    rating = "serious" if share_high >= ROB_SERIOUS_SHARE else "not serious"
    return proposed(
        "risk_of_bias",
        rating,
        f"{_pct(share_high)} of the weight comes from studies at high risk of bias "
        f"(rated down from {_pct(ROB_SERIOUS_SHARE)})",
    )


def _crosses(lb: float | None, ub: float | None, null: float) -> bool:
    return lb is not None and ub is not None and lb < null < ub


def propose_inconsistency(
    k: int,
    i2: float | None,
    q_pval: float | None,
    ci: tuple[float, float] | None,
    pi: tuple[float, float] | None,
    null: float,
) -> Judgement:
    """From I², the heterogeneity test and the prediction interval (on any one scale,
    with ``null`` the no-effect value there)."""
    if k < 2 or i2 is None:
        return proposed(
            "inconsistency", "not serious", "a single study: inconsistency cannot be assessed"
        )
    het = q_pval is not None and q_pval < Q_ALPHA
    pi_spans = (
        k >= MIN_K_PI
        and pi is not None
        and ci is not None
        and _crosses(*pi, null)
        and not _crosses(*ci, null)
    )
    signs = [f"I² = {i2:.0f}%"]
    if q_pval is not None:
        signs.append(f"heterogeneity p = {q_pval:.2g}")
    if pi_spans:
        signs.append("the prediction interval includes no effect while the CI does not")
    reason = ", ".join(signs)
    if i2 >= I2_CONSIDERABLE and het and pi_spans:
        return proposed("inconsistency", "very serious", reason)
    if i2 >= I2_SUBSTANTIAL and (het or pi_spans):
        return proposed("inconsistency", "serious", reason)
    return proposed("inconsistency", "not serious", reason)


def propose_imprecision(
    difference: tuple[float, float] | None,
    threshold: float,
    ratio_ci: tuple[float, float] | None,
    participants: int | None,
    ois: int | None,
) -> Judgement:
    """From the risk difference's CI per 1,000 (``difference`` = (lb, ub)) against the
    threshold (``threshold`` >= 0: differences within +-threshold are unimportant), a
    ratio's CI against appreciable benefit and harm, and the optimal information size."""
    if difference is None:
        return proposed("imprecision", "not assessed", "no confidence interval to judge from")
    lb, ub = difference
    if threshold > 0:  # important reduction | little or no difference | important increase
        zones = (lb < -threshold) + (lb <= threshold and ub >= -threshold) + (ub > threshold)
    else:  # reduction | increase
        zones = 1 + (lb < 0 < ub)
    what = (
        f"the smallest important difference ({threshold:g} per 1,000)"
        if threshold > 0
        else "no effect"
    )
    wide = (
        ratio_ci is not None
        and ratio_ci[0] < APPRECIABLE_BENEFIT
        and ratio_ci[1] > APPRECIABLE_HARM
    )
    if zones >= 3 or (zones == 2 and wide):
        why = (
            "the CI includes both important benefit and important harm"
            if zones >= 3
            else f"the CI includes no effect and both ratios {APPRECIABLE_BENEFIT:g} and "
            f"{APPRECIABLE_HARM:g} (appreciable benefit and harm)"
        )
        return proposed("imprecision", "very serious", why)
    if zones == 2:
        return proposed("imprecision", "serious", f"the CI crosses {what}")
    if ois is not None and participants is not None and participants < ois:
        return proposed(
            "imprecision",
            "serious",
            f"the CI does not cross {what}, but {participants:,} participants are fewer than "
            f"the optimal information size ({ois:,}: {OIS_RRR:.0%} relative risk "
            "reduction, alpha 0.05, power 0.80)",
        )
    tail = f" and {participants:,} participants meet the optimal information size ({ois:,})"
    return proposed(
        "imprecision",
        "not serious",
        f"the CI does not cross {what}" + (tail if ois is not None and participants else ""),
    )


#: small-study tests in order of preference for odds ratios (Cochrane Handbook 13.3.5.4)
#: and for other measures
TESTS_OR = ("harbord", "peters", "egger", "ranktest")
TESTS_OTHER = ("egger", "ranktest")
TEST_NAMES = {
    "harbord": "Harbord's test",
    "peters": "Peters' test",
    "egger": "Egger's test",
    "ranktest": "Begg's rank correlation",
}


def propose_publication_bias(measure: str, k: int, pvals: dict[str, float | None]) -> Judgement:
    """From the small-study tests the analysis stage ran (``pvals``: test -> p)."""
    if k < SMALL_STUDY_MIN_K:
        return proposed(
            "publication_bias",
            "undetected",
            f"k = {k}: too few studies (fewer than {SMALL_STUDY_MIN_K}) for a test of "
            "small-study effects; not rated down, but not excluded either",
        )
    order = TESTS_OR if measure in ("OR", "PETO") else TESTS_OTHER
    test = next((t for t in order if pvals.get(t) is not None), None)
    if test is None:
        return proposed(
            "publication_bias", "undetected", "no small-study test was run for this outcome"
        )
    p = pvals[test]
    rating = "strongly suspected" if p < SMALL_STUDY_ALPHA else "undetected"
    return proposed("publication_bias", rating, f"{TEST_NAMES[test]} p = {p:.2g} (k = {k})")


def propose_large_effect(design: str, ratio: float | None) -> Judgement:
    """Only for non-randomised studies, from the pooled ratio (OR or RR)."""
    if design == "rct":
        return proposed("large_effect", "none", "randomised trials are not rated up")
    if ratio is None or ratio <= 0:
        return proposed("large_effect", "none", "no ratio to judge from")
    size = max(ratio, 1.0 / ratio)
    if size >= VERY_LARGE_EFFECT:
        return proposed("large_effect", "very large", f"ratio {ratio:.2f}")
    if size >= LARGE_EFFECT:
        return proposed("large_effect", "large", f"ratio {ratio:.2f}")
    return proposed("large_effect", "none", f"ratio {ratio:.2f}")


def not_from_data(domain: str) -> Judgement:
    rating = "not assessed" if domain in DOWN else "none"
    return proposed(
        domain,
        rating,
        f"not judged from the data: record the reviewers' judgement as "
        f"certainty.{domain} in the protocol",
    )


# ------------------------------------------------------------------------- the certainty


def from_protocol(domain: str, given: dict) -> Judgement:
    return Judgement(domain, given["rating"], given.get("reason", ""), "protocol")


def certainty(design: str, judgements: list[Judgement]) -> dict[str, Any]:
    """The level from the start of the design and the domains' changes (1 to 4)."""
    start = START[design]
    level = start + sum(j.change for j in judgements)
    level = max(1, min(4, level))
    return {
        "design": design,
        "start": LEVELS[start],
        "level": level,
        "label": LEVELS[level],
        "symbols": SYMBOLS[level],
        "proposed": any(j.source == "proposed" for j in judgements if j.domain in DOWN or j.change),
        "not_assessed": [DOMAINS[j.domain] for j in judgements if j.rating == "not assessed"],
        "domains": [j.to_dict() for j in judgements],
    }


# ------------------------------------------------------------------------- statements


def _lower_first(text: str) -> str:
    """'Mortality at 90 days' -> 'mortality at 90 days'; 'sICH' and 'MRS' stay."""
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def statement(intervention: str, outcome: str, level: int, important: bool, reduces: bool) -> str:
    """GRADE's informative statement (Santesso 2020, table 2) for a certainty level, an
    important or unimportant effect, and its direction."""
    o = _lower_first(outcome)
    if level <= 1:
        i = _lower_first(intervention)
        return f"The evidence is very uncertain about the effect of {i} on {o}."
    verb_s, verb = ("reduces", "reduce") if reduces else ("increases", "increase")
    if important:
        text = {4: f"{verb_s} {o}", 3: f"probably {verb_s} {o}", 2: f"may {verb} {o}"}[level]
    else:
        text = {
            4: f"results in little to no difference in {o}",
            3: f"probably results in little to no difference in {o}",
            2: f"may result in little to no difference in {o}",
        }[level]
    return f"{intervention} {text}."


def proportion_statement(outcome: str, level: int) -> str:
    """The statement for a pooled proportion in one group: certainty about a rate, not the
    effect of an intervention (there is no comparator)."""
    o = _lower_first(outcome)
    words = {4: "high", 3: "moderate", 2: "low", 1: "very low"}[max(1, min(4, level))]
    return f"A rate in one group, not a comparison: {words} certainty about {o}."


def proportion_text(estimate: float, lb: float, ub: float, level: float) -> str:
    """A pooled proportion for the summary of findings, ``Rate 25.0% (15.3% to 38.1%)``."""
    ci = "" if level == 95 else f" ({level:g}% CI)"
    return f"Rate {100 * estimate:.1f}% ({100 * lb:.1f}% to {100 * ub:.1f}%){ci}"


def important_effect(
    difference: float, difference_ci: tuple[float, float], threshold: float
) -> bool:
    """An effect is important when its risk difference reaches the threshold per 1,000;
    with no threshold (0), when its CI excludes no effect."""
    if threshold > 0:
        return abs(difference) >= threshold
    lb, ub = difference_ci
    return not (lb <= 0 <= ub)


# ------------------------------------------------------------------------- formatting


def per_1000(value: float) -> str:
    """A risk per 1,000 as GRADE prints it (rounded to a whole number, thousands comma)."""
    return f"{round(value):,}"


def difference_text(value: float) -> str:
    r = round(value)
    if r == 0:
        return "0 fewer" if value < 0 else "0 more"
    return f"{abs(r):,} {'fewer' if r < 0 else 'more'}"


def absolute_text(diff: float, lb: float, ub: float, per: int = 1000) -> str:
    """'150 more per 1,000 (from 90 more to 210 more)'."""
    return (
        f"{difference_text(diff)} per {per:,} (from {difference_text(lb)} to {difference_text(ub)})"
    )


def relative_text(measure: str, estimate: float, lb: float, ub: float, level: float) -> str:
    name = "OR" if measure == "PETO" else measure
    ci = "" if level == 95 else f" ({level:g}% CI)"
    return f"{name} {estimate:.2f} ({lb:.2f} to {ub:.2f}){ci}"


def design_text(design: str, k: int) -> str:
    if design == "rct":
        return f"{k} RCT{'s' if k != 1 else ''}"
    return f"{k} non-randomised {'studies' if k != 1 else 'study'}"


def participants_text(n: int | None, design: str, k: int) -> str:
    return f"{n:,} ({design_text(design, k)})" if n is not None else f"({design_text(design, k)})"


def finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def methods_text() -> str:
    """The certainty-of-evidence paragraph of the report's methods."""
    return (
        "The certainty of the evidence for each outcome was rated with GRADE: it starts high "
        "for randomised trials and low for non-randomised studies, is rated down for risk "
        "of bias, inconsistency, indirectness, imprecision and publication bias, and up for "
        "a large effect, a dose-response gradient and plausible confounding that would "
        "reduce the effect. Judgements recorded by the reviewers in the protocol are used "
        "as given; for the other domains the pipeline proposes a judgement from the data "
        f"(risk of bias: {ROB_SERIOUS_SHARE:.0%} or more of the weight from studies at high "
        f"risk; inconsistency: I² of {I2_SUBSTANTIAL:g}% or more with a heterogeneity test "
        f"at p < {Q_ALPHA:g} or a prediction interval including no effect, very serious from "
        f"I² {I2_CONSIDERABLE:g}% with both; imprecision: a confidence interval crossing "
        "no effect or the protocol's threshold, very serious when it includes both "
        f"appreciable benefit and harm (ratios {APPRECIABLE_BENEFIT:g} and "
        f"{APPRECIABLE_HARM:g}), or fewer participants than the optimal information size "
        f"for a {OIS_RRR:.0%} relative risk reduction; publication bias: a small-study "
        f"test at p < {SMALL_STUDY_ALPHA:g} with {SMALL_STUDY_MIN_K} or more studies), "
        "labelled as proposed: they are for the review team to confirm or replace. "
        "Anticipated absolute effects apply the pooled relative effect to an assumed "
        "comparator risk, by default the median control-group risk of the studies in the "
        "analysis (GRADE Handbook 5.2.2). Statements of what happens follow GRADE's "
        "informative statements (Santesso et al. 2020)."
    )
