# Whole reviews in one job (config `reviews_per_job: N`): every stage of N reviews in one
# Python process (metareview.runner), writing the same files as the per-outcome jobs. A
# thousand reviews are then a few dozen jobs instead of ten thousand: one interpreter
# start-up and import per N reviews, and a DAG small enough for Snakemake's scheduler.
# The rules are generated, one per batch (a batch's reviews are not a wildcard pattern).
# A job owns its reviews' results folders: it clears each before running it, and declares
# the report, audit and manifest (which hashes every other file written).
from metareview.runner import Folders, review_inputs, review_targets

FOLDERS = Folders(results_dir=RESULTS, raw_dir=RAW, reviews_dir=PROTOCOLS)


def review_batches():
    """READY in consecutive runs of `reviews_per_job` (adding a review at the end of the
    list changes the last batch only)."""
    n = int(config["reviews_per_job"])
    return [READY[i : i + n] for i in range(0, len(READY), n)]


def batch_inputs(members):
    files = [f for r in members for f in review_inputs(FOLDERS, r, protocol(r))]
    return list(dict.fromkeys(files))  # the template and the schemas once


def batch_outputs(members):
    """Each review's report, audit and manifest (the manifest hashes every other file;
    see metareview.runner.review_targets)."""
    return [f for r in members for f in review_targets(FOLDERS, r)]


for _number, _members in enumerate(review_batches(), start=1):

    rule:
        name:
            f"reviews_{_number}"
        input:
            batch_inputs(_members),
        output:
            batch_outputs(_members),
        log:
            [Layout.of(RESULTS, r).log("review") for r in _members],
        conda:
            "../envs/metareview.yaml"
        threads: 1
        resources:
            mem_mb=500,
            runtime=lambda wc, attempt: 10 * len(_members) * attempt,
        params:
            reviews=_members,
            folders=vars(FOLDERS),
        script:
            "../scripts/reviews.py"
