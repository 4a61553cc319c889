"""The statistics engine: effect sizes, models, subgroups, sensitivity and small-study
analyses, and the measure registry. numpy and scipy only: no files, plots, protocol or
Snakemake."""
