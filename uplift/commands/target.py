"""``uplift target SPEC --outcomes FILE --population FILE --out FILE``: whom to target next."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from uplift.cli import add_common, whole_number
    from uplift.spec.schema import LANGUAGES, MAX_BOOTSTRAP

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
    p.add_argument("--lang", choices=LANGUAGES, help="language of the next-best-offer page (<out>.html, several offers "
                   "or a budget): en (English) or zh (Simplified Chinese); default: [experiment] language in the spec")
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

    from uplift.targeting.offers import wants_next_best_offer

    if wants_next_best_offer(spec, outcomes, arm_column, spec.control_arm):
        return _next_best_offer(args, spec, population, outcomes, arm_column, out, suffix)
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


def _next_best_offer(args: argparse.Namespace, spec, population, outcomes, arm_column: str, out, suffix: str) -> int:
    """Several offers or a budget: the allocated list, and its page beside it (``<out>.html``)."""
    from uplift.data.files import write_parquet_atomic, write_text_atomic
    from uplift.data.writes import guard_outputs
    from uplift.readout.target_page import target_html
    from uplift.results import to_json
    from uplift.targeting.explain import permutation_importance, policy_tree
    from uplift.targeting.fairness import composition
    from uplift.targeting.offers import next_best_offer

    from uplift.readout.fonts import check_fonts
    from uplift.text import use_language

    page = out.with_suffix(".html")
    guard_outputs([page], {"spec": args.spec, "--outcomes": args.outcomes, "--population": args.population,
                           "--ledger": args.ledger}, overwrite=args.overwrite)
    language = args.lang or spec.experiment.language
    check_fonts(language)  # a Chinese page without a Chinese font for its charts fails before any work
    nbo = next_best_offer(spec, population, outcomes, arm_column, spec.control_arm, n_boot=args.bootstrap)
    d = nbo.to_dict()
    main = max(nbo.models, key=lambda m: nbo.allocation.contacts.get(m.offer, 0))
    importance = permutation_importance(main.model, main.held_X, main.held_y, main.held_t, seed=spec.targeting.seed)
    tree = policy_tree(nbo.eligible[list(nbo.features)], nbo.table.set_index(spec.unit).loc[nbo.units, "offer"].to_numpy(),
                       seed=spec.targeting.seed)
    groups = list(spec.fairness.group_columns) if spec.fairness is not None else []
    comp = composition(nbo.eligible, nbo.allocation.offer >= 0, groups)
    d["explanations"] = {"offer": main.offer, "permutation_importance": [{"feature": c, "qini_drop": v} for c, v in importance],
                         "policy_tree": tree.to_dict()}
    d["composition"] = list(comp)
    qini = {m.offer: (list(m.evaluation.qini_x), list(m.evaluation.qini_y)) for m in nbo.models}
    with use_language(language):
        html_text = target_html(spec.name, d, qini, importance, tree.to_dict(), comp)
    if suffix == ".csv":
        write_text_atomic(nbo.table.to_csv(index=False), out)
    else:
        write_parquet_atomic(nbo.table, out)
    write_text_atomic(html_text, page)
    if args.json:
        print(to_json({**d, "next_wave": str(out), "page": str(page)}, sort_keys=False))
    else:
        cur = nbo.currency
        print(f"next best offer: {', '.join(nbo.offers)} against control; {d['selected']:,} of {d['eligible']:,} eligible "
              f"customers get an offer ({', '.join(f'{o} {n:,}' for o, n in d['contacts'].items())})")
        print(f"expected incremental profit {d['expected_incremental_profit']:,.0f} {cur}, cost {d['expected_cost']:,.0f} {cur}"
              + (f" of budget {d['budget']:,.0f}" if d["budget"] is not None else "") + f"; solver: {d['status']}")
        for k, v in d["shadow_prices"].items():
            print(f"shadow price of {k}: {v:,.3f} (LP relaxation)")
        print(f"policy tree (agreement {tree.agreement:.0%}): " + "; ".join(tree.rules))
        print(f"next-wave list: {out}\npage: {page}")
    return 0
