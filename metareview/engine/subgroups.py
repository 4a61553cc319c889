"""Subgroup analyses and meta-regression.

* ``subgroup_analysis``: one model per level (same method as the overall fit) and the test
  for subgroup differences in both forms reviewers meet: the fixed-effect Q-between
  (metafor ``rma(yi, vi, mods = ~ factor(g), method = "FE")``, QM) and the random-effects
  form of RevMan / the Cochrane Handbook (section 10.11.3.1): Cochran's Q over the per-level
  pooled estimates with their standard errors, df = levels - 1.
* ``metareg``: weighted least squares meta-regression with tau^2 estimated as in
  ``rma.uni`` (general design-matrix forms of the estimators), Wald-type z or knha tests
  and the omnibus QM test of the moderators.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metareview.engine import tau2 as tau2mod
from metareview.engine.effects import EffectSizes
from metareview.engine.models import (
    Fit,
    chi2_sf,
    clean,
    norm_crit,
    norm_sf2,
    rma,
    t_crit,
    t_sf2,
)
from metareview.errors import AnalysisError


@dataclass
class SubgroupResult:
    column: str
    levels: list[str]
    fits: list[Fit | None]
    skipped: dict[str, str]
    test_between_fe: dict[str, float]
    test_between_re: dict[str, float] | None
    overall: Fit | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        subgroups = []
        for level, fit in zip(self.levels, self.fits, strict=True):
            if fit is None:
                subgroups.append({"level": level, "k": 0, "not_pooled": self.skipped[level]})
            else:
                d = fit.to_dict()
                d["level"] = level
                subgroups.append(d)
        return clean(
            {
                "subgroup": self.column,
                "subgroups": subgroups,
                "test_between": self.test_between_re or self.test_between_fe,
                "test_between_fe": self.test_between_fe,
                "test_between_re": self.test_between_re,
                "overall": None if self.overall is None else self.overall.to_dict(),
                "warnings": self.warnings,
            }
        )


def q_between(est, se) -> dict[str, float]:
    est, se = np.asarray(est, float), np.asarray(se, float)
    w = 1 / se**2
    mu = (w * est).sum() / w.sum()
    q = float((w * (est - mu) ** 2).sum())
    df = est.size - 1
    return {"q": q, "df": df, "pval": float(chi2_sf(q, df))}


def subgroup_analysis(
    es: EffectSizes,
    study_ids,
    levels_of_study,
    *,
    column: str,
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
) -> SubgroupResult:
    """Pool each level of ``levels_of_study`` and test for subgroup differences."""
    groups = np.asarray([str(x) for x in levels_of_study], dtype=object)
    use = es.usable
    missing = [sid for sid, g, u in zip(study_ids, groups, use, strict=True) if u and g == ""]
    if missing:
        raise AnalysisError(
            f"subgroup '{column}': studies without a value in column '{column}': "
            + ", ".join(map(str, missing))
        )
    levels = sorted({g for g, u in zip(groups, use, strict=True) if u})
    fits: list[Fit | None] = []
    skipped: dict[str, str] = {}
    warnings: list[str] = []
    for lev in levels:
        sel = groups == lev
        sub = EffectSizes(
            es.measure,
            es.yi[sel],
            es.vi[sel],
            [c for c, s in zip(es.correction, sel, strict=True) if s],
            [e for e, s in zip(es.excluded, sel, strict=True) if s],
            {k: v[sel] for k, v in es.counts.items()},
        )
        ids = [sid for sid, s in zip(study_ids, sel, strict=True) if s]
        k = int(sub.usable.sum())
        if k == 1:
            # a single study is its own subgroup estimate (as RevMan prints it)
            only = EffectSizes(
                sub.measure, sub.yi, sub.vi, sub.correction, sub.excluded, sub.counts
            )
            fits.append(single_study_fit(only, ids, level, es.measure))
            warnings.append(f"subgroup '{lev}' has one study; its estimate is that study's")
            continue
        try:
            fits.append(
                rma(sub, ids, method=method, test=test, level=level, what=f"subgroup {lev}")
            )
        except AnalysisError as exc:
            fits.append(None)
            skipped[lev] = str(exc)
    pooled = [f for f in fits if f is not None]
    if len(pooled) < 2:
        raise AnalysisError(f"subgroup '{column}': fewer than two subgroups could be pooled")
    # fixed-effect Q-between: FE meta-regression on the level dummies (QM)
    fe_fit = metareg(
        es.yi[use],
        es.vi[use],
        {column: list(groups[use])},
        [column],
        method="FE",
        test="z",
        factors=(column,),
    )
    test_fe = {"q": fe_fit["qm"], "df": fe_fit["qm_df"], "pval": fe_fit["qm_pval"]}
    test_re = None
    if method != "FE":
        test_re = q_between([f.estimate for f in pooled], [f.se for f in pooled])
    return SubgroupResult(column, levels, fits, skipped, test_fe, test_re, None, warnings)


def single_study_fit(es: EffectSizes, ids, level, measure) -> Fit:
    from metareview.engine.models import back_values, study_records

    i = int(np.flatnonzero(es.usable)[0])
    y, se = float(es.yi[i]), float(np.sqrt(es.vi[i]))
    crit = norm_crit(level)
    vals = {"estimate": y, "ci_lb": y - crit * se, "ci_ub": y + crit * se}
    vals.update(pi_lb=vals["ci_lb"], pi_ub=vals["ci_ub"])
    weights = np.where(es.usable, 100.0, np.nan)
    ni = es.counts["ni"][es.usable] if "ni" in es.counts else None
    return Fit(
        measure=measure,
        method="single study",
        test="z",
        level=level,
        model="single",
        k=1,
        estimate=y,
        se=se,
        ci_lb=vals["ci_lb"],
        ci_ub=vals["ci_ub"],
        stat=y / se,
        pval=float(norm_sf2(y / se)),
        df=None,
        pi_lb=vals["pi_lb"],
        pi_ub=vals["pi_ub"],
        # metafor's conventions for k = 1: tau2 = 0, Q = 0 on 0 df, p = 1, I2 = 0, H2 = 1
        tau2=0.0,
        tau2_se=None,
        tau2_ci_lb=None,
        tau2_ci_ub=None,
        i2=0.0,
        i2_ci_lb=None,
        i2_ci_ub=None,
        h2=1.0,
        h2_ci_lb=None,
        h2_ci_ub=None,
        q=0.0,
        q_df=0,
        q_pval=1.0,
        back=back_values(measure, vals, ni),
        studies=study_records(es, ids, weights, crit),
    )


# --- meta-regression -------------------------------------------------------------------


def design_matrix(covariates: dict[str, list], mods: list[str], factors=()):
    """Intercept + numeric columns as they are + treatment-coded factors (metafor naming).

    Columns named in ``factors`` are factors even when their values are numbers (a
    subgroup coded 1/2/3 is ``factor(g)``, not a linear trend)."""
    n = len(next(iter(covariates.values()))) if covariates else 0
    cols = [np.ones(n)]
    names = ["intrcpt"]
    for name in mods:
        if name not in covariates:
            raise AnalysisError(f"moderator column '{name}' not found")
        raw = [("" if v is None else str(v)).strip() for v in covariates[name]]
        if any(r == "" for r in raw):
            raise AnalysisError(f"moderator '{name}' has empty values")
        try:
            if name in factors:
                raise ValueError(name)
            cols.append(np.array([float(r) for r in raw]))
            names.append(name)
        except ValueError:
            levels = sorted(set(raw))
            for lev in levels[1:]:
                cols.append(np.array([1.0 if r == lev else 0.0 for r in raw]))
                names.append(f"{name}{lev}")
    return np.column_stack(cols), names


def _p_matrix(w, x):
    wx = x * w[:, None]
    inv = np.linalg.inv(x.T @ wx)
    return np.diag(w) - wx @ inv @ wx.T, inv


#: above this many studies the (k, k) matrix P is not formed: its products, trace and sum
#: of squares come from its factors (O(k p^2) instead of O(k^2) memory and time)
DENSE_P_MAX_K = 200


class _DenseP:
    """``P = W - W X (X'WX)^-1 X'W`` formed as a matrix (metafor's arithmetic)."""

    def __init__(self, w, x):
        self.m, self.inv = _p_matrix(w, x)

    def dot(self, y):
        return self.m @ y

    def quad(self, y) -> float:
        return float(y @ self.m @ y)

    def trace(self) -> float:
        return np.trace(self.m)

    def sum_sq(self) -> float:
        return np.sum(self.m * self.m)


class _FactoredP:
    """The same P from its factors: with ``A = W X M X'W`` (M = (X'WX)^-1), ``P y = w y -
    WX (M (X'W y))``, ``tr P = sum (w_i - A_ii)`` and ``sum P_ij^2 = sum (w_i - A_ii)^2 +
    tr(M B M B) - sum A_ii^2`` (B = X'W^2 X: tr(AA) = tr(MBMB))."""

    def __init__(self, w, x):
        self.w = w
        self.wx = x * w[:, None]
        self.inv = np.linalg.inv(x.T @ self.wx)
        self.a_diag = np.sum((self.wx @ self.inv) * self.wx, axis=1)

    def dot(self, y):
        return self.w * y - self.wx @ (self.inv @ (self.wx.T @ y))

    def quad(self, y) -> float:
        return float(y @ self.dot(y))

    def trace(self) -> float:
        return float(np.sum(self.w - self.a_diag))

    def sum_sq(self) -> float:
        mb = self.inv @ (self.wx.T @ self.wx)
        return float(
            np.sum((self.w - self.a_diag) ** 2) + np.sum(mb * mb.T) - np.sum(self.a_diag**2)
        )


def _p_of(w, x):
    return _DenseP(w, x) if x.shape[0] <= DENSE_P_MAX_K else _FactoredP(w, x)


def _he_general(y, v, x, k, p):
    """The Hedges estimate (untruncated) for design ``x``."""
    if k <= DENSE_P_MAX_K:
        ident = np.eye(k)
        pols = ident - x @ np.linalg.inv(x.T @ x) @ x.T
        return (float(y @ pols @ y) - np.trace(pols * v[None, :])) / (k - p)
    inv = np.linalg.inv(x.T @ x)
    xty = x.T @ y
    h = np.sum((x @ inv) * x, axis=1)  # the OLS hat values
    return (float(y @ y - xty @ inv @ xty) - float(np.sum(v * (1 - h)))) / (k - p)


def _tau2_general(y, v, x, method):
    """tau^2 for a model with design matrix ``x`` (metafor ``rma.uni`` formulas)."""
    k, p = x.shape
    if method == "FE":
        return 0.0
    w0 = 1 / v
    p0 = _p_of(w0, x)
    rss0 = p0.quad(y)
    if method == "DL":
        return max(0.0, (rss0 - (k - p)) / p0.trace())
    if method == "HS":
        return max(0.0, (rss0 - k) / w0.sum())
    he = _he_general(y, v, x, k, p)
    if method == "HE":
        return max(0.0, he)
    if method == "SJ":
        tau0 = float(np.mean((y - y.mean()) ** 2))
        return max(0.0, tau0 * _p_of(1 / (v + tau0), x).quad(y) / (k - p))
    if method == "PM":

        def f(t):
            return _p_of(1 / (v + t), x).quad(y) - (k - p)

        if f(0.0) < 0:
            return 0.0
        med = np.median(y)
        upper = max(100.0, 10 * (1.4826 * float(np.median(np.abs(y - med)))) ** 2)
        root, used = tau2mod.zeroin(f, 0.0, upper, f(0.0), f(upper), maxit=tau2mod.MAXITER)
        if used < 0:
            raise AnalysisError("Paule-Mandel estimator did not converge")
        return max(0.0, root)
    # ML / REML / EB by Fisher scoring from the HE start
    t = max(0.0, he)
    change = tau2mod.THRESHOLD + 1
    it = 0
    while change > tau2mod.THRESHOLD:
        it += 1
        old = t
        w = 1 / (v + t)
        pm = _p_of(w, x)
        py = pm.dot(y)
        if method == "ML":
            adj = (py @ py - w.sum()) / (w**2).sum()
        elif method == "REML":
            adj = (py @ py - pm.trace()) / pm.sum_sq()
        else:
            adj = (float(y @ py) * k / (k - p) - k) / w.sum()
        while t + adj < 0:
            adj /= 2
        t = t + adj
        change = abs(old - t)
        if it > tau2mod.MAXITER:
            raise AnalysisError(f"{method} estimator did not converge in meta-regression")
    if method in ("ML", "REML"):

        def ll(tt):
            w = 1 / (v + tt)
            rss = _p_of(w, x).quad(y)
            base = -0.5 * np.log(v + tt).sum() - 0.5 * rss
            if method == "ML":
                return -0.5 * k * np.log(2 * np.pi) + base
            sign, logdet = np.linalg.slogdet(x.T @ (x * w[:, None]))
            return -0.5 * (k - p) * np.log(2 * np.pi) + base - 0.5 * logdet

        if ll(0.0) - ll(t) > tau2mod.UNIROOT_TOL and t > tau2mod.THRESHOLD:
            t = 0.0
    return max(0.0, t)


def tau2_design(y, v, x, method: str) -> float:
    """tau^2 of the model with design matrix ``x`` and estimator ``method``."""
    return _tau2_general(np.asarray(y, float), np.asarray(v, float), np.asarray(x, float), method)


def metareg(
    yi,
    vi,
    covariates: dict[str, list],
    mods: list[str],
    *,
    method="REML",
    test="z",
    level=95.0,
    factors=(),
    with_vcov: bool = False,
) -> dict[str, Any]:
    """Meta-regression on ``mods`` (columns of ``covariates``; those in ``factors`` always
    categorical); returns a JSON-ready dict (with the coefficients' covariance matrix
    ``vcov`` when ``with_vcov``)."""
    y = np.asarray(yi, float)
    v = np.asarray(vi, float)
    x, names = design_matrix(covariates, mods, factors)
    k, p = x.shape
    if k <= p:
        raise AnalysisError(f"meta-regression needs more studies (k = {k}) than coefficients ({p})")
    if np.linalg.matrix_rank(x) < p:
        raise AnalysisError("meta-regression: moderators are collinear")
    t2 = _tau2_general(y, v, x, method)
    w = 1 / (v + t2)
    inv = _p_of(w, x).inv
    beta = inv @ (x.T @ (w * y))
    vb = inv
    if test == "knha":
        rss = float(np.sum(w * (y - x @ beta) ** 2))
        s2w = 0.0 if rss <= np.finfo(float).eps else rss / (k - p)
        vb = s2w * vb
    se = np.sqrt(np.diag(vb))
    stat = beta / se
    if test == "knha":
        pval = t_sf2(stat, k - p)
        crit = t_crit(level, k - p)
    else:
        pval = norm_sf2(stat)
        crit = norm_crit(level)
    b1 = beta[1:]
    qm = float(b1 @ np.linalg.inv(vb[1:, 1:]) @ b1)
    m = p - 1
    if test == "knha":
        from scipy import special

        qm = qm / m
        qm_pval = float(special.fdtrc(m, k - p, qm))
    else:
        qm_pval = float(chi2_sf(qm, m))
    w0 = 1 / v
    p0 = _p_of(w0, x)
    qe = max(0.0, p0.quad(y))
    vt = (k - p) / p0.trace()
    if method == "FE":
        i2 = max(0.0, 100 * (qe - (k - p)) / qe) if qe > 0 else 0.0
        h2 = qe / (k - p)
    else:
        i2 = 100 * t2 / (vt + t2)
        h2 = t2 / vt + 1
    r2 = pseudo_r2(y, v, x, t2, method)
    coefs = [
        {
            "name": n,
            "estimate": b,
            "se": s,
            "stat": z,
            "pval": pv,
            "ci_lb": b - crit * s,
            "ci_ub": b + crit * s,
        }
        for n, b, s, z, pv in zip(names, beta, se, stat, pval, strict=True)
    ]
    extra = {"vcov": vb.tolist(), "crit": crit} if with_vcov else {}
    return clean(
        {
            **extra,
            "k": k,
            "method": method,
            "test": test,
            "mods": mods,
            "coefficients": coefs,
            "qm": qm,
            "qm_df": m,
            "qm_pval": qm_pval,
            "tau2": t2,
            "i2": i2,
            "h2": h2,
            "q": qe,
            "q_df": k - p,
            "q_pval": float(chi2_sf(qe, k - p)),
            "df": (k - p) if test == "knha" else None,
            "r2": r2,
        }
    )


def pseudo_r2(y, v, x, tau2: float, method: str) -> float | None:
    """R^2 as metafor's ``rma.uni`` reports it for a model with moderators (percent).

    Random effects (``r2def = "1"``): ``max(0, 100 (tau2_RE - tau2) / tau2_RE)`` with
    tau2_RE from the model without moderators and the same estimator; 0 when tau2_RE is
    exactly 0; None when that model cannot be fitted. Fixed effect: the adjusted R^2 of the
    weighted least-squares regression of yi on the moderators (weights 1/vi, metafor's
    ``summary(lm(yi ~ X, weights = wi))$adj.r.squared``), 0 when all yi are equal."""
    y, v, x = np.asarray(y, float), np.asarray(v, float), np.asarray(x, float)
    k, p = x.shape
    if method == "FE":
        if np.var(y) == 0:
            return 0.0
        w = 1 / v
        _, inv = _p_matrix(w, x)
        beta = inv @ (x.T @ (w * y))
        rss = float(np.sum(w * (y - x @ beta) ** 2))
        mu = float(np.sum(w * y) / w.sum())
        tss = float(np.sum(w * (y - mu) ** 2))
        rsq = 1 - rss / tss
        adj = 1 - (1 - rsq) * (k - 1) / (k - p)
        return max(0.0, 100 * adj)
    try:
        tau2_re = _tau2_general(y, v, np.ones((k, 1)), method)
    except AnalysisError:
        return None
    if tau2_re == 0:
        return 0.0
    return max(0.0, 100 * (tau2_re - tau2) / tau2_re)
