"""Rule studies: the review's effect-size table, data-validation findings and risk of bias."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _log import run  # noqa: E402

from metareview.stages.studies import run_studies  # noqa: E402

sm = snakemake  # noqa: F821
run(
    sm,
    lambda: run_studies(
        sm.input.protocol,
        sm.input.studies,
        sm.input.extraction,
        list(sm.input.tables),
        list(sm.input.fits),
        sm.params.rob,
        review_dir=sm.params.review_dir,
        effects=sm.output.effects,
        validation=sm.output.validation,
        rob=sm.output.rob,
    ),
)
