"""Rule ingest: screening records, PRISMA 2020 counts (JSON, CSV) and flow diagram."""

import sys
from pathlib import Path

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _log import run  # noqa: E402

from metareview.stages.ingest import ingest  # noqa: E402

sm = snakemake  # noqa: F821
files = sm.input.screening
run(
    sm,
    lambda: ingest(
        [files] if isinstance(files, str) else list(files),
        sm.input.protocol,
        sm.input.studies,
        sm.input.extraction,
        Path(sm.output.records).parent,
    ),
)
