"""Risk-of-bias assessments: tool templates as data, the judgements of ``studies.csv``.

A *tool* (RoB 2, ROBINS-I, ...) is a YAML template in ``metareview/rob_tools/`` (or any
file given by path): its domains with the ``studies.csv`` column holding each judgement,
the overall column (``rob_overall``), the allowed judgements (id as written in the CSV,
accepted aliases, display label, robvis colour and symbol) and their order of severity.
A revised tool is a new template file, not new code.

* :func:`load_tool` reads and validates a template (errors name the file, line and key).
* :func:`read_assessments` reads the judgements of each study from the rows of
  ``studies.csv``: an empty cell or an absent column means "not assessed"; an unknown
  judgement raises ``InputError`` naming the file, the row (as a spreadsheet user sees
  it, the header is row 1, as ``metareview.inputs.tables`` counts) and the column.
* :func:`summary` gives, per domain, the proportion of studies with each judgement,
  optionally weighted by the studies' meta-analysis weights (as robvis ``rob_summary(...,
  weighted = TRUE)``).

The package has no risk-of-bias judgements of its own: they come from the review team's
``studies.csv`` only.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metareview.errors import InputError, raise_collected

__all__ = [
    "TOOLS_DIR",
    "NOT_ASSESSED",
    "Domain",
    "Judgement",
    "RobStudy",
    "RobTable",
    "RobTool",
    "available_tools",
    "load_tool",
    "read_assessments",
    "summary",
]

TOOLS_DIR = Path(__file__).resolve().parents[1] / "rob_tools"
"""Folder of the tool templates shipped with the package."""

NOT_ASSESSED = "not_assessed"
"""Key of the "not assessed" share in :func:`summary` (an empty cell in ``studies.csv``)."""

_ID = re.compile(r"[a-z][a-z0-9_]*\Z")
_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}\Z")
_TOOL_KEYS = {
    "id": True,
    "kind": False,
    "name": True,
    "heading": False,
    "full_name": False,
    "version": False,
    "citation": True,
    "doi": False,
    "study_designs": False,
    "domains": True,
    "overall": True,
    "judgements": True,
    "severity": True,
}
_DOMAIN_KEYS = ("id", "column", "short", "label")
_DOMAIN_OPTIONAL = ("abbrev",)
_JUDGEMENT_KEYS = {"id": True, "aliases": False, "label": True, "colour": True, "symbol": True}


def _norm(value: str) -> str:
    """Judgement text as compared: lower case, runs of spaces, '-' and '_' as one space."""
    return re.sub(r"[\s_\-]+", " ", str(value).strip().lower()).strip()


# shared with the star-count tools (metareview.inputs.stars)
ID_PATTERN = _ID
COLOUR_PATTERN = _COLOUR
norm_text = _norm


def _tool_key(value: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(value).lower())


# --------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class Domain:
    """A column of the assessment: a domain, or the overall judgement."""

    id: str
    column: str
    short: str
    label: str
    abbrev: str = ""  # header where space is tight (forest-plot columns); default: short

    @property
    def tight(self) -> str:
        return self.abbrev or self.short

    def to_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "column": self.column,
            "short": self.short,
            "label": self.label,
            "abbrev": self.tight,
        }


@dataclass(frozen=True)
class Judgement:
    """An allowed judgement; ``rank`` is its place in the order of severity (None: unranked)."""

    id: str
    label: str
    colour: str
    symbol: str
    aliases: tuple[str, ...] = ()
    rank: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "colour": self.colour,
            "symbol": self.symbol,
            "aliases": list(self.aliases),
            "rank": self.rank,
        }


@dataclass(frozen=True)
class RobTool:
    """A risk-of-bias tool read from a template (see ``metareview/rob_tools/rob2.yaml``)."""

    id: str
    name: str
    citation: str
    domains: tuple[Domain, ...]
    overall: Domain
    judgements: tuple[Judgement, ...]  # display order: by severity, then the unranked ones
    severity: tuple[str, ...]
    full_name: str = ""
    version: str = ""
    doi: str = ""
    study_designs: tuple[str, ...] = ()
    source: str = ""
    heading: str = "Risk of bias"  # what the assessment is called in figures and the report
    kind: str = "judgements"  # a judgement per domain (star-count tools: inputs.stars)
    _lookup: dict[str, Judgement] = field(default_factory=dict, repr=False, compare=False)

    @property
    def columns(self) -> tuple[Domain, ...]:
        """The domains, then the overall judgement (the columns of the plots)."""
        return (*self.domains, self.overall)

    @property
    def rating_heading(self) -> str:
        """The heading of the key of judgements in the figures."""
        return "Judgement"

    @property
    def not_assessed_label(self) -> str:
        """The key of an empty cell in the figures."""
        return "Not assessed"

    def judgement(self, id_: str) -> Judgement:
        for j in self.judgements:
            if j.id == id_:
                return j
        raise KeyError(id_)

    def parse(self, value: str) -> Judgement | None:
        """The judgement a cell holds (id, label or alias, any case); None if empty or unknown."""
        key = _norm(value)
        if not key:
            return None
        return self._lookup.get(key)

    def allowed_text(self) -> str:
        parts = []
        for j in self.judgements:
            extra = [a for a in (j.label.lower(), *j.aliases) if _norm(a) != _norm(j.id)]
            parts.append(f"{j.id!r}" + (f" ({extra[0]!r})" if extra else ""))
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "full_name": self.full_name,
            "version": self.version,
            "citation": self.citation,
            "doi": self.doi,
            "study_designs": list(self.study_designs),
            "domains": [d.to_dict() for d in self.domains],
            "overall": self.overall.to_dict(),
            "judgements": [j.to_dict() for j in self.judgements],
            "severity": list(self.severity),
        }


def available_tools() -> dict[str, Path]:
    """Tool id -> template path of the templates shipped with the package."""
    out: dict[str, Path] = {}
    for path in sorted(TOOLS_DIR.glob("*.yaml")):
        out[path.stem] = path
    return out


def tool_path(name_or_path: str | Path) -> Path:
    """The template file of a tool name ("rob2", "ROBINS-I") or template path."""
    return _resolve(name_or_path)


def _resolve(name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    path = Path(text)
    looks_like_path = isinstance(name_or_path, Path) or text.lower().endswith((".yaml", ".yml"))
    if looks_like_path or "/" in text or "\\" in text:
        return path
    shipped = available_tools()
    wanted = _tool_key(text)
    for stem, candidate in shipped.items():
        if _tool_key(stem) == wanted:
            return candidate
    # match on the tool's id or name inside the templates ("RoB 2", "ROBINS-I")
    import yaml

    for candidate in shipped.values():
        try:
            data = yaml.safe_load(candidate.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        names = (data.get("id"), data.get("name")) if isinstance(data, dict) else ()
        if any(n is not None and _tool_key(n) == wanted for n in names):
            return candidate
    if path.exists():
        return path
    raise InputError(
        None,
        None,
        None,
        f"unknown risk-of-bias tool {text!r}; shipped templates: "
        f"{', '.join(sorted(shipped))} (or give the path of a template file)",
    )


def load_tool(name_or_path: Any) -> Any:
    """Read a tool template: a shipped one by name (``"rob2"``, ``"RoB 2"``, ``"robins_i"``,
    ``"ROBINS-I"``, ``"nos"``) or any template file by path. Errors name the file, line and
    key. A judgement template gives a :class:`RobTool`; a template of ``kind: stars`` (the
    Newcastle-Ottawa Scale) a ``metareview.inputs.stars.StarTool``."""
    if isinstance(name_or_path, RobTool) or getattr(name_or_path, "kind", None) == "stars":
        return name_or_path
    path = _resolve(name_or_path)
    try:  # a job of several reviews reads each template once (while the file is unchanged)
        st = path.stat()
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    except OSError:
        key = None  # read_yaml_document names the problem
    if key in _LOADED:
        return _LOADED[key]
    tool = _load_tool(path)
    if key is not None:
        _LOADED[key] = tool
    return tool


#: templates read in this process, by (real path, mtime, size)
_LOADED: dict[tuple[str, int, int], Any] = {}


class TemplateCheck:
    """A tool template's checks: each error collected at its line and key (``err``), texts
    read and normalised (``text``); :meth:`done` raises them all at once."""

    def __init__(self, file: str, root: Any):
        self.file, self.root = file, root
        self.errors: list[InputError] = []

    def err(self, where: list, message: str, key: bool = False) -> None:
        from metareview.inputs.protocol import node_line, yaml_path

        self.errors.append(
            InputError(
                self.file, node_line(self.root, where, key), yaml_path(where) or None, message
            )
        )

    def text(self, value: Any, where: list, required: bool = True) -> str:
        if value is None and not required:
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.err(where, "must be a text" + ("" if required else " (or left out)"))
            return ""
        s = " ".join(str(value).split())
        if required and not s:
            self.err(where, "must not be empty")
        return s

    def done(self) -> None:
        raise_collected(self.errors)


def template_judgements(
    check: TemplateCheck, raw: Any, noun: str = "judgement"
) -> tuple[list[Judgement], dict[str, Judgement]]:
    """The ``judgements`` list of a template (``noun``: "rating" for a star-count tool's
    derived ratings) and the lookup of every spelling (id, label, aliases) to its entry;
    a spelling that would name two entries is an error."""
    judgements: list[Judgement] = []
    lookup: dict[str, Judgement] = {}
    if not isinstance(raw, list) or not raw:
        check.err(["judgements"], f"must be a non-empty list of {noun}s")
        raw = []
    for i, value in enumerate(raw):
        where = ["judgements", i]
        if not isinstance(value, dict):
            check.err(where, f"must be a mapping with keys {', '.join(_JUDGEMENT_KEYS)}")
            continue
        for key in value:
            if key not in _JUDGEMENT_KEYS:
                check.err([*where, key], f"unknown key {key!r}", key=True)
        missing = [k for k, req in _JUDGEMENT_KEYS.items() if req and k not in value]
        if missing:
            check.err(where, f"missing key {missing[0]!r}")
            continue
        aliases_raw = value.get("aliases") or []
        if not isinstance(aliases_raw, list):
            check.err([*where, "aliases"], "must be a list of texts")
            aliases_raw = []
        aliases = tuple(check.text(a, [*where, "aliases", n]) for n, a in enumerate(aliases_raw))
        colour = check.text(value["colour"], [*where, "colour"])
        if colour and not _COLOUR.match(colour):
            check.err([*where, "colour"], f"colour {colour!r} must be '#RRGGBB'")
        j = Judgement(
            id=check.text(value["id"], [*where, "id"]),
            label=check.text(value["label"], [*where, "label"]),
            colour=colour.upper(),
            symbol=check.text(value["symbol"], [*where, "symbol"]),
            aliases=aliases,
        )
        for spelling in (j.id, j.label, *aliases):
            key = _norm(spelling)
            if key in lookup and lookup[key].id != j.id:
                check.err(
                    where,
                    f"{spelling!r} would name both {lookup[key].id!r} and {j.id!r}",
                )
            lookup.setdefault(key, j)
        judgements.append(j)
    return judgements, lookup


def template_severity(
    check: TemplateCheck, raw: Any, ids: list[str], noun: str, order: str
) -> list[str]:
    """The ``severity`` list: every entry a judgement (or rating) id, once, in ``order``."""
    severity: list[str] = []
    if not isinstance(raw, list) or not raw:
        check.err(["severity"], f"must be a non-empty list of {noun} ids, {order}")
        return severity
    for i, value in enumerate(raw):
        sid = check.text(value, ["severity", i])
        if sid not in ids:
            check.err(["severity", i], f"{sid!r} is not a {noun} id (ids: {', '.join(ids)})")
        elif sid in severity:
            check.err(["severity", i], f"{sid!r} is listed twice")
        else:
            severity.append(sid)
    return severity


def _load_tool(path: Path) -> Any:
    from metareview.inputs.protocol import read_yaml_document

    file = str(path)
    data, root = read_yaml_document(path, "risk-of-bias tool template")
    check = TemplateCheck(file, root)
    err, text, errors = check.err, check.text, check.errors

    if not isinstance(data, dict):
        raise InputError(file, None, None, "a tool template must be a YAML mapping")
    kind = data.get("kind", "judgements")
    if kind == "stars":
        # lazy: the star-count kind builds on this module's pieces (stars imports rob)
        from metareview.inputs.stars import load_star_tool

        return load_star_tool(data, root, file)
    if kind != "judgements":
        err(["kind"], f"kind {kind!r} must be 'judgements' (the default) or 'stars'")
    for key in data:
        if key not in _TOOL_KEYS:
            err([key], f"unknown key {key!r}; allowed: {', '.join(_TOOL_KEYS)}", key=True)
    for key, required in _TOOL_KEYS.items():
        if required and key not in data:
            err([], f"missing key {key!r}")
    raise_collected(errors)

    tool_id = text(data["id"], ["id"])
    if tool_id and not _ID.match(tool_id):
        err(["id"], f"id {tool_id!r} must be lower case letters, digits and '_'")

    def domain(value: Any, where: list) -> Domain | None:
        if not isinstance(value, dict):
            err(where, f"must be a mapping with keys {', '.join(_DOMAIN_KEYS)}")
            return None
        for key in value:
            if key not in _DOMAIN_KEYS + _DOMAIN_OPTIONAL:
                err([*where, key], f"unknown key {key!r}", key=True)
        for key in _DOMAIN_KEYS:
            if key not in value:
                err(where, f"missing key {key!r}")
        if any(key not in value for key in _DOMAIN_KEYS):
            return None
        d = Domain(
            *(text(value[key], [*where, key]) for key in _DOMAIN_KEYS),
            abbrev=text(value.get("abbrev"), [*where, "abbrev"], required=False),
        )
        if d.id and not _ID.match(d.id):
            err([*where, "id"], f"id {d.id!r} must be lower case letters, digits and '_'")
        return d

    domains: list[Domain] = []
    if not isinstance(data["domains"], list) or not data["domains"]:
        err(["domains"], "must be a non-empty list of domains")
    else:
        for i, value in enumerate(data["domains"]):
            d = domain(value, ["domains", i])
            if d is not None:
                domains.append(d)
    overall = domain(data["overall"], ["overall"])
    columns = [*domains, *([overall] if overall else [])]
    for attr in ("id", "column"):
        seen: dict[str, int] = {}
        for i, d in enumerate(columns):
            value = getattr(d, attr)
            if value in seen:
                where = ["overall"] if d is overall else ["domains", i]
                err([*where, attr], f"{attr} {value!r} is used twice")
            seen[value] = i

    judgements, lookup = template_judgements(check, data["judgements"])
    severity = template_severity(
        check, data["severity"], [j.id for j in judgements], "judgement", "least severe first"
    )
    designs = data.get("study_designs") or []
    if not isinstance(designs, list):
        err(["study_designs"], "must be a list")
        designs = []
    raise_collected(errors)

    ranked = [
        Judgement(j.id, j.label, j.colour, j.symbol, j.aliases, severity.index(j.id))
        for sid in severity
        for j in judgements
        if j.id == sid
    ]
    unranked = [j for j in judgements if j.id not in severity]
    ordered = tuple(ranked + unranked)
    by_id = {j.id: j for j in ordered}
    lookup = {key: by_id[j.id] for key, j in lookup.items()}
    assert overall is not None
    return RobTool(
        id=tool_id,
        name=text(data["name"], ["name"]),
        citation=text(data["citation"], ["citation"]),
        domains=tuple(domains),
        overall=overall,
        judgements=ordered,
        severity=tuple(severity),
        full_name=text(data.get("full_name"), ["full_name"], required=False),
        version=text(data.get("version"), ["version"], required=False),
        doi=text(data.get("doi"), ["doi"], required=False),
        study_designs=tuple(str(d) for d in designs),
        source=file,
        heading=text(data.get("heading"), ["heading"], required=False) or "Risk of bias",
        _lookup=lookup,
    )


# --------------------------------------------------------------------------- assessments


@dataclass
class RobStudy:
    """One study's judgements: column id (domain id or ``overall``) -> judgement id or None."""

    study_id: str
    label: str
    row: int | None
    judgements: dict[str, str | None]

    @property
    def assessed(self) -> bool:
        return any(v is not None for v in self.judgements.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "study_id": self.study_id,
            "label": self.label,
            "row": self.row,
            "judgements": dict(self.judgements),
        }


