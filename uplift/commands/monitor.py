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
    import json
    from pathlib import Path

    from uplift.errors import DataError
    from uplift.readout.history import history_text, monitor_history
    from uplift.results import to_json

    looks = []
    for name in args.results:
        path = Path(name)
        if not path.is_file():
            raise DataError(f"{name}: results file not found; give the results.json of each look")
        try:
            looks.append((name, json.loads(path.read_text(encoding="utf-8"))))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise DataError(f"{name}: is not a JSON file; give the results.json `uplift readout` wrote") from None
    h = monitor_history(looks)
    print(to_json(h) if args.json else history_text(h))
    return 0
