"""Small-study effects against R metafor 3.8.1 (tests/reference/make_fixtures_smallstudy.R),
and the funnel plots' structure and deterministic output.

Every numeric field of every spec is compared to 1e-6 relative (1e-9 absolute near 0).
Expected values come only from the fixtures (R), never from our own code.
"""

from __future__ import annotations

import csv
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from metareview.engine.effects import EffectSizes, escalc
from metareview.engine.smallstudy import (
    assess,
    egger,
    funnel_data,
    harbord,
    peters,
    ranktest,
    regtest,
    trimfill,
)
from metareview.errors import AnalysisError
from metareview.plots.common import save_figure
from metareview.plots.funnel import draw_funnel

HERE = Path(__file__).parent
REPO = HERE.parent
FIXTURES = json.loads((HERE / "reference" / "fixtures_smallstudy.json").read_text())
SPECS = FIXTURES["specs"]
REL, ABS = 1e-6, 1e-9
SVG_NS = "{http://www.w3.org/2000/svg}"
EXTRACTION = REPO / "data" / "raw" / "evt-vs-medical-rcts" / "extraction.csv"


def by_kind(kind):
    return [pytest.param(s, id=s["id"]) for s in SPECS if s["kind"] == kind]


def spec_by_id(spec_id):
    return next(s for s in SPECS if s["id"] == spec_id)


def effect_sizes(spec) -> EffectSizes:
    data, s = spec["data"], spec["settings"]
    if "yi" in data:  # effect sizes given as they are (log odds ratios)
        k = len(data["yi"])
        return EffectSizes(
            s["measure"],
            np.asarray(data["yi"], float),
            np.asarray(data["vi"], float),
            ["none"] * k,
            [None] * k,
            {},
        )
    options = {"add": s["add"], "to": s["to"]}
    if "ai" in data:
        options["drop00"] = s["drop00"]
    return escalc(s["measure"], data, **options)


def close(ours, theirs) -> bool:
    if theirs is None:
        return ours is None or (isinstance(ours, float) and math.isnan(ours))
    if ours is None or isinstance(theirs, bool) or isinstance(ours, bool):
        return ours == theirs
    return math.isclose(float(ours), float(theirs), rel_tol=REL, abs_tol=ABS)


def compare(ours: dict, expected: dict, keys, where="") -> list[str]:
    bad = []
    for key in keys:
        if key not in expected:
            continue
        if not close(ours.get(key), expected[key]):
            bad.append(f"{where}{key}: ours {ours.get(key)!r} metafor {expected[key]!r}")
    return bad


def compare_coefficients(ours, expected) -> list[str]:
    bad = []
    assert len(ours) == len(expected)
    for o, e in zip(ours, expected, strict=True):
        assert o["name"] == e["name"]
        bad += compare(o, e, ("estimate", "se", "stat", "pval"), f"coefficients.{e['name']}.")
    return bad


def compare_arrays(ours, theirs, where) -> list[str]:
    if len(ours) != len(theirs):
        return [f"{where}: length ours {len(ours)} metafor {len(theirs)}"]
    return [
        f"{where}[{i}]: ours {o!r} metafor {t!r}"
        for i, (o, t) in enumerate(zip(ours, theirs, strict=True))
        if not close(o, t)
    ]


REG_FIELDS = ("k", "stat", "pval", "df", "limit_estimate", "limit_ci_lb", "limit_ci_ub", "tau2")


# --------------------------------------------------------------------------- against metafor


@pytest.mark.parametrize("spec", by_kind("regtest"))
def test_regtest_matches_metafor(spec):
    s = spec["settings"]
    res = regtest(
        effect_sizes(spec),
        model=s["model"],
        predictor=s["predictor"],
        method=s["method"],
        test=s["test"],
        level=s["level"],
    ).to_dict()
    exp = spec["expected"]
    bad = compare(res, exp, REG_FIELDS) + compare_coefficients(
        res["coefficients"], exp["coefficients"]
    )
    assert not bad, "\n".join(bad)
    assert res["underpowered"] == (exp["k"] < 10)
    assert res["model"] == s["model"] and res["predictor"] == s["predictor"]


