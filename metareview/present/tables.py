"""Report-ready tables and captions, built once from the analyses' results.

The analysis stage (:mod:`metareview.stages.analyses`) writes each analysis' result JSON, its
figures, and an index whose tables come from here; the same tables are written as CSV
beside the JSON, and the HTML report renders the index as it is. One rule for what a cell
shows where a statistic does not apply ("–"): tau² only for random-effects fits of two or
more studies, I² only when Q has at least one degree of freedom.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from metareview.engine import measures
from metareview.io import write_csv
from metareview.present.formats import est_ci, num, pct, pval

DASH = "–"
FIXED_METHODS = ("FE", "MH", "PETO")
#: fewest studies for which a prediction interval is shown (tau² from 2 studies is too
#: unstable for one; the JSON results keep it)
MIN_K_PI = 3
FIT_COLUMNS = ["Analysis", "k", "Estimate [95% CI]", "p", "tau²", "I²"]
NA_NOTE = (
    "–: not applicable (tau² only for random-effects models of two or more studies; I² "
    "needs two or more studies in Q)."
)
INFLUENCE_COLUMNS = [
    "Study",
    "rstudent",
    "DFFITS",
    "Cook's D",
    "cov.r",
    "tau² del.",
    "hat",
    "weight %",
    "DFBETAS",
    "Influential",
]
#: the test for subgroup differences the subgroup forest plot prints, per model family
#: (``plots.forest``): random effects, Q over the level estimates; otherwise Q-between
SUBGROUP_TEST_NAMES = {
    "RE": "random-effects Q over the subgroup estimates",
    "FE": "fixed-effect Q-between",
    "MH": "Q over the Mantel-Haenszel subgroup estimates",
    "PETO": "Q over the Peto subgroup estimates",
}


def effect_name(measure: str | None) -> str:
    """The study-level effect a fit's Q and I² are computed from ("log odds ratio")."""
    known = measures.find(measure)
    return known.effect if known else "effect size"


def family(method: str) -> str:
    """FE, MH, PETO, or RE for every tau² estimator."""
    return method if method in FIXED_METHODS else "RE"


def primary_subgroup_test(result: dict, model: str | None) -> tuple[dict | None, str]:
    """The test for subgroup differences taken as primary, and its family: for a
    random-effects model the random-effects test when the result has it
    (``test_between_re``: Cochran's Q over the subgroup estimates, each pooled with its own
    tau²), otherwise the fixed-effect one (``test_between_fe``: the Q-between, or for MH
    and Peto Q over their subgroup estimates). Family "" for a result with only the generic
    ``test_between``. The one rule the tables, figures and methods prose follow."""
    model = str(model or "").upper()
    re_test, fe_test = result.get("test_between_re"), result.get("test_between_fe")
    if model not in (*FIXED_METHODS, "") and re_test:
        return re_test, "RE"
    if fe_test:
        return fe_test, model if model in ("MH", "PETO") else "FE"
    return result.get("test_between"), ""


def pooled(fit: dict | None) -> bool:
    return bool(fit) and fit.get("pooled", True) and fit.get("estimate") is not None


def q_studies(fit: dict) -> int | None:
    """The studies that enter Cochran's Q and I² (q_df + 1)."""
    q_df = fit.get("q_df")
    return None if q_df is None else int(q_df) + 1


def tau2_text(fit: dict, digits: int = 3, model: str | None = None) -> str:
    """tau² of a random-effects fit of two or more studies; '–' where not applicable (fixed
    effect, Mantel-Haenszel, Peto, a single study)."""
    model = fit.get("model") or model
    if model != "RE" or (fit.get("k") or 0) < 2 or fit.get("tau2") is None:
        return DASH
    return num(fit["tau2"], digits)


