"""Reading a RevMan 5 review file (``.rm5``) into a metareview review folder.

``metareview import revman FILE.rm5 --review <id>`` (:func:`import_revman`) writes
``config/reviews/<id>.yaml``, ``data/raw/<id>/studies.csv``, ``extraction.csv``, a
risk-of-bias tool template made from the file's own quality items, a README and
``import_report.json``, and adds the review to ``config/config.yaml``.

What is read (RevMan 5 XML, ISO-8859-1 or UTF-8, as its XML declaration says):

* ``STUDIES/INCLUDED_STUDIES/STUDY``: ``NAME`` (the label; the study id is the name with
  characters other than letters, digits, ``_``, ``.`` and ``-`` replaced), ``YEAR``.
* ``QUALITY_ITEMS/QUALITY_ITEM`` (the Cochrane risk-of-bias tool of RevMan 5): study-level
  items become ``rob_<n>`` columns of ``studies.csv`` (``RESULT`` YES/LOW -> low, NO/HIGH ->
  high, UNKNOWN/UNCLEAR -> unclear; an item with no entry for a study is empty = not
  assessed); the tool template ``data/raw/<id>/rob_tool.yaml`` names them. RevMan has no
  overall judgement: ``rob_overall`` stays empty. Outcome-group items (``LEVEL="GROUP"``)
  cannot be held by a one-row-per-study table and are listed as not imported.
* ``ANALYSES_AND_DATA/COMPARISON/DICH_OUTCOME`` with ``DICH_DATA`` (events and totals per
  arm; ``SWAP_EVENTS="YES"`` -> non-events, as RevMan analyses them) and ``DICH_SUBGROUP``
  (a study covariate ``subgroup_<outcome>`` and a subgroup analysis of that outcome);
  ``CONT_OUTCOME`` with ``CONT_DATA`` (mean, SD, total per arm, DESIGN.md's continuous
  layout). The outcome's ``EFFECT_MEASURE`` (OR, RR, RD, PETO_OR, MD, SMD), ``METHOD``
  (MH, IV, PETO), ``RANDOM`` and ``CI_TOTAL`` become its measure, method (MH; IV fixed ->
  FE; random -> DL; PETO) and level; RevMan's stored pooled results (``EFFECT_SIZE``,
  ``CI_START``, ``CI_END``, ``I2``, ``TAU2`` when random, ``P_Z``) become the outcome's
  ``reported:`` block, so that the audit states whether the pipeline reproduces RevMan.
  Chi2, df, Z and the per-study weights are kept in ``import_report.json``.

Not imported (each listed in the report, never dropped silently): generic inverse-variance
(``IV_OUTCOME``) and O-E (``OE_OUTCOME``) outcomes, other outcome types, outcome-group
risk-of-bias items, studies in two subgroups of one outcome. Continuous outcomes are
imported as rows but left out of the protocol while the measure registry has no MD / SMD
(``extraction_continuous.csv``; the protocol's header comment names them).

Security: the file is parsed with the standard library's expat parser after refusing any
document type declaration (``<!DOCTYPE``/``<!ENTITY``), so no entity expansion ("billion
laughs") or external entity can occur; RevMan files have none.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metareview.engine import measures
from metareview.errors import InputError
from metareview.inputs.protocol import load_config, load_protocol
from metareview.inputs.rob import load_tool
from metareview.inputs.scaffold import ID_PATTERN, add_to_config
from metareview.io import atomic_write_text

__all__ = ["RevManFile", "Outcome", "read_rm5", "import_revman"]

MAX_BYTES = 200 * 1024 * 1024
_MEASURES = {"OR": "OR", "RR": "RR", "RD": "RD", "PETO_OR": "OR", "MD": "MD", "SMD": "SMD"}
_ROB = {
    "YES": "low",
    "LOW": "low",
    "NO": "high",
    "HIGH": "high",
    "UNKNOWN": "unclear",
    "UNCLEAR": "unclear",
}
INTERVENTION, CONTROL = "experimental", "control"


@dataclass
class Outcome:
    """One RevMan outcome (an analysis): its settings, rows and stored results."""

    id: str
    rm_id: str
    kind: str  # dichotomous | continuous
    name: str
    comparison: str
    measure: str
    method: str
    random: bool
    level: float
    group_labels: tuple[str, str]
    graph_labels: tuple[str, str]
    swap_events: bool
    totals: str
    results: dict[str, float | None]
    rows: list[dict[str, Any]] = field(default_factory=list)  # per study (and subgroup)

    @property
    def revman_method(self) -> str:
        return f"{self.method} {'random' if self.random else 'fixed'}"

    def protocol_method(self) -> str:
        if self.method == "PETO":
            return "PETO"
        if self.random:
            return "DL"
        return "MH" if self.method == "MH" else "FE"


@dataclass
class RevManFile:
    path: str
    title: str
    version: str
    studies: list[dict[str, Any]]  # id, label, year, rm_id, rob{column: judgement}
    rob_items: list[dict[str, str]]  # column, name, description
    outcomes: list[Outcome]
    unsupported: list[str]


def _num(text: str | None) -> float | None:
    if text is None or not str(text).strip():
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _int(text: str | None) -> int | None:
    value = _num(text)
    return int(value) if value is not None and value == int(value) else None


def _text(el: ET.Element | None) -> str:
    return " ".join("".join(el.itertext()).split()) if el is not None else ""


def _slug(text: str, fallback: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-._")
    return s if s and ID_PATTERN.match(s) else fallback


def _decode_id(rm_id: str) -> str:
    """RevMan writes characters of ids as ``_xHHHH_`` (``STD-ISIS_x002d_2``)."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), rm_id)


