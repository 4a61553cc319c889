"""Rule report: the summary of findings, the HTML report, the audit against published
values, the manuscript exports and the manifest."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _log import run  # noqa: E402

from metareview.manifest import provenance, write_manifest  # noqa: E402
from metareview.stages.exports import write_exports  # noqa: E402
from metareview.stages.report import build_report  # noqa: E402
from metareview.stages.sof import write_summary_of_findings  # noqa: E402

sm = snakemake  # noqa: F821


def step():
    protocol = dict(sm.params.protocol)
    sof = write_summary_of_findings(
        protocol, sm.params.review_dir, sm.output.sof_json, sm.output.sof_csv
    )
    origin = provenance([sm.input.protocol, *sm.input.raw])
    warnings = build_report(
        protocol,
        sm.input.template,
        sm.params.review_dir,
        sm.output.html,
        sm.output.audit,
        studies_csv=sm.params.studies,
        sof=sof,
        provenance=origin,
    )
    write_exports(protocol, sm.params.review_dir, sm.params.studies, sof, origin["data_date"])
    write_manifest(
        inputs=[sm.input.protocol, sm.input.template, *sm.input.raw, *sm.input.files],
        outputs=[
            *sm.input.results,
            sm.output.sof_json,
            sm.output.sof_csv,
            *sm.output.tables,
            sm.output.html,
            sm.output.audit,
        ],
        protocol=sm.params.protocol,
        config=dict(sm.params.config),
        path=sm.output.manifest,
    )
    return warnings


run(sm, step)
