"""metareview: a reproducible pipeline and statistics engine for systematic reviews and
meta-analyses (effect sizes, models, subgroup/sensitivity/small-study analyses, PRISMA,
reports). The package knows nothing of Snakemake; the workflow calls its functions."""