@dataclass
class RobTable:
    """The risk-of-bias judgements of a review's studies under one tool (file order)."""

    tool: RobTool
    studies: list[RobStudy]
    file: str = "studies.csv"

    def __iter__(self):
        return iter(self.studies)

    def __len__(self) -> int:
        return len(self.studies)

    @property
    def columns(self) -> tuple[Domain, ...]:
        return self.tool.columns

    @property
    def ids(self) -> list[str]:
        return [s.study_id for s in self.studies]

    def get(self, study_id: str) -> RobStudy | None:
        for s in self.studies:
            if s.study_id == study_id:
                return s
        return None

    def judgement(self, study_id: str, column: str) -> Judgement | None:
        """The judgement of ``study_id`` in ``column`` (a domain id or ``overall``)."""
        study = self.get(study_id)
        if study is None:
            raise KeyError(study_id)
        value = study.judgements[column]
        return None if value is None else self.tool.judgement(value)

    def subset(self, study_ids: Iterable[str]) -> RobTable:
        """The studies in ``study_ids`` (in that order; unknown ids are left out)."""
        by_id = {s.study_id: s for s in self.studies}
        return RobTable(self.tool, [by_id[i] for i in study_ids if i in by_id], self.file)

    def cell_text(self, study: RobStudy, column: Domain) -> str:
        """The cell of the report's table: the judgement's label, or "not assessed"."""
        value = study.judgements.get(column.id)
        return self.tool.judgement(value).label if value else "not assessed"

    def csv_rows(self) -> tuple[list[str], list[dict[str, Any]]]:
        """(header, rows) of the assessments table: the judgement id per column."""
        header = ["study_id", "label", *(c.id for c in self.columns)]
        rows = [
            {
                "study_id": s.study_id,
                "label": s.label,
                **{c.id: s.judgements.get(c.id) or "" for c in self.columns},
            }
            for s in self.studies
        ]
        return header, rows

    def forest_cells(self) -> dict[str, list[dict[str, Any] | None]]:
        """Study id -> one dict per column (domains, then overall) for ``draw_forest(rob=...)``.

        Each dict has ``domain`` (the column's ``abbrev``), ``domain_label``, ``judgement`` (id),
        ``label``, ``colour``, ``symbol`` and ``rank`` (display order); None = not assessed.
        """
        out: dict[str, list[dict[str, Any] | None]] = {}
        order = {j.id: n for n, j in enumerate(self.tool.judgements)}
        for s in self.studies:
            cells: list[dict[str, Any] | None] = []
            for col in self.columns:
                jid = s.judgements.get(col.id)
                if jid is None:
                    cells.append(None)
                    continue
                j = self.tool.judgement(jid)
                cells.append(
                    {
                        "domain": col.tight,
                        "domain_label": col.label,
                        "judgement": j.id,
                        "label": j.label,
                        "colour": j.colour,
                        "symbol": j.symbol,
                        "rank": order[j.id],
                    }
                )
            out[s.study_id] = cells
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "tool": {
                "id": self.tool.id,
                "kind": self.tool.kind,
                "name": self.tool.name,
                "heading": self.tool.heading,
                "version": self.tool.version,
                "citation": self.tool.citation,
                "doi": self.tool.doi,
            },
            "columns": [c.to_dict() for c in self.columns],
            "judgements": [
                {k: v for k, v in j.to_dict().items() if k != "aliases"}
                for j in self.tool.judgements
            ],
            "studies": [s.to_dict() for s in self.studies],
        }


