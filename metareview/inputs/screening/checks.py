"""Consistency of the screening records, and against ``studies.csv`` / ``extraction.csv``.

``flow_problems`` finds records whose decisions do not make one path through the PRISMA
flow; ``cross_problems`` compares the included studies with the studies and extraction
tables. Both return ``InputError`` objects naming the file, row, column and the record (or
study) id; ``resolve`` raises them (``on_inconsistency: error``) or turns them into
``InputWarning`` objects (``warn``). How a record with a problem is counted in ``warn``
mode is stated by ``prisma.count``.
"""

from __future__ import annotations

from pathlib import Path

from metareview.errors import InputError, InputWarning, raise_collected
from metareview.inputs.screening.records import ScreeningTable
from metareview.inputs.tables import MAX_ERRORS, StudyTable, read_csv_table

POLICIES = ("error", "warn")


def flow_problems(table: ScreeningTable) -> list[InputError]:
    """Records whose decisions do not add up to one path through the flow diagram.

    * a duplicate (``duplicate_of`` given in the file) or a record removed before screening
      carries no screening decisions;
    * a record from databases and registers has a title/abstract decision;
    * a record excluded at title/abstract has no full-text decision and no study_id;
    * a record included at title/abstract (or from other methods) has a full-text decision
      (include, exclude, not_retrieved); a full-text include has a study_id, a full-text
      exclusion a reason; only full-text includes have a study_id;
    * records from other methods (websites, organisations, citation searching) are not
      duplicates, removed, or excluded at title/abstract (PRISMA 2020 has no such boxes).
    """
    out: list[InputError] = []

    def add(rec, field_name, message):
        out.append(
            InputError(
                rec.file, rec.row, table.column(field_name), f"record {rec.record_id!r} {message}"
            )
        )

    for rec in table.records:
        decided = [
            name for name in ("title_abstract", "full_text", "study_id") if getattr(rec, name)
        ]
        if rec.duplicate_of:
            if rec.other_method:
                add(
                    rec,
                    "duplicate_of",
                    f"comes from {rec.source!r} ({rec.source_type}), but PRISMA 2020 has no "
                    "duplicate box for other methods: delete the record (it is left out of the "
                    "counts)",
                )
            elif rec.duplicate_rule == "given" and decided:
                add(
                    rec,
                    decided[0],
                    f"is a duplicate of {rec.duplicate_of!r} but has a {decided[0]} value; a "
                    "duplicate is not screened (clear its decisions, or its duplicate_of)",
                )
            continue
        if rec.removed:
            if rec.other_method:
                add(
                    rec,
                    "removed",
                    f"comes from {rec.source!r} ({rec.source_type}), but PRISMA 2020 removes "
                    "records before screening only for databases and registers (it is left out "
                    "of the counts)",
                )
            elif decided:
                add(
                    rec,
                    decided[0],
                    f"was removed before screening ({rec.removed}) but has a {decided[0]} value",
                )
            continue
        if rec.issue:
            add(rec, "title_abstract" if not rec.title_abstract else "full_text", rec.issue)
            continue
        if rec.other_method and rec.title_abstract == "exclude":
            add(
                rec,
                "title_abstract",
                f"comes from {rec.source!r} ({rec.source_type}): records from other methods go "
                "to retrieval without title/abstract screening in PRISMA 2020; leave "
                "title_abstract empty (it is left out of the counts)",
            )
            continue
        if not rec.other_method and rec.title_abstract == "":
            add(
                rec,
                "title_abstract",
                "was not screened: title_abstract is empty (give include or exclude, or mark "
                "it removed: automation | other)",
            )
            continue
        if rec.title_abstract == "exclude":
            if rec.full_text:
                add(
                    rec,
                    "full_text",
                    "was excluded at title/abstract but has a full-text decision "
                    f"({rec.full_text})",
                )
            elif rec.study_id:
                add(rec, "study_id", "was excluded at title/abstract but has a study_id")
            continue
        if rec.full_text == "" and table.stages == "title_abstract":
            continue  # the export stops at title/abstract: a partial flow
        if rec.full_text == "":
            add(
                rec,
                "full_text",
                "has no full-text decision (include, exclude or not_retrieved)",
            )
        elif rec.full_text == "include" and not rec.study_id and not table.study_ids:
            continue  # the export records reports, not studies
        elif rec.full_text == "include" and not rec.study_id:
            add(rec, "study_id", "is included at full text but has no study_id")
        elif rec.full_text != "include" and rec.study_id:
            add(
                rec,
                "study_id",
                f"has study_id {rec.study_id!r} but was not included (full_text {rec.full_text})",
            )
        elif rec.full_text == "exclude" and not rec.exclusion_reason:
            add(rec, "exclusion_reason", "was excluded at full text without an exclusion_reason")
    return out


