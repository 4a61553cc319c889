"""Between-study variance (tau^2) estimators for intercept-only models, vectorised.

Every function takes ``y`` and ``v`` of shape ``(groups, kmax)`` with zeros in padded cells
and a boolean ``mask`` of the same shape, and returns one tau^2 per group. The formulas
and iteration rules follow metafor's ``rma.uni`` (Viechtbauer 2005, J Educ Behav Stat
30:261; Viechtbauer 2010, J Stat Softw 36(3)), so that the same data give the same answer:

* DL  DerSimonian & Laird (1986):  (Q - (k-1)) / (sum w - sum w^2 / sum w)
* HE  Hedges (1983):               (RSS_ols - (sum v - mean v)) / (k-1)
* HS  Hunter & Schmidt (2004):     (Q - k) / sum w
* SJ  Sidik & Jonkman (2005):      tau0 * RSS(tau0) / (k-1), tau0 = mean((y - ybar)^2)
* ML, REML, EB: Fisher scoring from the (truncated) HE estimate, step-halving at 0,
  stopping when the change is <= 1e-5 (at most 100 iterations), as metafor does; where
  it fails, the group is refitted with the step halved (metafor's ``stepadj = 0.5``,
  1000 iterations) and then by a bracketed search on [0, tau2_max] (``fisher_scoring``)
* PM  Paule & Mandel (1982): root of Q(tau^2) = k-1 by Brent's method exactly as R's
  ``uniroot`` (tolerance ``.Machine$double.eps^0.25``) on [0, max(100, 10 mad(y)^2)];
  ``zeroin_many`` runs R's zeroin for all groups in lock-step

All estimates are truncated at 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

THRESHOLD = 1e-5
MAXITER = 100
UNIROOT_TOL = np.finfo(float).eps ** 0.25
DBL_EPS = np.finfo(float).eps
LOCKSTEP_MIN = 3  # zeroin_many: fewer problems than this are solved one at a time
METHODS = ("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")


@dataclass
class Tau2Result:
    tau2: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    notes: list[list[str]]


def _wsum(a, axis=1):
    return a.sum(axis=axis)


def weighted_parts(y, v, mask, tau2):
    """Weights 1/(v + tau2), their sum, the weighted mean and the weighted RSS per group."""
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(mask, 1.0 / (v + np.asarray(tau2)[..., None]), 0.0)
    sw = _wsum(w)
    ybar = _wsum(w * y) / sw
    resid = np.where(mask, y - ybar[..., None], 0.0)
    rss = _wsum(w * resid**2)
    return w, sw, ybar, resid, rss


#: above this share of its group's total weight, one study makes ``sw - sum(w^2)/sw`` cancel
DOMINANT_SHARE = 0.5


def _others(a, total):
    """``sum_{j != i} a_j`` per element: ``total - a_i``, except at each row's largest
    element, whose others are summed directly (the subtraction would cancel there)."""
    out = total[..., None] - a
    rest = a.copy()
    top = rest.argmax(1)
    rows = np.arange(a.shape[0])
    rest[rows, top] = 0.0
    out[rows, top] = rest.sum(1)
    return out


def _dominated(w, sw):
    """Rows (groups) where one study holds more than ``DOMINANT_SHARE`` of the weight."""
    return np.flatnonzero(w.max(1) > DOMINANT_SHARE * sw)


def p_trace(w, sw):
    """``tr(P)`` for the intercept-only ``P = W - w w' / sum(w)`` (see :func:`p_traces`)."""
    trp = sw - _wsum(w * w) / sw
    dom = _dominated(w, sw)
    if dom.size:
        wd, sd = w[dom], sw[dom]
        trp[dom] = _wsum(wd * _others(wd, sd)) / sd
    return trp


