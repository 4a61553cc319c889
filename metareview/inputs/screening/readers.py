"""Readers for screening exports: generic ``screening.csv``, Covidence, Rayyan, ASReview.

The format is detected from the header (``detect_format``) unless given. Each reader maps
the export to the generic shape (``records.Record``). Column names of the exports:

* **Covidence** ("Export references", CSV): ``Title, Authors, Abstract, Published Year,
  Published Month, Journal, Volume, Issue, Pages, Accession Number, DOI, Ref, Covidence #,
  Study, Notes, Tags``. Covidence exports one file per list (its file names read
  ``review_<id>_<list>_csv_<timestamp>.csv``, list = ``screen``, ``irrelevant``,
  ``select``, ``excluded``, ``included``); the full-text exclusion reason is in ``Notes``
  as ``Exclusion reason: <reason>``. Give the per-list files, or one file with an added
  ``Stage`` column holding the list name. Covidence removes duplicates on import, so the
  records are taken as deduplicated.
* **Rayyan** (CSV export): ``key, title, year, month, day, journal, issn, volume, issue,
  pages, authors, url, language, publisher, location, abstract, notes, doi, keywords,
  pubmed_id, pmc_id``; the decisions are in ``notes``: ``RAYYAN-INCLUSION: {"Alice"=>
  "Included", "Bob"=>"Excluded"} | RAYYAN-LABELS: ... | RAYYAN-EXCLUSION-REASONS: wrong
  population,wrong outcome``. A Rayyan export holds one screening stage: its decisions are
  title/abstract decisions.
* **ASReview** LAB (export dataset, CSV/XLSX): ``record_id``, the columns of the imported
  dataset (``title``, ``abstract``, ``doi``, ``year``, ...) and the label: ``asreview_label``
  (ASReview 2: 1, 0 or empty, with ``asreview_time``, ``asreview_note``,
  ``asreview_group_id`` for duplicate groups) or ``included`` (ASReview 1: 1, 0, empty or
  -1, with ``asreview_ranking``). Unlabelled records were not screened by a human: they
  are "records marked as ineligible by automation tools".

Generic columns added to an export (``source``, ``source_type``, ``full_text``,
``exclusion_reason``, ``study_id``, ``duplicate_of``, ``removed``) are used as given, so
full-text decisions can be added to a title/abstract-only export.

CSV files may have a UTF-8 byte-order mark, CRLF line ends and quoted multi-line cells.
XLSX files (the first sheet) are read with ``openpyxl``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from metareview.errors import InputError, InputWarning, raise_collected
from metareview.inputs.screening.records import (
    ALLOWED,
    EXTRA_COLUMNS,
    GENERIC_COLUMNS,
    UNSPECIFIED_SOURCE,
    Record,
    ScreeningTable,
    classify_source,
    norm_choice,
    norm_token,
    parse_year,
)
from metareview.inputs.tables import (
    MAX_ERRORS,
    CsvRow,
    CsvTable,
    check_characters,
    outside_repository,
    read_csv_table,
)

FORMATS = ("generic", "covidence", "rayyan", "asreview")

GENERIC_REQUIRED = ("record_id", "source", "title_abstract")

COVIDENCE_COLUMNS = (
    "Title",
    "Authors",
    "Abstract",
    "Published Year",
    "Published Month",
    "Journal",
    "Volume",
    "Issue",
    "Pages",
    "Accession Number",
    "DOI",
    "Ref",
    "Covidence #",
    "Study",
    "Notes",
    "Tags",
)
COVIDENCE_LISTS = ("screen", "irrelevant", "select", "excluded", "included")
_COVIDENCE_STAGE = {
    "screen": "screen",
    "title_and_abstract_screening": "screen",
    "irrelevant": "irrelevant",
    "select": "select",
    "full_text_review": "select",
    "excluded": "excluded",
    "included": "included",
    "extraction": "included",
}
_COVIDENCE_FILE = re.compile(
    r"(?:^|[_\-.\s])(screen|irrelevant|select|excluded|included)(?=[_\-.\s]|$)"
)
_COVIDENCE_REASON = re.compile(r"exclusion reason:\s*([^;\n\r]+)", re.IGNORECASE)

RAYYAN_COLUMNS = (
    "key",
    "title",
    "year",
    "month",
    "day",
    "journal",
    "issn",
    "volume",
    "issue",
    "pages",
    "authors",
    "url",
    "language",
    "publisher",
    "location",
    "abstract",
    "notes",
    "doi",
    "keywords",
    "pubmed_id",
    "pmc_id",
)
_RAYYAN_INCLUSION = re.compile(r"RAYYAN-INCLUSION:\s*\{(.*?)\}", re.DOTALL)
_RAYYAN_VOTE = re.compile(r'"((?:[^"\\]|\\.)*)"\s*=>\s*"((?:[^"\\]|\\.)*)"')
_RAYYAN_REASONS = re.compile(r"RAYYAN-EXCLUSION-REASONS:\s*([^|]*)")

# ASReview's own order of label column names (asreview.data.base)
ASREVIEW_LABELS = (
    "asreview_label",
    "included",
    "label",
    "final_included",
    "label_included",
    "included_label",
    "included_final",
    "included_flag",
    "include",
)
_ASREVIEW_TRUE = {"1", "1.0", "yes", "y", "true"}
_ASREVIEW_FALSE = {"0", "0.0", "no", "n", "false"}
_ASREVIEW_NONE = {"", "-1", "-1.0", "nan", "na", "none"}

# generic columns an export may carry in addition to its own
_OVERLAY = (
    "source",
    "source_type",
    "full_text",
    "exclusion_reason",
    "study_id",
    "duplicate_of",
    "removed",
)


# --------------------------------------------------------------------------- raw tables


class _Columns:
    """Case- and space-insensitive lookup of a table's column names."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = list(names)
        self._lower = {}
        for n in self.names:
            self._lower.setdefault(" ".join(n.lower().split()), n)

    def get(self, *candidates: str) -> str | None:
        for c in candidates:
            hit = self._lower.get(" ".join(c.lower().split()))
            if hit is not None:
                return hit
        return None

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None


