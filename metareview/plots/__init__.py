"""Figures of the pipeline (matplotlib, Agg backend, deterministic output)."""

from metareview.plots.common import JOURNAL_RC, journal_style, new_figure, save_figure
from metareview.plots.forest import draw_forest

__all__ = ["JOURNAL_RC", "draw_forest", "journal_style", "new_figure", "save_figure"]
