"""The measure registry: everything the project knows about an effect measure, in one record.

Every layer asks this module, never a list of its own: which table columns a measure reads
(metafor's ``escalc`` names), how many arms it compares, its analysis scale and the
back-transformation to the reporting scale, metafor's default zero-cell ``add``, which
pooling methods accept it, the range a published value can take, and how figures and prose
name it. Adding a measure is one :class:`Measure` record here plus its effect-size formula
(``engine.effects``) and, where new, its back-transformation (``engine.transforms``).

Standard library only: the Snakefile and the protocol reader import it.
"""

from __future__ import annotations

from dataclasses import dataclass

#: kinds of data a measure is computed from
TWO_ARM_BINARY = "two_arm_binary"
SINGLE_ARM_BINARY = "single_arm_binary"

#: pooling methods that take the 2x2 tables themselves rather than yi/vi
TABLE_METHODS = ("MH", "PETO")
#: pooling methods that fit a likelihood to the counts themselves (metafor's ``rma.glmm``)
GLMM_METHODS = ("GLMM",)


@dataclass(frozen=True)
class Measure:
    code: str
    #: what the data are: ``two_arm_binary`` (2x2 tables), ``single_arm_binary`` (events
    #: out of totals)
    kind: str
    #: the columns ``metareview pool`` reads and the per-outcome table holds (metafor's names)
    columns: tuple[str, ...]
    #: the per-arm columns of extraction.csv
    extraction: tuple[str, ...]
    #: analysis scale: ``log``, ``identity``, ``logit``, ``arcsine``, ``freeman_tukey``
    scale: str
    #: axis of the figures: ``ratio`` (log axis, null at 1), ``difference`` (null at 0),
    #: ``proportion`` (no null)
    axis: str
    #: the figures' axis title
    label: str
    #: plural, as the methods paragraph names the measure
    plural: str
    #: the study-level effect Q and I2 are computed from (the analysis scale)
    effect: str
    #: metafor's default continuity correction (``escalc``'s ``add``)
    default_add: float = 0.5
    #: pooling methods other than inverse variance that accept the measure
    table_methods: tuple[str, ...] = ()
    #: (lowest, highest, how to say it) of a published value on the reporting scale;
    #: a ratio's lowest bound is exclusive
    reported_range: tuple[float | None, float | None, str] = (None, None, "")
    #: selectable in a protocol and on the command line (PETO is the Peto model's own)
    public: bool = True

    @property
    def arms(self) -> int:
        return 2 if self.kind.startswith("two_arm") else 1

    @property
    def two_arm(self) -> bool:
        return self.arms == 2

    @property
    def ratio(self) -> bool:
        return self.axis == "ratio"

    @property
    def null(self) -> float | None:
        """The no-effect value on the analysis scale (None for proportions)."""
        return None if self.axis == "proportion" else 0.0


_PROPORTION = (0, 1, "a proportion lies between 0 and 1")


def _single_arm(
    code: str,
    scale: str,
    plural: str,
    effect: str,
    add: float = 0.5,
    table_methods: tuple[str, ...] = (),
) -> Measure:
    return Measure(
        code,
        SINGLE_ARM_BINARY,
        ("xi", "ni"),
        ("events", "total"),
        scale,
        "proportion",
        "Proportion",
        plural,
        effect,
        default_add=add,
        table_methods=table_methods,
        reported_range=_PROPORTION,
    )


_TWO_ARM = (TWO_ARM_BINARY, ("ai", "n1i", "ci", "n2i"), ("events", "total"))

MEASURES: dict[str, Measure] = {
    m.code: m
    for m in (
        Measure(
            "OR",
            *_TWO_ARM,
            "log",
            "ratio",
            "Odds ratio",
            "odds ratios",
            "log odds ratio",
            table_methods=("MH", "PETO"),
            reported_range=(0, None, "an odds ratio is greater than 0"),
        ),
        Measure(
            "RR",
            *_TWO_ARM,
            "log",
            "ratio",
            "Risk ratio",
            "risk ratios",
            "log risk ratio",
            table_methods=("MH",),
            reported_range=(0, None, "a risk ratio is greater than 0"),
        ),
        Measure(
            "RD",
            *_TWO_ARM,
            "identity",
            "difference",
            "Risk difference",
            "risk differences",
            "risk difference",
            table_methods=("MH",),
            reported_range=(-1, 1, "a risk difference lies between -1 and 1"),
        ),
        Measure(
            "PETO",
            *_TWO_ARM,
            "log",
            "ratio",
            "Peto odds ratio",
            "Peto odds ratios",
            "log odds ratio",
            reported_range=(0, None, "an odds ratio is greater than 0"),
            public=False,
        ),
        _single_arm("PR", "identity", "proportions", "proportion"),
        _single_arm("PLN", "log", "log-transformed proportions", "log proportion"),
        _single_arm(
            "PLO",
            "logit",
            "logit-transformed proportions",
            "logit proportion",
            table_methods=("GLMM",),
        ),
        _single_arm(
            "PAS", "arcsine", "arcsine-transformed proportions", "arcsine proportion", add=0.0
        ),
        _single_arm(
            "PFT",
            "freeman_tukey",
            "Freeman-Tukey-transformed proportions",
            "Freeman-Tukey proportion",
            add=0.0,
        ),
    )
}

#: the measures a protocol or the command line may name, in registry order
PUBLIC = tuple(code for code, m in MEASURES.items() if m.public)


def get(code: str) -> Measure:
    """The record of ``code``; ``KeyError`` naming the known measures otherwise."""
    try:
        return MEASURES[code]
    except KeyError:
        raise KeyError(f"unknown measure {code!r}; known: {', '.join(PUBLIC)}") from None


def find(code: object) -> Measure | None:
    """The record of ``code`` (any case), or None for a measure the registry does not know."""
    return MEASURES.get(str(code or "").upper())


def codes(kind: str | None = None, *, public: bool = True) -> tuple[str, ...]:
    """Measure codes, optionally of one kind (``two_arm_binary``, ...)."""
    return tuple(
        code
        for code, m in MEASURES.items()
        if (kind is None or m.kind == kind) and (m.public or not public)
    )


def is_two_arm(code: str) -> bool:
    m = find(code)
    return bool(m and m.two_arm)


def is_ratio(code: str) -> bool:
    m = find(code)
    return bool(m and m.ratio)


def default_add(code: str) -> float:
    """metafor's default ``add`` of ``escalc``: 0 for the variance-stabilised PAS and PFT,
    else 1/2."""
    return get(code).default_add


def default_drop00(method: str) -> bool:
    """metafor's default ``drop00``: TRUE for ``rma.mh`` and ``rma.peto``, else FALSE."""
    return method in TABLE_METHODS


def accepts(method: str, code: str) -> bool:
    """Whether pooling ``method`` accepts ``code`` (inverse-variance methods take all)."""
    if method not in TABLE_METHODS + GLMM_METHODS:
        return True
    m = find(code)
    return bool(m and method in m.table_methods)


def methods_accepting(method: str) -> tuple[str, ...]:
    """The public measures a table method (MH, PETO) or GLMM accepts."""
    return tuple(c for c in PUBLIC if method in MEASURES[c].table_methods)


def tests_for(method: str) -> tuple[str, ...]:
    """The tests a pooling method offers: z only for MH and Peto, z or t for ``rma.glmm``,
    z or knha (Knapp-Hartung) for the inverse-variance models."""
    if method in TABLE_METHODS:
        return ("z",)
    if method in GLMM_METHODS:
        return ("z", "t")
    return ("z", "knha")
