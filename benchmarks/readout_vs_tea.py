"""Benchmark: ``uplift readout --json-only`` as a user types it, against tea-tasting, whole processes.

10,000,000 customers (``--n``) in one Parquet file, 3 arms (control, offer_a, offer_b), a proportion
(``converted``), a mean with CUPED (``revenue`` on ``revenue_pre``), a ratio of means
(``revenue`` / ``orders``) and the sample-ratio check. Each run is a whole process, timed from
outside (start-up and imports included) with its peak resident memory (``os.wait4``):

* ``uplift readout SPEC --outcomes FILE --out DIR --json-only`` (the default engine);
* tea-tasting 1.14 reading the file with pandas (``pd.read_parquet``), and through Ibis/DuckDB
  (``con.read_parquet``, its best configuration), the same three metrics, all arms against the control.

Runs alternate (uplift, tea pandas, tea DuckDB, uplift, ...), ``--repeat`` times (default 3); the
median of each is reported, with the ratios tea-tasting / uplift. ``--stages`` adds one in-process
uplift run split into imports / scan (validation facts and sufficient statistics) / statistics /
writing. The machine is shared and noisy: absolute times are indications, ratios are the figure.

``--check-50m`` instead writes a 50,000,000-row file and compares uplift's median peak memory on it
with the 10M file's over ``--repeat`` alternating rounds (target: at most 1.2x).

    .venv/bin/python benchmarks/readout_vs_tea.py                 # 10M rows, 3 alternating rounds
    .venv/bin/python benchmarks/readout_vs_tea.py --n 1000000 --repeat 1 --stages
    .venv/bin/python benchmarks/readout_vs_tea.py --check-50m     # peak memory at 50M rows

Data files are cached in ``--dir`` (default: ``uplift-bench`` in the system temp folder), never in the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEC = """
[experiment]
name = "bench-readout"
unit = "customer_id"
[assignment]
salt = "bench-readout"
arms = { control = 0.2, offer_a = 0.4, offer_b = 0.4 }
control = "control"
[[metrics]]
name = "conversion"
kind = "proportion"
column = "converted"
primary = true
[[metrics]]
name = "revenue"
kind = "mean"
column = "revenue"
covariate = "revenue_pre"
[[metrics]]
name = "revenue_per_order"
kind = "ratio"
column = "revenue"
denominator = "orders"
"""

TEA = """
import sys, time
import tea_tasting as tt
path, how = sys.argv[1], sys.argv[2]
if how == "pandas":
    import pandas as pd
    data = pd.read_parquet(path)
else:
    import ibis
    data = ibis.duckdb.connect().read_parquet(path)
metrics = {"conversion": tt.Mean("converted"), "revenue": tt.Mean("revenue", "revenue_pre"),
           "revenue_per_order": tt.RatioOfMeans("revenue", "orders"), "srm": tt.SampleRatio()}
res = tt.Experiment(metrics, variant="arm").analyze(data, control="control", all_variants=True)
if len(sys.argv) > 3:
    import json
    effects = {f"{name}|{arm}": float(r.effect_size) for (_, arm), by_metric in res.items()
               for name, r in by_metric.items() if name != "srm"}
    open(sys.argv[3], "w").write(json.dumps(effects))
"""


def write_data(path: Path, n: int, chunk: int = 2_000_000, seed: int = 7) -> Path:
    """``n`` rows written chunk by chunk (memory stays at one chunk), to a temp name then renamed."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    rng = np.random.default_rng(seed)
    arms = np.array(["control", "offer_a", "offer_b"])
    writer, done = None, 0
    while done < n:
        m = min(chunk, n - done)
        arm = rng.choice(3, size=m, p=[0.2, 0.4, 0.4])
        lift = np.array([0.0, 0.01, 0.02])[arm]
        pre = rng.gamma(2.0, 50.0, size=m)
        orders = rng.poisson(3.0, size=m) + 1
        table = pa.table({
            "customer_id": np.arange(done, done + m, dtype=np.int64) + 10_000_001,
            "arm": arms[arm],
            "converted": (rng.random(m) < 0.10 + lift).astype(np.int8),
            "revenue": 0.6 * pre + rng.gamma(2.0, 20.0, size=m) * (1 + lift),
            "revenue_pre": pre,
            "orders": orders.astype(np.int32),
        })
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema, compression="snappy")
        writer.write_table(table, row_group_size=1 << 20)
        done += m
    writer.close()
    os.replace(tmp, path)
    return path


def data_file(n: int, folder: Path) -> Path:
    p = folder / f"readout_{n}.parquet"
    if not p.exists():
        t0 = time.perf_counter()
        write_data(p, n)
        print(f"wrote {p} ({p.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.1f} s", flush=True)
    return p


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS GiB) of one whole process; its output is discarded, a failure stops the run."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd[:3])} ... failed ({proc.returncode}):\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 2**20  # Linux: KiB


def uplift_cmd() -> list[str]:
    """The ``uplift`` console script beside this Python (as a user types it), else ``python -m uplift``."""
    script = Path(sys.executable).with_name("uplift")
    return [str(script)] if script.exists() else [sys.executable, "-m", "uplift"]


