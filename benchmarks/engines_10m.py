"""Benchmark: the whole readout's aggregation from a Parquet file through the embedded DuckDB.

10,000,000 customers (``--n``), 3 arms (control, offer_a, offer_b), the full metric set of a
readout (every metric, guardrail, funnel stage, economics column, segments) and the CLV life
tables (by arm, and by products held), computed where the data lives: DuckDB reads the Parquet
file, one aggregation query per table, nothing but the small tables reaches Python. Then the
closed-form estimators run on those small tables (the same code as for pandas).

In the same run, tea-tasting (its Ibis/DuckDB backend, same file) computes the metrics it has
(conversion, revenue with CUPED, revenue per product, the funnel proportions), and the script
prints both times and the ratio tea-tasting / uplift.

Run (not part of the test suite; peak memory via ``resource.getrusage`` of this process):

    .venv/bin/python benchmarks/engines_10m.py                    # 10,000,000 rows
    .venv/bin/python benchmarks/engines_10m.py --n 1000000 --repeat 3
    .venv/bin/python benchmarks/engines_10m.py --only uplift      # uplift alone, clean peak RSS
    .venv/bin/python benchmarks/engines_10m.py --spark            # also on Spark local[2] (pyspark)

The data file is cached in ``--dir`` (default /tmp/uplift-bench) between runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

SPEC = """
[experiment]
name = "bench-engines"
unit = "customer_id"
[assignment]
salt = "bench-engines"
arms = { control = 0.2, offer_a = 0.4, offer_b = 0.4 }
control = "control"
[design]
alpha = 0.05
[[metrics]]
name = "conversion"
kind = "proportion"
column = "converted"
primary = true
[[metrics]]
name = "revenue"
kind = "mean"
column = "revenue_12m"
covariate = "revenue_pre_12m"
[[metrics]]
name = "revenue_per_product"
kind = "ratio"
column = "revenue_12m"
denominator = "products_held"
[[guardrails]]
name = "complaints"
kind = "proportion"
column = "complaint"
bad_direction = "increase"
margin = 0.01
[[guardrails]]
name = "churn"
kind = "proportion"
column = "churned"
bad_direction = "increase"
margin = 0.01
[funnel]
stages = ["seen", "accepted", "opened", "used", "retained"]
[economics]
revenue_column = "revenue_12m"
margin_column = "margin_12m"
cannibalised_column = "cannibalised_margin_12m"
cost_to_serve_column = "service_cost_12m"
conversion_column = "converted"
contact_cost = 1.5
incentive_cost = 20.0
[clv]
tenure_column = "tenure_months"
churned_column = "churned"
margin_per_period_column = "monthly_margin"
horizon_periods = 60
periods_per_year = 12
annual_discount_rate = 0.08
extrapolation = "sbg"
products_column = "products_held"
[analysis]
segments = ["segment"]
min_cell_size = 50
"""

OUTCOME_COLUMNS = [
    "customer_id", "arm", "segment", "seen", "accepted", "opened", "used", "retained", "converted",
    "revenue_12m", "margin_12m", "cannibalised_margin_12m", "service_cost_12m", "complaint",
    "tenure_months", "churned", "monthly_margin", "revenue_pre_12m", "products_held",
]


def write_outcomes(path: Path, n: int, chunk: int = 1_000_000, seed: int = 0) -> Path:
    """Write ``n`` simulated outcomes (uplift.simulate, chunk by chunk, distinct ids) to Parquet.

    Memory stays at one chunk; the file is written to a temp name and renamed.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from uplift.simulate import simulate

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    writer = None
    done = 0
    i = 0
    while done < n:
        m = min(chunk, n - done)
        s = simulate(m, seed=seed + i, arms={"control": 0.2, "offer_a": 0.4, "offer_b": 0.4})
        df = s.outcomes[OUTCOME_COLUMNS].copy()
        df["customer_id"] = np.arange(done, done + m, dtype=np.int64) + 10_000_001
        df["arm"] = df["arm"].astype(str)
        df["segment"] = df["segment"].astype(str)
        table = pa.Table.from_pandas(df, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema, compression="snappy")
        writer.write_table(table, row_group_size=1 << 20)
        done += m
        i += 1
    writer.close()
    os.replace(tmp, path)
    return path


