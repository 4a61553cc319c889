"""``metareview`` command line: ``metareview pool FILE.csv [options]``.

Prints JSON (or CSV with ``--by`` and ``--format csv``); bad input goes to stderr naming
file, row and column, with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from metareview.engine import measures
from metareview.errors import AnalysisError, InputError
from metareview.inputs.revman import import_revman
from metareview.inputs.scaffold import init_review
from metareview.text import describe_character

METHODS = ("FE", "MH", "PETO", "DL", "REML", "ML", "PM", "EB", "SJ", "HE", "HS", "GLMM")


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _level(text: str) -> float:
    value = _finite(text)
    if not 50 < value < 100:
        raise argparse.ArgumentTypeError(f"{text!r}: give a percentage between 50 and 100, e.g. 95")
    return value


def _add(text: str) -> float:
    value = _finite(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the continuity correction must be >= 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="metareview", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pool", help="pool one meta-analysis (or one per group) and print JSON")
    p.add_argument(
        "file",
        help="CSV with study, ai, n1i, ci, n2i (two-arm) or study, xi, ni; for MD|SMD|ROM "
        "study, m1i, sd1i, n1i, m2i, sd2i, n2i; for MN study, mi, sdi, ni; for GEN (and HR) "
        "study, yi, sei or vi; with --scale natural study, estimate, ci_lb, ci_ub (or sei)",
    )
    p.add_argument("--measure", default="OR", choices=measures.PUBLIC)
    p.add_argument(
        "--scale",
        default=None,
        choices=("natural", "log"),
        help="OR|RR|HR given as estimate with ci_lb, ci_ub (natural; the SE of the log ratio "
        "from the CI at --level) or with sei (an SE of the log ratio); or as yi, sei|vi on "
        "the log scale (log)",
    )
    p.add_argument("--method", default="REML", choices=METHODS)
    p.add_argument("--test", default="z", choices=("z", "knha", "t"), help="t: GLMM only")
    p.add_argument("--level", type=_level, default=95.0, help="confidence level, 50 < x < 100")
    p.add_argument("--add", type=_add, default=None, help="continuity correction (metafor default)")
    p.add_argument("--to", default="only0", choices=("only0", "all", "if0all", "none"))
    p.add_argument(
        "--correction",
        default="constant",
        choices=("constant", "treatment_arm"),
        help="constant add, or the treatment-arm correction of Sweeting et al. (2004)",
    )
    p.add_argument("--drop00", dest="drop00", action="store_true", default=None)
    p.add_argument("--no-drop00", dest="drop00", action="store_false")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--subgroup", metavar="COL")
    group.add_argument("--mods", metavar="COL[,COL]")
    group.add_argument("--by", metavar="COL")
    p.add_argument("--format", default="json", choices=("json", "csv"))
    add_verify_parser(sub)
    add_prisma_parser(sub)
    add_review_parsers(sub)
    return parser


MAX_MODERATOR = 1e12
"""Largest moderator magnitude accepted (rescale a larger covariate, e.g. to thousands):
beyond it the weighted least squares of the meta-regression lose all precision."""


_MINUS_CHARS = "\u2212\u2010\u2011\u2012\u2013\u2014\ufe63\uff0d"
_MINUS_SIGNS = str.maketrans(dict.fromkeys(_MINUS_CHARS, "-"))
"""Dashes a word processor or a copied PDF puts where '-' was meant (minus sign, hyphen,
figure/en/em dash, small and full-width hyphen-minus)."""


def _moderator(path: str, row: int, column: str, text: str) -> None:
    """A moderator cell is a finite number written plainly (``12``, ``-0.5``, ``1e3``) or
    a category label; ``InputError`` for an empty cell and for text that Python would
    read as a number but a reader would not (``nan``, ``inf``, ``1_000``, ``１０``)."""
    from metareview.io import NUMBER

    if not text:
        raise InputError(
            path, row, column, f"moderator {column!r} is empty: every study needs a value"
        )
    if NUMBER.match(text):
        value = float(text)
        if not math.isfinite(value) or abs(value) > MAX_MODERATOR:
            raise InputError(
                path,
                row,
                column,
                f"moderator value {text!r} is too large: give a finite number within "
                f"±{MAX_MODERATOR:.0e} (rescale the column, e.g. to thousands)",
            )
        return
    plain = text.translate(_MINUS_SIGNS)
    if plain != text and NUMBER.match(plain):
        sign = next(c for c in text if c in _MINUS_CHARS)
        raise InputError(
            path,
            row,
            column,
            f"moderator value {text!r} has the sign {describe_character(sign)}, not the "
            f"ASCII '-': it would read as a category label and make {column!r} categorical; "
            f"type {plain!r}",
        )
    try:
        float(text)
    except ValueError:
        return  # a category label: the column is a factor
    raise InputError(
        path,
        row,
        column,
        f"moderator value {text!r} is not a finite number written with the digits 0-9 "
        "(no 'nan', 'inf', '_' or other digits), nor a category label",
    )


# the numeric columns of each row layout (pooling.layout): required, optional, whole counts
LAYOUT_COLUMNS = {
    "continuous": (("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"), (), ("n1i", "n2i")),
    "mean": (("mi", "sdi", "ni"), (), ("ni",)),
    "generic": (("yi",), ("sei", "vi"), ()),
    "natural": (("estimate",), ("ci_lb", "ci_ub", "sei"), ()),
}


def _numbers(path: str, r, lay: str, measure: str) -> dict:
    """The numeric cells of one row of a continuous or generic layout, checked."""
    from metareview.engine.effects_continuous import invalid_cells
    from metareview.inputs.tables import check_count, check_number

    required, optional, whole = LAYOUT_COLUMNS[lay]
    out = {}
    for col in required:
        out[col] = (check_count if col in whole else check_number)(path, r.row, col, r[col])
    for col in optional:
        if r.get(col, ""):
            out[col] = check_number(path, r.row, col, r[col])
    if lay == "generic":
        if "sei" in out and "vi" in out:
            raise InputError(path, r.row, "vi", "give sei or vi, not both")
        if "sei" not in out and "vi" not in out:
            raise InputError(path, r.row, "sei", "sei (or vi) is empty")
    if lay == "natural":
        has_ci = [c for c in ("ci_lb", "ci_ub") if c in out]
        if has_ci and "sei" in out:
            raise InputError(path, r.row, "sei", "give the CI (ci_lb, ci_ub) or sei, not both")
        if len(has_ci) == 1:
            missing = "ci_ub" if has_ci == ["ci_lb"] else "ci_lb"
            raise InputError(path, r.row, missing, f"{missing} is empty (the CI needs both)")
        if not has_ci and "sei" not in out:
            raise InputError(path, r.row, "ci_lb", "ci_lb and ci_ub (or sei) are empty")
    for col, message in invalid_cells(lay, out, measure):
        raise InputError(path, r.row, col, message)
    return out


def read_rows(
    path: str,
    measure: str,
    extra: list[str],
    mods: list[str] | tuple[str, ...] = (),
    by: str | None = None,
    scale: str | None = None,
) -> list[dict]:
    """Read and check the study table; counts become numbers, other columns stay text
    (``mods`` columns are checked cell by cell: finite numbers or category labels).
    Study names are unique within each ``by`` group (one meta-analysis)."""
    from metareview.engine.pooling import Settings, layout
    from metareview.inputs.tables import check_count, read_csv_table

    lay = layout(Settings(measure=measure, scale=scale))
    numeric = lay in LAYOUT_COLUMNS
    if numeric:
        counts, optional = LAYOUT_COLUMNS[lay][:2]
    else:
        counts, optional = measures.get(measure).columns, ()
    covariates = tuple(c for c in dict.fromkeys([*extra, *mods]) if c not in optional)
    table = read_csv_table(path, ("study",) + counts + covariates)  # keeps other columns
    if optional and not set(optional) & set(table.columns):
        raise InputError(
            path,
            table.header_row,
            None,
            f"measure {measure} needs column {' or '.join(optional[:2])} beside "
            f"{', '.join(counts)} (no such column in the header)",
        )
    rows, seen = [], {}
    for r in table:
        row = dict(r)
        if not row["study"]:
            raise InputError(path, r.row, "study", "study is empty")
        if by and not row[by]:
            raise InputError(
                path,
                r.row,
                by,
                f"the --by column {by!r} is empty: every study needs the group it is pooled in",
            )
        # study names compared ignoring case ('Smith 2020' and 'smith 2020' are one study)
        key = (row.get(by), row["study"].casefold()) if by else row["study"].casefold()
        if key in seen:
            within = f" in {by} {row.get(by)!r}" if by else ""
            raise InputError(
                path,
                r.row,
                "study",
                f"duplicate study {row['study']!r}{within} (also in row {seen[key]})",
            )
        seen[key] = r.row
        if numeric:
            for col in optional:
                row.pop(col, None)
            row.update(_numbers(path, r, lay, measure))
            for col in mods:
                _moderator(path, r.row, col, r[col])
            rows.append(row)
            continue
        for col in counts:
            row[col] = check_count(path, r.row, col, row[col])
        for ev, tot in zip(counts[::2], counts[1::2], strict=True):  # events, total per arm
            if row[ev] > row[tot]:
                raise InputError(path, r.row, ev, f"{ev} ({row[ev]}) > {tot} ({row[tot]})")
            if row[tot] == 0:
                raise InputError(path, r.row, tot, f"{tot} is 0")
        for col in mods:
            _moderator(path, r.row, col, r[col])
        rows.append(row)
    if not rows:
        raise InputError(path, None, None, "the table has no study rows")
    return rows


def run_pool(args) -> str:
    import numpy as np

    from metareview.engine.pooling import (
        Settings,
        describe_layout,
        layout,
        pool,
        pool_by,
        pool_mods,
        pool_subgroups,
    )

    mods = [m.strip() for m in args.mods.split(",") if m.strip()] if args.mods else []
    if args.mods is not None and not mods:
        raise InputError(None, None, None, f"--mods {args.mods!r} names no column")
    for m in mods:
        if mods.count(m) > 1:
            raise InputError(
                args.file, None, m, f"--mods names column {m!r} twice (collinear with itself)"
            )
    settings = Settings(
        measure=args.measure,
        method=args.method,
        test=args.test,
        level=args.level,
        add=args.add,
        to=args.to,
        drop00=args.drop00,
        correction=args.correction,
        scale=args.scale,
    )
    settings.check()
    if layout(settings) not in ("two_arm", "single_arm"):
        given = [
            flag
            for flag, value in (
                ("--add", args.add),
                ("--to", None if args.to == "only0" else args.to),
                ("--drop00/--no-drop00", args.drop00),
                ("--correction", None if args.correction == "constant" else args.correction),
            )
            if value is not None
        ]
        if given:
            raise InputError(
                None,
                None,
                None,
                f"{', '.join(given)}: zero-cell corrections apply to event counts; "
                f"{describe_layout(settings)} has none",
            )
    if args.by and layout(settings) in ("two_arm", "single_arm"):
        return run_pool_by(args, settings)
    extra = [c for c in (args.subgroup, args.by) if c]
    rows = read_rows(args.file, args.measure, extra, mods, by=args.by, scale=args.scale)
    if args.by:  # continuous and generic layouts: one group at a time
        from metareview.present.many import dicts_csv

        fits = pool_by(rows, settings, args.by)
        if args.format == "csv":
            return dicts_csv(fits)
        return json.dumps(fits, indent=2, sort_keys=True) + "\n"
    if args.subgroup or mods:
        columns = [args.subgroup] if args.subgroup else mods
        _check_levels(args.file, rows, columns, by_level=bool(args.subgroup))
        try:
            if args.subgroup:
                result = pool_subgroups(rows, settings, args.subgroup)
            else:
                result = pool_mods(rows, settings, mods)
        except (AnalysisError, np.linalg.LinAlgError) as exc:
            # the analysis of these columns failed: say which file and columns
            what = f"subgroups by {args.subgroup!r}" if args.subgroup else "meta-regression"
            why = str(exc) if isinstance(exc, AnalysisError) else f"singular model ({exc})"
            message = why if why.startswith(what) else f"{what}: {why}"
            raise InputError(args.file, None, ",".join(columns), message) from None
    else:
        result = pool(rows, settings, what=args.file).to_dict()
    return json.dumps(result, indent=2, sort_keys=True) + "\n"


def run_pool_by(args, settings) -> str:
    """``pool --by``: the table read column-wise, every group fitted in one vectorised pass
    (Mantel-Haenszel and Peto one group at a time), the output written from arrays."""
    from metareview.engine.pooling import pool_by, pool_by_columns
    from metareview.inputs.table_columns import columns_from_rows, read_pool_columns
    from metareview.present.many import dicts_csv, many_csv, many_json

    counts = ("ai", "n1i", "ci", "n2i") if args.measure in ("OR", "RR", "RD") else ("xi", "ni")
    two_by_two = settings.method in ("MH", "PETO")
    table = None if two_by_two else read_pool_columns(args.file, counts, args.by)
    if table is None:
        # not plainly valid: the cell-by-cell reader names the first problem
        rows = read_rows(args.file, args.measure, [args.by], by=args.by)
        if two_by_two:
            fits = pool_by(rows, settings, args.by)
            if args.format == "csv":
                return dicts_csv(fits)
            return json.dumps(fits, indent=2, sort_keys=True) + "\n"
        table = columns_from_rows(rows, counts, args.by)
    many = pool_by_columns(
        table.counts, table.codes, table.names, settings, tau2_ci=args.format == "json"
    )
    return many_csv(many) if args.format == "csv" else many_json(many)


def _check_levels(path: str, rows: list[dict], columns: list[str], by_level: bool) -> None:
    """A subgroup column needs a level with two or more studies; a moderator must vary."""
    for col in columns:
        values = [str(r[col]) for r in rows]
        levels = set(values)
        if by_level and len(levels) == len(values):
            raise InputError(
                path,
                None,
                col,
                f"every level of {col!r} has a single study ({len(values)} studies, "
                f"{len(levels)} levels): nothing to pool within a subgroup",
            )
        if not by_level and len(levels) == 1:
            raise InputError(
                path,
                None,
                col,
                f"moderator {col!r} has the same value ({values[0]!r}) in every study: "
                "its effect cannot be told from the intercept",
            )


def add_verify_parser(sub) -> None:
    p = sub.add_parser(
        "verify",
        help="re-hash a review's inputs and outputs against its manifest.json (exit 1 on a "
        "mismatch, a missing file or a refused path: absolute, '..', outside the review, "
        "a symbolic link, not a regular file)",
    )
    p.add_argument(
        "review_dir", help="results/<review>, the folder holding manifest.json (or the file)"
    )
    p.add_argument(
        "--root",
        default=".",
        help="the repository the pipeline ran in (manifest paths are relative to it)",
    )


def run_verify(args) -> int:
    from metareview.manifest import verify

    try:
        result = verify(args.review_dir, args.root)
    except FileNotFoundError as exc:
        raise InputError(
            str(exc.filename), None, None, "no such file (run the pipeline first)"
        ) from None
    for rel in result.mismatched:
        print(f"MISMATCH {rel}: sha256 differs from the manifest", file=sys.stderr)
    for rel in result.missing:
        print(f"MISSING  {rel}: listed in the manifest, not on disk", file=sys.stderr)
    for item in result.refused:
        print(f"REFUSED  {item['path']}: {item['reason']}", file=sys.stderr)
    for rel in result.untracked:
        print(f"note: {rel} is not in the manifest", file=sys.stderr)
    sys.stdout.write(json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n")
    return 0 if result.ok else 1


def add_prisma_parser(sub) -> None:
    p = sub.add_parser(
        "prisma",
        help="PRISMA 2020 counts of a screening export (generic, Covidence, Rayyan, ASReview)",
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="the screening export(s) of one review: a generic screening.csv, Covidence's "
        "per-list exports, Rayyan's title/abstract and full-text exports, an ASReview "
        "export (CSV or XLSX), plus optionally a full-text overlay file (record_id, "
        "full_text, exclusion_reason, study_id)",
    )
    p.add_argument(
        "--protocol",
        metavar="PROTOCOL.yaml",
        help="a review protocol whose screening block (format, sources, not-retrieved "
        "reasons/label, unlabelled) and search block (records identified, duplicates "
        "removed) apply",
    )
    p.add_argument(
        "--format", default="auto", choices=("auto", "generic", "covidence", "rayyan", "asreview")
    )
    p.add_argument(
        "--on-inconsistency",
        default="error",
        choices=("error", "warn"),
        help="records whose decisions do not add up: fail (exit 2) or warn and count them",
    )
    p.add_argument(
        "--dedup",
        default="auto",
        choices=("auto", "always", "never"),
        help="duplicate detection by DOI, then title + year (auto: when the export has not)",
    )


def run_prisma(args) -> str:
    from metareview.inputs.protocol import load_protocol
    from metareview.inputs.screening.summary import (
        OPTION_KEYS,
        screening_settings,
        search_settings,
        summarise,
    )

    settings, search, where = screening_settings(None), None, (None, "screening.search_results")
    if args.protocol:
        protocol = load_protocol(args.protocol)
        settings, search = screening_settings(protocol), search_settings(protocol)
        block = "search" if protocol.get("search") else "screening.search_results"
        where = (args.protocol, block)
    fmt = args.format if args.format != "auto" else settings["format"]
    _table, counts, warnings = summarise(
        args.files,
        format=fmt,
        on_inconsistency=args.on_inconsistency,
        dedup=args.dedup,
        sources=settings["sources"],
        where=where,
        options={k: settings[k] for k in OPTION_KEYS},
        search=search,
    )
    for w in warnings:
        print(f"metareview: warning: {w}", file=sys.stderr)
    counts["warnings"] = [w.to_dict() for w in warnings]
    return json.dumps(counts, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def add_review_parsers(sub) -> None:
    """``metareview init <review-id>`` and ``metareview import revman FILE.rm5 --review ID``."""
    p = sub.add_parser(
        "init",
        help="start a review: config/reviews/<id>.yaml, data/raw/<id>/ (table headers, "
        "README) and its entry in config/config.yaml; never overwrites",
    )
    p.add_argument("review_id", help="letters, digits, '_' and '-' (names files)")
    p.add_argument(
        "--rob-tool",
        default="rob2",
        help="risk-of-bias tool whose columns studies.csv gets (rob2, robins_i, a template "
        "path, or 'none')",
    )
    p.add_argument("--root", default=".", help="the repository (default: here)")
    p = sub.add_parser("import", help="import a review from another tool's file")
    p.add_argument("source", choices=("revman",), help="the file's tool: revman (RevMan 5 .rm5)")
    p.add_argument("file", help="the RevMan 5 review file (.rm5)")
    p.add_argument("--review", required=True, help="the new review's id")
    p.add_argument("--root", default=".", help="the repository (default: here)")


def run_review_command(args) -> str:
    if args.command == "init":
        tool = None if args.rob_tool.lower() == "none" else args.rob_tool
        written = init_review(args.review_id, args.root, rob_tool=tool)
        what = f"review {args.review_id!r} started"
    else:
        written = import_revman(args.file, args.review, args.root)
        what = f"review {args.review!r} imported from {args.file}"
    lines = [f"metareview: {what}; wrote:", *(f"  {p}" for p in written)]
    lines.append("next: fill data/raw/<review>/ (see its README.md), then snakemake --cores 4")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "pool":
            sys.stdout.write(run_pool(args))
        elif args.command == "verify":
            return run_verify(args)
        elif args.command == "prisma":
            sys.stdout.write(run_prisma(args))
        elif args.command in ("init", "import"):
            sys.stdout.write(run_review_command(args))
    except (InputError, AnalysisError) as exc:
        print(f"metareview: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
