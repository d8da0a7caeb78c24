"""Benchmark: life tables and CLV for 10,000,000 customers from an in-memory DataFrame.

Run manually (not part of the test suite)::

    .venv/bin/python benchmarks/clv_10m.py [--customers 10000000]

Builds the outcomes by simulating 1,000,000 customers with ``uplift.simulate`` and
tiling them (same columns and distributions; 10 copies), then times, in this process:

1. ours: ``life_table`` (one group-by of the rows) + ``clv_from_life_table`` (survival,
   extrapolation, discounting, incremental CLV with its delta-method interval);
2. the peer: lifelines ``KaplanMeierFitter`` fitted per arm on the same rows (Kaplan-Meier only:
   lifelines has no CLV, discounting or two-arm interval), and the ratio of the two times.
Also checks that the two Kaplan-Meier curves agree.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd


def build(customers: int, seed: int = 0) -> pd.DataFrame:
    from uplift.simulate import simulate

    base_n = min(customers, 1_000_000)
    o = simulate(base_n, seed=seed).outcomes[["arm", "tenure_months", "churned", "monthly_margin"]]
    reps = -(-customers // base_n)
    idx = np.tile(np.arange(base_n), reps)[:customers]
    return pd.DataFrame({c: o[c].to_numpy()[idx] for c in o.columns}).astype({"arm": o["arm"].dtype})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=2, help="timed repetitions (best is reported)")
    args = ap.parse_args()

    from lifelines import KaplanMeierFitter

    from uplift.clv.analyse import clv_from_life_table
    from uplift.survival.estimators import kaplan_meier, life_table

    t0 = time.perf_counter()
    df = build(args.customers)
    print(f"built {len(df):,} rows in {time.perf_counter() - t0:.1f} s "
          f"({df.memory_usage(deep=True).sum() / 1e6:.0f} MB)")

    best_lt = best_clv = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        lt = life_table(df, "tenure_months", "churned", by="arm", value_col="monthly_margin", integer_durations=True)
        t1 = time.perf_counter()
        lt["arm"] = lt["arm"].astype(str)
        res = clv_from_life_table(lt, "arm", "control")
        t2 = time.perf_counter()
        best_lt, best_clv = min(best_lt, t1 - t0), min(best_clv, t2 - t1)
    ours = best_lt + best_clv
    print(f"ours: life table {best_lt:.2f} s + CLV from the life table {best_clv:.2f} s = {ours:.2f} s")
    inc = res.incremental[0]
    print(f"  incremental CLV {inc.estimate:.3f} (95% CI {inc.lower:.3f} to {inc.upper:.3f}), family {res.family}")

    best_ll = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        fits = {}
        for arm in ("control", "offer"):
            mask = (df["arm"] == arm).to_numpy()
            fits[arm] = KaplanMeierFitter().fit(df["tenure_months"].to_numpy()[mask], df["churned"].to_numpy()[mask])
        best_ll = min(best_ll, time.perf_counter() - t0)
    print(f"lifelines KaplanMeierFitter per arm (KM only): {best_ll:.2f} s")
    print(f"ratio lifelines KM / ours (life table + full CLV): {best_ll / ours:.1f}x; "
          f"lifelines KM / our life table + KM only: {best_ll / best_lt:.1f}x")
    for arm, k in fits.items():
        km = kaplan_meier(lt[lt["arm"] == arm], label=arm)
        ref = k.survival_function_.loc[km.times].iloc[:, 0].to_numpy()
        print(f"  KM {arm}: max |ours - lifelines| = {np.max(np.abs(km.survival - ref)):.2e}")


if __name__ == "__main__":
    main()
