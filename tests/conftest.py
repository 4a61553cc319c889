"""Shared test set-up: a deterministic hypothesis profile, the `slow` marker, and one
Snakemake run of the bundled reviews shared by every end-to-end test of the session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

# CI must not pass or fail by chance: examples are derived from each test's own source, not
# drawn at random (HYPOTHESIS_PROFILE=explore draws new ones, for a developer's machine).
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

#: metafor fixture comparisons: relative and absolute tolerance, the fields of a fit
REL, ABS = 1e-6, 1e-9
FIT_FIELDS = (
    "k",
    "estimate",
    "se",
    "ci_lb",
    "ci_ub",
    "stat",
    "pval",
    "df",
    "pi_lb",
    "pi_ub",
    "tau2",
    "tau2_se",
    "tau2_ci_lb",
    "tau2_ci_ub",
    "i2",
    "i2_ci_lb",
    "i2_ci_ub",
    "h2",
    "h2_ci_lb",
    "h2_ci_ub",
    "q",
    "q_df",
    "q_pval",
)

# the package under test is this repository's, whatever else is installed
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
}


def fresh_copy(
    work: Path, names=("Snakefile", "config", "workflow", "data"), per_outcome: bool = True
) -> Path:
    """The pipeline's files (no results) in ``work``; with ``per_outcome`` the config runs
    one job per stage and outcome (the bundled config's ``reviews_per_job`` line removed):
    the tests exercise that DAG, and ``test_batch.py`` the whole-review jobs against it."""
    work.mkdir(parents=True, exist_ok=True)
    for name in names:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(
                src, work / name, ignore=shutil.ignore_patterns("__pycache__", "results")
            )
        else:
            shutil.copy2(src, work / name)
    config = work / "config" / "config.yaml"
    if per_outcome and config.is_file():
        lines = config.read_text(encoding="utf-8").splitlines(keepends=True)
        config.write_text(
            "".join(x for x in lines if not x.startswith("reviews_per_job:")), encoding="utf-8"
        )
    return work


def run_pipeline(work: Path, *args: str, cores: int = 2, **kwargs) -> subprocess.CompletedProcess:
    """``snakemake --cores N ARGS --quiet`` in ``work``, with this repository's package."""
    return subprocess.run(
        SNAKEMAKE + ["--cores", str(cores), *args, "--quiet"],
        cwd=work,
        capture_output=True,
        text=True,
        env=ENV,
        **kwargs,
    )


def all_files(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` by relative path, with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="session")
def pipeline_workdir(tmp_path_factory) -> Path:
    """A copy of the repository's pipeline with the bundled reviews run once, cold. Tests
    read it; a test that changes files works on its own copy (``copy_of_run``)."""
    work = fresh_copy(tmp_path_factory.mktemp("pipeline"))
    # under the usual umask 022, whatever the test runner's: test_outputs checks the modes
    run = run_pipeline(work, preexec_fn=lambda: os.umask(0o022))
    assert run.returncode == 0, run.stderr[-4000:]
    return work


@pytest.fixture
def copy_of_run(pipeline_workdir, tmp_path) -> Path:
    """A private copy of the shared run (results and Snakemake's metadata included)."""
    work = tmp_path / "work"
    shutil.copytree(pipeline_workdir, work, symlinks=True)
    return work
