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
TWO_ARM_CONTINUOUS = "two_arm_continuous"
SINGLE_ARM_CONTINUOUS = "single_arm_continuous"
#: generic inverse variance: one estimate with its SE (or CI) per study, comparing two arms
GENERIC = "generic"

#: columns that hold whole numbers of patients (everything else a measure reads is a float)
COUNT_COLUMNS = ("ai", "ci", "xi", "n1i", "n2i", "ni")
#: the per-outcome table's columns of a generic inverse-variance outcome (analysis scale)
GENERIC_COLUMNS = ("yi", "sei")
#: extraction.csv's columns of a generic inverse-variance row (reporting scale)
GENERIC_EXTRACTION = ("estimate", "se", "ci_lb", "ci_ub", "level", "adjusted")

#: pooling methods that take the 2x2 tables themselves rather than yi/vi
TABLE_METHODS = ("MH", "PETO")
#: pooling methods that fit a likelihood to the counts themselves (metafor's ``rma.glmm``)
GLMM_METHODS = ("GLMM",)


@dataclass(frozen=True)
class Measure:
    code: str
    #: what the data are: ``two_arm_binary`` (2x2 tables), ``single_arm_binary`` (events
    #: out of totals), ``two_arm_continuous`` (mean, SD, n per arm), ``single_arm_continuous``
    #: (one arm's mean, SD, n), ``generic`` (an estimate with its SE or CI per study)
    kind: str
    #: the columns ``metareview pool`` reads and the per-outcome table holds (metafor's names)
    columns: tuple[str, ...]
    #: the per-arm columns of extraction.csv (per study for ``generic``)
    extraction: tuple[str, ...]
    #: analysis scale: ``log``, ``identity``, ``logit``, ``arcsine``, ``freeman_tukey``
    scale: str
    #: axis of the figures: ``ratio`` (log axis, null at 1), ``difference`` (null at 0),
    #: ``proportion`` or ``mean`` (no null)
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
    #: a ratio that may be given as a generic inverse-variance estimate on the natural scale
    #: with its CI (``metareview pool --scale natural``; an extraction row's ``estimate``)
    natural: bool = False

    @property
    def arms(self) -> int:
        """How many arms the measure compares (a generic estimate compares two)."""
        return 2 if self.kind.startswith("two_arm") or self.kind == GENERIC else 1

    @property
    def binary(self) -> bool:
        return self.kind in (TWO_ARM_BINARY, SINGLE_ARM_BINARY)

    @property
    def continuous(self) -> bool:
        return self.kind in (TWO_ARM_CONTINUOUS, SINGLE_ARM_CONTINUOUS)

    @property
    def generic(self) -> bool:
        return self.kind == GENERIC

    @property
    def two_arm(self) -> bool:
        return self.arms == 2

    @property
    def ratio(self) -> bool:
        return self.axis == "ratio"

    @property
    def null(self) -> float | None:
        """The no-effect value on the analysis scale (None for proportions)."""
        return None if self.axis in ("proportion", "mean") else 0.0


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

_CONTINUOUS = (
    TWO_ARM_CONTINUOUS,
    ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
    ("mean", "sd", "total"),
)
_GENERIC = (GENERIC, GENERIC_COLUMNS, GENERIC_EXTRACTION)

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
            table_methods=("MH", "PETO", "GLMM"),
            reported_range=(0, None, "an odds ratio is greater than 0"),
            natural=True,
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
            natural=True,
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
        Measure(
            "MD",
            *_CONTINUOUS,
            "identity",
            "difference",
            "Mean difference",
            "mean differences",
            "mean difference",
            default_add=0.0,
        ),
        Measure(
            "SMD",
            *_CONTINUOUS,
            "identity",
            "difference",
            "Standardised mean difference",
            "standardised mean differences (Hedges' g)",
            "standardised mean difference",
            default_add=0.0,
        ),
        Measure(
            "ROM",
            *_CONTINUOUS,
            "log",
            "ratio",
            "Ratio of means",
            "ratios of means",
            "log ratio of means",
            default_add=0.0,
            reported_range=(0, None, "a ratio of means is greater than 0"),
        ),
        Measure(
            "MN",
            SINGLE_ARM_CONTINUOUS,
            ("mi", "sdi", "ni"),
            ("mean", "sd", "total"),
            "identity",
            "mean",
            "Mean",
            "means",
            "mean",
            default_add=0.0,
        ),
        Measure(
            "HR",
            *_GENERIC,
            "log",
            "ratio",
            "Hazard ratio",
            "hazard ratios",
            "log hazard ratio",
            default_add=0.0,
            reported_range=(0, None, "a hazard ratio is greater than 0"),
            natural=True,
        ),
        Measure(
            "GEN",
            *_GENERIC,
            "identity",
            "difference",
            "Effect estimate",
            "effect estimates (generic inverse variance)",
            "effect estimate",
            default_add=0.0,
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
    """Whether ``code`` is computed from two arms' event counts (a 2x2 table)."""
    m = find(code)
    return bool(m and m.kind == TWO_ARM_BINARY)


def compares_arms(code: str) -> bool:
    """Whether ``code`` compares two arms (2x2 tables, two arms' means, generic estimates)."""
    m = find(code)
    return bool(m and m.two_arm)


def natural_ratios() -> tuple[str, ...]:
    """The ratios that may be given on the natural scale with their CI (OR, RR, HR)."""
    return tuple(c for c in PUBLIC if MEASURES[c].natural)


def is_ratio(code: str) -> bool:
    m = find(code)
    return bool(m and m.ratio)


def default_add(code: str) -> float:
    """metafor's default ``add`` of ``escalc``: 0 for the variance-stabilised PAS and PFT,
    else 1/2."""
    return get(code).default_add


def default_drop00(method: str) -> bool:
    """metafor's default ``drop00``: TRUE for ``rma.mh``, ``rma.peto`` and ``rma.glmm``,
    else FALSE."""
    return method in TABLE_METHODS + GLMM_METHODS


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
