"""Permutation test of a meta-regression, as metafor's ``permutest.rma.uni``.

The rows of the design matrix are permuted against (yi, vi) and the model refitted with
the same tau^2 estimator and test; the permutation p-value of a coefficient is the share
of permutations whose |z| (or |t|) is at least the observed one, that of the omnibus test
the share whose QM is at least the observed QM (both less metafor's tolerance
``sqrt(.Machine$double.eps)``). metafor's rule for an exact test: the number of distinct
rearrangements of the design rows, k! / prod(n_j!) over the sets of identical rows, is
used when it is at most ``iter`` (or ``exact`` is asked for); otherwise ``iter``
permutations are drawn, the first being the observed data. Random permutations here come
from numpy's generator with a fixed seed (R's random numbers are not reproduced, so random
p-values agree with metafor's to the resolution of the permutation count only).

The refits are batched: every permutation's weights, tau^2 (DL, HE, HS, SJ in closed form;
ML, REML, EB by Fisher scoring in lock step), coefficients and QM are computed as arrays
over permutations; PM goes through the one-model code per permutation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from metareview.engine import tau2 as tau2mod
from metareview.engine.models import clean
from metareview.engine.subgroups import tau2_design
from metareview.errors import AnalysisError

#: metafor's ``comptol``: .Machine$double.eps^0.5
COMPTOL = float(np.finfo(float).eps ** 0.5)
#: the largest exact permutation count computed (beyond it: random permutations, or an
#: error when an exact test is demanded)
MAX_EXACT = 1_000_000


def exact_count(x: np.ndarray) -> int:
    """Distinct rearrangements of the rows of ``x``: k! / prod(n_j!) (metafor's
    ``X.exact.iter``)."""
    _, counts = np.unique(np.asarray(x, float), axis=0, return_counts=True)
    total = math.factorial(int(counts.sum()))
    for c in counts:
        total //= math.factorial(int(c))
    return total


def unique_permutations(labels: list[int]) -> np.ndarray:
    """Every distinct arrangement of the multiset ``labels`` in lexicographic order
    (metafor's ``.genuperms``), one per row."""
    a = sorted(labels)
    n = len(a)
    out = [list(a)]
    while True:
        i = n - 2
        while i >= 0 and a[i] >= a[i + 1]:
            i -= 1
        if i < 0:
            break
        j = n - 1
        while a[j] <= a[i]:
            j -= 1
        a[i], a[j] = a[j], a[i]
        a[i + 1 :] = reversed(a[i + 1 :])
        out.append(list(a))
    return np.array(out, dtype=int)


def _wls(w, xb):
    """Batched weighted least squares pieces: W X, (X'WX)^-1, P = W - W X (X'WX)^-1 X'W."""
    wx = xb * w[:, :, None]
    inv = np.linalg.inv(np.einsum("bki,bkj->bij", xb, wx))
    pm = -np.einsum("bki,bij,blj->bkl", wx, inv, wx)
    idx = np.arange(w.shape[1])
    pm[:, idx, idx] += w
    return wx, inv, pm


def tau2_batch(y, v, xb, method: str) -> np.ndarray:
    """tau^2 of each model ``(y, v, xb[b])`` (``xb``: permutations x k x p), as
    ``subgroups._tau2_general`` computes it for one; NaN where the estimator fails."""
    nb, k, p = xb.shape
    if method == "FE":
        return np.zeros(nb)
    if method == "PM":
        out = np.empty(nb)
        for b in range(nb):
            try:
                out[b] = tau2_design(y, v, xb[b], method)
            except (AnalysisError, np.linalg.LinAlgError):
                out[b] = np.nan
        return out
    w0 = np.broadcast_to(1 / v, (nb, k))
    _, _, p0 = _wls(w0, xb)
    rss0 = np.einsum("k,bkl,l->b", y, p0, y)
    if method == "DL":
        return np.maximum(0.0, (rss0 - (k - p)) / np.trace(p0, axis1=1, axis2=2))
    if method == "HS":
        return np.maximum(0.0, (rss0 - k) / (1 / v).sum())
    xtx_inv = np.linalg.inv(np.einsum("bki,bkj->bij", xb, xb))
    hat = np.einsum("bki,bij,blj->bkl", xb, xtx_inv, xb)
    pols = np.eye(k)[None] - hat
    diag = np.diagonal(pols, axis1=1, axis2=2)
    he = (np.einsum("k,bkl,l->b", y, pols, y) - (diag * v[None, :]).sum(axis=1)) / (k - p)
    if method == "HE":
        return np.maximum(0.0, he)
    if method == "SJ":
        tau0 = float(np.mean((y - y.mean()) ** 2))
        _, _, pw = _wls(np.broadcast_to(1 / (v + tau0), (nb, k)), xb)
        return np.maximum(0.0, tau0 * np.einsum("k,bkl,l->b", y, pw, y) / (k - p))
    if method not in ("ML", "REML", "EB"):
        raise AnalysisError(f"unknown tau2 estimator {method!r}")
    # Fisher scoring from the HE start, each permutation stopping when it converges
    t = np.maximum(0.0, he)
    active = np.ones(nb, bool)
    failed = np.zeros(nb, bool)
    it = 0
    while active.any():
        it += 1
        a = np.flatnonzero(active)
        ta = t[a]
        w = 1 / (v[None, :] + ta[:, None])
        _, _, pm = _wls(w, xb[a])
        py = pm @ y
        if method == "ML":
            adj = ((py * py).sum(1) - w.sum(1)) / (w**2).sum(1)
        elif method == "REML":
            adj = ((py * py).sum(1) - np.trace(pm, axis1=1, axis2=2)) / (pm * pm).sum((1, 2))
        else:
            adj = ((py @ y) * k / (k - p) - k) / w.sum(1)
        while np.any(neg := ta + adj < 0):
            adj = np.where(neg, adj / 2, adj)
        new = ta + adj
        t[a] = new
        done = np.abs(new - ta) <= tau2mod.THRESHOLD
        active[a[done]] = False
        if it > tau2mod.MAXITER:
            failed |= active
            active[:] = False
    if method in ("ML", "REML"):

        def ll(tt):
            w = 1 / (v[None, :] + tt[:, None])
            wx, _, pm = _wls(w, xb)
            rss = np.einsum("k,bkl,l->b", y, pm, y)
            base = -0.5 * np.log(v[None, :] + tt[:, None]).sum(1) - 0.5 * rss
            if method == "ML":
                return -0.5 * k * np.log(2 * np.pi) + base
            _, logdet = np.linalg.slogdet(np.einsum("bki,bkj->bij", xb, wx))
            return -0.5 * (k - p) * np.log(2 * np.pi) + base - 0.5 * logdet

        drop = (ll(np.zeros(nb)) - ll(t) > tau2mod.UNIROOT_TOL) & (t > tau2mod.THRESHOLD)
        t = np.where(drop, 0.0, t)
    t = np.maximum(0.0, t)
    t[failed] = np.nan
    return t


def fit_batch(y, v, xb, method: str, test: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients, their z (or t) statistics and QM (F under knha) of each model
    ``(y, v, xb[b])``, with the intercept left out of QM as metafor's default ``btt``;
    NaN rows where a fit fails."""
    nb, k, p = xb.shape
    t2 = tau2_batch(y, v, xb, method)
    bad = ~np.isfinite(t2)
    w = 1 / (v[None, :] + np.where(bad, 0.0, t2)[:, None])
    wx, inv, _ = _wls(w, xb)
    beta = np.einsum("bij,bkj,k->bi", inv, wx, y)
    vb = inv
    if test == "knha":
        res = y[None, :] - np.einsum("bki,bi->bk", xb, beta)
        rss = (w * res**2).sum(1)
        s2w = np.where(rss <= np.finfo(float).eps, 0.0, rss / (k - p))
        vb = vb * s2w[:, None, None]
    se = np.sqrt(np.diagonal(vb, axis1=1, axis2=2))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se
        b1 = beta[:, 1:]
        qm = np.einsum("bi,bi->b", b1, np.linalg.solve(vb[:, 1:, 1:], b1[:, :, None])[:, :, 0])
    if test == "knha":
        qm = qm / (p - 1)
    beta[bad] = np.nan
    stat[bad] = np.nan
    qm[bad] = np.nan
    return beta, stat, qm


def permutest(
    y,
    v,
    x,
    *,
    method: str = "REML",
    test: str = "z",
    iter: int = 1000,
    seed: int = 1,
    exact: bool = False,
    observed: dict[str, Any] | None = None,
    orders=None,
) -> dict[str, Any]:
    """metafor's ``permutest(res, exact, iter)`` of the meta-regression of ``y`` (variances
    ``v``) on design matrix ``x`` (intercept first): the permutation p-value of every
    coefficient and of QM, whether the test was exact and how many permutations it used.

    ``orders`` (``iter`` x k, 0-based row orders, the first the observed data) replaces
    the random draws: the tests give it the permutations metafor drew."""
    y, v, x = np.asarray(y, float), np.asarray(v, float), np.asarray(x, float)
    k, p = x.shape
    if p < 2:
        raise AnalysisError("a permutation test needs at least one moderator")
    if iter < 2:
        raise AnalysisError("a permutation test needs at least 2 permutations")
    count = exact_count(x)
    is_exact = bool(exact or count <= iter)
    if is_exact and count > MAX_EXACT:
        raise AnalysisError(
            f"an exact permutation test needs {count:,} permutations (more than "
            f"{MAX_EXACT:,}); ask for random permutations instead"
        )
    obs_beta, obs_stat, obs_qm = (a[0] for a in fit_batch(y, v, x[None], method, test))
    if observed is not None:  # the fit the caller reports (same numbers, its rounding)
        obs_stat = np.array([c["stat"] for c in observed["coefficients"]], float)
        obs_qm = float(observed["qm"])
    if is_exact:
        rows, labels = np.unique(x, axis=0, return_inverse=True)
        perms = unique_permutations([int(lab) for lab in np.ravel(labels)])
        stats, qms = [], []
        for start in range(0, len(perms), 2000):  # batches bound the memory
            _, s, q = fit_batch(y, v, rows[perms[start : start + 2000]], method, test)
            stats.append(s)
            qms.append(q)
        stat_perm, qm_perm = np.concatenate(stats), np.concatenate(qms)
        n_used = len(perms)
    else:
        rng = np.random.default_rng(seed)
        stat_perm = np.empty((iter, p))
        qm_perm = np.empty(iter)
        stat_perm[0], qm_perm[0] = obs_stat, obs_qm
        filled = 1
        for _ in range(100):  # metafor draws again when a refit fails
            need = iter - filled
            if need == 0:
                break
            if orders is not None:
                order = np.asarray(orders, int)[filled:iter]
            else:
                order = np.argsort(rng.random((need, k)), axis=1)
            _, s, q = fit_batch(y, v, x[order], method, test)
            ok = np.isfinite(q) & np.isfinite(s).all(1)
            n_ok = int(ok.sum())
            stat_perm[filled : filled + n_ok] = s[ok]
            qm_perm[filled : filled + n_ok] = q[ok]
            filled += n_ok
        if filled < iter:
            raise AnalysisError("permutation test: too many permuted models could not be fitted")
        n_used = iter
    valid = np.isfinite(qm_perm)
    with np.errstate(invalid="ignore"):
        hits = np.abs(stat_perm[valid]) >= np.abs(obs_stat)[None, :] - COMPTOL
        pvals = np.minimum(1.0, hits.mean(axis=0))
        qm_p = float(np.mean(qm_perm[valid] >= obs_qm - COMPTOL))
    return clean(
        {
            "exact": is_exact,
            "iter": int(n_used),
            "exact_count": count if count <= 10**15 else None,
            "failed": int((~valid).sum()),
            "seed": None if is_exact else int(seed),
            "pval": [float(pv) for pv in pvals],
            "qm_pval": qm_p,
            "beta": [float(b) for b in obs_beta],
        }
    )
