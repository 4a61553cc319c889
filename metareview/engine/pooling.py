"""One entry point from a table of studies to a fit: used by the CLI and the pipeline alike.

Rows are dicts with ``study`` and either ``ai, n1i, ci, n2i`` (two-arm) or ``xi, ni``
(single-arm), or for continuous and generic inverse-variance outcomes (``layout``):
``m1i, sd1i, n1i, m2i, sd2i, n2i`` (MD, SMD, ROM), ``mi, sdi, ni`` (MN), ``yi`` with ``sei``
or ``vi`` (GEN, or a log ratio with ``scale="log"``; HR without a scale), ``estimate`` with
``ci_lb, ci_ub`` or ``sei`` (OR, RR, HR with ``scale="natural"``); other keys are covariates.
``Settings`` carries the protocol's choices; its defaults are metafor's for the chosen
model (``drop00`` is TRUE for ``rma.mh`` and ``rma.peto``, FALSE otherwise; ``add`` is 0
for PAS/PFT and 1/2 otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from metareview.engine import measures
from metareview.engine.effects import escalc
from metareview.engine.effects_continuous import (
    CONTINUOUS_COLUMNS,
    MEAN_COLUMNS,
    NATURAL_RATIOS,
    escalc_continuous,
    escalc_generic,
    escalc_mean,
    escalc_ratio_natural,
)
from metareview.engine.measures import default_add, default_drop00
from metareview.engine.models import (
    Fit,
    clean,
    fit_iv_many,
    norm_crit,
    pad_codes,
    pad_groups,
    rma,
    rma_mh,
    rma_peto,
    study_records,
)
from metareview.engine.permutation import permutest
from metareview.engine.subgroups import design_matrix, metareg, q_between, subgroup_analysis
from metareview.engine.transforms import back_transform
from metareview.errors import AnalysisError


@dataclass(frozen=True)
class Settings:
    measure: str = "OR"
    method: str = "REML"
    test: str = "z"
    level: float = 95.0
    add: float | None = None
    to: str = "only0"
    drop00: bool | None = None
    correction: str = "constant"
    scale: str | None = None  # ratios given as "natural" (estimate, CI) or "log" (yi, sei)

    def resolved(self) -> Settings:
        add = self.add if self.add is not None else default_add(self.measure)
        drop00 = self.drop00 if self.drop00 is not None else default_drop00(self.method)
        return replace(self, add=add, drop00=drop00)

    def as_record(self) -> dict[str, Any]:
        """The settings as results record them (``scale`` only when set)."""
        out = dict(self.__dict__)
        if out["scale"] is None:
            del out["scale"]
        return out

    def check(self) -> None:
        if self.measure not in measures.PUBLIC:
            raise AnalysisError(f"unknown measure {self.measure!r}")
        if self.scale not in (None, "natural", "log"):
            raise AnalysisError(f"unknown scale {self.scale!r} (natural or log)")
        if self.scale is not None and self.measure not in NATURAL_RATIOS:
            raise AnalysisError(
                f"scale {self.scale!r} is for ratios ({', '.join(NATURAL_RATIOS)}), "
                f"not {self.measure}"
            )
        lay = layout(self)
        if self.method in measures.TABLE_METHODS and lay != "two_arm":
            raise AnalysisError(
                f"method {self.method} pools 2x2 counts (ai, n1i, ci, n2i); "
                f"{describe_layout(self)} is pooled by inverse variance: choose FE or a "
                "random-effects method (DL, REML, PM, ...)"
            )
        if not measures.accepts(self.method, self.measure):
            if self.method in measures.GLMM_METHODS:
                raise AnalysisError(
                    "method GLMM pools proportions on the logit scale (measure PLO) or "
                    "2x2 tables as odds ratios (measure OR)"
                )
            if self.method == "PETO":
                raise AnalysisError("the Peto method pools odds ratios only (measure OR)")
            accepted = ", ".join(measures.methods_accepting(self.method))
            raise AnalysisError(f"method {self.method} needs a two-arm measure ({accepted})")
        if self.test not in measures.tests_for(self.method):
            if self.method in measures.GLMM_METHODS:
                raise AnalysisError("method GLMM supports test z or t (metafor's rma.glmm)")
            if self.test == "t":
                raise AnalysisError("test t is rma.glmm's (method GLMM); use knha for rma")
            raise AnalysisError(f"method {self.method} supports test z only")


def layout(s: Settings) -> str:
    """What a row holds for these settings: ``two_arm`` / ``single_arm`` (event counts),
    ``continuous`` (two arms' mean, SD, n), ``mean`` (one arm), ``generic`` (yi with sei
    or vi) or ``natural`` (a ratio with its CI or log-scale SE)."""
    if s.scale == "natural":
        return "natural"
    if s.scale == "log":
        return "generic"
    return _LAYOUTS[measures.get(s.measure).kind]


_LAYOUTS = {
    measures.TWO_ARM_BINARY: "two_arm",
    measures.SINGLE_ARM_BINARY: "single_arm",
    measures.TWO_ARM_CONTINUOUS: "continuous",
    measures.SINGLE_ARM_CONTINUOUS: "mean",
    measures.GENERIC: "generic",
}


def table_columns(s: Settings) -> tuple[str, ...]:
    """The measure columns of a per-outcome table for these settings: the registry's, or
    ``yi, sei`` for estimates given with their SE or CI (``scale="log"``)."""
    if layout(s) == "generic":
        return measures.GENERIC_COLUMNS
    return measures.get(s.measure).columns


def describe_layout(s: Settings) -> str:
    return {
        "continuous": f"a continuous outcome ({s.measure})",
        "mean": "a single-arm mean (MN)",
        "generic": f"a generic inverse-variance outcome ({s.measure})",
        "natural": f"a ratio given with its CI ({s.measure}, natural scale)",
    }.get(layout(s), f"measure {s.measure}")


def is_two_arm(measure: str) -> bool:
    """A binary two-arm measure (2x2 counts); see ``layout`` for generic ratios."""
    return measures.is_two_arm(measure)


def _columns(rows, names):
    return {n: np.array([float(r[n]) for r in rows]) for n in names}


def _optional(rows, name):
    """A column some rows may leave empty ('' or None): NaN there."""
    out = []
    for r in rows:
        v = r.get(name)
        out.append(np.nan if v is None or v == "" else float(v))
    return np.array(out, dtype=float)


def effect_sizes(rows: list[dict], s: Settings):
    lay = layout(s)
    if lay == "continuous":
        d = _columns(rows, CONTINUOUS_COLUMNS)
        return escalc_continuous(s.measure, *(d[c] for c in CONTINUOUS_COLUMNS))
    if lay == "mean":
        d = _columns(rows, MEAN_COLUMNS)
        return escalc_mean(d["mi"], d["sdi"], d["ni"])
    if lay == "generic":
        return escalc_generic(
            s.measure,
            _columns(rows, ("yi",))["yi"],
            sei=_optional(rows, "sei"),
            vi=_optional(rows, "vi"),
        )
    if lay == "natural":
        return escalc_ratio_natural(
            s.measure,
            _columns(rows, ("estimate",))["estimate"],
            ci_lb=_optional(rows, "ci_lb"),
            ci_ub=_optional(rows, "ci_ub"),
            sei=_optional(rows, "sei"),
            level=s.level,
        )
    data = _columns(rows, measures.get(s.measure).columns)
    return escalc(s.measure, data, add=s.add, to=s.to, drop00=s.drop00, correction=s.correction)


def pool(rows: list[dict], settings: Settings, *, what: str = "meta-analysis") -> Fit:
    """Fit the model of ``settings`` to ``rows``."""
    s = settings.resolved()
    s.check()
    ids = [r["study"] for r in rows]
    if not rows:
        raise AnalysisError(f"{what}: no study to pool")
    if s.method in ("MH", "PETO"):
        if len(rows) < 2:
            raise AnalysisError(
                f"{what}: only {len(rows)} study; a meta-analysis needs at least two"
            )
        d = _columns(rows, ("ai", "n1i", "ci", "n2i"))
        kwargs = {"level": s.level, "add": s.add, "to": s.to, "drop00": s.drop00, "what": what}
        if s.method == "MH":
            return rma_mh(d["ai"], d["n1i"], d["ci"], d["n2i"], ids, measure=s.measure, **kwargs)
        return rma_peto(d["ai"], d["n1i"], d["ci"], d["n2i"], ids, **kwargs)
    if s.method == "GLMM":
        return pool_glmm(rows, s, what=what)
    es = effect_sizes(rows, s)
    if layout(s) == "two_arm" and _all_zero_events(rows, s.measure):
        raise AnalysisError(f"{what}: no events in any study; the effect is not estimable")
    if not np.any(es.usable):
        reasons = sorted({e for e in es.excluded if e})
        raise AnalysisError(
            f"{what}: no study has an estimable effect size"
            + (f" ({'; '.join(reasons)})" if reasons else "")
        )
    return rma(es, ids, method=s.method, test=s.test, level=s.level, what=what)


def pool_glmm(rows: list[dict], s: Settings, *, what: str = "meta-analysis") -> Fit:
    """``rma.glmm(measure = "PLO", xi, ni)``: the random-intercept logistic model (ML,
    7-point adaptive quadrature). ``q`` is the Wald-type test of heterogeneity;
    ``q_lrt`` the likelihood-ratio test, both against the saturated model."""
    if s.measure == "OR":
        return pool_glmm_or(rows, s, what=what)
    d = _columns(rows, ("xi", "ni"))
    # scipy.optimize and scipy.stats cost 0.6 s to import: only GLMM outcomes pay it
    from metareview.engine.glmm import glmm_study_records, rma_glmm_plo
    from metareview.engine.glmm import summary as glmm_summary

    res = rma_glmm_plo(d["xi"], d["ni"], test=s.test, level=s.level, what=what)
    studies = glmm_study_records([r["study"] for r in rows], d["xi"], d["ni"], s.level)
    return _glmm_fit(res, glmm_summary(res), s, studies, {})


def _glmm_fit(res, out: dict, s: Settings, studies: list, extra: dict) -> Fit:
    """The :class:`Fit` of an ``rma.glmm`` result (PLO or OR; ``out`` its summary)."""
    return Fit(
        measure=s.measure,
        method="GLMM",
        test=s.test,
        level=s.level,
        model=res.model,
        k=res.k,
        estimate=out["estimate"],
        se=out["se"],
        ci_lb=out["ci_lb"],
        ci_ub=out["ci_ub"],
        stat=out["stat"],
        pval=out["pval"],
        df=res.df,
        pi_lb=out["pi_lb"],
        pi_ub=out["pi_ub"],
        tau2=res.tau2,
        tau2_se=None,
        tau2_ci_lb=None,
        tau2_ci_ub=None,
        i2=res.i2,
        i2_ci_lb=None,
        i2_ci_ub=None,
        h2=res.h2,
        h2_ci_lb=None,
        h2_ci_ub=None,
        q=res.q_wald,
        q_df=res.q_df,
        q_pval=res.q_wald_pval,
        back=out["back"],
        studies=studies,
        warnings=list(res.warnings),
        extra={
            "q_lrt": res.q_lrt,
            "q_lrt_pval": res.q_lrt_pval,
            "vt": res.vt,
            "ll": res.ll,
            "nagq": 7,
            **extra,
        },
    )


def pool_glmm_or(rows: list[dict], s: Settings, *, what: str = "meta-analysis") -> Fit:
    """``rma.glmm(measure = "OR", ai, n1i, ci, n2i, model = "UM.FS")``: fixed study
    intercepts, a random treatment effect, ML with 7-point adaptive quadrature; tables
    with no events (or only events) in both arms are dropped (``drop00``). ``q`` is the
    Wald-type test of heterogeneity, ``q_lrt`` the likelihood-ratio test. The study rows
    are escalc's log odds ratios (1/2 added to tables with a zero cell), without weights."""
    d = _columns(rows, ("ai", "n1i", "ci", "n2i"))
    if _all_zero_events(rows, s.measure):
        raise AnalysisError(f"{what}: no events in any study; the effect is not estimable")
    from metareview.engine.glmm_or import rma_glmm_or, summary_or

    res, _dropped = rma_glmm_or(
        d["ai"], d["n1i"], d["ci"], d["n2i"], test=s.test, level=s.level, what=what
    )
    es = escalc("OR", d, add=s.add, to=s.to, drop00=True, correction=s.correction)
    ids = [r["study"] for r in rows]
    studies = study_records(es, ids, [None] * len(ids), norm_crit(s.level))
    return _glmm_fit(res, summary_or(res), s, studies, {"glmm_model": "UM.FS"})


