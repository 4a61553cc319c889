"""Stage 4 of the pipeline: an outcome's subgroup, sensitivity and small-study analyses
and the review's risk-of-bias figures, as plain functions the Snakemake scripts call.

Each stage writes its statistics as JSON (and CSV tables), its figures as SVG, and an
``index`` listing every analysis with a report-ready table, its figures (paths relative
to the review folder) and whether it was pre-specified. The report reads only the index.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from metareview.engine.measures import TABLE_METHODS, accepts
from metareview.engine.models import IV_METHODS, clean
from metareview.engine.pooling import (
    METAREG_METHODS,
    Settings,
    describe_layout,
    effect_sizes,
    is_two_arm,
    layout,
    meta_regression,
    pool,
    pool_subgroups,
)
from metareview.engine.sensitivity import (
    baujat,
    case_arguments,
    cumulative,
    deletions,
    influence,
    leave_one_out,
    order_keys,
)
from metareview.engine.smallstudy import assess
from metareview.errors import AnalysisError, InputError
from metareview.inputs.protocol import outcome_settings, parse_filter
from metareview.io import write_json
from metareview.plots._table import message_figure
from metareview.plots.common import save_figure_set
from metareview.plots.forest import default_measure_label, draw_subgroup_forest
from metareview.plots.funnel import draw_funnel
from metareview.plots.metaregression import draw_bubble
from metareview.plots.paging import SUMMARY_ROWS, even_steps, is_paged, most_changed
from metareview.plots.sensitivity import draw_baujat, draw_cumulative, draw_leave_one_out
from metareview.present.formats import est_ci, num, pval
from metareview.present.labels import favours, forest_labels
from metareview.present.metaregression import metareg_tables, scale_note
from metareview.present.tables import (
    SUBGROUP_TEST_NAMES,
    contour_caption,
    family,
    fit_table,
    funnel_caption,
    influence_table,
    subgroup_tables,
    write_table_csv,
)
from metareview.stages.common import OutcomeContext, Output


def _meta(item: dict) -> dict[str, Any]:
    return {"post_hoc": bool(item.get("post_hoc")), "rationale": item.get("rationale", "")}


# --------------------------------------------------------------------------- subgroups


def run_subgroups(ctx: OutcomeContext, plan, out_dir, review_dir) -> list[str]:
    """Every subgroup analysis the protocol plans for ``outcome``: per-level fits, the test
    for subgroup differences and a subgroup forest plot each."""
    protocol, entry, settings, rows = ctx.protocol, ctx.entry, ctx.settings, ctx.rows
    outcome, labels = ctx.outcome, ctx.labels
    out = Output(out_dir, review_dir)
    analyses, warnings = [], []
    study_rows, study_labels = rows, labels
    for item in plan["subgroups"]:
        column = item["column"]
        name = item.get("label") or column
        level_labels = {str(k): v for k, v in (item.get("levels") or {}).items()}
        title = f"Subgroups: {name}"
        base = {"id": item["id"], "kind": "subgroup", "title": title, **_meta(item)}
        rows, labels, notes = study_rows, study_labels, []
        if column == "group" and ctx.group_rows:
            rows, labels, notes = group_units(ctx, level_labels)
        if rows and column not in rows[0]:
            raise InputError(
                "studies.csv",
                None,
                column,
                f"subgroup {item['id']!r} uses column {column!r}, which studies.csv does not have",
            )
        missing = [labels[r["study"]] for r in rows if str(r.get(column, "")).strip() == ""]
        if missing:
            notes.append(f"Left out (no value in column '{column}'): {', '.join(missing)}.")
        use = [r for r in rows if str(r.get(column, "")).strip() != ""]
        try:
            result = pool_subgroups(use, settings, column)
        except AnalysisError as exc:
            analyses.append({**base, "notes": notes + [f"Not computed: {exc}"], "tables": []})
            warnings.append(f"subgroup {item['id']}: {exc}")
            write_json(out.dir / f"{item['id']}.json", {"error": str(exc), **base})
            continue
        result.update(id=item["id"], outcome=outcome, label=name)
        if level_labels:
            result["level_labels"] = level_labels
        write_json(out.dir / f"{item['id']}.json", result)
        notes += result.get("warnings", [])
        fig = draw_subgroup_forest(
            result,
            title=f"{entry['label']}: by {name}",
            study_labels=labels,
            subgroup_label=name,
            level_labels=level_labels,
            **forest_labels(protocol, entry, settings.measure),
        )
        primary = SUBGROUP_TEST_NAMES[family(settings.method)]
        figure = out.figure(
            fig,
            f"{item['id']}.svg",
            f"Subgroup forest plot by {name}: the pooled {settings.measure} per subgroup and "
            f"overall; under the axis, the {primary} (the primary test for subgroup "
            "differences).",
        )
        overall_label = f"Studies with a value in '{column}'" if missing else "All studies"
        analyses.append(
            {
                **base,
                "notes": notes,
                "tables": subgroup_tables(
                    result, settings.measure, settings.method, level_labels, overall_label
                ),
                "figures": [figure],
                "result": out.rel(f"{item['id']}.json"),
            }
        )
    write_json(out.dir / "index.json", {"outcome": outcome, "analyses": analyses})
    return warnings


def group_units(ctx: OutcomeContext, level_labels: dict[str, str]):
    """Rows, labels and the report's notes of an analysis by extraction.csv's ``group``:
    one unit per study x group (unit ids ``study:group``) whose group is one of the
    protocol's ``levels`` (all groups when it lists none), studies without groups as they
    are (then left out for want of a value)."""
    rows = [r for r in ctx.rows if not str(r.get("group", "")).strip()]
    labels = dict(ctx.labels)
    split, other = [], []
    for r in ctx.group_rows:
        uid = f"{r['study']}:{r['group']}"
        if level_labels and str(r["group"]) not in level_labels:
            other.append(f"{ctx.labels.get(r['study'], r['study'])} ({r['group']})")
            continue
        labels[uid] = f"{ctx.labels.get(r['study'], r['study'])} ({r['group']})"
        rows.append(r | {"study": uid})
        split.append(r["study"])
    several = [ctx.labels.get(s, s) for s in dict.fromkeys(split) if split.count(s) > 1]
    note = (
        "Each study x group is a unit of this analysis (extraction.csv's row-level "
        "'group'): the groups of one study are pooled as separate units, and the overall "
        "line counts such studies once per group"
        + (f" ({', '.join(several)})." if several else ".")
    )
    notes = [note]
    if other:
        notes.append(
            "Left out (a group that is not a level of this analysis): " + ", ".join(other) + "."
        )
    return rows, labels, notes


# --------------------------------------------------------------------------- meta-regression


def metareg_settings(settings: Settings, item: dict) -> tuple[Settings, str]:
    """The model of a meta-regression: the entry's ``method`` and ``test``, else the
    outcome's (REML when the outcome is pooled by GLMM, Mantel-Haenszel or Peto, whose
    models have no moderators here), with metafor's escalc defaults for inverse variance;
    and the note saying so when the estimator is not the outcome's."""
    method = item.get("method") or (
        settings.method if settings.method in METAREG_METHODS else "REML"
    )
    note = ""
    if method != settings.method and not item.get("method"):
        note = (
            f"The outcome is pooled by {settings.method}; the meta-regression is an "
            f"inverse-variance model (REML) of the study effect sizes, with metafor's "
            "escalc rule for zero cells."
        )
    s = replace(
        settings,
        method=method,
        test=item.get("test") or settings.test,
        add=settings.add if settings.method in METAREG_METHODS else None,
        drop00=settings.drop00 if settings.method in METAREG_METHODS else None,
    )
    return s, note


