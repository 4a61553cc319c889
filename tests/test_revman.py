"""RevMan 5 import (metareview.inputs.revman): the real files of ../shared/revman/ read,
pooled by the engine and compared with RevMan's own stored results (issue 16).

The expected numbers below are copied from the file (Fleiss1993.rm5, written by RevMan
5.0.23: DICH_OUTCOME CMP-001.01 and its DICH_DATA), never from our output."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import fresh_copy, run_pipeline

from metareview.engine.pooling import Settings, pool
from metareview.errors import InputError
from metareview.inputs.protocol import load_protocol, outcome_settings
from metareview.inputs.revman import import_revman, read_rm5
from metareview.inputs.rob import load_tool, read_assessments

REPO = Path(__file__).resolve().parents[1]
REVMAN = REPO.parent.parent / "shared" / "revman"
if not REVMAN.is_dir():
    REVMAN = Path("/work/shared/revman")
FLEISS = REVMAN / "Fleiss1993.rm5"
pytestmark = pytest.mark.skipif(not FLEISS.exists(), reason="../shared/revman not on this machine")

# RevMan's stored results (Fleiss1993.rm5, CMP-001.01, MH fixed-effect OR)
ASPIRIN = {
    "estimate": 0.8969,
    "ci_lb": 0.8405,
    "ci_ub": 0.9570,
    "chi2": 9.95,
    "df": 6,
    "i2": 39.7,
    "z": 3.29,
    "pval": 0.0010,
}
ASPIRIN_WEIGHTS = {  # DICH_DATA WEIGHT (percent), 2 decimals
    "MRC-1": 3.18,
    "CDP": 3.10,
    "MRC-2": 5.68,
    "GASP": 1.80,
    "PARIS": 3.22,
    "AMIS": 10.15,
    "ISIS-2": 72.88,
}


def _places(x: float, n: int) -> str:
    return f"{x:.{n}f}"


def _rows(outcome) -> list[dict]:
    return [
        {
            "study": r["study"],
            "ai": r["events_1"],
            "n1i": r["total_1"],
            "ci": r["events_2"],
            "n2i": r["total_2"],
        }
        for r in outcome.rows
    ]


def _settings(outcome) -> Settings:
    method = outcome.protocol_method()
    return Settings(
        measure=outcome.measure,
        method=method,
        level=outcome.level,
        add=0.5,
        to="only0",
        drop00=outcome.measure != "RD",
    )


def test_fleiss_studies_and_outcomes():
    rm = read_rm5(FLEISS)
    assert rm.title == "Examples from Fleiss 1993" and rm.version == "5.0.23"
    names = {s["label"]: s["year"] for s in rm.studies}
    assert len(names) == 12
    assert names["ISIS-2"] == "1988" and names["MRC-1"] == "1974" and names["Florell"] == "1971"
    assert {s["id"] for s in rm.studies} >= {"ISIS-2", "MRC-1", "MRC-2", "AMIS"}
    dich, cont = rm.outcomes
    assert (dich.kind, dich.measure, dich.method, dich.random) == ("dichotomous", "OR", "MH", False)
    assert (cont.kind, cont.measure, len(cont.rows)) == ("continuous", "SMD", 5)
    isis = next(r for r in dich.rows if r["study"] == "ISIS-2")
    assert (isis["events_1"], isis["total_1"], isis["events_2"], isis["total_2"]) == (
        1570,
        8587,
        1720,
        8600,
    )
    davis = next(r for r in cont.rows if r["study"] == "Davis")
    assert (davis["mean_1"], davis["sd_1"], davis["total_1"]) == (5.0, 4.7, 13)
    # the study-level risk-of-bias item RevMan holds judgements for (UNKNOWN = unclear)
    assert {s["rob"].get("rob_2") for s in rm.studies} == {"unclear"}
    assert not cont.results.get("estimate")  # RevMan stored no result for the SMD outcome


def test_aspirin_reproduces_revman():
    dich = read_rm5(FLEISS).outcomes[0]
    fit = pool(_rows(dich), _settings(dich)).to_dict()
    back = fit["back"]
    for key in ("estimate", "ci_lb", "ci_ub"):
        assert _places(back[key], 4) == _places(ASPIRIN[key], 4), key
    assert _places(fit["q"], 2) == _places(ASPIRIN["chi2"], 2) and fit["q_df"] == ASPIRIN["df"]
    assert _places(fit["i2"], 1) == _places(ASPIRIN["i2"], 1)
    assert _places(abs(fit["stat"]), 2) == _places(ASPIRIN["z"], 2)
    assert _places(fit["pval"], 4) == _places(ASPIRIN["pval"], 4)
    total = sum(s["weight"] for s in fit["studies"])
    for s in fit["studies"]:
        assert _places(100 * s["weight"] / total, 2) == _places(ASPIRIN_WEIGHTS[s["study"]], 2)


@pytest.mark.parametrize("path", sorted(REVMAN.glob("*.rm5")), ids=lambda p: p.name)
def test_every_dichotomous_outcome_matches_revman(path):
    """Each dichotomous outcome with a stored RevMan result: our pooled estimate and CI equal
    RevMan's at 4 decimals (RevMan prints 2; the file keeps full precision)."""
    checked = 0
    for o in read_rm5(path).outcomes:
        r = o.results
        if o.kind != "dichotomous" or r.get("estimate") is None or o.totals != "YES":
            continue
        fit = pool(_rows(o), _settings(o)).to_dict()
        for key in ("estimate", "ci_lb", "ci_ub"):
            assert _places(fit["back"][key], 4) == _places(r[key], 4), (o.name, key)
        if r.get("i2") is not None:
            assert math.isclose(fit["i2"] or 0.0, r["i2"], abs_tol=0.01), o.name
        checked += 1
    assert checked >= 1


