"""How the protocol's sensitivity plan becomes analyses: the alternative models listed
(``<estimator>+knha``), MH/Peto rows under metafor's defaults in both comparison tables,
and the order of a cumulative meta-analysis (``order_by``, ties in data order).

The statistics themselves are compared with metafor in test_sensitivity.py and
test_reference.py; these tests check which analyses run, with which settings.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from metareview.engine import sensitivity as sens
from metareview.engine.pooling import Settings, pool
from metareview.errors import InputError
from metareview.inputs.protocol import check_against_studies
from metareview.stages.analyses import DEFAULT_MODEL_VARIANTS, model_variants, zero_cell_variants

REPO = Path(__file__).resolve().parents[1]
# Synthetic 2x2 tables (not trial data): one double-zero study, one single zero cell.
ROWS = [
    {"study": "A", "ai": 4, "n1i": 40, "ci": 1, "n2i": 41, "year": 2015},
    {"study": "B", "ai": 0, "n1i": 30, "ci": 0, "n2i": 31, "year": 2016},
    {"study": "C", "ai": 6, "n1i": 55, "ci": 0, "n2i": 50, "year": 2015},
    {"study": "D", "ai": 9, "n1i": 80, "ci": 5, "n2i": 82, "year": 2014},
    {"study": "E", "ai": 3, "n1i": 25, "ci": 2, "n2i": 27, "year": 2015},
]
# as a protocol with `defaults: {add: 0.5, to: only0, drop00: false}` gives them
AS_WRITTEN = Settings(measure="OR", method="REML", test="z", add=0.5, to="only0", drop00=False)


def test_listed_models_only_with_knha_where_asked():
    variants = model_variants(AS_WRITTEN, ["FE", "PETO", "REML", "REML+knha", "PM+knha"])
    assert [(label, s.method, s.test) for label, s in variants] == [
        ("Fixed effect (inverse variance)", "FE", "z"),
        ("Peto (fixed effect)", "PETO", "z"),
        ("Random effects, REML", "REML", "z"),
        ("Random effects, REML, Knapp-Hartung", "REML", "knha"),
        ("Random effects, Paule-Mandel, Knapp-Hartung", "PM", "knha"),
    ]


def test_default_models_follow_the_measure():
    two_arm = [(s.method, s.test) for _, s in model_variants(AS_WRITTEN, DEFAULT_MODEL_VARIANTS)]
    assert two_arm == [
        ("FE", "z"),
        ("MH", "z"),
        ("PETO", "z"),
        ("DL", "z"),
        ("REML", "z"),
        ("REML", "knha"),
    ]
    rr = [s.method for _, s in model_variants(Settings(measure="RR"), DEFAULT_MODEL_VARIANTS)]
    assert rr == ["FE", "MH", "DL", "REML", "REML"]
    props = [s.method for _, s in model_variants(Settings(measure="PLO"), DEFAULT_MODEL_VARIANTS)]
    assert props == ["FE", "DL", "REML", "REML"]


@pytest.mark.parametrize("method", ["MH", "PETO"])
def test_mh_and_peto_rows_agree_between_the_two_tables(method):
    """The protocol's drop00: false is for its inverse-variance model; MH and Peto rows get
    metafor's rma.mh / rma.peto defaults (drop00 TRUE) in both tables, so the same model
    shows the same Q and I2 in both."""
    (models,) = [s for _, s in model_variants(AS_WRITTEN, [method])]
    zero = {s.method: s for _, s in zero_cell_variants(AS_WRITTEN) if s.method in ("MH", "PETO")}
    assert models.resolved().drop00 is True
    if method == "PETO":
        assert models.resolved() == zero["PETO"].resolved()
    a, b = pool(ROWS, models).to_dict(), pool(ROWS, zero[method]).to_dict()
    assert a["k"] == b["k"] == 5
    if method == "PETO":
        assert a == b
    else:  # MH: the zero-cell row is the uncorrected one; the pooled estimate is the same
        assert a["estimate"] == pytest.approx(b["estimate"], rel=1e-12)


def test_zero_cell_row_without_correction_says_what_it_leaves_out():
    labels = [label for label, _ in zero_cell_variants(AS_WRITTEN)]
    (uncorrected,) = [lab for lab in labels if lab.startswith("No correction")]
    assert "zero cell" in uncorrected and "left out" in uncorrected
    (s,) = [s for lab, s in zero_cell_variants(AS_WRITTEN) if lab == uncorrected]
    fit = pool(ROWS, s).to_dict()
    assert fit["k"] == 3  # B (double zero) and C (single zero cell) are not estimable


def test_cumulative_by_year_keeps_data_order_within_a_year():
    s = AS_WRITTEN.resolved()
    from metareview.engine.pooling import effect_sizes

    es = effect_sizes(ROWS, s)
    ids = [r["study"] for r in ROWS]
    res = sens.cumulative(
        es, ids, order=sens.order_keys(ROWS, ["year"]), method="REML", add=0.5, to="only0"
    )
    # 2014: D; 2015: A, C, E in the order of the table (metafor's cumul(order = year))
    assert res.order == ["D", "A", "C", "E", "B"]


def test_order_by_column_must_exist(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "sensitivity:\n  - id: cumulative\n    kind: cumulative\n    order_by: [year, month]\n"
    )
    protocol = {
        "sensitivity": [{"id": "cumulative", "kind": "cumulative", "order_by": ["year", "month"]}]
    }
    studies = SimpleNamespace(file="studies.csv", columns=["study_id", "year"])
    with pytest.raises(InputError) as exc:
        check_against_studies(protocol, path, studies)
    text = str(exc.value)
    assert "line 4" in text and "order_by[1]" in text and "'month'" in text


@pytest.mark.parametrize("method", ["FE", "REML", "MH"])
def test_numeric_subgroup_codes_are_categories(method):
    """A subgroup column coded 1/2/3 is factor(g) (df = levels - 1), as metafor's
    rma(mods = ~ factor(g)); the same grouping coded a/b/c gives the same test."""
    from metareview.engine.pooling import pool_subgroups

    codes = {"A": "1", "B": "2", "C": "3", "D": "1", "E": "2", "F": "3"}
    rows = ROWS + [{"study": "F", "ai": 7, "n1i": 60, "ci": 3, "n2i": 58, "year": 2017}]
    numeric = [{**r, "g": codes[r["study"]]} for r in rows]
    letters = [{**r, "g": "abc"[int(codes[r["study"]]) - 1]} for r in rows]
    s = Settings(measure="OR", method=method)
    a, b = pool_subgroups(numeric, s, "g"), pool_subgroups(letters, s, "g")
    for key in ("test_between_fe", "test_between_re"):
        if a.get(key) is None:
            continue
        assert a[key]["df"] == 2
        assert a[key]["q"] == pytest.approx(b[key]["q"], rel=1e-12)


def _check_filter(tmp_path, text):
    from metareview.inputs.tables import load_studies

    path = tmp_path / "p.yaml"
    path.write_text(f"sensitivity:\n  - id: excl\n    kind: exclude\n    filter: {text}\n")
    protocol = {"sensitivity": [{"id": "excl", "kind": "exclude", "filter": text}]}
    studies = load_studies(REPO / "data" / "raw" / "evt-vs-medical-rcts" / "studies.csv")
    check_against_studies(protocol, path, studies)


@pytest.mark.parametrize(
    "text, hint",
    [("region == Eruope", "did you mean 'Europe'?"), ("design == cohort", "rct, observational")],
)
def test_filter_typos_are_errors_at_the_protocol_line(tmp_path, text, hint):
    with pytest.raises(InputError) as exc:
        _check_filter(tmp_path, text)
    assert "line 4" in str(exc.value) and "sensitivity[0].filter" in str(exc.value)
    assert hint in str(exc.value)


@pytest.mark.parametrize(
    "text", ["design == RCT", "category == Basilar", "rob_overall == high", "region == Antarctica"]
)
def test_filters_read_values_as_studies_csv_does(tmp_path, text):
    _check_filter(tmp_path, text)  # no error: case folded; a value planned before the data


def test_filter_matching_folds_case_and_choice_spelling():
    from metareview.inputs.protocol import parse_filter

    assert parse_filter("design == RCT").matches({"design": "rct"})
    assert parse_filter("rob_overall == Some concerns").matches({"rob_overall": "some"})
    assert parse_filter("region != europe").matches({"region": "Asia"})
    assert not parse_filter("region != europe").matches({"region": "Europe"})


def test_pooling_nothing_says_so():
    from metareview.errors import AnalysisError

    with pytest.raises(AnalysisError, match="no study to pool"):
        pool([], AS_WRITTEN)


def test_cumulative_says_which_studies_have_no_year(tmp_path):
    """The bundled evt mRS 0-2 data with MR CLEAN's year blanked: that study is added
    last and the analysis says so (it was put last silently)."""
    import json

    from metareview.inputs.protocol import analysis_plan, load_protocol, outcome_settings
    from metareview.inputs.review import ReviewInputs
    from metareview.stages.analyses import run_sensitivity
    from metareview.stages.common import OutcomeContext
    from metareview.stages.pool import extract_outcome

    review = "evt-vs-medical-rcts"
    protocol_path = REPO / "config" / "reviews" / f"{review}.yaml"
    raw = REPO / "data" / "raw" / review
    studies = tmp_path / "studies.csv"
    lines = (raw / "studies.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\r\n").split(",")
    assert header[:1] == ["study_id"] and lines[1].startswith("MR-CLEAN,")
    cells = lines[1].rstrip("\r\n").split(",")
    cells[header.index("year")] = ""
    studies.write_text("".join([lines[0], ",".join(cells) + "\n", *lines[2:]]), encoding="utf-8")
    table = tmp_path / "mrs02.csv"
    inputs = ReviewInputs.load(protocol_path, studies, raw / "extraction.csv")
    extract_outcome(inputs, "mrs02", table)
    protocol = load_protocol(protocol_path)
    plan = analysis_plan(protocol, "mrs02")
    plan = {**plan, "sensitivity": [s for s in plan["sensitivity"] if s["kind"] == "cumulative"]}
    out = tmp_path / "results" / review / "sensitivity" / "mrs02"
    settings = dict(outcome_settings(protocol, "mrs02"))
    ctx = OutcomeContext.load(protocol, "mrs02", settings, table)
    main = {"pooled": True, "estimate": 0.0}  # cumulative refits; the main fit is not read
    run_sensitivity(ctx, plan, out, tmp_path / "results" / review, main)
    (analysis,) = json.loads((out / "index.json").read_text())["analyses"]
    assert analysis["notes"] == [
        "Added last, in the order of studies.csv (no value in year): MR CLEAN."
    ]
    assert json.loads((out / "cumulative.json").read_text())["steps"][-1]["study"] == "MR-CLEAN"
