"""Anticipated absolute effects of a pooled relative effect (GRADE summary of findings).

The GRADE Handbook (Schünemann et al. 2013, section 5.2.2) derives the risk with the
intervention (the corresponding risk, CR) from an assumed comparator risk (ACR) and the
pooled relative effect:

* risk ratio: ``CR = RR x ACR``
* odds ratio: ``CR = OR x ACR / (1 - ACR + OR x ACR)``
* risk difference: ``CR = ACR + RD``

and the absolute effect as ``CR - ACR``, per 1,000 people, for the estimate and for each
limit of its confidence interval. The ACR is by default the median risk of the control
groups of the studies in the analysis (Cochrane Handbook 14.1.5.1).

The optimal information size (GRADE guidelines 6, Guyatt et al. 2011) is the total number
of participants a single adequately powered trial would need to detect a relative risk
reduction (25 % by default) from the comparator risk, with two-sided alpha and power.

Pure functions of numbers; the standard library only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist, median

#: measures whose pooled estimate converts to a risk with the intervention
CONVERTIBLE = ("OR", "RR", "RD")


def corresponding_risk(measure: str, effect: float, acr: float) -> float:
    """The risk with the intervention given the comparator risk ``acr`` (0-1) and a relative
    effect on the reporting scale (an OR or RR itself, not its log; an RD as a proportion).

    ``PETO`` is an odds ratio. A risk ratio that would give a risk above 1 is capped at 1
    (and an RD outside 0-1 at the bound), as a risk cannot exceed it.
    """
    if not 0.0 <= acr <= 1.0:
        raise ValueError(f"assumed comparator risk must lie in [0, 1], got {acr}")
    if measure in ("OR", "PETO"):
        if effect < 0:
            raise ValueError(f"an odds ratio is positive, got {effect}")
        denom = 1.0 - acr + effect * acr
        return 0.0 if denom == 0 else effect * acr / denom
    if measure == "RR":
        if effect < 0:
            raise ValueError(f"a risk ratio is positive, got {effect}")
        return min(1.0, effect * acr)
    if measure == "RD":
        return min(1.0, max(0.0, acr + effect))
    raise ValueError(f"no absolute effect for measure {measure!r} (only {', '.join(CONVERTIBLE)})")


@dataclass(frozen=True)
class AbsoluteEffect:
    """Risks and risk differences per ``per`` people (unrounded)."""

    per: int
    acr: float
    risk_comparator: float
    risk_intervention: float
    risk_intervention_lb: float
    risk_intervention_ub: float
    difference: float
    difference_lb: float
    difference_ub: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def absolute_effect(
    measure: str, estimate: float, ci_lb: float, ci_ub: float, acr: float, per: int = 1000
) -> AbsoluteEffect:
    """The anticipated absolute effect of a pooled effect (reporting scale) at comparator
    risk ``acr``, per ``per`` people. The difference's CI comes from the relative effect's
    CI limits (the conversion is monotone in the effect, so the limits stay in order)."""
    cr = corresponding_risk(measure, estimate, acr)
    lo, hi = (corresponding_risk(measure, x, acr) for x in (ci_lb, ci_ub))
    lo, hi = min(lo, hi), max(lo, hi)
    return AbsoluteEffect(
        per=per,
        acr=acr,
        risk_comparator=acr * per,
        risk_intervention=cr * per,
        risk_intervention_lb=lo * per,
        risk_intervention_ub=hi * per,
        difference=(cr - acr) * per,
        difference_lb=(lo - acr) * per,
        difference_ub=(hi - acr) * per,
    )


def median_risk(events: list[int], totals: list[int]) -> float | None:
    """The median of the groups' risks ``events / total`` (groups with total 0 left out);
    None when no group has participants."""
    risks = [e / n for e, n in zip(events, totals, strict=True) if n and n > 0]
    return float(median(risks)) if risks else None


def optimal_information_size(
    acr: float, rrr: float = 0.25, alpha: float = 0.05, power: float = 0.80
) -> int | None:
    """Total participants (both groups, 1:1) a trial needs to detect a relative risk
    reduction ``rrr`` from comparator risk ``acr`` with a two-sided test of two
    proportions at ``alpha`` and ``power`` (GRADE guidelines 6):

    ``n per group = (z_{1-alpha/2} + z_{power})^2 (p0 (1 - p0) + p1 (1 - p1)) / (p0 - p1)^2``
    with ``p1 = p0 (1 - rrr)``, rounded up. None when the risk is 0 or 1 (no power).
    """
    if not 0.0 < acr < 1.0 or not 0.0 < rrr < 1.0:
        return None
    p0, p1 = acr, acr * (1.0 - rrr)
    z = NormalDist().inv_cdf(1.0 - alpha / 2.0) + NormalDist().inv_cdf(power)
    per_group = z * z * (p0 * (1 - p0) + p1 * (1 - p1)) / (p0 - p1) ** 2
    return 2 * math.ceil(per_group)
