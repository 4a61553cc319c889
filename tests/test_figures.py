"""Structure of the figures after the methodologist's review (metareview.plots).

1. the subgroup forest plot names the test for subgroup differences it prints;
2. Baujat labels are unambiguous: no overlapping labels, no crossing leader lines, points
   whose markers overlap share one label;
3. leave-one-out and cumulative plots have an axis title and "favours" labels, and print
   p and tau² as the report's tables do (metareview.present.formats);
4. a forest plot of an outcome without data is a short message, not empty axes;
5. forest plots mark zero-cell corrections and studies excluded from the model;
6. no prediction interval for k < 3.

Data: the bundled reviews (data/raw/, built from ../shared/example-data) unless a test says
its data are SYNTHETIC.
"""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from metareview.engine.pooling import Settings, pool, pool_subgroups
from metareview.plots.common import save_figure
from metareview.plots.forest import NO_DATA, draw_forest, draw_subgroup_forest
from metareview.plots.sensitivity import (
    _label_layout,
    _overlapping,
    _segments_cross,
    draw_baujat,
    draw_cumulative,
    draw_leave_one_out,
)
from metareview.present.formats import pval

REPO = Path(__file__).resolve().parents[1]
SVG_NS = "{http://www.w3.org/2000/svg}"
EVT_TEXTS = {
    "intervention_label": "Thrombectomy",
    "control_label": "Medical management",
    "favours_left": "medical management",
    "favours_right": "thrombectomy",
}


# --------------------------------------------------------------------------- helpers


def review_rows(review: str, outcome: str) -> tuple[list[dict], dict[str, str], dict]:
    """An outcome's rows of a bundled review, as the pipeline forms them, its labels and
    the protocol's settings for it."""
    from metareview.inputs.protocol import outcome_settings
    from metareview.inputs.review import ReviewInputs

    raw = REPO / "data" / "raw" / review
    protocol_path = REPO / "config" / "reviews" / f"{review}.yaml"
    inputs = ReviewInputs.load(protocol_path, raw / "studies.csv", raw / "extraction.csv")
    rows = [dict(r) for r in inputs.outcome_table(outcome).rows]
    protocol = inputs.protocol
    labels = {r["study"]: str(r.get("label") or r["study"]) for r in rows}
    return rows, labels, outcome_settings(protocol, outcome)


def evt(outcome: str, **settings):
    rows, labels, s = review_rows("evt-vs-medical-rcts", outcome)
    return rows, labels, Settings(**{**s, **settings})


def save_svg(fig, tmp_path: Path, name: str = "fig.svg") -> ET.Element:
    path = tmp_path / name
    save_figure(fig, svg_path=path)
    return ET.parse(path).getroot()


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG_NS}text")]


def ids(root: ET.Element) -> set[str]:
    return {e.get("id") for e in root.iter() if e.get("id")}


def text_of(root: ET.Element, gid: str) -> str:
    group = next(e for e in root.iter() if e.get("id") == gid)
    return "".join(group.itertext()).strip()


def forest(fit, **kw):
    return draw_forest(fit, title=kw.pop("title", "Outcome"), **{**EVT_TEXTS, **kw})


# --------------------------------------------------------------------------- 1. subgroup test


@pytest.mark.parametrize(
    ("settings", "key", "name"),
    [
        ({}, "test_between_re", "random effects, separate tau\u00b2 per subgroup"),
        ({"method": "FE"}, "test_between_fe", "fixed effect"),
        ({"method": "MH"}, "test_between_fe", "fixed effect, Mantel-Haenszel subgroup estimates"),
    ],
)
def test_subgroup_forest_names_its_test(tmp_path, settings, key, name):
    rows, labels, s = evt("mrs02", **settings)
    result = pool_subgroups(rows, s, "category")
    fig = draw_subgroup_forest(result, title="mRS 0-2", study_labels=labels, **EVT_TEXTS)
    root = save_svg(fig, tmp_path)
    t = result[key]
    line = text_of(root, "subgroup-test")
    assert line.startswith(f"Test for subgroup differences ({name}): Q = {t['q']:.2f}, ")
    assert f", df = {t['df']}, p {pval(t['pval']).replace('<', '< ')}" in line.replace("p = ", "p ")
    # the random-effects Q is over the subgroups' own estimates; it differs from the
    # fixed-effect Q-between, so naming the test matters
    if key == "test_between_re":
        assert not math.isclose(t["q"], result["test_between_fe"]["q"])


