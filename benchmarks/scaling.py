"""Benchmark: the file path scales linearly in rows with flat memory (1M, 10M, 50M customers).

For each size, the whole readout aggregation of ``engines_10m.py`` (metrics: one DuckDB query
over the Parquet file; CLV: two life-table queries; then the closed-form estimators) runs in a
fresh process, so each peak RSS (``resource.getrusage``) is that size's own. Prints time, rows
per second, peak memory, and the time ratio to the smallest size next to the row ratio.

The 1M and 10M files are simulated (uplift.simulate, chunk by chunk); the 50M file is the 10M
file written 5 times by DuckDB with distinct customer ids (simulating 50M would take ~8 minutes
and the statistics do not matter for a timing).

Run (not part of the test suite; needs ~1.2 GB of disk in --dir for 50M):

    .venv/bin/python benchmarks/scaling.py                    # 1M, 10M, 50M
    .venv/bin/python benchmarks/scaling.py --sizes 1000000 10000000 20000000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engines_10m import data_file, run_child  # noqa: E402


def replicated_file(n: int, folder: str, base: int = 10_000_000) -> Path:
    """``n`` rows (a multiple of ``base``): the ``base``-row file repeated with shifted ids, by DuckDB."""
    import duckdb

    p = Path(folder) / f"outcomes_{n}.parquet"
    if p.exists():
        return p
    src = data_file(base, folder)
    k = n // base
    if k * base != n:
        raise SystemExit(f"--sizes above {base:,} must be multiples of {base:,}")
    t0 = time.perf_counter()
    tmp = p.with_suffix(".tmp")
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    parts = " UNION ALL ".join(
        f"SELECT * REPLACE (customer_id + {i * base} AS customer_id) FROM read_parquet($src)" for i in range(k))
    con.execute(f"COPY ({parts}) TO '{tmp}' (FORMAT parquet, ROW_GROUP_SIZE 1048576)", {"src": str(src)})
    con.close()
    os.replace(tmp, p)
    print(f"wrote {p} ({p.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.1f} s", flush=True)
    return p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000, 50_000_000])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--dir", default="/tmp/uplift-bench")
    args = ap.parse_args()
    rows = []
    for n in args.sizes:
        path = data_file(n, args.dir) if n <= 10_000_000 else replicated_file(n, args.dir)
        r = run_child("uplift", path, args.repeat, None)
        rows.append((n, r))
        print(f"{n:>12,} rows: {r['total_s']:6.2f} s (metrics {r['metrics_s']:.2f}, CLV {r['clv_s']:.2f}); "
              f"{n / r['total_s'] / 1e6:6.1f} M rows/s; peak RSS {r['peak_rss_gib']:.2f} GiB", flush=True)
    n0, r0 = rows[0]
    print("size ratio -> time ratio, peak memory ratio (vs the smallest size):")
    for n, r in rows:
        print(f"  x{n / n0:5.1f} rows -> x{r['total_s'] / r0['total_s']:5.2f} time, "
              f"x{r['peak_rss_gib'] / r0['peak_rss_gib']:4.2f} memory")


if __name__ == "__main__":
    main()
