"""Small-study effects: funnel-plot asymmetry tests, trim and fill, funnel-plot data.

Everything here follows R's metafor 3.8.1 (``regtest``, ``ranktest``, ``trimfill.rma.uni``,
``funnel.rma``) unless a docstring says otherwise; ``tests/reference/
make_fixtures_smallstudy.R`` holds the reference computations.

* :func:`regtest` -- the family of regression tests of metafor's ``regtest``: the observed
  effects regressed on a precision predictor (standard error, variance, sample size or a
  transformation of it), either as a weighted regression with a multiplicative dispersion
  term (``model="lm"``, R's ``lm(yi ~ x, weights = 1/vi)``, t test on k - 2 df) or as a
  fixed/mixed-effects meta-regression (``model="rma"``). The intercept is the "limit
  estimate" (the effect at infinite precision) for the predictors that vanish there
  (``sei``, ``vi``, ``ninv``, ``sqrtninv``).
* :func:`egger` -- the classic Egger test (Egger, Davey Smith, Schneider & Minder 1997,
  BMJ 315:629): ``regtest(model="lm", predictor="sei")``.
* :func:`peters` -- Peters, Sutton, Jones, Abrams & Rushton (2006, JAMA 295:676).
* :func:`harbord` -- Harbord, Egger & Sterne (2006, Stat Med 25:3443).
* :func:`ranktest` -- Begg & Mazumdar (1994, Biometrics 50:1088), Kendall's tau.
* :func:`trimfill` -- Duval & Tweedie (2000, Biometrics 56:455; JASA 95:89), estimators
  L0 and R0.
* :func:`funnel_data` -- the points, pooled estimate, pseudo-confidence region and the
  significance contours (Peters et al. 2008, J Clin Epidemiol 61:991) of a funnel plot.

Every result states ``k`` and ``underpowered = k < 10``: the Cochrane Handbook (section
13.3.5.4) advises testing for funnel-plot asymmetry only with at least 10 studies. The
tests are still computed below that; the flag is for the reader (and the report).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from math import factorial
from typing import Any

import numpy as np
from scipy import special

from metareview.engine import measures
from metareview.engine.effects import EffectSizes
from metareview.engine.models import (
    IV_METHODS,
    Fit,
    clean,
    fit_iv_many,
    norm_crit,
    norm_sf2,
    rma,
    t_crit,
    t_sf2,
)
from metareview.engine.subgroups import metareg
from metareview.errors import AnalysisError

__all__ = [
    "MIN_STUDIES",
    "PREDICTORS",
    "RankTestResult",
    "RegTestResult",
    "TrimFillResult",
    "assess",
    "egger",
    "funnel_data",
    "harbord",
    "peters",
    "ranktest",
    "regtest",
    "trimfill",
]

#: Cochrane Handbook 13.3.5.4: test for funnel-plot asymmetry only with >= 10 studies.
MIN_STUDIES = 10
#: the tests a protocol can ask for (``small_study[].tests``)
SMALL_STUDY_TESTS = ("egger", "begg", "peters", "harbord", "trimfill")
PREDICTORS = ("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")
#: predictors that are 0 at infinite precision: the intercept is then the limit estimate
LIMIT_PREDICTORS = ("sei", "vi", "ninv", "sqrtninv")
TWO_ARM_COUNTS = ("ai", "n1i", "ci", "n2i")

REF_EGGER = "Egger M, Davey Smith G, Schneider M, Minder C. BMJ 1997;315:629-634"
REF_PETERS = "Peters JL, Sutton AJ, Jones DR, Abrams KR, Rushton L. JAMA 2006;295:676-680"
REF_HARBORD = "Harbord RM, Egger M, Sterne JAC. Stat Med 2006;25:3443-3457"
REF_BEGG = "Begg CB, Mazumdar M. Biometrics 1994;50:1088-1101"
REF_TRIMFILL = "Duval S, Tweedie R. Biometrics 2000;56:455-463"
REF_STERNE = "Sterne JAC, Egger M. In: Publication bias in meta-analysis, Wiley 2005"
REF_CONTOUR = (
    "Peters JL, Sutton AJ, Jones DR, Abrams KR, Rushton L. J Clin Epidemiol 2008;61:991-996"
)


# --------------------------------------------------------------------------- results


class _Result:
    """What every small-study result shares: ``k``, ``underpowered`` and ``to_dict``."""

    k: int

    @property
    def underpowered(self) -> bool:
        return self.k < MIN_STUDIES

    def _dict(self, name: str | None = None, **more: Any) -> dict[str, Any]:
        """The dataclass fields (but ``extra``), then ``name`` (when given),
        ``underpowered`` and ``more``; JSON-ready."""
        out = {f: getattr(self, f) for f in self.__dataclass_fields__ if f != "extra"}
        if name is not None:
            out["name"] = name
        out["underpowered"] = self.underpowered
        out.update(more)
        return clean(out)


@dataclass
class RegTestResult(_Result):
    """A regression test for funnel-plot asymmetry.

    ``coefficients`` are those of the regression of the effect on the predictor:
    ``[intercept, slope]``; the test is the test of the slope (``stat`` on ``df``
    degrees of freedom; ``df`` is None for a z test). ``line`` gives the fitted line in
    funnel-plot coordinates (standard error, effect) for the predictors ``sei`` and
    ``vi`` (None otherwise).
    """

    name: str
    model: str
    predictor: str
    method: str | None
    test: str
    level: float
    k: int
    stat: float
    df: int | None
    pval: float
    limit_estimate: float | None
    limit_ci_lb: float | None
    limit_ci_ub: float | None
    coefficients: list[dict[str, Any]]
    tau2: float | None = None
    line: dict[str, list[float]] | None = None
    reference: str = ""
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return self._dict(**self.extra)


@dataclass
class RankTestResult(_Result):
    """Begg and Mazumdar's rank correlation test (Kendall's tau)."""

    k: int
    tau: float
    pval: float
    exact: bool
    stat: float
    ties: bool
    reference: str = REF_BEGG
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return self._dict("ranktest", p_method="exact" if self.exact else "normal")


@dataclass
class TrimFillResult(_Result):
    """Trim and fill: the estimated missing studies and the model refitted with them."""

    estimator: str
    side: str
    side_chosen: str  # "auto" (metafor's rule) or "given"
    method: str
    k: int
    k0: int
    se_k0: float | None
    p_k0: float | None
    iterations: int
    filled: list[dict[str, Any]]
    observed: dict[str, Any]
    adjusted: dict[str, Any]
    reference: str = REF_TRIMFILL
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return self._dict("trimfill")


# --------------------------------------------------------------------------- helpers


def _usable(es: EffectSizes) -> np.ndarray:
    return es.usable & (es.vi > 0)


def _sample_sizes(es: EffectSizes) -> np.ndarray | None:
    """Total sample size per study (n1i + n2i, or ni), as escalc stores it."""
    counts = es.counts
    if all(c in counts for c in ("n1i", "n2i")):
        return np.asarray(counts["n1i"], float) + np.asarray(counts["n2i"], float)
    if "ni" in counts:
        return np.asarray(counts["ni"], float)
    return None


def _predictor_values(predictor: str, vi: np.ndarray, ni: np.ndarray | None) -> np.ndarray:
    if predictor == "sei":
        return np.sqrt(vi)
    if predictor == "vi":
        return vi.copy()
    if ni is None:
        raise AnalysisError(
            f"regression test with predictor '{predictor}' needs the studies' sample sizes"
        )
    if predictor == "ni":
        return ni.copy()
    if predictor == "ninv":
        return 1 / ni
    if predictor == "sqrtni":
        return np.sqrt(ni)
    return 1 / np.sqrt(ni)  # sqrtninv


def _check_k(k: int, what: str, minimum: int = 3) -> None:
    if k < minimum:
        raise AnalysisError(f"{what}: needs at least {minimum} studies (k = {k})")


def _wls(y: np.ndarray, x: np.ndarray, w: np.ndarray):
    """``lm(y ~ x, weights = w)``: coefficients, their standard errors and the residual df.

    The covariance is scaled by the residual mean square (a multiplicative dispersion
    term); solved by QR on the weighted design as R's ``lm`` does.
    """
    k = y.size
    design = np.column_stack([np.ones(k), x])
    sw = np.sqrt(w)
    q, r = np.linalg.qr(design * sw[:, None])
    if abs(r[-1, -1]) <= 1e-7 * abs(r[0, 0]):  # R's lm: qr tolerance 1e-7, coefficient NA
        raise AnalysisError(
            "the predictor has the same value for every study, so the regression slope "
            "cannot be estimated"
        )
    yw = y * sw
    beta = np.linalg.solve(r, q.T @ yw)
    resid = yw - (design * sw[:, None]) @ beta
    df = k - design.shape[1]
    s2 = float(resid @ resid) / df
    rinv = np.linalg.inv(r)
    cov = s2 * (rinv @ rinv.T)
    return beta, np.sqrt(np.diag(cov)), df


def _lm_result(
    name, y, x, w, *, predictor, level, reference, warnings, limit=True
) -> RegTestResult:
    beta, se, df = _wls(y, x, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se
    pval = t_sf2(stat, df)
    crit = float(t_crit(level, df))
    coefs = [
        {"name": n, "estimate": b, "se": s, "stat": t, "pval": p}
        for n, b, s, t, p in zip(("intrcpt", predictor), beta, se, stat, pval, strict=True)
    ]
    return RegTestResult(
        name=name,
        model="lm",
        predictor=predictor,
        method=None,
        test="t",
        level=level,
        k=int(y.size),
        stat=float(stat[1]),
        df=int(df),
        pval=float(pval[1]),
        limit_estimate=float(beta[0]) if limit else None,
        limit_ci_lb=float(beta[0] - crit * se[0]) if limit else None,
        limit_ci_ub=float(beta[0] + crit * se[0]) if limit else None,
        coefficients=coefs,
        reference=reference,
        warnings=warnings,
    )


def _funnel_line(predictor: str, beta0: float, beta1: float, sei: np.ndarray):
    if predictor not in ("sei", "vi"):
        return None
    grid = np.linspace(0.0, 1.1 * float(np.max(sei)), 51)
    pred = grid if predictor == "sei" else grid**2
    return {"sei": grid.tolist(), "yi": (beta0 + beta1 * pred).tolist()}


# --------------------------------------------------------------------------- regtest


def regtest(
    es: EffectSizes,
    *,
    model: str = "rma",
    predictor: str = "sei",
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
) -> RegTestResult:
    """Regression test for funnel-plot asymmetry, as metafor's ``regtest``.

    ``model="lm"``: weighted regression ``yi ~ predictor`` with weights 1/vi and a
    multiplicative dispersion term (t test on k - 2 df); ``method`` and ``test`` are not
    used. ``model="rma"``: meta-regression ``rma(yi, vi, mods = ~ predictor, method,
    test)`` (z test, or t on k - 2 df under ``test="knha"``); ``tau2`` is its residual
    heterogeneity. The predictor is one of ``sei`` (Egger's test when ``model="lm"``),
    ``vi`` (PEESE), ``ni``, ``ninv`` (1/n), ``sqrtni`` and ``sqrtninv``; n is the total
    sample size (n1i + n2i, or ni), as escalc stores it. The limit estimate (intercept)
    and its CI are reported for ``sei``, ``vi``, ``ninv`` and ``sqrtninv``.
    Studies without an estimable effect are left out.
    """
    if model not in ("lm", "rma"):
        raise ValueError(f"unknown model {model!r}; choose lm or rma")
    if predictor not in PREDICTORS:
        raise ValueError(f"unknown predictor {predictor!r}; choose one of {', '.join(PREDICTORS)}")
    use = _usable(es)
    yi, vi = es.yi[use], es.vi[use]
    ni_all = _sample_sizes(es)
    ni = None if ni_all is None else ni_all[use]
    if ni is not None and predictor in PREDICTORS[2:] and not np.all(np.isfinite(ni)):
        raise AnalysisError(f"regression test with predictor '{predictor}': missing sample sizes")
    k = int(yi.size)
    _check_k(k, "regression test")
    x = _predictor_values(predictor, vi, ni)
    if np.ptp(x) == 0:
        raise AnalysisError(f"regression test: predictor '{predictor}' is the same for every study")
    limit = predictor in LIMIT_PREDICTORS
    name = "egger" if (model == "lm" and predictor == "sei") else "regtest"
    ref = REF_EGGER if name == "egger" else REF_STERNE
    if model == "lm":
        res = _lm_result(
            name,
            yi,
            x,
            1 / vi,
            predictor=predictor,
            level=level,
            reference=ref,
            warnings=[],
            limit=limit,
        )
    else:
        if method not in IV_METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(IV_METHODS)}")
        fit = metareg(
            yi, vi, {predictor: x.tolist()}, [predictor], method=method, test=test, level=level
        )
        c0, c1 = fit["coefficients"]
        coefs = [
            {key: c[key] for key in ("name", "estimate", "se", "stat", "pval")} for c in (c0, c1)
        ]
        coefs[1]["name"] = predictor
        res = RegTestResult(
            name=name,
            model="rma",
            predictor=predictor,
            method=method,
            test=test,
            level=level,
            k=k,
            stat=c1["stat"],
            df=k - 2 if test == "knha" else None,
            pval=c1["pval"],
            limit_estimate=c0["estimate"] if limit else None,
            limit_ci_lb=c0["ci_lb"] if limit else None,
            limit_ci_ub=c0["ci_ub"] if limit else None,
            coefficients=coefs,
            tau2=fit["tau2"],
            reference=ref,
        )
    res.line = _funnel_line(
        predictor, res.coefficients[0]["estimate"], res.coefficients[1]["estimate"], np.sqrt(vi)
    )
    return res


def egger(es: EffectSizes, *, level: float = 95.0) -> RegTestResult:
    """Egger's regression test (Egger, Davey Smith, Schneider & Minder 1997, BMJ 315:629).

    The classic test: ``regtest(es, model="lm", predictor="sei")`` -- a weighted
    regression of the effect on its standard error with weights 1/vi and a multiplicative
    dispersion term, equivalently an ordinary regression of the standard normal deviate
    yi/sei on the precision 1/sei, whose intercept (here: the slope on sei) measures the
    asymmetry; t test on k - 2 df. This is metafor's ``regtest(res, model = "lm")``.
    """
    return regtest(es, model="lm", predictor="sei", level=level)


def _binary_only(test: str, measure: str) -> str:
    counts = "two-arm event counts (ai, n1i, ci, n2i)"
    if test.startswith("Peters"):
        counts += " or single-arm (xi, ni)"
    return (
        f"{test} is for binary outcomes: it needs {counts}; measure {measure} here has no "
        "event counts (use Egger's test, regtest)"
    )


def peters(es: EffectSizes, *, level: float = 95.0) -> RegTestResult:
    """Peters' test (Peters, Sutton, Jones, Abrams & Rushton 2006, JAMA 295:676).

    A weighted regression of the (log odds ratio) effect on 1/n, n the total sample size,
    with the weights Peters et al. define: the inverse of the variance of the average event
    rate, ``1 / (1/E + 1/F)`` with E the total events and F the total non-events over both
    arms (for single proportions: xi and ni - xi); multiplicative dispersion, t test on
    k - 2 df. The weights come from the raw counts; studies with no events (or only events)
    in both arms have weight 0 and are left out (they are listed in the warnings).

    metafor has no ``peters()``. Its ``regtest(res, model = "lm", predictor = "ninv")``
    regresses on 1/n but weights by 1/vi (the inverse variance of the log odds ratio), which
    is a different test (``regtest(es, model="lm", predictor="ninv")`` here). metafor users
    obtain Peters' test exactly by passing Peters' variance as ``vi``:
    ``regtest(yi, vi = 1/(ai+ci) + 1/(bi+di), ni = n1i + n2i, model = "lm",
    predictor = "ninv")``; the reference fixtures do that and check it against
    ``lm(yi ~ I(1/n), weights = 1/(1/E + 1/F))``.
    """
    counts = es.counts
    if all(c in counts for c in TWO_ARM_COUNTS):
        a, c = np.asarray(counts["ai"], float), np.asarray(counts["ci"], float)
        n = np.asarray(counts["n1i"], float) + np.asarray(counts["n2i"], float)
        events = a + c
    elif all(c in counts for c in ("xi", "ni")):
        events = np.asarray(counts["xi"], float)
        n = np.asarray(counts["ni"], float)
    else:
        raise AnalysisError(_binary_only("Peters' test", es.measure))
    nonevents = n - events
    use = _usable(es) & np.isfinite(n)
    informative = (events > 0) & (nonevents > 0)
    warnings = []
    dropped = np.flatnonzero(use & ~informative)
    if dropped.size:
        warnings.append(
            f"Peters' test: {dropped.size} "
            + ("study has" if dropped.size == 1 else "studies have")
            + " no events (or only events) in both arms; weight 0, left out"
        )
    use &= informative
    k = int(use.sum())
    _check_k(k, "Peters' test")
    w = 1 / (1 / events[use] + 1 / nonevents[use])
    res = _lm_result(
        "peters",
        es.yi[use],
        1 / n[use],
        w,
        predictor="ninv",
        level=level,
        reference=REF_PETERS,
        warnings=warnings,
    )
    res.extra["excluded_index"] = dropped.tolist()
    return res


def harbord(es: EffectSizes, *, level: float = 95.0) -> RegTestResult:
    """Harbord's modified test for binary outcomes (Harbord, Egger & Sterne 2006).

    From each 2x2 table (raw counts, no continuity correction) the efficient score and its
    variance for the log odds ratio under the null,
    ``Z = ai - (ai + ci) n1i / N`` and ``V = n1i n2i (ai + ci)(bi + di) / (N^2 (N - 1))``;
    the test regresses ``Z / sqrt(V)`` on ``sqrt(V)`` (ordinary least squares) and tests
    the intercept (t on k - 2 df). Studies with ``V = 0`` (no events, or only events, in
    both arms) are left out.

    The same regression written as Egger's test: with ``yi = Z/V`` and ``vi = 1/V`` (Peto's
    one-step log odds ratio and its variance, metafor's ``escalc(measure = "PETO", add =
    0)``), ``regtest(yi, vi, model = "lm", predictor = "sei")`` minimises
    ``sum V (Z/V - b0 - b1/sqrt(V))^2 = sum (Z/sqrt(V) - b0 sqrt(V) - b1)^2``, i.e. it is the
    regression of ``Z/sqrt(V)`` on ``sqrt(V)`` with the roles of intercept and slope
    swapped. So ``stat``, ``df`` and ``pval`` are Harbord's; ``coefficients`` are given in
    the Egger form (``[intrcpt, sei]``: the slope on sei is Harbord's intercept, the
    "bias", also in ``bias``/``bias_se``; the intercept is Harbord's slope, reported as the
    limit estimate). The fixtures check this equivalence in R.
    """
    counts = es.counts
    if not all(c in counts for c in TWO_ARM_COUNTS):
        if "xi" in counts:
            raise AnalysisError("Harbord's test needs two-arm event counts (ai, n1i, ci, n2i)")
        raise AnalysisError(_binary_only("Harbord's test", es.measure))
    a, n1, c, n2 = (np.asarray(counts[x], float) for x in TWO_ARM_COUNTS)
    b, d = n1 - a, n2 - c
    n = n1 + n2
    with np.errstate(divide="ignore", invalid="ignore"):
        z = a - (a + c) * n1 / n
        v = n1 * n2 * (a + c) * (b + d) / (n**2 * (n - 1))
    use = np.isfinite(z) & np.isfinite(v) & (v > 0)
    warnings = []
    dropped = np.flatnonzero(~use & np.isfinite(v))
    if dropped.size:
        warnings.append(
            f"Harbord's test: {dropped.size} "
            + ("study has" if dropped.size == 1 else "studies have")
            + " no events (or only events) in both arms (score variance 0), left out"
        )
    if es.measure != "OR":
        warnings.append(
            f"Harbord's test is a test for the log odds ratio; the analysis measure is {es.measure}"
        )
    k = int(use.sum())
    _check_k(k, "Harbord's test")
    zz, vv = z[use], v[use]
    res = _lm_result(
        "harbord",
        zz / vv,
        1 / np.sqrt(vv),
        vv,
        predictor="sei",
        level=level,
        reference=REF_HARBORD,
        warnings=warnings,
    )
    res.extra["bias"] = res.coefficients[1]["estimate"]
    res.extra["bias_se"] = res.coefficients[1]["se"]
    res.extra["excluded_index"] = np.flatnonzero(~use).tolist()
    return res


# --------------------------------------------------------------------------- ranktest


def _kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b (R's ``cor(x, y, method = "kendall")``), over all k^2 ordered pairs
    in row chunks of about 1e6 (each sum counts every pair twice, exactly: the sums are
    integers, so tau is that of the k(k - 1)/2 pairs to the last bit)."""
    s = sxx = syy = 0.0
    step = max(1, (1 << 20) // max(x.size, 1))
    for start in range(0, x.size, step):
        sx = np.sign(x[start : start + step, None] - x[None, :])
        sy = np.sign(y[start : start + step, None] - y[None, :])
        s += float(np.sum(sx * sy))
        sxx += float(np.sum(sx * sx))
        syy += float(np.sum(sy * sy))
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant variable: NaN, as R
        return s / np.sqrt(sxx * syy)


def _mahonian(n: int) -> np.ndarray:
    """Number of permutations of n items with 0, 1, ... n(n-1)/2 inversions (exact ints)."""
    row = np.array([1], dtype=object)
    for m in range(2, n + 1):
        cum = np.concatenate([np.array([0], dtype=object), np.cumsum(row)])
        j = np.arange(row.size + m - 1)
        row = cum[np.minimum(j + 1, row.size)] - cum[np.maximum(j - m + 1, 0)]
    return row


def _kendall_exact_p(tau: float, n: int) -> tuple[float, int]:
    """Two-sided exact p of Kendall's tau without ties (R's ``cor.test``)."""
    q = int(round((tau + 1) * n * (n - 1) / 4))
    counts = _mahonian(n)
    total = factorial(n)
    if q > n * (n - 1) / 4:
        p = Fraction(int(np.sum(counts[q:])), total)  # 1 - P(T <= q - 1)
    else:
        p = Fraction(int(np.sum(counts[: q + 1])), total)
    return float(min(2 * p, Fraction(1))), q


def _kendall_normal_p(x: np.ndarray, y: np.ndarray, tau: float) -> tuple[float, float]:
    """Normal approximation with the tie-corrected variance of S (R's ``cor.test``)."""
    n = x.size

    def tie_sizes(v):
        _, cnt = np.unique(v, return_counts=True)
        return cnt[cnt > 1].astype(float)

    xt, yt = tie_sizes(x), tie_sizes(y)
    t0 = n * (n - 1) / 2
    t1 = np.sum(xt * (xt - 1)) / 2
    t2 = np.sum(yt * (yt - 1)) / 2
    s = tau * np.sqrt((t0 - t1) * (t0 - t2))
    v0 = n * (n - 1) * (2 * n + 5)
    vt = np.sum(xt * (xt - 1) * (2 * xt + 5))
    vu = np.sum(yt * (yt - 1) * (2 * yt + 5))
    v1 = np.sum(xt * (xt - 1)) * np.sum(yt * (yt - 1))
    v2 = np.sum(xt * (xt - 1) * (xt - 2)) * np.sum(yt * (yt - 1) * (yt - 2))
    var_s = (v0 - vt - vu) / 18 + v1 / (2 * n * (n - 1)) + v2 / (9 * n * (n - 1) * (n - 2))
    z = s / np.sqrt(var_s)
    return float(norm_sf2(z)), float(z)


#: beyond this many studies the rank correlation test uses the normal approximation (R's
#: ``cor.test(..., exact = FALSE)``): the exact permutation distribution of tau takes
#: O(k^3) time and memory (R's C code cannot allocate it for thousands of studies either)
RANKTEST_EXACT_MAX_K = 200


def ranktest(es: EffectSizes) -> RankTestResult:
    """Begg and Mazumdar's rank correlation test, as metafor's ``ranktest``.

    Kendall's tau between the standardised effects ``(yi - mu_FE) / sqrt(vi - 1/sum(1/vi))``
    (mu_FE the fixed-effect estimate, whatever model is fitted) and the variances vi.
    The p-value is R's ``cor.test(..., method = "kendall", exact = TRUE)``, which metafor
    3.8.1 calls: exact (the permutation distribution of tau) when there are no ties in
    either variable, else the normal approximation with the tie-corrected variance (no
    continuity correction) and a warning. ``stat`` is the number of concordant pairs T
    for the exact test and z otherwise.
    """
    use = _usable(es)
    yi, vi = es.yi[use], es.vi[use]
    k = int(yi.size)
    _check_k(k, "rank correlation test")
    wi = 1 / vi
    theta = float(np.sum(wi * yi) / np.sum(wi))
    ystar = (yi - theta) / np.sqrt(vi - 1 / np.sum(wi))
    large = k > RANKTEST_EXACT_MAX_K
    tau = _kendall_tau_b(ystar, vi)
    ties = min(np.unique(ystar).size, np.unique(vi).size) < k
    warnings = []
    if not np.isfinite(tau):
        return RankTestResult(
            k,
            float("nan"),
            float("nan"),
            False,
            float("nan"),
            ties,
            warnings=["Kendall's tau is not defined (constant variable)"],
        )
    if ties or large:
        pval, stat = _kendall_normal_p(ystar, vi, tau)
        if ties:
            warnings.append("ties: exact p-value not available, normal approximation used")
        else:
            warnings.append(
                f"k = {k} > {RANKTEST_EXACT_MAX_K}: normal approximation used (the exact "
                "distribution of tau is impractical for so many studies)"
            )
        exact = False
    else:
        pval, q = _kendall_exact_p(tau, k)
        stat, exact = float(q), True
    return RankTestResult(k, tau, pval, exact, stat, ties, warnings=warnings)


# --------------------------------------------------------------------------- trim and fill


def _pooled(y: np.ndarray, v: np.ndarray, method: str) -> float:
    """The intercept-only estimate (metafor fits k = 1 as a fixed-effect model)."""
    if y.size == 1:
        return float(y[0])
    mask = np.ones((1, y.size), dtype=bool)
    r = fit_iv_many(y[None, :], v[None, :], mask, method)
    if not r["converged"][0]:
        raise AnalysisError(f"trim and fill: the {method} estimator of tau^2 did not converge")
    return float(r["estimate"][0])


def _rank_first(values: np.ndarray) -> np.ndarray:
    """R's ``rank(values, ties.method = "first")``."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size)
    ranks[order] = np.arange(1, values.size + 1)
    return ranks


def _fit_summary(fit: Fit) -> dict[str, Any]:
    keys = ("model", "method", "k", "estimate", "se", "ci_lb", "ci_ub", "pval", "tau2", "i2")
    d = fit.to_dict()
    out = {key: d[key] for key in keys}
    out["back"] = d["back"]
    return out


def trimfill(
    es: EffectSizes,
    study_ids: Sequence[Any],
    *,
    estimator: str = "L0",
    side: str | None = None,
    method: str = "REML",
    level: float = 95.0,
    maxiter: int = 100,
) -> TrimFillResult:
    """Trim and fill (Duval and Tweedie 2000), as metafor's ``trimfill.rma.uni``.

    ``side`` is the side of the funnel where studies are missing. When None it is chosen as
    metafor does: from the sign of the slope of ``rma(yi, vi, mods = ~ sqrt(vi),
    method)`` (negative slope: "right", else "left"). The algorithm trims the k0 most
    extreme studies on the other side, re-estimates the centre with the same ``method``
    and re-estimates k0 from the signed ranks of the centred effects until k0 no longer
    changes: L0 = (4 S_r - k(k + 1)) / (2k - 1) with its standard error, or
    R0 = (length of the rightmost run of positive ranks) - 1 with se sqrt(2 k0 + 2) and
    p_k0 = 0.5^(k0 + 1). The k0 filled studies mirror the trimmed ones about the final
    centre (``2 * mu - yi``, same vi; named "Filled 1", ...). ``adjusted`` is
    ``rma()`` refitted on the observed plus filled studies (``Fit.to_dict()``, with
    ``filled`` true/false per study; z test, as metafor 3.8.1 refits with its defaults).
    With k0 = 0, ``adjusted`` is the model of the observed studies.
    """
    if estimator not in ("L0", "R0"):
        raise ValueError(f"unknown estimator {estimator!r}; choose L0 or R0")
    if side not in (None, "left", "right"):
        raise ValueError(f"unknown side {side!r}; choose left, right or None (automatic)")
    if method not in IV_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(IV_METHODS)}")
    ids = list(study_ids)
    if len(ids) != es.yi.size:
        raise ValueError("trim and fill: one study id per effect size is needed")
    use = _usable(es)
    yi, vi = es.yi[use], es.vi[use]
    used_ids = [sid for sid, u in zip(ids, use, strict=True) if u]
    k = int(yi.size)
    _check_k(k, "trim and fill")
    observed_fit = rma(es, ids, method=method, test="z", level=level, what="trim and fill")
    side_chosen = "given"
    if side is None:
        side_chosen = "auto"
        reg = metareg(yi, vi, {"sei": np.sqrt(vi).tolist()}, ["sei"], method=method)
        side = "right" if reg["coefficients"][1]["estimate"] < 0 else "left"
    sign = -1.0 if side == "right" else 1.0
    order = np.argsort(sign * yi, kind="stable")
    ys, vs = sign * yi[order], vi[order]

    k0, k0_prev, iterations = 0, -1, 0
    beta = float("nan")
    se_k0 = float("nan")
    while k0 != k0_prev:
        k0_prev = k0
        iterations += 1
        if iterations > maxiter:
            raise AnalysisError("trim and fill: the algorithm did not converge")
        beta = _pooled(ys[: k - k0], vs[: k - k0], method)
        centred = ys - beta
        signed = np.sign(centred) * _rank_first(np.abs(centred))
        if estimator == "R0":
            negative = -signed[signed < 0]
            if negative.size == 0:
                raise AnalysisError("trim and fill: R0 is not defined (no study left of centre)")
            k0_raw = (k - float(np.max(negative))) - 1
            se_k0 = float(np.sqrt(2 * max(0.0, k0_raw) + 2))
        else:
            s_r = float(np.sum(signed[signed > 0]))
            k0_raw = (4 * s_r - k * (k + 1)) / (2 * k - 1)
            var_sr = (
                k * (k + 1) * (2 * k + 1)
                + 10 * k0_raw**3
                + 27 * k0_raw**2
                + 17 * k0_raw
                - 18 * k * k0_raw**2
                - 18 * k * k0_raw
                + 6 * k**2 * k0_raw
            ) / 24
            se_k0 = float(4 * np.sqrt(var_sr) / (2 * k - 1)) if var_sr >= 0 else float("nan")
        k0 = max(0, int(round(k0_raw)))
        se_k0 = max(0.0, se_k0) if np.isfinite(se_k0) else se_k0
    p_k0 = 0.5 ** (k0 + 1) if estimator == "R0" else None

    centre = sign * beta  # on the original scale
    filled: list[dict[str, Any]] = []
    warnings: list[str] = []
    if k0 > 0:
        src = order[k - k0 :]
        fill_y = 2 * centre - yi[src]
        fill_v = vi[src]
        fill_ids = [f"Filled {j + 1}" for j in range(k0)]
        for j in range(k0):
            filled.append(
                {
                    "study": fill_ids[j],
                    "yi": fill_y[j],
                    "vi": fill_v[j],
                    "mirror_of": str(used_ids[src[j]]),
                }
            )
        counts = {}
        for key, arr in es.counts.items():
            extra = np.full(k0, np.nan)
            if key == "ni":
                extra = np.asarray(arr, float)[use][src]
            counts[key] = np.concatenate([np.asarray(arr, float), extra])
        aug = EffectSizes(
            es.measure,
            np.concatenate([es.yi, fill_y]),
            np.concatenate([es.vi, fill_v]),
            list(es.correction) + ["none"] * k0,
            list(es.excluded) + [None] * k0,
            counts,
        )
        adjusted_fit = rma(
            aug,
            ids + fill_ids,
            method=method,
            test="z",
            level=level,
            what="trim and fill (adjusted)",
        )
        adjusted = adjusted_fit.to_dict()
        for rec, is_fill in zip(adjusted["studies"], [False] * len(ids) + [True] * k0, strict=True):
            rec["filled"] = is_fill
    else:
        adjusted = observed_fit.to_dict()
        for rec in adjusted["studies"]:
            rec["filled"] = False
    if k < MIN_STUDIES:
        warnings.append(
            f"only {k} studies: trim and fill (like the asymmetry tests) is unreliable "
            f"with fewer than {MIN_STUDIES}"
        )
    return TrimFillResult(
        estimator=estimator,
        side=side,
        side_chosen=side_chosen,
        method=method,
        k=k,
        k0=k0,
        se_k0=se_k0,
        p_k0=p_k0,
        iterations=iterations,
        filled=filled,
        observed=_fit_summary(observed_fit),
        adjusted=adjusted,
        warnings=warnings,
    )


# --------------------------------------------------------------------------- funnel data


def _points_from_fit(fit: Mapping[str, Any]) -> list[dict[str, Any]]:
    points = []
    for s in fit.get("studies") or []:
        yi, vi = s.get("yi"), s.get("vi")
        if s.get("excluded") or yi is None or vi is None:
            continue
        if not (np.isfinite(yi) and np.isfinite(vi) and vi > 0):
            continue
        points.append(
            {
                "study": s.get("study"),
                "yi": float(yi),
                "sei": float(np.sqrt(vi)),
                "filled": bool(s.get("filled", False)),
            }
        )
    return points


def _xlim(refline: float, maxsei: float, yi: np.ndarray, crit: float) -> list[float]:
    """funnel.rma's default x-axis limits: the region at max(sei) and the points, +10%."""
    lo = min(refline - crit * maxsei, float(np.min(yi)))
    hi = max(refline + crit * maxsei, float(np.max(yi)))
    r = hi - lo
    return [lo - 0.1 * r, hi + 0.1 * r]


def funnel_data(
    source: Any,
    *,
    study_ids: Sequence[Any] | None = None,
    method: str = "REML",
    level: float = 95.0,
    addtau2: bool = False,
    null: float | None | str = "auto",
    contour_p: Sequence[float] = (0.10, 0.05, 0.01),
    grid: int = 51,
) -> dict[str, Any]:
    """What a funnel plot needs, as metafor's ``funnel.rma`` draws it.

    ``source`` is a ``Fit`` or its ``to_dict()`` (the pooled JSON), a ``TrimFillResult``
    or its ``to_dict()`` (the points then include the filled studies, flagged ``filled``,
    and the centre is the adjusted estimate, as ``funnel(trimfill(res))``), or an
    ``EffectSizes`` (then fitted here with ``rma(method=...)``; ``study_ids`` names the
    studies). Returns:

    * ``points``: ``{study, yi, sei, filled}`` (studies in the fit; x = yi, y = sei),
    * ``estimate`` (the reference line), ``tau2``, ``measure``, ``k`` (observed studies),
    * ``region``: the pseudo ``level``% confidence region ``estimate +/- z sqrt(sei^2 +
      tau2_add)`` on a grid of ``sei`` from 0 to ``sei_top`` (tau2_add = tau2 only with
      ``addtau2``), with ``lb``/``ub`` per grid point,
    * ``sei_top`` = 1.1 max(sei) (metafor widens the y axis by 10%), ``ylim`` =
      [sei_top, 0] (the y axis is inverted: 0 at the top), ``xlim`` = metafor's default,
    * ``null`` (0 on the analysis scale for two-arm measures, None for single proportions
      unless given) and ``contours``: for each p in ``contour_p`` the region
      ``null +/- z_(1-p/2) sei`` where a study would not be significant at level p, with
      ``contour_xlim`` (metafor's xlim for ``funnel(res, level = c(90, 95, 99),
      refline = 0)``); empty when ``null`` is None.
    """
    if isinstance(source, TrimFillResult):
        source = source.to_dict()
    if isinstance(source, Fit):
        source = source.to_dict()
    if isinstance(source, EffectSizes):
        ids = (
            list(study_ids)
            if study_ids is not None
            else [f"Study {i + 1}" for i in range(source.yi.size)]
        )
        source = rma(source, ids, method=method, tau2_ci=False, what="funnel plot").to_dict()
    if not isinstance(source, Mapping):
        raise TypeError(
            "funnel_data: give a Fit, a fit dictionary, a trim-and-fill result or EffectSizes"
        )
    k0 = 0
    if "adjusted" in source and "k0" in source:
        k0 = int(source["k0"])
        fit = source["adjusted"]
    else:
        fit = source
    points = _points_from_fit(fit)
    if not points:
        raise AnalysisError("funnel plot: no study with an estimable effect")
    yi = np.array([p["yi"] for p in points])
    sei = np.array([p["sei"] for p in points])
    refline = float(fit["estimate"])
    tau2 = float(fit.get("tau2") or 0.0)
    tau2_add = tau2 if addtau2 else 0.0
    maxsei = float(np.max(sei))
    top = 1.1 * maxsei
    crit = norm_crit(level)
    s = np.linspace(0.0, top, grid)
    half = crit * np.sqrt(s**2 + tau2_add)
    measure = str(fit.get("measure") or "")
    if null == "auto":
        m = measures.find(measure)
        null = m.null if m and m.two_arm else None
    contours = []
    contour_xlim = None
    if null is not None:
        null = float(null)
        for p in sorted(contour_p, reverse=True):
            z = float(special.ndtri(1 - p / 2))
            contours.append(
                {"p": p, "crit": z, "lb": (null - z * s).tolist(), "ub": (null + z * s).tolist()}
            )
        if contours:
            zmax = max(c["crit"] for c in contours)
            contour_xlim = _xlim(null, maxsei, yi, zmax)
    xlim = _xlim(refline, maxsei, yi, crit)
    if tau2_add:
        xlim = _xlim(refline, float(np.sqrt(maxsei**2 + tau2_add)), yi, crit)
    return clean(
        {
            "measure": measure,
            "model": fit.get("model"),
            "method": fit.get("method"),
            "level": level,
            "k": len(points) - k0,
            "k0": k0,
            "underpowered": len(points) - k0 < MIN_STUDIES,
            "estimate": refline,
            "tau2": tau2,
            "addtau2": addtau2,
            "points": points,
            "sei_top": top,
            "ylim": [top, 0.0],
            "xlim": xlim,
            "region": {
                "level": level,
                "crit": crit,
                "sei": s.tolist(),
                "lb": (refline - half).tolist(),
                "ub": (refline + half).tolist(),
            },
            "null": null,
            "contours": contours,
            "contour_xlim": contour_xlim,
        }
    )


# --------------------------------------------------------------------------- all at once


def assess(
    es: EffectSizes,
    study_ids: Sequence[Any],
    *,
    method: str = "REML",
    level: float = 95.0,
    trimfill_estimator: str = "L0",
    tests: Collection[str] | None = None,
) -> dict[str, Any]:
    """Every small-study analysis of one meta-analysis (or those in ``tests``: egger, begg,
    peters, harbord, trimfill) as one JSON-ready dictionary.

    Egger's test with its meta-regression version (``regtest(model="rma")``), Peters' and
    Harbord's tests (two-arm data; Harbord for odds ratios only), the rank correlation
    test (begg), trim and fill (L0, side chosen automatically, same ``method``) and the
    funnel data (always). A test that cannot be computed gives ``{"error": "..."}``.
    """
    use = _usable(es)
    k = int(use.sum())
    out: dict[str, Any] = {"k": k, "underpowered": k < MIN_STUDIES, "min_studies": MIN_STUDIES}
    wanted = set(SMALL_STUDY_TESTS if tests is None else tests)

    def run(name, fn):
        try:
            out[name] = fn().to_dict()
        except AnalysisError as exc:
            out[name] = {"error": str(exc)}
        except np.linalg.LinAlgError as exc:  # a degenerate design R would report as NA
            out[name] = {"error": f"not computable ({exc})"}

    if "egger" in wanted:
        run("egger", lambda: egger(es, level=level))
        run("regtest_rma", lambda: regtest(es, model="rma", method=method, level=level))
    two_arm = all(c in es.counts for c in TWO_ARM_COUNTS)
    binary = two_arm or "xi" in es.counts
    if "peters" in wanted and binary:
        run("peters", lambda: peters(es, level=level))
    if "harbord" in wanted and two_arm and es.measure == "OR":
        run("harbord", lambda: harbord(es, level=level))
    if not binary:  # continuous or generic inverse-variance data: say why, do not omit
        for name, label in (("peters", "Peters' test"), ("harbord", "Harbord's test")):
            if name in wanted:
                out[name] = {"error": _binary_only(label, es.measure)}
    if "begg" in wanted:
        run("ranktest", lambda: ranktest(es))
    if "trimfill" in wanted:
        run(
            "trimfill",
            lambda: trimfill(
                es, study_ids, estimator=trimfill_estimator, method=method, level=level
            ),
        )
    try:
        out["funnel"] = funnel_data(es, study_ids=study_ids, method=method, level=level)
    except AnalysisError as exc:
        out["funnel"] = {"error": str(exc)}
    return clean(out)
