"""Provenance manifest: what went in, what came out, and with which software; and
``verify``, which re-hashes a manifest's files and names every mismatch."""

from __future__ import annotations

import hashlib
import platform
import re
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from metareview.errors import InputError, raise_collected
from metareview.io import write_json


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE_PREFIX = "metareview:"  # files shipped with the package (e.g. risk-of-bias tools)


def manifest_key(path: str | Path) -> str:
    """How a file is named in the manifest: relative to the working directory (the
    repository), or ``metareview:<path>`` for a file of the installed package, so that
    manifests from two machines compare with ``diff``."""
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    resolved = p.resolve()
    if resolved.is_relative_to(PACKAGE_DIR):
        return PACKAGE_PREFIX + resolved.relative_to(PACKAGE_DIR).as_posix()
    cwd = Path.cwd().resolve()
    return resolved.relative_to(cwd).as_posix() if resolved.is_relative_to(cwd) else p.as_posix()


def locate(key: str, root: Path) -> Path:
    """The file a manifest key names (inverse of :func:`manifest_key`)."""
    if key.startswith(PACKAGE_PREFIX):
        return PACKAGE_DIR / key[len(PACKAGE_PREFIX) :]
    return root / key


def expand_files(paths) -> list[str]:
    """Manifest keys of the files given, plus every file under a given directory (sorted;
    dotfiles such as Snakemake's ``.snakemake_timestamp`` markers are left out)."""
    out: set[str] = set()
    for p in map(Path, paths):
        files = sorted(p.rglob("*")) if p.is_dir() else [p]
        out.update(
            manifest_key(f)
            for f in files
            if f.is_file() and not any(part.startswith(".") for part in f.parts[-1:])
        )
    return sorted(out)


def _requirement_names(dist: str) -> list[str]:

    from packaging.requirements import Requirement

    names = []
    for text in metadata.requires(dist) or []:
        req = Requirement(text)
        # optional extras and other platforms' requirements are not what the jobs import
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        names.append(req.name)
    return names


def runtime_versions(root: str = "metareview") -> dict[str, str]:
    """Python, Snakemake and the installed version of every distribution the package
    depends on, transitively (read from the installed metadata, which is what the jobs
    import, without importing them)."""
    out = {"python": platform.python_version()}
    todo, seen = [root, "snakemake"], set()
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        try:
            out[key] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[key] = "not installed"
            continue
        if name != "snakemake":  # Snakemake's own plugins are not our runtime
            todo += _requirement_names(name)
    return dict(sorted(out.items()))


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


def write_manifest(*, inputs, outputs, protocol, config, path) -> None:
    """``inputs``/``outputs``: files or directories (directories are walked)."""
    write_json(
        path,
        {
            "manifest_version": 1,
            "inputs": {k: sha256(locate(k, Path("."))) for k in expand_files(inputs)},
            "outputs": {
                k: sha256(locate(k, Path(".")))
                for k in expand_files(outputs)
                if k != manifest_key(path)
            },
            "versions": runtime_versions(),
            "git": git_state(),
            "config": config,
            "protocol": protocol,
        },
    )


@dataclass
class Verification:
    manifest: str
    checked: int = 0
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.mismatched or self.missing)

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest": self.manifest,
            "ok": self.ok,
            "checked": self.checked,
            "mismatched": self.mismatched,
            "missing": self.missing,
            "untracked": self.untracked,
        }


_SHA256 = re.compile(r"[0-9a-f]{64}\Z")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    names = {dict: "an object", list: "a list", str: "a text", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


def read_manifest(path: str | Path, shown: str | None = None) -> dict[str, Any]:
    """A ``manifest.json`` checked for the shape :func:`write_manifest` gives it: a JSON
    object whose ``inputs`` and ``outputs`` map file names to sha256 hex digests, with at
    least one file. ``InputError`` naming the file (as ``shown``), line and key otherwise;
    ``FileNotFoundError`` when there is no such file."""
    import json

    file = str(path) if shown is None else shown
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise InputError(file, None, None, f"cannot read file: {exc.strerror}") from None
    try:
        manifest = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(
            file,
            None,
            None,
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(file, exc.lineno, None, f"not valid JSON: {exc.msg}") from None
    if not isinstance(manifest, dict):
        got = _json_type(manifest)
        raise InputError(
            file, None, None, f"a manifest is a JSON object with 'inputs' and 'outputs', got {got}"
        )
    errors: list[InputError] = []
    for key in ("inputs", "outputs"):
        files = manifest.get(key)
        if not isinstance(files, dict):
            what = "is missing" if key not in manifest else f"is {_json_type(files)}"
            errors.append(
                InputError(
                    file, None, key, f"{what}; expected an object mapping each file to its sha256"
                )
            )
            continue
        for name, digest in files.items():
            if not name or not isinstance(digest, str) or not _SHA256.match(digest):
                errors.append(
                    InputError(
                        file,
                        None,
                        f"{key}.{name}",
                        f"{digest!r} is not a sha256 digest (64 lower-case hex digits)",
                    )
                )
    if not errors and not (manifest["inputs"] or manifest["outputs"]):
        errors.append(InputError(file, None, None, "the manifest lists no files to check"))
    raise_collected(errors[:20])
    return manifest


def verify(review_dir: str | Path, root: str | Path = ".") -> Verification:
    """Re-hash every input and output a review's manifest lists (``review_dir`` is
    ``results/<review>`` or its ``manifest.json``).

    Paths in the manifest are relative to ``root`` (the repository the pipeline ran in).
    Files under ``review_dir`` that the manifest does not list are reported as untracked
    (not an error: logs, or files of another pipeline version).
    """
    review_dir, root = Path(review_dir).resolve(), Path(root).resolve()
    if review_dir.is_file():  # the manifest itself was named
        review_dir, manifest_path = review_dir.parent, review_dir
    else:
        manifest_path = review_dir / "manifest.json"
    shown = manifest_path.relative_to(root) if manifest_path.is_relative_to(root) else manifest_path
    manifest = read_manifest(manifest_path, shown.as_posix())
    result = Verification(manifest=shown.as_posix())
    listed = {**manifest["inputs"], **manifest["outputs"]}
    for rel, digest in sorted(listed.items()):
        p = locate(rel, root)
        if not p.is_file():
            result.missing.append(rel)
        elif sha256(p) != digest:
            result.mismatched.append(rel)
        result.checked += 1
    for f in sorted(review_dir.rglob("*")):
        if f.is_file() and f != manifest_path and not f.name.startswith("."):
            rel = f.relative_to(root).as_posix() if f.is_relative_to(root) else f.as_posix()
            if rel not in listed and "/logs/" not in f"/{rel}":
                result.untracked.append(rel)
    return result
