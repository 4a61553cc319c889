"""Hostile input: markup and spreadsheet formulas in labels, YAML tags, shell commands.

A real Snakemake run (temporary copy of the workflow) on a review whose study labels,
covariates, protocol title, outcome labels and arm labels hold HTML/SVG markup and
spreadsheet formulas. The report and the figures must show them as text, the CSVs we
write must neutralise formula-like text cells (but not negative numbers), the fits must
keep the original text, the protocol loader must refuse Python tags, and no table value
may reach a shell.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from metareview.errors import InputError
from metareview.inputs.protocol import load_protocol
from metareview.io import read_csv_dicts, write_csv

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
REVIEW = "hostile"

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
FORMULA = '=HYPERLINK("http://x.test","y")'
LABELS = {"A": SCRIPT, "B": IMG, "C": FORMULA, "D": "@SUM(A1:A9)", "-E": "+cmd"}
REGIONS = {"A": "<b>Europe</b>", "B": "=1+1", "C": "<b>Europe</b>", "D": "=1+1", "-E": "-"}

PROTOCOL = f"""\
review_id: {REVIEW}
title: 'Hostile <script>alert("title")</script> review'
arms:
  intervention: evt
  control: control
  intervention_label: '<img src=x onerror=alert(2)>'
  control_label: '=cmd|'' /C calc''!A0'
defaults:
  measure: OR
  method: DL
outcomes:
  - id: death
    label: '<script>alert("outcome")</script> Mortality'
    direction: lower_is_better
subgroups:
  - id: by-region
    column: region
    label: '<i>Region</i>'
