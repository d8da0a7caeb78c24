"""``uplift readout SPEC --outcomes FILE [--ledger FILE] [--population FILE] --out DIR [--json-only]``."""

from __future__ import annotations

import argparse

from uplift.data.engines import ENGINES


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from uplift.cli import add_common
    from uplift.spec.schema import LANGUAGES

    p = sub.add_parser(
        "readout",
        help="analyse an experiment and render readout.html + results.json",
        description="Execute the readout notebook for SPEC on the given data and write DIR/readout.html, "
        "DIR/results.json and DIR/readout.ipynb. Arms come from --ledger, an 'arm' column, or "
        "[analysis] arm_column in the spec.",
    )
    p.add_argument("spec", help="experiment spec (TOML)")
    p.add_argument("--outcomes", help="outcomes file (Parquet or CSV); default: [population] outcomes in the spec")
    p.add_argument("--ledger", help="assignment ledger written by `uplift assign`")
    p.add_argument("--population", help="population file (for eligibility, balance and targeting)")
    p.add_argument("--out", help="output folder (default: reports/<experiment>)")
    p.add_argument("--json-only", action="store_true", help="skip the notebook; write results.json only")
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="auto (default): files are aggregated by the embedded DuckDB; "
                   "duckdb: the same, rows never leave the engine (only aggregates come back); "
                   "pandas: read the outcomes into memory. Every engine gives the same numbers and messages")
    p.add_argument("--history", nargs="+", metavar="RESULTS", default=[],
                   help="results.json of earlier looks, oldest first: the page and results.json show the always-valid "
                   "look history with this readout as the last look (needs [analysis] always_valid = true)")
    p.add_argument("--lang", choices=LANGUAGES, help="language of readout.html: en (English) or zh (Simplified "
                   "Chinese); default: [experiment] language in the spec. results.json is the same in both apart from "
                   "its language field")
    add_common(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from uplift.data.writes import guard_outputs
    from uplift.spec import load_spec

    spec = load_spec(args.spec)
    if args.json_only and args.engine != "pandas":  # the engine starts on the unit checks while the rest imports
        from uplift.data.duck_files import ask_ahead

        ask_ahead(spec.input_path(args.outcomes, "population", "outcomes"), spec.population.format or None, spec.unit)
    from uplift.readout.render import render_readout, write_results

    out = Path(args.out) if args.out else Path("reports") / spec.name
    names = ("results.json",) if args.json_only else ("results.json", "readout.ipynb", "readout.html")
    # a readout replaces its own earlier report in the folder, never one of its inputs or a ledger
    guard_outputs([out / n for n in names], {
        "spec": args.spec, "--outcomes": spec.input_path(args.outcomes, "population", "outcomes"),
        "--ledger": args.ledger, "--population": spec.input_path(args.population, "population", "source"),
        **{f"--history {h}": h for h in args.history},
    }, overwrite=True)
    if spec.experiment.programme or spec.experiment.registry:  # refuse another programme's registry before writing
        from uplift.programme.campaign import check_registry

        check_registry(spec)
    if args.json_only:
        path = write_results(spec, out, args.outcomes, args.ledger, args.population, engine=args.engine,
                             history=args.history, language=args.lang)
        _record(spec, out)
        print(path)
        return 0
    paths = render_readout(spec, out, args.outcomes, args.ledger, args.population, quiet=args.quiet, engine=args.engine,
                           history=args.history, language=args.lang)
    _record(spec, out)
    print(paths.html)
    return 0


def _record(spec, out) -> None:
    """A campaign naming a programme or registry: its key results go into the registry."""
    if spec.experiment.programme or spec.experiment.registry:
        import json

        from uplift.programme.campaign import record_readout

        record_readout(spec, json.loads((out / "results.json").read_text(encoding="utf-8")))