def run_metaregression(ctx: OutcomeContext, plan, out_dir, review_dir) -> list[str]:
    """Every meta-regression the protocol plans for the outcome: coefficients, QM, QE,
    tau2, I2, R2 (JSON and CSV), metafor's permutation test where asked, a bubble plot."""
    protocol, entry, rows, labels = ctx.protocol, ctx.entry, ctx.rows, ctx.labels
    out = Output(out_dir, review_dir)
    analyses, warnings = [], []
    level_labels = _protocol_level_labels(protocol)
    for item in plan.get("metaregression") or []:
        mods, factors = list(item["moderators"]), list(item.get("factors") or [])
        name = item.get("label") or ", ".join(mods)
        base = {
            "id": item["id"],
            "kind": "metaregression",
            "title": f"Meta-regression: {name}",
            **_meta(item),
        }
        if item.get("question"):
            base["description"] = f"Question: {item['question']}"
        use_rows, use_labels, notes = rows, labels, []
        if "group" in mods and ctx.group_rows:
            use_rows, use_labels, notes = group_units(ctx, {})
        missing = [r for r in use_rows if any(str(r.get(m, "") or "").strip() == "" for m in mods)]
        if missing:
            notes.append(
                f"Left out (no value in {', '.join(repr(m) for m in mods)}): "
                + ", ".join(use_labels.get(r["study"], r["study"]) for r in missing)
                + "."
            )
        use = [r for r in use_rows if r not in missing]
        settings, note = metareg_settings(ctx.settings, item)
        notes += [note] if note else []
        try:
            if use and any(m not in use[0] for m in mods):
                absent = [m for m in mods if m not in use[0]]
                raise AnalysisError(
                    f"no column {', '.join(map(repr, absent))} in the outcome's rows"
                )
            result = meta_regression(
                use,
                settings,
                mods,
                factors,
                permutations=int(item.get("permutations") or 0),
                exact=bool(item.get("exact")),
                seed=int(item.get("seed", 1)),
            )
        except AnalysisError as exc:
            reason = str(exc)
            if use:
                reason += (
                    f" ({len(use)} studies with a value of every moderator: "
                    + ", ".join(use_labels.get(r["study"], r["study"]) for r in use)
                    + ")"
                )
            analyses.append(
                {**base, "notes": notes + [f"Not computed: {reason}."], "tables": [], "figures": []}
            )
            warnings.append(f"{ctx.outcome} meta-regression {item['id']}: {exc}")
            write_json(out.dir / f"{item['id']}.json", {"error": reason, **base})
            continue
        result.update(id=item["id"], outcome=ctx.outcome, label=name)
        write_json(out.dir / f"{item['id']}.json", result)
        tables = metareg_tables(result, level_labels)
        write_table_csv(out.dir / f"{item['id']}.csv", tables[0])
        first = mods[0]
        y_label = default_measure_label({"measure": result["measure"]})
        fig = draw_bubble(
            result,
            title=f"{entry['label']}: by {first}",
            y_label=y_label,
            level_labels=level_labels.get(first, {}),
        )
        shown = (
            "fitted values with their CI at each level"
            if result["prediction"]["categorical"]
            else "the fitted line with its CI band"
        )
        figure = out.figure(
            fig,
            f"{item['id']}.svg",
            f"Bubble plot: each study's {y_label.lower()} against {first} (circle area "
            f"proportional to its weight), {shown}; the model is fitted on "
            f"{scale_note(result['measure'])}"
            + (", the other moderators at their means." if len(mods) > 1 else "."),
        )
        analyses.append(
            {
                **base,
                "notes": notes,
                "tables": tables,
                "figures": [figure],
                "result": out.rel(f"{item['id']}.json"),
            }
        )
    write_json(out.dir / "index.json", {"outcome": ctx.outcome, "analyses": analyses})
    return warnings


