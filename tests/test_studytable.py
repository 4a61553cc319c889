"""The manuscript's study tables (metareview.present.studytable) and the footnote marks of
the summary of findings (metareview.stages.sof)."""

from __future__ import annotations

from metareview.present.studytable import (
    not_contributing,
    participants_by_study,
    reference_link,
    study_characteristics,
)
from metareview.stages.sof import letters, mark_footnotes


def test_reference_links():
    assert reference_link("10.1056/NEJMoa1411587") == (
        "doi:10.1056/NEJMoa1411587",
        "https://doi.org/10.1056/NEJMoa1411587",
    )
    assert reference_link("https://doi.org/10.1/x")[1] == "https://doi.org/10.1/x"
    assert reference_link("https://example.org/trial") == (
        "https://example.org/trial",
        "https://example.org/trial",
    )
    assert reference_link("Berkhemer 2015, NEJM") == ("Berkhemer 2015, NEJM", None)
    assert reference_link("") == ("–", None)
    assert reference_link("javascript:alert(1)") == ("javascript:alert(1)", None)


STUDIES = [
    {"study_id": "A", "label": "Trial A", "year": "2015", "design": "rct", "reference": ""},
    {"study_id": "B", "label": "", "year": "2016", "design": "rct", "reference": ""},
    {"study_id": "C", "label": "Trial C", "year": "2017", "design": "rct", "reference": ""},
    {"study_id": "D", "label": "Trial D", "year": "2018", "design": "rct", "reference": ""},
    {"study_id": "E", "label": "Trial E", "year": "2019", "design": "rct", "reference": ""},
]


def test_studies_not_contributing_and_why():
    fit = {"studies": [{"study": "A", "excluded": None}, {"study": "E", "excluded": "no events"}]}
    warnings = [
        {"message": "study 'B' has outcome 'x' for arm 'evt' but not for arm 'control'; left out"},
        {"message": "study 'C' has no rows in extraction.csv; it contributes to no outcome"},
        {"message": "study 'D' has outcome 'y' for arm 'evt' but not for arm 'control'"},
    ]
    out = {m["study"]: m for m in not_contributing(STUDIES, fit, warnings, "x")}
    assert set(out) == {"B", "C", "D", "E"}
    assert out["B"]["label"] == "B" and "not for arm 'control'" in out["B"]["reason"]
    assert out["C"]["reason"] == "no rows in extraction.csv for any outcome"
    assert out["D"]["reason"] == "no data for this outcome in extraction.csv"  # other outcome
    assert out["E"]["reason"] == "left out of the analysis: no events"


def test_study_characteristics():
    effects = [
        {"study": "A", "outcome": "x", "measure": "OR", "n1i": "100", "n2i": "98"},
        {"study": "A", "outcome": "y", "measure": "OR", "n1i": "101", "n2i": "99"},
        {"study": "B", "outcome": "x", "measure": "OR", "n1i": "10", "n2i": ""},
    ]
    assert participants_by_study(effects) == {"A": 200}
    protocol = {"outcomes": [{"id": "x"}, {"id": "y"}], "subgroups": []}
    t = study_characteristics(protocol, STUDIES, effects, {"A": "Low risk"})
    assert t["rows"][0] == ["Trial A", "2015", "RCT", "200", "x, y", "Low risk", "–"]
    assert t["rows"][1][3] == "–" and t["rows"][2][-3] == "none"


def test_footnote_letters_are_shared_between_rows():
    assert [letters(i) for i in (0, 25, 26, 27)] == ["a", "z", "aa", "ab"]
    rows = [
        {"notes": [{"where": "certainty", "text": "RoB"}, {"where": "outcome", "text": "one"}]},
        {"notes": [{"where": "certainty", "text": "RoB"}, {"where": "certainty", "text": "I2"}]},
    ]
    notes = mark_footnotes(rows)
    assert notes == [
        {"mark": "a", "text": "RoB"},
        {"mark": "b", "text": "one"},
        {"mark": "c", "text": "I2"},
    ]
    assert rows[0]["marks"] == {"certainty": ["a"], "outcome": ["b"]}
    assert rows[1]["marks"] == {"certainty": ["a", "c"]}
