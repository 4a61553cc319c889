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

from metareview.engine.pooling import Settings, pool
from metareview.errors import AnalysisError

MEASURES = ("OR", "RR", "RD")
METHODS = ("FE", "DL", "REML")
RE_METHODS = ("DL", "REML")
REL = 1e-9

# AnalysisError messages the engine documents for data that cannot be pooled
DOCUMENTED = ("not estimable", "did not converge", "found no root")

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


# --- every estimator, MH and Peto, all output fields, the input tables (issue 7) ----------

LIGHT = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIELDS = (
    "estimate", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "stat", "pval",
    "tau2", "tau2_ci_lb", "tau2_ci_ub", "i2", "i2_ci_lb", "i2_ci_ub", "h2", "q", "q_pval",
)  # fmt: skip


def assert_sane(d: dict, k: int) -> None:
    """What every fit of valid data satisfies, whatever the model."""
    assert d["k"] == k
    assert d["ci_lb"] <= d["estimate"] <= d["ci_ub"]
    assert d["pi_lb"] <= d["ci_lb"] and d["ci_ub"] <= d["pi_ub"]
    assert 0.0 <= d["i2"] <= 100.0
    assert d["tau2"] is None or d["tau2"] >= 0.0  # None for MH and Peto (no tau2)
    assert d["q"] >= 0.0 and 0.0 <= d["q_pval"] <= 1.0
    assert d["pval"] is None or 0.0 <= d["pval"] <= 1.0
    back = d["back"]
    assert back["ci_lb"] <= back["estimate"] <= back["ci_ub"]
    weights = [s["weight"] for s in d["studies"] if s["weight"] is not None]
    assert all(w >= 0 for w in weights)
    assert math.isclose(sum(weights), 100.0, rel_tol=1e-9)


@pytest.mark.parametrize("method", ("HE", "HS", "SJ"))
@LIGHT
@given(rows=tables(), measure=st.sampled_from(MEASURES))
def test_closed_form_estimators_never_raise(rows, measure, method):
    """FE and DL (above), HE, HS and SJ always give a fit on valid tables."""
    d = pool(rows, Settings(measure=measure, method=method)).to_dict()
    assert_sane(d, len(rows))
    lb, ub = d["tau2_ci_lb"], d["tau2_ci_ub"]
    assert lb is not None and 0.0 <= lb <= ub


@pytest.mark.parametrize("method", ("ML", "EB", "PM"))
@LIGHT
@given(rows=tables(), measure=st.sampled_from(MEASURES))
def test_iterative_estimators_fit_or_say_why(rows, measure, method):
    """ML and EB (Fisher scoring) may not converge, and PM has no root when
    Q(tau2.max) > k - 1 (metafor stops there too): a documented AnalysisError, else a
    sane fit."""
    d = fit(rows, measure, method)
    if d is not None:
        assert_sane(d, len(rows))


def _mh_not_estimable(rows, measure) -> bool:
    """MH OR/RR are 0 or infinite when a sum of their ratio is 0 (e.g. one arm without
    events in every study); metafor's rma.mh cannot pool these either."""
    if measure == "RD":
        return False
    if measure == "RR":
        return all(r["ai"] == 0 for r in rows) or all(r["ci"] == 0 for r in rows)
    ad = sum(r["ai"] * (r["n2i"] - r["ci"]) for r in rows)
    bc = sum((r["n1i"] - r["ai"]) * r["ci"] for r in rows)
    return ad == 0 or bc == 0


@LIGHT
@given(rows=tables(), measure=st.sampled_from(MEASURES))
def test_mantel_haenszel_and_peto_fit_valid_tables(rows, measure):
    methods = ("MH", "PETO") if measure == "OR" else ("MH",)
    for method in methods:
        try:
            d = pool(rows, Settings(measure=measure, method=method)).to_dict()
        except AnalysisError as exc:
            if method == "MH":
                assert _mh_not_estimable(rows, measure), str(exc)
            else:  # Peto: every table has no events, or only events
                assert all(r["ai"] + r["ci"] in (0, r["n1i"] + r["n2i"]) for r in rows)
            assert "not estimable" in str(exc)
            continue
        assert d["tau2"] is None and d["i2"] is not None
        assert_sane(d, len(rows))


