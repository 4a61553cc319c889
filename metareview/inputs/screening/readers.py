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

# a first column with an empty header (ASReview 2 writes the pandas index)
INDEX_COLUMN = "(index)"

# reading options (the protocol's screening block) and their defaults
NOT_RETRIEVED_REASONS = ("Full text not available", "No full text", "Unable to obtain full text")
NOT_RETRIEVED_LABEL = "No full text available"
UNLABELLED = ("excluded", "automation")
DEFAULT_OPTIONS = {
    "not_retrieved_reasons": list(NOT_RETRIEVED_REASONS),
    "not_retrieved_label": NOT_RETRIEVED_LABEL,
    "unlabelled": "excluded",
}

# columns of the generic full-text overlay (for tools that stop at title/abstract)
OVERLAY_REQUIRED = ("record_id", "full_text")
OVERLAY_COLUMNS = ("record_id", "full_text", "exclusion_reason", "study_id")

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
_RAYYAN_LABELS = re.compile(r"RAYYAN-LABELS:\s*([^|]*)")

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
    if names and not names[0] and len(names) > 1:
        names[0] = INDEX_COLUMN
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
    return read_csv_table(path, (), unnamed_first=INDEX_COLUMN)


# --------------------------------------------------------------------------- detection


def detect_format(columns: Sequence[str]) -> str | None:
    """generic, covidence, rayyan or asreview from a header; None if none fits."""
    cols = _Columns(columns)
    if "Covidence #" in cols:
        return "covidence"
    if "title_abstract" in cols and "record_id" in cols:
        return "generic"
    if all(c in cols for c in OVERLAY_REQUIRED) and not (
        any(cols.get(c) for c in ASREVIEW_LABELS)
        or any(c.lower().startswith("asreview_") for c in cols.names)
    ):
        return "overlay"
    if "asreview_label" in cols:
        return "asreview"
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


def _read_generic(table: CsvTable, options: dict | None = None) -> ScreeningTable:
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
        stages="full" if names["full_text"] else "title_abstract",
    )


def _covidence_stage_of_file(path: str) -> str | None:
    """The Covidence list named in an export's file name (None if none or several)."""
    found = set(_COVIDENCE_FILE.findall(Path(path).stem.lower()))
    return found.pop() if len(found) == 1 else None


def _read_covidence(table: CsvTable, options: dict | None = None) -> ScreeningTable:
    options = {**DEFAULT_OPTIONS, **(options or {})}
    not_retrieved = {r.strip().casefold() for r in options["not_retrieved_reasons"]}
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
                reasons = list(dict.fromkeys(reasons))
                hit = [x for x in reasons if x.casefold() in not_retrieved]
                if hit:
                    rec.full_text = "not_retrieved"
                    rec.notes = f"Covidence exclusion reason: {hit[0]}"
                else:
                    rec.exclusion_reason = reasons[0] if reasons else ""
                    rec.all_reasons = "; ".join(reasons) if len(reasons) > 1 else ""
            else:
                rec.full_text = "include"
                # Covidence # identifies the study; 'Study' ("Author Year") is not unique
                rec.study_id = rec.record_id
                rec.study_label = r[c["Study"]] if c["Study"] else ""
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
        "study_id": cols.get("study_id") or "Covidence #",
    }
    out = _export_table(file, "covidence", records, columns, cols, deduplicated=True)
    out.identification = False
    out.conventions.append(
        "Covidence removes duplicates on import and does not export them: records "
        "identified and duplicates removed come from the protocol's search block, or are "
        "not reported"
    )
    out.conventions.append(
        "Covidence studies are keyed on 'Covidence #' (the 'Study' label is not unique); "
        "full-text exclusions whose reason means not retrieved ("
        + ", ".join(options["not_retrieved_reasons"])
        + ") are reports not retrieved"
    )
    return out


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


def rayyan_labels(notes: str) -> list[str]:
    """The labels of a Rayyan ``notes`` cell (``RAYYAN-LABELS: a,b``), in order."""
    labels: list[str] = []
    for part in _RAYYAN_LABELS.findall(notes):
        labels += [p.strip() for p in part.split(",") if p.strip()]
    return list(dict.fromkeys(labels))


