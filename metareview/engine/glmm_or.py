"""The GLMM for 2x2 tables, as metafor's ``rma.glmm(measure="OR", model="UM.FS")``.

The unconditional model with fixed study effects (metafor 3.8.1's default ``model``): each
study contributes two binomial rows (treatment arm first, then control), and

    logit(p_i,trt) = alpha_i + beta + b_i/2,  logit(p_i,ctl) = alpha_i - b_i/2,
    b_i ~ N(0, tau^2),

i.e. ``glmer(cbind(x, n-x) ~ -1 + group1 + study + (group12 - 1 | study), nAGQ = 7)`` with
``group1`` = 1/0 (treatment / control) for the fixed effect and ``group12`` = +1/2 / -1/2
(``coding = 1/2``) for the random one, one fixed intercept ``alpha_i`` per study; beta is
the log odds ratio, tau2 the variance of the study log odds ratios. Conventions copied
from metafor (see tests/reference/README.md, section GLMM, and ``make_fixtures_glmm_or.R``):

- ``drop00 = TRUE``: tables with no event in either arm, or only events in both arms, are
  dropped before fitting (they carry no information on the odds ratio);
- ML by 7-point adaptive Gauss-Hermite quadrature per study, centred at the mode of the
  random effect and scaled by lme4's curvature ``1 + tau^2 sum_j n_j p_j (1-p_j) / 4``
  (as :mod:`metareview.engine.glmm` does for one row per study);
- ``vb`` is the treatment-effect entry of the inverse of half the Hessian of the deviance
  in all parameters (tau, beta, the k intercepts): lme4's ``vcov`` with its Hessian; at
  ``tau = 0`` that Hessian is the glm information, which is used there;
- heterogeneity: the Wald-type and likelihood-ratio tests of the saturated model
  ``glm(~ -1 + group1 + study + study:group1)`` against the fixed-effects ``glm``, both on
  k-1 df, replicated iteration by iteration from R's IRLS (a table with a zero cell has no
  finite saturated estimate: glm stops where its deviance criterion says so);
- I2 and H2 from tau2 and the typical within-study variance ``vt = (k-1)/tr(P)`` of
  ``escalc("OR", add = 1/2, to = "only0", drop00 = TRUE)``'s variances.

Only intercept-only models (no moderators). Only numpy and scipy are used.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special, stats

from metareview.engine.glmm import (
    NAGQ,
    GLMMResult,
    dev_resids,
    gh_rule,
    glm_binomial,
    log_choose,
    saturated_fit,
)
from metareview.errors import AnalysisError

_Z = np.array([0.5, -0.5])  # coding = 1/2: the random effect's covariate per arm


def escalc_or(ai, n1i, ci, n2i, add: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``escalc("OR", add = 1/2, to = "only0", drop00 = TRUE)``: yi, vi (NaN where dropped)
    and the drop mask (no events in either arm, or only events in both)."""
    a, n1, c, n2 = (np.asarray(v, dtype=float) for v in (ai, n1i, ci, n2i))
    b, d = n1 - a, n2 - c
    dropped = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    add_i = np.where(zero, add, 0.0)
    a2, b2, c2, d2 = a + add_i, b + add_i, c + add_i, d + add_i
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(a2 * d2 / (b2 * c2))
        vi = 1 / a2 + 1 / b2 + 1 / c2 + 1 / d2
    yi = np.where(dropped, np.nan, yi)
    vi = np.where(dropped, np.nan, vi)
    return yi, vi, dropped


# ---------------------------------------------------------------------------
# the per-study marginal likelihood (two binomial rows, one random effect)
# ---------------------------------------------------------------------------


def _modes(x, n, eta0, tau):
    """Mode in u of h(u) = sum_j x_j eta_j - n_j log(1+e^eta_j) - u^2/2 with
    eta_j = eta0_j + tau z_j u (x, n, eta0: k x 2). Returns (u0, curvature at u0)."""
    u = np.zeros(eta0.shape[0])
    for _ in range(200):
        eta = eta0 + tau * _Z * u[:, None]
        p = special.expit(eta)
        g = tau * np.sum(_Z * (x - n * p), axis=1) - u
        hess = 1 + tau * tau * np.sum(_Z * _Z * n * p * (1 - p), axis=1)
        step = np.clip(g / hess, -4.0, 4.0)
        u = u + step
        if np.all(np.abs(step) <= 1e-14 * (1 + np.abs(u))):
            break
    eta = eta0 + tau * _Z * u[:, None]
    p = special.expit(eta)
    return u, 1 + tau * tau * np.sum(_Z * _Z * n * p * (1 - p), axis=1)


