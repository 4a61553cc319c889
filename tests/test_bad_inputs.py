"""The bad-input corpus (tests/bad_inputs/, format in its README.md), run through the
pipeline's own stage functions, the `metareview pool` command line and, for the cases
marked `snakemake: true`, a real Snakemake run in a temporary copy of the workflow.

Every error case must stop with an ``InputError`` (exit code 2 for the CLI, non-zero for
Snakemake) whose message names the file, the row (line for YAML) and the column (key)
where they apply, and must leave no result file behind. Warning cases must finish and
record the warning where the case says (validation.json or the outcome's fit). Pass cases
must finish without warnings and satisfy their checks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from base64 import b64decode
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from metareview import cli
from metareview.errors import AnalysisError, InputError, InputErrors
from metareview.inputs.protocol import load_config, load_protocol, outcome_settings
from metareview.stages import pool as pipeline
from metareview.stages.studies import run_studies

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "bad_inputs"
BASE = CORPUS / "_base"
REVIEW = "demo"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir() and not p.name.startswith("_"))
SNAKEMAKE_CASES = [
    c for c in CASES if yaml.safe_load((CORPUS / c / "case.yaml").read_text()).get("snakemake")
]

# where each corpus file goes in a review folder (config/reviews, data/raw/<review>)
LAYOUT = {
    "demo.yaml": f"config/reviews/{REVIEW}.yaml",
    "studies.csv": f"data/raw/{REVIEW}/studies.csv",
    "extraction.csv": f"data/raw/{REVIEW}/extraction.csv",
    "screening.csv": f"data/raw/{REVIEW}/screening.csv",
    "config.yaml": "config/config.yaml",
    "pool.csv": "pool.csv",
}


def load_case(name: str) -> dict:
    spec = yaml.safe_load((CORPUS / name / "case.yaml").read_text(encoding="utf-8"))
    spec.setdefault("run", "pipeline")
    msg = spec.get("message", [])
    spec["message"] = [msg] if isinstance(msg, str) else list(msg)
    return spec


def materialise(name: str, work: Path) -> None:
    """The base review with the case's own files in place of the base ones."""
    for fname, rel in LAYOUT.items():
        src = CORPUS / name / fname
        if not src.exists():
            src = BASE / fname
        if src.exists():
            dest = work / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)  # bytes as they are (BOM, CRLF, cp1252...)
    config = work / "config" / "config.yaml"
    if not config.exists():
        config.write_text(f"reviews:\n  - {REVIEW}\n", encoding="utf-8")


def result_files(work: Path) -> list[str]:
    """Every file under results/ except Snakemake's job logs."""
    res = work / "results"
    if not res.exists():
        return []
    return sorted(
        p.relative_to(res).as_posix()
        for p in res.rglob("*")
        if p.is_file() and "logs" not in p.relative_to(res).parts
    )


# --------------------------------------------------------------------------- runners


def run_pipeline(work: Path) -> tuple[Exception | None, Path]:
    """The stages of workflow/rules/pool.smk (rules pool and studies), in DAG order, with
    the arguments the rules give them.

    Returns the InputError/AnalysisError that stopped the run (None if it finished) and
    the review's results folder. Any other exception propagates: a traceback is a bug.
    """
    protocol_path = work / LAYOUT["demo.yaml"]
    studies = work / LAYOUT["studies.csv"]
    extraction = work / LAYOUT["extraction.csv"]
    res = work / "results" / REVIEW
    try:
        protocol = load_protocol(protocol_path)  # Snakemake loads it to build the DAG
        outcomes = [o["id"] for o in protocol["outcomes"]]
        tables = [res / "extraction" / "by_outcome" / f"{o}.csv" for o in outcomes]
        for outcome, table in zip(outcomes, tables, strict=True):
            pipeline.extract_and_pool(  # rule pool
                protocol_path,
                studies,
                extraction,
                outcome,
                dict(outcome_settings(protocol, outcome)),
                table,
                res / "pooled" / f"{outcome}.json",
                res / "forest" / f"{outcome}.svg",
                res / "forest" / f"{outcome}.png",
            )
        run_studies(  # rule studies
            protocol_path,
            studies,
            extraction,
            tables,
            [res / "pooled" / f"{o}.json" for o in outcomes],
            protocol.get("risk_of_bias"),
            review_dir=res,
            effects=res / "extraction" / "effects.csv",
            validation=res / "extraction" / "validation.json",
            rob=res / "rob",
        )
    except (InputError, AnalysisError) as exc:
        return exc, res
    return None, res


