# Shared helpers: the reviews, their protocols and outcomes, and per-outcome digests.
# Every results path comes from metareview.stages.layout (``L`` below: the layout of the
# pattern ``results/{review}``).
import hashlib
import json
import sys

from snakemake.exceptions import WorkflowError

from metareview import figures
from metareview.errors import InputError
from metareview.inputs import plan
from metareview.inputs.protocol import (
    analysis_plan,
    load_protocol,
    outcome_settings,
    rows_outcome,
)
from metareview.inputs.scaffold import not_ready
from metareview.inputs.tables import bytes_or_reason, outcome_rows_digest
from metareview.stages.layout import Layout

RESULTS = config.get("results_dir", "results")
RAW = config.get("raw_dir", "data/raw")
PROTOCOLS = config.get("reviews_dir", "config/reviews")
REVIEWS = list(config["reviews"])
# which figure files the jobs write and declare (the jobs set the same from the config)
FIGURES = list(figures.configure(config.get("figures")))
L = Layout.of(RESULTS, "{review}")


wildcard_constraints:
    review="[A-Za-z0-9][A-Za-z0-9_-]*",
    outcome="[A-Za-z0-9][A-Za-z0-9_-]*",


_PROTOCOL_CACHE = {}


def protocol(review):
    if review not in _PROTOCOL_CACHE:
        try:
            _PROTOCOL_CACHE[review] = load_protocol(f"{PROTOCOLS}/{review}.yaml")
        except InputError as exc:  # names file, line and key: no traceback needed
            raise WorkflowError(
                f"invalid protocol of review {review!r}:\n{exc}"
            ) from None
    return _PROTOCOL_CACHE[review]


for _review in REVIEWS:  # a bad protocol stops the run before any job starts
    protocol(_review)


# A review whose tables have no rows yet (just made by `metareview init`) is skipped with a
# message instead of failing in its first job; the other reviews run.
READY = []
for _review in REVIEWS:
    _why = not_ready(f"{RAW}/{_review}")
    if _why is None:
        READY.append(_review)
    else:
        print(f"metareview: skipping review {_review!r}: {_why}", file=sys.stderr)
if not READY:
    print(
        "metareview: no review has studies yet; fill data/raw/<review>/studies.csv and "
        "extraction.csv (see the README there), then run again",
        file=sys.stderr,
    )


def outcomes(review):
    return plan.outcome_ids(protocol(review))


def raw(review, name):
    return f"{RAW}/{review}/{name}.csv"


def settings_of(wildcards):
    """The outcome's effective analysis settings (a rerun trigger when they change)."""
    return outcome_settings(protocol(wildcards.review), wildcards.outcome)


def outcome_digest(wildcards):
    """sha256 of what one outcome's extraction depends on: its rows of extraction.csv,
    studies.csv and its protocol entry. Editing another outcome's rows leaves it unchanged,
    so only the edited outcome's jobs rerun (the raw files are `ancient` inputs)."""
    h = hashlib.sha256()
    outcome_rows_digest(
        raw(wildcards.review, "extraction"),
        rows_outcome(protocol(wildcards.review), wildcards.outcome),
        h,
    )
    h.update(bytes_or_reason(raw(wildcards.review, "studies")))
    entry = next(
        (
            o
            for o in protocol(wildcards.review)["outcomes"]
            if o["id"] == wildcards.outcome
        ),
        None,
    )
    # the GRADE judgements are read by the report only: editing them reruns no pooling
    entry = {k: v for k, v in (entry or {}).items() if k != "certainty"} or entry
    h.update(json.dumps([entry, settings_of(wildcards)], sort_keys=True).encode())
    return h.hexdigest()


def presentation_of(wildcards):
    """What an outcome's figures show besides its data and settings: the arm labels, the
    outcome's label and direction, the risk-of-bias tool and its template (a rerun
    trigger: the protocol itself is an `ancient` input)."""
    review = protocol(wildcards.review)
    entry = next(o for o in review["outcomes"] if o["id"] == wildcards.outcome)
    template = rob_template(wildcards.review)
    digest = None
    if template:
        try:  # a missing template is reported as a missing input of the rob jobs
            with open(template[0], "rb") as fh:
                digest = hashlib.sha256(fh.read()).hexdigest()
        except OSError as exc:
            digest = f"unreadable: {exc.strerror}"
    return {
        "figures": FIGURES,
        "arms": review.get("arms"),
        "outcome": {
            k: v for k, v in entry.items() if k not in ("reported", "certainty")
        },
        "risk_of_bias": review.get("risk_of_bias"),
        "rob_template_sha256": digest,
    }


def plan_of(wildcards):
    """The outcome's planned subgroup/sensitivity/small-study analyses (a rerun trigger)."""
    return analysis_plan(protocol(wildcards.review), wildcards.outcome)


def analysed(review):
    """Outcomes with at least one planned subgroup, sensitivity or small-study analysis
    (only these get an `analyses` job)."""
    return plan.analysed_outcomes(protocol(review))


def screening_inputs(review):
    """The review's screening export(s) under data/raw/<review>/ (none: no PRISMA stage)."""
    return plan.screening_inputs(protocol(review), f"{RAW}/{review}")


def has_screening(review):
    return bool(screening_inputs(review))


def rob_template(review):
    """The risk-of-bias tool template the review uses (an input: editing it reruns; the
    manifest names a template shipped with the package `metareview:rob_tools/...`)."""
    try:
        return plan.rob_template(protocol(review))
    except InputError as exc:  # load_protocol checks it; never a traceback from here
        raise WorkflowError(
            f"invalid protocol of review {review!r}:\n{PROTOCOLS}/{review}.yaml, key "
            f"'risk_of_bias.tool': {exc.message}"
        ) from None


def review_config(review):
    """The pipeline configuration as it concerns one review (its id and the folders), which
    its manifest records: not config/config.yaml itself, whose list of the other reviews
    is no input of this review (adding a review must not rerun the others' reports)."""
    return {
        "review": review,
        "results_dir": RESULTS,
        "raw_dir": RAW,
        "reviews_dir": PROTOCOLS,
    }


def review_results(review):
    """Every result a review's report reads (files and per-outcome directories)."""
    return Layout.of(RESULTS, review).review_results(
        outcomes(review), analysed(review), has_screening(review)
    )
