"""CSV and JSON of many fits (``metareview pool --by``) written from the fits' arrays.

``fits`` is an ``engine.pooling.ManyFits`` (its arrays over the groups), read by attribute:
the presentation layer does not import the engine's pooling."""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np

from metareview.io import safe_text

#: the back-transformed values of a fit (the keys of ``ManyFits.back`` and of a fit's "back")
BACK_FIELDS = ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub")

CSV_FIELDS = (
    "group",
    "k",
    "estimate",
    "se",
    "ci_lb",
    "ci_ub",
    "pi_lb",
    "pi_ub",
    "tau2",
    "i2",
    "h2",
    "q",
    "q_pval",
    "stat",
    "pval",
    *(f"back_{name}" for name in BACK_FIELDS),
    "error",
    "warnings",
)


def _column(values: np.ndarray) -> list[str]:
    """The CSV cells of a float column: ``repr`` (as the csv module writes a float), ''
    where NaN or infinite."""
    out = list(map(repr, values.tolist()))
    for i in np.flatnonzero(~np.isfinite(values)).tolist():
        out[i] = ""
    return out


_QUOTE = re.compile('[,"\r\n]')


def _text_column(values: list[str]) -> list[str]:
    """The CSV cells of a text column: a value the csv module would quote goes through it."""
    out = list(values)
    if not _QUOTE.search("".join(out)):
        return out
    for i, value in enumerate(out):
        if _QUOTE.search(value):
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerow([value, ""])
            out[i] = buf.getvalue()[:-2]
    return out


def many_csv(fits) -> str:
    """One CSV row per group: the summary of its fit, or its error (the csv module's
    output, joined from whole columns of cells)."""
    columns: list[list[str]] = [
        _text_column([safe_text(g) for g in fits.groups]),
        list(map(str, fits.k.tolist())),
    ]
    for name in CSV_FIELDS[2:]:
        if name.startswith("back_"):
            columns.append(_column(fits.back[name[5:]]))
        elif name == "error":
            columns.append(_text_column(["" if e is None else e for e in fits.error]))
        elif name == "warnings":
            columns.append(_text_column(["; ".join(w) for w in fits.warnings]))
        else:
            columns.append(_column(fits.values[name]))
    lines = [",".join(CSV_FIELDS), *map(",".join, zip(*columns, strict=True))]
    return "\n".join(lines) + "\n"


def _value(x: float):
    return x if x == x and x not in (float("inf"), float("-inf")) else None


def many_dicts(fits) -> list[dict]:
    """The JSON objects of the groups (the keys of ``pool_by``'s fits)."""
    s = fits.settings
    names = list(fits.values)
    table = {n: fits.values[n].tolist() for n in names}
    back = {n: fits.back[n].tolist() for n in BACK_FIELDS}
    k = fits.k.tolist()
    out = []
    for g, group in enumerate(fits.groups):
        if fits.error[g] is not None:
            out.append({"error": fits.error[g], "group": group, "k": k[g]})
            continue
        d = {n: _value(table[n][g]) for n in names}
        d.update(
            group=group,
            k=k[g],
            measure=s.measure,
            method=s.method,
            test=s.test,
            level=s.level,
            df=k[g] - 1 if s.test == "knha" else None,
            q_df=k[g] - 1,
            back={n: _value(back[n][g]) for n in BACK_FIELDS},
            warnings=list(fits.warnings[g]),
        )
        out.append(d)
    return out


def many_json(fits) -> str:
    return json.dumps(many_dicts(fits), indent=2, sort_keys=True) + "\n"


def dicts_csv(fits: list[dict]) -> str:
    """The CSV of ``pool_by``'s fit dicts (Mantel-Haenszel and Peto, one fit per group)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for f in fits:
        row = dict(f)
        for name in BACK_FIELDS:
            row[f"back_{name}"] = (f.get("back") or {}).get(name)
        row["warnings"] = "; ".join(f.get("warnings") or [])
        # group names come from the user's table: guard them against formulas
        writer.writerow(
            {k: ("" if row.get(k) is None else safe_text(row.get(k))) for k in CSV_FIELDS}
        )
    return buf.getvalue()
