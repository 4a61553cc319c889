"""PRISMA 2020 flow counts from screening records, with the PRISMA2020 R package's keys.

The keys are those of the data template of the PRISMA2020 package (Haddaway et al.,
``inst/extdata/PRISMA.csv``, version 1.1.4): ``database_results``,
``database_specific_results``, ``register_results``, ``register_specific_results``,
``website_results``, ``organisation_results``, ``citations_results``, ``duplicates``,
``excluded_automatic``, ``excluded_other``, ``records_screened``, ``records_excluded``,
``dbr_sought_reports``, ``dbr_notretrieved_reports``, ``dbr_assessed``, ``dbr_excluded``,
``other_sought_reports``, ``other_notretrieved_reports``, ``other_assessed``,
``other_excluded``, ``new_studies``, ``new_reports``, ``total_studies``, ``total_reports``,
``total_studies_ma``, ``total_reports_ma`` (and ``previous_studies``/``previous_reports``,
0: updates of earlier reviews are not modelled). ``prisma_csv_rows`` gives the template's
rows (``data, node, box, description, boxtext, tooltips, url, n``) with ``n`` filled in; the
``*_specific_results`` and ``*_excluded`` cells use the package's ``Name, n; Name, n``
syntax.

How each record counts (its ``Record.status()``): duplicates, records removed before
screening (automation / other), records excluded at title/abstract, reports not retrieved,
reports excluded (by reason), reports included. Records of other methods (websites,
organisations, citation searching) go to retrieval without title/abstract screening. With
``on_inconsistency: warn`` a record with a problem counts by its first decisive field:
a duplicate counts as a duplicate, a removed record as removed, a title/abstract exclusion
as such (its full-text decision ignored); a full-text include without study_id is a study
of its own; a full-text exclusion without reason counts under "Reason not reported";
undecided records are "awaiting screening" / "awaiting assessment" (extra keys, shown in
the diagram); records of other methods marked duplicate, removed or excluded at
title/abstract are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from metareview.errors import InputError
from metareview.inputs.screening.records import (
    OTHER_METHODS,
    UNSPECIFIED_SOURCE,
    ScreeningTable,
    classify_source,
)

NO_REASON = "Reason not reported"

PRISMA_COUNT_KEYS = (
    "previous_studies",
    "previous_reports",
    "database_results",
    "register_results",
    "website_results",
    "organisation_results",
    "citations_results",
    "duplicates",
    "excluded_automatic",
    "excluded_other",
    "records_screened",
    "records_excluded",
    "dbr_sought_reports",
    "dbr_notretrieved_reports",
    "dbr_assessed",
    "other_sought_reports",
    "other_notretrieved_reports",
    "other_assessed",
    "new_studies",
    "new_reports",
    "total_studies",
    "total_reports",
)

# rows of the PRISMA2020 data template: (data, node, box, boxtext, url); our own
# descriptions. "NA" as the package writes it.
_TEMPLATE = (
    ("NA", "node4", "prevstud", "Previous studies", "prevstud.html"),
    (
        "previous_studies",
        "node5",
        "box1",
        "Studies included in previous version of review",
        "previous_studies.html",
    ),
    (
        "previous_reports",
        "NA",
        "box1",
        "Reports of studies included in previous version of review",
        "previous_reports.html",
    ),
    (
        "NA",
        "node6",
        "newstud",
        "Identification of new studies via databases and registers",
        "newstud.html",
    ),
    ("database_results", "node7", "box2", "Databases", "database_results.html"),
    ("database_specific_results", "NA", "box2", "Specific Databases", "database_results.html"),
    ("register_results", "NA", "box2", "Registers", "NA"),
    ("register_specific_results", "NA", "box2", "Specific Registers", "database_results.html"),
    ("NA", "node16", "othstud", "Identification of new studies via other methods", "othstud.html"),
    ("website_results", "node17", "box11", "Websites", "website_results.html"),
    ("organisation_results", "NA", "box11", "Organisations", "NA"),
    ("citations_results", "NA", "box11", "Citation searching", "NA"),
    ("duplicates", "node8", "box3", "Duplicate records", "duplicates.html"),
    ("excluded_automatic", "NA", "box3", "Records marked as ineligible by automation tools", "NA"),
    ("excluded_other", "NA", "box3", "Records removed for other reasons", "NA"),
    ("records_screened", "node9", "box4", "Records screened", "records_screened.html"),
    ("records_excluded", "node10", "box5", "Records excluded", "records_excluded.html"),
    (
        "dbr_sought_reports",
        "node11",
        "box6",
        "Reports sought for retrieval",
        "dbr_sought_reports.html",
    ),
    (
        "dbr_notretrieved_reports",
        "node12",
        "box7",
        "Reports not retrieved",
        "dbr_notretrieved_reports.html",
    ),
    (
        "other_sought_reports",
        "node18",
        "box12",
        "Reports sought for retrieval",
        "other_sought_reports.html",
    ),
    (
        "other_notretrieved_reports",
        "node19",
        "box13",
        "Reports not retrieved",
        "other_notretrieved_reports.html",
    ),
    ("dbr_assessed", "node13", "box8", "Reports assessed for eligibility", "dbr_assessed.html"),
    ("dbr_excluded", "node14", "box9", "Reports excluded", "dbrexcludedrecords.html"),
    (
        "other_assessed",
        "node20",
        "box14",
        "Reports assessed for eligibility",
        "other_assessed.html",
    ),
    ("other_excluded", "node21", "box15", "Reports excluded", "other_excluded.html"),
    ("new_studies", "node15", "box10", "New studies included in review", "new_studies.html"),
    ("new_reports", "NA", "box10", "Reports of new included studies", "NA"),
    ("total_studies", "node22", "box16", "Total studies included in review", "total_studies.html"),
    ("total_reports", "NA", "box16", "Reports of total included studies", "NA"),
    ("identification", "node1", "identification", "Identification", "identification.html"),
    ("screening", "node2", "screening", "Screening", "screening.html"),
    ("included", "node3", "included", "Included", "included.html"),
    (
        "total_studies_ma",
        "node23",
        "box17",
        "Total studies included in meta-analysis",
        "total_studies_meta_analysis.html",
    ),
    ("total_reports_ma", "NA", "box17", "Reports of total included studies in meta-analysis", "NA"),
)
PRISMA_CSV_COLUMNS = ["data", "node", "box", "description", "boxtext", "tooltips", "url", "n"]

_DESCRIPTIONS = {
    "prevstud": "Title box: previous studies",
    "newstud": "Title box: identification of new studies via databases and registers",
    "othstud": "Title box: identification of new studies via other methods",
    "identification": "Side band: identification",
    "screening": "Side band: screening",
    "included": "Side band: included",
}
_LIST_SEPARATORS = re.compile(r"\s*[,;]\s*")


def _named_counts(counts: Mapping[str, int], key: str) -> list[dict[str, Any]]:
    return [{key: name, "n": n} for name, n in counts.items()]


def _by_count(counts: Mapping[str, int]) -> dict[str, int]:
    """Most frequent first, first seen on ties (dict order)."""
    order = {name: i for i, name in enumerate(counts)}
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], order[kv[0]])))


def _lookup(mapping: Mapping[str, int], name: str) -> str | None:
    for key in mapping:
        if key.strip().lower() == name.strip().lower():
            return key
    return None


def _report_counts(
    prefix: str, bucket: Mapping[str, int], reasons: Mapping[str, int]
) -> dict[str, Any]:
    """The report boxes of one arm of the diagram (``dbr``: databases and registers,
    ``other``: other methods) from its tallies."""
    return {
        f"{prefix}_sought_reports": bucket["sought"],
        f"{prefix}_notretrieved_reports": bucket["not_retrieved"],
        f"{prefix}_awaiting_reports": bucket["awaiting"],
        f"{prefix}_assessed": bucket["excluded"] + bucket["included"],
        f"{prefix}_excluded": _named_counts(_by_count(reasons), "reason"),
        f"{prefix}_excluded_total": bucket["excluded"],
        f"{prefix}_included_reports": bucket["included"],
    }


def _report_identities(c: Mapping[str, Any], prefix: str, arm: str) -> list[tuple[str, int, int]]:
    """The sums over the report boxes of one arm (see ``_report_counts``)."""
    return [
        (
            f"{arm}reports sought = not retrieved + assessed + awaiting assessment",
            c[f"{prefix}_sought_reports"],
            c[f"{prefix}_notretrieved_reports"]
            + c[f"{prefix}_assessed"]
            + c[f"{prefix}_awaiting_reports"],
        ),
        (
            f"{arm}reports assessed = reports excluded + reports included",
            c[f"{prefix}_assessed"],
            c[f"{prefix}_excluded_total"] + c[f"{prefix}_included_reports"],
        ),
        (
            f"{arm}reports excluded = sum over reasons",
            c[f"{prefix}_excluded_total"],
            sum(r["n"] for r in c[f"{prefix}_excluded"]),
        ),
    ]


def search_from_results(search_results: Mapping[str, int] | None) -> dict[str, Any] | None:
    """The older ``screening.search_results`` (records per source) as a search block."""
    if not search_results:
        return None
    return {"sources": dict(search_results), "kinds": {}, "duplicates": None, "dates": {}}


def _apply_search(
    search: Mapping[str, Any],
    per_source: dict[str, int],
    kinds: dict[str, str],
    table: ScreeningTable,
    found_duplicates: int,
    removed_other: int,
    reached_screening: int,
    sources: Mapping[str, str] | None,
    where: tuple[str | None, str],
) -> tuple[dict[str, int], dict[str, str], int, int, list[str]]:
    """Records identified per source and duplicates removed from the protocol's search
    block, checked against the export: identified - duplicates - removed for other
    reasons = records screened (+ awaiting screening)."""
    file, column = where
    block = column.split(".")[-1]
    stated = dict(search["sources"])
    errors: list[str] = []
    if table.has_source:
        for name, n in per_source.items():
            key = _lookup(stated, name)
            if key is None and name == UNSPECIFIED_SOURCE:
                continue  # records whose database the export does not name
            if key is None:
                errors.append(
                    f"the records name source {name!r}, which has no count in {block} "
                    f"({', '.join(stated)})"
                )
            elif n > stated[key]:
                errors.append(
                    f"{n} records of the export come from {name!r} but {block} gives {stated[key]}"
                )
    identified = sum(stated.values())
    in_export = sum(per_source.values())
    dup = search.get("duplicates")
    conventions = []
    if dup is None:
        before = identified - in_export
        if before < 0:
            errors.append(
                f"{block} adds up to {identified} records, fewer than the "
                f"{in_export} records from databases and registers in the export"
            )
        duplicates = before + found_duplicates
        conventions.append(
            "records identified from the protocol's search block; the records identified "
            "but not in the export are counted as duplicates removed before the export"
        )
    else:
        before = sum(int(v) for v in dup.values())
        duplicates = before + found_duplicates
        expected = identified - duplicates - removed_other
        if expected != reached_screening:
            stated_dups = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in dup.items())
            found = f" + {found_duplicates} found in the export" if found_duplicates else ""
            errors.append(
                f"records identified ({identified}) - duplicates removed ({stated_dups}"
                f"{found}) - removed for other reasons ({removed_other}) = {expected}, but "
                f"the export holds {reached_screening} records screened; the search block "
                "and the export do not add up"
            )
        conventions.append(
            "records identified and duplicates removed before the export from the "
            "protocol's search block, checked against the export"
        )
    if errors:
        raise InputError(file, None, column, "; ".join(errors))
    known = dict(search.get("kinds") or {})
    new_kinds = {
        name: known.get(name) or kinds.get(name) or classify_source(name, dict(sources or {}))
        for name in stated
    }
    return stated, new_kinds, duplicates, before, conventions


def count(
    table: ScreeningTable,
    search_results: Mapping[str, int] | None = None,
    sources: Mapping[str, str] | None = None,
    extraction_studies: Iterable[str] | None = None,
    where: tuple[str | None, str] = (None, "screening.search_results"),
    search: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The PRISMA 2020 counts of ``table`` (after deduplication) as a JSON-ready dict.

    ``search`` (the protocol's ``search`` block, normalised by
    ``ingest.search_settings``): records identified per database/register and duplicates
    removed before the export; ``search_results`` (the older
    ``screening.search_results``) is the same without duplicate counts. Boxes the export
    cannot support are ``None`` (not reported): identification when the tool does not
    export its duplicates (Covidence) and no search block is given; the full-text boxes
    when the export stops at title/abstract; studies when the export has no study ids.
    ``extraction_studies``: the study ids with extraction rows (for
    ``total_studies_ma``/``total_reports_ma``); None leaves them null.
    """
    if search is None:
        search = search_from_results(search_results)
    per_source: dict[str, int] = {}
    kinds: dict[str, str] = {}
    other_sources: dict[str, int] = {}
    dbr = {
        "duplicates": 0,
        "excluded_automatic": 0,
        "excluded_other": 0,
        "records_awaiting_screening": 0,
        "records_excluded": 0,
        "records_excluded_automation": 0,
        "sought": 0,
        "not_retrieved": 0,
        "awaiting": 0,
        "excluded": 0,
        "included": 0,
    }
    oth = {"sought": 0, "not_retrieved": 0, "awaiting": 0, "excluded": 0, "included": 0}
    dbr_reasons: dict[str, int] = {}
    oth_reasons: dict[str, int] = {}
    mentions: dict[str, int] = {}
    several = 0
    other_by_kind = {k: 0 for k in OTHER_METHODS}
    left_out = 0
    study_reports: dict[str, int] = {}
    included_ids: list[str] = []
    full = table.stages == "full"

    for rec in table.records:
        status = rec.status()
        if rec.other_method:
            if status in (
                "duplicate",
                "removed_automation",
                "removed_other",
                "excluded_title_abstract",
            ):
                left_out += 1
                continue
            other_by_kind[rec.source_type] += 1
            other_sources[rec.source] = other_sources.get(rec.source, 0) + 1
            bucket, reasons = oth, oth_reasons
        else:
            per_source[rec.source] = per_source.get(rec.source, 0) + 1
            kinds.setdefault(rec.source, rec.source_type)
            if status == "duplicate":
                dbr["duplicates"] += 1
                continue
            if status == "removed_automation":
                dbr["excluded_automatic"] += 1
                continue
            if status == "removed_other":
                dbr["excluded_other"] += 1
                continue
            if status == "awaiting_screening":
                dbr["records_awaiting_screening"] += 1
                continue
            if status == "excluded_title_abstract":
                dbr["records_excluded"] += 1
                dbr["records_excluded_automation"] += rec.screened_by == "automation"
                continue
            bucket, reasons = dbr, dbr_reasons
        bucket["sought"] += 1
        if status == "not_retrieved":
            bucket["not_retrieved"] += 1
        elif status == "awaiting_full_text":
            bucket["awaiting"] += 1
        elif status == "excluded_full_text":
            bucket["excluded"] += 1
            reason = rec.exclusion_reason or NO_REASON
            reasons[reason] = reasons.get(reason, 0) + 1
            given = [x for x in rec.all_reasons.split("; ") if x] or [reason]
            several += len(given) > 1
            for x in given:
                mentions[x] = mentions.get(x, 0) + 1
        else:  # included
            bucket["included"] += 1
            key = rec.study_id or f"record {rec.record_id}"
            if key not in study_reports:
                included_ids.append(key)
            study_reports[key] = study_reports.get(key, 0) + 1

    conventions = list(table.conventions)
    removed_before_export = 0
    found_duplicates = dbr["duplicates"]
    dbr_screened = dbr["records_excluded"] + dbr["sought"]
    identification_known = table.identification
    if search:
        per_source, kinds, dbr["duplicates"], removed_before_export, extra = _apply_search(
            search,
            per_source,
            kinds,
            table,
            found_duplicates,
            dbr["excluded_automatic"] + dbr["excluded_other"],
            dbr_screened + dbr["records_awaiting_screening"],
            sources,
            where,
        )
        conventions += extra
        identification_known = True

    databases = {n: c for n, c in per_source.items() if kinds.get(n, "database") == "database"}
    registers = {n: c for n, c in per_source.items() if kinds.get(n) == "register"}
    new_reports = dbr["included"] + oth["included"]

    def known(value, flag):
        return value if flag else None

    ident = identification_known
    studies_known = full and (table.study_ids or not new_reports)
    out: dict[str, Any] = {
        "previous_studies": 0,
        "previous_reports": 0,
        "database_results": known(sum(databases.values()), ident),
        "database_specific_results": known(_named_counts(databases, "name"), ident),
        "register_results": known(sum(registers.values()), ident),
        "register_specific_results": known(_named_counts(registers, "name"), ident),
        "website_results": other_by_kind["website"],
        "organisation_results": other_by_kind["organisation"],
        "citations_results": other_by_kind["citation"],
        "other_specific_results": _named_counts(other_sources, "name"),
        "records_identified": known(sum(per_source.values()), ident),
        "duplicates": known(dbr["duplicates"], ident),
        "duplicates_removed_before_export": known(removed_before_export, ident),
        "excluded_automatic": dbr["excluded_automatic"],
        "excluded_other": dbr["excluded_other"],
        "records_screened": dbr_screened,
        "records_awaiting_screening": dbr["records_awaiting_screening"],
        "records_excluded": dbr["records_excluded"],
        "records_excluded_human": dbr["records_excluded"] - dbr["records_excluded_automation"],
        "records_excluded_automation": dbr["records_excluded_automation"],
        **_report_counts("dbr", dbr, dbr_reasons),
        **_report_counts("other", oth, oth_reasons),
        "other_left_out": left_out,
        "new_studies": len(study_reports),
        "new_reports": new_reports,
        "total_studies": len(study_reports),
        "total_reports": new_reports,
        "total_studies_ma": None,
        "total_reports_ma": None,
        "included_studies": [{"study_id": s, "reports": study_reports[s]} for s in included_ids],
    }
    if several:
        out["dbr_excluded_mentions"] = _named_counts(_by_count(mentions), "reason")
        conventions.append(
            f"{several} excluded reports give several reasons: each is counted once, under "
            "its first reason (dbr_excluded); dbr_excluded_mentions counts every mention"
        )
    if not full:
        for key in REPORT_KEYS:
            out[key] = None
        out["included_studies"] = []
        out["records_passed_screening"] = dbr["sought"]
        conventions.append(
            "the export stops at title/abstract screening: reports sought, not retrieved, "
            "assessed, excluded and included are not reported (add a full-text overlay "
            "file: record_id, full_text, exclusion_reason, study_id)"
        )
    elif not studies_known:
        for key in ("new_studies", "total_studies"):
            out[key] = None
        out["included_studies"] = []
        conventions.append(
            "the export records no study ids: reports included are counted, studies "
            "included are not reported"
        )
    if not ident:
        conventions.append(
            "records identified and duplicates removed are not reported: the export does not "
            "hold them and the protocol has no search block"
        )
    if extraction_studies is not None and studies_known:
        have = set(extraction_studies)
        ma = [s for s in included_ids if s in have]
        out["total_studies_ma"] = len(ma)
        out["total_reports_ma"] = sum(study_reports[s] for s in ma)
    out["conventions"] = conventions
    return out