def data_file(n: int, folder: str) -> Path:
    p = Path(folder) / f"outcomes_{n}.parquet"
    if not p.exists():
        t0 = time.perf_counter()
        write_outcomes(p, n)
        print(f"wrote {p} ({p.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.1f} s", flush=True)
    return p


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


STAGES = ["seen", "accepted", "opened", "used", "retained"]


def run_uplift(path: Path, threads: int | None = None) -> dict:
    """The full readout aggregation + estimates from the file: metrics (1 query) and CLV (2 life tables)."""
    from uplift.clv.analyse import clv_analysis
    from uplift.metrics.analyse import analyse_metrics
    from uplift.data.source import open_source
    from uplift.spec import parse_spec

    spec = parse_spec(SPEC)
    t0 = time.perf_counter()
    src = open_source(path, threads=threads)
    res = analyse_metrics(spec, src)
    t1 = time.perf_counter()
    cl = clv_analysis(spec, src)
    t2 = time.perf_counter()
    src.close()
    return {"metrics_s": t1 - t0, "clv_s": t2 - t1, "total_s": t2 - t0, "result": res, "clv": cl}


def run_tea_tasting(path: Path) -> dict:
    """tea-tasting on the same file through its Ibis/DuckDB backend: the metrics it has."""
    import ibis
    import tea_tasting as tt

    t0 = time.perf_counter()
    con = ibis.duckdb.connect()
    data = con.read_parquet(str(path))
    metrics = {
        "conversion": tt.Mean("converted"),
        "revenue": tt.Mean("revenue_12m", "revenue_pre_12m"),
        "revenue_per_product": tt.RatioOfMeans("revenue_12m", "products_held"),
        "complaints": tt.Mean("complaint"),
        "churn": tt.Mean("churned"),
        **{s: tt.Mean(s) for s in STAGES},
    }
    out = tt.Experiment(metrics, variant="arm").analyze(data, control="control", all_variants=True)
    return {"total_s": time.perf_counter() - t0, "result": out}


def run_spark(path: Path, session: object) -> dict:
    """The same readout on a Spark table (local mode): one Spark SQL aggregation per table via Ibis."""
    from uplift.clv.analyse import clv_analysis
    from uplift.metrics.analyse import analyse_metrics
    from uplift.data.source import open_source
    from uplift.spec import parse_spec

    spec = parse_spec(SPEC)
    t0 = time.perf_counter()
    src = open_source(session.read.parquet(str(path)))
    res = analyse_metrics(spec, src)
    t1 = time.perf_counter()
    cl = clv_analysis(spec, src)
    t2 = time.perf_counter()
    return {"metrics_s": t1 - t0, "clv_s": t2 - t1, "total_s": t2 - t0, "result": res, "clv": cl}


def child(which: str, path: Path, repeat: int, threads: int | None) -> None:
    """One library (or engine) in its own process, so its peak memory is its own. Prints one JSON line."""
    import json

    t_import = time.perf_counter()
    session = None
    if which in ("uplift", "spark"):
        import uplift.data.source  # noqa: F401
        import uplift.metrics.analyse  # noqa: F401
        import ibis  # noqa: F401
        if which == "spark":
            from pyspark.sql import SparkSession

            session = (SparkSession.builder.master("local[2]").appName("uplift-bench")
                       .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
                       .config("spark.driver.memory", "2g").getOrCreate())
            session.sparkContext.setLogLevel("ERROR")
    else:
        import ibis  # noqa: F401
        import tea_tasting  # noqa: F401
    t_import = time.perf_counter() - t_import
    best = None
    for _ in range(repeat):
        r = (run_uplift(path, threads) if which == "uplift" else run_spark(path, session) if which == "spark"
             else run_tea_tasting(path))
        if best is None or r["total_s"] < best["total_s"]:
            best = r
    out = {k: v for k, v in best.items() if k.endswith("_s")}
    out["import_s"] = t_import
    out["peak_rss_gib"] = peak_rss_gib()
    if which == "spark":
        # the JVM's peak, as this process does not hold the rows (Linux /proc of the child JVMs is not tracked)
        out["note"] = "peak_rss_gib is the Python driver only; the Spark JVM is a separate process"
    if which in ("uplift", "spark"):
        rows = {(m["metric"], m["arm"]): m["abs_effect"] for m in best["result"].to_dict()["metrics"]}
        out["effects"] = {f"{k[0]}|{k[1]}": v for k, v in rows.items()}
        out["incremental_clv"] = {i.arm: i.to_dict().get("estimate") if hasattr(i, "to_dict") else None
                                  for i in best["clv"].incremental}
    else:
        eff = {}
        for (ctrl, arm), by_metric in best["result"].items():
            for name, r in by_metric.items():
                eff[f"{name}|{arm}"] = r.effect_size
        out["effects"] = eff
    print("RESULT " + json.dumps(out, default=float), flush=True)


