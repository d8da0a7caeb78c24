"""``uplift rules --holdings FILE``: which product to cross-sell next (association rules)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from uplift.cli import add_common, whole_number

    p = sub.add_parser(
        "rules",
        help="association rules over product holdings: support, confidence, lift, candidates",
        description="Read product holdings (a wide table of holds_<product> 0/1 columns, or a long table "
        "of (unit, product) rows) and print the top rules A -> B with support, confidence, lift and "
        "the number of candidates (A holders without B). With --propensity PRODUCT, also fit a "
        "propensity model for holding PRODUCT and print its gains table.",
    )
    p.add_argument("--holdings", required=True, help="holdings file (Parquet or CSV)")
    p.add_argument("--min-support", type=float, default=0.01, help="minimum support of a rule (default 0.01)")
    p.add_argument("--top", type=whole_number(1), default=10, help="number of rules to print (default 10)")
    p.add_argument("--sort", default="lift", choices=["lift", "confidence", "support", "candidates", "leverage"],
                   help="order of the printed rules (default lift)")
    p.add_argument("--unit", help="unit column of a long table")
    p.add_argument("--product", help="product column of a long table")
    p.add_argument("--propensity", metavar="PRODUCT", help="also fit a propensity model for holds_PRODUCT (wide table)")
    add_common(p, json_flag=True)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from uplift.results import to_json

    from uplift.errors import UserError
    from uplift.data.files import read_table
    from uplift.targeting.rules import association_rules, propensity_model

    if args.top < 1:
        raise UserError(f"--top {args.top} must be at least 1")
    holdings = read_table(args.holdings, "holdings")
    label = str(args.holdings)
    res = association_rules(holdings, min_support=args.min_support, unit=args.unit, product=args.product, label=label)
    prop = None
    if args.propensity:
        col = f"holds_{args.propensity}"
        if col not in holdings.columns:
            raise UserError(f"{label}: has no column '{col}' for --propensity; use a product of the wide table")
        feats = [c for c in holdings.columns if c.startswith("holds_") and c != col]
        feats += [c for c in ("segment", "age_band", "region", "bank_tenure_months", "balance", "revenue_pre_12m")
                  if c in holdings.columns]
        prop = propensity_model(holdings, col, feats)
    if args.json:
        d = res.to_dict(args.top)
        d["rules"] = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                      for r in res.top(args.top, by=args.sort).to_dict("records")]
        if prop is not None:
            d["propensity"] = prop.to_dict()
        print(to_json(d, sort_keys=False))
    else:
        print(res.summary(args.top) if args.sort == "lift" else res.top(args.top, by=args.sort).to_string(index=False))
        if prop is not None:
            print()
            print(prop.summary())
    return 0
