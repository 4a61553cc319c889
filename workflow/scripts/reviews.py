"""Rule reviews_<n> (config `reviews_per_job`): every stage of the batch's reviews in this
one process, each review logged to its own logs/review.log."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from _log import run  # noqa: E402

from metareview.runner import Folders, run_review  # noqa: E402

sm = snakemake  # noqa: F821
folders = Folders(**sm.params.folders)
for review, log_path in zip(sm.params.reviews, sm.log, strict=True):
    run(sm, lambda review=review: run_review(folders, review), log_path=log_path)
