"""The audit rule (published rounding), the audit target's check and the deviations table."""

from __future__ import annotations

import json

import pytest

from metareview.audit import (
    audit_failures,
    audit_outcome,
    audit_summary,
    check_audit,
    deviations,
    is_registered,
    published_decimals,
)
from metareview.errors import AnalysisError


def fit(estimate, lb, ub, k=3, pooled=True, i2=None):
    return {
        "pooled": pooled,
        "k": k,
        "i2": i2,
        "back": {"estimate": estimate, "ci_lb": lb, "ci_ub": ub},
        "studies": [],
        "warnings": [] if pooled else ["outcome 'x': k = 1"],
    }


def entry(**reported):
    return {"id": "x", "role": "primary", "reported": reported}


def status(rows):
    return {r["quantity"]: r["status"] for r in rows}


def test_rounding_at_published_decimals():
    rows = audit_outcome(
        entry(estimate=0.81, ci_lb=0.49, ci_ub=1.32, k=3), fit(0.8143, 0.4949, 1.3249)
    )
    assert status(rows) == {
        "estimate": "reproduced",
        "ci_lb": "reproduced",
        "ci_ub": "reproduced",
        "k": "reproduced",
    }
    rows = audit_outcome(entry(estimate=0.81), fit(0.8151, 0.4, 1.3))
    assert status(rows) == {"estimate": "differs"}


def test_half_up_not_bankers_rounding():
    # 0.825 rounds half up to 0.83 (binary float 0.825 is just below; repr-based Decimal keeps it)
    assert status(audit_outcome(entry(estimate=0.83), fit(0.825, 0.5, 1.5))) == {
        "estimate": "reproduced"
    }


def test_trailing_zero_lost_by_yaml_uses_the_ci_decimals():
    # published 1.33 [0.90, 1.98]: YAML reads 0.90 as 0.9, but the CI was printed to 2 decimals
    reported = {"estimate": 1.33, "ci_lb": 0.9, "ci_ub": 1.98}
    assert published_decimals(reported, "ci_lb") == 2
    rows = audit_outcome(entry(**reported), fit(1.3349, 0.9449, 1.9751))
    st = status(rows)
    assert st["ci_lb"] == "differs"  # 0.94 is not 0.90 (at 1 decimal it would pass as 0.9)
    row = next(r for r in rows if r["quantity"] == "ci_lb")
    assert row["published_text"] == "0.90" and row["ours_rounded"] == "0.94"
    assert published_decimals({**reported, "decimals": 3}, "estimate") == 3


def test_k_exact_and_explains_other_differences():
    rows = audit_outcome(entry(estimate=2.33, k=3), fit(2.46, 1.27, 4.76, k=2))
    st = status(rows)
    assert st == {"estimate": "differs", "k": "differs"}
    assert all("2 studies with data here vs 3 published" in r["reason"] for r in rows)


def test_not_computable_when_not_pooled_but_counts_differ():
    # one study on file for a published k of 3: the estimate cannot be computed, but k can
    # be counted, so it differs (with ours shown) rather than being "not computable"
    rows = audit_outcome(entry(estimate=0.81, k=3), fit(None, None, None, k=1, pooled=False))
    assert status(rows) == {"estimate": "not computable", "k": "differs"}
    assert "k = 1" in rows[0]["reason"]
    k_row = rows[1]
    assert k_row["ours"] == 1 and k_row["ours_rounded"] == 1
    assert k_row["reason"] == "1 study with data here vs 3 published"


def test_counts_of_an_outcome_without_data():
    # no study has data (k = 0): still a count we know
    empty = {"pooled": False, "k": 0, "back": {}, "studies": [], "warnings": ["no data"]}
    rows = audit_outcome(entry(estimate=0.81, k=3, n=900), empty)
    assert status(rows) == {"estimate": "not computable", "k": "differs", "n": "differs"}
    assert [r["ours"] for r in rows] == [None, 0, 0]
    assert rows[0]["reason"] == "no data"
    # a fit that records no count at all: not computable
    assert status(audit_outcome(entry(k=3), {"pooled": False, "warnings": []})) == {
        "k": "not computable"
    }


