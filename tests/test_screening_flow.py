"""Deduplication, PRISMA 2020 counts and their identities, consistency checks."""

from __future__ import annotations

import csv
import random
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metareview.errors import InputError, InputErrors
from metareview.inputs.screening import (
    count,
    cross_problems,
    deduplicate,
    flow_problems,
    identities,
    normalise_doi,
    normalise_title,
    prisma_csv_rows,
    read_screening,
    resolve,
    summarise,
)
from metareview.inputs.screening.counts import PRISMA_CSV_COLUMNS
from metareview.inputs.screening.records import Record, ScreeningTable
from metareview.inputs.tables import load_studies

DATA = Path(__file__).parent / "data" / "screening"
GENERIC = ["record_id", "source", "title", "year", "doi", "duplicate_of", "title_abstract",
           "full_text", "exclusion_reason", "study_id", "removed", "source_type"]  # fmt: skip


def write(path: Path, rows, header=GENERIC) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in rows:
            w.writerow(r + [""] * (len(header) - len(r)))
    return path


def errors_of(exc: InputError) -> list[InputError]:
    return exc.errors if isinstance(exc, InputErrors) else [exc]


def table_of(*records: Record, deduplicated=False) -> ScreeningTable:
    for i, r in enumerate(records):
        r.row = i + 2
        r.file = "s.csv"
        r.source = r.source or "MEDLINE"
        r.source_type = r.source_type or "database"
    return ScreeningTable(
        files=["s.csv"], format="generic", records=list(records), deduplicated=deduplicated
    )


# --------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("10.1056/NEJMoa123", "10.1056/nejmoa123"),
        ("https://doi.org/10.1056/NEJMoa123", "10.1056/nejmoa123"),
        ("http://dx.doi.org/10.1056/nejmoa123", "10.1056/nejmoa123"),
        ("doi:10.1056/NEJMoa123", "10.1056/nejmoa123"),
        ("DOI: 10.1056/NEJMoa123.", "10.1056/nejmoa123"),
        ("https://doi.org/10.1056%2FNEJMoa123", "10.1056/nejmoa123"),
        (
            "10.5555/ray.001     LK  - https://example.org/link?id=doi:10.5555%2Fray.001",
            "10.5555/ray.001",
        ),
        ("", ""),
        ("not a doi", ""),
    ],
)
def test_normalise_doi(raw, expected):
    assert normalise_doi(raw) == expected


def test_normalise_title():
    assert normalise_title("Étude: A  “real-world” TRIAL.") == "etude a real world trial"
    assert normalise_title("ENDOVASCULAR THROMBECTOMY - a real-world cohort, Unicode edition") == (
        normalise_title("Endovascular thrombectomy: a “real-world” cohort — Ünïcödé édition")
    )


# --------------------------------------------------------------------------- deduplication


def test_dedup_by_doi_then_title_and_year():
    t = table_of(
        Record("A", title="Trial one", year=2020, doi="10.5555/abc", title_abstract="exclude"),
        Record(
            "B",
            title="Trial One!",
            year=2020,
            doi="https://doi.org/10.5555/ABC",
            title_abstract="exclude",
        ),
        Record("C", title="Cohort two", year=2021, title_abstract="exclude"),
        Record("D", title="COHORT TWO", year=2021, doi="10.5555/def", title_abstract="exclude"),
        Record("E", title="Cohort two", year=2021, doi="10.5555/xyz", title_abstract="exclude"),
        Record("F", title="Cohort two", year=2022, title_abstract="exclude"),
        Record("G", title="Cohort two", year=None, title_abstract="exclude"),
    )
    assert deduplicate(t) == 2
    d = t.by_id()
    assert (d["B"].duplicate_of, d["B"].duplicate_rule) == ("A", "doi")
    assert (d["D"].duplicate_of, d["D"].duplicate_rule) == ("C", "title_year")
    assert d["E"].duplicate_of == ""  # its DOI differs from D's, which joined C's group
    assert d["F"].duplicate_of == "" and d["G"].duplicate_of == ""  # other year, no year
    assert t.deduplicated


