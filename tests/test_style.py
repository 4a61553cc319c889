"""The workflow passes `snakemake --lint` and `snakefmt --check`; the code is ruff-clean."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(cmd):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)


def test_snakemake_lint():
    out = run([sys.executable, "-m", "snakemake", "--lint"])
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


@pytest.mark.skipif(shutil.which("snakefmt") is None, reason="snakefmt not installed")
def test_snakefmt():
    out = run(["snakefmt", "--check", "Snakefile", "workflow/rules"])
    assert out.returncode == 0, out.stderr[-3000:]


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed")
def test_ruff():
    out = run(["ruff", "check", "metareview", "tests", "workflow", "benchmarks", "data"])
    assert out.returncode == 0, out.stdout[-3000:]
