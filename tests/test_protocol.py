"""Loading review protocols: schema validation, defaults, cross-checks, effective settings."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from metareview.errors import InputError, InputErrors
from metareview.inputs.protocol import (
    CONFIG_SCHEMA_PATH,
    SCHEMA_PATH,
    fill_defaults,
    load_config,
    load_protocol,
    outcome_arms,
    outcome_ids,
    outcome_settings,
    parse_filter,
    protocol_arms,
    read_yaml,
    selected_outcomes,
    yaml_path,
)
from metareview.inputs.tables import load_extraction, load_studies

ROOT = Path(__file__).resolve().parent.parent
REVIEWS = sorted((ROOT / "config" / "reviews").glob("*.yaml"))

BASE = {
    "review_id": "demo",
    "title": "Demo review",
    "arms": {"intervention": "evt", "control": "control"},
    "outcomes": [
        {"id": "mrs02", "label": "mRS 0-2", "direction": "higher_is_better", "role": "primary"},
        {"id": "death", "label": "Death", "direction": "lower_is_better"},
    ],
}


def write_protocol(tmp_path: Path, data: dict | str, name: str = "demo") -> Path:
    path = tmp_path / f"{name}.yaml"
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def with_changes(**changes) -> dict:
    data = copy.deepcopy(BASE)
    data.update(copy.deepcopy(changes))
    return data


def error_of(path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        load_protocol(path)
    return info.value


def assert_located(err: InputError, path: Path, line: int | None, key: str | None):
    text = str(err)
    assert err.file == str(path) and text.startswith(str(path))
    assert err.column == key
    if key is not None:
        assert f"key '{key}'" in text
    if line is not None:
        assert err.row == line
        assert f"line {line}" in text


# --------------------------------------------------------------------------- bundled


@pytest.mark.parametrize("path", REVIEWS, ids=[p.stem for p in REVIEWS])
def test_bundled_protocols_load_with_their_data(path):
    protocol = load_protocol(path)
    assert protocol["review_id"] == path.stem
    raw = ROOT / "data" / "raw" / path.stem
    studies = load_studies(raw / "studies.csv")
    extraction = load_extraction(
        raw / "extraction.csv", studies, set(outcome_ids(protocol)), protocol_arms(protocol)
    )
    for oid in outcome_ids(protocol):
        settings = outcome_settings(protocol, oid)
        assert set(settings) == {
            "measure",
            "method",
            "test",
            "level",
            "add",
            "to",
            "drop00",
            "correction",
        }
        assert len(outcome_arms(protocol, oid)) in (1, 2)
    if path.stem == "dmvo-mt-vs-bmm":
        assert any("'DISCOUNT' has no rows" in w.message for w in extraction.warnings)


def test_dmvo_protocol_values():
    protocol = load_protocol(ROOT / "config" / "reviews" / "dmvo-mt-vs-bmm.yaml")
    assert outcome_ids(protocol) == ["mrs02", "mrs02-m2", "mrs01", "sich", "death"]
    assert outcome_settings(protocol, "mrs02") == {
        "measure": "OR",
        "method": "REML",
        "test": "z",
        "level": 95,
        "add": 0.5,
        "to": "only0",
        "drop00": False,
        "correction": "constant",
    }
    assert outcome_arms(protocol, "death") == ("evt", "control")
    assert protocol["outcomes"][0]["reported"]["estimate"] == 0.81
    assert protocol["outcomes"][1]["role"] == "secondary"
    assert protocol["subgroups"] == []
    assert [a["id"] for a in protocol["sensitivity"]] == ["models", "zero-cells"]
    assert all(a["post_hoc"] for a in protocol["sensitivity"])


def test_snakemake_validate_accepts_schema_and_fills_same_defaults():
    snakemake_utils = pytest.importorskip("snakemake.utils")
    path = ROOT / "config" / "reviews" / "dmvo-mt-vs-bmm.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    snakemake_utils.validate(data, str(SCHEMA_PATH))
    assert data == load_protocol(path)
    config = {"reviews": ["dmvo-mt-vs-bmm"]}
    snakemake_utils.validate(config, str(CONFIG_SCHEMA_PATH))
    assert config["results_dir"] == "results"


# --------------------------------------------------------------------------- defaults and settings


def test_defaults_are_filled(tmp_path):
    protocol = load_protocol(write_protocol(tmp_path, BASE))
    assert protocol["defaults"] == {
        "measure": "OR",
        "method": "REML",
        "test": "z",
        "level": 95,
        "add": None,
        "to": "only0",
        "drop00": None,
        "correction": "constant",
    }
    death = protocol["outcomes"][1]
    assert (death["role"], death["prespecified"], death["post_hoc"]) == ("secondary", True, False)
    assert protocol["subgroups"] == [] and protocol["small_study"] == []


def test_outcome_overrides_defaults(tmp_path):
    data = with_changes(defaults={"method": "DL", "test": "knha", "add": 0.25})
    data["outcomes"][1].update(measure="RR", method="MH", test="z", drop00=False)
    protocol = load_protocol(write_protocol(tmp_path, data))
    assert outcome_settings(protocol, "mrs02") == {
        "measure": "OR",
        "method": "DL",
        "test": "knha",
        "level": 95,
        "add": 0.25,
        "to": "only0",
        "drop00": False,
        "correction": "constant",
    }
    death = outcome_settings(protocol, "death")
    assert (death["measure"], death["method"], death["test"], death["drop00"]) == (
        "RR",
        "MH",
        "z",
        False,
    )


def test_null_add_and_drop00_resolve_to_metafor_defaults(tmp_path):
    data = with_changes(arms={"single": "evt"})
    data["outcomes"] = [
        {
            "id": "recan",
            "label": "Recanalisation",
            "direction": "higher_is_better",
            "measure": "PFT",
        },
        {"id": "logit", "label": "Logit", "direction": "higher_is_better", "measure": "PLO"},
    ]
    protocol = load_protocol(write_protocol(tmp_path, data))
    assert outcome_settings(protocol, "recan")["add"] == 0.0
    assert outcome_settings(protocol, "logit")["add"] == 0.5
    assert outcome_arms(protocol, "recan") == ("evt",)
    assert protocol_arms(protocol) == {"evt"}

    data = with_changes(defaults={"method": "MH"})
    protocol = load_protocol(write_protocol(tmp_path, data))
    assert outcome_settings(protocol, "death")["drop00"] is True


def test_single_arm_outcome_in_two_arm_review(tmp_path):
    data = copy.deepcopy(BASE)
    data["outcomes"].append(
        {"id": "tici", "label": "mTICI 2b-3", "direction": "higher_is_better", "measure": "PR",
         "arm": "stenting"}
    )  # fmt: skip
    protocol = load_protocol(write_protocol(tmp_path, data))
    assert outcome_arms(protocol, "tici") == ("stenting",)
    assert protocol_arms(protocol) == {"evt", "control", "stenting"}


def test_unknown_outcome_id_in_settings(tmp_path):
    protocol = load_protocol(write_protocol(tmp_path, BASE))
    with pytest.raises(KeyError, match="no outcome 'x'"):
        outcome_settings(protocol, "x")


def test_post_hoc_implies_not_prespecified(tmp_path):
    data = copy.deepcopy(BASE)
    data["outcomes"][1]["post_hoc"] = True
    protocol = load_protocol(write_protocol(tmp_path, data))
    assert protocol["outcomes"][1]["prespecified"] is False
    data["outcomes"][1]["prespecified"] = True
    err = error_of(write_protocol(tmp_path, data))
    assert err.column == "outcomes[1].prespecified"
    assert "both prespecified and post_hoc" in str(err)


def test_registration_date_is_text(tmp_path):
    data = with_changes(registration={"registry": "PROSPERO", "id": "CRD1"})
    text = yaml.safe_dump(data, sort_keys=False).replace("id: CRD1", "id: CRD1\n  date: 2025-02-03")
    protocol = load_protocol(write_protocol(tmp_path, text))
    assert protocol["registration"]["date"] == "2025-02-03"


def test_fill_defaults_does_not_share_default_objects():
    schema = {"type": "object", "properties": {"x": {"type": "array", "default": []}}}
    a, b = fill_defaults(schema, {}), fill_defaults(schema, {})
    a["x"].append(1)
    assert b["x"] == [] and schema["properties"]["x"]["default"] == []


# --------------------------------------------------------------------------- schema errors

PROTOCOL_TEXT = """\
review_id: demo
title: Demo
arms:
  intervention: evt
  control: control