def test_dedup_keeps_the_record_that_went_furthest():
    t = table_of(
        Record("A", title="Trial", year=2020, doi="10.5555/abc", title_abstract="exclude"),
        Record(
            "B",
            title="Trial",
            year=2020,
            doi="10.5555/abc",
            title_abstract="include",
            full_text="include",
            study_id="S1",
        ),  # fmt: skip
        Record("C", title="Trial", year=2020),
    )
    assert deduplicate(t) == 2
    d = t.by_id()
    assert d["B"].duplicate_of == "" and d["A"].duplicate_of == "B" and d["C"].duplicate_of == "B"
    # A was screened differently from B: said in a warning; C was not screened: no warning
    assert (
        len(t.warnings) == 1 and "'A'" in t.warnings[0].message and "'B'" in t.warnings[0].message
    )


def test_dedup_modes_and_other_methods():
    def make():
        return table_of(
            Record("A", title="Trial", year=2020, title_abstract="exclude"),
            Record("B", title="Trial", year=2020, title_abstract="exclude"),
            Record(
                "C",
                title="Trial",
                year=2020,
                source="Citation searching",
                source_type="citation",
                full_text="exclude",
                exclusion_reason="x",
            ),  # fmt: skip
            deduplicated=True,
        )

    t = make()
    assert deduplicate(t, "auto") == 0  # the export has duplicate information
    assert deduplicate(make(), "never") == 0
    t = make()
    assert deduplicate(t, "always") == 1
    assert t.by_id()["C"].duplicate_of == ""  # other methods take no part
    with pytest.raises(ValueError):
        deduplicate(make(), "sometimes")


def test_dedup_transitive_groups():
    t = table_of(
        Record("A", title="Alpha", year=2020, doi="10.5555/a", title_abstract="exclude"),
        Record("B", title="Alpha", year=2020, title_abstract="exclude"),  # title of A
        Record(
            "C", title="Alpha (conference)", year=2020, doi="10.5555/a", title_abstract="exclude"
        ),
    )
    assert deduplicate(t) == 2
    assert {r.duplicate_of for r in t.records} == {"", "A"}


def test_rayyan_duplicates_are_found_and_kept_in_the_table():
    table, counts, _ = summarise(DATA / "rayyan_with_fulltext.csv")
    dups = {r.record_id: (r.duplicate_of, r.duplicate_rule) for r in table if r.duplicate_of}
    assert dups == {
        "rayyan-7003": ("rayyan-7001", "doi"),
        "rayyan-7005": ("rayyan-7004", "title_year"),
    }
    assert counts["duplicates"] == 2 and counts["records_identified"] == 7


# --------------------------------------------------------------------------- counts


def test_generic_fixture_counts():
    _, c, warnings = summarise(DATA / "generic_screening.csv")
    assert warnings == []
    expected = {
        "database_results": 7,
        "register_results": 2,
        "records_identified": 9,
        "citations_results": 2,
        "website_results": 0,
        "organisation_results": 0,
        "duplicates": 1,
        "excluded_automatic": 0,
        "excluded_other": 1,
        "records_screened": 7,
        "records_excluded": 2,
        "dbr_sought_reports": 5,
        "dbr_notretrieved_reports": 1,
        "dbr_assessed": 4,
        "dbr_excluded_total": 1,
        "other_sought_reports": 2,
        "other_notretrieved_reports": 0,
        "other_assessed": 2,
        "other_excluded_total": 1,
        "new_studies": 3,
        "new_reports": 4,
        "total_studies": 3,
        "total_reports": 4,
    }
    assert {k: c[k] for k in expected} == expected
    assert c["database_specific_results"] == [
        {"name": "MEDLINE", "n": 2},
        {"name": "Embase", "n": 4},
        {"name": "Cochrane CENTRAL", "n": 1},
    ]
    assert c["register_specific_results"] == [
        {"name": "ClinicalTrials.gov", "n": 1},
        {"name": "WHO ICTRP", "n": 1},
    ]
    assert c["dbr_excluded"] == [{"reason": "Protocol only", "n": 1}]
    assert c["other_excluded"] == [{"reason": "Not randomised", "n": 1}]
    # two reports (G03, G04) of one study
    assert {s["study_id"]: s["reports"] for s in c["included_studies"]} == {
        "SIGMA": 1,
        "TAU": 2,
        "OMEGA": 1,
    }
    assert c["total_studies_ma"] is None
    assert identities(c) == []


