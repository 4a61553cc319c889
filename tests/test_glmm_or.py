"""GLMM for sparse 2x2 tables against metafor's rma.glmm(measure = "OR", model = "UM.FS")
(fixtures_glmm_or.json, made by tests/reference/make_fixtures_glmm_or.R).

ML fits are compared with metafor's tightly converged refit (`tight`: rma.glmm with a glmer
optimiser that finishes bobyqa with Newton steps; glmer's default stops up to ~5e-4 short,
and plain bobyqa at rhoend 1e-12 still ~3e-6 short on these k + 2 parameter fits).
Estimate, tau2, I2, H2, vt and the heterogeneity tests agree to 1e-6 (most to ~1e-8).

The se is compared to 1e-6 with metafor's own, except on dat.bcg: lme4's se comes from a
central-difference Hessian (step 1e-4) of a deviance computed only to the PIRLS tolerance,
and on dat.bcg's large arms that Hessian is off by ~2e-6 in se (refits at tolPwrss 1e-10 and
1e-11 err on opposite sides of the accurate value; 1e-12 fails). For those specs the se
test is an expected failure, and every spec's se, CI and prediction interval are also
compared with `accurate`, the se from numDeriv's Richardson Hessian of glmer's own deviance
function at the same optimum (the quantity lme4's vcov approximates), to 1e-7.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from metareview.cli import main
from metareview.engine.glmm_or import escalc_or, rma_glmm_or, summary_or
from metareview.engine.pooling import Settings, pool
from metareview.errors import AnalysisError, InputError
from metareview.inputs.protocol import load_protocol, outcome_settings
from metareview.plots import draw_forest, save_figure
from metareview.plots.forest import _model_label
from metareview.present.methods import methods_paragraph

FIX = json.loads((Path(__file__).parent / "reference/fixtures_glmm_or.json").read_text())
SPECS = {s["id"]: s for s in FIX["specs"]}
ML = sorted(s for s in SPECS if SPECS[s]["settings"]["method"] == "ML")
#: lme4's finite-difference se is off by ~2e-6 here (large arms; see the module docstring)
LME4_HESSIAN_NOISE = {"bcg_UMFS_ML", "bcg_UMFS_ML_t"}

_CACHE: dict[str, tuple] = {}


def _fit(sid):
    if sid not in _CACHE:
        spec = SPECS[sid]
        d, st = spec["data"], spec["settings"]
        _CACHE[sid] = rma_glmm_or(
            d["ai"],
            d["n1i"],
            d["ci"],
            d["n2i"],
            method=st["method"],
            test=st["test"],
            level=st["level"],
        )
    return _CACHE[sid]


def _close(ours, theirs, tol, what):
    assert ours == pytest.approx(theirs, abs=tol, rel=tol), what


def _ref(spec):
    return spec["tight"] if spec["settings"]["method"] == "ML" else spec["default"]


@pytest.mark.parametrize("sid", sorted(SPECS))
def test_glmm_or_matches_metafor(sid):
    spec = SPECS[sid]
    res, dropped = _fit(sid)
    ref = _ref(spec)
    assert res.k == ref["k"] and res.model == ref["model"]
    assert np.flatnonzero(dropped).tolist() == spec["studies"]["dropped"]
    _close(res.beta[0], ref["estimate"], 1e-6, "estimate")
    _close(res.tau2, ref["tau2"], 1e-6, "tau2")
    _close(res.i2, ref["i2"], 1e-6, "I2 (percent)")
    _close(res.h2, ref["h2"], 1e-6, "H2")
    _close(res.vt, ref["vt"], 1e-12, "vt")
    _close(res.ll, ref["ll"], 1e-6, "ll")
    # heterogeneity tests: glm fits, the same in every refit
    for key in ("q_wald", "q_wald_pval", "q_lrt", "q_lrt_pval"):
        _close(getattr(res, key), spec["default"][key], 1e-9, key)
    assert res.q_df == spec["default"]["q_df"]
    if res.model == "FE":  # the glm itself: se and CI too
        for key in ("se", "ci_lb", "ci_ub", "stat", "pval"):
            _close(float(getattr(res, key)[0]), ref[key], 1e-9, key)
    yi, vi, _ = escalc_or(*(spec["data"][c] for c in ("ai", "n1i", "ci", "n2i")))
    keep = ~np.isnan(np.array(spec["studies"]["yi"], dtype=float))
    np.testing.assert_allclose(yi[keep], np.array(spec["studies"]["yi"], float)[keep], rtol=1e-13)
    np.testing.assert_allclose(vi[keep], np.array(spec["studies"]["vi"], float)[keep], rtol=1e-13)
    assert np.array_equal(np.isnan(yi), ~keep)


@pytest.mark.parametrize(
    "sid",
    [
        pytest.param(
            s,
            marks=pytest.mark.xfail(
                strict=True,
                reason="lme4's se is a step-1e-4 finite-difference Hessian of a deviance "
                "known to the PIRLS tolerance: ~2e-6 off on dat.bcg's large arms",
            ),
        )
        if s in LME4_HESSIAN_NOISE
        else s
        for s in ML
    ],
)
def test_glmm_or_se_and_ci_match_metafor(sid):
    spec = SPECS[sid]
    res, _ = _fit(sid)
    ref = spec["tight"]
    s = summary_or(res)
    for key in ("se", "ci_lb", "ci_ub", "pval", "pi_lb", "pi_ub"):
        _close(s[key], ref[key], 1e-6, key)
    for key in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        _close(s["back"][key], ref["back"][key], 1e-6, f"back {key}")
    assert s["pi_lb"] == pytest.approx(ref["pi_lb"], abs=1e-6)


@pytest.mark.parametrize("sid", ML)
def test_glmm_or_se_matches_the_accurate_hessian(sid):
    """Every ML spec's se, CI and PI against the Richardson Hessian of glmer's deviance."""
    spec = SPECS[sid]
    res, _ = _fit(sid)
    s = summary_or(res)
    for key in ("se", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        _close(s[key], spec["accurate"][key], 1e-7, key)
    _close(s["stat"], spec["tight"]["stat"], 2e-4 if sid in LME4_HESSIAN_NOISE else 1e-5, "z")


@pytest.mark.parametrize("sid", ML)
def test_default_fit_within_its_own_stopping_error(sid):
    """metafor's default fit stops short of the optimum (up to ~5e-4 here)."""
    spec = SPECS[sid]
    res, _ = _fit(sid)
    _close(res.beta[0], spec["default"]["estimate"], 1e-3, "estimate vs default fit")
    _close(res.tau2, spec["default"]["tau2"], 1e-3, "tau2 vs default fit")


