"""Generalised linear mixed models for proportions, as metafor's ``rma.glmm(measure="PLO")``.

The random-effects model is the binomial-normal (random-intercept logistic) model

    x_i ~ Binomial(n_i, p_i),  logit(p_i) = X_i beta + b_i,  b_i ~ N(0, tau^2),

fitted by maximum likelihood with the marginal likelihood integrated by 7-point adaptive
Gauss-Hermite quadrature, which is what ``rma.glmm`` asks of ``lme4::glmer`` by default
(``nAGQ = 7``). The conventions copied from metafor 3.8.1 / lme4 1.1 (see
tests/reference/README.md, section GLMM):

- quadrature: per study, centred at the mode ``u0`` of the integrand in the spherical
  random effect ``u`` (``b = tau * u``) and scaled by ``1 / sqrt(1 + tau^2 n p (1-p))``,
  the curvature at the mode (lme4's PIRLS modes and its Cholesky factor ``L``);
- ``vb`` (hence ``se``) is the fixed-effect block of the inverse of half the Hessian of the
  deviance in ``(tau, beta)`` jointly (lme4's ``vcov`` with ``use.hessian = TRUE``), so it
  carries the uncertainty of tau; at ``tau = 0`` (a boundary fit) lme4 cannot use the
  Hessian and falls back to the GLM information at beta, which is also used here;
- CI and test: ``beta -/+ z * se`` (``test="t"``: t on k-p df); QM is the Wald test;
- I2 and H2 from tau2 and metafor's "typical" within-study variance
  ``vt = (k-p)/tr(P)`` of the escalc variances (``add = 1/2`` to studies with 0 or n
  events): ``I2 = 100 tau2/(vt + tau2)``, ``H2 = tau2/vt + 1``;
- heterogeneity tests against the saturated logistic model (one parameter per study):
  the Wald-type test of the study effects and the likelihood-ratio test
  ``-2 (ll_FE - ll_saturated)``, both on k-p df; the saturated and fixed-effect models are
  ``glm`` fits, replicated here iteration by iteration (R's IRLS from its starting values,
  stopping rule and clamps), because a study with 0 or n events has no finite saturated
  estimate and ``glm`` stops where its deviance criterion says so;
- the fixed-effect model (``method="FE"``) is the ``glm`` fit itself.

Only numpy and scipy are used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from metareview.errors import AnalysisError

NAGQ = 7
"""metafor's default number of quadrature points (``rma.glmm(nAGQ = 7)``)."""

_EPS = np.finfo(float).eps
_THRESH = 30.0  # R's binomial logit linkinv / mu.eta clamps (family.c)


@dataclass
class GLMMResult:
    """A fitted ``rma.glmm`` model on the logit scale (metafor's field names in comments)."""

    model: str  # "RE" (method ML) or "FE"
    k: int
    p: int
    beta: np.ndarray  # coef(res)
    vb: np.ndarray  # res$vb
    se: np.ndarray  # res$se
    stat: np.ndarray  # res$zval
    pval: np.ndarray  # res$pval
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    tau2: float  # res$tau2
    i2: float  # res$I2 (percent)
    h2: float  # res$H2
    vt: float  # res$vt
    q_wald: float | None  # res$QE.Wld
    q_wald_pval: float | None
    q_lrt: float | None  # res$QE.LRT
    q_lrt_pval: float | None
    q_df: int | None  # res$QE.df
    qm: float  # res$QM
    qm_df: int
    qm_pval: float
    ll: float  # res$fit.stats["ll", "ML"] (ll.QE minus half lme4's conditional deviance)
    ll_marginal: float  # the log marginal likelihood maximised (with binomial constants)
    test: str
    level: float
    df: int | None  # res$ddf (t test only)
    yi: np.ndarray = field(default_factory=lambda: np.zeros(0))  # escalc PLO, add 1/2 only0
    vi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    warnings: list[str] = field(default_factory=list)

    def crit(self) -> float:
        a = 1 - self.level / 100
        if self.test == "t":
            return float(stats.t.ppf(1 - a / 2, self.df))
        return float(stats.norm.ppf(1 - a / 2))

    def prediction_interval(self) -> tuple[float, float]:
        """``predict(res)``: estimate -/+ crit * sqrt(se^2 + tau2) (intercept-only models)."""
        est, se = float(self.beta[0]), float(self.se[0])
        half = self.crit() * math.sqrt(se * se + self.tau2)
        return est - half, est + half


