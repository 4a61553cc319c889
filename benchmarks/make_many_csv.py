"""Write the study table of ``pool_many.simulate`` as a CSV for ``metareview pool --by``.

    python benchmarks/make_many_csv.py many.csv [--n 10000] [--seed 1]

Columns: ``ma_id`` (the meta-analysis, ``ma00001``...), ``study`` (``s1``... within it),
``ai, n1i, ci, n2i``. Same data as ``benchmarks/pool_many.py`` with the same ``--n``/``--seed``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pool_many import simulate  # noqa: E402


def write_csv(path: str | Path, n: int = 10_000, seed: int = 1) -> int:
    """Write the table; returns the number of study rows."""
    d = simulate(n, seed)
    group = d["group"]
    starts = np.flatnonzero(np.r_[True, np.diff(group) != 0])
    within = np.arange(group.size) - np.repeat(starts, np.diff(np.r_[starts, group.size]))
    width = len(str(n))
    lines = ["ma_id,study,ai,n1i,ci,n2i"]
    lines += [
        f"ma{g + 1:0{width}d},s{j + 1},{a},{n1},{c},{n2}"
        for g, j, a, n1, c, n2 in zip(
            group.tolist(),
            within.tolist(),
            d["ai"].tolist(),
            d["n1i"].tolist(),
            d["ci"].tolist(),
            d["n2i"].tolist(),
            strict=True,
        )
    ]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return group.size


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    rows = write_csv(a.out, a.n, a.seed)
    print(f"{a.out}: {rows} studies in {a.n} meta-analyses")


if __name__ == "__main__":
    main()
