"""Sensitivity analyses: leave-one-out, influence diagnostics, Baujat plot data, cumulative.

Everything follows metafor 3.8.1 (``leave1out``, ``influence.rma.uni``, ``baujat.rma``,
``cumul``) for inverse-variance models (``rma.uni``: FE and every tau^2 estimator, z or
knha) and, where metafor has them, for Mantel-Haenszel (``rma.mh``) and Peto
(``rma.peto``) models:

* Every refit is a complete meta-analysis with the settings of the full model. For
  inverse-variance models the per-study ``yi``/``vi`` are those of the full data (metafor
  refits ``x$yi.f`` with ``subset``); MH and Peto refits start again from the 2x2 tables,
  so ``add``/``to``/``drop00`` (and ``to = "if0all"`` in particular) apply to the studies
  of each refit, as ``rma.mh(..., subset = -i)`` does.
* The k refits of a leave-one-out (or the k steps of a cumulative meta-analysis) are k
  meta-analyses: inverse-variance refits are pooled at once by
  :func:`metareview.engine.models.fit_iv_many` with a ``(k, k)`` mask; MH and Peto refits are
  masked sums.
* A refit with one study follows ``rma.uni`` with k = 1: tau^2 = 0, z test, Q = 0
  (p = 1), I^2 = 0, H^2 = 1. A refit that fails in metafor (tau^2 estimator not
  converging, no events in an arm for an MH ratio, ...) gives missing values (``None``)
  in that row and a warning, as metafor's ``try()`` does.
* Rows are the studies in the full model (metafor's default ``na.action = "na.omit"``):
  the studies with an estimable ``yi`` for inverse-variance models; every 2x2 table
  (double-zero tables included) for MH and Peto models.
* Back-transformed estimates and CIs use :func:`metareview.engine.transforms.back_transform`;
  for PFT the harmonic mean of the ``ni`` of the studies in each refit.

Influence diagnostics (Viechtbauer & Cheung 2010, Res Synth Methods 1:112) are those of
``influence.rma.uni``; a study is marked influential when |DFFITS| > 3 sqrt(p/(k-p)), or
pchisq(Cook's D, 1) > 0.5, or hat > 3p/k, or |DFBETAS| > 1 (p = 1). The Baujat plot
(Baujat et al. 2002, Stat Med 21:2641) has x = squared Pearson residual (the study's
contribution to Q for fixed-effect, MH and Peto models) and y = (estimate - estimate
without the study)^2 / var(estimate without the study).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import special

from metareview.engine import tau2 as tau2mod
from metareview.engine.casefits import Refits, fit_refits
from metareview.engine.effects import EffectSizes, escalc
from metareview.engine.measures import default_add, default_drop00
from metareview.engine.models import (
    ALL_METHODS,
    IV_METHODS,
    TESTS,
    chi2_sf,
    clean,
    fit_iv_many,
    norm_crit,
    norm_sf2,
)
from metareview.engine.transforms import back_transform
from metareview.errors import AnalysisError

__all__ = [
    "Baujat",
    "Cumulative",
    "Deletions",
    "Influence",
    "LeaveOneOut",
    "baujat",
    "cumulative",
    "deletions",
    "influence",
    "leave_one_out",
    "order_keys",
    "case_arguments",
    "run_all",
]

#: per-refit statistics, in output order
ROW_FIELDS = (
    "k",
    "estimate",
    "se",
    "stat",
    "pval",
    "df",
    "ci_lb",
    "ci_ub",
    "q",
    "q_df",
    "q_pval",
    "tau2",
    "i2",
    "h2",
)
INT_FIELDS = ("k", "df", "q_df")
EPS = np.finfo(float).eps

# --------------------------------------------------------------------------- results


def _num(value: Any) -> Any:
    """A float/int (or None) of one array element."""
    value = float(value)
    return value if math.isfinite(value) else None


def _row(columns: Mapping[str, np.ndarray], back: Mapping[str, np.ndarray], i: int):
    row: dict[str, Any] = {}
    for name in ROW_FIELDS:
        val = _num(columns[name][i])
        row[name] = int(val) if (val is not None and name in INT_FIELDS) else val
    row["back"] = {key: _num(back[key][i]) for key in ("estimate", "ci_lb", "ci_ub")}
    return row


@dataclass
class _Header:
    measure: str
    method: str
    test: str
    level: float
    model: str
    k: int

    @classmethod
    def of(cls, m: _Model, **fields: Any):
        """The result of an analysis of model ``m`` with its own ``fields``."""
        return cls(m.measure, m.method, m.test, m.level, m.model, m.k, **fields)

    def _head(self, analysis: str) -> dict[str, Any]:
        return {
            "analysis": analysis,
            "measure": self.measure,
            "method": self.method,
            "test": self.test,
            "level": self.level,
            "model": self.model,
            "k": self.k,
        }


@dataclass
class LeaveOneOut(_Header):
    """One refit per study of the full model, without that study (metafor ``leave1out``)."""

    studies: list[str] = field(default_factory=list)
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    back: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = self._head("leave_one_out")
        out["studies"] = [
            {"study": sid, **_row(self.columns, self.back, i)} for i, sid in enumerate(self.studies)
        ]
        out["warnings"] = list(self.warnings)
        return clean(out)


@dataclass
class Cumulative(_Header):
    """Refits adding one study at a time in ``order`` (metafor ``cumul``)."""

    order: list[str] = field(default_factory=list)
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    back: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = self._head("cumulative")
        out["order"] = list(self.order)
        out["steps"] = [
            {"step": i + 1, "study": sid, **_row(self.columns, self.back, i)}
            for i, sid in enumerate(self.order)
        ]
        out["warnings"] = list(self.warnings)
        return clean(out)


INFLUENCE_FIELDS = (
    "rstudent",
    "dffits",
    "cook_d",
    "cov_r",
    "tau2_del",
    "qe_del",
    "hat",
    "weight",
    "dfbs",
)


@dataclass
class Influence(_Header):
    """Case-deletion diagnostics of an inverse-variance model (``influence.rma.uni``)."""

    studies: list[str] = field(default_factory=list)
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    inf: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    criteria: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = self._head("influence")
        out["criteria"] = dict(self.criteria)
        rows = []
        for i, sid in enumerate(self.studies):
            row: dict[str, Any] = {"study": sid}
            row.update({name: _num(self.columns[name][i]) for name in INFLUENCE_FIELDS})
            row["inf"] = bool(self.inf[i])
            rows.append(row)
        out["studies"] = rows
        out["warnings"] = list(self.warnings)
        return clean(out)


@dataclass
class Baujat(_Header):
    """Baujat plot coordinates per study (metafor ``baujat.rma``)."""

    studies: list[str] = field(default_factory=list)
    x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    xlab: str = ""
    ylab: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = self._head("baujat")
        out["xlab"] = self.xlab
        out["ylab"] = self.ylab
        out["studies"] = [
            {"study": sid, "x": _num(self.x[i]), "y": _num(self.y[i])}
            for i, sid in enumerate(self.studies)
        ]
        out["warnings"] = list(self.warnings)
        return clean(out)


# --------------------------------------------------------------------------- inputs


@dataclass
class _Model:
    """What every analysis needs: the model, its rows and the data to refit it."""

    measure: str
    method: str
    test: str
    level: float
    model: str
    ids: list[str]  # study ids of the rows in the full model
    rows: np.ndarray  # input positions of those rows
    y: np.ndarray  # IV: yi of those rows
    v: np.ndarray  # IV: vi of those rows
    counts: dict[str, np.ndarray]  # MH/PETO: 2x2 counts of those rows; PFT: ni
    add: float
    to: str
    drop00: bool

    @property
    def k(self) -> int:
        return len(self.ids)

    @property
    def is_iv(self) -> bool:
        return self.method in IV_METHODS


def _prepare(es: EffectSizes, study_ids, method, test, level, add, to, drop00, what) -> _Model:
    if method not in ALL_METHODS:
        raise AnalysisError(f"{what}: unknown method {method!r}")
    if test not in TESTS:
        raise AnalysisError(f"{what}: unknown test {test!r}; choose z or knha")
    ids = [str(s) for s in study_ids]
    if len(ids) != es.yi.size:
        raise AnalysisError(f"{what}: {len(ids)} study ids for {es.yi.size} effect sizes")
    measure = "OR" if es.measure == "PETO" else es.measure
    add = default_add(measure) if add is None else float(add)
    drop00 = default_drop00(method) if drop00 is None else bool(drop00)
    if method in ("MH", "PETO"):
        if test != "z":
            raise AnalysisError(f"{what}: method {method} supports test z only")
        names = ("ai", "n1i", "ci", "n2i")
        if any(n not in es.counts for n in names):
            raise AnalysisError(f"{what}: method {method} needs 2x2 counts (ai, n1i, ci, n2i)")
        if method == "MH" and measure not in ("OR", "RR", "RD"):
            raise AnalysisError(f"{what}: Mantel-Haenszel needs measure OR, RR or RD")
        if method == "PETO" and measure != "OR":
            raise AnalysisError(f"{what}: the Peto method pools odds ratios only")
        counts = {n: np.asarray(es.counts[n], dtype=float) for n in names}
        keep = np.all([np.isfinite(c) for c in counts.values()], axis=0)
        counts = {n: c[keep] for n, c in counts.items()}
        model = method
        y = v = np.zeros(int(keep.sum()))
    else:
        keep = es.usable
        y, v = es.yi[keep], es.vi[keep]
        counts = {n: np.asarray(c, dtype=float)[keep] for n, c in es.counts.items()}
        model = "FE" if method == "FE" else "RE"
    rows = np.flatnonzero(keep)
    if rows.size < 2:
        raise AnalysisError(
            f"{what}: k = {rows.size}; sensitivity analyses need at least two studies"
        )
    kept = [ids[i] for i in rows]
    return _Model(
        measure, method, test, float(level), model, kept, rows, y, v, counts, add, to, drop00
    )


# --------------------------------------------------------------------------- fitting


def _empty(g: int) -> dict[str, np.ndarray]:
    return {name: np.full(g, np.nan) for name in ROW_FIELDS}


def _iv_fits(m: _Model, mask) -> dict[str, np.ndarray]:
    """Inverse-variance refits of the rows of ``mask`` (a (G, k) array, or the k refits of
    a :class:`~metareview.engine.casefits.Refits`), metafor's k = 1 rule."""
    structured = isinstance(mask, Refits)
    g = mask.shape[0]
    k = mask.sizes(np.arange(g)) if structured else mask.sum(1)
    out = _empty(g)
    out["k"] = k.astype(float)
    out["s2w"] = np.full(g, np.nan)
    out["ok"] = np.zeros(g, dtype=bool)
    multi = np.flatnonzero(k >= 2)
    if multi.size:
        if structured:
            r = fit_refits(m.y, m.v, mask, multi, m.method, m.test, m.level)
        else:
            y = np.broadcast_to(m.y, mask.shape)
            v = np.broadcast_to(m.v, mask.shape)
            r = fit_iv_many(y[multi], v[multi], mask[multi], m.method, m.test, m.level)
        ok = np.asarray(r["converged"], dtype=bool)
        for name in ROW_FIELDS:
            if name in ("k", "df"):
                continue
            out[name][multi] = np.where(ok, np.asarray(r[name], dtype=float), np.nan)
        if m.test == "knha":
            out["df"][multi] = np.where(ok, k[multi] - 1, np.nan)
            if structured:
                rss = r["rss"]
            else:
                rss = tau2mod.weighted_parts(y[multi], v[multi], mask[multi], r["tau2"])[4]
            s2w = np.where(rss <= EPS, 0.0, rss / (k[multi] - 1))
        else:
            s2w = np.ones(multi.size)
        out["s2w"][multi] = np.where(ok, s2w, np.nan)
        out["ok"][multi] = ok
    one = np.flatnonzero(k == 1)
    if one.size:  # rma.uni with k = 1: tau2 = 0, z test, no heterogeneity
        col = (mask.mask(one) if structured else mask[one]).argmax(1)
        est, se = m.y[col], np.sqrt(m.v[col])
        crit = norm_crit(m.level)
        out["estimate"][one] = est
        out["se"][one] = se
        out["stat"][one] = est / se
        out["pval"][one] = norm_sf2(est / se)
        out["ci_lb"][one] = est - crit * se
        out["ci_ub"][one] = est + crit * se
        out["q"][one] = 0.0
        out["q_df"][one] = 0.0
        out["q_pval"][one] = 1.0
        out["tau2"][one] = 0.0
        out["i2"][one] = 0.0
        out["h2"][one] = 1.0
        out["s2w"][one] = 1.0
        out["ok"][one] = True
    return out


