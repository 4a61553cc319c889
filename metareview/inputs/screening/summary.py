"""One screening export (or several of one review) read, deduplicated, checked and counted:
the protocol's ``screening`` block with its defaults, the export files of a review, and
``summarise`` (what ``metareview prisma`` prints and the ``ingest`` stage counts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from metareview.errors import InputWarning
from metareview.inputs.screening.checks import flow_problems, resolve
from metareview.inputs.screening.counts import count, search_from_results
from metareview.inputs.screening.dedup import deduplicate
from metareview.inputs.screening.readers import DEFAULT_OPTIONS, read_screening
from metareview.inputs.screening.records import ScreeningTable

DEFAULTS: dict[str, Any] = {
    "format": "auto",
    "file": "screening.csv",
    "on_inconsistency": "error",
    "deduplicate": "auto",
    "sources": {},
    "search_results": None,
    **DEFAULT_OPTIONS,
}
OPTION_KEYS = tuple(DEFAULT_OPTIONS)


def screening_settings(protocol: Mapping[str, Any] | None) -> dict[str, Any]:
    """The protocol's ``screening`` block with defaults for what it leaves out."""
    block = dict((protocol or {}).get("screening") or {})
    return {**DEFAULTS, **{k: v for k, v in block.items() if v is not None}}


def search_settings(protocol: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The protocol's ``search`` block (or the older ``screening.search_results``) as
    ``{"sources": {name: records}, "kinds": {name: database|register}, "dates": {name:
    date}, "duplicates": {"reference_manager": n, "screening_tool": n} or None}``; None
    when the protocol states neither."""
    block = (protocol or {}).get("search")
    if not block:
        return search_from_results(screening_settings(protocol)["search_results"])
    sources: dict[str, int] = {}
    kinds: dict[str, str] = {}
    dates: dict[str, str] = {}
    for kind, key in (("database", "databases"), ("register", "registers")):
        for entry in block.get(key) or []:
            sources[entry["name"]] = entry["records"]
            kinds[entry["name"]] = kind
            if entry.get("date"):
                dates[entry["name"]] = str(entry["date"])
    dup = block.get("duplicates_removed")
    duplicates = None if dup is None else {k: int(v) for k, v in dup.items()}
    return {"sources": sources, "kinds": kinds, "dates": dates, "duplicates": duplicates}


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
    options: Mapping[str, Any] | None = None,
    search: Mapping[str, Any] | None = None,
) -> tuple[ScreeningTable, dict[str, Any], list[InputWarning]]:
    """Read, deduplicate, check and count one review's screening export(s) (no
    cross-table checks).

    ``options``: the reading options of ``readers.read_screening``; ``search``: the
    protocol's search block (``search_settings``). Returns the table, the counts and the
    warnings; raises ``InputError`` for malformed input and for inconsistent records when
    ``on_inconsistency`` is ``error``.
    """
    table = read_screening(
        paths, format=format, sources=dict(sources or {}), options=dict(options or {})
    )
    deduplicate(table, dedup)
    warnings = list(table.warnings)
    warnings += resolve(flow_problems(table), on_inconsistency)
    counts = count(table, search_results, sources, where=where, search=search)
    return table, counts, warnings
