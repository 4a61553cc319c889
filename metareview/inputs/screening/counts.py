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


def count(
    table: ScreeningTable,
    search_results: Mapping[str, int] | None = None,
    sources: Mapping[str, str] | None = None,
    extraction_studies: Iterable[str] | None = None,
    where: tuple[str | None, str] = (None, "screening.search_results"),
) -> dict[str, Any]:
    """The PRISMA 2020 counts of ``table`` (after deduplication) as a JSON-ready dict.

    ``search_results`` (the protocol's ``screening.search_results``): records each database
    or register returned, when the screening tool removed duplicates before the export
    (Covidence): the per-source counts are taken from it and the records missing from
    the export are counted as duplicates. ``extraction_studies``: the study ids with
    extraction rows (for ``total_studies_ma``/``total_reports_ma``); None leaves them null.
    """
    per_source: dict[str, int] = {}
    kinds: dict[str, str] = {}
    other_sources: dict[str, int] = {}
    dbr = {
        "duplicates": 0,
        "excluded_automatic": 0,
        "excluded_other": 0,
        "records_awaiting_screening": 0,
        "records_excluded": 0,
        "sought": 0,
        "not_retrieved": 0,
        "awaiting": 0,
        "excluded": 0,
        "included": 0,
    }
    oth = {"sought": 0, "not_retrieved": 0, "awaiting": 0, "excluded": 0, "included": 0}
    dbr_reasons: dict[str, int] = {}
    oth_reasons: dict[str, int] = {}
    other_by_kind = {k: 0 for k in OTHER_METHODS}
    left_out = 0
    study_reports: dict[str, int] = {}
    included_ids: list[str] = []

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
        else:  # included
            bucket["included"] += 1
            key = rec.study_id or f"record {rec.record_id}"
            if key not in study_reports:
                included_ids.append(key)
            study_reports[key] = study_reports.get(key, 0) + 1

    removed_before_export = 0
    if search_results:
        file, column = where
        errors = []
        if table.has_source:
            for name, n in per_source.items():
                key = _lookup(search_results, name)
                if key is None:
                    errors.append(
                        f"the records name source {name!r}, which has no count in "
                        f"search_results ({', '.join(search_results)})"
                    )
                elif n > search_results[key]:
                    errors.append(
                        f"{n} records come from {name!r} but search_results gives "
                        f"{search_results[key]}"
                    )
        total_file = sum(per_source.values())
        total_search = sum(search_results.values())
        if total_search < total_file:
            errors.append(
                f"search_results add up to {total_search} records, fewer than the "
                f"{total_file} records from databases and registers in the screening file"
            )
        if errors:
            raise InputError(file, None, column, "; ".join(errors))
        removed_before_export = total_search - total_file
        dbr["duplicates"] += removed_before_export
        per_source = dict(search_results)
        kinds = {
            name: (kinds.get(name) or classify_source(name, dict(sources or {})))
            for name in per_source
        }

    databases = {n: c for n, c in per_source.items() if kinds.get(n, "database") == "database"}
    registers = {n: c for n, c in per_source.items() if kinds.get(n) == "register"}
    dbr_screened = dbr["records_excluded"] + dbr["sought"]
    new_reports = dbr["included"] + oth["included"]
    out: dict[str, Any] = {
        "previous_studies": 0,
        "previous_reports": 0,
        "database_results": sum(databases.values()),
        "database_specific_results": _named_counts(databases, "name"),
        "register_results": sum(registers.values()),
        "register_specific_results": _named_counts(registers, "name"),
        "website_results": other_by_kind["website"],
        "organisation_results": other_by_kind["organisation"],
        "citations_results": other_by_kind["citation"],
        "other_specific_results": _named_counts(other_sources, "name"),
        "records_identified": sum(per_source.values()),
        "duplicates": dbr["duplicates"],
        "duplicates_removed_before_export": removed_before_export,
        "excluded_automatic": dbr["excluded_automatic"],
        "excluded_other": dbr["excluded_other"],
        "records_screened": dbr_screened,
        "records_awaiting_screening": dbr["records_awaiting_screening"],
        "records_excluded": dbr["records_excluded"],
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
    if extraction_studies is not None:
        have = set(extraction_studies)
        ma = [s for s in included_ids if s in have]
        out["total_studies_ma"] = len(ma)
        out["total_reports_ma"] = sum(study_reports[s] for s in ma)
    return out


def identities(c: Mapping[str, Any]) -> list[str]:
    """The PRISMA 2020 sums that must hold; returns the ones that do not (empty: all hold)."""
    other_identified = c["website_results"] + c["organisation_results"] + c["citations_results"]
    checks = [
        (
            "records identified = databases + registers",
            c["records_identified"],
            c["database_results"] + c["register_results"],
        ),
        (
            "records identified = duplicates + automation + other removed + screened + awaiting",
            c["records_identified"],
            c["duplicates"]
            + c["excluded_automatic"]
            + c["excluded_other"]
            + c["records_screened"]
            + c["records_awaiting_screening"],
        ),
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
        (
            "reports of included studies = sum over studies",
            c["new_reports"],
            sum(s["reports"] for s in c["included_studies"]),
        ),
    ]
    broken = [f"{name}: {a} != {b}" for name, a, b in checks if a != b]
    if c["new_studies"] > c["new_reports"]:
        broken.append(f"more studies ({c['new_studies']}) than reports ({c['new_reports']})")
    return broken


def _list_cell(items: list[dict[str, Any]], key: str) -> str:
    """``Name, n; Name, n`` as the PRISMA2020 package parses it ('0' when empty)."""
    if not items:
        return "0"
    return "; ".join(f"{_LIST_SEPARATORS.sub(' / ', str(i[key]))}, {i['n']}" for i in items)


def prisma_csv_rows(c: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The PRISMA2020 package's data template with ``n`` filled in from ``count()``."""
    values: dict[str, Any] = {k: c[k] for k in PRISMA_COUNT_KEYS}
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
