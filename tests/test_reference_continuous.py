"""Continuous and generic inverse-variance outcomes against R metafor 3.8.1.

Fixtures: tests/reference/fixtures_continuous.json, made by
tests/reference/make_fixtures_continuous.R (MD, SMD, ROM, MN, GEN as yi/sei and yi/vi,
natural-scale RR and OR with their CIs; real data from metadat and the RevMan file).
Every numeric field is compared to 1e-6 relative (1e-9 absolute near 0), through the
functions the pipeline uses: pooling.pool / pool_subgroups / pool_mods,
sensitivity.leave_one_out and smallstudy.regtest / ranktest / trimfill.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import ABS, FIT_FIELDS, REL

from metareview.engine import sensitivity as sens
from metareview.engine import smallstudy
from metareview.engine.effects_continuous import (
    escalc_continuous,
    hedges_cm,
    sd_from_ci,
    sd_from_se,
    se_from_ci,
)
from metareview.engine.pooling import Settings, effect_sizes, pool, pool_mods, pool_subgroups
from metareview.errors import AnalysisError

REF = json.loads((Path(__file__).parent / "reference" / "fixtures_continuous.json").read_text())
SPECS = REF["specs"]
MAX_DIFF: dict[str, float] = {}  # largest relative difference seen, per kind


def rows_of(spec):
    data = spec["data"]
    return [{col: data[col][i] for col in data} for i in range(len(data["study"]))]


def settings_of(spec) -> Settings:
    s = spec["settings"]
    return Settings(
        measure=s["measure"],
        method=s["method"],
        test=s["test"],
        level=float(s["level"]),
        scale=s.get("scale"),
    )


def close(ours, theirs, kind="") -> bool:
    if theirs is None:
        return ours is None or (isinstance(ours, float) and math.isnan(ours))
    if ours is None:
        return False
    diff = abs(float(ours) - float(theirs))
    rel = diff / max(abs(float(theirs)), ABS / REL)
    MAX_DIFF[kind] = max(MAX_DIFF.get(kind, 0.0), rel)
    return math.isclose(float(ours), float(theirs), rel_tol=REL, abs_tol=ABS)


def compare(ours: dict, expected: dict, keys, where: str, kind="") -> list[str]:
    return [
        f"{where}{key}: ours {ours.get(key)!r} metafor {expected[key]!r}"
        for key in keys
        if key in expected and not close(ours.get(key), expected[key], kind)
    ]


def compare_fit(ours: dict, expected: dict, where: str, kind="pool") -> list[str]:
    bad = compare(ours, expected, FIT_FIELDS, f"{where} ", kind)
    bad += compare(ours["back"], expected["back"], tuple(expected["back"]), f"{where} back.", kind)
    studies = expected.get("studies") or {}
    for key in ("yi", "vi", "weight"):
        if key not in studies:
            continue
        for i, (st, e) in enumerate(zip(ours["studies"], studies.get(key, []), strict=True)):
            if not close(st.get(key), e, kind):
                bad.append(f"{where} studies[{i}].{key}: ours {st.get(key)!r} metafor {e!r}")
    return bad


def by_kind(kind):
    return [pytest.param(s, id=s["id"]) for s in SPECS if s["kind"] == kind]


# --------------------------------------------------------------------------- models


@pytest.mark.parametrize("spec", by_kind("pool"))
def test_pool_matches_metafor(spec):
    fit = pool(rows_of(spec), settings_of(spec)).to_dict()
    bad = compare_fit(fit, spec["expected"], spec["id"])
    assert not bad, "\n".join(bad)
    assert fit["model"] == spec["expected"]["model"]


@pytest.mark.parametrize("spec", by_kind("subgroup"))
def test_subgroups_match_metafor(spec):
    res = pool_subgroups(rows_of(spec), settings_of(spec), spec["settings"]["subgroup"])
    exp = spec["expected"]
    bad = compare_fit(res["overall"], exp["overall"], "overall", "subgroup")
    ours = {s["level"]: s for s in res["subgroups"]}
    assert sorted(ours) == [s["level"] for s in exp["subgroups"]]
    for sub in exp["subgroups"]:
        bad += compare_fit(ours[sub["level"]], sub, f"level {sub['level']}", "subgroup")
    for key in ("test_between_fe", "test_between_re"):
        ours_test = res[key]
        if ours_test is None:  # FE subgroups: one test (Q over FE estimates = QM)
            assert key == "test_between_re" and spec["settings"]["method"] == "FE"
            ours_test = res["test_between_fe"]
        bad += compare(ours_test, exp[key], ("q", "df", "pval"), f"{key}.", "subgroup")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("spec", by_kind("metareg"))
def test_metareg_matches_metafor(spec):
    res = pool_mods(rows_of(spec), settings_of(spec), list(spec["settings"]["mods"]))
    exp = spec["expected"]
    assert [c["name"] for c in res["coefficients"]] == [c["name"] for c in exp["coefficients"]]
    bad = []
    for ours, theirs in zip(res["coefficients"], exp["coefficients"], strict=True):
        keys = ("estimate", "se", "stat", "pval", "ci_lb", "ci_ub")
        bad += compare(ours, theirs, keys, f"{theirs['name']}.", "metareg")
    keys = ("k", "qm", "qm_pval", "tau2", "i2", "h2", "q", "q_pval")
    bad += compare(res, exp, keys, "", "metareg")
    assert not bad, "\n".join(bad)


# --------------------------------------------------------------------------- sensitivity


@pytest.mark.parametrize("spec", by_kind("leave1out"))
def test_leave_one_out_matches_metafor(spec):
    es, ids, common, zero = sens.case_arguments(rows_of(spec), settings_of(spec))
    res = sens.leave_one_out(es, ids, **common, **zero).to_dict()
    exp = spec["expected"]
    assert [r["study"] for r in res["studies"]] == exp["study"]
    bad = []
    fields = ("estimate", "se", "stat", "pval", "ci_lb", "ci_ub", "q", "q_pval", "tau2")
    for name in fields + ("i2", "h2"):
        if not exp[name]:  # FE: metafor's leave1out has no tau2 column
            assert name == "tau2" and spec["settings"]["method"] == "FE"
            continue
        for i, row in enumerate(res["studies"]):
            if not close(row[name], exp[name][i], "leave1out"):
                bad.append(f"row {i} {name}: ours {row[name]!r} metafor {exp[name][i]!r}")
    for name in ("estimate", "ci_lb", "ci_ub"):
        for i, row in enumerate(res["studies"]):
            if not close(row["back"][name], exp["back"][name][i], "leave1out"):
                bad.append(f"row {i} back.{name}: {row['back'][name]!r} {exp['back'][name][i]!r}")
    assert not bad, "\n".join(bad[:20])


# --------------------------------------------------------------------------- small-study effects


def _es(spec):
    return effect_sizes(rows_of(spec), settings_of(spec).resolved())


@pytest.mark.parametrize("spec", by_kind("regtest"))
def test_regtest_matches_metafor(spec):
    s = spec["settings"]
    res = smallstudy.regtest(
        _es(spec),
        model=s["model"],
        predictor=s["predictor"],
        method=s["method"],
        test=s["test"],
        level=float(s["level"]),
    ).to_dict()
    exp = spec["expected"]
    keys = ("k", "stat", "pval", "df", "limit_estimate", "limit_ci_lb", "limit_ci_ub", "tau2")
    bad = compare(res, exp, keys, "", "regtest")
    for ours, theirs in zip(res["coefficients"], exp["coefficients"], strict=True):
        assert ours["name"] == theirs["name"]
        bad += compare(ours, theirs, ("estimate", "se", "stat", "pval"), "coef.", "regtest")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("spec", by_kind("ranktest"))
def test_ranktest_matches_metafor(spec):
    res = smallstudy.ranktest(_es(spec)).to_dict()
    bad = compare(res, spec["expected"], ("k", "tau", "pval"), "", "ranktest")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("spec", by_kind("trimfill"))
def test_trimfill_matches_metafor(spec):
    s = spec["settings"]
    res = smallstudy.trimfill(
        _es(spec),
        spec["data"]["study"],
        estimator=s["estimator"],
        method=s["method"],
        level=float(s["level"]),
    ).to_dict()
    exp = spec["expected"]
    assert (res["side"], res["k0"], res["iterations"]) == (
        exp["side"],
        exp["k0"],
        exp["iterations"],
    )
    bad = compare(res, exp, ("k", "se_k0"), "", "trimfill")
    got = [f["yi"] for f in res["filled"]]
    assert len(got) == len(exp["filled_yi"])
    bad += [
        f"filled[{i}]: {g!r} vs {e!r}"
        for i, (g, e) in enumerate(zip(got, exp["filled_yi"], strict=True))
        if not close(g, e, "trimfill")
    ]
    adj = res["adjusted"]
    bad += compare(adj, exp["adjusted"], FIT_FIELDS[:13], "adjusted.", "trimfill")
    bad += compare(adj, exp["adjusted"], ("i2", "h2", "q", "q_pval"), "adjusted.", "trimfill")
    bad += compare(adj["back"], exp["adjusted"]["back"], ("estimate", "ci_lb", "ci_ub"), "b.")
    assert not bad, "\n".join(bad)


def test_peters_and_harbord_say_binary_only():
    spec = next(s for s in SPECS if s["id"] == "curtis1998_ROM_REML_z")
    es = _es(spec)
    with pytest.raises(AnalysisError, match="binary"):
        smallstudy.peters(es)
    with pytest.raises(AnalysisError, match="binary"):
        smallstudy.harbord(es)
    out = smallstudy.assess(es, spec["data"]["study"], method="REML")
    assert "binary" in out["peters"]["error"] and "binary" in out["harbord"]["error"]
    assert "error" not in out["egger"] and "error" not in out["trimfill"]
    assert out["funnel"]["null"] == 0.0


# --------------------------------------------------------------------------- coverage, RevMan


def test_fixture_coverage():
    seen = {tuple(s["settings"][k] for k in ("measure", "method", "test")) for s in SPECS}
    for measure in ("MD", "SMD", "ROM"):
        for method in ("FE", "DL", "REML", "PM"):
            for test in ("z", "knha"):
                assert (measure, method, test) in seen
    layouts = {(s["settings"]["layout"], s["kind"]) for s in SPECS}
    for lay in ("continuous", "mean", "generic", "natural"):
        assert (lay, "pool") in layouts and (lay, "leave1out") in layouts
    kinds = {s["kind"] for s in SPECS}
    assert kinds == {"pool", "subgroup", "metareg", "leave1out", "regtest", "ranktest", "trimfill"}
    assert REF["meta"]["metafor_version"] == "3.8.1"


def test_revman_fleiss_md_fixed_effect():
    """RevMan 5's own fixed-effect MD of the Fleiss (1993) outcome (printed to 8 digits)."""
    spec = next(s for s in SPECS if s["id"] == "fleiss1993_MD_FE_z")
    fit = pool(rows_of(spec), settings_of(spec)).to_dict()
    rm = spec["expected"]["revman"]
    for ours, theirs in (
        (fit["estimate"], rm["estimate"]),
        (fit["ci_lb"], rm["ci_lb"]),
        (fit["ci_ub"], rm["ci_ub"]),
        (fit["q"], rm["q"]),
        (fit["q_pval"], rm["q_pval"]),
        (fit["i2"], rm["i2"]),
        (abs(fit["stat"]), rm["z"]),
        (fit["pval"], rm["pval"]),
    ):
        # RevMan prints 8 digits; its chi-square p-value is good to about 3e-7
        assert math.isclose(ours, theirs, rel_tol=1e-6), (ours, theirs)
    for st, y, se, w in zip(
        fit["studies"], rm["study_estimate"], rm["study_se"], rm["study_weight"], strict=True
    ):
        assert math.isclose(st["yi"], y, rel_tol=1e-9)
        assert math.isclose(math.sqrt(st["vi"]), se, rel_tol=1e-7)
        assert math.isclose(st["weight"], w, rel_tol=1e-7)