def test_n_counts_participants_of_studies_with_data():
    f = fit(1.2, 1.0, 1.5, k=2)
    f["studies"] = [
        {"n1i": 100, "n2i": 100},
        {"n1i": 50, "n2i": 60},
        {"n1i": 10, "n2i": 10, "excluded": "double zero (drop00)"},
    ]
    rows = audit_outcome(entry(k=2, n=310), f)
    assert status(rows) == {"k": "reproduced", "n": "reproduced"}
    rows = audit_outcome(entry(k=3, n=330), f)
    assert status(rows) == {"k": "differs", "n": "differs"}
    assert rows[1]["reason"] == "310 participants in the studies with data here vs 330 published"


def test_failures_only_for_prespecified_primary(tmp_path):
    rows = audit_outcome(entry(estimate=0.81), fit(None, None, None, pooled=False))
    secondary = audit_outcome(
        {"id": "y", "role": "secondary", "reported": {"estimate": 1.0}}, fit(2.0, 1, 3)
    )
    post_hoc = audit_outcome(
        {"id": "z", "role": "primary", "post_hoc": True, "reported": {"estimate": 1.0}},
        fit(2.0, 1, 3),
    )
    audit = audit_summary("r", rows + secondary + post_hoc)
    failures = audit_failures(audit)
    assert len(failures) == 1 and "primary outcome 'x'" in failures[0]
    assert audit_failures(audit, fail_on=("differs",)) == []
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(audit))
    with pytest.raises(AnalysisError, match="did not reproduce"):
        check_audit(path, ["differs", "not computable"], tmp_path / "audit.ok")
    assert not (tmp_path / "audit.ok").exists()
    check_audit(path, ["differs"], tmp_path / "audit.ok")
    assert "audit passed" in (tmp_path / "audit.ok").read_text()


def test_fail_on_applies_to_counts_of_an_outcome_that_is_not_pooled(tmp_path):
    # a primary outcome with one study of the three published: its estimate is not
    # computable and its k differs, so it fails under either status of fail_on
    rows = audit_outcome(entry(estimate=0.81, k=3), fit(None, None, None, k=1, pooled=False))
    audit = audit_summary("r", rows)
    assert [f.split(", ")[1].split(":")[0] for f in audit_failures(audit)] == ["estimate", "k"]
    assert len(audit_failures(audit, fail_on=("not computable",))) == 1
    assert "k: published 3, ours 1: differs" in audit_failures(audit, fail_on=("differs",))[0]
    assert audit_failures(audit, fail_on=()) == []


def test_no_published_values(tmp_path):
    audit = audit_summary("r", audit_outcome({"id": "x", "role": "primary"}, fit(1.2, 1.0, 1.5)))
    assert audit["values"] == [] and audit_failures(audit) == []
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(audit))
    check_audit(path, ["differs", "not computable"], tmp_path / "audit.ok")
    text = (tmp_path / "audit.ok").read_text()
    assert "no published values to audit" in text and "reproduced 0" not in text


