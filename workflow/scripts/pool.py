"""Rule pool: the outcome's model fit (JSON) and forest plot (SVG, PNG)."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _log import run  # noqa: E402

from metareview.pipeline import pool_outcome  # noqa: E402

sm = snakemake  # noqa: F821
run(
    sm,
    lambda: pool_outcome(
        sm.input.table,
        sm.input.protocol,
        sm.wildcards.outcome,
        dict(sm.params.settings),
        sm.output.fit,
        sm.output.svg,
        sm.output.png,
    ),
)