# the boxes after title/abstract screening (None when the export stops there)
REPORT_KEYS = tuple(
    f"{arm}_{k}"
    for arm in ("dbr", "other")
    for k in (
        "sought_reports",
        "notretrieved_reports",
        "awaiting_reports",
        "assessed",
        "excluded",
        "excluded_total",
        "included_reports",
    )
) + ("new_studies", "new_reports", "total_studies", "total_reports")


def identities(c: Mapping[str, Any]) -> list[str]:
    """The PRISMA 2020 sums that must hold; returns the ones that do not (empty: all hold).
    Sums over a box that is not reported (None) are not checked."""
    other_identified = c["website_results"] + c["organisation_results"] + c["citations_results"]
    ident = c["records_identified"] is not None
    full = c["dbr_sought_reports"] is not None
    checks = []
    if ident:
        checks += [
            (
                "records identified = databases + registers",
                c["records_identified"],
                c["database_results"] + c["register_results"],
            ),
            (
                "records identified = duplicates + automation + other removed + screened + "
                "awaiting",
                c["records_identified"],
                c["duplicates"]
                + c["excluded_automatic"]
                + c["excluded_other"]
                + c["records_screened"]
                + c["records_awaiting_screening"],
            ),
        ]
    checks.append(
        (
            "records excluded = by a person + by automation",
            c["records_excluded"],
            c.get("records_excluded_human", c["records_excluded"])
            + c.get("records_excluded_automation", 0),
        )
    )
    if full:
        checks += [
            (
                "records screened = records excluded + reports sought",
                c["records_screened"],
                c["records_excluded"] + c["dbr_sought_reports"],
            ),
            *_report_identities(c, "dbr", ""),
            (
                "other methods: records identified = reports sought",
                other_identified,
                c["other_sought_reports"],
            ),
            *_report_identities(c, "other", "other methods: "),
            (
                "reports of included studies = included reports of both arms",
                c["new_reports"],
                c["dbr_included_reports"] + c["other_included_reports"],
            ),
        ]
        if c["new_studies"] is not None:
            checks.append(
                (
                    "reports of included studies = sum over studies",
                    c["new_reports"],
                    sum(s["reports"] for s in c["included_studies"]),
                )
            )
    else:
        checks.append(
            (
                "records screened = records excluded + records passed screening",
                c["records_screened"],
                c["records_excluded"] + c.get("records_passed_screening", 0),
            )
        )
    broken = [f"{name}: {a} != {b}" for name, a, b in checks if a != b]
    if c["new_studies"] is not None and c["new_studies"] > c["new_reports"]:
        broken.append(f"more studies ({c['new_studies']}) than reports ({c['new_reports']})")
    return broken