# --------------------------------------------------------------------------- 2. Baujat


def leader_segments(fig) -> dict[str, tuple[float, float, float, float]]:
    out = {}
    for a in fig.get_children():
        gid = a.get_gid() or ""
        if gid.startswith("baujat-leader-"):
            xs, ys = a.get_xdata(), a.get_ydata()
            out[gid] = (xs[0], ys[0], xs[1], ys[1])
    return out


def label_boxes(fig):
    renderer = fig.canvas.get_renderer()
    return {
        t.get_gid(): t.get_window_extent(renderer)
        for t in fig.texts
        if (t.get_gid() or "").startswith("baujat-label-")
    }


@pytest.mark.parametrize("outcome", ["mrs02", "death", "sich"])
def test_baujat_labels_unambiguous(tmp_path, outcome):
    from metareview.engine import sensitivity as sens

    rows, labels, s = evt(outcome)
    bj = sens.run_all(rows, s)["baujat"]
    fig = draw_baujat(bj, title="Baujat plot", study_labels=labels)
    root = save_svg(fig, tmp_path)
    k = bj["k"]
    gids = ids(root)
    assert sum(g.startswith("baujat-point-") for g in gids) == k
    assert sum(g.startswith("baujat-label-") for g in gids) == k
    assert not any(g.startswith("baujat-key-") for g in gids)  # names, not numbers
    body = texts(root)
    for st in bj["studies"]:
        assert body.count(labels[st["study"]]) == 1
    # leader lines never cross
    segs = leader_segments(fig)
    for (a, sa), (b, sb) in itertools.combinations(sorted(segs.items()), 2):
        assert not _segments_cross(sa, sb), (a, b)
    # labels overlap neither each other nor leave the axes
    boxes = label_boxes(fig)
    ax_box = fig.axes[0].get_window_extent()
    for (a, ba), (b, bb) in itertools.combinations(sorted(boxes.items()), 2):
        assert not (ba.x0 < bb.x1 and bb.x0 < ba.x1 and ba.y0 < bb.y1 and bb.y0 < ba.y1), (a, b)
    for gid, bx in boxes.items():
        assert ax_box.x0 <= bx.x0 and bx.x1 <= ax_box.x1, gid
        assert ax_box.y0 <= bx.y0 and bx.y1 <= ax_box.y1, gid
    # a label without a leader is nearer its own point than any other
    ax = fig.axes[0]
    centers = {i: ax.transData.transform((e["x"], e["y"])) for i, e in enumerate(bj["studies"])}
    for gid, bx in boxes.items():
        i = int(gid.rsplit("-", 1)[1])
        if any(g == f"baujat-leader-{i}" for g in segs):
            continue
        groups = _overlapping([tuple(c) for c in centers.values()], 6.0)
        own = next(g for g in groups if i in g)
        if len(own) > 1 and i != own[0]:
            continue  # a later line of a shared label: its leader has the first point's id

        def dist(c, bx=bx):
            return math.hypot(
                max(bx.x0 - c[0], 0, c[0] - bx.x1), max(bx.y0 - c[1], 0, c[1] - bx.y1)
            )

        nearest = min(centers, key=lambda j: dist(centers[j]))
        assert nearest in own, (gid, nearest)


def test_baujat_overlapping_markers_share_a_label(tmp_path):
    """mRS 0-2: MR CLEAN, REVASCAT, RESILIENT and RESCUE-Japan LIMIT lie within a few
    pixels of one another: one label lists them, one name per line, with one leader."""
    from metareview.engine import sensitivity as sens

    rows, labels, s = evt("mrs02")
    bj = sens.run_all(rows, s)["baujat"]
    fig = draw_baujat(bj, title="Baujat plot", study_labels=labels)
    by_name = {t.get_text(): t for t in fig.texts if (t.get_gid() or "").startswith("baujat-")}
    clump = ["MR CLEAN", "REVASCAT", "RESILIENT", "RESCUE-Japan LIMIT"]
    xs = {by_name[n].get_position()[0] for n in clump}
    assert len(xs) == 1  # one column
    ys = sorted(by_name[n].get_position()[1] for n in clump)
    steps = {round(b - a, 6) for a, b in itertools.pairwise(ys)}
    assert len(steps) == 1  # consecutive lines
    index = {st["study"]: i for i, st in enumerate(bj["studies"])}
    first = min(index[sid] for sid, lab in labels.items() if lab in clump)
    segs = leader_segments(fig)
    assert f"baujat-leader-{first}" in segs
    others = [index[sid] for sid, lab in labels.items() if lab in clump and index[sid] != first]
    assert not any(f"baujat-leader-{i}" in segs for i in others)


