"""GLMM for proportions against metafor's rma.glmm(measure = "PLO") (fixtures_glmm.json,
made by tests/reference/make_fixtures_glmm.R).

ML fits are compared with metafor's tightly converged refit (`tight`): glmer's default
optimiser stops up to ~1e-5 short of the optimum. The R side's own precision is shown by a
second tight refit with another optimiser (`tight_alt`): estimates and tau2 agree to ~1e-8,
se to ~5e-7 (lme4's se comes from a finite-difference Hessian, step 1e-4), so se is
compared to 2e-6 and all else to 1e-6. The heterogeneity tests and FE fits are glm fits,
replicated iteration by iteration, and agree to 1e-9.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from metareview.cli import main
from metareview.engine.glmm import (
    clopper_pearson,
    escalc_plo,
    rma_glmm_plo,
    subgroup_glmm,
    summary,
)
from metareview.errors import AnalysisError

FIX = json.loads((Path(__file__).parent / "reference/fixtures_glmm.json").read_text())
SPECS = {s["id"]: s for s in FIX["specs"]}


def _fit(spec):
    d, st = spec["data"], spec["settings"]
    mods = np.array(d["mods"], dtype=float) if "mods" in d else None
    return rma_glmm_plo(
        d["xi"], d["ni"], mods, method=st["method"], test=st["test"], level=st["level"]
    )


def _close(ours, theirs, tol, what):
    assert ours == pytest.approx(theirs, abs=tol, rel=tol), what


@pytest.mark.parametrize("sid", sorted(SPECS))
def test_glmm_matches_metafor(sid):
    spec = SPECS[sid]
    res = _fit(spec)
    ref = spec["tight"] if spec["settings"]["method"] == "ML" else spec["default"]
    assert res.k == ref["k"] and res.model == ref["model"]
    for j, c in enumerate(ref["coefficients"]):
        _close(res.beta[j], c["estimate"], 1e-6, f"estimate {j}")
        _close(res.se[j], c["se"], 2e-6, f"se {j}")
        _close(res.ci_lb[j], c["ci_lb"], 5e-6, f"ci_lb {j}")
        _close(res.ci_ub[j], c["ci_ub"], 5e-6, f"ci_ub {j}")
        _close(res.stat[j], c["stat"], 1e-5, f"stat {j}")
        _close(res.pval[j], c["pval"], 1e-6, f"pval {j}")
    _close(res.tau2, ref["tau2"], 1e-6, "tau2")
    _close(res.i2, ref["i2"], 1e-4, "I2 (percent)")
    _close(res.h2, ref["h2"], 1e-6, "H2")
    _close(res.vt, ref["vt"], 1e-12, "vt")
    _close(res.qm, ref["qm"], 2e-5, "QM")
    # heterogeneity tests: glm fits (default settings apply; no optimiser involved)
    for key in ("q_wald", "q_wald_pval", "q_lrt", "q_lrt_pval"):
        _close(getattr(res, key), spec["default"][key], 1e-9, key)
    assert res.q_df == spec["default"]["q_df"]
    _close(res.ll, ref["ll"], 1e-6, "ll")
    if ref["back"] is not None:
        s = summary(res)
        # metafor's predict() gives no PI for an FE rma.glmm (ours: the CI, as for rma FE)
        keys = ("estimate", "ci_lb", "ci_ub") + (("pi_lb", "pi_ub") if res.model == "RE" else ())
        for key in keys:
            _close(s["back"][key], ref["back"][key], 2e-6, f"back {key}")
        if res.model == "RE":
            _close(s["pi_lb"], ref["pi_lb"], 5e-6, "pi_lb")
            _close(s["pi_ub"], ref["pi_ub"], 5e-6, "pi_ub")
    yi, vi = escalc_plo(np.array(spec["data"]["xi"], float), np.array(spec["data"]["ni"], float))
    np.testing.assert_allclose(yi, spec["studies"]["yi"], rtol=1e-13)
    np.testing.assert_allclose(vi, spec["studies"]["vi"], rtol=1e-13)
    lb, ub = clopper_pearson(spec["data"]["xi"], spec["data"]["ni"])
    np.testing.assert_allclose(lb, spec["studies"]["cp_lb"], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(ub, spec["studies"]["cp_ub"], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("sid", sorted(s for s in SPECS if SPECS[s]["settings"]["method"] == "ML"))
def test_default_fit_within_its_own_stopping_error(sid):
    """metafor's default fit is within ~1e-4 of ours (its optimiser's stopping error)."""
    spec = SPECS[sid]
    res = _fit(spec)
    _close(res.beta[0], spec["default"]["estimate"], 1e-4, "estimate vs default fit")
    _close(res.tau2, spec["default"]["tau2"], 1e-4, "tau2 vs default fit")


@pytest.mark.parametrize("sub", FIX["subgroups"], ids=lambda s: s["id"])
def test_glmm_subgroups(sub):

    d = sub["data"]
    out = subgroup_glmm(d["xi"], d["ni"], d["group"])
    assert [lv["level"] for lv in out["levels"]] == [lv["level"] for lv in sub["levels"]]
    for ours, ref in zip(out["levels"], sub["levels"], strict=True):
        tol = 1e-4 if ref["control"] == "default" else 1e-6
        _close(ours["estimate"], ref["estimate"], tol, f"{ref['level']} estimate")
        _close(ours["se"], ref["se"], 2e-6 if tol < 1e-4 else tol, f"{ref['level']} se")
        _close(ours["tau2"], ref["tau2"], tol, f"{ref['level']} tau2")
    tb = sub["test_between"]
    _close(out["test_between"]["q"], tb["q"], 1e-4, "Q between")
    assert out["test_between"]["df"] == tb["df"]
    _close(out["test_between"]["pval"], tb["pval"], 1e-4, "p between")


def test_bad_counts_are_refused():

    with pytest.raises(AnalysisError, match="0 <= xi <= ni"):
        rma_glmm_plo([3, 5], [2, 10])
    with pytest.raises(AnalysisError, match="no events"):
        rma_glmm_plo([0, 0, 0], [10, 12, 9])


def test_cli_pool_glmm(tmp_path, capsys):
    """``metareview pool --measure PLO --method GLMM`` gives the fixture's numbers."""

    spec = SPECS["dmvo_sich_ML"]
    d = spec["data"]
    path = tmp_path / "sich.csv"
    path.write_text(
        "study,xi,ni\n"
        + "".join(
            f"{s},{int(x)},{int(n)}\n" for s, x, n in zip(d["study"], d["xi"], d["ni"], strict=True)
        )
    )
    assert main(["pool", str(path), "--measure", "PLO", "--method", "GLMM"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = spec["tight"]
    _close(out["estimate"], ref["estimate"], 1e-6, "estimate")
    _close(out["back"]["estimate"], ref["back"]["estimate"], 1e-6, "back estimate")
    _close(out["q"], spec["default"]["q_wald"], 1e-9, "q (Wald)")
    _close(out["q_lrt"], spec["default"]["q_lrt"], 1e-9, "q_lrt")
    assert out["method"] == "GLMM" and out["k"] == ref["k"]
    assert [s["back"]["ci_lb"] for s in out["studies"]] == pytest.approx(
        spec["studies"]["cp_lb"], abs=1e-12
    )
    assert main(["pool", str(path), "--measure", "OR", "--method", "GLMM"]) == 2
