"""The large-review code paths (issue 20) against R metafor 3.8.1, forced on the fixtures.

engine.casefits (the k refits of leave-one-out, influence, Baujat and cumulative):

Reviews of fewer than ``casefits.FAST_MIN_K`` studies are refitted by ``fit_iv_many`` (the
fixtures of test_sensitivity.py check that path). Here the lock-step path is forced for
every fixture (``FAST_MIN_K`` = 0, and row chunks of a few rows so that chunking is
exercised) and the same metafor fixtures (tests/reference/fixtures_sensitivity.json:
leave1out, cumul, baujat, influence, with the step-halved refits where metafor's default
Fisher scoring fails) are checked to the same tolerance, 1e-6 relative. Reviews of 300
simulated trials (tests/reference/fixtures_large_k.json, make_fixtures_large_k.R: with
and without heterogeneity, and with one trial that carries most of the weight) take the
lock-step path as the pipeline does.

engine.subgroups (meta-regression, tests for subgroup differences, Egger-type tests): from
``DENSE_P_MAX_K`` studies the matrix P is used through its factors; forced here on the
fixtures of test_reference.py (tests/reference/fixtures.json: metafor's rma.uni with
moderators) and test_smallstudy.py (regtest, trimfill: fixtures_smallstudy.json).

io.dumps_json (the C encoder, indented by a tokenizer) against json.dumps(indent=2).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import test_reference as tr
import test_sensitivity as ts
import test_smallstudy as tss
from hypothesis import given
from hypothesis import strategies as st

from metareview.engine import casefits, subgroups
from metareview.engine import sensitivity as sens
from metareview.io import dumps_json

LARGE = json.loads((ts.REF.parent / "fixtures_large_k.json").read_text())


def large_specs(kind=None):
    return [
        pytest.param(s, id=s["id"]) for s in LARGE["specs"] if kind is None or kind in s["expected"]
    ]


def test_large_fixtures_use_the_lockstep_path():
    assert LARGE["metafor_version"] == "3.8.1"
    assert all(len(s["data"]["study"]) >= casefits.FAST_MIN_K for s in LARGE["specs"])
    assert {s["settings"]["method"] for s in LARGE["specs"]} >= set(casefits.FAST_METHODS)


@pytest.mark.parametrize("spec", large_specs())
def test_large_leave_one_out(spec):
    ts.test_leave_one_out(spec)


@pytest.mark.parametrize("spec", large_specs())
def test_large_cumulative(spec):
    ts.test_cumulative(spec)


@pytest.mark.parametrize("spec", large_specs())
def test_large_baujat(spec):
    ts.test_baujat(spec)


@pytest.mark.parametrize("spec", large_specs("influence"))
def test_large_influence(spec):
    ts.test_influence(spec)


@pytest.fixture
def lockstep(monkeypatch):
    monkeypatch.setattr(casefits, "FAST_MIN_K", 0)
    monkeypatch.setattr(casefits, "CHUNK_ELEMENTS", 40)


@pytest.mark.parametrize("spec", ts.spec_ids())
def test_leave_one_out_lockstep(spec, lockstep):
    ts.test_leave_one_out(spec)


@pytest.mark.parametrize("spec", ts.spec_ids())
def test_cumulative_lockstep(spec, lockstep):
    ts.test_cumulative(spec)


@pytest.mark.parametrize("spec", ts.spec_ids())
def test_baujat_lockstep(spec, lockstep):
    ts.test_baujat(spec)


@pytest.mark.parametrize("spec", ts.spec_ids("influence"))
def test_influence_lockstep(spec, lockstep):
    ts.test_influence(spec)


def test_deletions_computed_once(monkeypatch):
    """run_all fits the k deletions once for leave-one-out, influence and Baujat."""
    spec = next(s for s in ts.SPECS if s["settings"]["method"] == "REML")
    calls = []
    real = sens.deletions

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(sens, "deletions", counting)
    sens.run_all(ts.rows_of(spec), ts.settings_of(spec))
    assert len(calls) == 1


def test_refit_masks():
    d, p = casefits.Refits("delete", 4), casefits.Refits("prefix", 4)
    assert (d.dense() == ~np.eye(4, dtype=bool)).all()
    assert (p.dense() == np.tri(4, dtype=bool)).all()
    a = np.array([1.0, 5.0, 2.0, 3.0])
    rows = np.arange(4)
    assert d.totals(a, rows).tolist() == [10.0, 6.0, 9.0, 8.0]
    assert p.totals(a, rows).tolist() == [1.0, 6.0, 8.0, 11.0]
    assert d.top(a, rows).tolist() == [5.0, 3.0, 5.0, 5.0]
    assert p.top(a, rows).tolist() == [1.0, 5.0, 5.0, 5.0]


@pytest.fixture
def factored(monkeypatch):
    monkeypatch.setattr(subgroups, "DENSE_P_MAX_K", 0)


@pytest.mark.parametrize("spec", tr.by_kind("metareg"))
def test_metareg_factored(spec, factored):
    tr.test_metareg_matches_metafor(spec)


@pytest.mark.parametrize("spec", tr.by_kind("subgroup"))
def test_subgroups_factored(spec, factored):
    tr.test_subgroups_match_metafor(spec)


@pytest.mark.parametrize("spec", tss.by_kind("regtest"))
def test_regtest_factored(spec, factored):
    tss.test_regtest_matches_metafor(spec)


@pytest.mark.parametrize("spec", tss.by_kind("trimfill"))
def test_trimfill_factored(spec, factored):
    tss.test_trimfill_matches_metafor(spec)


# --------------------------------------------------------------------------- JSON writer

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@given(_values)
def test_dumps_json_is_the_indenting_encoder(obj):
    """io.dumps_json (C encoder, indented by a tokenizer) gives json.dumps(indent=2)'s bytes."""
    expected = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    assert dumps_json(obj) == expected + "\n"


