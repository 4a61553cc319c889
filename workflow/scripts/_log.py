"""Shared by the scripts: log to the rule's log file; bad input ends the job with a
clear message (file, row, column) on stderr and in the log, and exit code 1."""

import logging
import sys

from metareview import figures
from metareview.errors import AnalysisError, InputError
from metareview.io import remove_stale_temps


def run(snakemake, step, log_path=None):
    """Run ``step`` logging to ``log_path`` (default: the rule's log)."""
    logging.basicConfig(
        filename=str(log_path or snakemake.log[0]),
        filemode="w",
        force=True,
        level=logging.INFO,
        format="%(levelname)s %(message)s",
    )
    log = logging.getLogger("metareview")
    figures.configure(snakemake.config.get("figures"))  # as the Snakefile declared them
    for tmp in remove_stale_temps(snakemake.output):  # left by a killed earlier run
        log.info(f"removed {tmp}, left by an interrupted run")
    try:
        for warning in step() or []:
            log.warning(warning)
    except (InputError, AnalysisError) as exc:
        log.error(str(exc))
        print(f"metareview: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        log.error("interrupted")
        print("metareview: interrupted", file=sys.stderr)
        sys.exit(130)
