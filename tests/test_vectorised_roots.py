"""Lock-step root finding (``tau2.zeroin_many``) against the scalar port of R's zeroin.

The vectorised Paule-Mandel estimator and Q-profile CI must give, group by group, exactly
what one ``uniroot`` per group gives (the per-group loops they replaced are kept below as
the reference), and the lock-step zeroin must follow the scalar one iterate by iterate.
"""

from __future__ import annotations

import numpy as np
import pytest

from metareview.engine import tau2 as T
from metareview.engine.models import chi2_quantile, fit_iv_many, q_profile_ci

# --- (a) zeroin_many == zeroin ------------------------------------------------------------------
# The test functions use only +, -, *, / and comparisons, which numpy rounds element by
# element exactly as Python does, so the scalar and the vector runs see the same f values.


def _cubic(x, p):
    return p["s"] * (x - p["r1"]) * (x - p["r2"]) * (x - p["r3"])


def _q_like(x, p):
    # decreasing and convex in x >= 0, like a generalised Q(tau2) - target
    return p["a"] / (x + p["b"]) + p["c"] / (x + p["d"]) - p["e"]


def _flat(x, p):
    d = x - p["r1"]
    d2 = d * d
    return p["s"] * d2 * d2 * d2 * d  # (x - r)^7: interpolation crawls, bisection steps in


def _kinked(x, p):
    d = x - p["r1"]
    return np.where(d < 0, -1.0 + 0.001 * d, 100.0 * d * d * d + p["a"] * d)


def _rational(x, p):
    return p["s"] * (x - p["r1"]) / (1.0 + p["a"] * x * x)


FAMILIES = {"cubic": _cubic, "q_like": _q_like, "flat": _flat, "kinked": _kinked}
FAMILIES["rational"] = _rational


def _params(rng, n):
    r = np.sort(rng.uniform(-5, 5, size=(n, 3)), axis=1)
    return {
        "r1": r[:, 0],
        "r2": r[:, 1],
        "r3": r[:, 2],
        "s": rng.choice([-1.0, 1.0], size=n) * rng.lognormal(0, 2, size=n),
        "a": rng.lognormal(0, 1, size=n),
        "b": rng.uniform(0.01, 1, size=n),
        "c": rng.lognormal(0, 1, size=n),
        "d": rng.uniform(0.01, 3, size=n),
        "e": rng.uniform(0.05, 20, size=n),
    }


def _problems(family, rng, n):
    """n problems with f(lower) and f(upper) of opposite signs (some exactly 0)."""
    fam = FAMILIES[family]
    p = _params(rng, 4 * n)
    if family == "q_like":
        lo = np.zeros(4 * n)
        hi = rng.uniform(1, 200, size=4 * n)
    else:
        lo = rng.uniform(-8, 2, size=4 * n)
        hi = lo + rng.uniform(0.5, 12, size=4 * n)
    fa, fb = fam(lo, p), fam(hi, p)
    keep = np.flatnonzero(fa * fb < 0)[:n]
    assert keep.size == n
    p = {key: val[keep] for key, val in p.items()}
    lo, hi, fa, fb = lo[keep], hi[keep], fa[keep], fb[keep]
    # a few roots exactly at an end of the bracket
    if family != "q_like":
        for j in range(0, n, 97):
            p["r1"][j] = lo[j]
            fa[j] = fam(lo[j : j + 1], {key: val[j : j + 1] for key, val in p.items()})[0]
        for j in range(50, n, 97):
            p["r1"][j] = hi[j]
            fb[j] = fam(hi[j : j + 1], {key: val[j : j + 1] for key, val in p.items()})[0]
    return fam, p, lo, hi, fa, fb


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize(
    "tol, maxit", [(T.UNIROOT_TOL, 1000), (1e-10, 100), (1e-13, 1000), (T.UNIROOT_TOL, 3)]
)
def test_zeroin_many_equals_scalar_zeroin(family, tol, maxit):
    rng = np.random.default_rng([sorted(FAMILIES).index(family), int(-np.log10(tol)), maxit])
    n = 400
    fam, p, lo, hi, fa, fb = _problems(family, rng, n)

    def fvec(x, idx):
        return fam(x, {key: val[idx] for key, val in p.items()})

    root, used = T.zeroin_many(fvec, lo, hi, fa, fb, tol, maxit)
    for i in range(n):
        pi = {key: val[i : i + 1] for key, val in p.items()}

        def f(t, pi=pi):
            return float(fam(np.array([t]), pi)[0])

        r1, u1 = T.zeroin(f, float(lo[i]), float(hi[i]), float(fa[i]), float(fb[i]), tol, maxit)
        assert (root[i], used[i]) == (r1, u1), (family, i)
    if maxit == 3:
        assert (used == -1).any()
    else:
        assert (used > 5).any() and (used == -1).sum() == 0
    if family != "q_like":
        assert (used == 0).sum() >= 2  # the roots placed at the ends