@pytest.mark.parametrize(
    "files",
    [
        ["generic_screening.csv"],
        ["covidence_combined.csv"],
        ["rayyan_export.csv"],
        ["rayyan_conflict.csv"],
        ["rayyan_with_fulltext.csv"],
        ["asreview_v1_export.csv"],
        ["asreview_v2_export.csv"],
    ],
)
def test_identities_hold_for_every_fixture(files):
    _, c, _ = summarise([DATA / f for f in files], on_inconsistency="warn")
    assert identities(c) == []


def test_exclusion_reasons_most_frequent_first(tmp_path):
    rows = [["R1", "MEDLINE", "t", "2020", "", "", "include", "exclude", "B reason"]]
    rows += [
        [f"R{i}", "MEDLINE", "t", "2020", "", "", "include", "exclude", "A reason"] for i in (2, 3)
    ]
    rows += [["R4", "MEDLINE", "t", "2020", "", "", "include", "exclude", "C reason"]]
    _, c, _ = summarise(write(tmp_path / "s.csv", rows))
    assert [r["reason"] for r in c["dbr_excluded"]] == ["A reason", "B reason", "C reason"]


STATUSES = ["dup", "auto", "other", "ta_ex", "nr", "ft_ex", "inc", "inc2", "await_ta", "await_ft"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(STATUSES), min_size=1, max_size=40), st.integers(0, 10**6))
def test_identities_hold_for_any_flow(statuses, seed):
    rng = random.Random(seed)
    recs = []
    for i, s in enumerate(statuses):
        other = rng.random() < 0.2 and s in ("nr", "ft_ex", "inc", "await_ft")
        r = Record(
            f"R{i}",
            source=rng.choice(["Citation searching", "Websites"]) if other else
            rng.choice(["MEDLINE", "Embase", "ClinicalTrials.gov"]),
            source_type="",
            title=f"t{i}",
        )  # fmt: skip
        r.source_type = {"Citation searching": "citation", "Websites": "website",
                         "ClinicalTrials.gov": "register"}.get(r.source, "database")  # fmt: skip
        if s == "dup" and recs:
            r.duplicate_of = recs[0].record_id
        elif s == "auto":
            r.removed = "automation"
        elif s == "other":
            r.removed = "other"
        elif s == "ta_ex":
            r.title_abstract = "exclude"
        elif s != "await_ta":
            r.title_abstract = "" if other else "include"
            r.full_text = {"nr": "not_retrieved", "ft_ex": "exclude", "inc": "include",
                           "inc2": "include", "await_ft": ""}.get(s, "")  # fmt: skip
            if r.full_text == "exclude":
                r.exclusion_reason = rng.choice(["x", "y"])
            if r.full_text == "include":
                r.study_id = rng.choice(["S1", "S2", "S3"])
        recs.append(r)
    c = count(table_of(*recs))
    assert identities(c) == []
    assert c["records_identified"] + c["website_results"] + c["citations_results"] == len(recs)


def test_identities_detect_broken_counts():
    _, c, _ = summarise(DATA / "generic_screening.csv")
    c["records_excluded"] += 1
    assert any("records screened" in b for b in identities(c))


def test_search_results_for_a_deduplicated_export(tmp_path):
    rows = [
        ["R1", "PubMed", "a", "2020", "", "", "exclude"],
        ["R2", "Embase", "b", "2020", "", "", "include", "include", "", "S1"],
    ]
    table = read_screening(write(tmp_path / "s.csv", rows))
    c = count(table, search_results={"PubMed": 10, "Embase": 5, "ClinicalTrials.gov": 3})
    assert c["duplicates"] == 16 and c["duplicates_removed_before_export"] == 16
    assert c["database_results"] == 15 and c["register_results"] == 3
    assert identities(c) == []
    with pytest.raises(InputError, match="no count in search_results"):
        count(table, search_results={"PubMed": 10})
    with pytest.raises(InputError, match="search_results gives 0"):
        count(table, search_results={"PubMed": 0, "Embase": 0})


# --------------------------------------------------------------------------- PRISMA2020 CSV


