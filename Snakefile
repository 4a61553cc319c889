# metareview: systematic review pipeline. Run `snakemake --cores 4`.
import os

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

from metareview.errors import InputError
from metareview.inputs.protocol import load_config, read_yaml

min_version("8.0")

CONFIGFILE = "config/config.yaml"


# Snakemake reads a config file letting the last of two equal keys win and reports a tab
# without its line: read config/config.yaml (validated against the schema) and any
# --configfile with metareview's loader first, which names the file, line and key.
try:
    if os.path.exists(CONFIGFILE):
        load_config(CONFIGFILE)
    for _path in workflow.overwrite_configfiles or ():
        read_yaml(_path, "config")
except InputError as exc:
    raise WorkflowError(f"invalid config:\n{exc}") from None


configfile: CONFIGFILE


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"


# One job per stage and outcome (the default), or whole reviews, N per job
# (config `reviews_per_job: N`): the same files either way.
if config.get("reviews_per_job"):

    include: "workflow/rules/batch.smk"

else:

    include: "workflow/rules/screening.smk"
    include: "workflow/rules/pool.smk"
    include: "workflow/rules/analyses.smk"
    include: "workflow/rules/report.smk"


include: "workflow/rules/audit.smk"


rule all:
    default_target: True
    input:
        expand(L.manifest, review=READY),