def _row_values(item: Any) -> tuple[dict[str, Any], int | None]:
    """(column -> cell text, spreadsheet row) of a CsvRow, a plain dict or a ``Study``."""
    row = getattr(item, "row", None)
    if isinstance(item, Mapping):
        return dict(item), row
    if hasattr(item, "study_id") and hasattr(item, "covariates"):  # metareview.inputs.tables.Study
        values = dict(item.covariates)
        values.update(study_id=item.study_id, label=item.label)
        values["rob_overall"] = item.rob_overall or ""
        return values, row
    raise TypeError(f"read_assessments: cannot read a study row of type {type(item).__name__}")


row_values = _row_values  # shared with metareview.inputs.stars


def _hint(value: str, tool: RobTool) -> str:
    spellings = [s for j in tool.judgements for s in (j.id, j.label.lower(), *j.aliases)]
    close = difflib.get_close_matches(_norm(value), [_norm(s) for s in spellings], 1, 0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def read_assessments(
    studies_rows: Iterable[Any],
    tool: Any,
    *,
    path: str | Path = "studies.csv",
) -> Any:
    """The judgements of each study of ``studies_rows`` under ``tool``.

    ``studies_rows``: the rows of ``studies.csv`` as read by ``metareview.inputs.tables`` (a
    ``CsvTable``, its ``CsvRow`` dicts, the ``Study`` objects of a ``StudyTable``) or plain
    dicts with ``study_id`` (optional ``label``) and the tool's columns. The row number of
    errors is the row's ``row`` attribute (header = row 1); plain dicts count from row 2.
    ``tool``: a tool name or template path (see :func:`load_tool`) or a loaded tool.

    An empty cell, or a tool column absent from the table, is "not assessed" (None).
    Raises ``InputError`` (all problems of one pass) naming ``path``, the row and the
    column for an unknown judgement, a column that looks like a misspelt tool column
    (``rob_D4`` for ``rob_d4``), an empty or duplicate ``study_id``.

    A star-count tool (``kind: stars``) gives a ``metareview.inputs.stars.StarTable`` (its
    stars are read and validated by ``metareview.inputs.stars.read_star_ratings``).
    """
    rob_tool = load_tool(tool)
    if rob_tool.kind == "stars":
        from metareview.inputs.stars import read_star_ratings  # lazy: stars imports rob

        return read_star_ratings(studies_rows, rob_tool, path=path)
    if str(path) == "studies.csv" and getattr(studies_rows, "file", None):
        path = studies_rows.file
    file = str(path)
    errors: list[InputError] = []
    studies: list[RobStudy] = []
    seen: dict[str, int | None] = {}
    items = list(studies_rows)
    header_row = getattr(studies_rows, "header_row", 1)
    rows = [_row_values(item) for item in items]
    # an absent column means "not assessed" (a review that has not assessed risk of bias
    # yet need not carry empty columns); a header that looks like a misspelt tool column
    # is an error, so that judgements are never silently ignored
    present = set().union(*(values.keys() for values, _ in rows)) if rows else set()
    tool_columns = {col.column for col in rob_tool.columns}
    absent = {col.column for col in rob_tool.columns if col.column not in present}
    strays = sorted(present - tool_columns)
    for col in rob_tool.columns:
        if col.column not in absent:
            continue
        close = difflib.get_close_matches(col.column, strays, 1, 0.8)
        if close:
            errors.append(
                InputError(
                    file,
                    header_row,
                    close[0],
                    f"column {close[0]!r} is not a {rob_tool.name} column: did you mean "
                    f"{col.column!r} ({col.label})? (a tool column left out means not assessed)",
                )
            )
    raise_collected(errors)
    for n, (values, row) in enumerate(rows):
        row = row if row is not None else header_row + 1 + n
        sid = str(values.get("study_id") or values.get("study") or "").strip()
        if not sid:
            errors.append(InputError(file, row, "study_id", "study_id is empty"))
            continue
        if sid in seen:
            errors.append(
                InputError(
                    file, row, "study_id", f"duplicate study_id {sid!r}: rows {seen[sid]} and {row}"
                )
            )
            continue
        seen[sid] = row
        judgements: dict[str, str | None] = {}
        for col in rob_tool.columns:
            cell = values.get(col.column)
            if cell is None:  # column absent: not assessed
                judgements[col.id] = None
                continue
            cell = str(cell).strip()
            j = rob_tool.parse(cell)
            if cell and j is None:
                errors.append(
                    InputError(
                        file,
                        row,
                        col.column,
                        f"{cell!r} is not a {rob_tool.name} judgement{_hint(cell, rob_tool)}; "
                        f"use one of {rob_tool.allowed_text()}, or leave the cell empty if "
                        "not assessed",
                    )
                )
            judgements[col.id] = None if j is None else j.id
        label = " ".join(str(values.get("label") or "").split()) or sid
        studies.append(RobStudy(sid, label, row, judgements))
    raise_collected(errors)
    return RobTable(rob_tool, studies, file)


# --------------------------------------------------------------------------- summary


def _weights_of(weights: Any) -> dict[str, float | None]:
    """Study id -> weight from a mapping or a fit dictionary (``Fit.to_dict()``)."""
    if isinstance(weights, Mapping) and isinstance(weights.get("studies"), list):
        return {str(s.get("study")): s.get("weight") for s in weights["studies"]}
    if isinstance(weights, Mapping):
        return {str(k): v for k, v in weights.items()}
    raise TypeError("weights must map study id -> weight, or be a fit dictionary")


def study_weights(studies: list, weights: Any) -> tuple[dict[str, float], list[str]]:
    """(study id -> weight of the studies that count, ids left out for want of a weight)."""
    unweighted: list[str] = []
    if weights is None:
        return {s.study_id: 1.0 for s in studies}, unweighted
    given = _weights_of(weights)
    w: dict[str, float] = {}
    for s in studies:
        value = given.get(s.study_id)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            unweighted.append(s.study_id)
            continue
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"weight of study {s.study_id!r} must be >= 0 (got {value!r})")
        w[s.study_id] = value
    if not w or sum(w.values()) <= 0:
        raise ValueError("no study of the risk-of-bias table has a positive weight")
    return w, unweighted


