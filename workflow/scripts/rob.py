"""Rule rob: risk-of-bias table, traffic-light and summary plots."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _log import run  # noqa: E402

from metareview.analyses import run_rob  # noqa: E402

sm = snakemake  # noqa: F821
run(
    sm,
    lambda: run_rob(
        sm.input.studies, sm.input.protocol, list(sm.input.fits), sm.params.rob, sm.output[0]
    ),
)
