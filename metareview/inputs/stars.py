"""Star-count quality tools (the Newcastle-Ottawa Scale): templates, ratings, summaries.

A star-count tool is a different *kind* of tool from the judgement tools of
:mod:`metareview.inputs.rob` (RoB 2: low / some concerns / high per domain): a study is
awarded a number of stars per domain (or per numbered item of a domain), and its overall
rating is derived from the stars by rules that are data in the template (the AHRQ
conversion of ``metareview/rob_tools/nos.yaml``: good, fair, poor). Callers do not import
this module: :func:`metareview.inputs.rob.load_tool`, ``read_assessments`` and ``summary``
hand a template of ``kind: stars`` to it, and its :class:`StarTable` answers the same
questions as a ``RobTable`` (columns, per-study cells for the figures, ``to_dict``), so the
figures, the studies stage and the report treat both kinds alike.

* :func:`load_star_tool` validates a template (errors name the file, line and key) and
  checks that the rating rules give exactly one rating for every combination of stars.
* :func:`read_star_ratings` reads the stars of ``studies.csv``: an integer from 0 to the
  domain's (item's) maximum; an empty cell or absent column is "not rated"; anything else
  raises ``InputError`` naming the file, the row (header = row 1) and the column.
* :func:`star_summary` gives, per domain, the share of studies with each number of stars
  and the share of each rating (optionally weighted by meta-analysis weights).

The package has no ratings of its own: they come from the review team's ``studies.csv``.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metareview.errors import InputError, raise_collected
from metareview.inputs.rob import COLOUR_PATTERN as _COLOUR
from metareview.inputs.rob import ID_PATTERN as _ID
from metareview.inputs.rob import (
    NOT_ASSESSED,
    Domain,
    Judgement,
    RobStudy,
    RobTable,
    TemplateCheck,
    study_weights,
    template_judgements,
    template_severity,
)
from metareview.inputs.rob import norm_text as _norm
from metareview.inputs.rob import row_values as _row_values

__all__ = [
    "STAR",
    "NO_STAR",
    "Rule",
    "StarDomain",
    "StarItem",
    "StarTable",
    "StarTool",
    "load_star_tool",
    "read_star_ratings",
    "star_summary",
    "star_text",
]

STAR = "\u2605"  # a star awarded
NO_STAR = "\u2606"  # a star the domain could have awarded, not awarded

_TOP_KEYS = {
    "id": True,
    "kind": True,
    "name": True,
    "full_name": False,
    "version": False,
    "heading": False,
    "citation": True,
    "doi": False,
    "url": False,
    "study_designs": False,
    "domains": True,
    "overall": True,
    "judgements": True,
    "severity": True,
    "rating": True,
    "star_colours": True,
}
_DOMAIN_KEYS = {"id": True, "column": True, "short": True, "label": True, "max": True}
_DOMAIN_OPTIONAL = ("abbrev", "items")
_ITEM_KEYS = ("id", "column", "label", "max")
_OVERALL_KEYS = {"id": True, "short": True, "label": True, "abbrev": False}
_MAX_GRID = 100_000  # combinations of stars the rule check enumerates
_INT = re.compile(r"[0-9]{1,3}\Z")


def star_text(stars: int, most: int) -> str:
    """``stars`` filled stars then hollow ones up to ``most`` ("★★★☆" for 3 of 4)."""
    return STAR * stars + NO_STAR * max(most - stars, 0)


def _plural(n: int) -> str:
    return f"{n} star" if n == 1 else f"{n} stars"


# --------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class StarItem:
    """A numbered item of a domain (NOS Selection 1 to 4, ...)."""

    id: str
    column: str
    label: str
    max: int


@dataclass(frozen=True)
class StarDomain:
    """A domain: its studies.csv column of stars, its maximum and its items."""

    id: str
    column: str
    short: str
    label: str
    max: int
    abbrev: str = ""
    items: tuple[StarItem, ...] = ()

    @property
    def tight(self) -> str:
        return self.abbrev or self.short

    @property
    def long_label(self) -> str:
        """The label with the domain's maximum ("Selection (max. 4 stars)")."""
        return f"{self.label} (max. {_plural(self.max)})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "column": self.column,
            "short": self.short,
            "label": self.label,
            "abbrev": self.tight,
            "max": self.max,
            "items": [
                {"id": i.id, "column": i.column, "label": i.label, "max": i.max} for i in self.items
            ],
        }


