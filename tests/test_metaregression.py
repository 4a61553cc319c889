"""Meta-regression (coefficients, QM, QE, tau2, I2, H2, R2) and metafor's permutation test
against R metafor 3.8.1.

Fixtures: tests/reference/fixtures_metareg.json, made by
tests/reference/make_fixtures_metareg.R (dat.bcg, dat.raudenbush1985, dat.hackshaw1998,
dat.hine1989 from metadat). Numbers are compared to 1e-6 relative (1e-9 absolute near 0).

Permutation tests:
* exact (asked for, or because the distinct rearrangements k!/prod(n_j!) are at most
  ``iter``): the p-values must equal metafor's (both are counts over the same set);
* random with the permutations metafor drew (the fixture replays ``set.seed(seed);
  sample(k)`` and checks the replay against ``permutest``'s own QM.perm): equal p-values;
* random with our own seeded numpy draws: a Monte Carlo estimate of the same p-value as
  metafor's, so the two differ by sampling error only. Each is a mean of ``iter``
  Bernoulli draws; their difference has standard deviation sqrt(2 p (1 - p) / iter), and
  the test allows 4 of those plus 2/iter (the first permutation being the observed data,
  and the tolerance ``comptol`` at ties), i.e. at most 0.067 at iter = 1000, p = 0.5.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import ABS, REL

from metareview.engine.permutation import exact_count, permutest, unique_permutations
from metareview.engine.subgroups import design_matrix, metareg

REF = json.loads((Path(__file__).parent / "reference" / "fixtures_metareg.json").read_text())
SPECS = REF["specs"]
FIELDS = ("k", "qm", "qm_df", "qm_pval", "q", "q_df", "q_pval", "tau2", "i2", "h2", "r2")
COEF_FIELDS = ("estimate", "se", "stat", "pval", "ci_lb", "ci_ub")


def close(ours, theirs) -> bool:
    if theirs is None:
        return ours is None
    if ours is None:
        return False
    return abs(float(ours) - float(theirs)) <= max(REL * abs(float(theirs)), ABS)


def _args(spec):
    d, s = spec["data"], spec["settings"]
    mods = list(s["mods"])
    return d, s, mods, {m: d[m] for m in mods}, list(s["factors"])


@pytest.mark.parametrize(
    "spec", [s for s in SPECS if s["kind"] == "metareg"], ids=lambda s: s["id"]
)
def test_metareg_against_metafor(spec):
    d, s, mods, cov, factors = _args(spec)
    ours = metareg(d["yi"], d["vi"], cov, mods, method=s["method"], test=s["test"], factors=factors)
    e = spec["expected"]
    bad = [f for f in FIELDS if not close(ours.get(f), e[f])]
    assert not bad, {f: (ours.get(f), e[f]) for f in bad}
    assert [c["name"] for c in ours["coefficients"]] == [c["name"] for c in e["coefficients"]]
    for c, ce in zip(ours["coefficients"], e["coefficients"], strict=True):
        bad = [f for f in COEF_FIELDS if not close(c[f], ce[f])]
        assert not bad, (c["name"], {f: (c[f], ce[f]) for f in bad})


def test_r2_edge_cases_are_covered():
    """The fixtures hold both R2 edges: tau2 = 0 without moderators (R2 = 0) and a
    fixed-effect model (adjusted R2 of the weighted regression)."""
    by_id = {s["id"]: s for s in SPECS}
    assert by_id["hine_n1i_REML_z"]["expected"]["r2"] == 0
    assert by_id["bcg_ablat_alloc_FE_z"]["expected"]["r2"] > 0


PERM = [s for s in SPECS if s["kind"] == "permutest"]


def _perm(spec, **kw):
    d, s, mods, cov, factors = _args(spec)
    x, _ = design_matrix(cov, mods, factors)
    return permutest(
        d["yi"],
        d["vi"],
        x,
        method=s["method"],
        test=s["test"],
        iter=s["iter"],
        exact=bool(s["exact"]),
        seed=int(s["seed"]) if s["seed"] is not None else 1,
        **kw,
    ), x


@pytest.mark.parametrize("spec", [s for s in PERM if s["expected"]["exact"]], ids=lambda s: s["id"])
def test_exact_permutation_test_matches(spec):
    ours, x = _perm(spec)
    e = spec["expected"]
    assert ours["exact"] is True
    assert ours["iter"] == e["exact_count"] == exact_count(x)
    assert ours["pval"] == pytest.approx(e["pval"], abs=1e-12)
    assert ours["qm_pval"] == pytest.approx(e["qm_pval"], abs=1e-12)


RANDOM = [s for s in PERM if not s["expected"]["exact"]]


@pytest.mark.parametrize("spec", RANDOM, ids=lambda s: s["id"])
def test_random_permutation_test_with_metafors_draws(spec):
    orders = np.array(spec["expected"]["orders"], int) - 1
    ours, _ = _perm(spec, orders=orders)
    e = spec["expected"]
    assert ours["exact"] is False
    assert ours["pval"] == pytest.approx(e["pval"], abs=1e-12)
    assert ours["qm_pval"] == pytest.approx(e["qm_pval"], abs=1e-12)


@pytest.mark.parametrize("spec", RANDOM, ids=lambda s: s["id"])
def test_random_permutation_test_with_own_draws(spec):
    ours, _ = _perm(spec)
    e = spec["expected"]
    n = spec["settings"]["iter"]
    for p_ours, p_r in zip(
        [*ours["pval"], ours["qm_pval"]], [*e["pval"], e["qm_pval"]], strict=True
    ):
        tol = 4 * math.sqrt(2 * p_r * (1 - p_r) / n) + 2 / n
        assert abs(p_ours - p_r) <= tol, (p_ours, p_r, tol)
    again, _ = _perm(spec)
    assert again == ours  # a fixed seed: the same p-values every run


def test_unique_permutations_of_a_multiset():
    perms = unique_permutations([1, 0, 1, 2])
    assert len(perms) == exact_count(np.array([[1], [0], [1], [2]])) == 12
    assert len({tuple(p) for p in perms}) == 12
    assert [list(p) for p in perms[:2]] == [[0, 1, 1, 2], [0, 1, 2, 1]]


def test_exact_demanded_beyond_the_limit_is_refused():
    from metareview.errors import AnalysisError

    rng = np.random.default_rng(0)
    x = np.column_stack([np.ones(12), np.arange(12.0)])
    with pytest.raises(AnalysisError, match="exact permutation test needs"):
        permutest(rng.normal(size=12), np.full(12, 0.1), x, exact=True)