defaults:
  measure: OR
outcomes:
  - id: mrs02
    label: mRS 0-2
    direction: higher_is_better
  - id: death
    label: Death
    direction: lower_is_better
    measure: OR
"""


def test_typo_at_top_level(tmp_path):
    path = write_protocol(tmp_path, PROTOCOL_TEXT + "subgroup: []\n")
    err = error_of(path)
    assert_located(err, path, 16, "subgroup")
    assert "unknown key 'subgroup' (did you mean 'subgroups'?)" in str(err)


def test_typo_in_outcome(tmp_path):
    path = write_protocol(tmp_path, PROTOCOL_TEXT.replace("    measure: OR", "    mesure: OR"))
    err = error_of(path)
    assert_located(err, path, 15, "outcomes[1].mesure")
    assert "unknown key 'mesure' (did you mean 'measure'?)" in str(err)
    assert "(in outcome 'death')" in str(err)


def test_bad_measure_lists_allowed_values(tmp_path):
    path = write_protocol(tmp_path, PROTOCOL_TEXT.replace("    measure: OR", "    measure: IRR"))
    err = error_of(path)
    assert_located(err, path, 15, "outcomes[1].measure")
    allowed = "OR, RR, RD, PR, PLN, PLO, PAS, PFT, MD, SMD, ROM, MN, HR, GEN"
    assert "'IRR' is not allowed" in str(err) and f"allowed: {allowed}" in str(err)


def test_bad_default_method_suggests_case(tmp_path):
    path = write_protocol(
        tmp_path, PROTOCOL_TEXT.replace("  measure: OR\nout", "  method: reml\nout")
    )
    err = error_of(path)
    assert_located(err, path, 7, "defaults.method")
    assert "did you mean 'REML'?" in str(err)
    assert "FE, MH, PETO, DL, REML, ML, PM, EB, SJ, HE, HS" in str(err)


@pytest.mark.parametrize("review_id", ["../demo", "demo/x", "-demo", "de mo"])
def test_review_id_pattern(tmp_path, review_id):
    path = write_protocol(tmp_path, with_changes(review_id=review_id))
    err = error_of(path)
    assert_located(err, path, 1, "review_id")
    assert "no path characters" in str(err)


def test_missing_required_key(tmp_path):
    data = copy.deepcopy(BASE)
    del data["outcomes"][0]["label"]
    path = write_protocol(tmp_path, data)
    err = error_of(path)
    assert_located(err, path, None, "outcomes[0].label")
    assert "missing required key 'label'" in str(err)


def test_wrong_type_and_range(tmp_path):
    data = with_changes(defaults={"level": 0.95, "add": "half"})
    with pytest.raises(InputErrors) as info:
        load_protocol(write_protocol(tmp_path, data))
    by_key = {e.column: str(e) for e in info.value.errors}
    assert "expected a number or null, got text ('half')" in by_key["defaults.add"]
    assert "confidence level in percent" in by_key["defaults.level"]


def test_control_needed_with_intervention(tmp_path):
    err = error_of(write_protocol(tmp_path, with_changes(arms={"intervention": "evt"})))
    assert err.column == "arms.control"
    assert "'intervention' is given, so 'control' is needed too" in str(err)


def test_outcome_selection_must_be_list_or_all(tmp_path):
    data = with_changes(subgroups=[{"id": "site", "column": "region", "outcomes": "some"}])
    err = error_of(write_protocol(tmp_path, data))
    assert err.column == "subgroups[0].outcomes"
    assert 'expected a list of outcome ids, or "all"' in str(err)


def test_exclude_needs_filter(tmp_path):
    data = with_changes(sensitivity=[{"id": "lowrob", "kind": "exclude"}])
    err = error_of(write_protocol(tmp_path, data))
    assert err.column == "sensitivity[0].filter"
    assert "missing required key 'filter'" in str(err)


# --------------------------------------------------------------------------- YAML problems


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_protocol(tmp_path / "demo.yaml")


def test_empty_file(tmp_path):
    err = error_of(write_protocol(tmp_path, ""))
    assert "a protocol is a YAML mapping (key: value), got an empty file" in str(err)


def test_invalid_yaml_names_line(tmp_path):
    path = write_protocol(tmp_path, "review_id: demo\ntitle: [unclosed\narms: {}\n")
    err = error_of(path)
    assert "invalid YAML" in str(err)
    assert err.row is not None and f"line {err.row}" in str(err)


def test_duplicate_yaml_key(tmp_path):
    path = write_protocol(
        tmp_path, PROTOCOL_TEXT.replace("title: Demo\n", "title: Demo\ntitle: B\n")
    )
    err = error_of(path)
    assert err.row == 3
    assert "duplicate key 'title' (first given on line 2)" in str(err)


# --------------------------------------------------------------------------- cross-checks


def test_review_id_must_equal_file_name(tmp_path):
    path = write_protocol(tmp_path, BASE, name="other")
    err = error_of(path)
    assert_located(err, path, 1, "review_id")
    assert "review_id 'demo' must equal the file name 'other'" in str(err)


def test_duplicate_outcome_ids(tmp_path):
    data = copy.deepcopy(BASE)
    data["outcomes"][1]["id"] = "mrs02"
    path = write_protocol(tmp_path, data)
    err = error_of(path)
    assert err.column == "outcomes[1].id"
    assert "duplicate id 'mrs02' (also outcomes[0], line" in str(err)


@pytest.mark.parametrize(
    ("changes", "key", "message"),
    [
        ({"method": "MH", "measure": "PR", "arm": "evt"}, "outcomes[1].method",
         "method MH works only with measure OR, RR, RD, not PR"),
        ({"method": "PETO", "measure": "RR"}, "outcomes[1].method",
         "method PETO works only with measure OR, not RR"),
        ({"method": "MH", "test": "knha"}, "outcomes[1].test",
         "test knha is not available with MH"),
        ({"measure": "PLO"}, "outcomes[1]", "pools one arm: give the outcome an 'arm'"),
        ({"arm": "evt"}, "outcomes[1].arm", "'arm' is for single-arm measures"),
        ({"measure": "PR", "arm": "evt", "correction": "treatment_arm"},
         "outcomes[1].correction", "the treatment-arm correction needs two arms"),
        ({"reported": {"estimate": 1.0, "ci_lb": 2.0, "ci_ub": 1.5}},
         "outcomes[1].reported.ci_lb", "reported ci_lb (2.0) > ci_ub (1.5)"),
        ({"reported": {"estimate": 3.0, "ci_lb": 1.0, "ci_ub": 1.5}},
         "outcomes[1].reported.estimate", "lies outside its CI"),
    ],
)  # fmt: skip
def test_outcome_cross_checks(tmp_path, changes, key, message):
    data = copy.deepcopy(BASE)
    data["outcomes"][1].update(changes)
    err = error_of(write_protocol(tmp_path, data))
    assert err.column == key
    assert message in str(err)
    assert err.row is not None


def test_two_arm_outcome_needs_intervention_and_control(tmp_path):
    err = error_of(write_protocol(tmp_path, with_changes(arms={"single": "evt"})))
    assert err.column == "arms.intervention"
    assert "compares two arms" in str(err)


def test_unknown_outcome_in_subgroup(tmp_path):
    data = with_changes(
        subgroups=[{"id": "site", "column": "region", "outcomes": ["mrs02", "mrs2"]}]
    )
    err = error_of(write_protocol(tmp_path, data))
    assert err.column == "subgroups[0].outcomes[1]"
    assert "unknown outcome 'mrs2' (did you mean 'mrs02'?)" in str(err)


def test_filter_errors(tmp_path):
    data = with_changes(
        sensitivity=[
            {"id": "a", "kind": "exclude", "filter": "rob_overall >= high"},
            {"id": "b", "kind": "leave_one_out", "filter": "rob_overall == high"},
            {"id": "c", "kind": "exclude", "filter": "rob_overall == high", "methods": ["DL"]},
        ]
    )
    with pytest.raises(InputErrors) as info:
        load_protocol(write_protocol(tmp_path, data))
    assert [e.column for e in info.value.errors] == [
        "sensitivity[0].filter",
        "sensitivity[1].filter",
        "sensitivity[2].methods",
    ]
    assert "cannot read filter 'rob_overall >= high'" in str(info.value)


def test_full_protocol_is_accepted(tmp_path):
    data = with_changes(
        registration={"registry": "PROSPERO", "id": "CRD420250651779"},
        pico={"population": "adults", "study_designs": ["rct"], "setting": "stroke units"},
        subgroups=[{"id": "site", "column": "occlusion_site", "label": "Site"}],
        sensitivity=[
            {"id": "loo", "kind": "leave_one_out"},
            {"id": "est", "kind": "methods", "methods": ["DL", "REML", "PM"]},
            {
                "id": "lowrob",
                "kind": "exclude",
                "filter": "rob_overall == high",
                "outcomes": ["death"],
            },
        ],
        small_study=[{"outcomes": "all", "tests": ["egger", "peters"]}],
    )
    protocol = load_protocol(write_protocol(tmp_path, data))
    assert protocol["subgroups"][0]["outcomes"] == "all"
    assert protocol["subgroups"][0]["post_hoc"] is False
    assert protocol["small_study"][0]["min_k"] == 10
    assert selected_outcomes(protocol, "all") == ["mrs02", "death"]
    assert selected_outcomes(protocol, ["death"]) == ["death"]


# --------------------------------------------------------------------------- filters, paths, config


@pytest.mark.parametrize(
    ("text", "column", "op", "values"),
    [
        ("rob_overall == high", "rob_overall", "==", ("high",)),
        ("rob_overall!=low", "rob_overall", "!=", ("low",)),
        ("design in rct, observational", "design", "in", ("rct", "observational")),
        ("region not in 'North America', Europe", "region", "not in", ("North America", "Europe")),
        ('region == ""', "region", "==", ("",)),
    ],
)
def test_parse_filter(text, column, op, values):
    f = parse_filter(text)
    assert (f.column, f.op, f.values) == (column, op, values)


def test_filter_matches_studies_and_mappings():
    f = parse_filter("rob_overall in some, high")
    assert f.matches({"rob_overall": "high"})
    assert not f.matches({"rob_overall": None})
    assert parse_filter("year == 2015").matches({"year": 2015})
    assert parse_filter("rob_overall != high").matches({"rob_overall": "low"})


@pytest.mark.parametrize("text", ["rob_overall", "== high", "rob_overall ==", "a in x,,y"])
def test_parse_filter_rejects(text):
    with pytest.raises(ValueError):
        parse_filter(text)


def test_yaml_path():
    assert yaml_path(["outcomes", 2, "measure"]) == "outcomes[2].measure"
    assert yaml_path(["subgroups", 0, "outcomes", 1]) == "subgroups[0].outcomes[1]"
    assert yaml_path([]) == ""


def test_load_config(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("reviews: [dmvo-mt-vs-bmm]\nresults_dir: out\n", encoding="utf-8")
    assert load_config(path) == {
        "reviews": ["dmvo-mt-vs-bmm"],
        "results_dir": "out",
        "raw_dir": "data/raw",
        "reviews_dir": "config/reviews",
    }
    path.write_text("reviews: [../x]\nresult_dir: out\n", encoding="utf-8")
    with pytest.raises(InputErrors) as info:
        load_config(path)
    assert {e.column for e in info.value.errors} == {"reviews[0]", "result_dir"}


# --------------------------------------------------------------------------- hostile YAML


@pytest.mark.parametrize(
    ("extra", "line", "found"),
    [
        # an alias bomb: nine levels of nine aliases would expand to 9**9 items
        ("pico:\n  a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
         + "".join(f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)),
         17, "anchor &a0"),
        ("pico: &p\n  population: adults\n  self: *p\n", 16, "anchor &p"),  # recursive
        ("x: {a: 1}\npico:\n  population: *undefined\n", 18, "alias *undefined"),
        ("x-base: &d {id: s, column: c}\nsubgroups:\n  - <<: *d\n", 16, "anchor &d"),  # merge
    ],
)  # fmt: skip
def test_yaml_anchors_and_aliases_are_refused(tmp_path, extra, line, found):
    err = error_of(write_protocol(tmp_path, PROTOCOL_TEXT + extra))
    assert err.row == line
    assert "YAML aliases are not supported in a protocol" in str(err)
    assert found in str(err)


def test_config_refuses_aliases_duplicates_and_tabs(tmp_path):
    path = tmp_path / "config.yaml"
    for text, line, message in [
        ("x: &r [demo]\nreviews: *r\n", 1, "YAML aliases are not supported in a config"),
        ("reviews: [demo]\nreviews: [other]\n", 2, "duplicate key 'reviews'"),
        ("reviews:\n\t- demo\n", 2, "a tab: YAML indents with spaces only"),
    ]:
        path.write_text(text, encoding="utf-8")
        with pytest.raises(InputError) as info:
            load_config(path)
        assert info.value.row == line and message in str(info.value), str(info.value)
        with pytest.raises(InputError):
            read_yaml(path)


def test_arms_must_differ(tmp_path):
    path = write_protocol(tmp_path, PROTOCOL_TEXT.replace("control: control", "control: evt"))
    err = error_of(path)
    assert_located(err, path, 5, "arms.control")
    assert "is the same arm as arms.intervention" in str(err)


@pytest.mark.parametrize(
    ("changes", "key", "message"),
    [
        ({"reported": {"estimate": 0}}, "estimate", "is not a possible OR"),
        ({"measure": "RR", "reported": {"ci_lb": -0.1}}, "ci_lb", "a risk ratio is greater than 0"),
        ({"measure": "RD", "reported": {"ci_ub": 1.5}}, "ci_ub", "between -1 and 1"),
        ({"measure": "PLO", "arm": "evt", "reported": {"estimate": 45.2}}, "estimate",
         "a proportion lies between 0 and 1"),
        ({"measure": "PLO", "arm": "evt", "reported": {"estimate": 145, "percent": True}},
         "estimate", "a percentage: percent: true divides it by 100"),
        ({"reported": [{"estimate": 1.2}, {"label": "b", "ci_lb": 2, "ci_ub": 1}]}, "1.ci_lb",
         "reported ci_lb (2) > ci_ub (1)"),
    ],
)  # fmt: skip
def test_reported_values_must_be_possible(tmp_path, changes, key, message):
    data = copy.deepcopy(BASE)
    data["outcomes"][1].update(changes)
    err = error_of(write_protocol(tmp_path, data))
    assert err.column in (f"outcomes[1].reported.{key}", f"outcomes[1].reported[{key[0]}]{key[1:]}")
    assert message in str(err) and err.row is not None


def test_reported_percentages_and_bounds_are_valid(tmp_path):
    data = copy.deepcopy(BASE)
    data["outcomes"][1].update(
        measure="PLO",
        arm="evt",
        reported=[
            {"label": "a", "estimate": 84, "ci_lb": 76, "ci_ub": 90, "percent": True},
            {"label": "b", "estimate": 0.5, "pval": "<0.001", "quote": "q", "reason": "r"},
        ],
    )
    load_protocol(write_protocol(tmp_path, data))


def test_reported_values_of_any_finite_size_are_audited():
    """A published tau2 of 1e30 (or an estimate of 1e300) is compared, not a crash of the
    decimal rounding (28 significant digits by default)."""
    from metareview.audit import audit_outcome

    entry = {"id": "x", "reported": {"tau2": 1.0e30, "estimate": 1e300, "ci_lb": 0.5}}
    fit = {"pooled": True, "back": {"estimate": 0.8, "ci_lb": 0.5}, "tau2": 1.0e30, "k": 3}
    rows = {r["quantity"]: r for r in audit_outcome(entry, fit)}
    assert rows["tau2"]["status"] == "reproduced"
    assert rows["estimate"]["status"] == "differs"
    assert rows["ci_lb"]["status"] == "reproduced"
    assert rows["estimate"]["published_text"].startswith("1000000000")


@pytest.mark.parametrize(
    ("pico", "ok"),
    [
        ({"population": "adults", "setting": "hospitals"}, True),
        ({"population": ["adults", "children"], "notes": ["a", "b"]}, True),
        ({"setting": 5}, False),
        ({"other": None}, False),
        ({"population": {"age": "adult"}}, False),
        ({"setting": ["ward", 3]}, False),
    ],
)
def test_pico_values_are_texts(tmp_path, pico, ok):
    path = write_protocol(tmp_path, with_changes(pico=pico))
    if ok:
        assert load_protocol(path)["pico"] == pico
    else:
        assert "expected a text, or a list of texts" in str(error_of(path))


def test_unknown_rob_tool_is_a_protocol_error(tmp_path):
    path = write_protocol(tmp_path, PROTOCOL_TEXT + "risk_of_bias:\n  tool: cochrane-x\n")
    err = error_of(path)
    assert_located(err, path, 17, "risk_of_bias.tool")
    assert "unknown risk-of-bias tool 'cochrane-x'" in str(err)
    path.write_text(PROTOCOL_TEXT + "risk_of_bias:\n  tool: RoB 2\n", encoding="utf-8")
    assert load_protocol(path)["risk_of_bias"] == {"tool": "RoB 2"}


# --------------------------------------------------------------------------- certainty


def test_certainty_block_is_read_and_checked(tmp_path):
    from metareview.inputs.protocol import outcome_certainty

    data = copy.deepcopy(BASE)
    data["outcomes"][1]["certainty"] = {
        "risk_of_bias": {"rating": "serious", "reason": "open-label, unblinded assessment"},
        "threshold": 20,
        "comparator_risk": {"risk": 0.2, "source": "national registry 2022"},
    }
    protocol = load_protocol(write_protocol(tmp_path, data))
    assert outcome_certainty(protocol, "death")["threshold"] == 20
    assert outcome_certainty(protocol, "mrs02") == {}

    data["outcomes"][1]["certainty"]["inconsistency"] = {"rating": "severe", "reason": "x"}
    path = write_protocol(tmp_path, data)
    err = error_of(path)
    assert "severe" in str(err) and "not serious" in str(err)
    assert err.column == "outcomes[1].certainty.inconsistency.rating"

    data = copy.deepcopy(BASE)
    data["outcomes"].append(
        {"id": "tici", "label": "mTICI 2b-3", "direction": "higher_is_better", "measure": "PR",
         "arm": "stenting", "certainty": {"comparator_risk": {"risk": 0.3, "source": "s"}}}
    )  # fmt: skip
    err = error_of(write_protocol(tmp_path, data))
    assert "comparator risk is for two-arm measures" in str(err)
