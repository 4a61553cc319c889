"""Benchmark: pool many synthetic meta-analyses at once versus one at a time.

Simulates ``--n`` two-arm meta-analyses (log odds ratios), then times, in one run:

* metareview, vectorised: ``pad_groups`` + ``fit_iv_many`` (REML + knha, DL + knha, PM + knha,
  and REML + knha with the Q-profile CI of tau2);
* a Python loop over statsmodels' ``combine_effects`` (``method_re="chi2"`` = DL,
  ``"iterated"`` = Paule-Mandel), one call per meta-analysis;
* when ``Rscript`` is on PATH (and not ``--no-r``): three loops in R over metafor's
  ``rma(yi, vi, method="REML", test="knha")``, ``rma(..., method="PM", test="knha")`` and
  ``confint(rma(..., method="REML", test="knha"))``, each timed inside R around the loop only.

It compares the estimates (REML, PM and the tau2 CI with metafor, DL with statsmodels), then
times a separate
``python -c`` process that imports metareview, builds the arrays and pools all meta-analyses
by REML (wall time of the whole process, interpreter start-up included).

    python benchmarks/pool_many.py [--n 10000] [--seed 1] [--no-r] [--repeat 3]

See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from metareview.engine.effects import escalc_two_arm
from metareview.engine.models import fit_iv_many, pad_groups

HERE = Path(__file__).resolve().parent


# --- data ------------------------------------------------------------------------------------


def simulate(n: int = 10_000, seed: int = 1) -> dict[str, np.ndarray]:
    """``n`` two-arm meta-analyses as one long table (rows sorted by group).

    Per meta-analysis: k ~ U{3..30}, mean log OR mu ~ N(-0.2, 0.4^2), tau ~ U(0, 0.5).
    Per study: arm sizes ~ U{20..500} each, baseline (control) risk ~ U(0.05, 0.5),
    true log OR theta ~ N(mu, tau^2); events ~ Binomial in each arm.
    """
    rng = np.random.default_rng(seed)
    k = rng.integers(3, 31, size=n)
    group = np.repeat(np.arange(n), k)
    rows = group.size
    mu = rng.normal(-0.2, 0.4, size=n)
    tau = rng.uniform(0.0, 0.5, size=n)
    theta = rng.normal(mu[group], tau[group])
    p0 = rng.uniform(0.05, 0.5, size=rows)
    p1 = 1 / (1 + np.exp(-(np.log(p0 / (1 - p0)) + theta)))
    n1i = rng.integers(20, 501, size=rows)
    n2i = rng.integers(20, 501, size=rows)
    ai = rng.binomial(n1i, p1)
    ci = rng.binomial(n2i, p0)
    return {"group": group, "ai": ai, "n1i": n1i, "ci": ci, "n2i": n2i}


def log_or(data: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """yi, vi of the log odds ratio for the whole long table (add 1/2 to zero cells)."""
    es = escalc_two_arm("OR", data["ai"], data["n1i"], data["ci"], data["n2i"])
    return es.yi, es.vi


def split(values: np.ndarray, group: np.ndarray) -> list[np.ndarray]:
    """Per-group 1-D arrays (``group`` sorted)."""
    cuts = np.flatnonzero(np.diff(group)) + 1
    return np.split(values, cuts)


# --- the contenders ----------------------------------------------------------------------------


def run_ours(yi, vi, group, method: str, repeat: int, tau2_ci: bool = False):
    """Best-of-``repeat`` seconds for pad_groups + fit_iv_many, and the last result."""
    best = np.inf
    res = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        y, v, mask, codes = pad_groups(yi, vi, group)
        res = fit_iv_many(y, v, mask, method=method, test="knha", tau2_ci=tau2_ci)
        best = min(best, time.perf_counter() - t0)
    return best, res


def run_statsmodels(ys, vs, method_re: str):
    """Seconds for a loop of combine_effects, and estimate / HKSJ se / tau2 per group."""
    from statsmodels.stats.meta_analysis import combine_effects

    g = len(ys)
    est, se, tau2 = np.empty(g), np.empty(g), np.empty(g)
    # statsmodels' DL does not truncate tau2 at 0, so weights (and variances) can be negative
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        t0 = time.perf_counter()
        for i in range(g):
            r = combine_effects(ys[i], vs[i], method_re=method_re)
            est[i] = r.mean_effect_re
            se[i] = np.sqrt(r.var_hksj_re)
            tau2[i] = r.tau2
    return time.perf_counter() - t0, {"estimate": est, "se": se, "tau2": tau2}


R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
suppressMessages(library(metafor))
d <- read.csv(args[1])
ys <- split(d$yi, d$group)
vs <- split(d$vi, d$group)
g <- length(ys)
f <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))
fit_loop <- function(method, ci) {
  est <- rep(NA_real_, g); se <- est; tau2 <- est; lb <- est; ub <- est; err <- rep("", g)
  t0 <- proc.time()
  for (i in seq_len(g)) {
    r <- tryCatch({
      fit <- rma(ys[[i]], vs[[i]], method = method, test = "knha")
      if (ci) list(fit, confint(fit)$random) else list(fit, NULL)
    }, error = function(e) conditionMessage(e))
    if (is.character(r)) {
      err[i] <- r
    } else {
      est[i] <- r[[1]]$beta[1]; se[i] <- r[[1]]$se; tau2[i] <- r[[1]]$tau2
      if (ci) { lb[i] <- r[[2]][1, 2]; ub[i] <- r[[2]][1, 3] }
    }
  }
  el <- (proc.time() - t0)[["elapsed"]]
  list(el = el, out = data.frame(group = names(ys), estimate = f(est), se = f(se),
                                 tau2 = f(tau2), tau2_ci_lb = f(lb), tau2_ci_ub = f(ub),
                                 error = gsub("[\r\n]+", " ", err)))
}
runs <- list(REML = fit_loop("REML", FALSE), PM = fit_loop("PM", FALSE),
             REML_CI = fit_loop("REML", TRUE))
for (name in names(runs))
  write.csv(runs[[name]]$out, file.path(args[2], paste0(name, ".csv")), row.names = FALSE,
            quote = TRUE)
cat(sprintf("%s %.6f\n", names(runs), sapply(runs, `[[`, "el")), sep = "", file = args[3])
"""


