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
from metareview.plots.forest import _fmt_p, _heterogeneity_text, _nice_log_ticks, measure_kind

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


def render(fit, tmp_path, name="forest", **kw):
    kwargs = {
        "title": "Functional independence (mRS 0-2) at 90 days",
        "intervention_label": "Thrombectomy",
        "control_label": "Medical management",
        "favours_left": "medical management",
        "favours_right": "thrombectomy",
    }
    kwargs.update(kw)
    fig = draw_forest(fit, **kwargs)
    svg, png = tmp_path / f"{name}.svg", tmp_path / f"{name}.png"
    save_figure(fig, svg_path=svg, png_path=png)
    return fig, svg, png


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
    for s in fit["studies"]:
        assert texts.count(s["study"]) == 1
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
    assert texts.count("ZERO-ZERO") == 1
    assert "double zero (drop00)" in texts
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
    assert _fmt_p(0.0004) == "p < 0.001"
    assert _fmt_p(0.0049) == "p = 0.005"
    assert _fmt_p(0.0496) == "p = 0.050"
    assert _fmt_p(0.27) == "p = 0.27"
    fit = k3_fit()
    fit["tau2"] = 0.0004
    assert _heterogeneity_text(fit).startswith("Heterogeneity: tau\u00b2 < 0.001; I\u00b2 = ")
    fit["tau2"] = 0.0123
    assert _heterogeneity_text(fit).startswith("Heterogeneity: tau\u00b2 = 0.012; I\u00b2 = ")
    assert _chi2_sf(2.61, 2) == pytest.approx(math.exp(-2.61 / 2))
    assert _chi2_sf(3.84145882, 1) == pytest.approx(0.05, abs=1e-7)
    assert _chi2_sf(36.4150285, 24) == pytest.approx(0.05, abs=1e-7)
    assert _nice_log_ticks(0.58, 1.8) == [0.5, 1, 2]
    assert _nice_log_ticks(0.03, 40) == [0.01, 0.1, 1, 10, 100]


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