def test_egger_is_regtest_lm_sei():
    spec = spec_by_id("egger2001_regtest_lm_sei_REML_z")
    res = egger(effect_sizes(spec)).to_dict()
    exp = spec["expected"]
    assert res["name"] == "egger" and res["model"] == "lm" and res["predictor"] == "sei"
    bad = compare(res, exp, REG_FIELDS) + compare_coefficients(
        res["coefficients"], exp["coefficients"]
    )
    assert not bad, "\n".join(bad)
    assert "Egger" in res["reference"] and "1997" in res["reference"]


@pytest.mark.parametrize("spec", by_kind("peters"))
def test_peters_matches_r(spec):
    res = peters(effect_sizes(spec)).to_dict()
    exp = spec["expected"]
    bad = compare(res, exp, REG_FIELDS) + compare_coefficients(
        res["coefficients"], exp["coefficients"]
    )
    assert not bad, "\n".join(bad)
    names = [spec["data"]["study"][i] for i in res["excluded_index"]]
    assert names == exp["excluded"]
    assert bool(res["warnings"]) == bool(exp["excluded"])


@pytest.mark.parametrize("spec", by_kind("harbord"))
def test_harbord_matches_r(spec):
    res = harbord(effect_sizes(spec)).to_dict()
    exp = spec["expected"]
    bad = compare(res, exp, REG_FIELDS + ("bias", "bias_se"))
    bad += compare_coefficients(res["coefficients"], exp["coefficients"])
    assert not bad, "\n".join(bad)
    names = [spec["data"]["study"][i] for i in res["excluded_index"]]
    assert names == exp["excluded"]


@pytest.mark.parametrize("spec", by_kind("ranktest"))
def test_ranktest_matches_metafor(spec):
    res = ranktest(effect_sizes(spec)).to_dict()
    exp = spec["expected"]
    bad = compare(res, exp, ("k", "tau", "pval"))
    assert not bad, "\n".join(bad)
    assert res["exact"] == exp["exact"] and res["ties"] == exp["ties"]
    assert res["p_method"] == ("exact" if exp["exact"] else "normal")
    assert bool(res["warnings"]) == bool(spec["warnings"])


ADJ_FIELDS = (
    "k",
    "estimate",
    "se",
    "ci_lb",
    "ci_ub",
    "stat",
    "pval",
    "pi_lb",
    "pi_ub",
    "tau2",
    "tau2_se",
    "i2",
    "h2",
    "q",
    "q_df",
    "q_pval",
)


@pytest.mark.parametrize("spec", by_kind("trimfill"))
def test_trimfill_matches_metafor(spec):
    s = spec["settings"]
    res = trimfill(
        effect_sizes(spec),
        spec["data"]["study"],
        estimator=s["estimator"],
        side=s["side"],
        method=s["method"],
        level=s["level"],
    ).to_dict()
    exp = spec["expected"]
    assert res["side"] == exp["side"]
    assert res["side_chosen"] == ("auto" if s["side"] is None else "given")
    assert res["k0"] == exp["k0"]
    assert res["iterations"] == exp["iterations"]
    bad = compare(res, exp, ("k", "se_k0", "p_k0"))
    bad += compare_arrays([f["yi"] for f in res["filled"]], exp["filled"]["yi"], "filled.yi")
    bad += compare_arrays([f["vi"] for f in res["filled"]], exp["filled"]["vi"], "filled.vi")
    adj, eadj = res["adjusted"], exp["adjusted"]
    assert adj["model"] == eadj["model"]
    bad += compare(adj, eadj, ADJ_FIELDS, "adjusted.")
    bad += compare(adj["back"], eadj["back"], ("estimate", "ci_lb", "ci_ub"), "adjusted.back.")
    assert not bad, "\n".join(bad)
    assert [f["mirror_of"] for f in res["filled"]] == exp["filled"]["mirror_of"]
    assert [f["study"] for f in res["filled"]] == [f"Filled {j + 1}" for j in range(exp["k0"])]
    n_filled = sum(1 for st in adj["studies"] if st["filled"])
    assert n_filled == exp["k0"]
    assert res["underpowered"] == (exp["k"] < 10)


