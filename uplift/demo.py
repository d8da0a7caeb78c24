"""The whole flow on simulated data: simulate -> exclusions -> hash assignment -> outcomes -> readout."""

from __future__ import annotations

from pathlib import Path

from uplift.data.files import json_writer, parquet_writer
from uplift.data.writes import commit_files
from uplift.experiment.assign import assign
from uplift.readout.render import ReadoutPaths, render_readout
from uplift.simulate import simulate_outcomes, simulate_population
from uplift.spec import load_spec

__all__ = ["DEMO_SPEC", "run_demo"]

DEMO_SPEC = Path(__file__).resolve().parent / "demo.toml"  # package data; experiments/demo.toml links here


def run_demo(
    out: str | Path = "reports/demo",
    customers: int = 100_000,
    seed: int = 2026,
    spec_path: str | Path | None = None,
    quiet: bool = True,
    language: str | None = None,
) -> ReadoutPaths:
    """Simulate ``customers``, assign them per the demo spec, simulate outcomes, render the readout.

    Writes ``out/data/{population,outcomes,ledger}.parquet`` and ``out/data/truth.json``
    (the known true effects), then ``out/readout.html``, ``out/results.json`` and
    ``out/readout.ipynb``, the page in ``language`` (default: the spec's ``[experiment] language``).
    """
    spec = load_spec(spec_path or DEMO_SPEC)
    out = Path(out)
    data = out / "data"
    target = spec.experiment.target_product or "mortgage"
    population = simulate_population(customers, seed=seed, target_product=target)
    assignment = assign(spec, population)
    ledger = assignment.ledger
    unit = spec.unit
    assigned = population.merge(ledger[[unit, "arm"]], on=unit, how="inner")
    outcomes, truth = simulate_outcomes(
        assigned.drop(columns=["arm"]), assigned["arm"].to_numpy(), seed=seed, control=spec.control
    )
    outcomes = outcomes.drop(columns=["arm"])  # arms come from the ledger, as in a real campaign
    paths = {
        "population": data / "population.parquet",
        "outcomes": data / "outcomes.parquet",
        "ledger": data / "ledger.parquet",
    }
    commit_files([(paths["population"], parquet_writer(population)), (paths["outcomes"], parquet_writer(outcomes)),
                  (paths["ledger"], parquet_writer(ledger)), (data / "truth.json", json_writer(truth.to_dict()))])
    return render_readout(
        spec, out, outcomes=paths["outcomes"], ledger=paths["ledger"], population=paths["population"], quiet=quiet,
        language=language,
    )