def rayyan_source(pubmed_id: str, url: str) -> str:
    """The database of a Rayyan record without a source column: PubMed when it has a
    ``pubmed_id``, Embase when its ``url`` is an embase.com link, else ''."""
    if pubmed_id.strip():
        return "PubMed"
    if "embase.com" in url.lower():
        return "Embase"
    return ""


def _read_rayyan(table: CsvTable, options: dict | None = None) -> ScreeningTable:
    """One Rayyan export; its decisions are read as title/abstract decisions (a full-text
    stage export is joined to the title/abstract one by ``_join_rayyan``)."""
    cols = _Columns(table.columns)
    _require(table, cols, ("key", "title", "notes"), "Rayyan")
    file = table.file
    errors: list[InputError] = []
    records: list[Record] = []
    pmid_col, url_col = cols.get("pubmed_id"), cols.get("url")
    derive = cols.get("source") is None and (pmid_col or url_col)
    derived = 0
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
            exclusion_reason=reasons[0] if reasons else "",
            all_reasons="; ".join(reasons) if len(reasons) > 1 else "",
            notes="; ".join(rayyan_labels(notes)),
            issue=problem,
            file=file,
            row=r.row,
        )
        if derive:
            rec.source = rayyan_source(
                r[pmid_col] if pmid_col else "", r[url_col] if url_col else ""
            )
            derived += bool(rec.source)
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
    out = _export_table(file, "rayyan", records, columns, cols, deduplicated)
    out.stages = "full" if cols.get("full_text") else "title_abstract"
    out.study_ids = cols.get("study_id") is not None
    if derived:
        out.has_source = True
        out.conventions.append(
            "Rayyan records without a source column: the database is PubMed for records "
            "with a pubmed_id and Embase for embase.com links; others are unspecified"
        )
    return out


def _rayyan_later(a: ScreeningTable, b: ScreeningTable) -> bool:
    """Whether ``b`` is the later (full-text) stage of ``a``: its records are a subset of
    the records ``a`` included."""
    included = {r.record_id for r in a.records if r.title_abstract == "include"}
    return bool(b.records) and {r.record_id for r in b.records} <= included


def _join_rayyan(parts: list[ScreeningTable], options: dict) -> ScreeningTable:
    """Rayyan's title/abstract and full-text stage exports of one review, joined on
    ``key``. The later stage is the export whose records are a subset of those included
    at the other; the order given is the fallback (title/abstract first)."""
    first, second = parts
    if _rayyan_later(second, first) and not _rayyan_later(first, second):
        first, second = second, first
    label = options["not_retrieved_label"].strip().casefold()
    base = first.by_id()
    errors: list[InputError] = []
    for ft in second.records:
        rec = base.get(ft.record_id)
        if rec is None:
            errors.append(
                InputError(
                    ft.file,
                    ft.row,
                    "key",
                    f"record {ft.record_id!r} of the full-text export is not in the "
                    f"title/abstract export {Path(first.file).name}",
                )
            )
            continue
        labels = [x.casefold() for x in ft.notes.split("; ") if x]
        if label in labels or ft.exclusion_reason.casefold() == label:
            rec.full_text = "not_retrieved"
        elif ft.title_abstract:
            rec.full_text = ft.title_abstract
            if ft.title_abstract == "exclude":
                rec.exclusion_reason = ft.exclusion_reason
                rec.all_reasons = ft.all_reasons
        elif ft.issue and not rec.issue:
            rec.issue = ft.issue.replace("Rayyan", "Rayyan's full-text screening", 1)
        if ft.study_id:
            rec.study_id = ft.study_id
        if ft.source and not rec.source:
            rec.source = ft.source
        if ft.notes:
            rec.notes = "; ".join(x for x in (rec.notes, ft.notes) if x)
    raise_collected(errors[:MAX_ERRORS])
    for rec in first.records:  # title/abstract reasons are not PRISMA's report reasons
        if rec.title_abstract == "include" and rec.full_text != "exclude":
            rec.exclusion_reason = rec.all_reasons = ""
    ta_name, ft_name = Path(first.files[0]).name, Path(second.files[0]).name
    first.files = first.files + second.files
    first.stages = "full"
    first.study_ids = first.study_ids or second.study_ids
    first.conventions.append(
        f"Rayyan stage exports joined on key: {ta_name} (title/abstract), {ft_name} "
        "(full text); several exclusion reasons on one report: counted once under the "
        "first, every mention listed; label "
        f"{options['not_retrieved_label']!r} = report not retrieved"
    )
    return first


