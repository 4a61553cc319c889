"""Many reviews in one Snakemake run: how the pipeline's cost grows with the number of reviews.

Copies one bundled review N times (config/reviews/<review>-NNNN.yaml, data/raw/<review>-NNNN/,
a config listing the N copies) into a temporary folder, every copy's event counts perturbed
(each `events` cell moved by -2..+2 within 0..total, numpy seed 1: SYNTHETIC data, the
statistics differ from copy to copy), and times, for each N:

- `dag`: `snakemake -n` (parse, build the DAG, nothing run): Snakemake's own DAG building;
- `run`: a cold `snakemake --cores 2` (wall seconds, seconds per review) and the CPU seconds of
  the Snakemake main process alone (scheduling; the jobs are separate processes).

    python benchmarks/many_reviews.py --n 10 50                       # per-outcome jobs
    python benchmarks/many_reviews.py --n 10 100 1000 --reviews-per-job 25 --figures none
    python benchmarks/many_reviews.py --n 10 --extra=--max-jobs-per-timespan=1000/10s

`--reviews-per-job K` sets config `reviews_per_job: K` (whole reviews, K per job) and
`--figures all|svg|none` config `figures` (all: SVG + PDF + PNG, the default). Run from the
repository (its metareview package is put first on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
}
# the Snakemake main process, reporting its own CPU seconds (not its jobs') when it exits
MAIN = (
    "import atexit, resource, sys\n"
    "def _cpu():\n"
    "    r = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    sys.stderr.write(f'MAIN-CPU {r.ru_utime + r.ru_stime:.2f} MAXRSS {r.ru_maxrss}\\n')\n"
    "atexit.register(_cpu)\n"
    "from snakemake.cli import main\n"
    "sys.argv[0] = 'snakemake'\n"
    "main()\n"
)


def perturb(extraction: Path, rng) -> None:
    """Move every `events` cell by -2..+2, kept within 0..total (synthetic copies)."""
    import csv
    import io

    with extraction.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
        fields = list(rows[0]) if rows else []
    for row in rows:
        events, total = row.get("events", ""), row.get("total", "")
        if events.isdigit() and total.isdigit():
            row["events"] = str(min(int(total), max(0, int(events) + int(rng.integers(-2, 3)))))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    extraction.write_text(out.getvalue(), encoding="utf-8")


def make_reviews(
    work: Path, review: str, n: int, per_job: int | None = None, figures: str = "all"
) -> list[str]:
    import numpy as np

    rng = np.random.default_rng(1)
    for name in ("Snakefile", "workflow"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, work / name, symlinks=False)
        else:
            shutil.copy2(src, work / name)
    (work / "config" / "reviews").mkdir(parents=True)
    protocol = (ROOT / "config" / "reviews" / f"{review}.yaml").read_text()
    names = []
    for i in range(n):
        name = f"{review}-{i:04d}"
        names.append(name)
        text = re.sub(r"(?m)^review_id: .*$", f"review_id: {name}", protocol)
        (work / "config" / "reviews" / f"{name}.yaml").write_text(text)
        shutil.copytree(ROOT / "data" / "raw" / review, work / "data" / "raw" / name)
        perturb(work / "data" / "raw" / name / "extraction.csv", rng)
    lines = ["reviews:"] + [f"  - {name}" for name in names]
    if per_job:
        lines.append(f"reviews_per_job: {per_job}")
    if figures != "all":
        lines.append(f"figures: {'[svg]' if figures == 'svg' else '[]'}")
    (work / "config" / "config.yaml").write_text("\n".join(lines) + "\n")
    return names


def snakemake(work: Path, args: list[str]) -> tuple[float, float | None, str]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", MAIN, *args],
        cwd=work,
        env=ENV,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    text = out.stdout + out.stderr
    if out.returncode != 0:
        sys.exit(f"snakemake {' '.join(args)} failed:\n{text[-4000:]}")
    m = re.search(r"MAIN-CPU ([\d.]+)", text)
    return wall, float(m.group(1)) if m else None, text


def job_count(text: str) -> int:
    m = re.search(r"(?m)^total\s+(\d+)\s*$", text)
    return int(m.group(1)) if m else -1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[10, 50])
    ap.add_argument("--review", default="dmvo-mt-vs-bmm", help="5 outcomes")
    ap.add_argument("--reviews-per-job", type=int, default=None)
    ap.add_argument("--figures", choices=["all", "svg", "none"], default="all")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--extra", action="append", default=[], help="an extra snakemake argument")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folders")
    opts = ap.parse_args()

    print(
        f"review {opts.review}, --cores {opts.cores}, reviews_per_job {opts.reviews_per_job}, "
        f"figures {opts.figures}, extra {opts.extra}"
    )
    print("| N | jobs | dag s | run s | s/review | main-process CPU s | jobs' CPU s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in opts.n:
        work = Path(tempfile.mkdtemp(prefix=f"many{n}-"))
        try:
            make_reviews(work, opts.review, n, opts.reviews_per_job, opts.figures)
            dag, _, text = snakemake(work, ["-n", "--cores", str(opts.cores), *opts.extra])
            jobs = job_count(text)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            run, cpu, _ = snakemake(work, ["--cores", str(opts.cores), "--quiet", *opts.extra])
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            # every process the run started (the main process included), minus the main
            total = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            print(
                f"| {n} | {jobs} | {dag:.1f} | {run:.1f} | {run / n:.2f} | {cpu:.1f} "
                f"| {total - (cpu or 0):.1f} |",
                flush=True,
            )
        finally:
            if opts.keep:
                print(f"  kept {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
