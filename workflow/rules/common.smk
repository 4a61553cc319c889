# Shared helpers: the reviews, their protocols and outcomes, and per-outcome digests.
import csv
import hashlib
import io
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
    path = raw(wildcards.review, "extraction")
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
        header = next(reader, [])
        col = [c.strip() for c in header].index("outcome")
        h.update(repr(header).encode())
        for row in reader:
            if len(row) > col and row[col].strip() == wildcards.outcome:
                h.update(repr(row).encode())
    except (UnicodeDecodeError, ValueError, csv.Error):
        h.update(data)  # unreadable: let the extract job run and report the error
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