def i2_text(fit: dict, digits: int = 0) -> str:
    """I² when Q has at least one degree of freedom; '–' otherwise (a single study)."""
    if fit.get("i2") is None or (fit.get("q_df") or 0) < 1:
        return DASH
    return pct(fit["i2"]) if digits == 0 else f"{num(fit['i2'], digits)}%"


def _q_note(measure: str, fixed_methods: bool) -> str:
    effect = effect_name(measure)
    return (
        "Q, I² on: the studies that enter Cochran's Q and I², those with an estimable "
        f"study-level {effect} under the row's zero-cell rule"
        + (
            "; the Mantel-Haenszel and Peto estimates pool all k 2×2 tables."
            if fixed_methods
            else "."
        )
    )


def fit_table(
    rows: list[tuple[str, dict | None, str]], measure: str, model: str | None = None
) -> dict[str, Any]:
    """A table of fits, one row per ``(label, fit or None, reason it was not computed)``.

    A column "Q, I² on" is added when the studies in Q differ from k for some row
    (Mantel-Haenszel and Peto fits pool tables whose study-level effect is not estimable).
    """
    body: list[list[str]] = []
    in_q: list[int | None] = []
    differing_models = set()
    for label, fit, error in rows:
        if not pooled(fit):
            why = error or "; ".join((fit or {}).get("warnings") or [])
            body.append(
                [label, DASH, f"not computed: {why}" if why else "not computed"] + [DASH] * 3
            )
            in_q.append(None)
            continue
        body.append(
            [
                label,
                str(fit["k"]),
                est_ci(fit["back"]),
                pval(fit.get("pval")),
                tau2_text(fit, 3, model),
                i2_text(fit),
            ]
        )
        n = q_studies(fit)
        in_q.append(n)
        if n is not None and n != fit["k"]:
            differing_models.add(fit.get("model") or model)
    table: dict[str, Any] = {"caption": "", "columns": list(FIT_COLUMNS), "rows": body}
    notes = []
    if differing_models:
        table["columns"].append("Q, I² on")
        for r, n in zip(body, in_q, strict=True):
            r.append(DASH if n is None else str(n))
        notes.append(_q_note(measure, differing_models <= {"MH", "PETO"}))
    if any(r[4] == DASH or r[5] == DASH for r, n in zip(body, in_q, strict=True) if n):
        notes.append(NA_NOTE)
    table["notes"] = notes
    return table


def subgroup_tables(
    result: dict, measure: str, method: str, level_labels: dict, overall_label: str
) -> list[dict[str, Any]]:
    """The per-level table and the tests for subgroup differences of a subgroup analysis
    (``pooling.pool_subgroups``), the primary test marked (the one the figure prints)."""
    levels = result.get("subgroups") or []
    overall = result.get("overall")
    rows = []
    for g in levels:
        name = str(level_labels.get(str(g["level"]), g["level"]))
        if "not_pooled" in g:
            rows.append([name, str(g.get("k", 0)), g["not_pooled"], DASH, DASH])
        else:
            rows.append([name, str(g["k"]), est_ci(g.get("back")), i2_text(g), tau2_text(g)])
    if overall:
        rows.append(
            [overall_label, str(overall["k"]), est_ci(overall.get("back"))]
            + [i2_text(overall), tau2_text(overall)]
        )
    model = str((overall or {}).get("model") or method).upper()
    fe, re_ = result.get("test_between_fe"), result.get("test_between_re")
    primary = re_ if (model not in FIXED_METHODS and re_) else fe
    tests = []
    if fe:
        if model in ("MH", "PETO"):
            name = SUBGROUP_TEST_NAMES[model]
        else:  # the fixed-effect Q-between, for FE and beside the random-effects test
            name = SUBGROUP_TEST_NAMES["FE"] + " (metafor's QM)"
        tests.append((name[0].upper() + name[1:], fe))
    if re_:
        name = SUBGROUP_TEST_NAMES["RE"] + ", each with its own tau²"
        tests.append((name[0].upper() + name[1:], re_))
    test_rows = [
        [name + (" (primary)" if t is primary else ""), num(t["q"]), str(t["df"]), pval(t["pval"])]
        for name, t in tests
    ]
    table_notes = []
    if any(g.get("k") == 1 for g in levels):
        table_notes.append(
            "–: not applicable; a subgroup with one study has no heterogeneity statistics."
        )
    if model in FIXED_METHODS:
        table_notes.append("tau²: not estimated by a fixed-effect model.")
    return [
        {
            "caption": f"Pooled {measure} per subgroup",
            "columns": ["Subgroup", "k", f"{measure} [95% CI]", "I²", "tau²"],
            "rows": rows,
            "notes": table_notes,
        },
        {
            "caption": "Test for subgroup differences",
            "columns": ["Test", "Q", "df", "p"],
            "rows": test_rows,
            "notes": ["Primary: the test printed in the subgroup forest plot (see Methods)."],
        },
    ]


