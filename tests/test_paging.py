"""Very large reviews (issue 20): the paging and summarising rules of the figures and the
report (metareview.plots.paging), on small SYNTHETIC fits (counts from a fixed-seed
generator; no study is real). No timing here: timings are in benchmarks/large_review.py.

1. the page rules: nothing paged up to FOREST_MAX_ROWS rows; beyond, contiguous pages of at
   most FOREST_PAGE_ROWS rows covering every row once;
2. a paged forest plot: the summary has no study rows, each page its own rows (gids keep
   their row numbers) and the axis of all studies;
3. the subgroup forest of many studies shows subtotals only;
4. leave-one-out and cumulative selections; Baujat labels only the points farthest out;
5. the report links a figure too large to inline, and the pages of a forest plot.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from metareview.engine.pooling import Settings, pool, pool_subgroups
from metareview.plots import paging
from metareview.plots.common import save_figure
from metareview.plots.forest import (
    draw_forest,
    draw_forest_page,
    draw_forest_summary,
    draw_subgroup_forest,
)
from metareview.plots.sensitivity import BAUJAT_LABEL_TOP, baujat_labelled, draw_baujat
from metareview.stages import report
from metareview.stages.layout import Layout

TEXTS = {
    "intervention_label": "Treatment",
    "control_label": "Control",
    "favours_left": "control",
    "favours_right": "treatment",
}


def synthetic_rows(k: int, seed: int = 7) -> list[dict]:
    """SYNTHETIC two-arm studies (binomial counts, fixed seed) with a 3-level covariate."""
    rng = np.random.default_rng(seed)
    n1, n2 = rng.integers(30, 300, k), rng.integers(30, 300, k)
    ai, ci = rng.binomial(n1, 0.3), rng.binomial(n2, 0.2)
    return [
        {
            "study": f"S{i:04d}",
            "ai": int(ai[i]),
            "n1i": int(n1[i]),
            "ci": int(ci[i]),
            "n2i": int(n2[i]),
            "group": "abc"[i % 3],
        }
        for i in range(k)
    ]


def fit_of(k: int) -> dict:
    return pool(synthetic_rows(k), Settings(measure="OR", method="REML")).to_dict()


def svg_of(fig, tmp_path: Path, name: str = "fig.svg") -> ET.Element:
    path = tmp_path / name
    save_figure(fig, svg_path=path)
    return ET.parse(path).getroot()


def ids(root: ET.Element) -> set[str]:
    return {e.get("id") for e in root.iter() if e.get("id")}


def tick_texts(root: ET.Element) -> list[str]:
    axis = next(e for e in root.iter() if (e.get("id") or "").startswith("matplotlib.axis"))
    return ["".join(t.itertext()) for t in axis.iter("{http://www.w3.org/2000/svg}text")]


# --------------------------------------------------------------------------- 1. page rules


@pytest.mark.parametrize("n", [0, 1, 23, paging.FOREST_MAX_ROWS])
def test_small_forests_are_not_paged(n):
    assert not paging.is_paged(n)
    assert paging.pages(n) == []


def test_no_pages_beyond_the_drawable():
    assert paging.is_paged(paging.PAGES_MAX_ROWS + 1)
    assert paging.pages(paging.PAGES_MAX_ROWS + 1) == []
    assert "too many to draw" in paging.summary_note(5000, 0)


@pytest.mark.parametrize("n", [paging.FOREST_MAX_ROWS + 1, 137, paging.PAGES_MAX_ROWS])
def test_pages_cover_every_row_once(n):
    per = paging.FOREST_PAGE_ROWS
    pages = paging.pages(n)
    assert len(pages) == -(-n // per)
    assert [p.number for p in pages] == list(range(1, len(pages) + 1))
    assert all(p.count == len(pages) for p in pages)
    assert pages[0].start == 0 and pages[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(pages, pages[1:], strict=False))
    assert all(p.stop - p.start == per for p in pages[:-1])
    assert 0 < pages[-1].stop - pages[-1].start <= per
    assert pages[1].name == "p2"
    assert pages[1].subtitle(n).startswith(f"Page 2 of {len(pages)}: studies {per + 1}")


def test_even_steps_and_most_changed():
    assert paging.even_steps(10, 40) == list(range(10))
    steps = paging.even_steps(1000, 40)
    assert len(steps) == 40 and steps[0] == 0 and steps[-1] == 999
    assert steps == sorted(set(steps))
    gaps = np.diff(steps)
    assert gaps.max() - gaps.min() <= 1  # evenly spaced
    est = [0.0, 0.5, None, -0.9, 0.1, 0.5]
    # a failed refit first, then the farthest from the reference; ties: the earlier
    assert paging.most_changed(est, 0.0, 3) == [1, 2, 3]
    assert paging.most_changed(est, 0.0, 10) == list(range(6))


# --------------------------------------------------------------------------- 2. paged forest


def test_paged_forest_summary_and_pages(tmp_path):
    k = 130
    fit = fit_of(k)
    pages = paging.pages(k)
    assert [(p.start, p.stop) for p in pages] == [(0, 50), (50, 100), (100, 130)]
    summary = svg_of(draw_forest_summary(fit, pages=len(pages), title="Outcome", **TEXTS), tmp_path)
    sid = ids(summary)
    assert "paged" in sid and "pooled-diamond" in sid and "prediction-interval" in sid
    assert not any(i.startswith("study-marker-") for i in sid)
    roots = [
        svg_of(draw_forest_page(fit, p, title="Outcome", **TEXTS), tmp_path, f"{p.name}.svg")
        for p in pages
    ]
    for p, root in zip(pages, roots, strict=True):
        rows = {i for i in ids(root) if i.startswith("study-ci-")}
        assert rows == {f"study-ci-{i}" for i in range(p.start, p.stop)}
        assert "pooled-diamond" in ids(root)
    # one axis for all pages: that of the whole table
    whole = svg_of(draw_forest(fit, title="Outcome", **TEXTS), tmp_path, "whole.svg")
    assert all(tick_texts(r) == tick_texts(whole) for r in roots)


def test_small_forest_unchanged_by_the_paging_code(tmp_path):
    """A fit within FOREST_MAX_ROWS is drawn by draw_forest alone, as before: every row."""
    fit = fit_of(23)
    root = svg_of(draw_forest(fit, title="Outcome", **TEXTS), tmp_path)
    assert {f"study-ci-{i}" for i in range(23)} <= ids(root)
    assert "paged" not in ids(root)


# --------------------------------------------------------------------------- 3. subgroups


def test_subgroup_forest_of_many_studies_shows_subtotals(tmp_path):
    s = Settings(measure="OR", method="REML")
    big = pool_subgroups(synthetic_rows(90), s, "group")
    root = svg_of(draw_subgroup_forest(big, title="By group", **TEXTS), tmp_path)
    sid = ids(root)
    assert not any(i.startswith("study-marker-") for i in sid)
    assert {"subtotal-diamond-a", "subtotal-diamond-b", "subtotal-diamond-c"} <= sid
    text = " ".join("".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "Subtotal (k = 30)" in text and "90 studies, subtotals only" in text
    small = pool_subgroups(synthetic_rows(30), s, "group")
    root = svg_of(draw_subgroup_forest(small, title="By group", **TEXTS), tmp_path, "s.svg")
    assert sum(i.startswith("study-marker-") for i in ids(root)) == 30


# --------------------------------------------------------------------------- 4. Baujat


def test_baujat_labels_the_points_farthest_out(tmp_path):
    assert baujat_labelled([(1.0, 1.0, "x")] * 30) == list(range(30))
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 1, (100, 2))
    xy[17] = (5.0, 0.1)  # far out on x
    xy[60] = (0.1, 4.0)  # far out on y
    pts = [(float(x), float(y), f"S{i}") for i, (x, y) in enumerate(xy)]
    shown = baujat_labelled(pts)
    assert len(shown) == BAUJAT_LABEL_TOP and shown == sorted(shown)
    assert {17, 60} <= set(shown)
    d = {
        "studies": [{"study": f"S{i}", "x": x, "y": y} for i, (x, y, _) in enumerate(pts)],
        "xlab": "x",
        "ylab": "y",
    }
    root = svg_of(draw_baujat(d, title="Baujat"), tmp_path)
    labels = {i for i in ids(root) if i.startswith(("baujat-label-", "baujat-number-"))}
    assert {int(i.rsplit("-", 1)[1]) for i in labels} == set(shown)
    assert "baujat-points" in ids(root) and "baujat-labelled" in ids(root)


# --------------------------------------------------------------------------- 5. report


def test_report_links_large_figures_and_forest_pages(tmp_path):
    layout = Layout(tmp_path.as_posix())
    forest = Path(layout.forest("o"))
    forest.parent.mkdir(parents=True)
    forest.write_text('<svg width="10pt" height="10pt"></svg>', encoding="utf-8")
    html = str(report.forest_html(layout, "o"))
    assert html.startswith("<svg") and "<a " not in html  # inlined, no pages
    pages = Path(layout.forest_pages("o"))
    pages.mkdir()
    index = {
        "pages": [
            {"path": "forest/o-pages/p1.svg", "page": 1, "first": 1, "last": 50},
            {"path": "forest/o-pages/p2.svg", "page": 2, "first": 51, "last": 61},
        ]
    }
    (pages / "index.json").write_text(json.dumps(index), encoding="utf-8")
    html = str(report.forest_html(layout, "o"))
    assert '<a href="forest/o-pages/p2.svg">51\u201361</a>' in html and "2 pages" in html
    big = tmp_path / "big.svg"
    big.write_text("<svg>" + " " * (report.INLINE_MAX_BYTES + 1) + "</svg>", encoding="utf-8")
    html = str(report.figure_html(tmp_path, "big.svg"))
    assert '<a href="big.svg">' in html and "<svg" not in html
