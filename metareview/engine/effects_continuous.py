"""Effect sizes of continuous outcomes and of generic inverse-variance estimates, with
metafor's ``escalc`` meaning; each returns the ``EffectSizes`` of the binary measures.

Two arms (means ``m1i, m2i``, standard deviations ``sd1i, sd2i``, sizes ``n1i, n2i``;
arm 1 is the intervention):

* ``MD``  mean difference m1i - m2i, vi = sd1i^2/n1i + sd2i^2/n2i (metafor's default
  ``vtype = "LS"``: unequal variances).
* ``SMD`` Hedges' g = c(m) (m1i - m2i) / sdp with the pooled SD
  sdp = sqrt(((n1i-1) sd1i^2 + (n2i-1) sd2i^2) / m), m = n1i + n2i - 2, and metafor's exact
  bias correction c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2)) (Hedges 1981; metafor's
  ``.cmicalc``, not the approximation 1 - 3/(4m - 1)); vi = 1/n1i + 1/n2i + g^2/(2 (n1i+n2i))
  (metafor's default large-sample ``vtype = "LS"``).
* ``ROM`` log ratio of means log(m1i/m2i), vi = sd1i^2/(n1i m1i^2) + sd2i^2/(n2i m2i^2)
  (``vtype = "LS"``).

One arm: ``MN`` the raw mean mi, vi = sdi^2/ni.

Generic inverse variance (``GEN`` or a log ratio such as ``HR``): ``yi`` with ``sei``
(vi = sei^2) or ``vi``, taken as given on the analysis scale. Ratios on the natural scale
(``OR``, ``RR``, ``HR``, a common OR): yi = log(estimate), and either
sei = (log(ci_ub) - log(ci_lb)) / (2 z), z = qnorm(1 - (1 - level/100)/2), or an SE given
with the estimate, which is the SE of the *log* ratio (RevMan's convention for generic
inverse variance: its data entry takes log ratios with their SEs).

SDs from a per-arm SE or CI (Cochrane Handbook, version 6.4, section 6.5.2.3):
SD = SE sqrt(n); SD = sqrt(n) (upper - lower) / (2 q), q the normal quantile of the CI
level (3.92 = 2 x 1.96 for 95%), or the t quantile with n - 1 df for small samples
(the Handbook's "say fewer than 60 participants in each group"; our default rule).
"""

from __future__ import annotations

import math

import numpy as np

from metareview.engine import measures
from metareview.engine.derive import SMALL_SAMPLE, sd_from_ci, sd_from_se
from metareview.engine.effects import EffectSizes, mark_not_estimable

__all__ = ["SMALL_SAMPLE", "sd_from_ci", "sd_from_se"]  # the derivations, for the CLI and tests

# the registry's records, by kind (a new measure is a record in engine.measures)
CONTINUOUS_TWO_ARM = measures.codes(measures.TWO_ARM_CONTINUOUS)
CONTINUOUS_ONE_ARM = measures.codes(measures.SINGLE_ARM_CONTINUOUS)
GENERIC = "GEN"
NATURAL_RATIOS = measures.natural_ratios()  # ratios that may be given on the natural scale
CONTINUOUS_COLUMNS = measures.get("MD").columns
MEAN_COLUMNS = measures.get("MN").columns


def _as_float(values) -> np.ndarray:
    return np.atleast_1d(np.asarray(values, dtype=float))


def _none(k: int) -> list[str]:
    return ["none"] * k


def hedges_cm(m) -> np.ndarray:
    """metafor's exact small-sample correction c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2))
    (NaN for m <= 1), evaluated through log-gamma as metafor's ``.cmicalc`` does."""
    m = _as_float(m)
    out = np.full(m.shape, np.nan)
    for i, mi in enumerate(m.tolist()):
        if mi > 1:
            log_c = math.lgamma(mi / 2) - math.log(math.sqrt(mi / 2)) - math.lgamma((mi - 1) / 2)
            out[i] = math.exp(log_c)
    return out


def escalc_continuous(measure: str, m1i, sd1i, n1i, m2i, sd2i, n2i) -> EffectSizes:
    """MD, SMD (Hedges' g) or ROM of two arms (see the module docstring)."""
    if measure not in CONTINUOUS_TWO_ARM:
        raise ValueError(
            f"measure {measure!r} is not a two-arm continuous measure "
            f"({', '.join(CONTINUOUS_TWO_ARM)})"
        )
    m1, s1, n1, m2, s2, n2 = (_as_float(x) for x in (m1i, sd1i, n1i, m2i, sd2i, n2i))
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "MD":
            yi = m1 - m2
            vi = s1**2 / n1 + s2**2 / n2
        elif measure == "SMD":
            mdf = n1 + n2 - 2
            sdp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / mdf)
            yi = hedges_cm(mdf) * (m1 - m2) / sdp
            vi = 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))
        else:  # ROM
            yi = np.log(m1 / m2)
            vi = s1**2 / (n1 * m1**2) + s2**2 / (n2 * m2**2)
    k = yi.size
    excluded: list[str | None] = [None] * k
    mark_not_estimable(yi, vi, excluded)
    counts = dict(zip(CONTINUOUS_COLUMNS, (m1, s1, n1, m2, s2, n2), strict=True))
    return EffectSizes(measure, yi, vi, _none(k), excluded, counts)


def escalc_mean(mi, sdi, ni) -> EffectSizes:
    """Single-arm means (``MN``): yi = mi, vi = sdi^2 / ni."""
    m, s, n = (_as_float(x) for x in (mi, sdi, ni))
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = m.copy()
        vi = s**2 / n
    excluded: list[str | None] = [None] * yi.size
    mark_not_estimable(yi, vi, excluded)
    counts = dict(zip(MEAN_COLUMNS, (m, s, n), strict=True))
    return EffectSizes("MN", yi, vi, _none(yi.size), excluded, counts)


