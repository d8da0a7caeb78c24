"""``uplift simulate --customers N --seed S --out DIR``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from uplift.cli import add_common

    p = sub.add_parser(
        "simulate",
        help="write a synthetic bank population, campaign outcomes and the true effects",
        description="Simulate a bank population and a cross-sell campaign with known truth. Writes "
        "DIR/population.parquet, DIR/outcomes.parquet and DIR/truth.json.",
    )
    p.add_argument("--customers", type=int, required=True, help="number of customers")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--offer-share", type=float, default=0.5, help="share of customers in the offer arm (default 0.5)")
    add_common(p, json_flag=True)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    import json

    from uplift.errors import UserError
    from uplift.simulate import simulate

    if args.customers < 1:
        raise UserError(f"--customers {args.customers} must be at least 1")
    if not 0 < args.offer_share < 1:
        raise UserError(f"--offer-share {args.offer_share} must lie in (0, 1), e.g. 0.5")
    sim = simulate(args.customers, seed=args.seed, arms={"control": 1 - args.offer_share, "offer": args.offer_share})
    paths = sim.write(args.out)
    if args.json:
        print(json.dumps({k: str(v) for k, v in paths.items()}))
    else:
        for k, v in paths.items():
            print(f"{k}: {v}")
    return 0
