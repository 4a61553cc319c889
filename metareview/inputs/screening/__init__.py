"""Screening tables: readers for screening exports, deduplication, PRISMA 2020 counts,
consistency checks (the pipeline's ``ingest`` stage is
:mod:`metareview.stages.ingest`).

* ``read_screening(paths, format="auto", sources=None)`` -> ``ScreeningTable`` (generic,
  Covidence, Rayyan, ASReview; format detected from the header);
* ``deduplicate(table, mode="auto")``: DOI, then title + year;
* ``flow_problems(table)``, ``cross_problems(table, studies, extraction_path)``,
  ``resolve(problems, on_inconsistency)``;
* ``count(table, ...)`` -> PRISMA 2020 counts (PRISMA2020 package keys),
  ``identities(counts)``, ``prisma_csv_rows(counts)``;
* ``summarise(paths, ...)``: read + deduplicate + check + count (the ``metareview prisma``
  command);
"""

from metareview.inputs.screening.checks import (
    cross_problems,
    flow_problems,
    included_studies,
    resolve,
)
from metareview.inputs.screening.counts import count, identities, prisma_csv_rows
from metareview.inputs.screening.dedup import deduplicate, find_duplicate_groups
from metareview.inputs.screening.readers import FORMATS, detect_format, read_screening
from metareview.inputs.screening.records import (
    Record,
    ScreeningTable,
    normalise_doi,
    normalise_title,
)
from metareview.inputs.screening.summary import (
    screening_files,
    screening_settings,
    search_settings,
    summarise,
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
    "normalise_doi",
    "normalise_title",
    "prisma_csv_rows",
    "read_screening",
    "resolve",
    "screening_files",
    "screening_settings",
    "search_settings",
    "search_settings",
    "summarise",
]