def parse_xml(path: str | Path) -> ET.Element:
    """The root element; ``InputError`` for an unreadable file, a DTD or malformed XML."""
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(file, None, None, f"cannot read the file: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise InputError(file, None, None, f"larger than {MAX_BYTES // 2**20} MB")
    head = data[:4096].lower()
    if b"<!doctype" in data.lower() or b"<!entity" in data.lower():
        raise InputError(
            file,
            None,
            None,
            "the file declares a document type or entities (<!DOCTYPE/<!ENTITY): refused "
            "(RevMan 5 files have none; entities can expand without bound)",
        )
    if not head.lstrip().startswith((b"<?xml", b"<cochrane_review", b"\xef\xbb\xbf")):
        raise InputError(file, 1, None, "not a RevMan 5 file (no XML declaration)")
    try:
        root = ET.fromstring(data)  # expat honours the declared encoding (ISO-8859-1, UTF-8)
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise InputError(file, line, None, f"malformed XML: {exc}") from None
    if root.tag != "COCHRANE_REVIEW":
        raise InputError(file, 1, None, f"root element <{root.tag}>: not a RevMan 5 review")
    return root


def read_rm5(path: str | Path) -> RevManFile:
    """Read a RevMan 5 file (see the module docstring for what is read)."""
    file = str(path)
    root = parse_xml(path)
    unsupported: list[str] = []
    title = _text(root.find("COVER_SHEET/TITLE")) or Path(file).stem

    studies: list[dict[str, Any]] = []
    by_rm: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    for st in root.iterfind("STUDIES_AND_REFERENCES/STUDIES/INCLUDED_STUDIES/STUDY"):
        rm_id = st.get("ID", "")
        name = st.get("NAME") or _decode_id(rm_id).removeprefix("STD-")
        sid = base = _slug(name, _slug(_decode_id(rm_id).removeprefix("STD-"), "study"))
        n = 2
        while sid.casefold() in used:
            sid, n = f"{base}-{n}", n + 1
        used.add(sid.casefold())
        m = re.match(r"\s*([0-9]{4})", st.get("YEAR") or "")
        record = {
            "id": sid,
            "label": name,
            "year": m.group(1) if m else "",
            "rm_id": rm_id,
            "rob": {},
            "covariates": {},
        }
        studies.append(record)
        by_rm[rm_id] = record

    rob_items: list[dict[str, str]] = []
    for n, item in enumerate(root.iter("QUALITY_ITEM"), 1):
        name = _text(item.find("NAME")) or f"Item {n}"
        entries = item.findall("QUALITY_ITEM_DATA/QUALITY_ITEM_DATA_ENTRY")
        if item.get("LEVEL") == "GROUP":
            if entries:
                unsupported.append(
                    f"risk-of-bias item {name!r}: judged per outcome group ({len(entries)} "
                    "entries); studies.csv holds one judgement per study"
                )
            continue
        column = f"rob_{n}"
        rob_items.append(
            {
                "column": column,
                "name": name,
                "no": str(n),
                "description": _text(item.find("DESCRIPTION")),
            }
        )
        for e in entries:
            study = by_rm.get(e.get("STUDY_ID", ""))
            result = _ROB.get((e.get("RESULT") or "").upper())
            if study is None:
                unsupported.append(
                    f"risk-of-bias item {name!r}: unknown study {e.get('STUDY_ID')!r}"
                )
            elif result is None:
                unsupported.append(
                    f"risk-of-bias item {name!r}, study {study['label']!r}: "
                    f"judgement {e.get('RESULT')!r} not understood"
                )
            else:
                study["rob"][column] = result

    outcomes: list[Outcome] = []
    for cmp_ in root.iterfind("ANALYSES_AND_DATA/COMPARISON"):
        cname = _text(cmp_.find("NAME"))
        for el in cmp_:
            if el.tag in ("NAME",):
                continue
            if el.tag not in ("DICH_OUTCOME", "CONT_OUTCOME"):
                unsupported.append(
                    f"comparison {cname!r}: {el.tag} {_text(el.find('NAME'))!r} (only "
                    "dichotomous and continuous outcomes are imported)"
                )
                continue
            outcomes.append(_outcome(el, cname, by_rm, unsupported, file))
    version = root.get("REVMAN_SUB_VERSION") or root.get("REVMAN_VERSION") or ""
    return RevManFile(file, title, version, studies, rob_items, outcomes, unsupported)


def _outcome(el, cname, by_rm, unsupported, file) -> Outcome:
    dich = el.tag == "DICH_OUTCOME"
    rm_id = el.get("ID", "")
    oid = _slug(rm_id.lower().replace("cmp-", "c").replace(".", "-o"), "outcome")
    name = _text(el.find("NAME")) or rm_id
    measure = _MEASURES.get(el.get("EFFECT_MEASURE", ""), el.get("EFFECT_MEASURE", ""))
    method = el.get("METHOD", "IV")
    if el.get("EFFECT_MEASURE") == "PETO_OR":
        method = "PETO"
    results = {
        key: _num(el.get(attr))
        for key, attr in (
            ("estimate", "EFFECT_SIZE"),
            ("ci_lb", "CI_START"),
            ("ci_ub", "CI_END"),
            ("i2", "I2"),
            ("tau2", "TAU2"),
            ("chi2", "CHI2"),
            ("df", "DF"),
            ("z", "Z"),
            ("pval", "P_Z"),
            ("k", "STUDIES"),
        )
    }
    out = Outcome(
        id=oid,
        rm_id=rm_id,
        kind="dichotomous" if dich else "continuous",
        name=name,
        comparison=cname,
        measure=measure,
        method=method,
        random=el.get("RANDOM") == "YES",
        level=_num(el.get("CI_TOTAL")) or 95.0,
        group_labels=(_text(el.find("GROUP_LABEL_1")), _text(el.find("GROUP_LABEL_2"))),
        graph_labels=(_text(el.find("GRAPH_LABEL_1")), _text(el.find("GRAPH_LABEL_2"))),
        swap_events=el.get("SWAP_EVENTS") == "YES",
        totals=el.get("TOTALS", "YES"),
        results=results,
    )
    data_tag = "DICH_DATA" if dich else "CONT_DATA"
    sub_tag = "DICH_SUBGROUP" if dich else "CONT_SUBGROUP"
    blocks = [(None, el)] + [
        (_text(s.find("NAME")) or s.get("ID", ""), s) for s in el.findall(sub_tag)
    ]
    for subgroup, block in blocks:
        for d in block.findall(data_tag):
            study = by_rm.get(d.get("STUDY_ID", ""))
            if study is None:
                unsupported.append(f"outcome {name!r}: data of unknown study {d.get('STUDY_ID')!r}")
                continue
            row = {
                "study": study["id"],
                "subgroup": subgroup,
                "weight": _num(d.get("WEIGHT")),
                "estimable": d.get("ESTIMABLE") != "NO",
            }
            if dich:
                e1, n1 = _int(d.get("EVENTS_1")), _int(d.get("TOTAL_1"))
                e2, n2 = _int(d.get("EVENTS_2")), _int(d.get("TOTAL_2"))
                if None in (e1, n1, e2, n2):
                    unsupported.append(
                        f"outcome {name!r}, study {study['label']!r}: events or totals missing"
                    )
                    continue
                if out.swap_events:
                    e1, e2 = n1 - e1, n2 - e2
                row.update(events_1=e1, total_1=n1, events_2=e2, total_2=n2)
            else:
                vals = {
                    k: _num(d.get(a))
                    for k, a in (
                        ("mean_1", "MEAN_1"),
                        ("sd_1", "SD_1"),
                        ("total_1", "TOTAL_1"),
                        ("mean_2", "MEAN_2"),
                        ("sd_2", "SD_2"),
                        ("total_2", "TOTAL_2"),
                    )
                }
                if None in vals.values():
                    unsupported.append(
                        f"outcome {name!r}, study {study['label']!r}: mean, SD or total missing"
                    )
                    continue
                vals["total_1"], vals["total_2"] = int(vals["total_1"]), int(vals["total_2"])
                row.update(vals)
            out.rows.append(row)
    return out


# --------------------------------------------------------------------------- writing


def _q(text: str) -> str:
    """A YAML scalar: JSON's double-quoted string is valid YAML."""
    return json.dumps(str(text), ensure_ascii=False)


def _round(value: float | None, places: int) -> float | None:
    return None if value is None else float(f"{value:.{places}f}")


def _csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, columns, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _supported(o: Outcome) -> str | None:
    """Why an outcome cannot be pooled by this version of the pipeline, or None."""
    if measures.find(o.measure) is None:
        return (
            f"measure {o.measure} ({o.kind}) is not in the measure registry yet: rows "
            "written to extraction_continuous.csv"
        )
    return None


def _direction(o: Outcome) -> str:
    """RevMan's default graph labels put 'Favours experimental' left: lower is better."""
    left, right = (g.lower() for g in o.graph_labels)
    g1 = (o.group_labels[0] or "experimental").lower()
    if ("experimental" in right or g1 in right) and not ("experimental" in left or g1 in left):
        return "higher_is_better"
    return "lower_is_better"


def _subgroup_column(o: Outcome) -> str:
    return f"subgroup_{o.id}".replace("-", "_")


def build_review(rm: RevManFile, review_id: str) -> dict[str, str]:
    """File name (relative to the repository) -> text of the imported review."""
    raw = f"data/raw/{review_id}"
    report: dict[str, Any] = {
        "source": Path(rm.path).name,
        "revman_version": rm.version,
        "outcomes": [],
        "not_imported": list(rm.unsupported),
    }
    pooled: list[Outcome] = []
    pending: list[tuple[Outcome, str]] = []
    sub_outcomes: list[Outcome] = []
    for o in rm.outcomes:
        why = _supported(o)
        if why:
            pending.append((o, why))
        else:
            pooled.append(o)
        subs = {r["subgroup"] for r in o.rows}
        if subs != {None}:
            seen: dict[str, str] = {}
            clash = False
            for r in o.rows:
                if r["study"] in seen and seen[r["study"]] != r["subgroup"]:
                    clash = True
                seen[r["study"]] = r["subgroup"]
            if clash:
                report["not_imported"].append(
                    f"outcome {o.name!r}: a study lies in two subgroups; the subgroups are "
                    "not imported as a covariate"
                )
            elif o in pooled:
                sub_outcomes.append(o)
                for s in rm.studies:
                    if s["id"] in seen:
                        s["covariates"][_subgroup_column(o)] = seen[s["id"]] or ""

    # studies.csv
    cov_cols = [_subgroup_column(o) for o in sub_outcomes]
    rob_cols = [i["column"] for i in rm.rob_items]
    st_rows = [
        {
            "study_id": s["id"],
            "label": s["label"],
            "year": s["year"],
            "design": "rct",
            "reference": "",
            **s["rob"],
            **{c: s["covariates"].get(c, "") for c in cov_cols},
        }
        for s in rm.studies
    ]
    study_cols = [
        "study_id",
        "label",
        "year",
        "design",
        "reference",
        *rob_cols,
        *(["rob_overall"] if rob_cols else []),
        *cov_cols,
    ]
    files = {f"{raw}/studies.csv": _csv(study_cols, st_rows)}

    # extraction.csv (rows of pooled outcomes) and extraction_continuous.csv (pending)
    src = Path(rm.path).name

    def arm_rows(o: Outcome) -> list[dict[str, Any]]:
        out = []
        for r in o.rows:
            for n, arm in ((1, INTERVENTION), (2, CONTROL)):
                row = {
                    "study_id": r["study"],
                    "outcome": o.id,
                    "arm": arm,
                    "total": r[f"total_{n}"],
                    "source": f"{src}, {o.rm_id} ({o.group_labels[n - 1] or arm})",
                }
                if o.kind == "dichotomous":
                    row["events"] = r[f"events_{n}"]
                else:
                    row.update(mean=repr(r[f"mean_{n}"]), sd=repr(r[f"sd_{n}"]))
                out.append(row)
        return out

    ext_cols = ["study_id", "outcome", "arm", "events", "total", "source"]
    cont_cols = ["study_id", "outcome", "arm", "mean", "sd", "total", "source"]
    rows = [r for o in pooled for r in arm_rows(o)]
    if any(o.kind == "continuous" for o in pooled):
        ext_cols = ["study_id", "outcome", "arm", "events", "mean", "sd", "total", "source"]
    files[f"{raw}/extraction.csv"] = _csv(ext_cols, rows)
    if pending:
        files[f"{raw}/extraction_continuous.csv"] = _csv(
            cont_cols, [r for o, _ in pending for r in arm_rows(o)]
        )

    # risk-of-bias template made from the file's items (RoB 1: low / unclear / high)
    if rob_cols:
        files[f"{raw}/rob_tool.yaml"] = _rob_template(rm)

    files[f"config/reviews/{review_id}.yaml"] = _protocol(
        rm, review_id, pooled, pending, sub_outcomes, bool(rob_cols)
    )
    for o in rm.outcomes:
        report["outcomes"].append(
            {
                "id": o.id,
                "revman_id": o.rm_id,
                "name": o.name,
                "type": o.kind,
                "measure": o.measure,
                "revman_method": o.revman_method,
                "level": o.level,
                "studies": len(o.rows),
                "imported_to": "protocol" if o in pooled else "extraction_continuous.csv",
                "revman_results": o.results if o.results.get("estimate") is not None else None,
                "revman_weights": {r["study"]: r["weight"] for r in o.rows},
            }
        )
    files[f"{raw}/import_report.json"] = json.dumps(report, indent=2, sort_keys=True) + "\n"
    files[f"{raw}/README.md"] = _readme(rm, review_id, pooled, pending, report)
    return files


def _rob_template(rm: RevManFile) -> str:
    lines = [
        "# Risk-of-bias tool of this review, made by `metareview import revman` from the",
        "# RevMan 5 file's quality items (the Cochrane risk-of-bias tool of RevMan 5).",
        "id: revman_rob",
        "name: Cochrane RoB (RevMan 5)",
        f"full_name: {_q('Cochrane risk-of-bias tool as recorded in ' + Path(rm.path).name)}",
        "citation: >-",
        "  Higgins JPT, Altman DG, Gotzsche PC, et al. The Cochrane Collaboration's tool for",
        "  assessing risk of bias in randomised trials. BMJ 2011;343:d5928.",
        "doi: 10.1136/bmj.d5928",
        "study_designs: [rct]",
        "domains:",
    ]
    for item in rm.rob_items:
        n = item["no"]
        lines += [
            f"  - id: d{n}",
            f"    column: {item['column']}",
            f"    short: D{n}",
            f"    label: {_q(item['name'])}",
        ]
    lines += [
        "overall:",
        "  id: overall",
        "  column: rob_overall",
        "  short: Overall",
        "  abbrev: O",
        "  label: Overall risk of bias (not recorded by RevMan 5)",
        "judgements:",
        '  - {id: low, aliases: [low risk, "yes"], label: Low risk, colour: "#02C100", '
        'symbol: "+"}',
        "  - {id: unclear, aliases: [unclear risk, unknown], label: Unclear risk, "
        'colour: "#E2DF07", symbol: "?"}',
        '  - {id: high, aliases: [high risk, "no"], label: High risk, colour: "#BF0000", '
        'symbol: "\\u00d7"}',
        "severity: [low, unclear, high]",
    ]
    return "\n".join(lines) + "\n"


def _protocol(rm, review_id, pooled, pending, sub_outcomes, has_rob) -> str:
    labels = {o.group_labels for o in pooled} or {("Experimental", "Control")}
    g1, g2 = sorted(labels)[0] if len(labels) == 1 else ("Experimental", "Control")
    lines = [
        f"# Imported by `metareview import revman` from {Path(rm.path).name} (RevMan "
        f"{rm.version}).",
        "# Each outcome's measure, method and level are the ones RevMan used; its reported:",
        "# block holds RevMan's stored pooled result, which the audit compares with ours.",
        "# Check and complete the lines marked CHECK (RevMan 5 records no direction, design",
        "# or registration); data/raw/" + review_id + "/import_report.json lists what was",
        "# not imported.",
    ]
    if pending:
        lines.append(
            "# Not in this protocol yet (need the continuous measures MD/SMD in the pipeline;"
        )
        lines.append(
            f"# rows in data/raw/{review_id}/extraction_continuous.csv, DESIGN.md's "
            "continuous layout):"
        )
        for o, _why in pending:
            lines.append(
                f"#   {o.id}: {o.name} ({o.measure}, {o.revman_method}, {len(o.rows)} studies)"
            )
    lines += [
        f"review_id: {review_id}",
        f"title: {_q(rm.title)}",
        f"description: {_q('Reanalysis of the RevMan 5 file ' + Path(rm.path).name)}",
        "conventions: revman5  # RevMan 5's zero-cell rules; each outcome sets its model",
        "pico:",
        "  study_designs: [rct]  # CHECK: RevMan 5 records no design; every study is 'rct'",
        "arms:",
        f"  intervention: {INTERVENTION}",
        f"  control: {CONTROL}",
        f"  intervention_label: {_q(g1 or 'Experimental')}",
        f"  control_label: {_q(g2 or 'Control')}",
        "defaults:",
        "  level: 95",
        "outcomes:",
    ]
    if not pooled:
        raise InputError(
            rm.path,
            None,
            None,
            "no dichotomous outcome with data to import (nothing the pipeline can pool yet)",
        )
    for o in pooled:
        lines += [
            f"  - id: {o.id}",
            f"    label: {_q(o.name)}",
            f"    measure: {o.measure}",
            f"    method: {o.protocol_method()}  # RevMan: {o.revman_method}"
            + (" (tau2 by DerSimonian-Laird)" if o.random else ""),
            f"    level: {o.level:g}",
            f"    direction: {_direction(o)}  # CHECK: from RevMan's graph labels "
            f"{_q(' | '.join(o.graph_labels))}",
            f"    role: {'primary' if o is pooled[0] else 'secondary'}  # CHECK",
        ]
        r = o.results
        if o.totals == "YES" and r.get("estimate") is not None:
            rep = [
                ("estimate", _round(r["estimate"], 4)),
                ("ci_lb", _round(r["ci_lb"], 4)),
                ("ci_ub", _round(r["ci_ub"], 4)),
                ("decimals", 4),
                ("i2", _round(r["i2"], 2)),
                ("pval", _round(r["pval"], 4) if r["pval"] and r["pval"] >= 1e-4 else None),
                ("tau2", _round(r["tau2"], 4) if o.random else None),
            ]
            lines.append("    reported:")
            lines += [
                f"      {k}: {v:.{4 if k in ('estimate', 'ci_lb', 'ci_ub') else 2}f}"
                if isinstance(v, float) and k != "pval"
                else f"      {k}: {v}"
                for k, v in rep
                if v is not None
            ]
            note = (
                f"RevMan {o.revman_method}: chi2 {r['chi2']:.2f} (df {r['df']:g}), Z {r['z']:.2f}"
                if None not in (r["chi2"], r["df"], r["z"])
                else ""
            )
            lines.append(
                f"      source: {_q(f'{Path(rm.path).name}, {o.rm_id} (RevMan stored result)')}"
            )
            if note:
                lines.append(f"      note: {_q(note)}")
        else:
            lines.append("    # RevMan stored no pooled result for this outcome")
    if sub_outcomes:
        lines.append("subgroups:")
        for o in sub_outcomes:
            lines += [
                f"  - id: sg-{o.id}",
                f"    column: {_subgroup_column(o)}",
                f"    label: {_q('RevMan subgroups of ' + o.name)}",
                f"    outcomes: [{o.id}]",
            ]
    if has_rob:
        lines += ["risk_of_bias:", f"  tool: data/raw/{review_id}/rob_tool.yaml"]
    return "\n".join(lines) + "\n"


def _readme(rm, review_id, pooled, pending, report) -> str:
    lines = [
        f"# data/raw/{review_id}",
        "",
        f"Imported by `metareview import revman` from `{Path(rm.path).name}` (RevMan "
        f"{rm.version}): {len(rm.studies)} studies, {len(pooled)} outcome(s) in the protocol"
        + (f", {len(pending)} waiting for continuous measures" if pending else "")
        + ".",
        "",
        "- `studies.csv`: RevMan's included studies (name, year); `design` is `rct` for every",
        "  study (RevMan 5 records none: check); `rob_<n>` the file's study-level",
        "  risk-of-bias items (tool: `rob_tool.yaml`; empty = not assessed).",
        "- `extraction.csv`: events and totals per arm (`experimental` = RevMan's group 1,",
        "  `control` = group 2) of every dichotomous outcome.",
    ]
    if pending:
        lines.append(
            "- `extraction_continuous.csv`: mean, SD and total per arm of the continuous outcomes."
        )
    lines += [
        "- `import_report.json`: each outcome as RevMan defined it, RevMan's stored results",
        "  (estimate, CI, chi2, df, I2, tau2, Z, P, per-study weights) and what was not imported:",
        "",
    ]
    lines += [f"  - {x}" for x in report["not_imported"]] or ["  - (nothing)"]
    return "\n".join(lines) + "\n"


def import_revman(path: str | Path, review_id: str, root: str | Path = ".") -> list[str]:
    """Import ``path`` as review ``review_id`` under ``root``; returns the files written.
    Refuses (``InputError``, nothing written) when any of them or the review exists."""
    root = Path(root)
    if not ID_PATTERN.match(review_id):
        raise InputError(
            None,
            None,
            "--review",
            f"review id {review_id!r}: use letters, "
            "digits, '_' and '-', starting with a letter or digit",
        )
    rm = read_rm5(path)
    files = build_review(rm, review_id)
    targets = [root / "config/reviews" / f"{review_id}.yaml", root / "data/raw" / review_id]
    for t in targets:
        if t.exists():
            raise InputError(str(t), None, None, "already exists; the import never overwrites")
    config_path = root / "config/config.yaml"
    old = config_path.read_text(encoding="utf-8") if config_path.exists() else None
    try:
        new_config = add_to_config(old, review_id)
    except ValueError as exc:
        raise InputError(str(config_path), None, "reviews", str(exc)) from None
    # validate what will be written first, in a folder beside the review that is removed after
    with tempfile.TemporaryDirectory(dir=root, prefix=".import-") as tmp:
        t = Path(tmp)
        for rel, text in files.items():
            (t / rel).parent.mkdir(parents=True, exist_ok=True)
            (t / rel).write_text(text, encoding="utf-8")
        if f"data/raw/{review_id}/rob_tool.yaml" in files:
            load_tool(t / f"data/raw/{review_id}/rob_tool.yaml")
        proto = t / f"config/reviews/{review_id}.yaml"
        proto.write_text(
            files[f"config/reviews/{review_id}.yaml"].replace(
                f"tool: data/raw/{review_id}/", f"tool: {t}/data/raw/{review_id}/"
            ),
            encoding="utf-8",
        )
        load_protocol(proto)
        (t / "config.yaml").write_text(new_config, encoding="utf-8")
        load_config(t / "config.yaml")
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(root / rel, text)
    atomic_write_text(config_path, new_config)
    return [*files, "config/config.yaml"]
