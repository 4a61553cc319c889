"""Subgroups pooled with Mantel-Haenszel or Peto against R metafor (fixtures made by
tests/reference/make_fixtures_subgroup_2x2.R): per-level rma.mh / rma.peto, and the test
for subgroup differences as RevMan computes it (Cochran's Q over the level estimates)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metareview.engine.pooling import Settings, pool_subgroups
from metareview.inputs.review import ReviewInputs

ROOT = Path(__file__).resolve().parents[1]
SPECS = json.loads((ROOT / "tests/reference/fixtures_subgroup_2x2.json").read_text())["specs"]
REVIEW = "evt-vs-medical-rcts"


def rows_of(outcome: str, column: str) -> list[dict]:
    inputs = ReviewInputs.load(
        ROOT / f"config/reviews/{REVIEW}.yaml",
        ROOT / f"data/raw/{REVIEW}/studies.csv",
        ROOT / f"data/raw/{REVIEW}/extraction.csv",
    )
    table = inputs.outcome_table(outcome)
    return [dict(r) for r in table.rows if str(r.get(column, "")).strip()]


@pytest.mark.parametrize("spec", SPECS, ids=[s["name"] for s in SPECS])
def test_subgroups_2x2_match_metafor(spec):
    settings = Settings(measure="OR", method=spec["method"], test="z")
    result = pool_subgroups(rows_of(spec["outcome"], spec["column"]), settings, spec["column"])
    ours = {g["level"]: g for g in result["subgroups"]}
    for lev in spec["levels"]:
        got = ours[lev["level"]]
        assert got["k"] == lev["k"]
        assert got["estimate"] == pytest.approx(lev["estimate"], rel=1e-6, abs=1e-9)
        assert got["se"] == pytest.approx(lev["se"], rel=1e-6, abs=1e-9)
    tb = result["test_between"]
    assert tb["df"] == spec["test_between"]["df"]
    assert tb["q"] == pytest.approx(spec["test_between"]["q"], rel=1e-6)
    assert tb["pval"] == pytest.approx(spec["test_between"]["pval"], rel=1e-6)
    assert result["test_between_re"] is None
    assert result["overall"]["estimate"] == pytest.approx(spec["overall"]["estimate"], rel=1e-6)
