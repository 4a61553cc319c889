"""Provenance manifest: what went in, what came out, and with which software; and
``verify``, which re-hashes a manifest's files and names every mismatch."""

from __future__ import annotations

import hashlib
import os
import platform
import re
import stat
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
    manifests from two machines compare with ``diff``. A path through a symbolic link is
    named by its real file; one that leads outside the repository keeps its own name
    (and ``verify`` refuses it)."""
    p = Path(path)
    resolved = p.resolve()
    if not p.is_absolute() and Path(os.path.abspath(p)) == resolved:
        return p.as_posix()
    # absolute, or reached through a symbolic link (workflow/schemas links to the
    # package's schemas): the real file, which is what `verify` will accept
    if resolved.is_relative_to(PACKAGE_DIR):
        return PACKAGE_PREFIX + resolved.relative_to(PACKAGE_DIR).as_posix()
    cwd = Path.cwd().resolve()
    if resolved.is_relative_to(cwd):
        return resolved.relative_to(cwd).as_posix()
    return p.as_posix()


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


def data_date(paths, cwd: str | Path = ".") -> str | None:
    """The date of the data (YYYY-MM-DD): the last commit that changed ``paths``, or, when
    any of them differs from that commit (or is not tracked), the latest modification date
    of the files (UTC). None when no file exists."""
    paths = [str(p) for p in paths if Path(p).is_file()]
    if not paths:
        return None
    try:
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", *paths],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        date = subprocess.run(
            ["git", "log", "-1", "--format=%cs", "--", *paths],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if date and not changed:
            return date
    except (OSError, subprocess.CalledProcessError):
        pass
    latest = max(Path(p).stat().st_mtime for p in paths)
    return datetime.fromtimestamp(latest, tz=UTC).strftime("%Y-%m-%d")


def provenance(data_files, cwd: str | Path = ".") -> dict[str, object]:
    """What the report prints of where its results came from: the package version, the
    commit and dirty flag of the repository and the date of the data."""
    try:
        version = metadata.version("metareview")
    except metadata.PackageNotFoundError:
        version = None
    return {**git_state(cwd), "version": version, "data_date": data_date(data_files, cwd)}


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
    refused: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.mismatched or self.missing or self.refused)

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest": self.manifest,
            "ok": self.ok,
            "checked": self.checked,
            "mismatched": self.mismatched,
            "missing": self.missing,
            "refused": self.refused,
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


def refusal(key: str, root: Path, allowed: Path) -> tuple[str | None, Path | None]:
    """Why ``verify`` will not hash the file a manifest key names (None if it will), and
    the file. ``verify`` is a trust boundary (an auditor checks a folder somebody sent),
    so a key must be a relative POSIX path without ``.``/``..``/hidden parts or
    backslashes, under the ``allowed`` folder (or a ``metareview:`` file of the installed
    package), reached without any symbolic link, and a regular file: a listed path that
    reaches elsewhere would let a manifest vouch for files that are not the review's."""
    package = key.startswith(PACKAGE_PREFIX)
    rel = key[len(PACKAGE_PREFIX) :] if package else key
    base = PACKAGE_DIR if package else root
    if not rel or any(ord(c) < 0x20 or ord(c) == 0x7F for c in rel):
        return "not a file name (empty, or control characters)", None
    if rel.startswith("/") or re.match(r"[A-Za-z]:", rel) or "\\" in rel:
        return "an absolute path: the manifest must list paths relative to the root", None
    parts = rel.split("/")
    if ".." in parts:
        return "climbs out with '..': the manifest must list paths inside the review", None
    if "." in parts or "" in parts:
        return "not a plain relative path ('.' or an empty part)", None
    if any(part.startswith(".") for part in parts):
        return "a hidden file or folder (a name starting with '.')", None
    path = base.joinpath(*parts)
    if not package and not path.is_relative_to(allowed):
        shown = allowed.relative_to(root).as_posix() if allowed.is_relative_to(root) else allowed
        shown = "the root" if allowed == root else shown
        return f"outside {shown}/ (the folder this kind of file must be in)", None
    current = base
    for part in parts:
        current = current / part
        try:
            st = current.lstat()
        except FileNotFoundError:
            return None, path  # missing: reported as such
        except OSError as exc:
            return f"cannot be read: {exc.strerror}", None
        if stat.S_ISLNK(st.st_mode):
            target = os.path.realpath(current)
            which = "is" if current == path else f"passes through {current.relative_to(base)},"
            return f"{which} a symbolic link (to {target}); only regular files are checked", None
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file", None
    return None, path


def verify(review_dir: str | Path, root: str | Path = ".") -> Verification:
    """Re-hash every input and output a review's manifest lists (``review_dir`` is
    ``results/<review>`` or its ``manifest.json``).

    Paths in the manifest are relative to ``root`` (the repository the pipeline ran in).
    A listed path that is absolute, climbs with ``..``, lies outside its folder (an input
    outside ``root``, an output outside ``review_dir``), is or passes through a symbolic
    link, or is not a regular file is refused (named with the reason; the verification
    is then not ok), whatever its digest. Files under ``review_dir`` that the manifest
    does not list are reported as untracked (not an error: logs, or files of another
    pipeline version).
    """
    review_dir, root = Path(os.path.abspath(review_dir)), Path(root).resolve()
    if review_dir.is_file():  # the manifest itself was named
        review_dir, manifest_path = review_dir.parent, review_dir
    else:
        manifest_path = review_dir / "manifest.json"
    if review_dir.resolve().is_relative_to(root):
        review_dir = review_dir.resolve()
        manifest_path = review_dir / manifest_path.name
    shown = manifest_path.relative_to(root) if manifest_path.is_relative_to(root) else manifest_path
    manifest = read_manifest(manifest_path, shown.as_posix())
    result = Verification(manifest=shown.as_posix())
    listed = {**manifest["inputs"], **manifest["outputs"]}
    folder = {k: root for k in manifest["inputs"]} | {k: review_dir for k in manifest["outputs"]}
    for rel, digest in sorted(listed.items()):
        reason, p = refusal(rel, root, folder[rel])
        if reason is not None:
            result.refused.append({"path": rel, "reason": reason})
        elif p is None or not p.is_file():
            result.missing.append(rel)
        elif sha256(p) != digest:
            result.mismatched.append(rel)
        result.checked += 1
    for f in sorted(review_dir.rglob("*")):
        if (f.is_file() or f.is_symlink()) and f != manifest_path and not f.name.startswith("."):
            rel = f.relative_to(root).as_posix() if f.is_relative_to(root) else f.as_posix()
            if rel not in listed and "/logs/" not in f"/{rel}":
                result.untracked.append(rel)
    return result