def test_tables_with_only_events_in_both_arms_are_dropped_like_double_zeros():
    """drop00 as rma.glmm: no events in both arms, or only events in both arms."""
    d = SPECS["nielweise2007_UMFS_ML"]["data"]
    cols = [list(d[c]) for c in ("ai", "n1i", "ci", "n2i")]
    extra = [c + [v] for c, v in zip(cols, (12, 12, 9, 9), strict=True)]  # all events
    base, drop_base = rma_glmm_or(*cols)
    more, drop_more = rma_glmm_or(*extra)
    assert drop_more.sum() == drop_base.sum() + 1 and drop_more[-1]
    assert more.k == base.k
    _close(more.beta[0], base.beta[0], 1e-12, "estimate")
    _close(more.tau2, base.tau2, 1e-12, "tau2")


def test_bad_tables_are_refused():
    with pytest.raises(AnalysisError, match="0 <= events <= total"):
        rma_glmm_or([3, 5], [2, 10], [1, 1], [10, 10])
    with pytest.raises(AnalysisError, match="needs at least 2"):
        rma_glmm_or([0, 1], [10, 10], [0, 2], [10, 10])


def _csv(tmp_path, spec):
    d = spec["data"]
    path = tmp_path / "tables.csv"
    rows = zip(d["study"], d["ai"], d["n1i"], d["ci"], d["n2i"], strict=True)
    path.write_text(
        "study,ai,n1i,ci,n2i\n"
        + "".join(f"{s},{int(a)},{int(n1)},{int(c)},{int(n2)}\n" for s, a, n1, c, n2 in rows)
    )
    return path