R_FIELDS = ("estimate", "se", "tau2", "tau2_ci_lb", "tau2_ci_ub")


def run_metafor(yi, vi, group):
    """Seconds of each R loop (inside R), R's total wall time and per-group results.

    Returns ``(seconds, wall, results)`` with ``seconds`` and ``results`` keyed by loop:
    ``REML``, ``PM`` and ``REML_CI`` (fit + ``confint``).
    """
    with tempfile.TemporaryDirectory(prefix="metareview-bench-") as tmp:
        tmp = Path(tmp)
        data_csv, out_dir, time_txt, script = (
            tmp / "long.csv",
            tmp,
            tmp / "elapsed.txt",
            tmp / "loop.R",
        )
        with data_csv.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["group", "yi", "vi"])
            w.writerows(
                zip(group.tolist(), map(repr, yi.tolist()), map(repr, vi.tolist()), strict=True)
            )
        script.write_text(R_SCRIPT)
        t0 = time.perf_counter()
        subprocess.run(
            ["Rscript", "--vanilla", str(script), str(data_csv), str(out_dir), str(time_txt)],
            check=True,
        )
        r_wall = time.perf_counter() - t0
        seconds = {
            name: float(sec)
            for name, sec in (ln.split() for ln in time_txt.read_text().split("\n") if ln)
        }
        results = {}
        for name in seconds:
            with (out_dir / f"{name}.csv").open(newline="") as fh:
                rows = list(csv.DictReader(fh))
            rows.sort(key=lambda r: int(r["group"]))
            res = {
                key: np.array([np.nan if r[key] == "NA" else float(r[key]) for r in rows])
                for key in R_FIELDS
            }
            res["error"] = [r["error"] for r in rows]
            results[name] = res
    return seconds, r_wall, results


# --- whole-process and import timings ----------------------------------------------------------