@pytest.mark.parametrize("spec", by_kind("funnel"))
def test_funnel_data_matches_metafor(spec):
    s = spec["settings"]
    es = effect_sizes(spec)
    if s["trimfill"]:
        source = trimfill(es, spec["data"]["study"], method=s["method"])
    else:
        source = es
    data = funnel_data(source, study_ids=spec["data"]["study"], method=s["method"])
    exp = spec["expected"]
    bad = compare_arrays([p["yi"] for p in data["points"]], exp["x"], "x")
    bad += compare_arrays([p["sei"] for p in data["points"]], exp["y"], "y")
    bad += compare(
        data,
        {"k": exp["k"], "estimate": exp["refline"], "sei_top": exp["sei_top"]},
        ("k", "estimate", "sei_top"),
    )
    bad += compare_arrays(data["xlim"], exp["xlim"], "xlim")
    region = data["region"]
    assert close(region["sei"][-1], exp["sei_top"])
    bad += compare(
        {"lb": region["lb"][-1], "ub": region["ub"][-1]}, exp["region"], ("lb", "ub"), "region."
    )
    assert [p["filled"] for p in data["points"]] == exp["fill"]
    if not s["trimfill"]:  # the contour funnel is drawn for the observed studies
        assert [c["p"] for c in data["contours"]] == [c["p"] for c in exp["contours"]]
        for c, e in zip(data["contours"], exp["contours"], strict=True):
            bad += compare(
                {"lb": c["lb"][-1], "ub": c["ub"][-1]}, e, ("lb", "ub"), f"contour {e['p']}."
            )
        bad += compare_arrays(data["contour_xlim"], exp["contour_xlim"], "contour_xlim")
    assert not bad, "\n".join(bad)
    assert data["ylim"][1] == 0.0 and close(data["ylim"][0], exp["sei_top"])


def test_fixture_coverage():
    kinds = [s["kind"] for s in SPECS]
    assert FIXTURES["meta"]["metafor_version"] == "3.8.1"
    assert len(SPECS) >= 25
    predictors = {
        (s["settings"]["model"], s["settings"]["predictor"])
        for s in SPECS
        if s["kind"] == "regtest"
    }
    assert {p for _, p in predictors} == {"sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv"}
    assert {m for m, _ in predictors} == {"lm", "rma"}
    tf = [s for s in SPECS if s["kind"] == "trimfill"]
    assert {s["settings"]["estimator"] for s in tf} == {"L0", "R0"}
    assert {s["settings"]["side"] for s in tf} == {None, "left", "right"}
    assert {s["expected"]["side"] for s in tf} == {"left", "right"}
    assert {s["settings"]["method"] for s in tf} >= {"FE", "REML", "DL"}
    assert any(s["expected"]["k0"] == 0 for s in tf) and any(s["expected"]["k0"] > 0 for s in tf)
    assert any(not s["expected"]["exact"] for s in SPECS if s["kind"] == "ranktest")
    assert kinds.count("ranktest") >= 5 and kinds.count("harbord") >= 3


# --------------------------------------------------------------------------- behaviour


def test_too_few_studies_and_bad_arguments():
    es = escalc("OR", {"ai": [3, 5], "n1i": [20, 30], "ci": [4, 9], "n2i": [21, 29]})
    with pytest.raises(AnalysisError, match="at least 3"):
        egger(es)
    with pytest.raises(AnalysisError, match="at least 3"):
        ranktest(es)
    spec = spec_by_id("egger2001_regtest_lm_sei_REML_z")
    es = effect_sizes(spec)
    with pytest.raises(ValueError, match="predictor"):
        regtest(es, predictor="n")
    with pytest.raises(ValueError, match="model"):
        regtest(es, model="glm")
    with pytest.raises(ValueError, match="estimator"):
        trimfill(es, spec["data"]["study"], estimator="Q1")
    hack = effect_sizes(spec_by_id("hackshaw1998_ranktest"))
    with pytest.raises(AnalysisError, match="sample sizes"):
        regtest(hack, predictor="ni")
    with pytest.raises(AnalysisError, match="two-arm"):
        harbord(hack)


