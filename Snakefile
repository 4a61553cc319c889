# metareview: systematic review pipeline. Run `snakemake --cores 4`.
from snakemake.utils import min_version, validate

min_version("8.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/screening.smk"
include: "workflow/rules/pool.smk"
include: "workflow/rules/analyses.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        expand(f"{RESULTS}/{{review}}/manifest.json", review=REVIEWS),
