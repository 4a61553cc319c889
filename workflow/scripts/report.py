"""Rule report: the HTML report, the audit against published values and the manifest."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _log import run  # noqa: E402

from metareview.manifest import write_manifest  # noqa: E402
from metareview.stages.report import build_report  # noqa: E402

sm = snakemake  # noqa: F821


def step():
    warnings = build_report(
        dict(sm.params.protocol),
        sm.input.template,
        sm.params.review_dir,
        sm.output.html,
        sm.output.audit,
    )
    write_manifest(
        inputs=[sm.input.protocol, sm.input.template, *sm.input.raw, *sm.input.files],
        outputs=[*sm.input.results, sm.output.html, sm.output.audit],
        protocol=sm.params.protocol,
        config=dict(sm.params.config),
        path=sm.output.manifest,
    )
    return warnings


run(sm, step)