def test_results_are_json_clean():
    spec = spec_by_id("evt_mrs02_regtest_lm_sei_REML_z")
    es = effect_sizes(spec)
    ids = spec["data"]["study"]
    for res in (
        egger(es),
        regtest(es, predictor="ni"),
        peters(es),
        harbord(es),
        ranktest(es),
        trimfill(es, ids),
    ):
        d = res.to_dict()
        text = json.dumps(d, allow_nan=False)  # no NaN / inf anywhere
        assert '"underpowered": true' in text  # k = 9 < 10
        assert d["k"] == spec["expected"]["k"]
    d = regtest(es, predictor="ni").to_dict()
    assert d["limit_estimate"] is None and d["line"] is None
    assert len(egger(es).to_dict()["line"]["sei"]) == 51


# --------------------------------------------------------------------------- figures


def evt_outcome(outcome: str) -> dict[str, list]:
    rows = list(csv.DictReader(EXTRACTION.open(newline="", encoding="utf-8")))
    arms: dict[str, dict[str, tuple[int, int]]] = {}
    order: list[str] = []
    for r in rows:
        if r["outcome"] != outcome:
            continue
        if r["study_id"] not in arms:
            arms[r["study_id"]] = {}
            order.append(r["study_id"])
        arms[r["study_id"]][r["arm"]] = (int(r["events"]), int(r["total"]))
    ids = [s for s in order if {"evt", "control"} <= set(arms[s])]
    return {
        "study": ids,
        "ai": [arms[s]["evt"][0] for s in ids],
        "n1i": [arms[s]["evt"][1] for s in ids],
        "ci": [arms[s]["control"][0] for s in ids],
        "n2i": [arms[s]["control"][1] for s in ids],
    }


def gids(svg: Path) -> list[str]:
    root = ET.parse(svg).getroot()
    return [e.get("id") for e in root.iter() if e.get("id")]


def texts(svg: Path) -> list[str]:
    root = ET.parse(svg).getroot()
    return ["".join(t.itertext()) for t in root.iter(f"{SVG_NS}text")]


def count(ids, prefix):
    return sum(1 for i in ids if i.startswith(prefix) and i[len(prefix) :].isdigit())


@pytest.fixture(scope="module")
def sich():
    data = evt_outcome("sich")
    es = escalc("OR", data, add=0.5, to="only0", drop00=False)
    return data, es


def test_evt_data_matches_the_fixture_copy(sich):
    data, _ = sich
    spec = spec_by_id("evt_sich_funnel_REML")
    for key in ("study", "ai", "n1i", "ci", "n2i"):
        assert data[key] == spec["data"][key]


def test_funnel_svg_structure(sich, tmp_path):
    data, es = sich
    k = spec_by_id("evt_sich_funnel_REML")["expected"]["k"]
    fd = funnel_data(es, study_ids=data["study"])
    fig = draw_funnel(fd, title="Symptomatic intracranial haemorrhage", measure_label="Odds ratio")
    save_figure(fig, svg_path=tmp_path / "f.svg")
    ids = gids(tmp_path / "f.svg")
    assert count(ids, "funnel-point-") == k == 17
    assert count(ids, "funnel-filled-") == 0
    assert "funnel-region" in ids and "funnel-estimate" in ids
    t = texts(tmp_path / "f.svg")
    assert "Odds ratio (log scale)" in t and "Standard error" in t
    assert "Symptomatic intracranial haemorrhage" in t
    assert "Pseudo 95% confidence limits" in t and "Studies" in t
    assert "1" in t  # ratio ticks labelled back-transformed