def test_cli_pool_glmm_or(tmp_path, capsys):
    """``metareview pool --measure OR --method GLMM`` gives the fixture's numbers."""
    spec = SPECS["nielweise2007_UMFS_ML"]
    path = _csv(tmp_path, spec)
    assert main(["pool", str(path), "--measure", "OR", "--method", "GLMM"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = spec["tight"]
    assert out["method"] == "GLMM" and out["k"] == ref["k"] and out["glmm_model"] == "UM.FS"
    for key in ("estimate", "se", "ci_lb", "ci_ub", "tau2", "i2", "pi_lb", "pi_ub"):
        _close(out[key], ref[key], 1e-6, key)
    _close(out["back"]["estimate"], ref["back"]["estimate"], 1e-6, "back estimate")
    _close(out["q"], ref["q_wald"], 1e-9, "q (Wald)")
    _close(out["q_pval"], ref["q_wald_pval"], 1e-9, "q p-value")
    _close(out["q_lrt"], ref["q_lrt"], 1e-9, "q_lrt")
    _close(out["q_lrt_pval"], ref["q_lrt_pval"], 1e-9, "q_lrt p-value")
    dropped = [s["study"] for s in out["studies"] if s["excluded"]]
    assert dropped == [spec["data"]["study"][i] for i in spec["studies"]["dropped"]]
    assert all(s["weight"] is None for s in out["studies"])
    assert main(["pool", str(path), "--measure", "RR", "--method", "GLMM"]) == 2


PROTOCOL = {
    "review_id": "glmm-or",
    "title": "GLMM for sparse tables",
    "arms": {"intervention": "i", "control": "c"},
    "outcomes": [
        {
            "id": "crbsi",
            "label": "Catheter-related bloodstream infection",
            "direction": "lower_is_better",
            "measure": "OR",
            "method": "GLMM",
        }
    ],
}


def _protocol(tmp_path, protocol):
    path = tmp_path / "glmm-or.yaml"
    path.write_text(yaml.safe_dump(protocol, sort_keys=False))
    return load_protocol(path)


def test_protocol_method_glmm_with_measure_or(tmp_path):
    """A protocol's ``method: GLMM`` on an OR outcome: the settings the pool stage uses
    (rma.glmm's drop00 = TRUE) give metafor's fit; the methods paragraph and the forest
    plot's pooled row name the model."""
    protocol = _protocol(tmp_path, PROTOCOL)
    settings = Settings(**outcome_settings(protocol, "crbsi"))
    assert (settings.method, settings.measure) == ("GLMM", "OR")
    spec = SPECS["nielweise2007_UMFS_ML"]
    d = spec["data"]
    rows = [
        {"study": s, "ai": a, "n1i": n1, "ci": c, "n2i": n2}
        for s, a, n1, c, n2 in zip(d["study"], d["ai"], d["n1i"], d["ci"], d["n2i"], strict=True)
    ]
    fit = pool(rows, settings).to_dict()
    assert settings.resolved().drop00 is True  # rma.glmm's default
    ref = spec["tight"]
    assert fit["k"] == ref["k"]
    for key in ("estimate", "se", "ci_lb", "ci_ub", "tau2", "i2"):
        _close(fit[key], ref[key], 1e-6, key)
    _close(fit["q"], ref["q_wald"], 1e-9, "q")
    _close(fit["q_lrt"], ref["q_lrt"], 1e-9, "q_lrt")
    text = str(methods_paragraph(protocol))
    assert "model UM.FS" in text and "random treatment effect" in text
    assert "left out (drop00, as metafor" in text
    assert _model_label(fit) == "Random-effects model (GLMM)"
    assert _model_label(fit, short=True) == "RE model (GLMM)"
    fig = draw_forest(
        fit,
        title="CRBSI",
        intervention_label="Coated",
        control_label="Standard",
        favours_left="coated",
        favours_right="standard",
    )
    save_figure(fig, svg_path=tmp_path / "forest.svg", png_path=tmp_path / "forest.png")
    svg = (tmp_path / "forest.svg").read_text()
    assert "GLMM" in svg and "Yucel 2004" in svg  # the dropped double-zero table is listed


def test_protocol_method_glmm_refuses_other_two_arm_measures(tmp_path):
    bad = yaml.safe_load(yaml.safe_dump(PROTOCOL))
    bad["outcomes"][0]["measure"] = "RR"
    with pytest.raises((InputError, AnalysisError)) as exc:
        protocol = _protocol(tmp_path, bad)
        Settings(**outcome_settings(protocol, "crbsi")).resolved().check()
    assert "GLMM" in str(exc.value)