def run_child(which: str, path: Path, repeat: int, threads: int | None) -> dict:
    import json
    import subprocess

    cmd = [sys.executable, __file__, "--child", which, "--path", str(path), "--repeat", str(repeat)]
    if threads:
        cmd += ["--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not line:
        raise SystemExit(f"{which} failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[-1][7:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=2, help="runs per library; the best is reported")
    ap.add_argument("--dir", default="/tmp/uplift-bench")
    ap.add_argument("--only", choices=["uplift", "tea"], default=None)
    ap.add_argument("--spark", action="store_true", help="also run the readout on Spark (local[2]) on the same file")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--child", choices=["uplift", "tea", "spark"], default=None)
    ap.add_argument("--path", default=None)
    ap.add_argument("--make-only", action="store_true")
    args = ap.parse_args()
    if args.child:
        child(args.child, Path(args.path), args.repeat, args.threads)
        return
    path = data_file(args.n, args.dir)
    if args.make_only:
        return
    print(f"data: {path} ({path.stat().st_size / 2**20:.0f} MiB, {args.n:,} rows, 3 arms, {len(OUTCOME_COLUMNS)} columns); "
          f"{os.cpu_count()} cores")
    up = run_child("uplift", path, args.repeat, args.threads) if args.only in (None, "uplift") else None
    tt = run_child("tea", path, args.repeat, None) if args.only in (None, "tea") else None
    if up:
        print(f"uplift (DuckDB, file):   {up['total_s']:6.2f} s end to end (metrics {up['metrics_s']:.2f} s: "
              f"1 query, {len(up['effects'])} effects; CLV {up['clv_s']:.2f} s: 2 life tables + fits); "
              f"imports {up['import_s']:.2f} s; peak RSS {up['peak_rss_gib']:.2f} GiB")
    if tt:
        print(f"tea-tasting (Ibis/DuckDB): {tt['total_s']:6.2f} s for {len(tt['effects'])} effects (no CLV, no segments, "
              f"no ROI); imports {tt['import_s']:.2f} s; peak RSS {tt['peak_rss_gib']:.2f} GiB")
    if args.spark:
        sp = run_child("spark", path, 1, None)
        print(f"uplift on Spark local[2]: {sp['total_s']:6.2f} s (metrics {sp['metrics_s']:.2f} s, CLV {sp['clv_s']:.2f} s; "
              "session start not counted)")
        if up:
            worst = max(abs(sp["effects"][k] - v) / abs(v) for k, v in up["effects"].items() if v)
            print(f"largest relative difference Spark vs DuckDB in effects: {worst:.2e}")
    if up and tt:
        print(f"ratio tea-tasting / uplift end to end: {tt['total_s'] / up['total_s']:.2f}x (uplift does more: CLV life "
              "tables, segments, guardrails, ROI)")
        print(f"ratio tea-tasting / uplift metrics part: {tt['total_s'] / up['metrics_s']:.2f}x (uplift: arm x segment "
              f"cells, {len(up['effects'])} metric rows + guardrails, funnel, ROI; tea-tasting: arm only)")
        shared = [k for k in tt["effects"] if k in up["effects"] and k.split("|")[0] in ("conversion", "revenue_per_product")]
        worst = max(abs(up["effects"][k] - tt["effects"][k]) / abs(tt["effects"][k]) for k in shared)
        print(f"largest relative difference in shared effects ({len(shared)}): {worst:.2e}")


if __name__ == "__main__":
    main()
