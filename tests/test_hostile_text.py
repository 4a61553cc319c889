"""Issue 20: control and bidirectional characters, XLSX formulas without values and
inputs reached through symbolic links (cases the bad-input corpus, which holds regular
CSV and YAML files only, cannot express)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from metareview.errors import InputError
from metareview.inputs.screening.readers import read_screening
from metareview.inputs.tables import load_studies
from metareview.io import read_csv_dicts, write_csv
from metareview.plots.common import journal_style, new_figure, save_figure
from metareview.text import bidi_message, control_character, printable, xml_safe

HEADER = (
    "record_id,source,title,year,doi,duplicate_of,title_abstract,full_text,"
    "exclusion_reason,study_id\n"
)


def test_character_classes():
    assert control_character("a\x0cb") == "U+000C (form feed)"
    assert control_character("tab\tand\nnewline\r") is None
    assert control_character("\x85") == "U+0085 (control character)"
    assert printable("a\x00b\x1bc\td") == "a\ufffdb\ufffdc\td"
    assert xml_safe("a\x0c\x85") == "a\ufffd\x85"  # XML 1.0 allows C1
    assert "U+202E (RIGHT-TO-LEFT OVERRIDE)" in bidi_message("\u202eabc")
    assert bidi_message("plain text, or Arabic \u0627\u0644") is None


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
def test_svg_stays_well_formed_whatever_a_label_holds(tmp_path):
    """A control character that reaches a figure (drawn directly, past the readers) is
    written as U+FFFD: the SVG parses."""
    with journal_style():
        fig = new_figure(2, 1)
        fig.text(0.1, 0.5, "excluded:\x0cwrong\x01population\x1b")
    save_figure(fig, tmp_path / "f.svg")
    text = (tmp_path / "f.svg").read_text("utf-8")
    ET.fromstring(text)  # raises on an ill-formed document
    assert "excluded:\ufffdwrong\ufffdpopulation\ufffd" in text


def test_csv_writer_replaces_control_characters(tmp_path):
    write_csv(tmp_path / "x.csv", ["a\x07", "b"], [{"a\x07": "x\x0cy", "b": "=1+1\x0b"}])
    assert read_csv_dicts(tmp_path / "x.csv") == [{"a\ufffd": "x\ufffdy", "b": "=1+1\ufffd"}]


def test_screening_export_with_a_form_feed_is_refused_at_its_cell(tmp_path):
    path = tmp_path / "screening.csv"
    path.write_text(
        HEADER + "R1,MEDLINE,T,2020,,,include,exclude,wrong\x0cpopulation,\n", encoding="utf-8"
    )
    with pytest.raises(InputError) as info:
        read_screening(path)
    assert (info.value.row, info.value.column) == (2, "exclusion_reason")
    assert "U+000C (form feed)" in str(info.value)


def test_screening_export_with_bidi_controls_is_warned_about(tmp_path):
    path = tmp_path / "screening.csv"
    path.write_text(HEADER + "R1,MEDLINE,\u202eevil,2020,,,include,include,,A\n", encoding="utf-8")
    table = read_screening(path)
    (w,) = [w for w in table.warnings if "U+202E" in w.message]
    assert (w.row, w.column) == (2, "title")


def xlsx(path, rows):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)  # openpyxl stores formulas without their values


def test_xlsx_formulas_without_values_are_named(tmp_path):
    path = tmp_path / "screening.xlsx"
    head = HEADER.strip().split(",")
    rows = [head] + [
        [f"R{i}", "MEDLINE", f"T{i}", 2020, "", "", '=IF(TRUE,"include")', "=B2", "", f"S{i}"]
        for i in range(1, 5)
    ]
    xlsx(path, rows)
    with pytest.raises(InputError) as info:
        read_screening(path)
    text = str(info.value)
    assert (info.value.row, info.value.column) == (2, "title_abstract")
    assert "formulas without values: 8 cells" in text
    assert "open and save the file in Excel" in text


def test_xlsx_with_empty_cells_but_no_formulas_reads(tmp_path):
    path = tmp_path / "screening.xlsx"
    head = HEADER.strip().split(",")
    xlsx(path, [head, ["R1", "MEDLINE", "T", 2020, "", "", "include", "include", "", "A"]])
    assert len(read_screening(path).records) == 1


def test_a_data_file_linked_from_outside_the_repository_is_named(tmp_path, monkeypatch):
    repo, outside = tmp_path / "repo", tmp_path / "shared"
    repo.mkdir()
    outside.mkdir()
    (outside / "studies.csv").write_text("study_id,design\nA,rct\n")
    (repo / "studies.csv").symlink_to(outside / "studies.csv")
    (repo / "local.csv").write_text("study_id,design\nA,rct\n")
    (repo / "inside.csv").symlink_to(repo / "local.csv")
    monkeypatch.chdir(repo)
    (w,) = load_studies("studies.csv").warnings
    assert w.file == "studies.csv"
    assert f"is a symbolic link to {outside / 'studies.csv'}, outside the repository" in w.message
    assert load_studies("inside.csv").warnings == []  # a link within the repository
    assert load_studies("local.csv").warnings == []