def _subgroups_glmm(rows: list[dict], s: Settings, column: str) -> dict[str, Any]:
    """One ``rma.glmm`` per level, each with its own tau2 (as ``meta::metaprop`` with
    subgroups), and Cochran's Q over the level estimates with weights 1/se^2 as the test
    for subgroup differences; the same shape as ``SubgroupResult.to_dict``."""
    subgroups, est, se = [], [], []
    for level in sorted({str(r[column]) for r in rows}):
        sub = [r for r in rows if str(r[column]) == level]
        try:
            fit = pool_glmm(sub, s, what=f"subgroup {level}")
        except AnalysisError as exc:
            subgroups.append({"level": level, "k": len(sub), "not_pooled": str(exc)})
            continue
        subgroups.append(fit.to_dict() | {"level": level})
        est.append(fit.estimate)
        se.append(fit.se)
    between = q_between(est, se) if len(est) >= 2 else None
    return clean(
        {
            "subgroup": column,
            "subgroups": subgroups,
            "test_between": between,
            "test_between_fe": None,
            "test_between_re": between,
            "overall": pool(rows, s).to_dict(),
            "warnings": [] if between else ["fewer than two subgroups could be pooled"],
        }
    )


def _has_events(row) -> bool:
    return float(row["ai"]) != 0 or float(row["ci"]) != 0


