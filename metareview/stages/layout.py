"""Every path of a review's results folder, named once.

The Snakemake rules, the stages and the report all take their paths from here. A layout is
built on a concrete review folder (``results/<review>``) or on a Snakemake pattern
(``results/{review}``), and an outcome may be a wildcard (``"{outcome}"``).

Standard library only: the Snakefile imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from metareview import figures

#: the screening stage's outputs (``screening/<name>``); the figure's only in the formats
#: of the run's ``figures`` setting (:func:`screening_files`)
SCREENING_FILES = (
    "index.json",
    "records.csv",
    "prisma.json",
    "prisma.csv",
    "prisma.svg",
    "prisma.png",
    "prisma.pdf",
)


def screening_files() -> list[str]:
    """The screening stage's outputs in this run (:data:`SCREENING_FILES`, the flow
    diagram in the formats of ``figures``)."""
    return [
        n for n in SCREENING_FILES if not n.startswith("prisma.") or n.endswith((".json", ".csv"))
    ] + figures.files("prisma.svg")


@dataclass(frozen=True)
class Layout:
    """The results of one review under ``root`` (``results/<review>``)."""

    root: str

    @classmethod
    def of(cls, results_dir: str | Path, review: str) -> Layout:
        return cls(f"{Path(results_dir).as_posix()}/{review}")

    def _p(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def relative(self, path: str | Path) -> str:
        """``path`` relative to the review folder (as indexes and the report name files)."""
        return Path(path).relative_to(self.root).as_posix()

    @staticmethod
    def figure(svg: str) -> list[str]:
        """The files of the figure ``svg`` in this run's formats (config ``figures``)."""
        return figures.files(svg)

    # stage 1 ----------------------------------------------------------------------------
    def screening(self, name: str = "") -> str:
        return self._p("screening", name) if name else self._p("screening")

    # stages 2-3 -------------------------------------------------------------------------
    def outcome_table(self, outcome: str) -> str:
        return self._p("extraction", "by_outcome", f"{outcome}.csv")

    @property
    def effects(self) -> str:
        return self._p("extraction", "effects.csv")

    @property
    def validation(self) -> str:
        return self._p("extraction", "validation.json")

    def pooled(self, outcome: str) -> str:
        return self._p("pooled", f"{outcome}.json")

    def forest(self, outcome: str, ext: str = "svg") -> str:
        return self._p("forest", f"{outcome}.{ext}")

    def forest_pages(self, outcome: str) -> str:
        """The pages of a forest plot too large for one figure (empty when it is not)."""
        return self._p("forest", f"{outcome}-pages")

    # stage 4 ----------------------------------------------------------------------------
    def subgroup_dir(self, outcome: str) -> str:
        return self._p("subgroup", outcome)

    def metaregression_dir(self, outcome: str) -> str:
        return self._p("metaregression", outcome)

    def sensitivity_dir(self, outcome: str) -> str:
        return self._p("sensitivity", outcome)

    def bias(self, outcome: str) -> str:
        return self._p("bias", f"{outcome}.json")

    def funnel(self, outcome: str, ext: str = "svg") -> str:
        """The funnel plot (SVG for the report; ``pdf`` and ``png`` print copies)."""
        return self._p("funnel", f"{outcome}.{ext}")

    def contour_funnel(self, outcome: str, ext: str = "svg") -> str:
        return self._p("funnel", f"{outcome}-contour.{ext}")

    @property
    def rob_dir(self) -> str:
        return self._p("rob")

    def analysis_indexes(self, outcome: str) -> list[str]:
        """The stage-4 indexes of an outcome, in report order."""
        return [
            self._p("subgroup", outcome, "index.json"),
            self._p("metaregression", outcome, "index.json"),
            self._p("sensitivity", outcome, "index.json"),
            self.bias(outcome),
        ]

    def review_index(self, stage: str) -> str:
        """A per-review stage's index (``rob``, ``screening``)."""
        return self._p(stage, "index.json")

    # stage 5 ----------------------------------------------------------------------------
    @property
    def report(self) -> str:
        return self._p("report.html")

    @property
    def sof_json(self) -> str:
        """The summary of findings with GRADE certainty."""
        return self._p("sof.json")

    @property
    def sof_csv(self) -> str:
        return self._p("sof.csv")

    def table(self, name: str, ext: str = "csv") -> str:
        """A manuscript table (``tables/studies.csv``, ``tables/results.csv``) or the
        manuscript document (``tables/tables.docx``)."""
        return self._p("tables", f"{name}.{ext}")

    @property
    def manuscript_files(self) -> list[str]:
        """The report job's exports for a manuscript."""
        return [self.table("studies"), self.table("results"), self.table("tables", "docx")]

    @property
    def audit(self) -> str:
        return self._p("audit.json")

    @property
    def audit_ok(self) -> str:
        return self._p("audit.ok")

    @property
    def manifest(self) -> str:
        return self._p("manifest.json")

    def log(self, rule: str, outcome: str | None = None) -> str:
        if outcome:
            return self._p("logs", rule, f"{outcome}.log")
        return self._p("logs", f"{rule}.log")

    # the report's inputs ------------------------------------------------------------------
    def review_results(
        self, outcomes: list[str], analysed: list[str], screening: bool
    ) -> list[str]:
        """Every result a review's report reads (files and per-outcome directories)."""
        out = [self.effects, self.validation]
        if screening:
            out += [self.screening(name) for name in screening_files()]
        for o in outcomes:
            out += [self.outcome_table(o), self.pooled(o), *self.figure(self.forest(o))]
            out.append(self.forest_pages(o))
        for o in analysed:
            out += [
                self.subgroup_dir(o),
                self.metaregression_dir(o),
                self.sensitivity_dir(o),
                self.bias(o),
                *self.figure(self.funnel(o)),
                *self.figure(self.contour_funnel(o)),
            ]
        out.append(self.rob_dir)
        return out

    def review_directories(self, outcomes: list[str], analysed: list[str]) -> list[str]:
        """The entries of :meth:`review_results` that are directories."""
        return [
            *(self.forest_pages(o) for o in outcomes),
            *(
                d
                for o in analysed
                for d in (self.subgroup_dir(o), self.metaregression_dir(o), self.sensitivity_dir(o))
            ),
            self.rob_dir,
        ]