def escalc_generic(measure: str, yi, *, sei=None, vi=None) -> EffectSizes:
    """Estimates on the analysis scale with their SE or variance, taken as given.

    ``sei`` and ``vi`` may both be given per study with NaN where absent: a study's
    ``sei`` is used when finite, else its ``vi``. ``measure`` is ``GEN`` (identity
    back-transformation) or a log ratio (``OR``, ``RR``, ``HR``, ``ROM``: back = exp)."""
    y = _as_float(yi).copy()
    k = y.size
    se = _as_float(sei) if sei is not None else np.full(k, np.nan)
    var = _as_float(vi) if vi is not None else np.full(k, np.nan)
    if se.size != k or var.size != k:
        raise ValueError("yi, sei and vi must have one value per study")
    v = np.where(np.isfinite(se), se**2, var)
    excluded: list[str | None] = [None] * k
    mark_not_estimable(y, v, excluded)
    return EffectSizes(measure, y, v, _none(k), excluded, {})


def z_quantile(level) -> np.ndarray:
    """Two-sided normal quantile of a confidence level in percent (1.959964 for 95)."""
    from statistics import NormalDist

    lev = _as_float(level)
    return np.array([NormalDist().inv_cdf(1 - (1 - x / 100) / 2) for x in lev.tolist()])


def se_from_ci(lower, upper, level=95.0, *, log: bool = True) -> np.ndarray:
    """SE from a (symmetric) CI: (upper - lower) / (2 z); on the log scale when ``log``."""
    lo, hi = _as_float(lower), _as_float(upper)
    with np.errstate(divide="ignore", invalid="ignore"):
        if log:
            lo, hi = np.log(lo), np.log(hi)
        return (hi - lo) / (2 * z_quantile(level))


def escalc_ratio_natural(
    measure: str, estimate, *, ci_lb=None, ci_ub=None, sei=None, level=95.0
) -> EffectSizes:
    """Ratios reported on the natural scale: yi = log(estimate); sei from the CI at
    ``level`` (percent; a scalar or one per study) or, where given, ``sei`` (an SE of the
    log ratio). Per study, a finite ``sei`` wins over the CI."""
    if measure not in NATURAL_RATIOS:
        raise ValueError(
            f"measure {measure!r} is not a ratio ({', '.join(NATURAL_RATIOS)}) "
            "that can be given on the natural scale"
        )
    est = _as_float(estimate)
    k = est.size
    se = _as_float(sei) if sei is not None else np.full(k, np.nan)
    if ci_lb is not None and ci_ub is not None:
        from_ci = se_from_ci(ci_lb, ci_ub, level) * np.ones(k)
        se = np.where(np.isfinite(se), se, from_ci)
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(est)
    return escalc_generic(measure, yi, sei=se)


# --------------------------------------------------------------------------- validation


def invalid_cells(layout: str, row: dict, measure: str = "") -> list[tuple[str, str]]:
    """(column, message) for each impossible value of one row of numbers.

    ``layout``: ``continuous`` (m1i, sd1i, n1i, m2i, sd2i, n2i), ``mean`` (mi, sdi, ni),
    ``generic`` (yi with sei or vi) or ``natural`` (estimate with ci_lb/ci_ub or sei).
    Absent or NaN values are the caller's business (a missing cell)."""
    bad: list[tuple[str, str]] = []

    def given(col):
        v = row.get(col)
        return v is not None and not (isinstance(v, float) and math.isnan(v))

    def positive(col, what):
        if given(col) and not row[col] > 0:
            bad.append((col, f"{col} must be > 0 ({what}; got {row[col]!r})"))

    def at_least_two(col):
        if given(col) and not row[col] >= 2:
            bad.append((col, f"{col} must be at least 2 (got {row[col]!r}): an SD needs n >= 2"))

    if layout == "continuous":
        positive("sd1i", "a standard deviation")
        positive("sd2i", "a standard deviation")
        at_least_two("n1i")
        at_least_two("n2i")
        if measure == "ROM":
            for col in ("m1i", "m2i"):
                if given(col) and row[col] == 0:
                    bad.append((col, f"{col} is 0: the log ratio of means needs non-zero means"))
            if given("m1i") and given("m2i") and row["m1i"] * row["m2i"] < 0:
                bad.append(
                    ("m2i", "m1i and m2i have opposite signs: the ratio of means is negative")
                )
    elif layout == "mean":
        positive("sdi", "a standard deviation")
        at_least_two("ni")
    elif layout == "generic":
        positive("sei", "a standard error")
        positive("vi", "a sampling variance")
    elif layout == "natural":
        positive("estimate", "a ratio on the natural scale")
        positive("ci_lb", "a ratio's confidence limit on the natural scale")
        positive("ci_ub", "a ratio's confidence limit on the natural scale")
        positive("sei", "a standard error of the log ratio")
        if given("ci_lb") and given("ci_ub") and not row["ci_lb"] < row["ci_ub"]:
            bad.append(("ci_ub", f"ci_ub ({row['ci_ub']!r}) must exceed ci_lb ({row['ci_lb']!r})"))
        elif given("estimate") and given("ci_lb") and given("ci_ub"):
            if not row["ci_lb"] <= row["estimate"] <= row["ci_ub"]:
                col = "ci_lb" if row["estimate"] < row["ci_lb"] else "ci_ub"
                bad.append(
                    (
                        col,
                        f"the CI [{row['ci_lb']!r}, {row['ci_ub']!r}] does not contain its "
                        f"estimate {row['estimate']!r}",
                    )
                )
    else:
        raise ValueError(f"unknown layout {layout!r}")
    return bad
