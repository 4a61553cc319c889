"""Summary of findings: absolute effects against hand computations from the GRADE Handbook's
formulas (section 5.2.2), and each proposed-judgement rule of metareview.present.grade at its
thresholds."""

from __future__ import annotations

import pytest

from metareview.engine.absolute import (
    absolute_effect,
    corresponding_risk,
    median_risk,
    optimal_information_size,
)
from metareview.present import grade

# ----------------------------------------------------------------- absolute effects


def test_corresponding_risk_from_an_odds_ratio():
    # OR x ACR / (1 - ACR + OR x ACR): 2 x 0.2 / (1 - 0.2 + 0.4) = 0.4 / 1.2 = 1/3
    assert corresponding_risk("OR", 2.0, 0.2) == pytest.approx(1 / 3, abs=1e-12)
    # OR 0.5, ACR 0.4: 0.2 / (0.6 + 0.2) = 0.25
    assert corresponding_risk("OR", 0.5, 0.4) == pytest.approx(0.25, abs=1e-12)
    assert corresponding_risk("PETO", 0.5, 0.4) == pytest.approx(0.25, abs=1e-12)
    # OR 1: no change
    assert corresponding_risk("OR", 1.0, 0.37) == pytest.approx(0.37, abs=1e-12)


def test_corresponding_risk_from_a_risk_ratio_and_difference():
    assert corresponding_risk("RR", 0.5, 0.3) == pytest.approx(0.15, abs=1e-12)
    assert corresponding_risk("RR", 1.5, 0.2) == pytest.approx(0.30, abs=1e-12)
    assert corresponding_risk("RR", 4.0, 0.5) == 1.0  # capped: a risk is at most 1
    assert corresponding_risk("RD", -0.05, 0.2) == pytest.approx(0.15, abs=1e-12)
    with pytest.raises(ValueError):
        corresponding_risk("PLO", 0.5, 0.2)
    with pytest.raises(ValueError):
        corresponding_risk("OR", 2.0, 1.2)


def test_absolute_effect_per_1000_with_its_ci():
    # OR 2.00 (1.50 to 3.00), ACR 0.20:
    #   CR = 0.4 / 1.2 = 0.33333 -> 333 per 1,000; RD = +133.33
    #   lower: 0.3 / (0.8 + 0.3) = 0.27273 -> RD +72.73
    #   upper: 0.6 / (0.8 + 0.6) = 0.42857 -> RD +228.57
    a = absolute_effect("OR", 2.0, 1.5, 3.0, 0.2)
    assert a.risk_comparator == pytest.approx(200.0)
    assert a.risk_intervention == pytest.approx(333.3333333, abs=1e-6)
    assert a.difference == pytest.approx(133.3333333, abs=1e-6)
    assert a.difference_lb == pytest.approx(72.7272727, abs=1e-6)
    assert a.difference_ub == pytest.approx(228.5714286, abs=1e-6)
    # RR 0.80 (0.60 to 1.10), ACR 0.25: CR 0.20 (RD -50), 0.15 (-100), 0.275 (+25)
    b = absolute_effect("RR", 0.8, 0.6, 1.1, 0.25)
    assert (b.difference, b.difference_lb, b.difference_ub) == pytest.approx((-50, -100, 25))
    assert grade.absolute_text(b.difference, b.difference_lb, b.difference_ub) == (
        "50 fewer per 1,000 (from 100 fewer to 25 more)"
    )


def test_median_risk_and_optimal_information_size():
    assert median_risk([1, 2, 3], [10, 10, 10]) == pytest.approx(0.2)
    assert median_risk([1, 3], [10, 10]) == pytest.approx(0.2)  # mean of the middle two
    assert median_risk([1, 5], [10, 0]) == pytest.approx(0.1)  # an empty group left out
    assert median_risk([], []) is None
    # p0 0.20, p1 0.15, z = 1.959964 + 0.841621 = 2.801585, z^2 = 7.848879;
    # n per group = 7.848879 x (0.16 + 0.1275) / 0.05^2 = 902.62 -> 903; total 1,806
    assert optimal_information_size(0.2) == 1806
    # p0 0.10, p1 0.075: 7.848879 x (0.09 + 0.069375) / 0.025^2 = 2001.46 -> 2002; 4,004
    assert optimal_information_size(0.1) == 4004
    assert optimal_information_size(0.0) is None


# ----------------------------------------------------------------- risk of bias


def test_risk_of_bias_rated_down_from_half_the_weight_at_high_risk():
    assessed = {"a", "b", "c"}
    at = grade.propose_risk_of_bias({"a": 50, "b": 30, "c": 20}, {"a"}, assessed)
    assert (at.rating, at.change, at.source) == ("serious", -1, "proposed")
    below = grade.propose_risk_of_bias({"a": 49.9, "b": 30.1, "c": 20}, {"a"}, assessed)
    assert below.rating == "not serious"


def test_risk_of_bias_not_assessed_when_most_weight_has_no_judgement():
    j = grade.propose_risk_of_bias({"a": 50, "b": 50}, set(), {"a"})
    assert (j.rating, j.change) == ("not assessed", 0)
    assert "overstated" in j.reason
    j = grade.propose_risk_of_bias({"a": 50.1, "b": 49.9}, set(), {"a"})
    assert j.rating == "not serious"


