"""One screening export (or several of one review) read, deduplicated, checked and counted:
the protocol's ``screening`` block with its defaults, the export files of a review, and
``summarise`` (what ``metareview prisma`` prints and the ``ingest`` stage counts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from metareview.errors import InputWarning
from metareview.inputs.screening.checks import flow_problems, resolve
from metareview.inputs.screening.counts import count
from metareview.inputs.screening.dedup import deduplicate
from metareview.inputs.screening.readers import read_screening
from metareview.inputs.screening.records import ScreeningTable

DEFAULTS: dict[str, Any] = {
    "format": "auto",
    "file": "screening.csv",
    "on_inconsistency": "error",
    "deduplicate": "auto",
    "sources": {},
    "search_results": None,
}


def screening_settings(protocol: Mapping[str, Any] | None) -> dict[str, Any]:
    """The protocol's ``screening`` block with defaults for what it leaves out."""
    block = dict((protocol or {}).get("screening") or {})
    return {**DEFAULTS, **{k: v for k, v in block.items() if v is not None}}


def screening_files(protocol: Mapping[str, Any] | None, raw_dir: str | Path) -> list[str]:
    """The screening export file(s) of a review: ``screening.file`` under ``raw_dir``."""
    files = screening_settings(protocol)["file"]
    if isinstance(files, str):
        files = [files]
    return [str(Path(raw_dir) / f) for f in files]


def summarise(
    paths: str | Path | Sequence[str | Path],
    format: str = "auto",
    on_inconsistency: str = "error",
    dedup: str = "auto",
    sources: Mapping[str, str] | None = None,
    search_results: Mapping[str, int] | None = None,
    where: tuple[str | None, str] = (None, "screening.search_results"),
) -> tuple[ScreeningTable, dict[str, Any], list[InputWarning]]:
    """Read, deduplicate, check and count one screening export (no cross-table checks).

    Returns the table, the counts and the warnings; raises ``InputError`` for malformed
    input and for inconsistent records when ``on_inconsistency`` is ``error``.
    """
    table = read_screening(paths, format=format, sources=dict(sources or {}))
    deduplicate(table, dedup)
    warnings = list(table.warnings)
    warnings += resolve(flow_problems(table), on_inconsistency)
    counts = count(table, search_results, sources, where=where)
    return table, counts, warnings