@dataclass(frozen=True)
class Rule:
    """``rating`` when ``all`` (or ``any``) of ``conditions`` hold (domain -> star counts)."""

    rating: str
    mode: str  # "all" | "any"
    conditions: tuple[tuple[str, frozenset[int]], ...]

    def matches(self, stars: dict[str, int]) -> bool:
        hits = (stars[d] in allowed for d, allowed in self.conditions)
        return all(hits) if self.mode == "all" else any(hits)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rating": self.rating,
            self.mode: {d: sorted(allowed) for d, allowed in self.conditions},
        }


@dataclass(frozen=True)
class StarTool:
    """A star-count tool read from a template (see ``metareview/rob_tools/nos.yaml``)."""

    id: str
    name: str
    citation: str
    domains: tuple[StarDomain, ...]
    overall: Domain  # the derived rating (no studies.csv column)
    judgements: tuple[Judgement, ...]  # the ratings, best first
    severity: tuple[str, ...]
    rules: tuple[Rule, ...]
    rating_name: str
    rating_citation: str
    star_colours: tuple[str, ...]
    heading: str = "Study quality"
    full_name: str = ""
    version: str = ""
    doi: str = ""
    url: str = ""
    rating_url: str = ""
    study_designs: tuple[str, ...] = ()
    source: str = ""
    kind: str = "stars"
    _lookup: dict[str, Judgement] = field(default_factory=dict, repr=False, compare=False)

    @property
    def columns(self) -> tuple[Any, ...]:
        """The domains, then the rating (the columns of the figures)."""
        return (*self.domains, self.overall)

    @property
    def max_total(self) -> int:
        return sum(d.max for d in self.domains)

    @property
    def rating_heading(self) -> str:
        return self.overall.label

    @property
    def not_assessed_label(self) -> str:
        return "Not rated"

    def judgement(self, id_: str) -> Judgement:
        for j in self.judgements:
            if j.id == id_:
                return j
        raise KeyError(id_)

    def parse(self, value: str) -> Judgement | None:
        key = _norm(value)
        return self._lookup.get(key) if key else None

    def rate(self, stars: dict[str, int | None]) -> str | None:
        """The rating of a study's stars per domain (None unless every domain is rated)."""
        if any(stars.get(d.id) is None for d in self.domains):
            return None
        full = {d.id: int(stars[d.id]) for d in self.domains}  # type: ignore[arg-type]
        for rule in self.rules:
            if rule.matches(full):
                return rule.rating
        raise AssertionError("the loader checked that the rules cover every combination")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "full_name": self.full_name,
            "version": self.version,
            "heading": self.heading,
            "citation": self.citation,
            "doi": self.doi,
            "url": self.url,
            "study_designs": list(self.study_designs),
            "domains": [d.to_dict() for d in self.domains],
            "overall": self.overall.to_dict(),
            "judgements": [j.to_dict() for j in self.judgements],
            "severity": list(self.severity),
            "rating": {
                "name": self.rating_name,
                "citation": self.rating_citation,
                "url": self.rating_url,
                "rules": [r.to_dict() for r in self.rules],
            },
            "star_colours": list(self.star_colours),
        }


