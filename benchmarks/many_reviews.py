"""Many reviews in one Snakemake run: how the pipeline's cost grows with the number of reviews.

Copies one bundled review N times (config/reviews/<review>-NNNN.yaml, data/raw/<review>-NNNN/,
a config listing the N copies) into a temporary folder and times, for each N:

- `dag`: `snakemake -n` (parse, build the DAG, nothing run): Snakemake's own DAG building;
- `run`: a cold `snakemake --cores 2` (wall seconds, seconds per review) and the CPU seconds of
  the Snakemake main process alone (scheduling; the jobs are separate processes).

    python benchmarks/many_reviews.py --n 10 50
    python benchmarks/many_reviews.py --n 10 --extra=--max-jobs-per-timespan=1000/10s

Run from the repository (its metareview package is put first on PYTHONPATH). The copies are
identical: what is measured is the pipeline's cost per review, not the statistics'.
"""

from __future__ import annotations

import argparse
import os
import re
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


def make_reviews(work: Path, review: str, n: int) -> list[str]:
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
    lines = ["reviews:"] + [f"  - {name}" for name in names]
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
    ap.add_argument("--review", default="evt-vs-medical-rcts")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--extra", action="append", default=[], help="an extra snakemake argument")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folders")
    opts = ap.parse_args()

    print(f"review {opts.review}, --cores {opts.cores}, extra {opts.extra}")
    print("| N | jobs | dag s | run s | s/review | main-process CPU s |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in opts.n:
        work = Path(tempfile.mkdtemp(prefix=f"many{n}-"))
        try:
            make_reviews(work, opts.review, n)
            dag, _, text = snakemake(work, ["-n", "--cores", str(opts.cores), *opts.extra])
            jobs = job_count(text)
            run, cpu, _ = snakemake(work, ["--cores", str(opts.cores), "--quiet", *opts.extra])
            print(
                f"| {n} | {jobs} | {dag:.1f} | {run:.1f} | {run / n:.2f} | {cpu:.1f} |", flush=True
            )
        finally:
            if opts.keep:
                print(f"  kept {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
