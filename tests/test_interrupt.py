"""Interrupted runs: kill `snakemake --cores 1` mid-way, rerun, get the same bytes.

One small review (one outcome) is run three times in temporary copies of the workflow,
concurrently: once without interruption (the reference), once interrupted with SIGINT
(Ctrl-C: the signal goes to the whole process group, Snakemake and its running job) and
once with SIGKILL to the whole group (a power cut or the OOM killer). SIGINT comes while the
pool job writes its fit or forest plot, SIGKILL while the screening job fills its staging
folder; either, failing that, as soon as that stage's last output exists.

What Snakemake requires to recover (checked below):

* after SIGINT: the job that was running is marked incomplete, so a plain rerun stops
  with ``IncompleteFilesException``; ``snakemake --cores 1 --rerun-incomplete`` recovers.
* after SIGKILL: the same, and Snakemake's lock is left behind as well: the plain rerun
  asks for ``--rerun-incomplete``, which then stops with ``LockException`` ("run
  --unlock"); so first ``snakemake --unlock``, then ``snakemake --cores 1
  --rerun-incomplete``.

After the kill every output that exists is complete (equal to the reference: outputs are
written to a temporary file next to them and renamed; a killed writer may leave that
``.<name>.*.tmp`` file, which the job removes when it reruns), after the recovery every
output equals the reference byte for byte, no temporary file is left, and nothing remains
to do.
The reference run also shows that the jobs write nothing but their declared outputs and
logs (and nothing in ``TMPDIR``); a static check covers the scripts and writers.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from base64 import b64decode
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BASE = Path(__file__).resolve().parent / "bad_inputs" / "_base"
REVIEW = "demo"
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--cores", "1"]


def make_copy(work: Path) -> None:
    """A temporary copy of the workflow with one small review (one outcome, no subgroup,
    sensitivity or small-study analysis)."""
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "Snakefile", work / "Snakefile")
    shutil.copytree(
        ROOT / "workflow", work / "workflow", ignore=shutil.ignore_patterns("__pycache__")
    )
    (work / "config" / "reviews").mkdir(parents=True)
    (work / "config" / "config.yaml").write_text(f"reviews:\n  - {REVIEW}\n")
    protocol = (BASE / "demo.yaml").read_text().split("  - id: sich")[0]  # death only
    (work / "config" / "reviews" / f"{REVIEW}.yaml").write_text(protocol)
    raw = work / "data" / "raw" / REVIEW
    raw.mkdir(parents=True)
    shutil.copy2(BASE / "studies.csv", raw / "studies.csv")
    shutil.copy2(BASE / "screening.csv", raw / "screening.csv")
    rows = (BASE / "extraction.csv").read_text().splitlines(keepends=True)
    (raw / "extraction.csv").write_text("".join(r for r in rows if ",sich," not in r))


def env_for(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    tmpdir = work.parent / f"{work.name}-tmpdir"
    tmpdir.mkdir(exist_ok=True)
    env["TMPDIR"] = str(tmpdir)
    return env


def snakemake(work: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        SNAKEMAKE + list(extra),
        cwd=work,
        env=env_for(work),
        capture_output=True,
        text=True,
        timeout=600,
    )


def outputs(work: Path) -> dict[str, bytes]:
    """Every file under results/ except job logs and temporary files or folders, by path."""
    res = work / "results"
    out = {}
    for p in sorted(res.rglob("*")):
        parts = p.relative_to(res).parts
        if p.is_file() and "logs" not in parts and not any(x.endswith(".tmp") for x in parts):
            out[p.relative_to(work).as_posix()] = p.read_bytes()
    return out


def temporary_files(work: Path) -> list[str]:
    return sorted(p.name for p in (work / "results").rglob("*.tmp"))


def all_files(work: Path) -> set[str]:
    return {
        p.relative_to(work).as_posix()
        for p in work.rglob("*")
        if p.is_file() and ".snakemake" not in p.relative_to(work).parts
    }


def interrupted_run(work: Path, sig: signal.Signals, where: tuple[str, ...], then: str) -> dict:
    """Start the run in its own process group and send ``sig`` to the group mid-way: while
    a temporary file or folder exists under ``results/<review>/`` + one of ``where``, or
    else as soon as ``results/<review>/<then>`` exists (the report is still to come)."""
    res = work / "results" / REVIEW
    proc = subprocess.Popen(
        SNAKEMAKE,
        cwd=work,
        env=env_for(work),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    killed_at = None
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        if res.is_dir():
            writing = [p.relative_to(res).as_posix() for p in res.rglob("*.tmp")]
            writing = [p for p in writing if p.startswith(where)]
            if writing or (res / then).exists():
                killed_at = writing or [then]
                os.killpg(proc.pid, sig)
                break
        time.sleep(0.002)
    log = proc.communicate(timeout=120)[0]
    if sig == signal.SIGKILL:
        time.sleep(0.5)  # let orphaned grandchildren (if any) die with the group
    return {"killed_at": killed_at, "returncode": proc.returncode, "log": log}


def scenario(tmp: Path, kind: str) -> dict:
    work = tmp / kind
    make_copy(work)
    before = all_files(work)
    if kind == "reference":
        run = snakemake(work)
        assert run.returncode == 0, run.stderr[-3000:]
        return {"work": work, "before": before, "after": outputs(work)}
    sig = signal.SIGINT if kind == "sigint" else signal.SIGKILL
    # Ctrl-C while a fit or forest plot is being written; SIGKILL while the screening
    # stage fills its staging folder
    if kind == "sigint":
        kill = interrupted_run(work, sig, ("pooled/", "forest/"), "extraction/effects.csv")
    else:
        kill = interrupted_run(work, sig, ("screening/",), "screening/index.json")
    out = {"work": work, "kill": kill}
    out["after_kill"] = outputs(work)
    out["temporary_after_kill"] = temporary_files(work)
    out["plain_rerun"] = snakemake(work)  # what a user types first
    steps = []
    if sig == signal.SIGKILL:
        steps.append(snakemake(work, "--unlock"))
    steps.append(snakemake(work, "--rerun-incomplete"))
    out["recovery"] = steps
    out["after"] = outputs(work)
    out["temporary_after"] = temporary_files(work)
    out["dry_run"] = snakemake(work, "--dry-run")
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("interrupt")
    kinds = ("reference", "sigint", "sigkill")
    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(kinds, pool.map(lambda k: scenario(tmp, k), kinds), strict=True))


def test_reference_run_is_complete(runs):
    ref = runs["reference"]["after"]
    names = {Path(p).name for p in ref}
    assert {"death.json", "death.csv", "death.svg", "death.png", "report.html"} <= names
    assert {"manifest.json", "effects.csv", "validation.json"} <= names


@pytest.mark.parametrize("kind", ["sigint", "sigkill"])
def test_kill_leaves_no_partial_output(runs, kind):
    run = runs[kind]
    assert run["kill"]["killed_at"], "the run ended before it could be interrupted"
    assert run["kill"]["returncode"] != 0
    ref = runs["reference"]["after"]
    for path, data in run["after_kill"].items():
        assert path in ref, f"{path} is not an output of the uninterrupted run"
        assert data == ref[path], f"{path} is incomplete after {kind}"
    assert len(run["after_kill"]) < len(ref), "nothing was left to do after the kill"


@pytest.mark.parametrize("kind", ["sigint", "sigkill"])
def test_rerun_needs_what_snakemake_says(runs, kind):
    run = runs[kind]
    plain = run["plain_rerun"]
    text = plain.stdout + plain.stderr
    if plain.returncode != 0:  # Snakemake names the recovery command
        assert "IncompleteFilesException" in text or "LockException" in text, text[-3000:]
        assert "--rerun-incomplete" in text or "--unlock" in text, text[-3000:]
        assert "Traceback (most recent call last)" not in text
    for step in run["recovery"]:
        assert step.returncode == 0, step.stderr[-3000:]


@pytest.mark.parametrize("kind", ["sigint", "sigkill"])
def test_rerun_gives_identical_bytes(runs, kind):
    run = runs[kind]
    ref = runs["reference"]["after"]
    assert sorted(run["after"]) == sorted(ref)
    differing = [p for p in ref if run["after"][p] != ref[p]]
    assert not differing, f"differ from the uninterrupted run: {differing}"
    assert run["temporary_after"] == [], "temporary files left behind"
    dry = run["dry_run"]
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr


def test_jobs_write_only_declared_outputs(runs):
    """New files of the reference run = the outputs Snakemake recorded + the job logs."""
    work = runs["reference"]["work"]
    declared = set()
    for entry in (work / ".snakemake" / "metadata").iterdir():
        declared.add(b64decode(entry.name).decode())
    new = all_files(work) - runs["reference"]["before"]
    new = {p for p in new if "__pycache__" not in p}  # the interpreter's bytecode cache
    logs = {p for p in new if p.startswith(f"results/{REVIEW}/logs/") and p.endswith(".log")}
    inside = {p for p in new if any(p.startswith(d.rstrip("/") + "/") for d in declared)}
    assert new - declared - logs - inside == set()
    folders = {d for d in declared if (work / d).is_dir()}  # directory() outputs
    assert declared - folders <= new
    tmpdir = work.parent / f"{work.name}-tmpdir"
    assert not any(tmpdir.iterdir()), f"files left in TMPDIR: {list(tmpdir.iterdir())}"


def test_scripts_write_only_through_atomic_writers():
    """Static check: job scripts only call metareview; every writer in the package puts
    its temporary file next to the output and renames it into place."""
    scripts = sorted((ROOT / "workflow" / "scripts").glob("*.py"))
    assert scripts
    forbidden = re.compile(
        r"\bopen\(|write_text|write_bytes|tempfile|shutil\.|os\.replace|os\.rename"
        r"|subprocess|os\.system|Popen"
    )
    for script in scripts:
        for n, line in enumerate(script.read_text().splitlines(), 1):
            assert not forbidden.search(line), f"{script.name}:{n}: {line.strip()}"
    for module in sorted((ROOT / "metareview").rglob("*.py")):
        text = module.read_text()
        rel = module.relative_to(ROOT).as_posix()
        for m in re.finditer(r"(mkstemp|NamedTemporaryFile|mkdtemp|TemporaryDirectory)\(", text):
            call = text[m.start() : text.find("\n", m.start())]
            assert "dir=" in call, f"{rel}: a temporary file outside the output's folder: {call}"
        for m in re.finditer(r"\bopen\([^)\n]*[\"'][wax]b?[\"']", text):
            assert rel in ("metareview/io.py", "metareview/plots/common.py"), (rel, m.group())
    io_text = (ROOT / "metareview" / "io.py").read_text()
    assert "mkstemp(dir=path.parent" in io_text and "os.replace(tmp, path)" in io_text
    common = (ROOT / "metareview" / "plots" / "common.py").read_text()
    assert "os.replace(tmp, path)" in common and 'directory / f".{path.name}.' in common


def test_stale_temporaries_are_removed_only_for_the_job_outputs(tmp_path):
    from metareview.io import remove_stale_temps

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    forest = tmp_path / "forest"
    forest.mkdir()
    mine = [forest / ".death.svg.123.ab12cd34.tmp", forest / ".death.png.k3j4l5m6.tmp"]
    others = [forest / ".sich.svg.123.ab12cd34.tmp", forest / ".sich.png.k3j4l5m6.tmp"]
    staging = [tmp_path / f".ingest-{dead}-0a1b2c3d.tmp", tmp_path / f".ingest-{os.getpid()}-1.tmp"]
    for p in mine + others:
        p.write_text("partial")
    for d in staging:
        d.mkdir()
        (d / "records.csv").write_text("partial")
    removed = remove_stale_temps([forest / "death.svg", forest / "death.png", tmp_path / "x"])
    assert sorted(removed) == sorted(p.as_posix() for p in [*mine, staging[0]])
    assert all(p.exists() for p in others) and staging[1].exists()


def test_outputs_follow_the_umask(tmp_path):
    """Atomic writes keep the umask's mode (mkstemp's 0600 would hide reports from
    colleagues and web servers)."""
    from metareview.io import write_json

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
