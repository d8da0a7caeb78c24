"""``uplift monitor RESULTS [RESULTS ...]``: the always-valid look history of weekly readouts."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from uplift.cli import add_common

    p = sub.add_parser(
        "monitor",
        help="always-valid look history of weekly readouts (results.json files, oldest first)",
        description="Read the results.json of each look (written by `uplift readout` with [analysis] "
        "always_valid = true), oldest first, and print per metric the running always-valid interval and "
        "p-value at every look: valid however often the campaign was looked at.",
    )
    p.add_argument("results", nargs="+", help="results.json of each look, oldest first")
    add_common(p, json_flag=True)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from uplift.readout.history import history_text, monitor_history
    from uplift.readout.look_history import load_looks
    from uplift.results import to_json

    h = monitor_history(load_looks(args.results))
    print(to_json(h) if args.json else history_text(h))
    return 0
