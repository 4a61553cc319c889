"""Meta-analytic models: inverse-variance fixed and random effects, Mantel-Haenszel, Peto.

One ``Fit`` object per model; plots, tables, the report and the CLI all read
``Fit.to_dict()``. Conventions follow metafor (``rma.uni``, ``rma.mh``, ``rma.peto``,
``predict.rma``, ``confint.rma.uni``): Q always uses fixed-effect weights 1/v_i;
for random-effects models I^2 = 100 tau^2 / (tau^2 + v_typ) with the "typical" within-study
variance v_typ = (k-1) / (sum w - sum w^2 / sum w) (Higgins & Thompson 2002); for
fixed-effect models I^2 = 100 (Q - (k-1)) / Q truncated at 0. The Hartung-Knapp-Sidik-Jonkman
test ("knha") scales the variance by sum w_i (y_i - mu)^2 / (k-1) and uses t(k-1).
Prediction intervals: mu +/- crit sqrt(se^2 + tau^2) (crit from t(k-1) under knha).
tau^2 and I^2 confidence intervals: Q-profile method (Viechtbauer 2007, Stat Med 26:37).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metareview.engine import tau2 as tau2mod
from metareview.engine.effects import EffectSizes, escalc
from metareview.engine.transforms import back_transform
from metareview.errors import AnalysisError

IV_METHODS = ("FE", "DL", "REML", "ML", "PM", "EB", "SJ", "HE", "HS")
ALL_METHODS = IV_METHODS + ("MH", "PETO")
TESTS = ("z", "knha")


# --- distributions (scipy.special keeps imports light) -------------------------------


class _LazySpecial:
    """``scipy.special``, imported on first use: pipeline jobs that compute no p-value
    (effect tables, screening, the report) skip its import (~0.3 s per process)."""

    def __getattr__(self, name: str):
        return getattr(import_special(), name)


#: numpy submodules that numpy imports on first attribute access and ``scipy.special`` never
#: uses; scipy >= 1.15's array-API layer (``array_api_compat.numpy``) touches every name in
#: ``numpy.__all__`` and ``dir(numpy)`` while it is imported, loading them all (~0.15 s).
_UNUSED_NUMPY = frozenset(
    ("f2py", "testing", "ma", "ctypeslib", "polynomial", "random", "rec", "char", "strings")
)


def import_special():
    """``scipy.special``, importing only what it uses: while scipy is imported, numpy's
    ``__all__`` and ``dir()`` leave out the ``_UNUSED_NUMPY`` submodules not yet loaded;
    afterwards the array-API namespace scipy built answers those names from numpy itself
    (on first use), so nothing is missing from it."""
    if "scipy.special" in sys.modules:
        return sys.modules["scipy.special"]
    hidden = {n for n in _UNUSED_NUMPY if f"numpy.{n}" not in sys.modules}
    names, listing = np.__all__, np.__dir__
    np.__all__ = [n for n in names if n not in hidden]
    np.__dir__ = lambda: [n for n in listing() if n not in hidden]
    try:
        from scipy import special
    finally:
        np.__all__, np.__dir__ = names, listing
    compat = sys.modules.get("scipy._lib.array_api_compat.numpy")
    if compat is not None and "__getattr__" not in vars(compat):
        compat.__getattr__ = lambda name: getattr(np, name) if name in hidden else _no(name)
    return special


def _no(name: str):
    raise AttributeError(name)


special = _LazySpecial()


def norm_sf2(z):
    """Two-sided normal p-value."""
    return special.erfc(np.abs(z) / np.sqrt(2))


def t_sf2(t, df):
    return special.betainc(df / 2, 0.5, df / (df + np.asarray(t) ** 2))


def norm_crit(level: float) -> float:
    return float(special.ndtri(1 - (1 - level / 100) / 2))


def t_crit(level: float, df):
    return special.stdtrit(df, 1 - (1 - level / 100) / 2)


def chi2_sf(x, df):
    return special.chdtrc(df, x)


def chi2_quantile(p, df):
    return special.chdtri(df, 1 - p)


# --- result object ---------------------------------------------------------------------


def clean(value: Any) -> Any:
    """numpy scalars to Python, NaN/inf to None (JSON has no NaN)."""
    kind = type(value)  # the common leaves first (results of 5,000 studies: millions)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if np.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


@dataclass
class Fit:
    """A fitted meta-analysis (intercept-only), on metafor's analysis scale."""

    measure: str
    method: str
    test: str
    level: float
    model: str
    k: int
    estimate: float
    se: float
    ci_lb: float
    ci_ub: float
    stat: float
    pval: float
    df: int | None
    pi_lb: float
    pi_ub: float
    tau2: float | None
    tau2_se: float | None
    tau2_ci_lb: float | None
    tau2_ci_ub: float | None
    i2: float | None
    i2_ci_lb: float | None
    i2_ci_ub: float | None
    h2: float | None
    h2_ci_lb: float | None
    h2_ci_ub: float | None
    q: float | None
    q_df: int | None
    q_pval: float | None
    back: dict[str, float | None]
    studies: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "extra"}
        out.update(self.extra)
        return clean(out)


