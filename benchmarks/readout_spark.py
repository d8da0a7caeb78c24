"""Benchmark: the readout's analysis on Spark (local mode) against the embedded DuckDB, 10,000,000 rows.

Run manually (not part of the test suite; needs the ``spark`` extra and Java 17)::

    .venv/bin/python benchmarks/readout_spark.py                 # 10M rows
    .venv/bin/python benchmarks/readout_spark.py --n 200000      # a quick look

The toolkit has no Spark engine of its own and no ``--engine spark``: a Spark table goes through Ibis's
PySpark backend, from Python, as the README says (``uplift.analyse(spec, spark_df)``). This script does
what such a user does: the same data and spec as ``readout_vs_tea.py`` (3 arms, a proportion, a CUPED
mean, a ratio, the sample-ratio check; the Parquet file is cached in ``--dir``), then

* DuckDB: ``analyse(spec, path)`` (the file through the embedded DuckDB, as ``uplift readout`` runs it);
* Spark: a local session (``local[N]``, all cores), then ``analyse(spec, spark.read.parquet(path))``;

both in this process, after their imports, and compares the two results.json trees number by number
(largest relative difference; everything but the engine's name and the source's description). The
machine is shared and noisy: absolute times are indications.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from readout_vs_tea import SPEC, data_file  # noqa: E402 - the same data and spec as the side-by-side run

SKIP = {"engine", "source", "description", "provenance", "manifest"}


def largest_difference(a: Any, b: Any, path: str = "") -> tuple[float, str]:
    """(largest relative difference of the numbers, where), walking two results.json trees; a structural
    difference (keys, lengths, texts) raises."""
    if isinstance(b, dict):
        if set(a) - SKIP != set(b) - SKIP:
            raise AssertionError(f"{path}: keys differ: {sorted(set(a) ^ set(b))}")
        worst = (0.0, path)
        for k in b:
            if k not in SKIP:
                worst = max(worst, largest_difference(a[k], b[k], f"{path}/{k}"))
        return worst
    if isinstance(b, (list, tuple)):
        if len(a) != len(b):
            raise AssertionError(f"{path}: lengths differ")
        worst = (0.0, path)
        for i, (u, v) in enumerate(zip(a, b)):
            worst = max(worst, largest_difference(u, v, f"{path}[{i}]"))
        return worst
    if isinstance(b, float) and not isinstance(b, bool):
        if math.isnan(b) and math.isnan(a):
            return 0.0, path
        return (abs(a - b) / max(abs(b), 1e-12) if abs(a - b) > 1e-12 else 0.0), path
    if a != b:
        raise AssertionError(f"{path}: {a!r} != {b!r}")
    return 0.0, path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "uplift-bench"))
    ap.add_argument("--driver-memory", default="2g")
    args = ap.parse_args()
    path = data_file(args.n, Path(args.dir))
    work = Path(tempfile.mkdtemp(prefix="uplift-bench-"))
    spec_path = work / "spec.toml"
    spec_path.write_text(SPEC, encoding="utf-8")

    t0 = time.perf_counter()
    import ibis  # noqa: F401
    import scipy.stats  # noqa: F401

    from uplift.readout.analysis import analyse
    from uplift.spec import load_spec

    spec = load_spec(spec_path)
    t1 = time.perf_counter()
    duck = analyse(spec, path).to_results()
    t2 = time.perf_counter()
    duck_s = t2 - t1
    print(f"{args.n:,} rows, {path.stat().st_size / 2**20:.0f} MiB Parquet; {os.cpu_count()} cores "
          f"(shared machine: times are indications)", flush=True)
    print(f"imports: {t1 - t0:.2f} s")
    print(f"DuckDB (embedded), analyse(spec, path): {t2 - t1:.2f} s", flush=True)

    t0 = time.perf_counter()
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master(f"local[{os.cpu_count() or 2}]").appName("uplift-bench")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.shuffle.partitions", str(2 * (os.cpu_count() or 2)))
             .config("spark.driver.memory", args.driver_memory).getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    t1 = time.perf_counter()
    try:
        spark_res = analyse(spec, spark.read.parquet(str(path))).to_results()
        t2 = time.perf_counter()
    finally:
        spark.stop()
    print(f"Spark local[{os.cpu_count() or 2}]: session start {t1 - t0:.2f} s, "
          f"analyse(spec, spark.read.parquet(path)) {t2 - t1:.2f} s, together {t2 - t0:.2f} s")
    print(f"ratio Spark / DuckDB, the analysis alone: {(t2 - t1) / duck_s:.1f}x; with the session start: "
          f"{(t2 - t0) / duck_s:.1f}x")
    worst, where = largest_difference(spark_res, duck)
    print(f"numbers Spark vs DuckDB: arms {spark_res['arms']} vs {duck['arms']}; "
          f"largest relative difference {worst:.1e} (at {where or '-'})")
    for r in duck["metrics"]:
        s = next(x for x in spark_res["metrics"] if x["metric"] == r["metric"] and x["arm"] == r["arm"])
        print(f"  {r['metric']:18s} {r['arm']:8s} effect DuckDB {r['abs_effect']:.10g}  Spark {s['abs_effect']:.10g}  "
              f"p DuckDB {r['p_value']:.6g}  Spark {s['p_value']:.6g}")


if __name__ == "__main__":
    main()
