"""What the stages share: the per-outcome table as the extraction stage wrote it, one
outcome's context (protocol read once per job), and a folder of a stage's outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metareview.engine import measures
from metareview.engine.pooling import Settings
from metareview.inputs.protocol import load_protocol
from metareview.io import read_csv_dicts
from metareview.plots.common import save_figure_set


def read_outcome_table(path: str | Path) -> list[dict[str, Any]]:
    """The rows of ``extraction/by_outcome/<outcome>.csv``, with the measure's columns
    typed: counts as integers, means, SDs, estimates and SEs as floats (every other column
    as written). A generic table (``yi, sei``) is recognised by its header."""
    rows = read_csv_dicts(path)
    for r in rows:
        m = measures.find(r.get("measure"))
        columns = m.columns if m else ()
        if m and m.natural and "sei" in r and "ai" not in r:
            columns = measures.GENERIC_COLUMNS  # a ratio given as estimates with their CI
        for key in columns:
            if key in r and r[key] != "":
                r[key] = int(r[key]) if key in measures.COUNT_COLUMNS else float(r[key])
    return rows


def split_units(rows: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """The study rows and the study x group rows of an outcome table (its ``unit``
    column, written when extraction.csv has row-level columns; dropped here)."""
    studies: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    for r in rows:
        unit = r.pop("unit", "study")
        (groups if unit == "group" else studies).append(r)
    return studies, groups


@dataclass
class OutcomeContext:
    """One outcome of one review, as a job sees it."""

    protocol: dict
    entry: dict
    settings: Settings
    #: one row per study (a study's groups combined): every analysis but one by ``group``
    rows: list[dict[str, Any]]
    #: one row per study x group (extraction.csv's ``group``), for analyses by ``group``
    group_rows: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, protocol: dict | str | Path, outcome: str, settings: dict, table_csv):
        if not isinstance(protocol, dict):
            protocol = load_protocol(protocol)
        entry = next(o for o in protocol["outcomes"] if o["id"] == outcome)
        rows, group_rows = split_units(read_outcome_table(table_csv))
        return cls(protocol, entry, Settings(**settings), rows, group_rows)

    @property
    def outcome(self) -> str:
        return self.entry["id"]

    @property
    def labels(self) -> dict[str, str]:
        """Study id -> the label figures and tables show."""
        return {r["study"]: r.get("label") or r["study"] for r in self.rows}


class Output:
    """Collects one stage's files under its output folder, relative to the review folder."""

    def __init__(self, out_dir: str | Path, review_dir: str | Path):
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.review_dir = Path(review_dir)

    def rel(self, name: str) -> str:
        return (self.dir / name).relative_to(self.review_dir).as_posix()

    def figure(self, fig, name: str, caption: str) -> dict[str, str]:
        """Save ``fig`` (none when the run draws no figures) and return its index entry."""
        save_figure_set(fig, self.dir / name)  # with its PDF and 300 dpi PNG
        return {"path": self.rel(name), "caption": caption}
