"""The texts of an outcome's figures that come from the protocol: arm column headers and
the "Favours ..." labels under the axis."""

from __future__ import annotations

from metareview.engine import measures


def forest_labels(protocol: dict, entry: dict, measure: str) -> dict[str, str]:
    """Arm column headers and the "Favours ..." texts of an outcome's forest plots, from the
    protocol's arm labels and the outcome's direction (no favours for one-arm measures)."""
    arms = protocol.get("arms") or {}
    treat = arms.get("intervention_label", arms.get("intervention", "Intervention"))
    ctrl = arms.get("control_label", arms.get("control", "Control"))
    if not measures.compares_arms(measure):
        left = right = ""
        treat = arms.get("single_label", arms.get("single", treat))
    elif entry.get("direction", "higher_is_better") == "higher_is_better":
        left, right = ctrl.lower(), treat.lower()
    else:
        left, right = treat.lower(), ctrl.lower()
    return {
        "intervention_label": treat,
        "control_label": ctrl,
        "favours_left": left,
        "favours_right": right,
    }


def favours(protocol: dict, entry: dict, measure: str) -> dict[str, str]:
    """Only the "Favours ..." texts (leave-one-out and cumulative plots)."""
    texts = forest_labels(protocol, entry, measure)
    return {k: texts[k] for k in ("favours_left", "favours_right")}