def _yi_groups(m: _Model, mask: np.ndarray, measure: str):
    """Per-refit ``yi``/``vi`` of 2x2 tables (escalc on the refit's studies: ``if0all``)."""
    data = {n: m.counts[n] for n in ("ai", "n1i", "ci", "n2i")}
    if m.to != "if0all":
        es = escalc(measure, data, add=m.add, to=m.to, drop00=m.drop00)
        return np.broadcast_to(es.yi, mask.shape), np.broadcast_to(es.vi, mask.shape)
    es_all = escalc(measure, data, add=m.add, to="all", drop00=m.drop00)
    es_none = escalc(measure, data, add=m.add, to="none", drop00=m.drop00)
    a, n1, c, n2 = (data[n] for n in ("ai", "n1i", "ci", "n2i"))
    b, d = n1 - a, n2 - c
    dropped = (
        (((a == 0) & (c == 0)) | ((b == 0) & (d == 0))) if m.drop00 else np.zeros_like(a, bool)
    )
    zero = ((a == 0) | (b == 0) | (c == 0) | (d == 0)) & ~dropped
    any0 = (mask & zero).any(1)[:, None] & (m.add > 0)
    return np.where(any0, es_all.yi, es_none.yi), np.where(any0, es_all.vi, es_none.vi)


