"""Audit of published values and the protocol-deviation table.

Audit rule: a published value is *reproduced* when our value, rounded half up to the
number of decimals the publication printed, equals it (0.8143 reproduces 0.81; 0.8151
does not). Estimate and CI bounds share their decimals (YAML drops trailing zeros: 0.90
is read as 0.9, so the most decimals among the three count, or ``reported.decimals``).
Counts (k, n) must match exactly; they are counted from the studies with data even when
the outcome is not pooled (one study on file for a published k of 3 *differs*). A value we
cannot compute (the estimate of an outcome that is not pooled) is *not computable*, with
the reason. An outcome may carry several ``reported:`` blocks (one per patient group or
publication), each with its ``label``, ``source``, verbatim ``quote`` and the review team's
``reason`` for a difference (different study set, definitions, method), which every line of
the block that does not reproduce carries, beside the published value, ours and the
difference (ours at the published rounding minus the published value).
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from metareview.inputs.protocol import is_registered

AUDIT_RULE = (
    "reproduced = our value rounded (half up) to the decimals the publication printed "
    "equals the published value (estimate and CI bounds share their decimals); k and n "
    "must match exactly (counted from the studies with data, pooled or not); a p-value printed "
    "as a bound (<0.001) is reproduced when ours lies on its side; a rate printed as a "
    "percentage is compared with ours x 100; not computable = we could not compute the value "
    "(reason given); the reason for a difference is computed (counts) or the review "
    "team's (the reason recorded with the published values)"
)
STATUSES = ("reproduced", "differs", "not computable")


def decimals_of(value: Any) -> int:
    """Decimals printed: an integer (YAML's 84, as 84% was printed) has none."""
    if isinstance(value, int) and not isinstance(value, bool):
        return 0
    text = repr(float(value)) if not isinstance(value, str) else value
    if "e" in text or "E" in text:
        return 6
    return len(text.split(".")[1]) if "." in text else 0


def published_decimals(reported: dict, key: str) -> int:
    """Decimals the publication printed for ``key``.

    Estimate and CI bounds are printed alike, but YAML reads ``0.90`` as 0.9: they share
    ``reported.decimals`` when given, else the most decimals among the three.
    """
    if key in ("estimate", "ci_lb", "ci_ub"):
        if reported.get("decimals") is not None:
            return int(reported["decimals"])
        return max(
            decimals_of(reported[k])
            for k in ("estimate", "ci_lb", "ci_ub")
            if reported.get(k) is not None
        )
    return decimals_of(reported[key])


def _quantize(value: Decimal, places: int, rounding=ROUND_HALF_UP) -> Decimal:
    """``value`` to ``places`` decimals, exactly for any finite size (the default decimal
    context keeps 28 digits: 1e30 at 2 decimals would raise InvalidOperation)."""
    digits = max(value.adjusted(), 0) + places + 2
    with localcontext() as ctx:
        ctx.prec = max(ctx.prec, digits)
        return value.quantize(Decimal(1).scaleb(-places), rounding=rounding)


def round_half_up(x: float, places: int) -> Decimal:
    return _quantize(Decimal(repr(float(x))), places)


def reported_blocks(entry: dict) -> list[dict]:
    """The outcome's ``reported:`` blocks (one block, or a list of them)."""
    reported = entry.get("reported")
    if not reported:
        return []
    return list(reported) if isinstance(reported, list) else [reported]


_QUANTITIES = ("estimate", "ci_lb", "ci_ub", "i2", "tau2", "k", "n", "pval")


def audit_outcome(entry: dict, fit: dict) -> list[dict[str, Any]]:
    """One row per ``reported:`` value of an outcome (of each block, in order)."""
    rows = []
    for index, block in enumerate(reported_blocks(entry)):
        rows += _audit_block(entry, block, fit, index)
    return rows


def _ours(fit: dict, percent: bool) -> dict[str, Any]:
    back = fit.get("back") or {}
    pooled = bool(fit.get("pooled"))
    scale = 100.0 if percent else 1.0

    def scaled(key):
        value = back.get(key) if pooled else None
        return None if value is None else float(value) * scale

    return {
        "estimate": scaled("estimate"),
        "ci_lb": scaled("ci_lb"),
        "ci_ub": scaled("ci_ub"),
        "i2": fit.get("i2") if pooled else None,
        "tau2": fit.get("tau2") if pooled else None,
        "pval": fit.get("pval") if pooled else None,
        # counts: the studies with data (and their participants), pooled or not
        "k": fit.get("k"),
        "n": _participants(fit),
    }


def _audit_block(entry: dict, reported: dict, fit: dict, index: int) -> list[dict[str, Any]]:
    rows = []
    ours_by_key = _ours(fit, bool(reported.get("percent")))
    for key in _QUANTITIES:
        if key not in reported or reported[key] is None:
            continue
        pub = reported[key]
        ours = ours_by_key.get(key)
        row = {
            "outcome": entry["id"],
            "block": index,
            "label": reported.get("label", ""),
            "quantity": key,
            "published": pub,
            "ours": ours,
            "difference": None,
            "percent": bool(reported.get("percent")) and key in ("estimate", "ci_lb", "ci_ub"),
            "primary": entry.get("role") == "primary",
            "prespecified": not entry.get("post_hoc", False),
        }
        if ours is not None and not math.isfinite(float(ours)):
            ours = row["ours"] = None  # JSON has no inf/nan; not a value to compare
        if ours is None:
            row["status"] = "not computable"
            row["reason"] = "; ".join(fit.get("warnings") or []) or "not pooled"
            row["ours_rounded"] = None
        elif key in ("k", "n"):
            row["ours_rounded"] = int(ours)
            row["difference"] = int(ours) - int(pub)
            row["status"] = "reproduced" if int(ours) == int(pub) else "differs"
            row["reason"] = "" if row["status"] == "reproduced" else _count_reason(key, ours, pub)
        elif key == "pval" and isinstance(pub, str):
            side, bound = _pval_bound(pub)
            same = float(ours) < bound if side == "<" else float(ours) > bound
            row["published_text"] = f"{side}{pub.strip()[1:].strip()}"  # as printed
            row["ours_rounded"] = row["published_text"] if same else _pval_text(float(ours), bound)
            row["status"] = "reproduced" if same else "differs"
            row["reason"] = ""
        else:
            places = published_decimals(reported, key)
            rounded = round_half_up(float(ours), places)
            published = _quantize(Decimal(repr(float(pub))), places, ROUND_HALF_EVEN)
            row["ours_rounded"] = f"{rounded:.{places}f}"
            row["published_text"] = f"{published:.{places}f}"
            row["difference"] = f"{rounded - published:+.{places}f}"
            row["decimals"] = places
            same = rounded == published
            row["status"] = "reproduced" if same else "differs"
            row["reason"] = ""
        rows.append(row)
    # a differing k explains the other differences
    k_row = next((r for r in rows if r["quantity"] == "k" and r["status"] == "differs"), None)
    if k_row:
        for r in rows:
            if r["status"] == "differs" and r["quantity"] not in ("k", "n"):
                r["reason"] = k_row["reason"]
    # the review team's reason for the block's differences, after the computed one
    why = (reported.get("reason") or "").strip()
    if why:
        for r in rows:
            if r["status"] != "reproduced":
                r["reason"] = f"{r['reason']}; {why}" if r["reason"] else why
    return rows


def _pval_bound(text: str) -> tuple[str, float]:
    """'<0.001' -> ('<', 0.001): a p-value printed as a bound."""
    text = text.strip()
    return text[0], float(text[1:].strip())


def _pval_text(p: float, bound: float) -> str:
    """Our p-value at the bound's decimals (at least 2 significant digits)."""
    places = max(decimals_of(repr(bound)), 2)
    if p != 0 and abs(p) < 10 ** (-places):
        return f"{p:.1e}"
    return f"{p:.{places}f}"


def _participants(fit: dict) -> int | None:
    """Participants in the studies with data (None when the fit lists no studies)."""
    if "studies" not in fit:
        return None
    return sum(
        (s.get("n1i") or 0) + (s.get("n2i") or 0) + (s.get("ni") or 0)
        for s in fit["studies"]
        if not s.get("excluded")
    )


def _count_reason(key: str, ours, pub) -> str:
    ours, pub = int(ours), int(pub)
    if key == "k":
        return f"{ours} {'study' if ours == 1 else 'studies'} with data here vs {pub} published"
    return f"{ours} participants in the studies with data here vs {pub} published"


def audit_summary(review_id: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "review_id": review_id,
        "rule": AUDIT_RULE,
        "values": rows,
        "summary": {s: sum(r["status"] == s for r in rows) for s in STATUSES},
    }


def audit_failures(audit: dict[str, Any], fail_on=("differs", "not computable")) -> list[str]:
    """The published values of pre-specified primary outcomes that did not reproduce."""
    out = []
    for r in audit.get("values", []):
        if r.get("primary") and r.get("prespecified") and r["status"] in fail_on:
            why = f" ({r['reason']})" if r.get("reason") else ""
            out.append(
                f"{audit.get('review_id')}: primary outcome {r['outcome']!r}, {r['quantity']}: "
                f"published {r['published']}, ours {r.get('ours_rounded') or '-'}: "
                f"{r['status']}{why}"
            )
    return out


_SECTION_NAMES = {
    "outcomes": "Outcome",
    "subgroups": "Subgroup analysis",
    "sensitivity": "Sensitivity analysis",
    "small_study": "Small-study-effect analysis",
}


def _analysis_name(section: str, item: dict) -> str:
    if section == "small_study":
        return ", ".join(item.get("tests", []))
    return item.get("label") or item.get("id", "")


def deviations(protocol: dict) -> list[dict[str, Any]]:
    """PRISMA 2020 item 24c: every departure from the registered protocol (from the
    protocol as written when no registration is recorded).

    Post-hoc outcomes and analyses come from their ``post_hoc: true`` flag; other changes
    are listed by the review team under ``deviations:``.
    """
    rows = []
    absent = "not in the registered protocol" if is_registered(protocol) else "not in the protocol"
    for section, kind in _SECTION_NAMES.items():
        for item in protocol.get(section) or []:
            if item.get("post_hoc"):
                rows.append(
                    {
                        "what": f"{kind} added: {_analysis_name(section, item)}",
                        "registered": absent,
                        "done": "analysed post hoc",
                        "reason": item.get("rationale") or "no rationale recorded",
                        "origin": "post_hoc flag",
                    }
                )
    for d in protocol.get("deviations") or []:
        rows.append(
            {
                "what": d["what"],
                "registered": d.get("registered", ""),
                "done": d.get("done", ""),
                "reason": d["reason"],
                "origin": "deviations list",
            }
        )
    return rows


def check_audit(audit_path, fail_on, out_path) -> list[str]:
    """The `audit` target's check: raise when a pre-specified primary outcome's published
    values do not reproduce; else write a one-line summary to ``out_path``."""
    import json
    from pathlib import Path

    from metareview.errors import AnalysisError
    from metareview.io import atomic_write_text

    audit = json.loads(Path(audit_path).read_text(encoding="utf-8"))
    failures = audit_failures(audit, tuple(fail_on))
    if failures:
        raise AnalysisError(
            f"{audit_path}: {len(failures)} published value(s) of pre-specified primary "
            "outcomes did not reproduce:\n  " + "\n  ".join(failures)
        )
    s = audit["summary"]
    if not audit.get("values"):
        line = (
            f"{audit['review_id']}: audit passed: no published values to audit (the protocol "
            "records no `reported:` values)\n"
        )
    else:
        line = (
            f"{audit['review_id']}: audit passed (reproduced {s['reproduced']}, differs "
            f"{s['differs']}, not computable {s['not computable']}; failing statuses for "
            f"primary outcomes: {', '.join(fail_on) or 'none'})\n"
        )
    atomic_write_text(out_path, line)
    return []
