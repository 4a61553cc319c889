"""The study table of ``metareview pool --by`` read column-wise, checked over whole columns.

``read_pool_columns`` accepts only a plainly valid table: one header line naming every
column once, no blank line, no quote, the same number of cells on every line, whole counts
of at most ten ASCII digits (<= ``tables.MAX_COUNT``), events <= totals, totals > 0, no
empty study and no study twice within a group. Each check runs once over a column (a
regular expression over the joined column, numpy over the counts). For anything else it
returns ``None``, and the caller reads the file with the cell-by-cell reader
(``cli.read_rows``), which names the file, row and column of the first problem: the
messages stay exactly those of that reader, while a valid table never pays for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from metareview.inputs.tables import MAX_COUNT, decode
from metareview.text import BIDI, CONTROL

_COUNTS = re.compile(r"(?:[0-9]{1,10}\x00)*[0-9]{1,10}")
_ASCII_SPACE = " \t\x0b\x0c\x1c\x1d\x1e\x1f"  # str.isspace() in ASCII, but for \n and \r


@dataclass
class PoolColumns:
    """A checked ``--by`` table: counts as int64 arrays, groups as codes into ``names``."""

    file: str
    study: list[str]
    counts: dict[str, np.ndarray]
    codes: np.ndarray
    names: list[str]


def _has_space(text: str) -> bool:
    """Whether ``text`` (without line ends) holds a character that ``str.strip`` removes."""
    return not text.isascii() or any(ch in text for ch in _ASCII_SPACE)


def group_codes(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """Integer codes of ``values`` into their sorted distinct values."""
    names = sorted(set(values))
    index = {g: i for i, g in enumerate(names)}
    return np.fromiter(map(index.__getitem__, values), np.int64, len(values)), names


def read_pool_columns(path: str | Path, counts: tuple[str, ...], by: str) -> PoolColumns | None:
    """The table at ``path`` as ``PoolColumns`` when it is plainly valid, else ``None``."""
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    text = decode(file, data)  # its errors are the cell-by-cell reader's own
    if '"' in text or "\r" in text.replace("\r\n", "") or CONTROL.search(text) or BIDI.search(text):
        return None
    text = text.replace("\r\n", "\n")
    if text.endswith("\n"):
        text = text[:-1]
    head, sep, body = text.partition("\n")
    names = [c.strip().lstrip("\ufeff") for c in head.split(",")]
    wanted = ("study", *counts, by)
    if not sep or not body or "" in names or len(set(names)) < len(names):
        return None
    if any(n not in names for n in wanted):
        return None
    ncols = len(names)
    lines = body.count("\n") + 1
    # the same number of cells on every line, and no blank line
    raw = np.frombuffer(body.encode("utf-8"), dtype=np.uint8)
    if body.count(",") != lines * (ncols - 1):
        return None
    ends = np.flatnonzero(raw == 10)
    per_line = np.bincount(np.searchsorted(ends, np.flatnonzero(raw == 44)), minlength=lines)
    if per_line.size != lines or np.any(per_line != ncols - 1):
        return None
    flat = body.replace("\n", ",").split(",")
    col = {n: flat[names.index(n) :: ncols] for n in wanted}
    if _has_space(body):  # cells are stripped, as the CSV reader strips them
        col = {n: [c.strip() for c in cells] for n, cells in col.items()}
    study = col["study"]
    if "" in study or "" in col[by]:
        return None
    values = {}
    for name in counts:
        joined = "\x00".join(col[name])
        if not _COUNTS.fullmatch(joined):
            return None
        values[name] = np.array(joined.split("\x00"), dtype=np.int64)
        if values[name].max() > MAX_COUNT:
            return None
    pairs = (("ai", "n1i"), ("ci", "n2i")) if "ai" in values else (("xi", "ni"),)
    for ev, tot in pairs:
        if np.any(values[ev] > values[tot]) or np.any(values[tot] == 0):
            return None
    codes, groups = group_codes(col[by])
    s_codes, s_names = group_codes([s.casefold() for s in study])
    key = codes * len(s_names) + s_codes
    if np.unique(key).size != key.size:
        return None
    return PoolColumns(file, study, values, codes, groups)


def columns_from_rows(rows: list[dict], counts: tuple[str, ...], by: str) -> PoolColumns:
    """``PoolColumns`` of rows the cell-by-cell reader has checked."""
    codes, names = group_codes([str(r[by]) for r in rows])
    values = {c: np.array([r[c] for r in rows], dtype=np.int64) for c in counts}
    return PoolColumns("", [r["study"] for r in rows], values, codes, names)
