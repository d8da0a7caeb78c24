"""``uplift design SPEC [--population FILE] [--n N] [--json]``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from uplift.cli import add_common, whole_number

    p = sub.add_parser(
        "design",
        help="sample size per arm, MDE, power and duration of a test",
        description="Plan the test in SPEC: units per arm for the primary metric's target effect "
        "([design] mde_relative or mde_absolute, at [design] alpha and power), the MDE and power at that n, "
        "the duration at [design] weekly_inflow, and the smaller n with CUPED. With --population, variances "
        "of mean and ratio metrics come from the population (the metric's column, else its pre-period "
        "covariate) and the eligible count after exclusions is shown. With --n, gives MDE and power at that "
        "total n instead of solving for n.",
    )
    p.add_argument("spec", help="experiment spec (.toml)")
    p.add_argument("--population", help="population file (.parquet or .csv) for variances and eligibility")
    p.add_argument("--n", type=whole_number(2), help="total units in the test: report MDE and power at this n")
    add_common(p, json_flag=True)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from uplift.results import to_json

    from uplift.experiment.design import design_experiment
    from uplift.data.files import read_table
    from uplift.spec import load_spec

    spec = load_spec(args.spec)
    population = read_table(args.population, what="population", text_columns=(spec.unit,)) if args.population else None
    result = design_experiment(spec, population, n_total=args.n)
    if args.json:
        print(to_json(result.to_dict()))
    else:
        print(result.summary())
    return 0
