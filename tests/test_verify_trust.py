"""`metareview verify` as a trust boundary (issue 20): an auditor runs it on a folder
somebody else sent, so it hashes only regular files inside the review's folders, listed
with relative paths, and names every path it refuses (the verification is then not ok)."""

from __future__ import annotations

import json
import os

import pytest

from metareview import cli
from metareview.manifest import manifest_key, sha256


@pytest.fixture()
def repo(tmp_path):
    """A repository with one input, one output, and a secret file outside it."""
    root = tmp_path / "repo"
    (root / "data" / "raw" / "demo").mkdir(parents=True)
    (root / "results" / "demo").mkdir(parents=True)
    (root / "data" / "raw" / "demo" / "studies.csv").write_text("study_id\nA\n")
    (root / "results" / "demo" / "report.html").write_text("<p>report</p>\n")
    (tmp_path / "secret.txt").write_text("elsewhere\n")
    return root


def write_manifest(root, inputs=None, outputs=None):
    inputs = inputs or {"data/raw/demo/studies.csv": None}
    outputs = outputs or {"results/demo/report.html": None}

    def digests(files):
        return {k: v or sha256(root / k) for k, v in files.items()}

    manifest = {"inputs": digests(inputs), "outputs": digests(outputs)}
    (root / "results" / "demo" / "manifest.json").write_text(json.dumps(manifest))


def run(root, capsys):
    code = cli.main(["verify", str(root / "results" / "demo"), "--root", str(root)])
    out = capsys.readouterr()
    return code, json.loads(out.out), out.err


def test_a_clean_manifest_is_ok(repo, capsys):
    write_manifest(repo)
    code, report, err = run(repo, capsys)
    assert code == 0 and report["ok"] and report["refused"] == [] and report["checked"] == 2


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("/etc/hostname", "an absolute path"),
        ("../secret.txt", "climbs out with '..'"),
        ("data/../../secret.txt", "climbs out with '..'"),
        ("C:/Windows/win.ini", "an absolute path"),
        ("data\\raw\\demo\\studies.csv", "an absolute path"),
        ("./data/raw/demo/studies.csv", "not a plain relative path"),
        (".git/config", "a hidden file or folder"),
        ("metareview:../../../../etc/hostname", "climbs out with '..'"),
    ],
)
def test_paths_outside_the_review_are_refused(repo, capsys, key, reason):
    write_manifest(repo, inputs={key: "0" * 64})
    code, report, err = run(repo, capsys)
    assert code == 1 and not report["ok"]
    assert report["refused"] == [{"path": key, "reason": report["refused"][0]["reason"]}]
    assert reason in report["refused"][0]["reason"]
    assert f"REFUSED  {key}: {reason}" in err


def test_an_output_outside_the_results_folder_is_refused(repo, capsys):
    write_manifest(repo, outputs={"data/raw/demo/studies.csv": None})
    code, report, err = run(repo, capsys)
    assert code == 1
    assert "outside results/demo/" in report["refused"][0]["reason"]


def test_a_symlink_is_refused_even_with_the_right_digest(repo, tmp_path, capsys):
    link = repo / "results" / "demo" / "pooled.json"
    link.symlink_to(tmp_path / "secret.txt")
    write_manifest(repo, outputs={"results/demo/pooled.json": sha256(link)})
    code, report, err = run(repo, capsys)
    assert code == 1 and not report["ok"] and report["mismatched"] == []
    (refused,) = report["refused"]
    assert refused["path"] == "results/demo/pooled.json"
    assert "is a symbolic link (to " in refused["reason"]
    assert str(tmp_path / "secret.txt") in refused["reason"]


def test_a_folder_reached_through_a_symlink_is_refused(repo, tmp_path, capsys):
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    (elsewhere / "x.csv").write_text("1\n")
    (repo / "data" / "raw" / "demo" / "linked").symlink_to(elsewhere)
    write_manifest(repo, inputs={"data/raw/demo/linked/x.csv": None})
    code, report, err = run(repo, capsys)
    assert code == 1
    assert "passes through data/raw/demo/linked, a symbolic link" in report["refused"][0]["reason"]


def test_a_directory_or_fifo_is_not_a_regular_file(repo, capsys):
    (repo / "results" / "demo" / "sub").mkdir()
    os.mkfifo(repo / "results" / "demo" / "pipe")  # hashing it would block forever
    write_manifest(repo, outputs={"results/demo/sub": "0" * 64, "results/demo/pipe": "0" * 64})
    code, report, err = run(repo, capsys)
    assert code == 1
    assert [r["reason"] for r in report["refused"]] == ["not a regular file"] * 2


def test_manifest_names_files_through_links_by_their_real_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.yaml").write_text("a: 1\n")
    (tmp_path / "linked").symlink_to("real")
    assert manifest_key("linked/a.yaml") == "real/a.yaml"
    assert manifest_key("real/a.yaml") == "real/a.yaml"