# ---------------------------------------------------------------------------
# binomial pieces (R's conventions)
# ---------------------------------------------------------------------------


def _linkinv(eta: np.ndarray) -> np.ndarray:
    """R's ``binomial()$linkinv`` (logit), with its clamps at |eta| > 30."""
    tmp = np.where(eta < -_THRESH, _EPS, np.where(eta > _THRESH, 1 / _EPS, np.exp(eta)))
    return tmp / (1 + tmp)


def _mu_eta(eta: np.ndarray) -> np.ndarray:
    opexp = 1 + np.exp(eta)
    out = np.exp(eta) / (opexp * opexp)
    return np.where((eta > _THRESH) | (eta < -_THRESH), _EPS, out)


def _ylogy(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y > 0, y * np.log(y / mu), 0.0)


def _dev_resids(y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
    return 2 * wt * (_ylogy(y, mu) + _ylogy(1 - y, 1 - mu))


def _log_choose(n: np.ndarray, x: np.ndarray) -> np.ndarray:
    return special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)


def _dbinom_log(x: np.ndarray, n: np.ndarray, mu: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(x > 0, x * np.log(mu), 0.0)
        b = np.where(n - x > 0, (n - x) * np.log1p(-mu), 0.0)
    return _log_choose(n, x) + a + b


def _log1pexp(eta: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, eta)


# ---------------------------------------------------------------------------
# glm (IRLS exactly as R's glm.fit for the binomial family)
# ---------------------------------------------------------------------------


@dataclass
class _GLM:
    coef: np.ndarray
    vcov: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    loglik: float
    iterations: int
    converged: bool


def _glm_binomial(
    x: np.ndarray, n: np.ndarray, design: np.ndarray, epsilon: float = 1e-8, maxit: int = 25
) -> _GLM:
    """R's ``glm(cbind(x, n-x) ~ -1 + design, family = binomial)`` with the default
    ``glm.control``; ``design`` must have full column rank. ``vcov`` is R's: the inverse of
    X'WX with the weights of the last IRLS iteration (computed before its update)."""
    y = x / n
    wt = n
    mu = (wt * y + 0.5) / (wt + 1)
    eta = np.log(mu / (1 - mu))
    devold = float(np.sum(_dev_resids(y, mu, wt)))
    converged = False
    xtwx = None
    coef = np.zeros(design.shape[1])
    iterations = 0
    for it in range(1, maxit + 1):
        iterations = it
        me = _mu_eta(eta)
        var = mu * (1 - mu)
        z = eta + (y - mu) / me
        w = wt * me * me / var
        xtwx = design.T @ (design * w[:, None])
        coef = np.linalg.solve(xtwx, design.T @ (w * z))
        eta = design @ coef
        mu = _linkinv(eta)
        dev = float(np.sum(_dev_resids(y, mu, wt)))
        if abs(dev - devold) / (abs(dev) + 0.1) < epsilon:
            converged = True
            break
        devold = dev
    vcov = np.linalg.inv(xtwx)
    loglik = float(np.sum(_dbinom_log(x, n, mu)))
    return _GLM(coef, vcov, eta, mu, loglik, iterations, converged)


def _saturated(x: np.ndarray, n: np.ndarray, design: np.ndarray):
    """The saturated model ``glm(~ -1 + X + study)``: its IRLS moves every study's linear
    predictor to that study's working response, so it runs study by study with R's
    global stopping rule. Returns (Wald statistic of the study effects, log-likelihood)."""
    y = x / n
    wt = n
    mu = (wt * y + 0.5) / (wt + 1)
    eta = np.log(mu / (1 - mu))
    devold = float(np.sum(_dev_resids(y, mu, wt)))
    w = wt * mu * (1 - mu)
    for _ in range(25):
        me = _mu_eta(eta)
        var = mu * (1 - mu)
        w = wt * me * me / var
        eta = eta + (y - mu) / me
        mu = _linkinv(eta)
        dev = float(np.sum(_dev_resids(y, mu, wt)))
        if abs(dev - devold) / (abs(dev) + 0.1) < 1e-8:
            break
        devold = dev
    # Wald test of "eta lies in the column space of X", with Var(eta_i) = 1/w_i
    xw = design * w[:, None]
    proj = xw @ np.linalg.solve(design.T @ xw, xw.T @ eta)
    wald = float(eta @ (w * eta) - eta @ proj)
    loglik = float(np.sum(_dbinom_log(x, n, mu)))
    return wald, loglik


# ---------------------------------------------------------------------------
# the marginal likelihood by adaptive Gauss-Hermite quadrature
# ---------------------------------------------------------------------------


def gh_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for the standard normal density (lme4's ``GHrule``)."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return z, w / math.sqrt(2 * math.pi)


def _modes(x, n, eta0, tau):
    """Mode in u of h(u) = x*eta - n*log(1+e^eta) - u^2/2 with eta = eta0 + tau*u (Newton;
    h is strictly concave). Returns (u0, second derivative of -h at u0)."""
    u = np.zeros_like(eta0)
    for _ in range(200):
        eta = eta0 + tau * u
        p = special.expit(eta)
        g = tau * (x - n * p) - u
        hess = 1 + tau * tau * n * p * (1 - p)
        step = g / hess
        # guard: limit a step to 4 (the mode moves by at most |tau| * n per unit of g)
        step = np.clip(step, -4.0, 4.0)
        u = u + step
        if np.all(np.abs(step) <= 1e-14 * (1 + np.abs(u))):
            break
    eta = eta0 + tau * u
    p = special.expit(eta)
    return u, 1 + tau * tau * n * p * (1 - p)


def marginal_loglik(x, n, eta0, tau, nagq: int = NAGQ) -> np.ndarray:
    """Per-study log marginal likelihood (with the binomial constant) by adaptive GHQ."""
    tau = abs(tau)
    if tau == 0.0:
        return x * eta0 - n * _log1pexp(eta0) + _log_choose(n, x)
    u0, curv = _modes(x, n, eta0, tau)
    s = 1 / np.sqrt(curv)
    z, w = gh_rule(nagq)

    def h(u):
        eta = eta0[:, None] + tau * u
        return x[:, None] * eta - n[:, None] * _log1pexp(eta) - 0.5 * u * u

    h0 = h(u0[:, None])[:, 0]
    hz = h(u0[:, None] + s[:, None] * z[None, :])
    terms = hz - h0[:, None] + 0.5 * z[None, :] ** 2
    return np.log(s) + h0 + np.log(np.sum(w[None, :] * np.exp(terms), axis=1)) + _log_choose(n, x)


def _deviance(theta, x, n, design, nagq):
    tau, beta = theta[0], theta[1:]
    return -2 * float(np.sum(marginal_loglik(x, n, design @ beta, tau, nagq)))


def _num_grad_hess(f, theta, h=1e-4):
    """Gradient and Hessian by central differences with one Richardson step."""
    m = len(theta)

    def gh(hh):
        g = np.zeros(m)
        hs = np.zeros((m, m))
        f0 = f(theta)
        for j in range(m):
            ej = np.zeros(m)
            ej[j] = hh
            fp, fm = f(theta + ej), f(theta - ej)
            g[j] = (fp - fm) / (2 * hh)
            hs[j, j] = (fp - 2 * f0 + fm) / (hh * hh)
            for i in range(j):
                ei = np.zeros(m)
                ei[i] = hh
                v = (
                    f(theta + ei + ej)
                    - f(theta + ei - ej)
                    - f(theta - ei + ej)
                    + f(theta - ei - ej)
                ) / (4 * hh * hh)
                hs[i, j] = hs[j, i] = v
        return g, hs

    g1, h1 = gh(h)
    g2, h2 = gh(h / 2)
    return (4 * g2 - g1) / 3, (4 * h2 - h1) / 3


def _fit_ml(x, n, design, start_beta, nagq):
    f = lambda th: _deviance(th, x, n, design, nagq)  # noqa: E731
    best = None
    for tau0 in (0.5, 1.0, 0.1, 2.0):
        th0 = np.concatenate([[tau0], start_beta])
        res = optimize.minimize(f, th0, method="BFGS", options={"gtol": 1e-9, "maxiter": 2000})
        if best is None or res.fun < best.fun - 1e-12:
            best = res
    theta = np.array(best.x, dtype=float)
    # Newton polish on the numerical gradient and Hessian (the deviance is even in tau)
    for _ in range(50):
        g, hs = _num_grad_hess(f, theta, h=1e-3 * max(1.0, np.max(np.abs(theta))))
        try:
            step = np.linalg.solve(hs, g)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.linalg.eigvalsh(hs) > 0):
            break
        new = theta - step
        if f(new) > f(theta) + 1e-12:
            break
        theta = new
        if np.max(np.abs(step)) < 1e-11:
            break
    theta[0] = abs(theta[0])
    return theta, f


def escalc_plo(x: np.ndarray, n: np.ndarray, add: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """``escalc("PLO", xi, ni, add = 1/2, to = "only0")``: the variances behind vt."""
    a = np.where((x == 0) | (x == n), add, 0.0)
    xa, na = x + a, n + 2 * a
    yi = np.log(xa / (na - xa))
    vi = 1 / xa + 1 / (na - xa)
    return yi, vi


def rma_glmm_plo(
    xi,
    ni,
    mods: np.ndarray | None = None,
    *,
    method: str = "ML",
    test: str = "z",
    level: float = 95.0,
    nagq: int = NAGQ,
    what: str = "GLMM",
) -> GLMMResult:
    """``rma.glmm(measure = "PLO", xi, ni, mods, method, test, level, nAGQ)``.

    ``mods`` is the model matrix without its intercept column (k x m), or None. The Wald
    test QM covers every coefficient but the intercept (all of it when intercept-only).
    """
    x = np.asarray(xi, dtype=float)
    n = np.asarray(ni, dtype=float)
    k = len(x)
    if method not in ("ML", "FE"):
        raise AnalysisError(f"{what}: GLMM method must be ML or FE, not {method!r}")
    if test not in ("z", "t"):
        raise AnalysisError(f"{what}: GLMM test must be z or t, not {test!r}")
    if k == 0:
        raise AnalysisError(f"{what}: no study to pool")
    if np.any(n <= 0) or np.any(x < 0) or np.any(x > n):
        raise AnalysisError(f"{what}: counts must satisfy 0 <= xi <= ni and ni > 0")
    design = np.ones((k, 1))
    if mods is not None and np.size(mods):
        design = np.column_stack([design, np.asarray(mods, dtype=float).reshape(k, -1)])
    p = design.shape[1]
    if np.min(np.linalg.eigvalsh(design.T @ design)) <= 1e-7:
        raise AnalysisError(f"{what}: model matrix not of full rank")
    if (method == "ML" and p + 1 > k) or p > k:
        need = p + (method == "ML")
        raise AnalysisError(
            f"{what}: k = {k}; this GLMM has {need} parameters and needs at least {need} studies"
            + (
                " (more than the coefficients for the random-effects model)"
                if method == "ML"
                else ""
            )
        )
    if np.all(x == 0) or np.all(x == n):
        raise AnalysisError(
            f"{what}: every study has {'no' if np.all(x == 0) else 'only'} events; "
            "the logistic model has no finite estimate"
        )
    warnings: list[str] = []
    fe = _glm_binomial(x, n, design)
    if not fe.converged:
        warnings.append("the fixed-effects glm did not converge")
    if k > 1:
        q_wald, ll_qe = _saturated(x, n, design)
        q_lrt = max(0.0, -2 * (fe.loglik - ll_qe))
        q_wald = max(0.0, q_wald)
        q_df = k - p
        if q_df > 0:
            q_wald_p = float(stats.chi2.sf(q_wald, q_df))
            q_lrt_p = float(stats.chi2.sf(q_lrt, q_df))
        else:
            q_wald_p = q_lrt_p = 1.0
    else:
        q_wald = q_lrt = q_wald_p = q_lrt_p = None
        q_df = None
        ll_qe = fe.loglik
    if method == "FE":
        beta, vb, tau2 = fe.coef, fe.vcov, 0.0
        ll = ll_marginal = fe.loglik
    else:
        theta, f = _fit_ml(x, n, design, fe.coef, nagq)
        tau, beta = float(theta[0]), theta[1:]
        tau2 = tau * tau
        if tau2 < 1e-10:
            # boundary: lme4's Hessian is unusable at theta = 0 (one-sided difference); it
            # falls back to the GLM information (its RX) at beta
            tau, tau2 = 0.0, 0.0
            beta = fe.coef
            mu = special.expit(design @ beta)
            vb = np.linalg.inv(design.T @ (design * (n * mu * (1 - mu))[:, None]))
            warnings.append("tau2 estimated at 0: se from the GLM information at beta")
        else:
            _, hs = _num_grad_hess(f, np.concatenate([[tau], beta]), h=1e-3)
            inv = np.linalg.inv(hs / 2)
            vb = inv[1:, 1:]
            vb = (vb + vb.T) / 2
        # metafor's ll is ll.QE - deviance(glmer)/2, and lme4's deviance of a GLMM is the
        # conditional one: the binomial deviance at the random effects' modes
        eta0 = design @ beta
        u0 = _modes(x, n, eta0, tau)[0] if tau > 0 else np.zeros(k)
        mu = special.expit(eta0 + tau * u0)
        ll = ll_qe - float(np.sum(_dev_resids(x / n, mu, n))) / 2
        ll_marginal = float(np.sum(marginal_loglik(x, n, eta0, tau, nagq)))
    # I2/H2 from the typical within-study variance of escalc's PLO variances
    yi, vi = escalc_plo(x, n)
    wi = 1 / vi
    xw = design * wi[:, None]
    trp = float(np.sum(wi) - np.trace(np.linalg.solve(design.T @ xw, xw.T @ xw)))
    vt = (k - p) / trp if trp > 0 else float("nan")
    i2 = 100 * tau2 / (vt + tau2) if k > p else float("nan")
    h2 = tau2 / vt + 1 if k > p else float("nan")
    se = np.sqrt(np.diag(vb))
    stat = beta / se
    a = 1 - level / 100
    if test == "t":
        df = k - p
        if df <= 0:
            raise AnalysisError(f"{what}: test t needs more studies than coefficients")
        pval = 2 * stats.t.sf(np.abs(stat), df)
        crit = stats.t.ppf(1 - a / 2, df)
    else:
        df = None
        pval = 2 * stats.norm.sf(np.abs(stat))
        crit = stats.norm.ppf(1 - a / 2)
    btt = np.arange(1, p) if p > 1 else np.arange(0, 1)
    bsub = beta[btt]
    qm = float(bsub @ np.linalg.solve(vb[np.ix_(btt, btt)], bsub))
    m = len(btt)
    if test == "t":
        qm = qm / m
        qm_pval = float(stats.f.sf(qm, m, k - p))
    else:
        qm_pval = float(stats.chi2.sf(qm, m))
    return GLMMResult(
        model="FE" if method == "FE" else "RE",
        k=k,
        p=p,
        beta=np.asarray(beta, dtype=float),
        vb=np.asarray(vb),
        se=se,
        stat=stat,
        pval=np.asarray(pval),
        ci_lb=beta - crit * se,
        ci_ub=beta + crit * se,
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
        qm_df=m,
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


def clopper_pearson(x, n, level: float = 95.0) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Clopper-Pearson) CI of each study's proportion, as forest plots of proportions
    show (R's ``binom.test``)."""
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    a = 1 - level / 100
    with np.errstate(invalid="ignore"):
        lb = np.where(x == 0, 0.0, stats.beta.ppf(a / 2, x, n - x + 1))
        ub = np.where(x == n, 1.0, stats.beta.ppf(1 - a / 2, x + 1, n - x))
    return lb, ub


def ilogit(v: float | None) -> float | None:
    return None if v is None else float(special.expit(v))


def summary(res: GLMMResult) -> dict[str, Any]:
    """The intercept-only result in the CLI's field names (analysis scale + ``back``)."""
    pi_lb, pi_ub = res.prediction_interval()
    if res.model == "FE":
        pi_lb, pi_ub = float(res.ci_lb[0]), float(res.ci_ub[0])
    return {
        "estimate": float(res.beta[0]),
        "se": float(res.se[0]),
        "ci_lb": float(res.ci_lb[0]),
        "ci_ub": float(res.ci_ub[0]),
        "stat": float(res.stat[0]),
        "pval": float(res.pval[0]),
        "pi_lb": pi_lb,
        "pi_ub": pi_ub,
        "back": {
            "estimate": ilogit(float(res.beta[0])),
            "ci_lb": ilogit(float(res.ci_lb[0])),
            "ci_ub": ilogit(float(res.ci_ub[0])),
            "pi_lb": ilogit(pi_lb),
            "pi_ub": ilogit(pi_ub),
        },
    }


def subgroup_glmm(
    xi, ni, groups, *, method: str = "ML", test: str = "z", level: float = 95.0
) -> dict[str, Any]:
    """One ``rma.glmm`` per level (each with its own tau2, as meta's ``metaprop`` with
    subgroups and the published case-series reviews do), and the test for subgroup
    differences as meta and RevMan compute it: Cochran's Q over the level estimates with
    weights 1/se^2 (``rma(yi = estimates, sei = se, method = "FE")$QE``), on L-1 df.
    A level with fewer units than the model has parameters cannot be fitted and is
    listed under ``skipped``. (metafor's single model ``mods = ~ factor(group)``, one tau2
    shared by the levels, is ``rma_glmm_plo(xi, ni, mods = dummies)`` and its QM.)"""
    x = np.asarray(xi, dtype=float)
    n = np.asarray(ni, dtype=float)
    g = np.asarray([str(v) for v in groups], dtype=object)
    out_levels, skipped = [], {}
    for lev in sorted(set(g.tolist())):
        sel = g == lev
        try:
            res = rma_glmm_plo(
                x[sel], n[sel], method=method, test=test, level=level, what=f"subgroup {lev}"
            )
        except AnalysisError as exc:
            skipped[lev] = str(exc)
            continue
        out_levels.append(
            {
                "level": lev,
                "k": res.k,
                **summary(res),
                "tau2": res.tau2,
                "i2": res.i2,
                "h2": res.h2,
                "q_wald": res.q_wald,
                "q_lrt": res.q_lrt,
            }
        )
    if len(out_levels) < 2:
        raise AnalysisError("GLMM subgroups: fewer than two subgroups could be pooled")
    est = np.array([lv["estimate"] for lv in out_levels])
    w = 1 / np.array([lv["se"] for lv in out_levels]) ** 2
    q = float(np.sum(w * (est - np.sum(w * est) / np.sum(w)) ** 2))
    df = len(out_levels) - 1
    return {
        "levels": out_levels,
        "skipped": skipped,
        "test_between": {"q": q, "df": df, "pval": float(stats.chi2.sf(q, df))},
    }


def glmm_study_records(study_ids, xi, ni, level: float = 95.0) -> list[dict[str, Any]]:
    """Per-study rows of a GLMM fit: escalc's PLO yi/vi (add 1/2 to 0 or n events) and the
    exact Clopper-Pearson CI of the proportion (``back``), as forest plots of proportions
    show. ``weight`` is None: metafor defines no study weights for ``rma.glmm``."""
    x = np.asarray(xi, dtype=float)
    n = np.asarray(ni, dtype=float)
    yi, vi = escalc_plo(x, n)
    lb, ub = clopper_pearson(x, n, level)
    crit = float(stats.norm.ppf(1 - (1 - level / 100) / 2))
    out = []
    for i, sid in enumerate(study_ids):
        out.append(
            {
                "study": str(sid),
                "xi": int(x[i]),
                "ni": int(n[i]),
                "yi": float(yi[i]),
                "vi": float(vi[i]),
                "ci_lb": float(yi[i] - crit * math.sqrt(vi[i])),
                "ci_ub": float(yi[i] + crit * math.sqrt(vi[i])),
                "back": {
                    "estimate": float(x[i] / n[i]),
                    "ci_lb": float(lb[i]),
                    "ci_ub": float(ub[i]),
                    "ci_method": "clopper-pearson",
                },
                "weight": None,
                # escalc's 1/2 enters only the typical within-study variance of I2; the
                # study's CI shown is the exact one, without correction
                "correction": "none",
                "excluded": None,
            }
        )
    return out


# the binomial pieces the GLMM for 2x2 tables (metareview.engine.glmm_or) shares
dev_resids = _dev_resids
glm_binomial = _glm_binomial
log_choose = _log_choose
saturated_fit = _saturated
