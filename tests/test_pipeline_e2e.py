"""End-to-end: the Snakemake pipeline on the bundled reviews, in a temporary copy.

Checks the results layout, the published-vs-ours audit, the no-op rerun and that editing
one number of one outcome reruns only that outcome's jobs (plus the per-review ones).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    work = tmp_path_factory.mktemp("pipeline")
    for name in ("Snakefile", "config", "workflow", "data"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, work / name)
        else:
            shutil.copy2(src, work / name)
    run = subprocess.run(
        SNAKEMAKE + ["--cores", "2", "--quiet"], cwd=work, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-4000:]
    return work


def dry_run_jobs(work: Path) -> dict[str, int]:
    out = subprocess.run(
        SNAKEMAKE + ["--cores", "2", "--dry-run"], cwd=work, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout + out.stderr
    if "Nothing to be done" in text:
        return {}
    jobs = {}
    table = text.split("Job stats:")[1]
    for line in table.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m and m.group(1) != "total":
            jobs[m.group(1)] = int(m.group(2))
    return jobs


def test_results_layout(workdir):
    res = workdir / "results" / "dmvo-mt-vs-bmm"
    for outcome in ("mrs02", "mrs01", "sich", "death"):
        assert (res / "pooled" / f"{outcome}.json").is_file()
        assert (res / "forest" / f"{outcome}.svg").is_file()
        assert (res / "forest" / f"{outcome}.png").is_file()
    for name in ("report.html", "audit.json", "manifest.json", "extraction/effects.csv"):
        assert (res / name).is_file()


def test_pooled_values_and_audit(workdir):
    res = workdir / "results" / "dmvo-mt-vs-bmm"
    sich = json.loads((res / "pooled" / "sich.json").read_text())
    assert sich["pooled"] and sich["k"] == 2 and sich["method"] == "REML"
    # ESCAPE-MeVO 14/257 vs 6/272 and DISTAL 16/271 vs 7/272, pooled by REML
    assert sich["back"]["estimate"] == pytest.approx(2.456742, abs=1e-6)
    mrs02 = json.loads((res / "pooled" / "mrs02.json").read_text())
    assert mrs02["pooled"] is False and "k = 1" in mrs02["warnings"][0]
    audit = json.loads((res / "audit.json").read_text())
    status = {(r["outcome"], r["quantity"]): r["status"] for r in audit["values"]}
    assert status[("mrs02", "estimate")] == "not computable"
    assert status[("sich", "k")] == "differs"  # DISCOUNT counts are not on file
    html = (res / "report.html").read_text()
    assert "0.81 [0.49, 1.32]" in html and "<svg" in html
    assert "http://" not in html.split("<svg")[0] and "https://" not in html.split("<svg")[0]
    validation = json.loads((res / "extraction" / "validation.json").read_text())
    assert any("DISCOUNT" in w["message"] for w in validation["warnings"])


def test_noop_rerun(workdir):
    assert dry_run_jobs(workdir) == {}


def test_one_number_edit_reruns_only_that_outcome(workdir):
    path = workdir / "data" / "raw" / "dmvo-mt-vs-bmm" / "extraction.csv"
    original = path.read_text()
    edited = original.replace("DISTAL,death,evt,42,271", "DISTAL,death,evt,43,271")
    assert edited != original
    path.write_text(edited)
    try:
        jobs = dry_run_jobs(workdir)
        assert jobs.get("extract") == 1 and jobs.get("pool") == 1, jobs
        assert jobs.get("report") == 1 and jobs.get("manifest") == 1, jobs
        assert set(jobs) <= {"extract", "pool", "effects", "report", "manifest", "all"}
    finally:
        path.write_text(original)
    assert dry_run_jobs(workdir) in ({}, {"effects": 1, "report": 1, "manifest": 1, "all": 1})


def test_bad_input_fails_cleanly(workdir, tmp_path):
    work = tmp_path / "bad"
    shutil.copytree(workdir, work, ignore=shutil.ignore_patterns("results", ".snakemake"))
    path = work / "data" / "raw" / "dmvo-mt-vs-bmm" / "extraction.csv"
    path.write_text(path.read_text().replace("DISTAL,sich,evt,16,271", "DISTAL,sich,evt,316,271"))
    run = subprocess.run(
        SNAKEMAKE + ["--cores", "2", "--quiet"], cwd=work, capture_output=True, text=True
    )
    assert run.returncode != 0
    assert "extraction.csv, row" in run.stderr and "'events'" in run.stderr
    assert not list((work / "results" / "dmvo-mt-vs-bmm").glob("pooled/*.json"))
