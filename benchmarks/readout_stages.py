"""Benchmark: the full HTML readout at 200,000 and 1,000,000 customers, stage by stage, and ``uplift target`` at 1M.

Run manually (not part of the test suite)::

    .venv/bin/python benchmarks/readout_stages.py                      # 200k and 1M, then uplift target at 1M
    .venv/bin/python benchmarks/readout_stages.py --n 20000 --no-target   # a quick look
    .venv/bin/python benchmarks/readout_stages.py --runs 3               # each command three times, medians and ranges

The data are the demo experiment (``experiments/demo.toml``: outcomes, ledger and population files, CLV,
segments and targeting), simulated once per size and cached in ``--dir`` (default: ``uplift-bench`` in the
system temp folder), never in the repository. Each readout is one whole process, timed from outside
(start-up included), that calls :func:`uplift.readout.render.render_readout` exactly as ``uplift readout``
does and prints its ``timings``:

* imports: the toolkit, jupytext, papermill (before the first stage);
* inputs check: the files named exist, the earlier looks (``timings["validate"]``; the rows are read once, by the kernel);
* kernel start and stop: the notebook's execution minus its cells (and papermill's own work);
* analysis: the notebook cell that calls ``analyse_inputs`` (scan, hashing, statistics, CLV, targeting);
* chart setup: importing matplotlib and the report helpers in the kernel;
* report cells: the tables and charts;
* HTML export: nbconvert and the atomic writes of the three files.

``uplift target`` is timed as a whole process as a user types it. Targets (idle machine): 200k within
15 s, 1M within 30 s. The machine is shared and noisy: absolute times are indications. With ``--runs N``
every command runs N times, one size after the other in each round, and a summary gives the median and
the range of each stage and of the whole process, with the processes' CPU time (user + system, the
kernel's included): CPU time that grows for the same work shows a busy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "experiments" / "demo.toml"

RUN = """
import json, sys, time
t0 = time.perf_counter()
from uplift.readout.render import render_readout
from uplift.spec import load_spec
import jupytext, papermill, nbformat
t1 = time.perf_counter()
spec = load_spec(sys.argv[1])
d = sys.argv[2]
paths = render_readout(spec, sys.argv[3], outcomes=d + "/outcomes.parquet", ledger=d + "/ledger.parquet",
                       population=d + "/population.parquet")
print(json.dumps({"imports": t1 - t0, **paths.timings}))
"""

STAGES = (("imports", "imports (toolkit, jupytext, papermill)"), ("validate", "inputs check (files named, earlier looks)"),
          ("kernel", "kernel start and stop (execution minus cells)"), ("analysis", "analysis cell (scan, statistics, CLV, targeting)"),
          ("chart setup", "chart setup (matplotlib, report helpers)"), ("report cells", "report cells (tables, charts)"),
          ("export", "HTML export (nbconvert, writes)"))


def data_folder(n: int, folder: Path) -> Path:
    """The demo experiment's three files for ``n`` customers, simulated once and cached."""
    d = folder / f"demo_{n}"
    if (d / "done").exists():
        return d
    from uplift.data.files import write_parquet_atomic
    from uplift.experiment.assign import assign
    from uplift.simulate import simulate_outcomes, simulate_population
    from uplift.spec import load_spec

    t0 = time.perf_counter()
    d.mkdir(parents=True, exist_ok=True)
    spec = load_spec(SPEC)
    pop = simulate_population(n, seed=1)
    ledger = assign(spec, pop).ledger
    assigned = pop.merge(ledger[[spec.unit, "arm"]], on=spec.unit)
    outcomes, _ = simulate_outcomes(assigned.drop(columns=["arm"]), assigned["arm"].to_numpy(), seed=1)
    write_parquet_atomic(pop, d / "population.parquet")
    write_parquet_atomic(outcomes.drop(columns=["arm"]), d / "outcomes.parquet")
    write_parquet_atomic(ledger, d / "ledger.parquet")
    (d / "done").write_text("")
    print(f"simulated {n:,} customers into {d} in {time.perf_counter() - t0:.1f} s", flush=True)
    return d


