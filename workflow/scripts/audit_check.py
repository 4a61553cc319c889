"""Rule audit_check: fail when a pre-specified primary outcome's published values do not
reproduce (the `audit` target); on success write the audit.ok marker."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _log import run  # noqa: E402

from metareview.audit import check_audit  # noqa: E402

sm = snakemake  # noqa: F821
run(sm, lambda: check_audit(sm.input.audit, sm.params.fail_on, sm.output[0]))
