"""The report layer: the methods paragraph from the protocol, and what the report tables
show (applicability of heterogeneity statistics, prediction intervals, studies in Q, the
reasons of analyses not computed, figures not drawn)."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from metareview.present.methods import UNREGISTERED_TAG, methods_paragraph, prespecified_tag
from metareview.present.tables import (
    DASH,
    FIT_COLUMNS,
    contour_caption,
    fit_table,
    funnel_caption,
    influence_table,
    main_table,
    subgroup_tables,
)
from metareview.stages import report

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "workflow" / "templates" / "report.html.j2"


def protocol(**extra):
    base = {
        "review_id": "r",
        "title": "A review",
        "arms": {"intervention": "evt", "control": "control"},
        "defaults": {"measure": "OR", "method": "REML", "test": "z", "level": 95},
        "outcomes": [{"id": "a", "label": "Outcome A", "role": "primary"}],
    }
    return {**base, **extra}


REGISTERED = {"registration": {"registry": "PROSPERO", "id": "CRD1"}}


def methods(p, **kw) -> str:
    """The methods paragraph as text (it is HTML: protocol texts escaped)."""
    return html.unescape(str(methods_paragraph(p, **kw)))


def rfit(k=5, model="RE", **kw):
    """A pooled fit dictionary (Fit.to_dict() fields the report reads)."""
    back = {"estimate": 1.5, "ci_lb": 1.1, "ci_ub": 2.0, "pi_lb": 0.8, "pi_ub": 2.9}
    out = {
        "pooled": True,
        "measure": "OR",
        "model": model,
        "method": "REML" if model == "RE" else model,
        "test": "z",
        "k": k,
        "estimate": 0.4,
        "stat": 2.5,
        "pval": 0.01,
        "tau2": 0.05 if model == "RE" else None,
        "tau2_ci_lb": 0.0 if model == "RE" else None,
        "tau2_ci_ub": 0.5 if model == "RE" else None,
        "i2": 30.0,
        "i2_ci_lb": 0.0,
        "i2_ci_ub": 80.0,
        "h2": 1.4,
        "q": 5.7,
        "q_df": k - 1,
        "q_pval": 0.2,
        "back": back,
        "studies": [{"study": f"S{i}"} for i in range(k)],
        "warnings": [],
    }
    out.update(kw)
    return out


# --------------------------------------------------------------------------- methods


def test_rob_planned_when_no_judgement_is_recorded():
    p = protocol(risk_of_bias={"tool": "rob2"}, **REGISTERED)
    text = methods(p, rob_recorded=False)
    assert "Risk of bias was assessed" not in text
    assert "Risk of bias is to be assessed with RoB 2" in text
    assert "no judgements are recorded yet" in text and "no risk-of-bias columns" in text
    assert "Risk of bias was assessed with RoB 2." in methods(p, rob_recorded=True)


def test_unregistered_protocol_is_not_called_pre_specified():
    p = protocol(subgroups=[{"id": "g", "column": "region", "label": "Region"}])
    assert prespecified_tag(p) == UNREGISTERED_TAG
    assert prespecified_tag({**p, **REGISTERED}) == "pre-specified"
    text = methods(p)
    assert "cannot be verified against a registration" in text
    assert "pre-specified" not in text.replace("whether the analyses were pre-specified", "")
    assert "Region, planned in the protocol" in text
    registered = methods({**p, **REGISTERED})
    assert "registered with PROSPERO (CRD1)" in registered and "Region, pre-specified" in registered


def test_zero_cell_handling_of_the_primary_analysis():
    default = methods(protocol())
    assert (
        "Zero cells in the primary analyses: 0.5 was added to all cells of studies with a zero "
        "cell; studies with no events in either arm (or only events in both) were kept, with the "
        "correction (metafor's default)."
    ) in default
    p = protocol()
    p["outcomes"] = [
        {"id": "a", "label": "A", "role": "primary", "drop00": True, "to": "all"},
        {"id": "b", "label": "B", "role": "secondary", "add": 0, "to": "none"},
        {"id": "c", "label": "C", "role": "secondary", "method": "MH"},
    ]
    text = methods(p)
    assert (
        "Zero cells (A): 0.5 was added to all cells of every study; studies with no events in "
        "either arm (or only events in both) were left out (drop00)."
    ) in text
    assert (
        "Zero cells (B): no continuity correction was added, so studies with a zero cell "
        "have no estimable log odds ratio" in text
    )
    assert (
        "Zero cells (C): the Mantel-Haenszel estimate pools the 2×2 tables without a "
        "continuity correction" in text
    )
    assert "(drop00) (metafor's default)" in text  # MH drops double-zero tables by default


def test_prediction_interval_and_subgroup_test_are_stated():
    p = protocol(subgroups=[{"id": "g", "column": "region"}])
    text = methods(p)
    assert "estimate ± z·√(SE² + tau²)" in text and "3 or more studies" in text
    assert (
        "printed in the subgroup forest plots, and taken as the primary one, is Cochran's Q "
        "over the random-effects subgroup estimates" in text
    )
    assert "fixed-effect Q-between (metafor's QM) is shown beside it" in text
    knha = protocol(defaults={"measure": "OR", "method": "REML", "test": "knha", "level": 95})
    assert "estimate ± t·√(SE² + tau²), with the t quantile with k-1 degrees" in methods(knha)
    fe = protocol(
        defaults={"measure": "OR", "method": "FE", "test": "z", "level": 95},
        subgroups=[{"id": "g", "column": "region"}],
    )
    text = methods(fe)
    assert "Prediction intervals" not in text
    assert "taken as the primary one, is the fixed-effect Q-between" in text


def test_exclusion_uses_its_label_or_shows_the_filter_as_code():
    p = protocol(
        sensitivity=[
            {"id": "x", "kind": "exclude", "filter": "category == basilar", "label": "No <b>"},
            {"id": "y", "kind": "exclude", "filter": "region == Asia"},
        ]
    )
    text = str(methods_paragraph(p))
    assert "category == basilar" not in text
    assert "re-analysis excluding studies “No &lt;b&gt;”" in text
    assert "re-analysis excluding studies (<code>region == Asia</code>)" in text


# --------------------------------------------------------------------------- tables


def test_prediction_interval_needs_three_studies():
    two = main_table(rfit(k=2))
    col = two["columns"].index("Prediction interval")
    assert two["row"][col] == DASH
    assert "not shown for fewer than 3 studies (k = 2)" in two["notes"][0]
    three = main_table(rfit(k=3))
    assert three["row"][col] == "0.80 to 2.90" and three["notes"] == []
    fe = main_table(rfit(k=5, model="FE"))
    assert fe["row"][col] == DASH and fe["row"][fe["columns"].index("tau² [95% CI]")] == DASH


def test_main_table_names_the_studies_in_q():
    mh = main_table(rfit(k=17, model="MH", q_df=12))
    assert any("Q, I² and H² on 13 of 17 studies" in n for n in mh["notes"])


def test_fit_table_heterogeneity_applicability_and_reasons():
    single = rfit(k=1, q_df=0, tau2=0.0, i2=0.0)
    table = fit_table(
        [
            ("single", single, ""),
            ("FE", rfit(k=4, model="FE"), ""),
            ("failed", None, "model did not converge"),
            ("not pooled", {"pooled": False, "warnings": ["only one study (k = 1)"]}, ""),
        ],
        "OR",
    )
    rows = {r[0]: r for r in table["rows"]}
    assert rows["single"][4:] == [DASH, DASH]
    assert rows["FE"][4] == DASH and rows["FE"][5] == "30%"
    assert rows["failed"][2] == "not computed: model did not converge"
    assert rows["not pooled"][2] == "not computed: only one study (k = 1)"
    assert table["columns"][-1] == "I²"  # no "Q, I² on" column: Q uses every study


def test_fit_table_shows_studies_in_q_when_they_differ_from_k():
    table = fit_table([("REML", rfit(k=17), ""), ("MH", rfit(k=17, model="MH", q_df=12), "")], "OR")
    assert table["columns"][-1] == "Q, I² on"
    assert [r[-1] for r in table["rows"]] == ["17", "13"]
    assert any("log odds ratio" in n and "Mantel-Haenszel" in n for n in table["notes"])


def test_subgroup_levels_with_one_study_show_no_heterogeneity():
    one = rfit(k=1, model="single", q_df=0, tau2=0.0, i2=0.0)
    result = {
        "subgroups": [{**rfit(k=3), "level": "Europe"}, {**one, "level": "Asia"}],
        "overall": rfit(k=4),
        "test_between_fe": {"q": 3.0, "df": 1, "pval": 0.08},
        "test_between_re": {"q": 2.0, "df": 1, "pval": 0.16},
    }
    levels, tests = subgroup_tables(result, "OR", "REML", {"Asia": "Asia-Pacific"}, "All studies")
    rows = levels["rows"]
    assert rows[0][3:] == ["30%", "0.050"] and rows[1][3:] == [DASH, DASH]
    assert [r[0] for r in rows] == ["Europe", "Asia-Pacific", "All studies"]
    assert tests["rows"][1][0].endswith("(primary)") and not tests["rows"][0][0].endswith(
        "(primary)"
    )
    # fixed effect: the Q-between is the primary test, and tau² is not estimated
    levels, tests = subgroup_tables(
        {**result, "overall": rfit(k=4, model="FE"), "test_between_re": None},
        "OR",
        "FE",
        {},
        "All studies",
    )
    assert tests["rows"][0][0].endswith("(primary)")
    assert "tau²: not estimated by a fixed-effect model." in levels["notes"]


def test_influence_footnote_states_metafors_criteria():
    inf = {
        "k": 9,
        "model": "RE",
        "criteria": {"dffits": 3 * (1 / 8) ** 0.5, "cook_d_pchisq": 0.5, "hat": 1 / 3, "dfbs": 1.0},
        "studies": [
            {"study": "A", "dffits": 0.2, "cook_d": 0.1, "hat": 0.4, "dfbs": 0.2, "inf": True},
            {"study": "B", "dffits": 0.1, "cook_d": 0.01, "hat": 0.1, "dfbs": 0.1, "inf": False},
        ],
    }
    table = influence_table(inf, ["A", "B"])
    note = table["notes"][0]
    assert "|DFFITS| > 3·√(p/(k − p)) = 1.06" in note
    assert "Cook's D > 0.45" in note and "hat > 3p/k = 0.33" in note and "|DFBETAS| > 1" in note
    assert [r[-1] for r in table["rows"]] == ["yes (hat)", ""]


def test_funnel_captions_say_what_is_drawn():
    funnel = {"level": 95, "contours": [{"p": 0.1}, {"p": 0.05}, {"p": 0.01}]}
    none_filled = {"k0": 0, "estimator": "L0", "side": "right"}
    caption = funnel_caption(funnel, none_filled)
    assert "imputed no studies, so none is drawn" in caption and "open circles" not in caption
    assert "below 0.10, 0.05 and 0.01" in contour_caption(funnel)
    two = funnel_caption(funnel, {**none_filled, "k0": 2})
    assert "Open circles: the 2 studies imputed" in two
    assert "trim" not in funnel_caption(funnel, None)  # trim and fill not planned


# --------------------------------------------------------------------------- whole report


def write(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")


@pytest.fixture
def review(tmp_path):
    yaml_text = (
        "review_id: r\ntitle: A review\narms: {intervention: evt, control: control}\n"
        "outcomes:\n  - {id: a, label: Outcome A, role: primary, direction: higher_is_better}\n"
        "  - {id: b, label: Outcome B, role: secondary, direction: higher_is_better}\n"
        "sensitivity:\n  - {id: excl, kind: exclude, filter: region == Asia}\n"
    )
    proto = tmp_path / "r.yaml"
    proto.write_text(yaml_text)
    res = tmp_path / "results"
    write(
        res / "extraction" / "validation.json", {"studies": 1, "extraction_rows": 2, "warnings": []}
    )
    single = {
        "pooled": False,
        "k": 1,
        "measure": "OR",
        "model": None,
        **dict.fromkeys(["estimate", "pval", "tau2", "i2", "q", "q_df", "stat"]),
        "back": dict.fromkeys(["estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub"]),
        "studies": [{"study": "S1", "n1i": 10, "n2i": 10}],
        "warnings": ["outcome 'a': only one study (k = 1)"],
    }
    write(res / "pooled" / "a.json", single)
    write(res / "forest" / "a.svg", '<svg width="10pt" gid="forest-a"></svg>')
    write(
        res / "pooled" / "b.json",
        {**single, "k": 0, "studies": [], "warnings": ["outcome 'b': no study has data"]},
    )
    write(res / "forest" / "b.svg", '<svg width="10pt" gid="forest-b"></svg>')
    write(
        res / "sensitivity" / "a" / "index.json",
        {
            "analyses": [
                {
                    "id": "excl",
                    "kind": "exclude",
                    "title": "Sensitivity: excluding region == Asia",
                    "post_hoc": False,
                    "notes": [],
                    "figures": [],
                    "result": "sensitivity/a/excl.json",
                    "tables": [
                        {
                            "columns": FIT_COLUMNS,
                            "rows": [["All studies", *[DASH] * 5], ["Excl", *[DASH] * 5]],
                        }
                    ],
                }
            ]
        },
    )
    write(res / "sensitivity" / "a" / "excl.json", {"fit": None, "error": "excl: k = 1"})
    return proto, res


def test_report_of_an_unregistered_review_without_published_values(review, tmp_path):
    proto, res = review
    out = tmp_path / "report.html"
    report.build_report(proto, TEMPLATE, res, out, tmp_path / "audit.json")
    html = out.read_text()
    assert "No published values to audit" in html and "Reproduced: 0" not in html
    assert f'<span class="tag">{UNREGISTERED_TAG}</span>' in html
    assert "No deviations from the registered protocol" not in html
    assert "forest-a" in html and "forest-b" not in html  # nothing to draw for k = 0
    assert "No forest plot: no study has data for this outcome (k = 0)." in html
    assert "Sensitivity: excluding region == Asia" in html  # the index, rendered as written
    audit = json.loads((tmp_path / "audit.json").read_text())
    assert audit["values"] == []


def test_subgroup_test_names():
    result = {
        "subgroups": [{**rfit(k=3), "level": "a"}, {**rfit(k=2), "level": "b"}],
        "overall": rfit(k=5),
        "test_between_fe": {"q": 3.0, "df": 1, "pval": 0.08},
        "test_between_re": {"q": 2.0, "df": 1, "pval": 0.16},
    }
    _, tests = subgroup_tables(result, "OR", "REML", {}, "All studies")
    assert [r[0] for r in tests["rows"]] == [
        "Fixed-effect Q-between (metafor's QM)",
        "Random-effects Q over the subgroup estimates, each with its own tau² (primary)",
    ]
    mh = {**result, "overall": rfit(k=5, model="MH"), "test_between_re": None}
    _, tests = subgroup_tables(mh, "OR", "MH", {}, "All studies")
    assert [r[0] for r in tests["rows"]] == [
        "Q over the Mantel-Haenszel subgroup estimates (primary)"
    ]