def run_cli(work: Path, spec: dict, capsys) -> tuple[int, str, str]:
    argv = ["pool", str(work / spec.get("input", "pool.csv")), *spec.get("args", [])]
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse rejects an option value
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def location_text(spec: dict) -> list[str]:
    """The parts of ``file, row 7, column 'events'`` (``line``/``key`` for YAML)."""
    yaml_file = str(spec.get("file") or "").endswith(".yaml")
    parts = []
    if spec.get("file"):
        parts.append(f"{spec['file']}")
    if spec.get("row") is not None:
        parts.append(f"{'line' if yaml_file else 'row'} {spec['row']}")
    if spec.get("column") is not None:
        parts.append(f"{'key' if yaml_file else 'column'} '{spec['column']}'")
    return parts


def matching(exc: InputError, spec: dict) -> list[InputError]:
    """The findings of ``exc`` at the case's file, row and column with its message."""
    found = exc.errors if isinstance(exc, InputErrors) else [exc]
    return [
        e
        for e in found
        if (spec["file"] is None or (e.file or "").endswith(spec["file"]))
        and e.row == spec.get("row")
        and e.column == spec.get("column")
        and all(m in str(e) for m in spec["message"])
    ]


# --------------------------------------------------------------------------- tests


def test_corpus_is_large_and_well_formed():
    assert len(CASES) >= 40
    kinds = {load_case(c)["expect"] for c in CASES}
    assert kinds == {"error", "warning", "pass"}
    for name in CASES:
        spec = load_case(name)
        assert spec.get("about"), name
        assert spec["run"] in ("pipeline", "cli", "config"), name
        assert set(os.listdir(CORPUS / name)) <= {"case.yaml", *LAYOUT}, name
        if spec["expect"] != "pass":
            assert spec["message"], name


@pytest.mark.parametrize("name", CASES)
def test_case(name, tmp_path, capsys):
    spec = load_case(name)
    materialise(name, tmp_path)
    if spec["run"] == "cli":
        check_cli(spec, tmp_path, capsys)
    elif spec["run"] == "config":
        with pytest.raises(InputError) as info:
            load_config(tmp_path / LAYOUT["config.yaml"])
        check_error(info.value, spec)
    else:
        exc, res = run_pipeline(tmp_path)
        if spec["expect"] == "error":
            assert exc is not None, f"{name}: expected an error, the pipeline finished"
            check_error(exc, spec)
            assert result_files(tmp_path) == [], "a failed run left files behind"
        else:
            assert exc is None, f"{name}: unexpected error: {exc}"
            check_finished(spec, res)


def check_error(exc: Exception, spec: dict) -> None:
    assert isinstance(exc, InputError), f"{type(exc).__name__}: {exc}"
    assert matching(exc, spec), (
        f"no finding at {location_text(spec)} with {spec['message']}:\n{exc}"
    )
    text = str(exc)
    for part in location_text(spec):
        assert part in text, (part, text)


def check_cli(spec: dict, work: Path, capsys) -> None:
    assert spec["expect"] == "error"  # the CLI has no warning channel: it fails or prints
    code, out, err = run_cli(work, spec, capsys)
    assert code == 2, (code, err)
    assert out == "", "nothing on stdout after an error"
    assert "Traceback" not in err
    assert "error:" in err
    for part in location_text(spec) + spec["message"]:
        assert part in err, (part, err)