def test_deviations_from_post_hoc_flags_and_list():
    protocol = {
        "outcomes": [
            {"id": "a", "label": "A"},
            {"id": "b", "label": "B", "post_hoc": True, "rationale": "asked by a reviewer"},
        ],
        "subgroups": [{"id": "s", "column": "region", "label": "Region", "post_hoc": True}],
        "sensitivity": [{"id": "m", "kind": "methods", "label": "Models"}],
        "small_study": [{"tests": ["egger"], "post_hoc": True}],
        "deviations": [
            {
                "what": "Effect measure",
                "registered": "RR",
                "done": "OR",
                "reason": "as the trials report",
            }
        ],
    }
    rows = deviations(protocol)
    whats = [r["what"] for r in rows]
    assert whats == [
        "Outcome added: B",
        "Subgroup analysis added: Region",
        "Small-study-effect analysis added: egger",
        "Effect measure",
    ]
    assert rows[0]["reason"] == "asked by a reviewer"
    assert rows[1]["reason"] == "no rationale recorded"
    # no registration recorded: a post-hoc analysis is not in the protocol (there is no
    # registered one to compare with)
    assert rows[0]["registered"] == "not in the protocol"
    registered = deviations({**protocol, "registration": {"registry": "OSF", "id": "abc"}})
    assert registered[0]["registered"] == "not in the registered protocol"
    assert is_registered({"registration": {"registry": "OSF"}}) is False


def test_several_blocks_with_labels_percentages_and_reasons():
    """One outcome, two published values (e.g. per patient group): each line carries its
    block's label, the difference at the published rounding and the block's reason."""
    e = {
        "id": "x",
        "role": "primary",
        "reported": [
            {
                "label": "Primary",
                "estimate": 84,
                "ci_lb": 76,
                "ci_ub": 90,
                "percent": True,
                "reason": "other study set",
            },
            {"label": "Secondary", "estimate": 82.8, "percent": True, "reason": "other set"},
        ],
    }
    rows = audit_outcome(e, fit(0.8278, 0.7567, 0.8813))
    got = [
        (
            r["label"],
            r["quantity"],
            r["published_text"],
            r["ours_rounded"],
            r["difference"],
            r["status"],
            r["reason"],
        )
        for r in rows
    ]
    assert got == [
        ("Primary", "estimate", "84", "83", "-1", "differs", "other study set"),
        ("Primary", "ci_lb", "76", "76", "+0", "reproduced", ""),
        ("Primary", "ci_ub", "90", "88", "-2", "differs", "other study set"),
        ("Secondary", "estimate", "82.8", "82.8", "+0.0", "reproduced", ""),
    ]
    assert rows[0]["ours"] == pytest.approx(82.78) and rows[0]["percent"]


def test_integer_published_values_have_no_decimals():
    assert published_decimals({"estimate": 12, "ci_lb": 8, "ci_ub": 18}, "estimate") == 0
    assert published_decimals({"i2": 43}, "i2") == 0
    rows = audit_outcome(entry(i2=43), fit(1.0, 0.5, 2.0, i2=42.6))
    assert (rows[0]["ours_rounded"], rows[0]["status"]) == ("43", "reproduced")


@pytest.mark.parametrize(
    ("printed", "p", "status", "ours_text"),
    [
        ("<0.001", 0.0004, "reproduced", "<0.001"),
        ("<0.001", 0.0064, "differs", "0.006"),
        ("< 0.0002", 0.0045, "differs", "0.0045"),
        (">0.05", 0.2, "reproduced", ">0.05"),
        ("<0.001", 1.5e-12, "reproduced", "<0.001"),
        (">0.05", 1.5e-12, "differs", "1.5e-12"),
    ],
)
def test_pval_printed_as_a_bound(printed, p, status, ours_text):
    f = fit(2.0, 1.2, 3.3) | {"pval": p}
    (row,) = audit_outcome(entry(pval=printed, reason="r"), f)
    assert (row["status"], row["ours_rounded"], row["difference"]) == (status, ours_text, None)
    assert row["reason"] == ("" if status == "reproduced" else "r")


def test_block_reason_follows_the_computed_one():
    rows = audit_outcome(
        entry(estimate=0.81, k=3, reason="definitions differ"), fit(0.9, 0.5, 1.5, k=2)
    )
    assert {r["quantity"]: r["reason"] for r in rows} == {
        "estimate": "2 studies with data here vs 3 published; definitions differ",
        "k": "2 studies with data here vs 3 published; definitions differ",
    }
    assert {r["quantity"]: r["difference"] for r in rows} == {"estimate": "+0.09", "k": -1}