def test_baujat_is_deterministic(tmp_path):
    from metareview.engine import sensitivity as sens

    rows, labels, s = evt("sich")
    bj = sens.run_all(rows, s)["baujat"]
    a, b = tmp_path / "a.svg", tmp_path / "b.svg"
    save_figure(draw_baujat(bj, title="sICH", study_labels=labels), svg_path=a)
    save_figure(draw_baujat(bj, title="sICH", study_labels=labels), svg_path=b)
    assert a.read_bytes() == b.read_bytes()


def test_label_layout_synthetic_clumps():
    """SYNTHETIC points: a clump of eight distinct points, coincident points, a line."""
    th = 11.2
    bounds = (0.0, 0.0, 400.0, 330.0)

    def layout(centers):
        items = _overlapping(centers, 6.0)
        widths = [50.0] * len(items)
        values = [(c[1], c[0]) for c in (centers[it[0]] for it in items)]
        return items, *_label_layout(centers, items, widths, bounds, th, values)

    clump = [(20.0 + 9 * i, 12.0 + 4 * (i % 3)) for i in range(8)]
    items, lay, conflicts = layout(clump)
    assert conflicts == 0 and len(items) == 8
    leaders = [seg for _, seg in lay if seg is not None]
    assert leaders  # crowded: at least some labels are joined by leaders
    for a, b in itertools.combinations(leaders, 2):
        assert not _segments_cross(a, b)
    same = [(100.0, 100.0)] * 5 + [(300.0, 200.0)]
    items, lay, conflicts = layout(same)
    assert items == [[0, 1, 2, 3, 4], [5]] and conflicts == 0
    line = [(10.0 + 30 * i, 10.0 + 25 * i) for i in range(12)]
    assert layout(line)[2] == 0


def test_baujat_numbered_fallback_structure(tmp_path):
    """When names cannot be placed without conflict, points are numbered and a key lists
    the studies (drawn here directly; SYNTHETIC coordinates)."""
    from metareview.plots.common import journal_style
    from metareview.plots.sensitivity import _draw_baujat

    studies = [{"study": f"Trial {i + 1}", "x": 0.01 * i, "y": 0.001 * i} for i in range(12)]
    with journal_style():
        fig, conflicts = _draw_baujat(
            {"studies": studies, "xlab": "x", "ylab": "y"}, "t", None, numbered=True
        )
    root = save_svg(fig, tmp_path)
    gids = ids(root)
    assert conflicts == 0
    assert sum(g.startswith("baujat-key-") for g in gids) == 12
    assert sum(g.startswith("baujat-label-") for g in gids) == 12  # names in the key
    assert sum(g.startswith("baujat-number-") for g in gids) == 12
    body = texts(root)
    assert all(f"Trial {i + 1}" in body for i in range(12))
    assert "Points numbered; the studies:" in body


# --------------------------------------------------------------------------- 3. LOO, cumulative


def _sens_figures(outcome="mrs02", **kw):
    from metareview.engine import sensitivity as sens

    rows, labels, s = evt(outcome)
    fit = pool(rows, s).to_dict()
    out = sens.run_all(rows, s)
    loo = draw_leave_one_out(out["leave_one_out"], fit, title="LOO", study_labels=labels, **kw)
    cum = draw_cumulative(out["cumulative"], title="Cumulative", study_labels=labels, **kw)
    return out, fit, loo, cum


def test_loo_and_cumulative_axis_title_and_favours(tmp_path):
    favours = {"favours_left": "medical management", "favours_right": "thrombectomy"}
    _, _, loo, cum = _sens_figures(**favours)
    for fig, name in ((loo, "loo.svg"), (cum, "cum.svg")):
        root = save_svg(fig, tmp_path, name)
        assert text_of(root, "axis-title") == "Odds ratio"
        assert text_of(root, "favours-left") == "Favours medical management"
        assert text_of(root, "favours-right") == "Favours thrombectomy"
    # without favours texts (the default): the axis title only
    _, _, loo, _ = _sens_figures(measure_label="OR (log scale)")
    root = save_svg(loo, tmp_path, "plain.svg")
    assert text_of(root, "axis-title") == "OR (log scale)"
    assert not {"favours-left", "favours-right"} & ids(root)