def load_star_tool(data: dict, root: Any, file: str) -> StarTool:
    """A ``kind: stars`` template already read as YAML (``root``: its node tree for the
    line numbers of errors). Called by :func:`metareview.inputs.rob.load_tool`."""
    check = TemplateCheck(file, root)
    err, text, errors = check.err, check.text, check.errors

    def count(value: Any, where: list, least: int = 1) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            err(where, f"must be a whole number of stars, at least {least}")
            return 0
        return value

    def ident(value: str, where: list) -> None:
        if value and not _ID.match(value):
            err(where, f"id {value!r} must be lower case letters, digits and '_'")

    def keys_of(value: Any, where: list, allowed: Iterable[str], required: Iterable[str]) -> bool:
        if not isinstance(value, dict):
            err(where, f"must be a mapping with keys {', '.join(required)}")
            return False
        for key in value:
            if key not in allowed:
                err([*where, key], f"unknown key {key!r}", key=True)
        missing = [k for k in required if k not in value]
        for k in missing:
            err(where, f"missing key {k!r}")
        return not missing

    keys_of(data, [], _TOP_KEYS, [k for k, req in _TOP_KEYS.items() if req])
    raise_collected(errors)
    tool_id = text(data["id"], ["id"])
    ident(tool_id, ["id"])

    # domains and items
    domains: list[StarDomain] = []
    if not isinstance(data["domains"], list) or not data["domains"]:
        err(["domains"], "must be a non-empty list of domains")
    else:
        required = [k for k, req in _DOMAIN_KEYS.items() if req]
        for i, value in enumerate(data["domains"]):
            where = ["domains", i]
            if not keys_of(value, where, (*_DOMAIN_KEYS, *_DOMAIN_OPTIONAL), required):
                continue
            items: list[StarItem] = []
            raw_items = value.get("items") or []
            if not isinstance(raw_items, list):
                err([*where, "items"], "must be a list of items")
                raw_items = []
            for n, item in enumerate(raw_items):
                iw = [*where, "items", n]
                if not keys_of(item, iw, _ITEM_KEYS, _ITEM_KEYS):
                    continue
                it = StarItem(
                    text(item["id"], [*iw, "id"]),
                    text(item["column"], [*iw, "column"]),
                    text(item["label"], [*iw, "label"]),
                    count(item["max"], [*iw, "max"]),
                )
                ident(it.id, [*iw, "id"])
                items.append(it)
            d = StarDomain(
                id=text(value["id"], [*where, "id"]),
                column=text(value["column"], [*where, "column"]),
                short=text(value["short"], [*where, "short"]),
                label=text(value["label"], [*where, "label"]),
                max=count(value["max"], [*where, "max"]),
                abbrev=text(value.get("abbrev"), [*where, "abbrev"], required=False),
                items=tuple(items),
            )
            ident(d.id, [*where, "id"])
            if items and sum(it.max for it in items) != d.max:
                err(
                    [*where, "max"],
                    f"domain {d.id!r} has max {d.max} but its items' max add up to "
                    f"{sum(it.max for it in items)}",
                )
            domains.append(d)
    seen_ids: dict[str, str] = {}
    seen_cols: dict[str, str] = {}
    for i, d in enumerate(domains):
        for what, value in [("id", d.id)] + [("id", it.id) for it in d.items]:
            if value in seen_ids:
                err(["domains", i, what], f"id {value!r} is used twice")
            seen_ids[value] = d.id
        for value in [d.column] + [it.column for it in d.items]:
            if value in seen_cols:
                err(["domains", i, "column"], f"column {value!r} is used twice")
            seen_cols[value] = d.id

    overall_raw = data["overall"]
    overall = None
    if keys_of(overall_raw, ["overall"], _OVERALL_KEYS, ["id", "short", "label"]):
        overall = Domain(
            id=text(overall_raw["id"], ["overall", "id"]),
            column="",
            short=text(overall_raw["short"], ["overall", "short"]),
            label=text(overall_raw["label"], ["overall", "label"]),
            abbrev=text(overall_raw.get("abbrev"), ["overall", "abbrev"], required=False),
        )
        if overall.id in seen_ids:
            err(["overall", "id"], f"id {overall.id!r} is also a domain's id")

    # ratings: the judgements of the derived column
    judgements, lookup = template_judgements(check, data["judgements"], "rating")
    ids = [j.id for j in judgements]
    severity = template_severity(check, data["severity"], ids, "rating", "best first")

    # the rating rules
    rating = data["rating"]
    rules: list[Rule] = []
    rating_name = rating_citation = rating_url = ""
    by_domain = {d.id: d for d in domains}
    if keys_of(rating, ["rating"], ("name", "citation", "url", "rules"), ("name", "citation")):
        rating_name = text(rating["name"], ["rating", "name"])
        rating_citation = text(rating["citation"], ["rating", "citation"])
        rating_url = text(rating.get("url"), ["rating", "url"], required=False)
        raw_rules = rating.get("rules")
        if not isinstance(raw_rules, list) or not raw_rules:
            err(["rating", "rules"], "must be a non-empty list of rules")
            raw_rules = []
        for i, value in enumerate(raw_rules):
            where = ["rating", "rules", i]
            if not isinstance(value, dict) or "rating" not in value:
                err(where, "must be a mapping with 'rating' and one of 'all' or 'any'")
                continue
            modes = [m for m in ("all", "any") if m in value]
            for key in value:
                if key not in ("rating", "all", "any"):
                    err([*where, key], f"unknown key {key!r}", key=True)
            if len(modes) != 1:
                err(where, "must have exactly one of 'all' or 'any'")
                continue
            rid = text(value["rating"], [*where, "rating"])
            if rid not in ids:
                err([*where, "rating"], f"{rid!r} is not a rating id (ids: {', '.join(ids)})")
            mode = modes[0]
            conds = value[mode]
            if not isinstance(conds, dict) or not conds:
                err([*where, mode], "must map domain ids to lists of star counts")
                continue
            parsed: list[tuple[str, frozenset[int]]] = []
            for dom, counts in conds.items():
                cw = [*where, mode, dom]
                if dom not in by_domain:
                    err(cw, f"{dom!r} is not a domain id", key=True)
                    continue
                if not isinstance(counts, list) or not counts:
                    err(cw, "must be a list of star counts")
                    continue
                good = set()
                for n, c in enumerate(counts):
                    most = by_domain[dom].max
                    if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= most:
                        err([*cw, n], f"must be a star count from 0 to {most}")
                    else:
                        good.add(c)
                parsed.append((str(dom), frozenset(good)))
            rules.append(Rule(rid, mode, tuple(parsed)))

    colours = data["star_colours"]
    most = max((d.max for d in domains), default=0)
    if not isinstance(colours, list) or len(colours) < most + 1:
        err(["star_colours"], f"must list {most + 1} colours (0 to {most} stars)")
        colours = []
    for i, c in enumerate(colours):
        if not isinstance(c, str) or not _COLOUR.match(c):
            err(["star_colours", i], f"colour {c!r} must be '#RRGGBB'")
    designs = data.get("study_designs") or []
    if not isinstance(designs, list):
        err(["study_designs"], "must be a list")
        designs = []
    raise_collected(errors)

    # every combination of stars must match exactly one rule
    grid = 1
    for d in domains:
        grid *= d.max + 1
    if grid <= _MAX_GRID:
        for combo in itertools.product(*(range(d.max + 1) for d in domains)):
            stars = dict(zip((d.id for d in domains), combo, strict=True))
            hits = [r.rating for r in rules if r.matches(stars)]
            if len(hits) != 1:
                shown = ", ".join(f"{k} {v}" for k, v in stars.items())
                what = "no rule" if not hits else f"{len(hits)} rules ({', '.join(hits)})"
                err(
                    ["rating", "rules"],
                    f"the rules must give exactly one rating for every combination of "
                    f"stars; {shown} matches {what}",
                )
                break
    raise_collected(errors)
    ranked = [
        Judgement(j.id, j.label, j.colour, j.symbol, j.aliases, severity.index(j.id))
        for sid in severity
        for j in judgements
        if j.id == sid
    ]
    ordered = tuple(ranked + [j for j in judgements if j.id not in severity])
    by_id = {j.id: j for j in ordered}
    assert overall is not None
    return StarTool(
        id=tool_id,
        name=text(data["name"], ["name"]),
        citation=text(data["citation"], ["citation"]),
        domains=tuple(domains),
        overall=overall,
        judgements=ordered,
        severity=tuple(severity),
        rules=tuple(rules),
        rating_name=rating_name,
        rating_citation=rating_citation,
        rating_url=rating_url,
        star_colours=tuple(c.upper() for c in colours),
        heading=text(data.get("heading"), ["heading"], required=False) or "Study quality",
        full_name=text(data.get("full_name"), ["full_name"], required=False),
        version=text(data.get("version"), ["version"], required=False),
        doi=text(data.get("doi"), ["doi"], required=False),
        url=text(data.get("url"), ["url"], required=False),
        study_designs=tuple(str(d) for d in designs),
        source=file,
        _lookup={k: by_id[j.id] for k, j in lookup.items()},
    )