# fields of a fit that hold statistics (None when a fit could not be made)
STATISTIC_FIELDS = tuple(
    name
    for name in Fit.__dataclass_fields__
    if name
    not in (
        "measure",
        "method",
        "test",
        "level",
        "model",
        "k",
        "back",
        "studies",
        "warnings",
        "extra",
    )
)


# --- vectorised inverse-variance core ------------------------------------------------------


def pad_groups(yi, vi, groups):
    """Long arrays + group codes -> padded (G, kmax) arrays, mask and the group order."""
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    codes, inverse = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    counts = np.bincount(inverse, minlength=codes.size)
    kmax = int(counts.max()) if counts.size else 0
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(order.size) - np.repeat(starts, counts)
    rows = inverse[order]
    y = np.zeros((codes.size, kmax))
    v = np.ones((codes.size, kmax))
    mask = np.zeros((codes.size, kmax), dtype=bool)
    y[rows, pos] = yi[order]
    v[rows, pos] = vi[order]
    mask[rows, pos] = True
    return y, v, mask, codes


def pad_codes(yi, vi, codes, n_groups):
    """Long arrays + integer group codes (0..n_groups-1) -> padded (G, kmax) arrays and mask.

    As ``pad_groups`` without sorting group names: row g holds group g's studies in file
    order (a group with no study is an empty row).
    """
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    codes = np.asarray(codes, dtype=np.int64)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=n_groups)
    kmax = int(counts.max()) if counts.size else 0
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(order.size) - np.repeat(starts, counts)
    rows = codes[order]
    y = np.zeros((n_groups, kmax))
    v = np.ones((n_groups, kmax))
    mask = np.zeros((n_groups, kmax), dtype=bool)
    y[rows, pos] = yi[order]
    v[rows, pos] = vi[order]
    mask[rows, pos] = True
    return y, v, mask


