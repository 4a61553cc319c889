"""The pipeline's ``ingest`` stage: screening export -> records, PRISMA counts, diagram.

``ingest`` reads the export, removes duplicates when the export has not, checks the
records against each other and against ``studies.csv`` / ``extraction.csv``, counts the
PRISMA 2020 flow and writes, into ``out_dir`` (``results/<review>/screening/``):

* ``records.csv``: every record with its final ``status`` (duplicates kept, with
  ``duplicate_of`` and the rule that found them);
* ``prisma.json``: the counts (PRISMA2020 package keys plus per-source, per-reason and
  per-study detail) and the warnings;
* ``prisma.csv``: the PRISMA2020 package's data template, ``n`` filled in;
* ``prisma.svg``, ``prisma.png``: the flow diagram;
* ``index.json``: the report's entry for this stage (figure and caption).

Nothing is written unless every step succeeds; each file is moved into place whole.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from metareview.errors import AnalysisError
from metareview.inputs.screening.checks import cross_problems, resolve
from metareview.inputs.screening.counts import (
    PRISMA_CSV_COLUMNS,
    count,
    identities,
    prisma_csv_rows,
)
from metareview.inputs.screening.records import ScreeningTable
from metareview.inputs.screening.summary import (
    OPTION_KEYS,
    screening_settings,
    search_settings,
    summarise,
)
from metareview.inputs.tables import load_studies, read_csv_table
from metareview.io import write_csv, write_json
from metareview.stages.layout import SCREENING_FILES

RECORD_COLUMNS = [
    "record_id",
    "source",
    "source_type",
    "title",
    "year",
    "doi",
    "doi_normalised",
    "duplicate_of",
    "duplicate_rule",
    "removed",
    "title_abstract",
    "full_text",
    "exclusion_reason",
    "study_id",
    "status",
    "file",
    "row",
    "notes",
]


def _record_row(rec) -> dict[str, Any]:
    return {
        "record_id": rec.record_id,
        "source": rec.source,
        "source_type": rec.source_type,
        "title": rec.title,
        "year": rec.year,
        "doi": rec.doi,
        "doi_normalised": rec.doi_key,
        "duplicate_of": rec.duplicate_of,
        "duplicate_rule": rec.duplicate_rule,
        "removed": rec.removed,
        "title_abstract": rec.title_abstract,
        "full_text": rec.full_text,
        # every reason given; the report is counted under the first
        "exclusion_reason": rec.all_reasons or rec.exclusion_reason,
        "study_id": rec.study_id,
        "status": rec.status(),
        "file": Path(rec.file).name if rec.file else "",
        "row": rec.row,
        "notes": rec.notes,
    }


def _extraction_ids(path: str | Path | None) -> set[str] | None:
    if path is None:
        return None
    return {r["study_id"] for r in read_csv_table(path, ("study_id",)) if r["study_id"]}


def _num(value: int | None) -> str:
    return "not reported" if value is None else f"{value:,}"


# the boxes of the flow diagram, in its order, for saying which are not reported
_BOX_NAMES = (
    ("records_identified", "records identified"),
    ("duplicates", "duplicates removed"),
    ("dbr_sought_reports", "reports sought for retrieval"),
    ("dbr_notretrieved_reports", "reports not retrieved"),
    ("dbr_assessed", "reports assessed"),
    ("dbr_excluded_total", "reports excluded"),
    ("new_reports", "reports of included studies"),
    ("new_studies", "studies included"),
)


def flow_provenance(counts: Mapping[str, Any], n_studies: int) -> tuple[str, list[str]]:
    """What the report says about the flow: where its counts come from (the export, the
    protocol's search block), the counting conventions, and which boxes are not reported
    and where the review's included studies come from instead."""
    files = ", ".join(counts.get("files") or [])
    parts = [f"Counts from the screening export ({counts.get('format')}: {files})."]
    conventions = counts.get("conventions") or []
    if conventions:
        parts.append("Counting conventions: " + "; ".join(conventions) + ".")
    missing = [name for key, name in _BOX_NAMES if counts.get(key) is None]
    notes = []
    if missing:
        notes.append(
            "Not reported in the flow diagram (the export does not hold them): "
            + ", ".join(missing)
            + "."
        )
    if counts.get("new_studies") is None:
        notes.append(
            f"The {n_studies} included studies of this review come from studies.csv; the "
            "screening export does not say which records they came from."
        )
    return " ".join(parts), notes


def _illustrative(table: ScreeningTable) -> int:
    return sum(1 for r in table.records if "illustrative" in r.notes.lower())


def ingest(
    screening_path: str | Path | Sequence[str | Path],
    protocol: str | Path | Mapping[str, Any],
    studies_path: str | Path,
    extraction_path: str | Path | None,
    out_dir: str | Path,
) -> list[str]:
    """Run the screening stage for one review; returns the warnings (for the log).

    ``protocol`` is the protocol file or the loaded protocol; its ``screening`` block
    gives format, on_inconsistency, deduplicate, sources and search_results.
    """
    from metareview.inputs.protocol import load_protocol
    from metareview.plots.common import save_figure
    from metareview.plots.prisma import draw_prisma

    protocol_file = None
    if not isinstance(protocol, Mapping):
        protocol_file = str(protocol)
        protocol = load_protocol(protocol)
    settings = screening_settings(protocol)
    search = search_settings(protocol)
    where = (protocol_file, "search" if protocol.get("search") else "screening.search_results")
    options = {k: settings[k] for k in OPTION_KEYS}
    table, counts, warnings = summarise(
        screening_path,
        format=settings["format"],
        on_inconsistency=settings["on_inconsistency"],
        dedup=settings["deduplicate"],
        sources=settings["sources"],
        where=where,
        options=options,
        search=search,
    )
    studies = load_studies(studies_path)
    if table.stages == "full" and table.study_ids:
        problems, cross_warnings = cross_problems(table, studies, extraction_path)
        warnings += resolve(problems, settings["on_inconsistency"])
        warnings += cross_warnings
    counts = count(
        table,
        sources=settings["sources"],
        extraction_studies=_extraction_ids(extraction_path),
        where=where,
        search=search,
    )
    broken = identities(counts)
    if broken:  # cannot happen for counts made by count(); a guard for future edits
        raise AnalysisError("PRISMA counts do not add up: " + "; ".join(broken))
    counts["review_id"] = protocol.get("review_id")
    counts["format"] = table.format
    counts["files"] = [Path(f).name for f in table.files]
    counts["illustrative_records"] = _illustrative(table)
    counts["warnings"] = [w.to_dict() for w in warnings]
    if search and search.get("dates"):
        counts["search_dates"] = dict(search["dates"])
    description, notes = flow_provenance(counts, len(studies.ids))

    fig = draw_prisma(counts)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = out_dir / f".ingest-{os.getpid()}-{secrets.token_hex(4)}.tmp"
    stage.mkdir()
    try:
        write_csv(stage / "records.csv", RECORD_COLUMNS, [_record_row(r) for r in table.records])
        write_json(stage / "prisma.json", counts)
        write_csv(stage / "prisma.csv", PRISMA_CSV_COLUMNS, prisma_csv_rows(counts))
        save_figure(fig, stage / "prisma.svg", stage / "prisma.png", pdf_path=stage / "prisma.pdf")
        caption = (
            f"PRISMA 2020 flow diagram: {_num(counts['records_identified'])} records "
            f"identified, {_num(counts['new_studies'])} studies "
            f"({_num(counts['new_reports'])} reports) included."
        )
        if counts["illustrative_records"]:
            caption += (
                f" Illustrative: {counts['illustrative_records']:,} of {len(table):,} records "
                "are synthetic, not the review's search."
            )
        write_json(
            stage / "index.json",
            {
                "title": "Study selection (PRISMA 2020)",
                "description": description,
                "notes": notes,
                "conventions": counts["conventions"],
                "figures": [{"path": f"{out_dir.name}/prisma.svg", "caption": caption}],
                "counts": {
                    k: counts[k]
                    for k in (
                        "records_identified",
                        "duplicates",
                        "records_screened",
                        "records_excluded",
                        "dbr_assessed",
                        "new_studies",
                        "new_reports",
                    )
                },
                "warnings": [w.to_dict() for w in warnings],
            },
        )
        for name in SCREENING_FILES:
            if (stage / name).exists():  # a figure format the run's `figures` leaves out
                os.replace(stage / name, out_dir / name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(stage)
    return [str(w) for w in warnings]
