"""Benchmark: one very large review (N studies x 4 outcomes) through the whole pipeline.

Writes a synthetic review in a temporary folder (a copy of this repository's Snakefile and
workflow with a config naming only the synthetic review), runs a cold
``snakemake --cores C`` there and prints:

* the wall time of the whole run;
* the wall time of every job, from the start and finish stamps of Snakemake's own log
  (``.snakemake/log/*.snakemake.log``; one-second resolution);
* the size of the report, of the results folder and of the largest files, and the height
  of the tallest SVG figure (in pixels at 96 px per inch, as a browser shows it).

The synthetic review: ``--n`` two-arm randomised trials (``S00001`` ...), four binary
outcomes (``mrs02``, ``mrs01``, ``death``, ``sich``; odds ratios, REML), a year per trial,
two subgrouping columns (``category``: 5 levels, ``region``: 4 levels), RoB 2 judgements,
and the sensitivity and small-study plan of the bundled thrombectomy review
(leave-one-out, influence, cumulative by year, alternative models, zero-cell corrections,
an exclusion; Egger, Begg, Peters, Harbord and trim-and-fill). Every count is simulated
(numpy ``default_rng(seed)``): arm sizes ~ U{20..400}, control risks per outcome
(0.35, 0.2, 0.15, 0.03), a true log OR ~ N(mu_o, 0.3^2) per trial and outcome, events
binomial (sICH rare, so some trials have zero cells).

``--profile pool|analyses`` instead calls one outcome's stage function in this process
(``stages.pool.extract_and_pool`` or ``stages.analyses.run_outcome_analyses``) under
cProfile and prints the functions with the largest cumulative time; ``--profile cpu``
calls both without the profiler and prints their CPU seconds (steadier than wall time on
shared cores). The cold run also prints the CPU seconds of all its processes.

    python benchmarks/large_review.py [--n 5000] [--cores 2] [--seed 1] [--keep DIR]
    python benchmarks/large_review.py --n 2000 --profile analyses [--outcome mrs02]

See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import os
import pstats
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REVIEW = "large"
OUTCOMES = {  # id: (label, direction, control risk, mean true log OR)
    "mrs02": ("Functional independence (mRS 0-2) at 90 days", "higher_is_better", 0.35, 0.5),
    "mrs01": ("Excellent outcome (mRS 0-1) at 90 days", "higher_is_better", 0.20, 0.45),
    "death": ("Mortality at 90 days", "lower_is_better", 0.15, -0.1),
    "sich": ("Symptomatic intracranial haemorrhage", "lower_is_better", 0.03, 0.6),
}
CATEGORIES = ["early", "late", "large_core", "basilar", "distal"]
REGIONS = ["Europe", "North America", "Asia", "mixed"]
ROB = ["low", "some", "high"]

PROTOCOL = """\
# Synthetic review written by benchmarks/large_review.py: every number is simulated.
review_id: large
title: Synthetic review of {n} simulated trials (benchmark)
pico:
  population: Simulated
  intervention: Simulated intervention
  comparator: Simulated control
  outcomes: Four simulated binary outcomes
  study_designs: [rct]
arms:
  intervention: evt
  control: control
  intervention_label: Intervention
  control_label: Control
defaults:
  measure: OR
  method: REML
  test: z
  level: 95
  add: 0.5
  to: only0
  drop00: false
outcomes:
{outcomes}
subgroups:
  - id: category
    column: category
    label: Trial population
    outcomes: all
  - id: region
    column: region
    label: Region
    outcomes: all
sensitivity:
  - id: leave-one-out
    kind: leave_one_out
    label: Leave-one-out
  - id: influence
    kind: influence
    label: Influence diagnostics
  - id: cumulative
    kind: cumulative
    label: Cumulative meta-analysis by year
  - id: models
    kind: methods
    label: Alternative models
    methods: [FE, MH, PETO, DL, REML, REML+knha, PM]
  - id: zero-cells
    kind: zero_cells
    label: Alternative zero-cell corrections
  - id: no-basilar
    kind: exclude
    label: Basilar-artery trials excluded
    filter: category == basilar
small_study:
  - tests: [egger, begg, peters, harbord, trimfill]
    min_k: 10
risk_of_bias:
  tool: rob2