def p_traces(w, sw):
    """``tr(P)`` and ``sum_ij P_ij^2`` for the intercept-only ``P = W - w w' / sum(w)``.

    The textbook forms ``sw - sum(w^2)/sw`` and ``sum(w^2) - 2 sum(w^3)/sw +
    sum(w^2)^2/sw^2`` lose every digit when one study's weight dwarfs the others' (a
    registry-sized study among small trials; metafor forms P as a matrix). In those
    groups, with ``o_i`` the sum of the other weights and ``O_i`` that of their squares,
    ``P_ii = w_i o_i / sw`` and ``P_ij = -w_i w_j / sw`` give sums of positive terms:
    ``tr(P) = sum w_i o_i / sw`` and ``sum P_ij^2 = sum w_i^2 (o_i^2 + O_i) / sw^2``.
    """
    w2 = w * w
    sw2 = _wsum(w2)
    trp = sw - sw2 / sw
    spp = sw2 - 2 * _wsum(w2 * w) / sw + sw2**2 / sw**2
    dom = _dominated(w, sw)
    if dom.size:
        wd, sd = w[dom], sw[dom]
        o = _others(wd, sd)
        wd2 = wd * wd
        o2 = _others(wd2, _wsum(wd2))
        trp[dom] = _wsum(wd * o) / sd
        spp[dom] = _wsum(wd2 * (o * o + o2)) / (sd * sd)
    return trp, spp


def q_generalised(y, v, mask, tau2):
    """Generalised Q statistic sum w_i(tau2) (y_i - ybar(tau2))^2 per group."""
    return weighted_parts(y, v, mask, tau2)[4]


def dl(y, v, mask):
    k = mask.sum(1)
    w, sw, _, _, q = weighted_parts(y, v, mask, 0.0)
    return np.maximum(0.0, (q - (k - 1)) / p_trace(w, sw))


def he(y, v, mask, truncate=True):
    k = mask.sum(1)
    ybar = _wsum(np.where(mask, y, 0.0)) / k
    rss = _wsum(np.where(mask, (y - ybar[:, None]) ** 2, 0.0))
    sv = _wsum(np.where(mask, v, 0.0))
    tau2 = (rss - (sv - sv / k)) / (k - 1)
    return np.maximum(0.0, tau2) if truncate else tau2


def hs(y, v, mask):
    k = mask.sum(1)
    _, sw, _, _, q = weighted_parts(y, v, mask, 0.0)
    return np.maximum(0.0, (q - k) / sw)


def sj(y, v, mask):
    k = mask.sum(1)
    ybar = _wsum(np.where(mask, y, 0.0)) / k
    tau0 = _wsum(np.where(mask, (y - ybar[:, None]) ** 2, 0.0)) / k
    rss = weighted_parts(y, v, mask, tau0)[4]
    return np.maximum(0.0, tau0 * rss / (k - 1))


def _log_lik(y, v, mask, tau2, reml: bool):
    k = mask.sum(1)
    w, sw, _, _, rss = weighted_parts(y, v, mask, tau2)
    logdet = _wsum(np.where(mask, np.log(v + tau2[:, None]), 0.0))
    if reml:
        return -0.5 * (k - 1) * np.log(2 * np.pi) - 0.5 * logdet - 0.5 * np.log(sw) - 0.5 * rss
    return -0.5 * k * np.log(2 * np.pi) - 0.5 * logdet - 0.5 * rss


STEPADJ = 0.5
"""Step adjustment of the first fallback (metafor's ``control = list(stepadj = 0.5)``)."""
STEPADJ_MAXITER = 1000
"""Iterations of the step-halved Fisher scoring (metafor's ``maxiter = 1000`` in that refit)."""
GRID_POINTS = 161
"""Points of the log-likelihood grid that brackets the optimum in the last fallback."""


