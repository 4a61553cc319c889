"""Deterministic, atomic writers: a crash never leaves a half-written file behind, and the
same content always gives the same bytes (sorted JSON keys, fixed line endings)."""

from __future__ import annotations

import csv
import glob
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .tables import restore_text, safe_text


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def remove_stale_temps(paths) -> list[str]:
    """Delete temporary files a killed writer left next to ``paths`` (``.<name>.*.tmp``,
    the names ``atomic_write_bytes`` and the figure writer use); returns what was removed.

    Call it only from the job that owns ``paths`` (Snakemake runs one job per output at a
    time), before writing them.
    """
    removed = []
    for path in map(Path, paths):
        if not path.parent.is_dir():
            continue
        for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
            try:
                tmp.unlink()
            except FileNotFoundError:  # pragma: no cover - raced with another cleanup
                continue
            removed.append(tmp.as_posix())
    return removed


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def dumps_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, dumps_json(obj))


def write_csv(path: str | Path, fieldnames: list[str], rows: list[dict[str, Any]]) -> None:
    """CSV with a fixed column order, '\\n' line ends and text cells guarded against formula
    injection (numbers are written as numbers)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fieldnames, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in fieldnames})
    atomic_write_text(path, buf.getvalue())


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if value == value else ""
    if isinstance(value, str):
        return safe_text(value)
    return value


def read_csv_dicts(path: str | Path) -> list[dict[str, str]]:
    """Read a CSV written by ``write_csv`` back, undoing its formula-injection guard."""
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: restore_text(v) for k, v in row.items()} for row in csv.DictReader(fh)]