def test_lockstep_engine_with_one_problem(monkeypatch):
    """Below LOCKSTEP_MIN problems zeroin_many loops over zeroin; the lock-step code itself
    must give the same for a single problem too."""
    monkeypatch.setattr(T, "LOCKSTEP_MIN", 0)
    rng = np.random.default_rng(11)
    for family in sorted(FAMILIES):
        fam, p, lo, hi, fa, fb = _problems(family, rng, 60)
        for i in range(60):
            pi = {key: val[i : i + 1] for key, val in p.items()}
            one = T.zeroin_many(
                lambda x, idx, pi=pi, fam=fam: fam(x, pi),
                lo[i : i + 1],
                hi[i : i + 1],
                fa[i : i + 1],
                fb[i : i + 1],
            )
            ref = T.zeroin(
                lambda t, pi=pi, fam=fam: float(fam(np.array([t]), pi)[0]),
                lo[i],
                hi[i],
                fa[i],
                fb[i],
            )
            assert (one[0][0], one[1][0]) == ref


def test_zeroin_many_empty_and_endpoint_roots():
    root, used = T.zeroin_many(lambda x, idx: x, [], [], [], [])
    assert root.size == 0 and used.size == 0
    root, used = T.zeroin_many(
        lambda x, idx: x - 1.0, [1.0, 0.0, -3.0], [2.0, 1.0, 4.0], [0.0, -1.0, -4.0], [1.0, 0, 3]
    )
    assert root[:2].tolist() == [1.0, 1.0] and used[:2].tolist() == [0, 0]
    assert abs(root[2] - 1.0) < 1e-3 and used[2] > 0


# --- (b) PM and the Q-profile CI, all groups at once == one group at a time ----------------------


def pm_per_group(y, v, mask):
    """The per-group Paule-Mandel loop the vectorised ``tau2.pm`` replaced (metafor rules)."""
    g = y.shape[0]
    tau2 = np.zeros(g)
    converged = np.ones(g, dtype=bool)
    iterations = np.zeros(g, dtype=int)
    for i in range(g):
        yi, vi = y[i, mask[i]], v[i, mask[i]]
        k = yi.size
        one = np.ones((1, k), dtype=bool)
        upper = max(100.0, 10 * T._r_mad(yi) ** 2)
        q0 = float(T.q_generalised(yi[None], vi[None], one, np.zeros(1))[0])
        if q0 < k - 1:
            continue
        qmax = float(T.q_generalised(yi[None], vi[None], one, np.array([upper]))[0])
        if qmax > k - 1:
            converged[i] = False
            continue
        root, used = T.uniroot_q(yi, vi, k - 1, 0.0, upper, maxit=T.MAXITER)
        tau2[i], iterations[i] = root, used
        converged[i] = used >= 0
    return np.maximum(0.0, tau2), converged, iterations


def q_profile_per_group(y, v, mask, t2, level=95.0):
    """The per-group Q-profile loop the vectorised ``models.q_profile_ci`` replaced."""
    g = y.shape[0]
    lb, ub = np.full(g, np.nan), np.full(g, np.nan)
    alpha = 1 - level / 100
    for i in range(g):
        yi, vi = y[i, mask[i]], v[i, mask[i]]
        k = yi.size
        if k < 2:
            continue
        one = np.ones((1, k), dtype=bool)

        def q_at(t, yi=yi, vi=vi, one=one):
            return float(T.q_generalised(yi[None], vi[None], one, np.array([t]))[0])

        upper = max(100.0, 10 * float(t2[i]))
        crit_u = float(chi2_quantile(1 - alpha / 2, k - 1))
        crit_l = float(chi2_quantile(alpha / 2, k - 1))
        q_min, q_max = q_at(0.0), q_at(upper)
        if q_min < crit_l:
            lb[i] = ub[i] = 0.0
            continue
        ub[i] = upper if q_max > crit_l else T.uniroot_q(yi, vi, crit_l, 0.0, upper)[0]
        if q_max > crit_u:
            lb[i] = ub[i] = upper
        elif q_min < crit_u:
            lb[i] = 0.0
        else:
            lb[i] = T.uniroot_q(yi, vi, crit_u, 0.0, upper)[0]
    return lb, ub


def random_groups(n=500, seed=7, kmax=34, scatter=True):
    """n meta-analyses in padded arrays, studies at scattered columns when ``scatter``.

    Mixes homogeneous groups (Q(0) < k-1), moderate and large heterogeneity, groups with a
    far outlier (Q(tau2.max) > k-1), k = 1 and k = 2.
    """
    rng = np.random.default_rng(seed)
    y = np.zeros((n, kmax))
    v = np.ones((n, kmax))
    mask = np.zeros((n, kmax), dtype=bool)
    for i in range(n):
        k = int(rng.choice([1, 2, 2, 3, 4, 5, 7, 8, 9, 12, 16, 20, 30]))
        vi = rng.uniform(0.005, 0.6, size=k)
        tau = rng.choice([0.0, 0.0, 0.2, 0.5, 1.0, 4.0, 15.0])
        yi = rng.normal(rng.normal(0, 1), np.sqrt(vi + tau**2))
        if i % 23 == 0 and k >= 3:
            yi[0] += rng.choice([-1, 1]) * 10 ** rng.uniform(2, 3.5)
        if i % 41 == 0:
            yi[:] = yi[0]
        cols = np.sort(rng.choice(kmax, size=k, replace=False))
        cols = cols if scatter else np.arange(k)
        y[i, cols], v[i, cols], mask[i, cols] = yi, vi, True
    return y, v, mask