def _fisher_loop(y, v, mask, method, tau2, stepadj=1.0, maxiter=MAXITER):
    """metafor's Fisher scoring loop from ``tau2`` (all groups together): ``adj`` times
    ``stepadj``, halved while it would take tau^2 below 0, until the change is <=
    ``THRESHOLD``; more than ``maxiter`` iterations (or an infinite step) is a failure.
    Returns ``(tau2, converged, iterations)``."""
    g = y.shape[0]
    k = mask.sum(1)
    tau2 = np.array(tau2, dtype=float)
    active = np.ones(g, dtype=bool)
    converged = np.ones(g, dtype=bool)
    iterations = np.zeros(g, dtype=int)
    it = 0
    while active.any():
        it += 1
        ya, va, ma, ta = y[active], v[active], mask[active], tau2[active]
        w, sw, _, resid, rss = weighted_parts(ya, va, ma, ta)
        py = w * resid  # P y
        with np.errstate(divide="ignore", invalid="ignore"):
            if method == "ML":
                adj = (_wsum(py**2) - sw) / _wsum(w**2)
            elif method == "REML":
                trp, trpp = p_traces(w, sw)
                adj = (_wsum(py**2) - trp) / trpp
            else:  # EB
                ka = k[active]
                adj = (rss * ka / (ka - 1) - ka) / sw
        adj = np.where(np.isnan(adj), 0.0, adj)
        # an infinite step (a degenerate information) cannot be halved into range: the
        # group stops here, not converged
        broken = ~np.isfinite(adj)
        adj = np.where(broken, 0.0, adj)
        if stepadj != 1.0:
            adj = adj * stepadj
        neg = ta + adj < 0
        while neg.any():
            adj = np.where(neg, adj / 2, adj)
            neg = ta + adj < 0
        new = ta + adj
        change = np.abs(ta - new)
        idx = np.flatnonzero(active)
        tau2[idx] = new
        iterations[idx] = it
        converged[idx[broken]] = False
        done = (change <= THRESHOLD) | broken
        if it > maxiter:
            converged[idx[~done]] = False
            converged[idx] = False
            break
        active[idx[done]] = False
    return tau2, converged, iterations


def _score(y, v, mask, tau2, method):
    """Derivative of the (restricted) log-likelihood in tau^2 (ML, REML), per group."""
    w, sw, _, resid, _ = weighted_parts(y, v, mask, tau2)
    py = w * resid
    if method == "REML":
        return 0.5 * (_wsum(py**2) - p_traces(w, sw)[0])
    return 0.5 * (_wsum(py**2) - sw)


def tau2_upper(y, mask):
    """Upper end of the last fallback's search: max(100, 10 s^2), s^2 the variance of y."""
    k = mask.sum(1)
    ybar = _wsum(np.where(mask, y, 0.0)) / k
    s2 = _wsum(np.where(mask, (y - ybar[:, None]) ** 2, 0.0)) / np.maximum(k - 1, 1)
    return np.maximum(100.0, 10 * s2)


def bracketed_optimum(y, v, mask, method):
    """tau^2 by a bracketed search on [0, tau2_max] (``tau2_upper``), one group at a time.

    ML, REML: the log-likelihood on a grid (0 and ``GRID_POINTS`` points from 1e-8 tau2_max
    to tau2_max, geometric) locates the global maximum; the score (its derivative) is then
    solved by R's zeroin between the grid neighbours, and tau^2 = 0 wins when its
    likelihood is not lower. EB: the root of its estimating equation, Q(tau^2) = k - 1 (0
    when Q(0) < k - 1). Returns ``(tau2, found, upper)``; ``found`` is False only when
    the likelihood is nowhere finite or Q(tau2_max) > k - 1 (EB).
    """
    g = y.shape[0]
    upper = tau2_upper(y, mask)
    tau2 = np.full(g, np.nan)
    found = np.zeros(g, dtype=bool)
    for i in range(g):
        m = mask[i]
        yi, vi = y[i, m][None, :], v[i, m][None, :]
        mi = np.ones_like(yi, dtype=bool)
        if method == "EB":
            kk = yi.size

            def f(t, yi=yi, vi=vi, mi=mi, kk=kk):
                return float(q_generalised(yi, vi, mi, np.array([t]))[0]) - (kk - 1)

            f0, f1 = f(0.0), f(float(upper[i]))
            if not (np.isfinite(f0) and np.isfinite(f1)) or f1 > 0:
                continue
            tau2[i] = 0.0 if f0 < 0 else zeroin(f, 0.0, float(upper[i]), f0, f1, tol=1e-12)[0]
            found[i] = True
            continue
        grid = np.concatenate([[0.0], upper[i] * np.logspace(-8, 0, GRID_POINTS)])
        reml = method == "REML"
        rows_y = np.repeat(yi, grid.size, 0)
        rows_v = np.repeat(vi, grid.size, 0)
        rows_m = np.ones_like(rows_y, dtype=bool)
        with np.errstate(all="ignore"):
            ll = _log_lik(rows_y, rows_v, rows_m, grid, reml)
        if not np.isfinite(ll).any():
            continue
        j = int(np.nanargmax(np.where(np.isfinite(ll), ll, -np.inf)))

        def score(t, yi=yi, vi=vi, mi=mi):
            with np.errstate(all="ignore"):
                return float(_score(yi, vi, mi, np.array([t]), method)[0])

        best, best_ll = grid[j], ll[j]
        lo, hi = grid[max(j - 1, 0)], grid[min(j + 1, grid.size - 1)]
        s_lo, s_hi = score(lo), score(hi)
        if s_lo > 0 > s_hi:
            root = zeroin(score, lo, hi, s_lo, s_hi, tol=1e-14)[0]
            with np.errstate(all="ignore"):
                ll_root = float(_log_lik(yi, vi, mi, np.array([root]), reml)[0])
            if ll_root >= best_ll:
                best, best_ll = root, ll_root
        if ll[0] >= best_ll:
            best = 0.0
        tau2[i] = best
        found[i] = True
    return tau2, found, upper