def test_loo_favours_not_for_proportions(tmp_path):
    from metareview.engine import sensitivity as sens

    rows = [  # SYNTHETIC single-arm counts
        {"study": "A", "xi": 12, "ni": 40},
        {"study": "B", "xi": 20, "ni": 51},
        {"study": "C", "xi": 9, "ni": 33},
    ]
    s = Settings(measure="PLO", method="REML")
    fit = pool(rows, s).to_dict()
    out = sens.run_all(rows, s)
    fig = draw_leave_one_out(
        out["leave_one_out"], fit, title="t", favours_left="a", favours_right="b"
    )
    root = save_svg(fig, tmp_path)
    assert text_of(root, "axis-title") == "Proportion"
    assert not {"favours-left", "favours-right"} & ids(root)


def test_loo_and_cumulative_numbers_as_the_tables(tmp_path):
    """p, I² and tau² in the figures are the texts of the report's tables
    (metareview.present.tables: formats.pval, i2_text, tau2_text with 3 decimals)."""
    from metareview.present.tables import i2_text, tau2_text

    out, fit, loo, cum = _sens_figures("sich")
    for fig, entries, name in (
        (loo, [*out["leave_one_out"]["studies"], fit], "loo.svg"),
        (cum, out["cumulative"]["steps"], "cum.svg"),
    ):
        body = texts(save_svg(fig, tmp_path, name))
        for e in entries:
            for cell in (pval(e["pval"]), tau2_text(e, 3, "RE"), i2_text(e)):
                assert cell in body, cell
        assert not any(t.startswith("< ") for t in body)  # "<0.001", as the tables
    # the first cumulative step is one study: no I², no tau² (as the report prints it)
    first = out["cumulative"]["steps"][0]
    assert first["k"] == 1 and tau2_text(first, 3, "RE") == i2_text(first) == "\u2013"
    root = save_svg(cum, tmp_path, "cum.svg")
    row = texts(root)[texts(root).index("+ MR CLEAN (2015)") :][:7]
    assert row[-2:] == ["\u2013", "\u2013"], row
    # p with 3 decimals, never 2: every p cell is "<0.001" or "0.ddd"
    p_cells = [pval(e["pval"]) for e in out["cumulative"]["steps"]]
    assert all(c == "<0.001" or (len(c) == 5 and c.startswith(("0.", "1."))) for c in p_cells)


# --------------------------------------------------------------------------- 4. no data


def test_forest_without_data_is_a_message(tmp_path):
    from metareview.stages.pool import not_pooled

    rows, _, s = review_rows("dmvo-mt-vs-bmm", "mrs02-m2")
    assert rows == []  # the bundled DMVO review has no M2 counts
    fit = not_pooled(rows, Settings(**s), "no study has data for this outcome")
    fig = forest(fit, title="mRS 0-2, M2 occlusions")
    assert fig.axes == []
    root = save_svg(fig, tmp_path)
    body = texts(root)
    assert text_of(root, "forest-no-data") == NO_DATA
    assert "mRS 0-2, M2 occlusions" in body
    assert not any(t.startswith("Favours") for t in body)
    assert not any(t in ("0.5", "1", "2", "n/N", "Study") for t in body)
    assert fig.get_size_inches()[1] < 1.0


# --------------------------------------------------------------------------- 5. corrections


def test_forest_marks_zero_cell_corrections(tmp_path):
    rows, labels, s = evt("sich")
    fit = pool(rows, s).to_dict()
    corrected = [st for st in fit["studies"] if st["correction"] != "none"]
    assert {st["correction"] for st in corrected} == {"add 0.5 (only0)"}
    assert len(corrected) == 4
    root = save_svg(forest(fit, study_labels=labels), tmp_path)
    body = texts(root)
    for st in fit["studies"]:
        name = labels[st["study"]]
        if st["correction"] != "none":
            assert body.count(name + "\u2020") == 1 and name not in body
        else:
            assert body.count(name) == 1
    assert text_of(root, "footnote-0") == (
        "\u2020 0.5 added to each cell of the 2\u00d72 table (zero cell)"
    )
    assert "footnote-1" not in ids(root)


