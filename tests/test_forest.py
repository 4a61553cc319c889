"""Forest plot and deterministic figure writing (metareview.plots)."""

from __future__ import annotations

import hashlib
import math
import os
import struct
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest

from metareview.plots import draw_forest, save_figure
from metareview.plots._table import fmt_p, nice_log_ticks
from metareview.plots.forest import _heterogeneity_text, measure_kind

SVG_NS = "{http://www.w3.org/2000/svg}"
Z975 = 1.959963984540054
REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- fit builders


def _p_norm(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


def _chi2_sf(x: float, df: int) -> float:
    """Upper tail of chi-squared (regularised incomplete gamma: series / continued fraction)."""
    a, z = df / 2, x / 2
    if z <= 0:
        return 1.0
    log_pre = -z + a * math.log(z) - math.lgamma(a)
    if z < a + 1:  # series for the lower tail
        term = total = 1 / a
        n = 1
        while abs(term) > 1e-15 * abs(total):
            term *= z / (a + n)
            total += term
            n += 1
        return 1 - math.exp(log_pre) * total
    b, c, d = z + 1 - a, 1e300, 1 / (z + 1 - a)  # Lentz continued fraction, upper tail
    h = d
    for i in range(1, 500):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1 / (d if abs(d) > 1e-300 else 1e-300)
        c = b + an / c
        c = c if abs(c) > 1e-300 else 1e-300
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return math.exp(log_pre) * h


def _pool(yi, vi, model):
    """Inverse-variance pooling with a DerSimonian-Laird tau2 (enough for plotting)."""
    w = [1 / v for v in vi]
    k = len(yi)
    mu_fe = sum(wi * y for wi, y in zip(w, yi, strict=True)) / sum(w)
    q = sum(wi * (y - mu_fe) ** 2 for wi, y in zip(w, yi, strict=True))
    c = sum(w) - sum(wi**2 for wi in w) / sum(w)
    tau2 = max(0.0, (q - (k - 1)) / c) if (model == "RE" and k > 1) else 0.0
    ws = [1 / (v + tau2) for v in vi]
    mu = sum(wi * y for wi, y in zip(ws, yi, strict=True)) / sum(ws)
    se = math.sqrt(1 / sum(ws))
    i2 = max(0.0, (q - (k - 1)) / q * 100) if q > 0 and k > 1 else 0.0
    pi_se = math.sqrt(se**2 + tau2)
    return {
        "estimate": mu,
        "se": se,
        "ci_lb": mu - Z975 * se,
        "ci_ub": mu + Z975 * se,
        "stat": mu / se,
        "pval": _p_norm(mu / se),
        "pi_lb": mu - Z975 * pi_se,
        "pi_ub": mu + Z975 * pi_se,
        "tau2": tau2,
        "i2": i2,
        "q": q,
        "q_df": k - 1,
        "q_pval": _chi2_sf(q, k - 1),
        "weights": [100 * wi / sum(ws) for wi in ws],
    }


def two_arm_fit(arms, *, measure="OR", model="RE", method="REML", test="z", drop00=False):
    """``arms``: list of (study, ai, n1i, ci, n2i)."""
    studies, yi, vi, idx = [], [], [], []
    for j, (study, ai, n1i, ci, n2i) in enumerate(arms):
        s = {"study": study, "ai": ai, "n1i": n1i, "ci": ci, "n2i": n2i, "excluded": None}
        if drop00 and ai == 0 and ci == 0:
            s.update(yi=None, vi=None, ci_lb=None, ci_ub=None, weight=None)
            s["back"] = {"estimate": None, "ci_lb": None, "ci_ub": None}
            s["correction"] = "none"
            s["excluded"] = "double zero (drop00)"
            studies.append(s)
            continue
        corr = 0.5 if 0 in (ai, ci, n1i - ai, n2i - ci) else 0.0
        a, b = ai + corr, n1i - ai + corr
        c, d = ci + corr, n2i - ci + corr
        if measure == "OR":
            y, v = math.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d
        elif measure == "RR":
            y = math.log((a / (a + b)) / (c / (c + d)))
            v = 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)
        else:  # RD
            p1, p2 = ai / n1i, ci / n2i
            y, v = p1 - p2, p1 * (1 - p1) / n1i + p2 * (1 - p2) / n2i
        lo, hi = y - Z975 * math.sqrt(v), y + Z975 * math.sqrt(v)
        f = math.exp if measure in ("OR", "RR") else (lambda t: t)
        s.update(yi=y, vi=v, ci_lb=lo, ci_ub=hi, correction="add 0.5 (only0)" if corr else "none")
        s["back"] = {"estimate": f(y), "ci_lb": f(lo), "ci_ub": f(hi)}
        studies.append(s)
        yi.append(y)
        vi.append(v)
        idx.append(j)
    f = math.exp if measure in ("OR", "RR") else (lambda t: t)
    fit = {"measure": measure, "method": method, "test": test, "level": 95, "model": model}
    fit["k"] = len(yi)
    fit["studies"] = studies
    fit["warnings"] = []
    if len(yi) < 2:
        fit.update({key: None for key in ("estimate", "se", "ci_lb", "ci_ub", "stat", "pval")})
        fit.update({key: None for key in ("pi_lb", "pi_ub", "tau2", "i2", "q", "q_df")})
        fit.update(df=None, q_pval=None, h2=None)
        fit["back"] = {key: None for key in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub")}
        fit["warnings"] = ["k = 1: a single study is not pooled"]
        for s in studies:
            s["weight"] = None if s["excluded"] else 100.0
        return fit
    p = _pool(yi, vi, model)
    for j, w in zip(idx, p.pop("weights"), strict=True):
        studies[j]["weight"] = w
    fit.update(p)
    fit["df"] = len(yi) - 1 if test == "knha" else None
    if model != "RE":
        fit["pi_lb"], fit["pi_ub"] = fit["ci_lb"], fit["ci_ub"]
    fit["back"] = {key: f(fit[key]) for key in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub")}
    return fit


def pft_fit(arms):
    """Single-arm Freeman-Tukey proportions; ``arms``: list of (study, xi, ni)."""
    studies, yi, vi = [], [], []
    for study, x, n in arms:
        y = 0.5 * (math.asin(math.sqrt(x / (n + 1))) + math.asin(math.sqrt((x + 1) / (n + 1))))
        v = 1 / (4 * n + 2)
        lo, hi = y - Z975 * math.sqrt(v), y + Z975 * math.sqrt(v)

        def inv(t):
            return min(1.0, max(0.0, math.sin(t) ** 2))

        studies.append(
            {
                "study": study,
                "xi": x,
                "ni": n,
                "yi": y,
                "vi": v,
                "ci_lb": lo,
                "ci_ub": hi,
                "back": {"estimate": x / n, "ci_lb": inv(lo), "ci_ub": inv(hi)},
                "correction": "none",
                "excluded": None,
            }
        )
        yi.append(y)
        vi.append(v)
    p = _pool(yi, vi, "RE")
    for s, w in zip(studies, p.pop("weights"), strict=True):
        s["weight"] = w
    fit = {"measure": "PFT", "method": "REML", "test": "z", "level": 95, "model": "RE"}
    fit.update(p, k=len(yi), df=None, studies=studies, warnings=[])
    fit["back"] = {
        key: min(1.0, max(0.0, math.sin(fit[key]) ** 2))
        for key in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub")
    }
    return fit


K3_ARMS = [
    ("ESCAPE-MeVO", 138, 255, 161, 274),
    ("DISTAL", 92, 271, 98, 272),
    ("DISCOUNT", 44, 74, 50, 76),
]

SMALL_LABELS = {
    "ESCAPE-MeVO": "ESCAPE-MeVO 2025",
    "DISTAL": "DISTAL 2025",
    "DISCOUNT": "DISCOUNT 2025",
}


def k3_fit():
    return two_arm_fit(K3_ARMS)


def k25_fit():
    arms = []
    for j in range(25):
        n1 = 20 + (j * 37) % 180
        n2 = 22 + (j * 53) % 170
        a = max(1, int(n1 * (0.15 + 0.02 * (j % 9))))
        c = max(1, int(n2 * (0.12 + 0.025 * ((j * 5) % 8))))
        arms.append((f"Trial {j + 1:02d}", a, n1, c, n2))
    arms[3] = ("Tiny 2003", 0, 5, 3, 5)  # CI runs beyond the axis
    return two_arm_fit(arms)


EVT_TEXTS = {
    "title": "Functional independence (mRS 0-2) at 90 days",
    "intervention_label": "Thrombectomy",
    "control_label": "Medical management",
    "favours_left": "medical management",
    "favours_right": "thrombectomy",
}


def draw_and_save(draw, data, tmp_path, name, **kw):
    """``draw(data, ...)`` with the thrombectomy texts (``kw`` overrides), saved as SVG+PNG."""
    fig = draw(data, **{**EVT_TEXTS, **kw})
    svg, png = tmp_path / f"{name}.svg", tmp_path / f"{name}.png"
    save_figure(fig, svg_path=svg, png_path=png)
    return fig, svg, png


def render(fit, tmp_path, name="forest", **kw):
    return draw_and_save(draw_forest, fit, tmp_path, name, **kw)


def svg_texts(svg: Path) -> list[str]:
    root = ET.parse(svg).getroot()
    return ["".join(t.itertext()) for t in root.iter(f"{SVG_NS}text")]


def svg_ids(svg: Path) -> set[str]:
    root = ET.parse(svg).getroot()
    return {e.get("id") for e in root.iter() if e.get("id")}


def png_chunks(png: Path) -> list[bytes]:
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, kinds = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc
        kinds.append(kind)
        pos += 12 + length
    return kinds


# --------------------------------------------------------------------------- tests


def test_k3_or_random_effects_structure(tmp_path):
    fit = k3_fit()
    fig, svg, png = render(fit, tmp_path, study_labels=SMALL_LABELS)
    texts = svg_texts(svg)
    for label in SMALL_LABELS.values():
        assert texts.count(label) == 1, label
    for study in ("ESCAPE-MeVO", "DISTAL", "DISCOUNT"):
        assert study not in texts  # the display label replaces the id
    assert "138/" in texts and "255" in texts
    assert "Random-effects model (REML)" in texts
    assert "Prediction interval" in texts
    assert "Favours medical management" in texts
    assert "Favours thrombectomy" in texts
    assert "Thrombectomy" in texts
    assert "Medical" in texts and "management" in texts  # a long arm header wraps
    assert "Odds ratio" in texts and "(95% CI)" in texts
    b = fit["back"]
    assert f"{b['estimate']:.2f}" in texts
    assert f"[{b['ci_lb']:.2f}, {b['ci_ub']:.2f}]" in texts
    weights = [f"{s['weight']:.1f}%" for s in fit["studies"]]
    assert all(w in texts for w in weights)
    assert "100.0%" in texts
    assert f"{sum(a[1] for a in K3_ARMS)}/" in texts  # pooled events, intervention
    het = [t for t in texts if t.startswith("Heterogeneity: tau\u00b2 = ")]
    assert len(het) == 1 and "I\u00b2 = " in het[0] and "df = 2 (p = " in het[0]
    assert any(t.startswith("Test for overall effect: z = ") for t in texts)
    ids = svg_ids(svg)
    assert "pooled-diamond" in ids and "prediction-interval" in ids
    assert {f"study-marker-{i}" for i in range(3)} <= ids
    root = ET.parse(svg).getroot()
    diamond = next(e for e in root.iter() if e.get("id") == "pooled-diamond")
    assert diamond.find(f"{SVG_NS}path") is not None
    # log axis ticks around 1
    assert "1" in texts and "0.5" in texts and "2" in texts
    assert fig.get_size_inches()[0] == pytest.approx(7.2)


def test_k3_example_png_for_viewing(tmp_path):
    fig = draw_forest(
        k3_fit(),
        title="Functional independence (mRS 0-2) at 90 days",
        intervention_label="Thrombectomy",
        control_label="Medical management",
        favours_left="medical management",
        favours_right="thrombectomy",
        study_labels=SMALL_LABELS,
    )
    out = Path(os.environ.get("FOREST_EXAMPLE_DIR", tmp_path))
    save_figure(fig, svg_path=out / "forest_example.svg", png_path=out / "forest_example.png")
    assert (out / "forest_example.png").stat().st_size > 1000


def test_two_renders_and_two_saves_are_byte_identical(tmp_path):
    fit = k3_fit()
    _, svg1, png1 = render(fit, tmp_path, "a")
    fig, svg2, png2 = render(fit, tmp_path, "b")
    assert svg1.read_bytes() == svg2.read_bytes()
    assert png1.read_bytes() == png2.read_bytes()
    save_figure(fig, svg_path=tmp_path / "c.svg", png_path=tmp_path / "c.png")
    assert (tmp_path / "c.svg").read_bytes() == svg2.read_bytes()
    assert (tmp_path / "c.png").read_bytes() == png2.read_bytes()


def test_fresh_process_gives_the_same_bytes(tmp_path):
    fit = k3_fit()
    _, svg, png = render(fit, tmp_path, "here")
    code = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        sys.path.insert(0, {str(REPO)!r})
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_forest import k3_fit, render
        render(k3_fit(), Path({str(tmp_path)!r}), "there")
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
    assert (tmp_path / "there.svg").read_bytes() == svg.read_bytes()
    assert (tmp_path / "there.png").read_bytes() == png.read_bytes()


def test_metadata_is_not_time_dependent(tmp_path):
    _, svg, png = render(k3_fit(), tmp_path)
    text = svg.read_text(encoding="utf-8")
    assert "<dc:date>" not in text and "Matplotlib v" not in text
    assert "font-family: 'DejaVu Sans'" in text  # text kept as text
    kinds = png_chunks(png)
    assert b"tIME" not in kinds and b"tEXt" not in kinds and b"iTXt" not in kinds


def test_k1_not_pooled(tmp_path):
    fit = two_arm_fit([("ESCAPE-MeVO", 138, 255, 161, 274)])
    _, svg, _ = render(fit, tmp_path)
    texts = svg_texts(svg)
    assert texts.count("ESCAPE-MeVO") == 1
    assert any(t.startswith("Not pooled: k = 1") for t in texts)
    assert "pooled-diamond" not in svg_ids(svg)
    assert not any(t.startswith("Heterogeneity") for t in texts)
    assert not any(t.startswith("Random-effects") for t in texts)
    assert "study-marker-0" in svg_ids(svg)


def test_k25_or_with_arrow_and_no_overlap(tmp_path):
    fit = k25_fit()
    fig, svg, _ = render(fit, tmp_path)
    texts = svg_texts(svg)
    for s in fit["studies"]:  # a zero-cell correction is marked after the label
        mark = "\u2020" if s["correction"] != "none" else ""
        assert texts.count(s["study"] + mark) == 1
    assert fit["studies"][3]["correction"] == "add 0.5 (only0)"
    assert "\u2020 0.5 added to each cell of the 2\u00d72 table (zero cell)" in texts
    # the tiny trial's CI runs beyond the axis: it is drawn with an arrowhead
    assert fit["studies"][3]["back"]["ci_lb"] < 0.01
    ids = svg_ids(svg)
    assert "study-ci-3-arrow-left" in ids
    assert not any(i.endswith("-arrow-right") for i in ids)
    assert sum(i.startswith("study-ci-") and "arrow" not in i for i in ids) == 25
    assert _no_overlapping_texts(fig)
    h25 = fig.get_size_inches()[1]
    h3 = draw_forest(
        k3_fit(),
        title="t",
        intervention_label="a",
        control_label="b",
        favours_left="a",
        favours_right="b",
    ).get_size_inches()[1]
    assert h25 > h3 + 22 * 0.15


@pytest.mark.parametrize("k", [1, 2, 3, 5, 10, 20, 40])
def test_no_overlap_for_k_1_to_40(k):
    arms = [
        (f"Study with a rather long name number {j}", 5 + j, 50 + j, 3 + j % 5, 48 + 2 * j)
        for j in range(k)
    ]
    fig = draw_forest(
        two_arm_fit(arms, method="DL", test="knha"),
        title="A very long outcome title " * 6,
        intervention_label="Endovascular thrombectomy plus best medical management",
        control_label="Best medical management alone",
        favours_left="endovascular thrombectomy plus best medical management",
        favours_right="best medical management alone, a long label",
    )
    assert _no_overlapping_texts(fig)
    assert _texts_inside_figure(fig)


def test_risk_difference_fixed_effect(tmp_path):
    fit = two_arm_fit(K3_ARMS, measure="RD", model="FE", method="FE")
    _, svg, _ = render(fit, tmp_path, measure_label="Risk difference")
    texts = svg_texts(svg)
    assert "Fixed-effect model" in texts
    assert "Prediction interval" not in texts
    assert "Risk difference" in texts
    assert "0" in texts  # null at 0 on a linear axis
    het = next(t for t in texts if t.startswith("Heterogeneity"))
    assert "tau" not in het
    assert any("\u2212" in t for t in texts)  # negative numbers use a true minus sign
    assert "prediction-interval" not in svg_ids(svg)


def test_mantel_haenszel_and_knha_labels(tmp_path):
    fit = two_arm_fit(K3_ARMS, model="MH", method="MH")
    _, svg, _ = render(fit, tmp_path, "mh")
    assert "Fixed-effect model (M-H)" in svg_texts(svg)
    fit = two_arm_fit(K3_ARMS, test="knha")
    _, svg, _ = render(fit, tmp_path, "hk")
    texts = svg_texts(svg)
    assert "Random-effects model (REML)" in texts
    overall = "Test for overall effect (Hartung-Knapp): t = "
    assert any(t.startswith(overall) and "df = 2" in t for t in texts)


def test_pft_single_arm_proportion(tmp_path):
    arms = [("Case series A", 45, 60), ("Case series B", 80, 95), ("Registry C", 120, 170)]
    fit = pft_fit(arms)
    _, svg, _ = render(fit, tmp_path, favours_left="", favours_right="")
    texts = svg_texts(svg)
    for study, _, _ in arms:
        assert texts.count(study) == 1
    assert "Proportion" in texts
    assert "n/N" in texts and texts.count("n/N") == 1  # one arm column
    assert "Medical management" not in texts
    assert not any(t.startswith("Favours") for t in texts)
    assert not any(t.startswith("Test for overall effect") for t in texts)
    assert any(t.startswith("Heterogeneity: tau") for t in texts)
    assert measure_kind(fit) == "proportion"
    assert "pooled-diamond" in svg_ids(svg)


def test_excluded_study_drop00(tmp_path):
    arms = [*K3_ARMS, ("ZERO-ZERO", 0, 40, 0, 41)]
    fit = two_arm_fit(arms, drop00=True)
    _, svg, _ = render(fit, tmp_path)
    texts = svg_texts(svg)
    # shown, marked as not estimable, the reason in the footnote of its marker
    assert texts.count("ZERO-ZERO*") == 1 and "ZERO-ZERO" not in texts
    assert texts.count("Not estimable") == 1
    assert "* Not estimable, excluded from the model: double zero (drop00)" in texts
    assert "double zero (drop00)" not in texts
    assert "40" in texts and "41" in texts
    ids = svg_ids(svg)
    assert "study-marker-3" not in ids and "study-ci-3" not in ids
    assert {f"study-marker-{i}" for i in range(3)} <= ids


def test_labels_are_printed_literally(tmp_path):
    labels = {
        "ESCAPE-MeVO": "<script>alert(1)</script>",
        "DISTAL": "$x$ & \\alpha_1",
        "DISCOUNT": "--><b>x</b><!--",
    }
    _, svg, png = render(
        k3_fit(),
        tmp_path,
        study_labels=labels,
        title="$\\frac{a}{b}$ <i>",
        intervention_label="<img src=x>",
    )
    raw = svg.read_text(encoding="utf-8")
    root = ET.parse(svg).getroot()  # still well-formed XML
    assert not [e for e in root.iter() if e.tag.split("}")[-1] in ("script", "b", "img", "i")]
    assert "<script" not in raw and "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
    texts = svg_texts(svg)
    for label in labels.values():
        assert texts.count(label) == 1, label
    assert "$\\frac{a}{b}$ <i>" in texts
    assert "<img src=x>" in texts
    assert png.stat().st_size > 0


def test_long_labels_truncated_with_ellipsis(tmp_path):
    long = "A" * 30 + " very long study label that cannot fit in the column " * 3
    fit = k3_fit()
    _, svg, _ = render(fit, tmp_path, study_labels={"DISTAL": long})
    texts = svg_texts(svg)
    cut = [t for t in texts if t.startswith("AAAA")]
    assert len(cut) == 1 and cut[0].endswith("\u2026") and len(cut[0]) < len(long)


def test_control_characters_in_labels(tmp_path):
    _, svg, _ = render(k3_fit(), tmp_path, study_labels={"DISTAL": "DIS\nTAL\t\x00 2025"})
    assert "DIS TAL 2025" in svg_texts(svg)


def test_save_figure_is_atomic(tmp_path, monkeypatch):
    fig, svg, _ = render(k3_fit(), tmp_path)
    before = svg.read_bytes()

    def broken(self, fname, **kwargs):
        fname.write(b"<svg partial")
        raise RuntimeError("crash while writing")

    monkeypatch.setattr(type(fig), "savefig", broken)
    with pytest.raises(RuntimeError):
        save_figure(fig, svg_path=svg)
    with pytest.raises(RuntimeError):
        save_figure(fig, png_path=tmp_path / "new.png")
    assert svg.read_bytes() == before
    assert not (tmp_path / "new.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forest.png", "forest.svg"]


def test_save_figure_creates_directories_and_needs_a_path(tmp_path):
    fig = draw_forest(
        k3_fit(),
        title="t",
        intervention_label="a",
        control_label="b",
        favours_left="a",
        favours_right="b",
    )
    target = tmp_path / "results" / "forest" / "mrs02.svg"
    save_figure(fig, svg_path=target)
    assert hashlib.sha256(target.read_bytes()).hexdigest()
    with pytest.raises(ValueError):
        save_figure(fig)


def test_helpers():
    # p-values as the report's tables print them (metareview.present.formats.pval)
    assert fmt_p(0.0004) == "p < 0.001"
    assert fmt_p(0.0049) == "p = 0.005"
    assert fmt_p(0.0496) == "p = 0.050"
    assert fmt_p(0.27) == "p = 0.270"
    assert fmt_p(None) == "p = NA"
    fit = k3_fit()
    fit["tau2"] = 0.0004  # tau² with 3 decimals, as the tables
    assert _heterogeneity_text(fit).startswith("Heterogeneity: tau\u00b2 = 0.000; I\u00b2 = ")
    fit["tau2"] = 0.0123
    assert _heterogeneity_text(fit).startswith("Heterogeneity: tau\u00b2 = 0.012; I\u00b2 = ")
    assert _chi2_sf(2.61, 2) == pytest.approx(math.exp(-2.61 / 2))
    assert _chi2_sf(3.84145882, 1) == pytest.approx(0.05, abs=1e-7)
    assert _chi2_sf(36.4150285, 24) == pytest.approx(0.05, abs=1e-7)
    assert nice_log_ticks(0.58, 1.8) == [0.5, 1, 2]
    assert nice_log_ticks(0.03, 40) == [0.01, 0.1, 1, 10, 100]


# --------------------------------------------------------------------------- geometry


def _text_boxes(fig):
    renderer = fig.canvas.get_renderer()
    boxes = []
    for t in fig.findobj(lambda a: a.__class__.__name__ == "Text"):
        if not t.get_visible() or not t.get_text():
            continue
        boxes.append((t.get_text(), t.get_window_extent(renderer)))
    return boxes


def _no_overlapping_texts(fig) -> bool:
    boxes = _text_boxes(fig)
    for i, (s1, b1) in enumerate(boxes):
        for s2, b2 in boxes[i + 1 :]:
            # shrink by a pixel: touching line boxes of adjacent rows are not an overlap
            if b1.x0 + 1 < b2.x1 and b2.x0 + 1 < b1.x1 and b1.y0 + 1 < b2.y1 and b2.y0 + 1 < b1.y1:
                print("overlap:", s1, b1, s2, b2)
                return False
    return True


def _texts_inside_figure(fig) -> bool:
    fb = fig.bbox
    for s, b in _text_boxes(fig):
        if b.x0 < fb.x0 - 0.5 or b.x1 > fb.x1 + 0.5 or b.y0 < fb.y0 - 0.5 or b.y1 > fb.y1 + 0.5:
            print("outside:", s, b, fb)
            return False
    return True


# --------------------------------------------------------------------------- subgroup forest

EVT = REPO / "data" / "raw" / "evt-vs-medical-rcts"
EVT_PROTOCOL = REPO / "config" / "reviews" / "evt-vs-medical-rcts.yaml"


def evt_subgroups(outcome="mrs02", column="category", **settings):
    """``pool_subgroups`` on the bundled EVT trials (data/raw), as the pipeline forms them."""
    from metareview.engine.pooling import Settings, pool_subgroups
    from metareview.inputs.protocol import outcome_settings
    from metareview.inputs.review import ReviewInputs

    inputs = ReviewInputs.load(EVT_PROTOCOL, EVT / "studies.csv", EVT / "extraction.csv")
    rows = [dict(r) for r in inputs.outcome_table(outcome).rows]
    protocol = inputs.protocol
    labels = {r["study"]: r["label"] for r in rows}
    s = {**outcome_settings(protocol, outcome), **settings}
    return pool_subgroups(rows, Settings(**s), column), labels


def render_subgroups(result, tmp_path, name="subgroups", **kw):
    from metareview.plots.forest import draw_subgroup_forest

    kw = {"subgroup_label": "Trial population", **kw}
    return draw_and_save(draw_subgroup_forest, result, tmp_path, name, **kw)


def test_subgroup_forest_evt_structure(tmp_path):
    result, labels = evt_subgroups()
    fig, svg, png = render_subgroups(result, tmp_path, study_labels=labels)
    ids = svg_ids(svg)
    texts = svg_texts(svg)
    levels = [s["level"] for s in result["subgroups"]]
    assert levels == ["anterior_lvo_early", "anterior_lvo_late", "large_core", "medium_distal"]
    n_studies = 0
    for sub in result["subgroups"]:
        level, k = sub["level"], len(sub["studies"])
        n_studies += k
        markers = {i for i in ids if i.startswith(f"study-marker-{level}-")}
        assert markers == {f"study-marker-{level}-{i}" for i in range(k)}, level
        assert f"subtotal-diamond-{level}" in ids
        assert f"subgroup-header-{level}" in ids
        assert texts.count(level) == 1  # the header
        for st in sub["studies"]:
            assert texts.count(labels[st["study"]]) == 1
    assert sum(i.startswith("study-marker-") for i in ids) == n_studies == 9
    assert sum(i.startswith("subtotal-diamond-") for i in ids) == 4
    assert sum(i == "pooled-diamond" for i in ids) == 1
    assert "subgroup-test" in ids
    # the test for subgroup differences (random-effects form for this REML model)
    t = result["test_between_re"]
    i2 = (t["q"] - t["df"]) / t["q"] * 100
    expected = (
        "Test for subgroup differences (random effects, separate tau\u00b2 per subgroup): "
        f"Q = {t['q']:.2f}, df = {t['df']}, p < 0.001, I\u00b2 = {i2:.1f}%"
    )
    assert expected in texts
    assert expected.endswith(": Q = 36.58, df = 3, p < 0.001, I\u00b2 = 91.8%")
    root = ET.parse(svg).getroot()
    group = next(e for e in root.iter() if e.get("id") == "subgroup-test")
    assert "".join(group.itertext()).strip() == expected
    # per-level heterogeneity lines; single-study levels say "not applicable"
    assert sum(t.startswith("Heterogeneity: tau\u00b2") for t in texts) == 3  # 2 levels + overall
    assert texts.count("Heterogeneity: not applicable") == 2
    assert texts.count("Subtotal") == 2 and texts.count("Subtotal (one study)") == 2
    assert "Random-effects model (REML)" in texts and "100.0%" in texts
    assert "Study or subgroup" in texts and "Subgroups: Trial population" in texts
    # weights are the overall model's; a subtotal is the sum of its studies' weights
    w = {s["study"]: s["weight"] for s in result["overall"]["studies"]}
    early = [s["study"] for s in result["subgroups"][0]["studies"]]
    assert f"{sum(w[s] for s in early):.1f}%" in texts
    assert f"{w['MR-CLEAN']:.1f}%" in texts
    o = result["overall"]["back"]
    assert f"[{o['ci_lb']:.2f}, {o['ci_ub']:.2f}]" in texts
    assert _no_overlapping_texts(fig) and _texts_inside_figure(fig)
    # deterministic bytes: saving again and drawing again give the same files
    save_figure(fig, svg_path=tmp_path / "again.svg", png_path=tmp_path / "again.png")
    assert (tmp_path / "again.svg").read_bytes() == svg.read_bytes()
    assert (tmp_path / "again.png").read_bytes() == png.read_bytes()
    _, svg2, png2 = render_subgroups(result, tmp_path, "redrawn", study_labels=labels)
    assert svg2.read_bytes() == svg.read_bytes() and png2.read_bytes() == png.read_bytes()


def test_subgroup_forest_example_png_for_viewing(tmp_path):
    result, labels = evt_subgroups("sich")
    out = Path(os.environ.get("FOREST_EXAMPLE_DIR", tmp_path))
    fig, svg, png = render_subgroups(
        result,
        out,
        "subgroup_forest_example",
        study_labels=labels,
        title="Symptomatic intracranial haemorrhage",
        favours_left="thrombectomy",
        favours_right="medical management",
    )
    assert png.stat().st_size > 1000
    assert sum(i.startswith("subtotal-diamond-") for i in svg_ids(svg)) == 5
    assert _no_overlapping_texts(fig) and _texts_inside_figure(fig)


def test_subgroup_forest_fixed_effect_test(tmp_path):
    result, labels = evt_subgroups(method="FE")
    assert result["test_between_re"] is None
    _, svg, _ = render_subgroups(result, tmp_path, study_labels=labels)
    texts = svg_texts(svg)
    t = result["test_between_fe"]
    assert any(
        s.startswith(
            f"Test for subgroup differences (fixed effect): Q = {t['q']:.2f}, df = {t['df']}, p "
        )
        for s in texts
    )
    assert "Fixed-effect model" in texts
    assert not any(s.startswith("Heterogeneity: tau") for s in texts)


def test_subgroup_forest_level_not_pooled_and_no_overall(tmp_path):
    import copy

    result, labels = evt_subgroups()
    result = copy.deepcopy(result)
    result["subgroups"][1] = {
        "level": "odd level/with spaces",
        "k": 0,
        "not_pooled": "REML did not converge",
    }
    result["overall"] = None
    fig, svg, _ = render_subgroups(
        result, tmp_path, study_labels=labels, level_labels={"large_core": "Large core"}
    )
    ids = svg_ids(svg)
    texts = svg_texts(svg)
    assert "Not pooled: REML did not converge" in texts
    assert "subgroup-header-odd_level_with_spaces" in ids
    assert "subtotal-diamond-odd_level_with_spaces" not in ids
    assert sum(i.startswith("subtotal-diamond-") for i in ids) == 3
    assert "pooled-diamond" not in ids
    assert "Large core" in texts and "large_core" not in texts
    # without an overall fit, weights are within each subgroup: 3 subtotals + 2 lone studies
    assert texts.count("100.0%") == 5
    assert "subgroup-test" in ids
    assert _no_overlapping_texts(fig) and _texts_inside_figure(fig)


def test_subgroup_test_text_helper():
    from metareview.plots.forest import _subgroup_test_text

    res = {
        "test_between_fe": {"q": 2.0, "df": 2, "pval": 0.3679},
        "test_between_re": {"q": 6.0, "df": 2, "pval": 0.0498},
    }
    assert _subgroup_test_text(res, "RE") == (
        "Test for subgroup differences (random effects, separate tau\u00b2 per subgroup): "
        "Q = 6.00, df = 2, p = 0.050, I\u00b2 = 66.7%"
    )
    # I2 of subgroup differences is (Q - df) / Q, truncated at 0
    assert _subgroup_test_text(res, "FE") == (
        "Test for subgroup differences (fixed effect): Q = 2.00, df = 2, p = 0.368, I\u00b2 = 0.0%"
    )
    # a random-effects model without the random-effects test prints the fixed-effect one,
    # and says so
    fe_only = {"test_between_fe": res["test_between_fe"], "test_between_re": None}
    assert _subgroup_test_text(fe_only, "RE").startswith(
        "Test for subgroup differences (fixed effect): Q = 2.00"
    )
    assert "Mantel-Haenszel" in _subgroup_test_text(fe_only, "MH")
    assert _subgroup_test_text({"test_between_fe": None}, "RE") is None


# --------------------------------------------------------------------------- risk of bias

# SYNTHETIC risk-of-bias judgements for layout tests only: the bundled trials have no sourced
# assessments and none may be invented (see tests/test_rob.py).
SYNTHETIC_ROB = {
    "ESCAPE-MeVO": ["low", "some", "low", "high", "low", "high"],
    "DISTAL": ["low", "low", "", "low", "some", "some"],
    "DISCOUNT": ["low", "low", "low", "low", "low", "low"],
}


def synthetic_rob_table(data=SYNTHETIC_ROB):
    from metareview.inputs.rob import read_assessments

    cols = ["rob_d1", "rob_d2", "rob_d3", "rob_d4", "rob_d5", "rob_overall"]
    rows = [{"study_id": sid, **dict(zip(cols, v, strict=True))} for sid, v in data.items()]
    return read_assessments(rows, "rob2")


def test_forest_with_risk_of_bias_columns(tmp_path):
    table = synthetic_rob_table()
    fig, svg, png = render(k3_fit(), tmp_path, "rob", study_labels=SMALL_LABELS, rob=table)
    ids = svg_ids(svg)
    cells = sorted(i for i in ids if i.startswith("rob-forest-"))
    assert cells == sorted(f"rob-forest-{r}-{c}" for r in range(3) for c in range(6))
    texts = svg_texts(svg)
    assert "Risk of bias" in texts and "Risk of bias legend" in texts
    for h in ("D1", "D2", "D3", "D4", "D5", "O"):
        assert texts.count(h) == 1, h
    assert "(D1) Bias arising from the randomisation process" in texts
    assert "(O) Overall risk of bias" in texts
    assert {"Low risk", "Some concerns", "High risk", "Not assessed"} <= set(texts)
    # the forest itself is unchanged: markers, diamond, weights
    assert {f"study-marker-{i}" for i in range(3)} <= ids and "pooled-diamond" in ids
    assert "45.0%" in texts and "Thrombectomy" in texts and "Medical" in texts
    assert not any(t.endswith("\u2026") for t in texts)  # nothing truncated
    root = ET.parse(svg).getroot()
    cell = next(e for e in root.iter() if e.get("id") == "rob-forest-0-3")  # ESCAPE-MeVO D4
    assert "#bf0000" in ET.tostring(cell, encoding="unicode").lower()
    assert _no_overlapping_texts(fig) and _texts_inside_figure(fig)
    _, svg2, png2 = render(k3_fit(), tmp_path, "rob2", study_labels=SMALL_LABELS, rob=table)
    assert svg2.read_bytes() == svg.read_bytes() and png2.read_bytes() == png.read_bytes()


def test_forest_rob_mapping_form_and_missing_study(tmp_path):
    table = synthetic_rob_table({k: v for k, v in SYNTHETIC_ROB.items() if k != "DISCOUNT"})
    cells = table.forest_cells()
    assert cells["ESCAPE-MeVO"][3] == {
        "domain": "D4",
        "domain_label": "Bias in measurement of the outcome",
        "judgement": "high",
        "label": "High risk",
        "colour": "#BF0000",
        "symbol": "\u00d7",
        "rank": 2,
    }
    assert cells["DISTAL"][2] is None
    fig, svg, _ = render(k3_fit(), tmp_path, "map", rob=cells)
    ids = svg_ids(svg)
    # DISCOUNT (row 2) is not in the mapping: its cells are drawn hollow, not left out
    assert sum(i.startswith("rob-forest-") for i in ids) == 3 * 6
    texts = svg_texts(svg)
    assert "Not assessed" in texts and "Low risk" in texts and "High risk" in texts
    assert "(D4) Bias in measurement of the outcome" in texts
    with pytest.raises(ValueError, match="same number"):
        draw_forest(
            k3_fit(),
            title="t",
            intervention_label="a",
            control_label="b",
            favours_left="a",
            favours_right="b",
            rob={"DISTAL": [None], "DISCOUNT": [None, None]},
        )


def test_forest_rob_many_studies_no_overlap():
    from metareview.inputs.rob import read_assessments

    fit = k25_fit()
    judgements = ["low", "moderate", "serious", "critical", "no information", ""]
    rows = [
        {
            "study_id": s["study"],
            **{f"rob_d{d}": judgements[(j + d) % 6] for d in range(1, 8)},
            "rob_overall": judgements[j % 5],
        }
        for j, s in enumerate(fit["studies"])
    ]
    fig = draw_forest(
        fit,
        title="Synthetic ROBINS-I judgements",
        intervention_label="Thrombectomy",
        control_label="Medical management",
        favours_left="medical management",
        favours_right="thrombectomy",
        rob=read_assessments(rows, "robins_i"),
    )
    assert _no_overlapping_texts(fig) and _texts_inside_figure(fig)


def test_ten_digit_totals_do_not_stall_the_layout(tmp_path):
    """Synthetic counts with 10-digit totals in one arm: the n/N column is wider than any
    header cap; the column layout must still finish (it once looped for ever)."""
    import signal

    arms = [("Huge 2020", 10, 1_000_000_000, 8, 900), ("Small 2021", 5, 60, 3, 62)]

    def stalled(*_):
        raise TimeoutError("forest layout did not finish")

    old = signal.signal(signal.SIGALRM, stalled)
    signal.alarm(30)
    try:
        _, svg, _ = render(two_arm_fit(arms), tmp_path, control_label="Best medical management")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert "1,000,000,000" in svg_texts(svg)


def test_pooled_label_shortens_before_it_is_cut():
    """A study column too narrow for "Random-effects model (REML)" (wide mean (SD) arm
    columns) shows "RE model (REML)" rather than a cut label."""
    from metareview.plots._table import Measurer
    from metareview.plots.common import new_figure
    from metareview.plots.forest import _Item, _model_label

    fit = {"model": "RE", "method": "REML"}
    item = _Item("diamond", label=_model_label(fit), short=_model_label(fit, short=True), bold=True)
    m = Measurer(new_figure(7.2, 2.0))
    full = m.width(item.label, **item.font)
    assert item.fitted_label(m, full + 0.01) == "Random-effects model (REML)"
    assert item.fitted_label(m, full - 0.1) == "RE model (REML)"
    assert _model_label({"model": "MH"}, short=True) == "FE model (M-H)"
