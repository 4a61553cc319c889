"""The pipeline's stages as plain functions (the Snakemake scripts only call these): the only
layer that combines inputs, the engine, presentation, plots and writers. ``layout`` names
every results path; stages never import one another (they share ``stages.common``)."""
