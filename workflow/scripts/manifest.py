"""Rule manifest: sha256 of every input and output, versions, config and git commit."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _log import run  # noqa: E402

from metareview.manifest import write_manifest  # noqa: E402

sm = snakemake  # noqa: F821
run(
    sm,
    lambda: write_manifest(
        inputs=[sm.input.protocol, *sm.input.raw, sm.input.template],
        outputs=list(sm.input.outputs),
        protocol=sm.params.config,
        path=sm.output[0],
    ),
)