# --------------------------------------------------------------------------- ratings


@dataclass
class StarTable(RobTable):
    """The stars of a review's studies under one star-count tool (file order).

    Each study is a ``RobStudy`` whose ``judgements`` map a domain id to its stars (an int,
    None = not rated) and ``overall`` to the derived rating id (None unless every domain is
    rated); ``items`` holds the per-item stars where the study was rated per item. The
    container methods (iteration, ``ids``, ``get``, ``columns``) are the judgement table's.
    """

    tool: StarTool
    studies: list[RobStudy]
    file: str = "studies.csv"
    items: dict[str, dict[str, int]] = field(default_factory=dict)

    def total(self, study: RobStudy) -> int | None:
        """The study's stars over all domains (None unless every domain is rated)."""
        values = [study.judgements.get(d.id) for d in self.tool.domains]
        return None if any(v is None for v in values) else sum(values)  # type: ignore[arg-type]

    def judgement(self, study_id: str, column: str) -> Judgement | None:
        study = self.get(study_id)
        if study is None:
            raise KeyError(study_id)
        value = study.judgements.get(column)
        return None if value is None or column != "overall" else self.tool.judgement(value)

    def subset(self, study_ids: Iterable[str]) -> StarTable:
        by_id = {s.study_id: s for s in self.studies}
        kept = [by_id[i] for i in study_ids if i in by_id]
        items = {s.study_id: self.items[s.study_id] for s in kept if s.study_id in self.items}
        return StarTable(self.tool, kept, self.file, items)

    def cell_text(self, study: RobStudy, column: Any) -> str:
        """The cell of the report's table: "3 of 4" stars, or the rating's label."""
        value = study.judgements.get(column.id)
        if value is None:
            return "not rated"
        if column.id == self.tool.overall.id:
            return self.tool.judgement(value).label
        return f"{value} of {column.max}"

    def forest_cells(self) -> dict[str, list[dict[str, Any] | None]]:
        """Study id -> one cell per column for the figures: a domain's cell is a ``text``
        of filled and hollow stars, the rating's a coloured mark (None = not rated)."""
        out: dict[str, list[dict[str, Any] | None]] = {}
        order = {j.id: n for n, j in enumerate(self.tool.judgements)}
        for s in self.studies:
            cells: list[dict[str, Any] | None] = []
            for d in self.tool.domains:
                n = s.judgements.get(d.id)
                cells.append(
                    None
                    if n is None
                    else {
                        "domain": d.tight,
                        "domain_label": d.long_label,
                        "stars": n,
                        "max": d.max,
                        "text": star_text(int(n), d.max),
                        "label": _plural(int(n)),
                    }
                )
            rid = s.judgements.get(self.tool.overall.id)
            if rid is None:
                cells.append(None)
            else:
                j = self.tool.judgement(rid)
                cells.append(
                    {
                        "domain": self.tool.overall.tight,
                        "domain_label": self.tool.overall.label,
                        "judgement": j.id,
                        "label": j.label,
                        "colour": j.colour,
                        "symbol": j.symbol,
                        "rank": order[j.id],
                    }
                )
            out[s.study_id] = cells
        return out

    def csv_rows(self) -> tuple[list[str], list[dict[str, Any]]]:
        """(header, rows) of the ratings table: stars per domain, total and rating."""
        tool = self.tool
        header = ["study_id", "label", *(d.id for d in tool.domains), "total", "max_total"]
        header += ["rating"]
        items = [it for d in tool.domains for it in d.items]
        if self.items:
            header += [it.id for it in items]
        rows = []
        for s in self.studies:
            total = self.total(s)
            row: dict[str, Any] = {"study_id": s.study_id, "label": s.label}
            for d in tool.domains:
                v = s.judgements.get(d.id)
                row[d.id] = "" if v is None else v
            row["total"] = "" if total is None else total
            row["max_total"] = tool.max_total
            rid = s.judgements.get(tool.overall.id)
            row["rating"] = "" if rid is None else rid
            if self.items:
                per = self.items.get(s.study_id, {})
                for it in items:
                    row[it.id] = per.get(it.id, "")
            rows.append(row)
        return header, rows

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
                "rating": self.tool.rating_name,
                "rating_citation": self.tool.rating_citation,
                "rating_url": self.tool.rating_url,
            },
            "columns": [c.to_dict() for c in self.columns],
            "judgements": [
                {k: v for k, v in j.to_dict().items() if k != "aliases"}
                for j in self.tool.judgements
            ],
            "rules": [r.to_dict() for r in self.tool.rules],
            "studies": [
                {
                    **s.to_dict(),
                    "total": self.total(s),
                    **({"items": self.items[s.study_id]} if s.study_id in self.items else {}),
                }
                for s in self.studies
            ],
        }


