"""Report-ready tables of a meta-regression (``pooling.meta_regression``): the
coefficients, and the model (k, tau², I², R², the residual heterogeneity test QE and the
test of the moderators QM, with their permutation p-values where computed)."""

from __future__ import annotations

from typing import Any

from metareview.engine import measures
from metareview.present.formats import num, pval

DASH = "–"


def term_label(name: str, mods: list[str], factors: list[str], level_labels: dict) -> str:
    """'intrcpt' -> 'Intercept'; a dummy 'techniquemixed' -> 'technique: mixed (vs
    aspiration)' is left to the caller's reference note: here 'technique: Mixed'."""
    if name == "intrcpt":
        return "Intercept"
    for m in sorted(mods, key=len, reverse=True):
        if name == m:
            return m
        if name.startswith(m):
            lev = name[len(m) :]
            return f"{m}: {level_labels.get(m, {}).get(lev, lev)}"
    return name


def scale_note(measure: str) -> str:
    m = measures.find(measure)
    scale = m.scale if m else "identity"
    words = {
        "log": f"the log {m.label.lower() if m else measure}",
        "logit": "the logit of the proportion",
        "arcsine": "the arcsine square root of the proportion",
        "freeman_tukey": "the Freeman-Tukey double arcsine of the proportion",
    }
    return words.get(scale, f"the {m.label.lower() if m else measure} scale")


def metareg_tables(result: dict[str, Any], level_labels: dict | None = None) -> list[dict]:
    """The coefficients table and the model table."""
    level_labels = level_labels or {}
    knha = result.get("test") == "knha"
    stat = "t" if knha else "z"
    perm = result.get("permutation") or {}
    level = result.get("level", 95)
    columns = ["Term", "Estimate", "SE", stat, "p", f"{num(level, 0)}% CI"]
    if perm:
        columns.append("Permutation p")
    rows = []
    mods, factors = list(result.get("mods") or []), list(result.get("factors") or [])
    for j, c in enumerate(result.get("coefficients") or []):
        row = [
            term_label(c["name"], mods, factors, level_labels),
            num(c["estimate"], 3),
            num(c["se"], 3),
            num(c["stat"], 2),
            pval(c["pval"]),
            f"{num(c['ci_lb'], 3)} to {num(c['ci_ub'], 3)}",
        ]
        if perm:
            row.append(pval(perm["pval"][j]))
        rows.append(row)
    refs = []
    for m in mods:
        values = sorted({s[m] for s in result.get("studies") or []})
        names = {c["name"] for c in result.get("coefficients") or []}
        if m not in names and values:
            ref = values[0]
            refs.append(f"{m}: {level_labels.get(m, {}).get(ref, ref)}")
    tests = f"Knapp-Hartung t tests on {result.get('df')} df" if knha else "Wald-type z tests"
    notes = [f"Coefficients on {scale_note(result.get('measure', ''))}; {tests}."]
    if refs:
        notes.append("Reference levels (the intercept's): " + "; ".join(refs) + ".")
    if perm:
        notes.append(permutation_note(perm))
    coefficients = {
        "caption": "Meta-regression coefficients",
        "columns": columns,
        "rows": rows,
        "notes": notes,
    }
    qm_df = result.get("qm_df")
    p_qm = pval_text(result["qm_pval"])
    if knha:
        qm = f"F({qm_df}, {result.get('df')}) = {num(result['qm'])}, p {p_qm}"
    else:
        qm = f"QM({qm_df}) = {num(result['qm'])}, p {p_qm}"
    model_cols = ["k", "tau²", "I² (residual)", "R²", "QE (df), p", "Test of moderators"]
    model_row = [
        str(result["k"]),
        num(result.get("tau2"), 4),
        f"{num(result.get('i2'), 1)}%",
        DASH if result.get("r2") is None else f"{num(result['r2'], 1)}%",
        f"{num(result.get('q'))} ({result.get('q_df')}), {pval(result.get('q_pval'))}",
        qm,
    ]
    if perm:
        model_cols.append("Permutation p (moderators)")
        model_row.append(pval(perm.get("qm_pval")))
    model = {
        "caption": "Meta-regression model",
        "columns": model_cols,
        "rows": [model_row],
        "notes": [
            "R²: the share of the heterogeneity (tau²) accounted for by the moderators, "
            "as metafor computes it: (tau² without moderators − tau² with them) / tau² "
            "without, 0 when that is negative or tau² without moderators is 0."
            if result.get("method") != "FE"
            else "R²: adjusted R² of the weighted least-squares regression (fixed effect)."
        ],
    }
    return [coefficients, model]


def pval_text(p: Any) -> str:
    text = pval(p)
    return text if text.startswith("<") else f"= {text}"


def permutation_note(perm: dict[str, Any]) -> str:
    if perm.get("exact"):
        return (
            f"Permutation p-values: exact test over all {perm['iter']:,} distinct "
            "rearrangements of the moderators (metafor's permutest)."
        )
    return (
        f"Permutation p-values: {perm['iter']:,} random permutations of the moderators "
        f"(the first the observed data; seed {perm.get('seed')}), as metafor's permutest; "
        f"resolution 1/{perm['iter']:,}."
    )
