"""Benchmark: ``metareview pool FILE --by ma_id`` as a user runs it (whole process), side by
side with metafor's ``escalc`` + ``rma`` loop, and every group checked against metafor.

    python benchmarks/pool_cli.py [--n 10000] [--seed 1] [--repeat 5] [--no-r]

Writes the CSV of ``make_many_csv.py``, runs
``python -m metareview.cli pool many.csv --measure OR --method REML --by ma_id --format csv``
``--repeat`` times (wall time in the parent, peak memory from ``resource`` of the child),
then, with Rscript, runs in R for every group ``escalc("OR", ...)`` and
``rma(yi, vi, method = "REML")`` (refitted with ``control = list(stepadj = 0.5,
maxiter = 1000)`` where the default fails), timing the loop inside R, and compares
estimate, se and tau2 of every group.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_many_csv import write_csv  # noqa: E402

R_LOOP = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(TRUE)
d <- read.csv(args[1])
groups <- split(d, d$ma_id)
refits <- 0L
t0 <- proc.time()[["elapsed"]]
res <- lapply(groups, function(g) {
  es <- escalc("OR", ai = g$ai, n1i = g$n1i, ci = g$ci, n2i = g$n2i)
  r <- tryCatch(rma(es$yi, es$vi, method = "REML"), error = function(e) NULL)
  if (is.null(r)) {
    refits <<- refits + 1L
    r <- tryCatch(rma(es$yi, es$vi, method = "REML",
                      control = list(stepadj = 0.5, maxiter = 1000)), error = function(e) NULL)
  }
  if (is.null(r)) return(c(NA, NA, NA))
  c(as.numeric(r$beta), r$se, r$tau2)
})
elapsed <- proc.time()[["elapsed"]] - t0
out <- data.frame(group = names(res), do.call(rbind, res))
names(out) <- c("group", "estimate", "se", "tau2")
write.csv(out, args[2], row.names = FALSE)
cat(sprintf("%.3f %d\n", elapsed, refits), file = args[3])
"""


def run_cli(path: Path) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds (user + system) and peak resident KB of the child, and its
    stdout. (On a shared, loaded machine the CPU time is the steadier figure.)"""
    cmd = [sys.executable, "-m", "metareview.cli", "pool", str(path), "--measure", "OR"]
    cmd += ["--method", "REML", "--by", "ma_id", "--format", "csv"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu, max(after.ru_maxrss, before.ru_maxrss), out.stdout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--no-r", action="store_true")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "many.csv"
        rows = write_csv(data, a.n, a.seed)
        print(f"{rows} studies in {a.n} meta-analyses ({data.stat().st_size / 1e6:.1f} MB)")
        walls, cpus, peaks, out = [], [], [], ""
        for _ in range(a.repeat):
            wall, cpu, peak, out = run_cli(data)
            walls.append(wall)
            cpus.append(cpu)
            peaks.append(peak)
        walls.sort()
        cpus.sort()
        print(
            f"metareview CLI, whole process: wall best {walls[0]:.3f} s, median "
            f"{walls[len(walls) // 2]:.3f} s; CPU (user + sys) best {cpus[0]:.3f} s, median "
            f"{cpus[len(cpus) // 2]:.3f} s, of {a.repeat}; peak memory {max(peaks) / 1024:.0f} MB"
        )
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
        ours = {r["group"]: r for r in csv.DictReader(out.splitlines())}
        errors = [g for g, r in ours.items() if r["error"]]
        noted = [g for g, r in ours.items() if r["warnings"]]
        print(f"groups without a fit: {len(errors)}; groups with a fallback note: {noted}")
        if a.no_r or not shutil.which("Rscript"):
            print("Rscript not run")
            return
        script, res, timing = tmp / "loop.R", tmp / "metafor.csv", tmp / "time.txt"
        script.write_text(R_LOOP)
        t = time.perf_counter()
        subprocess.run(
            ["Rscript", "--vanilla", str(script), str(data), str(res), str(timing)],
            check=True,
            env={**os.environ, "LC_ALL": "C"},
        )
        r_wall = time.perf_counter() - t
        r_loop, refits = timing.read_text().split()
        print(
            f"metafor escalc + rma loop: {float(r_loop):.1f} s inside R, {r_wall:.1f} s whole "
            f"Rscript; {refits} groups refitted with stepadj = 0.5"
        )
        print(
            f"ratio (metafor loop / metareview best whole process): {float(r_loop) / walls[0]:.0f}x"
        )
        worst = {"estimate": 0.0, "se": 0.0, "tau2": 0.0}
        missing = []
        for r in csv.DictReader(res.open()):
            mine = ours[r["group"]]
            if r["estimate"] == "NA" or not mine["estimate"]:
                missing.append(r["group"])
                continue
            for key in worst:
                worst[key] = max(worst[key], abs(float(mine[key]) - float(r[key])))
        print(
            "max |metareview - metafor| over groups: "
            + ", ".join(f"{k} {v:.2g}" for k, v in worst.items())
        )
        print(f"groups without an answer on either side: {missing}")
        ok = all(v <= 1e-4 for v in worst.values()) and not missing
        print("every group within 1e-4 of metafor" if ok else "DISAGREEMENT")


if __name__ == "__main__":
    main()
