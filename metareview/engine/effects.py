"""Effect sizes for binary outcomes, with metafor's ``escalc`` meaning.

Two-arm measures (2x2 table ``ai, bi, ci, di`` with ``n1i = ai + bi``, ``n2i = ci + di``):

* ``OR``  log odds ratio,  vi = 1/ai + 1/bi + 1/ci + 1/di
* ``RR``  log risk ratio,  vi = 1/ai - 1/n1i + 1/ci - 1/n2i
* ``RD``  risk difference, vi = p1(1-p1)/n1i + p2(1-p2)/n2i   (large-sample "LS")

Single-arm measures (``xi`` events of ``ni``):

* ``PR`` raw proportion, ``PLN`` log, ``PLO`` logit, ``PAS`` arcsine square root,
  ``PFT`` Freeman-Tukey double arcsine (Freeman & Tukey 1950; vi = 1/(4 ni + 2)).

Zero cells follow metafor (Viechtbauer 2010, ``help(escalc)``): ``add`` is added to every
cell of the studies selected by ``to`` (``only0``: studies with a zero cell; ``all``: every
study; ``if0all``: every study when any study has a zero cell; ``none``). ``PAS`` and
``PFT`` need no correction and default to ``add = 0``. ``drop00`` sets studies with no
events (or only events) in both arms to missing. ``correction="treatment_arm"`` replaces the
constant by the treatment-arm continuity correction of Sweeting, Sutton & Lambert (2004,
Stat Med 23:1351), which adds ``R/(R+1)`` to the intervention cells and ``1/(R+1)`` to the
control cells (R = n2i/n1i, the ratio of control to intervention arm size), the two
corrections summing to ``2 * add``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from metareview.engine import measures
from metareview.engine.measures import default_add

ZERO_RULES = ("only0", "all", "if0all", "none")


NOT_ESTIMABLE = "effect size not estimable (zero cell without correction)"


def mark_not_estimable(yi, vi, excluded):
    """Set studies with a non-finite effect or a non-positive variance to missing."""
    bad = ~(np.isfinite(yi) & np.isfinite(vi) & (vi > 0))
    for i in np.flatnonzero(bad):
        if excluded[i] is None:
            excluded[i] = NOT_ESTIMABLE
    yi[bad] = np.nan
    vi[bad] = np.nan


@dataclass
class EffectSizes:
    """Per-study effect sizes with the counts and corrections that produced them."""

    measure: str
    yi: np.ndarray
    vi: np.ndarray
    correction: list[str]
    excluded: list[str | None]
    counts: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def usable(self) -> np.ndarray:
        return np.isfinite(self.yi) & np.isfinite(self.vi)


def _as_float(values) -> np.ndarray:
    return np.asarray(values, dtype=float)


def _select_zero_rows(has_zero: np.ndarray, to: str) -> np.ndarray:
    if to == "all":
        return np.ones_like(has_zero)
    if to == "only0":
        return has_zero.copy()
    if to == "if0all":
        return np.full_like(has_zero, bool(has_zero.any()))
    if to == "none":
        return np.zeros_like(has_zero)
    raise ValueError(f"unknown zero-cell rule to={to!r}; choose one of {', '.join(ZERO_RULES)}")


def _label(add: float, to: str, kind: str = "constant") -> str:
    if kind == "treatment_arm":
        return f"treatment-arm correction (total {2 * add:g}, {to})"
    return f"add {add:g} ({to})"


def escalc_two_arm(
    measure: str,
    ai,
    n1i,
    ci,
    n2i,
    *,
    add: float | None = None,
    to: str = "only0",
    drop00: bool = False,
    correction: str = "constant",
) -> EffectSizes:
    """Effect sizes of 2x2 tables (see module docstring)."""
    if not measures.is_two_arm(measure):
        known = ", ".join(measures.codes(measures.TWO_ARM_BINARY))
        raise ValueError(f"measure {measure!r} is not a two-arm measure ({known})")
    add = default_add(measure) if add is None else float(add)
    ai, n1i, ci, n2i = (_as_float(x) for x in (ai, n1i, ci, n2i))
    bi, di = n1i - ai, n2i - ci
    k = ai.size
    excluded: list[str | None] = [None] * k
    dropped = np.zeros(k, dtype=bool)
    if drop00:
        dropped = ((ai == 0) & (ci == 0)) | ((bi == 0) & (di == 0))
        for i in np.flatnonzero(dropped):
            excluded[i] = "no events (or only events) in both arms (drop00)"
    has_zero = ((ai == 0) | (bi == 0) | (ci == 0) | (di == 0)) & ~dropped
    rows = _select_zero_rows(has_zero, to) & ~dropped
    add1 = np.zeros(k)
    add2 = np.zeros(k)
    if add > 0:
        if correction == "treatment_arm":
            ratio = n2i / n1i  # Sweeting 2004: R = control / treatment arm size
            add1 = np.where(rows, 2 * add * ratio / (ratio + 1), 0.0)
            add2 = np.where(rows, 2 * add / (ratio + 1), 0.0)
        elif correction == "constant":
            add1 = np.where(rows, add, 0.0)
            add2 = add1
        else:
            raise ValueError(f"unknown correction {correction!r} (constant or treatment_arm)")
    a, b, c, d = ai + add1, bi + add1, ci + add2, di + add2
    m1, m2 = a + b, c + d
    p1, p2 = a / m1, c / m2
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "OR":
            yi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))
            vi = 1 / a + 1 / b + 1 / c + 1 / d
        elif measure == "RR":
            yi = np.log(p1) - np.log(p2)
            vi = 1 / a - 1 / m1 + 1 / c - 1 / m2
        elif measure == "PETO":
            n = m1 + m2
            xt, yt = a + c, b + d
            var = xt * yt * (m1 / n) * (m2 / n) / (n - 1)
            yi = (a - xt * m1 / n) / var
            vi = 1 / var
        else:  # RD
            yi = p1 - p2
            vi = p1 * (1 - p1) / m1 + p2 * (1 - p2) / m2
    yi = np.where(dropped, np.nan, yi)
    vi = np.where(dropped, np.nan, vi)
    applied = rows & (add > 0)
    label = _label(add, to, correction)
    labels = [label if a else "none" for a in applied.tolist()]
    mark_not_estimable(yi, vi, excluded)
    return EffectSizes(
        measure, yi, vi, labels, excluded, {"ai": ai, "n1i": n1i, "ci": ci, "n2i": n2i}
    )


def escalc_single_arm(
    measure: str,
    xi,
    ni,
    *,
    add: float | None = None,
    to: str = "only0",
) -> EffectSizes:
    """Effect sizes of single proportions (see module docstring)."""
    if measures.get(measure).kind != measures.SINGLE_ARM_BINARY:
        known = ", ".join(measures.codes(measures.SINGLE_ARM_BINARY))
        raise ValueError(f"measure {measure!r} is not a single-arm measure ({known})")
    add = default_add(measure) if add is None else float(add)
    xi, ni = _as_float(xi), _as_float(ni)
    mi = ni - xi
    k = xi.size
    has_zero = (xi == 0) | (mi == 0)
    rows = _select_zero_rows(has_zero, to)
    inc = np.where(rows, add, 0.0)
    x, m = xi + inc, mi + inc
    n = x + m
    p = x / n
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "PR":
            yi = p
            vi = p * (1 - p) / n
        elif measure == "PLN":
            yi = np.log(p)
            vi = 1 / x - 1 / n
        elif measure == "PLO":
            yi = np.log(p / (1 - p))
            vi = 1 / x + 1 / m
        elif measure == "PAS":
            yi = np.arcsin(np.sqrt(p))
            vi = 1 / (4 * n)
        else:  # PFT
            yi = 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))
            vi = 1 / (4 * n + 2)
    applied = rows & (add > 0)
    label = _label(add, to)
    labels = [label if a else "none" for a in applied.tolist()]
    excluded: list[str | None] = [None] * k
    mark_not_estimable(yi, vi, excluded)
    return EffectSizes(measure, yi, vi, labels, excluded, {"xi": xi, "ni": ni})


def escalc(measure: str, data: dict, **options) -> EffectSizes:
    """Dispatch on the measure: ``data`` holds ``ai, n1i, ci, n2i`` or ``xi, ni``."""
    if measures.is_two_arm(measure):
        return escalc_two_arm(measure, data["ai"], data["n1i"], data["ci"], data["n2i"], **options)
    options.pop("drop00", None)
    options.pop("correction", None)
    return escalc_single_arm(measure, data["xi"], data["ni"], **options)
