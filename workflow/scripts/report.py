"""Rule report: the self-contained HTML report and the audit against published values."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _log import run  # noqa: E402

from metareview.report import build_report  # noqa: E402

sm = snakemake  # noqa: F821
run(
    sm,
    lambda: build_report(
        sm.input.protocol,
        sm.input.template,
        sm.input.validation,
        list(sm.input.fits),
        list(sm.input.forests),
        sm.output.html,
        sm.output.audit,
    ),
)
