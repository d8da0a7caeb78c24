"""``uplift registry list REGISTRY`` and ``uplift registry show REGISTRY NAME``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from uplift.cli import add_common

    p = sub.add_parser(
        "registry",
        help="list the campaigns a programme's registry records, or show one",
        description="Read a registry folder (written by `uplift assign` and `uplift readout` for specs naming a "
        "programme or a registry): `list` prints one line per experiment (kind and date of its last entry, arms and "
        "sizes); `show NAME` prints every entry of experiment NAME as JSON.",
    )
    p.add_argument("action", choices=("list", "show"), help="list the experiments, or show one")
    p.add_argument("registry", help="the registry folder")
    p.add_argument("name", nargs="?", help="with show: the experiment's name")
    add_common(p, json_flag=True)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from uplift.errors import UserError
    from uplift.programme.registry import open_registry
    from uplift.results import to_json
    from uplift.text import text_table

    reg = open_registry(args.registry)
    if args.action == "show":
        if not args.name:
            raise UserError("registry show needs the experiment's NAME; see `uplift registry list REGISTRY`")
        entries = reg.of(args.name)
        if not entries:
            raise UserError(f"{args.registry}: records no experiment {args.name!r}; known: "
                            f"{', '.join(reg.experiments()) or '(none)'}")
        print(to_json({"header": dict(reg.header), "entries": entries}))
        return 0
    rows = []
    for name in reg.experiments():
        last = reg.of(name)[-1]
        assigned = reg.latest("assignment").get(name, {})
        arms = ", ".join(f"{a} {n:,}" for a, n in dict(assigned.get("arms", {})).items())
        rows.append((name, str(last.get("kind")), str(assigned.get("assigned_at", "")), arms, str(len(reg.of(name)))))
    if args.json:
        print(to_json({"header": dict(reg.header), "experiments": [dict(zip(("experiment", "last", "assigned_at", "arms",
                                                                               "entries"), r)) for r in rows]}))
        return 0
    print(f"registry {args.registry}: programme {reg.programme or '(none)'}, {len(reg.entries)} entries")
    print(text_table([("experiment", "last entry", "assigned", "arms", "entries"), *rows]))
    return 0
