"""Meta-regression (coefficients, QM, QE, tau2, I2, H2, R2) and metafor's permutation test
against R metafor 3.8.1.

Fixtures: tests/reference/fixtures_metareg.json, made by
tests/reference/make_fixtures_metareg.R (dat.bcg, dat.raudenbush1985, dat.hackshaw1998,
dat.hine1989 from metadat). Numbers are compared to 1e-6 relative (1e-9 absolute near 0).

Permutation tests:
* exact (asked for, or because the distinct rearrangements k!/prod(n_j!) are at most
  ``iter``): the p-values must equal metafor's (both are counts over the same set);
* random with the permutations metafor drew (the fixture replays ``set.seed(seed);
  sample(k)`` and checks the replay against ``permutest``'s own QM.perm): equal p-values;
* random with our own seeded numpy draws: a Monte Carlo estimate of the same p-value as
  metafor's, so the two differ by sampling error only. Each is a mean of ``iter``
  Bernoulli draws; their difference has standard deviation sqrt(2 p (1 - p) / iter), and
  the test allows 4 of those plus 2/iter (the first permutation being the observed data,
  and the tolerance ``comptol`` at ties), i.e. at most 0.067 at iter = 1000, p = 0.5.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import ABS, REL

from metareview.engine.permutation import exact_count, permutest, unique_permutations
from metareview.engine.subgroups import design_matrix, metareg

REF = json.loads((Path(__file__).parent / "reference" / "fixtures_metareg.json").read_text())
SPECS = REF["specs"]
FIELDS = ("k", "qm", "qm_df", "qm_pval", "q", "q_df", "q_pval", "tau2", "i2", "h2", "r2")
COEF_FIELDS = ("estimate", "se", "stat", "pval", "ci_lb", "ci_ub")


def close(ours, theirs) -> bool:
    if theirs is None:
        return ours is None
    if ours is None:
        return False
    return abs(float(ours) - float(theirs)) <= max(REL * abs(float(theirs)), ABS)


def _args(spec):
    d, s = spec["data"], spec["settings"]
    mods = list(s["mods"])
    return d, s, mods, {m: d[m] for m in mods}, list(s["factors"])


@pytest.mark.parametrize(
    "spec", [s for s in SPECS if s["kind"] == "metareg"], ids=lambda s: s["id"]
)
def test_metareg_against_metafor(spec):
    d, s, mods, cov, factors = _args(spec)
    ours = metareg(d["yi"], d["vi"], cov, mods, method=s["method"], test=s["test"], factors=factors)
    e = spec["expected"]
    bad = [f for f in FIELDS if not close(ours.get(f), e[f])]
    assert not bad, {f: (ours.get(f), e[f]) for f in bad}
    assert [c["name"] for c in ours["coefficients"]] == [c["name"] for c in e["coefficients"]]
    for c, ce in zip(ours["coefficients"], e["coefficients"], strict=True):
        bad = [f for f in COEF_FIELDS if not close(c[f], ce[f])]
        assert not bad, (c["name"], {f: (c[f], ce[f]) for f in bad})


def test_r2_edge_cases_are_covered():
    """The fixtures hold both R2 edges: tau2 = 0 without moderators (R2 = 0) and a
    fixed-effect model (adjusted R2 of the weighted regression)."""
    by_id = {s["id"]: s for s in SPECS}
    assert by_id["hine_n1i_REML_z"]["expected"]["r2"] == 0
    assert by_id["bcg_ablat_alloc_FE_z"]["expected"]["r2"] > 0


PERM = [s for s in SPECS if s["kind"] == "permutest"]


def _perm(spec, **kw):
    d, s, mods, cov, factors = _args(spec)
    x, _ = design_matrix(cov, mods, factors)
    return permutest(
        d["yi"],
        d["vi"],
        x,
        method=s["method"],
        test=s["test"],
        iter=s["iter"],
        exact=bool(s["exact"]),
        seed=int(s["seed"]) if s["seed"] is not None else 1,
        **kw,
    ), x


@pytest.mark.parametrize("spec", [s for s in PERM if s["expected"]["exact"]], ids=lambda s: s["id"])
def test_exact_permutation_test_matches(spec):
    ours, x = _perm(spec)
    e = spec["expected"]
    assert ours["exact"] is True
    assert ours["iter"] == e["exact_count"] == exact_count(x)
    assert ours["pval"] == pytest.approx(e["pval"], abs=1e-12)
    assert ours["qm_pval"] == pytest.approx(e["qm_pval"], abs=1e-12)


RANDOM = [s for s in PERM if not s["expected"]["exact"]]


@pytest.mark.parametrize("spec", RANDOM, ids=lambda s: s["id"])
def test_random_permutation_test_with_metafors_draws(spec):
    orders = np.array(spec["expected"]["orders"], int) - 1
    ours, _ = _perm(spec, orders=orders)
    e = spec["expected"]
    assert ours["exact"] is False
    assert ours["pval"] == pytest.approx(e["pval"], abs=1e-12)
    assert ours["qm_pval"] == pytest.approx(e["qm_pval"], abs=1e-12)


@pytest.mark.parametrize("spec", RANDOM, ids=lambda s: s["id"])
def test_random_permutation_test_with_own_draws(spec):
    ours, _ = _perm(spec)
    e = spec["expected"]
    n = spec["settings"]["iter"]
    for p_ours, p_r in zip(
        [*ours["pval"], ours["qm_pval"]], [*e["pval"], e["qm_pval"]], strict=True
    ):
        tol = 4 * math.sqrt(2 * p_r * (1 - p_r) / n) + 2 / n
        assert abs(p_ours - p_r) <= tol, (p_ours, p_r, tol)
    again, _ = _perm(spec)
    assert again == ours  # a fixed seed: the same p-values every run


def test_unique_permutations_of_a_multiset():
    perms = unique_permutations([1, 0, 1, 2])
    assert len(perms) == exact_count(np.array([[1], [0], [1], [2]])) == 12
    assert len({tuple(p) for p in perms}) == 12
    assert [list(p) for p in perms[:2]] == [[0, 1, 1, 2], [0, 1, 2, 1]]


def test_exact_demanded_beyond_the_limit_is_refused():
    from metareview.errors import AnalysisError

    rng = np.random.default_rng(0)
    x = np.column_stack([np.ones(12), np.arange(12.0)])
    with pytest.raises(AnalysisError, match="exact permutation test needs"):
        permutest(rng.normal(size=12), np.full(12, 0.1), x, exact=True)


# --------------------------------------------------------------------------- protocol


REPO = Path(__file__).resolve().parent.parent
DMVO = REPO / "config" / "reviews" / "dmvo-case-series.yaml"
DMVO_RAW = REPO / "data" / "raw" / "dmvo-case-series"


def _dmvo_protocol(tmp_path, edit) -> Path:
    import yaml

    data = yaml.safe_load(DMVO.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "dmvo-case-series.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_unknown_moderator_column_names_protocol_line(tmp_path):
    from metareview.errors import InputError
    from metareview.inputs.review import ReviewInputs

    def edit(d):
        d["metaregression"][0]["moderators"] = ["technique", "teritory"]
        d["metaregression"][0]["factors"] = ["technique"]

    path = _dmvo_protocol(tmp_path, edit)
    with pytest.raises(InputError) as info:
        ReviewInputs.load(path, DMVO_RAW / "studies.csv", DMVO_RAW / "extraction.csv")
    err = info.value
    assert err.file == str(path) and err.row is not None
    assert err.column == "metaregression[0].moderators[1]"
    assert "'teritory'" in err.message and "territory" in err.message


def test_factor_not_a_moderator_is_refused(tmp_path):
    from metareview.errors import InputError
    from metareview.inputs.protocol import load_protocol

    path = _dmvo_protocol(tmp_path, lambda d: d["metaregression"][1].update(factors=["tech"]))
    with pytest.raises(InputError, match="factor 'tech' is not one of the moderators") as info:
        load_protocol(path)
    assert info.value.column == "metaregression[1].factors[0]" and info.value.row


def test_bad_test_and_permutations_are_refused_by_the_schema(tmp_path):
    from metareview.errors import InputError, InputErrors
    from metareview.inputs.protocol import load_protocol

    path = _dmvo_protocol(
        tmp_path, lambda d: d["metaregression"][1].update(test="t", permutations=-5)
    )
    with pytest.raises((InputError, InputErrors)) as info:
        load_protocol(path)
    text = str(info.value)
    assert "metaregression[1].test" in text and "metaregression[1].permutations" in text


def test_empty_moderator_cell_names_file_row_and_column(tmp_path):
    """With ``missing: error`` (the default) a study of the outcome without a technique is
    an error at its studies.csv row and column."""
    from metareview.errors import InputErrors
    from metareview.inputs.review import ReviewInputs

    path = _dmvo_protocol(tmp_path, lambda d: d["metaregression"][1].pop("missing"))
    studies = DMVO_RAW / "studies.csv"
    with pytest.raises(InputErrors) as info:
        ReviewInputs.load(path, studies, DMVO_RAW / "extraction.csv")
    errors = info.value.errors
    lines = studies.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    assert {e.column for e in errors} == {"technique"}
    assert all(e.file == str(studies) for e in errors)
    for e in errors:  # each row named is a study with reperfusion counts and no technique
        cells = lines[e.row - 1].split(",")
        assert cells[0] in {"Baig2022", "PerezGarcia2020", "NR2022_PCA"}
        assert "empty cell" in e.message and "missing: omit" in e.message
    assert header[-1] == "technique"


# --------------------------------------------------------------------------- the stage


def test_stage_writes_tables_plot_and_reports_what_cannot_be_fitted(tmp_path):
    """The DMVO reperfusion meta-regressions through the stage: technique adjusted for
    territory has as many coefficients as series with both values (k = 4, p = 4) and is
    reported as not computed, with why; technique alone is fitted (numbers checked against
    metafor 3.8.1 by hand in the branch report), with its permutation test and a bubble
    plot."""
    import csv

    from metareview.inputs.protocol import analysis_plan, load_protocol, outcome_settings
    from metareview.inputs.review import ReviewInputs
    from metareview.stages.analyses import run_metaregression
    from metareview.stages.common import OutcomeContext
    from metareview.stages.pool import extract_outcome

    inputs = ReviewInputs.load(DMVO, DMVO_RAW / "studies.csv", DMVO_RAW / "extraction.csv")
    table = tmp_path / "reperfusion.csv"
    extract_outcome(inputs, "reperfusion", table)
    protocol = load_protocol(DMVO)
    plan = analysis_plan(protocol, "reperfusion")
    ctx = OutcomeContext.load(
        protocol, "reperfusion", dict(outcome_settings(protocol, "reperfusion")), table
    )
    review = tmp_path / "results" / "dmvo-case-series"
    out = review / "metaregression" / "reperfusion"
    warnings = run_metaregression(ctx, plan, out, review)
    assert len(warnings) == 1 and "technique-territory" in warnings[0]
    index = json.loads((out / "index.json").read_text())
    adjusted, alone = index["analyses"]
    assert adjusted["tables"] == [] and adjusted["figures"] == []
    assert any(
        n.startswith("Not computed: meta-regression needs more studies (k = 4)")
        for n in adjusted["notes"]
    )
    assert "error" in json.loads((out / "technique-territory.json").read_text())
    result = json.loads((out / "technique.json").read_text())
    assert result["k"] == 7 and result["test"] == "knha" and result["method"] == "REML"
    assert result["permutation"]["exact"] is True and result["permutation"]["iter"] == 140
    assert [c["name"] for c in result["coefficients"]] == [
        "intrcpt",
        "techniquemixed",
        "techniquestent_retriever",
    ]
    with open(out / "technique.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["Term"] for r in rows] == [
        "Intercept",
        "technique: Mixed",
        "technique: Stent retriever",
    ]
    assert set(rows[0]) >= {"Estimate", "SE", "t", "p", "95% CI", "Permutation p"}
    for ext in ("svg", "png", "pdf"):
        assert (out / f"technique.{ext}").stat().st_size > 0
    assert alone["figures"][0]["path"] == "metaregression/reperfusion/technique.svg"
    model = alone["tables"][1]
    assert model["columns"][3] == "R²" and model["rows"][0][3].endswith("%")
    # rerun: byte-identical outputs
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    run_metaregression(ctx, plan, out, review)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_bubble_plot_of_a_continuous_moderator(tmp_path):
    """dat.bcg's log RR on absolute latitude: the fitted line and its band are drawn."""
    from metareview.engine.pooling import Settings, meta_regression
    from metareview.plots.common import save_figure_set
    from metareview.plots.metaregression import draw_bubble

    spec = next(s for s in SPECS if s["id"] == "bcg_ablat_REML_z")
    d = spec["data"]
    rows = [
        {"study": d["study"][i], "yi": d["yi"][i], "vi": d["vi"][i], "ablat": d["ablat"][i]}
        for i in range(len(d["study"]))
    ]
    res = meta_regression(rows, Settings(measure="GEN", method="REML"), ["ablat"])
    e = spec["expected"]
    assert close(res["r2"], e["r2"]) and close(res["tau2"], e["tau2"])
    pred = res["prediction"]
    assert not pred["categorical"] and len(pred["x"]) == 61
    b0, b1 = (c["estimate"] for c in e["coefficients"])
    assert close(pred["estimate"][0], b0 + b1 * min(d["ablat"]))
    fig = draw_bubble(res, title="BCG vaccine: by absolute latitude", y_label="Log risk ratio")
    save_figure_set(fig, tmp_path / "bcg.svg")
    assert (tmp_path / "bcg.png").stat().st_size > 0
