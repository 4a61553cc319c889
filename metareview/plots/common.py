"""Shared plotting helpers: journal style and deterministic, atomic figure writing.

Every figure of the pipeline is drawn inside :func:`journal_style` and written with
:func:`save_figure`, so that two runs on the same inputs give byte-identical SVG and PNG
files (no dates, no creator/software strings, no random element ids) and a crash never
leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ParamSpec

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from metareview import figures  # noqa: E402
from metareview.text import xml_safe  # noqa: E402

P = ParamSpec("P")

__all__ = [
    "FONT_FAMILY",
    "JOURNAL_RC",
    "SAVE_RC",
    "journal_style",
    "new_figure",
    "print_paths",
    "save_figure",
    "save_figure_set",
]

#: Only DejaVu Sans, which ships with matplotlib: text is measured (for truncation and
#: column widths) and rasterised with the same font on every machine. SVG viewers get
#: ``font-family: 'DejaVu Sans', sans-serif``.
FONT_FAMILY = ["DejaVu Sans"]

#: rc settings of every metareview figure: small journal fonts, no top/right spines,
#: no mathtext or LaTeX (labels come from users' tables and are printed literally).
JOURNAL_RC: dict[str, object] = {
    "font.family": "sans-serif",
    "font.sans-serif": FONT_FAMILY,
    "font.size": 7.0,
    "axes.titlesize": 8.0,
    "axes.labelsize": 7.0,
    "xtick.labelsize": 7.0,
    "ytick.labelsize": 7.0,
    "legend.fontsize": 7.0,
    "figure.titlesize": 8.0,
    "axes.linewidth": 0.6,
    "lines.linewidth": 0.8,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "xtick.minor.visible": False,
    "ytick.minor.visible": False,
    "xtick.direction": "out",
    "ytick.direction": "out",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.unicode_minus": True,
    "text.usetex": False,
    "text.parse_math": False,
    "figure.dpi": 100.0,
    "savefig.dpi": 200.0,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "axes.facecolor": "white",
    "path.simplify": True,
}

#: rc settings applied while writing files (read by matplotlib at save time).
SAVE_RC: dict[str, object] = {
    **JOURNAL_RC,
    "svg.fonttype": "none",  # text stays <text>: searchable, selectable, small
    "svg.hashsalt": "metareview",  # fixed ids for clip paths and markers
    "svg.id": None,
    "svg.image_inline": True,
    # Type 3: the glyphs embedded as vector outlines (matplotlib's subset). Type 42
    # (TrueType) subsetting through fontTools costs about 0.4 s per PDF, ten times the
    # whole save, and every figure of every job is also saved as PDF.
    "pdf.fonttype": 3,
    "savefig.bbox": None,  # fixed figure size: layout never depends on text extents
    "savefig.transparent": False,
}

_SVG_METADATA = {"Date": None, "Creator": None}
_PNG_METADATA = {"Software": None}
#: no creation date, creator or producer: the same figure gives the same bytes
_PDF_METADATA = {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None}
#: print resolution of PNG files (journals ask for 300-600 dpi)
PRINT_DPI = 300


@contextlib.contextmanager
def journal_style() -> Iterator[dict[str, object]]:
    """Context manager applying :data:`JOURNAL_RC`; yields the rc dictionary."""
    with matplotlib.rc_context(JOURNAL_RC):
        yield JOURNAL_RC


def new_figure(width: float, height: float) -> Figure:
    """A pyplot-free figure (no global state) with an Agg canvas attached.

    Call inside :func:`journal_style` so that artists pick up the journal rc values.
    """
    fig = Figure(figsize=(width, height), dpi=float(JOURNAL_RC["figure.dpi"]))
    FigureCanvasAgg(fig)
    return fig


def when_drawn(draw: Callable[P, Figure]) -> Callable[P, Figure | None]:
    """Decorate a ``draw_*`` function: it returns ``None`` without drawing when the run
    writes no figures (config ``figures: []``); the writers skip a ``None`` figure."""

    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure | None:
        return draw(*args, **kwargs) if figures.drawn() else None

    return wrapper


def _atomic_save(fig: Figure, path: Path, fmt: str, **kwargs: object) -> None:
    """Render ``fig`` to a temporary file next to ``path``, then rename it into place."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    # os.open applies the umask (unlike tempfile.mkstemp's fixed 0600).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            if fmt == "svg":  # text from the data stays text: no character XML forbids
                buffer = io.BytesIO()
                fig.savefig(buffer, format=fmt, **kwargs)
                handle.write(xml_safe(buffer.getvalue().decode("utf-8")).encode("utf-8"))
            else:
                fig.savefig(handle, format=fmt, **kwargs)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_figure(
    fig: Figure | None,
    svg_path: str | os.PathLike[str] | None = None,
    png_path: str | os.PathLike[str] | None = None,
    dpi: int = PRINT_DPI,
    pdf_path: str | os.PathLike[str] | None = None,
) -> None:
    """Write ``fig`` deterministically as SVG, PNG and/or PDF.

    * SVG: text kept as text (``svg.fonttype = "none"``), fixed ``svg.hashsalt``, no
      date or creator metadata; a character XML forbids (a control character that reached
      a label) is written as U+FFFD, so the file is always well-formed.
    * PNG: ``dpi`` pixels per inch (300 by default), no ``Software`` text chunk and no time
      chunk.
    * PDF: vector, the glyphs embedded as Type 3 outlines (``pdf.fonttype = 3``), no creation date,
      creator or producer.
    * Only the formats of the run's ``figures`` setting (:mod:`metareview.figures`) are
      written; the others' paths are skipped.
    * Each file is written to a temporary file in the target directory and moved into
      place with :func:`os.replace`, so readers never see a partial file.
    """
    if svg_path is None and png_path is None and pdf_path is None:
        raise ValueError("save_figure: give svg_path, png_path and/or pdf_path")
    if fig is None:  # not drawn: the run writes no figures (:func:`when_drawn`)
        return
    wanted = figures.formats()  # config `figures`: a path of a format not set is skipped
    with matplotlib.rc_context(SAVE_RC):
        if svg_path is not None and "svg" in wanted:
            _atomic_save(fig, Path(svg_path), "svg", metadata=_SVG_METADATA)
        if pdf_path is not None and "pdf" in wanted:
            _atomic_save(fig, Path(pdf_path), "pdf", metadata=_PDF_METADATA)
        if png_path is not None and "png" in wanted:
            _atomic_save(fig, Path(png_path), "png", dpi=dpi, metadata=_PNG_METADATA)


def print_paths(svg_path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The PNG and PDF beside an SVG figure (``forest/a.svg`` -> ``forest/a.png``,
    ``forest/a.pdf``)."""
    svg = Path(svg_path)
    return svg.with_suffix(".png"), svg.with_suffix(".pdf")


def save_figure_set(fig: Figure | None, svg_path: str | os.PathLike[str]) -> None:
    """The SVG (for the report) and, beside it, the print copies: a vector PDF and a
    300 dpi PNG (:func:`print_paths`)."""
    png, pdf = print_paths(svg_path)
    save_figure(fig, svg_path, png, PRINT_DPI, pdf)