def _read_asreview(table: CsvTable, options: dict | None = None) -> ScreeningTable:
    options = {**DEFAULT_OPTIONS, **(options or {})}
    cols = _Columns(table.columns)
    if cols.get("record_id") is None and cols.get(INDEX_COLUMN) is not None:
        id_col = INDEX_COLUMN  # ASReview 2: the unnamed pandas index is the record id
    else:
        _require(table, cols, ("record_id",), "ASReview")
        id_col = cols.get("record_id")
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
    unlabelled = 0
    for r in table:
        value = r[label_col].strip().lower()
        rec = Record(
            record_id=r[id_col],
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
            unlabelled += 1
            if options["unlabelled"] == "automation":
                rec.removed = "automation"
            else:  # screened out: the team stopped before a person saw it
                rec.title_abstract = "exclude"
                rec.screened_by = "automation"
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
        "record_id": id_col,
        "title": title_col or "title",
        "year": year_col or "year",
        "doi": doi_col or "doi",
        "title_abstract": label_col,
        "removed": label_col,
    }
    if group_col:
        columns["duplicate_of"] = cols.get("duplicate_of") or group_col
    deduplicated = group_col is not None or cols.get("duplicate_of") is not None
    out = _export_table(file, "asreview", records, columns, cols, deduplicated)
    out.stages = "full" if cols.get("full_text") else "title_abstract"
    out.study_ids = cols.get("study_id") is not None
    if unlabelled:
        out.conventions.append(
            f"ASReview: the {unlabelled} records left unlabelled when screening stopped are "
            + (
                "counted as records marked ineligible by automation tools (removed before "
                "screening; screening.unlabelled: automation)"
                if options["unlabelled"] == "automation"
                else "counted as records excluded at screening, by the automation tool "
                "(PRISMA 2020 item 16a: excluded by a person vs by the tool)"
            )
        )
    return out


_READERS = {
    "generic": _read_generic,
    "covidence": _read_covidence,
    "rayyan": _read_rayyan,
    "asreview": _read_asreview,
}


def _apply_fulltext_overlay(base: ScreeningTable, table: CsvTable) -> None:
    """A generic file of full-text decisions (``record_id, full_text, exclusion_reason,
    study_id``) joined on the export's record id, for tools that stop at title/abstract."""
    cols = _Columns(table.columns)
    _require(table, cols, OVERLAY_REQUIRED, "full-text overlay")
    file = table.file
    by_id = base.by_id()
    errors: list[InputError] = []
    seen: dict[str, int] = {}
    for r in table:
        rid = r[cols.get("record_id")]
        rec = by_id.get(rid)
        if rid in seen:
            message = f"record_id {rid!r} repeated (row {seen[rid]})"
            errors.append(InputError(file, r.row, "record_id", message))
            continue
        seen[rid] = r.row
        if rec is None:
            errors.append(
                InputError(
                    file,
                    r.row,
                    "record_id",
                    f"record_id {rid!r} is not a record of {Path(base.files[0]).name} "
                    f"(its {base.column('record_id')!r} column)",
                )
            )
            continue
        ft_col = cols.get("full_text")
        value = _choice(file, r.row, ft_col, "full_text", r[ft_col], errors)
        rec.full_text = value
        for name in ("exclusion_reason", "study_id"):
            col = cols.get(name)
            if col and r[col]:
                setattr(rec, name, r[col])
        if len(errors) >= MAX_ERRORS:
            break
    raise_collected(errors[:MAX_ERRORS])
    base.files.append(file)
    base.stages = "full"
    base.study_ids = cols.get("study_id") is not None
    for name in ("full_text", "exclusion_reason", "study_id"):
        if cols.get(name):
            base.columns[name] = f"{Path(file).name}: {cols.get(name)}"
    base.conventions.append(
        f"full-text decisions from {Path(file).name}, joined on {base.column('record_id')!r}"
    )


