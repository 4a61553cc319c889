"""`metareview pool` with continuous and generic inverse-variance tables (metafor's column
names): the numbers of tests/reference/fixtures_continuous.json through the command line,
and bad input refused with exit code 2 naming file, row and column."""

from __future__ import annotations

import csv
import json

import pytest
from test_reference_continuous import SPECS, close

from metareview.cli import main


def spec(spec_id):
    return next(s for s in SPECS if s["id"] == spec_id)


def write(path, data, cols):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for i in range(len(data["study"])):
            w.writerow([data[c][i] for c in cols])
    return path


def run(capsys, *args):
    code = main(["pool", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


FIELDS = ("k", "estimate", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "i2", "h2", "q")
CONT = ["study", "m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"]


def check_fit(fit, expected):
    for key in FIELDS + ("q_pval", "stat", "pval"):
        assert close(fit[key], expected[key]), (key, fit[key], expected[key])
    for key in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        assert close(fit["back"][key], expected["back"][key]), key


@pytest.mark.parametrize(
    "spec_id, cols, extra",
    [
        ("normand1999_MD_REML_z", CONT, []),
        ("normand1999_SMD_PM_knha", CONT, ["--method", "PM", "--test", "knha"]),
        ("curtis1998_ROM_DL_z", CONT, ["--method", "DL"]),
        ("normand1999arm1_MN_REML_z", ["study", "mi", "sdi", "ni"], []),
        ("bcgsei_GEN_FE_z", ["study", "yi", "sei"], ["--method", "FE"]),
        ("bcgvi_GEN_DL_knha", ["study", "yi", "vi"], ["--method", "DL", "--test", "knha"]),
        ("bcgnatural_RR_REML_z", ["study", "estimate", "ci_lb", "ci_ub"], ["--scale", "natural"]),
        (
            "bcgnatural_OR_REML_knha",
            ["study", "estimate", "ci_lb", "ci_ub"],
            ["--scale", "natural", "--test", "knha"],
        ),
    ],
)
def test_each_layout_matches_metafor(tmp_path, capsys, spec_id, cols, extra):
    sp = spec(spec_id)
    path = write(tmp_path / "t.csv", sp["data"], cols)
    code, out, err = run(capsys, path, "--measure", sp["settings"]["measure"], *extra)
    assert code == 0, err
    fit = json.loads(out)
    check_fit(fit, sp["expected"])
    assert fit["measure"] == sp["settings"]["measure"]
    if sp["settings"]["measure"] in ("RR", "OR", "ROM"):
        assert close(fit["back"]["estimate"], 2.718281828459045 ** fit["estimate"])
    else:
        assert fit["back"]["estimate"] == fit["estimate"]


def test_natural_scale_level_90(tmp_path, capsys):
    """--level 90: the SE comes from the CI read as a 90% CI, and the fit is at 90%."""
    sp = spec("bcgnatural_RR_REML_z")
    path = write(tmp_path / "t.csv", sp["data"], ["study", "estimate", "ci_lb", "ci_ub"])
    code, out, err = run(capsys, path, "--measure", "RR", "--scale", "natural", "--level", 90)
    assert code == 0, err
    ninety = spec("bcgnatural_RR_REML_z_90")  # the R script's 90% spec
    check_fit(json.loads(out), ninety["expected"])


def test_hr_on_the_log_scale_and_natural_sei(tmp_path, capsys):
    sp = spec("bcgsei_GEN_REML_z")
    path = write(tmp_path / "t.csv", sp["data"], ["study", "yi", "sei"])
    code, out, err = run(capsys, path, "--measure", "HR")
    assert code == 0, err
    fit = json.loads(out)
    check_fit({**fit, "back": fit["back"]}, {**sp["expected"], "back": fit["back"]})
    assert close(fit["back"]["estimate"], 2.718281828459045 ** sp["expected"]["estimate"])
    # the same as estimate + sei (SE of the log ratio) on the natural scale
    data = dict(sp["data"], estimate=[2.718281828459045**y for y in sp["data"]["yi"]])
    path2 = write(tmp_path / "n.csv", data, ["study", "estimate", "sei"])
    code, out2, err = run(capsys, path2, "--measure", "HR", "--scale", "natural")
    assert code == 0, err
    assert close(json.loads(out2)["estimate"], fit["estimate"])


def test_subgroup_mods_by_for_continuous(tmp_path, capsys):
    sg = spec("normand1999_MD_REML_z_by_size")
    path = write(tmp_path / "t.csv", sg["data"], [*CONT, "size"])
    code, out, err = run(capsys, path, "--measure", "MD", "--subgroup", "size")
    assert code == 0, err
    res = json.loads(out)
    assert close(res["test_between"]["q"], sg["expected"]["test_between_re"]["q"])
    code, out, err = run(capsys, path, "--measure", "MD", "--by", "size", "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(out.splitlines()))
    by_level = {s["level"]: s for s in sg["expected"]["subgroups"]}
    for r in rows:
        assert close(float(r["estimate"]), by_level[r["group"]]["estimate"])
    mr = spec("curtis1998_ROM_DL_knha_mods_xtrt")
    path = write(tmp_path / "c.csv", mr["data"], [*CONT, "xtrt"])
    code, out, err = run(
        capsys, path, "--measure", "ROM", "--mods", "xtrt", "--method", "DL", "--test", "knha"
    )
    assert code == 0, err
    res = json.loads(out)
    for ours, theirs in zip(res["coefficients"], mr["expected"]["coefficients"], strict=True):
        assert close(ours["estimate"], theirs["estimate"]) and close(ours["se"], theirs["se"])


HEAD = "study,m1i,sd1i,n1i,m2i,sd2i,n2i\n"
OK = "A,5,2,10,4,2,10\n"


@pytest.mark.parametrize(
    "measure, content, extra, needle",
    [
        ("MD", HEAD + OK + "B,5,0,10,4,2,10\n", [], "row 3, column 'sd1i'"),
        ("MD", HEAD + OK + "B,5,2,10,4,-1,10\n", [], "row 3, column 'sd2i'"),
        ("SMD", HEAD + OK + "B,5,2,1,4,2,10\n", [], "row 3, column 'n1i'"),
        ("MD", HEAD + OK + "B,5,2,10,4,2,1.5\n", [], "row 3, column 'n2i'"),
        ("MD", HEAD + OK + "B,5,nan,10,4,2,10\n", [], "row 3, column 'sd1i'"),
        ("MD", HEAD + OK + 'B,"5,5",2,10,4,2,10\n', [], "decimal comma"),
        ("MD", HEAD + OK + "B,,2,10,4,2,10\n", [], "row 3, column 'm1i'"),
        ("ROM", HEAD + OK + "B,5,2,10,0,2,10\n", [], "row 3, column 'm2i'"),
        ("ROM", HEAD + OK + "B,5,2,10,-4,2,10\n", [], "opposite signs"),
        ("MN", "study,mi,sdi,ni\nA,5,2,10\nB,5,-2,10\n", [], "row 3, column 'sdi'"),
        ("MN", "study,mi,sdi,ni\nA,5,2,10\nB,5,2,1\n", [], "row 3, column 'ni'"),
        ("GEN", "study,yi,sei\nA,0.5,0.2\nB,0.1,0\n", [], "row 3, column 'sei'"),
        ("GEN", "study,yi,vi\nA,0.5,0.2\nB,0.1,-0.1\n", [], "row 3, column 'vi'"),
        ("GEN", "study,yi,sei,vi\nA,0.5,0.2,0.04\nB,0.1,0.1,\n", [], "row 2, column 'vi'"),
        ("GEN", "study,yi\nA,0.5\nB,0.1\n", [], "sei or vi"),
        ("GEN", "study,yi,sei\nA,0.5,0.2\nB,0.1,\n", [], "row 3, column 'sei'"),
        (
            "OR",
            "study,estimate,ci_lb,ci_ub\nA,1.28,0.51,3.21\nB,0,0.5,2\n",
            ["--scale", "natural"],
            "row 3, column 'estimate'",
        ),
        (
            "OR",
            "study,estimate,ci_lb,ci_ub\nA,1.28,0.51,3.21\nB,3.5,0.5,2\n",
            ["--scale", "natural"],
            "does not contain its estimate",
        ),
        (
            "HR",
            "study,estimate,ci_lb,ci_ub\nA,1.28,0.51,3.21\nB,0.9,1.2,0.5\n",
            ["--scale", "natural"],
            "row 3, column 'ci_ub'",
        ),
        (
            "RR",
            "study,estimate,ci_lb,ci_ub\nA,1.28,0.51,3.21\nB,0.9,0.5,\n",
            ["--scale", "natural"],
            "row 3, column 'ci_ub'",
        ),
        (
            "RR",
            "study,estimate,ci_lb,ci_ub\nA,1.28,0.51,3.21\nB,0.9,-0.5,1.5\n",
            ["--scale", "natural"],
            "row 3, column 'ci_lb'",
        ),
        (
            "HR",
            "study,estimate,sei\nA,1.28,0.2\nB,0.9,-0.1\n",
            ["--scale", "natural"],
            "row 3, column 'sei'",
        ),
        ("MD", HEAD + OK + "B,5,2,10,4,2,10\n", ["--method", "MH"], "inverse variance"),
        ("SMD", HEAD + OK + "B,5,2,10,4,2,10\n", ["--method", "PETO"], "inverse variance"),
        (
            "OR",
            "study,estimate,ci_lb,ci_ub\nA,1.2,0.5,2\n",
            ["--scale", "natural", "--method", "MH"],
            "MH",
        ),
        ("MD", HEAD + OK + "B,5,2,10,4,2,10\n", ["--scale", "natural"], "scale"),
        ("MD", HEAD + OK + "B,5,2,10,4,2,10\n", ["--add", "0.5"], "--add"),
        ("MD", "study,ai,n1i,ci,n2i\nA,1,10,2,10\n", [], "missing required column 'm1i'"),
        ("MD", HEAD + OK, [], "k = 1"),
    ],
)
def test_bad_input_exit_2(tmp_path, capsys, measure, content, extra, needle):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    code, out, err = run(capsys, path, "--measure", measure, *extra)
    assert code == 2, (out, err)
    assert out == ""
    assert needle in err, err
    assert "Traceback" not in err


def test_peters_harbord_refused_in_assess_not_crashing():
    from metareview.engine import smallstudy
    from metareview.engine.pooling import Settings, effect_sizes

    rows = [
        {"study": s, "mi": m, "sdi": 2.0, "ni": n}
        for s, m, n in (("a", 5.0, 10), ("b", 6.0, 20), ("c", 4.0, 30), ("d", 5.5, 15))
    ]
    es = effect_sizes(rows, Settings(measure="MN").resolved())
    out = smallstudy.assess(es, [r["study"] for r in rows], method="DL")
    assert "binary outcomes" in out["peters"]["error"]
    assert out["funnel"]["null"] is None  # a mean has no null effect
