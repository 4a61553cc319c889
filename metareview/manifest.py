"""Provenance manifest: what went in, what came out, and with which software."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from .io import write_json

PACKAGES = (
    "metareview",
    "numpy",
    "scipy",
    "matplotlib",
    "jinja2",
    "pyyaml",
    "jsonschema",
    "snakemake",
)


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_state(cwd: str | Path = ".") -> dict[str, object]:
    """Commit and dirty flag of the repository the pipeline runs in (None outside git)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = (
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=cwd,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            != ""
        )
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def write_manifest(*, inputs, outputs, protocol, path) -> None:
    write_json(
        path,
        {
            "inputs": {str(p): sha256(p) for p in sorted(map(str, inputs))},
            "outputs": {str(p): sha256(p) for p in sorted(map(str, outputs))},
            "versions": versions(),
            "git": git_state(),
            "protocol": protocol,
        },
    )
