"""Where the CPU time of ``metareview pool many.csv --by ma_id --format csv`` goes, phase by
phase in one process (``time.process_time``: user + system CPU, steadier than wall time
on a loaded machine). Run it as a new process each time, so the import figures are real:

    python benchmarks/make_many_csv.py many.csv
    python benchmarks/pool_cli_phases.py many.csv
"""

from __future__ import annotations

import sys
import time

t0 = time.process_time()
from metareview.engine.models import import_special  # noqa: E402
from metareview.engine.pooling import Settings, pool_by_columns  # noqa: E402
from metareview.inputs.table_columns import read_pool_columns  # noqa: E402
from metareview.present.many import many_csv  # noqa: E402

t1 = time.process_time()
import_special()
t2 = time.process_time()
table = read_pool_columns(sys.argv[1], ("ai", "n1i", "ci", "n2i"), "ma_id")
assert table is not None, "the table is not plainly valid: the cell-by-cell reader would read it"
t3 = time.process_time()
fits = pool_by_columns(
    table.counts, table.codes, table.names, Settings(measure="OR", method="REML"), tau2_ci=False
)
t4 = time.process_time()
many_csv(fits)
t5 = time.process_time()
print(
    f"imports {t1 - t0:.3f} s, scipy.special {t2 - t1:.3f} s, reading and checking "
    f"{t3 - t2:.3f} s, fits {t4 - t3:.3f} s, CSV {t5 - t4:.3f} s (CPU)"
)