def _protocol_level_labels(protocol: dict) -> dict[str, dict[str, str]]:
    """Display labels of column values, from the protocol's subgroups' ``levels``."""
    out: dict[str, dict[str, str]] = {}
    for item in protocol.get("subgroups") or []:
        for k, v in (item.get("levels") or {}).items():
            out.setdefault(item["column"], {})[str(k)] = v
    return out


# --------------------------------------------------------------------------- sensitivity

METHOD_LABELS = {
    "FE": "Fixed effect (inverse variance)",
    "MH": "Mantel-Haenszel (fixed effect)",
    "PETO": "Peto (fixed effect)",
    "DL": "Random effects, DerSimonian-Laird",
    "REML": "Random effects, REML",
    "ML": "Random effects, ML",
    "PM": "Random effects, Paule-Mandel",
    "EB": "Random effects, empirical Bayes",
    "SJ": "Random effects, Sidik-Jonkman",
    "HE": "Random effects, Hedges",
    "HS": "Random effects, Hunter-Schmidt",
    "GLMM": "Random effects, GLMM (ML)",
}
#: the studies.csv columns that order a cumulative meta-analysis by default (metafor's
#: ``cumul(res, order = year)``: ties keep the data order)
CUMULATIVE_ORDER = ("year",)
#: the alternative models of a ``methods`` sensitivity analysis that lists none (issue 4:
#: FE, MH, DL, REML, REML with Knapp-Hartung, Peto where binary)
DEFAULT_MODEL_VARIANTS = ["FE", "MH", "PETO", "DL", "REML", "REML+knha"]


def _try_pool(rows, settings: Settings, what: str):
    try:
        return pool(rows, settings, what=what).to_dict(), ""
    except AnalysisError as exc:
        return None, str(exc)


def model_variants(settings: Settings, methods: list[str]) -> list[tuple[str, Settings]]:
    """The outcome under alternative models, one per protocol entry: an estimator name
    (Wald-type z test) or ``<estimator>+knha`` (Knapp-Hartung); MH, Peto and GLMM only
    where the measure registry accepts them and the rows hold event counts (MH for 2x2
    tables, Peto for OR, GLMM for OR and PLO: metafor's ``rma.glmm``, tau2 by ML).

    ``settings`` as the protocol gives them (``add``/``drop00`` None unless set), so each
    model gets metafor's defaults for it (``Settings.resolved``); MH and Peto always get
    theirs (``drop00`` TRUE), so their rows agree with the zero-cell table's."""
    out = []
    for entry in methods:
        m, _, test = entry.partition("+")
        test = test or "z"
        counts = layout(settings) in ("two_arm", "single_arm")
        if m in ("MH", "PETO", "GLMM") and not (counts and accepts(m, settings.measure)):
            continue  # the registry: MH for 2x2 tables, Peto for OR, GLMM for OR and PLO
        variant = replace(settings, method=m, test=test)
        if m in ("MH", "PETO"):
            # metafor's rma.mh / rma.peto defaults, as in the zero-cell table: no correction
            # of the pooled tables, double-zero tables left out of Q
            variant = replace(variant, add=None, drop00=None)
        out.append((METHOD_LABELS[m] + (", Knapp-Hartung" if test == "knha" else ""), variant))
    return out


