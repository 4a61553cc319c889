"""A new review in one command (``metareview init <review-id>``), and the "no studies yet"
state of a review the pipeline skips.

:func:`init_review` writes ``config/reviews/<id>.yaml`` (every protocol key with a one-line
comment and a safe default; valid as written), ``data/raw/<id>/`` with the headers of
``studies.csv`` (the risk-of-bias tool's columns included) and ``extraction.csv`` and a
README saying what goes where, and adds the review to ``config/config.yaml`` keeping its
comments. It refuses to overwrite anything, and writes nothing when any check fails.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
from pathlib import Path

from metareview.errors import InputError
from metareview.inputs.protocol import load_config, load_protocol
from metareview.inputs.rob import load_tool
from metareview.io import atomic_write_text

__all__ = ["ID_PATTERN", "add_to_config", "init_review", "not_ready", "protocol_template"]

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")
STUDY_COLUMNS = ("study_id", "label", "year", "design", "reference")
EXTRACTION_COLUMNS = ("study_id", "outcome", "arm", "events", "total", "source")
SCREENING_COLUMNS = (
    "record_id, source, title, year, doi, duplicate_of, title_abstract, full_text, "
    "exclusion_reason, study_id"
)


def protocol_template(review_id: str, rob_tool: str | None = "rob2") -> str:
    """The protocol of a new review: every key, a one-line comment each, safe defaults."""
    rob = (
        "risk_of_bias:  # the risk-of-bias tool of studies.csv\n"
        f"  tool: {rob_tool}  # a template of metareview/rob_tools/ (rob2, "
        "robins_i) or a path; its columns are in studies.csv (empty = not assessed)\n"
        if rob_tool
        else "# risk_of_bias: {tool: rob2}  # the risk-of-bias tool whose columns studies.csv "
        "holds\n"
    )
    return f"""\
# Review protocol of {review_id} (written by `metareview init`; edit every line marked EDIT).
# Field reference: README.md, section "Start your own review"; the schema:
# metareview/schemas/protocol.schema.yaml. Validate with `snakemake -n`.
review_id: {review_id}  # must equal the file name
title: "EDIT: the review's title"  # shown at the top of the report
description: ""  # optional free text
registration:  # where the protocol is registered (PROSPERO, OSF...); empty id = unregistered
  registry: ""  # e.g. PROSPERO
  id: ""  # e.g. CRD42025000000; with an id, analyses are reported as pre-specified
pico:  # free text, shown in the report
  population: ""  # who
  intervention: ""  # what
  comparator: ""  # against what
  outcomes: ""  # which outcomes
  study_designs: [rct]  # rct, observational, single_arm
arms:  # the arm labels of extraction.csv (column 'arm')
  intervention: intervention  # arm label of the intervention group
  control: control  # arm label of the control group
  intervention_label: Intervention  # how figures name it
  control_label: Control  # how figures name it
# conventions: cochrane-2025  # a named method preset filling the defaults below that are
#   left out: revman5, revman5-random, cochrane-2025, metafor (explicit keys win)
defaults:  # analysis settings of every outcome (an outcome may override each)
  measure: OR  # OR, RR, RD (two arms); PR, PLN, PLO, PAS, PFT (single arm)
  method: REML  # FE, MH, PETO or a tau2 estimator DL, REML, ML, PM, EB, SJ, HE, HS
  test: z  # z, or knha (Hartung-Knapp-Sidik-Jonkman)
  level: 95  # confidence level, percent
  add: null  # zero-cell correction added to cells; null = metafor's default (0.5)
  to: only0  # which studies get it: only0, all, if0all, none
  drop00: null  # leave out double-zero studies; null = metafor's default for the method
  correction: constant  # constant, or treatment_arm (Sweeting 2004)
outcomes:  # at least one; the 'outcome' column of extraction.csv holds these ids
  - id: primary  # EDIT: letters, digits, '_' and '-'
    label: "EDIT: primary outcome"  # shown in tables and figures
    direction: higher_is_better  # or lower_is_better (which side of the plot favours)
    role: primary  # primary or secondary
    # reported: {{estimate: 1.5, ci_lb: 1.1, ci_ub: 2.0, i2: 30, k: 3}}  # published values
    #   to audit against (the ratio itself, not its log)
