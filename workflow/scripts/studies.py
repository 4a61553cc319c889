"""Rule studies: the review's effect-size table, data-validation findings and risk of bias."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _log import run  # noqa: E402

from metareview.analyses import run_rob  # noqa: E402
from metareview.pipeline import gather_effects  # noqa: E402

sm = snakemake  # noqa: F821


def step():
    warnings = gather_effects(
        sm.input.protocol,
        sm.input.studies,
        sm.input.extraction,
        list(sm.input.tables),
        sm.output.effects,
        sm.output.validation,
    )
    return (warnings or []) + run_rob(
        sm.input.studies, sm.input.protocol, list(sm.input.fits), sm.params.rob, sm.output.rob
    )


run(sm, step)
