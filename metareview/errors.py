"""Errors and warnings that point at the cell (or YAML key) a user must fix.

``InputError`` is raised for bad input: its text names the file, the row as a spreadsheet
user sees it (the header is row 1) and the column, e.g.::

    data/raw/x/extraction.csv, row 7, column 'events': events (12) > total (10)

For YAML files (the protocol, the pipeline config) ``row`` is the line number and
``column`` the key path, e.g. ``config/reviews/x.yaml, line 34, key 'outcomes[2].measure'``.

``InputErrors`` bundles several findings of one pass over a file (so a user fixes them all
in one go); it is an ``InputError`` whose own fields are those of the first finding.
``InputWarning`` is a non-fatal finding with the same location fields. ``AnalysisError``
is for failures that are not the input's fault as such (k = 1, non-convergence, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

_YAML_SUFFIXES = (".yaml", ".yml", ".json")


def format_location(file: str | None, row: int | None, column: str | None) -> str:
    """``"file, row 7, column 'events'"`` (``line``/``key`` for YAML files); '' if nothing known."""
    is_yaml = file is not None and str(file).lower().endswith(_YAML_SUFFIXES)
    parts = []
    if file is not None:
        parts.append(str(file))
    if row is not None:
        parts.append(f"{'line' if is_yaml else 'row'} {row}")
    if column is not None:
        parts.append(f"{'key' if is_yaml else 'column'} {column!r}")
    return ", ".join(parts)


def _format(file, row, column, message) -> str:
    where = format_location(file, row, column)
    return f"{where}: {message}" if where else str(message)


class InputError(Exception):
    """Bad input, located by file, row (1-based, header = row 1) and column."""

    def __init__(
        self,
        file: str | None,
        row: int | None,
        column: str | None,
        message: str,
    ) -> None:
        super().__init__(file, row, column, message)
        self.file = None if file is None else str(file)
        self.row = row
        self.column = column
        self.message = message

    def __str__(self) -> str:
        return _format(self.file, self.row, self.column, self.message)

    def to_dict(self) -> dict:
        return {"file": self.file, "row": self.row, "column": self.column, "message": self.message}


class InputErrors(InputError):
    """Several input errors found in one pass; ``errors`` holds them all (first one first)."""

    def __init__(self, errors: list[InputError]) -> None:
        if not errors:
            raise ValueError("InputErrors needs at least one error")
        first = errors[0]
        super().__init__(first.file, first.row, first.column, first.message)
        self.args = (list(errors),)
        self.errors = list(errors)

    def __str__(self) -> str:
        lines = [str(e) for e in self.errors]
        if len(lines) == 1:
            return lines[0]
        return f"{len(lines)} errors:\n" + "\n".join(f"  {line}" for line in lines)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "errors": [e.to_dict() for e in self.errors]}


def raise_collected(errors: list[InputError]) -> None:
    """Raise nothing, the single error, or an ``InputErrors`` bundle."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InputErrors(errors)


@dataclass(frozen=True)
class InputWarning:
    """A non-fatal finding about the input, located like ``InputError``."""

    file: str | None
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        return _format(self.file, self.row, self.column, self.message)

    def to_dict(self) -> dict:
        return {"file": self.file, "row": self.row, "column": self.column, "message": self.message}


class AnalysisError(Exception):
    """A failure of the analysis rather than of the input (k = 1, non-convergence, ...)."""

    def __init__(self, message: str, *, outcome: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.outcome = outcome

    def __reduce__(self):
        return (_analysis_error, (self.message, self.outcome))

    def __str__(self) -> str:
        return f"outcome {self.outcome!r}: {self.message}" if self.outcome else self.message


def _analysis_error(message: str, outcome: str | None) -> AnalysisError:
    return AnalysisError(message, outcome=outcome)
