"""Rule pool: the outcome's effect-size table, model fit (JSON) and forest plot."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _log import run  # noqa: E402

from metareview.stages.pool import extract_and_pool  # noqa: E402

sm = snakemake  # noqa: F821
run(
    sm,
    lambda: extract_and_pool(
        sm.input.protocol,
        sm.input.studies,
        sm.input.extraction,
        sm.wildcards.outcome,
        dict(sm.params.settings),
        sm.output.table,
        sm.output.fit,
        sm.params.forest,
        sm.params.forest[: -len("svg")] + "png",
        sm.output.pages,
    ),
)
