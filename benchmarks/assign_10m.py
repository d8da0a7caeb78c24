"""Benchmark: exclusions + stratified salted-hash assignment + ledger write for 10,000,000 customers.

Target (issue 3): at most 20 s and 4 GiB peak memory on a 2-core machine.
Run manually:  .venv/bin/python benchmarks/assign_10m.py [--customers N] [--ledger PATH]

Prints the time of each step, the peak resident memory of the process
(``resource.getrusage``; the population itself is part of it), and the speed of the
vectorised DuckDB SHA-256 against the hashlib reference loop on the same ids.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uplift.experiment.assign import apply_exclusions, assign, assign_to_ledger  # noqa: E402
from uplift.data.hashing import hash64  # noqa: E402
from uplift.experiment.ledger import write_ledger  # noqa: E402
from uplift.spec import load_spec  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "experiments" / "demo.toml"


def population(n: int, seed: int = 0) -> pd.DataFrame:
    """A light population with the demo spec's exclusion and stratification columns."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": np.arange(10_000_001, 10_000_001 + n, dtype=np.int64),
            "segment": pd.Categorical.from_codes(
                rng.choice(4, size=n, p=[0.68, 0.22, 0.05, 0.05]).astype(np.int8),
                ["mass", "affluent", "private", "small_business"],
            ),
            "marketing_opt_out": (rng.random(n) < 0.06).astype(np.int8),
            "complaints_90d": rng.poisson(0.03, size=n).astype(np.int16),
            "financial_stress": (rng.random(n) < 0.04).astype(np.int8),
            "holds_mortgage": (rng.random(n) < 0.2).astype(np.int8),
            "days_since_last_contact": rng.integers(0, 400, size=n).astype(np.int16),
        }
    )


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=10_000_000)
    ap.add_argument("--ledger", default="")
    args = ap.parse_args()
    spec = load_spec(DEMO)
    n = args.customers

    t0 = time.perf_counter()
    pop = population(n)
    t_pop = time.perf_counter() - t0
    print(f"population of {n:,} built in {t_pop:.2f} s (not part of the timing); peak so far {peak_gib():.2f} GiB")

    t0 = time.perf_counter()
    elig = apply_exclusions(spec, pop)
    t_excl = time.perf_counter() - t0
    print(f"exclusions alone: {t_excl:.2f} s ({elig.n_eligible:,} eligible)")
    del elig

    t0 = time.perf_counter()
    res = assign(spec, pop)
    t_assign = time.perf_counter() - t0
    workdir = tempfile.TemporaryDirectory(prefix="uplift-bench-")
    tmp = Path(workdir.name)
    ledger_path = Path(args.ledger) if args.ledger else tmp / "first-ledger.parquet"
    t0 = time.perf_counter()
    write_ledger(res.ledger, ledger_path, spec.unit)
    t_write = time.perf_counter() - t0
    total = t_assign + t_write
    srm = res.srm()
    print(f"assign (exclusions + hash + stratified split): {t_assign:.2f} s; ledger write: {t_write:.2f} s "
          f"({ledger_path.stat().st_size / 2**20:.0f} MiB)")
    print(f"TOTAL {total:.2f} s for {n:,} customers (target <= 20 s); peak RSS {peak_gib():.2f} GiB (target <= 4 GiB)")
    print(f"arms: {res.counts()}, SRM p = {srm.p_value:.4f}")

    # the CLI's path: read the population file, assign, write ledger + exclusion log (fresh ledger)
    pop.to_parquet(tmp / "population.parquet")
    del res
    t0 = time.perf_counter()
    out = assign_to_ledger(spec, tmp / "population.parquet", tmp / "ledger.parquet")
    t_file = time.perf_counter() - t0
    print(f"file to file (uplift assign: read population, assign, write ledger and exclusion log): {t_file:.2f} s; "
          f"peak RSS {peak_gib():.2f} GiB; {out.added:,} assigned")
    t0 = time.perf_counter()
    again = assign_to_ledger(spec, tmp / "population.parquet", tmp / "ledger.parquet")
    print(f"re-run on the same population (adds {again.added}): {time.perf_counter() - t0:.2f} s")
    grown = pd.concat([pop, population(n // 10, seed=1).assign(customer_id=lambda d: d.customer_id + 2 * n)],
                      ignore_index=True)
    grown.to_parquet(tmp / "grown.parquet")
    del grown
    t0 = time.perf_counter()
    more = assign_to_ledger(spec, tmp / "grown.parquet", tmp / "ledger.parquet", assigned_at="2026-02-02")
    print(f"population grown by 10%: {more.added:,} added to the ledger in {time.perf_counter() - t0:.2f} s; "
          f"peak RSS {peak_gib():.2f} GiB")
    del out, again, more

    ids = pop["customer_id"].to_numpy()[:1_000_000]
    t0 = time.perf_counter()
    hash64(ids, "bench", engine="duckdb")
    t_duck = time.perf_counter() - t0
    t0 = time.perf_counter()
    hash64(ids, "bench", engine="hashlib")
    t_lib = time.perf_counter() - t0
    print(f"SHA-256 of 1,000,000 ids: DuckDB {t_duck:.2f} s, hashlib loop {t_lib:.2f} s (ratio {t_lib / t_duck:.1f}x)")
    workdir.cleanup()


if __name__ == "__main__":
    main()