def zero_cell_variants(settings: Settings) -> list[tuple[str, Settings]]:
    """The outcome under alternative zero-cell rules (Cochrane Handbook 10.4.4.2).

    Mantel-Haenszel and Peto pool the 2x2 tables without a correction, so for an outcome
    pooled with them the corrections are shown under the inverse-variance fixed-effect
    model (said in the row label)."""
    base = replace(settings, correction="constant")
    suffix = ""
    if settings.method in ("MH", "PETO"):
        base = replace(base, method="FE", test="z")
        suffix = " (inverse-variance fixed effect)"
    rows = [
        ("Add 0.5 to studies with a zero cell", replace(base, add=0.5, to="only0")),
        ("Add 0.5 to every study", replace(base, add=0.5, to="all")),
    ]
    if is_two_arm(settings.measure):
        rows += [
            (
                "Treatment-arm correction (Sweeting 2004)",
                replace(base, correction="treatment_arm", add=0.5, to="only0"),
            ),
            (
                "No correction (studies with a zero cell not estimable, left out)",
                replace(base, add=0.0, to="none", drop00=True),
            ),
        ]
    else:
        rows.append(("No correction", replace(base, add=0.0, to="none")))
    out = [(label + suffix, s) for label, s in rows]
    if is_two_arm(settings.measure):
        fixed = replace(settings, correction="constant", test="z", add=None, drop00=None)
        out.append(("Mantel-Haenszel, no correction", replace(fixed, method="MH", to="none")))
        if settings.measure == "OR":
            out.append(("Peto (no correction needed)", replace(fixed, method="PETO")))
    return out


def _try_pool_studies_as(rows, settings: Settings, what: str, main_studies: dict):
    """``_try_pool`` with the fit's study records cut to the values that differ from the
    main analysis' records ``main_studies`` (study id -> record as pooled/<outcome>.json
    holds it): a study whose record is the same is left out (issue 20: every variant
    repeated every study record)."""
    try:
        fit = pool(rows, settings, what=what)
    except AnalysisError as exc:
        return None, str(exc)
    out = replace(fit, studies=[]).to_dict()
    out["studies"] = _changed_records(fit.studies, main_studies)
    return out, ""


def _changed_records(studies: list[dict], main_studies: dict) -> list[dict]:
    changed = []
    for rec in studies:
        ref = main_studies.get(str(rec["study"]))
        if ref is None:
            changed.append(clean(rec))
            continue
        diff = {}
        for key, value in rec.items():
            value = clean(value)
            if key != "study" and ref.get(key, _MISSING) != value:
                diff[key] = value
        if diff:
            changed.append({"study": rec["study"], **diff})
    return changed


_MISSING = object()
#: what a variant's ``studies`` hold (written in each models/zero-cells JSON)
VARIANT_STUDIES_NOTE = (
    "Each fit's 'studies' lists only the studies whose per-study values differ from the "
    "main analysis (pooled/<outcome>.json), with only the values that differ."
)


def _variant_analysis(item, title, description, rows, variants, measure, out, name, main_fit=None):
    table_rows, records = [], []
    main_studies = {str(r["study"]): r for r in (main_fit or {}).get("studies") or []}
    for label, s in variants:
        fit, err = _try_pool_studies_as(rows, s, label, main_studies)
        table_rows.append((label, fit, err))
        records.append(
            {
                "analysis": label,
                "settings": s.resolved().as_record(),
                "fit": fit,
                "error": err or None,
            }
        )
    write_json(
        out.dir / f"{name}.json",
        {"id": item["id"], "studies": VARIANT_STUDIES_NOTE, "variants": records},
    )
    table = fit_table(table_rows, measure)
    write_table_csv(out.dir / f"{name}.csv", table)
    return {
        "id": item["id"],
        "kind": item["kind"],
        "title": title,
        "description": description,
        **_meta(item),
        "notes": [],
        "tables": [table],
        "figures": [],
        "result": out.rel(f"{name}.json"),
    }


def _exclusion_analysis(item, rows, labels, settings, main, out):
    """Re-pooling without the studies ``item['filter']`` matches; ``main`` is the primary
    analysis as ``(fit, error)``."""
    main_fit, main_err = main
    flt = parse_filter(item["filter"])
    if rows and flt.column not in rows[0]:
        raise InputError(
            "studies.csv",
            None,
            flt.column,
            f"sensitivity analysis {item['id']!r} filters on column {flt.column!r}, which "
            "studies.csv does not have",
        )
    left_out = [r for r in rows if flt.matches(r)]
    kept = [r for r in rows if not flt.matches(r)]
    fit, err = _try_pool(kept, settings, item["id"])
    write_json(
        out.dir / f"{item['id']}.json",
        {
            "id": item["id"],
            "filter": item["filter"],
            "excluded": [r["study"] for r in left_out],
            "fit": fit,
            "error": err or None,
        },
    )
    title = item.get("label") or f"Excluding {item['filter']}"
    notes = [
        f"Excluded ({item['filter']}): "
        + (", ".join(labels[r["study"]] for r in left_out) or "no study matched")
        + "."
    ]
    return {
        "id": item["id"],
        "kind": "exclude",
        "title": f"Sensitivity: {title}",
        **_meta(item),
        "notes": notes,
        "tables": [
            fit_table([("All studies", main_fit, main_err), (title, fit, err)], settings.measure)
        ],
        "figures": [],
        "result": out.rel(f"{item['id']}.json"),
    }