def test_import_writes_a_valid_review(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text("# mine\nreviews:\n  - a  # first\n")
    written = import_revman(FLEISS, "fleiss", tmp_path)
    assert "config/reviews/fleiss.yaml" in written
    assert (tmp_path / "config/config.yaml").read_text() == (
        "# mine\nreviews:\n  - a  # first\n  - fleiss\n"
    )
    cwd = os.getcwd()
    os.chdir(tmp_path)  # the protocol names its tool template relative to the repository
    try:
        protocol = load_protocol("config/reviews/fleiss.yaml")
        tool = load_tool(protocol["risk_of_bias"]["tool"])
    finally:
        os.chdir(cwd)
    out, smd = protocol["outcomes"]  # the SMD outcome too, now that the registry has SMD
    assert outcome_settings(protocol, smd["id"])["measure"] == "SMD"
    s = outcome_settings(protocol, out["id"])
    assert (s["measure"], s["method"], s["level"], s["add"], s["drop00"]) == (
        "OR",
        "MH",
        95,
        0.5,
        True,
    )
    assert out["reported"]["estimate"] == 0.8969 and out["reported"]["ci_ub"] == 0.957
    assert out["reported"]["decimals"] == 4 and out["reported"]["i2"] == 39.67
    raw = tmp_path / "data/raw/fleiss"
    text = (tmp_path / "config/reviews/fleiss.yaml").read_text()
    assert "c001-o02" in text and not (raw / "extraction_continuous.csv").exists()
    ext = (raw / "extraction.csv").read_text().splitlines()
    assert ext[0] == "study_id,outcome,arm,events,mean,sd,total,source"
    assert sum(",c001-o02," in line for line in ext) == 10  # 5 studies x 2 arms
    studies = list(csv.DictReader((raw / "studies.csv").open()))
    table = read_assessments(studies, tool)
    assert {s.judgements["d2"] for s in table.studies} == {"unclear"}
    # nothing is overwritten
    before = (tmp_path / "config/config.yaml").read_text()
    with pytest.raises(InputError, match="already exists"):
        import_revman(FLEISS, "fleiss", tmp_path)
    assert (tmp_path / "config/config.yaml").read_text() == before


def test_utf8_file_reads_the_same(tmp_path):
    text = FLEISS.read_bytes().decode("iso-8859-1")
    text = text.replace('encoding="ISO-8859-1"', 'encoding="UTF-8"')
    text = text.replace("Examples from Fleiss 1993", "Examples from Fleiss 1993 \u00e9")
    path = tmp_path / "utf8.rm5"
    path.write_bytes(text.encode("utf-8"))
    rm = read_rm5(path)
    assert rm.title.endswith("\u00e9")
    assert [r["events_1"] for r in rm.outcomes[0].rows] == [
        r["events_1"] for r in read_rm5(FLEISS).outcomes[0].rows
    ]


@pytest.mark.parametrize(
    "head",
    [
        '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>',
        '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    ],
)
def test_entities_are_refused(tmp_path, head):
    path = tmp_path / "evil.rm5"
    path.write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n{head}\n<COCHRANE_REVIEW>&lol2;'
        "</COCHRANE_REVIEW>\n"
    )
    with pytest.raises(InputError, match="DOCTYPE"):
        read_rm5(path)


def test_not_xml_is_refused(tmp_path):
    path = tmp_path / "x.rm5"
    path.write_text('<?xml version="1.0"?>\n<COCHRANE_REVIEW><STUDIES></COCHRANE_REVIEW>\n')
    with pytest.raises(InputError, match="malformed XML"):
        read_rm5(path)


def test_cli_import(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text("reviews:\n  - a\n")
    cmd = [
        sys.executable,
        "-m",
        "metareview.cli",
        "import",
        "revman",
        str(FLEISS),
        "--review",
        "fleiss",
        "--root",
        str(tmp_path),
    ]
    env_path = {"PYTHONPATH": str(REPO)}
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env_path})
    assert done.returncode == 0, done.stderr
    assert "config/reviews/fleiss.yaml" in done.stdout
    again = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env_path})
    assert again.returncode == 2 and "already exists" in again.stderr


@pytest.mark.slow
def test_imported_review_runs_and_the_audit_reproduces_revman(tmp_path):
    """Imported and run, the aspirin outcome's audit reproduces RevMan's stored result."""
    work = fresh_copy(tmp_path / "work", names=("Snakefile", "workflow"))
    (work / "config").mkdir()
    (work / "config/config.yaml").write_text("reviews:\n")
    import_revman(FLEISS, "fleiss", work)
    run = run_pipeline(work)
    assert run.returncode == 0, run.stderr[-3000:]
    audit = json.loads((work / "results/fleiss/audit.json").read_text())
    values = {v["quantity"]: v for v in audit["values"]}
    assert {k: v["status"] for k, v in values.items()} == dict.fromkeys(
        ("estimate", "ci_lb", "ci_ub", "i2", "pval"), "reproduced"
    )
    assert values["estimate"]["published_text"] == "0.8969"
    assert values["ci_ub"]["published_text"] == "0.9570"
