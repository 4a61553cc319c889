"""Deterministic, atomic writers: a crash never leaves a half-written file behind, and the
same content always gives the same bytes (sorted JSON keys, fixed line endings)."""

from __future__ import annotations

import csv
import glob
import io
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from metareview.text import printable

#: a plain decimal number as text (``-0.43``, ``1e-3``): never guarded, read as a number
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates the file 0600; an output follows the umask as any tool's would
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


_PID_TEMP = re.compile(r"\..+?[.-](\d+)[.-][0-9a-f]+\.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's live process
        return True
    return True


def remove_stale_temps(paths) -> list[str]:
    """Delete what a killed writer left next to ``paths``; returns what was removed.

    * ``.<name>.*.tmp`` for each output ``<name>`` (the temporary files of
      ``atomic_write_bytes`` and of the figure writer), and
    * a staging folder ``.<stage>-<pid>-<hex>.tmp`` (or ``.<stage>.<pid>.<hex>.tmp``) in the
      outputs' folders whose process ``<pid>`` is no longer running on this machine.

    Call it only from the job that owns ``paths`` (Snakemake runs one job per output at a
    time), before writing them. Temporary *files* of other outputs are never touched (a
    folder such as ``forest/`` is shared by concurrent jobs, possibly on other hosts).
    """
    removed = []
    candidates: dict[Path, None] = {}
    for path in map(Path, paths):
        folder = path.parent
        if not folder.is_dir():
            continue
        for tmp in folder.glob(f".{glob.escape(path.name)}.*.tmp"):
            candidates[tmp] = None
        for tmp in folder.glob(".*.tmp"):
            m = _PID_TEMP.fullmatch(tmp.name)
            if (
                m
                and tmp.is_dir()
                and int(m.group(1)) != os.getpid()
                and not _alive(int(m.group(1)))
            ):
                candidates[tmp] = None
    for tmp in candidates:
        try:
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp)
            else:
                tmp.unlink()
        except FileNotFoundError:  # pragma: no cover - raced with another cleanup
            continue
        removed.append(tmp.as_posix())
    return removed


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


#: the tokens of compact JSON: a string, a run of scalar text (": ", numbers, true, null),
#: or a bracket or comma
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[^"{}\[\],]+|[{}\[\],]')
_CLOSE = {"{": "}", "[": "]"}


def dumps_json(obj: Any) -> str:
    """``json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)``
    and a final newline, byte for byte; encoded by the json module's C encoder (which has
    no indentation) and indented here: several times faster for results of thousands of
    studies (the pure-Python indenting encoder took seconds per file)."""
    compact = json.dumps(
        obj, sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",", ": ")
    )
    tokens = _JSON_TOKEN.findall(compact)
    out = []
    level = 0
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        if tok == "{" or tok == "[":
            if i + 1 < n and tokens[i + 1] == _CLOSE[tok]:
                out.append(tok + tokens[i + 1])
                i += 2
                continue
            level += 1
            out.append(tok + "\n" + "  " * level)
        elif tok == "}" or tok == "]":
            level -= 1
            out.append("\n" + "  " * level + tok)
        elif tok == ",":
            out.append(",\n" + "  " * level)
        else:
            out.append(tok)
        i += 1
    return "".join(out) + "\n"


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, dumps_json(obj))


def write_csv(path: str | Path, fieldnames: list[str], rows: list[dict[str, Any]]) -> None:
    """CSV with a fixed column order, '\\n' line ends and text cells guarded against formula
    injection (numbers are written as numbers). The header is guarded like the cells: the
    column names come from the user's tables (a studies.csv covariate named ``=cmd()``).
    Control characters (``metareview.text``) are written as U+FFFD."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fieldnames, lineterminator="\n", extrasaction="ignore")
    writer.writerow({k: safe_text(printable(k)) for k in fieldnames})
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in fieldnames})
    atomic_write_text(path, buf.getvalue())


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if value == value else ""
    if isinstance(value, str):
        return safe_text(printable(value))
    return value


def read_csv_dicts(path: str | Path) -> list[dict[str, str]]:
    """Read a CSV written by ``write_csv`` back, undoing its formula-injection guard (of the
    column names as of the cells)."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = [restore_text(name) for name in next(reader, [])]
        return [
            {k: restore_text(v) for k, v in zip(header, cells, strict=False)}
            for cells in reader
            if cells  # csv.DictReader skips blank lines too
        ]


def _formula_like(text: str) -> bool:
    """Text a spreadsheet would run as a formula (after any leading apostrophes)."""
    core = text.lstrip("'")
    return core.startswith(_FORMULA_START) and not NUMBER.match(core)


def safe_text(value):
    """Guard a text cell of an output CSV against spreadsheet formula injection.

    Text starting with ``= + - @``, a tab or a carriage return gets a leading apostrophe
    unless it is a number (``-0.43``, ``+1e-3`` stay as they are); other values are
    returned unchanged. Text that already starts with apostrophes before such a character
    gets one more, so that ``restore_text`` gives back exactly the original text.
    """
    if isinstance(value, str) and _formula_like(value):
        return "'" + value
    return value


def restore_text(value):
    """The inverse of ``safe_text``: the original text of a guarded cell we wrote."""
    if isinstance(value, str) and value.startswith("'") and _formula_like(value):
        return value[1:]
    return value