"""


# --------------------------------------------------------------------------- the review


def write_review(work: Path, n: int, seed: int = 1) -> None:
    """The pipeline's files and a synthetic review of ``n`` trials in ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "Snakefile", work / "Snakefile")
    shutil.copytree(ROOT / "workflow", work / "workflow", ignore=shutil.ignore_patterns("__py*"))
    (work / "config" / "reviews").mkdir(parents=True, exist_ok=True)
    (work / "config" / "config.yaml").write_text(f"reviews:\n  - {REVIEW}\n", encoding="utf-8")
    outcomes = "\n".join(
        f"  - id: {o}\n    label: {label}\n    direction: {direction}\n"
        f"    role: {'primary' if i == 0 else 'secondary'}"
        for i, (o, (label, direction, _, _)) in enumerate(OUTCOMES.items())
    )
    (work / "config" / "reviews" / f"{REVIEW}.yaml").write_text(
        PROTOCOL.format(n=n, outcomes=outcomes), encoding="utf-8"
    )
    raw = work / "data" / "raw" / REVIEW
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = [f"S{i + 1:05d}" for i in range(n)]
    years = rng.integers(1990, 2026, size=n)
    cats = rng.integers(0, len(CATEGORIES), size=n)
    regions = rng.integers(0, len(REGIONS), size=n)
    rob = rng.integers(0, len(ROB), size=(n, 6))
    with open(raw / "studies.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        domains = ["rob_d1", "rob_d2", "rob_d3", "rob_d4", "rob_d5", "rob_overall"]
        w.writerow(
            ["study_id", "label", "year", "design", "reference", *domains, "category", "region"]
        )
        for i, sid in enumerate(ids):
            w.writerow(
                [sid, f"Trial {sid[1:]}", int(years[i]), "rct", ""]
                + [ROB[j] for j in rob[i]]
                + [CATEGORIES[cats[i]], REGIONS[regions[i]]]
            )
    n1 = rng.integers(20, 401, size=n)
    n2 = rng.integers(20, 401, size=n)
    with open(raw / "extraction.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["study_id", "outcome", "arm", "events", "total", "source"])
        for o, (_, _, p0, mu) in OUTCOMES.items():
            theta = rng.normal(mu, 0.3, size=n)
            p1 = 1 / (1 + np.exp(-(np.log(p0 / (1 - p0)) + theta)))
            e1, e2 = rng.binomial(n1, p1), rng.binomial(n2, p0)
            for i, sid in enumerate(ids):
                w.writerow([sid, o, "evt", int(e1[i]), int(n1[i]), "simulated"])
                w.writerow([sid, o, "control", int(e2[i]), int(n2[i]), "simulated"])


# --------------------------------------------------------------------------- the run

_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
_JOBID = re.compile(r"^\s*jobid: (\d+)")
_RULE = re.compile(r"^(?:local)?rule (\w+):")
_WILD = re.compile(r"^\s*wildcards: (.*)")
_DONE = re.compile(r"^Finished job(?:id)?:? (\d+)")


def job_times(log_text: str) -> list[tuple[str, str, float]]:
    """``(rule, wildcards, seconds)`` of every finished job of a Snakemake log."""
    started: dict[str, tuple[str, str, datetime]] = {}
    out = []
    stamp = rule = wild = job = None
    for line in log_text.splitlines():
        m = _STAMP.match(line.strip())
        if m:
            stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
            continue
        if m := _RULE.match(line):
            rule, wild = m.group(1), ""
        elif m := _WILD.match(line):
            wild = m.group(1)
            if job in started:  # Snakemake prints the wildcards after the jobid
                started[job] = (started[job][0], wild, started[job][2])
        elif (m := _JOBID.match(line)) and rule and stamp:
            job = m.group(1)
            started[job] = (rule, wild, stamp)
        elif (m := _DONE.match(line)) and stamp and m.group(1) in started:
            r, w, t0 = started.pop(m.group(1))
            out.append((r, w, (stamp - t0).total_seconds()))
    return out


def _load() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on this platform
        return "load average unknown"


def svg_height_px(path: Path) -> float:
    head = path.read_text(encoding="utf-8", errors="replace")[:2000]
    m = re.search(r'height="([0-9.]+)pt"', head)
    return float(m.group(1)) * 96 / 72 if m else float("nan")


def run(work: Path, cores: int) -> int:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", str(cores)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stderr[-6000:], file=sys.stderr)
        print(f"snakemake failed (exit {proc.returncode}) after {wall:.1f} s", file=sys.stderr)
        return proc.returncode
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    print(f"whole run (cold snakemake --cores {cores}): {wall:.1f} s")
    print(f"CPU time of the run (user + sys, every process): {cpu:.1f} s; {_load()}")
    logs = sorted((work / ".snakemake" / "log").glob("*.snakemake.log"))
    if logs:
        print("\njob                                  seconds (Snakemake log, 1 s resolution)")
        for rule, wild, sec in job_times(logs[-1].read_text(encoding="utf-8")):
            wild = wild.replace(f"review={REVIEW}", "").strip(", ")
            print(f"  {rule:<10} {wild:<25} {sec:6.0f}")
    results = work / "results" / REVIEW
    files = [p for p in results.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    report = results / "report.html"
    print(f"\nreport.html: {report.stat().st_size / 1e6:.2f} MB")
    print(f"results folder: {total / 1e6:.1f} MB in {len(files)} files")
    print("largest files:")
    for p in sorted(files, key=lambda p: -p.stat().st_size)[:8]:
        print(f"  {p.stat().st_size / 1e6:8.2f} MB  {p.relative_to(results)}")
    svgs = [p for p in files if p.suffix == ".svg"]
    if svgs:
        tall = max(svgs, key=svg_height_px)
        print(f"tallest SVG: {svg_height_px(tall):,.0f} px  {tall.relative_to(results)}")
    return 0


# --------------------------------------------------------------------------- profiling


def profile(work: Path, stage: str, outcome: str, top: int) -> None:
    """One outcome's stage function under cProfile, in this process."""
    sys.path.insert(0, str(ROOT))
    from metareview.inputs.protocol import analysis_plan, load_protocol, outcome_settings
    from metareview.stages.analyses import run_outcome_analyses
    from metareview.stages.layout import Layout
    from metareview.stages.pool import extract_and_pool

    proto_path = work / "config" / "reviews" / f"{REVIEW}.yaml"
    raw = work / "data" / "raw" / REVIEW
    L = Layout.of(work / "results", REVIEW)
    protocol = load_protocol(proto_path)
    settings = outcome_settings(protocol, outcome)

    def pool_stage():
        return extract_and_pool(
            proto_path,
            raw / "studies.csv",
            raw / "extraction.csv",
            outcome,
            settings,
            L.outcome_table(outcome),
            L.pooled(outcome),
            L.forest(outcome),
            L.forest(outcome, "png"),
            L.forest_pages(outcome),
        )

    def analyses_stage():
        return run_outcome_analyses(
            L.outcome_table(outcome),
            L.pooled(outcome),
            proto_path,
            outcome,
            settings,
            analysis_plan(protocol, outcome),
            review_dir=L.root,
            subgroup_dir=L.subgroup_dir(outcome),
            sensitivity_dir=L.sensitivity_dir(outcome),
            bias_json=L.bias(outcome),
            funnel_svg=L.funnel(outcome),
            contour_svg=L.contour_funnel(outcome),
        )

    if stage == "analyses" and not Path(L.pooled(outcome)).exists():
        t0 = time.perf_counter()
        pool_stage()
        print(f"(pool stage first, unprofiled: {time.perf_counter() - t0:.1f} s)")
    if stage == "cpu":  # both stages in this process, CPU seconds, no profiler
        for name, fn in (("pool", pool_stage), ("analyses", analyses_stage)):
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            print(
                f"{name} stage of {outcome}: {time.process_time() - c0:.2f} s CPU, "
                f"{time.perf_counter() - t0:.2f} s wall; {_load()}"
            )
        return
    fn = pool_stage if stage == "pool" else analyses_stage
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    fn()
    prof.disable()
    print(f"{stage} stage of {outcome}: {time.perf_counter() - t0:.1f} s (under cProfile)")
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(top)
    print(buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=5000, help="number of studies (default 5000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="write the review here and keep it")
    ap.add_argument(
        "--profile",
        choices=["pool", "analyses", "cpu"],
        help="profile one stage (cpu: time both stages in-process, without the profiler)",
    )
    ap.add_argument("--outcome", default="mrs02", choices=list(OUTCOMES))
    ap.add_argument("--top", type=int, default=35, help="profile lines to print")
    args = ap.parse_args(argv)
    tmp = None
    if args.keep:
        work = args.keep
        if work.exists():
            shutil.rmtree(work)
    else:
        tmp = tempfile.mkdtemp(prefix="metareview-large-")
        work = Path(tmp)
    try:
        write_review(work, args.n, args.seed)
        print(f"synthetic review: {args.n} studies x {len(OUTCOMES)} outcomes in {work}")
        if args.profile:
            profile(work, args.profile, args.outcome, args.top)
            return 0
        return run(work, args.cores)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