"""

COLUMN = "@SUM(1+1)*cmd|' /C calc'!A0"  # a covariate's name: written in the CSV headers
COUNTS = {"A": (10, 100, 20, 100), "B": (8, 60, 12, 62), "C": (15, 150, 25, 148),
          "D": (30, 120, 22, 118), "-E": (5, 40, 9, 41)}  # fmt: skip


TITLES = [SCRIPT + " trial", IMG, "=1+2 thrombectomy", "@cmd report", "-5 trial", "+x"]


def hostile_screening() -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["record_id", "source", "title", "year", "doi", "duplicate_of", "title_abstract",
         "full_text", "exclusion_reason", "study_id"]
    )  # fmt: skip
    for i, sid in enumerate(LABELS):
        w.writerow([f"R{i + 1}", "MEDLINE", TITLES[i], 2020, "", "", "include", "include", "", sid])
    w.writerow(["R9", "=Embase", TITLES[-1], 2021, "", "", "exclude", "", "", ""])
    w.writerow(["R10", "Embase", "Other", 2021, "", "", "include", "exclude", "<b>wrong</b>", ""])
    return buf.getvalue()


def hostile_tables() -> tuple[str, str]:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["study_id", "label", "year", "design", "reference", "rob_overall", "region", COLUMN]
    )
    for sid, label in LABELS.items():
        w.writerow([sid, label, 2015, "rct", "=cmd|' /C calc'!A0", "low", REGIONS[sid], "x"])
    studies = buf.getvalue()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["study_id", "outcome", "arm", "events", "total", "source"])
    for sid, (ai, n1, ci, n2) in COUNTS.items():
        w.writerow([sid, "death", "evt", ai, n1, "=1+1"])
        w.writerow([sid, "death", "control", ci, n2, "@x"])
    return studies, buf.getvalue()


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    work = tmp_path_factory.mktemp("hostile")
    shutil.copy2(ROOT / "Snakefile", work / "Snakefile")
    shutil.copytree(
        ROOT / "workflow", work / "workflow", ignore=shutil.ignore_patterns("__pycache__")
    )
    (work / "config" / "reviews").mkdir(parents=True)
    (work / "config" / "config.yaml").write_text(f"reviews:\n  - {REVIEW}\n")
    (work / "config" / "reviews" / f"{REVIEW}.yaml").write_text(PROTOCOL)
    raw = work / "data" / "raw" / REVIEW
    raw.mkdir(parents=True)
    studies, extraction = hostile_tables()
    (raw / "studies.csv").write_text(studies)
    (raw / "extraction.csv").write_text(extraction)
    (raw / "screening.csv").write_text(hostile_screening())
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--quiet"],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    return work / "results" / REVIEW


# --------------------------------------------------------------------------- HTML and SVG


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_data(self, data):
        self.text.append(data)


def test_report_shows_markup_as_text(results):
    html = (results / "report.html").read_text(encoding="utf-8")
    parser = Tags()
    parser.feed(html)
    names = {t for t, _ in parser.tags}
    assert not names & {"script", "img", "iframe", "object", "embed", "b", "i"}, names
    handlers = [(t, a) for t, attrs in parser.tags for a, _ in attrs if a.startswith("on")]
    assert handlers == []
    assert not any(v and "javascript:" in v for _, attrs in parser.tags for _, v in attrs)
    text = "".join(parser.text)
    # the hostile strings are there, as text (entity-escaped in the source)
    assert 'Hostile <script>alert("title")</script> review' in text
    assert '<script>alert("outcome")</script> Mortality' in text
    assert "&lt;script&gt;" in html
    assert "<script" not in html.lower()


def svg_files(results: Path) -> list[Path]:
    files = sorted(results.rglob("*.svg"))
    assert any(p.parent.name == "forest" for p in files)
    return files


def test_svgs_hold_no_markup_from_the_data(results):
    forbidden = {"script", "foreignObject", "image", "iframe", "a"}
    seen_text = []
    for path in svg_files(results):
        raw = path.read_text(encoding="utf-8")
        assert "<script" not in raw.lower() and "<img" not in raw.lower(), path
        root = ET.fromstring(raw)  # well-formed XML despite the labels
        for el in root.iter():
            tag = el.tag.split("}")[-1]
            assert tag not in forbidden, (path.name, tag)
            assert not [a for a in el.attrib if a.lower().startswith("on")], (path.name, el.attrib)
            if el.text:
                seen_text.append(el.text)
    text = "\n".join(seen_text)
    assert "alert(1)" in text  # the labels are drawn, as text
    assert FORMULA[:12] in text and "'=" not in text  # the original text, no CSV guard


def test_forest_and_fit_keep_original_labels(results):
    fit = json.loads((results / "pooled" / "death.json").read_text())
    labels = {s["study"]: s["label"] for s in fit["studies"]}
    assert labels == LABELS  # the CSV guard is undone when our own tables are read back


# --------------------------------------------------------------------------- CSV formulas


def csv_cells(path: Path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def test_csvs_neutralise_formulas_but_not_numbers(results):
    files = sorted(results.rglob("*.csv"))
    assert {p.name for p in files} >= {"effects.csv", "death.csv", "records.csv"}
    negative_numbers = 0
    for path in files:
        header, rows = csv_cells(path)
        for row in [header, *rows]:
            for cell in row:
                if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                    float(cell)  # only numbers may start so
                    negative_numbers += cell.startswith("-")
    assert negative_numbers > 0  # e.g. yi = -0.43 stays a number
    header, rows = csv_cells(results / "extraction" / "effects.csv")
    col = {n: i for i, n in enumerate(header)}
    by_study = {r[col["study"]]: r for r in rows}
    assert set(by_study) == {"A", "B", "C", "D", "'-E"}
    assert by_study["C"][col["label"]] == "'" + FORMULA
    assert by_study["D"][col["label"]] == "'@SUM(A1:A9)"
    assert by_study["'-E"][col["label"]] == "'+cmd"
    assert by_study["B"][col["region"]] == "'=1+1"
    assert by_study["A"][col["label"]] == SCRIPT  # not a formula: as it is
    # the column name is guarded once: effects.csv is gathered from the per-outcome tables,
    # whose guard is undone when they are read back
    assert "'" + COLUMN in header and "''" + COLUMN not in header
    header, _ = csv_cells(results / "extraction" / "by_outcome" / "death.csv")
    assert "'" + COLUMN in header
    yi = [float(r[col["yi"]]) for r in rows]
    assert any(y < 0 for y in yi) and all(not r[col["yi"]].startswith("'") for r in rows)


def test_csv_guard_round_trips(tmp_path):
    values = ["=1+1", "'=1+1", "''=x", "-", "-0.43", "'-0.43", "+1e-3", "@x", "plain", "'quoted"]
    path = tmp_path / "t.csv"
    write_csv(path, ["v"], [{"v": v} for v in values])
    assert [r["v"] for r in read_csv_dicts(path)] == values
    written = [r[0] for r in csv.reader(io.StringIO(path.read_text()))][1:]
    assert all(c[:1] not in "=+-@" or re.fullmatch(r"[+-][\d.e+-]+", c) for c in written)
    # column names are guarded like cells, and read back as they were
    names = ["study", "=cmd()", "@x", "+y", "-z", "'=q", "-1"]
    write_csv(path, names, [{n: n for n in names}])
    header = next(csv.reader(io.StringIO(path.read_text())))
    assert header == ["study", "'=cmd()", "'@x", "'+y", "'-z", "''=q", "-1"]
    assert read_csv_dicts(path) == [{n: n for n in names}]


# --------------------------------------------------------------------------- YAML, shell


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system ['touch PWNED']",
        "!!python/object/new:subprocess.Popen [['touch', 'PWNED']]",
        "!!python/name:os.system",
        "!!python/module:os",
    ],
)
def test_protocol_yaml_refuses_python_tags(tmp_path, monkeypatch, tag):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "demo.yaml"
    base = (ROOT / "tests" / "bad_inputs" / "_base" / "demo.yaml").read_text()
    path.write_text(base.replace("title: Demo review", f"title: {tag}\ndescription: Demo", 1))
    with pytest.raises(InputError, match="could not determine a constructor") as info:
        load_protocol(path)
    assert info.value.row == 3
    assert not (tmp_path / "PWNED").exists()


def test_yaml_is_only_read_with_safe_loaders():
    unsafe = re.compile(
        r"yaml\.(unsafe_load|full_load|load_all)\(|yaml\.load\((?![^)]*SafeLoader)"
        r"|Loader=yaml\.(Loader|FullLoader|UnsafeLoader)|yaml\.(Loader|UnsafeLoader)\b"
    )
    files = list((ROOT / "metareview").rglob("*.py")) + list((ROOT / "workflow").rglob("*.py"))
    files += [ROOT / "Snakefile", *(ROOT / "workflow" / "rules").glob("*.smk")]
    for path in files:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            assert not unsafe.search(line), f"{path.relative_to(ROOT)}:{n}: {line.strip()}"


def test_no_table_value_reaches_a_shell():
    """Rules run Python scripts only (no `shell:`/`run:`); no script starts a process;
    the package starts one process (git, fixed arguments, no shell)."""
    rules = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]
    for path in rules:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            assert not re.match(r"\s*(shell|run|wrapper|notebook):", line), (
                f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
            )
    process = re.compile(r"subprocess|os\.system|os\.popen|Popen|os\.exec|os\.spawn|\bpty\.")
    for path in sorted((ROOT / "workflow" / "scripts").glob("*.py")):
        assert not process.search(path.read_text()), path.name
    for path in sorted((ROOT / "metareview").rglob("*.py")):
        text = path.read_text()
        assert "shell=True" not in text, path
        assert not re.search(r"os\.(system|popen|exec\w*|spawn\w*)\(", text), path
        if process.search(text):
            rel = path.relative_to(ROOT).as_posix()
            assert rel == "metareview/manifest.py", f"{rel} starts a process"
            calls = re.findall(r"subprocess\.run\(\s*(\[[^\]]*\])", text)
            # fixed arguments; file paths only after "--" (never read as options)
            fixed = r'\[(\s*"[\w=%-]+",?\s*)+(\*paths)?\]'
            assert calls and all(re.fullmatch(fixed, c) for c in calls), calls
            assert all('"--", *paths' in c for c in calls if "*paths" in c), calls