@pytest.mark.parametrize("method", ("FE", "DL", "REML", "MH"))
@LIGHT
@given(data=st.data())
def test_row_order_leaves_every_number_and_weight(data, method):
    rows = data.draw(tables())
    perm = data.draw(st.permutations(rows))
    measure = data.draw(st.sampled_from(MEASURES))
    try:
        a = pool(rows, Settings(measure=measure, method=method)).to_dict()
    except AnalysisError:
        with pytest.raises(AnalysisError):
            pool(perm, Settings(measure=measure, method=method))
        return
    b = pool(perm, Settings(measure=measure, method=method)).to_dict()
    ys = [abs(s["yi"]) for s in a["studies"] if s["yi"] is not None]
    vs = [s["vi"] for s in a["studies"] if s["vi"] is not None]
    big = max(ys + vs + [1.0])  # MH may pool tables whose own yi are not estimable
    floor = {**{f: big for f in FIELDS}, "i2": 100.0, "i2_ci_lb": 100.0, "i2_ci_ub": 100.0}
    for f in FIELDS:
        if a[f] is None or b[f] is None:
            assert a[f] is None and b[f] is None, f
        else:
            assert math.isclose(a[f], b[f], rel_tol=1e-8, abs_tol=1e-9 * floor[f]), (f, a[f], b[f])
    wa = {s["study"]: s["weight"] for s in a["studies"]}
    wb = {s["study"]: s["weight"] for s in b["studies"]}
    assert wa.keys() == wb.keys()
    for study, w in wa.items():
        assert math.isclose(w, wb[study], rel_tol=1e-8, abs_tol=1e-9), study


@st.composite
def proportions(draw):
    k = draw(st.integers(2, 12))
    rows = []
    for i in range(k):
        xi, ni = draw(arm())
        rows.append({"study": f"s{i + 1}", "xi": xi, "ni": ni})
    return rows


@LIGHT
@given(rows=proportions(), measure=st.sampled_from(("PR", "PLO", "PAS", "PFT")))
def test_single_arm_proportions_are_sane(rows, measure):
    try:
        d = pool(rows, Settings(measure=measure, method="DL")).to_dict()
    except AnalysisError as exc:  # PR and PLO with every study 0/n or n/n (no variance)
        assert "not estimable" in str(exc)
        return
    assert_sane(d, d["k"])
    assert 2 <= d["k"] <= len(rows)
    if measure != "PR":  # a raw-proportion (Wald) CI may leave [0, 1], as in metafor
        back = d["back"]
        assert -1e-12 <= back["ci_lb"] and back["ci_ub"] <= 1 + 1e-12


PROTOCOL = """\
review_id: props
title: property tests
arms: {intervention: t, control: c}
outcomes:
  - {id: o, label: Outcome, direction: lower_is_better}
"""


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_input_row_order_does_not_change_the_table(data):
    """Shuffling extraction.csv (and studies.csv) rows gives the same studies and counts:
    the pipeline reads the tables, not their order."""
    import tempfile
    from pathlib import Path

    from metareview.inputs.review import ReviewInputs

    rows = data.draw(tables(kmax=8))
    studies = [f"{r['study']},{r['study']} label,rct" for r in rows]
    lines = [f"{r['study']},o,t,{r['ai']},{r['n1i']},p1" for r in rows]
    lines += [f"{r['study']},o,c,{r['ci']},{r['n2i']},p1" for r in rows]
    shuffled_lines = data.draw(st.permutations(lines))
    shuffled_studies = data.draw(st.permutations(studies))

    def table(study_lines, extraction_lines):
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            (d / "props.yaml").write_text(PROTOCOL)
            (d / "studies.csv").write_text("study_id,label,design\n" + "\n".join(study_lines))
            header = "study_id,outcome,arm,events,total,source\n"
            (d / "extraction.csv").write_text(header + "\n".join(extraction_lines) + "\n")
            inputs = ReviewInputs.load(d / "props.yaml", d / "studies.csv", d / "extraction.csv")
            return inputs.outcome_table("o").rows

    original = table(studies, lines)
    assert table(studies, shuffled_lines) == original  # studies.csv order is kept
    reordered = table(shuffled_studies, shuffled_lines)
    assert sorted(reordered, key=lambda r: r["study"]) == sorted(original, key=lambda r: r["study"])
    expected = [{k: r[k] for k in ("study", "ai", "n1i", "ci", "n2i")} for r in rows]
    assert [{k: r[k] for k in expected[0]} for r in original] == expected