# --------------------------------------------------------------------------- small-study

SMALL_STUDY_TESTS = {
    # protocol name -> (key in smallstudy.assess, report label)
    "egger": ("egger", "Egger's regression test (Egger 1997)"),
    "begg": ("ranktest", "Begg and Mazumdar's rank correlation (Begg 1994)"),
    "peters": ("peters", "Peters' test (Peters 2006)"),
    "harbord": ("harbord", "Harbord's modified test (Harbord 2006)"),
}


def run_small_study(
    ctx: OutcomeContext, plan, out_json, funnel_svg, contour_svg, review_dir
) -> list[str]:
    """Funnel plots, the small-study tests the protocol asks for, and trim-and-fill."""
    entry, settings, rows, labels = ctx.entry, ctx.settings, ctx.rows, ctx.labels
    outcome = ctx.outcome
    s = settings.resolved()
    method = "FE" if s.method in ("MH", "PETO") else s.method
    review_dir = Path(review_dir)
    if not plan["small_study"]:
        # the outputs are fixed per outcome; say that nothing was planned
        note = "No small-study analysis is planned for this outcome in the protocol."
        write_json(out_json, {"outcome": outcome, "planned": False, "analyses": []})
        for path in (funnel_svg, contour_svg):
            save_figure_set(message_figure(entry["label"], note), path)
        return []
    rel = {
        "funnel": Path(funnel_svg).relative_to(review_dir).as_posix(),
        "contour": Path(contour_svg).relative_to(review_dir).as_posix(),
    }
    es = effect_sizes(rows, s) if rows else None
    ids = [r["study"] for r in rows]
    if es is not None and int(es.usable.sum()) >= 3:
        # the first small-study entry selecting this outcome sets the estimator
        first = plan["small_study"][0] if plan["small_study"] else {}
        result = assess(
            es,
            ids,
            method=method,
            level=s.level,
            trimfill_estimator=first.get("trimfill_estimator", "L0"),
            tests={t for item in plan["small_study"] for t in item["tests"]},
        )
    else:
        k = 0 if es is None else int(es.usable.sum())
        result = {"k": k, "error": f"small-study analyses need at least 3 studies (k = {k})"}
    analyses, warnings = [], []
    for item in plan["small_study"]:
        min_k = item.get("min_k", 10)
        k = result["k"]
        notes = []
        if "error" in result:
            notes.append(f"Not computed: {result['error']}.")
        elif k < min_k:
            notes.append(
                f"Only {k} studies: the tests are underpowered (fewer than {min_k}; Cochrane "
                "Handbook 13.3.5.4) and are shown for completeness, not for inference."
            )
        test_rows = []
        for name in item["tests"]:
            if name == "trimfill" or "error" in result:
                continue
            key, label = SMALL_STUDY_TESTS[name]
            r = result.get(key) or {"error": "not applicable to this measure"}
            warned = list(r.get("warnings") or [])
            if "error" in r:
                test_rows.append([label, "–", "–", f"not computed: {r['error']}"])
            elif key == "ranktest":
                how = "exact p" if r.get("exact") else "normal approximation"
                test_rows.append(
                    [
                        label,
                        f"Kendall's tau = {num(r['tau'], 3)}",
                        pval(r["pval"]),
                        "; ".join([how, *warned]),
                    ]
                )
            else:
                stat = f"{'t' if r.get('df') else 'z'} = {num(r['stat'])}"
                if r.get("df"):
                    stat += f" (df {r['df']})"
                test_rows.append([label, stat, pval(r["pval"]), "; ".join(warned)])
        tables = []
        if test_rows:
            tables.append(
                {
                    "caption": "Tests for funnel-plot asymmetry",
                    "columns": ["Test", "Statistic", "p", "Note"],
                    "rows": test_rows,
                }
            )
        tf = result.get("trimfill") if "trimfill" in item["tests"] else None
        if tf and "error" not in tf:
            adj = tf["adjusted"]
            tables.append(
                {
                    "caption": "Trim and fill (Duval and Tweedie, estimator "
                    f"{tf['estimator']}, side {tf['side']})",
                    "columns": ["Analysis", "k", f"{s.measure} [95% CI]", "Studies filled"],
                    "rows": [
                        ["Observed", str(tf["observed"]["k"]), est_ci(tf["observed"]["back"]), "–"],
                        ["Adjusted", str(adj["k"]), est_ci(adj["back"]), str(tf["k0"])],
                    ],
                }
            )
        elif tf:
            notes.append(f"Trim and fill not computed: {tf['error']}.")
        if tf and "error" not in tf:
            notes += [f"Trim and fill: {w}" for w in tf.get("warnings") or []]
        analyses.append(
            {
                "id": "small-study",
                "kind": "small_study",
                "title": "Small-study effects and publication bias",
                **_meta(item),
                "notes": notes,
                "tables": tables,
                "figures": [],  # below, once drawn
                "result": Path(out_json).relative_to(review_dir).as_posix(),
            }
        )
    funnel = result.get("funnel")
    if funnel and "error" not in funnel:
        common = {
            "title": entry["label"],
            "measure_label": default_measure_label({"measure": s.measure}),
            "study_labels": labels,
        }
        tf = result.get("trimfill")
        tf = (
            tf
            if tf
            and "error" not in tf
            and any("trimfill" in i["tests"] for i in plan["small_study"])
            else None
        )
        save_figure_set(draw_funnel(funnel, trimfill=tf, **common), funnel_svg)
        figures = [{"path": rel["funnel"], "caption": funnel_caption(funnel, tf)}]
        if funnel.get("null") is None:  # proportions: no null effect to draw contours around
            why = f"a contour-enhanced funnel needs a null effect; {s.measure} has none"
            save_figure_set(message_figure(entry["label"], why), contour_svg)
            drawn_note = f"No contour-enhanced funnel plot: {why}."
        else:
            save_figure_set(draw_funnel(funnel, contours=True, **common), contour_svg)
            figures.append({"path": rel["contour"], "caption": contour_caption(funnel)})
            drawn_note = ""
        for a in analyses:
            a["figures"] = figures
            a["notes"] += [drawn_note] if drawn_note else []
    else:
        # the declared outputs still exist (a message); the report shows no figure
        why = (funnel or result).get("error", "not enough studies")
        warnings.append(f"funnel plot of {outcome}: {why}")
        for path in (funnel_svg, contour_svg):
            save_figure_set(message_figure(entry["label"], f"Funnel plot not drawn: {why}"), path)
        for a in analyses:
            if "error" in result:
                a["notes"] = [f"Not computed, and no funnel plot drawn: {why}."] + [
                    n for n in a["notes"] if result["error"] not in n
                ]
            else:
                a["notes"].append(f"No funnel plot drawn: {why}.")
    write_json(
        out_json,
        {
            "outcome": outcome,
            "planned": True,
            "method": method,
            "measure": s.measure,
            "result": result,
            "analyses": analyses,
        },
    )
    return warnings


