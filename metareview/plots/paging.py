"""When a figure has too many rows to read as one: the paging and summarising rules of
very large reviews (thousands of studies), shared by the stages and the figures.

* A forest plot of more than :data:`FOREST_MAX_ROWS` studies becomes a summary (the pooled
  estimate, no study rows) plus pages of at most :data:`FOREST_PAGE_ROWS` study rows
  (:func:`pages`); a subgroup forest plot of that many studies shows each subgroup's
  subtotal without its study rows.
* Leave-one-out and cumulative plots of that many studies show :data:`SUMMARY_ROWS` rows
  (:func:`most_changed`, :func:`even_steps`); their tables keep every row in CSV.
* Report tables of more rows than :data:`FOREST_MAX_ROWS` show the rows the figure shows
  and name the CSV file that has them all.

Reviews up to :data:`FOREST_MAX_ROWS` studies are drawn exactly as before. Standard
library only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: the most study rows one forest (or leave-one-out, cumulative) figure shows
FOREST_MAX_ROWS = 60
#: study rows per page of a paged forest plot
FOREST_PAGE_ROWS = 50
#: rows of a summarised leave-one-out or cumulative plot of a very large review
SUMMARY_ROWS = 40
#: the most study rows drawn as pages: matplotlib draws about 2,000 artists a second, so
#: pages of thousands of studies would take minutes; beyond this the summary forest plot
#: says where the study rows are (the outcome's table and fit)
PAGES_MAX_ROWS = 1000


def is_paged(n_rows: int) -> bool:
    """Whether a forest plot of ``n_rows`` study rows is drawn as a summary plus pages."""
    return n_rows > FOREST_MAX_ROWS


@dataclass(frozen=True)
class Page:
    """Study rows ``start`` .. ``stop - 1`` (0-based) as page ``number`` of ``count``."""

    number: int
    count: int
    start: int
    stop: int

    @property
    def name(self) -> str:
        """The page's file name stem (``p1``, ``p2``, ...)."""
        return f"p{self.number}"

    def subtitle(self, n_rows: int) -> str:
        return (
            f"Page {self.number} of {self.count}: studies {self.start + 1:,}\u2013{self.stop:,} "
            f"of {n_rows:,}"
        )


def pages(n_rows: int, per_page: int = FOREST_PAGE_ROWS) -> list[Page]:
    """The pages of ``n_rows`` rows, in order, each of at most ``per_page`` rows and all but
    the last full; none when the rows fit one figure (:func:`is_paged` false) or are more
    than :data:`PAGES_MAX_ROWS`."""
    if per_page < 1:
        raise ValueError("per_page must be at least 1")
    if not is_paged(n_rows) or n_rows > PAGES_MAX_ROWS:
        return []
    count = math.ceil(n_rows / per_page)
    return [Page(i + 1, count, i * per_page, min((i + 1) * per_page, n_rows)) for i in range(count)]


def summary_note(n_rows: int, n_pages: int) -> str:
    """The note of a summary forest plot in place of its study rows (``n_pages`` 0: the
    rows are not drawn)."""
    if n_pages == 0:
        return (
            f"{n_rows:,} studies: too many to draw (more than {PAGES_MAX_ROWS:,}); every "
            "study's estimate and weight is in the outcome's table and fit (pooled/*.json). "
            "This figure shows the pooled estimate."
        )
    return (
        f"{n_rows:,} studies: too many for one figure. Their rows are drawn on {n_pages} "
        f"pages of at most {FOREST_PAGE_ROWS} (the report links them); this figure shows "
        "the pooled estimate."
    )


def most_changed(estimates: Sequence[float | None], reference: float, n: int) -> list[int]:
    """Positions of the ``n`` estimates farthest from ``reference`` (missing estimates
    first, as they flag a failed refit; ties: the earlier), in input order."""

    def key(i: int) -> tuple[int, float, int]:
        e = estimates[i]
        if e is None or not math.isfinite(e):
            return (0, 0.0, i)
        return (1, -abs(e - reference), i)

    return sorted(sorted(range(len(estimates)), key=key)[:n])


def even_steps(n_steps: int, n: int) -> list[int]:
    """``n`` positions of ``n_steps`` steps, evenly spaced, the first and the last included
    (all when ``n_steps <= n``)."""
    if n_steps <= n:
        return list(range(n_steps))
    if n < 2:
        return [n_steps - 1]
    return sorted({round(j * (n_steps - 1) / (n - 1)) for j in range(n)})