def uplift_cmd() -> list[str]:
    script = Path(sys.executable).with_name("uplift")
    return [str(script)] if script.exists() else [sys.executable, "-m", "uplift"]


def children_cpu() -> float:
    """CPU seconds (user + system) of the child processes ended so far, and of their children waited for."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def readout(n: int, d: Path, work: Path) -> dict[str, float]:
    """One HTML readout: its stages, ``other`` and ``whole`` (wall seconds) and ``cpu`` (seconds), printed."""
    t0, c0 = time.perf_counter(), children_cpu()
    proc = subprocess.run([sys.executable, "-c", RUN, str(SPEC), str(d), str(work / f"report_{n}")],
                          capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, children_cpu() - c0
    if proc.returncode:
        raise SystemExit(f"readout at {n:,} failed:\n{proc.stderr[-2000:]}")
    tm = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"readout (HTML), {n:,} customers: whole process {wall:.1f} s (CPU {cpu:.1f} s)", flush=True)
    for key, label in STAGES:
        if key in tm:
            print(f"  {label:52s} {tm[key]:6.2f} s")
    known = sum(tm.get(k, 0.0) for k, _ in STAGES)
    print(f"  {'other (start-up, templates, cleanup)':52s} {wall - known:6.2f} s")
    return {**{k: float(tm[k]) for k, _ in STAGES if k in tm}, "other": wall - known, "whole": wall, "cpu": cpu}


def spread(values: list[float]) -> str:
    """``median (low-high)`` of seconds."""
    return f"{statistics.median(values):6.2f} s ({min(values):.2f}-{max(values):.2f})"


def summary(what: str, runs: list[dict[str, float]]) -> None:
    """The median and range of every stage of ``runs`` (several runs of one command)."""
    print(f"{what}, {len(runs)} runs: median (range)")
    labels = [*STAGES, ("other", "other (start-up, templates, cleanup)"), ("whole", "whole process"),
              ("cpu", "CPU time of the processes")]
    for key, label in labels:
        if all(key in r for r in runs):
            print(f"  {label:52s} {spread([r[key] for r in runs])}")


def target(n: int, d: Path, work: Path) -> dict[str, float]:
    out = work / f"next_wave_{n}.parquet"
    cmd = [*uplift_cmd(), "target", str(SPEC), "--outcomes", str(d / "outcomes.parquet"), "--ledger",
           str(d / "ledger.parquet"), "--population", str(d / "population.parquet"), "--out", str(out), "--overwrite"]
    t0, c0 = time.perf_counter(), children_cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, children_cpu() - c0
    if proc.returncode:
        raise SystemExit(f"uplift target at {n:,} failed:\n{proc.stderr[-2000:]}")
    print(f"uplift target, {n:,} customers: whole process {wall:.1f} s (CPU {cpu:.1f} s)", flush=True)
    return {"whole": wall, "cpu": cpu}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[200_000, 1_000_000])
    ap.add_argument("--target-n", type=int, default=1_000_000)
    ap.add_argument("--no-target", action="store_true", help="skip uplift target")
    ap.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "uplift-bench"))
    ap.add_argument("--runs", type=int, default=1, help="rounds of every command (a summary with medians when > 1)")
    args = ap.parse_args()
    folder = Path(args.dir)
    work = Path(tempfile.mkdtemp(prefix="uplift-bench-"))
    print(f"{os.cpu_count()} cores; shared machine: times are indications", flush=True)
    runs: dict[str, list[dict[str, float]]] = {}
    try:
        for _ in range(max(args.runs, 1)):
            for n in args.n:
                runs.setdefault(f"readout (HTML), {n:,} customers", []).append(readout(n, data_folder(n, folder), work))
            if not args.no_target:
                runs.setdefault(f"uplift target, {args.target_n:,} customers", []).append(
                    target(args.target_n, data_folder(args.target_n, folder), work))
        if args.runs > 1:
            for what, results in runs.items():
                summary(what, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
