"""One study whose weight dwarfs the others' (a registry-sized study among small trials)
against R metafor 3.8.1 (tests/reference/make_fixtures_precision.R): tau^2, its standard
error, I^2, H^2 and the estimate keep their digits (the textbook trace formulas
``sw - sum(w^2)/sw`` cancel there), and REML's Fisher scoring neither stops early nor
loops for ever."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metareview.engine.pooling import Settings, pool

SPECS = json.loads((Path(__file__).parent / "reference" / "fixtures_precision.json").read_text())[
    "specs"
]


@pytest.mark.parametrize("spec", SPECS, ids=[s["name"] for s in SPECS])
def test_dominant_study_matches_metafor(spec):
    d = spec["data"]
    rows = [
        {"study": s, "ai": a, "n1i": n1, "ci": c, "n2i": n2}
        for s, a, n1, c, n2 in zip(d["study"], d["ai"], d["n1i"], d["ci"], d["n2i"], strict=True)
    ]
    fit = pool(rows, Settings(measure=spec["measure"], method=spec["method"])).to_dict()
    for field, want in spec["expected"].items():
        assert fit[field] == pytest.approx(want, rel=1e-6, abs=1e-12), field
