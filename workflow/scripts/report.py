"""Rule report: the summary of findings, the HTML report, the audit against published
values, the manuscript exports and the manifest (``metareview.runner.finish_review``)."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _log import run  # noqa: E402

from metareview.runner import finish_review  # noqa: E402

sm = snakemake  # noqa: F821
run(
    sm,
    lambda: finish_review(
        sm.params.protocol,
        review_dir=sm.params.review_dir,
        protocol_path=sm.input.protocol,
        template=sm.input.template,
        raw=list(sm.input.raw),
        schemas=list(sm.input.files),
        results=list(sm.input.results),
        studies=sm.params.studies,
        config=sm.params.config,
    ),
)
