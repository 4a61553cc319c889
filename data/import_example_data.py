"""Build the bundled reviews' raw tables from ``../shared/example-data``.

Every count copied into ``data/raw/<review>/extraction.csv`` comes from
``thrombectomy_rcts.csv``; its ``source`` cell quotes the verification row of
``SOURCES.md`` (source id and the quoted evidence). Empty cells stay empty: a
value with no source is never filled in. Rerun after the shared data change:

    python data/import_example_data.py ../shared/example-data
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTCOMES = ("mrs02", "mrs01", "death", "sich")


def parse_sources(text: str) -> dict[tuple[str, str, str], str]:
    """(trial, arm, field) -> 'SOURCE_ID: evidence' from the per-trial tables."""
    out: dict[tuple[str, str, str], str] = {}
    trial = None
    for line in text.splitlines():
        heading = re.match(r"^### (.+?) \((\d{4})\)$", line)
        if heading:
            trial = heading.group(1)
            continue
        if line.startswith("## "):
            trial = None
        if trial is None or not line.startswith("| "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or cells[0] in ("arm", "---"):
            continue
        arm, field, _value, source, evidence = cells[:5]
        out[(trial, arm, field)] = f"{source}: {evidence}"
    return out


def slug(trial: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", trial).strip("-")


def load_rows(shared: Path) -> list[dict[str, str]]:
    with open(shared / "thrombectomy_rcts.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def extraction_rows(rows, sources, trials, totals_override=None):
    """Long extraction rows (study x outcome x arm) for cells that have a count."""
    totals_override = totals_override or {}
    out = []
    for row in rows:
        if row["trial"] not in trials:
            continue
        for outcome in OUTCOMES:
            events = row[outcome].strip()
            if events == "":
                continue
            key = (row["trial"], row["arm"], outcome)
            total, total_note = totals_override.get(key, (row["n"], None))
            source = sources.get(key, "")
            n_source = sources.get((row["trial"], row["arm"], "n"), "")
            note = f"events: {source}; total: {total_note or n_source}"
            out.append(
                {
                    "study_id": slug(row["trial"]),
                    "outcome": outcome,
                    "arm": row["arm"],
                    "events": events,
                    "total": total,
                    "source": note,
                }
            )
    return out


def write_csv(path: Path, fieldnames, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


EXTRACTION_FIELDS = ["study_id", "outcome", "arm", "events", "total", "source"]


def main(shared: Path) -> None:
    rows = load_rows(shared)
    sources = parse_sources((shared / "SOURCES.md").read_text(encoding="utf-8"))

    # --- dmvo-mt-vs-bmm: the three DMVO RCTs; DISCOUNT has no verified counts ---
    dmvo = ["ESCAPE-MeVO", "DISTAL"]
    # ESCAPE-MeVO sICH is published with its own denominators (14/257 and 6/272).
    sich_totals = {
        ("ESCAPE-MeVO", "evt", "sich"): ("257", "MEV_OX: '14 of 257 patients (5.4%)'"),
        ("ESCAPE-MeVO", "control", "sich"): ("272", "MEV_OX: '6 of 272 (2.2%)'"),
    }
    write_csv(
        HERE / "raw/dmvo-mt-vs-bmm/extraction.csv",
        EXTRACTION_FIELDS,
        extraction_rows(rows, sources, dmvo, sich_totals),
    )

    # --- evt-vs-medical-rcts: every trial of the verified set ---
    trials = list(dict.fromkeys(r["trial"] for r in rows))
    write_csv(
        HERE / "raw/evt-vs-medical-rcts/extraction.csv",
        EXTRACTION_FIELDS,
        extraction_rows(rows, sources, trials, sich_totals),
    )
    studies = []
    for trial in trials:
        first = next(r for r in rows if r["trial"] == trial)
        studies.append(
            {
                "study_id": slug(trial),
                "label": trial,
                "year": first["year"],
                "design": "rct",
                "reference": "",
                # RoB 2 judgements: none on file from a source (see rob_sources.md)
                **{f"rob_d{i}": "" for i in range(1, 6)},
                "rob_overall": "",
                "category": first["category"],
                "region": first["region"],
            }
        )
    write_csv(
        HERE / "raw/evt-vs-medical-rcts/studies.csv",
        ["study_id", "label", "year", "design", "reference"]
        + [f"rob_d{i}" for i in range(1, 6)]
        + ["rob_overall", "category", "region"],
        studies,
    )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else HERE.parent.parent / "shared/example-data"))
