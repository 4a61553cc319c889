"""Which figure files a run writes (config ``figures``): the SVG the report shows and its
print copies, a vector PDF and a 300 dpi PNG, by default; ``[svg]`` for the report alone;
``[]`` for none (meta-research runs of many reviews, where the numbers are the product and
drawing would be most of the time).

One setting per process, set at the start of a job (``workflow/scripts/_log.py``, the
batch runner) and in the Snakefile, and read by the results layout (which files a job
declares), the figure writer (which files it writes) and the report (what it shows).
Standard library only: the Snakefile imports it.
"""

from __future__ import annotations

from collections.abc import Iterable

#: every format, in the order they are written; svg first (the report reads it)
ALL: tuple[str, ...] = ("svg", "png", "pdf")

_formats: tuple[str, ...] = ALL


def configure(formats: Iterable[str] | None) -> tuple[str, ...]:
    """Set the formats (``None``: all); a non-empty list must include ``svg``."""
    global _formats
    wanted = ALL if formats is None else tuple(formats)
    unknown = [f for f in wanted if f not in ALL]
    if unknown:
        raise ValueError(f"figures: unknown format(s) {unknown}; choose from {list(ALL)}")
    if wanted and "svg" not in wanted:
        raise ValueError("figures: the report shows the SVG: list svg, or nothing for none")
    _formats = tuple(f for f in ALL if f in wanted)
    return _formats


def formats() -> tuple[str, ...]:
    return _formats


def drawn() -> bool:
    """Whether figures are drawn at all."""
    return bool(_formats)


def files(svg_path: str) -> list[str]:
    """The files of one figure whose SVG is ``svg_path``, in the formats set."""
    stem = svg_path[: -len(".svg")] if svg_path.endswith(".svg") else svg_path
    return [f"{stem}.{ext}" for ext in _formats]
