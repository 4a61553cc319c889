"""The study table of ``metareview pool --by`` read column-wise from its bytes.

``read_pool_columns`` accepts only a plainly valid table: one header line naming every
column once, no quote, no lone carriage return, no control or bidirectional character,
the same number of cells on every line, no blank line but at the end, whole counts of at
most ten ASCII digits (<= ``tables.MAX_COUNT``) with no space around them, events <=
totals, totals > 0, no empty study or group and no study twice within a group (ignoring
case). Each check runs once over a whole column with numpy, on the file's bytes: the
counts are parsed from the bytes, and the study and group cells become one fixed-width
byte array each (UTF-8 bytes sort as their text does), so a valid table never becomes a
Python object per cell. For anything else it returns ``None``, and the caller reads the
file with the cell-by-cell reader (``cli.read_rows``), which names the file, row and
column of the first problem: the messages stay exactly those of that reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from metareview.inputs.tables import MAX_COUNT, decode
from metareview.text import BIDI, CONTROL

_MAX_DIGITS = 10  # len(str(MAX_COUNT))
_MAX_WIDTH = 128  # longer study or group cells: Python strings instead of a byte matrix
_COMMA, _NEWLINE, _SPACE, _TAB = 44, 10, 32, 9
#: the bytes of ``text.CONTROL`` in ASCII (all but tab, line feed and carriage return)
_ASCII_CONTROL = [b for b in range(128) if (b < 32 or b == 127) and b not in (9, 10, 13)]


@dataclass
class PoolColumns:
    """A checked ``--by`` table: counts as int64 arrays, groups as codes into ``names``."""

    file: str
    counts: dict[str, np.ndarray]
    codes: np.ndarray
    names: list[str]


def group_codes(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """Integer codes of ``values`` into their sorted distinct values."""
    names = sorted(set(values))
    index = {g: i for i, g in enumerate(names)}
    return np.fromiter(map(index.__getitem__, values), np.int64, len(values)), names


def _codes_of(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of a fixed-width byte array into its sorted distinct values (those values).
    (A sort and a comparison of neighbours: ``np.unique`` is slower here.)"""
    order = np.argsort(cells, kind="stable")
    ordered = cells[order]
    new = np.empty(ordered.size, dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    codes = np.empty(cells.size, dtype=np.int64)
    codes[order] = np.cumsum(new) - 1
    return codes, ordered[new]


def _byte_counts(data: bytes, chunk: int = 1 << 20) -> np.ndarray:
    """How often each byte value occurs in ``data`` (by chunks: ``bincount`` widens its
    input to 8 bytes a value)."""
    raw = np.frombuffer(data, dtype=np.uint8)
    seen = np.zeros(256, dtype=np.int64)
    for at in range(0, raw.size, chunk):
        seen += np.bincount(raw[at : at + chunk], minlength=256)
    return seen


def _count_column(raw: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray | None:
    """The whole numbers in cells ``raw[start:start + length]``, or None unless every cell
    is 1 to 10 ASCII digits."""
    if length.min() < 1 or length.max() > _MAX_DIGITS:
        return None
    value = np.zeros(start.size, dtype=np.int64)
    last = raw.size - 1
    for j in range(int(length.max())):
        inside = j < length
        digit = raw[np.minimum(start + j, last)].astype(np.int64) - 48
        if np.any(inside & ((digit < 0) | (digit > 9))):
            return None
        value = np.where(inside, value * 10 + digit, value)
    return value


def _text_column(
    data: bytes | memoryview,
    raw: np.ndarray,
    start: np.ndarray,
    length: np.ndarray,
    fold: bool,
    ascii_only: bool,
) -> np.ndarray | None:
    """The cells ``raw[start:start + length]`` as one fixed-width byte array (ASCII
    letters lowercased when ``fold``), or None when a cell is empty or, stripped, would
    be. Cells with surrounding white space or non-ASCII case go through Python strings
    (``str.strip``, ``str.casefold``), as the cell-by-cell reader treats them."""
    if length.min() < 1:
        return None
    first = raw[start]
    final = raw[start + length - 1]
    edges = np.concatenate([first, final])
    plain = length.max() <= _MAX_WIDTH and not np.any(
        (edges == _SPACE) | (edges == _TAB) | (edges >= 0x80)
    )
    matrix = None
    if plain:
        matrix = _cell_bytes(raw, start, length, int(length.max()))
        # ASCII case folding is lowercasing; other letters fold through Python
        plain = not fold or ascii_only or not np.any(matrix >= 0x80)
    if not plain:
        cells = [
            bytes(data[s:e]).decode("utf-8").strip()
            for s, e in zip(start.tolist(), (start + length).tolist(), strict=True)
        ]
        if not all(cells):
            return None
        if fold:
            cells = [c.casefold() for c in cells]
        encoded = [c.encode("utf-8") for c in cells]
        return np.array(encoded, dtype=f"S{max(map(len, encoded))}")
    width = int(length.max())
    if fold:
        upper = (matrix >= 65) & (matrix <= 90)
        matrix[upper] += 32
    return matrix.view(f"S{width}").ravel()


def _cell_bytes(raw: np.ndarray, start: np.ndarray, length: np.ndarray, width: int):
    """(cells, width) uint8 matrix of the cells' bytes, zero-padded."""
    matrix = np.zeros((start.size, width), dtype=np.uint8)
    last = raw.size - 1
    for j in range(width):
        inside = j < length
        matrix[inside, j] = raw[np.minimum(start[inside] + j, last)]
    return matrix


def read_pool_columns(path: str | Path, counts: tuple[str, ...], by: str) -> PoolColumns | None:
    """The table at ``path`` as ``PoolColumns`` when it is plainly valid, else ``None``."""
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    text = decode(file, data)  # its errors are the cell-by-cell reader's own
    # one count of every byte value answers: a quote? a control character? only ASCII?
    seen = _byte_counts(data)
    if seen[ord('"')]:
        return None
    ascii_only = not seen[0x80:].any()
    if ascii_only:
        if seen[_ASCII_CONTROL].any():
            return None
    elif CONTROL.search(text) or BIDI.search(text):
        return None
    del text
    if seen[13]:
        data = data.replace(b"\r\n", b"\n")
        if b"\r" in data:
            return None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    data = data.rstrip(b"\n")  # blank lines at the end are skipped by the reader too
    head, sep, _ = data.partition(b"\n")
    names = [c.strip().lstrip("\ufeff") for c in head.decode("utf-8").split(",")]
    wanted = ("study", *counts, by)
    if not sep or "" in names or len(set(names)) < len(names):
        return None
    if any(n not in names for n in wanted):
        return None
    ncols = len(names)
    raw = np.frombuffer(data, dtype=np.uint8)[len(head) + 1 :]
    # cell boundaries: the same number of cells on every line (no blank line)
    seps = np.flatnonzero((raw == _COMMA) | (raw == _NEWLINE))
    cells = seps.size + 1
    if cells % ncols:
        return None
    lines = cells // ncols
    line_end = np.empty(cells, dtype=bool)
    line_end[:-1] = raw[seps] == _NEWLINE
    line_end[-1] = True
    line_end = line_end.reshape(lines, ncols)
    if line_end[:, :-1].any() or not line_end[:, -1].all():
        return None
    offset = len(head) + 1
    # cell (line, column) is raw[start:start + length] (32-bit where the file allows)
    position = np.int32 if raw.size < 2**31 - 1024 else np.int64
    start = np.empty(cells, dtype=position)
    start[0] = 0
    start[1:] = seps
    start[1:] += 1
    length = np.empty(cells, dtype=position)
    length[:-1] = seps
    del seps
    length[:-1] -= start[:-1]
    length[-1] = raw.size - start[-1]
    start = start.reshape(lines, ncols)
    length = length.reshape(lines, ncols)
    values = {}
    for name in counts:
        j = names.index(name)
        column = _count_column(raw, start[:, j], length[:, j])
        if column is None or column.max() > MAX_COUNT:
            return None
        values[name] = column
    pairs = (("ai", "n1i"), ("ci", "n2i")) if "ai" in values else (("xi", "ni"),)
    for ev, tot in pairs:
        if np.any(values[ev] > values[tot]) or np.any(values[tot] == 0):
            return None
    j, k = names.index(by), names.index("study")
    body = memoryview(data)[offset:]
    group = _text_column(body, raw, start[:, j], length[:, j], fold=False, ascii_only=ascii_only)
    study = _text_column(body, raw, start[:, k], length[:, k], fold=True, ascii_only=ascii_only)
    if group is None or study is None:
        return None
    codes, groups = _codes_of(group)
    study_codes, studies = _codes_of(study)
    key = np.sort(codes * studies.size + study_codes)
    if np.any(key[1:] == key[:-1]):
        return None
    return PoolColumns(file, values, codes, [g.decode("utf-8") for g in groups.tolist()])


def columns_from_rows(rows: list[dict], counts: tuple[str, ...], by: str) -> PoolColumns:
    """``PoolColumns`` of rows the cell-by-cell reader has checked."""
    codes, names = group_codes([str(r[by]) for r in rows])
    values = {c: np.array([r[c] for r in rows], dtype=np.int64) for c in counts}
    return PoolColumns("", values, codes, names)