def stages(spec: Path, path: Path, out: Path) -> dict[str, float]:
    """The --json-only path of one fresh interpreter, stage by stage and one after the other (the command
    overlaps the scan and the hashing with the statistics' imports, so its total is below their sum)."""
    code = f"""
import json, time
t0 = time.perf_counter()
import duckdb, scipy.special
from uplift.data.arms import prefetch_arms
from uplift.data.files import write_json_atomic
from uplift.readout.analysis import analyse
from uplift.readout.render import load_inputs, manifest_of
from uplift.spec import load_spec
t1 = time.perf_counter()
spec = load_spec({str(spec)!r})
inputs = load_inputs(spec, {str(path)!r}, manifest=False)
prefetch_arms(inputs["outcomes"], spec.unit, rows_per_arm=False)
t2 = time.perf_counter()
manifest = manifest_of(*inputs["manifest_args"])
t3 = time.perf_counter()
a = analyse(spec, inputs["outcomes"], manifest=manifest, label=inputs["outcomes_label"])
t4 = time.perf_counter()
write_json_atomic(a.to_results(), {str(out / "stages.json")!r})
t5 = time.perf_counter()
print(json.dumps({{"imports (pandas, scipy.special, DuckDB, uplift)": t1 - t0,
                  "scan 1: open, rows, distinct ids": t2 - t1,
                  "hashing the file (manifest)": t3 - t2,
                  "scan 2: rows per arm + sufficient statistics + estimators": t4 - t3,
                  "writing results.json": t5 - t4}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "uplift-bench"))
    ap.add_argument("--stages", action="store_true", help="also split one uplift run by stage")
    ap.add_argument("--check-50m", action="store_true", help="peak memory at 50M rows against 10M")
    args = ap.parse_args()
    folder = Path(args.dir)
    work = Path(tempfile.mkdtemp(prefix="uplift-bench-"))
    try:
        spec = work / "spec.toml"
        spec.write_text(SPEC, encoding="utf-8")
        out = work / "out"
        up = lambda p: [*uplift_cmd(), "readout", str(spec), "--outcomes", str(p), "--out", str(out), "--json-only"]  # noqa: E731
        if args.check_50m:  # alternating rounds, as below: one run's peak varies by some 0.05 GiB
            sizes = (10_000_000, 50_000_000)
            files = {n: data_file(n, folder) for n in sizes}
            peaks: dict[int, list[tuple[float, float]]] = {n: [] for n in sizes}
            for i in range(args.repeat):
                for n in sizes:
                    peaks[n].append(timed(up(files[n])))
                    print(f"  round {i + 1}: uplift readout --json-only, {n:,} rows: {peaks[n][-1][0]:.1f} s, "
                          f"peak {peaks[n][-1][1]:.2f} GiB", flush=True)
            med = {n: statistics.median(m for _, m in v) for n, v in peaks.items()}
            print(f"median peak: 10M {med[10_000_000]:.2f} GiB, 50M {med[50_000_000]:.2f} GiB; "
                  f"50M / 10M: {med[50_000_000] / med[10_000_000]:.2f}x (target <= 1.2x)")
            return
        path = data_file(args.n, folder)
        tea = lambda how: [sys.executable, "-c", TEA, str(path), how]  # noqa: E731
        runs: dict[str, list[tuple[float, float]]] = {"uplift": [], "tea-tasting pandas": [], "tea-tasting Ibis/DuckDB": []}
        print(f"{args.n:,} rows, {path.stat().st_size / 2**20:.0f} MiB Parquet; {os.cpu_count()} cores; "
              f"{args.repeat} alternating rounds (shared machine: times are indications)", flush=True)
        for i in range(args.repeat):
            for name, cmd in (("uplift", up(path)), ("tea-tasting pandas", tea("pandas")),
                              ("tea-tasting Ibis/DuckDB", tea("duckdb"))):
                runs[name].append(timed(cmd))
                print(f"  round {i + 1}: {name:24s} {runs[name][-1][0]:6.2f} s  peak {runs[name][-1][1]:.2f} GiB", flush=True)
        subprocess.run(tea("duckdb") + [str(work / "tea.json")], check=True, capture_output=True)  # not timed
        theirs = json.loads((work / "tea.json").read_text())
        ours = {f"{r['metric']}|{r['arm']}": r["abs_effect"] for r in json.loads((out / "results.json").read_text())["metrics"]}
        for metric in sorted({k.split("|")[0] for k in theirs}):
            worst = max(abs(ours[k] - v) / abs(v) for k, v in theirs.items() if k.split("|")[0] == metric)
            print(f"same data, {metric}: largest relative difference of the effects uplift vs tea-tasting {worst:.1e}")
        med = {k: (statistics.median(w for w, _ in v), statistics.median(m for _, m in v)) for k, v in runs.items()}
        print("median of each (whole process):")
        for k, (w, m) in med.items():
            print(f"  {k:24s} {w:6.2f} s  peak {m:.2f} GiB")
        for k in ("tea-tasting pandas", "tea-tasting Ibis/DuckDB"):
            print(f"ratio {k} / uplift: time {med[k][0] / med['uplift'][0]:.2f}x, "
                  f"peak memory {med[k][1] / med['uplift'][1]:.2f}x")
        if args.stages:
            print("uplift stages (one in-process run, seconds):")
            for k, v in stages(spec, path, work).items():
                print(f"  {k:40s} {v:6.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
