"""Meta-analyses where metafor's default Fisher scoring for tau^2 (REML, ML, EB) does not
converge, against metafor 3.8.1 (tests/reference/make_fixtures_convergence.R): metareview
falls back, for that group only, to step halving (metafor's ``stepadj = 0.5``), then to a
bracketed search of the optimum, and says how in ``warnings``. The expected values are
metafor's own refit (``stepadj``, or a restart at the optimum: ``tau2.init``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from metareview.engine.models import fit_iv_many, pad_groups
from metareview.engine.pooling import Settings, pool, pool_by_columns

SPECS = json.loads((Path(__file__).parent / "reference" / "fixtures_convergence.json").read_text())[
    "specs"
]


def rows_of(spec):
    d = spec["data"]
    return [
        {"study": s, "ai": a, "n1i": n1, "ci": c, "n2i": n2}
        for s, a, n1, c, n2 in zip(d["study"], d["ai"], d["n1i"], d["ci"], d["n2i"], strict=True)
    ]


def test_fixtures_cover_each_method_and_both_fallbacks():
    assert {s["method"] for s in SPECS} == {"REML", "ML", "EB"}
    assert {s["how"] for s in SPECS} == {"stepadj", "tau2.init"}
    assert all("did not converge" in s["default_error"] for s in SPECS)


@pytest.mark.parametrize("spec", SPECS, ids=[s["name"] for s in SPECS])
def test_fallback_matches_metafor_refit(spec):
    fit = pool(rows_of(spec), Settings(measure=spec["measure"], method=spec["method"])).to_dict()
    for field, want in spec["expected"].items():
        assert fit[field] == pytest.approx(want, rel=1e-6, abs=1e-12), field
    expected_how = "step halved" if spec["how"] == "stepadj" else "with or without step halving"
    assert any(expected_how in w for w in fit["warnings"]), fit["warnings"]


@pytest.mark.parametrize("method", ["REML", "ML", "EB"])
def test_only_the_failing_groups_fall_back(method):
    """All specs of one method pooled together through ``pool --by``'s engine: each group
    gets metafor's refit, and says how its tau^2 was found."""
    specs = [s for s in SPECS if s["method"] == method]
    counts = {c: [] for c in ("ai", "n1i", "ci", "n2i")}
    codes = []
    for g, spec in enumerate(specs):
        for c in counts:
            counts[c] += spec["data"][c]
        codes += [g] * len(spec["data"]["ai"])
    names = [s["name"] for s in specs]
    many = pool_by_columns(
        {c: np.array(v, dtype=np.int64) for c, v in counts.items()},
        np.array(codes),
        names,
        Settings(measure="OR", method=method),
    )
    for g, spec in enumerate(specs):
        assert many.error[g] is None
        assert many.warnings[g], spec["name"]
        for field in ("estimate", "se", "tau2"):
            want = spec["expected"][field]
            assert many.values[field][g] == pytest.approx(want, rel=1e-6, abs=1e-12), field


def test_converging_groups_untouched():
    """A group whose default scoring converges gets no note, next to one that fails."""
    rng = np.random.default_rng(3)
    y = rng.normal(0, 0.3, size=(4, 8))
    v = rng.uniform(0.01, 0.1, size=(4, 8))
    mask = np.ones_like(y, dtype=bool)
    r = fit_iv_many(y, v, mask, "REML")
    assert r["converged"].all() and not any(r["notes"])
    yy, vv, mm, _ = pad_groups(y.ravel(), v.ravel(), np.repeat(np.arange(4), 8))
    assert np.array_equal(fit_iv_many(yy, vv, mm, "REML")["tau2"], r["tau2"])