class _Case:
    """What the leave-one-out, influence and cumulative analyses of one outcome share."""

    def __init__(self, rows, labels, settings: Settings, main_fit, out, favours=None):
        self.rows, self.labels, self.main_fit, self.out = rows, labels, main_fit, out
        self.measure = settings.measure
        self.favours = favours or {}  # favours_left / favours_right of the outcome's forest
        self.es, self.ids, self.common, self.zero = case_arguments(rows, settings)
        self._deletions = None

    def deletions(self, what: str):
        """The k case-deletion refits, fitted once for leave-one-out, influence and Baujat
        (``what`` names the analysis in an error, as each analysis did)."""
        if self._deletions is None:
            self._deletions = deletions(self.es, self.ids, **self.common, **self.zero, what=what)
        return self._deletions

    def label(self, study: str) -> str:
        return self.labels.get(study, study)

    def fit_table(self, name: str, labels: list[str], fits: list[dict], model: str):
        """One refit per row (leave-one-out, cumulative), also written as ``<name>.csv``."""
        rows = [(label, fit, "") for label, fit in zip(labels, fits, strict=True)]
        table = fit_table(rows, self.measure, model)
        write_table_csv(self.out.dir / f"{name}.csv", table)
        return table


def shown_rows(table: dict[str, Any], keep: list[int] | None, note: str) -> dict[str, Any]:
    """``table`` with only the rows ``keep`` (all when None) and ``note`` saying so; the
    CSV written before keeps them all."""
    if keep is None:
        return table
    return {
        **table,
        "rows": [table["rows"][i] for i in keep],
        "notes": [*table.get("notes", []), note],
    }


def _leave_one_out(case: _Case, item: dict) -> dict[str, Any]:
    shared = case.deletions("leave-one-out")
    res = leave_one_out(case.es, case.ids, **case.common, **case.zero, shared=shared).to_dict()
    name = item["id"]
    write_json(case.out.dir / f"{name}.json", res)
    omitted = [f"Omitting {case.label(e['study'])}" for e in res["studies"]]
    entries, keep, note = res["studies"], None, ""
    if is_paged(len(entries)):  # a very large review: the omissions that change most
        keep = most_changed(
            [e.get("estimate") for e in entries], case.main_fit["estimate"], SUMMARY_ROWS
        )
        entries = [entries[i] for i in keep]
        note = (
            f"Shown: the {len(keep)} of {len(res['studies']):,} omissions that change the pooled "
            f"estimate most (in data order); every row: {case.out.rel(f'{name}.csv')}."
        )
    fig = draw_leave_one_out(
        {**res, "studies": entries},
        case.main_fit,
        title=item.get("label") or "Leave-one-out",
        study_labels=case.labels,
        **case.favours,
        note=note,
    )
    table = case.fit_table(name, omitted, res["studies"], res.get("model"))
    return {
        "title": "Sensitivity: Leave-one-out",
        "tables": [shown_rows(table, keep, note)],
        "figures": [
            case.out.figure(fig, f"{name}.svg", "Leave-one-out: each study omitted in turn.")
        ],
        "result": case.out.rel(f"{name}.json"),
    }


