"""SDs and SEs derived from what a paper reports (Cochrane Handbook, version 6.4, section
6.5.2.3), each with the sentence that records how: an arm's SD from its mean's SE or CI, and
a generic estimate's SE from its CI. Standard library only (``inputs.tables`` calls it in
every job); the t quantile of a small group's CI is scipy's, imported when needed."""

from __future__ import annotations

import math
from statistics import NormalDist

SMALL_SAMPLE = 60  # Handbook 6.5.2.3: below this many per group, the CI came from t


def z_value(level: float) -> float:
    """Two-sided normal quantile of a confidence level in percent (1.959964 for 95)."""
    return NormalDist().inv_cdf(1 - (1 - float(level) / 100) / 2)


def se_from_ci(lower: float, upper: float, level: float = 95.0, *, log: bool = True) -> float:
    """SE of an estimate from its (symmetric) CI: (upper - lower) / (2 z), on the log scale
    when ``log`` (ratios)."""
    lo, hi = float(lower), float(upper)
    if log:
        lo, hi = math.log(lo), math.log(hi)
    return (hi - lo) / (2 * z_value(level))


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def sd_from_se(se: float, n: float) -> tuple[float, str]:
    """Cochrane Handbook 6.5.2.3: SD = SE x sqrt(n); returns the SD and its derivation."""
    se, n = float(se), float(n)
    if not se > 0 or not n >= 2:
        raise ValueError(f"SD from SE needs SE > 0 and n >= 2 (got SE {se!r}, n {n!r})")
    sd = se * math.sqrt(n)
    return sd, f"SD = SE x sqrt(n) = {_fmt(se)} x sqrt({_fmt(n)}) = {_fmt(sd)} (Handbook 6.5.2.3)"


def sd_from_ci(
    lower: float, upper: float, n: float, level: float = 95.0, *, dist: str = "auto"
) -> tuple[float, str]:
    """Cochrane Handbook 6.5.2.3: SD = sqrt(n) x (upper - lower) / (2 q) from the CI of one
    arm's mean. ``q`` is the normal quantile of ``level`` (``dist="z"``: 1.96 for 95%, so
    the divisor 3.92), the t quantile with n - 1 df (``"t"``), or ``"auto"``: t when n < 60
    (the Handbook's small-sample case), else z. Returns the SD and its derivation."""
    lower, upper, n, level = float(lower), float(upper), float(n), float(level)
    if not upper > lower:
        raise ValueError(f"the CI's upper limit ({upper!r}) must exceed its lower ({lower!r})")
    if not n >= 2:
        raise ValueError(f"SD from a CI needs n >= 2 (got {n!r})")
    if not 0 < level < 100:
        raise ValueError(f"CI level {level!r} is not a percentage between 0 and 100")
    if dist not in ("auto", "z", "t"):
        raise ValueError(f"unknown distribution {dist!r}: auto, z or t")
    use_t = dist == "t" or (dist == "auto" and n < SMALL_SAMPLE)
    p = 1 - (1 - level / 100) / 2
    if use_t:
        from scipy import special  # only for a small group's CI

        q = float(special.stdtrit(n - 1, p))
        which = f"t({_fmt(n - 1)} df)"
    else:
        q = NormalDist().inv_cdf(p)
        which = "normal"
    sd = math.sqrt(n) * (upper - lower) / (2 * q)
    text = (
        f"SD = sqrt(n) x (upper - lower) / (2 x {_fmt(q)}) = sqrt({_fmt(n)}) x "
        f"({_fmt(upper)} - {_fmt(lower)}) / {_fmt(2 * q)} = {_fmt(sd)} "
        f"({_fmt(level)}% CI, {which} quantile; Handbook 6.5.2.3)"
    )
    return sd, text
