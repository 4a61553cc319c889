"""Manuscript exports of the report job: the summary of findings, the characteristics of the
included studies and the per-outcome results as one DOCX (python-docx, imported here only:
no other job pays for it) and the two study tables as CSV (``sof.csv`` is written with
``sof.json``).

The DOCX is deterministic: its parts are re-packed with a fixed time stamp and its core
properties carry the date of the data, not the time of the run.
"""

from __future__ import annotations

import copy
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from metareview.io import atomic_write_bytes, read_csv_dicts, write_csv
from metareview.present.studytable import results_table, study_characteristics
from metareview.stages.layout import Layout

SOF_COLUMNS = [
    "Outcome",
    "Participants (studies)",
    "Relative effect (95% CI)",
    "Risk with comparator",
    "Risk difference with intervention",
    "Certainty (GRADE)",
    "What happens",
]
#: the time stamp of every part of the DOCX archive (the zip format's earliest)
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _read_json(path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _rob_overall(layout: Layout) -> dict[str, str]:
    path = Path(layout.rob_dir) / "assessments.json"
    if not path.is_file():
        return {}
    data = _read_json(path)
    labels = {j["id"]: j.get("label") or j["id"] for j in data.get("judgements") or []}
    return {
        st["study_id"]: labels.get(o, o)
        for st in data.get("studies") or []
        if (o := (st.get("judgements") or {}).get("overall"))
    }


def manuscript_tables(protocol: dict, review_dir, studies_csv, sof: dict) -> dict[str, dict]:
    layout = Layout(Path(review_dir).as_posix())
    studies = read_csv_dicts(studies_csv)
    effects = read_csv_dicts(layout.effects)
    fits = {o["id"]: _read_json(layout.pooled(o["id"])) for o in protocol["outcomes"]}
    return {
        "studies": study_characteristics(protocol, studies, effects, _rob_overall(layout)),
        "results": results_table(protocol, fits, sof),
    }


def _csv(path, table: dict) -> None:
    write_csv(
        path, table["columns"], [dict(zip(table["columns"], r, strict=True)) for r in table["rows"]]
    )


def _sof_table(sof: dict) -> tuple[list[list[str]], list[str]]:
    """The rows with their footnote letters, and the footnotes."""

    def mark(r: dict, cell: str) -> str:
        found = (r.get("marks") or {}).get(cell)
        return f" [{','.join(found)}]" if found else ""

    rows = []
    for r in sof["outcomes"]:
        t = r["texts"]
        rows.append(
            [
                r["label"] + mark(r, "outcome"),
                t["participants"],
                t["relative"],
                t["risk_comparator"] + mark(r, "comparator"),
                t["difference"],
                t["certainty"] + mark(r, "certainty"),
                t["statement"] + mark(r, "statement"),
            ]
        )
    return rows, [f"{f['mark']}. {f['text']}" for f in sof.get("footnotes") or []]


def _repack(data: bytes) -> bytes:
    """The archive with its parts in name order and a fixed time stamp."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        names = src.namelist()
        # [Content_Types].xml first, as Office writes it
        for name in sorted(names, key=lambda x: (x != "[Content_Types].xml", x)):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, src.read(name))
    return out.getvalue()


def write_docx(path, protocol: dict, sof: dict, tables: dict, data_date: str | None) -> None:
    """The summary of findings, study characteristics and results tables as a DOCX
    (landscape A4, 8 pt tables)."""
    import docx  # python-docx: only the report job imports it
    from docx.enum.section import WD_ORIENT
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    doc = docx.Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Mm(297), Mm(210)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Mm(15))
    when = (
        datetime.strptime(data_date, "%Y-%m-%d").replace(tzinfo=UTC)
        if data_date
        else datetime(1980, 1, 1, tzinfo=UTC)
    )
    props = doc.core_properties
    props.title = protocol["title"]
    props.author = props.last_modified_by = "metareview"
    props.created = props.modified = when
    props.revision = 1
    props.comments = f"Tables of review {protocol['review_id']}"

    doc.add_heading(protocol["title"], level=1)

    def table(caption: str, columns: list[str], rows: list[list[str]], notes: list[str]):
        doc.add_paragraph().add_run(caption).bold = True
        t = doc.add_table(rows=1, cols=len(columns))
        t.style = "Table Grid"
        for cell, text in zip(t.rows[0].cells, columns, strict=True):
            cell.text = ""
            cell.paragraphs[0].add_run(text).bold = True
        header = OxmlElement("w:tblHeader")  # the head row repeats on every page
        header.set(qn("w:val"), "true")
        t.rows[0]._tr.get_or_add_trPr().append(header)
        # a row of plain texts (one w:t per cell) is a copy of the first such row with its
        # texts replaced: the same XML as python-docx writes, without its cost per cell
        # (5,000 studies: about 15 s)
        template, copies = None, set()
        for row in rows:
            texts = [str(text) for text in row]
            plain = all(_plain_cell(text) for text in texts)
            if plain and template is not None:
                tr = copy.deepcopy(template)
                for node, text in zip(tr.iter(qn("w:t")), texts, strict=True):
                    node.text = text
                t._tbl.append(tr)
                copies.add(tr)
                continue
            new = t.add_row()
            for cell, text in zip(new.cells, texts, strict=True):
                cell.text = text
            if plain:
                for cell in new.cells:
                    for run in cell.paragraphs[0].runs:
                        run.font.size = Pt(8)
                template = copy.deepcopy(new._tr)
        for row in t.rows:
            if row._tr in copies:
                continue
            for cell in row.cells:
                for p in cell.paragraphs:
                    for run in p.runs:
                        run.font.size = Pt(8)
        for note in notes:
            p = doc.add_paragraph(note)
            p.paragraph_format.space_after = Pt(1)
            for run in p.runs:
                run.font.size = Pt(8)

    rows, notes = _sof_table(sof)
    table(
        "Summary of findings",
        SOF_COLUMNS,
        rows,
        [
            f"Population: {_text(sof.get('population'))}. Intervention: "
            f"{_text(sof.get('intervention'))}. Comparator: {_text(sof.get('comparator'))}.",
            *notes,
            sof["legend"],
        ],
    )
    for key in ("studies", "results"):
        doc.add_page_break()
        t = tables[key]
        table(t["caption"], t["columns"], t["rows"], t.get("notes") or [])
    buf = io.BytesIO()
    doc.save(buf)
    atomic_write_bytes(path, _repack(buf.getvalue()))


def _plain_cell(text: str) -> bool:
    """A cell text python-docx writes as one ``w:t`` without ``xml:space``."""
    return bool(text) and text.strip() == text and not any(c in text for c in "\t\r\n")


def _text(value) -> str:
    if value is None:
        return "–"
    return value if isinstance(value, str) else ", ".join(value)


def write_exports(protocol: dict, review_dir, studies_csv, sof: dict, data_date=None) -> None:
    """tables/studies.csv, tables/results.csv and tables/tables.docx."""
    layout = Layout(Path(review_dir).as_posix())
    tables = manuscript_tables(protocol, review_dir, studies_csv, sof)
    _csv(layout.table("studies"), tables["studies"])
    _csv(layout.table("results"), tables["results"])
    write_docx(layout.table("tables", "docx"), protocol, sof, tables, data_date)
