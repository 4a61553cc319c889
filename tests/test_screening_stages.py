"""Screening exports as the tools write them, at every stage (issue 14).

Every expected count below is derived by hand from the fixture rows (listed in the
comments), not by the code under test."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from conftest import run_pipeline

from metareview.cli import main
from metareview.errors import InputError
from metareview.inputs.protocol import load_protocol
from metareview.inputs.screening import (
    identities,
    prisma_csv_rows,
    read_screening,
    screening_files,
    summarise,
)
from metareview.inputs.screening.readers import rayyan_decision, rayyan_labels
from metareview.plots.prisma import box_lines
from metareview.stages.ingest import ingest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "screening"
REVIEWS_DIR = Path(__file__).parent / "data" / "screening_reviews"
RAYYAN_TA = DATA / "rayyan_stage_title_abstract.csv"
RAYYAN_FT = DATA / "rayyan_stage_full_text.csv"
ASR_CSV = DATA / "asreview_v2_unnamed_index.csv"
ASR_XLSX = DATA / "asreview_v2_unnamed_index.xlsx"
OVERLAY = DATA / "asreview_fulltext_overlay.csv"
COVIDENCE = sorted(DATA.glob("review_900002_*_csv_*.csv"))

FLOW_KEYS = (
    "records_identified",
    "duplicates",
    "records_screened",
    "records_excluded",
    "dbr_sought_reports",
    "dbr_notretrieved_reports",
    "dbr_assessed",
    "dbr_excluded_total",
    "new_reports",
    "new_studies",
)


def flow(c):
    return tuple(c[k] for k in FLOW_KEYS)


# --------------------------------------------------------------------------- Rayyan

# title/abstract export: 101-104 included (102, 104 in Ruby 3.4 '=>' spacing), 105, 106,
# 108 excluded, 107 undecided copy of 101 (same DOI, upper case). Full-text export:
# 101 included, 102 excluded "wrong population,wrong outcome", 103 labelled
# "No full text available", 104 excluded "wrong study design".
RAYYAN_FLOW = (8, 1, 7, 3, 4, 1, 3, 2, 1, None)


@pytest.mark.parametrize("order", [(RAYYAN_TA, RAYYAN_FT), (RAYYAN_FT, RAYYAN_TA)])
def test_rayyan_two_stage_exports(order):
    table, c, warnings = summarise(list(order))
    assert warnings == []
    assert flow(c) == RAYYAN_FLOW  # later stage found whatever the order
    assert c["dbr_excluded"] == [
        {"reason": "wrong population", "n": 1},
        {"reason": "wrong study design", "n": 1},
    ]
    assert {m["reason"] for m in c["dbr_excluded_mentions"]} == {
        "wrong population",
        "wrong outcome",
        "wrong study design",
    }
    # sources: pubmed_id -> PubMed (101, 103, 104, 107, 108), embase.com url -> Embase
    # (102, 105), neither -> unspecified (106)
    assert c["database_specific_results"] == [
        {"name": "PubMed", "n": 5},
        {"name": "Embase", "n": 2},
        {"name": "Unspecified database", "n": 1},
    ]
    assert table.by_id()["107"].duplicate_of == "101"
    assert identities(c) == []
    assert any("first" in x for x in c["conventions"])


def test_rayyan_title_abstract_export_alone_is_a_partial_flow():
    _, c, warnings = summarise(RAYYAN_TA)
    assert warnings == []
    assert flow(c) == (8, 1, 7, 3, None, None, None, None, None, None)
    assert c["records_passed_screening"] == 4
    assert identities(c) == []
    rows = {r["data"]: r["n"] for r in prisma_csv_rows(c)}
    assert rows["dbr_assessed"] == "NA" and rows["dbr_excluded"] == "NA"
    assert rows["records_screened"] == 7


def test_rayyan_ruby_34_hash_style_and_labels():
    assert rayyan_decision('RAYYAN-INCLUSION: {"A" => "Included", "B" => "Included"}')[0] == (
        "include"
    )
    assert rayyan_labels("RAYYAN-LABELS: rct,No full text available | X") == [
        "rct",
        "No full text available",
    ]


def test_rayyan_not_retrieved_label_is_configurable(tmp_path):
    text = RAYYAN_FT.read_text(encoding="utf-8").replace("No full text available", "no pdf")
    ft = tmp_path / "ft.csv"
    ft.write_text(text, encoding="utf-8")
    _, c, _ = summarise([RAYYAN_TA, ft], on_inconsistency="warn")
    assert c["dbr_notretrieved_reports"] == 0  # 103 is now an exclusion without reason
    _, c, _ = summarise([RAYYAN_TA, ft], options={"not_retrieved_label": "No PDF"})
    assert c["dbr_notretrieved_reports"] == 1


def test_rayyan_full_text_record_missing_from_title_abstract(tmp_path):
    lines = RAYYAN_TA.read_text(encoding="utf-8").splitlines()
    ta = tmp_path / "ta.csv"
    ta.write_text("\n".join(line for line in lines if not line.startswith("104,")) + "\n")
    with pytest.raises(InputError) as exc:
        read_screening([ta, RAYYAN_FT])
    assert "'104'" in str(exc.value) and exc.value.column == "key"


# --------------------------------------------------------------------------- ASReview

# v2 layout: unnamed pandas index first, CRLF. Labels: 0-2 relevant, 3-4 irrelevant,
# 5-7 unlabelled; 7 is a copy of 0 (title differs in case/punctuation, same year).
# Overlay: 0 include (study RHO), 1 exclude "wrong comparator", 2 not_retrieved.


@pytest.mark.parametrize("export", [ASR_CSV, ASR_XLSX])
def test_asreview_v2_export_with_fulltext_overlay(export):
    assert b"\r\n" in ASR_CSV.read_bytes() and ASR_CSV.read_bytes().startswith(b",record_id")
    table, c, _ = summarise([export, OVERLAY])
    assert table.format == "asreview" and table.by_id()["7"].duplicate_of == "0"
    assert flow(c) == (8, 1, 7, 4, 3, 1, 2, 1, 1, 1)
    # unlabelled 5, 6 (7 is a duplicate): excluded by the tool, 3, 4 by a person
    assert (c["records_excluded_human"], c["records_excluded_automation"]) == (2, 2)
    assert c["excluded_automatic"] == 0
    assert c["dbr_excluded"] == [{"reason": "wrong comparator", "n": 1}]
    assert identities(c) == []


def test_asreview_unlabelled_as_automation_tools():
    _, c, _ = summarise([ASR_CSV, OVERLAY], options={"unlabelled": "automation"})
    # 5, 6 marked ineligible by automation tools before screening: 7 - 2 screened
    assert (c["excluded_automatic"], c["records_screened"], c["records_excluded"]) == (2, 5, 2)
    assert identities(c) == []


def test_asreview_without_overlay_stops_at_title_abstract():
    _, c, warnings = summarise(ASR_XLSX)
    assert warnings == [] or all("full-text" not in w.message for w in warnings)
    assert flow(c) == (8, 1, 7, 4, None, None, None, None, None, None)


def test_overlay_naming_an_unknown_record(tmp_path):
    bad = tmp_path / "ft.csv"
    bad.write_text("record_id,full_text\n99,include\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        read_screening([ASR_CSV, bad])
    assert (exc.value.row, exc.value.column) == (2, "record_id") and "'99'" in str(exc.value)


# --------------------------------------------------------------------------- Covidence

# irrelevant: #13, #14; excluded: #15 "Full text not available", #16 "Wrong outcomes";
# included: #11, #12, both labelled "Smith 2020" (two different trials).


def test_covidence_keyed_on_number_with_not_retrieved_reason():
    table, c, _ = summarise(COVIDENCE)
    assert flow(c) == (None, None, 6, 2, 4, 1, 3, 1, 2, 2)
    assert c["database_results"] is None and c["database_specific_results"] is None
    assert c["dbr_excluded"] == [{"reason": "Wrong outcomes", "n": 1}]
    assert identities(c) == []
    rows = {r["data"]: r["n"] for r in prisma_csv_rows(c)}
    assert rows["database_results"] == "NA" and rows["duplicates"] == "NA"


def test_covidence_with_search_block_checked(tmp_path):
    search = {
        "sources": {"PubMed": 5, "Embase": 4},
        "kinds": {"PubMed": "database", "Embase": "database"},
        "dates": {},
        "duplicates": {"screening_tool": 3},
    }
    _, c, _ = summarise(COVIDENCE, search=search)
    assert (c["records_identified"], c["duplicates"], c["database_results"]) == (9, 3, 9)
    assert identities(c) == []
    search["duplicates"] = {"screening_tool": 2}  # 9 - 2 = 7, but 6 records screened
    with pytest.raises(InputError, match="do not add up"):
        summarise(COVIDENCE, search=search)


# --------------------------------------------------------------------------- CLI


def test_cli_prints_counts_for_several_files(capsys):
    assert main(["prisma", str(RAYYAN_FT), str(RAYYAN_TA)]) == 0
    c = json.loads(capsys.readouterr().out)
    assert flow(c) == RAYYAN_FLOW
    proto = REVIEWS_DIR / "config" / "reviews" / "screen-rayyan.yaml"
    assert main(["prisma", "--protocol", str(proto), str(RAYYAN_FT), str(RAYYAN_TA)]) == 0
    c = json.loads(capsys.readouterr().out)
    # search block: PubMed 6 + Embase 4 = 10; duplicates 2 (reference manager) + 1
    assert flow(c)[:3] == (10, 3, 7)


# --------------------------------------------------------------------------- end to end

E2E = {
    # identified 10 (search block), duplicates 2 + 1, rest as RAYYAN_FLOW
    "screen-rayyan": (10, 3, 7, 3, 4, 1, 3, 2, 1, None),
    "screen-asreview": (8, 1, 7, 4, 3, 1, 2, 1, 1, 1),
}


@pytest.mark.parametrize("review", sorted(E2E))
def test_ingest_test_reviews(tmp_path, review):
    raw = REVIEWS_DIR / "data" / "raw" / review
    proto = REVIEWS_DIR / "config" / "reviews" / f"{review}.yaml"
    files = screening_files(load_protocol(proto), raw)
    ingest(files, proto, raw / "studies.csv", raw / "extraction.csv", tmp_path)
    c = json.loads((tmp_path / "prisma.json").read_text(encoding="utf-8"))
    assert flow(c) == E2E[review]
    index = json.loads((tmp_path / "index.json").read_text(encoding="utf-8"))
    assert "Counting conventions" in index["description"]
    if review == "screen-rayyan":
        assert any("studies.csv" in n for n in index["notes"])
        assert c["search_dates"] == {"PubMed": "2025-01-15", "Embase": "2025-01-15"}
    texts = [i.text for items in box_lines(c).values() for i in items]
    drawn = "Studies included in review (n = not reported)" in texts
    assert drawn == (review == "screen-rayyan")
    with open(tmp_path / "prisma.csv", newline="", encoding="utf-8") as fh:
        rows = {r["data"]: r["n"] for r in csv.DictReader(fh)}
    assert rows["new_studies"] == ("NA" if review == "screen-rayyan" else "1")


@pytest.mark.slow
def test_snakemake_runs_both_test_reviews(tmp_path):
    shutil.copytree(ROOT / "workflow", tmp_path / "workflow")
    shutil.copytree(REVIEWS_DIR / "config", tmp_path / "config")
    shutil.copytree(REVIEWS_DIR / "data", tmp_path / "data")
    (tmp_path / "config" / "config.yaml").write_text(
        "reviews:\n  - screen-rayyan\n  - screen-asreview\n", encoding="utf-8"
    )
    (tmp_path / "Snakefile").write_text(
        'configfile: "config/config.yaml"\n\n\n'
        'include: "workflow/rules/common.smk"\n'
        'include: "workflow/rules/screening.smk"\n\n\n'
        "rule all:\n"
        "    input:\n"
        '        expand(L.screening("prisma.json"), review=REVIEWS),\n',
        encoding="utf-8",
    )
    run = run_pipeline(tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    for review, expected in E2E.items():
        path = tmp_path / "results" / review / "screening" / "prisma.json"
        assert flow(json.loads(path.read_text(encoding="utf-8"))) == expected