def test_prisma_csv_has_the_package_template_rows():
    _, c, _ = summarise(DATA / "generic_screening.csv")
    rows = prisma_csv_rows(c)
    assert PRISMA_CSV_COLUMNS == [
        "data",
        "node",
        "box",
        "description",
        "boxtext",
        "tooltips",
        "url",
        "n",
    ]
    data = [r["data"] for r in rows]
    for key in ("database_results", "database_specific_results", "register_results",
                "register_specific_results", "website_results", "organisation_results",
                "citations_results", "duplicates", "excluded_automatic", "excluded_other",
                "records_screened", "records_excluded", "dbr_sought_reports",
                "dbr_notretrieved_reports", "dbr_assessed", "dbr_excluded", "other_sought_reports",
                "other_notretrieved_reports", "other_assessed", "other_excluded", "new_studies",
                "new_reports", "total_studies", "total_reports", "previous_studies",
                "previous_reports", "identification", "screening", "included"):  # fmt: skip
        assert key in data, key
    assert "total_studies_ma" not in data  # unknown without extraction.csv
    n = {r["data"]: r["n"] for r in rows}
    assert n["records_screened"] == 7 and n["duplicates"] == 1
    assert n["database_specific_results"] == "MEDLINE, 2; Embase, 4; Cochrane CENTRAL, 1"
    assert n["dbr_excluded"] == "Protocol only, 1"
    boxes = {r["data"]: (r["node"], r["box"]) for r in rows}
    assert boxes["dbr_excluded"] == ("node14", "box9") and boxes["new_studies"] == (
        "node15",
        "box10",
    )


def parse_reasons(cell: str) -> list[tuple[str, int]]:
    """As PRISMA2020's PRISMA_parse_reasons_: reason = text before the first comma."""
    out = []
    for part in re.split(r";\s?", cell):
        reason = re.sub(r",.*$", "", part)
        number = re.sub(r"[^0-9]", "", re.sub(r"^.*?,", "", part, count=1))
        out.append((reason, int(number)))
    return out


def test_list_cells_survive_commas_and_semicolons(tmp_path):
    rows = [
        [
            "R1",
            "MEDLINE",
            "t",
            "2020",
            "",
            "",
            "include",
            "exclude",
            "Wrong population, adults; older",
        ],
        [
            "R2",
            "MEDLINE",
            "t",
            "2020",
            "",
            "",
            "include",
            "exclude",
            "Wrong population, adults; older",
        ],
        ["R3", "Web of Science, Core", "t", "2020", "", "", "include", "exclude", "Other"],
    ]
    _, c, _ = summarise(write(tmp_path / "s.csv", rows))
    n = {r["data"]: r["n"] for r in prisma_csv_rows(c)}
    assert parse_reasons(n["dbr_excluded"]) == [
        ("Wrong population / adults / older", 2),
        ("Other", 1),
    ]
    assert parse_reasons(n["database_specific_results"]) == [
        ("MEDLINE", 2),
        ("Web of Science / Core", 1),
    ]
    assert n["register_specific_results"] == "0" and n["other_excluded"] == "0"


# --------------------------------------------------------------------------- flow checks

BASE = [
    ["R1", "MEDLINE", "t1", "2020", "", "", "include", "include", "", "S1"],
    ["R2", "MEDLINE", "t2", "2020", "", "", "exclude"],
]


@pytest.mark.parametrize(
    "row, column, message",
    [
        (["R3", "Embase", "t", "2020", "", "R1", "exclude"], "title_abstract",
         "is a duplicate of 'R1' but has a title_abstract value"),
        (["R3", "Embase", "t", "2020", "", "", "", "", "", "", "automation", ""], None, None),
        (["R3", "Embase", "t", "2020", "", "", "exclude", "", "", "", "other"], "title_abstract",
         "was removed before screening (other) but has a title_abstract value"),
        (["R3", "Embase", "t", "2020", "", "", ""], "title_abstract", "was not screened"),
        (["R3", "Embase", "t", "2020", "", "", "exclude", "include", "", "S9"], "full_text",
         "was excluded at title/abstract but has a full-text decision"),
        (["R3", "Embase", "t", "2020", "", "", "exclude", "", "", "S9"], "study_id",
         "was excluded at title/abstract but has a study_id"),
        (["R3", "Embase", "t", "2020", "", "", "include"], "full_text",
         "has no full-text decision"),
        (["R3", "Embase", "t", "2020", "", "", "include", "include"], "study_id",
         "is included at full text but has no study_id"),
        (["R3", "Embase", "t", "2020", "", "", "include", "exclude", "", ""], "exclusion_reason",
         "without an exclusion_reason"),
        (["R3", "Embase", "t", "2020", "", "", "include", "not_retrieved", "", "S9"], "study_id",
         "has study_id 'S9' but was not included"),
        (["R3", "Hand search", "t", "2020", "", "", "exclude", "", "", "", "", "citation"],
         "title_abstract", "records from other methods go to retrieval"),
        (["R3", "Hand search", "t", "2020", "", "R1", "", "", "", "", "", "citation"],
         "duplicate_of", "no duplicate box for other methods"),
        (["R3", "Hand search", "t", "2020", "", "", "", "", "", "", "other", "citation"],
         "removed", "removes records before screening only for databases"),
    ],
)  # fmt: skip
def test_flow_problems_name_record_row_and_column(tmp_path, row, column, message):
    table = read_screening(write(tmp_path / "s.csv", BASE + [row]))
    problems = flow_problems(table)
    if message is None:
        assert problems == []
        return
    assert len(problems) == 1
    p = problems[0]
    assert (p.row, p.column) == (4, column)
    assert p.message.startswith("record 'R3' ") and message in p.message
    with pytest.raises(InputError) as exc:
        resolve(problems, "error")
    assert str(tmp_path / "s.csv") in str(exc.value)
    warnings = resolve(problems, "warn")
    assert [w.message for w in warnings] == [p.message]
    _, c, _ = summarise(tmp_path / "s.csv", on_inconsistency="warn")
    assert identities(c) == []