def _stars(cell: str, most: int, file: str, row: int, column: str, what: str):
    """(stars or None, error or None) of one cell."""
    text = cell.strip()
    if not text:
        return None, None
    if not _INT.match(text):
        hint = ""
        if set(text) <= {"*", STAR, NO_STAR}:
            hint = f" (write the number of stars: {text.count('*') + text.count(STAR)})"
        return None, InputError(
            file,
            row,
            column,
            f"{cell!r} is not a number of stars{hint}; {what} takes a whole number from 0 "
            f"to {most}, or an empty cell if not rated",
        )
    n = int(text)
    if n > most:
        return None, InputError(
            file,
            row,
            column,
            f"{n} stars is more than {what} can award (at most {most}); write 0 to {most}",
        )
    return n, None


def read_star_ratings(
    studies_rows: Iterable[Any], tool: StarTool, *, path: str | Path = "studies.csv"
) -> StarTable:
    """The stars of each study of ``studies_rows`` (the rows ``read_assessments`` takes).

    A domain is rated by its own column or by all of its item columns (their sum); both
    filled must agree; some but not all items filled is an error. An empty cell or an
    absent column is "not rated". Raises ``InputError`` (all problems of one pass) naming
    ``path``, the row and the column.
    """
    if str(path) == "studies.csv" and getattr(studies_rows, "file", None):
        path = studies_rows.file
    file = str(path)
    errors: list[InputError] = []
    items = list(studies_rows)
    header_row = getattr(studies_rows, "header_row", 1)
    rows = [_row_values(item) for item in items]
    present = set().union(*(values.keys() for values, _ in rows)) if rows else set()
    wanted = {d.column: d.label for d in tool.domains}
    wanted.update({it.column: it.label for d in tool.domains for it in d.items})
    strays = sorted(present - set(wanted))
    for column, label in wanted.items():
        if column in present:
            continue
        close = difflib.get_close_matches(column, strays, 1, 0.8)
        if close:
            errors.append(
                InputError(
                    file,
                    header_row,
                    close[0],
                    f"column {close[0]!r} is not a {tool.name} column: did you mean "
                    f"{column!r} ({label})? (a tool column left out means not rated)",
                )
            )
    raise_collected(errors)

    studies: list[RobStudy] = []
    per_item: dict[str, dict[str, int]] = {}
    seen: dict[str, int] = {}
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
        stars: dict[str, int | None] = {}
        for d in tool.domains:
            value, problem = _stars(
                str(values.get(d.column) or ""), d.max, file, row, d.column, d.label
            )
            if problem:
                errors.append(problem)
            item_values: dict[str, int] = {}
            empty_items: list[StarItem] = []
            for it in d.items:
                v, p = _stars(
                    str(values.get(it.column) or ""),
                    it.max,
                    file,
                    row,
                    it.column,
                    f"{d.label} item {it.label!r}",
                )
                if p:
                    errors.append(p)
                elif v is None:
                    empty_items.append(it)
                else:
                    item_values[it.id] = v
            if item_values and empty_items:
                filled = [it.column for it in d.items if it.id in item_values]
                errors.append(
                    InputError(
                        file,
                        row,
                        empty_items[0].column,
                        f"{empty_items[0].column} is empty while {', '.join(filled)} of "
                        f"{d.label} {'is' if len(filled) == 1 else 'are'} filled: rate every "
                        f"item of the domain, or none and give the domain's stars in {d.column}",
                    )
                )
            elif item_values:
                summed = sum(item_values.values())
                if value is not None and value != summed:
                    errors.append(
                        InputError(
                            file,
                            row,
                            d.column,
                            f"{d.column} says {_plural(value)} but its items "
                            f"({', '.join(it.column for it in d.items)}) add up to {summed}",
                        )
                    )
                value = summed
                per_item.setdefault(sid, {}).update(item_values)
            stars[d.id] = value
        judgements: dict[str, Any] = dict(stars)
        judgements[tool.overall.id] = tool.rate(stars)
        label = " ".join(str(values.get("label") or "").split()) or sid
        studies.append(RobStudy(sid, label, row, judgements))
    raise_collected(errors)
    return StarTable(tool, studies, file, per_item)


