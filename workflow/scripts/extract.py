"""Rule extract: one outcome's validated 2x2 table with effect sizes."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _log import run  # noqa: E402

from metareview.pipeline import extract_outcome  # noqa: E402

sm = snakemake  # noqa: F821
run(
    sm,
    lambda: extract_outcome(
        sm.input.protocol,
        sm.input.studies,
        sm.input.extraction,
        sm.wildcards.outcome,
        sm.output[0],
    ),
)
