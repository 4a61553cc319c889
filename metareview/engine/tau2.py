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
  stopping when the change is <= 1e-5 (at most 100 iterations), as metafor does
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


def fisher_scoring(y, v, mask, method: str) -> Tau2Result:
    """ML, REML or EB by metafor's Fisher scoring, all groups iterated together."""
    g = y.shape[0]
    k = mask.sum(1)
    tau2 = he(y, v, mask)
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
        if it > MAXITER:
            converged[idx[~done]] = False
            converged[idx] = False
            break
        active[idx[done]] = False
    notes: list[list[str]] = [[] for _ in range(g)]
    if method in ("ML", "REML"):
        ll0 = _log_lik(y, v, mask, np.zeros(g), method == "REML")
        ll = _log_lik(y, v, mask, tau2, method == "REML")
        stuck = converged & (ll0 - ll > UNIROOT_TOL) & (tau2 > THRESHOLD)
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