def test_funnel_with_trimfill_svg(sich, tmp_path):
    data, es = sich
    exp = spec_by_id("evt_sich_trimfill_L0_auto_REML")["expected"]
    tf = trimfill(es, data["study"]).to_dict()
    fd = funnel_data(es, study_ids=data["study"])
    fig = draw_funnel(fd, title="sICH", measure_label="Odds ratio", trimfill=tf)
    save_figure(fig, svg_path=tmp_path / "tf.svg")
    ids = gids(tmp_path / "tf.svg")
    assert count(ids, "funnel-point-") == exp["k"]
    assert count(ids, "funnel-filled-") == exp["k0"] == 2
    assert "funnel-adjusted" in ids
    assert "Filled studies (trim and fill)" in texts(tmp_path / "tf.svg")
    # metafor's funnel(trimfill(res)): points and filled studies from the adjusted model
    fd2 = funnel_data(tf)
    fig2 = draw_funnel(fd2, title="sICH", measure_label="Odds ratio")
    save_figure(fig2, svg_path=tmp_path / "tf2.svg")
    ids2 = gids(tmp_path / "tf2.svg")
    assert count(ids2, "funnel-point-") == exp["k"]
    assert count(ids2, "funnel-filled-") == exp["k0"]
    assert "Adjusted estimate (trim and fill)" in texts(tmp_path / "tf2.svg")


def test_contour_funnel_svg(sich, tmp_path):
    data, es = sich
    k = spec_by_id("evt_sich_funnel_REML")["expected"]["k"]
    fd = funnel_data(es, study_ids=data["study"])
    fig = draw_funnel(
        fd, title="sICH (contour-enhanced)", measure_label="Odds ratio", contours=True
    )
    save_figure(fig, svg_path=tmp_path / "c.svg")
    ids = gids(tmp_path / "c.svg")
    assert count(ids, "funnel-point-") == k
    assert {f"funnel-contour-{j}" for j in range(4)} <= set(ids)
    assert "funnel-null" in ids and "funnel-region" not in ids
    t = texts(tmp_path / "c.svg")
    for label in ("p > 0.10", "0.05 < p \u2264 0.10", "0.01 < p \u2264 0.05", "p \u2264 0.01"):
        assert label in t


def test_funnel_bytes_are_deterministic(sich, tmp_path):
    data, es = sich
    tf = trimfill(es, data["study"]).to_dict()
    fd = funnel_data(es, study_ids=data["study"])
    outputs = []
    for run in ("a", "b"):
        for contours in (False, True):
            fig = draw_funnel(
                fd, title="sICH", measure_label="Odds ratio", trimfill=tf, contours=contours
            )
            svg, png = tmp_path / f"{run}{contours}.svg", tmp_path / f"{run}{contours}.png"
            save_figure(fig, svg_path=svg, png_path=png)
            outputs.append((svg.read_bytes(), png.read_bytes()))
    assert outputs[0] == outputs[2] and outputs[1] == outputs[3]
    assert outputs[0] != outputs[1]


def test_labels_printed_literally_and_outliers_labelled(tmp_path):
    spec = spec_by_id("egger2001_funnel_REML")
    fd = funnel_data(effect_sizes(spec), study_ids=spec["data"]["study"])
    title = "$x^2$ & <magnesium> 50% \\alpha"
    labels = {"ISIS-4": "$\\beta$ ISIS-4 (1995)", "LIMIT-2": "LIMIT-2 {1992}"}
    fig = draw_funnel(fd, title=title, measure_label="Odds ratio $\\theta$", study_labels=labels)
    save_figure(fig, svg_path=tmp_path / "lit.svg")
    t = texts(tmp_path / "lit.svg")
    assert title in t
    assert "Odds ratio $\\theta$ (log scale)" in t
    # ISIS-4, LIMIT-2 and Feldstedt lie outside the pseudo 95% region: labelled
    assert "$\\beta$ ISIS-4 (1995)" in t and "LIMIT-2 {1992}" in t and "Feldstedt" in t
    assert "Morton" not in t
    ids = gids(tmp_path / "lit.svg")
    assert count(ids, "funnel-label-") == 3
    assert count(ids, "funnel-point-") == spec["expected"]["k"]


