"""``uplift demo [--out DIR]``: the whole flow on simulated data."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from uplift.cli import add_common, whole_number
    from uplift.commands.simulate import MAX_CUSTOMERS
    from uplift.spec.schema import LANGUAGES

    p = sub.add_parser(
        "demo",
        help="simulate a bank, assign, collect outcomes and render the demo readout",
        description="Run the whole flow on simulated data with experiments/demo.toml: simulate a population, "
        "apply the exclusions, assign arms by salted hash (ledger), simulate outcomes, render the readout. "
        "Prints the readout's path.",
    )
    p.add_argument("--out", default="reports/demo", help="output folder (default: reports/demo)")
    p.add_argument("--customers", type=whole_number(1, MAX_CUSTOMERS), default=100_000,
                   help=f"population size (default 100,000; at most {MAX_CUSTOMERS:,})")
    p.add_argument("--seed", type=whole_number(0), default=2026, help="random seed (default 2026)")
    p.add_argument("--spec", default=None, help="spec to use (default: the bundled experiments/demo.toml)")
    p.add_argument("--lang", choices=LANGUAGES, help="language of readout.html: en (English) or zh (Simplified "
                   "Chinese); default: [experiment] language in the spec")
    add_common(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from uplift.demo import run_demo
    from uplift.errors import UserError

    if args.customers < 1000:
        raise UserError(f"--customers {args.customers} is too small for a readout; use at least 1000")
    if args.lang:  # a Chinese page without a Chinese font fails here, before any data is simulated
        from uplift.readout.fonts import check_fonts

        check_fonts(args.lang)
    paths = run_demo(args.out, customers=args.customers, seed=args.seed, spec_path=args.spec, quiet=args.quiet,
                     language=args.lang)
    print(paths.html)
    return 0
