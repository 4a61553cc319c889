"""What a review's protocol asks the pipeline to run: its outcomes, the outcomes with a
stage-4 analysis, its screening export(s) and its risk-of-bias template.

The Snakefile (which builds the DAG from it) and :mod:`metareview.runner` (which runs whole
reviews in one process) ask these same functions, so both run the same jobs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from metareview.inputs.protocol import analysis_plan
from metareview.inputs.rob import tool_path
from metareview.inputs.screening.summary import screening_files


def outcome_ids(protocol: Mapping[str, Any]) -> list[str]:
    return [o["id"] for o in protocol["outcomes"]]


def analysed_outcomes(protocol: Mapping[str, Any]) -> list[str]:
    """Outcomes with at least one planned subgroup, sensitivity or small-study analysis
    (only these get stage-4 analyses)."""
    return [o for o in outcome_ids(protocol) if any(analysis_plan(protocol, o).values())]


def screening_inputs(protocol: Mapping[str, Any], raw_review_dir: str | Path) -> list[str]:
    """The review's screening export(s) under ``data/raw/<review>/`` that exist (none: the
    review has no PRISMA stage)."""
    return [f for f in screening_files(protocol, raw_review_dir) if os.path.exists(f)]


def rob_template(protocol: Mapping[str, Any]) -> list[str]:
    """The risk-of-bias tool's template file (a shipped tool or a path), or nothing."""
    cfg = protocol.get("risk_of_bias")
    return [str(tool_path(cfg["tool"]))] if cfg else []
