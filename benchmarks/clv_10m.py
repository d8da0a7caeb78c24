"""Benchmark: life tables and CLV for 10,000,000 customers, in memory and from a Parquet file (DuckDB).

Run manually (not part of the test suite)::

    .venv/bin/python benchmarks/clv_10m.py [--customers 10000000]

Builds the outcomes by simulating 1,000,000 customers with ``uplift.simulate`` and
tiling them (same columns and distributions; 10 copies), writes them once to a Parquet file
cached in ``--dir`` (default: ``uplift-bench`` in the system temp folder, never the repository),
then times, in this process, side by side:

1. ours, the curve: the per-arm life table (:func:`uplift.data.collect.life_table`, one group-by of
   the rows, as ``clv_analysis`` runs it) and Kaplan-Meier on it, on the in-memory DataFrame and on
   the Parquet file through the embedded DuckDB (only the life table comes back);
2. ours, the rest of CLV: ``clv_from_life_table`` (survival, extrapolation, discounting,
   incremental CLV with its delta-method interval);
3. the peer: lifelines ``KaplanMeierFitter`` fitted per arm on the same rows in memory (Kaplan-Meier
   only: lifelines has no CLV, discounting or two-arm interval), and the ratios of the curve's times
   (target: at least 3x).
Also checks that the Kaplan-Meier curves agree. The machine is shared: absolute times are indications.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def build(customers: int, seed: int = 0) -> pd.DataFrame:
    from uplift.simulate import simulate

    base_n = min(customers, 1_000_000)
    o = simulate(base_n, seed=seed).outcomes[["arm", "tenure_months", "churned", "monthly_margin"]]
    reps = -(-customers // base_n)
    idx = np.tile(np.arange(base_n), reps)[:customers]
    return pd.DataFrame({c: o[c].to_numpy()[idx] for c in o.columns}).astype({"arm": o["arm"].dtype})


def parquet_file(df: pd.DataFrame, folder: Path) -> Path:
    """The rows as one Parquet file, written once (to a temp name, then renamed) and cached."""
    p = folder / f"clv_{len(df)}.parquet"
    if not p.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp")
        df.assign(arm=df["arm"].astype(str)).to_parquet(tmp, index=False, row_group_size=1 << 20)
        tmp.replace(p)
    return p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=2, help="timed repetitions (best is reported)")
    ap.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "uplift-bench"))
    args = ap.parse_args()

    from lifelines import KaplanMeierFitter

    from uplift.clv.analyse import clv_from_life_table
    from uplift.data.collect import life_table
    from uplift.data.source import open_source
    from uplift.survival.estimators import kaplan_meier

    t0 = time.perf_counter()
    df = build(args.customers)
    path = parquet_file(df, Path(args.dir))
    print(f"built {len(df):,} rows in {time.perf_counter() - t0:.1f} s "
          f"({df.memory_usage(deep=True).sum() / 1e6:.0f} MB in memory; {path.stat().st_size / 2**20:.0f} MiB Parquet)")

    def curve(src):
        lt = life_table(src, "tenure_months", "churned", by="arm", value="monthly_margin", integer_durations=True)
        lt["arm"] = lt["arm"].astype(str)
        return lt, {arm: kaplan_meier(lt[lt["arm"] == arm], label=arm) for arm in ("control", "offer")}

    best = {"memory": float("inf"), "duckdb": float("inf"), "clv": float("inf"), "lifelines": float("inf")}
    tables = {}
    for _ in range(args.repeat):
        for name, make in (("memory", lambda: open_source(df)), ("duckdb", lambda: open_source(path))):
            t0 = time.perf_counter()
            tables[name] = curve(make())
            best[name] = min(best[name], time.perf_counter() - t0)
        t0 = time.perf_counter()
        res = clv_from_life_table(tables["duckdb"][0], "arm", "control")
        best["clv"] = min(best["clv"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        fits = {}
        for arm in ("control", "offer"):
            mask = (df["arm"] == arm).to_numpy()
            fits[arm] = KaplanMeierFitter().fit(df["tenure_months"].to_numpy()[mask], df["churned"].to_numpy()[mask])
        best["lifelines"] = min(best["lifelines"], time.perf_counter() - t0)

    print(f"best of {args.repeat} (seconds; shared machine, times are indications):")
    print(f"  ours, per-arm life table + Kaplan-Meier, in memory (pandas):     {best['memory']:.2f}")
    print(f"  ours, per-arm life table + Kaplan-Meier, Parquet file (DuckDB):  {best['duckdb']:.2f}")
    print(f"  ours, CLV from the life table (extrapolation, discounting, CI):  {best['clv']:.2f}")
    print(f"  lifelines KaplanMeierFitter per arm (in memory, curve only):     {best['lifelines']:.2f}")
    print(f"ratio lifelines / ours for the curve: in memory {best['lifelines'] / best['memory']:.1f}x, "
          f"DuckDB file {best['lifelines'] / best['duckdb']:.1f}x (target >= 3x)")
    print(f"ratio lifelines curve / ours curve + full CLV (DuckDB file): "
          f"{best['lifelines'] / (best['duckdb'] + best['clv']):.1f}x")
    inc = res.incremental[0]
    print(f"  incremental CLV {inc.estimate:.3f} (95% CI {inc.lower:.3f} to {inc.upper:.3f}), family {res.family}")
    mem_lt, duck_lt = (tables[k][0].sort_values(["arm", "time"]).reset_index(drop=True) for k in ("memory", "duckdb"))
    same = mem_lt[["arm", "time", "at_risk", "events", "censored"]].equals(duck_lt[["arm", "time", "at_risk", "events", "censored"]])
    print(f"  life tables in memory and from the file: counts identical {same}")
    for arm, k in fits.items():
        for name in ("memory", "duckdb"):
            km = tables[name][1][arm]
            ref = k.survival_function_.loc[km.times].iloc[:, 0].to_numpy()
            print(f"  KM {arm} ({name}): max |ours - lifelines| = {np.max(np.abs(km.survival - ref)):.2e}")


if __name__ == "__main__":
    main()
