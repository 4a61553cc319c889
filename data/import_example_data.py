"""Build the bundled reviews' raw tables from ``../shared/example-data``.

Every count copied into ``data/raw/<review>/extraction.csv`` comes from
``thrombectomy_rcts.csv``; its ``source`` cell quotes the verification row of
``SOURCES.md`` (source id and the quoted evidence). The case-series and cohort reviews
(``dmvo-case-series``, ``rescue-stenting``) come from ``dmvo_case_series.csv`` and
``rescue_stenting_cohorts.csv``, whose rows carry their own quotes
(``SOURCES-cohorts-and-case-series.md``). Empty cells stay empty: a value with no source
is never filled in. Rerun after the shared data change:

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
    import_cohorts_and_case_series(shared)


# --- case series and cohorts (dmvo_case_series.csv, rescue_stenting_cohorts.csv) ---------

# shared outcome name -> (outcome id, definition recorded when it differs from the protocol's)
CASE_SERIES_OUTCOMES: dict[str, tuple[str, str] | None] = {
    "reperfusion_mTICI2b-3": ("reperfusion", ""),
    "reperfusion_TICI2b-3": ("reperfusion", "TICI 2b-3 (TICI, not mTICI)"),
    "reperfusion_eTICI2b-3": ("reperfusion", "eTICI 2b-3"),
    "reperfusion_eTICI2b67-3": ("reperfusion", "eTICI 2b67-3 (stricter)"),
    "reperfusion_TICI2c-3": ("reperfusion", "TICI 2c-3 (stricter)"),
    "mRS0-2_90d": ("mrs02", ""),
    # reported by one series each and not pooled by the published review: not imported
    "mRS0-1_90d": None,
    "mRS5-6_90d": None,
    "sICH": ("sich", ""),
    "mortality_90d": ("death", ""),
    "mortality_90d?": ("death", "time point not stated"),
    "mortality_in_hospital": ("death", "in-hospital, not 90-day"),
}
# (study, shared arm) -> row-level group; a study's whole series has no group
CASE_SERIES_GROUPS = {
    ("Rikhtegar2021", "primary DMVO"): "primary",
    ("Rikhtegar2021", "secondary DMVO"): "secondary",
    ("PerezGarcia2020", "BEMP (mini-SR + aspiration)"): "bemp",
    ("PerezGarcia2020", "mini stent retriever alone"): "mini-sr",
    ("JCN2022_ACA", "distal ACA main stem"): "main-stem",
    ("JCN2022_ACA", "individual branch (pericallosal/callosomarginal)"): "branch",
    ("T13_43", "primary DMVO"): "primary",
}
# rows that cover a different population than the study's series, said in `definition`
CASE_SERIES_POPULATION = {
    ("Rikhtegar2021", "sICH"): "all 115 treated patients, incl. 10 iatrogenic occlusions",
}
# study-level covariates, classified from the shared `design` column (empty: not stated)
CASE_SERIES_STUDIES = {
    "Pfaff2016": ("ACA", "stent_retriever"),
    "Altenbernd2018": ("MCA", "aspiration"),
    "Guenego2021": ("", "stent_retriever"),
    "Rikhtegar2021": ("", "stent_retriever"),
    "JNIS2021_PCA": ("PCA", "mixed"),
    "Memon2021": ("PCA", "mixed"),
    "Baig2022": ("PCA", ""),
    "PerezGarcia2020": ("", ""),
    "JCN2022_ACA": ("ACA", "mixed"),
    "NR2022_PCA": ("PCA", ""),
    "Onal": ("", "stent_retriever"),
    "T13_43": ("", "stent_retriever"),
}
COHORT_OUTCOMES = {
    "mRS0-2_90d": ("mrs02", ""),
    "mRS0-3_90d": ("mrs03", ""),
    "good_outcome_mRS0-2_or_0-3_if_baseline3": ("mrs02", "mRS 0-2, or 0-3 if baseline mRS was 3"),
    "mortality": ("death", ""),
    "sICH": ("sich", ""),
}
COHORT_CIRCULATION = {
    "Chang2018": "anterior",
    "PCSEARCH": "posterior",
    "Catalonia": "anterior",
    "Luo2021": "posterior",
    "ATTENTION": "posterior",
    "SAINTpost": "posterior",
}
GROUPED_FIELDS = [
    "study_id", "outcome", "arm", "group", "definition", "events", "total", "source",
]  # fmt: skip


def load_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _year(text: str) -> str:
    """A year only when the shared file states it plainly ('2021?' and '2024/25?' stay empty)."""
    return text if re.fullmatch(r"\d{4}", text) else ""


def case_series_tables(rows):
    """(studies, extraction) of dmvo-case-series: every row with a count; arm ``evt``."""
    extraction, studies = [], {}
    for r in rows:
        sid = r["study_id"]
        if sid not in studies:
            territory, technique = CASE_SERIES_STUDIES[sid]
            studies[sid] = {
                "study_id": sid,
                "label": r["label"],
                "year": _year(r["year"]),
                "design": "single_arm",
                "reference": "",
                "description": r["design"],
                "territory": territory,
                "technique": technique,
            }
        if r["outcome"] == "n" or r["events"].strip() == "":
            continue
        if CASE_SERIES_OUTCOMES[r["outcome"]] is None:
            continue
        outcome, definition = CASE_SERIES_OUTCOMES[r["outcome"]]
        population = CASE_SERIES_POPULATION.get((sid, r["outcome"]), "")
        definition = "; ".join(d for d in (definition, population) if d)
        extraction.append(
            {
                "study_id": sid,
                "outcome": outcome,
                "arm": "evt",
                "group": CASE_SERIES_GROUPS.get((sid, r["arm"]), ""),
                "definition": definition,
                "events": r["events"],
                "total": r["total"],
                "source": f"{r['arm']}: {r['source']}",
            }
        )
    return list(studies.values()), extraction


def cohort_tables(rows):
    """(studies, extraction) of rescue-stenting: arms ``stent`` and ``no_stent``."""
    extraction, studies = [], {}
    sizes = {(r["study_id"], r["arm"]): r["source"] for r in rows if r["outcome"] == "n"}
    for r in rows:
        sid = r["study_id"]
        if sid not in studies:
            studies[sid] = {
                "study_id": sid,
                "label": r["label"],
                "year": _year(r["year"]),
                "design": "observational",
                "reference": "",
                "description": r["design"],
                "circulation": COHORT_CIRCULATION[sid],
            }
        if r["outcome"] == "n" or r["events"].strip() == "":
            continue
        outcome, definition = COHORT_OUTCOMES[r["outcome"]]
        size = sizes.get((sid, r["arm"]), "")
        extraction.append(
            {
                "study_id": sid,
                "outcome": outcome,
                "arm": r["arm"],
                "group": "",
                "definition": definition,
                "events": r["events"],
                "total": r["total"],
                "source": f"events: {r['source']}" + (f"; total: {size}" if size else ""),
            }
        )
    return list(studies.values()), extraction


def import_cohorts_and_case_series(shared: Path) -> None:
    studies, extraction = case_series_tables(load_csv(shared / "dmvo_case_series.csv"))
    write_csv(HERE / "raw/dmvo-case-series/extraction.csv", GROUPED_FIELDS, extraction)
    write_csv(HERE / "raw/dmvo-case-series/studies.csv", list(studies[0]), studies)
    studies, extraction = cohort_tables(load_csv(shared / "rescue_stenting_cohorts.csv"))
    write_csv(HERE / "raw/rescue-stenting/extraction.csv", GROUPED_FIELDS, extraction)
    write_csv(HERE / "raw/rescue-stenting/studies.csv", list(studies[0]), studies)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else HERE.parent.parent / "shared/example-data"))
