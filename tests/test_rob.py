"""Risk of bias: tool templates, reading judgements, summaries and the robvis-style figures.

EVERY JUDGEMENT IN THIS FILE IS SYNTHETIC. The bundled reviews have no sourced risk-of-bias
assessments (their ``rob_overall`` column is empty, see the last test) and none may be
invented; the made-up judgements below only exercise the code and the figure layout. Their
study ids are deliberately fictitious ("Synthetic trial ...").
"""

from __future__ import annotations

import json
import re
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from metareview.errors import InputError, InputErrors
from metareview.inputs.rob import (
    NOT_ASSESSED,
    RobTable,
    available_tools,
    load_tool,
    read_assessments,
    summary,
)
from metareview.inputs.tables import STUDY_OPTIONAL, STUDY_REQUIRED, load_studies, read_csv_table
from metareview.plots import save_figure
from metareview.plots.rob import draw_summary_bar, draw_traffic_light

REPO = Path(__file__).resolve().parents[1]
SVG_NS = "{http://www.w3.org/2000/svg}"

ROB2_COLS = ["rob_d1", "rob_d2", "rob_d3", "rob_d4", "rob_d5", "rob_overall"]

# SYNTHETIC judgements (not from any publication): study id -> d1..d5, overall
SYNTHETIC_ROB2 = {
    "Synthetic trial A": ["low", "some concerns", "low", "High", "low", "high"],
    "Synthetic trial B": ["low", "low", "", "low", "Some", "some"],
    "Synthetic trial C": ["Low risk", "low", "low", "low", "low", "low"],
    "Synthetic trial D": ["some", "low", "low", "low", "high", "high"],
}


def synthetic_rows(data=SYNTHETIC_ROB2, cols=ROB2_COLS):
    return [
        {
            "study_id": sid,
            "label": sid.replace("Synthetic trial", "Synth."),
            **dict(zip(cols, v, strict=True)),
        }
        for sid, v in data.items()
    ]


