# Shared helpers: the reviews, their protocols and outcomes, and per-outcome digests.
import hashlib
import json

from metareview.protocol import load_protocol, outcome_settings

RESULTS = config.get("results_dir", "results")
RAW = config.get("raw_dir", "data/raw")
PROTOCOLS = config.get("reviews_dir", "config/reviews")
REVIEWS = list(config["reviews"])


wildcard_constraints:
    review="[A-Za-z0-9][A-Za-z0-9_-]*",
    outcome="[A-Za-z0-9][A-Za-z0-9_-]*",


_PROTOCOL_CACHE = {}


def protocol(review):
    if review not in _PROTOCOL_CACHE:
        _PROTOCOL_CACHE[review] = load_protocol(f"{PROTOCOLS}/{review}.yaml")
    return _PROTOCOL_CACHE[review]


def outcomes(review):
    return [o["id"] for o in protocol(review)["outcomes"]]


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
    with open(raw(wildcards.review, "extraction"), "rb") as fh:
        lines = fh.read().splitlines()
    h.update(lines[0] if lines else b"")
    needle = f",{wildcards.outcome},".encode()
    for line in lines[1:]:
        if needle in line:
            h.update(line)
    with open(raw(wildcards.review, "studies"), "rb") as fh:
        h.update(fh.read())
    entry = next(
        (
            o
            for o in protocol(wildcards.review)["outcomes"]
            if o["id"] == wildcards.outcome
        ),
        None,
    )
    h.update(json.dumps([entry, settings_of(wildcards)], sort_keys=True).encode())
    return h.hexdigest()
