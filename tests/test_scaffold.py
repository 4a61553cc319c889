"""`metareview init` (metareview.inputs.scaffold), the "no studies yet" skip, and a review
added to config/config.yaml not rerunning the other reviews' jobs (issue 16)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ENV, ROOT, SNAKEMAKE, fresh_copy

from metareview.errors import InputError
from metareview.inputs.protocol import load_config, load_protocol, outcome_settings
from metareview.inputs.scaffold import add_to_config, init_review, not_ready

CONFIG = (
    "# Reviews the pipeline runs\nreviews:\n  - old-one  # keep\n\n# tail\nresults_dir: results\n"
)


def repo(tmp_path: Path) -> Path:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(CONFIG)
    return tmp_path


def test_init_writes_a_valid_scaffold(tmp_path):
    root = repo(tmp_path)
    written = init_review("new-review", root, rob_tool="robins_i")
    assert written == [
        "config/reviews/new-review.yaml",
        "data/raw/new-review/studies.csv",
        "data/raw/new-review/extraction.csv",
        "data/raw/new-review/README.md",
        "config/config.yaml",
    ]
    protocol = load_protocol(root / "config/reviews/new-review.yaml")  # valid as written
    assert protocol["risk_of_bias"]["tool"] == "robins_i"
    assert outcome_settings(protocol, "primary")["method"] == "REML"
    text = (root / "config/reviews/new-review.yaml").read_text()
    # every top-level key of the schema is written (or shown commented out) with a comment
    import yaml

    schema = yaml.safe_load((ROOT / "metareview/schemas/protocol.schema.yaml").read_text())
    for key in schema["properties"]:
        line = next((ln for ln in text.splitlines() if ln.lstrip("# ").startswith(f"{key}:")), None)
        assert line is not None and "#" in line.split(":", 1)[1], key
    header = (root / "data/raw/new-review/studies.csv").read_text().strip().split(",")
    assert header[:4] == ["study_id", "label", "year", "design"] and "rob_d7" in header
    assert "rob_overall" in header
    assert (root / "config/config.yaml").read_text() == CONFIG.replace(
        "  - old-one  # keep\n", "  - old-one  # keep\n  - new-review\n"
    )
    assert load_config(root / "config/config.yaml")["reviews"] == ["old-one", "new-review"]
    assert "no studies yet" in not_ready(root / "data/raw/new-review")


def test_init_refuses_to_overwrite_and_writes_nothing_on_error(tmp_path):
    root = repo(tmp_path)
    init_review("a", root)
    before = (root / "config/config.yaml").read_text()
    with pytest.raises(InputError, match="already exists"):
        init_review("a", root)
    (root / "data/raw/b").mkdir(parents=True)
    with pytest.raises(InputError, match="already exists"):
        init_review("b", root)
    assert not (root / "config/reviews/b.yaml").exists()
    with pytest.raises(InputError, match="review id"):
        init_review("../evil", root)
    with pytest.raises(InputError, match="unknown risk-of-bias tool"):
        init_review("c", root, rob_tool="rob9")
    assert not (root / "config/reviews/c.yaml").exists()
    assert (root / "config/config.yaml").read_text() == before


def test_add_to_config_layouts():
    assert add_to_config("reviews: [a, b]  # two\n", "c") == "reviews: [a, b, c]  # two\n"
    assert add_to_config(None, "x").endswith("reviews:\n  - x\n")
    assert add_to_config("reviews:\n- a\n", "b") == "reviews:\n- a\n- b\n"
    with pytest.raises(ValueError, match="already"):
        add_to_config("reviews:\n  - a\n", "a")


def test_cli_init(tmp_path):
    root = repo(tmp_path)
    cmd = [
        sys.executable,
        "-m",
        "metareview.cli",
        "init",
        "x1",
        "--rob-tool",
        "none",
        "--root",
        str(root),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    assert done.returncode == 0, done.stderr
    assert "rob_" not in (root / "data/raw/x1/studies.csv").read_text()
    again = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    assert again.returncode == 2 and "never overwrites" in again.stderr


def _fill(root: Path, review: str, studies, *, rob_columns: bool = True) -> None:
    """Append studies (synthetic counts) to a scaffold's tables; without ``rob_columns`` the
    risk-of-bias columns are removed from studies.csv (absent = not assessed)."""
    raw = root / "data/raw" / review
    header = (raw / "studies.csv").read_text().strip().split(",")
    if not rob_columns:
        header = [c for c in header if not c.startswith("rob_")]
        (raw / "studies.csv").write_text(",".join(header) + "\n")
    with open(raw / "studies.csv", "a", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        for sid, *_ in studies:  # risk-of-bias cells empty: not assessed
            w.writerow([sid, sid, 2020, "rct", ""] + [""] * (len(header) - 5))
    with open(raw / "extraction.csv", "a", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        for sid, e1, n1, e2, n2 in studies:
            w.writerow([sid, "primary", "intervention", e1, n1, "synthetic test data"])
            w.writerow([sid, "primary", "control", e2, n2, "synthetic test data"])


def _snakemake(work: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        SNAKEMAKE + ["--cores", "2", *args], cwd=work, capture_output=True, text=True, env=ENV
    )


@pytest.mark.slow
def test_init_fill_run_and_add_a_review(tmp_path):
    work = fresh_copy(tmp_path / "work", names=("Snakefile", "workflow"))
    (work / "config").mkdir()
    (work / "config/config.yaml").write_text("# reviews\nreviews:\n")
    init_review("first", work)
    run = _snakemake(work)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "no studies yet" in run.stderr and "Traceback" not in run.stderr

    # two studies: the review runs (risk-of-bias columns absent = not assessed)
    _fill(work, "first", [("Trial-A", 12, 100, 20, 100), ("Trial-B", 30, 150, 41, 148)])
    run = _snakemake(work)
    assert run.returncode == 0, run.stderr[-3000:]
    report = work / "results/first/report.html"
    manifest = work / "results/first/manifest.json"
    assert report.exists() and manifest.exists()
    stamps = {p: p.stat().st_mtime_ns for p in (report, manifest)}

    # a second review, registered in config/config.yaml, does not rerun the first's jobs
    init_review("second", work)
    _fill(work, "second", [("S1", 5, 50, 9, 52), ("S2", 7, 60, 6, 61)], rob_columns=False)
    run = _snakemake(work)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (work / "results/second/report.html").exists()
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    verify = subprocess.run(
        [sys.executable, "-m", "metareview.cli", "verify", "results/first"],
        cwd=work,
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert verify.returncode == 0, verify.stderr
