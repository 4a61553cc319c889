"""Whole reviews in one job (config ``reviews_per_job``) and the figure formats a run writes
(config ``figures``).

The batch rules run every stage of several reviews in one process; they must write the same
files, byte for byte, as the default per-outcome jobs (the shared pipeline run).
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from conftest import ENV, SNAKEMAKE, all_files, fresh_copy, run_pipeline

from metareview import figures
from metareview.errors import InputError
from metareview.inputs.protocol import load_config


def _results(work):
    """Every result file, without the logs (one per job: their layout differs by mode)."""
    return {
        k: v
        for k, v in all_files(work / "results").items()
        if "/logs/" not in k and not k.endswith(".snakemake_timestamp")
    }


@pytest.mark.slow
def test_whole_review_jobs_write_the_per_outcome_jobs_bytes(pipeline_workdir, tmp_path):
    work = fresh_copy(tmp_path / "batch", per_outcome=False)
    assert "reviews_per_job: 1" in (work / "config" / "config.yaml").read_text()
    dry = subprocess.run(
        [*SNAKEMAKE, "-n", "--config", "reviews_per_job=3"],
        cwd=work,
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert dry.returncode == 0, dry.stderr[-3000:]
    stats = dry.stdout.split("Job stats:")[-1].split("Reasons:")[0]
    jobs = dict(re.findall(r"(?m)^(\S+)\s+(\d+)$", stats))
    assert jobs == {"reviews_1": "1", "reviews_2": "1", "all": "1", "total": "3"}, stats
    run = run_pipeline(work, "--config", "reviews_per_job=3")
    assert run.returncode == 0, run.stderr[-4000:]
    ours, theirs = _results(work), _results(pipeline_workdir)
    assert sorted(ours) == sorted(theirs)
    assert [k for k in ours if ours[k] != theirs[k]] == []
    # one log per review, with the stages' warnings
    for review in ("dmvo-mt-vs-bmm", "rescue-stenting"):
        assert (work / "results" / review / "logs" / "review.log").is_file()
    # a no-op rerun runs nothing
    again = run_pipeline(work, "-n", "--config", "reviews_per_job=3")
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_no_figures_draws_nothing_and_the_report_says_so(tmp_path):
    work = fresh_copy(tmp_path / "nofig")
    (work / "config" / "config.yaml").write_text(
        "reviews:\n  - evt-vs-medical-rcts\nreviews_per_job: 1\nfigures: []\n"
    )
    run = run_pipeline(work)
    assert run.returncode == 0, run.stderr[-4000:]
    files = _results(work)
    assert [k for k in files if k.endswith((".svg", ".png", ".pdf"))] == []
    report = files["evt-vs-medical-rcts/report.html"].decode()
    assert "<svg" not in report and "Figure not drawn" in report
    manifest = json.loads(files["evt-vs-medical-rcts/manifest.json"])
    assert manifest["outputs"]
    assert [k for k in manifest["outputs"] if k.endswith((".svg", ".png", ".pdf"))] == []


@pytest.mark.slow
def test_svg_only_in_the_per_outcome_jobs(tmp_path):
    work = fresh_copy(tmp_path / "svg")
    (work / "config" / "config.yaml").write_text(
        "reviews:\n  - dmvo-mt-vs-bmm\nfigures: [svg]\n"
    )
    run = run_pipeline(work)
    assert run.returncode == 0, run.stderr[-4000:]
    files = _results(work)
    assert any(k.endswith(".svg") for k in files)
    assert [k for k in files if k.endswith((".png", ".pdf"))] == []


@pytest.mark.parametrize(
    "text, where",
    [
        ("reviews: [a]\nfigures: [png]\n", "figures"),
        ("reviews: [a]\nfigures: [svg, gif]\n", "figures"),
        ("reviews: [a]\nreviews_per_job: 0\n", "reviews_per_job"),
        ("reviews: [a]\nreviews_per_job: two\n", "reviews_per_job"),
    ],
)
def test_bad_settings_are_named(tmp_path, text, where):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_config(path)
    assert where in str(err.value) and str(path) in str(err.value)


def test_figure_formats():
    try:
        assert figures.configure(None) == ("svg", "png", "pdf")
        assert figures.configure(["pdf", "svg"]) == ("svg", "pdf")
        assert figures.files("forest/a.svg") == ["forest/a.svg", "forest/a.pdf"]
        assert figures.configure([]) == () and not figures.drawn()
        assert figures.files("forest/a.svg") == []
        with pytest.raises(ValueError, match="svg"):
            figures.configure(["png"])
    finally:
        figures.configure(None)
