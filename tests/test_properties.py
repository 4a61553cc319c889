"""Property-based tests of the pooling engine on random valid 2x2 tables (hypothesis).

Tables: k 2..15 studies, 5..500 participants per arm, 0..n events per arm (with extra weight
on 0 and n), at least one event somewhere. Zero cells get metafor's default correction
(add 1/2 to studies with a zero cell), so every study is estimable.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from metareview.errors import AnalysisError
from metareview.pooling import Settings, pool

MEASURES = ("OR", "RR", "RD")
METHODS = ("FE", "DL", "REML")
RE_METHODS = ("DL", "REML")
REL = 1e-9

# AnalysisError messages the engine documents for data that cannot be pooled
DOCUMENTED = ("not estimable", "did not converge")

PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _events(n: int):
    return st.one_of(st.integers(0, n), st.sampled_from([0, n]))


@st.composite
def arm(draw):
    n = draw(st.integers(5, 500))
    return draw(_events(n)), n


@st.composite
def tables(draw, kmin: int = 2, kmax: int = 15) -> list[dict]:
    k = draw(st.integers(kmin, kmax))
    rows = []
    for i in range(k):
        ai, n1i = draw(arm())
        ci, n2i = draw(arm())
        rows.append({"study": f"s{i + 1}", "ai": ai, "n1i": n1i, "ci": ci, "n2i": n2i})
    assume(any(r["ai"] + r["ci"] > 0 for r in rows))
    return rows


def swap_arms(rows: list[dict]) -> list[dict]:
    return [
        {"study": r["study"], "ai": r["ci"], "n1i": r["n2i"], "ci": r["ai"], "n2i": r["n1i"]}
        for r in rows
    ]


def fit(rows, measure, method, test="z"):
    """The fit dictionary, or None for a documented non-estimable case (message checked)."""
    try:
        return pool(rows, Settings(measure=measure, method=method, test=test)).to_dict()
    except AnalysisError as exc:
        msg = str(exc)
        assert any(word in msg for word in DOCUMENTED), f"undocumented AnalysisError: {msg}"
        assert msg.startswith("meta-analysis:"), msg
        return None


def scale(d: dict, key: str) -> float:
    """Floor for the relative tolerance: the size of the data the value is computed from."""
    ys = [abs(s["yi"]) for s in d["studies"] if s["yi"] is not None]
    vs = [s["vi"] for s in d["studies"] if s["vi"] is not None]
    return {"estimate": max(ys + [1.0]), "tau2": max(vs), "i2": 100.0}[key]


def close(a: float, b: float, floor: float) -> bool:
    return abs(a - b) <= REL * max(abs(a), abs(b), floor)


# --- symmetries ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("measure", MEASURES)
@PROFILE
@given(rows=tables())
def test_swapping_arms_negates_the_estimate(rows, measure, method):
    a = fit(rows, measure, method)
    b = fit(swap_arms(rows), measure, method)
    assert (a is None) == (b is None)
    if a is None:
        return
    assert close(a["estimate"], -b["estimate"], scale(a, "estimate")), (
        a["estimate"],
        b["estimate"],
    )
    assert close(a["tau2"], b["tau2"], scale(a, "tau2")), (a["tau2"], b["tau2"])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("measure", MEASURES)
@PROFILE
@given(data=st.data())
def test_study_order_does_not_matter(data, measure, method):
    rows = data.draw(tables())
    perm = data.draw(st.permutations(rows))
    a = fit(rows, measure, method)
    b = fit(perm, measure, method)
    assert (a is None) == (b is None)
    if a is None:
        return
    for key in ("estimate", "tau2", "i2"):
        assert close(a[key], b[key], scale(a, key)), (key, a[key], b[key])


@pytest.mark.parametrize("measure", MEASURES)
@PROFILE
@given(rows=tables(kmax=10))
def test_duplicating_every_study_leaves_the_fe_estimate(rows, measure):
    twice = rows + [{**r, "study": r["study"] + "b"} for r in rows]
    a = fit(rows, measure, "FE")
    b = fit(twice, measure, "FE")
    assert a is not None and b is not None
    assert close(a["estimate"], b["estimate"], scale(a, "estimate")), (a["estimate"], b["estimate"])


# --- sanity of every fit --------------------------------------------------------------------------


@pytest.mark.parametrize("test", ("z", "knha"))
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("measure", MEASURES)
@PROFILE
@given(rows=tables())
def test_valid_tables_pool_and_fits_are_sane(rows, measure, method, test):
    d = fit(rows, measure, method, test)
    if d is None:
        # only REML may fail (non-convergence, as in metafor); FE and DL are closed-form
        assert method == "REML"
        return
    assert d["k"] == len(rows)
    assert d["ci_lb"] <= d["estimate"] <= d["ci_ub"]
    assert d["pi_lb"] <= d["ci_lb"] and d["ci_ub"] <= d["pi_ub"]
    assert 0.0 <= d["i2"] <= 100.0
    assert d["tau2"] >= 0.0
    if method == "FE":
        assert d["tau2"] == 0.0
    else:
        lb, ub = d["tau2_ci_lb"], d["tau2_ci_ub"]
        assert lb is not None and ub is not None and 0.0 <= lb <= ub
        assert 0.0 <= d["i2_ci_lb"] <= d["i2_ci_ub"] <= 100.0
    assert d["q"] >= 0.0 and 0.0 <= d["q_pval"] <= 1.0
    assert d["se"] >= 0.0
    if d["se"] == 0.0:
        # knha with all yi equal: the scale is 0, so se = 0 and stat = 0/0 (metafor: NaN)
        assert test == "knha"
        assert d["pval"] is None or 0.0 <= d["pval"] <= 1.0
    else:
        assert 0.0 <= d["pval"] <= 1.0
    weights = [s["weight"] for s in d["studies"]]
    assert all(w is not None and w > 0 for w in weights)
    assert math.isclose(sum(weights), 100.0, rel_tol=1e-9)


def test_no_events_anywhere_is_reported_clearly():
    rows = [
        {"study": "a", "ai": 0, "n1i": 20, "ci": 0, "n2i": 25},
        {"study": "b", "ai": 0, "n1i": 30, "ci": 0, "n2i": 30},
    ]
    for method in RE_METHODS:
        with pytest.raises(AnalysisError, match="no events in any study"):
            pool(rows, Settings(measure="OR", method=method))
