"""``metareview`` command line: ``metareview pool FILE.csv [options]``.

Prints JSON (or CSV with ``--by`` and ``--format csv``); bad input goes to stderr naming
file, row and column, with exit code 2.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys

from .errors import AnalysisError, InputError

MEASURES = ("OR", "RR", "RD", "PR", "PLN", "PLO", "PAS", "PFT")
METHODS = ("FE", "MH", "PETO", "DL", "REML", "ML", "PM", "EB", "SJ", "HE", "HS")
CSV_FIELDS = (
    "group",
    "k",
    "estimate",
    "se",
    "ci_lb",
    "ci_ub",
    "pi_lb",
    "pi_ub",
    "tau2",
    "i2",
    "h2",
    "q",
    "q_pval",
    "stat",
    "pval",
    "error",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="metareview", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pool", help="pool one meta-analysis (or one per group) and print JSON")
    p.add_argument("file", help="CSV with study, ai, n1i, ci, n2i (two-arm) or study, xi, ni")
    p.add_argument("--measure", default="OR", choices=MEASURES)
    p.add_argument("--method", default="REML", choices=METHODS)
    p.add_argument("--test", default="z", choices=("z", "knha"))
    p.add_argument("--level", type=float, default=95.0)
    p.add_argument(
        "--add", type=float, default=None, help="continuity correction (metafor default)"
    )
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
    return parser


def read_rows(path: str, measure: str, extra: list[str]) -> list[dict]:
    """Read and check the study table; counts become numbers, other columns stay text."""
    from .tables import check_count, read_csv_table

    two_arm = measure in ("OR", "RR", "RD")
    counts = ("ai", "n1i", "ci", "n2i") if two_arm else ("xi", "ni")
    table = read_csv_table(path, ("study",) + counts + tuple(extra))
    rows, seen = [], {}
    for r in table:
        row = dict(r)
        if not row["study"]:
            raise InputError(path, r.row, "study", "study is empty")
        if row["study"] in seen:
            raise InputError(
                path,
                r.row,
                "study",
                f"duplicate study {row['study']!r} (also in row {seen[row['study']]})",
            )
        seen[row["study"]] = r.row
        for col in counts:
            row[col] = check_count(path, r.row, col, row[col])
        pairs = (("ai", "n1i"), ("ci", "n2i")) if two_arm else (("xi", "ni"),)
        for ev, tot in pairs:
            if row[ev] > row[tot]:
                raise InputError(path, r.row, ev, f"{ev} ({row[ev]}) > {tot} ({row[tot]})")
            if row[tot] == 0:
                raise InputError(path, r.row, tot, f"{tot} is 0")
        rows.append(row)
    if not rows:
        raise InputError(path, None, None, "the table has no study rows")
    return rows


def run_pool(args) -> str:
    from .pooling import Settings, pool, pool_by, pool_mods, pool_subgroups

    mods = [m.strip() for m in args.mods.split(",") if m.strip()] if args.mods else []
    extra = [c for c in (args.subgroup, args.by) if c] + mods
    rows = read_rows(args.file, args.measure, extra)
    settings = Settings(
        measure=args.measure,
        method=args.method,
        test=args.test,
        level=args.level,
        add=args.add,
        to=args.to,
        drop00=args.drop00,
        correction=args.correction,
    )
    if args.by:
        fits = pool_by(rows, settings, args.by)
        if args.format == "csv":
            buf = io.StringIO()
            writer = csv.DictWriter(
                buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n"
            )
            writer.writeheader()
            for f in fits:
                writer.writerow({k: ("" if f.get(k) is None else f.get(k)) for k in CSV_FIELDS})
            return buf.getvalue()
        return json.dumps(fits, indent=2, sort_keys=True) + "\n"
    if args.subgroup:
        result = pool_subgroups(rows, settings, args.subgroup)
    elif mods:
        result = pool_mods(rows, settings, mods)
    else:
        result = pool(rows, settings, what=args.file).to_dict()
    return json.dumps(result, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "pool":
            sys.stdout.write(run_pool(args))
    except (InputError, AnalysisError) as exc:
        print(f"metareview: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
