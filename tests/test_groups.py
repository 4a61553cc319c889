"""Row-level groups and definitions of extraction.csv, outcomes that analyse another
outcome's rows (``rows_of``), and the GLMM outcomes of the bundled case-series and cohort
reviews as the pool stage computes them, against metafor's rma.glmm
(fixtures_glmm_pipeline.json, made by tests/reference/make_fixtures_glmm_pipeline.R)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from markupsafe import escape

from metareview.engine.pooling import Settings, pool
from metareview.errors import InputError, InputErrors
from metareview.inputs.protocol import outcome_settings
from metareview.inputs.review import ReviewInputs
from metareview.inputs.tables import load_extraction, load_studies, single_arm_table
from metareview.present.methods import GROUPS_SENTENCE, methods_paragraph
from metareview.stages.analyses import group_units
from metareview.stages.common import OutcomeContext, split_units

ROOT = Path(__file__).resolve().parent.parent
FIX = json.loads((Path(__file__).parent / "reference/fixtures_glmm_pipeline.json").read_text())


def review(rid: str) -> ReviewInputs:
    raw = ROOT / "data/raw" / rid
    return ReviewInputs.load(
        ROOT / f"config/reviews/{rid}.yaml", raw / "studies.csv", raw / "extraction.csv"
    )


def write(tmp_path: Path, studies: str, extraction: str):
    (tmp_path / "studies.csv").write_text(studies)
    (tmp_path / "extraction.csv").write_text(extraction)
    st = load_studies(tmp_path / "studies.csv")
    return st, tmp_path / "extraction.csv"


STUDIES = "study_id,label,year,design\nA,A 2020,2020,single_arm\nB,B 2021,2021,single_arm\n"
HEAD = "study_id,outcome,arm,group,definition,events,total,source\n"


def test_groups_are_summed_per_study_and_kept_as_units(tmp_path):
    st, path = write(
        tmp_path,
        STUDIES,
        HEAD + "A,x,evt,primary,,3,10,s\nA,x,evt,secondary,eTICI,5,20,s\nB,x,evt,,,7,9,s\n",
    )
    ex = load_extraction(path, st, {"x"}, {"evt"})
    table = single_arm_table(ex, st, "x", "evt")
    rows, units = split_units([dict(r) for r in table.rows])
    assert [(r["study"], r["xi"], r["ni"], r["group"]) for r in rows] == [
        ("A", 8, 30, "primary+secondary"),
        ("B", 7, 9, ""),
    ]
    assert rows[0]["definition"] == "eTICI"
    assert [(r["study"], r["group"], r["xi"], r["ni"]) for r in units] == [
        ("A", "primary", 3, 10),
        ("A", "secondary", 5, 20),
    ]
    assert any("combined (counts summed)" in w.message for w in table.warnings)


def test_without_row_level_columns_the_table_is_unchanged(tmp_path):
    st, path = write(
        tmp_path, STUDIES, "study_id,outcome,arm,events,total,source\nA,x,evt,3,10,s\n"
    )
    table = single_arm_table(load_extraction(path, st, {"x"}, {"evt"}), st, "x", "evt")
    assert table.columns == ["study", "xi", "ni"]


@pytest.mark.parametrize(
    "rows, message",
    [
        ("A,x,evt,g1,,3,10,s\nA,x,evt,g1,,4,10,s\n", "duplicate row"),
        ("A,x,evt,,,3,10,s\nA,x,evt,g1,,4,10,s\n", "give either the groups or the whole"),
        ("A,x,evt,g1,,3,10,s\nA,x,evt,,,4,10,s\n", "give either the groups or the whole"),
    ],
)
def test_group_rows_that_overlap_are_errors(tmp_path, rows, message):
    st, path = write(tmp_path, STUDIES, HEAD + rows)
    with pytest.raises((InputError, InputErrors)) as exc:
        load_extraction(path, st, {"x"}, {"evt"})
    assert message in str(exc.value)
    assert "row 3" in str(exc.value)


def test_rows_of_reads_the_other_outcomes_arm():
    inputs = review("rescue-stenting")
    death = {r["study"]: (r["ai"], r["n1i"]) for r in inputs.outcome_table("death").rows}
    rate = inputs.outcome_table("death-rate")
    assert rate.outcome == "death-rate"
    assert {r["study"]: (r["xi"], r["ni"]) for r in rate.rows} == death


@pytest.mark.parametrize("case", FIX["cases"], ids=lambda c: f"{c['review']}-{c['outcome']}")
def test_pipeline_glmm_outcomes_match_metafor(case):
    inputs = review(case["review"])
    rows, _units = split_units([dict(r) for r in inputs.outcome_table(case["outcome"]).rows])
    assert [r["study"] for r in rows] == case["data"]["study"]
    assert [r["xi"] for r in rows] == case["data"]["xi"]
    assert [r["ni"] for r in rows] == case["data"]["ni"]
    settings = Settings(**outcome_settings(inputs.protocol, case["outcome"]))
    assert settings.method == "GLMM"
    fit = pool(rows, settings).to_dict()
    ref = case["fit"]
    assert fit["k"] == ref["k"]
    for key, tol in (("estimate", 1e-6), ("se", 2e-6), ("ci_lb", 5e-6), ("ci_ub", 5e-6)):
        assert fit[key] == pytest.approx(ref[key], abs=tol), key
    assert fit["tau2"] == pytest.approx(ref["tau2"], abs=1e-6)
    assert fit["i2"] == pytest.approx(ref["i2"], abs=1e-4)
    assert fit["q"] == pytest.approx(ref["q_wald"], abs=1e-6)
    assert fit["q_lrt"] == pytest.approx(ref["q_lrt"], abs=1e-6)
    for key in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        assert fit["back"][key] == pytest.approx(ref["back"][key], abs=2e-6), key
    assert all(s["weight"] is None for s in fit["studies"])
    assert all(s["back"]["ci_method"] == "clopper-pearson" for s in fit["studies"])


def test_methods_paragraph_names_the_glmm_and_the_group_rule():
    protocol = review("dmvo-case-series").protocol
    text = str(methods_paragraph(protocol, grouped=True))
    assert "random-effects logistic regression model" in text
    assert "7-point adaptive Gauss-Hermite quadrature" in text
    assert "I² = tau²/(tau² + v)" in text
    assert "Clopper-Pearson" in text
    assert str(escape(GROUPS_SENTENCE)) in text
    assert str(escape(GROUPS_SENTENCE)) not in str(methods_paragraph(protocol))


def test_analysis_by_group_uses_study_x_group_units_of_its_levels():
    inputs = review("dmvo-case-series")
    rows, units = split_units([dict(r) for r in inputs.outcome_table("reperfusion").rows])
    ctx = OutcomeContext(inputs.protocol, {"id": "reperfusion"}, None, rows, units)
    use, labels, notes = group_units(ctx, {"primary": "Primary", "secondary": "Secondary"})
    grouped = [(r["study"], r["xi"], r["ni"]) for r in use if r["group"]]
    assert grouped == [("Rikhtegar2021:primary", 24, 34), ("Rikhtegar2021:secondary", 52, 71)]
    assert labels["Rikhtegar2021:primary"].endswith("(primary)")
    assert "Each study x group is a unit" in notes[0]
    assert "Perez-Garcia 2020 Stroke BEMP vs mini-SR (bemp)" in notes[1]