def _all_zero_events(rows, measure) -> bool:
    """A two-arm outcome with no event in any arm of any study (not estimable)."""
    return is_two_arm(measure) and not any(_has_events(r) for r in rows)


def pool_subgroups(rows: list[dict], settings: Settings, column: str) -> dict[str, Any]:
    s = settings.resolved()
    s.check()
    missing = [r["study"] for r in rows if column not in r]
    if missing:
        raise AnalysisError(f"subgroup column '{column}' not found")
    if s.method in ("MH", "PETO"):
        return _subgroups_2x2(rows, s, column).to_dict()
    if s.method in measures.GLMM_METHODS:
        return _subgroups_glmm(rows, s, column)
    es = effect_sizes(rows, s)
    res = subgroup_analysis(
        es,
        [r["study"] for r in rows],
        [r[column] for r in rows],
        column=column,
        method=s.method,
        test=s.test,
        level=s.level,
    )
    res.overall = pool(rows, s)
    return res.to_dict()


def _subgroups_2x2(rows: list[dict], s: Settings, column: str):
    """Mantel-Haenszel or Peto fit per level; the test for subgroup differences is
    Cochran's Q over the level estimates with inverse-variance weights, as RevMan
    computes it (Cochrane Handbook 10.11.3.1); no random-effects version."""
    from metareview.engine.subgroups import SubgroupResult, q_between, single_study_fit

    levels = sorted({str(r[column]) for r in rows})
    fits, skipped, warnings = [], {}, []
    for lev in levels:
        sub = [r for r in rows if str(r[column]) == lev]
        try:
            fits.append(pool(sub, s, what=f"subgroup {lev}"))
        except AnalysisError as exc:
            es = effect_sizes(sub, s)
            if int(es.usable.sum()) == 1:
                fits.append(single_study_fit(es, [r["study"] for r in sub], s.level, s.measure))
                warnings.append(f"subgroup '{lev}' has one study; its estimate is that study's")
            else:
                fits.append(None)
                skipped[lev] = str(exc)
    pooled = [f for f in fits if f is not None]
    if len(pooled) < 2:
        raise AnalysisError(f"subgroup '{column}': fewer than two subgroups could be pooled")
    test = q_between([f.estimate for f in pooled], [f.se for f in pooled])
    return SubgroupResult(column, levels, fits, skipped, test, None, pool(rows, s), warnings)