subgroups: []  # e.g. - {{id: region, column: region, label: Region}} (a studies.csv column)
sensitivity: []  # e.g. - {{id: loo, kind: leave_one_out}}; kinds: leave_one_out, influence,
#   cumulative, methods, zero_cells, exclude (with filter: "column == value")
small_study: []  # e.g. - {{tests: [egger, begg, trimfill]}} (flagged below min_k: 10 studies)
metaregression: []  # e.g. - {{id: year, label: Year, moderators: [year], test: knha}}
#   (studies.csv or row-level columns; factors: [...] for categorical; permutations: 1000)
{rob}screening:  # the screening export of data/raw/{review_id}/ (no file: no PRISMA stage)
  format: auto  # auto, generic, covidence, rayyan, asreview
  file: screening.csv  # file name(s) under data/raw/{review_id}/
  on_inconsistency: error  # error or warn on records that do not add up
  deduplicate: auto  # auto, always, never
# search: {{databases: [{{name: MEDLINE, date: 2025-01-31, records: 0}}]}}  # records per
#   database/register and duplicates removed, for the PRISMA boxes an export cannot fill
deviations: []  # departures from the registration: - {{what, registered, done, reason}}
audit:  # how `snakemake audit` judges the reproduction of `reported:` values
  fail_on: [differs, not computable]  # statuses of a primary outcome that fail the audit
"""


def readme_template(review_id: str, rob_columns: list[str]) -> str:
    rob = (
        f"and the risk-of-bias columns `{'`, `'.join(rob_columns)}` (one judgement per cell: "
        "low, some, high for RoB 2; an empty cell or a column left out = not assessed)"
        if rob_columns
        else "(no risk-of-bias tool named in the protocol)"
    )
    return f"""\
# data/raw/{review_id}

The input tables of review `{review_id}` (protocol: `config/reviews/{review_id}.yaml`).
CSV, UTF-8, one header row; the pipeline skips the review ("no studies yet") until both
tables have rows. Contracts: `../shared/DESIGN.md`, section Inputs.

- `studies.csv`: one row per included study: `study_id` (letters, digits, `_`, `-`),
  `label` (as figures show it), `year`, `design` (rct, observational, single_arm),
  `reference` (DOI or PMID), {rob}. Add a column per study covariate a subgroup uses.
- `extraction.csv`: one row per study x outcome x arm: `study_id`, `outcome` (an outcome
  id of the protocol), `arm` (the protocol's `arms.intervention` / `arms.control`, or the
  single arm), `events`, `total`, `source` (where in the paper the numbers are).
- `screening.csv` (optional; the PRISMA flow diagram): one row per search record with
  {SCREENING_COLUMNS}; or a Covidence, Rayyan or ASReview export (`screening.format`).