def _fixed_q(out, mask, yi, vi, beta, k_yi):
    """Q, I^2, H^2 of an MH fit from the refit's yi/vi (k_yi > 1), else 0/1/0/1."""
    use = mask & np.isfinite(yi) & np.isfinite(vi)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(use, 1.0 / np.where(use, vi, 1.0), 0.0)
        resid = np.where(use, yi - beta[:, None], 0.0)
        q = np.maximum(0.0, (w * resid**2).sum(1))
        q = np.where(np.isnan(beta), np.nan, q)
    _set_q(out, q, k_yi, k_yi > 1)


def _set_q(out, q, k_yi, informative):
    """metafor's rule: with k_yi > 1 (Peto: k_pos > 1) Q-test, I^2 = max(0, (Q - df)/Q),
    H^2 = Q/df (df = k_yi - 1); otherwise Q = 0, p = 1, I^2 = 0, H^2 = 1."""
    df = np.maximum(k_yi - 1, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["q"] = np.where(informative, q, 0.0)
        out["q_df"] = np.maximum(k_yi - 1, 0).astype(float)
        out["q_pval"] = np.where(informative, chi2_sf(q, df), 1.0)
        out["i2"] = np.where(informative, np.maximum(0.0, 100 * (q - (k_yi - 1)) / q), 0.0)
        out["h2"] = np.where(informative, q / df, 1.0)


def _z_block(out, beta, se, level):
    crit = norm_crit(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["estimate"] = beta
        out["se"] = se
        out["stat"] = beta / se
        out["pval"] = norm_sf2(beta / se)
        out["ci_lb"] = beta - crit * se
        out["ci_ub"] = beta + crit * se


def _mh_fits(m: _Model, mask: np.ndarray) -> dict[str, np.ndarray]:
    """Mantel-Haenszel refits (``rma.mh``: estimator on the raw tables, Q from yi/vi)."""
    g = mask.shape[0]
    a, n1, c, n2 = (m.counts[n] for n in ("ai", "n1i", "ci", "n2i"))
    b, d = n1 - a, n2 - c
    n = n1 + n2

    def msum(term):
        return np.where(mask, term, 0.0).sum(1)

    with np.errstate(invalid="ignore", divide="ignore"):
        if m.measure == "OR":
            p_, q_ = a / n + d / n, b / n + c / n
            r_, s_ = (a / n) * d, (b / n) * c
            big_r, big_s = msum(r_), msum(s_)
            bad = (big_r == 0) | (big_s == 0)
            beta = np.log(big_r / big_s)
            se = np.sqrt(
                0.5
                * (
                    msum(p_ * r_) / big_r**2
                    + msum(p_ * s_ + q_ * r_) / (big_r * big_s)
                    + msum(q_ * s_) / big_s**2
                )
            )
        elif m.measure == "RR":
            big_r, big_s = msum(a * (n2 / n)), msum(c * (n1 / n))
            bad = (msum(a) == 0) | (msum(c) == 0)
            beta = np.log(big_r / big_s)
            se = np.sqrt(msum((n1 / n) * (n2 / n) * (a + c) - (a / n) * c) / (big_r * big_s))
        else:  # RD
            denom = msum(n1 * (n2 / n))
            beta = msum(a * (n2 / n) - c * (n1 / n)) / denom
            se = np.sqrt(
                (
                    beta
                    * msum(
                        c * (n1 / n) ** 2 - a * (n2 / n) ** 2 + (n1 / n) * (n2 / n) * (n2 - n1) / 2
                    )
                    + msum(a * (n2 - c) / n + c * (n1 - a) / n) / 2
                )
                / denom**2
            )
            bad = np.zeros(g, dtype=bool)
    beta = np.where(bad, np.nan, beta)
    se = np.where(bad, np.nan, se)
    out = _empty(g)
    out["k"] = mask.sum(1).astype(float)
    _z_block(out, beta, se, m.level)
    yi, vi = _yi_groups(m, mask, m.measure)
    k_yi = (mask & np.isfinite(yi) & np.isfinite(vi)).sum(1)
    _fixed_q(out, mask, yi, vi, beta, k_yi)
    out["ok"] = ~bad
    return out


def _peto_fits(m: _Model, mask: np.ndarray) -> dict[str, np.ndarray]:
    """Peto refits (``rma.peto``: O - E and V of the raw tables; Q from (O - E)^2 / V)."""
    g = mask.shape[0]
    a, n1, c, n2 = (m.counts[n] for n in ("ai", "n1i", "ci", "n2i"))
    n = n1 + n2
    xt, yt = a + c, n - a - c
    with np.errstate(invalid="ignore", divide="ignore"):
        e = xt * n1 / n
        var = xt * yt * (n1 / n) * (n2 / n) / (n - 1)
        o_e = np.where(mask, a - e, 0.0)
        sv = np.where(mask, var, 0.0).sum(1)
        bad = sv == 0  # metafor stops: "one of the two outcomes never occurred"
        beta = o_e.sum(1) / sv
        se = np.sqrt(1 / sv)
        pos = mask & (var > 0)
        q = np.maximum(
            0.0,
            np.where(pos, (a - e) ** 2 / np.where(pos, var, 1.0), 0.0).sum(1)
            - o_e.sum(1) ** 2 / np.where(pos, var, 0.0).sum(1),
        )
    out = _empty(g)
    out["k"] = mask.sum(1).astype(float)
    _z_block(out, np.where(bad, np.nan, beta), np.where(bad, np.nan, se), m.level)
    yi, vi = _yi_groups(m, mask, "PETO")
    k_yi = (mask & np.isfinite(yi) & np.isfinite(vi)).sum(1)
    k_pos = pos.sum(1)
    _set_q(out, np.where(bad, np.nan, q), k_yi, k_pos > 1)
    out["q"] = np.where(bad, np.nan, q)  # Peto's Q is reported even when k_pos <= 1
    for name in ("q_df", "q_pval", "i2", "h2"):
        out[name] = np.where(bad, np.nan, out[name])
    out["ok"] = ~bad
    return out


#: cells of one block of Mantel-Haenszel or Peto refits (their sums are row sums over
#: (refits, k) arrays: in blocks, k = 5,000 needs ~100 MB instead of ~1 GB)
TABLE_BLOCK_CELLS = 1 << 20


def _fits(m: _Model, mask) -> dict[str, np.ndarray]:
    if m.method in ("MH", "PETO") and isinstance(mask, Refits):
        n = mask.shape[0]
        step = max(1, TABLE_BLOCK_CELLS // max(m.k, 1))
        if n <= step:
            return _fits(m, mask.dense())
        parts = [
            _fits(m, mask.mask(np.arange(start, min(start + step, n)), m.k))
            for start in range(0, n, step)
        ]
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    if m.method == "MH":
        out = _mh_fits(m, mask)
    elif m.method == "PETO":
        out = _peto_fits(m, mask)
    else:
        return _iv_fits(m, mask)
    out["tau2"] = np.full(mask.shape[0], np.nan)
    out["s2w"] = np.ones(mask.shape[0])
    return out


def _refit_back(m: _Model, cols: Mapping[str, np.ndarray], mask) -> dict[str, np.ndarray]:
    """Back-transformed estimate and CI per refit (PFT: harmonic mean of the refit's ni)."""
    keys = ("estimate", "ci_lb", "ci_ub")
    if m.measure == "PFT":
        out = {key: np.full(mask.shape[0], np.nan) for key in keys}
        for i in range(mask.shape[0]):
            row = mask.mask(np.array([i]))[0] if isinstance(mask, Refits) else mask[i]
            ni = m.counts["ni"][row]
            for key in keys:
                out[key][i] = back_transform("PFT", cols[key][i], ni=ni)
    else:
        out = {key: np.asarray(back_transform(m.measure, cols[key]), dtype=float) for key in keys}
    lo = np.fmin(out["ci_lb"], out["ci_ub"])  # as metafor's .psort after transf
    hi = np.fmax(out["ci_lb"], out["ci_ub"])
    both = np.isfinite(out["ci_lb"]) & np.isfinite(out["ci_ub"])
    out["ci_lb"] = np.where(both, lo, out["ci_lb"])
    out["ci_ub"] = np.where(both, hi, out["ci_ub"])
    return out


def _failures(cols, labels: Sequence[str], what: str) -> list[str]:
    return [
        f"{what} {lab}: the model could not be fitted"
        for lab, ok in zip(labels, cols["ok"], strict=True)
        if not ok
    ]


def _columns(cols: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: np.asarray(cols[name], dtype=float) for name in ROW_FIELDS}


def _full_fit(m: _Model, what: str) -> dict[str, np.ndarray]:
    full = _fits(m, np.ones((1, m.k), dtype=bool))
    if not full["ok"][0]:
        raise AnalysisError(f"{what}: the {m.method} model of all studies could not be fitted")
    return full


def _vb_del(v: np.ndarray, t2_del: np.ndarray) -> np.ndarray:
    """1 / sum_j 1/(v_j + tau2_(-i)) over all k studies, per deletion i (in row chunks)."""
    out = np.empty(t2_del.size)
    step = max(1, (1 << 20) // max(v.size, 1))
    for start in range(0, t2_del.size, step):
        part = slice(start, start + step)
        out[part] = 1.0 / (1.0 / (v[None, :] + t2_del[part, None])).sum(1)
    return out


@dataclass
class Deletions:
    """The k refits of one model without one study each: computed once per outcome and
    read by :func:`leave_one_out`, :func:`influence` and :func:`baujat`."""

    model: _Model
    refits: Refits
    cols: dict[str, np.ndarray]
    _full: dict[str, np.ndarray] | None = None

    def full_fit(self, what: str) -> dict[str, np.ndarray]:
        """The fit of all k studies (the model the deletions are compared with)."""
        if self._full is None:
            self._full = _full_fit(self.model, what)
        return self._full


def deletions(
    es: EffectSizes,
    study_ids: Sequence[Any],
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
    add: float | None = None,
    to: str = "only0",
    drop00: bool | None = None,
    what: str = "leave-one-out",
) -> Deletions:
    """The k case-deletion refits (arguments as :func:`leave_one_out`)."""
    m = _prepare(es, study_ids, method, test, level, add, to, drop00, what)
    refits = Refits("delete", m.k)
    return Deletions(m, refits, _fits(m, refits))


# --------------------------------------------------------------------------- public API


def leave_one_out(
    es: EffectSizes,
    study_ids: Sequence[Any],
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
    add: float | None = None,
    to: str = "only0",
    drop00: bool | None = None,
    what: str = "leave-one-out",
    shared: Deletions | None = None,
) -> LeaveOneOut:
    """Refit the model k times, each time without one study (metafor ``leave1out``).

    ``es``/``study_ids``/``method``/``test``/``level`` are those of
    :func:`metareview.engine.models.rma`; for ``method="MH"`` or ``"PETO"`` the refits start from
    ``es.counts`` with the zero-cell rule ``add``/``to``/``drop00`` (defaults metafor's:
    1/2, ``only0``, TRUE). ``shared``: the refits of :func:`deletions` for the same
    arguments, computed once for leave-one-out, influence and Baujat.
    """
    if shared is None:
        shared = deletions(
            es,
            study_ids,
            method=method,
            test=test,
            level=level,
            add=add,
            to=to,
            drop00=drop00,
            what=what,
        )
    m, mask, cols = shared.model, shared.refits, shared.cols
    return LeaveOneOut.of(
        m,
        studies=list(m.ids),
        columns=_columns(cols),
        back=_refit_back(m, cols, mask),
        warnings=_failures(cols, m.ids, "omitting"),
    )


def _sort_part(value: Any) -> tuple[bool, Any]:
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    return (missing, 0 if missing else value)


def _order_index(order: Sequence[Any] | None, n: int) -> np.ndarray:
    """Stable sort of the keys (R's ``order()``: missing values last, ties in input order)."""
    if order is None:
        return np.arange(n)
    keys = list(order)
    if len(keys) != n:
        raise AnalysisError(f"cumulative: {len(keys)} order keys for {n} studies")

    def norm(key: Any) -> tuple:
        parts = key if isinstance(key, tuple) else (key,)
        return tuple(_sort_part(p) for p in parts)

    return np.array(sorted(range(n), key=lambda i: norm(keys[i])), dtype=int)


def cumulative(
    es: EffectSizes,
    study_ids: Sequence[Any],
    *,
    order: Sequence[Any] | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
    add: float | None = None,
    to: str = "only0",
    drop00: bool | None = None,
    what: str = "cumulative meta-analysis",
) -> Cumulative:
    """Cumulative meta-analysis (metafor ``cumul``): step j pools the first j studies.

    ``order`` holds one sort key per input study (``study_ids`` order), e.g. ``(year,
    label)`` tuples; studies are added in increasing key order (``None``/NaN last, ties in
    input order). Without ``order`` the input order is used. Studies not in the model (no
    estimable ``yi``) get no step.
    """
    m0 = _prepare(es, study_ids, method, test, level, add, to, drop00, what)
    idx = _order_index(order, es.yi.size)
    row_of = {int(pos): j for j, pos in enumerate(m0.rows)}  # input position -> model row
    m = _reorder(m0, np.array([row_of[i] for i in idx if i in row_of], dtype=int))
    mask = Refits("prefix", m.k)
    cols = _fits(m, mask)
    return Cumulative.of(
        m,
        order=list(m.ids),
        columns=_columns(cols),
        back=_refit_back(m, cols, mask),
        warnings=_failures(cols, m.ids, "adding"),
    )


def _reorder(m: _Model, rows: np.ndarray) -> _Model:
    return replace(
        m,
        ids=[m.ids[i] for i in rows],
        rows=m.rows[rows],
        y=m.y[rows],
        v=m.v[rows],
        counts={n: c[rows] for n, c in m.counts.items()},
    )


def influence(
    es: EffectSizes,
    study_ids: Sequence[Any],
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
    what: str = "influence diagnostics",
    shared: Deletions | None = None,
) -> Influence:
    """Case-deletion diagnostics of an inverse-variance model (``influence.rma.uni``);
    ``shared`` as for :func:`leave_one_out`."""
    if method not in IV_METHODS:
        raise AnalysisError(f"{what}: only for inverse-variance models (not {method})")
    if shared is None:
        shared = deletions(es, study_ids, method=method, test=test, level=level, what=what)
    m = shared.model
    k = m.k
    full = shared.full_fit(what)
    beta, se_full, t2 = full["estimate"][0], full["se"][0], full["tau2"][0]
    w = 1.0 / (m.v + t2)
    hat = w / w.sum()
    hat = np.where(hat > 1 - 10 * EPS, 1.0, hat)
    weight = 100 * w / w.sum()
    d = shared.cols
    b_del, se_del, t2_del, s2w = d["estimate"], d["se"], d["tau2"], d["s2w"]
    delta = beta - b_del
    vb_del = _vb_del(m.v, t2_del)
    with np.errstate(invalid="ignore", divide="ignore"):
        dffits = delta / np.sqrt(s2w * hat * (t2_del + m.v))
        dfbs = delta / np.sqrt(s2w * vb_del)
        cook = delta**2 / se_full**2
        cov_r = se_del**2 / se_full**2
        resid = m.y - b_del
        resid = np.where(np.abs(resid) < 100 * EPS, 0.0, resid)
        rstudent = resid / np.sqrt(m.v * s2w + se_del**2 + t2_del * s2w)
        crit_dffits = 3 * math.sqrt(1 / (k - 1))
        inf = (
            (np.abs(dffits) > crit_dffits)
            | (special.chdtr(1, cook) > 0.5)
            | (hat > 3 / k)
            | (np.abs(dfbs) > 1)
        )
    cols = {
        "rstudent": rstudent,
        "dffits": dffits,
        "cook_d": cook,
        "cov_r": cov_r,
        "tau2_del": t2_del,
        "qe_del": d["q"],
        "hat": hat,
        "weight": weight,
        "dfbs": dfbs,
    }
    return Influence.of(
        m,
        studies=list(m.ids),
        columns=cols,
        inf=np.asarray(inf, dtype=bool),
        criteria={"dffits": crit_dffits, "cook_d_pchisq": 0.5, "hat": 3 / k, "dfbs": 1.0},
        warnings=_failures(d, m.ids, "omitting"),
    )


def baujat(
    es: EffectSizes,
    study_ids: Sequence[Any],
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
    add: float | None = None,
    to: str = "only0",
    drop00: bool | None = None,
    what: str = "Baujat plot",
    shared: Deletions | None = None,
) -> Baujat:
    """Baujat plot coordinates (metafor ``baujat.rma``), for every model family;
    ``shared`` as for :func:`leave_one_out`."""
    if shared is None:
        shared = deletions(
            es,
            study_ids,
            method=method,
            test=test,
            level=level,
            add=add,
            to=to,
            drop00=drop00,
            what=what,
        )
    m = shared.model
    full = shared.full_fit(what)
    beta, t2 = full["estimate"][0], full["tau2"][0]
    if m.is_iv:
        yi, vi = m.y, m.v + t2
    else:
        one = np.ones((1, m.k), dtype=bool)
        yy, vv = _yi_groups(m, one, "PETO" if m.method == "PETO" else m.measure)
        yi, vi = yy[0], vv[0]
    resid = yi - beta
    resid = np.where(np.abs(resid) < 100 * EPS, 0.0, resid)
    d = shared.cols
    with np.errstate(invalid="ignore", divide="ignore"):
        x = resid**2 / vi
        y = (d["estimate"] - beta) ** 2 / d["se"] ** 2
    fixed = m.method in ("FE", "MH", "PETO")
    return Baujat.of(
        m,
        studies=list(m.ids),
        x=np.asarray(x, dtype=float),
        y=np.asarray(y, dtype=float),
        xlab="Contribution to overall heterogeneity" if fixed else "Squared Pearson residual",
        ylab="Influence on overall result",
        warnings=_failures(d, m.ids, "omitting"),
    )


# --------------------------------------------------------------------------- from rows


def _key_value(value: Any) -> Any:
    """A sort key part from a table cell: numbers (also numeric text) as floats, '' -> None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    text = str(value).strip()
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


def order_keys(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[tuple]:
    """Sort keys for :func:`cumulative` from table rows, e.g. ``columns=("year", "label")``.

    Missing columns or empty cells sort last; numeric text sorts as numbers.
    """
    keys = []
    for r in rows:
        parts = tuple(_key_value(r.get(c)) for c in columns)
        # numbers before text when a column mixes them (R would have a character column)
        keys.append(tuple((isinstance(p, str), p) if p is not None else None for p in parts))
    return keys


def case_arguments(rows: list[dict], settings):
    """What the case-deletion and cumulative functions take for one outcome's table rows
    and ``pooling.Settings``: ``(es, study_ids, model_args, zero_cell_args)``."""
    from metareview.engine.pooling import effect_sizes

    s = settings.resolved()
    s.check()
    return (
        effect_sizes(rows, s),
        [r["study"] for r in rows],
        {"method": s.method, "test": s.test, "level": s.level},
        {"add": s.add, "to": s.to, "drop00": s.drop00},
    )


def run_all(
    rows: list[dict],
    settings,
    *,
    order_by: Sequence[str] = ("year",),
    what: str = "sensitivity analysis",
) -> dict[str, Any]:
    """All sensitivity analyses of one outcome from table rows and a ``pooling.Settings``.

    Returns ``{"leave_one_out", "cumulative", "baujat", "influence"}`` dictionaries
    (``influence`` is ``None`` for MH and Peto models, which metafor does not support).
    """
    s = settings.resolved()
    es, ids, common, zero = case_arguments(rows, settings)
    shared = deletions(es, ids, **common, **zero, what=what)
    out: dict[str, Any] = {
        "leave_one_out": leave_one_out(
            es, ids, **common, **zero, what=what, shared=shared
        ).to_dict(),
        "cumulative": cumulative(
            es, ids, order=order_keys(rows, order_by), **common, **zero, what=what
        ).to_dict(),
        "baujat": baujat(es, ids, **common, **zero, what=what, shared=shared).to_dict(),
        "influence": None,
    }
    if s.method in IV_METHODS:
        out["influence"] = influence(es, ids, **common, what=what, shared=shared).to_dict()
    out["cumulative"]["order_by"] = list(order_by)
    if any("year" in r for r in rows):
        year_of = {str(r["study"]): _key_value(r.get("year")) for r in rows}
        for step in out["cumulative"]["steps"]:
            y = year_of.get(step["study"])
            step["year"] = int(y) if isinstance(y, float) and y.is_integer() else y
    return out