def test_funnel_mrs02_underpowered_and_proportions(tmp_path):
    data = evt_outcome("mrs02")
    es = escalc("OR", data, add=0.5, to="only0", drop00=False)
    k = spec_by_id("evt_mrs02_funnel_FE")["expected"]["k"]
    fd = funnel_data(es, study_ids=data["study"], method="FE")
    assert fd["k"] == k and fd["underpowered"] is (k < 10)
    fig = draw_funnel(fd, title="mRS 0-2", measure_label="Odds ratio", contours=True)
    save_figure(fig, svg_path=tmp_path / "m.svg")
    assert count(gids(tmp_path / "m.svg"), "funnel-point-") == k
    spec = spec_by_id("pritz1997_ranktest")
    pfd = funnel_data(effect_sizes(spec), study_ids=spec["data"]["study"])
    assert pfd["null"] is None and pfd["contours"] == []
    with pytest.raises(ValueError, match="null"):
        draw_funnel(pfd, title="", measure_label="Logit proportion", contours=True)
    fig = draw_funnel(pfd, title="", measure_label="Logit proportion")
    save_figure(fig, svg_path=tmp_path / "p.svg")
    assert count(gids(tmp_path / "p.svg"), "funnel-point-") == spec["expected"]["k"]


def test_assess_collects_every_analysis():
    data = evt_outcome("death")
    es = escalc("OR", data, add=0.5, to="only0", drop00=False)
    out = assess(es, data["study"])
    json.dumps(out, allow_nan=False)
    assert set(out) >= {
        "egger",
        "regtest_rma",
        "peters",
        "harbord",
        "ranktest",
        "trimfill",
        "funnel",
    }
    checks = {
        "egger": "evt_death_regtest_lm_sei_REML_z",
        "regtest_rma": "evt_death_regtest_rma_sei_REML_z",
        "peters": "evt_death_peters",
    }
    for key, spec_id in checks.items():
        exp = spec_by_id(spec_id)["expected"]
        bad = compare(out[key], exp, REG_FIELDS)
        assert not bad, "\n".join(bad)
    assert out["k"] == spec_by_id("evt_death_peters")["expected"]["k"]
    assert out["underpowered"] is False  # k = 10
    single = spec_by_id("pritz1997_ranktest")
    out = assess(effect_sizes(single), single["data"]["study"])
    assert "harbord" not in out and "peters" in out
    assert out["k"] == single["expected"]["k"] and out["underpowered"] is False  # k = 14


def test_assess_runs_only_the_tests_asked_for():
    data = evt_outcome("death")
    es = escalc("OR", data, add=0.5, to="only0", drop00=False)
    out = assess(es, data["study"], tests={"egger", "trimfill"})
    assert {"egger", "regtest_rma", "trimfill", "funnel"} <= set(out)
    assert not {"peters", "harbord", "ranktest"} & set(out)


def test_identical_studies_give_a_reason_not_a_crash():
    """Three identical 2x2 tables (synthetic): every study has the same precision, so the
    regression tests' slope is not identifiable (R's lm gives NA); the analysis says so."""
    data = {
        "study": ["A", "B", "C"],
        "ai": np.array([5.0, 5, 5]),
        "n1i": np.array([50.0, 50, 50]),
        "ci": np.array([3.0, 3, 3]),
        "n2i": np.array([50.0, 50, 50]),
    }
    es = escalc("OR", data, add=0.5, to="only0", drop00=False)
    out = assess(es, data["study"])
    json.dumps(out, allow_nan=False)
    for key in ("egger", "peters", "harbord"):
        assert "the same" in out[key]["error"], key