def fisher_scoring(y, v, mask, method: str) -> Tau2Result:
    """ML, REML or EB by metafor's Fisher scoring, all groups iterated together.

    A group whose scoring fails (more than ``MAXITER`` iterations, or an infinite step) is
    refitted alone, first with the step halved (``STEPADJ``, at most ``STEPADJ_MAXITER``
    iterations: metafor's ``control = list(stepadj = 0.5, maxiter = 1000)``), then by
    ``bracketed_optimum``; a note says how its tau^2 was found. Only a group for which
    neither finds an optimum is left not converged.
    """
    g = y.shape[0]
    init = he(y, v, mask)
    tau2, converged, iterations = _fisher_loop(y, v, mask, method, init)
    notes: list[list[str]] = [[] for _ in range(g)]
    failed = np.flatnonzero(~converged)
    searched = np.zeros(g, dtype=bool)
    if failed.size:
        ys, vs, ms = y[failed], v[failed], mask[failed]
        t_half, ok_half, it_half = _fisher_loop(
            ys, vs, ms, method, init[failed], STEPADJ, STEPADJ_MAXITER
        )
        for j in np.flatnonzero(ok_half):
            i = failed[j]
            tau2[i], converged[i], iterations[i] = t_half[j], True, it_half[j]
            notes[i].append(
                f"{method}: Fisher scoring did not converge in {MAXITER} iterations; tau^2 "
                f"found by Fisher scoring with the step halved (step adjustment {STEPADJ}, "
                f"converged after {int(it_half[j])} iterations; metafor: "
                f"control = list(stepadj = {STEPADJ}, maxiter = {STEPADJ_MAXITER}))"
            )
        rest = np.flatnonzero(~ok_half)
        if rest.size:
            t_opt, ok_opt, upper = bracketed_optimum(ys[rest], vs[rest], ms[rest], method)
            what = {
                "REML": "maximising the restricted log-likelihood",
                "ML": "maximising the log-likelihood",
                "EB": "solving its estimating equation Q(tau^2) = k - 1",
            }[method]
            for j in np.flatnonzero(ok_opt):
                i = failed[rest[j]]
                tau2[i], converged[i], searched[i] = t_opt[j], True, True
                notes[i].append(
                    f"{method}: Fisher scoring did not converge, with or without step "
                    f"halving; tau^2 found by {what} on [0, {upper[j]:.6g}]"
                )
            for j in np.flatnonzero(~ok_opt):
                i = failed[rest[j]]
                tau2[i] = np.nan
                notes[i].append(
                    f"{method}: no optimum found: Fisher scoring did not converge (nor with "
                    f"step halving) and the search on [0, {upper[j]:.6g}] found none"
                )
    if method in ("ML", "REML"):
        ll0 = _log_lik(y, v, mask, np.zeros(g), method == "REML")
        ll = _log_lik(y, v, mask, tau2, method == "REML")
        stuck = converged & ~searched & (ll0 - ll > UNIROOT_TOL) & (tau2 > THRESHOLD)
        for i in np.flatnonzero(stuck):
            notes[i].append(
                "Fisher scoring may have stopped at a local maximum; tau^2 set to 0 (metafor rule)"
            )
        tau2 = np.where(stuck, 0.0, tau2)
    return Tau2Result(np.maximum(0.0, tau2), converged, iterations, notes)


