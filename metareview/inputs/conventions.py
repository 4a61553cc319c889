"""Method conventions: named presets of a protocol's analysis defaults.

A review team works to a convention (RevMan 5's classic defaults, Cochrane's 2025
random-effects methods, metafor's defaults). ``conventions: <name>`` in a protocol fills
the ``defaults`` keys the protocol does not write itself, key by key: an explicit
``defaults`` key or an outcome's own key always wins. The methods paragraph names the
preset (``metareview.present.methods``).

Sources of the presets (checked against the documents named; quoted in the comments):

* ``revman5``, ``revman5-random``: Deeks JJ, Higgins JPT. *Statistical algorithms in Review
  Manager 5* (Cochrane, 2010) and the Cochrane Handbook for Systematic Reviews of
  Interventions (v6.5, 2024) sections 10.4.4 and 10.10.4: dichotomous outcomes pooled by
  Mantel-Haenszel (fixed effect) or, for a random-effects analysis, the
  DerSimonian-Laird estimator of tau2 with a Wald-type (normal) confidence interval; 0.5
  added to every cell of a study with a zero cell; studies with no events (or only
  events) in both arms left out of ratio measures; 95% intervals; no prediction interval
  in the forest plot. Continuous outcomes are pooled by inverse variance (RevMan 5 has no
  Mantel-Haenszel method for them).
* ``cochrane-2025``: Cochrane Methods, "Random-effects meta-analysis methods for
  Intervention Reviews" (methods.cochrane.org, updated January and May 2025: "The new
  random-effects methods in RevMan have been implemented"): the restricted maximum
  likelihood (REML) estimator of tau2, a Q-profile confidence interval for tau2, the
  Hartung-Knapp-Sidik-Jonkman (HKSJ) confidence interval of the summary effect, and a
  prediction interval. The Q-profile interval and the prediction interval are computed
  for every random-effects fit of this pipeline; the preset sets REML and HKSJ (``test:
  knha``, metafor's ``test = "knha"``; the never-narrower ad hoc variant is not in the
  engine yet).
* ``metafor``: the defaults of metafor's ``rma``/``escalc`` (REML, z test, 95%, add 1/2 to
  studies with a zero cell, double-zero studies kept).
"""

from __future__ import annotations

from typing import Any

from metareview.engine import measures

__all__ = ["PRESETS", "Preset", "apply_conventions", "preset"]


class Preset(dict):
    """One preset: ``name``, ``label`` (the methods paragraph's words), ``source``,
    ``defaults`` (protocol ``defaults`` keys) and ``other_method`` (the method of outcomes
    whose measure the preset's method does not accept, e.g. MH for a single-arm
    proportion)."""

    @property
    def name(self) -> str:
        return self["name"]


PRESETS: dict[str, Preset] = {
    p["name"]: p
    for p in (
        Preset(
            name="revman5",
            label="the classic RevMan 5 defaults (fixed effect)",
            source="Deeks and Higgins, Statistical algorithms in Review Manager 5 (2010)",
            # Mantel-Haenszel for dichotomous data; 0.5 added to all cells of studies with
            # a zero cell; double-zero studies excluded; Wald-type 95% CI
            defaults={
                "method": "MH",
                "test": "z",
                "level": 95,
                "add": 0.5,
                "to": "only0",
                "drop00": True,
            },
            other_method="FE",  # inverse variance, fixed effect
            # a risk difference is estimable in a double-zero study: RevMan keeps it
            by_measure={"RD": {"drop00": False}},
        ),
        Preset(
            name="revman5-random",
            label="the classic RevMan 5 defaults (random effects, DerSimonian-Laird)",
            source="Deeks and Higgins, Statistical algorithms in Review Manager 5 (2010)",
            defaults={
                "method": "DL",
                "test": "z",
                "level": 95,
                "add": 0.5,
                "to": "only0",
                "drop00": True,
            },
            other_method="DL",
            by_measure={"RD": {"drop00": False}},
        ),
        Preset(
            name="cochrane-2025",
            label=(
                "Cochrane's 2025 random-effects methods (REML estimator of tau², Q-profile "
                "confidence interval for tau², Hartung-Knapp-Sidik-Jonkman confidence "
                "intervals, prediction intervals)"
            ),
            source=(
                "Cochrane Methods, Random-effects meta-analysis methods for Intervention "
                "Reviews (2025)"
            ),
            defaults={
                "method": "REML",
                "test": "knha",
                "level": 95,
                "add": 0.5,
                "to": "only0",
                "drop00": True,
            },
            other_method="REML",
            by_measure={"RD": {"drop00": False}},
        ),
        Preset(
            name="metafor",
            label="the defaults of R metafor (REML, Wald-type intervals)",
            source="Viechtbauer W. Conducting meta-analyses in R with the metafor package (2010)",
            defaults={
                "method": "REML",
                "test": "z",
                "level": 95,
                "add": None,
                "to": "only0",
                "drop00": None,
            },
            other_method="REML",
        ),
    )
}


def preset(name: str) -> Preset:
    """The preset called ``name``; ``KeyError`` naming the known ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown conventions {name!r}; known: {', '.join(PRESETS)}") from None


def apply_conventions(data: dict[str, Any]) -> dict[str, Any]:
    """Fill ``data['defaults']`` from the protocol's ``conventions`` preset (in place).

    Keys the protocol writes in ``defaults`` stay; so do an outcome's own keys. An outcome
    whose measure the preset's method does not take (Mantel-Haenszel for a single-arm
    proportion or a continuous measure) and that names no method gets the preset's
    ``other_method``; the preset's ``by_measure`` settings apply to outcomes that do not
    write them (unless ``defaults`` does). Call before the schema's defaults are filled in.
    Returns ``data``.
    """
    name = data.get("conventions")
    if not name:
        return data
    p = preset(name)
    written = dict(data.get("defaults") or {})
    defaults = dict(written)
    for key, value in p["defaults"].items():
        defaults.setdefault(key, value)
    data["defaults"] = defaults
    method = defaults["method"]
    for out in data.get("outcomes") or []:
        if not isinstance(out, dict):
            continue
        measure = out.get("measure") or defaults.get("measure") or "OR"
        if "method" not in out and "method" not in written:
            if not measures.accepts(method, measure):
                out["method"] = p["other_method"]
        for key, value in p.get("by_measure", {}).get(measure, {}).items():
            if key not in out and key not in written:
                out[key] = value
    return data