def fit_iv_many(y, v, mask, method="REML", test="z", level=95.0, tau2_ci=False):
    """Intercept-only inverse-variance fits of many meta-analyses at once.

    ``y``, ``v``: (G, kmax) with ``mask``; returns a dict of (G,) arrays.
    """
    if method not in IV_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(IV_METHODS)}")
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; choose z or knha")
    y = np.where(mask, y, 0.0)
    v = np.where(mask, v, 1.0)
    k = mask.sum(1)
    est_t2 = tau2mod.estimate(y, v, mask, method)
    t2 = est_t2.tau2
    w, sw, mu, resid, rss = tau2mod.weighted_parts(y, v, mask, t2)
    var = 1.0 / sw
    df = np.where(test == "knha", k - 1, 0)
    if test == "knha":
        s2w = np.where(rss <= np.finfo(float).eps, 0.0, rss / (k - 1))
        var = s2w * var
        crit = t_crit(level, k - 1)
    else:
        crit = np.full(k.shape, norm_crit(level))
    se = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = mu / se
    pval = t_sf2(stat, k - 1) if test == "knha" else norm_sf2(stat)
    # heterogeneity with fixed-effect weights
    w0, sw0, _, _, q = tau2mod.weighted_parts(y, v, mask, 0.0)
    vt = (k - 1) / tau2mod.p_trace(w0, sw0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "FE":
            i2 = np.maximum(0.0, 100 * (q - (k - 1)) / q)
            h2 = q / (k - 1)
        else:
            i2 = 100 * t2 / (vt + t2)
            h2 = t2 / vt + 1
    pi_half = crit * np.sqrt(var + t2)
    out = {
        "k": k,
        "estimate": mu,
        "se": se,
        "ci_lb": mu - crit * se,
        "ci_ub": mu + crit * se,
        "stat": stat,
        "pval": pval,
        "df": df,
        "pi_lb": mu - pi_half,
        "pi_ub": mu + pi_half,
        "tau2": t2,
        "tau2_se": _tau2_se(method, y, v, mask, t2, k),
        "i2": i2,
        "h2": h2,
        "q": q,
        "q_df": k - 1,
        "q_pval": chi2_sf(q, k - 1),
        "vt": vt,
        "weights": w,
        "converged": est_t2.converged,
        "notes": est_t2.notes,
    }
    if tau2_ci and method != "FE":
        lb, ub = q_profile_ci(y, v, mask, t2, level)
        out["tau2_ci_lb"], out["tau2_ci_ub"] = lb, ub
        out["i2_ci_lb"] = 100 * lb / (vt + lb)
        out["i2_ci_ub"] = 100 * ub / (vt + ub)
        out["h2_ci_lb"] = lb / vt + 1
        out["h2_ci_ub"] = ub / vt + 1
    return out


def _tau2_se(method, y, v, mask, t2, k):
    """Standard error of tau^2 as metafor reports it (``se.tau2``)."""
    w0, sw0, _, _, _ = tau2mod.weighted_parts(y, v, mask, 0.0)
    w, sw, _, _, _ = tau2mod.weighted_parts(y, v, mask, t2)
    t = np.maximum(t2, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "DL":
            trp, spp = tau2mod.p_traces(w0, sw0)
            return np.sqrt(1 / trp**2 * (2 * (k - 1) + 4 * t * trp + 2 * t**2 * spp))
        if method == "HS":
            trp, spp = tau2mod.p_traces(w0, sw0)
            return np.sqrt(1 / sw0**2 * (2 * (k - 1) + 4 * t * trp + 2 * t**2 * spp))
        if method == "ML":
            return np.sqrt(2 / (w**2).sum(1))
        if method == "REML":
            return np.sqrt(2 / tau2mod.p_traces(w, sw)[1])
        if method in ("EB", "PM"):
            return np.sqrt(2 * k**2 / (k - 1) / sw**2)
        if method == "HE":
            # P = I - J/k; PV has entries (delta_ij - 1/k) v_j
            sv = np.where(mask, v, 0.0)
            trpv = sv.sum(1) - sv.sum(1) / k
            sum_pv_pvt = (sv**2).sum(1) - 2 * (sv**2).sum(1) / k + sv.sum(1) ** 2 / k**2
            return np.sqrt(1 / (k - 1) ** 2 * (2 * sum_pv_pvt + 4 * t * trpv + 2 * t**2 * (k - 1)))
        if method == "SJ":
            return _sj_se(y, v, mask, t, k)
    return np.full(k.shape, np.nan)


def _sj_se(y, v, mask, t, k):
    out = np.full(k.shape, np.nan)
    for g in range(y.shape[0]):
        m = mask[g]
        yi, vi = y[g, m], v[g, m]
        tau0 = float(np.mean((yi - yi.mean()) ** 2))
        w = 1 / (vi + tau0)
        p = np.diag(w) - np.outer(w, w) / w.sum()
        pv = p * vi[None, :]
        out[g] = np.sqrt(
            tau0**2
            / (k[g] - 1) ** 2
            * (2 * np.sum(pv * pv.T) + 4 * t[g] * np.sum(pv * p) + 2 * t[g] ** 2 * np.sum(p * p))
        )
    return out


def q_profile_ci(y, v, mask, t2, level=95.0):
    """Q-profile confidence interval for tau^2 (metafor ``confint.rma.uni``), all groups at once.

    With tau2.min = 0 and tau2.max = max(100, 10 tau2), as metafor: both bounds 0 when
    Q(0) < crit.l; the upper bound tau2.max when Q(tau2.max) > crit.l; both tau2.max when
    Q(tau2.max) > crit.u; the lower bound 0 when Q(0) < crit.u; every other bound is a root
    of Q(tau2) = crit found by R's ``uniroot`` (tolerance eps^0.25, at most 1000 iterations),
    run for all groups and both bounds in lock-step (``tau2.zeroin_many``). NaN for k < 2.
    """
    g = y.shape[0]
    rows = tau2mod.GroupRows(y, v, mask)
    k = rows.k
    t2 = np.asarray(t2, dtype=float)
    lb = np.full(g, np.nan)
    ub = np.full(g, np.nan)
    alpha = 1 - level / 100
    ok = k >= 2
    df = np.where(ok, k - 1, 1)
    cap = 10 * t2
    upper = np.where(cap > 100.0, cap, 100.0)  # Python's max(100.0, 10 tau2)
    crit_u = chi2_quantile(1 - alpha / 2, df)
    crit_l = chi2_quantile(alpha / 2, df)
    q_min = np.full(g, np.nan)
    q_max = np.full(g, np.nan)
    fit = np.flatnonzero(ok)
    q_min[fit] = rows.q(0.0, fit)
    q_max[fit] = rows.q(upper[fit], fit)
    null = ok & (q_min < crit_l)
    rest = ok & ~null
    lb[null] = ub[null] = 0.0
    # upper bound
    ub_max = rest & (q_max > crit_l)
    ub[ub_max] = upper[ub_max]
    ub_root = np.flatnonzero(rest & ~ub_max)
    # lower bound
    above = rest & (q_max > crit_u)
    lb_zero = rest & ~above & (q_min < crit_u)
    lb[lb_zero] = 0.0
    lb_root = np.flatnonzero(rest & ~above & ~lb_zero)
    # both searches in one lock-step run: upper bounds first, then lower bounds
    groups = np.concatenate([ub_root, lb_root])
    if groups.size:
        target = np.concatenate([crit_l[ub_root], crit_u[lb_root]])
        roots, _ = tau2mod.uniroot_q_many(rows, groups, target, 0.0, upper[groups])
        ub[ub_root] = roots[: ub_root.size]
        lb[lb_root] = roots[ub_root.size :]
    lb[above] = ub[above] = upper[above]
    return lb, ub


# --- single fits ----------------------------------------------------------------------------


def study_records(es: EffectSizes, study_ids, weights, crit) -> list[dict[str, Any]]:
    records = []
    ni_all = es.counts.get("ni")
    for i, sid in enumerate(study_ids):
        rec: dict[str, Any] = {"study": str(sid)}
        for name, arr in es.counts.items():
            val = arr[i]
            rec[name] = int(val) if float(val).is_integer() else float(val)
        yi, vi = es.yi[i], es.vi[i]
        rec["yi"], rec["vi"] = yi, vi
        lo, hi = yi - crit * np.sqrt(vi), yi + crit * np.sqrt(vi)
        rec["ci_lb"], rec["ci_ub"] = lo, hi
        ni = None if ni_all is None else [ni_all[i]]
        rec["back"] = {
            "estimate": back_transform(es.measure, yi, ni=ni),
            "ci_lb": back_transform(es.measure, lo, ni=ni),
            "ci_ub": back_transform(es.measure, hi, ni=ni),
        }
        rec["weight"] = weights[i]
        rec["correction"] = es.correction[i]
        rec["excluded"] = es.excluded[i]
        records.append(rec)
    return records


def back_values(measure, values: dict, ni):
    return {
        key: back_transform(measure, values[key], ni=ni)
        for key in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub")
    }


def _check_k(k: int, what: str):
    if k == 0:
        raise AnalysisError(f"{what}: no study has an estimable effect size")
    if k == 1:
        raise AnalysisError(
            f"{what}: only one study (k = 1); a meta-analysis needs at least two studies"
        )


def rma(
    es: EffectSizes,
    study_ids,
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
    tau2_ci: bool = True,
    what: str = "meta-analysis",
) -> Fit:
    """Inverse-variance fixed- (``method='FE'``) or random-effects model."""
    use = es.usable
    k = int(use.sum())
    _check_k(k, what)
    y = es.yi[use][None, :]
    v = es.vi[use][None, :]
    mask = np.ones_like(y, dtype=bool)
    r = fit_iv_many(y, v, mask, method, test, level, tau2_ci=tau2_ci)
    if not r["converged"][0]:
        if method == "PM":
            raise AnalysisError(
                f"{what}: the Paule-Mandel estimator of tau^2 found no root: Q(tau2) stays "
                "above k - 1 up to tau2.max (metafor: 'tau2.max too low'); try method DL or REML"
            )
        raise AnalysisError(
            f"{what}: the {method} estimator of tau^2 did not converge "
            f"(after {tau2mod.MAXITER} iterations); try method DL or PM"
        )
    if test == "knha" and k < 2:
        raise AnalysisError(f"{what}: the knha test needs k >= 2")
    weights = np.full(es.yi.size, np.nan)
    w = r["weights"][0]
    weights[use] = 100 * w / w.sum()
    crit = norm_crit(level)
    ni = es.counts["ni"][use] if "ni" in es.counts else None
    scalar = {
        key: float(np.asarray(val)[0])
        for key, val in r.items()
        if key not in ("weights", "notes", "converged")
    }
    is_fe = method == "FE"
    fit = Fit(
        measure=es.measure,
        method=method,
        test=test,
        level=level,
        model="FE" if is_fe else "RE",
        k=k,
        estimate=scalar["estimate"],
        se=scalar["se"],
        ci_lb=scalar["ci_lb"],
        ci_ub=scalar["ci_ub"],
        stat=scalar["stat"],
        pval=scalar["pval"],
        df=k - 1 if test == "knha" else None,
        pi_lb=scalar["pi_lb"],
        pi_ub=scalar["pi_ub"],
        tau2=scalar["tau2"],
        tau2_se=None if is_fe else scalar["tau2_se"],
        tau2_ci_lb=scalar.get("tau2_ci_lb"),
        tau2_ci_ub=scalar.get("tau2_ci_ub"),
        i2=scalar["i2"],
        i2_ci_lb=scalar.get("i2_ci_lb"),
        i2_ci_ub=scalar.get("i2_ci_ub"),
        h2=scalar["h2"],
        h2_ci_lb=scalar.get("h2_ci_lb"),
        h2_ci_ub=scalar.get("h2_ci_ub"),
        q=scalar["q"],
        q_df=k - 1,
        q_pval=scalar["q_pval"],
        back=back_values(es.measure, scalar, ni),
        studies=study_records(es, study_ids, weights, crit),
        warnings=list(r["notes"][0]),
    )
    return fit


def rma_mh(
    ai,
    n1i,
    ci,
    n2i,
    study_ids,
    *,
    measure="OR",
    level=95.0,
    add=0.5,
    to="only0",
    drop00=True,
    what: str = "meta-analysis",
) -> Fit:
    """Mantel-Haenszel pooled OR, RR or RD (metafor ``rma.mh``; no correction in the pooling).

    Variances: Robins, Breslow & Greenland (1986) for OR; Greenland & Robins (1985) for RR;
    Sato, Greenland & Robins (1989) for RD.
    """
    if measure not in ("OR", "RR", "RD"):
        raise AnalysisError(f"{what}: Mantel-Haenszel needs measure OR, RR or RD, not {measure}")
    a, n1, c, n2 = (np.asarray(x, dtype=float) for x in (ai, n1i, ci, n2i))
    b, d = n1 - a, n2 - c
    n = n1 + n2
    es = escalc(measure, {"ai": a, "n1i": n1, "ci": c, "n2i": n2}, add=add, to=to, drop00=drop00)
    if a.size < 2:
        _check_k(a.size, what)
    z = norm_crit(level)
    if measure == "OR":
        p_, q_ = (a + d) / n, (b + c) / n
        r_, s_ = a / n * d, b / n * c
        big_r, big_s = r_.sum(), s_.sum()
        if big_r == 0 or big_s == 0:
            raise AnalysisError(f"{what}: Mantel-Haenszel OR not estimable (no events in one arm)")
        est = np.log(big_r / big_s)
        se = np.sqrt(
            0.5
            * (
                (p_ * r_).sum() / big_r**2
                + (p_ * s_ + q_ * r_).sum() / (big_r * big_s)
                + (q_ * s_).sum() / big_s**2
            )
        )
        wts = b / n * c
    elif measure == "RR":
        big_r, big_s = (a * (n2 / n)).sum(), (c * (n1 / n)).sum()
        if a.sum() == 0 or c.sum() == 0:
            raise AnalysisError(f"{what}: Mantel-Haenszel RR not estimable (no events in one arm)")
        est = np.log(big_r / big_s)
        se = np.sqrt(((n1 / n) * (n2 / n) * (a + c) - (a / n) * c).sum() / (big_r * big_s))
        wts = c / n * n1
    else:
        denom = (n1 * (n2 / n)).sum()
        est = (a * (n2 / n) - c * (n1 / n)).sum() / denom
        se = np.sqrt(
            (
                est
                * (
                    c * (n1 / n) ** 2 - a * (n2 / n) ** 2 + (n1 / n) * (n2 / n) * (n2 - n1) / 2
                ).sum()
                + (a * (n2 - c) / n + c * (n1 - a) / n).sum() / 2
            )
            / denom**2
        )
        wts = n1 / n * n2
    return _fixed_fit(es, study_ids, "MH", measure, level, est, se, 100 * wts / wts.sum(), z)


def rma_peto(
    ai,
    n1i,
    ci,
    n2i,
    study_ids,
    *,
    level=95.0,
    add=0.5,
    to="only0",
    drop00=True,
    what: str = "meta-analysis",
) -> Fit:
    """Peto's one-step odds ratio (Yusuf et al. 1985; metafor ``rma.peto``)."""
    a, n1, c, n2 = (np.asarray(x, dtype=float) for x in (ai, n1i, ci, n2i))
    n = n1 + n2
    xt, yt = a + c, n - a - c
    e = xt * n1 / n
    var = xt * yt * (n1 / n) * (n2 / n) / (n - 1)
    if var.sum() == 0:
        raise AnalysisError(
            f"{what}: Peto OR not estimable (no events, or only events, in all studies)"
        )
    es = escalc("PETO", {"ai": a, "n1i": n1, "ci": c, "n2i": n2}, add=add, to=to, drop00=drop00)
    es.measure = "OR"
    est = (a - e).sum() / var.sum()
    se = np.sqrt(1 / var.sum())
    pos = var > 0
    q_peto = max(0.0, ((a - e)[pos] ** 2 / var[pos]).sum() - (a - e).sum() ** 2 / var.sum())
    fit = _fixed_fit(
        es,
        study_ids,
        "PETO",
        "OR",
        level,
        est,
        se,
        100 * var / var.sum(),
        norm_crit(level),
        q_override=q_peto,
        k_pos=int(pos.sum()),
    )
    return fit


def _fixed_fit(
    es, study_ids, method, measure, level, est, se, weights, crit, q_override=None, k_pos=None
) -> Fit:
    use = es.usable
    k_yi = int(use.sum())
    if q_override is None:
        w = 1 / es.vi[use]
        q = max(0.0, float((w * (es.yi[use] - est) ** 2).sum()))
        informative = k_yi > 1
    else:
        q = q_override
        informative = (k_pos or 0) > 1
    if informative:
        q_pval = float(chi2_sf(q, k_yi - 1))
        i2 = max(0.0, 100 * (q - (k_yi - 1)) / q) if q > 0 else 0.0
        h2 = q / (k_yi - 1)
    else:
        q, q_pval, i2, h2 = 0.0, 1.0, 0.0, 1.0
    with np.errstate(divide="ignore", invalid="ignore"):  # se = 0: degenerate tables
        stat = est / se
    lo, hi = est - crit * se, est + crit * se
    vals = {"estimate": est, "ci_lb": lo, "ci_ub": hi, "pi_lb": lo, "pi_ub": hi}
    return Fit(
        measure=measure,
        method=method,
        test="z",
        level=level,
        model=method,
        k=len(study_ids),
        estimate=float(est),
        se=float(se),
        ci_lb=float(lo),
        ci_ub=float(hi),
        stat=float(stat),
        pval=float(norm_sf2(stat)),
        df=None,
        pi_lb=float(lo),
        pi_ub=float(hi),
        tau2=None,
        tau2_se=None,
        tau2_ci_lb=None,
        tau2_ci_ub=None,
        i2=i2,
        i2_ci_lb=None,
        i2_ci_ub=None,
        h2=h2,
        h2_ci_lb=None,
        h2_ci_ub=None,
        q=q,
        q_df=k_yi - 1,
        q_pval=q_pval,
        back=back_values(measure, vals, None),
        studies=study_records(es, study_ids, weights, norm_crit(level)),
    )
