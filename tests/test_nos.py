"""The Newcastle-Ottawa Scale: a star-count tool beside the judgement tools (RoB 2).

EVERY NOS RATING IN THIS FILE AND IN tests/data/nos_review IS SYNTHETIC: made up to exercise
the AHRQ conversion, the validation and the figures; the study ids are fictitious
("Synth-..."). No bundled review has NOS ratings (the last tests guard that).

The expected AHRQ ratings come from the published wording of the conversion (quoted in
metareview/rob_tools/nos.yaml; checked against the footnote of Table 4 of
https://pmc.ncbi.nlm.nih.gov/articles/PMC9292924/table/clr13860-tbl-0004), transcribed in
``published_ahrq`` below and in the boundary table, not from the package's rules.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import shutil
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import fresh_copy, run_pipeline

from metareview.errors import InputError, InputErrors
from metareview.inputs.rob import load_tool, read_assessments, summary
from metareview.inputs.tables import load_studies
from metareview.plots import save_figure
from metareview.plots.forest import draw_forest
from metareview.plots.rob import draw_summary_bar, draw_traffic_light

HERE = Path(__file__).parent
REPO = HERE.parent
REVIEW = HERE / "data" / "nos_review"
SVG_NS = "{http://www.w3.org/2000/svg}"


def published_ahrq(selection: int, comparability: int, outcome: int) -> str | None:
    """The AHRQ thresholds as published (AND for good and fair, OR for poor)."""
    if selection in (3, 4) and comparability in (1, 2) and outcome in (2, 3):
        return "good"
    if selection == 2 and comparability in (1, 2) and outcome in (2, 3):
        return "fair"
    if selection in (0, 1) or comparability == 0 or outcome in (0, 1):
        return "poor"
    return None


# every boundary of the published thresholds: (selection, comparability, outcome) -> rating
BOUNDARIES = [
    ((4, 2, 3), "good"),  # every domain at its maximum
    ((3, 1, 2), "good"),  # the least stars that are still good
    ((3, 2, 2), "good"),
    ((4, 1, 3), "good"),
    ((2, 1, 2), "fair"),  # selection 2: fair at the least comparability and outcome
    ((2, 2, 3), "fair"),
    ((1, 2, 3), "poor"),  # selection 1 with every other domain at its maximum
    ((0, 2, 3), "poor"),
    ((4, 0, 3), "poor"),  # comparability 0
    ((2, 0, 2), "poor"),
    ((4, 2, 1), "poor"),  # outcome 1
    ((4, 2, 0), "poor"),
    ((2, 1, 1), "poor"),
    ((0, 0, 0), "poor"),
]


def _rows(stars: dict[str, tuple]) -> list[dict[str, str]]:
    return [
        {
            "study_id": sid,
            "nos_selection": str(s),
            "nos_comparability": str(c),
            "nos_outcome": str(o),
        }
        for sid, (s, c, o) in stars.items()
    ]


# --------------------------------------------------------------------------- the tool


def test_nos_template_is_a_star_tool():
    tool = load_tool("nos")
    assert tool.kind == "stars" and tool.id == "nos" and load_tool("NOS") == tool
    assert [(d.id, d.max, len(d.items)) for d in tool.domains] == [
        ("selection", 4, 4),
        ("comparability", 2, 1),
        ("outcome", 3, 3),
    ]
    assert tool.max_total == 9
    assert [j.id for j in tool.judgements] == ["good", "fair", "poor"]
    assert "AHRQ" in tool.rating_citation and "OR" in tool.rating_citation
    assert tool.rating_url.startswith("https://")
    cc = load_tool("nos_case_control")
    assert [d.id for d in cc.domains] == ["selection", "comparability", "exposure"]
    assert load_tool("rob2").kind == "judgements" and load_tool("rob2").heading == "Risk of bias"


@pytest.mark.parametrize(("stars", "rating"), BOUNDARIES)
def test_ahrq_conversion_at_every_boundary(stars, rating):
    assert published_ahrq(*stars) == rating  # the boundary table agrees with the wording
    table = read_assessments(_rows({"Synth-x": stars}), "nos")
    assert table.studies[0].judgements["overall"] == rating
    cc = read_assessments(
        [
            {
                "study_id": "Synth-cc",
                "nos_selection": str(stars[0]),
                "nos_comparability": str(stars[1]),
                "nos_exposure": str(stars[2]),
            }
        ],
        "nos_case_control",
    )
    assert cc.studies[0].judgements["overall"] == rating


def test_ahrq_conversion_every_combination():
    combos = list(itertools.product(range(5), range(3), range(4)))
    stars = {f"Synth-{s}{c}{o}": (s, c, o) for s, c, o in combos}
    table = read_assessments(_rows(stars), "nos")
    for study in table:
        s, c, o = stars[study.study_id]
        assert study.judgements["overall"] == published_ahrq(s, c, o), study.study_id
        assert table.total(study) == s + c + o


def test_rules_must_give_one_rating_per_combination(tmp_path):
    text = (REPO / "metareview" / "rob_tools" / "nos.yaml").read_text(encoding="utf-8")
    # the misquoted poor rule ("plus" instead of "or") leaves combinations unrated
    bad = tmp_path / "nos_and.yaml"
    bad.write_text(text.replace("      any: {selection: [0, 1]", "      all: {selection: [0, 1]"))
    with pytest.raises(InputError) as exc:
        load_tool(bad)
    assert str(bad) in str(exc.value) and "exactly one rating" in str(exc.value)
    assert "matches no rule" in str(exc.value)
    over = tmp_path / "nos_max.yaml"
    over.write_text(text.replace("all: {selection: [2],", "all: {selection: [2, 5],"))
    with pytest.raises(InputError, match="star count from 0 to 4"):
        load_tool(over)


# --------------------------------------------------------------------------- validation


def _studies(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "studies.csv"
    path.write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    return path


def _errors(exc) -> list[InputError]:
    return list(exc.errors) if isinstance(exc, InputErrors) else [exc]


def test_bad_stars_name_file_row_and_column(tmp_path):
    path = _studies(
        tmp_path,
        """
        study_id,design,nos_selection,nos_comparability,nos_outcome,nos_s1,nos_s2,nos_s3,nos_s4
        Synth-1,observational,5,1,2,,,,
        Synth-2,observational,***,1,2,,,,
        Synth-3,observational,3,1.5,2,,,,
        Synth-4,observational,3,1,-1,,,,
        Synth-5,observational,,1,2,1,1,,1
        Synth-6,observational,4,1,2,1,1,1,0
        Synth-7,observational,2,1,2,,,,
        """,
    )
    studies = load_studies(path)
    with pytest.raises((InputError, InputErrors)) as info:
        read_assessments(studies, "nos", path=path)
    got = {(e.row, e.column): e.message for e in _errors(info.value)}
    assert all(e.file == str(path) for e in _errors(info.value))
    assert set(got) == {
        (2, "nos_selection"),
        (3, "nos_selection"),
        (4, "nos_comparability"),
        (5, "nos_outcome"),
        (6, "nos_s3"),
        (7, "nos_selection"),
    }
    assert "at most 4" in got[(2, "nos_selection")]
    assert "number of stars: 3" in got[(3, "nos_selection")]  # '***' -> write 3
    assert "whole number from 0 to 2" in got[(4, "nos_comparability")]
    assert "whole number from 0 to 3" in got[(5, "nos_outcome")]
    assert "nos_s1, nos_s2, nos_s4" in got[(6, "nos_s3")]
    assert "4 stars" in got[(7, "nos_selection")] and "add up to 3" in got[(7, "nos_selection")]


def test_misspelt_column_and_not_rated(tmp_path):
    path = _studies(
        tmp_path,
        """
        study_id,design,nos_selectoin,nos_comparability,nos_outcome
        Synth-1,observational,3,1,2
        """,
    )
    with pytest.raises(InputError) as exc:
        read_assessments(load_studies(path), "nos", path=path)
    assert (exc.value.row, exc.value.column) == (1, "nos_selectoin")
    assert "did you mean 'nos_selection'" in exc.value.message
    # absent columns and empty cells: not rated; some domains only: no rating
    table = read_assessments(
        [
            {"study_id": "Synth-1"},
            {"study_id": "Synth-2", "nos_selection": "1", "nos_outcome": ""},
        ],
        "nos",
    )
    assert [s.assessed for s in table] == [False, True]
    assert table.studies[1].judgements["overall"] is None  # comparability not rated
    assert table.cell_text(table.studies[1], table.tool.domains[0]) == "1 of 4"


def test_pipeline_rejects_bad_stars(tmp_path):
    from metareview.inputs.review import ReviewInputs

    raw = REVIEW / "data" / "raw" / "nos-test"
    studies = tmp_path / "studies.csv"
    text = (raw / "studies.csv").read_text(encoding="utf-8")
    studies.write_text(
        text.replace(
            "Synth-4,Synthetic cohort 4,,observational,2,2,3",
            "Synth-4,Synthetic cohort 4,,observational,2,3,3",
        )
    )
    with pytest.raises(InputError) as exc:
        ReviewInputs.load(
            REVIEW / "config" / "reviews" / "nos-test.yaml", studies, raw / "extraction.csv"
        )
    assert (exc.value.file, exc.value.row, exc.value.column) == (
        str(studies),
        5,
        "nos_comparability",
    )


# --------------------------------------------------------------------------- figures


def _synthetic_table():
    rows = list(csv.DictReader((REVIEW / "data" / "raw" / "nos-test" / "studies.csv").open()))
    return read_assessments(rows, "nos")


def _render(fig, tmp_path, name):
    svg, png = tmp_path / f"{name}.svg", tmp_path / f"{name}.png"
    save_figure(fig, svg_path=svg, png_path=png)
    return svg, png


def _texts(svg: Path) -> list[str]:
    root = ET.parse(svg).getroot()
    return ["".join(t.itertext()) for t in root.iter(f"{SVG_NS}text")]


def _ids(svg: Path) -> list[str]:
    return [e.get("id") for e in ET.parse(svg).getroot().iter() if e.get("id")]


def test_summary_shares():
    s = summary(_synthetic_table())
    assert s["kind"] == "stars" and s["studies"] == 8
    by_id = {c["id"]: c for c in s["columns"]}
    assert by_id["selection"]["counts"] == {
        "0": 0,
        "1": 1,
        "2": 2,
        "3": 2,
        "4": 2,
        "not_assessed": 1,
    }
    assert by_id["overall"]["counts"] == {"good": 2, "fair": 2, "poor": 3, "not_assessed": 1}
    w = summary(_synthetic_table(), {"Synth-1": 3.0, "Synth-5": 1.0})
    assert w["columns"][-1]["proportions"]["good"] == pytest.approx(0.75)


def test_traffic_light_and_summary_figures(tmp_path):
    from test_forest import _no_overlapping_texts, _texts_inside_figure

    table = _synthetic_table()
    fig = draw_traffic_light(table, title="Study quality (NOS, synthetic ratings)")
    svg, png = _render(fig, tmp_path, "tl")
    cells = [i for i in _ids(svg) if re.fullmatch(r"rob-cell-\d+-\d+", i)]
    assert len(set(cells)) == 8 * 4
    texts = _texts(svg)
    assert "\u2605\u2605\u2605\u2606" in texts  # Synth-2: 3 of 4 selection stars
    assert "\u2606\u2606" in texts  # Synth-6: no comparability star
    assert {"Good", "Fair", "Poor", "Not rated", "AHRQ standard"} <= set(texts)
    assert "Selection (max. 4 stars)" in texts and "Study quality domains" in texts
    assert _no_overlapping_texts(fig) and _texts_inside_figure(fig)
    svg2, png2 = _render(
        draw_traffic_light(table, title="Study quality (NOS, synthetic ratings)"), tmp_path, "tl2"
    )
    assert svg2.read_bytes() == svg.read_bytes() and png2.read_bytes() == png.read_bytes()

    fig = draw_summary_bar(table, title="Study quality (synthetic ratings)")
    svg, _ = _render(fig, tmp_path, "bar")
    bars = {i for i in _ids(svg) if i.startswith("rob-bar-")}
    assert bars == {f"rob-bar-{c}" for c in ("selection", "comparability", "outcome", "overall")}
    texts = _texts(svg)
    assert {"Stars:", "AHRQ standard:", "4 stars", "1 star", "0 stars", "Good", "Poor"} <= set(
        texts
    )
    assert "Selection (max. 4)" in texts and "38%" in texts  # 3 of 8 poor
    assert _no_overlapping_texts(fig) and _texts_inside_figure(fig)


def test_forest_columns_show_stars_and_rating(tmp_path):
    from test_forest import _no_overlapping_texts, _texts_inside_figure

    table = _synthetic_table()
    fit = {
        "measure": "OR",
        "k": 2,
        "estimate": 0.0,
        "ci_lb": -0.5,
        "ci_ub": 0.5,
        "back": {"estimate": 1.0, "ci_lb": 0.6, "ci_ub": 1.6},
        "studies": [
            {"study": "Synth-2", "ai": 6, "n1i": 306, "ci": 29, "n2i": 303}
            | {"yi": -1.6, "vi": 0.2, "weight": 50.0},
            {"study": "Synth-8", "ai": 505, "n1i": 88391, "ci": 499, "n2i": 88391}
            | {"yi": 0.01, "vi": 0.004, "weight": 50.0},
        ],
        "model": "RE",
        "method": "REML",
    }
    fig = draw_forest(
        fit,
        title="Forest with NOS columns (synthetic ratings)",
        intervention_label="Exposed",
        control_label="Unexposed",
        favours_left="exposed",
        favours_right="unexposed",
        rob=table,
    )
    svg, _ = _render(fig, tmp_path, "forest")
    ids = _ids(svg)
    assert {f"rob-forest-0-{c}" for c in range(4)} <= set(ids)
    texts = _texts(svg)
    assert "Study quality" in texts and "Study quality legend" in texts
    assert "\u2605\u2605\u2605\u2606" in texts and "\u2605\u2606" in texts  # Synth-2: S 3, C 1
    assert {"S", "C", "O", "AHRQ", "(S) Selection (max. 4 stars)", "Not rated"} <= set(texts)
    assert "Risk of bias" not in texts
    assert _no_overlapping_texts(fig) and _texts_inside_figure(fig)


# --------------------------------------------------------------------------- the pipeline


@pytest.mark.slow
def test_review_with_nos_ratings(tmp_path):
    work = fresh_copy(tmp_path / "work")
    shutil.copytree(REVIEW / "config" / "reviews", work / "config" / "reviews", dirs_exist_ok=True)
    shutil.copytree(REVIEW / "data" / "raw", work / "data" / "raw", dirs_exist_ok=True)
    (work / "config" / "config.yaml").write_text("reviews:\n  - nos-test\n", encoding="utf-8")
    run = run_pipeline(work)
    assert run.returncode == 0, run.stderr[-4000:]
    res = work / "results" / "nos-test"
    rows = list(csv.DictReader((res / "rob" / "assessments.csv").open(encoding="utf-8")))
    assert [(r["study_id"], r["total"], r["rating"]) for r in rows] == [
        ("Synth-1", "9", "good"),
        ("Synth-2", "6", "good"),
        ("Synth-3", "5", "fair"),
        ("Synth-4", "7", "fair"),
        ("Synth-5", "6", "poor"),
        ("Synth-6", "7", "poor"),
        ("Synth-7", "5", "poor"),  # rated per item: 3 + 1 + 1
        ("Synth-8", "", ""),
    ]
    assert rows[6]["s4"] == "0" and rows[6]["o2"] == "0"
    for name in ("traffic_light", "summary", "summary_weighted_tb"):
        assert (res / "rob" / f"{name}.svg").is_file() and (res / "rob" / f"{name}.png").is_file()
    forest = _texts(res / "forest" / "tb.svg")
    assert "Study quality" in forest and "\u2605\u2605\u2605\u2605" in forest
    index = json.loads((res / "rob" / "index.json").read_text(encoding="utf-8"))
    assert index["title"] == "Study quality (NOS)"
    report = (res / "report.html").read_text(encoding="utf-8")
    assert "Study quality (NOS)" in report and "AHRQ standard" in report
    assert "Not yet rated: Synthetic cohort 8." in report
    assert "Study quality was rated with the Newcastle-Ottawa Scale for cohort studies" in report
    assert "Study quality (overall)" in report


# --------------------------------------------------------------------------- bundled reviews


def test_rescue_stenting_declares_nos_without_ratings():
    """Guard: no NOS star may be invented for the bundled cohorts (none is on file)."""
    from metareview.inputs.protocol import load_protocol
    from metareview.present.methods import methods_paragraph

    protocol = load_protocol(REPO / "config" / "reviews" / "rescue-stenting.yaml")
    assert protocol["risk_of_bias"]["tool"] == "nos"
    path = REPO / "data" / "raw" / "rescue-stenting" / "studies.csv"
    studies = load_studies(path)
    assert not [c for c in studies.columns if c.startswith("nos_")]
    table = read_assessments(studies, "nos", path=path)
    assert len(table) == len(studies) and not any(s.assessed for s in table)
    text = str(methods_paragraph(protocol, rob_recorded=False))
    assert "Newcastle-Ottawa Scale for cohort studies (NOS)" in text
    assert "not yet rated" in text