def summary(rob_table: Any, weights: Any = None) -> dict[str, Any]:
    """Per column (domains, then overall) the proportion of studies with each judgement.

    Proportions are over all studies of the table (``not_assessed`` is the share with an
    empty cell), so each column's proportions sum to 1. With ``weights`` (study id ->
    meta-analysis weight, or a ``Fit.to_dict()`` dictionary whose studies carry
    ``weight``) each study counts with its weight, as robvis ``weighted = TRUE`` does;
    studies without a weight (not in the meta-analysis) are left out and listed in
    ``unweighted``. Returns a JSON-ready dictionary.

    For a star-count tool, ``metareview.inputs.stars.star_summary`` (shares of 0, 1, ...
    stars per domain and of each rating; ``kind: stars``).
    """
    tool = rob_table.tool
    if tool.kind == "stars":
        from metareview.inputs.stars import star_summary  # lazy: stars imports rob

        return star_summary(rob_table, weights)
    studies = list(rob_table.studies)
    w, unweighted = study_weights(studies, weights)
    used = [s for s in studies if s.study_id in w]
    total = sum(w[s.study_id] for s in used)
    keys = [j.id for j in tool.judgements] + [NOT_ASSESSED]
    columns = []
    for col in tool.columns:
        shares = dict.fromkeys(keys, 0.0)
        counts = dict.fromkeys(keys, 0)
        for s in used:
            key = s.judgements.get(col.id) or NOT_ASSESSED
            shares[key] += w[s.study_id]
            counts[key] += 1
        columns.append(
            {
                **col.to_dict(),
                "counts": counts,
                "proportions": {k: (v / total if total > 0 else 0.0) for k, v in shares.items()},
            }
        )
    return {
        "tool": tool.id,
        "weighted": weights is not None,
        "studies": len(used),
        "total_weight": total,
        "unweighted": unweighted,
        "judgements": keys,
        "columns": columns,
    }


def table_of_rows(rows: list[dict], rob_cfg: dict | None, file: str = "studies.csv"):
    """The risk-of-bias table of an outcome's studies from its effect-size table rows
    (which carry the studies.csv columns), or None when the protocol names no tool or no
    study is assessed."""
    if not rob_cfg:
        return None
    table = read_assessments(
        [{**r, "study_id": r["study"]} for r in rows], rob_cfg.get("tool", "rob2"), path=file
    )
    return table if any(s.assessed for s in table) else None
