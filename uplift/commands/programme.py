"""``uplift programme SPEC --outcomes FILE [--out DIR]``: the programme readout (and ``--simulate-from``)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from uplift.cli import add_common, whole_number
    from uplift.spec.schema import LANGUAGES

    p = sub.add_parser(
        "programme",
        help="programme readout: the global holdout against everyone else, campaigns side by side, meta-analysis",
        description="Read out the programme in SPEC (a programme spec): incremental conversions, revenue, profit and "
        "CLV of the whole programme (holdout against everyone else, with intervals), each campaign of its registry "
        "against its own control, and their random-effects meta-analysis with shrunken estimates. Writes "
        "DIR/results.json and DIR/programme.html, and records the campaigns' effects in the registry. With "
        "--simulate-from POPULATION, instead draws simulated outcomes of the registry's campaigns into --outcomes "
        "(and its truth beside it), for a walk-through or a test.",
    )
    p.add_argument("spec", help="programme spec (.toml)")
    p.add_argument("--outcomes", required=True, help="outcomes over the programme's period: one row per unit")
    p.add_argument("--out", help="output folder (default: reports/<programme>)")
    p.add_argument("--start", default="", help="keep campaigns assigned on or after this date (YYYY-MM-DD)")
    p.add_argument("--end", default="", help="keep campaigns assigned on or before this date (YYYY-MM-DD)")
    p.add_argument("--simulate-from", metavar="POPULATION", help="draw simulated outcomes for this population")
    p.add_argument("--seed", type=whole_number(0), default=0, help="with --simulate-from: random seed")
    p.add_argument("--lang", choices=LANGUAGES, default="en",
                   help="language of programme.html: en (English, default) or zh (Simplified Chinese); results.json is the same")
    add_common(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from uplift.data.files import json_writer, parquet_writer, read_table, text_writer
    from uplift.data.writes import commit_files, guard_outputs
    from uplift.programme.registry import open_registry
    from uplift.spec.programme import load_programme

    spec = load_programme(args.spec)
    registry = open_registry(spec.registry_path)
    if args.simulate_from:
        from uplift.programme.simulate import simulate_programme

        out = Path(args.outcomes)
        truth_path = out.with_name(out.stem + ".truth.json")
        guard_outputs([out, truth_path], {"spec": args.spec, "--simulate-from": args.simulate_from}, overwrite=False)
        population = read_table(args.simulate_from, what="population", text_columns=(spec.programme.unit,))
        frame, truth = simulate_programme(population, registry, spec, seed=args.seed)
        commit_files([(out, parquet_writer(frame)), (truth_path, json_writer(truth))])
        print(f"outcomes: {out}\ntruth: {truth_path} (incremental conversions {truth['incremental_conversions']:,.1f})")
        return 0
    from uplift.programme.analysis import programme_readout, validate_programme_results
    from uplift.programme.registry import append_entries, registry_lock
    from uplift.readout.programme_page import programme_html
    from uplift.text import use_language
    from uplift.readout.fonts import check_fonts

    out = Path(args.out) if args.out else Path("reports") / spec.name
    outs = [out / "results.json", out / "programme.html"]
    guard_outputs(outs, {"spec": args.spec, "--outcomes": args.outcomes}, overwrite=True)
    check_fonts(args.lang)  # a Chinese page needs a Chinese font installed (the page's font list names it)
    outcomes = read_table(args.outcomes, what="outcomes", text_columns=(spec.programme.unit,))
    results = programme_readout(spec, registry, outcomes, label=str(args.outcomes), start=args.start, end=args.end)
    validate_programme_results(results)
    with use_language(args.lang):
        page = programme_html(results)
    commit_files([(outs[0], json_writer(results)), (outs[1], text_writer(page))])
    entries = [{"kind": "campaign_effect", "experiment": c["experiment"], "product": c["product"],
                "programme_sha256": results["programme_sha256"],
                "effects": [{"metric": "conversion", **c["conversion"]}]}
               for c in results["campaigns"] if c["conversion"]["abs_se"]]
    with registry_lock(spec.registry_path):
        append_entries(open_registry(spec.registry_path), registry.header, entries)
    conv = results["effect"]["conversions"]
    lo, hi = conv["total_ci"]
    print(f"programme {spec.name}: {conv['total']:,.1f} incremental conversions ({lo:,.1f} to {hi:,.1f}); "
          f"naive sum of campaign lifts {results['naive_sum']['incremental_conversions']:,.1f}")
    for name in ("revenue", "profit", "clv"):
        if name in results["effect"]:
            e = results["effect"][name]
            print(f"  incremental {name}: {e['total']:,.0f} {spec.programme.currency} "
                  f"({e['total_ci'][0]:,.0f} to {e['total_ci'][1]:,.0f})")
    m = results["meta_analysis"]
    if m:
        print(f"  meta-analysis ({m['method']}): pooled effect {m['mean']:+.4f} ({m['ci'][0]:+.4f} to {m['ci'][1]:+.4f}), "
              f"tau2 {m['tau2']:.3g}, I2 {m['i2']:.0%}")
    for o in outs:
        print(o)
    return 0