def _study_deviance(x, n, eta0, tau, nagq: int = NAGQ) -> np.ndarray:
    """-2 x the per-study log marginal likelihood (without the binomial constants)."""
    tau = abs(tau)
    if tau == 0.0:
        return -2 * np.sum(x * eta0 - n * np.logaddexp(0.0, eta0), axis=1)
    u0, curv = _modes(x, n, eta0, tau)
    s = 1 / np.sqrt(curv)
    z, w = gh_rule(nagq)

    def h(u):  # u: k x m nodes
        eta = eta0[:, :, None] + tau * _Z[None, :, None] * u[:, None, :]
        return (
            np.sum(x[:, :, None] * eta - n[:, :, None] * np.logaddexp(0.0, eta), axis=1)
            - 0.5 * u * u
        )

    h0 = h(u0[:, None])[:, 0]
    hz = h(u0[:, None] + s[:, None] * z[None, :])
    terms = hz - h0[:, None] + 0.5 * z[None, :] ** 2
    return -2 * (np.log(s) + h0 + np.log(np.sum(w[None, :] * np.exp(terms), axis=1)))


def _local(x, n, t, s, a, nagq):
    """Per-study deviance as a function of (tau, beta, alpha_i), vectorised over studies."""
    return _study_deviance(x, n, np.column_stack([a + s, a]), float(t), nagq)


def _local_derivs(x, n, tau, beta, alpha, nagq, h=1e-3, richardson=True):
    """Gradient (k x 3) and Hessian (k x 3 x 3) of each study's deviance in its local
    coordinates (tau, beta, alpha_i), by central differences with one Richardson step
    (or, with ``richardson=False``, the plain central differences of step ``h``)."""
    k = len(alpha)
    base = np.array([tau, beta, 0.0])

    def f(shift):
        v = base + shift
        return _local(x, n, v[0], np.full(k, v[1]), alpha + shift[2], nagq)

    def gh(hh):
        g = np.zeros((k, 3))
        hs = np.zeros((k, 3, 3))
        f0 = f(np.zeros(3))
        e = np.eye(3) * hh
        fp = [f(e[j]) for j in range(3)]
        fm = [f(-e[j]) for j in range(3)]
        for j in range(3):
            g[:, j] = (fp[j] - fm[j]) / (2 * hh)
            hs[:, j, j] = (fp[j] - 2 * f0 + fm[j]) / (hh * hh)
            for i in range(j):
                v = (f(e[i] + e[j]) - f(e[i] - e[j]) - f(-e[i] + e[j]) + f(-e[i] - e[j])) / (
                    4 * hh * hh
                )
                hs[:, i, j] = hs[:, j, i] = v
        return g, hs

    g1, h1 = gh(h)
    if not richardson:
        return g1, h1
    g2, h2 = gh(h / 2)
    return (4 * g2 - g1) / 3, (4 * h2 - h1) / 3


def _assemble(g, hs):
    """Full gradient and Hessian in (tau, beta, alpha_1..k) from the local ones."""
    k = g.shape[0]
    m = k + 2
    grad = np.zeros(m)
    hess = np.zeros((m, m))
    grad[0], grad[1] = g[:, 0].sum(), g[:, 1].sum()
    grad[2:] = g[:, 2]
    hess[:2, :2] = hs[:, :2, :2].sum(axis=0)
    idx = np.arange(k) + 2
    hess[idx, idx] = hs[:, 2, 2]
    hess[0, idx] = hess[idx, 0] = hs[:, 0, 2]
    hess[1, idx] = hess[idx, 1] = hs[:, 1, 2]
    return grad, hess


def _total(x, n, theta, nagq):
    return float(np.sum(_local(x, n, theta[0], np.full(len(theta) - 2, theta[1]), theta[2:], nagq)))


