"""``uplift simulate``: a synthetic bank with known truth, or the outcomes of a campaign on a ledger.

Two modes:

* ``uplift simulate --customers N --seed S --out DIR`` writes DIR/population.parquet,
  DIR/outcomes.parquet (with an ``arm`` column, customers split by salted hash) and DIR/truth.json;
* ``uplift simulate --population FILE --ledger FILE --seed S --out DIR`` plays the campaign
  on an existing assignment: it writes DIR/outcomes.parquet for the ledger's customers
  (without an arm column: the readout takes arms from the ledger) and DIR/truth.json.
"""

from __future__ import annotations

import argparse

MAX_CUSTOMERS = 10_000_000
"""The largest simulated population (--customers): about 3 GB in memory; more is refused, not attempted."""


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from uplift.cli import add_common, whole_number

    p = sub.add_parser(
        "simulate",
        help="write a synthetic bank population and campaign outcomes with known true effects",
        description="Simulate a bank population and a cross-sell campaign with known truth. With --customers: "
        "writes DIR/population.parquet, DIR/outcomes.parquet and DIR/truth.json. With --population and "
        "--ledger: simulates the campaign's outcomes for the customers in the ledger (DIR/outcomes.parquet, "
        "DIR/truth.json).",
    )
    p.add_argument("--customers", type=whole_number(1, MAX_CUSTOMERS),
                   help=f"number of customers of a new population (1 to {MAX_CUSTOMERS:,})")
    p.add_argument("--population", help="an existing population file (with --ledger)")
    p.add_argument("--ledger", help="an assignment ledger written by `uplift assign` (with --population)")
    p.add_argument("--control", help="with --ledger: the control arm's name in the ledger (default: control)")
    p.add_argument("--seed", type=whole_number(0), default=0, help="random seed, a whole number >= 0 (same seed, same files)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the files of an earlier simulation in DIR (never an input or a ledger)")
    p.add_argument("--offer-share", type=float, default=0.5, help="with --customers: share of customers in the offer arm (default 0.5)")
    add_common(p, json_flag=True)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from uplift.data.writes import guard_outputs
    from uplift.errors import UserError
    from uplift.simulate import output_paths

    out = Path(args.out)
    names = ("outcomes", "truth") if (args.ledger or args.population) else ("population", "outcomes", "truth")
    guard_outputs([output_paths(out)[k] for k in names], {"--population": args.population, "--ledger": args.ledger},
                  overwrite=args.overwrite)
    if args.ledger or args.population:
        if not (args.ledger and args.population):
            raise UserError("--population and --ledger go together; give both, or --customers N alone")
        if args.customers is not None:
            raise UserError("--customers makes a new population; drop it when simulating outcomes for --ledger")
        paths = _outcomes_for_ledger(Path(args.population), Path(args.ledger), args.control or "control", args.seed, out)
    else:
        from uplift.simulate import simulate

        if args.customers is None:
            raise UserError("give --customers N (a new population) or --population FILE --ledger FILE")
        if args.control not in (None, "control"):
            raise UserError(f"--control {args.control} names the control arm of a --ledger; a new population's arms are "
                            "'control' and 'offer' (set the offer's share with --offer-share); drop --control")
        if not 0 < args.offer_share < 1:
            raise UserError(f"--offer-share {args.offer_share} must lie in (0, 1), e.g. 0.5")
        sim = simulate(args.customers, seed=args.seed, arms={"control": 1 - args.offer_share, "offer": args.offer_share})
        paths = sim.write(out)
    if args.json:
        print(json.dumps({k: str(v) for k, v in paths.items()}))
    else:
        for k, v in paths.items():
            print(f"{k}: {v}")
    return 0


def _outcomes_for_ledger(population_path, ledger_path, control: str, seed: int, out) -> dict:
    from uplift.errors import DataError
    from uplift.data.files import read_table
    from uplift.simulate import simulate_outcomes, write_outputs

    population = read_table(population_path, "population", text_columns=("customer_id",))
    ledger = read_table(ledger_path, "ledger", text_columns=("customer_id", "arm"))
    unit = "customer_id"
    for name, frame in (("population", population), ("ledger", ledger)):
        if unit not in frame.columns:
            raise DataError(f"{name}: no column '{unit}'; simulated campaigns need the simulator's population")
    if "arm" not in ledger.columns:
        raise DataError(f"{ledger_path}: no 'arm' column; give a ledger written by `uplift assign`")
    from uplift.data.hashing import same_id_type

    left, right = same_id_type(population[unit], ledger[unit])
    assigned = population.assign(**{unit: left}).merge(ledger[[unit, "arm"]].assign(**{unit: right}), on=unit, how="inner")
    if len(assigned) < len(ledger):
        raise DataError(f"{ledger_path}: {len(ledger) - len(assigned)} ledger units are not in {population_path}; give the population the ledger was assigned from")
    if control not in set(assigned["arm"].astype(str)):
        raise DataError(f"{ledger_path}: no unit in arm {control!r}; name the control arm with --control")
    outcomes, truth = simulate_outcomes(assigned.drop(columns=["arm"]), assigned["arm"].astype(str).to_numpy(), seed=seed, control=control)
    return write_outputs(out, outcomes=outcomes.drop(columns=["arm"]), truth=truth.to_dict())