def pool_mods(rows: list[dict], settings: Settings, mods: list[str]) -> dict[str, Any]:
    s = settings.resolved()
    s.check()
    if s.method in measures.TABLE_METHODS + measures.GLMM_METHODS:
        raise AnalysisError("meta-regression needs an inverse-variance model")
    es = effect_sizes(rows, s)
    use = es.usable
    cov = {}
    for m in mods:
        if any(m not in r for r in rows):
            raise AnalysisError(f"moderator column '{m}' not found")
        cov[m] = [r[m] for r, u in zip(rows, use, strict=True) if u]
    out = metareg(es.yi[use], es.vi[use], cov, mods, method=s.method, test=s.test, level=s.level)
    out["measure"] = s.measure
    return out


#: tau2 estimators of a meta-regression (inverse variance)
METAREG_METHODS = ("FE", "DL", "REML", "ML", "PM", "EB", "SJ", "HE", "HS")


def meta_regression(
    rows: list[dict],
    settings: Settings,
    mods: list[str],
    factors=(),
    *,
    permutations: int = 0,
    exact: bool = False,
    seed: int = 1,
    grid: int = 61,
) -> dict[str, Any]:
    """metafor's ``rma(yi, vi, mods = ~ ...)`` on ``rows`` (``settings.method`` one of
    :data:`METAREG_METHODS`) with R2, ``permutest`` when ``permutations`` > 0 (or
    ``exact``), the studies' points and the model's predictions along the first
    moderator (the other design columns at their means, as metafor's ``regplot``), each
    with its back-transformed value, for a bubble plot."""
    s = settings.resolved()
    s.check()
    if s.method not in METAREG_METHODS:
        raise AnalysisError(f"meta-regression needs an inverse-variance model, not {s.method}")
    es = effect_sizes(rows, s)
    use = es.usable
    cov = {}
    for m in mods:
        if any(m not in r for r in rows):
            raise AnalysisError(f"moderator column '{m}' not found")
        cov[m] = [r[m] for r, u in zip(rows, use, strict=True) if u]
    y, v = es.yi[use], es.vi[use]
    out = metareg(
        y,
        v,
        cov,
        mods,
        method=s.method,
        test=s.test,
        level=s.level,
        factors=factors,
        with_vcov=True,
    )
    vb = np.array(out.pop("vcov"), float)
    crit = float(out.pop("crit"))
    x, names = design_matrix(cov, mods, factors)
    beta = np.array([c["estimate"] for c in out["coefficients"]], float)
    ni = es.counts["ni"][use] if "ni" in es.counts else None

    def back(values):
        try:
            return [float(b) for b in np.atleast_1d(back_transform(s.measure, values, ni))]
        except ValueError:
            return None

    first = mods[0]
    first_cols = [j for j, n in enumerate(names) if n == first or n.startswith(first)]
    categorical = names[first_cols[0]] != first if first_cols else True
    means = x.mean(axis=0)
    if categorical:
        levels = sorted({str(c).strip() for c in cov[first]})
        xs: list[Any] = levels
        grid_x = np.tile(means, (len(levels), 1))
        for j in first_cols:
            grid_x[:, j] = [1.0 if f"{first}{lev}" == names[j] else 0.0 for lev in levels]
    else:
        vals = x[:, first_cols[0]]
        xs = list(np.linspace(vals.min(), vals.max(), grid))
        grid_x = np.tile(means, (len(xs), 1))
        grid_x[:, first_cols[0]] = xs
    pred = grid_x @ beta
    pred_se = np.sqrt(np.einsum("gi,ij,gj->g", grid_x, vb, grid_x))
    lb, ub = pred - crit * pred_se, pred + crit * pred_se
    w = 1 / (v + out["tau2"])
    ids = [r["study"] for r, u in zip(rows, use, strict=True) if u]
    out.update(
        measure=s.measure,
        level=s.level,
        settings=s.as_record(),
        factors=[f for f in factors if f in mods],
        studies=[
            {"study": sid, "yi": float(a), "vi": float(b), "weight": float(100 * ww / w.sum())}
            | {m: str(cov[m][i]).strip() for m in mods}
            for i, (sid, a, b, ww) in enumerate(zip(ids, y, v, w, strict=True))
        ],
        back_yi=back(y),
        prediction={
            "moderator": first,
            "categorical": categorical,
            "x": xs,
            "others_at_means": len(names) > len(first_cols) + 1,
            "estimate": pred.tolist(),
            "ci_lb": lb.tolist(),
            "ci_ub": ub.tolist(),
            "back": {"estimate": back(pred), "ci_lb": back(lb), "ci_ub": back(ub)},
        },
    )
    if permutations or exact:
        out["permutation"] = permutest(
            y,
            v,
            x,
            method=s.method,
            test=s.test,
            iter=max(2, permutations),
            seed=seed,
            exact=exact,
            observed=out,
        )
    return clean(out)


