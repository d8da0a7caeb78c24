"""``uplift design SPEC [--population FILE | --no-population] [--n N] [--json] [--out DIR]``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from uplift.cli import add_common, whole_number
    from uplift.spec.schema import LANGUAGES

    p = sub.add_parser(
        "design",
        help="feasibility, sample size per arm, MDE, power, duration and power curves of a test",
        description="Plan the test in SPEC. First line: whether the test can reach its power with the eligible "
        "population (a fixed pool unless [design] weekly_inflow says units keep arriving), with the MDE the "
        "eligible units reach. Then units per arm for the primary metric's target effect ([design] mde_relative "
        "or mde_absolute, at [design] alpha and power), the MDE and power at that n, the duration, the smaller "
        "n with CUPED, the exclusion waterfall (as `uplift assign` would record it; nothing is written) and "
        "each guardrail's power. The population (--population, default: the spec's [population] source) gives "
        "variances of mean and ratio metrics (the metric's column, else its pre-period covariate) and the "
        "eligible count. With --n, gives MDE and power at that total n instead of solving for n. With --out "
        "DIR, writes DIR/design.json (the --json output: power against n, MDE against n and duration per "
        "metric, guardrail power) and DIR/design.html, the same numbers as a self-contained page.",
    )
    p.add_argument("spec", help="experiment spec (.toml)")
    p.add_argument("--population",
                   help="population file (.parquet or .csv) for variances and eligibility; default: the spec's "
                   "[population] source")
    p.add_argument("--no-population", action="store_true",
                   help="design from the spec alone, without the spec's [population] source")
    p.add_argument("--n", type=whole_number(2), help="total units in the test: report MDE and power at this n")
    p.add_argument("--out", help="output folder for design.json and design.html")
    p.add_argument("--prior-from-registry", action="store_true",
                   help="take the registry's past effects for the same product as a prior: expected incremental "
                   "conversions and profit, and the chance to detect (assurance); see uplift.programme.priors")
    p.add_argument("--lang", choices=LANGUAGES, help="language of design.html: en (English) or zh (Simplified Chinese); "
                   "default: [experiment] language in the spec")
    add_common(p, json_flag=True)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from uplift.data.files import json_writer, read_table, text_writer
    from uplift.data.writes import commit_files, guard_outputs
    from uplift.errors import UserError
    from uplift.experiment.design import design_experiment
    from uplift.experiment.design_plan import design_record
    from uplift.results import to_json
    from uplift.spec import load_spec

    spec = load_spec(args.spec)
    if args.population and args.no_population:
        raise UserError("--population and --no-population contradict each other; give one of them")
    path = None if args.no_population else spec.input_path(args.population, "population", "source")
    if path is not None and not args.population and not path.exists():
        raise UserError(f"{path}: the spec's [population] source is not found; pass --population FILE, or "
                        "--no-population to design from the spec alone")
    outs = [Path(args.out) / "design.json", Path(args.out) / "design.html"] if args.out else []
    language = args.lang or spec.experiment.language
    if outs:  # refuse before any work: never over an input or a ledger, nor without a font for the page's charts
        from uplift.readout.fonts import check_fonts

        guard_outputs(outs, {"spec": args.spec, "--population": path}, overwrite=True)
        check_fonts(language)
    population = read_table(path, what="population", text_columns=(spec.unit,)) if path is not None else None
    result = design_experiment(spec, population, n_total=args.n)
    data = design_record(spec, result)  # with its plan and design_sha256, for the readout to check against
    if args.prior_from_registry:  # the registry named by [experiment] registry or the spec's programme
        from uplift.programme.campaign import registry_prior

        data["registry_prior"] = registry_prior(spec, data)
    if outs:
        from uplift.readout.design_page import design_html

        page = design_html(data, spec.experiment.hypothesis, spec.design.looks, language)
        commit_files([(outs[0], json_writer(data)), (outs[1], text_writer(page))])  # both new, or both old
    if args.json:
        print(to_json(data))
    else:
        print(result.summary())
        if "registry_prior" in data:
            from uplift.programme.campaign import prior_summary

            print(prior_summary(data["registry_prior"]))
        for o in outs:
            print(f"design: {o}")
    return 0