def check_finished(spec: dict, res: Path) -> None:
    protocol = load_protocol(res.parents[1] / LAYOUT["demo.yaml"])
    outcomes = [o["id"] for o in protocol["outcomes"]]
    for outcome in outcomes:
        for rel in (
            f"extraction/by_outcome/{outcome}.csv",
            f"pooled/{outcome}.json",
            f"forest/{outcome}.svg",
            f"forest/{outcome}.png",
        ):
            assert (res / rel).is_file(), rel
    validation = json.loads((res / "extraction" / "validation.json").read_text())
    fits = {o: json.loads((res / "pooled" / f"{o}.json").read_text()) for o in outcomes}
    if spec["expect"] == "pass":
        assert validation["warnings"] == []
    elif spec["where"] == "validation":
        hits = [
            w
            for w in validation["warnings"]
            if w["file"].endswith(spec["file"])
            and w["row"] == spec["row"]
            and w["column"] == spec["column"]
            and all(m in w["message"] for m in spec["message"])
        ]
        assert hits, validation["warnings"]
    else:
        warnings = fits[spec["outcome"]]["warnings"]
        assert any(all(m in w for m in spec["message"]) for w in warnings), warnings
    for check in spec.get("checks", []):
        value = json.loads((res / check["json"]).read_text())
        for key in str(check["key"]).split("."):
            value = value[int(key)] if isinstance(value, list) else value[key]
        if "equals" in check:
            assert value == check["equals"], (check, value)
        if "contains" in check:
            assert check["contains"] in value, (check, value)


# --------------------------------------------------------------------------- Snakemake


def snakemake_env() -> dict[str, str]:
    """The test process's environment, with this checkout first on the import path (the
    job scripts run in fresh interpreters and must import this metareview)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def copy_workflow(work: Path) -> None:
    shutil.copy2(ROOT / "Snakefile", work / "Snakefile")
    shutil.copytree(
        ROOT / "workflow", work / "workflow", ignore=shutil.ignore_patterns("__pycache__")
    )


@pytest.fixture(scope="module")
def snakemake_runs(tmp_path_factory):
    """All `snakemake: true` cases, run concurrently (each in its own copy)."""

    def one(name):
        work = tmp_path_factory.mktemp(name)
        copy_workflow(work)
        materialise(name, work)
        run = run_snakemake(work)
        return name, (run, work)

    with ThreadPoolExecutor(max_workers=len(SNAKEMAKE_CASES) or 1) as pool:
        return dict(pool.map(one, SNAKEMAKE_CASES))


def run_snakemake(work):
    """``snakemake --cores 1`` in a copy of the workflow; the completed process."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--quiet"],
        cwd=work,
        capture_output=True,
        text=True,
        env=snakemake_env(),
        timeout=300,
    )


@pytest.mark.parametrize("name", SNAKEMAKE_CASES)
def test_case_under_snakemake(name, snakemake_runs):
    spec = load_case(name)
    run, work = snakemake_runs[name]
    assert spec["expect"] == "error"
    assert run.returncode != 0
    text = run.stdout + run.stderr
    assert "Traceback (most recent call last)" not in text, text[-3000:]
    expected = spec.get("snakemake_message") or location_text(spec) + spec["message"]
    for part in expected:
        assert part in text, (part, text[-3000:])
    # Snakemake keeps the outputs of jobs that succeeded (e.g. the screening stage, which
    # does not read the bad rows); nothing else may be left, least of all a partial file
    recorded = set()
    metadata = work / ".snakemake" / "metadata"
    if metadata.is_dir():
        recorded = {b64decode(e.name).decode() for e in metadata.iterdir()}
    left = [f"results/{p}" for p in result_files(work)]
    assert [p for p in left if p not in recorded] == [], "files without a finished job"
    touched = ("/pooled/", "/forest/", "/extraction/", "/report.html", "/manifest.json")
    assert not [p for p in left if any(t in p for t in touched)], left


def test_data_file_that_is_a_directory(tmp_path):
    """studies.csv a symlink to a directory (was: an IsADirectoryError traceback from the
    workflow's digest of an outcome's rows): the readers name the file, under Snakemake too.
    (The corpus holds regular files only, hence a test of its own.)"""
    copy_workflow(tmp_path)
    materialise("_base", tmp_path)
    studies = tmp_path / LAYOUT["studies.csv"]
    studies.unlink()
    studies.symlink_to("..", target_is_directory=True)  # data/raw
    message = "data/raw/demo/studies.csv: is a directory, expected a CSV file"
    exc, _ = run_pipeline(tmp_path)
    assert isinstance(exc, InputError) and str(exc).endswith(message), exc
    assert result_files(tmp_path) == []
    run = run_snakemake(tmp_path)
    text = run.stdout + run.stderr
    assert run.returncode != 0
    assert "Traceback" not in text and "IsADirectoryError" not in text, text[-3000:]
    assert message in text, text[-3000:]
    left = result_files(tmp_path)
    assert not [p for p in left if "/pooled/" in p or "/extraction/" in p], left
