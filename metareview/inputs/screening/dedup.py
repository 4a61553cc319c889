"""Duplicate records: found by DOI, then by title and year.

Run when the export has not done it (no ``duplicate_of`` column, no ASReview group ids,
not Covidence, which removes duplicates on import). Only records from databases and
registers take part: PRISMA 2020 has no duplicate box for other methods.

* Two records are duplicates when their DOIs are equal after normalisation (lower case,
  no ``https://doi.org/`` or ``doi:`` prefix), or, when at most one of them has a DOI (or
  the DOIs are equal), when their normalised titles (accents removed, case folded, only
  letters and digits) and years are equal. Two different DOIs are never duplicates.
* Of a set of duplicates the record that went furthest in screening is kept (included >
  excluded at full text > not retrieved > ... ), the first in the file on ties; the others
  get ``duplicate_of`` = the kept record and ``duplicate_rule`` = doi | title_year. They stay
  in ``records.csv``.
"""

from __future__ import annotations

from metareview.errors import InputWarning
from metareview.inputs.screening.records import STATUS_WORDS, Record, ScreeningTable

MODES = ("auto", "always", "never")


def _rule(member: Record, keep: Record) -> str:
    if member.doi_key and member.doi_key == keep.doi_key:
        return "doi"
    return "title_year"


def find_duplicate_groups(records: list[Record]) -> list[list[Record]]:
    """Groups (in file order) of records that are duplicates of each other."""
    groups: list[list[Record]] = []
    group_dois: list[set[str]] = []
    by_doi: dict[str, int] = {}
    by_title: dict[tuple[str, int], list[int]] = {}
    for rec in records:
        doi, title = rec.doi_key, rec.title_key
        g = by_doi.get(doi) if doi else None
        if g is None and title and rec.year is not None:
            for candidate in by_title.get((title, rec.year), []):
                dois = group_dois[candidate]
                if not doi or not dois or doi in dois:
                    g = candidate
                    break
        if g is None:
            g = len(groups)
            groups.append([])
            group_dois.append(set())
        groups[g].append(rec)
        if doi:
            group_dois[g].add(doi)
            by_doi.setdefault(doi, g)
        if title and rec.year is not None:
            keys = by_title.setdefault((title, rec.year), [])
            if g not in keys:
                keys.append(g)
    return [g for g in groups if len(g) > 1]


def deduplicate(table: ScreeningTable, mode: str = "auto") -> int:
    """Mark duplicates in ``table`` (in place); returns how many records were marked.

    ``mode``: auto (only when the export carries no duplicate information), always, never.
    """
    if mode not in MODES:
        raise ValueError(f"unknown deduplication mode {mode!r}; use {', '.join(MODES)}")
    if mode == "never" or (mode == "auto" and table.deduplicated):
        return 0
    candidates = [r for r in table.records if not r.duplicate_of and not r.other_method]
    marked = 0
    for group in find_duplicate_groups(candidates):
        keep = max(group, key=lambda r: r.progress())  # first of the furthest
        for rec in group:
            if rec is keep:
                continue
            if (
                (rec.title_abstract or rec.full_text)
                and not rec.screened_by
                and rec.status() != keep.status()
            ):
                table.warnings.append(
                    InputWarning(
                        rec.file,
                        rec.row,
                        table.column("record_id"),
                        f"record {rec.record_id!r} ({STATUS_WORDS[rec.status()]}) is a "
                        f"duplicate of {keep.record_id!r} ({STATUS_WORDS[keep.status()]}, "
                        f"row {keep.row}); only {keep.record_id!r} is counted",
                    )
                )
            rec.duplicate_of = keep.record_id
            rec.duplicate_rule = _rule(rec, keep)
            marked += 1
    if marked:
        table.conventions.append(
            f"{marked} duplicate copies within the export found by DOI, then normalised "
            "title + year; the copy that went furthest in screening is kept"
        )
    table.deduplicated = True
    return marked
