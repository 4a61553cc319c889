"""Screening tables: readers for screening exports, deduplication, PRISMA 2020 counts,
consistency checks and the pipeline's ``ingest`` stage.

* ``read_screening(paths, format="auto", sources=None)`` -> ``ScreeningTable`` (generic,
  Covidence, Rayyan, ASReview; format detected from the header);
* ``deduplicate(table, mode="auto")``: DOI, then title + year;
* ``flow_problems(table)``, ``cross_problems(table, studies, extraction_path)``,
  ``resolve(problems, on_inconsistency)``;
* ``count(table, ...)`` -> PRISMA 2020 counts (PRISMA2020 package keys),
  ``identities(counts)``, ``prisma_csv_rows(counts)``;
* ``summarise(paths, ...)``: read + deduplicate + check + count (the ``metareview prisma``
  command);
* ``ingest(screening_path, protocol, studies_path, extraction_path, out_dir)``: the
  pipeline stage writing ``records.csv``, ``prisma.json``, ``prisma.csv``, ``prisma.svg``,
  ``prisma.png`` (and the report's ``index.json``).
"""

from metareview.screening.checks import cross_problems, flow_problems, included_studies, resolve
from metareview.screening.dedup import deduplicate, find_duplicate_groups
from metareview.screening.ingest import (
    ingest,
    screening_files,
    screening_settings,
    search_settings,
    summarise,
)
from metareview.screening.prisma import count, identities, prisma_csv_rows
from metareview.screening.readers import FORMATS, detect_format, read_screening
from metareview.screening.records import (
    Record,
    ScreeningTable,
    normalise_doi,
    normalise_title,
)

__all__ = [
    "FORMATS",
    "Record",
    "ScreeningTable",
    "count",
    "cross_problems",
    "deduplicate",
    "detect_format",
    "find_duplicate_groups",
    "flow_problems",
    "identities",
    "included_studies",
    "ingest",
    "normalise_doi",
    "normalise_title",
    "prisma_csv_rows",
    "read_screening",
    "resolve",
    "screening_files",
    "screening_settings",
    "search_settings",
    "summarise",
]