def _newton(x, n, theta, nagq, fix_tau=False):
    """Damped Newton on the deviance over (tau, beta, alpha) (or beta, alpha at tau fixed)."""
    f = _total(x, n, theta, nagq)
    for _ in range(100):
        g, hs = _assemble(*_local_derivs(x, n, theta[0], theta[1], theta[2:], nagq))
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(hs))):
            break
        free = slice(1, None) if fix_tau else slice(0, None)
        gg, hh = g[free], hs[free, free]
        lam = 0.0
        while True:
            try:
                np.linalg.cholesky(hh + lam * np.eye(len(gg)))
                break
            except np.linalg.LinAlgError:
                lam = max(1e-6, lam * 10)
        step = np.linalg.solve(hh + lam * np.eye(len(gg)), gg)
        t = 1.0
        while True:
            new = theta.copy()
            new[free] = theta[free] - t * step
            with np.errstate(over="ignore", invalid="ignore"):
                fn = _total(x, n, new, nagq)
            if (math.isfinite(fn) and fn <= f + 1e-12) or t < 1e-8:
                break
            t /= 2
        if not (math.isfinite(fn) and fn <= f + 1e-12):
            break
        theta, f = new, fn
        if np.max(np.abs(t * step)) < 1e-11:
            break
    theta[0] = abs(theta[0])
    return theta, f