def test_dumps_json_strings_with_json_syntax():
    obj = {"a": {}, "b": [[], {}, [1, {'x"y': 'q",o}t{e[s]: \\'}]], "c": "\u2028\x01"}
    expected = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    assert dumps_json(obj) == expected + "\n"


def test_kendall_tau_b_beyond_the_exact_test():
    """Kendall's tau-b of a large review (row chunks over all pairs, ties in both variables)
    agrees with scipy's independent O(k log k) implementation."""
    from scipy import stats

    from metareview.engine.smallstudy import _kendall_tau_b

    rng = np.random.default_rng(20)
    x = np.round(rng.normal(size=1500), 2)
    y = np.round(x + rng.normal(size=1500), 1)
    assert _kendall_tau_b(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, rel=1e-12)


@pytest.mark.parametrize("method, measure", [("MH", "OR"), ("MH", "RR"), ("PETO", "OR")])
def test_table_method_refits_in_blocks_equal_the_dense_refits(monkeypatch, method, measure):
    """Mantel-Haenszel and Peto deletions and cumulative steps fitted in blocks of rows
    (bounded memory at large k) give the dense computation's values bit for bit."""
    from metareview.engine import sensitivity
    from metareview.engine.effects import escalc_two_arm

    rng = np.random.default_rng(7)
    k = 600
    n1, n2 = rng.integers(20, 200, k), rng.integers(20, 200, k)
    ai, ci = rng.binomial(n1, 0.1), rng.binomial(n2, 0.15)
    es = escalc_two_arm(measure if method == "MH" else "OR", ai, n1, ci, n2)
    ids = [f"s{i}" for i in range(k)]

    def run():
        loo = sensitivity.leave_one_out(es, ids, method=method).to_dict()
        cum = sensitivity.cumulative(es, ids, method=method).to_dict()
        return json.dumps([loo, cum], sort_keys=True, default=str)

    dense = run()
    monkeypatch.setattr(sensitivity, "TABLE_BLOCK_CELLS", 7 * k)  # blocks of 7 refits
    assert run() == dense
