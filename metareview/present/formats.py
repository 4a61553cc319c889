"""How numbers are printed in report tables: 2 decimals with a true minus sign, p-values
as <0.001 or 3 decimals, estimates as 'estimate [lower, upper]', percentages whole."""

from __future__ import annotations

from typing import Any


def num(x: Any, digits: int = 2) -> str:
    if x is None:
        return "–"
    return f"{x:.{digits}f}".replace("-", "−")


def pval(p: Any) -> str:
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def est_ci(back: dict | None) -> str:
    """'1.23 [0.98, 1.55]' on the reported scale ('not pooled' without an estimate)."""
    if not back or back.get("estimate") is None:
        return "not pooled"
    return f"{num(back['estimate'])} [{num(back['ci_lb'])}, {num(back['ci_ub'])}]"


def pct(x: Any) -> str:
    return "–" if x is None else f"{x:.0f}%"
