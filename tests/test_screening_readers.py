"""Screening readers: generic, Covidence, Rayyan, ASReview on realistic exports.

The fixtures in tests/data/screening/ are exports in the tools' own column layouts (with a
UTF-8 byte-order mark, CRLF line ends, quoted multi-line abstracts and non-ASCII titles
where the tools write them); all records are fictitious (DOIs use the 10.5555 test prefix).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import openpyxl
import pytest

from metareview.errors import InputError, InputErrors
from metareview.inputs.screening import detect_format, read_screening, summarise
from metareview.inputs.screening.readers import (
    ASREVIEW_LABELS,
    COVIDENCE_COLUMNS,
    RAYYAN_COLUMNS,
    rayyan_decision,
    read_table,
)

DATA = Path(__file__).parent / "data" / "screening"
COVIDENCE_LISTS = sorted(DATA.glob("review_900001_*_csv_*.csv"))


def errors_of(exc: InputError) -> list[InputError]:
    return exc.errors if isinstance(exc, InputErrors) else [exc]


def write_csv(path: Path, header, rows, *, bom=False, crlf=False) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n" if crlf else "\n")
    w.writerow(header)
    w.writerows(rows)
    data = buf.getvalue().encode("utf-8")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


GENERIC = ["record_id", "source", "title", "year", "doi", "duplicate_of", "title_abstract",
           "full_text", "exclusion_reason", "study_id"]  # fmt: skip


def generic(tmp_path, rows, header=GENERIC, name="screening.csv", **kw) -> Path:
    return write_csv(tmp_path / name, header, rows, **kw)


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    "name, expected",
    [
        ("generic_screening.csv", "generic"),
        ("covidence_combined.csv", "covidence"),
        ("review_900001_included_csv_20250301101520.csv", "covidence"),
        ("rayyan_export.csv", "rayyan"),
        ("rayyan_with_fulltext.csv", "rayyan"),
        ("asreview_v1_export.csv", "asreview"),
        ("asreview_v2_export.csv", "asreview"),
    ],
)
def test_format_detected_from_header(name, expected):
    assert detect_format(read_table(DATA / name).columns) == expected


def test_fixture_headers_are_the_tools_columns():
    assert read_table(COVIDENCE_LISTS[0]).columns == list(COVIDENCE_COLUMNS)
    assert read_table(DATA / "rayyan_export.csv").columns == list(RAYYAN_COLUMNS)
    assert "asreview_label" in read_table(DATA / "asreview_v2_export.csv").columns
    assert {"included", "asreview_ranking"} <= set(
        read_table(DATA / "asreview_v1_export.csv").columns
    )
    assert ASREVIEW_LABELS[0] == "asreview_label"


def test_unknown_format_names_the_file_and_the_formats(tmp_path):
    path = write_csv(tmp_path / "refs.csv", ["id", "name"], [["1", "x"]])
    with pytest.raises(InputError) as exc:
        read_screening(path)
    assert exc.value.file == str(path) and exc.value.row == 1
    for word in ("Covidence", "Rayyan", "ASReview", "record_id"):
        assert word in str(exc.value)


def test_semicolon_separated_file_gets_a_hint(tmp_path):
    path = tmp_path / "screening.csv"
    path.write_text("record_id;source;title_abstract\nR1;MEDLINE;include\n", encoding="utf-8")
    with pytest.raises(InputError, match="not comma-separated"):
        read_screening(path)


def test_explicit_format_overrides_detection(tmp_path):
    path = write_csv(tmp_path / "x.csv", ["key", "title", "notes"], [["k1", "T", ""]])
    assert read_screening(path, format="rayyan").format == "rayyan"
    with pytest.raises(InputError, match="missing column 'record_id'"):
        read_screening(path, format="generic")
    with pytest.raises(ValueError, match="unknown screening format"):
        read_screening(path, format="endnote")


# --------------------------------------------------------------------------- generic


def test_generic_fixture_bom_crlf_non_ascii():
    table = read_screening(DATA / "generic_screening.csv")
    assert table.format == "generic" and len(table) == 11
    by_id = table.by_id()
    assert table.records[0].record_id == "G01"  # BOM stripped from the first header cell
    assert by_id["G05"].title == "Étude fictive : thrombectomie, « distale »"
    assert by_id["G05"].notes == "multi-line\r\nnote" or by_id["G05"].notes == "multi-line\nnote"
    assert by_id["G06"].row == 7  # the multi-line cell of G05 is one spreadsheet row
    assert by_id["G04"].source_type == "register"  # ClinicalTrials.gov
    assert by_id["G09"].source_type == "register"  # WHO ICTRP
    assert by_id["G10"].source_type == "citation"
    assert by_id["G02"].duplicate_of == "G01" and by_id["G02"].duplicate_rule == "given"
    assert table.deduplicated  # the file has a duplicate_of column


def test_generic_accepts_synonyms_and_case(tmp_path):
    path = generic(
        tmp_path,
        [
            ["R1", "MEDLINE", "A", "2020", "", "", "Included", "Not retrieved", "", ""],
            ["R2", "MEDLINE", "B", "2020", "", "", "EXCLUDE", "", "", ""],
            ["R3", "MEDLINE", "C", "2020", "", "", "yes", "included", "", "S1"],
        ],
    )
    recs = read_screening(path).by_id()
    assert (recs["R1"].title_abstract, recs["R1"].full_text) == ("include", "not_retrieved")
    assert recs["R2"].title_abstract == "exclude"
    assert (recs["R3"].title_abstract, recs["R3"].full_text) == ("include", "include")


def test_generic_bad_values_name_row_and_column(tmp_path):
    path = generic(
        tmp_path,
        [
            ["R1", "MEDLINE", "A", "2020", "", "", "maybe", "", "", ""],
            ["R2", "MEDLINE", "B", "20x0", "", "", "include", "dropped", "", ""],
            ["R3", "", "C", "2020", "", "", "exclude", "", "", ""],
        ],
    )
    with pytest.raises(InputError) as exc:
        read_screening(path)
    found = {(e.row, e.column) for e in errors_of(exc.value)}
    assert found == {(2, "title_abstract"), (3, "year"), (3, "full_text"), (4, "source")}
    text = str(exc.value)
    assert "'maybe' is not a title_abstract value; use one of include, exclude" in text
    assert "not_retrieved" in text and str(path) in text


def test_generic_missing_required_column(tmp_path):
    path = write_csv(tmp_path / "s.csv", ["record_id", "title_abstract"], [["R1", "include"]])
    with pytest.raises(InputError) as exc:
        read_screening(path, format="generic")
    assert exc.value.row == 1 and exc.value.column == "source"


@pytest.mark.parametrize(
    "rows, message, row, column",
    [
        (
            [["R1", "MEDLINE", "A", "", "", "", "exclude", "", "", ""],
             ["R1", "Embase", "B", "", "", "", "exclude", "", "", ""]],
            "record_id 'R1' repeated (also row 2)", 3, "record_id",
        ),
        ([["", "MEDLINE", "A", "", "", "", "exclude", "", "", ""]],
         "record_id is empty", 2, "record_id"),
        (
            [["R1", "MEDLINE", "A", "", "", "R9", "", "", "", ""]],
            "duplicate_of 'R9' is not a record_id", 2, "duplicate_of",
        ),
        ([["R1", "MEDLINE", "A", "", "", "R1", "", "", "", ""]],
         "duplicate_of itself", 2, "duplicate_of"),
        (
            [["R1", "MEDLINE", "A", "", "", "R2", "", "", "", ""],
             ["R2", "MEDLINE", "A", "", "", "R1", "", "", "", ""]],
            "cycle", 2, "duplicate_of",
        ),
    ],
)  # fmt: skip
def test_generic_structural_errors(tmp_path, rows, message, row, column):
    with pytest.raises(InputError) as exc:
        read_screening(generic(tmp_path, rows))
    first = errors_of(exc.value)[0]
    assert message in str(exc.value)
    assert (first.row, first.column) == (row, column)


def test_duplicate_chains_point_at_the_kept_record(tmp_path):
    path = generic(
        tmp_path,
        [
            ["R1", "MEDLINE", "A", "", "", "", "exclude", "", "", ""],
            ["R2", "Embase", "A", "", "", "R1", "", "", "", ""],
            ["R3", "CENTRAL", "A", "", "", "R2", "", "", "", ""],
        ],
    )
    assert read_screening(path).by_id()["R3"].duplicate_of == "R1"


def test_unclosed_quote_is_located(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(
        'record_id,source,title_abstract\nR1,MEDLINE,include\nR2,"MEDLINE,exclude\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError) as exc:
        read_screening(path)
    assert exc.value.row == 3


def test_utf16_export_is_refused(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes("record_id,source,title_abstract\nR1,M,include\n".encode("utf-16"))
    with pytest.raises(InputError, match="UTF-16"):
        read_screening(path)


def test_empty_table(tmp_path):
    with pytest.raises(InputError, match="no records"):
        read_screening(generic(tmp_path, []))


def test_xlsx_generic(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(GENERIC)
    sheet.append(["R1", "MEDLINE", "Étude", 2020, None, None, "include", "include", None, "S1"])
    book.save(tmp_path / "screening.xlsx")
    table = read_screening(tmp_path / "screening.xlsx")
    assert table.records[0].year == 2020 and table.records[0].title == "Étude"


def _csv_to_xlsx(csv_path: Path, xlsx_path: Path) -> None:
    """The export as ASReview LAB writes it with "Export > Excel": the same columns, numbers
    stored as numbers, empty cells as empty."""
    book = openpyxl.Workbook()
    sheet = book.active
    with open(csv_path, encoding="utf-8-sig", newline="") as fh:
        for i, row in enumerate(csv.reader(fh)):
            if i:
                row = [int(v) if re.fullmatch(r"-?\d+", v) else (v or None) for v in row]
            sheet.append(row)
    book.save(xlsx_path)


@pytest.mark.parametrize("name", ["asreview_v1_export", "asreview_v2_export"])
def test_asreview_xlsx_export_reads_as_its_csv(tmp_path, name):
    _csv_to_xlsx(DATA / f"{name}.csv", tmp_path / f"{name}.xlsx")
    from_xlsx = read_screening(tmp_path / f"{name}.xlsx")
    from_csv = read_screening(DATA / f"{name}.csv")
    assert from_xlsx.format == from_csv.format == "asreview"
    assert len(from_xlsx) == len(from_csv) > 0
    for a, b in zip(from_xlsx.records, from_csv.records, strict=True):
        assert (a.record_id, a.title, a.year, a.doi, a.title_abstract, a.full_text) == (
            b.record_id,
            b.title,
            b.year,
            b.doi,
            b.title_abstract,
            b.full_text,
        )


def test_xlsx_that_is_not_a_workbook(tmp_path):
    path = tmp_path / "screening.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(InputError, match="cannot read the workbook"):
        read_screening(path)


# --------------------------------------------------------------------------- Covidence


def test_covidence_per_list_exports():
    table = read_screening(COVIDENCE_LISTS)
    assert table.format == "covidence" and len(table) == 11
    assert table.deduplicated  # Covidence removes duplicates on import
    by_id = table.by_id()
    assert by_id["#3"].title == "Thrombectomie mécanique chez le sujet âgé : étude rétrospective"
    assert by_id["#4"].title.startswith("机械取栓治疗远端中等血管闭塞的疗效")
    assert by_id["#5"].title == 'A "quoted" title, with a comma'
    assert by_id["#3"].title_abstract == "exclude" and by_id["#3"].full_text == ""
    assert (by_id["#8"].full_text, by_id["#8"].exclusion_reason) == (
        "exclude",
        "Wrong study design",
    )
    assert by_id["#9"].exclusion_reason == "Wrong patient population"
    # studies are keyed on Covidence # ('Study' is a non-unique "Author Year" label)
    assert (by_id["#1"].full_text, by_id["#1"].study_id) == ("include", "#1")
    assert (by_id["#1"].study_label, by_id["#11"].study_label) == ("ALPHA 2023", "ALPHA 2023")
    assert by_id["#11"].study_id == "#11"
    assert by_id["#6"].doi_key == "10.5555/cov.006"
    assert by_id["#1"].year == 2023
    assert {r.source for r in table} == {"Unspecified database"}
    assert not table.identification  # Covidence exports no duplicates


def test_covidence_rows_after_multiline_abstracts():
    table = read_screening(DATA / "covidence_combined.csv")
    rows = {r.record_id: r.row for r in table}
    assert rows["#3"] == 2 and rows["#7"] == 6 and rows["#11"] == 12


def test_covidence_combined_file_counts_as_the_per_list_files():
    _, per_list, _ = summarise(COVIDENCE_LISTS)
    _, combined, _ = summarise(DATA / "covidence_combined.csv")
    assert per_list == combined
    assert combined["dbr_excluded"] == [
        {"reason": "Wrong study design", "n": 2},
        {"reason": "Wrong patient population", "n": 1},
    ]
    # 3 included rows with 3 Covidence numbers (two share the label 'ALPHA 2023')
    assert (combined["new_studies"], combined["new_reports"]) == (3, 3)
    # records identified and duplicates are not in the export: not reported, not 0
    assert combined["records_identified"] is None and combined["duplicates"] is None


def test_covidence_single_file_without_list_is_refused(tmp_path):
    src = COVIDENCE_LISTS[0].read_bytes()
    path = tmp_path / "covidence.csv"
    path.write_bytes(src)
    with pytest.raises(InputError) as exc:
        read_screening(path)
    assert exc.value.row == 1 and "Stage" in str(exc.value) and "irrelevant" in str(exc.value)


def test_covidence_unknown_stage(tmp_path):
    header = list(COVIDENCE_COLUMNS) + ["Stage"]
    row = [""] * len(COVIDENCE_COLUMNS) + ["discarded"]
    row[header.index("Covidence #")] = "#1"
    row[header.index("Title")] = "T"
    path = write_csv(tmp_path / "c.csv", header, [row])
    with pytest.raises(InputError) as exc:
        read_screening(path)
    assert (exc.value.row, exc.value.column) == (2, "Stage")


def test_covidence_screen_and_select_lists_are_unfinished(tmp_path):
    header = list(COVIDENCE_COLUMNS) + ["Stage"]

    def row(num, stage):
        r = [""] * len(COVIDENCE_COLUMNS) + [stage]
        r[header.index("Covidence #")] = f"#{num}"
        r[header.index("Title")] = f"T{num}"
        return r

    path = write_csv(tmp_path / "c.csv", header, [row(1, "screen"), row(2, "select")])
    with pytest.raises(InputError) as exc:
        summarise(path)
    text = str(exc.value)
    assert "'#1' is still in Covidence's title/abstract screening list" in text
    assert "'#2' is still in Covidence's full-text review list" in text


def test_covidence_missing_exclusion_reason(tmp_path):
    lines = COVIDENCE_LISTS[0].read_text(encoding="utf-8-sig").splitlines()
    assert "excluded" in COVIDENCE_LISTS[0].name
    path = tmp_path / "review_1_excluded_csv_2025.csv"
    text = "\n".join(lines).replace("Exclusion reason: Wrong patient population; ", "")
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        summarise(path)
    assert exc.value.column == "Notes" and "'#9'" in str(exc.value)


# --------------------------------------------------------------------------- Rayyan


def test_rayyan_decisions_from_notes():
    assert (
        rayyan_decision('RAYYAN-INCLUSION: {"Alice"=>"Included", "Bob"=>"Included"}')[0]
        == "include"
    )
    decision, problem, reasons = rayyan_decision(
        'RAYYAN-INCLUSION: {"Alice"=>"Excluded"} | RAYYAN-LABELS: x,y | '
        "RAYYAN-EXCLUSION-REASONS: wrong population,background article"
    )
    assert (decision, problem) == ("exclude", "")
    assert reasons == ["wrong population", "background article"]
    decision, problem, _ = rayyan_decision('RAYYAN-INCLUSION: {"A"=>"Included", "B"=>"Excluded"}')
    assert decision == "" and "conflict" in problem and "A: Included, B: Excluded" in problem
    assert "Maybe" in rayyan_decision('RAYYAN-INCLUSION: {"A"=>"Maybe"}')[1]
    assert "no Rayyan decision" in rayyan_decision("USER-NOTES: {}")[1]


def test_rayyan_export():
    table = read_screening(DATA / "rayyan_export.csv")
    assert table.format == "rayyan" and len(table) == 7 and not table.deduplicated
    by_id = table.by_id()
    assert by_id["rayyan-7001"].title_abstract == "include"
    assert by_id["rayyan-7001"].doi_key == "10.5555/ray.001"  # 'LK - <link>' dropped
    assert by_id["rayyan-7003"].doi_key == "10.5555/ray.001"  # https://doi.org/, upper case
    # several reasons: counted under the first, all kept
    assert by_id["rayyan-7002"].exclusion_reason == "wrong population"
    assert by_id["rayyan-7002"].all_reasons == "wrong population; background article"
    assert by_id["rayyan-7004"].title.endswith("— Ünïcödé édition")
    assert by_id["rayyan-7005"].row == 6  # after a multi-line abstract
    assert by_id["rayyan-7007"].title_abstract == "include"  # one reviewer only


def test_rayyan_undecided_records_are_reported():
    with pytest.raises(InputError) as exc:
        summarise(DATA / "rayyan_conflict.csv")
    found = {(e.row, e.column): e.message for e in errors_of(exc.value)}
    assert "conflict" in found[(4, "notes")] and "rayyan-7010" in found[(4, "notes")]
    assert "Maybe" in found[(5, "notes")]
    assert "not screened" in found[(6, "notes")]


def test_rayyan_with_generic_fulltext_columns():
    table, counts, warnings = summarise(DATA / "rayyan_with_fulltext.csv")
    assert warnings == []
    by_id = table.by_id()
    assert by_id["rayyan-7001"].source == "Embase" and by_id["rayyan-7001"].study_id == "GAMMA"
    assert by_id["rayyan-7003"].duplicate_of == "rayyan-7001"
    assert counts["dbr_excluded"] == [{"reason": "Wrong outcome", "n": 1}]
    assert (counts["new_studies"], counts["new_reports"]) == (1, 1)


# --------------------------------------------------------------------------- ASReview


def test_asreview_v2_export():
    table = read_screening(DATA / "asreview_v2_export.csv")
    assert table.format == "asreview" and table.deduplicated  # asreview_group_id
    by_id = table.by_id()
    assert by_id["0"].title_abstract == "include"
    assert by_id["5"].duplicate_of == "0" and by_id["5"].duplicate_rule == "asreview_group"
    assert by_id["1"].title_abstract == "exclude"
    # unlabelled: excluded at screening by the automation tool (the default)
    assert {(by_id[i].title_abstract, by_id[i].screened_by) for i in "34"} == {
        ("exclude", "automation")
    }
    table = read_screening(DATA / "asreview_v2_export.csv", options={"unlabelled": "automation"})
    assert {table.by_id()[i].removed for i in "34"} == {"automation"}
    assert by_id["0"].title == "Fictitious trial THETA of thrombectomy"
    assert by_id["2"].title == "Étude fictive KAPPA"


def test_asreview_v1_export_labels_and_dedup():
    table, counts, warnings = summarise(DATA / "asreview_v1_export.csv")
    by_id = table.by_id()
    assert by_id["1"].screened_by == "automation" and by_id["2"].screened_by == "automation"
    assert by_id["9"].duplicate_of == "3" and by_id["9"].duplicate_rule == "title_year"
    assert counts["records_excluded_automation"] == 2 and counts["duplicates"] == 1
    # title/abstract only: a partial flow, the full-text boxes are not reported
    assert (
        table.stages == "title_abstract"
        and warnings == []
        or all("no full-text decision" not in w.message for w in warnings)
    )
    assert counts["dbr_sought_reports"] is None and counts["new_studies"] is None
    _, auto, _ = summarise(DATA / "asreview_v1_export.csv", options={"unlabelled": "automation"})
    assert auto["excluded_automatic"] == 2 and auto["records_excluded_automation"] == 0


def test_asreview_bad_label(tmp_path):
    path = write_csv(
        tmp_path / "asr.csv", ["record_id", "title", "asreview_label"], [["1", "T", "2"]]
    )
    with pytest.raises(InputError) as exc:
        read_screening(path)
    assert (exc.value.row, exc.value.column) == (2, "asreview_label")


def test_asreview_with_fulltext_overlay(tmp_path):
    path = write_csv(
        tmp_path / "asr.csv",
        ["record_id", "title", "asreview_label", "full_text", "study_id", "source"],
        [
            ["1", "T1", "1", "include", "S1", "PubMed"],
            ["2", "T2", "0", "", "", "PubMed"],
            ["3", "T3", "", "", "", "Scopus"],
        ],
    )
    _, counts, warnings = summarise(path)
    assert warnings == []
    assert counts["database_specific_results"] == [
        {"name": "PubMed", "n": 2},
        {"name": "Scopus", "n": 1},
    ]
    assert (counts["records_excluded_automation"], counts["records_excluded"]) == (1, 2)
    assert counts["new_studies"] == 1
