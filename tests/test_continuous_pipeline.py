"""Continuous and generic inverse-variance outcomes through the pipeline (issue 13): the
extraction rows and their validation, and one review (tests/data/continuous_review) with an
MD, an SMD and an odds ratio given with its CI, run by Snakemake and checked against the
metafor fixtures of tests/reference/make_fixtures_continuous.R."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import pytest
from conftest import fresh_copy, run_pipeline

from metareview.engine import measures
from metareview.errors import InputError
from metareview.inputs.tables import (
    continuous_table,
    generic_table,
    load_extraction,
    load_studies,
)

HERE = Path(__file__).parent
REVIEW = HERE / "data" / "continuous_review"
FIXTURES = HERE / "reference" / "fixtures_continuous.json"

HEADER = ["study_id", "outcome", "arm", "events", "total", "mean", "sd", "se"]
HEADER += ["estimate", "ci_lb", "ci_ub", "level", "adjusted", "source"]
KINDS = {
    "bin": ("OR", measures.TWO_ARM_BINARY),
    "md": ("MD", measures.TWO_ARM_CONTINUOUS),
    "hr": ("HR", measures.GENERIC),
}


def _files(tmp_path, rows):
    studies = tmp_path / "studies.csv"
    studies.write_text("study_id,design\nA,rct\nB,rct\n", encoding="utf-8")
    extraction = tmp_path / "extraction.csv"
    with extraction.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, HEADER, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    return studies, extraction


def _load(tmp_path, rows):
    studies, extraction = _files(tmp_path, rows)
    st = load_studies(studies)
    return st, load_extraction(extraction, st, set(KINDS), {"t", "c"}, KINDS)


def test_sd_from_se_and_ci_recorded(tmp_path):
    rows = [
        {"study_id": "A", "outcome": "md", "arm": "t", "total": "100", "mean": "5", "se": "1"},
        # 95% CI of a mean in an arm of 25 (< 60: t quantile with 24 df, 2.063899)
        {"study_id": "A", "outcome": "md", "arm": "c", "total": "25", "mean": "4"}
        | {"ci_lb": "2", "ci_ub": "6"},
        {"study_id": "B", "outcome": "hr", "estimate": "0.5", "ci_lb": "0.25", "ci_ub": "1"}
        | {"adjusted": "Yes"},
    ]
    st, ex = _load(tmp_path, rows)
    table = continuous_table(ex, st, "md", "t", "c")
    row = table.rows[0]
    assert row["sd1i"] == pytest.approx(10.0)  # SE x sqrt(n)
    # sqrt(25) x 4 / (2 x qt(0.975, 24)) as R gives it: qt(0.975, 24) = 2.063898562
    assert row["sd2i"] == pytest.approx(5 * 4 / (2 * 2.063898562), rel=1e-9)
    assert "t: SD = SE x sqrt(n)" in row["derivation"]
    assert "c: SD = sqrt(n)" in row["derivation"] and "t(24 df)" in row["derivation"]
    g = generic_table(ex, st, "hr").rows[0]
    assert g["yi"] == pytest.approx(math.log(0.5))
    # (log 1 - log 0.25) / (2 qnorm(0.975)), qnorm(0.975) = 1.959963985
    assert g["sei"] == pytest.approx(math.log(4) / (2 * 1.959963985), rel=1e-9)
    assert g["adjusted"] == "yes"


@pytest.mark.parametrize(
    ("row", "column", "words"),
    [
        ({"outcome": "md", "arm": "t", "total": "10", "mean": "1", "sd": "0"}, "sd", "> 0"),
        ({"outcome": "md", "arm": "t", "total": "1", "mean": "1", "sd": "2"}, "total", "2"),
        ({"outcome": "md", "arm": "t", "total": "10", "sd": "2"}, "mean", "empty"),
        ({"outcome": "md", "arm": "t", "total": "10", "mean": "1", "se": "0"}, "se", "> 0"),
        (
            {"outcome": "md", "arm": "t", "total": "10", "mean": "9"}
            | {"ci_lb": "1", "ci_ub": "3"},
            "ci_ub",
            "does not contain",
        ),
        ({"outcome": "hr", "estimate": "0", "se": "0.2"}, "estimate", "> 0"),
        ({"outcome": "hr", "estimate": "-1", "se": "0.2"}, "estimate", "> 0"),
        ({"outcome": "hr", "estimate": "1.2", "se": "0"}, "se", "> 0"),
        (
            {"outcome": "hr", "estimate": "2", "ci_lb": "0.5", "ci_ub": "1.5"},
            "ci_ub",
            "does not contain",
        ),
        ({"outcome": "hr", "estimate": "2", "ci_lb": "0.5"}, "ci_ub", "empty"),
        ({"outcome": "hr", "estimate": "2", "se": "0.1", "adjusted": "maybe"}, "adjusted", "yes"),
        ({"outcome": "bin", "arm": "t", "total": "10", "mean": "3", "sd": "1"}, "mean", "binary"),
        ({"outcome": "md", "arm": "t", "events": "3", "total": "10", "mean": "3", "sd": "1"},)
        + ("events", "continuous"),
    ],
)
def test_bad_rows_named_by_row_and_column(tmp_path, row, column, words):
    with pytest.raises(InputError) as info:
        _load(tmp_path, [{"study_id": "A"} | row])
    err = info.value
    text = str(err)
    assert "extraction.csv" in text and words in text, text
    assert err.row == 2 and err.column == column, (err.row, err.column, text)


def test_two_generic_rows_of_one_study_refused(tmp_path):
    rows = [
        {"study_id": "A", "outcome": "hr", "estimate": "0.5", "se": "0.1"},
        {"study_id": "A", "outcome": "hr", "arm": "t", "estimate": "0.6", "se": "0.1"},
    ]
    st, ex = _load(tmp_path, rows)
    with pytest.raises(InputError, match="two estimates"):
        generic_table(ex, st, "hr")


def _fixture(spec_id):
    specs = json.loads(FIXTURES.read_text(encoding="utf-8"))["specs"]
    return next(s for s in specs if s["id"] == spec_id)["expected"]


@pytest.mark.slow
def test_review_with_continuous_and_generic_outcomes(tmp_path):
    work = fresh_copy(tmp_path / "work")
    shutil.copytree(REVIEW / "config" / "reviews", work / "config" / "reviews", dirs_exist_ok=True)
    shutil.copytree(REVIEW / "data" / "raw", work / "data" / "raw", dirs_exist_ok=True)
    (work / "config" / "config.yaml").write_text("reviews:\n  - contin-test\n", encoding="utf-8")
    run = run_pipeline(work)
    assert run.returncode == 0, run.stderr[-4000:]
    res = work / "results" / "contin-test"
    for outcome, spec in (
        ("los_md", "normand1999_MD_REML_z"),
        ("los_smd", "normand1999_SMD_REML_z"),
        ("tb_or", "bcgnatural_OR_FE_z"),
    ):
        fit = json.loads((res / "pooled" / f"{outcome}.json").read_text(encoding="utf-8"))
        want = _fixture(spec)
        for key in ("estimate", "se", "ci_lb", "ci_ub", "tau2", "i2", "q"):
            assert fit[key] == pytest.approx(want[key], rel=1e-6, abs=1e-9), (outcome, key)
        for key in ("estimate", "ci_lb", "ci_ub"):
            assert fit["back"][key] == pytest.approx(want["back"][key], rel=1e-6), (outcome, key)
    # sensitivity: MH/Peto left out and zero cells not applicable, said so
    index = json.loads((res / "sensitivity" / "tb_or" / "index.json").read_text("utf-8"))
    notes = {a["id"]: " ".join(a["notes"]) for a in index["analyses"]}
    assert "Not applicable" in notes["zero-cells"]
    assert "pool 2x2 event counts" in notes["models"]
    variants = json.loads((res / "sensitivity" / "tb_or" / "models.json").read_text("utf-8"))
    assert all(v["error"] is None for v in variants["variants"])
    bias = (res / "bias" / "los_md.json").read_text("utf-8")
    assert "Peters' test is for binary outcomes" in bias
    assert "Mean (SD)" in (res / "forest" / "los_md.svg").read_text("utf-8")
    table = (res / "extraction" / "by_outcome" / "tb_or.csv").read_text("utf-8")
    assert table.splitlines()[0].startswith("study,outcome,measure,yi,sei,vi,")
    report = (res / "report.html").read_text("utf-8")
    assert "generic inverse-variance method" in report
    assert "Hedges&#39; g" in report or "Hedges' g" in report
