"""Rule analyses: the outcome's subgroup, meta-regression, sensitivity and small-study
analyses."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _log import run  # noqa: E402

from metareview.stages.analyses import run_outcome_analyses  # noqa: E402

sm = snakemake  # noqa: F821
run(
    sm,
    lambda: run_outcome_analyses(
        sm.input.table,
        sm.input.fit,
        sm.input.protocol,
        sm.wildcards.outcome,
        dict(sm.params.settings),
        sm.params.plan,
        review_dir=sm.params.review_dir,
        subgroup_dir=sm.output.subgroup,
        metaregression_dir=sm.output.metaregression,
        sensitivity_dir=sm.output.sensitivity,
        bias_json=sm.output.bias,
        funnel_svg=sm.params.funnel,
        contour_svg=sm.params.contour,
    ),
)
