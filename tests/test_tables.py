"""Reading and validating studies.csv / extraction.csv: every error names file, row, column."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from metareview.errors import InputError, InputErrors, InputWarning
from metareview.inputs.tables import (
    column_letter,
    load_extraction,
    load_studies,
    read_csv_table,
    single_arm_table,
    two_arm_table,
)
from metareview.io import safe_text

ROOT = Path(__file__).resolve().parent.parent
RAW = ROOT / "data" / "raw"

STUDIES = """\
study_id,label,year,design,reference,rob_overall,region
A,Trial A,2015,rct,10.1/a,low,Europe
B,,2016,rct,,some,Asia
C,Trial C,,observational,,,
"""

EXTRACTION_HEADER = "study_id,outcome,arm,events,total,source\n"
EXTRACTION = (
    EXTRACTION_HEADER
    + """\
A,death,evt,10,100,table 2
A,death,control,20,100,table 2
B,death,evt,5,50,p. 4
B,death,control,7,52,p. 4
B,sich,evt,1,50,p. 5
C,death,evt,3,30,text
"""
)
OUTCOMES = {"death", "sich"}
ARMS = {"evt", "control"}


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode("utf-8"))
    return path


def studies(tmp_path: Path, text: str = STUDIES):
    return load_studies(write(tmp_path, "studies.csv", text))


def extraction(tmp_path: Path, text: str, outcomes=OUTCOMES, arms=ARMS):
    return load_extraction(
        write(tmp_path, "extraction.csv", text), studies(tmp_path), outcomes, arms
    )


def assert_located(exc: InputError, path: Path, row: int | None, column: str | None):
    text = str(exc)
    assert exc.file == str(path)
    assert text.startswith(str(path))
    assert exc.row == row
    assert exc.column == column
    if row is not None:
        assert f"row {row}" in text
    if column is not None:
        assert f"column '{column}'" in text


# --------------------------------------------------------------------------- errors module


def test_error_format_matches_contract():
    err = InputError("data/raw/x/extraction.csv", 7, "events", "events (12) > total (10)")
    assert str(err) == "data/raw/x/extraction.csv, row 7, column 'events': events (12) > total (10)"
    assert err.to_dict()["row"] == 7
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err)
    warning = InputWarning("f.csv", None, "study_id", "no rows")
    assert str(warning) == "f.csv, column 'study_id': no rows"


def test_input_errors_bundle():
    errs = InputErrors([InputError("f.csv", 2, "a", "x"), InputError("f.csv", 3, "b", "y")])
    assert isinstance(errs, InputError)
    assert (errs.row, errs.column) == (2, "a")
    assert "f.csv, row 2, column 'a': x" in str(errs)
    assert "f.csv, row 3, column 'b': y" in str(errs)
    assert len(pickle.loads(pickle.dumps(errs)).errors) == 2


def test_column_letter():
    assert [column_letter(i) for i in (0, 25, 26, 27, 701, 702)] == [
        "A",
        "Z",
        "AA",
        "AB",
        "ZZ",
        "AAA",
    ]


# --------------------------------------------------------------------------- generic CSV


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(InputError, match="file not found") as info:
        read_csv_table(path, ["a"])
    assert_located(info.value, path, None, None)


@pytest.mark.parametrize("content", ["", "\n\n", "  \r\n"])
def test_empty_file(tmp_path, content):
    path = write(tmp_path, "t.csv", content)
    with pytest.raises(InputError, match="file is empty; expected a header row: a, b"):
        read_csv_table(path, ["a", "b"])


def test_not_utf8_reports_row_and_byte_offset(tmp_path):
    data = "a,b\n1,x\n2,M\u00fcller\n".encode("cp1252")
    path = write(tmp_path, "t.csv", data)
    with pytest.raises(InputError) as info:
        read_csv_table(path, ["a", "b"])
    err = info.value
    assert_located(err, path, 3, "b")  # the column holding the bad byte
    assert "not valid UTF-8" in str(err)
    assert "byte offset 11" in str(err)
    assert "Müller" in str(err)  # what the bytes mean as Windows-1252


def test_not_utf8_inside_multiline_cell_counts_records(tmp_path):
    data = 'a,b\n1,"two\nlines"\n2,caf\xe9\n'.encode("latin-1")
    with pytest.raises(InputError) as info:
        read_csv_table(write(tmp_path, "t.csv", data), ["a", "b"])
    assert info.value.row == 3


def test_utf16_is_rejected(tmp_path):
    path = write(tmp_path, "t.csv", "a,b\n1,2\n".encode("utf-16"))
    with pytest.raises(InputError, match="UTF-16"):
        read_csv_table(path, ["a", "b"])


def test_bom_and_crlf_are_accepted(tmp_path):
    path = write(tmp_path, "t.csv", b"\xef\xbb\xbfa,b\r\n1,x\r\n2,y\r\n")
    table = read_csv_table(path, ["a", "b"])
    assert table.columns == ["a", "b"]
    assert [dict(r) for r in table] == [{"a": "1", "b": "x"}, {"a": "2", "b": "y"}]
    assert [r.row for r in table] == [2, 3]


@pytest.mark.parametrize(("sep", "word"), [(";", "';'-separated"), ("\t", "tab-separated")])
def test_wrong_delimiter(tmp_path, sep, word):
    path = write(tmp_path, "t.csv", f"study_id{sep}events\nA{sep}1\n")
    with pytest.raises(InputError) as info:
        read_csv_table(path, ["study_id", "events"])
    assert word in str(info.value)
    assert "looks like" in str(info.value)
    assert_located(info.value, path, 1, None)


def test_missing_required_columns_are_named(tmp_path):
    path = write(tmp_path, "t.csv", "study_id,Events\nA,1\n")
    with pytest.raises(InputErrors) as info:
        read_csv_table(path, ["study_id", "events", "total"])
    errs = info.value.errors
    assert [e.column for e in errs] == ["events", "total"]
    assert all(e.row == 1 for e in errs)
    assert "missing required column 'events'" in str(info.value)
    assert "did you mean 'Events'?" in str(info.value)
    assert "missing required column 'total'" in str(info.value)
    assert_located(errs[0], path, 1, "events")


def test_single_missing_column_is_plain_input_error(tmp_path):
    path = write(tmp_path, "t.csv", "study_id\nA\n")
    with pytest.raises(InputError) as info:
        read_csv_table(path, ["study_id", "total"])
    assert not isinstance(info.value, InputErrors)
    assert_located(info.value, path, 1, "total")


def test_duplicate_header(tmp_path):
    path = write(tmp_path, "t.csv", "a,b,a\n1,2,3\n")
    with pytest.raises(InputError, match=r"appears twice \(columns A and C\)") as info:
        read_csv_table(path, ["a", "b"])
    assert_located(info.value, path, 1, "a")


def test_ragged_rows(tmp_path):
    path = write(tmp_path, "t.csv", "a,b,c\n1,2,3\n1,2,3,4\n1,2\n")
    with pytest.raises(InputErrors) as info:
        read_csv_table(path, ["a", "b", "c"])
    too_many, too_few = info.value.errors
    assert_located(too_many, path, 3, None)
    assert "4 cells but the header has 3 columns" in str(too_many)
    assert_located(too_few, path, 4, "c")
    assert "2 cells but the header has 3 columns" in str(too_few)


def test_trailing_empty_cells_and_blank_rows_are_accepted(tmp_path):
    path = write(tmp_path, "t.csv", "a,b,\n1,2,,\n\n,,\n3, 4 ,\n")
    table = read_csv_table(path, ["a", "b"], optional_columns=["note"])
    assert [dict(r) for r in table] == [
        {"a": "1", "b": "2", "note": ""},
        {"a": "3", "b": "4", "note": ""},
    ]
    assert [r.row for r in table] == [2, 5]  # blank rows still count as spreadsheet rows
    assert table.columns == ["a", "b", "note"]


def test_value_under_unnamed_column(tmp_path):
    path = write(tmp_path, "t.csv", "a,,b\n1,x,2\n")
    with pytest.raises(InputError, match="column B has a value") as info:
        read_csv_table(path, ["a", "b"])
    assert info.value.row == 2


def test_multiline_cell_is_one_row(tmp_path):
    path = write(tmp_path, "t.csv", 'a,b\n1,"x\ny"\n2,z\n')
    table = read_csv_table(path, ["a", "b"])
    assert [r.row for r in table] == [2, 3]
    assert table[0]["b"] == "x\ny"


def test_unclosed_quote(tmp_path):
    path = write(tmp_path, "t.csv", 'a,b\n1,"x\n2,y\n')
    with pytest.raises(InputError, match="cannot parse CSV") as info:
        read_csv_table(path, ["a", "b"])
    assert info.value.row == 2


# --------------------------------------------------------------------------- studies.csv


def test_load_studies(tmp_path):
    table = studies(tmp_path)
    assert table.ids == ["A", "B", "C"]
    a, b, c = table
    assert (a.label, a.year, a.design, a.reference, a.rob_overall) == (
        "Trial A",
        2015,
        "rct",
        "10.1/a",
        "low",
    )
    assert b.label == "B"  # empty label defaults to the id
    assert c.year is None and c.rob_overall is None
    assert a.covariates == {"region": "Europe"} and c.covariates == {"region": ""}
    assert table.covariate_columns == ["region"]
    assert "B" in table and table.get("B").row == 3
    assert a.get("region") == "Europe" and a.get("year") == 2015


def test_studies_accepts_case_and_rob2_wording(tmp_path):
    text = "study_id,design,rob_overall\nA,RCT,Some concerns\nB,Single-arm,HIGH\n"
    a, b = studies(tmp_path, text)
    assert (a.design, a.rob_overall) == ("rct", "some")
    assert (b.design, b.rob_overall) == ("single_arm", "high")
    assert a.label == "A" and a.year is None


def test_rob_overall_is_checked_by_the_protocols_tool(tmp_path):
    """studies.csv takes any judgement text; the risk-of-bias tool decides (RoB 2 has no
    'unclear', ROBINS-I has 'serious')."""
    from metareview.inputs.rob import read_assessments

    rob2 = "study_id,design,rob_d1,rob_d2,rob_d3,rob_d4,rob_d5,rob_overall\n"
    path = write(tmp_path, "studies.csv", rob2 + "A,rct,low,low,,,,low\nB,rct,,,,,,unclear\n")
    studies = load_studies(path)
    with pytest.raises(InputError) as info:
        read_assessments(list(studies), "rob2", path=path)
    assert_located(info.value, path, 3, "rob_overall")
    robins = "study_id,design," + ",".join(f"rob_d{i}" for i in range(1, 8)) + ",rob_overall\n"
    serious = write(tmp_path, "s2.csv", robins + "D,observational,,,,,,,,Serious\n")
    table = read_assessments(list(load_studies(serious)), "robins_i", path=serious)
    assert table.get("D").judgements["overall"] == "serious"


@pytest.mark.parametrize(
    ("line", "column", "message"),
    [
        ("D,,20x5,rct,,,", "year", "year '20x5' is not a whole number between 1900 and 2100"),
        ("D,,1850,rct,,,", "year", "between 1900 and 2100"),
        ("D,,2025.0,rct,,,", "year", "between 1900 and 2100"),
        ("D,,2020,cohort,,,", "design", "design 'cohort' is not allowed; use one of rct, obs"),
        ("D,,2020,,,,", "design", "design empty"),
        (",,2020,rct,,,", "study_id", "study_id is empty"),
    ],
)
def test_studies_cell_errors(tmp_path, line, column, message):
    path = write(tmp_path, "studies.csv", STUDIES + line + "\n")
    with pytest.raises(InputError) as info:
        load_studies(path)
    assert_located(info.value, path, 5, column)
    assert message in str(info.value)


def test_duplicate_study_id_names_both_rows(tmp_path):
    path = write(tmp_path, "studies.csv", STUDIES + "A,Again,2020,rct,,,\n")
    with pytest.raises(InputError, match="duplicate study_id 'A': rows 2 and 5") as info:
        load_studies(path)
    assert_located(info.value, path, 5, "study_id")


def test_studies_without_rows(tmp_path):
    path = write(tmp_path, "studies.csv", "study_id,design\n")
    with pytest.raises(InputError, match="no studies"):
        load_studies(path)


def test_studies_missing_design_column(tmp_path):
    path = write(tmp_path, "studies.csv", "study_id,label\nA,a\n")
    with pytest.raises(InputError, match="missing required column 'design'") as info:
        load_studies(path)
    assert_located(info.value, path, 1, "design")


# --------------------------------------------------------------------------- extraction.csv


def test_load_extraction(tmp_path):
    ex = extraction(tmp_path, EXTRACTION)
    assert len(ex) == 6
    first = ex.records[0]
    assert (first.study_id, first.outcome, first.arm, first.events, first.total) == (
        "A",
        "death",
        "evt",
        10,
        100,
    )
    assert (first.source, first.row) == ("table 2", 2)
    assert ex.outcomes == ["death", "sich"]
    assert ex.warnings == []


@pytest.mark.parametrize(
    ("line", "column", "message"),
    [
        ("Z,death,evt,1,10,x", "study_id", "unknown study_id 'Z': not in studies.csv"),
        ("a,death,evt,1,10,x", "study_id", "did you mean 'A'?"),
        ("A,mrs02,evt,1,10,x", "outcome", "unknown outcome 'mrs02': not in the protocol"),
        ("A,death,EVT,1,10,x", "arm", "unknown arm 'EVT'"),
        ("A,sich,evt,12.5,100,x", "events", "events must be a whole number (got '12.5')"),
        ("A,sich,evt,-1,100,x", "events", "events must not be negative (got '-1')"),
        ('A,sich,evt,"1,5",100,x', "events", "a decimal comma?"),
        ("A,sich,evt,,100,x", "events", "events is empty"),
        ("A,sich,evt,abc,100,x", "events", "events must be a whole number of patients"),
        ("A,sich,evt,1,ten,x", "total", "total must be a whole number of patients (got 'ten')"),
        ("A,sich,evt,12,10,x", "events", "events (12) > total (10)"),
        ("A,sich,evt,0,0,x", "total", "total is 0"),
    ],
)
def test_extraction_cell_errors(tmp_path, line, column, message):
    path = write(tmp_path, "extraction.csv", EXTRACTION + line + "\n")
    with pytest.raises(InputError) as info:
        load_extraction(path, studies(tmp_path), OUTCOMES, ARMS)
    assert_located(info.value, path, 8, column)
    assert message in str(info.value)


@pytest.mark.parametrize("cell", ["12", " 12 ", "012"])
def test_extraction_accepts_whole_numbers(tmp_path, cell):
    ex = extraction(tmp_path, EXTRACTION + f'A,sich,evt,"{cell}",100,x\n')
    assert ex.records[-1].events == 12


def test_extraction_duplicate_names_both_rows(tmp_path):
    path = write(tmp_path, "extraction.csv", EXTRACTION + "A,death,control,21,100,again\n")
    with pytest.raises(InputError) as info:
        load_extraction(path, studies(tmp_path), OUTCOMES, ARMS)
    assert_located(info.value, path, 8, None)
    assert "duplicate row for study_id 'A', outcome 'death', arm 'control': rows 3 and 8" in str(
        info.value
    )


def test_extraction_reports_all_errors_at_once(tmp_path):
    path = write(tmp_path, "extraction.csv", EXTRACTION + "Z,death,evt,1,10,x\nA,sich,evt,5,4,x\n")
    with pytest.raises(InputErrors) as info:
        load_extraction(path, studies(tmp_path), OUTCOMES, ARMS)
    assert [(e.row, e.column) for e in info.value.errors] == [(8, "study_id"), (9, "events")]


def test_extraction_none_skips_protocol_checks(tmp_path):
    ex = extraction(tmp_path, EXTRACTION + "A,other,third,1,10,x\n", outcomes=None, arms=None)
    assert ex.records[-1].arm == "third"


def test_extraction_missing_source_column(tmp_path):
    path = write(tmp_path, "extraction.csv", "study_id,outcome,arm,events,total\nA,death,evt,1,2\n")
    with pytest.raises(InputError, match="missing required column 'source'") as info:
        load_extraction(path, studies(tmp_path), OUTCOMES, ARMS)
    assert_located(info.value, path, 1, "source")


def test_warning_when_arm_total_differs_between_outcomes(tmp_path):
    ex = extraction(tmp_path, EXTRACTION + "A,sich,evt,2,98,table 3\n")
    (warning,) = ex.warnings
    assert isinstance(warning, InputWarning)
    assert warning.file == str(tmp_path / "extraction.csv")
    assert (warning.row, warning.column) == (8, "total")
    assert "total of study 'A', arm 'evt' differs between outcomes" in str(warning)
    assert "100 (death; row 2); 98 (sich; row 8)" in str(warning)


def test_warning_for_study_without_rows(tmp_path):
    text = EXTRACTION_HEADER + "A,death,evt,10,100,t\nA,death,control,20,100,t\n"
    ex = extraction(tmp_path, text)
    assert [(w.row, w.column) for w in ex.warnings] == [(3, "study_id"), (4, "study_id")]
    assert ex.warnings[0].file == str(tmp_path / "studies.csv")
    assert "study 'B' has no rows in" in str(ex.warnings[0])


# --------------------------------------------------------------------------- analysis tables


def test_two_arm_table(tmp_path):
    st = studies(tmp_path)
    ex = load_extraction(write(tmp_path, "extraction.csv", EXTRACTION), st, OUTCOMES, ARMS)
    table = two_arm_table(ex, st, "death", "evt", "control", covariates=["label", "region"])
    assert table.columns == ["study", "ai", "n1i", "ci", "n2i", "label", "region"]
    assert table.rows == [
        {
            "study": "A",
            "ai": 10,
            "n1i": 100,
            "ci": 20,
            "n2i": 100,
            "label": "Trial A",
            "region": "Europe",
        },
        {"study": "B", "ai": 5, "n1i": 50, "ci": 7, "n2i": 52, "label": "B", "region": "Asia"},
    ]
    (warning,) = table.warnings  # C has only the evt arm
    assert (warning.row, warning.column) == (7, "arm")
    assert "study 'C' has outcome 'death' for arm 'evt' but not for arm 'control'" in str(warning)


def test_two_arm_table_follows_studies_order(tmp_path):
    st = studies(tmp_path, "study_id,design\nB,rct\nA,rct\nC,rct\n")
    ex = load_extraction(write(tmp_path, "extraction.csv", EXTRACTION), st, OUTCOMES, ARMS)
    assert [r["study"] for r in two_arm_table(ex, st, "death", "evt", "control")] == ["B", "A"]


def test_two_arm_table_unknown_covariate(tmp_path):
    st = studies(tmp_path)
    ex = load_extraction(write(tmp_path, "extraction.csv", EXTRACTION), st, OUTCOMES, ARMS)
    with pytest.raises(InputError, match="no column 'territory'"):
        two_arm_table(ex, st, "death", "evt", "control", covariates=["territory"])


def test_single_arm_table(tmp_path):
    st = studies(tmp_path)
    ex = load_extraction(write(tmp_path, "extraction.csv", EXTRACTION), st, OUTCOMES, ARMS)
    table = single_arm_table(ex, st, "death", "evt", covariates=["year"])
    assert table.columns == ["study", "xi", "ni", "year"]
    assert table.rows == [
        {"study": "A", "xi": 10, "ni": 100, "year": 2015},
        {"study": "B", "xi": 5, "ni": 50, "year": 2016},
        {"study": "C", "xi": 3, "ni": 30, "year": None},
    ]
    assert single_arm_table(ex, st, "sich", "control").rows == []


# --------------------------------------------------------------------------- safe_text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+cmd", "'+cmd"),
        ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-", "'-"),
        ("-0.43", "-0.43"),
        ("+1.5e-3", "+1.5e-3"),
        ("-12", "-12"),
        ("ESCAPE-MeVO", "ESCAPE-MeVO"),
        ("", ""),
        (-0.43, -0.43),
        (None, None),
    ],
)
def test_safe_text(value, expected):
    assert safe_text(value) == expected


# --------------------------------------------------------------------------- bundled data


@pytest.mark.parametrize("review", sorted(p.name for p in RAW.iterdir() if p.is_dir()))
def test_bundled_tables_load(review):
    st = load_studies(RAW / review / "studies.csv")
    ex = load_extraction(RAW / review / "extraction.csv", st, None, None)
    assert len(st) >= 3 and len(ex) >= 1
    assert {r.study_id for r in ex} <= set(st.ids)
    for outcome in ex.outcomes:
        table = two_arm_table(ex, st, outcome, "evt", "control")
        assert all(r["ai"] <= r["n1i"] and r["ci"] <= r["n2i"] for r in table)


def test_bundled_dmvo_warns_about_discount():
    st = load_studies(RAW / "dmvo-mt-vs-bmm" / "studies.csv")
    ex = load_extraction(
        RAW / "dmvo-mt-vs-bmm" / "extraction.csv", st, {"mrs02", "mrs01", "sich", "death"}, ARMS
    )
    no_rows = [w for w in ex.warnings if "has no rows" in w.message]
    assert len(no_rows) == 1 and "'DISCOUNT'" in no_rows[0].message
    assert no_rows[0].row == 4
    # ESCAPE-MeVO's sICH denominators (257/272) differ from its other outcomes (255/274)
    totals = [w for w in ex.warnings if w.column == "total"]
    assert len(totals) == 2 and all("ESCAPE-MeVO" in w.message for w in totals)
    death = two_arm_table(ex, st, "death", "evt", "control")
    assert [r["study"] for r in death] == ["ESCAPE-MeVO", "DISTAL"]


def test_check_count():
    from metareview.inputs.tables import check_count

    assert check_count("t.csv", 3, "ai", " 7 ") == 7
    with pytest.raises(InputError) as info:
        check_count("t.csv", 3, "ai", "7.5")
    assert str(info.value) == "t.csv, row 3, column 'ai': ai must be a whole number (got '7.5')"