@pytest.fixture(scope="module")
def groups():
    return random_groups()


def test_pm_all_groups_equals_per_group(groups):
    y, v, mask = groups
    res = T.pm(y, v, mask)
    tau2, converged, iterations = pm_per_group(y, v, mask)
    assert np.array_equal(res.tau2, tau2)
    assert np.array_equal(res.converged, converged)
    assert np.array_equal(res.iterations, iterations)
    # every branch of metafor's rule is exercised
    k = mask.sum(1)
    assert ((tau2 == 0) & converged & (k >= 2)).sum() > 20  # Q(0) < k-1
    assert (~converged).sum() > 3  # Q(tau2.max) > k-1
    assert (iterations > 0).sum() > 200  # a root found by uniroot
    for i in np.flatnonzero(~converged):
        assert "tau2.max" in res.notes[i][0]


@pytest.mark.parametrize("lockstep_min", [0, T.LOCKSTEP_MIN])
def test_pm_and_ci_one_group_at_a_time(monkeypatch, groups, lockstep_min):
    monkeypatch.setattr(T, "LOCKSTEP_MIN", lockstep_min)
    y, v, mask = groups
    for i in range(0, y.shape[0], 3):
        sl = slice(i, i + 1)
        res = T.pm(y[sl], v[sl], mask[sl])
        tau2, converged, iterations = pm_per_group(y[sl], v[sl], mask[sl])
        assert (res.tau2[0], res.converged[0], res.iterations[0]) == (
            tau2[0],
            converged[0],
            iterations[0],
        )
        if mask[i].sum() >= 2:
            ci = q_profile_ci(y[sl], v[sl], mask[sl], res.tau2)
            ref = q_profile_per_group(y[sl], v[sl], mask[sl], res.tau2)
            assert np.array_equal(ci, ref)


def test_pm_scattered_and_left_aligned_masks_agree():
    a = T.pm(*random_groups(200, seed=3, scatter=True))
    b = T.pm(*random_groups(200, seed=3, scatter=False))
    assert np.array_equal(a.tau2, b.tau2) and np.array_equal(a.iterations, b.iterations)


@pytest.mark.parametrize("method", ["PM", "REML", "DL"])
@pytest.mark.parametrize("level", [95.0, 80.0])
def test_q_profile_all_groups_equals_per_group(groups, method, level):
    y, v, mask = groups
    with np.errstate(invalid="ignore", divide="ignore"):  # k = 1 groups (their CI is NaN)
        t2 = T.estimate(y, v, mask, method).tau2
    lb, ub = q_profile_ci(y, v, mask, t2, level)
    lb1, ub1 = q_profile_per_group(y, v, mask, t2, level)
    assert np.array_equal(lb, lb1, equal_nan=True)
    assert np.array_equal(ub, ub1, equal_nan=True)
    k = mask.sum(1)
    assert np.isnan(lb[k < 2]).all() and not np.isnan(lb[k >= 2]).any()
    upper = np.maximum(100.0, 10 * t2)
    if method == "PM" and level == 95.0:
        # each of metafor's cases occurs
        assert ((lb == 0) & (ub == 0)).sum() > 10  # Q(0) < crit.l: both 0
        assert ((lb == upper) & (ub == upper)).sum() > 3  # Q(tau2.max) > crit.u
        assert ((lb == 0) & (ub > 0) & (ub < upper)).sum() > 20  # lower bound 0, upper a root
        assert ((lb > 0) & (ub < upper)).sum() > 50  # both roots
    assert (lb[k >= 2] <= ub[k >= 2]).all()


def test_fit_iv_many_pm_with_ci_equals_single_fits(groups):
    """Pooling many groups at once gives each group's tau2 and tau2 CI exactly."""
    y, v, mask = groups
    k = mask.sum(1)
    use = np.flatnonzero(k >= 2)[:150]
    many = fit_iv_many(y[use], v[use], mask[use], "PM", "knha", tau2_ci=True)
    for j, i in enumerate(use):
        m = mask[i]
        one = fit_iv_many(y[i, m][None], v[i, m][None], np.ones((1, m.sum()), bool), "PM", "knha")
        one_ci = fit_iv_many(
            y[i, m][None], v[i, m][None], np.ones((1, m.sum()), bool), "PM", "knha", tau2_ci=True
        )
        assert many["tau2"][j] == one["tau2"][0]
        assert many["converged"][j] == one["converged"][0]
        for key in ("tau2_ci_lb", "tau2_ci_ub"):
            assert many[key][j] == one_ci[key][0], (i, key)
        if many["converged"][j]:
            assert many["estimate"][j] == pytest.approx(one["estimate"][0], rel=1e-12, abs=1e-12)