def _chi2_1_quantile(p: float) -> float:
    """x with pchisq(x, 1) = p (chi-square with 1 df: the square of a normal quantile)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf((1 + p) / 2) ** 2


def influence_table(inf: dict, labels: list[str]) -> dict[str, Any]:
    """Case-deletion diagnostics (``sensitivity.influence``), each influential study with
    the criteria it meets (metafor's influence(): |DFFITS| > 3 sqrt(p/(k-p)),
    pchisq(Cook's D, p) > 0.5, hat > 3p/k, |DFBETAS| > 1; p = 1, the pooled effect)."""
    crit = inf.get("criteria") or {}
    k = int(inf["k"])
    cook_cut = _chi2_1_quantile(crit.get("cook_d_pchisq", 0.5))
    inf_ = float("inf")

    def why(e: dict) -> str:
        hits = []
        if e.get("dffits") is not None and abs(e["dffits"]) > crit.get("dffits", inf_):
            hits.append("DFFITS")
        if e.get("cook_d") is not None and e["cook_d"] > cook_cut:
            hits.append("Cook's D")
        if e.get("hat") is not None and e["hat"] > crit.get("hat", inf_):
            hits.append("hat")
        if e.get("dfbs") is not None and abs(e["dfbs"]) > crit.get("dfbs", inf_):
            hits.append("DFBETAS")
        return "yes" + (f" ({', '.join(hits)})" if hits else "")

    rows = [
        [
            label,
            num(e.get("rstudent")),
            num(e.get("dffits")),
            num(e.get("cook_d")),
            num(e.get("cov_r")),
            num(e.get("tau2_del"), 3) if inf.get("model") == "RE" else DASH,
            num(e.get("hat")),
            num(e.get("weight"), 1),
            num(e.get("dfbs")),
            why(e) if e.get("inf") else "",
        ]
        for label, e in zip(labels, inf["studies"], strict=True)
    ]
    note = (
        "Influential: flagged as metafor's influence() does (Viechtbauer and Cheung 2010) when "
        f"at least one criterion holds, with p = 1 coefficient and k = {k} studies: "
        f"|DFFITS| > 3·√(p/(k − p)) = {num(crit.get('dffits'))}; Cook's D > {num(cook_cut)} "
        f"(pchisq(D, p) > {crit.get('cook_d_pchisq', 0.5):g}, the median of χ² with 1 df); "
        f"hat > 3p/k = {num(crit.get('hat'))}; |DFBETAS| > {crit.get('dfbs', 1.0):g}."
    )
    return {
        "caption": "Case-deletion diagnostics (Viechtbauer and Cheung 2010)",
        "columns": INFLUENCE_COLUMNS,
        "rows": rows,
        "notes": [note],
    }


def funnel_caption(funnel: dict, trimfill: dict | None) -> str:
    """What the funnel plot shows: the pseudo confidence region, and the studies trim and
    fill imputed (``trimfill`` when drawn)."""
    level = funnel.get("level") or 95
    text = (
        "Funnel plot: each study's effect against its standard error, with the pseudo "
        f"{float(level):g}% confidence region around the pooled estimate (solid line)."
    )
    if trimfill is not None:
        k0 = int(trimfill.get("k0") or 0)
        how = f"estimator {trimfill.get('estimator')}, {trimfill.get('side')} side"
        if k0 > 0:
            what = "Open circle: the study" if k0 == 1 else f"Open circles: the {k0} studies"
            text += f" {what} imputed by trim and fill ({how}); dashed line: the adjusted estimate."
        else:
            text += f" Trim and fill ({how}) imputed no studies, so none is drawn."
    return text


def contour_caption(funnel: dict) -> str:
    """The contour-enhanced funnel's caption, with the p-value contours drawn."""
    ps = [
        f"{p:.2f}" if round(p, 2) == p else f"{p:g}"
        for p in (float(c["p"]) for c in funnel.get("contours") or [] if c.get("p") is not None)
    ]
    below = ""
    if ps:
        below = " below " + (ps[0] if len(ps) == 1 else ", ".join(ps[:-1]) + " and " + ps[-1])
    return (
        "Contour-enhanced funnel plot (Peters 2008): shading marks where a study's two-sided "
        f"p-value against no effect would fall{below}."
    )


def write_table_csv(path: str | Path, table: dict[str, Any]) -> None:
    """A table as CSV: its columns and rows (notes are in the result JSON and the report)."""
    columns = table["columns"]
    write_csv(path, columns, [dict(zip(columns, r, strict=True)) for r in table["rows"]])


def main_table(fit: dict) -> dict[str, Any]:
    """The per-outcome table of a pooled fit: columns, one row, notes."""
    measure, model, k = fit.get("measure"), fit.get("model"), int(fit.get("k") or 0)
    back = fit.get("back") or {}
    notes = []
    if model == "RE" and k >= MIN_K_PI and back.get("pi_lb") is not None:
        pi = f"{num(back['pi_lb'])} to {num(back['pi_ub'])}"
    elif model == "RE":
        pi = DASH
        notes.append(f"Prediction interval: not shown for fewer than {MIN_K_PI} studies (k = {k}).")
    else:
        pi = DASH
        notes.append("Prediction interval: none for a fixed-effect model.")
    tau2 = tau2_text(fit, 4)
    if tau2 != DASH and fit.get("tau2_ci_lb") is not None:
        tau2 += f" [{num(fit['tau2_ci_lb'], 4)}, {num(fit['tau2_ci_ub'], 4)}]"
    i2 = i2_text(fit, 1)
    if i2 != DASH and fit.get("i2_ci_lb") is not None:
        i2 += f" [{num(fit['i2_ci_lb'], 1)}, {num(fit['i2_ci_ub'], 1)}]"
    n_q = q_studies(fit)
    has_q = fit.get("q") is not None and (fit.get("q_df") or 0) >= 1
    q = f"{num(fit['q'])} ({fit['q_df']}), {pval(fit.get('q_pval'))}" if has_q else DASH
    if n_q is not None and n_q != k:
        notes.append(
            f"Q, I² and H² on {n_q} of {k} studies (those with an estimable study-level "
            f"{effect_name(measure)}); the pooled estimate uses all {k}."
        )
    return {
        "columns": [
            "k",
            f"Pooled {measure} [95% CI]",
            "Prediction interval",
            "t" if fit.get("test") == "knha" else "z",
            "p",
            "tau² [95% CI]",
            "I² [95% CI]",
            "H²",
            "Q (df), p",
        ],
        "row": [
            str(k),
            est_ci(back),
            pi,
            num(fit.get("stat")),
            pval(fit.get("pval")),
            tau2,
            i2,
            num(fit.get("h2")) if has_q else DASH,
            q,
        ],
        "notes": notes,
    }