- Record here where every number comes from; a value with no source stays empty.
"""


def _csv_line(columns) -> str:
    out = []
    writer = csv.writer(_Lines(out), lineterminator="\n")
    writer.writerow(columns)
    return "".join(out)


class _Lines:
    def __init__(self, out: list[str]) -> None:
        self.out = out

    def write(self, text: str) -> None:
        self.out.append(text)


def add_to_config(text: str | None, review_id: str) -> str:
    """``config/config.yaml``'s text with ``review_id`` appended to ``reviews:`` (comments and
    layout kept; a new file when ``text`` is None). ``ValueError`` when the list cannot be
    found or already holds the review."""
    if text is None:
        return (
            "# Reviews the pipeline runs; each has config/reviews/<id>.yaml and "
            f"data/raw/<id>/.\nreviews:\n  - {review_id}\n"
        )
    lines = text.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if re.match(r"reviews\s*:", ln)), None)
    if start is None:
        raise ValueError("config/config.yaml has no top-level 'reviews:' key")
    head = lines[start]
    flow = re.match(r"(reviews\s*:\s*\[)(.*)(\]\s*(#.*)?)$", head.rstrip("\n"))
    if flow:
        items = [i.strip() for i in flow.group(2).split(",") if i.strip()]
        if review_id in [i.strip("'\"") for i in items]:
            raise ValueError(f"review {review_id!r} is already in config/config.yaml")
        body = ", ".join([*items, review_id])
        lines[start] = f"{flow.group(1)}{body}{flow.group(3)}\n"
        return "".join(lines)
    if head.split(":", 1)[1].split("#", 1)[0].strip():
        raise ValueError("config/config.yaml: 'reviews:' is neither a block nor a [flow] list")
    last, indent = start, "  "
    for i in range(start + 1, len(lines)):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = re.match(r"(\s*)-\s*(.*?)\s*(#.*)?$", lines[i].rstrip("\n"))
        if not m:
            break
        if m.group(2).strip("'\"") == review_id:
            raise ValueError(f"review {review_id!r} is already in config/config.yaml")
        last, indent = i, m.group(1)
    if not lines[last].endswith("\n"):
        lines[last] += "\n"
    lines.insert(last + 1, f"{indent}- {review_id}\n")
    return "".join(lines)


def init_review(
    review_id: str,
    root: str | Path = ".",
    *,
    rob_tool: str | None = "rob2",
    config: str = "config/config.yaml",
    reviews_dir: str = "config/reviews",
    raw_dir: str = "data/raw",
) -> list[str]:
    """Scaffold review ``review_id`` under ``root``; returns the paths written (relative to
    ``root``). ``InputError`` (nothing written) for a bad id, an unknown tool, or any file
    or folder that already exists."""
    root = Path(root)
    if not ID_PATTERN.match(review_id) or len(review_id) > 100:
        raise InputError(
            None,
            None,
            None,
            f"review id {review_id!r}: use letters, digits, '_' and '-', starting with a "
            "letter or digit (it names files and folders)",
        )
    protocol_path = root / reviews_dir / f"{review_id}.yaml"
    data_dir = root / raw_dir / review_id
    config_path = root / config
    taken = [p for p in (protocol_path, data_dir) if p.exists() or p.is_symlink()]
    if taken:
        raise InputError(
            str(taken[0]),
            None,
            None,
            "already exists; `metareview init` never overwrites (choose another id, or "
            "remove it yourself)",
        )
    rob_columns: list[str] = []
    if rob_tool:
        try:
            tool = load_tool(rob_tool)
        except InputError as exc:
            raise InputError(None, None, "--rob-tool", exc.message) from None
        rob_columns = [c.column for c in tool.columns]
    protocol_text = protocol_template(review_id, rob_tool)
    old_config = config_path.read_text(encoding="utf-8") if config_path.exists() else None
    try:
        new_config = add_to_config(old_config, review_id)
    except ValueError as exc:
        raise InputError(str(config_path), None, "reviews", str(exc)) from None
    # check both YAML files as they will be written, before writing anything
    with tempfile.TemporaryDirectory(dir=root, prefix=".init-") as tmp:  # removed after
        probe = Path(tmp) / f"{review_id}.yaml"
        probe.write_text(protocol_text, encoding="utf-8")
        load_protocol(probe)
        probe_config = Path(tmp) / "config.yaml"
        probe_config.write_text(new_config, encoding="utf-8")
        load_config(probe_config)
    files = {
        protocol_path: protocol_text,
        data_dir / "studies.csv": _csv_line([*STUDY_COLUMNS, *rob_columns]),
        data_dir / "extraction.csv": _csv_line(EXTRACTION_COLUMNS),
        data_dir / "README.md": readme_template(review_id, rob_columns),
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
    atomic_write_text(config_path, new_config)
    return [os.path.relpath(p, root) for p in (*files, config_path)]


def _data_rows(path: Path) -> int:
    """Rows with any non-blank cell after the header (0 for a missing file)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = csv.reader(fh)
            next(rows, None)
            return sum(1 for r in rows if any(c.strip() for c in r))
    except (OSError, UnicodeDecodeError, csv.Error):
        return -1  # unreadable: the jobs' readers report it with file, row and column


def not_ready(raw_dir: str | Path) -> str | None:
    """Why a review cannot run yet ("no studies yet"), or None when its tables have rows
    (or are missing or unreadable: the jobs then name the problem)."""
    raw = Path(raw_dir)
    studies, extraction = raw / "studies.csv", raw / "extraction.csv"
    if not studies.exists() or not extraction.exists():
        return None
    if _data_rows(studies) == 0:
        return f"no studies yet: {studies} has a header and no rows"
    if _data_rows(extraction) == 0:
        return f"no extracted data yet: {extraction} has a header and no rows"
    return None