def _influence(case: _Case, item: dict) -> dict[str, Any]:
    if case.common["method"] not in IV_METHODS:  # as influence() says, before any refit
        influence(case.es, case.ids, **case.common)
    inf = influence(
        case.es, case.ids, **case.common, shared=case.deletions("influence diagnostics")
    ).to_dict()
    bj = baujat(
        case.es, case.ids, **case.common, **case.zero, shared=case.deletions("Baujat plot")
    ).to_dict()
    name = item["id"]
    write_json(case.out.dir / f"{name}.json", {"influence": inf, "baujat": bj})
    table = influence_table(inf, [case.label(e["study"]) for e in inf["studies"]])
    write_table_csv(case.out.dir / f"{name}.csv", table)
    if is_paged(len(table["rows"])):  # a very large review: the influential studies
        flagged = [i for i, e in enumerate(inf["studies"]) if e.get("inf")]
        keep = flagged[:SUMMARY_ROWS]
        table = shown_rows(
            table,
            keep,
            f"Shown: {len(keep)} of the {len(flagged):,} studies flagged influential (of "
            f"{len(table['rows']):,}, in data order); every study: "
            f"{case.out.rel(f'{name}.csv')}.",
        )
    fig = draw_baujat(bj, title="Baujat plot", study_labels=case.labels)
    return {
        "title": "Sensitivity: Influence diagnostics",
        "tables": [table],
        "figures": [
            case.out.figure(
                fig,
                f"{name}-baujat.svg",
                "Baujat plot: each study's contribution to heterogeneity (x) against its "
                "influence on the pooled result (y).",
            )
        ],
        "result": case.out.rel(f"{name}.json"),
    }


def _cumulative(case: _Case, item: dict) -> dict[str, Any]:
    order_by = item.get("order_by") or list(CUMULATIVE_ORDER)
    order = order_keys(case.rows, order_by)
    res = cumulative(case.es, case.ids, order=order, **case.common, **case.zero).to_dict()
    res["order_by"] = order_by
    name = item["id"]
    write_json(case.out.dir / f"{name}.json", res)
    years = {r["study"]: r.get("year") for r in case.rows}

    def step_label(study):
        year = years.get(study)
        return case.label(study) + (f" ({year})" if year else "")

    steps = [step_label(e["study"]) for e in res["steps"]]
    entries, keep, note = res["steps"], None, ""
    if is_paged(len(entries)):  # a very large review: evenly spaced steps
        keep = even_steps(len(entries), SUMMARY_ROWS)
        entries = [entries[i] for i in keep]
        note = (
            f"Shown: {len(keep)} of {len(res['steps']):,} steps, evenly spaced (column k: the "
            f"studies pooled); every step: {case.out.rel(f'{name}.csv')}."
        )
    fig = draw_cumulative(
        {**res, "steps": entries},
        title=item.get("label") or "Cumulative",
        study_labels=case.labels,
        years=years,
        **case.favours,
        note=note,
    )
    by = ", ".join(order_by)
    unordered = [
        case.label(r["study"])
        for r in case.rows
        if any(str(r.get(c) if r.get(c) is not None else "").strip() == "" for c in order_by)
    ]
    notes = (
        [f"Added last, in the order of studies.csv (no value in {by}): {', '.join(unordered)}."]
        if unordered
        else []
    )
    return {
        "title": f"Sensitivity: Cumulative meta-analysis by {by}",
        "notes": notes,
        "tables": [
            shown_rows(case.fit_table(name, steps, res["steps"], res.get("model")), keep, note)
        ],
        "figures": [
            case.out.figure(
                fig,
                f"{name}.svg",
                f"Cumulative meta-analysis: each row adds one study (by {by}; ties in the "
                "order of studies.csv) and pools it with those above.",
            )
        ],
        "result": case.out.rel(f"{name}.json"),
    }


CASE_ANALYSES = {
    "leave_one_out": _leave_one_out,
    "influence": _influence,
    "cumulative": _cumulative,
}


def main_analysis(fit: dict) -> tuple[dict | None, str]:
    """The outcome's pooled fit as the pool stage wrote it, as ``(fit, error)``: the fit
    when pooled, else None and why not."""
    if fit.get("pooled"):
        return fit, ""
    return None, (fit.get("warnings") or ["not pooled"])[0]