def write_csv(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def svg_ids(svg: Path) -> list[str]:
    root = ET.parse(svg).getroot()
    return [e.get("id") for e in root.iter() if e.get("id")]


def svg_texts(svg: Path) -> list[str]:
    root = ET.parse(svg).getroot()
    return ["".join(t.itertext()) for t in root.iter(f"{SVG_NS}text")]


# --------------------------------------------------------------------------- templates


def test_rob2_template():
    tool = load_tool("rob2")
    assert tool.id == "rob2" and tool.name == "RoB 2"
    assert "Sterne" in tool.citation and "2019" in tool.citation
    assert tool.doi == "10.1136/bmj.l4898"
    assert [d.column for d in tool.domains] == ROB2_COLS[:5]
    assert [d.short for d in tool.domains] == ["D1", "D2", "D3", "D4", "D5"]
    assert tool.domains[0].label == "Bias arising from the randomisation process"
    assert tool.domains[4].label == "Bias in selection of the reported result"
    assert tool.overall.column == "rob_overall" and tool.overall.tight == "O"
    assert [c.id for c in tool.columns] == ["d1", "d2", "d3", "d4", "d5", "overall"]
    assert [j.id for j in tool.judgements] == ["low", "some", "high"]
    assert [j.label for j in tool.judgements] == ["Low risk", "Some concerns", "High risk"]
    # robvis "cochrane" palette
    assert [j.colour for j in tool.judgements] == ["#02C100", "#E2DF07", "#BF0000"]
    assert [j.symbol for j in tool.judgements] == ["+", "\u2212", "\u00d7"]
    assert tool.severity == ("low", "some", "high")
    assert [j.rank for j in tool.judgements] == [0, 1, 2]


def test_robins_i_template():
    tool = load_tool("robins_i")
    assert tool.name == "ROBINS-I" and "2016" in tool.citation
    assert len(tool.domains) == 7
    assert [d.column for d in tool.domains] == [f"rob_d{i}" for i in range(1, 8)]
    assert tool.domains[0].label == "Bias due to confounding"
    assert tool.domains[6].label == "Bias in selection of the reported result"
    assert [j.id for j in tool.judgements] == ["low", "moderate", "serious", "critical", "ni"]
    assert tool.judgement("critical").colour == "#820000"
    assert tool.judgement("ni").colour == "#4EA1F7" and tool.judgement("ni").symbol == "?"
    assert tool.severity == ("low", "moderate", "serious", "critical")
    assert tool.judgement("ni").rank is None  # "no information" is not a severity grade


@pytest.mark.parametrize(
    "name,tool_id",
    [
        ("rob2", "rob2"),
        ("RoB 2", "rob2"),
        ("ROB2", "rob2"),
        ("ROBINS-I", "robins_i"),
        ("robins_i", "robins_i"),
        ("robins-i", "robins_i"),
    ],
)
def test_tool_names(name, tool_id):
    assert load_tool(name).id == tool_id


def test_shipped_templates_and_unknown_name():
    assert set(available_tools()) >= {"rob2", "robins_i"}
    with pytest.raises(InputError, match="unknown risk-of-bias tool 'rob9'"):
        load_tool("rob9")


def test_a_new_tool_is_a_new_file(tmp_path):
    """A revised tool needs a template file only, no code."""
    path = write_csv(
        tmp_path / "my_tool.yaml",
        """
        id: my_tool
        name: My tool
        citation: A made-up tool for this test.
        domains:
          - {id: sel, column: rob_selection, short: S, label: Selection bias}
          - {id: att, column: rob_attrition, short: A, label: Attrition bias}
        overall: {id: overall, column: rob_overall, short: Overall, label: Overall}
        judgements:
          - {id: good, label: Good, colour: "#00AA00", symbol: "+", aliases: [fine]}
          - {id: poor, label: Poor, colour: "#AA0000", symbol: "!"}
        severity: [good, poor]
        """,
    )
    tool = load_tool(path)
    assert tool.id == "my_tool" and tool.source == str(path)
    rows = [{"study_id": "X", "rob_selection": "Fine", "rob_attrition": "", "rob_overall": "poor"}]
    table = read_assessments(rows, path)
    assert table.studies[0].judgements == {"sel": "good", "att": None, "overall": "poor"}
    assert load_tool(str(path)).columns[1].column == "rob_attrition"


def test_bad_template_names_file_line_and_key(tmp_path):
    path = write_csv(
        tmp_path / "bad.yaml",
        """
        id: bad
        name: Bad
        citation: x
        domains:
          - {id: d1, column: rob_d1, short: D1, label: One}
        overall: {id: overall, column: rob_overall, short: Overall, label: Overall}
        judgements:
          - {id: low, label: Low, colour: "#00AA00", symbol: "+"}
          - {id: high, label: High, colour: red, symbol: "x", aliases: [low]}
        severity: [low, high, worst]
        """,
    )
    with pytest.raises(InputErrors) as info:
        load_tool(path)
    errors = {e.column: e for e in info.value.errors}
    assert errors["judgements[1].colour"].row == 9
    assert "'#RRGGBB'" in errors["judgements[1].colour"].message
    assert "would name both 'low' and 'high'" in errors["judgements[1]"].message
    assert errors["severity[2]"].file == str(path)
    assert errors["severity[2]"].row == 10
    assert "'worst' is not a judgement id" in str(errors["severity[2]"])


def test_template_unknown_and_missing_keys(tmp_path):
    path = write_csv(tmp_path / "t.yaml", "id: t\nname: T\ncitaton: typo\n")
    with pytest.raises(InputErrors) as info:
        load_tool(path)
    text = str(info.value)
    assert "unknown key 'citaton'" in text and "line 3" in text
    assert "missing key 'citation'" in text and "missing key 'domains'" in text


# --------------------------------------------------------------------------- assessments


def test_aliases_and_case():
    tool = load_tool("rob2")
    for text in ("some", "Some concerns", "SOME CONCERNS", "some_concerns", "some-concerns"):
        assert tool.parse(text).id == "some", text
    for text in ("low", "Low risk", "low risk of bias", " LOW "):
        assert tool.parse(text).id == "low", text
    assert tool.parse("") is None and tool.parse("   ") is None
    assert tool.parse("unclear") is None
    robins = load_tool("ROBINS-I")
    assert robins.parse("No information").id == "ni"
    assert robins.parse("Serious risk of bias").id == "serious"


def test_read_assessments_plain_rows():
    table = read_assessments(synthetic_rows(), "rob2")
    assert isinstance(table, RobTable) and len(table) == 4
    a, b = table.studies[0], table.studies[1]
    assert a.study_id == "Synthetic trial A" and a.label == "Synth. A" and a.row == 2
    assert a.judgements == {
        "d1": "low",
        "d2": "some",
        "d3": "low",
        "d4": "high",
        "d5": "low",
        "overall": "high",
    }
    assert b.judgements["d3"] is None  # empty cell = not assessed
    assert b.judgements["d5"] == "some" and b.row == 3
    assert table.judgement("Synthetic trial A", "d4").label == "High risk"
    assert table.judgement("Synthetic trial B", "d3") is None
    d = table.to_dict()
    assert json.loads(json.dumps(d)) == d  # JSON-ready
    assert d["tool"]["id"] == "rob2"
    assert [c["column"] for c in d["columns"]] == ROB2_COLS
    assert d["studies"][1]["judgements"]["d3"] is None
    assert [j["id"] for j in d["judgements"]] == ["low", "some", "high"]


def test_bad_judgement_names_file_row_and_column(tmp_path):
    # blank line 3 counts as a spreadsheet row, as metareview.inputs.tables counts
    path = write_csv(
        tmp_path / "studies.csv",
        """
        study_id,label,design,rob_d1,rob_d2,rob_d3,rob_d4,rob_d5,rob_overall
        S1,Synthetic 1,rct,low,low,low,low,low,low

        S2,Synthetic 2,rct,low,maybe,low,low,low,some
        """,
    )
    table = read_csv_table(path, STUDY_REQUIRED, STUDY_OPTIONAL)
    with pytest.raises(InputError) as info:
        read_assessments(table, "rob2")
    err = info.value
    assert (err.file, err.row, err.column) == (str(path), 4, "rob_d2")
    assert str(err).startswith(f"{path}, row 4, column 'rob_d2': 'maybe' is not a RoB 2 judgement")
    assert "'some' ('some concerns')" in str(err)
    # the same through load_studies (Study objects keep their rows)
    studies = load_studies(path)
    with pytest.raises(InputError) as info2:
        read_assessments(studies, "rob2", path=path)
    assert (info2.value.row, info2.value.column) == (4, "rob_d2")


def test_all_bad_cells_reported_at_once():
    rows = synthetic_rows()
    rows[0]["rob_d1"] = "lwo"
    rows[2]["rob_overall"] = "very high"
    with pytest.raises(InputErrors) as info:
        read_assessments(rows, "rob2", path="data/raw/x/studies.csv")
    found = [(e.file, e.row, e.column) for e in info.value.errors]
    assert found == [
        ("data/raw/x/studies.csv", 2, "rob_d1"),
        ("data/raw/x/studies.csv", 4, "rob_overall"),
    ]


def test_absent_column_is_not_assessed_and_duplicate_study(tmp_path):
    rows = synthetic_rows()
    for r in rows:
        del r["rob_d4"]
    table = read_assessments(rows, "rob2")
    assert all(s.judgements["d4"] is None for s in table.studies)
    assert table.studies[0].judgements["d1"] is not None
    # no risk-of-bias column at all: nothing assessed, no error
    bare = [{"study_id": r["study_id"], "label": r["label"]} for r in synthetic_rows()]
    assert not any(s.assessed for s in read_assessments(bare, "rob2"))
    # a misspelt tool column is named, not silently ignored
    rows = synthetic_rows()
    for r in rows:
        r["rob_D4"] = r.pop("rob_d4")
    with pytest.raises(InputError) as info:
        read_assessments(rows, "rob2")
    assert (info.value.row, info.value.column) == (1, "rob_D4")
    assert "did you mean 'rob_d4'" in info.value.message
    rows = synthetic_rows()
    rows[3]["study_id"] = rows[0]["study_id"]
    with pytest.raises(InputError, match="duplicate study_id 'Synthetic trial A': rows 2 and 5"):
        read_assessments(rows, "rob2")


# --------------------------------------------------------------------------- summary


def test_summary_proportions():
    s = summary(read_assessments(synthetic_rows(), "rob2"))
    assert s["tool"] == "rob2" and not s["weighted"] and s["studies"] == 4
    assert s["judgements"] == ["low", "some", "high", NOT_ASSESSED]
    cols = {c["id"]: c for c in s["columns"]}
    assert list(cols) == ["d1", "d2", "d3", "d4", "d5", "overall"]
    assert cols["d1"]["proportions"] == {"low": 0.75, "some": 0.25, "high": 0.0, NOT_ASSESSED: 0.0}
    assert cols["d3"]["proportions"][NOT_ASSESSED] == 0.25
    assert cols["d3"]["counts"] == {"low": 3, "some": 0, "high": 0, NOT_ASSESSED: 1}
    assert cols["overall"]["proportions"] == {
        "low": 0.25,
        "some": 0.25,
        "high": 0.5,
        NOT_ASSESSED: 0.0,
    }
    for c in s["columns"]:
        assert sum(c["proportions"].values()) == pytest.approx(1.0)


def test_weighted_summary():
    table = read_assessments(synthetic_rows(), "rob2")
    weights = {"Synthetic trial A": 10.0, "Synthetic trial B": 20.0, "Synthetic trial C": 70.0}
    s = summary(table, weights)  # trial D has no weight: not in the meta-analysis
    assert s["weighted"] and s["studies"] == 3 and s["total_weight"] == pytest.approx(100)
    assert s["unweighted"] == ["Synthetic trial D"]
    cols = {c["id"]: c for c in s["columns"]}
    assert cols["overall"]["proportions"]["high"] == pytest.approx(0.1)
    assert cols["overall"]["proportions"]["some"] == pytest.approx(0.2)
    assert cols["overall"]["proportions"]["low"] == pytest.approx(0.7)
    assert cols["d3"]["proportions"][NOT_ASSESSED] == pytest.approx(0.2)
    # a fit dictionary works as well: its studies carry the weights (percent)
    fit = {"studies": [{"study": k, "weight": v} for k, v in weights.items()]}
    fit["studies"].append({"study": "Synthetic trial D", "weight": None})
    assert summary(table, fit)["columns"] == s["columns"]
    with pytest.raises(ValueError, match=">= 0"):
        summary(table, {"Synthetic trial A": -1})
    with pytest.raises(ValueError, match="positive weight"):
        summary(table, {"Nobody": 1.0})


# --------------------------------------------------------------------------- figures


def _render(fig, tmp_path, name):
    svg, png = tmp_path / f"{name}.svg", tmp_path / f"{name}.png"
    save_figure(fig, svg_path=svg, png_path=png)
    return svg, png


def test_traffic_light_structure_and_bytes(tmp_path):
    table = read_assessments(synthetic_rows(), "rob2")
    fig = draw_traffic_light(table, title="Risk of bias (synthetic judgements)")
    svg, png = _render(fig, tmp_path, "tl")
    ids = svg_ids(svg)
    cells = [i for i in ids if re.fullmatch(r"rob-cell-\d+-\d+", i)]
    assert len(cells) == len(set(cells)) == 4 * 6  # studies x (domains + overall)
    assert {f"rob-cell-{r}-{c}" for r in range(4) for c in range(6)} == set(cells)
    texts = svg_texts(svg)
    for label in ("Synth. A", "Synth. B", "Synth. C", "Synth. D", "Overall", "D1", "D5"):
        assert label in texts, label
    assert "D1: Bias arising from the randomisation process" in texts
    assert {"Low risk", "Some concerns", "High risk", "Not assessed"} <= set(texts)
    assert "?" not in texts  # RoB 2 has no "no information" judgement
    raw = svg.read_text(encoding="utf-8")
    assert "#02c100" in raw.lower() and "#bf0000" in raw.lower()
    # deterministic: a second save and a second drawing give the same bytes
    svg2, png2 = _render(fig, tmp_path, "tl2")
    assert svg2.read_bytes() == svg.read_bytes() and png2.read_bytes() == png.read_bytes()
    svg3, _ = _render(
        draw_traffic_light(table, title="Risk of bias (synthetic judgements)"), tmp_path, "tl3"
    )
    assert svg3.read_bytes() == svg.read_bytes()
    from test_forest import _no_overlapping_texts, _texts_inside_figure

    assert _no_overlapping_texts(fig) and _texts_inside_figure(fig)


def test_traffic_light_robins_i_and_labels(tmp_path):
    data = {
        "Synthetic cohort 1": [
            "low",
            "moderate",
            "serious",
            "critical",
            "no information",
            "",
            "low",
            "critical",
        ],
        "Synthetic cohort 2": ["low"] * 8,
    }
    cols = [f"rob_d{i}" for i in range(1, 8)] + ["rob_overall"]
    table = read_assessments(synthetic_rows(data, cols), "robins_i")
    fig = draw_traffic_light(
        table, title="ROBINS-I", study_labels={"Synthetic cohort 1": "<b>Cohort</b> $x$"}
    )
    svg, _ = _render(fig, tmp_path, "tl7")
    cells = [i for i in svg_ids(svg) if i.startswith("rob-cell-")]
    assert len(cells) == 2 * 8
    texts = svg_texts(svg)
    assert "<b>Cohort</b> $x$" in texts  # printed literally
    assert "?" in texts and "!" in texts  # text symbols of "no information" and "critical"
    assert "D7: Bias in selection of the reported result" in texts


def test_summary_bar_structure_and_bytes(tmp_path):
    table = read_assessments(synthetic_rows(), "rob2")
    fig = draw_summary_bar(table, title="Risk of bias summary (synthetic judgements)")
    svg, png = _render(fig, tmp_path, "bar")
    root = ET.parse(svg).getroot()
    groups = {e.get("id"): e for e in root.iter() if (e.get("id") or "").startswith("rob-bar-")}
    assert set(groups) == {f"rob-bar-{c}" for c in ("d1", "d2", "d3", "d4", "d5", "overall")}
    s = summary(table)
    for c in s["columns"]:
        segments = groups[f"rob-bar-{c['id']}"].findall(f".//{SVG_NS}path")
        assert len(segments) == sum(1 for v in c["proportions"].values() if v > 0), c["id"]
    texts = svg_texts(svg)
    assert "Overall risk of bias" in texts and "Bias due to missing outcome data" in texts
    assert "75%" in texts and "50%" in texts and "Not assessed" in texts
    assert "Share of studies" in texts
    svg2, png2 = _render(fig, tmp_path, "bar2")
    assert svg2.read_bytes() == svg.read_bytes() and png2.read_bytes() == png.read_bytes()
    from test_forest import _no_overlapping_texts, _texts_inside_figure

    assert _no_overlapping_texts(fig) and _texts_inside_figure(fig)


def test_weighted_summary_bar(tmp_path):
    table = read_assessments(synthetic_rows(), "rob2")
    weights = {"Synthetic trial A": 10.0, "Synthetic trial B": 20.0, "Synthetic trial C": 70.0}
    svg, _ = _render(draw_summary_bar(table, title="Weighted", weights=weights), tmp_path, "w")
    texts = svg_texts(svg)
    assert "Share of studies, weighted by their meta-analysis weight" in texts
    assert "70%" in texts and "10%" in texts  # overall: low 70%, high 10%
    assert "Not assessed" in texts  # d3 of trial B (20% of the weight)


def test_bundled_reviews_have_no_risk_of_bias_judgements():
    """Guard: no judgement may be invented for the bundled trials (none were sourced)."""
    for review in ("evt-vs-medical-rcts", "dmvo-mt-vs-bmm"):
        path = REPO / "data" / "raw" / review / "studies.csv"
        if not path.exists():
            continue
        studies = load_studies(path)
        assert all(s.rob_overall is None for s in studies), review
        if all(c in studies.columns for c in ROB2_COLS):  # RoB 2 columns present: all empty
            table = read_assessments(studies, "rob2", path=path)
            assert len(table) == len(studies) and table.file == str(path)
            assert not any(s.assessed for s in table.studies), review
            s = summary(table)
            assert all(c["proportions"][NOT_ASSESSED] == 1.0 for c in s["columns"])
