"""``uplift target SPEC --outcomes FILE --population FILE --out FILE``: whom to target next."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from uplift.cli import add_common, whole_number
    from uplift.spec.schema import MAX_BOOTSTRAP

    p = sub.add_parser(
        "target",
        help="fit uplift models on a finished test and write the next-wave list",
        description="Compare uplift models on held-out customers of the test (Qini with bootstrap "
        "intervals), estimate incremental profit by targeting depth from the spec's [economics] "
        "costs, and write the next-wave list of ELIGIBLE customers (the spec's exclusion rules "
        "apply): unit, score (predicted uplift), decile, expected_incremental_profit, selected.",
    )
    p.add_argument("spec", help="experiment spec (TOML) with a [targeting] section")
    p.add_argument("--outcomes", required=True, help="outcomes of the test (Parquet or CSV) with the arm column")
    p.add_argument("--population", required=True, help="customers to score (Parquet or CSV), with the feature columns")
    p.add_argument("--out", required=True, help="next-wave list to write (.parquet or .csv)")
    p.add_argument("--ledger", help="assignment ledger (from `uplift assign`) when the outcomes carry no arm column")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists (never an input or a ledger)")
    p.add_argument("--bootstrap", type=whole_number(1, MAX_BOOTSTRAP), default=None, help="bootstrap resamples (default: [targeting] n_bootstrap, 200)")
    add_common(p, json_flag=True)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from uplift.results import to_json
    from pathlib import Path

    from uplift.errors import UserError
    from uplift.data.files import read_table, write_parquet_atomic, write_text_atomic
    from uplift.data.writes import guard_outputs
    from uplift.spec import load_spec
    from uplift.targeting.analyse import targeting_analysis

    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv"):
        raise UserError(f"--out {args.out}: unknown file type {suffix or '(none)'}; use .parquet or .csv")
    if args.bootstrap is not None and args.bootstrap < 1:
        raise UserError(f"--bootstrap {args.bootstrap} must be at least 1, e.g. 200")
    guard_outputs([out], {"spec": args.spec, "--outcomes": args.outcomes, "--population": args.population,
                          "--ledger": args.ledger}, overwrite=args.overwrite)
    spec = load_spec(args.spec)
    outcomes = read_table(args.outcomes, "outcomes", text_columns=(spec.unit,))
    population = read_table(args.population, "population", text_columns=(spec.unit,))
    arm_column = spec.arm_column
    if args.ledger:
        from uplift.readout.analysis import prepare_outcomes

        source, arm_column, _ = prepare_outcomes(spec, outcomes, read_table(args.ledger, "ledger", text_columns=(spec.unit, "arm")), label=str(args.outcomes))
        outcomes = source.to_pandas()
    import sys

    result = targeting_analysis(spec, population, outcomes, arm_column, spec.control_arm, n_boot=args.bootstrap,
                                progress=not args.quiet and sys.stderr.isatty())
    if suffix == ".csv":
        write_text_atomic(result.next_wave.to_csv(index=False), out)
    else:
        write_parquet_atomic(result.next_wave, out)
    if args.json:
        print(to_json({**result.to_dict(), "next_wave": str(out)}, sort_keys=False))
    else:
        print(result.summary())
        print(f"next-wave list: {out} ({result.n_eligible:,} eligible customers, {result.n_targeted:,} selected)")
    return 0