def _list_cell(items: list[dict[str, Any]], key: str) -> str:
    """``Name, n; Name, n`` as the PRISMA2020 package parses it ('0' when empty, 'NA' when
    not reported)."""
    if items is None:
        return "NA"
    if not items:
        return "0"
    return "; ".join(f"{_LIST_SEPARATORS.sub(' / ', str(i[key]))}, {i['n']}" for i in items)


def prisma_csv_rows(c: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The PRISMA2020 package's data template with ``n`` filled in from ``count()``; a box
    that is not reported is ``NA`` (as R's ``read.csv`` reads it)."""
    values: dict[str, Any] = {k: "NA" if c[k] is None else c[k] for k in PRISMA_COUNT_KEYS}
    values["database_specific_results"] = _list_cell(c["database_specific_results"], "name")
    values["register_specific_results"] = _list_cell(c["register_specific_results"], "name")
    values["dbr_excluded"] = _list_cell(c["dbr_excluded"], "reason")
    values["other_excluded"] = _list_cell(c["other_excluded"], "reason")
    for key in ("total_studies_ma", "total_reports_ma"):
        if c.get(key) is not None:
            values[key] = c[key]
    rows = []
    for data, node, box, boxtext, url in _TEMPLATE:
        if data in ("total_studies_ma", "total_reports_ma") and data not in values:
            continue
        description = _DESCRIPTIONS.get(data if data != "NA" else box, boxtext)
        rows.append(
            {
                "data": data,
                "node": node,
                "box": box,
                "description": description,
                "boxtext": boxtext,
                "tooltips": boxtext if node != "NA" else "NA",
                "url": url,
                "n": values.get(data, 0),
            }
        )
    return rows


def unspecified_only(c: Mapping[str, Any]) -> bool:
    """Whether the databases are only the placeholder for exports without sources."""
    names = [d["name"] for d in c["database_specific_results"]]
    return names == [UNSPECIFIED_SOURCE]