def zeroin(f, ax, bx, fa, fb, tol=UNIROOT_TOL, maxit=1000):
    """Brent's root finder exactly as R's ``R_zeroin2`` (used by ``uniroot``).

    Returns ``(root, iterations)``; ``iterations`` is -1 when ``maxit`` is exhausted.
    """
    a, b = ax, bx
    c, fc = a, fa
    if fa == 0.0:
        return a, 0
    if fb == 0.0:
        return b, 0
    count = maxit + 1
    used = 0
    while count:
        count -= 1
        used += 1
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * DBL_EPS * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b, used
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b, -1


def zeroin_many(f, ax, bx, fa, fb, tol=UNIROOT_TOL, maxit=1000):
    """:func:`zeroin` for many root problems at once, in lock-step.

    ``ax``, ``bx``, ``fa``, ``fb`` have shape ``(n,)``; ``f(x, idx)`` returns f at ``x[j]`` for
    problem ``idx[j]`` (``idx`` indexes the n problems; only the problems still iterating
    are passed). Every problem takes one Brent step per pass, choosing its own branch
    through masks, and stops by R's own criterion, so each root and iteration count are
    exactly those of :func:`zeroin` on that problem alone (the same operations in the same
    order, elementwise). Returns ``(root, iterations)``, iterations -1 where ``maxit`` ran out.

    Fewer than ``LOCKSTEP_MIN`` problems run one by one through :func:`zeroin` (same result;
    numpy's per-call overhead makes lock-step slower for one or two problems).
    """
    a = np.array(ax, dtype=float)
    b = np.array(bx, dtype=float)
    fa = np.array(fa, dtype=float)
    fb = np.array(fb, dtype=float)
    n = a.size
    root = b.copy()
    used_out = np.full(n, -1, dtype=int)
    if n < LOCKSTEP_MIN:
        for i in range(n):
            ii = np.array([i])

            def fi(t, ii=ii):
                return float(f(np.array([t]), ii)[0])

            root[i], used_out[i] = zeroin(fi, a[i], b[i], fa[i], fb[i], tol, maxit)
        return root, used_out
    at_a = fa == 0.0
    at_b = ~at_a & (fb == 0.0)
    root[at_a] = a[at_a]
    used_out[at_a | at_b] = 0
    idx = np.flatnonzero(~(at_a | at_b))
    a, b, fa, fb = a[idx], b[idx], fa[idx], fb[idx]
    c, fc = a.copy(), fa.copy()
    count = maxit + 1
    used = 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        while count and idx.size:
            count -= 1
            used += 1
            prev_step = b - a
            swap = np.abs(fc) < np.abs(fb)
            # a, b, c = b, c, b  and  fa, fb, fc = fb, fc, fb
            a, b, c = np.where(swap, b, a), np.where(swap, c, b), np.where(swap, b, c)
            fa, fb, fc = np.where(swap, fb, fa), np.where(swap, fc, fb), np.where(swap, fb, fc)
            tol_act = 2 * DBL_EPS * np.abs(b) + tol / 2
            new_step = (c - b) / 2
            done = (np.abs(new_step) <= tol_act) | (fb == 0.0)
            if done.any():
                root[idx[done]] = b[done]
                used_out[idx[done]] = used
                keep = ~done
                idx = idx[keep]
                if not idx.size:
                    break
                a, b, c, fa, fb, fc = a[keep], b[keep], c[keep], fa[keep], fb[keep], fc[keep]
                prev_step, tol_act, new_step = prev_step[keep], tol_act[keep], new_step[keep]
            interp = (np.abs(prev_step) >= tol_act) & (np.abs(fa) > np.abs(fb))
            if interp.any():
                cb = c - b
                linear = a == c
                # two distinct points: linear interpolation
                t1_lin = fb / fa
                p_lin = cb * t1_lin
                q_lin = 1.0 - t1_lin
                # inverse quadratic interpolation
                q0 = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p_quad = t2 * (cb * q0 * (q0 - t1) - (b - a) * (t1 - 1.0))
                q_quad = (q0 - 1.0) * (t1 - 1.0) * (t2 - 1.0)
                p = np.where(linear, p_lin, p_quad)
                q = np.where(linear, q_lin, q_quad)
                pos = p > 0
                q = np.where(pos, -q, q)
                p = np.where(pos, p, -p)
                accept = (
                    interp
                    & (p < (0.75 * cb * q - np.abs(tol_act * q) / 2))
                    & (p < np.abs(prev_step * q / 2))
                )
                new_step = np.where(accept, p / q, new_step)
            small = np.abs(new_step) < tol_act
            new_step = np.where(small, np.where(new_step > 0, tol_act, -tol_act), new_step)
            a, fa = b, fb
            b = b + new_step
            fb = np.asarray(f(b, idx), dtype=float)
            flip = ((fb > 0) & (fc > 0)) | ((fb < 0) & (fc < 0))
            c = np.where(flip, a, c)
            fc = np.where(flip, fa, fc)
    if idx.size:
        root[idx] = b
        used_out[idx] = -1
    return root, used_out