def rma_glmm_or(
    ai,
    n1i,
    ci,
    n2i,
    *,
    method: str = "ML",
    test: str = "z",
    level: float = 95.0,
    nagq: int = NAGQ,
    what: str = "GLMM",
) -> tuple[GLMMResult, np.ndarray]:
    """``rma.glmm(measure = "OR", ai, n1i, ci, n2i, model = "UM.FS", method, test, level)``.

    Returns the fit and the mask of the tables dropped (``drop00``). The result's ``yi``
    and ``vi`` are escalc's for the tables kept."""
    a, n1, c, n2 = (np.asarray(v, dtype=float) for v in (ai, n1i, ci, n2i))
    if method not in ("ML", "FE"):
        raise AnalysisError(f"{what}: GLMM method must be ML or FE, not {method!r}")
    if test not in ("z", "t"):
        raise AnalysisError(f"{what}: GLMM test must be z or t, not {test!r}")
    if np.any(n1 <= 0) or np.any(n2 <= 0) or np.any(a < 0) or np.any(c < 0):
        raise AnalysisError(f"{what}: counts must satisfy 0 <= events <= total and total > 0")
    if np.any(a > n1) or np.any(c > n2):
        raise AnalysisError(f"{what}: counts must satisfy 0 <= events <= total and total > 0")
    yi_all, vi_all, dropped = escalc_or(a, n1, c, n2)
    keep = ~dropped
    k = int(keep.sum())
    need = 2 if method == "ML" else 1
    if k < need:
        raise AnalysisError(
            f"{what}: k = {k} table(s) with events in some but not all patients"
            + (
                f" ({int(dropped.sum())} dropped: no events, or only events, in both arms)"
                if dropped.any()
                else ""
            )
            + f"; this GLMM needs at least {need}"
        )
    a, n1, c, n2 = a[keep], n1[keep], c[keep], n2[keep]
    if (np.all(a == 0) and np.all(c == n2)) or (np.all(a == n1) and np.all(c == 0)):
        raise AnalysisError(f"{what}: the arms are separated; the odds ratio is not finite")
    # the long data: treatment row, then control row, per study
    x = np.column_stack([a, c])
    n = np.column_stack([n1, n2])
    xl, nl = x.ravel(), n.ravel()
    group1 = np.tile([1.0, 0.0], k)
    study = np.repeat(np.eye(k), 2, axis=0) if k > 1 else np.ones((2, 1))
    design = np.column_stack([group1, study])
    warnings: list[str] = []
    if dropped.any():
        warnings.append(
            f"{int(dropped.sum())} table(s) with no events (or only events) in both arms "
            "dropped (drop00)"
        )
    fe = glm_binomial(xl, nl, design)
    if not fe.converged:
        warnings.append("the fixed-effects glm did not converge")
    if k > 1:
        q_wald, ll_qe = saturated_fit(xl, nl, design)
        q_lrt = max(0.0, -2 * (fe.loglik - ll_qe))
        q_wald = max(0.0, q_wald)
        q_df = k - 1
        q_wald_p = float(stats.chi2.sf(q_wald, q_df))
        q_lrt_p = float(stats.chi2.sf(q_lrt, q_df))
    else:
        q_wald = q_lrt = q_wald_p = q_lrt_p = None
        q_df = None
        ll_qe = fe.loglik
    const = float(np.sum(log_choose(nl, xl)))
    if method == "FE":
        beta, vb, tau2, tau = float(fe.coef[0]), float(fe.vcov[0, 0]), 0.0, 0.0
        ll = ll_marginal = fe.loglik
    else:
        start = np.concatenate([[0.0], fe.coef])
        theta0, f0 = _newton(x, n, start.copy(), nagq, fix_tau=True)
        best_theta, best_f = theta0, f0
        for tau0 in (0.5, 1.0, 0.1, 2.0):
            th = theta0.copy()
            th[0] = tau0
            th, fv = _newton(x, n, th, nagq)
            if fv < best_f - 1e-10:
                best_theta, best_f = th, fv
        tau = float(best_theta[0])
        if tau * tau < 1e-10:
            tau = 0.0
            best_theta = theta0
            best_theta[0] = 0.0
        beta = float(best_theta[1])
        # the Hessian of the deviance in (tau, beta, alpha), accurately (lme4's own is a
        # finite difference of step 1e-4 on a deviance known to its PIRLS tolerance, off
        # by up to ~3e-6 in se; see tests/test_glmm_or.py)
        _, hs = _assemble(*_local_derivs(x, n, tau, beta, best_theta[2:], nagq))
        if tau == 0.0:
            # the boundary: the Hessian in (beta, alpha) is the glm information
            warnings.append("tau2 estimated at 0")
            inv = np.linalg.inv(hs[1:, 1:] / 2)
            vb = float(inv[0, 0])
        else:
            inv = np.linalg.inv(hs / 2)
            vb = float(inv[1, 1])
        tau2 = tau * tau
        eta0 = np.column_stack([best_theta[2:] + beta, best_theta[2:]])
        u0 = _modes(x, n, eta0, tau)[0] if tau > 0 else np.zeros(k)
        mu = special.expit(eta0 + tau * _Z * u0[:, None])
        ll = ll_qe - float(np.sum(dev_resids(xl / nl, mu.ravel(), nl))) / 2
        ll_marginal = -best_f / 2 + const
    yi, vi = yi_all[keep], vi_all[keep]
    wi = 1 / vi
    trp = float(np.sum(wi) - np.sum(wi * wi) / np.sum(wi))
    vt = (k - 1) / trp if trp > 0 else float("nan")
    i2 = 100 * tau2 / (vt + tau2) if k > 1 else float("nan")
    h2 = tau2 / vt + 1 if k > 1 else float("nan")
    se = math.sqrt(vb)
    stat = beta / se
    alpha_ = 1 - level / 100
    if test == "t":
        df = k - 1
        if df <= 0:
            raise AnalysisError(f"{what}: test t needs more studies than coefficients")
        pval = float(2 * stats.t.sf(abs(stat), df))
        crit = float(stats.t.ppf(1 - alpha_ / 2, df))
        qm = stat * stat
        qm_pval = float(stats.f.sf(qm, 1, df))
    else:
        df = None
        pval = float(2 * stats.norm.sf(abs(stat)))
        crit = float(stats.norm.ppf(1 - alpha_ / 2))
        qm = stat * stat
        qm_pval = float(stats.chi2.sf(qm, 1))
    res = GLMMResult(
        model="FE" if method == "FE" else "RE",
        k=k,
        p=1,
        beta=np.array([beta]),
        vb=np.array([[vb]]),
        se=np.array([se]),
        stat=np.array([stat]),
        pval=np.array([pval]),
        ci_lb=np.array([beta - crit * se]),
        ci_ub=np.array([beta + crit * se]),
        tau2=tau2,
        i2=i2,
        h2=h2,
        vt=vt,
        q_wald=q_wald,
        q_wald_pval=q_wald_p,
        q_lrt=q_lrt,
        q_lrt_pval=q_lrt_p,
        q_df=q_df,
        qm=qm,
        qm_df=1,
        qm_pval=qm_pval,
        ll=ll,
        ll_marginal=ll_marginal,
        test=test,
        level=level,
        df=df,
        yi=yi,
        vi=vi,
        warnings=warnings,
    )
    return res, dropped


def summary_or(res: GLMMResult) -> dict[str, Any]:
    """The result in the CLI's field names (log scale + ``back`` on the OR scale)."""
    est, se = float(res.beta[0]), float(res.se[0])
    if res.model == "FE":
        pi_lb, pi_ub = float(res.ci_lb[0]), float(res.ci_ub[0])
    else:
        pi_lb, pi_ub = res.prediction_interval()
    out = {
        "estimate": est,
        "se": se,
        "ci_lb": float(res.ci_lb[0]),
        "ci_ub": float(res.ci_ub[0]),
        "stat": float(res.stat[0]),
        "pval": float(res.pval[0]),
        "pi_lb": pi_lb,
        "pi_ub": pi_ub,
    }
    out["back"] = {
        key: math.exp(out[key]) for key in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub")
    }
    return out
