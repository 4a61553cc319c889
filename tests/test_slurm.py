"""The pipeline on a real SLURM cluster through snakemake-executor-plugin-slurm.

One bundled review runs through `--profile workflow/profiles/slurm` (one SLURM job: the
profile groups a review's jobs) and through a local `--cores 2` run, each in its own
temporary copy with the same config; every result file must be byte-identical. No mock of
the scheduler: the test needs a running cluster (`sinfo` answering, for example the
one-node cluster of `scripts/local-slurm.sh start`, which `.ci/run` starts) and is skipped,
with the reason, without one.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess

import pytest
from conftest import ENV, SNAKEMAKE, all_files, fresh_copy

REVIEW = "dmvo-mt-vs-bmm"
# a cluster job that stays pending (no node fits) must fail the test, not hang CI
TIMEOUT = 900


def _cluster_reason() -> str | None:
    """Why the SLURM test cannot run here (None: it can)."""
    if shutil.which("sinfo") is None:
        return "no SLURM here (`sinfo` not found; `sudo scripts/local-slurm.sh start`)"
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm not installed (pip install '.[slurm]')"
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        return "`sinfo` did not answer within 30 s"
    states = out.stdout.split()
    if out.returncode != 0 or not any(s in ("idle", "mixed") for s in states):
        return f"no idle SLURM node (`sinfo`: {(out.stdout + out.stderr).strip()[:200]!r})"
    return None


pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def one_review_copy(work):
    work.mkdir()
    fresh_copy(work)
    (work / "config" / "config.yaml").write_text(f"reviews:\n  - {REVIEW}\n")
    return work


def test_bundled_review_on_slurm_is_byte_identical_to_a_local_run(tmp_path):
    reason = _cluster_reason()
    if reason:
        pytest.skip(reason)
    local = one_review_copy(tmp_path / "local")
    cluster = one_review_copy(tmp_path / "slurm")

    run = subprocess.run(
        SNAKEMAKE + ["--cores", "2", "--quiet"],
        cwd=local,
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert run.returncode == 0, run.stderr[-4000:]

    try:
        run = subprocess.run(
            SNAKEMAKE + ["--profile", "workflow/profiles/slurm"],
            cwd=cluster,
            capture_output=True,
            text=True,
            env=ENV,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        partial = "".join(
            x.decode(errors="replace") if isinstance(x, bytes) else (x or "")
            for x in (exc.stdout, exc.stderr)
        )
        for job in re.findall(r"submitted with SLURM jobid (\d+)", partial):
            subprocess.run(["scancel", job], check=False)
        queue = subprocess.run(["squeue", "-t", "all"], capture_output=True, text=True)
        pytest.fail(f"SLURM run still going after {TIMEOUT} s:\n{queue.stdout}\n{partial[-3000:]}")
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    # it went through SLURM, as one cluster job for the whole review (the `group`)
    slurm_ids = re.findall(r"submitted with SLURM jobid (\d+)", log)
    assert len(slurm_ids) == 1, log[-4000:]
    assert "Group job review" in log

    ours, theirs = all_files(local / "results"), all_files(cluster / "results")
    assert sorted(ours) == sorted(theirs)
    assert f"{REVIEW}/manifest.json" in ours
    differ = [name for name in ours if ours[name] != theirs[name]]
    assert differ == []