def _r_mad(x: np.ndarray) -> float:
    med = np.median(x)
    return 1.4826 * float(np.median(np.abs(x - med)))


def uniroot_q(y1, v1, target, lower, upper, tol=UNIROOT_TOL, maxit=1000):
    """Root of Q(tau2) - target on [lower, upper] for one meta-analysis (1-D arrays)."""
    m = np.ones((1, y1.size), dtype=bool)

    def f(t):
        return float(q_generalised(y1[None, :], v1[None, :], m, np.array([t]))[0]) - target

    return zeroin(f, lower, upper, f(lower), f(upper), tol, maxit)


class GroupRows:
    """The studies of many meta-analyses, regrouped as one dense block per number of studies.

    Block ``k`` holds, as an ``(n_k, k)`` array without padding, every group with k studies.
    A sum over one group's studies then rounds exactly as it does on that group alone
    (numpy's pairwise summation depends on the row length, so padded rows would differ in
    the last bits), and the root finders below give what one group at a time gives.
    """

    def __init__(self, y, v, mask):
        mask = np.asarray(mask, dtype=bool)
        self.k = mask.sum(1)
        self.pos = np.zeros(self.k.size, dtype=int)
        self.blocks: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for kk in np.unique(self.k).tolist():
            rows = np.flatnonzero(self.k == kk)
            m = mask[rows]
            yb = np.asarray(y)[rows][m].reshape(rows.size, kk)
            vb = np.asarray(v)[rows][m].reshape(rows.size, kk)
            self.blocks[kk] = (yb, vb, np.ones_like(yb, dtype=bool))
            self.pos[rows] = np.arange(rows.size)

    def _split(self, groups):
        """(k, positions in ``groups``) for each block that ``groups`` touches."""
        kk = self.k[groups]
        order = np.argsort(kk, kind="stable")
        cuts = np.flatnonzero(np.diff(kk[order])) + 1
        for sel in np.split(order, cuts):
            if sel.size:
                yield int(kk[sel[0]]), sel

    def q(self, tau2, groups=None):
        """Generalised Q at ``tau2[j]`` for group ``groups[j]`` (all groups when None)."""
        if groups is None:
            groups = np.arange(self.k.size)
        tau2 = np.asarray(tau2, dtype=float)
        if tau2.ndim == 0:
            tau2 = np.full(groups.shape, tau2)
        if len(self.blocks) == 1:  # one k: no regrouping needed
            yb, vb, mb = next(iter(self.blocks.values()))
            r = self.pos[groups]
            return q_generalised(yb[r], vb[r], mb[r], tau2)
        out = np.empty(groups.size)
        for kk, sel in self._split(groups):
            yb, vb, mb = self.blocks[kk]
            r = self.pos[groups[sel]]
            out[sel] = q_generalised(yb[r], vb[r], mb[r], tau2[sel])
        return out

    def mad(self):
        """R's ``mad(y)`` (constant 1.4826) of every group."""
        out = np.empty(self.k.size)
        for kk, sel in self._split(np.arange(self.k.size)):
            yb = self.blocks[kk][0][self.pos[sel]]
            if kk == 0:
                out[sel] = np.nan
                continue
            med = np.median(yb, axis=1)
            out[sel] = 1.4826 * np.median(np.abs(yb - med[:, None]), axis=1)
        return out


