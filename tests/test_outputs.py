"""The report job's new outputs on the bundled reviews (summary of findings, manuscript
tables, print copies of the figures) and the mode of every output under umask 022."""

from __future__ import annotations

import csv
import json
import statistics
import zipfile

import pytest

pytestmark = pytest.mark.slow

EVT = "results/evt-vs-medical-rcts"


def test_every_output_is_readable_by_group_and_others(pipeline_workdir):
    """The shared run is made under umask 022 (tests/conftest.py): files 0644, folders 0755
    (the atomic writers and the figure writer follow the umask; mkstemp's 0600 would hide
    the report from colleagues and web servers)."""
    results = pipeline_workdir / "results"
    paths = sorted(results.rglob("*"))
    assert len(paths) > 100
    wrong = [
        f"{p.relative_to(results)}: {p.stat().st_mode & 0o777:o}"
        for p in paths
        if (p.stat().st_mode & (0o055 if p.is_dir() else 0o044)) != (0o055 if p.is_dir() else 0o044)
    ]
    assert wrong == []


def test_summary_of_findings_against_a_hand_computation(pipeline_workdir):
    res = pipeline_workdir / EVT
    sof = json.loads((res / "sof.json").read_text())
    rows = {r["outcome"]: r for r in sof["outcomes"]}
    assert list(rows) == ["mrs02", "mrs01", "death", "sich"]
    fit = json.loads((res / "pooled" / "sich.json").read_text())
    with open(res / "extraction" / "by_outcome" / "sich.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    # GRADE Handbook 5.2.2: ACR = median control risk; CR = OR ACR / (1 - ACR + OR ACR)
    acr = statistics.median(int(r["ci"]) / int(r["n2i"]) for r in table)
    odds, lb = fit["back"]["estimate"], fit["back"]["ci_lb"]
    cr = odds * acr / (1 - acr + odds * acr)
    cr_lb = lb * acr / (1 - acr + lb * acr)
    a = rows["sich"]["absolute"]
    assert a["risk_comparator"] == pytest.approx(1000 * acr, abs=1e-9)
    assert a["difference"] == pytest.approx(1000 * (cr - acr), abs=1e-9)
    assert a["difference_lb"] == pytest.approx(1000 * (cr_lb - acr), abs=1e-9)
    n = sum(int(r["n1i"]) + int(r["n2i"]) for r in table)
    assert rows["sich"]["texts"]["participants"] == f"{n:,} (17 RCTs)"
    assert rows["sich"]["certainty"]["proposed"] is True
    with open(res / "sof.csv", newline="") as fh:
        assert [r["Outcome"] for r in csv.DictReader(fh)][0] == rows["mrs02"]["label"]


def test_report_names_the_studies_missing_from_an_outcome(pipeline_workdir):
    html = (pipeline_workdir / EVT / "report.html").read_text()
    assert html.index('id="summary-of-findings"') < html.index('id="methods"')
    assert "Studies not contributing (14 of 23)" in html  # mrs02 pools 9 of 23 trials
    for name in ("THERAPY", "BAOCHE", "SELECT2", "TESLA", "LASTE", "ATTENTION"):
        assert f"<li>{name}: " in html
    assert "Characteristics of included studies" in html and 'id="provenance"' in html
    assert "@media print" in html and 'id="warnings"' in html


def test_manuscript_tables_and_print_figures(pipeline_workdir):
    docx = pytest.importorskip("docx")
    from PIL import Image

    res = pipeline_workdir / EVT
    doc = docx.Document(str(res / "tables" / "tables.docx"))
    assert len(doc.tables) == 3
    sof_head = [c.text for c in doc.tables[0].rows[0].cells]
    assert sof_head[:3] == ["Outcome", "Participants (studies)", "Relative effect (95% CI)"]
    assert len(doc.tables[1].rows) == 24  # header and 23 studies
    with zipfile.ZipFile(res / "tables" / "tables.docx") as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    with open(res / "tables" / "studies.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 23
    for stem in ("forest/mrs02", "funnel/sich", "funnel/sich-contour"):
        pdf = (res / f"{stem}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF") and b"CreationDate" not in pdf
        with Image.open(res / f"{stem}.png") as im:
            assert round(im.info["dpi"][0]) == 300
    assert list((res / "subgroup" / "mrs02").glob("*.pdf"))
    assert (res / "screening" / "prisma.pdf").is_file()
