"""End-to-end: the Snakemake pipeline on the bundled reviews, in a temporary copy.

Checks the results layout, the published-vs-ours audit, the no-op rerun, that editing
one number of one outcome reruns only that outcome's jobs (plus the per-review ones),
that a second run from a clean copy gives byte-identical files, `metareview verify`
before and after tampering, the `audit` target and Snakemake's own report.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ENV, SNAKEMAKE, all_files, fresh_copy, run_pipeline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workdir(pipeline_workdir, tmp_path_factory):
    """The session's shared run, copied once for this module's tests that rerun jobs."""
    work = tmp_path_factory.mktemp("e2e") / "work"
    shutil.copytree(pipeline_workdir, work, symlinks=True)
    return work


def dry_run_jobs(work: Path) -> dict[str, int]:
    out = subprocess.run(
        SNAKEMAKE + ["--cores", "2", "--dry-run"], cwd=work, capture_output=True, text=True, env=ENV
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
    assert "1.33 [0.90, 1.98] (k = 3)" in html  # published decimals kept (YAML reads 0.9)
    assert status[("death", "ci_lb")] == "differs"  # 0.91 here vs 0.90 published
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
        # death's own jobs once each (dmvo plans a model-comparison sensitivity analysis
        # for death), then the per-review ones (the report job also writes the manifest)
        for rule in ("pool", "analyses", "report"):
            assert jobs.get(rule) == 1, jobs
        assert set(jobs) <= {"pool", "analyses", "studies", "ingest", "report", "all"}
    finally:
        path.write_text(original)
    leftover = dry_run_jobs(workdir)
    assert set(leftover) <= {"studies", "ingest", "report", "all"}, leftover


def test_bad_input_fails_cleanly(workdir, tmp_path):
    work = tmp_path / "bad"
    shutil.copytree(workdir, work, ignore=shutil.ignore_patterns("results", ".snakemake"))
    path = work / "data" / "raw" / "dmvo-mt-vs-bmm" / "extraction.csv"
    path.write_text(path.read_text().replace("DISTAL,sich,evt,16,271", "DISTAL,sich,evt,316,271"))
    run = subprocess.run(
        SNAKEMAKE + ["--cores", "2", "--quiet"], cwd=work, capture_output=True, text=True, env=ENV
    )
    assert run.returncode != 0
    assert "extraction.csv, row" in run.stderr and "'events'" in run.stderr
    assert not list((work / "results" / "dmvo-mt-vs-bmm").glob("pooled/*.json"))


def test_second_clean_run_is_byte_identical(workdir, tmp_path):
    """Two runs from clean copies (different folders) give the same bytes everywhere."""
    (tmp_path / "again").mkdir()
    other = fresh_copy(tmp_path / "again")
    run = run_pipeline(other)
    assert run.returncode == 0, run.stderr[-4000:]
    first, second = all_files(workdir / "results"), all_files(other / "results")
    assert sorted(first) == sorted(second)
    differing = [name for name in first if first[name] != second[name]]
    assert differing == []


def test_verify_passes_then_fails_after_tampering(workdir, tmp_path):
    work = tmp_path / "verify"
    shutil.copytree(workdir, work, ignore=shutil.ignore_patterns(".snakemake"))
    review = "results/evt-vs-medical-rcts"
    ok = subprocess.run(
        [sys.executable, "-m", "metareview.cli", "verify", review],
        cwd=work,
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["ok"] and report["checked"] > 20 and not report["mismatched"]
    by_file = subprocess.run(
        [sys.executable, "-m", "metareview.cli", "verify", f"{review}/manifest.json"],
        cwd=work,
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert by_file.returncode == 0 and json.loads(by_file.stdout) == report, by_file.stderr
    extraction = work / "data" / "raw" / "evt-vs-medical-rcts" / "extraction.csv"
    extraction.write_bytes(extraction.read_bytes().replace(b",233,", b",234,", 1))
    (work / review / "pooled" / "death.json").write_text("{}")
    bad = subprocess.run(
        [sys.executable, "-m", "metareview.cli", "verify", review],
        cwd=work,
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert bad.returncode == 1
    assert "MISMATCH data/raw/evt-vs-medical-rcts/extraction.csv" in bad.stderr
    assert "MISMATCH results/evt-vs-medical-rcts/pooled/death.json" in bad.stderr


def test_audit_target_fails_on_unreproduced_primary_outcome(workdir):
    """Each review's audit is its own job: --keep-going checks all of them even when one
    fails (without it Snakemake stops scheduling at the first failure)."""
    run = run_pipeline(workdir, "audit", "--keep-going")
    assert run.returncode != 0
    # the DMVO primary outcome (mRS 0-2) has one trial on file: not computable
    assert "primary outcome 'mrs02', estimate" in run.stderr
    assert "not computable" in run.stderr
    assert (workdir / "results" / "evt-vs-medical-rcts" / "audit.ok").is_file()
    assert not (workdir / "results" / "dmvo-mt-vs-bmm" / "audit.ok").exists()
    # the cohort and case-series reviews audit published values that differ (other study
    # sets), with audit.fail_on empty: they pass
    for review in ("dmvo-case-series", "rescue-stenting"):
        ok = (workdir / "results" / review / "audit.ok").read_text()
        assert "audit passed" in ok and "failing statuses for primary outcomes: none" in ok


def test_snakemake_report(workdir):
    run = subprocess.run(
        SNAKEMAKE + ["--cores", "1", "--report", "snakemake-report.html"],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    html = (workdir / "snakemake-report.html").read_text(errors="replace")
    assert "Forest plots" in html and "Funnel plots" in html


def count_gids(svg: str, prefix: str) -> int:
    return len(set(re.findall(rf'id="({re.escape(prefix)}[^"]*)"', svg)))


def test_stage4_outputs_on_the_example_review(workdir):
    """Subgroup, sensitivity and small-study outputs of evt mRS 0-2, and their figures'
    structure (one row/point per study, one subtotal diamond per subgroup level)."""
    res = workdir / "results" / "evt-vs-medical-rcts"
    fit = json.loads((res / "pooled" / "mrs02.json").read_text())
    k = fit["k"]
    sub = json.loads((res / "subgroup" / "mrs02" / "category.json").read_text())
    levels = [g["level"] for g in sub["subgroups"]]
    svg = (res / "subgroup" / "mrs02" / "category.svg").read_text()
    assert count_gids(svg, "subtotal-diamond-") == len(levels)
    assert count_gids(svg, "pooled-diamond") == 1 and "subgroup-test" in svg
    index = json.loads((res / "sensitivity" / "mrs02" / "index.json").read_text())
    kinds = [a["kind"] for a in index["analyses"]]
    assert kinds == ["leave_one_out", "influence", "cumulative", "methods", "zero_cells", "exclude"]
    loo = (res / "sensitivity" / "mrs02" / "leave-one-out.svg").read_text()
    assert count_gids(loo, "loo-row-") == k
    assert (
        count_gids((res / "sensitivity" / "mrs02" / "cumulative.svg").read_text(), "cumul-row-")
        == k
    )
    baujat = (res / "sensitivity" / "mrs02" / "influence-baujat.svg").read_text()
    assert count_gids(baujat, "baujat-point-") == k
    bias = json.loads((res / "bias" / "mrs02.json").read_text())
    assert bias["result"]["k"] == k and bias["result"]["underpowered"] is (k < 10)
    assert count_gids((res / "funnel" / "mrs02.svg").read_text(), "funnel-point-") == k
    html = (res / "report.html").read_text()
    for heading in (
        "Subgroups: Region",
        "Sensitivity: Leave-one-out",
        "Small-study effects",
        "Risk of bias",
        "Study selection (PRISMA 2020)",
        "Protocol and deviations",
    ):
        assert heading in html, heading
    # the small-study tests' own warnings reach the report (sICH: a double-zero trial)
    assert "Peters&#39; test: 1 study has no events (or only events) in both arms" in html
    # subgroup levels shown with the protocol's labels (subgroups[].levels), not as codes
    assert "Large ischaemic core" in html and ">large_core<" not in html
    category_svg = (res / "subgroup" / "mrs02" / "category.svg").read_text()
    assert "Large ischaemic core" in category_svg
