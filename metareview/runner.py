"""Whole reviews in one process: every stage of a review in the order of the DAG, writing
the same files, byte for byte, as the per-outcome Snakemake jobs.

A Snakemake job is a new Python process, and a review of five outcomes is about a dozen
jobs that each spend most of their second importing numpy, matplotlib and Snakemake.
Where many reviews run at once (``reviews_per_job`` in config/config.yaml: meta-research,
a thousand reviews in one DAG) the batch rules of ``workflow/rules/batch.smk`` call
:func:`run_review` for several reviews in one job instead. The report job of the
per-outcome DAG calls :func:`finish_review`, so the last stage is the same code in both.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metareview.inputs import plan
from metareview.inputs.protocol import analysis_plan, load_protocol, outcome_settings
from metareview.manifest import provenance, write_manifest
from metareview.stages.exports import write_exports
from metareview.stages.layout import Layout
from metareview.stages.report import build_report
from metareview.stages.sof import write_summary_of_findings

#: the files every report's manifest lists as inputs besides the protocol and the data
SCHEMAS = ("workflow/schemas/protocol.schema.yaml", "workflow/schemas/config.schema.yaml")
TEMPLATE = "workflow/templates/report.html.j2"


@dataclass(frozen=True)
class Folders:
    """Where the reviews' inputs and results are (config/config.yaml's folders)."""

    results_dir: str = "results"
    raw_dir: str = "data/raw"
    reviews_dir: str = "config/reviews"

    def protocol(self, review: str) -> str:
        return f"{self.reviews_dir}/{review}.yaml"

    def raw(self, review: str, name: str) -> str:
        return f"{self.raw_dir}/{review}/{name}.csv"

    def review_config(self, review: str) -> dict[str, str]:
        """What a review's manifest records of the configuration (see common.smk)."""
        return {
            "review": review,
            "results_dir": self.results_dir,
            "raw_dir": self.raw_dir,
            "reviews_dir": self.reviews_dir,
        }


def review_inputs(folders: Folders, review: str, protocol: Mapping[str, Any]) -> list[str]:
    """The input files of a whole review (what its report's manifest hashes, in order)."""
    return [
        folders.protocol(review),
        TEMPLATE,
        folders.raw(review, "studies"),
        folders.raw(review, "extraction"),
        *plan.screening_inputs(protocol, f"{folders.raw_dir}/{review}"),
        *plan.rob_template(protocol),
        *SCHEMAS,
    ]


def review_targets(folders: Folders, review: str) -> list[str]:
    """What a whole-review job declares to Snakemake: the report, the audit and the
    manifest, which hashes every other file the job writes.

    Snakemake records, for every output of a job, the checksum of every input: declaring
    each of a review's ~40 files in a job of 25 reviews would cost 40 x 25 x 100 checksums
    per job (a quarter of a 1,000-review run). The job clears the review's folder first
    (:func:`run_review`), so what is there afterwards is this run's.
    """
    layout = Layout.of(folders.results_dir, review)
    return [layout.report, layout.audit, layout.manifest]


def finish_review(
    protocol: Mapping[str, Any],
    *,
    review_dir: str,
    protocol_path: str,
    template: str,
    raw: Sequence[str],
    schemas: Sequence[str],
    results: Sequence[str],
    studies: str,
    config: Mapping[str, str],
) -> list[str]:
    """Stage 5: summary of findings, report and audit, manuscript exports, and last the
    manifest of every input and output."""
    layout = Layout(Path(review_dir).as_posix())
    protocol = dict(protocol)
    sof = write_summary_of_findings(protocol, review_dir, layout.sof_json, layout.sof_csv)
    origin = provenance([protocol_path, *raw])
    warnings = build_report(
        protocol,
        template,
        review_dir,
        layout.report,
        layout.audit,
        studies_csv=studies,
        sof=sof,
        provenance=origin,
    )
    write_exports(protocol, review_dir, studies, sof, origin["data_date"])
    write_manifest(
        inputs=[protocol_path, template, *raw, *schemas],
        outputs=[
            *results,
            layout.sof_json,
            layout.sof_csv,
            *layout.manuscript_files,
            layout.report,
            layout.audit,
        ],
        protocol=protocol,
        config=dict(config),
        path=layout.manifest,
    )
    return warnings


def clear_results(layout: Layout) -> None:
    """Remove what an earlier run left in the review's results folder (its logs folder
    stays: the running job writes its log there)."""
    root = Path(layout.root)
    if not root.is_dir():
        return
    for entry in root.iterdir():
        if entry.name == "logs":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def run_review(folders: Folders, review: str) -> list[str]:
    """Every stage of one review, in DAG order; returns the warnings of all stages, each
    prefixed with its stage (``[pool death] ...``)."""
    # here, not at the top: the report job of the per-outcome DAG imports this module for
    # finish_review and draws nothing
    from metareview.stages.analyses import run_outcome_analyses
    from metareview.stages.ingest import ingest
    from metareview.stages.pool import extract_and_pool
    from metareview.stages.studies import run_studies

    protocol_path = folders.protocol(review)
    protocol = load_protocol(protocol_path)
    layout = Layout.of(folders.results_dir, review)
    clear_results(layout)
    studies = folders.raw(review, "studies")
    extraction = folders.raw(review, "extraction")
    warnings: list[str] = []

    def note(stage: str, found: list[str] | None) -> None:
        warnings.extend(f"[{stage}] {w}" for w in found or [])

    screening = plan.screening_inputs(protocol, f"{folders.raw_dir}/{review}")
    if screening:
        note("ingest", ingest(screening, protocol_path, studies, extraction, layout.screening()))
    outcomes = plan.outcome_ids(protocol)
    for o in outcomes:
        settings = outcome_settings(protocol, o)
        note(
            f"pool {o}",
            extract_and_pool(
                protocol_path,
                studies,
                extraction,
                o,
                settings,
                layout.outcome_table(o),
                layout.pooled(o),
                layout.forest(o),
                layout.forest(o, "png"),
                layout.forest_pages(o),
            ),
        )
    analysed = plan.analysed_outcomes(protocol)
    for o in analysed:
        note(
            f"analyses {o}",
            run_outcome_analyses(
                layout.outcome_table(o),
                layout.pooled(o),
                protocol_path,
                o,
                outcome_settings(protocol, o),
                analysis_plan(protocol, o),
                review_dir=layout.root,
                subgroup_dir=layout.subgroup_dir(o),
                metaregression_dir=layout.metaregression_dir(o),
                sensitivity_dir=layout.sensitivity_dir(o),
                bias_json=layout.bias(o),
                funnel_svg=layout.funnel(o),
                contour_svg=layout.contour_funnel(o),
            ),
        )
    note(
        "studies",
        run_studies(
            protocol_path,
            studies,
            extraction,
            [layout.outcome_table(o) for o in outcomes],
            [layout.pooled(o) for o in outcomes],
            protocol.get("risk_of_bias"),
            review_dir=layout.root,
            effects=layout.effects,
            validation=layout.validation,
            rob=layout.rob_dir,
        ),
    )
    note(
        "report",
        finish_review(
            protocol,
            review_dir=layout.root,
            protocol_path=protocol_path,
            template=TEMPLATE,
            raw=[studies, extraction, *screening, *plan.rob_template(protocol)],
            schemas=SCHEMAS,
            results=layout.review_results(outcomes, analysed, bool(screening)),
            studies=studies,
            config=folders.review_config(review),
        ),
    )
    return warnings