def run_sensitivity(ctx: OutcomeContext, plan, out_dir, review_dir, main_fit: dict) -> list[str]:
    """Every sensitivity analysis the protocol plans for ``outcome``, in protocol order;
    ``main_fit`` is the pooled fit (``pooled/<outcome>.json``), not refitted here."""
    protocol, entry, settings, rows = ctx.protocol, ctx.entry, ctx.settings, ctx.rows
    outcome, labels = ctx.outcome, ctx.labels
    out = Output(out_dir, review_dir)
    main_fit, main_err = main_analysis(main_fit)
    # the protocol's settings before metafor's per-model defaults (for other models)
    as_written = Settings(**outcome_settings(protocol, outcome, resolve=False))
    favours_texts = favours(protocol, entry, settings.measure)
    analyses, warnings = [], []
    case = None
    for item in plan["sensitivity"]:
        kind = item["kind"]
        label = item.get("label") or kind
        if main_fit is None and kind != "exclude":
            analyses.append(
                {
                    "id": item["id"],
                    "kind": kind,
                    "title": f"Sensitivity: {label}",
                    **_meta(item),
                    "tables": [],
                    "figures": [],
                    "notes": [f"Not computed: {main_err}"],
                }
            )
            continue
        if kind in CASE_ANALYSES:
            base = {"id": item["id"], "kind": kind, **_meta(item), "notes": [], "figures": []}
            case = case or _Case(rows, labels, settings, main_fit, out, favours_texts)
            try:
                analyses.append({**base, **CASE_ANALYSES[kind](case, item)})
            except AnalysisError as exc:
                analyses.append(
                    {
                        **base,
                        "title": f"Sensitivity: {label}",
                        "tables": [],
                        "notes": [f"Not computed: {exc}"],
                    }
                )
        elif kind == "methods":
            methods = item.get("methods") or DEFAULT_MODEL_VARIANTS
            analyses.append(
                _variant_analysis(
                    item,
                    f"Sensitivity: {label}",
                    "The outcome pooled under alternative models (Cochrane Handbook 10.10.4).",
                    rows,
                    model_variants(as_written, methods),
                    settings.measure,
                    out,
                    item["id"],
                    main_fit,
                )
            )
            table_methods = [m for m in methods if m.partition("+")[0] in TABLE_METHODS]
            if table_methods and layout(settings) not in ("two_arm", "single_arm"):
                analyses[-1]["notes"].append(
                    f"{' and '.join(METHOD_LABELS[m] for m in table_methods)} left out: they "
                    f"pool 2x2 event counts, and {describe_layout(settings)} is pooled by "
                    "inverse variance."
                )
        elif kind == "zero_cells" and layout(settings) not in ("two_arm", "single_arm"):
            analyses.append(
                {
                    "id": item["id"],
                    "kind": kind,
                    "title": f"Sensitivity: {label}",
                    **_meta(item),
                    "tables": [],
                    "figures": [],
                    "notes": [
                        f"Not applicable: {describe_layout(settings)} has no event counts, "
                        "so no zero cells to correct."
                    ],
                }
            )
        elif kind == "zero_cells":
            analyses.append(
                _variant_analysis(
                    item,
                    f"Sensitivity: {label}",
                    "The outcome pooled under alternative handling of zero cells "
                    "(Cochrane Handbook 10.4.4).",
                    rows,
                    zero_cell_variants(as_written),
                    settings.measure,
                    out,
                    item["id"],
                    main_fit,
                )
            )
        elif kind == "exclude":
            analyses.append(
                _exclusion_analysis(item, rows, labels, settings, (main_fit, main_err), out)
            )
    for a in analyses:
        warnings += [
            f"{outcome} {a['id']}: {n}" for n in a["notes"] if n.startswith("Not computed")
        ]
    write_json(out.dir / "index.json", {"outcome": outcome, "analyses": analyses})
    return warnings


def run_outcome_analyses(
    table_csv,
    fit_json,
    protocol_path,
    outcome,
    settings_dict,
    plan,
    *,
    review_dir,
    subgroup_dir,
    sensitivity_dir,
    bias_json,
    funnel_svg,
    contour_svg,
    metaregression_dir=None,
) -> list[str]:
    """All of an outcome's stage-4 analyses (one pipeline job), from the outcome's table and
    pooled fit as stages 2-3 wrote them; an empty plan section gives an index with no
    analyses (the funnel plot is drawn whenever k >= 3)."""
    ctx = OutcomeContext.load(protocol_path, outcome, settings_dict, table_csv)
    main_fit = json.loads(Path(fit_json).read_text(encoding="utf-8"))
    return (
        run_subgroups(ctx, plan, subgroup_dir, review_dir)
        + (
            run_metaregression(ctx, plan, metaregression_dir, review_dir)
            if metaregression_dir is not None
            else []
        )
        + run_sensitivity(ctx, plan, sensitivity_dir, review_dir, main_fit)
        + run_small_study(ctx, plan, bias_json, funnel_svg, contour_svg, review_dir)
    )
