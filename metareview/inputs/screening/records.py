"""The generic screening record and the normalisation of its values.

Every reader (generic, Covidence, Rayyan, ASReview) produces a ``ScreeningTable`` of
``Record`` objects in the generic shape of ``screening.csv`` (see ``docs`` and DESIGN.md):

``record_id, source, title, year, doi, duplicate_of, title_abstract, full_text,
exclusion_reason, study_id`` plus the optional ``removed`` (``automation`` | ``other``:
removed before screening), ``source_type`` (``database`` | ``register`` | ``website`` |
``organisation`` | ``citation``) and ``notes``.

Only the standard library is used here.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, fields
from urllib.parse import unquote

from metareview.errors import InputWarning

GENERIC_COLUMNS = (
    "record_id",
    "source",
    "title",
    "year",
    "doi",
    "duplicate_of",
    "title_abstract",
    "full_text",
    "exclusion_reason",
    "study_id",
)
EXTRA_COLUMNS = ("removed", "source_type", "notes")

TITLE_ABSTRACT = ("include", "exclude")
FULL_TEXT = ("include", "exclude", "not_retrieved")
REMOVED = ("automation", "other")
SOURCE_TYPES = ("database", "register", "website", "organisation", "citation")
OTHER_METHODS = ("website", "organisation", "citation")

UNSPECIFIED_SOURCE = "Unspecified database"

# spellings of include/exclude accepted for both screening stages
_DECISIONS = {
    "include": "include",
    "included": "include",
    "yes": "include",
    "y": "include",
    "1": "include",
    "exclude": "exclude",
    "excluded": "exclude",
    "no": "exclude",
    "n": "exclude",
    "0": "exclude",
}
_SYNONYMS = {
    "title_abstract": dict(_DECISIONS),
    "full_text": {
        **_DECISIONS,
        "not_retrieved": "not_retrieved",
        "not_retrievable": "not_retrieved",
        "unretrieved": "not_retrieved",
        "not_found": "not_retrieved",
        "not_available": "not_retrieved",
    },
    "removed": {
        "automation": "automation",
        "automatic": "automation",
        "automation_tool": "automation",
        "excluded_automatic": "automation",
        "other": "other",
        "other_reasons": "other",
        "excluded_other": "other",
    },
    "source_type": {
        "database": "database",
        "databases": "database",
        "db": "database",
        "register": "register",
        "registers": "register",
        "registry": "register",
        "trial_register": "register",
        "website": "website",
        "websites": "website",
        "organisation": "organisation",
        "organisations": "organisation",
        "organization": "organisation",
        "organizations": "organisation",
        "citation": "citation",
        "citations": "citation",
        "citation_searching": "citation",
    },
}

ALLOWED = {
    "title_abstract": TITLE_ABSTRACT,
    "full_text": FULL_TEXT,
    "removed": REMOVED,
    "source_type": SOURCE_TYPES,
}

# Trial registers (PRISMA 2020 "Registers"): matched on the lower-cased source name with
# punctuation and spaces removed. Anything else is a bibliographic database unless the
# protocol (screening.sources) or a source_type column says otherwise.
_REGISTER_NAMES = (
    "clinicaltrialsgov",
    "clinicaltrials",
    "ctgov",
    "whoictrp",
    "ictrp",
    "isrctn",
    "euctr",
    "euclinicaltrialsregister",
    "ctis",
    "chictr",
    "anzctr",
    "drks",
    "ctri",
    "jrct",
    "umin",
    "uminctr",
    "irct",
    "rebec",
    "pactr",
    "ntr",
    "cris",
    "slctr",
    "tctr",
    "lbctr",
)
_OTHER_HINTS = (
    ("citation", "citation"),
    ("referencelist", "citation"),
    ("snowball", "citation"),
    ("handsearch", "citation"),
    ("website", "website"),
    ("organisation", "organisation"),
    ("organization", "organisation"),
)

_DOI = re.compile(r"10\.\d{4,9}/[^\s\"<>]+", re.IGNORECASE)
_DOI_PREFIX = re.compile(r"^(?:https?://)?(?:dx\.)?(?:doi\.org/)|^doi:\s*", re.IGNORECASE)
_YEAR = re.compile(r"(?<![0-9])(1[89][0-9][0-9]|20[0-9][0-9])(?![0-9])")


def norm_token(value: str) -> str:
    """``'Not Retrieved'`` -> ``'not_retrieved'`` (case, spaces and dashes folded)."""
    return re.sub(r"[\s\-/]+", "_", value.strip().lower())


def norm_choice(column: str, value: str) -> str | None:
    """The canonical value of a decision column, '' for empty, None if not recognised."""
    if not value.strip():
        return ""
    return _SYNONYMS[column].get(norm_token(value))


def normalise_doi(value: str | None) -> str:
    """A DOI in canonical form: lower case, no ``https://doi.org/`` or ``doi:`` prefix.

    Exports often put more than the DOI in the cell (Rayyan appends ``LK - <link>``); the
    first ``10.xxxx/...`` token is taken. Returns '' when the cell holds no DOI.
    """
    if not value:
        return ""
    text = _DOI_PREFIX.sub("", value.strip())
    if "%" in text:
        text = unquote(text)
    m = _DOI.search(text)
    if not m:
        return ""
    doi = m.group(0).rstrip(".,;)]}").lower()
    return doi


def normalise_title(value: str | None) -> str:
    """Title key for duplicate detection: accents removed, case folded, letters and digits
    only, single spaces (``'Étude: A  trial.'`` -> ``'etude a trial'``)."""
    if not value:
        return ""
    text = unicodedata.normalize("NFKD", value)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = re.sub(r"[^\w]+", " ", text).replace("_", " ")
    return " ".join(text.split())


def parse_year(value: str | None) -> int | None:
    """The first four-digit year (1800-2099) in the cell, or None."""
    if not value:
        return None
    m = _YEAR.search(str(value))
    return int(m.group(1)) if m else None


def classify_source(name: str, mapping: dict[str, str] | None = None) -> str:
    """database | register | website | organisation | citation for a source name.

    ``mapping`` (the protocol's ``screening.sources``) wins, matched ignoring case; then
    known trial registers; then words such as 'citation searching' or 'websites'.
    """
    if mapping:
        for key, kind in mapping.items():
            if key.strip().lower() == name.strip().lower():
                return kind
    squashed = re.sub(r"[^a-z0-9]+", "", name.lower())
    if squashed in _REGISTER_NAMES or any(
        squashed.startswith(r) and len(r) >= 5 for r in _REGISTER_NAMES
    ):
        return "register"
    for hint, kind in _OTHER_HINTS:
        if hint in squashed:
            return kind
    return "database"


@dataclass
class Record:
    """One record of the searches, in the generic shape.

    ``row`` is the spreadsheet row in ``file``; ``issue`` holds a problem an adapter found
    (e.g. Rayyan reviewers disagree) that the consistency checks report.
    """

    record_id: str
    source: str = ""
    title: str = ""
    year: int | None = None
    doi: str = ""
    duplicate_of: str = ""
    title_abstract: str = ""
    full_text: str = ""
    exclusion_reason: str = ""
    study_id: str = ""
    removed: str = ""
    source_type: str = ""
    notes: str = ""
    file: str | None = None
    row: int | None = None
    duplicate_rule: str = ""
    issue: str = ""
    # who excluded the record at title/abstract: '' (a person) or 'automation' (records an
    # active-learning tool left unlabelled when the team stopped screening)
    screened_by: str = ""
    # every exclusion reason given (Rayyan: several per report); exclusion_reason is the
    # first, under which the report is counted
    all_reasons: str = ""
    # the tool's own label for the study (Covidence 'Study'), when study_id is its key
    study_label: str = ""

    @property
    def doi_key(self) -> str:
        return normalise_doi(self.doi)

    @property
    def title_key(self) -> str:
        return normalise_title(self.title)

    @property
    def other_method(self) -> bool:
        return self.source_type in OTHER_METHODS

    def status(self) -> str:
        """Where the record ends in the PRISMA flow (for records.csv)."""
        if self.duplicate_of:
            return "duplicate"
        if self.removed:
            return f"removed_{self.removed}"
        if self.title_abstract == "exclude":
            return "excluded_title_abstract"
        if self.title_abstract == "" and not self.other_method:
            return "awaiting_screening"
        if self.full_text == "not_retrieved":
            return "not_retrieved"
        if self.full_text == "exclude":
            return "excluded_full_text"
        if self.full_text == "include":
            return "included"
        return "awaiting_full_text"

    def progress(self) -> int:
        """How far the record went (which of a set of duplicates is kept)."""
        return {
            "included": 6,
            "excluded_full_text": 5,
            "not_retrieved": 4,
            "awaiting_full_text": 3,
            "excluded_title_abstract": 2,
            "awaiting_screening": 1,
        }.get(self.status(), 0)


STATUS_WORDS = {
    "duplicate": "duplicate",
    "removed_automation": "marked ineligible by automation tools",
    "removed_other": "removed for other reasons",
    "excluded_title_abstract": "excluded at title/abstract",
    "awaiting_screening": "awaiting screening",
    "not_retrieved": "not retrieved",
    "excluded_full_text": "excluded at full text",
    "included": "included",
    "awaiting_full_text": "awaiting full-text assessment",
}

RECORD_FIELDS = tuple(f.name for f in fields(Record))


@dataclass
class ScreeningTable:
    """The records of one screening export (or several per-stage exports).

    ``columns`` maps a generic field to the export's column it came from (for messages);
    ``deduplicated`` says whether the export carries duplicate information (a
    ``duplicate_of`` column, ASReview group ids, Covidence's import deduplication).
    """

    files: list[str]
    format: str
    records: list[Record]
    columns: dict[str, str] = field(default_factory=dict)
    deduplicated: bool = False
    has_source: bool = True
    warnings: list[InputWarning] = field(default_factory=list)
    # what the export can support: 'full' (title/abstract and full-text decisions) or
    # 'title_abstract' (the tool stops there and no full-text overlay was given)
    stages: str = "full"
    # whether the export holds every record identified, duplicates included (False:
    # Covidence, which removes duplicates on import and does not export them)
    identification: bool = True
    # whether included reports carry study ids (False: Rayyan, ASReview without overlay)
    study_ids: bool = True
    # counting conventions the reader applied (listed in prisma.json and the report)
    conventions: list[str] = field(default_factory=list)

    @property
    def file(self) -> str:
        return self.files[0] if len(self.files) == 1 else ", ".join(self.files)

    def column(self, name: str) -> str:
        """The export's column holding generic field ``name`` (for error messages)."""
        return self.columns.get(name, name)

    def by_id(self) -> dict[str, Record]:
        return {r.record_id: r for r in self.records}

    def __iter__(self):
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)