# --------------------------------------------------------------------------- entry point


def read_screening(
    paths: str | Path | Sequence[str | Path],
    format: str = "auto",
    sources: dict[str, str] | None = None,
    options: dict | None = None,
) -> ScreeningTable:
    """Read a review's screening export(s) into one ``ScreeningTable``.

    ``paths``: one export; Covidence's per-list exports; Rayyan's title/abstract and
    full-text stage exports (joined on ``key``); any of these plus a full-text overlay
    file (``record_id, full_text, exclusion_reason, study_id``). ``format`` is auto,
    generic, covidence, rayyan or asreview (of the exports; an overlay is always
    detected); ``sources`` maps source names to database | register | website |
    organisation | citation (default: known trial registers are registers, everything
    else a database); ``options``: ``not_retrieved_reasons`` (Covidence),
    ``not_retrieved_label`` (Rayyan), ``unlabelled`` (ASReview: excluded | automation).
    Raises ``InputError`` naming the file, row and column for malformed input: an
    unknown format, missing columns, values that are not allowed, empty or repeated
    record ids.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("read_screening: no file given")
    if format not in ("auto", *FORMATS):
        raise ValueError(f"unknown screening format {format!r}; use auto or {', '.join(FORMATS)}")
    options = {**DEFAULT_OPTIONS, **(options or {})}
    if options["unlabelled"] not in UNLABELLED:
        raise ValueError(f"unlabelled must be one of {', '.join(UNLABELLED)}")
    parts: list[ScreeningTable] = []
    overlays: list[CsvTable] = []
    for path in paths:
        table = read_table(path)
        detected = detect_format(table.columns)
        if detected == "overlay":
            overlays.append(table)
            continue
        fmt = format if format != "auto" else detected
        if fmt is None:
            raise _unknown_format(table)
        parts.append(_READERS[fmt](table, options))
        parts[-1].warnings[:0] = table.warnings  # bidirectional controls in its cells
    names = ", ".join(str(p) for p in paths)
    if not parts:
        raise InputError(
            names,
            None,
            None,
            "only full-text overlay files (record_id, full_text, ...) were given; give the "
            "screening export they add to as well",
        )
    formats = {p.format for p in parts}
    if len(formats) > 1:
        raise InputError(
            names,
            None,
            None,
            f"the screening files are in different formats ({', '.join(sorted(formats))}); "
            "give files of one export (plus, if needed, a full-text overlay file)",
        )
    fmt = parts[0].format
    if len(parts) > 1 and fmt == "rayyan":
        if len(parts) > 2:
            raise InputError(
                names,
                None,
                None,
                f"{len(parts)} Rayyan exports: give the title/abstract and the full-text "
                "screening export of the review (two files)",
            )
        table = _join_rayyan(parts, options)
    elif len(parts) > 1 and fmt != "covidence":
        raise InputError(
            names,
            None,
            None,
            f"several {fmt} screening files: they combine only as Covidence's per-list "
            "exports or Rayyan's two stage exports; add full-text decisions as an overlay "
            "file (record_id, full_text, exclusion_reason, study_id)",
        )
    else:
        first = parts[0]
        table = ScreeningTable(
            files=[f for p in parts for f in p.files],
            format=first.format,
            records=[r for p in parts for r in p.records],
            columns=first.columns,
            deduplicated=all(p.deduplicated for p in parts),
            has_source=all(p.has_source for p in parts),
            warnings=[w for p in parts for w in p.warnings],
            stages=first.stages,
            identification=first.identification,
            study_ids=first.study_ids,
            conventions=list(first.conventions),
        )
    if len(overlays) > 1:
        raise InputError(names, None, None, "several full-text overlay files; give one")
    _finish(table, sources or {})
    for overlay in overlays:
        _apply_fulltext_overlay(table, overlay)
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
    if unspecified and not table.has_source and table.identification:
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