# --------------------------------------------------------------------------- summary


def star_summary(table: StarTable, weights: Any = None) -> dict[str, Any]:
    """Per domain the share of studies with 0, 1, ... stars, and the share of each rating.

    Shares are over all studies of the table (``not_assessed``: not rated); with
    ``weights`` each study counts with its meta-analysis weight (as ``summary`` of judgement
    tools). ``levels`` lists each column's keys in display order. JSON-ready.
    """
    tool = table.tool
    w, unweighted = study_weights(table.studies, weights)
    used = [s for s in table.studies if s.study_id in w]
    total = sum(w[s.study_id] for s in used)
    columns = []
    for col in tool.columns:
        rating = col is tool.overall
        levels = [j.id for j in tool.judgements] if rating else [str(n) for n in range(col.max + 1)]
        levels.append(NOT_ASSESSED)
        shares = dict.fromkeys(levels, 0.0)
        counts = dict.fromkeys(levels, 0)
        for s in used:
            value = s.judgements.get(col.id)
            key = NOT_ASSESSED if value is None else str(value)
            shares[key] += w[s.study_id]
            counts[key] += 1
        columns.append(
            {
                **col.to_dict(),
                "rating": rating,
                "levels": levels,
                "counts": counts,
                "proportions": {k: (v / total if total > 0 else 0.0) for k, v in shares.items()},
            }
        )
    return {
        "tool": tool.id,
        "kind": tool.kind,
        "weighted": weights is not None,
        "studies": len(used),
        "total_weight": total,
        "unweighted": unweighted,
        "judgements": [j.id for j in tool.judgements] + [NOT_ASSESSED],
        "columns": columns,
    }
