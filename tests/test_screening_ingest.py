"""The ingest stage (bundled reviews, atomic and deterministic outputs), the PRISMA flow
diagram's layout, the `metareview prisma` command and the Snakemake rule."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import pytest

from metareview.errors import InputError
from metareview.inputs.protocol import load_protocol
from metareview.inputs.screening import identities, screening_settings, summarise
from metareview.plots.prisma import COLUMN_WIDTH, PAGE_WIDTH, draw_prisma
from metareview.stages.ingest import ingest
from metareview.stages.layout import SCREENING_FILES

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "screening"
REVIEWS = ["dmvo-mt-vs-bmm", "evt-vs-medical-rcts"]
OUTPUTS = sorted(SCREENING_FILES)


def run_ingest(review: str, out: Path, screening: Path | None = None) -> list[str]:
    raw = ROOT / "data" / "raw" / review
    return ingest(
        screening or raw / "screening.csv",
        ROOT / "config" / "reviews" / f"{review}.yaml",
        raw / "studies.csv",
        raw / "extraction.csv",
        out,
    )


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- bundled data


@pytest.mark.parametrize("review", REVIEWS)
def test_bundled_screening_tables_are_illustrative_and_match_studies(review):
    raw = ROOT / "data" / "raw" / review
    rows = read_rows(raw / "screening.csv")
    assert all("illustrative" in r["notes"] for r in rows)
    assert all(r["doi"] == "" for r in rows)  # no DOIs, real or fake
    included = {r["study_id"] for r in rows if r["full_text"] == "include"}
    studies = [r["study_id"] for r in read_rows(raw / "studies.csv")]
    assert included == set(studies)
    for r in rows:
        if r["full_text"] == "include" or r["duplicate_of"]:
            assert r["title"].startswith("Illustrative excluded record ") or r["title"].endswith(
                "(illustrative record)"
            ), r
        else:
            assert r["title"].startswith("Illustrative excluded record "), r
    readme = (raw / "README.md").read_text(encoding="utf-8")
    assert "## Screening table (illustrative)" in readme
    if review == "dmvo-mt-vs-bmm":
        assert "DISCOUNT" in included


@pytest.mark.parametrize("review", REVIEWS)
def test_ingest_bundled_review(tmp_path, review):
    warnings = run_ingest(review, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(OUTPUTS)
    counts = json.loads((tmp_path / "prisma.json").read_text(encoding="utf-8"))
    assert identities(counts) == []
    studies = read_rows(ROOT / "data" / "raw" / review / "studies.csv")
    assert counts["new_studies"] == len(studies)
    assert counts["illustrative_records"] == counts["records_identified"]
    records = read_rows(tmp_path / "records.csv")
    assert len(records) == counts["records_identified"]
    dups = [r for r in records if r["status"] == "duplicate"]
    assert len(dups) == counts["duplicates"] and all(r["duplicate_of"] for r in dups)
    ids_with_rows = {
        r["study_id"] for r in read_rows(ROOT / "data" / "raw" / review / "extraction.csv")
    }
    assert counts["total_studies_ma"] == len({s["study_id"] for s in studies} & ids_with_rows)
    no_rows = [s["study_id"] for s in studies if s["study_id"] not in ids_with_rows]
    assert len(warnings) == len(no_rows)
    assert all("no rows in extraction.csv" in w for w in warnings)
    if review == "dmvo-mt-vs-bmm":
        assert no_rows == ["DISCOUNT"]
    index = json.loads((tmp_path / "index.json").read_text(encoding="utf-8"))
    assert index["figures"][0]["path"] == f"{tmp_path.name}/prisma.svg"
    assert "Illustrative" in index["figures"][0]["caption"]
    prisma_csv = read_rows(tmp_path / "prisma.csv")
    assert list(prisma_csv[0]) == [
        "data",
        "node",
        "box",
        "description",
        "boxtext",
        "tooltips",
        "url",
        "n",
    ]


def test_protocol_screening_block_defaults_and_validation(tmp_path):
    protocol = load_protocol(ROOT / "config" / "reviews" / "dmvo-mt-vs-bmm.yaml")
    assert protocol["screening"] == {
        "format": "auto",
        "file": "screening.csv",
        "on_inconsistency": "error",
        "deduplicate": "auto",
        "sources": {},
        "not_retrieved_reasons": [
            "Full text not available",
            "No full text",
            "Unable to obtain full text",
        ],
        "not_retrieved_label": "No full text available",
        "unlabelled": "excluded",
    }
    assert screening_settings(protocol)["search_results"] is None
    text = (ROOT / "config" / "reviews" / "dmvo-mt-vs-bmm.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "dmvo-mt-vs-bmm.yaml"
    bad.write_text(text + "screening:\n  format: endnote\n  file: ../x.csv\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_protocol(bad)
    assert "screening.format" in str(exc.value) and "screening.file" in str(exc.value)


# --------------------------------------------------------------------------- atomic, deterministic


def test_ingest_is_deterministic(tmp_path):
    run_ingest("dmvo-mt-vs-bmm", tmp_path / "a")
    run_ingest("dmvo-mt-vs-bmm", tmp_path / "b")
    for name in OUTPUTS:
        a = (tmp_path / "a" / name).read_bytes()
        b = (tmp_path / "b" / name).read_bytes()
        if name == "index.json":  # names its own folder
            a, b = a.replace(b'"a/', b'"x/'), b.replace(b'"b/', b'"x/')
        assert a == b, name


def test_ingest_writes_nothing_on_error(tmp_path):
    rows = read_rows(ROOT / "data" / "raw" / "dmvo-mt-vs-bmm" / "screening.csv")
    assert rows[1]["study_id"] == "DISTAL"
    rows[1]["study_id"] = "NOT-A-STUDY"
    bad = tmp_path / "screening.csv"
    with open(bad, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / "out"
    out.mkdir()
    (out / "records.csv").write_text("old\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        run_ingest("dmvo-mt-vs-bmm", out, screening=bad)
    assert "'NOT-A-STUDY'" in str(exc.value) and "row 3" in str(exc.value)
    assert "study 'DISTAL' is in studies.csv" in str(exc.value)  # no record includes it now
    assert sorted(p.name for p in out.iterdir()) == ["records.csv"]  # no temp folder left
    assert (out / "records.csv").read_text(encoding="utf-8") == "old\n"


def test_ingest_warn_mode(tmp_path):
    rows = read_rows(ROOT / "data" / "raw" / "dmvo-mt-vs-bmm" / "screening.csv")
    rows[0]["study_id"] = "NOT-A-STUDY"
    bad = tmp_path / "screening.csv"
    with open(bad, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    protocol = load_protocol(ROOT / "config" / "reviews" / "dmvo-mt-vs-bmm.yaml")
    protocol["screening"]["on_inconsistency"] = "warn"
    raw = ROOT / "data" / "raw" / "dmvo-mt-vs-bmm"
    warnings = ingest(bad, protocol, raw / "studies.csv", raw / "extraction.csv", tmp_path / "out")
    assert any("NOT-A-STUDY" in w for w in warnings)
    counts = json.loads((tmp_path / "out" / "prisma.json").read_text(encoding="utf-8"))
    assert any("NOT-A-STUDY" in w["message"] for w in counts["warnings"])


# --------------------------------------------------------------------------- diagram


def layout_of(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    boxes = {p.get_gid(): p.get_window_extent(renderer) for p in ax.patches if p.get_gid()}
    texts = {t.get_gid(): t.get_window_extent(renderer) for t in ax.texts}
    return boxes, texts


def inside(inner, outer, tol=0.5) -> bool:
    return (
        inner.x0 >= outer.x0 - tol
        and inner.x1 <= outer.x1 + tol
        and inner.y0 >= outer.y0 - tol
        and inner.y1 <= outer.y1 + tol
    )


def check_layout(fig):
    boxes, texts = layout_of(fig)
    frame = fig.bbox
    for gid, ext in texts.items():
        assert inside(ext, frame), gid
        for prefix in ("prisma-box-", "prisma-header-"):
            if gid.startswith(prefix):
                owner = gid.rsplit("-text-", 1)[0]
                assert inside(ext, boxes[owner]), gid
        if gid.startswith("prisma-band-"):
            assert inside(ext, boxes[gid.removesuffix("-text")]), gid
    solid = {
        g: b
        for g, b in boxes.items()
        if g.startswith(("prisma-box-", "prisma-header-", "prisma-band-"))
    }
    for (ga, a), (gb, b) in combinations(solid.items(), 2):
        assert not a.overlaps(b), (ga, gb)
    for (ga, a), (gb, b) in combinations(texts.items(), 2):
        assert not a.overlaps(b), (ga, gb)
    return boxes, texts


@pytest.mark.parametrize("review", REVIEWS)
def test_diagram_layout_of_bundled_reviews(tmp_path, review):
    run_ingest(review, tmp_path)
    counts = json.loads((tmp_path / "prisma.json").read_text(encoding="utf-8"))
    fig = draw_prisma(counts)
    assert fig.get_size_inches()[0] == COLUMN_WIDTH
    boxes, texts = check_layout(fig)
    for name in ("identified", "removed", "screened", "screen-excluded", "sought",
                 "not-retrieved", "assessed", "reports-excluded", "included"):  # fmt: skip
        assert f"prisma-box-{name}" in boxes
    assert not any(g.startswith("prisma-box-other") for g in boxes)
    for band in ("identification", "screening", "included"):
        assert f"prisma-band-{band}" in boxes
    svg = (tmp_path / "prisma.svg").read_text(encoding="utf-8")
    for gid in (
        "prisma-box-identified",
        "prisma-box-reports-excluded",
        "prisma-arrow-assessed-included",
    ):
        assert f'id="{gid}"' in svg
    assert "Illustrative data" in svg


def test_diagram_with_other_methods_and_long_texts(tmp_path):
    rows = [["record_id", "source", "title", "year", "title_abstract", "full_text",
             "exclusion_reason", "study_id", "source_type", "duplicate_of"]]  # fmt: skip
    sources = ["Cochrane Central Register of Controlled Trials", "Web of Science Core Collection",
               "CINAHL Plus with Full Text", "MEDLINE"]  # fmt: skip
    n = 0
    for i in range(1500):
        n += 1
        rows.append([f"R{n}", sources[i % 4], "t", "2020", "exclude", "", "", "", "", ""])
    reasons = ["Wrong patient population, e.g. anterior circulation large vessel occlusion",
               "Costs in $ and 50% of ^patients_ (literal text)", "Not randomised"]  # fmt: skip
    for r in reasons * 3:
        n += 1
        rows.append([f"R{n}", "MEDLINE", "t", "2020", "include", "exclude", r, "", "", ""])
    for i in range(4):
        n += 1
        rows.append([f"R{n}", "MEDLINE", "t", "2020", "include", "include", "", f"S{i}", "", ""])
    for i, kind in enumerate(["citation", "website", "organisation", "citation"]):
        n += 1
        rows.append([f"R{n}", f"Other {kind}", "t", "2020", "", "include" if i else "exclude",
                     "" if i else "Not randomised", f"O{i}" if i else "", kind, ""])  # fmt: skip
    path = tmp_path / "s.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    _, counts, _ = summarise(path)
    fig = draw_prisma(counts)
    assert fig.get_size_inches()[0] == PAGE_WIDTH
    boxes, texts = check_layout(fig)
    for name in ("other-identified", "other-sought", "other-not-retrieved", "other-assessed",
                 "other-reports-excluded"):  # fmt: skip
        assert f"prisma-box-{name}" in boxes
    shown = [t.get_text() for t in fig.axes[0].texts]
    assert any("$" in s for s in shown)  # printed literally, not as mathtext
    assert any("1,500" in s for s in shown)  # thousands separator
    assert not any(s.endswith("(n") or s.startswith("=") for s in shown)  # counts never split


# --------------------------------------------------------------------------- command line


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "metareview.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )


def test_cli_prisma_prints_counts():
    out = cli("prisma", DATA / "generic_screening.csv")
    assert out.returncode == 0, out.stderr
    counts = json.loads(out.stdout)
    assert counts["records_screened"] == 7 and counts["new_studies"] == 3
    assert counts["warnings"] == []


def test_cli_prisma_several_covidence_files_and_format():
    files = sorted(DATA.glob("review_900001_*_csv_*.csv"))
    out = cli("prisma", *files, "--format", "covidence")
    assert out.returncode == 0, out.stderr
    counts = json.loads(out.stdout)
    assert counts["new_reports"] == 3
    # Covidence exports neither databases nor duplicates: not reported, not invented
    assert counts["records_identified"] is None and counts["duplicates"] is None


def test_cli_prisma_malformed_input_exit_2(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("record_id,source,title_abstract\nR1,MEDLINE,perhaps\n", encoding="utf-8")
    out = cli("prisma", path)
    assert out.returncode == 2 and out.stdout == ""
    assert str(path) in out.stderr and "row 2" in out.stderr and "'title_abstract'" in out.stderr


def test_cli_prisma_inconsistent_input(tmp_path):
    out = cli("prisma", DATA / "rayyan_conflict.csv")
    assert out.returncode == 2 and "conflict" in out.stderr
    out = cli("prisma", DATA / "rayyan_conflict.csv", "--on-inconsistency", "warn")
    assert out.returncode == 0
    assert json.loads(out.stdout)["records_awaiting_screening"] == 3
    out = cli("prisma", tmp_path / "missing.csv")
    assert out.returncode == 2 and "file not found" in out.stderr


# --------------------------------------------------------------------------- Snakemake rule


@pytest.mark.slow
def test_snakemake_rule_ingest(pipeline_workdir):
    """Rule ingest in the session's shared pipeline run writes every screening output."""
    tmp_path = pipeline_workdir
    for review in REVIEWS:
        for name in OUTPUTS:
            assert (tmp_path / "results" / review / "screening" / name).is_file()
        log = (tmp_path / "results" / review / "logs" / "ingest.log").read_text(encoding="utf-8")
        assert "no rows in extraction.csv" in log
