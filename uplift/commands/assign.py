"""``uplift assign SPEC --population FILE --ledger FILE``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from uplift.cli import add_common
    from uplift.data.writes import LOCK_WAIT

    p = sub.add_parser(
        "assign",
        help="apply exclusions and assign eligible units to arms (append-only ledger)",
        description="Apply the spec's exclusion rules in order (first matching reason wins), assign every "
        "eligible unit not yet in the ledger by salted SHA-256 hash (exact counts within strata when "
        "[assignment] stratify is set), and append the new rows to the ledger atomically. Units already in "
        "the ledger keep their arm. Per-unit exclusion reasons go to LEDGER.exclusions.<ext>.",
    )
    p.add_argument("spec", help="experiment spec (.toml)")
    p.add_argument("--population", help="population file (.parquet or .csv); default: the spec's [population] source")
    p.add_argument("--ledger", help="ledger file (.parquet or .csv); default: the spec's [assignment] ledger")
    p.add_argument("--exclusions", help="exclusion log file (default: next to the ledger, LEDGER.exclusions.<ext>)")
    p.add_argument(
        "--assigned-at",
        help="date recorded in assigned_at for the rows added (YYYY-MM-DD; default: [experiment] start_date)",
    )
    p.add_argument("--wait", type=float, default=LOCK_WAIT, metavar="SECONDS",
                   help=f"when another run is writing the ledger, wait up to SECONDS for it (default {LOCK_WAIT:g}), "
                   "then stop")
    add_common(p, json_flag=True)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from uplift.results import to_json
    import sys

    from uplift.experiment.assign import assign_to_ledger
    from uplift.errors import UserError
    from uplift.spec import load_spec

    spec = load_spec(args.spec)
    if spec.assignment is None:
        raise UserError(f"{spec.label}: has no [assignment] section; add salt, arms and control")
    population = spec.input_path(args.population, "population", "source")
    if population is None:
        raise UserError("no population given; pass --population FILE or set [population] source in the spec")
    ledger = spec.input_path(args.ledger, "assignment", "ledger")
    if ledger is None:
        raise UserError("no ledger given; pass --ledger FILE (.parquet or .csv) or set [assignment] ledger in the spec")
    if not args.quiet and sys.stderr.isatty():
        print(f"assigning {population} -> {ledger} ...", file=sys.stderr, flush=True)
    if not args.wait >= 0:
        raise UserError(f"--wait {args.wait} must be a number of seconds, 0 or more")
    if spec.experiment.programme or spec.experiment.registry:  # a campaign of a programme: holdout, contact policy
        from uplift.programme.campaign import assign_campaign as assign_to_ledger
    result = assign_to_ledger(spec, population, ledger, assigned_at=args.assigned_at, exclusions=args.exclusions,
                              wait=args.wait)
    if args.json:
        print(to_json(result.to_dict()))
    else:
        print(result.summary())
        print(f"ledger: {ledger}")
        print(f"exclusion reasons: {result.extra.get('exclusions_path')}")
    return 0