WHOLE = """
import time
t0 = time.perf_counter()
import sys
sys.path.insert(0, {here!r})
import pool_many as pm
t1 = time.perf_counter()
d = pm.simulate({n}, {seed})
t2 = time.perf_counter()
yi, vi = pm.log_or(d)
t3 = time.perf_counter()
y, v, mask, codes = pm.pad_groups(yi, vi, d["group"])
res = pm.fit_iv_many(y, v, mask, method="REML", test="knha")
t4 = time.perf_counter()
import json
print(json.dumps({{"import": t1 - t0, "simulate": t2 - t1, "escalc": t3 - t2,
                  "pool": t4 - t3, "groups": int(res["k"].size)}}))
"""

IMPORTS = """
import time
t0 = time.perf_counter()
import numpy
t1 = time.perf_counter()
import scipy.special
t2 = time.perf_counter()
import metareview.engine.models
t3 = time.perf_counter()
import json
print(json.dumps({"numpy": t1 - t0, "scipy.special": t2 - t1, "engine.models rest": t3 - t2}))
"""


def timed_process(code: str) -> tuple[float, dict | None]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    text = out.stdout.strip()
    return wall, (json.loads(text) if text else None)


# --- reporting -----------------------------------------------------------------------------------


def max_diff(a: dict, b: dict, ok: np.ndarray, keys=("estimate", "se", "tau2")) -> dict[str, float]:
    return {key: float(np.max(np.abs(a[key][ok] - b[key][ok]), initial=0.0)) for key in keys}


def fmt_diff(d: dict[str, float]) -> str:
    return "  ".join(f"{key} {val:.2e}" for key, val in d.items())