def uniroot_q_many(rows: GroupRows, groups, target, lower, upper, tol=UNIROOT_TOL, maxit=1000):
    """Roots of Q_g(tau2) - target_j on [lower_j, upper_j] for groups ``groups[j]``, together.

    Same result, problem by problem, as :func:`uniroot_q` on each group alone. Returns
    ``(root, iterations)`` as :func:`zeroin_many`.
    """
    groups = np.asarray(groups, dtype=int)
    target = np.broadcast_to(np.asarray(target, dtype=float), groups.shape)
    lower = np.broadcast_to(np.asarray(lower, dtype=float), groups.shape)
    upper = np.broadcast_to(np.asarray(upper, dtype=float), groups.shape)

    def f(x, idx):
        return rows.q(x, groups[idx]) - target[idx]

    every = np.arange(groups.size)
    return zeroin_many(f, lower, upper, f(lower, every), f(upper, every), tol, maxit)


def pm(y, v, mask) -> Tau2Result:
    """Paule-Mandel estimator: metafor's ``uniroot`` for every group, iterated together.

    As ``rma.uni``: tau2 = 0 (tau2.min) when Q(0) < k-1; no estimate (not converged) when
    Q(tau2.max) > k-1 with tau2.max = max(100, 10 mad(y)^2); otherwise the root of
    Q(tau2) = k-1 on [0, tau2.max] (tolerance eps^0.25, at most 100 iterations).
    """
    g = y.shape[0]
    rows = GroupRows(y, v, mask)
    target = (rows.k - 1).astype(float)
    cap = 10 * rows.mad() ** 2
    upper = np.where(cap > 100.0, cap, 100.0)  # Python's max(100.0, cap)
    q0 = rows.q(0.0)
    qmax = rows.q(upper)
    tau2 = np.zeros(g)
    converged = np.ones(g, dtype=bool)
    iterations = np.zeros(g, dtype=int)
    notes: list[list[str]] = [[] for _ in range(g)]
    at_zero = q0 < target
    too_low = ~at_zero & (qmax > target)
    for i in np.flatnonzero(too_low):
        converged[i] = False
        notes[i].append("Paule-Mandel: Q(tau2.max) above k-1, no root in [0, tau2.max]")
    solve = np.flatnonzero(~at_zero & ~too_low)
    if solve.size:
        t = target[solve]
        root, used = zeroin_many(
            lambda x, idx: rows.q(x, solve[idx]) - t[idx],
            np.zeros(solve.size),
            upper[solve],
            q0[solve] - t,
            qmax[solve] - t,
            maxit=MAXITER,
        )
        tau2[solve] = root
        iterations[solve] = used
        converged[solve[used < 0]] = False
    return Tau2Result(np.maximum(0.0, tau2), converged, iterations, notes)


def estimate(y, v, mask, method: str) -> Tau2Result:
    """tau^2 per group for ``method`` (FE gives 0)."""
    g = y.shape[0]
    ok = np.ones(g, dtype=bool)
    zero_it = np.zeros(g, dtype=int)
    empty = [[] for _ in range(g)]
    if method == "FE":
        return Tau2Result(np.zeros(g), ok, zero_it, empty)
    if method == "DL":
        return Tau2Result(dl(y, v, mask), ok, zero_it, empty)
    if method == "HE":
        return Tau2Result(he(y, v, mask), ok, zero_it, empty)
    if method == "HS":
        return Tau2Result(hs(y, v, mask), ok, zero_it, empty)
    if method == "SJ":
        return Tau2Result(sj(y, v, mask), ok, zero_it, empty)
    if method in ("ML", "REML", "EB"):
        return fisher_scoring(y, v, mask, method)
    if method == "PM":
        return pm(y, v, mask)
    raise ValueError(f"unknown tau^2 method {method!r}; choose one of {', '.join(METHODS)}")