def _xlsx_table(path: Path) -> CsvTable:
    file = str(path)
    import openpyxl  # imported here: CSV-only reviews do not pay for it

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError:
        raise InputError(file, None, None, "file not found") from None
    except Exception as exc:  # zipfile.BadZipFile, KeyError, ...
        raise InputError(file, None, None, f"cannot read the workbook: {exc}") from None
    try:
        sheet = book.worksheets[0]
        raw = [[_xlsx_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
    if any(not c for r in raw for c in r):
        _formulas_without_values(path, raw)
    start = 0
    while start < len(raw) and not any(raw[start]):
        start += 1
    if start == len(raw):
        raise InputError(file, None, None, "the first sheet is empty; expected a header row")
    names = [c.lstrip("\ufeff") for c in raw[start]]
    while names and not names[-1]:
        names.pop()
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name and name in seen:
            raise InputError(file, start + 1, name, f"column name {name!r} appears twice")
        seen[name] = i
    rows = []
    for index in range(start + 1, len(raw)):
        cells = raw[index] + [""] * max(0, len(names) - len(raw[index]))
        if not any(cells):
            continue
        rows.append(CsvRow({n: cells[i] for i, n in enumerate(names) if n}, index + 1))
    table = CsvTable(file=file, columns=[n for n in names if n], rows=rows, header_row=start + 1)
    table.warnings = check_characters(table)
    linked = outside_repository(path)
    if linked is not None:
        table.warnings.insert(0, linked)
    return table


def _formulas_without_values(path: Path, raw: list[list[str]]) -> None:
    """``InputError`` when empty cells of the first sheet are formulas: a workbook written
    by a program other than Excel (a script, some exports) stores formulas without their
    values, which read as empty cells."""
    import openpyxl

    file = str(path)
    book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    try:
        found = [
            (i, j, value)
            for i, row in enumerate(book.worksheets[0].iter_rows(values_only=True))
            for j, value in enumerate(row)
            if isinstance(value, str)
            and value.startswith("=")
            and i < len(raw)
            and j < len(raw[i])
            and not raw[i][j]
        ]
    finally:
        book.close()
    if not found:
        return
    header = next((r for r in raw if any(r)), [])
    i, j, formula = found[0]
    column = header[j] if j < len(header) and header[j] else None
    shown = formula if len(formula) <= 40 else formula[:37] + "..."
    raise InputError(
        file,
        i + 1,
        column,
        f"formulas without values: {len(found)} cell{'s' if len(found) > 1 else ''} of the "
        f"first sheet hold a formula but no stored value (this one: {shown!r}), so they "
        "would read as empty; open and save the file in Excel (or export it as CSV)",
    )


def _xlsx_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value).strip()


def read_table(path: str | Path) -> CsvTable:
    """The export as a ``CsvTable`` (header + stripped cells, spreadsheet row numbers)."""
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _xlsx_table(path)
    return read_csv_table(path, ())


# --------------------------------------------------------------------------- detection


def detect_format(columns: Sequence[str]) -> str | None:
    """generic, covidence, rayyan or asreview from a header; None if none fits."""
    cols = _Columns(columns)
    if "Covidence #" in cols:
        return "covidence"
    if "title_abstract" in cols and "record_id" in cols:
        return "generic"
    if "record_id" in cols and (
        any(cols.get(c) for c in ASREVIEW_LABELS)
        or any(c.lower().startswith("asreview_") for c in cols.names)
    ):
        return "asreview"
    if all(c in cols for c in ("key", "title", "notes")):
        return "rayyan"
    return None


def _unknown_format(table: CsvTable) -> InputError:
    names = [n for n in table.columns]
    shown = ", ".join(repr(n) for n in names[:12]) + (" ..." if len(names) > 12 else "")
    hint = ""
    if len(names) == 1 and any(d in names[0] for d in (";", "\t", "|")):
        hint = " The header looks like it is not comma-separated; save the file as CSV UTF-8."
    return InputError(
        table.file,
        table.header_row,
        None,
        f"cannot tell the screening export format from the header ({shown}).{hint} "
        "Expected a generic screening.csv (record_id, source, title_abstract, ...), a "
        "Covidence export ('Covidence #'), a Rayyan export (key, title, notes) or an "
        "ASReview export (record_id with asreview_label or included); or give the format "
        "(screening.format in the protocol, --format on the command line)",
    )


# --------------------------------------------------------------------------- helpers


def _require(table: CsvTable, cols: _Columns, names: Sequence[str], fmt: str) -> None:
    missing = [n for n in names if n not in cols]
    if missing:
        raise_collected(
            [
                InputError(
                    table.file,
                    table.header_row,
                    n,
                    f"missing column {n!r} of a {fmt} export (the header has: "
                    f"{', '.join(repr(c) for c in table.columns[:12])}"
                    f"{' ...' if len(table.columns) > 12 else ''})",
                )
                for n in missing
            ]
        )


def _choice(file, row, column, field_name, value, errors) -> str:
    got = norm_choice(field_name, value)
    if got is None:
        errors.append(
            InputError(
                file,
                row,
                column,
                f"{value!r} is not a {field_name} value; use one of "
                f"{', '.join(ALLOWED[field_name])} (or leave it empty)",
            )
        )
        return ""
    return got


def _apply_overlay(rec: Record, r: CsvRow, cols: _Columns, file: str, errors: list) -> None:
    """Generic columns added to an export override what the adapter derived."""
    for name in _OVERLAY:
        col = cols.get(name)
        if col is None:
            continue
        value = r[col]
        if name in ALLOWED:
            if value:
                setattr(rec, name, _choice(file, r.row, col, name, value, errors))
        elif value:
            setattr(rec, name, value)


def _export_table(
    file: str,
    fmt: str,
    records: list[Record],
    columns: dict[str, str],
    cols: _Columns,
    deduplicated: bool,
) -> ScreeningTable:
    """The ``ScreeningTable`` of a tool's export: ``columns`` names the export's columns
    each generic field came from; the generic columns added to the export
    (``_apply_overlay``) are named where present."""
    for name in _OVERLAY:
        if cols.get(name):
            columns[name] = cols.get(name)
    return ScreeningTable(
        files=[file],
        format=fmt,
        records=records,
        columns=columns,
        deduplicated=deduplicated,
        has_source=cols.get("source") is not None,
    )


def _year(file, row, column, value, errors, strict: bool) -> int | None:
    year = parse_year(value)
    if value and year is None and strict:
        errors.append(
            InputError(file, row, column, f"year {value!r} holds no four-digit year (1800-2099)")
        )
    return year


# --------------------------------------------------------------------------- readers


def _read_generic(table: CsvTable) -> ScreeningTable:
    cols = _Columns(table.columns)
    _require(table, cols, GENERIC_REQUIRED, "generic screening.csv")
    file = table.file
    errors: list[InputError] = []
    records: list[Record] = []
    names = {n: cols.get(n) for n in GENERIC_COLUMNS + EXTRA_COLUMNS}
    for r in table:

        def cell(name, r=r):
            col = names[name]
            return r[col] if col else ""

        rec = Record(
            record_id=cell("record_id"),
            source=cell("source"),
            title=cell("title"),
            year=_year(file, r.row, names["year"], cell("year"), errors, strict=True),
            doi=cell("doi"),
            duplicate_of=cell("duplicate_of"),
            exclusion_reason=cell("exclusion_reason"),
            study_id=cell("study_id"),
            notes=cell("notes"),
            file=file,
            row=r.row,
        )
        for name in ALLOWED:
            if names[name]:
                value = _choice(file, r.row, names[name], name, cell(name), errors)
                setattr(rec, name, value)
        if not rec.source:
            errors.append(
                InputError(
                    file,
                    r.row,
                    names["source"],
                    f"record {rec.record_id!r}: source is empty (name the database, register "
                    "or other method the record came from)",
                )
            )
        records.append(rec)
        if len(errors) >= MAX_ERRORS:
            break
    raise_collected(errors[:MAX_ERRORS])
    columns = {n: c for n, c in names.items() if c}
    return ScreeningTable(
        files=[file],
        format="generic",
        records=records,
        columns=columns,
        deduplicated=names["duplicate_of"] is not None,
    )


def _covidence_stage_of_file(path: str) -> str | None:
    """The Covidence list named in an export's file name (None if none or several)."""
    found = set(_COVIDENCE_FILE.findall(Path(path).stem.lower()))
    return found.pop() if len(found) == 1 else None


def _read_covidence(table: CsvTable) -> ScreeningTable:
    cols = _Columns(table.columns)
    _require(table, cols, ("Covidence #", "Title"), "Covidence")
    file = table.file
    stage_col = cols.get("Stage", "Covidence stage", "List")
    file_stage = _covidence_stage_of_file(file)
    if stage_col is None and file_stage is None:
        raise InputError(
            file,
            table.header_row,
            None,
            "cannot tell which Covidence list the records come from: give the per-list "
            "exports with Covidence's file names (review_<id>_<list>_csv_<date>.csv, list = "
            f"{', '.join(COVIDENCE_LISTS)}) or add a 'Stage' column holding the list",
        )
    errors: list[InputError] = []
    records: list[Record] = []
    c = {n: cols.get(n) for n in COVIDENCE_COLUMNS}
    for r in table:
        stage = file_stage
        if stage_col is not None and r[stage_col]:
            stage = _COVIDENCE_STAGE.get(norm_token(r[stage_col]))
            if stage is None:
                errors.append(
                    InputError(
                        file,
                        r.row,
                        stage_col,
                        f"{r[stage_col]!r} is not a Covidence list; use one of "
                        f"{', '.join(COVIDENCE_LISTS)}",
                    )
                )
                continue
        elif stage is None:
            errors.append(InputError(file, r.row, stage_col, "Stage is empty"))
            continue
        notes = r[c["Notes"]] if c["Notes"] else ""
        rec = Record(
            record_id=r[c["Covidence #"]],
            title=r[c["Title"]],
            year=_year(
                file,
                r.row,
                c["Published Year"],
                r.get(c["Published Year"] or "", ""),
                errors,
                False,
            ),
            doi=r[c["DOI"]] if c["DOI"] else "",
            file=file,
            row=r.row,
        )
        if stage == "screen":
            rec.issue = "is still in Covidence's title/abstract screening list ('screen')"
        elif stage == "irrelevant":
            rec.title_abstract = "exclude"
        else:
            rec.title_abstract = "include"
            if stage == "select":
                rec.issue = "is still in Covidence's full-text review list ('select')"
            elif stage == "excluded":
                rec.full_text = "exclude"
                reasons = [m.strip() for m in _COVIDENCE_REASON.findall(notes) if m.strip()]
                rec.exclusion_reason = "; ".join(dict.fromkeys(reasons))
            else:
                rec.full_text = "include"
                rec.study_id = r[c["Study"]] if c["Study"] else ""
        _apply_overlay(rec, r, cols, file, errors)
        records.append(rec)
        if len(errors) >= MAX_ERRORS:
            break
    raise_collected(errors[:MAX_ERRORS])
    columns = {
        "record_id": "Covidence #",
        "title": "Title",
        "year": "Published Year",
        "doi": "DOI",
        "title_abstract": stage_col or "Stage",
        "full_text": stage_col or "Stage",
        "exclusion_reason": cols.get("exclusion_reason") or "Notes",
        "study_id": cols.get("study_id") or "Study",
    }
    return _export_table(file, "covidence", records, columns, cols, deduplicated=True)


def rayyan_decision(notes: str) -> tuple[str, str, list[str]]:
    """``(decision, problem, reasons)`` from a Rayyan ``notes`` cell.

    decision is include, exclude or '' (undecided); problem says why undecided.
    """
    votes: dict[str, str] = {}
    m = _RAYYAN_INCLUSION.search(notes)
    if m:
        for name, vote in _RAYYAN_VOTE.findall(m.group(1)):
            votes[name] = vote.strip()
    reasons: list[str] = []
    for part in _RAYYAN_REASONS.findall(notes):
        reasons += [p.strip() for p in part.split(",") if p.strip()]
    reasons = list(dict.fromkeys(reasons))
    if not votes:
        return "", "has no Rayyan decision (no RAYYAN-INCLUSION in notes): not screened", reasons
    kinds = {v.lower() for v in votes.values()}
    if kinds == {"included"}:
        return "include", "", reasons
    if kinds == {"excluded"}:
        return "exclude", "", reasons
    shown = ", ".join(f"{k}: {v}" for k, v in votes.items())
    why = "is undecided ('Maybe')" if kinds <= {"maybe", "included"} else "has a conflict"
    return "", f"{why} in Rayyan ({shown}); resolve it before exporting", reasons


def _read_rayyan(table: CsvTable) -> ScreeningTable:
    cols = _Columns(table.columns)
    _require(table, cols, ("key", "title", "notes"), "Rayyan")
    file = table.file
    errors: list[InputError] = []
    records: list[Record] = []
    for r in table:
        notes = r[cols.get("notes")]
        decision, problem, reasons = rayyan_decision(notes)
        year_col = cols.get("year")
        rec = Record(
            record_id=r[cols.get("key")],
            title=r[cols.get("title")],
            year=_year(file, r.row, year_col, r[year_col] if year_col else "", errors, False),
            doi=r[cols.get("doi")] if cols.get("doi") else "",
            title_abstract=decision,
            exclusion_reason="; ".join(reasons),
            issue=problem,
            file=file,
            row=r.row,
        )
        _apply_overlay(rec, r, cols, file, errors)
        records.append(rec)
        if len(errors) >= MAX_ERRORS:
            break
    raise_collected(errors[:MAX_ERRORS])
    columns = {
        "record_id": "key",
        "title": "title",
        "year": "year",
        "doi": "doi",
        "title_abstract": "notes",
        "exclusion_reason": cols.get("exclusion_reason") or "notes",
    }
    deduplicated = cols.get("duplicate_of") is not None
    return _export_table(file, "rayyan", records, columns, cols, deduplicated)


def _read_asreview(table: CsvTable) -> ScreeningTable:
    cols = _Columns(table.columns)
    _require(table, cols, ("record_id",), "ASReview")
    label_col = cols.get(*ASREVIEW_LABELS)
    if label_col is None:
        raise InputError(
            table.file,
            table.header_row,
            None,
            "no label column in the ASReview export (asreview_label, included, ...); export "
            "the dataset from ASReview LAB with its labels",
        )
    file = table.file
    title_col = cols.get("title", "primary_title")
    year_col = cols.get("year", "publication_year")
    doi_col = cols.get("doi")
    group_col = cols.get("asreview_group_id")
    errors: list[InputError] = []
    records: list[Record] = []
    groups: dict[str, list[Record]] = {}
    for r in table:
        value = r[label_col].strip().lower()
        rec = Record(
            record_id=r[cols.get("record_id")],
            title=r[title_col] if title_col else "",
            year=_year(file, r.row, year_col, r[year_col] if year_col else "", errors, False),
            doi=r[doi_col] if doi_col else "",
            file=file,
            row=r.row,
        )
        if value in _ASREVIEW_TRUE:
            rec.title_abstract = "include"
        elif value in _ASREVIEW_FALSE:
            rec.title_abstract = "exclude"
        elif value in _ASREVIEW_NONE:
            rec.removed = "automation"
        else:
            errors.append(
                InputError(
                    file,
                    r.row,
                    label_col,
                    f"record {rec.record_id!r}: label {r[label_col]!r} is not 1 (relevant), 0 "
                    "(irrelevant) or empty (not seen)",
                )
            )
        _apply_overlay(rec, r, cols, file, errors)
        if group_col and r[group_col]:
            groups.setdefault(r[group_col], []).append(rec)
        records.append(rec)
        if len(errors) >= MAX_ERRORS:
            break
    raise_collected(errors[:MAX_ERRORS])
    for members in groups.values():
        if len(members) > 1:
            keep = max(members, key=lambda m: m.progress())
            for m in members:
                if m is not keep and not m.duplicate_of:
                    m.duplicate_of = keep.record_id
                    m.duplicate_rule = "asreview_group"
    columns = {
        "record_id": cols.get("record_id"),
        "title": title_col or "title",
        "year": year_col or "year",
        "doi": doi_col or "doi",
        "title_abstract": label_col,
        "removed": label_col,
    }
    if group_col:
        columns["duplicate_of"] = cols.get("duplicate_of") or group_col
    deduplicated = group_col is not None or cols.get("duplicate_of") is not None
    return _export_table(file, "asreview", records, columns, cols, deduplicated)


_READERS = {
    "generic": _read_generic,
    "covidence": _read_covidence,
    "rayyan": _read_rayyan,
    "asreview": _read_asreview,
}


# --------------------------------------------------------------------------- entry point


def read_screening(
    paths: str | Path | Sequence[str | Path],
    format: str = "auto",
    sources: dict[str, str] | None = None,
) -> ScreeningTable:
    """Read one screening export (or Covidence's per-list exports) into a ``ScreeningTable``.

    ``format`` is auto, generic, covidence, rayyan or asreview; ``sources`` maps source
    names to database | register | website | organisation | citation (default: known trial
    registers are registers, everything else a database). Raises ``InputError`` naming the
    file, row and column for malformed input: an unknown format, missing columns, values
    that are not allowed, empty or repeated record ids.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("read_screening: no file given")
    if format not in ("auto", *FORMATS):
        raise ValueError(f"unknown screening format {format!r}; use auto or {', '.join(FORMATS)}")
    parts: list[ScreeningTable] = []
    for path in paths:
        table = read_table(path)
        fmt = format if format != "auto" else detect_format(table.columns)
        if fmt is None:
            raise _unknown_format(table)
        parts.append(_READERS[fmt](table))
        parts[-1].warnings[:0] = table.warnings  # bidirectional controls in its cells
    formats = {p.format for p in parts}
    if len(formats) > 1:
        raise InputError(
            ", ".join(str(p) for p in paths),
            None,
            None,
            f"the screening files are in different formats ({', '.join(sorted(formats))}); "
            "give files of one export",
        )
    if len(parts) > 1 and parts[0].format != "covidence":
        raise InputError(
            ", ".join(str(p) for p in paths),
            None,
            None,
            "several screening files are only read for Covidence's per-list exports; "
            "combine the others into one file",
        )
    first = parts[0]
    table = ScreeningTable(
        files=[f for p in parts for f in p.files],
        format=first.format,
        records=[r for p in parts for r in p.records],
        columns=first.columns,
        deduplicated=all(p.deduplicated for p in parts),
        has_source=all(p.has_source for p in parts),
        warnings=[w for p in parts for w in p.warnings],
    )
    _finish(table, sources or {})
    return table


def _finish(table: ScreeningTable, sources: dict[str, str]) -> None:
    """Unique record ids, sources filled in and classified, duplicate_of references."""
    errors: list[InputError] = []
    seen: dict[str, Record] = {}
    id_col = table.column("record_id")
    for rec in table.records:
        if not rec.record_id:
            errors.append(InputError(rec.file, rec.row, id_col, "record_id is empty"))
            continue
        if rec.record_id in seen:
            first = seen[rec.record_id]
            where = (
                f"row {first.row}" if first.file == rec.file else f"{first.file}, row {first.row}"
            )
            errors.append(
                InputError(
                    rec.file,
                    rec.row,
                    id_col,
                    f"record_id {rec.record_id!r} repeated (also {where})",
                )
            )
            continue
        seen[rec.record_id] = rec
    if not table.records:
        errors.append(
            InputError(table.file, None, None, "no records: the file has a header row but no data")
        )
    raise_collected(errors[:MAX_ERRORS])

    unspecified = 0
    for rec in table.records:
        if not rec.source:
            rec.source = UNSPECIFIED_SOURCE
            unspecified += 1
        if not rec.source_type:
            rec.source_type = classify_source(rec.source, sources)
    if unspecified and not table.has_source:
        table.warnings.append(
            InputWarning(
                table.file,
                None,
                None,
                f"the export names no database for its {unspecified} records (add a 'source' "
                f"column); they are counted as {UNSPECIFIED_SOURCE!r}",
            )
        )

    dup_col = table.column("duplicate_of")
    for rec in table.records:
        if not rec.duplicate_of:
            continue
        target = seen.get(rec.duplicate_of)
        if rec.duplicate_of == rec.record_id:
            errors.append(
                InputError(
                    rec.file, rec.row, dup_col, f"record {rec.record_id!r} is duplicate_of itself"
                )
            )
        elif target is None:
            errors.append(
                InputError(
                    rec.file,
                    rec.row,
                    dup_col,
                    f"record {rec.record_id!r}: duplicate_of {rec.duplicate_of!r} is not a "
                    "record_id of the file",
                )
            )
        else:
            rec.duplicate_rule = rec.duplicate_rule or "given"
    raise_collected(errors[:MAX_ERRORS])
    # chains (a -> b -> c) point at the record that is kept; cycles are errors
    for rec in table.records:
        if not rec.duplicate_of:
            continue
        path = [rec.record_id]
        target = seen[rec.duplicate_of]
        while target.duplicate_of:
            if target.record_id in path:
                errors.append(
                    InputError(
                        rec.file,
                        rec.row,
                        dup_col,
                        f"duplicate_of forms a cycle: {' -> '.join(path + [target.record_id])}",
                    )
                )
                break
            path.append(target.record_id)
            target = seen[target.duplicate_of]
        else:
            rec.duplicate_of = target.record_id
        if len(errors) >= MAX_ERRORS:
            break
    raise_collected(errors[:MAX_ERRORS])