# ----------------------------------------------------------------- inconsistency


def _inc(i2, q, pi=(0.5, 2.0), ci=(1.1, 1.5), k=5):
    return grade.propose_inconsistency(k, i2, q, ci, pi, 1.0).rating


def test_inconsistency_thresholds():
    assert _inc(49.9, 0.001) == "not serious"  # below substantial I²
    assert _inc(50.0, 0.09, pi=(1.05, 2.0)) == "serious"  # I² 50 and Q p < 0.10
    assert _inc(50.0, 0.10, pi=(1.05, 2.0)) == "not serious"  # Q p not below 0.10
    assert _inc(50.0, 0.5) == "serious"  # the PI includes no effect, the CI does not
    assert _inc(74.9, 0.001) == "serious"
    assert _inc(75.0, 0.001) == "very serious"  # considerable, Q and the PI
    assert _inc(75.0, 0.001, pi=(1.05, 2.0)) == "serious"  # the PI excludes no effect
    assert _inc(75.0, 0.001, ci=(0.9, 1.5)) == "serious"  # the CI includes it too
    assert _inc(80.0, 0.5, k=2) == "not serious"  # no PI for 2 studies; Q not significant
    assert _inc(None, None, k=1) == "not serious"


# ----------------------------------------------------------------- imprecision


def test_imprecision_against_the_null_and_the_ratio_limits():
    imp = grade.propose_imprecision
    assert imp((10, 50), 0, (1.1, 1.3), 5000, 1000).rating == "not serious"
    assert imp((-1, 50), 0, (0.95, 1.3), 5000, 1000).rating == "serious"
    # CI includes no effect and both 0.75 and 1.25
    assert imp((-60, 50), 0, (0.74, 1.26), 5000, 1000).rating == "very serious"
    assert imp((-60, 50), 0, (0.75, 1.26), 5000, 1000).rating == "serious"
    # precise CI but fewer participants than the optimal information size
    assert imp((10, 50), 0, (1.1, 1.3), 999, 1000).rating == "serious"
    assert imp((10, 50), 0, (1.1, 1.3), 1000, 1000).rating == "not serious"
    assert imp(None, 0, None, None, None).rating == "not assessed"


def test_imprecision_against_a_threshold_of_importance():
    imp = grade.propose_imprecision
    assert imp((-25, 10), 20, None, 10**6, 1).rating == "serious"  # crosses -20
    assert imp((-19, 10), 20, None, 10**6, 1).rating == "not serious"  # within +-20
    assert imp((-20, 20), 20, None, 10**6, 1).rating == "not serious"  # at the limits
    assert imp((-21, 21), 20, None, 10**6, 1).rating == "very serious"  # both sides
    assert imp((25, 60), 20, None, 10**6, 1).rating == "not serious"  # all important


# ----------------------------------------------------------------- publication bias


def test_publication_bias_needs_ten_studies_and_prefers_harbord_for_or():
    pb = grade.propose_publication_bias
    assert pb("OR", 9, {"egger": 0.001}).rating == "undetected"
    assert "too few" in pb("OR", 9, {"egger": 0.001}).reason
    assert pb("OR", 10, {"egger": 0.5, "harbord": 0.099}).rating == "strongly suspected"
    assert pb("OR", 10, {"egger": 0.001, "harbord": 0.10}).rating == "undetected"
    assert pb("RR", 10, {"egger": 0.099, "harbord": 0.5}).rating == "strongly suspected"
    assert pb("OR", 12, {}).rating == "undetected"


# ----------------------------------------------------------------- rating up, certainty


def test_large_effect_only_for_non_randomised_studies():
    assert grade.propose_large_effect("rct", 10.0).rating == "none"
    assert grade.propose_large_effect("observational", 1.99).rating == "none"
    assert grade.propose_large_effect("observational", 2.0).rating == "large"
    assert grade.propose_large_effect("observational", 0.5).rating == "large"
    assert grade.propose_large_effect("observational", 5.0).rating == "very large"
    assert grade.propose_large_effect("observational", 0.2).rating == "very large"


def test_certainty_starts_by_design_and_is_bounded():
    j = grade.Judgement
    rct = grade.certainty("rct", [j("imprecision", "serious", "r", "protocol")])
    assert (rct["level"], rct["label"], rct["symbols"]) == (3, "Moderate", "⊕⊕⊕◯")
    assert rct["proposed"] is False
    worst = grade.certainty(
        "rct",
        [
            j("risk_of_bias", "very serious", "r", "protocol"),
            j("imprecision", "very serious", "r", "protocol"),
        ],
    )
    assert (worst["level"], worst["label"]) == (1, "Very low")
    obs = grade.certainty("observational", [j("large_effect", "very large", "r", "protocol")])
    assert (obs["start"], obs["label"]) == ("Low", "High")
    prop = grade.certainty("rct", [grade.not_from_data("indirectness")])
    assert prop["proposed"] is True and prop["not_assessed"] == ["Indirectness"]


