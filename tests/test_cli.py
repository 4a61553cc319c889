"""`metareview pool`: same numbers as metafor through the command line; exit 2 on bad input."""

import csv
import json
import subprocess
import sys

import pytest
from test_reference import FIXTURES, close

SPEC = next(s for s in FIXTURES if s["id"] == "bcg_OR_REML_z")


def write(path, spec, extra=()):
    cols = ["study", "ai", "n1i", "ci", "n2i", *extra]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for i in range(len(spec["data"]["study"])):
            w.writerow([spec["data"][c][i] for c in cols])


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "metareview.cli", *map(str, args)], capture_output=True, text=True
    )


def test_pool_json_matches_metafor(tmp_path):
    path = tmp_path / "bcg.csv"
    write(path, SPEC)
    out = cli("pool", path, "--measure", "OR", "--method", "REML")
    assert out.returncode == 0, out.stderr
    fit = json.loads(out.stdout)
    for key in ("estimate", "se", "tau2", "i2", "q", "pi_lb", "tau2_ci_ub"):
        assert close(fit[key], SPEC["expected"][key]), key
    assert close(fit["back"]["estimate"], SPEC["expected"]["back"]["estimate"])


def test_by_group_csv(tmp_path):
    path = tmp_path / "bcg.csv"
    write(path, SPEC, extra=("alloc",))
    out = cli("pool", path, "--by", "alloc", "--format", "csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(out.stdout.splitlines()))
    assert [r["group"] for r in rows] == ["alternate", "random", "systematic"]


@pytest.mark.parametrize(
    "content, needle",
    [
        ("study,ai,n1i,ci,n2i\nA,5,10,3,10\nB,12,10,3,10\n", "row 3, column 'ai'"),
        ("study,ai,n1i,ci,n2i\nA,5,10,3,10\nB,-1,10,3,10\n", "row 3, column 'ai'"),
        ("study,ai,n1i,ci,n2i\nA,5,10,3,10\nB,1.5,10,3,10\n", "row 3, column 'ai'"),
        ("study;ai;n1i;ci;n2i\nA;5;10;3;10\n", "';'"),
        ("study,ai,n1i\nA,5,10\n", "ci"),
        ("study,ai,n1i,ci,n2i\nA,5,10,3,10\n", "k = 1"),
        ("study,ai,n1i,ci,n2i\nA,0,10,0,10\nB,0,12,0,9\n", "no events"),
    ],
)
def test_bad_input_exit_2(tmp_path, content, needle):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    out = cli("pool", path)
    assert out.returncode == 2
    assert needle in out.stderr and "bad.csv" in out.stderr
    assert out.stdout == ""
