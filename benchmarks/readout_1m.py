"""Render a readout for 1,000,000 customers and split the time: statistics, kernel, export.

Target: under 60 s on a 2-core machine. Usage: python benchmarks/readout_1m.py [N]

"statistics" is :func:`uplift.readout.analysis.analyse` timed in this process on the same files;
"kernel start + notebook" is the papermill execution minus that; "export" is nbconvert
plus writing the files.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from uplift.readout.analysis import analyse
    from uplift.readout.render import load_inputs, render_readout
    from uplift.simulate import simulate_outcomes, simulate_population
    from uplift.experiment.assign import assign
    from uplift.data.files import write_parquet_atomic
    from uplift.spec import load_spec

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    spec = load_spec(ROOT / "experiments" / "demo.toml")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pop = simulate_population(n, seed=1)
        ledger = assign(spec, pop).ledger
        assigned = pop.merge(ledger[[spec.unit, "arm"]], on=spec.unit)
        outcomes, _ = simulate_outcomes(assigned.drop(columns=["arm"]), assigned["arm"].to_numpy(), seed=1)
        write_parquet_atomic(pop, tmp / "population.parquet")
        write_parquet_atomic(outcomes.drop(columns=["arm"]), tmp / "outcomes.parquet")
        write_parquet_atomic(ledger, tmp / "ledger.parquet")
        files = dict(outcomes=tmp / "outcomes.parquet", ledger=tmp / "ledger.parquet", population=tmp / "population.parquet")

        t0 = time.perf_counter()
        inputs = load_inputs(spec, **files)
        t1 = time.perf_counter()
        analyse(spec, inputs["outcomes"], ledger=inputs["ledger"], population=inputs["population"])
        t2 = time.perf_counter()
        paths = render_readout(spec, tmp / "report", **files)
        t3 = time.perf_counter()
    stats_s = t2 - t1
    execute = paths.timings["execute"]
    print(f"customers: {n:,}  (analysed: {len(outcomes):,} eligible)")
    print(f"render total: {t3 - t2:.1f} s (target < 60 s)")
    print(f"  check the files named (rows are read by the kernel): {paths.timings['validate']:.1f} s")
    print(f"  notebook execution: {execute:.1f} s = reading {t1 - t0:.1f} s + statistics {stats_s:.1f} s "
          f"+ kernel start and charts {max(execute - stats_s - (t1 - t0), 0):.1f} s")
    print(f"  export (nbconvert + atomic writes): {paths.timings['export']:.1f} s")


if __name__ == "__main__":
    main()
