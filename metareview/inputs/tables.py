"""Reading and validating a review's input tables (``studies.csv``, ``extraction.csv``).

Every problem is reported as an ``InputError`` naming the file, the row as a spreadsheet
user sees it (header = row 1, blank lines count as rows, a quoted multi-line cell is one
row) and the column. Problems that do not stop the analysis are ``InputWarning`` records
collected on the returned objects.

Only the standard library is imported here: pipeline jobs are fresh processes and these
readers run in every one of them.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from metareview.engine import measures
from metareview.engine.derive import sd_from_ci, sd_from_se, se_from_ci
from metareview.errors import InputError, InputWarning, raise_collected
from metareview.io import NUMBER
from metareview.text import BIDI, CONTROL, bidi_message, control_character

MAX_ERRORS = 50
"""At most this many errors are collected from one file before reporting."""

STUDY_REQUIRED = ("study_id", "design")
STUDY_OPTIONAL = ("label", "year", "reference", "rob_overall")
DESIGNS = ("rct", "observational", "single_arm")
YEAR_RANGE = (1900, 2100)

EXTRACTION_REQUIRED = ("study_id", "outcome", "arm", "events", "total", "source")
#: optional row-level columns of extraction.csv: ``group`` (one patient group, technique or
#: territory of a study; a study contributes several rows per outcome and arm, one per
#: group), ``definition`` (how the row's outcome definition differs from the protocol's;
#: empty when it does not); continuous rows (mean, sd, total per arm; or se, or
#: ci_lb/ci_ub at level, for the SD) and generic inverse-variance rows (estimate with se or
#: ci_lb/ci_ub at level; adjusted yes/no): absent columns read as empty
EXTRACTION_OPTIONAL = (
    *("group", "definition"),
    *("mean", "sd", "se", "ci_lb", "ci_ub", "level", "estimate", "adjusted"),
)
_CONTINUOUS_CELLS = ("mean", "sd", "estimate")

_DELIMITERS = ((";", "semicolon"), ("\t", "tab"), ("|", "pipe"))
MAX_COUNT = 10**9
"""Largest ``events``/``total`` accepted: a billion participants in one arm is far above
any trial (the largest enrol some 10^5), so a larger count is a typo; unbounded counts
would also overflow the floating point of the effect sizes."""

# ASCII digits only: Python's \d (and int()) also accept full-width '１０' and
# Arabic-Indic '٢٠١٥', which a spreadsheet does not read as numbers
_UINT = re.compile(r"[0-9]+\Z")


# --------------------------------------------------------------------------- generic CSV


class CsvRow(dict):
    """One data row (column name -> stripped cell text) with its spreadsheet ``row`` number."""

    __slots__ = ("row",)

    def __init__(self, values: dict[str, str], row: int) -> None:
        super().__init__(values)
        self.row = row

    def __repr__(self) -> str:
        return f"CsvRow(row={self.row}, {dict.__repr__(self)})"


@dataclass
class CsvTable:
    """A validated CSV table: ``columns`` in header order and its data ``rows``.

    Iterating, ``len()`` and indexing act on ``rows`` (a list of ``CsvRow`` dicts).
    """

    file: str
    columns: list[str]
    rows: list[CsvRow]
    header_row: int = 1
    warnings: list[InputWarning] = field(default_factory=list)
    #: optional columns the header does not have (they read as '')
    absent: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[CsvRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> CsvRow:
        return self.rows[index]


def column_letter(index: int) -> str:
    """Spreadsheet column letter of a 0-based column index (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _quote_list(names: Iterable[str], limit: int = 12) -> str:
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _hint(value: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for a close or case-insensitive match, else ''."""
    choices = list(choices)
    for choice in choices:
        if choice.lower() == value.lower():
            return f" (did you mean {choice!r}? names are case-sensitive)"
    import difflib

    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


_BINARY_SIGNATURES = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx or OpenDocument .ods workbook?)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old-style Excel .xls workbook"),
    (b"%PDF", "a PDF document"),
)


def decode(file: str, data: bytes) -> str:
    for magic, what in _BINARY_SIGNATURES:
        if data.startswith(magic):
            raise InputError(
                file,
                None,
                None,
                f"this is {what}, not a CSV file; in the spreadsheet program use "
                "Save As > 'CSV UTF-8 (comma delimited)'",
            )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(
            file, None, None, "file is UTF-16 encoded; save it as 'CSV UTF-8 (comma delimited)'"
        )
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        start = exc.start + bom
        prefix = data[bom:start].decode("utf-8")
        row, column = _position(prefix)
        bad = data[start]
        lo = max(bom, data.rfind(b"\n", 0, start) + 1, start - 20)
        hi = start + 20
        nl = data.find(b"\n", start)
        hi = min(hi, nl if nl >= 0 else len(data))
        as_cp1252 = data[lo:hi].decode("cp1252", errors="replace").strip()
        line = data.count(b"\n", 0, start) + 1
        raise InputError(
            file,
            row,
            column,
            f"not valid UTF-8: byte 0x{bad:02x} at byte offset {start} "
            f"(line {line}), near {as_cp1252!r} if read as "
            "Windows-1252; save the file as 'CSV UTF-8'",
        ) from None
    nul = text.find("\x00")
    if nul >= 0:
        row, column = _position(text[:nul])
        raise InputError(
            file,
            row,
            column,
            "contains a NUL byte (0x00): not a text CSV file (a UTF-16 file without a "
            "byte-order mark, or a binary file?); save it as 'CSV UTF-8'",
        )
    return text


def _position(prefix: str) -> tuple[int, str | None]:
    """Spreadsheet row and column name of the character right after ``prefix``.

    The column is named from the header (the first non-blank record) when the character
    lies below it, and ``None`` when it cannot be told (inside the header itself).
    """
    if not prefix:
        return 1, None
    try:
        records = list(csv.reader(io.StringIO(prefix, newline="")))
    except csv.Error:
        return prefix.count("\n") + 1, None
    ended = prefix.endswith(("\n", "\r"))
    row = len(records) + 1 if ended else len(records)
    index = 0 if ended or not records else len(records[-1]) - 1
    header = next((r for r in records if any(c.strip() for c in r)), None)
    header_row = records.index(header) + 1 if header is not None else None
    column = None
    if header is not None and header_row < row and index < len(header):
        column = header[index].strip().lstrip("\ufeff") or None
    return row, column


def _records(file: str, text: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[list[str]] = []
    try:
        for cells in reader:
            records.append(cells)
    except csv.Error as exc:
        raise InputError(
            file,
            len(records) + 1,
            None,
            f"cannot parse CSV at line {reader.line_num}: {exc} (a '\"' that is not "
            "closed, or text after a closing quote?)",
        ) from None
    return records


def _misplaced_header(file, records, start, required, names, expected) -> None:
    """Raise a clear error when the first row is a title line or data instead of the header."""
    header_row = start + 1
    for index in range(start + 1, min(len(records), start + 6)):
        cells = {c.strip().lstrip("\ufeff") for c in records[index]}
        if set(required) <= cells:
            raise InputError(
                file,
                header_row,
                None,
                f"the header is on row {index + 1}, not row {header_row}: delete the "
                f"row{'s' if index - start > 1 else ''} above it (the first non-empty row "
                f"must name the columns: {expected})",
            )
    if any(NUMBER.match(n) for n in names):
        raise InputError(
            file,
            header_row,
            None,
            f"row {header_row} looks like data ({_quote_list(names, 6)}), not a header: the "
            f"first row must name the columns: {expected}",
        )


def read_csv_table(
    path: str | Path,
    required_columns: Iterable[str],
    optional_columns: Iterable[str] = (),
    unnamed_first: str | None = None,
) -> CsvTable:
    """Read a UTF-8 CSV file with one header row into a ``CsvTable``.

    ``unnamed_first``: a name for a first column whose header cell is empty (the pandas
    index that ASReview 2 writes); by default such a column must hold no values.

    Cells are stripped of surrounding whitespace; a UTF-8 byte-order mark and CRLF line
    ends are accepted; blank rows are skipped; absent ``optional_columns`` read as ''.
    Columns beyond the required and optional ones are kept. Raises ``InputError`` for a
    missing, empty or non-UTF-8 file (row and column of the first bad byte), a workbook or
    other binary file saved as .csv, a NUL byte, a wrong delimiter, a header that is not
    on the first row (a title line above it, or no header at all), missing or duplicate
    columns, and rows with the wrong number of cells.
    """
    file = str(path)
    required = list(required_columns)
    optional = list(optional_columns)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(file, None, None, "file not found") from None
    except IsADirectoryError:
        raise InputError(file, None, None, "is a directory, expected a CSV file") from None
    except OSError as exc:
        raise InputError(file, None, None, f"cannot read file: {exc.strerror}") from None
    text = decode(file, data)
    expected = ", ".join(required + optional)
    if not text.strip():
        wanted = f": {expected}" if expected else " naming the columns"
        raise InputError(file, None, None, f"file is empty; expected a header row{wanted}")

    records = _records(file, text)
    start = 0
    while start < len(records) and not any(c.strip() for c in records[start]):
        start += 1
    header_row = start + 1
    raw_header = records[start]
    names = [c.strip().lstrip("\ufeff") for c in raw_header]
    if unnamed_first and names and not names[0]:
        names[0] = unnamed_first

    for delim, word in _DELIMITERS:
        if required and not set(required) & set(names) and any(delim in c for c in raw_header):
            shown = "tab" if delim == "\t" else repr(delim)
            raise InputError(
                file,
                header_row,
                None,
                f"the header looks like {shown}-separated ({word}); save the file as "
                f"comma-separated CSV (expected columns: {expected})",
            )

    if required and not set(required) & set(names):
        _misplaced_header(file, records, start, required, names, expected)

    errors: list[InputError] = []
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name:
            continue
        if name in seen:
            errors.append(
                InputError(
                    file,
                    header_row,
                    name,
                    f"column name {name!r} appears twice (columns {column_letter(seen[name])} "
                    f"and {column_letter(i)})",
                )
            )
        else:
            seen[name] = i
    for name in required:
        if name not in seen:
            errors.append(
                InputError(
                    file,
                    header_row,
                    name,
                    f"missing required column {name!r}{_hint(name, seen)} "
                    f"(the header has: {_quote_list(n for n in names if n)})",
                )
            )
    raise_collected(errors)

    ncols = len(names)
    unnamed = [i for i, n in enumerate(names) if not n]
    rows: list[CsvRow] = []
    for index in range(start + 1, len(records)):
        cells = records[index]
        rownum = index + 1
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > ncols:
            if any(c.strip() for c in cells[ncols:]):
                errors.append(
                    InputError(
                        file,
                        rownum,
                        None,
                        f"row has {len(cells)} cells but the header has {ncols} columns "
                        "(a ',' inside a cell that is not quoted?)",
                    )
                )
                continue
            cells = cells[:ncols]
        elif len(cells) < ncols:
            errors.append(
                InputError(
                    file,
                    rownum,
                    names[len(cells)] or None,
                    f"row has {len(cells)} cells but the header has {ncols} columns",
                )
            )
            continue
        for i in unnamed:
            if cells[i].strip():
                errors.append(
                    InputError(
                        file,
                        rownum,
                        None,
                        f"column {column_letter(i)} has a value ({cells[i].strip()!r}) but "
                        "no name in the header",
                    )
                )
        values = {name: cells[i].strip() for i, name in enumerate(names) if name}
        for name in optional:
            values.setdefault(name, "")
        rows.append(CsvRow(values, rownum))
        if len(errors) >= MAX_ERRORS:
            break
    raise_collected(errors[:MAX_ERRORS])
    columns = [n for n in names if n] + [n for n in optional if n not in seen]
    table = CsvTable(file=file, columns=columns, rows=rows, header_row=header_row)
    table.absent = tuple(n for n in optional if n not in seen)
    if CONTROL.search(text) or BIDI.search(text):
        table.warnings = check_characters(table)
    linked = outside_repository(path)
    if linked is not None:
        table.warnings.insert(0, linked)
    return table


def outside_repository(path: str | Path) -> InputWarning | None:
    """A warning when ``path`` reaches, through a symbolic link, a file outside the
    repository (the working directory the pipeline runs in): the review then reads a
    file that is not kept with it, and ``metareview verify`` refuses the link. (A warning
    rather than a refusal: a link to a shared data drive is a legitimate way to work,
    and the warning names the real file.)"""
    absolute = Path(os.path.abspath(path))
    real = Path(os.path.realpath(path))
    if real == absolute or real.is_relative_to(Path.cwd().resolve()):
        return None
    return InputWarning(
        str(path),
        None,
        None,
        f"is a symbolic link to {real}, outside the repository: the review reads a file "
        "that is not kept with it, and `metareview verify` will refuse it; copy the file "
        "into the repository",
    )


def check_characters(table: CsvTable) -> list[InputWarning]:
    """Control characters in the header or a cell are errors; bidirectional controls
    are warnings (``metareview.text``); both at their row and column. Returns the
    warnings."""
    errors: list[InputError] = []
    warnings: list[InputWarning] = []

    def check(row, column, text, what):
        found = control_character(text)
        if found is not None:
            errors.append(
                InputError(
                    table.file,
                    row,
                    column,
                    f"{what} holds the control character {found}, invisible and not allowed "
                    "in a report: delete it",
                )
            )
        message = bidi_message(text)
        if message is not None:
            warnings.append(InputWarning(table.file, row, column, f"{what} {message}"))

    for name in table.columns:
        check(table.header_row, None, name, f"column name {name!r}")
    for r in table.rows:
        for column, text in r.items():
            if CONTROL.search(text) or BIDI.search(text):
                check(r.row, column, text, "the cell")
        if len(errors) >= MAX_ERRORS:
            break
    raise_collected(errors[:MAX_ERRORS])
    return warnings


# --------------------------------------------------------------------------- studies.csv


@dataclass
class Study:
    """One included study (a row of ``studies.csv``); other columns are ``covariates``."""

    study_id: str
    label: str
    year: int | None
    design: str
    reference: str
    rob_overall: str | None
    covariates: dict[str, str] = field(default_factory=dict)
    row: int | None = None

    def get(self, column: str, default: object = None) -> object:
        """The value of any ``studies.csv`` column (typed for the fixed ones)."""
        if column in ("study_id", "label", "year", "design", "reference", "rob_overall"):
            return getattr(self, column)
        return self.covariates.get(column, default)


@dataclass
class StudyTable:
    """The studies of ``studies.csv`` in file order (iterable; ``in`` tests a study id)."""

    file: str
    studies: list[Study]
    columns: list[str]
    warnings: list[InputWarning] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_id = {s.study_id: s for s in self.studies}

    def __iter__(self) -> Iterator[Study]:
        return iter(self.studies)

    def __len__(self) -> int:
        return len(self.studies)

    def __contains__(self, study_id: object) -> bool:
        return study_id in self._by_id

    def get(self, study_id: str) -> Study | None:
        return self._by_id.get(study_id)

    @property
    def ids(self) -> list[str]:
        return [s.study_id for s in self.studies]

    @property
    def covariate_columns(self) -> list[str]:
        fixed = set(STUDY_REQUIRED) | set(STUDY_OPTIONAL)
        return [c for c in self.columns if c not in fixed]


def norm_choice(value: str) -> str:
    """A ``design`` or risk-of-bias cell as it is stored: lower case, spaces and dashes
    as ``_``, and 'some concerns' as 'some' ('RCT' is 'rct')."""
    text = re.sub(r"[\s-]+", "_", value.strip().lower())
    return {"some_concerns": "some"}.get(text, text)


def load_studies(path: str | Path) -> StudyTable:
    """Read and validate ``studies.csv``.

    ``design`` must be rct, observational or single_arm (matched ignoring case), ``year``
    empty or a whole number 1900-2100; an empty ``label`` defaults to the ``study_id``.
    ``rob_overall`` is lower-cased ('some concerns' reads as 'some'); it and the other
    risk-of-bias columns are checked against the protocol's tool by ``metareview.inputs.rob``.
    """
    table = read_csv_table(path, STUDY_REQUIRED, STUDY_OPTIONAL)
    file = table.file
    errors: list[InputError] = []
    studies: list[Study] = []
    first_row: dict[str, tuple[str, int]] = {}
    fixed = set(STUDY_REQUIRED) | set(STUDY_OPTIONAL)
    for r in table:
        sid = r["study_id"]
        if not sid:
            errors.append(InputError(file, r.row, "study_id", "study_id is empty"))
            continue
        key = sid.casefold()  # ids name files (leave-one-out...): compared ignoring case
        if key in first_row:
            other, row = first_row[key]
            same = "" if other == sid else f" (the same as {other!r} but for case)"
            errors.append(
                InputError(
                    file,
                    r.row,
                    "study_id",
                    f"duplicate study_id {sid!r}{same}: rows {row} and {r.row}",
                )
            )
            continue
        first_row[key] = (sid, r.row)

        design = norm_choice(r["design"])
        if design not in DESIGNS:
            what = "empty" if not r["design"] else f"{r['design']!r} is not allowed"
            errors.append(
                InputError(file, r.row, "design", f"design {what}; use one of {', '.join(DESIGNS)}")
            )
        # judgements are checked against the protocol's risk-of-bias tool (metareview.inputs.rob)
        rob = norm_choice(r["rob_overall"]) or None
        year: int | None = None
        if r["year"]:
            lo, hi = YEAR_RANGE
            text = r["year"]
            if _UINT.match(text) and len(text) <= 10 and lo <= int(text) <= hi:
                year = int(text)
            else:
                why = (
                    _NON_ASCII_DIGITS
                    if _non_ascii_digits(r["year"])
                    else f"is not a whole number between {lo} and {hi} (leave it empty if unknown)"
                )
                errors.append(InputError(file, r.row, "year", f"year {r['year']!r} {why}"))
        studies.append(
            Study(
                study_id=sid,
                label=r["label"] or sid,
                year=year,
                design=design,
                reference=r["reference"],
                rob_overall=rob,
                covariates={k: v for k, v in r.items() if k not in fixed},
                row=r.row,
            )
        )
        if len(errors) >= MAX_ERRORS:
            break
    if not errors and not studies:
        raise InputError(file, None, None, "no studies: the file has a header row but no data")
    raise_collected(errors)
    return StudyTable(
        file=file, studies=studies, columns=table.columns, warnings=list(table.warnings)
    )


# --------------------------------------------------------------------------- extraction.csv


@dataclass
class ExtractionRecord:
    """One row of ``extraction.csv``: ``events`` of ``total`` in one arm of one study."""

    study_id: str
    outcome: str
    arm: str
    events: int | None
    total: int | None
    source: str
    row: int | None = None
    group: str = ""
    definition: str = ""
    #: continuous rows: mean, sd; generic rows: estimate, se (analysis scale), level
    values: dict[str, float] = field(default_factory=dict)
    #: how a continuous row's SD or a generic row's SE was obtained ('' when given)
    derivation: str = ""
    #: generic rows: 'yes', 'no' or '' (not stated)
    adjusted: str = ""


@dataclass
class Extraction:
    """Validated extraction records in file order, with the non-fatal findings."""

    file: str
    records: list[ExtractionRecord]
    warnings: list[InputWarning] = field(default_factory=list)
    #: the optional row-level columns (``group``, ``definition``) the file has
    row_columns: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[ExtractionRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def for_outcome(self, outcome: str) -> list[ExtractionRecord]:
        return [r for r in self.records if r.outcome == outcome]

    @property
    def outcomes(self) -> list[str]:
        return list(dict.fromkeys(r.outcome for r in self.records))


def _non_ascii_digits(text: str) -> bool:
    return any(c.isdigit() and not c.isascii() for c in text)


_NON_ASCII_DIGITS = (
    "has digits other than 0-9 (full-width or Arabic-Indic digits?); type the number "
    "with the digits 0-9"
)


def _count(file: str, row: int, column: str, text: str) -> tuple[int | None, InputError | None]:
    if _UINT.match(text):
        # no int() of a very long text (Python refuses more than 4300 digits)
        value = int(text) if len(text) <= 20 else None
        if value is not None and value <= MAX_COUNT:
            return value, None
        shown = text if len(text) <= 20 else f"{text[:12]}... ({len(text)} digits)"
        why = (
            f"is {shown}: more than {MAX_COUNT:,} participants in one arm, far above any "
            "trial (a typo?)"
        )
    elif not text:
        why = "is empty; enter a whole number (leave the row out if the count is not reported)"
    elif _non_ascii_digits(text):
        why = f"{_NON_ASCII_DIGITS} (got {text!r})"
    elif text.startswith("-") and NUMBER.match(text):
        why = f"must not be negative (got {text!r})"
    elif re.fullmatch(r"[0-9]{1,3}(?:[,.' ][0-9]{3})+", text):
        digits = re.sub(r"[^0-9]", "", text)
        why = f"must be a whole number (got {text!r}: a thousands separator? write {digits})"
    elif "," in text and NUMBER.match(text.replace(",", ".")):
        why = f"must be a whole number (got {text!r}: a decimal comma?)"
    elif text.startswith(("=", "@")):
        why = (
            f"must be a whole number (got the formula {text!r}; export the values, "
            "not the formulas)"
        )
    elif NUMBER.match(text):
        why = f"must be a whole number (got {text!r})"
    else:
        why = f"must be a whole number of patients (got {text!r})"
    return None, InputError(file, row, column, f"{column} {why}")


def check_count(file: str | Path | None, row: int | None, column: str, text: str) -> int:
    """A cell holding a whole non-negative number (surrounding spaces allowed) as ``int``.

    Raises ``InputError`` at (file, row, column) for '', '12.5', '-1', '1,5', 'abc', ...
    """
    value, error = _count(None if file is None else str(file), row, column, str(text).strip())
    if error is not None:
        raise error
    return value


def check_number(file: str | Path | None, row: int | None, column: str, text: str) -> float:
    """A cell holding a finite number written plainly (``12``, ``-0.5``, ``1e3``) as ``float``.

    Raises ``InputError`` at (file, row, column) for '', 'nan', 'inf', '1,5', '12 mg', ...
    """
    text = str(text).strip()
    file = None if file is None else str(file)
    if NUMBER.match(text):
        value = float(text)
        if math.isfinite(value):
            return value
        why = f"is too large to be a number (got {text[:20]!r})"
    elif not text:
        why = "is empty; enter a number (leave the row out if it is not reported)"
    elif _non_ascii_digits(text):
        why = f"{_NON_ASCII_DIGITS} (got {text!r})"
    elif "," in text and NUMBER.match(text.replace(",", ".")):
        why = f"must be a number (got {text!r}: a decimal comma? write {text.replace(',', '.')})"
    elif text.startswith(("=", "@")):
        why = f"must be a number (got the formula {text!r}; export the values, not the formulas)"
    else:
        why = f"must be a finite number written with the digits 0-9 (got {text!r})"
    raise InputError(file, row, column, f"{column} {why}")


def load_extraction(
    path: str | Path,
    studies: StudyTable | Iterable[Study],
    outcomes: set[str] | None,
    arms: set[str] | None,
    outcome_measures: dict[str, tuple[str, str]] | None = None,
) -> Extraction:
    """Read and validate ``extraction.csv`` against the studies and the protocol.

    ``outcomes`` and ``arms`` are the ids the protocol defines (``None`` skips that check).
    Errors: unknown study, outcome or arm; ``events``/``total`` not whole non-negative
    numbers; events > total; total == 0; duplicate (study_id, outcome, arm); a file with
    a header but no rows. Warnings: a study x arm whose total differs between outcomes; a
    study with no rows at all.

    ``outcome_measures`` maps an outcome to ``(measure, kind)`` (``kind`` as the measure
    registry's, ``generic`` for estimates with an SE or CI); outcomes it does not name are
    binary. Continuous rows carry ``mean``, ``sd`` (or ``se``, or ``ci_lb``/``ci_ub`` at
    ``level``, converted as the Cochrane Handbook 6.5.2.3 says) and ``total``; generic rows
    ``estimate`` with ``se`` or ``ci_lb``/``ci_ub`` (and ``level``, ``adjusted``), one row
    per study with an empty ``arm`` (or the intervention arm).
    """
    table = read_csv_table(path, EXTRACTION_REQUIRED, EXTRACTION_OPTIONAL)
    outcome_measures = outcome_measures or {}
    file = table.file
    study_list = list(studies)
    known = {s.study_id: s for s in study_list}
    studies_file = getattr(studies, "file", None)
    studies_name = Path(studies_file).name if studies_file else "studies.csv"
    errors: list[InputError] = []
    records: list[ExtractionRecord] = []
    first_row: dict[tuple[str, str, str, str], int] = {}
    n_keys: dict[tuple[str, str, str], int] = {}  # rows (whole or groups) per study arm
    row_columns = tuple(c for c in ("group", "definition") if c not in table.absent)

    def unknown(row, column, value, allowed, where):
        if not value:
            return InputError(file, row, column, f"{column} is empty")
        allowed = sorted(allowed)
        return InputError(
            file,
            row,
            column,
            f"unknown {column} {value!r}: not in {where}{_hint(value, allowed)}; "
            f"known: {_quote_list(allowed)}",
        )

    for r in table:
        bad = len(errors)
        sid, outcome, arm = r["study_id"], r["outcome"], r["arm"]
        if sid not in known:
            errors.append(unknown(r.row, "study_id", sid, known, studies_name))
        if outcome == "" or (outcomes is not None and outcome not in outcomes):
            errors.append(unknown(r.row, "outcome", outcome, outcomes or (), "the protocol"))
        measure, kind = outcome_measures.get(outcome, ("", measures.TWO_ARM_BINARY))
        generic = kind == measures.GENERIC
        if (arm == "" and not generic) or (arm and arms is not None and arm not in arms):
            errors.append(unknown(r.row, "arm", arm, arms or (), "the protocol's arms"))
        values: dict[str, float] = {}
        derivation = ""
        events = None
        if kind in (measures.TWO_ARM_BINARY, measures.SINGLE_ARM_BINARY):
            for column in _CONTINUOUS_CELLS:
                if r[column]:
                    errors.append(
                        InputError(
                            file,
                            r.row,
                            column,
                            f"outcome {outcome!r} is binary ({measure or 'events of total'}): "
                            f"a {column} belongs to a continuous or generic outcome; give "
                            "events and total",
                        )
                    )
                    break
            events, err_e = _count(file, r.row, "events", r["events"])
            total, err_t = _count(file, r.row, "total", r["total"])
            errors.extend(e for e in (err_e, err_t) if e is not None)
            if total is not None and total == 0:
                errors.append(
                    InputError(file, r.row, "total", "total is 0; a group needs patients")
                )
            elif events is not None and total is not None and events > total:
                errors.append(
                    InputError(file, r.row, "events", f"events ({events}) > total ({total})")
                )
        elif generic:
            total = None
            values, derivation, found = _generic_cells(file, r, outcome, measure)
            errors.extend(found)
        else:
            total, err_t = _count(file, r.row, "total", r["total"])
            if err_t is not None:
                errors.append(err_t)
            values, derivation, found = _continuous_cells(file, r, outcome, total)
            errors.extend(found)
        group = r.get("group", "")
        key = (sid, outcome, arm, group)
        if key in first_row:
            of_group = f", group {group!r}" if group else ""
            errors.append(
                InputError(
                    file,
                    r.row,
                    None,
                    f"duplicate row for study_id {sid!r}, outcome {outcome!r}, arm {arm!r}"
                    f"{of_group}: rows {first_row[key]} and {r.row}",
                )
            )
        else:
            first_row[key] = r.row
            n_keys[key[:3]] = n_keys.get(key[:3], 0) + 1
        whole = (sid, outcome, arm, "")  # counted, not searched: a scan was O(rows^2)
        if group and whole in first_row or not group and n_keys.get(key[:3], 0) > 1:
            errors.append(
                InputError(
                    file,
                    r.row,
                    "group",
                    f"study_id {sid!r}, outcome {outcome!r}, arm {arm!r} has a row for all its "
                    f"patients (empty group, row {first_row[whole]}) and rows for groups of "
                    "them: give either the groups or the whole, not both",
                )
            )
        if len(errors) == bad:
            records.append(
                ExtractionRecord(
                    sid,
                    outcome,
                    arm,
                    events,
                    total,
                    r["source"],
                    r.row,
                    group,
                    r.get("definition", ""),
                    values,
                    derivation,
                    norm_choice(r["adjusted"]),
                )
            )
        if len(errors) >= MAX_ERRORS:
            break
    raise_collected(errors[:MAX_ERRORS])
    if not records:
        raise InputError(
            file,
            None,
            None,
            "no extraction rows: the file has a header row but no data (one row per "
            "study x outcome x arm is expected)",
        )

    warnings: list[InputWarning] = list(table.warnings)
    by_arm: dict[tuple[str, str, str], list[ExtractionRecord]] = {}
    for rec in records:
        if rec.total is not None:
            by_arm.setdefault((rec.study_id, rec.arm, rec.group), []).append(rec)
    for (sid, arm, _group), recs in by_arm.items():
        totals: dict[int, list[ExtractionRecord]] = {}
        for rec in recs:
            totals.setdefault(rec.total, []).append(rec)
        if len(totals) < 2:
            continue
        # the most frequent total (first seen on ties) is taken as the arm's size
        usual = max(totals, key=lambda t: len(totals[t]))
        odd = next(rec for rec in recs if rec.total != usual)
        detail = "; ".join(
            f"{t} ({', '.join(x.outcome for x in rs)}; "
            f"row{'s' if len(rs) > 1 else ''} {', '.join(str(x.row) for x in rs)})"
            for t, rs in totals.items()
        )
        warnings.append(
            InputWarning(
                file,
                odd.row,
                "total",
                f"total of study {sid!r}, arm {arm!r} differs between outcomes: {detail}",
            )
        )
    present = {rec.study_id for rec in records}
    for study in study_list:
        if study.study_id not in present:
            warnings.append(
                InputWarning(
                    studies_file,
                    study.row,
                    "study_id",
                    f"study {study.study_id!r} has no rows in {file}; it contributes to no outcome",
                )
            )
    return Extraction(file=file, records=records, warnings=warnings, row_columns=row_columns)


def _number_cell(file, r, column, errors) -> float | None:
    """A cell that is a finite number, None when empty; an error appended otherwise."""
    if not r[column]:
        return None
    try:
        return check_number(file, r.row, column, r[column])
    except InputError as exc:
        errors.append(exc)
        return None


def _level_cell(file, r, errors) -> float:
    level = _number_cell(file, r, "level", errors)
    if level is None:
        return 95.0
    if not 50 < level < 100:
        errors.append(
            InputError(file, r.row, "level", f"level {level!r} must be a percentage, 50-100")
        )
    return level


def _ci_problem(file, row, lb, ub, value, name) -> InputError | None:
    """What is wrong with a CI given as ``ci_lb``/``ci_ub`` (None: nothing): both ends,
    the lower below the upper, containing ``value`` (the row's ``name``: mean or estimate;
    None: not checked). One rule for continuous and generic rows."""
    if lb is None or ub is None:
        column = "ci_ub" if lb is not None else "ci_lb"
        return InputError(file, row, column, f"{column} is empty (a CI needs both)")
    if not lb < ub:
        return InputError(file, row, "ci_ub", f"ci_ub ({ub!r}) <= ci_lb ({lb!r})")
    if value is not None and not lb <= value <= ub:
        return InputError(
            file,
            row,
            "ci_lb" if value < lb else "ci_ub",
            f"the CI [{lb!r}, {ub!r}] does not contain the {name} {value!r}",
        )
    return None


def _continuous_cells(file, r, outcome, total) -> tuple[dict, str, list[InputError]]:
    """mean and SD of one arm (the SD from se or a CI when not given); Handbook 6.5.2.3."""
    errors: list[InputError] = []
    mean = _number_cell(file, r, "mean", errors)
    sd = _number_cell(file, r, "sd", errors)
    se = _number_cell(file, r, "se", errors)
    lb = _number_cell(file, r, "ci_lb", errors)
    ub = _number_cell(file, r, "ci_ub", errors)
    level = _level_cell(file, r, errors)
    if errors:
        return {}, "", errors
    if r["events"]:
        errors.append(
            InputError(
                file,
                r.row,
                "events",
                f"outcome {outcome!r} is continuous: give mean, sd and total, not events",
            )
        )
    if mean is None:
        errors.append(InputError(file, r.row, "mean", f"mean is empty (outcome {outcome!r})"))
    if total is not None and total < 2:
        errors.append(
            InputError(file, r.row, "total", f"total is {total}: an SD needs at least 2 patients")
        )
    derivation = ""
    if sd is None and se is not None:
        if not se > 0:
            errors.append(InputError(file, r.row, "se", f"se must be > 0 (got {se!r})"))
        elif total is not None and total >= 2:
            sd, derivation = sd_from_se(se, total)
    elif sd is None and (lb is not None or ub is not None):
        problem = _ci_problem(file, r.row, lb, ub, mean, "mean")
        if problem is not None:
            errors.append(problem)
        elif total is not None and total >= 2:
            sd, derivation = sd_from_ci(lb, ub, total, level)  # t below 60 per group
    elif sd is None:
        errors.append(
            InputError(file, r.row, "sd", "sd is empty (give sd, or se, or ci_lb and ci_ub)")
        )
    elif not sd > 0:
        errors.append(InputError(file, r.row, "sd", f"sd must be > 0 (got {sd!r})"))
    if errors:
        return {}, "", errors
    return {"mean": mean, "sd": sd}, derivation, errors


def _generic_cells(file, r, outcome, measure) -> tuple[dict, str, list[InputError]]:
    """estimate and its SE on the analysis scale (log for ratios) from se or a CI."""
    errors: list[InputError] = []
    est = _number_cell(file, r, "estimate", errors)
    se = _number_cell(file, r, "se", errors)
    lb = _number_cell(file, r, "ci_lb", errors)
    ub = _number_cell(file, r, "ci_ub", errors)
    level = _level_cell(file, r, errors)
    if errors:
        return {}, "", errors
    m = measures.find(measure)
    log = bool(m and m.scale == "log")
    for column in ("events", "total", "mean", "sd"):
        if r[column]:
            errors.append(
                InputError(
                    file,
                    r.row,
                    column,
                    f"outcome {outcome!r} takes generic inverse-variance rows (estimate with "
                    f"se or ci_lb/ci_ub): {column} does not belong here",
                )
            )
            return {}, "", errors
    if r["adjusted"] and norm_choice(r["adjusted"]) not in ("yes", "no"):
        errors.append(
            InputError(file, r.row, "adjusted", f"adjusted {r['adjusted']!r}: yes, no or empty")
        )
    if est is None:
        errors.append(InputError(file, r.row, "estimate", "estimate is empty"))
        return {}, "", errors
    if log:
        for column, value in (("estimate", est), ("ci_lb", lb), ("ci_ub", ub)):
            if value is not None and not value > 0:
                errors.append(
                    InputError(
                        file,
                        r.row,
                        column,
                        f"{column} {value!r}: a {m.label.lower()} on the natural scale is > 0",
                    )
                )
        if errors:
            return {}, "", errors
    derivation = ""
    if se is not None:
        if not se > 0:
            errors.append(InputError(file, r.row, "se", f"se must be > 0 (got {se!r})"))
    elif lb is None and ub is None:
        errors.append(InputError(file, r.row, "se", "se is empty (give se or ci_lb and ci_ub)"))
    elif (problem := _ci_problem(file, r.row, lb, ub, est, "estimate")) is not None:
        errors.append(problem)
    else:
        se = se_from_ci(lb, ub, level, log=log)
        scale = "log(ci_ub) - log(ci_lb)" if log else "ci_ub - ci_lb"
        derivation = f"SE = ({scale}) / (2 x z) = {se:.6g} ({level:.6g}% CI)"
    if errors:
        return {}, "", errors
    yi = math.log(est) if log else est
    return {"estimate": est, "yi": yi, "se": se}, derivation, errors


# --------------------------------------------------------------------------- analysis tables


@dataclass
class ArmTable:
    """Per-study counts for one outcome, in ``studies.csv`` order, ready for pooling."""

    outcome: str
    columns: list[str]
    rows: list[dict[str, object]]
    warnings: list[InputWarning] = field(default_factory=list)
    #: provenance columns that are not covariates (``derivation``, ``adjusted``)
    notes: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[dict[str, object]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def _covariates(studies, study: Study, covariates: Iterable[str]) -> dict[str, object]:
    out = {}
    for column in covariates:
        if column not in _study_columns(studies, study):
            file = getattr(studies, "file", None)
            raise InputError(file, 1, column, f"no column {column!r} in the studies table")
        out[column] = study.get(column)
    return out


def _study_columns(studies, study: Study) -> set[str]:
    columns = getattr(studies, "columns", None)
    if columns is not None:
        return set(columns) | {"label", "year", "design", "reference", "rob_overall"}
    return {"study_id", "label", "year", "design", "reference", "rob_overall"} | set(
        study.covariates
    )


def _row_columns(extraction) -> list[str]:
    """The row-level columns an outcome table carries: ``group``, ``definition`` and
    ``unit`` when ``extraction.csv`` has a ``group`` or ``definition`` column, else none."""
    present = getattr(extraction, "row_columns", ())
    return ["group", "definition", "unit"] if present else []


def _combined(recs: list[ExtractionRecord]) -> tuple[int, int, str, str]:
    """A study's groups of one arm combined: counts summed, the groups joined by '+',
    the distinct non-empty definitions joined by '; '."""
    events = sum(r.events for r in recs)
    total = sum(r.total for r in recs)
    group = "+".join(r.group for r in recs if r.group)
    definition = "; ".join(dict.fromkeys(r.definition for r in recs if r.definition))
    return events, total, group, definition


def _by_arm(extraction, outcome: str) -> dict[tuple[str, str], list[ExtractionRecord]]:
    cells: dict[tuple[str, str], list[ExtractionRecord]] = {}
    for r in extraction:
        if r.outcome == outcome:
            cells.setdefault((r.study_id, r.arm), []).append(r)
    return cells


def _combined_warning(file, study_id: str, outcome: str, recs) -> InputWarning:
    groups = ", ".join(dict.fromkeys(r.group for r in recs))
    return InputWarning(
        file,
        recs[0].row,
        "group",
        f"study {study_id!r}, outcome {outcome!r}: groups {groups} combined (counts summed) "
        "so that the study is one unit of the pooled analysis",
    )


def two_arm_table(
    extraction: Extraction | Iterable[ExtractionRecord],
    studies: StudyTable | Iterable[Study],
    outcome: str,
    intervention: str,
    control: str,
    covariates: Iterable[str] = (),
) -> ArmTable:
    """Rows ``{study, ai, n1i, ci, n2i}`` (+ ``covariates`` columns of ``studies.csv``).

    Studies with both arms for ``outcome`` are kept in ``studies.csv`` order; a study with
    only one of the two arms gives a warning and is left out. A study whose rows carry
    groups (extraction.csv's ``group``) is one row with each arm's groups summed
    (``unit = study``), followed by one row per group that has both arms
    (``unit = group``), which only an analysis by ``group`` uses.
    """
    covariates = list(covariates)
    file = getattr(extraction, "file", None)
    extra = _row_columns(extraction)
    cells = _by_arm(extraction, outcome)
    rows: list[dict[str, object]] = []
    warnings: list[InputWarning] = []
    for study in studies:
        a = cells.get((study.study_id, intervention))
        c = cells.get((study.study_id, control))
        if a is not None and c is not None:
            ai, n1i, g1, d1 = _combined(a)
            ci, n2i, g2, d2 = _combined(c)
            row = {"study": study.study_id, "ai": ai, "n1i": n1i, "ci": ci, "n2i": n2i}
            if extra:
                groups = "+".join(dict.fromkeys(g for g in g1.split("+") + g2.split("+") if g))
                definition = "; ".join(dict.fromkeys(d for d in (d1, d2) if d))
                row |= {"group": groups, "definition": definition, "unit": "study"}
            rows.append(row | _covariates(studies, study, covariates))
            if len(a) > 1 or len(c) > 1:
                warnings.append(_combined_warning(file, study.study_id, outcome, a + c))
            if extra and (len(a) > 1 or len(c) > 1 or a[0].group):
                arm_c = {r.group: r for r in c}
                for ra in a:
                    rc = arm_c.get(ra.group)
                    if rc is None or not ra.group:
                        continue
                    definition = "; ".join(
                        dict.fromkeys(d for d in (ra.definition, rc.definition) if d)
                    )
                    unit = {"study": study.study_id, "ai": ra.events, "n1i": ra.total}
                    unit |= {"ci": rc.events, "n2i": rc.total, "group": ra.group}
                    unit |= {"definition": definition, "unit": "group"}
                    rows.append(unit | _covariates(studies, study, covariates))
        elif a is not None or c is not None:
            have_recs, missing = (a, control) if a is not None else (c, intervention)
            have = have_recs[0]
            warnings.append(
                InputWarning(
                    file,
                    have.row,
                    "arm",
                    f"study {study.study_id!r} has outcome {outcome!r} for arm {have.arm!r} "
                    f"but not for arm {missing!r}; left out of this outcome",
                )
            )
    columns = ["study", "ai", "n1i", "ci", "n2i", *extra, *covariates]
    return ArmTable(outcome=outcome, columns=columns, rows=rows, warnings=warnings)


def single_arm_table(
    extraction: Extraction | Iterable[ExtractionRecord],
    studies: StudyTable | Iterable[Study],
    outcome: str,
    arm: str,
    covariates: Iterable[str] = (),
) -> ArmTable:
    """Rows ``{study, xi, ni}`` (+ ``covariates``) of the studies with ``arm`` for ``outcome``.

    A study whose rows carry groups is one row with the groups' counts summed
    (``unit = study``), followed by one row per group (``unit = group``), which only an
    analysis by ``group`` uses."""
    covariates = list(covariates)
    file = getattr(extraction, "file", None)
    extra = _row_columns(extraction)
    cells = _by_arm(extraction, outcome)
    rows: list[dict[str, object]] = []
    warnings: list[InputWarning] = []
    for study in studies:
        recs = cells.get((study.study_id, arm))
        if recs is None:
            continue
        xi, ni, group, definition = _combined(recs)
        row = {"study": study.study_id, "xi": xi, "ni": ni}
        if extra:
            row |= {"group": group, "definition": definition, "unit": "study"}
        rows.append(row | _covariates(studies, study, covariates))
        if len(recs) > 1:
            warnings.append(_combined_warning(file, study.study_id, outcome, recs))
        if extra and recs[0].group:
            for rec in recs:
                unit = {"study": study.study_id, "xi": rec.events, "ni": rec.total}
                unit |= {"group": rec.group, "definition": rec.definition, "unit": "group"}
                rows.append(unit | _covariates(studies, study, covariates))
    columns = ["study", "xi", "ni", *extra, *covariates]
    return ArmTable(outcome=outcome, columns=columns, rows=rows, warnings=warnings)


def _derivations(pairs) -> str:
    return "; ".join(f"{arm}: {rec.derivation}" for arm, rec in pairs if rec.derivation)


def continuous_table(
    extraction: Extraction | Iterable[ExtractionRecord],
    studies: StudyTable | Iterable[Study],
    outcome: str,
    intervention: str,
    control: str,
    covariates: Iterable[str] = (),
) -> ArmTable:
    """Rows ``{study, m1i, sd1i, n1i, m2i, sd2i, n2i, derivation}`` (+ ``covariates``) of
    a two-arm continuous outcome; a study with one of the two arms is left out, warned."""
    covariates = list(covariates)
    file = getattr(extraction, "file", None)
    cells = {(r.study_id, r.arm): r for r in extraction if r.outcome == outcome}
    rows: list[dict[str, object]] = []
    warnings: list[InputWarning] = []
    for study in studies:
        a = cells.get((study.study_id, intervention))
        c = cells.get((study.study_id, control))
        if a is not None and c is not None:
            row = {"study": study.study_id}
            row |= {"m1i": a.values["mean"], "sd1i": a.values["sd"], "n1i": a.total}
            row |= {"m2i": c.values["mean"], "sd2i": c.values["sd"], "n2i": c.total}
            row["derivation"] = _derivations(((intervention, a), (control, c)))
            rows.append(row | _covariates(studies, study, covariates))
        elif a is not None or c is not None:
            have, missing = (a, control) if a is not None else (c, intervention)
            warnings.append(
                InputWarning(
                    file,
                    have.row,
                    "arm",
                    f"study {study.study_id!r} has outcome {outcome!r} for arm {have.arm!r} "
                    f"but not for arm {missing!r}; left out of this outcome",
                )
            )
    columns = ["study", *measures.get("MD").columns, "derivation", *covariates]
    return ArmTable(outcome, columns, rows, warnings, notes=["derivation"])


def mean_table(
    extraction: Extraction | Iterable[ExtractionRecord],
    studies: StudyTable | Iterable[Study],
    outcome: str,
    arm: str,
    covariates: Iterable[str] = (),
) -> ArmTable:
    """Rows ``{study, mi, sdi, ni, derivation}`` (+ ``covariates``) of a single-arm mean."""
    covariates = list(covariates)
    cells = {r.study_id: r for r in extraction if r.outcome == outcome and r.arm == arm}
    rows: list[dict[str, object]] = []
    for study in studies:
        rec = cells.get(study.study_id)
        if rec is not None:
            row = {"study": study.study_id, "mi": rec.values["mean"], "sdi": rec.values["sd"]}
            row |= {"ni": rec.total, "derivation": _derivations(((arm, rec),))}
            rows.append(row | _covariates(studies, study, covariates))
    columns = ["study", *measures.get("MN").columns, "derivation", *covariates]
    return ArmTable(outcome, columns, rows, notes=["derivation"])


def generic_table(
    extraction: Extraction | Iterable[ExtractionRecord],
    studies: StudyTable | Iterable[Study],
    outcome: str,
    covariates: Iterable[str] = (),
) -> ArmTable:
    """Rows ``{study, yi, sei, adjusted, derivation}`` (+ ``covariates``) of a generic
    inverse-variance outcome: one estimate per study on the analysis scale (log for
    ratios). A second row of a study for the outcome is an error naming both rows."""
    covariates = list(covariates)
    file = getattr(extraction, "file", None)
    cells: dict[str, ExtractionRecord] = {}
    for r in extraction:
        if r.outcome != outcome:
            continue
        if r.study_id in cells:
            raise InputError(
                file,
                r.row,
                "study_id",
                f"study {r.study_id!r} has two estimates for outcome {outcome!r} (rows "
                f"{cells[r.study_id].row} and {r.row}): a generic inverse-variance outcome "
                "takes one row per study",
            )
        cells[r.study_id] = r
    rows: list[dict[str, object]] = []
    for study in studies:
        rec = cells.get(study.study_id)
        if rec is not None:
            row = {"study": study.study_id, "yi": rec.values["yi"], "sei": rec.values["se"]}
            row |= {"adjusted": rec.adjusted, "derivation": rec.derivation}
            rows.append(row | _covariates(studies, study, covariates))
    columns = ["study", *measures.GENERIC_COLUMNS, "adjusted", "derivation", *covariates]
    return ArmTable(outcome, columns, rows, notes=["adjusted", "derivation"])


# --------------------------------------------------------------------------- CSV output


# --------------------------------------------------------------------------- rerun triggers


def bytes_or_reason(path: str | Path) -> bytes:
    """A raw file's bytes for a digest. A missing file propagates (Snakemake reports the
    missing input); a file that cannot be read (a directory, no permission) gives the
    reason instead, and the job, whose reader names the file, reports it."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise
    except OSError as exc:
        return f"unreadable: {exc.strerror}".encode()


def outcome_rows_digest(path: str | Path, outcome: str, hasher) -> None:
    """Feed ``hasher`` what one outcome's extraction depends on in ``extraction.csv``: the
    header and that outcome's rows (editing another outcome's rows leaves it unchanged). A
    file this cannot split feeds its whole content; the job's own reader reports it."""
    data = bytes_or_reason(path)
    try:
        reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
        header = next(reader, [])
        col = [c.strip() for c in header].index("outcome")
        hasher.update(repr(header).encode())
        for row in reader:
            if len(row) > col and row[col].strip() == outcome:
                hasher.update(repr(row).encode())
    except (UnicodeDecodeError, ValueError, csv.Error):
        hasher.update(data)
