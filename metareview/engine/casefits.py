"""The k refits of a leave-one-out or cumulative meta-analysis, in bounded memory and fast.

A case-deletion analysis refits the intercept-only inverse-variance model k times, each time
without one study ("delete" refits); a cumulative meta-analysis refits it on the first
1, 2, ..., k studies ("prefix" refits). :class:`Refits` describes those k masks without
storing a (k, k) array, and :func:`fit_refits` fits them all:

* every refit follows :func:`metareview.engine.models.fit_iv_many` (metafor's ``rma.uni``),
  ML/REML/EB by metafor's Fisher scoring from the refit's own Hedges start (as metafor
  refits each deletion from its default start, so that the converged values are metafor's);
* for k >= ``FAST_MIN_K`` the refits of FE, DL, HE, HS, ML, REML and EB are computed in
  lock-step: per Fisher-scoring step the sums over each refit's studies (of w, w y, w y^2,
  w^2, w^2 y, w^2 y^2, w^3 with w = 1/(v + tau2 of that refit)) are row sums over
  row chunks of at most ``CHUNK_ELEMENTS`` cells (about 8 MB per buffer), and sums with
  weights common to all refits (the fixed-effect weights of Q and I^2, the Hedges start)
  are totals minus each refit's own term (delete) or running sums (prefix). The effect
  sizes are centred first, so the one-pass forms lose no digits that matter;
* a refit where one study carries more than half the weight (where the one-pass traces
  cancel), that does not converge in ``MAXITER`` steps, that has fewer than 3 studies, or
  whose estimator has no lock-step form (SJ, PM), is refitted by ``fit_iv_many`` on its
  own mask (chunked), so step halving, the bracketed search and every note are as before;
* below ``FAST_MIN_K`` studies every refit is fitted by ``fit_iv_many`` (chunked), the
  arithmetic of the analyses before this module (small reviews: identical results).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from metareview.engine import tau2 as tau2mod
from metareview.engine.models import chi2_sf, fit_iv_many, norm_crit, norm_sf2, t_crit, t_sf2

#: from this many studies the refits are computed in lock-step (fewer: ``fit_iv_many``)
FAST_MIN_K = 100
#: cells of one (rows, studies) buffer: the row chunk of every pass over the refits
CHUNK_ELEMENTS = 1 << 20
#: the methods with a lock-step form
FAST_METHODS = ("FE", "DL", "HE", "HS", "ML", "REML", "EB")
#: the fields :func:`fit_refits` returns, each an array with one value per refit
FIELDS = (
    "k",
    "estimate",
    "se",
    "stat",
    "pval",
    "ci_lb",
    "ci_ub",
    "q",
    "q_df",
    "q_pval",
    "tau2",
    "i2",
    "h2",
    "rss",
)


class Refits:
    """The k refits of ``k`` studies: ``"delete"`` (refit i: every study but i) or
    ``"prefix"`` (refit j: studies 0..j), one row each."""

    def __init__(self, kind: str, k: int):
        if kind not in ("delete", "prefix"):
            raise ValueError(f"unknown refit kind {kind!r}")
        self.kind, self.k = kind, int(k)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.k, self.k)

    def sizes(self, rows: np.ndarray) -> np.ndarray:
        """The number of studies of each refit of ``rows``."""
        if self.kind == "delete":
            return np.full(rows.size, self.k - 1)
        return rows + 1

    def ncols(self, rows: np.ndarray) -> int:
        """The studies any refit of ``rows`` uses are the first ``ncols``."""
        return self.k if self.kind == "delete" else int(rows.max()) + 1

    def mask(self, rows: np.ndarray, ncols: int | None = None) -> np.ndarray:
        """The boolean masks of the refits ``rows``, shape ``(rows.size, ncols)``."""
        ncols = self.k if ncols is None else ncols
        if self.kind == "delete":
            out = np.ones((rows.size, ncols), dtype=bool)
            out[np.arange(rows.size), rows] = False
            return out
        return np.arange(ncols)[None, :] <= rows[:, None]

    def dense(self) -> np.ndarray:
        return self.mask(np.arange(self.k))

    def zero_out(self, w: np.ndarray, rows: np.ndarray) -> None:
        """Set the cells of ``w`` (rows ``rows``, first ``w.shape[1]`` studies) outside
        each refit to 0, in place."""
        if self.kind == "delete":
            w[np.arange(rows.size), rows] = 0.0
        else:
            w[np.arange(w.shape[1])[None, :] > rows[:, None]] = 0.0

    def totals(self, a: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Per refit of ``rows``: the sum of ``a`` (one value per study, or columns of
        them) over its studies (delete: total minus own; prefix: running sum)."""
        if self.kind == "delete":
            return a.sum(0) - a[rows]
        return np.cumsum(a, axis=0)[rows]

    def top(self, a: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Per refit of ``rows``: the largest ``a`` over its studies."""
        if self.kind == "delete":
            order = np.argsort(-a, kind="stable")
            first, second = a[order[0]], a[order[1]] if a.size > 1 else -np.inf
            return np.where(rows == order[0], second, first)
        return np.maximum.accumulate(a)[rows]

    def chunks(self, rows: np.ndarray) -> Iterator[np.ndarray]:
        """``rows`` in chunks of at most ``CHUNK_ELEMENTS`` cells."""
        step = max(1, CHUNK_ELEMENTS // max(self.k, 1))
        for start in range(0, rows.size, step):
            yield np.arange(start, min(start + step, rows.size))


# --------------------------------------------------------------------------- exact


def _exact(y, v, refits: Refits, rows, method, test, level) -> dict[str, np.ndarray]:
    """``fit_iv_many`` on the masks of ``rows``, chunk by chunk (rows with >= 2 studies)."""
    out = {name: np.full(rows.size, np.nan) for name in FIELDS}
    out["converged"] = np.zeros(rows.size, dtype=bool)
    out["notes"] = [[] for _ in range(rows.size)]
    for part in refits.chunks(rows):
        r = rows[part]
        mask = refits.mask(r)
        yy = np.broadcast_to(y, mask.shape)
        vv = np.broadcast_to(v, mask.shape)
        res = fit_iv_many(yy, vv, mask, method, test, level)
        for name in FIELDS:
            if name != "rss":
                out[name][part] = np.asarray(res[name], dtype=float)
        # the weighted RSS at the refit's tau^2 (Knapp-Hartung's s^2), as the analyses did
        out["rss"][part] = tau2mod.weighted_parts(yy, vv, mask, res["tau2"])[4]
        out["converged"][part] = np.asarray(res["converged"], dtype=bool)
        for j, note in zip(part, res["notes"], strict=True):
            out["notes"][j] = list(note)
    return out


# --------------------------------------------------------------------------- lock-step


def _row_sums(w, yc3):
    """``w @ yc3`` for the three columns [1, y, y^2], by numpy's own loops: BLAS with three
    columns is slow with several threads on busy cores (about 10 times here) and its sums
    depend on the thread count."""
    out = np.empty((w.shape[0], 3))
    out[:, 0] = w.sum(1)
    out[:, 1] = np.einsum("ij,j->i", w, yc3[:, 1])
    out[:, 2] = np.einsum("ij,j->i", w, yc3[:, 2])
    return out


def _sums(yc3, v, refits: Refits, rows, t, cubes=True):
    """Per refit of ``rows`` with tau^2 ``t``: ``S = sum w [1, y, y^2]``, ``T = sum w^2
    [1, y, y^2]`` and ``U = sum w^3`` (w = 1/(v + t))."""
    n = rows.size
    big_s, big_t = np.empty((n, 3)), np.empty((n, 3))
    u = np.empty(n)
    for part in refits.chunks(rows):
        r = rows[part]
        c = refits.ncols(r)
        w = v[None, :c] + t[part][:, None]
        np.reciprocal(w, out=w)
        refits.zero_out(w, r)
        big_s[part] = _row_sums(w, yc3[:c])
        if cubes:
            w2 = w * w
            big_t[part] = _row_sums(w2, yc3[:c])
            u[part] = np.einsum("ij,ij->i", w2, w)
    return big_s, big_t, u


def _logdet(v, refits: Refits, rows, t):
    """Per refit of ``rows``: sum log(v + t) over its studies."""
    out = np.empty(rows.size)
    for part in refits.chunks(rows):
        r = rows[part]
        c = refits.ncols(r)
        a = np.log(v[None, :c] + t[part][:, None])
        refits.zero_out(a, r)
        out[part] = a.sum(1)
    return out


def _rss(big_s):
    s0, s1, s2 = big_s.T
    return np.maximum(0.0, s2 - s1 * (s1 / s0))


def _fisher(yc3, v, refits, rows, kk, method, start, vmin):
    """metafor's Fisher scoring for all refits ``rows`` in lock-step (as
    ``tau2._fisher_loop``); returns ``(tau2, ok)``: ``ok`` False where the refit must be
    redone exactly (not converged, infinite step, one study carrying the weight)."""
    t = np.array(start, dtype=float)
    active = np.ones(rows.size, dtype=bool)
    ok = np.ones(rows.size, dtype=bool)
    it = 0
    while active.any():
        it += 1
        idx = np.flatnonzero(active)
        ta = t[idx]
        big_s, big_t, u = _sums(yc3, v, refits, rows[idx], ta)
        wmax = 1.0 / (vmin[idx] + ta)  # the largest weight: that of the smallest v
        s0, s1, _ = big_s.T
        t0, t1, t2 = big_t.T
        ybar = s1 / s0
        with np.errstate(divide="ignore", invalid="ignore"):
            if method == "ML":
                pypy = t2 - 2 * ybar * t1 + ybar * ybar * t0
                adj = (pypy - s0) / t0
            elif method == "REML":
                pypy = t2 - 2 * ybar * t1 + ybar * ybar * t0
                trp = s0 - t0 / s0
                trpp = t0 - 2 * u / s0 + (t0 / s0) ** 2
                adj = (pypy - trp) / trpp
            else:  # EB
                ka = kk[idx]
                adj = (_rss(big_s) * ka / (ka - 1) - ka) / s0
        dominated = wmax > tau2mod.DOMINANT_SHARE * s0
        adj = np.where(np.isnan(adj), 0.0, adj)
        broken = ~np.isfinite(adj) | dominated
        adj = np.where(broken, 0.0, adj)
        neg = ta + adj < 0
        while neg.any():
            adj = np.where(neg, adj / 2, adj)
            neg = ta + adj < 0
        new = ta + adj
        t[idx] = new
        ok[idx[broken]] = False
        done = (np.abs(ta - new) <= tau2mod.THRESHOLD) | broken
        if it > tau2mod.MAXITER:
            ok[idx] = False
            break
        active[idx[done]] = False
    return t, ok


def _fast(y, v, refits: Refits, rows, method, test, level):
    """The lock-step fits of ``rows``; ``exact`` marks the rows to refit by ``_exact``."""
    kk = refits.sizes(rows).astype(float)
    centre = float(np.mean(y))
    yc = y - centre
    yc3 = np.column_stack([np.ones_like(yc), yc, yc * yc])
    # fixed-effect weights: common to every refit
    w0 = 1.0 / v
    s0_0, s1_0, s2_0, t0_0 = refits.totals(
        np.column_stack([w0, w0 * yc, w0 * yc * yc, w0 * w0]), rows
    ).T
    q = np.maximum(0.0, s2_0 - s1_0 * (s1_0 / s0_0))
    trp0 = s0_0 - t0_0 / s0_0
    exact = (kk < 3) | (refits.top(w0, rows) > tau2mod.DOMINANT_SHARE * s0_0)
    converged = np.ones(rows.size, dtype=bool)
    set_to_zero = np.zeros(0, dtype=int)
    if method == "FE":
        t2 = np.zeros(rows.size)
    elif method == "DL":
        t2 = np.maximum(0.0, (q - (kk - 1)) / trp0)
    elif method == "HS":
        t2 = np.maximum(0.0, (q - kk) / s0_0)
    else:  # the Hedges estimate (HE; the start of the Fisher scoring)
        n_, sy, syy, sv = refits.totals(np.column_stack([np.ones_like(yc), yc, yc * yc, v]), rows).T
        rss_u = np.maximum(0.0, syy - sy * (sy / n_))
        t2 = np.maximum(0.0, (rss_u - (sv - sv / kk)) / (kk - 1))
        if method in ("ML", "REML", "EB"):
            todo = np.flatnonzero(~exact)
            vmin = -refits.top(-v, rows[todo])
            t_fit, ok = _fisher(yc3, v, refits, rows[todo], kk[todo], method, t2[todo], vmin)
            t2[todo] = t_fit
            exact[todo[~ok]] = True
            if method in ("ML", "REML"):
                # metafor's rule: a tau^2 whose likelihood is below that at 0 is set to 0
                check = todo[ok & (t_fit > tau2mod.THRESHOLD)]
                if check.size:
                    r = rows[check]
                    bs = _sums(yc3, v, refits, r, t2[check], cubes=False)[0]
                    ld = _logdet(v, refits, r, t2[check])
                    ld0 = refits.totals(np.log(v), r)
                    ll = -0.5 * ld - 0.5 * _rss(bs)
                    ll0 = -0.5 * ld0 - 0.5 * q[check]
                    if method == "REML":
                        ll = ll - 0.5 * np.log(bs[:, 0])
                        ll0 = ll0 - 0.5 * np.log(s0_0[check])
                    stuck = ll0 - ll > tau2mod.UNIROOT_TOL
                    t2[check[stuck]] = 0.0
                    set_to_zero = check[stuck]
    t2 = np.maximum(0.0, t2)
    big_s = _sums(yc3, v, refits, rows, t2, cubes=False)[0]
    s0, s1, _ = big_s.T
    rss = _rss(big_s)
    mu = s1 / s0 + centre
    var = 1.0 / s0
    with np.errstate(divide="ignore", invalid="ignore"):
        if test == "knha":
            s2w = np.where(rss <= np.finfo(float).eps, 0.0, rss / (kk - 1))
            var = s2w * var
            crit = t_crit(level, kk - 1)
        else:
            crit = np.full(rows.size, norm_crit(level))
        se = np.sqrt(var)
        stat = mu / se
        pval = t_sf2(stat, kk - 1) if test == "knha" else norm_sf2(stat)
        vt = (kk - 1) / trp0
        if method == "FE":
            i2 = np.maximum(0.0, 100 * (q - (kk - 1)) / q)
            h2 = q / (kk - 1)
        else:
            i2 = 100 * t2 / (vt + t2)
            h2 = t2 / vt + 1
    out = {
        "k": kk,
        "estimate": mu,
        "se": se,
        "stat": stat,
        "pval": pval,
        "ci_lb": mu - crit * se,
        "ci_ub": mu + crit * se,
        "q": q,
        "q_df": kk - 1,
        "q_pval": chi2_sf(q, kk - 1),
        "tau2": t2,
        "i2": i2,
        "h2": h2,
        "rss": rss,
        "converged": converged,
        "notes": [[] for _ in range(rows.size)],
    }
    for i in set_to_zero:  # as tau2.fisher_scoring notes it
        out["notes"][i].append(
            "Fisher scoring may have stopped at a local maximum; tau^2 set to 0 (metafor rule)"
        )
    return out, exact


def fit_refits(y, v, refits: Refits, rows, method="REML", test="z", level=95.0):
    """The refits ``rows`` (each with >= 2 studies) of ``y``/``v`` (one value per study):
    a dict of :data:`FIELDS` arrays, ``converged`` and ``notes`` (one list per refit),
    as ``fit_iv_many`` gives them for the refits' masks."""
    y = np.asarray(y, dtype=float)
    v = np.asarray(v, dtype=float)
    rows = np.asarray(rows, dtype=int)
    if refits.k < FAST_MIN_K or method not in FAST_METHODS or rows.size == 0:
        return _exact(y, v, refits, rows, method, test, level)
    out, exact = _fast(y, v, refits, rows, method, test, level)
    redo = np.flatnonzero(exact)
    if redo.size:
        again = _exact(y, v, refits, rows[redo], method, test, level)
        for name in (*FIELDS, "converged"):
            out[name][redo] = again[name]
        for j, i in enumerate(redo):
            out["notes"][i] = again["notes"][j]
    return out