def included_studies(table: ScreeningTable) -> dict[str, list]:
    """study_id -> the records (reports) included at full text for it, in file order."""
    out: dict[str, list] = {}
    for rec in table.records:
        if rec.status() == "included" and rec.study_id:
            out.setdefault(rec.study_id, []).append(rec)
    return out


def cross_problems(
    table: ScreeningTable,
    studies: StudyTable,
    extraction_path: str | Path | None = None,
) -> tuple[list[InputError], list[InputWarning]]:
    """Included studies against ``studies.csv`` and ``extraction.csv``.

    Problems: an included study_id not in studies.csv; a study of studies.csv that no
    record includes; extraction rows of a study that is neither included nor in
    studies.csv. Warnings (always): an included study without extraction rows (it is in
    the review but in no meta-analysis).
    """
    problems: list[InputError] = []
    warnings: list[InputWarning] = []
    included = included_studies(table)
    study_ids = set(studies.ids)
    sid_col = table.column("study_id")
    screening_name = Path(table.files[0]).name
    # a tool's own study label (Covidence 'Study') names a study when it is unique
    label_of: dict[str, str] = {}
    seen_labels: dict[str, int] = {}
    for sid, recs in included.items():
        label = recs[0].study_label
        if label:
            label_of[sid] = label
            seen_labels[label] = seen_labels.get(label, 0) + 1
    label_of = {sid: lab for sid, lab in label_of.items() if seen_labels[lab] == 1}
    if label_of:
        by_label = {lab: sid for sid, lab in label_of.items() if sid not in study_ids}
        included = {
            (label_of[sid] if sid in by_label.values() else sid): recs
            for sid, recs in included.items()
        }
    for sid, recs in included.items():
        if sid not in study_ids:
            rec = recs[0]
            problems.append(
                InputError(
                    rec.file,
                    rec.row,
                    sid_col,
                    f"record {rec.record_id!r} includes study {sid!r}, which is not in "
                    f"{Path(studies.file).name}",
                )
            )
    for study in studies:
        if study.study_id not in included:
            problems.append(
                InputError(
                    studies.file,
                    study.row,
                    "study_id",
                    f"study {study.study_id!r} is in {Path(studies.file).name} but no record "
                    f"of {screening_name} includes it (full_text include with this study_id)",
                )
            )
    if extraction_path is not None:
        ext = read_csv_table(extraction_path, ("study_id",))
        first_row: dict[str, int] = {}
        for r in ext:
            first_row.setdefault(r["study_id"], r.row)
        for sid, row in first_row.items():
            if sid and sid not in included and sid not in study_ids:
                problems.append(
                    InputError(
                        ext.file,
                        row,
                        "study_id",
                        f"extraction rows for study {sid!r}, which no record of "
                        f"{screening_name} includes",
                    )
                )
        for sid, recs in included.items():
            if sid in study_ids and sid not in first_row:
                warnings.append(
                    InputWarning(
                        recs[0].file,
                        recs[0].row,
                        sid_col,
                        f"study {sid!r} is included but has no rows in "
                        f"{Path(ext.file).name}: it is in the review but in no meta-analysis",
                    )
                )
    return problems, warnings


def resolve(problems: list[InputError], on_inconsistency: str = "error") -> list[InputWarning]:
    """Raise the problems (``error``) or return them as warnings (``warn``)."""
    if on_inconsistency not in POLICIES:
        raise ValueError(f"on_inconsistency must be error or warn, not {on_inconsistency!r}")
    if on_inconsistency == "error":
        raise_collected(problems[:MAX_ERRORS])
        return []
    return [InputWarning(p.file, p.row, p.column, p.message) for p in problems]