def test_warn_mode_counts_as_documented(tmp_path):
    rows = BASE + [
        ["R3", "Embase", "t", "2020", "", "", "exclude", "include", "", "S9"],  # TA exclusion wins
        ["R4", "Embase", "t", "2020", "", "", "include", "include"],  # study of its own
        ["R5", "Embase", "t", "2020", "", "", "include", "exclude"],  # no reason
        ["R6", "Embase", "t", "2020", "", "", ""],  # awaiting screening
    ]
    _, c, warnings = summarise(write(tmp_path / "s.csv", rows), on_inconsistency="warn")
    assert len(warnings) == 4
    assert c["records_excluded"] == 2 and c["records_awaiting_screening"] == 1
    assert c["new_studies"] == 2 and c["new_reports"] == 2
    assert c["dbr_excluded"] == [{"reason": "Reason not reported", "n": 1}]
    assert identities(c) == []


# --------------------------------------------------------------------------- cross checks


def studies_file(tmp_path, ids) -> Path:
    path = tmp_path / "studies.csv"
    path.write_text("study_id,design\n" + "".join(f"{i},rct\n" for i in ids), encoding="utf-8")
    return path


def extraction_file(tmp_path, ids) -> Path:
    path = tmp_path / "extraction.csv"
    lines = ["study_id,outcome,arm,events,total,source"]
    lines += [f"{i},mrs02,evt,1,10,table 2" for i in ids]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_cross_checks_pass_and_warn_for_studies_without_extraction(tmp_path):
    rows = BASE + [["R3", "Embase", "t", "2020", "", "", "include", "include", "", "S2"]]
    table = read_screening(write(tmp_path / "s.csv", rows))
    studies = load_studies(studies_file(tmp_path, ["S1", "S2"]))
    problems, warnings = cross_problems(table, studies, extraction_file(tmp_path, ["S1"]))
    assert problems == []
    assert len(warnings) == 1 and "'S2'" in warnings[0].message
    assert warnings[0].row == 4 and "in no meta-analysis" in warnings[0].message


def test_cross_checks_find_mismatches(tmp_path):
    rows = BASE + [["R3", "Embase", "t", "2020", "", "", "include", "include", "", "S7"]]
    table = read_screening(write(tmp_path / "s.csv", rows))
    studies = load_studies(studies_file(tmp_path, ["S1", "S2"]))
    problems, _ = cross_problems(table, studies, extraction_file(tmp_path, ["S1", "S2", "S8"]))
    found = {(Path(p.file).name, p.row, p.column) for p in problems}
    assert found == {
        ("s.csv", 4, "study_id"),  # S7 included, not in studies.csv
        ("studies.csv", 3, "study_id"),  # S2 in studies.csv, not included
        ("extraction.csv", 4, "study_id"),  # S8 extracted, neither included nor a study
    }
    text = " ".join(p.message for p in problems)
    assert "record 'R3' includes study 'S7'" in text and "study 'S2' is in studies.csv" in text
    with pytest.raises(InputErrors):
        resolve(problems, "error")
    assert len(resolve(problems, "warn")) == 3
