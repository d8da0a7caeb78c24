"""``uplift check SPEC --ledger FILE [--population FILE]``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from uplift.cli import add_common

    p = sub.add_parser(
        "check",
        help="sample-ratio mismatch and covariate balance of a ledger",
        description="Chi-square sample-ratio check of the ledger against the designed weights (flagged at "
        "p < 0.001), overall and per stratum; with --population, the standardised mean difference of each "
        "pre-period covariate ([analysis] covariates) per arm vs control (flagged above 0.1). Exits 1 when "
        "anything is flagged.",
    )
    p.add_argument("spec", help="experiment spec (.toml)")
    p.add_argument("--ledger", help="ledger file written by `uplift assign`; default: [assignment] ledger")
    p.add_argument("--population", help="population file (.parquet or .csv) for the balance check")
    add_common(p, json_flag=True)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from uplift.results import to_json

    from uplift.experiment.checks import check_ledger
    from uplift.errors import UserError
    from uplift.data.files import read_table
    from uplift.experiment.ledger import read_ledger
    from uplift.spec import load_spec

    spec = load_spec(args.spec)
    if spec.assignment is None:
        raise UserError(f"{spec.label}: has no [assignment] section; the check needs the designed arm weights")
    ledger_path = spec.input_path(args.ledger, "assignment", "ledger")
    if ledger_path is None:
        raise UserError("no ledger given; pass --ledger FILE or set [assignment] ledger in the spec")
    ledger = read_ledger(ledger_path, spec.unit)
    if ledger is None:
        raise UserError(f"{ledger_path}: ledger file not found; run `uplift assign` first or check the path")
    population = read_table(args.population, what="population", text_columns=(spec.unit,)) if args.population else None
    result = check_ledger(spec, ledger, population, label=str(ledger_path))
    if args.json:
        print(to_json(result.to_dict()))
    else:
        print(result.summary())
    return 1 if result.flagged else 0