# --------------------------------------------------------------------------- pure functions


def test_hedges_exact_correction_is_not_the_approximation():
    # metafor's .cmicalc(10) = gamma(5) / (sqrt(5) gamma(4.5)); the approximation
    # 1 - 3/(4m - 1) differs in the 4th decimal
    exact = math.gamma(5) / (math.sqrt(5) * math.gamma(4.5))
    assert math.isclose(hedges_cm([10])[0], exact, rel_tol=1e-14)
    assert abs(hedges_cm([10])[0] - (1 - 3 / 39)) > 1e-4
    assert np.isnan(hedges_cm([1])[0])
    es = escalc_continuous("SMD", [1.0], [1.0], [2], [0.0], [1.0], [2])
    assert math.isclose(es.yi[0], 1 * hedges_cm([2])[0], rel_tol=1e-14)


def test_sd_from_se_and_ci_handbook():
    sd, text = sd_from_se(0.5, 100)
    assert sd == 5.0 and "sqrt(100)" in text and "6.5.2.3" in text
    # Handbook 6.5.2.3 example: n = 25, 95% CI 3.0 to 7.0 (t quantile 2.0639 with 24 df)
    sd, text = sd_from_ci(3.0, 7.0, 25)
    assert math.isclose(sd, 5 * 4 / (2 * 2.0638985616280205), rel_tol=1e-9)
    assert "t(24 df)" in text
    sd, text = sd_from_ci(3.0, 7.0, 100)  # large sample: the normal quantile (3.92)
    assert math.isclose(sd, 10 * 4 / (2 * 1.959963984540054), rel_tol=1e-12)
    assert "normal" in text
    sd_z, _ = sd_from_ci(3.0, 7.0, 25, dist="z")
    assert sd_z < sd_from_ci(3.0, 7.0, 25)[0] * 1.1
    for bad in ((7.0, 3.0, 25), (3.0, 7.0, 1)):
        with pytest.raises(ValueError):
            sd_from_ci(*bad)
    with pytest.raises(ValueError):
        sd_from_se(0.0, 10)


def test_se_from_ci_log_scale():
    # HERMES-style reporting: OR 1.28 (0.51-3.21) -> SE of the log OR
    se = se_from_ci(0.51, 3.21)[0]
    assert math.isclose(se, (math.log(3.21) - math.log(0.51)) / (2 * 1.959963984540054))


def test_report_max_difference(request):
    """Runs last in this module: prints the largest relative difference per kind."""
    print("max relative difference vs metafor:", json.dumps(MAX_DIFF, sort_keys=True))