def test_forest_marks_studies_not_estimable(tmp_path):
    rows, labels, s = evt("sich", add=0.0, to="none")
    fit = pool(rows, s).to_dict()
    excluded = [st for st in fit["studies"] if st["excluded"]]
    assert len(excluded) == 4 and all(st["correction"] == "none" for st in excluded)
    root = save_svg(forest(fit, study_labels=labels), tmp_path)
    body = texts(root)
    for st in excluded:
        assert body.count(labels[st["study"]] + "*") == 1
    assert body.count("Not estimable") == 4
    assert text_of(root, "footnote-0") == (
        "* Not estimable, excluded from the model: effect size not estimable "
        "(zero cell without correction)"
    )
    gids = ids(root)
    for i, st in enumerate(fit["studies"]):
        assert (f"study-marker-{i}" in gids) == (st["excluded"] is None)


def test_forest_correction_notes_mh_and_treatment_arm(tmp_path):
    rows, labels, s = evt("sich", method="MH")
    fit = pool(rows, s).to_dict()
    root = save_svg(forest(fit, study_labels=labels), tmp_path, "mh.svg")
    note = text_of(root, "footnote-0")
    assert note.startswith("\u2020 0.5 added to each cell of the 2\u00d72 table (zero cell)")
    assert "Mantel-Haenszel pooled estimate uses the counts" in " ".join(texts(root))
    rows, labels, s = evt("sich", correction="treatment_arm")
    fit = pool(rows, s).to_dict()
    root = save_svg(forest(fit, study_labels=labels), tmp_path, "ta.svg")
    assert text_of(root, "footnote-0").startswith(
        "\u2020 treatment-arm continuity correction (Sweeting 2004"
    )


def test_subgroup_forest_marks_corrections(tmp_path):
    rows, labels, s = evt("sich")
    result = pool_subgroups(rows, s, "category")
    fig = draw_subgroup_forest(result, title="sICH", study_labels=labels, **EVT_TEXTS)
    root = save_svg(fig, tmp_path)
    body = texts(root)
    marked = [t for t in body if t.endswith("\u2020") and not t.startswith("\u2020")]
    assert sorted(marked) == sorted(
        labels[st["study"]] + "\u2020"
        for g in result["subgroups"]
        for st in g.get("studies", [])
        if st["correction"] != "none"
    )
    assert "\u2020 0.5 added to each cell of the 2\u00d72 table (zero cell)" in body


# --------------------------------------------------------------------------- 6. PI


def test_no_prediction_interval_for_two_studies(tmp_path):
    rows, labels, s = review_rows("dmvo-mt-vs-bmm", "death")
    fit = pool(rows, Settings(**s)).to_dict()
    assert fit["k"] == 2 and fit["model"] == "RE" and fit["pi_lb"] is not None
    root = save_svg(forest(fit, study_labels=labels), tmp_path)
    body = texts(root)
    assert "prediction-interval" not in ids(root)
    assert "Prediction interval" not in body
    het = next(t for t in body if t.startswith("Heterogeneity:"))
    assert het.endswith("; prediction interval not shown (k < 3)")


def test_prediction_interval_from_three_studies(tmp_path):
    rows, labels, s = evt("mrs02")
    fit = pool(rows, s).to_dict()
    assert fit["k"] >= 3
    root = save_svg(forest(fit, study_labels=labels), tmp_path)
    assert "prediction-interval" in ids(root)
    assert not any("prediction interval not shown" in t for t in texts(root))


def test_label_block_assignment_is_least_cost():
    """The Baujat label blocks match rows to points by least total leader length: the
    small Hungarian solver against every permutation (random costs, seeded)."""
    import itertools
    import random

    from metareview.plots.sensitivity import min_cost_assignment

    rng = random.Random(7)
    for n in range(1, 7):
        for _ in range(50):
            cost = [[rng.random() for _ in range(n)] for _ in range(n)]
            got = min_cost_assignment(cost)
            assert sorted(got) == list(range(n))
            best = min(
                sum(cost[i][p[i]] for i in range(n)) for p in itertools.permutations(range(n))
            )
            assert sum(cost[i][got[i]] for i in range(n)) == pytest.approx(best, abs=1e-12)
