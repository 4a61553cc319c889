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


@pytest.mark.parametrize(
    ("manifest", "needle"),
    [
        ("[]", "a manifest is a JSON object with 'inputs' and 'outputs', got a list"),
        ("null", "got null"),
        ("{}", "key 'inputs': is missing"),
        ('{"files": 5}', "key 'outputs': is missing"),
        ('{"inputs": [], "outputs": {}}', "key 'inputs': is a list"),
        ('{"inputs": {}, "outputs": {}}', "lists no files"),
        (
            '{"inputs": {"a.csv": "abc"}, "outputs": {}}',
            "key 'inputs.a.csv': 'abc' is not a sha256",
        ),
        ('{"inputs": {"a.csv": 5}, "outputs": {}}', "5 is not a sha256"),
        ('{"inputs": {\n"a": 1,}}', "line 2"),
        (b"\xff\xfe{}", "not valid UTF-8"),
    ],
)
def test_verify_refuses_a_manifest_of_the_wrong_shape(tmp_path, manifest, needle):
    review = tmp_path / "results" / "demo"
    review.mkdir(parents=True)
    path = review / "manifest.json"
    if isinstance(manifest, bytes):
        path.write_bytes(manifest)
    else:
        path.write_text(manifest)
    out = cli("verify", review, "--root", tmp_path)
    assert out.returncode == 2, out
    assert out.stdout == "" and "Traceback" not in out.stderr
    assert "results/demo/manifest.json" in out.stderr and needle in out.stderr, out.stderr


def test_verify_checks_a_good_manifest(tmp_path):
    from metareview.manifest import sha256

    review = tmp_path / "results" / "demo"
    review.mkdir(parents=True)
    (review / "a.csv").write_text("x\n")
    digest = sha256(review / "a.csv")
    manifest = {"inputs": {}, "outputs": {"results/demo/a.csv": digest}}
    (review / "manifest.json").write_text(json.dumps(manifest))
    out = cli("verify", review, "--root", tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["checked"] == 1
    (review / "a.csv").write_text("y\n")
    assert cli("verify", review, "--root", tmp_path).returncode == 1


def test_prisma_of_an_empty_file_says_what_is_missing(tmp_path):
    path = tmp_path / "screening.csv"
    path.write_text("")
    out = cli("prisma", path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"{path}: file is empty; expected a header row naming the columns" in out.stderr
    assert not out.stderr.rstrip().endswith(":")