def test_informative_statements():
    s = grade.statement
    assert s("Aspirin", "Mortality", 4, True, True) == "Aspirin reduces mortality."
    assert s("Aspirin", "Mortality", 3, True, False) == "Aspirin probably increases mortality."
    assert s("Aspirin", "Mortality", 2, True, True) == "Aspirin may reduce mortality."
    assert s("Aspirin", "Mortality", 3, False, True) == (
        "Aspirin probably results in little to no difference in mortality."
    )
    assert s("Aspirin", "Mortality", 2, False, True) == (
        "Aspirin may result in little to no difference in mortality."
    )
    assert s("Aspirin", "sICH", 1, True, True) == (
        "The evidence is very uncertain about the effect of aspirin on sICH."
    )
    assert grade.important_effect(-5, (-10, -1), 0) is True
    assert grade.important_effect(-5, (-10, 1), 0) is False
    assert grade.important_effect(-19.9, (-30, -10), 20) is False
    assert grade.important_effect(-20, (-30, -10), 20) is True


def test_texts():
    assert grade.relative_text("OR", 2.2008, 1.4675, 3.3005, 95) == "OR 2.20 (1.47 to 3.30)"
    assert grade.participants_text(2518, "rct", 9) == "2,518 (9 RCTs)"
    assert grade.participants_text(529, "rct", 1) == "529 (1 RCT)"
    assert grade.difference_text(-0.4) == "0 fewer"
    assert grade.per_1000(199.6) == "200"


# ----------------------------------------------------------------- the stage


def test_summary_of_findings_row_uses_the_protocols_judgements(tmp_path):
    import json

    from metareview.io import write_csv
    from metareview.stages.sof import summary_of_findings

    res = tmp_path / "results" / "demo"
    (res / "pooled").mkdir(parents=True)
    fit = {
        "pooled": True,
        "measure": "OR",
        "level": 95,
        "k": 2,
        "i2": 0.0,
        "q_pval": 0.9,
        "back": {"estimate": 0.5, "ci_lb": 0.3, "ci_ub": 0.8, "pi_lb": None, "pi_ub": None},
        "studies": [
            {"study": "A", "weight": 60.0, "excluded": None},
            {"study": "B", "weight": 40.0, "excluded": None},
        ],
    }
    (res / "pooled" / "death.json").write_text(json.dumps(fit))
    write_csv(
        res / "extraction" / "by_outcome" / "death.csv",
        ["study", "ai", "n1i", "ci", "n2i", "design"],
        [
            {"study": "A", "ai": 10, "n1i": 1000, "ci": 20, "n2i": 1000, "design": "rct"},
            {"study": "B", "ai": 10, "n1i": 1000, "ci": 30, "n2i": 1000, "design": "rct"},
        ],
    )
    protocol = {
        "review_id": "demo",
        "title": "Demo",
        "arms": {"intervention": "evt", "control": "control", "intervention_label": "EVT"},
        "defaults": {},
        "outcomes": [
            {
                "id": "death",
                "label": "Death",
                "direction": "lower_is_better",
                "certainty": {
                    "risk_of_bias": {"rating": "serious", "reason": "unblinded"},
                    "indirectness": {"rating": "not serious", "reason": "same population"},
                    "comparator_risk": {"risk": 0.1, "source": "a national registry"},
                },
            }
        ],
    }
    row = summary_of_findings(protocol, res)["outcomes"][0]
    # ACR 0.10 from the protocol: OR 0.5 -> 0.05 / (0.9 + 0.05) = 0.052632, RD -47.37
    assert row["acr"] == 0.1 and row["absolute"]["difference"] == pytest.approx(-47.368421)
    assert row["texts"]["risk_comparator"] == "100 per 1,000"
    assert row["texts"]["participants"] == "4,000 (2 RCTs)"
    domains = {d["domain"]: d for d in row["certainty"]["domains"]}
    assert domains["risk_of_bias"]["source"] == "protocol"
    assert domains["inconsistency"]["source"] == "proposed"
    # 4,000 participants < OIS at 10% (4,004): imprecision serious; RoB serious -> low
    assert domains["imprecision"]["rating"] == "serious"
    assert row["certainty"]["label"] == "Low"
    assert row["texts"]["statement"] == "EVT may reduce death."
    assert any("a national registry" in f for f in row["footnotes"])
    assert any("(reviewers' judgement): unblinded" in f for f in row["footnotes"])


def test_a_pooled_proportion_is_a_rate_not_an_effect():
    # the stenting-group mortality of the rescue-stenting review (metafor rma.glmm PLO,
    # tests/reference/fixtures_bundled_cohorts.json): 0.2500 (0.1530 to 0.3811)
    assert grade.proportion_text(0.25, 0.153, 0.3811, 95) == "Rate 25.0% (15.3% to 38.1%)"
    assert grade.proportion_text(0.25, 0.153, 0.3811, 90).endswith("(90% CI)")
    text = grade.proportion_statement("Mortality in the stenting group", 1)
    assert "not a comparison" in text and "very low certainty about mortality" in text
    assert "effect of" not in text