def compare_metafor(label: str, ours: dict, theirs: dict, keys=("estimate", "se", "tau2")):
    """Print the max abs differences over groups both fitted, and groups where one failed."""
    conv = ours["converged"]
    ok = np.array([e == "" for e in theirs["error"]])
    both = conv & ok
    print(f"  {label} ({both.sum()} groups): {fmt_diff(max_diff(ours, theirs, both, keys))}")
    for i in np.flatnonzero(conv != ok):
        print(
            f"    group {i}: metareview converged={bool(conv[i])}, "
            f"metafor: {theirs['error'][i] or 'ok'}"
        )
    for i in np.flatnonzero(~conv & ~ok):
        print(f"    group {i}: neither converged (metafor: {theirs['error'][i]})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="number of meta-analyses")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-r", action="store_true", help="skip the metafor loop")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many for metareview")
    args = ap.parse_args(argv)

    data = simulate(args.n, args.seed)
    group = data["group"]
    t0 = time.perf_counter()
    yi, vi = log_or(data)
    t_escalc = time.perf_counter() - t0
    ok_rows = np.isfinite(yi) & np.isfinite(vi)
    assert ok_rows.all(), "every simulated study should have an estimable log OR"
    zero = int(
        np.sum(
            (data["ai"] == 0)
            | (data["ci"] == 0)
            | (data["ai"] == data["n1i"])
            | (data["ci"] == data["n2i"])
        )
    )
    print(
        f"{args.n} meta-analyses, {yi.size} studies (k 3..30; {zero} with a zero cell), "
        f"seed {args.seed}; escalc on the long table {t_escalc:.3f} s; {os.cpu_count()} cores"
    )

    timings: list[tuple[str, float]] = []
    t_reml, ours_reml = run_ours(yi, vi, group, "REML", args.repeat)
    t_dl, ours_dl = run_ours(yi, vi, group, "DL", args.repeat)
    t_pm, ours_pm = run_ours(yi, vi, group, "PM", args.repeat)
    t_ci, ours_ci = run_ours(yi, vi, group, "REML", args.repeat, tau2_ci=True)
    timings += [
        ("metareview REML+knha (vectorised)", t_reml),
        ("metareview DL+knha (vectorised)", t_dl),
        ("metareview PM+knha (vectorised)", t_pm),
        ("metareview REML+knha + tau2 Q-profile CI", t_ci),
    ]

    ys, vs = split(yi, group), split(vi, group)
    t_sm_dl, sm_dl = run_statsmodels(ys, vs, "chi2")
    t_sm_pm, sm_pm = run_statsmodels(ys, vs, "iterated")
    timings += [("statsmodels DL loop", t_sm_dl), ("statsmodels PM loop", t_sm_pm)]

    mf = None
    if not args.no_r and shutil.which("Rscript"):
        t_mf, r_wall, mf = run_metafor(yi, vi, group)
        timings += [
            ("metafor REML+knha loop (in R)", t_mf["REML"]),
            ("metafor PM+knha loop (in R)", t_mf["PM"]),
            ("metafor REML+knha + confint loop (in R)", t_mf["REML_CI"]),
        ]
    elif not args.no_r:
        print("Rscript not on PATH: metafor loop skipped")

    print()
    print(f"{'':40s} {'seconds':>9s}")
    for name, sec in timings:
        print(f"{name:40s} {sec:9.3f}")
    if mf is not None:
        print(f"{'  (Rscript process incl. start-up, CSV)':40s} {r_wall:9.3f}")
    print()
    print("speed ratios (their seconds / ours):")
    print(f"  DL:   statsmodels loop / metareview     {t_sm_dl / t_dl:8.1f}x")
    print(f"  PM:   statsmodels loop / metareview     {t_sm_pm / t_pm:8.1f}x")
    if mf is not None:
        print(f"  REML: metafor loop / metareview         {t_mf['REML'] / t_reml:8.1f}x")
        print(f"  PM:   metafor loop / metareview         {t_mf['PM'] / t_pm:8.1f}x")
        print(f"  REML + tau2 CI: metafor loop / ours     {t_mf['REML_CI'] / t_ci:8.1f}x")

    print()
    print("agreement (max abs difference over groups both fitted):")
    if mf is not None:
        compare_metafor("REML+knha vs metafor  ", ours_reml, mf["REML"])
        compare_metafor("PM+knha vs metafor    ", ours_pm, mf["PM"])
        compare_metafor(
            "tau2 Q-profile CI (REML) vs metafor confint",
            ours_ci,
            mf["REML_CI"],
            ("tau2_ci_lb", "tau2_ci_ub"),
        )
    neg = sm_dl["tau2"] < 0
    pos = ~neg
    print(
        f"  DL+knha vs statsmodels ({pos.sum()} groups with Q >= k-1): "
        f"{fmt_diff(max_diff(ours_dl, sm_dl, pos))}"
    )
    if neg.any():
        d = max_diff(ours_dl, sm_dl, neg)
        print(
            f"    statsmodels 'chi2' does not truncate tau2 at 0: {neg.sum()} groups with "
            f"tau2 < 0 (min {sm_dl['tau2'].min():.3g}); there: {fmt_diff(d)}"
        )
    pm_ok = ours_pm["converged"]
    print(
        f"  PM+knha vs statsmodels 'iterated' ({pm_ok.sum()} groups): "
        f"{fmt_diff(max_diff(ours_pm, sm_pm, pm_ok))}  (different root finders/tolerances)"
    )

    print()
    here = str(HERE)
    walls, phases = [], []
    for _ in range(3):
        wall, ph = timed_process(WHOLE.format(here=here, n=args.n, seed=args.seed))
        walls.append(wall)
        phases.append(ph)
    best = int(np.argmin(walls))
    ph = phases[best]
    print(
        f"whole process (python -c: import, simulate, escalc, pad + REML for {ph['groups']}): "
        f"best {min(walls):.3f} s, median {float(np.median(walls)):.3f} s of 3 (target < 0.7)"
    )
    print(
        "  inside the best run: "
        + ", ".join(f"{key} {ph[key]:.3f}" for key in ("import", "simulate", "escalc", "pool"))
    )
    base = min(timed_process("pass")[0] for _ in range(3))
    imp_wall, imp = min((timed_process(IMPORTS) for _ in range(3)), key=lambda x: x[0])
    print(f"  bare interpreter start-up (python -c pass): {base:.3f} s")
    print("  import times (fresh process): " + ", ".join(f"{k} {v:.3f}" for k, v in imp.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