def pool_by(rows: list[dict], settings: Settings, by: str) -> list[dict[str, Any]]:
    """One fit per value of ``by``; inverse-variance models in one vectorised pass."""
    s = settings.resolved()
    s.check()
    groups = [str(r[by]) for r in rows]
    if s.method in measures.TABLE_METHODS + measures.GLMM_METHODS:
        out = []
        for g in sorted(set(groups)):
            sub = [r for r, gg in zip(rows, groups, strict=True) if gg == g]
            out.append(
                _group_entry(g, lambda sub=sub, g=g: pool(sub, s, what=f"group {g}").to_dict())
            )
        return out
    return many_fits(rows, s, groups)


def _group_entry(group, make):
    try:
        d = make()
    except AnalysisError as exc:
        d = {"error": str(exc)}
    d["group"] = group
    return d


def many_fits(rows, s: Settings, groups) -> list[dict[str, Any]]:
    """Vectorised per-group fits; ``if0all`` is applied within each group."""
    groups = np.asarray(groups, dtype=object)
    codes = sorted(set(groups.tolist()))
    if s.to == "if0all":
        parts = {}
        for g in codes:
            sel = groups == g
            parts[g] = effect_sizes([r for r, m in zip(rows, sel, strict=True) if m], s)
        yi = np.empty(len(rows))
        vi = np.empty(len(rows))
        for g in codes:
            sel = groups == g
            yi[sel], vi[sel] = parts[g].yi, parts[g].vi
    else:
        es = effect_sizes(rows, s)
        yi, vi = es.yi, es.vi
    use = np.isfinite(yi) & np.isfinite(vi)
    y, v, mask, order = pad_groups(yi[use], vi[use], groups[use])
    k = mask.sum(1)
    out = []
    ok = k >= 2
    res = (
        fit_iv_many(y[ok], v[ok], mask[ok], s.method, s.test, s.level, tau2_ci=True)
        if ok.any()
        else {}
    )
    pos = {g: i for i, g in enumerate(order[ok])}
    ni_by_group = {}
    if s.measure == "PFT":  # the back-transformation needs each group's ni
        nis = np.array([float(r["ni"]) for r in rows])[use]
        gg = groups[use]
        ni_by_group = {g: nis[gg == g] for g in order}
    no_events: set = set()
    if layout(s) == "two_arm":  # as pool(): a group without events has no estimable effect
        events = np.array([_has_events(r) for r in rows], dtype=bool)
        no_events = set(codes) - set(groups[events].tolist())
    for g in codes:
        if g in no_events:
            out.append(
                {
                    "group": g,
                    "k": int(np.sum(groups == g)),
                    "error": f"group {g}: no events in any study; the effect is not estimable",
                }
            )
            continue
        if g not in pos:
            kk = int(k[list(order).index(g)]) if g in set(order) else 0
            out.append(
                {
                    "group": g,
                    "k": kk,
                    "error": f"group {g}: k = {kk}; at least two studies are needed",
                }
            )
            continue
        i = pos[g]
        d = {key: (val[i] if key not in ("weights", "notes") else None) for key, val in res.items()}
        if not d["converged"]:
            out.append(
                {"group": g, "k": int(d["k"]), "error": f"group {g}: {s.method} did not converge"}
            )
            continue
        d.pop("weights")
        d.pop("notes")
        d.pop("converged")
        d.pop("vt")
        d.update(group=g, measure=s.measure, method=s.method, test=s.test, level=s.level)
        d["df"] = int(d["df"]) if s.test == "knha" else None
        if s.method == "FE":
            d["tau2_se"] = None
        ni = ni_by_group.get(g)
        d["back"] = {
            key: back_transform(s.measure, d[key], ni=ni)
            for key in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub")
        }
        out.append(clean(d))
    return out


