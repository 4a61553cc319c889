"""Rule effects: effects.csv for the review and the validation findings."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _log import run  # noqa: E402

from metareview.pipeline import gather_effects  # noqa: E402

sm = snakemake  # noqa: F821
run(
    sm,
    lambda: gather_effects(
        sm.input.protocol,
        sm.input.studies,
        sm.input.extraction,
        list(sm.input.tables),
        sm.output.effects,
        sm.output.validation,
    ),
)