#: per-group arrays of ``ManyFits`` (NaN where a group has no fit)
MANY_FIELDS = (
    "estimate",
    "se",
    "ci_lb",
    "ci_ub",
    "stat",
    "pval",
    "pi_lb",
    "pi_ub",
    "tau2",
    "tau2_se",
    "i2",
    "h2",
    "q",
    "q_pval",
)
MANY_CI_FIELDS = ("tau2_ci_lb", "tau2_ci_ub", "i2_ci_lb", "i2_ci_ub", "h2_ci_lb", "h2_ci_ub")
BACK_FIELDS = ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub")


@dataclass
class ManyFits:
    """One inverse-variance fit per group, as arrays over the groups (in ``groups`` order).

    ``values[name]`` and ``back[name]`` are (G,) float arrays, NaN where there is no
    value; ``k`` the studies in each fit; ``error[g]`` the reason group g has no fit
    (None when it has one); ``warnings[g]`` how its tau^2 was found, when that needs saying.
    """

    settings: Settings
    groups: list[str]
    k: np.ndarray
    values: dict[str, np.ndarray]
    back: dict[str, np.ndarray]
    error: list[str | None]
    warnings: list[list[str]] = field(default_factory=list)


def pool_by_columns(
    counts: dict[str, np.ndarray], codes, groups: list[str], settings: Settings, *, tau2_ci=True
) -> ManyFits:
    """``many_fits`` from count columns and integer group codes (``codes[i]`` indexes
    ``groups``), without a dict per row or per group: the arrays of every group's fit.
    ``tau2_ci``: also the Q-profile CI of tau^2, I^2 and H^2 (``MANY_CI_FIELDS``)."""
    s = settings.resolved()
    s.check()
    codes = np.asarray(codes, dtype=np.int64)
    n_groups = len(groups)
    data = {name: np.asarray(col, dtype=float) for name, col in counts.items()}
    options = {"add": s.add, "to": s.to, "drop00": s.drop00, "correction": s.correction}
    if s.to == "if0all":  # the correction is decided within each group
        yi = np.empty(codes.size)
        vi = np.empty(codes.size)
        for g in range(n_groups):
            sel = codes == g
            es = escalc(s.measure, {n: c[sel] for n, c in data.items()}, **options)
            yi[sel], vi[sel] = es.yi, es.vi
    else:
        es = escalc(s.measure, data, **options)
        yi, vi = es.yi, es.vi
    use = np.isfinite(yi) & np.isfinite(vi)
    y, v, mask = pad_codes(yi[use], vi[use], codes[use], n_groups)
    k = mask.sum(1)
    total = np.bincount(codes, minlength=n_groups)
    ok = k >= 2
    if is_two_arm(s.measure):  # as pool(): a group without events has no estimable effect
        events = (data["ai"] != 0) | (data["ci"] != 0)
        no_events = np.bincount(codes[events], minlength=n_groups) == 0
    else:
        no_events = np.zeros(n_groups, dtype=bool)
    fit = ok & ~no_events
    names = MANY_FIELDS + (MANY_CI_FIELDS if tau2_ci and s.method != "FE" else ())
    values = {name: np.full(n_groups, np.nan) for name in names}
    warnings: list[list[str]] = [[] for _ in range(n_groups)]
    converged = np.zeros(n_groups, dtype=bool)
    idx = np.flatnonzero(fit)
    if idx.size:
        res = fit_iv_many(
            y[idx], v[idx], mask[idx], s.method, s.test, s.level, tau2_ci=names != MANY_FIELDS
        )
        for name in names:
            values[name][idx] = res[name]
        converged[idx] = res["converged"]
        for j, notes in enumerate(res["notes"]):
            if notes:
                warnings[idx[j]] = list(notes)
    if s.method == "FE":
        values["tau2_se"][:] = np.nan
    error: list[str | None] = [None] * n_groups
    for g in np.flatnonzero(~(fit & converged)).tolist():
        if no_events[g]:
            error[g] = f"group {groups[g]}: no events in any study; the effect is not estimable"
        elif not ok[g]:
            error[g] = f"group {groups[g]}: k = {k[g]}; at least two studies are needed"
        else:
            error[g] = f"group {groups[g]}: {s.method} did not converge"
    k_out = np.where(no_events, total, k)
    failed = np.array([e is not None for e in error], dtype=bool)
    for name in names:
        values[name][failed] = np.nan
    ni = None
    if s.measure == "PFT":  # the harmonic mean of each group's sample sizes
        inv = np.bincount(codes[use], weights=1 / data["ni"][use], minlength=n_groups)
        ni = k / np.where(inv > 0, inv, np.nan)
    back = {name: _back_many(s.measure, values[name], ni) for name in BACK_FIELDS}
    return ManyFits(s, list(groups), k_out, values, back, error, warnings)


def _back_many(measure, values, hmean):
    """``back_transform`` of one value per group (PFT with each group's harmonic mean)."""
    if measure != "PFT":
        with np.errstate(over="ignore"):
            return np.asarray(back_transform(measure, values), dtype=float)
    out = np.full(values.shape, np.nan)
    for g in np.flatnonzero(np.isfinite(values) & np.isfinite(hmean)).tolist():
        out[g] = back_transform(measure, values[g], ni=[hmean[g]])
    return out
