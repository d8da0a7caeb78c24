"""The catalogue of bad inputs (issue 9): each gets one clear line, exit 2, no traceback, nothing written.

Every test drives the real CLI (``uplift.cli.main``) on a small simulated bank and
checks the four promises of DESIGN.md "Reliability rules":

1. exit status 2;
2. exactly one line on stderr, ``uplift <cmd>: error: ...``, naming the file, column or
   key at fault (``names``) and saying what to do (a fix after ``;``);
3. no ``Traceback`` (in process an unexpected exception would escape ``main`` and fail
   the test; a few rows also run the console script in a subprocess);
4. nothing written: the output folder does not exist afterwards, or a file that
   existed is byte-identical.

README.md, section "When something goes wrong", lists these inputs and the message each gives.
"""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from uplift.cli import main
from uplift.simulate import simulate

PY = Path(sys.executable)

SPEC = """
[experiment]
name = "hardening"
unit = "customer_id"

[assignment]
salt = "hardening-salt"
arms = {{ control = 0.5, offer = 0.5 }}
control = "control"

[[metrics]]
name = "conversion"
kind = "proportion"
column = "converted"
primary = true

[[metrics]]
name = "revenue"
kind = "mean"
column = "revenue_12m"
{extra}
"""

CLV = """
[clv]
tenure_column = "tenure_months"
churned_column = "churned"
margin_per_period_column = "monthly_margin"
horizon_periods = 24
extrapolation = "none"
"""


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A small simulated bank: population, outcomes (with arms), and a ledger assigned by `uplift assign`."""
    root = tmp_path_factory.mktemp("bad")
    sim = simulate(1500, seed=11)
    pop = sim.population
    out = sim.outcomes
    pop.to_parquet(root / "population.parquet", index=False)
    out.to_parquet(root / "outcomes.parquet", index=False)
    spec = root / "spec.toml"
    spec.write_text(SPEC.format(extra=""), encoding="utf-8")
    ledger = root / "ledger.parquet"
    rc = main(["assign", str(spec), "--population", str(root / "population.parquet"), "--ledger", str(ledger), "-q", "--json"])
    assert rc == 0
    return {"root": root, "pop": pop, "out": out, "spec": spec, "ledger": ledger}


def _digest(path: Path) -> str | None:
    if not path.exists():
        return None
    if path.is_dir():
        return "dir:" + ",".join(sorted(p.name for p in path.rglob("*")))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_bad(capsys, argv: list[str], names: list[str], untouched: list[Path]) -> str:
    """Run the CLI expecting a user error. Returns the message."""
    before = {p: _digest(p) for p in untouched}
    capsys.readouterr()
    rc = main(argv)
    captured = capsys.readouterr()
    err = captured.err
    assert rc == 2, f"exit {rc}, stderr: {err!r}"
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {err!r}"
    line = lines[0]
    assert line.startswith(f"uplift {argv[0]}: error: "), line
    assert "Traceback" not in err
    for n in names:
        assert n in line, f"{n!r} not named in: {line}"
    assert ";" in line, f"no fix given after ';' in: {line}"
    for p in untouched:
        assert _digest(p) == before[p], f"{p} was written on error"
    log = os.environ.get("UPLIFT_CATALOGUE_LOG")
    if log:  # lets a maintainer list every message (README, "When something goes wrong"): UPLIFT_CATALOGUE_LOG=/tmp/x pytest ...
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{os.environ.get('PYTEST_CURRENT_TEST', '').split(' ')[0]}\t{line}\n")
    return line


def write_spec(tmp_path: Path, extra: str = "", text: str | None = None, name: str = "spec.toml") -> Path:
    p = tmp_path / name
    p.write_text(text if text is not None else SPEC.format(extra=extra), encoding="utf-8")
    return p


ENGINE = "pandas"  # set per test: every readout row runs on both engines (pandas in memory, DuckDB on the files)


def pytest_generate_tests(metafunc):
    """Run each test that reads out on both engines of `uplift readout --engine`."""
    import inspect

    if "readout_args(" in inspect.getsource(metafunc.function):
        metafunc.parametrize("engine_name", ["pandas", "duckdb"])


@pytest.fixture
def engine_name() -> str:
    return "pandas"


@pytest.fixture(autouse=True)
def _engine(engine_name):
    global ENGINE
    ENGINE = engine_name
    yield
    ENGINE = "pandas"


def readout_args(spec: Path, outcomes: Path, out: Path, *more: str) -> list[str]:
    return ["readout", str(spec), "--outcomes", str(outcomes), "--out", str(out), "--json-only", "-q", "--engine", ENGINE,
            *more]


def outcomes_file(tmp_path: Path, df: pd.DataFrame, name: str = "outcomes.parquet") -> Path:
    p = tmp_path / name
    if p.suffix == ".csv":
        df.to_csv(p, index=False)
    else:
        df.to_parquet(p, index=False)
    return p


# --------------------------------------------------------------------------- the good path (so a failure below is the bad input, not the set-up)


def test_good_inputs_pass(data, tmp_path, capsys):
    spec = write_spec(tmp_path, CLV)
    out = tmp_path / "report"
    rc = main(readout_args(spec, data["root"] / "outcomes.parquet", out))
    assert rc == 0, capsys.readouterr().err
    assert (out / "results.json").exists()
    rc = main(readout_args(spec, data["root"] / "outcomes.parquet", tmp_path / "r2", "--ledger", str(data["ledger"])))
    assert rc == 0, capsys.readouterr().err


# --------------------------------------------------------------------------- the spec


def test_malformed_toml(data, tmp_path, capsys):
    spec = write_spec(tmp_path, text='[experiment]\nname = "x\nunit = "customer_id"\n')
    out = tmp_path / "report"
    run_bad(capsys, readout_args(spec, data["root"] / "outcomes.parquet", out), [str(spec), "TOML", "line"], [out])


def test_unknown_key(data, tmp_path, capsys):
    spec = write_spec(tmp_path, "[design]\nalpah = 0.05\n")
    out = tmp_path / "report"
    line = run_bad(capsys, readout_args(spec, data["root"] / "outcomes.parquet", out), [str(spec), "alpah", "[design]"], [out])
    assert "alpha" in line  # the fix: did you mean 'alpha'?


def test_unknown_section(data, tmp_path, capsys):
    spec = write_spec(tmp_path, "[desing]\nalpha = 0.05\n")
    out = tmp_path / "report"
    run_bad(capsys, readout_args(spec, data["root"] / "outcomes.parquet", out), [str(spec), "[desing]", "design"], [out])


def test_weights_not_summing_to_one(data, tmp_path, capsys):
    text = SPEC.format(extra="").replace("control = 0.5, offer = 0.5", "control = 0.5, offer = 0.4")
    spec = write_spec(tmp_path, text=text)
    ledger = tmp_path / "ledger.parquet"
    line = run_bad(
        capsys, ["assign", str(spec), "--population", str(data["root"] / "population.parquet"), "--ledger", str(ledger)],
        [str(spec), "[assignment]", "0.9"], [ledger, ledger.with_name("ledger.exclusions.parquet")],
    )
    assert "add up to 1" in line


def test_single_arm_in_spec(data, tmp_path, capsys):
    text = SPEC.format(extra="").replace("{ control = 0.5, offer = 0.5 }", "{ control = 0.999999 }")
    spec = write_spec(tmp_path, text=text)
    ledger = tmp_path / "ledger.parquet"
    run_bad(
        capsys, ["assign", str(spec), "--population", str(data["root"] / "population.parquet"), "--ledger", str(ledger)],
        [str(spec), "[assignment]", "1 arm", "offer arm"], [ledger],
    )


@pytest.mark.parametrize("rate", ["-1.5", "25.0", "nan", "inf"])
def test_impossible_discount_rate(data, tmp_path, capsys, rate):
    spec = write_spec(tmp_path, CLV + f"annual_discount_rate = {rate}\n")
    out = tmp_path / "report"
    run_bad(capsys, readout_args(spec, data["root"] / "outcomes.parquet", out), [str(spec), "annual_discount_rate"], [out])


@pytest.mark.parametrize("horizon", ["0", "-12", "2.5"])
def test_horizon_of_zero(data, tmp_path, capsys, horizon):
    spec = write_spec(tmp_path, CLV.replace("horizon_periods = 24", f"horizon_periods = {horizon}"))
    out = tmp_path / "report"
    run_bad(capsys, readout_args(spec, data["root"] / "outcomes.parquet", out), [str(spec), "horizon_periods"], [out])


def test_spec_not_utf8(data, tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_bytes(SPEC.format(extra="").encode("utf-8") + b"\n# caf\xe9\n")
    out = tmp_path / "report"
    run_bad(capsys, readout_args(spec, data["root"] / "outcomes.parquet", out), [str(spec), "UTF-8"], [out])


def test_spec_missing(data, tmp_path, capsys):
    out = tmp_path / "report"
    run_bad(capsys, readout_args(tmp_path / "nope.toml", data["root"] / "outcomes.parquet", out), ["nope.toml", "not found"], [out])


# --------------------------------------------------------------------------- columns and values


def test_misspelt_metric_column(data, tmp_path, capsys):
    spec = write_spec(tmp_path, text=SPEC.format(extra="").replace('column = "converted"', 'column = "convertd"'))
    out = tmp_path / "report"
    run_bad(capsys, readout_args(spec, data["root"] / "outcomes.parquet", out), ["convertd"], [out])


def test_missing_unit_column_in_population(data, tmp_path, capsys):
    pop = data["pop"].rename(columns={"customer_id": "cust_id"})
    src = outcomes_file(tmp_path, pop, "population.parquet")
    ledger = tmp_path / "ledger.parquet"
    run_bad(capsys, ["assign", str(data["spec"]), "--population", str(src), "--ledger", str(ledger)],
            [str(src), "customer_id"], [ledger])


def test_text_in_numeric_column(data, tmp_path, capsys):
    df = data["out"].copy()
    df["revenue_12m"] = df["revenue_12m"].round(2).astype(str)
    df.loc[5, "revenue_12m"] = "twelve"
    src = outcomes_file(tmp_path, df, "outcomes.csv")
    out = tmp_path / "report"
    run_bad(capsys, readout_args(write_spec(tmp_path), src, out), ["revenue_12m"], [out])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_or_infinite_outcome(data, tmp_path, capsys, bad):
    df = data["out"].copy()
    df.loc[7, "revenue_12m"] = bad
    src = outcomes_file(tmp_path, df)
    out = tmp_path / "report"
    run_bad(capsys, readout_args(write_spec(tmp_path), src, out),
            ["revenue_12m", "missing" if math.isnan(bad) else "infinite"], [out])


def test_nan_in_proportion_column(data, tmp_path, capsys):
    df = data["out"].copy()
    df["converted"] = df["converted"].astype(float)
    df.loc[3, "converted"] = np.nan
    src = outcomes_file(tmp_path, df)
    out = tmp_path / "report"
    run_bad(capsys, readout_args(write_spec(tmp_path), src, out), ["converted", "missing"], [out])


def test_proportion_not_binary(data, tmp_path, capsys):
    df = data["out"].copy()
    df.loc[3, "converted"] = 2
    src = outcomes_file(tmp_path, df)
    out = tmp_path / "report"
    run_bad(capsys, readout_args(write_spec(tmp_path), src, out), ["converted", "0 and 1"], [out])


def test_negative_tenure(data, tmp_path, capsys):
    df = data["out"].copy()
    df.loc[4, "tenure_months"] = -3
    src = outcomes_file(tmp_path, df)
    out = tmp_path / "report"
    run_bad(capsys, readout_args(write_spec(tmp_path, CLV), src, out), ["tenure_months", "negative"], [out])


def test_implausible_tenure(data, tmp_path, capsys):
    """No [experiment] dates: the bound is 100 years of periods (1200 months)."""
    df = data["out"].copy()
    df.loc[4, "tenure_months"] = 32_000
    src = outcomes_file(tmp_path, df)
    out = tmp_path / "report"
    run_bad(capsys, readout_args(write_spec(tmp_path, CLV), src, out),
            ["tenure_months", "above 1,200 periods (max 32000)", "100 years"], [out])


def test_tenure_beyond_the_study_or_the_spec_bound(data, tmp_path, capsys):
    """With [experiment] dates the bound is the follow-up the data can hold; [clv] max_tenure_periods overrides."""
    df = data["out"].copy()
    df.loc[4, "tenure_months"] = 61
    src = outcomes_file(tmp_path, df)
    dated = SPEC.format(extra=CLV).replace('unit = "customer_id"\n',
                                           'unit = "customer_id"\nstart_date = "2026-01-05"\ndata_as_of = "2027-12-31"\n')
    out = tmp_path / "report"
    line = run_bad(capsys, readout_args(write_spec(tmp_path, text=dated), src, out),
                   ["tenure_months", "above 24 periods (max 61)", "start_date 2026-01-05", "max_tenure_periods"], [out])
    assert "data_as_of 2027-12-31" in line
    bounded = SPEC.format(extra=CLV + "max_tenure_periods = 36\n")
    run_bad(capsys, readout_args(write_spec(tmp_path, text=bounded, name="b.toml"), src, out),
            ["tenure_months", "above 36 periods (max 61)", "[clv] max_tenure_periods = 36"], [out])


@pytest.mark.parametrize("flag", [2, -1])
def test_churn_flag_not_binary(data, tmp_path, capsys, flag):
    df = data["out"].copy()
    df.loc[4, "churned"] = flag
    src = outcomes_file(tmp_path, df)
    out = tmp_path / "report"
    run_bad(capsys, readout_args(write_spec(tmp_path, CLV), src, out), ["churned"], [out])


def test_churn_flag_text(data, tmp_path, capsys):
    df = data["out"].copy()
    df["churned"] = np.where(df["churned"] == 1, "yes", "no")
    src = outcomes_file(tmp_path, df)
    out = tmp_path / "report"
    run_bad(capsys, readout_args(write_spec(tmp_path, CLV), src, out), ["churned"], [out])


# --------------------------------------------------------------------------- units and arms


def test_duplicate_unit_ids_in_population(data, tmp_path, capsys):
    pop = pd.concat([data["pop"], data["pop"].iloc[:3]], ignore_index=True)
    src = outcomes_file(tmp_path, pop, "population.parquet")
    ledger = tmp_path / "ledger.parquet"
    run_bad(capsys, ["assign", str(data["spec"]), "--population", str(src), "--ledger", str(ledger)],
            [str(src), "customer_id", "duplicate"], [ledger])


def test_duplicate_unit_ids_in_outcomes(data, tmp_path, capsys):
    df = pd.concat([data["out"], data["out"].iloc[:2]], ignore_index=True)
    src = outcomes_file(tmp_path, df)
    out = tmp_path / "report"
    run_bad(capsys, readout_args(write_spec(tmp_path), src, out, "--ledger", str(data["ledger"])),
            [str(src), "customer_id", "duplicate"], [out])


def test_unit_in_two_arms_in_ledger(data, tmp_path, capsys):
    led = pd.read_parquet(data["ledger"])
    twin = led.iloc[[0]].copy()
    twin["arm"] = "offer" if str(led["arm"].iloc[0]) == "control" else "control"
    bad = pd.concat([led.astype({"arm": str}), twin.astype({"arm": str})], ignore_index=True)
    ledger = outcomes_file(tmp_path, bad, "ledger.parquet")
    out = tmp_path / "report"
    run_bad(capsys, readout_args(write_spec(tmp_path), data["root"] / "outcomes.parquet", out, "--ledger", str(ledger)),
            ["ledger", "customer_id"], [out])


def test_unit_in_two_arms_in_outcomes(data, tmp_path, capsys, request):
    """Outcomes carrying their own arm column: a unit listed once in each arm."""
    df = data["out"].copy()
    twin = df.iloc[[0]].copy()
    twin["arm"] = "offer" if str(df["arm"].iloc[0]) == "control" else "control"
    df = pd.concat([df.astype({"arm": str}), twin.astype({"arm": str})], ignore_index=True)
    src = outcomes_file(tmp_path, df)
    out = tmp_path / "report"
    # the metric layer does not know the file name (analysis.analyse does not pass it): "outcomes" is named
    run_bad(capsys, readout_args(write_spec(tmp_path), src, out), ["outcomes", "customer_id", "two arms"], [out])


def test_unit_in_two_arms_in_ledger_on_assign(data, tmp_path, capsys):
    """`uplift assign` onto a ledger in which a unit holds two arms refuses, leaving the ledger as it was."""
    led = pd.read_parquet(data["ledger"])
    twin = led.iloc[[0]].copy()
    twin["arm"] = "offer" if str(led["arm"].iloc[0]) == "control" else "control"
    bad = pd.concat([led.astype(str), twin.astype(str)], ignore_index=True)
    ledger = outcomes_file(tmp_path, bad, "ledger.parquet")
    run_bad(capsys, ["assign", str(data["spec"]), "--population", str(data["root"] / "population.parquet"), "--ledger", str(ledger)],
            [str(ledger)], [ledger])


def test_outcomes_not_in_ledger_refused_above_threshold(data, tmp_path, capsys):
    df = data["out"].copy()
    extra = df.iloc[:100].copy()
    extra["customer_id"] = extra["customer_id"] + 10_000_000
    src = outcomes_file(tmp_path, pd.concat([df, extra], ignore_index=True))
    spec = write_spec(tmp_path, "[analysis]\nmax_unmatched_share = 0.02\n")
    out = tmp_path / "report"
    line = run_bad(capsys, readout_args(spec, src, out, "--ledger", str(data["ledger"])),
                   [str(src), "max_unmatched_share", "100"], [out])
    assert "not in the ledger" in line


def test_outcomes_not_in_ledger_counted_below_threshold(data, tmp_path, capsys):
    import json

    df = data["out"].copy()
    extra = df.iloc[:5].copy()
    extra["customer_id"] = extra["customer_id"] + 10_000_000
    src = outcomes_file(tmp_path, pd.concat([df, extra], ignore_index=True))
    spec = write_spec(tmp_path, "[analysis]\nmax_unmatched_share = 0.02\n")
    out = tmp_path / "report"
    assert main(readout_args(spec, src, out, "--ledger", str(data["ledger"]))) == 0, capsys.readouterr().err
    res = json.loads((out / "results.json").read_text())
    assert any("5 outcome rows" in n for n in res["notes"]), res["notes"]  # counted, never silently dropped
    assert res["provenance"]["units_analysed"] == len(df) - int(pd.Index(df["customer_id"]).isin([]).sum()) - \
        int((~df["customer_id"].isin(pd.read_parquet(data["ledger"])["customer_id"])).sum())


def test_arm_with_no_units(data, tmp_path, capsys):
    text = SPEC.format(extra="").replace("{ control = 0.5, offer = 0.5 }", "{ control = 0.4, offer = 0.4, offer_b = 0.2 }")
    spec = write_spec(tmp_path, text=text)
    out = tmp_path / "report"
    run_bad(capsys, readout_args(spec, data["root"] / "outcomes.parquet", out), ["offer_b"], [out])


def analysed_elsewhere(tmp_path: Path) -> Path:
    """A spec for an experiment randomised elsewhere: arms are whatever the data's column holds."""
    text = SPEC.format(extra="").replace(
        '[assignment]\nsalt = "hardening-salt"\narms = { control = 0.5, offer = 0.5 }\ncontrol = "control"\n',
        '[analysis]\narm_column = "arm"\ncontrol = "control"\n')
    assert "[assignment]" not in text
    return write_spec(tmp_path, text=text)


@pytest.mark.parametrize("spec_kind", ["assignment", "analysis"])
def test_single_arm_in_data(data, tmp_path, capsys, spec_kind):
    df = data["out"][data["out"]["arm"] == "control"]
    src = outcomes_file(tmp_path, df)
    out = tmp_path / "report"
    spec = write_spec(tmp_path) if spec_kind == "assignment" else analysed_elsewhere(tmp_path)
    line = run_bad(capsys, readout_args(spec, src, out), [str(src), "arm"], [out])
    if spec_kind == "analysis":
        assert "only one arm" in line or "only the control arm" in line


@pytest.mark.parametrize("spec_kind", ["assignment", "analysis"])
def test_no_control_in_data(data, tmp_path, capsys, spec_kind):
    df = data["out"].copy()
    df["arm"] = df["arm"].astype(str).replace({"control": "holdout"})
    src = outcomes_file(tmp_path, df)
    out = tmp_path / "report"
    spec = write_spec(tmp_path) if spec_kind == "assignment" else analysed_elsewhere(tmp_path)
    run_bad(capsys, readout_args(spec, src, out), [str(src), "control"], [out])


def test_ledger_from_another_experiment_on_readout(data, tmp_path, capsys):
    led = pd.read_parquet(data["ledger"]).astype({"experiment": str})
    led["experiment"] = "some-other-test"
    ledger = outcomes_file(tmp_path, led, "ledger.parquet")
    out = tmp_path / "report"
    run_bad(capsys, readout_args(write_spec(tmp_path), data["root"] / "outcomes.parquet", out, "--ledger", str(ledger)),
            ["ledger", "hardening", "experiment"], [out])


def test_ledger_from_another_experiment_on_assign(data, tmp_path, capsys):
    other = write_spec(tmp_path, text=SPEC.format(extra="").replace('name = "hardening"', 'name = "other-test"'), name="o.toml")
    ledger = tmp_path / "ledger.parquet"
    ledger.write_bytes(data["ledger"].read_bytes())
    run_bad(capsys, ["assign", str(other), "--population", str(data["root"] / "population.parquet"), "--ledger", str(ledger)],
            [str(ledger), "hardening", "other-test"], [ledger, tmp_path / "ledger.exclusions.parquet"])


def test_ledger_with_changed_salt(data, tmp_path, capsys):
    spec = write_spec(tmp_path, text=SPEC.format(extra="").replace("hardening-salt", "new-salt"))
    ledger = tmp_path / "ledger.parquet"
    ledger.write_bytes(data["ledger"].read_bytes())
    run_bad(capsys, ["assign", str(spec), "--population", str(data["root"] / "population.parquet"), "--ledger", str(ledger)],
            [str(ledger), "salt"], [ledger])


# --------------------------------------------------------------------------- populations


def test_empty_population(data, tmp_path, capsys):
    src = outcomes_file(tmp_path, data["pop"].iloc[:0], "population.parquet")
    ledger = tmp_path / "ledger.parquet"
    run_bad(capsys, ["assign", str(data["spec"]), "--population", str(src), "--ledger", str(ledger)],
            [str(src), "no rows"], [ledger, tmp_path / "ledger.exclusions.parquet"])


def test_empty_population_csv_header_only(data, tmp_path, capsys):
    src = tmp_path / "population.csv"
    src.write_text("customer_id,segment\n", encoding="utf-8")
    ledger = tmp_path / "ledger.parquet"
    run_bad(capsys, ["assign", str(data["spec"]), "--population", str(src), "--ledger", str(ledger)],
            [str(src), "no rows"], [ledger])


def test_empty_file(data, tmp_path, capsys):
    src = tmp_path / "population.csv"
    src.write_bytes(b"")
    ledger = tmp_path / "ledger.parquet"
    run_bad(capsys, ["assign", str(data["spec"]), "--population", str(src), "--ledger", str(ledger)], [str(src)], [ledger])


def test_everyone_excluded(data, tmp_path, capsys):
    rule = '\n[[exclude]]\nreason = "everyone"\ncolumn = "customer_id"\nop = ">="\nvalue = 0\n'
    spec = write_spec(tmp_path, rule)
    ledger = tmp_path / "ledger.parquet"
    line = run_bad(capsys, ["assign", str(spec), "--population", str(data["root"] / "population.parquet"), "--ledger", str(ledger)],
                   [str(spec), "everyone"], [ledger, tmp_path / "ledger.exclusions.parquet"])
    assert "excluded" in line


def test_empty_outcomes(data, tmp_path, capsys, request):
    src = outcomes_file(tmp_path, data["out"].iloc[:0])
    out = tmp_path / "report"
    run_bad(capsys, readout_args(write_spec(tmp_path), src, out), [str(src), "no rows"], [out])


# --------------------------------------------------------------------------- files


def test_truncated_parquet(data, tmp_path, capsys):
    raw = (data["root"] / "outcomes.parquet").read_bytes()
    src = tmp_path / "outcomes.parquet"
    src.write_bytes(raw[: len(raw) // 2])
    out = tmp_path / "report"
    line = run_bad(capsys, readout_args(write_spec(tmp_path), src, out), [str(src), "cannot be read"], [out])
    assert "complete" in line


def test_garbage_parquet(data, tmp_path, capsys):
    src = tmp_path / "population.parquet"
    src.write_bytes(b"PAR1 this is not parquet at all PAR1")
    ledger = tmp_path / "ledger.parquet"
    run_bad(capsys, ["assign", str(data["spec"]), "--population", str(src), "--ledger", str(ledger)], [str(src)], [ledger])


def test_truncated_ledger_on_assign(data, tmp_path, capsys):
    raw = data["ledger"].read_bytes()
    ledger = tmp_path / "ledger.parquet"
    ledger.write_bytes(raw[:-20])
    run_bad(capsys, ["assign", str(data["spec"]), "--population", str(data["root"] / "population.parquet"), "--ledger", str(ledger)],
            [str(ledger), "ledger"], [ledger])


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(data, tmp_path, capsys):
    src = tmp_path / "outcomes.parquet"
    src.write_bytes((data["root"] / "outcomes.parquet").read_bytes())
    src.chmod(0)
    out = tmp_path / "report"
    try:
        run_bad(capsys, readout_args(write_spec(tmp_path), src, out), [str(src)], [out])
    finally:
        src.chmod(0o644)


def test_unreadable_file_simulated(data, tmp_path, capsys, monkeypatch):
    """The same as test_unreadable_file where permissions cannot be tested (running as root)."""
    src = tmp_path / "outcomes.parquet"
    src.write_bytes((data["root"] / "outcomes.parquet").read_bytes())

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied", str(src))

    if ENGINE == "duckdb":
        pytest.skip("DuckDB reads the file itself; permission errors are simulated for the in-memory reader only")
    monkeypatch.setattr(pd, "read_parquet", denied)
    out = tmp_path / "report"
    run_bad(capsys, readout_args(write_spec(tmp_path), src, out), [str(src), "permission"], [out])


def test_source_path_is_a_directory(data, tmp_path, capsys):
    folder = tmp_path / "customers"
    folder.mkdir()
    spec = write_spec(tmp_path, '\n[population]\nsource = "customers"\n')
    ledger = tmp_path / "ledger.parquet"
    run_bad(capsys, ["assign", str(spec), "--ledger", str(ledger)], ["customers", "directory"], [ledger])


def test_outcomes_path_is_a_directory(data, tmp_path, capsys):
    """Both engines read a folder as a dataset of its Parquet/CSV files, so an empty folder is the error."""
    folder = tmp_path / "outcomes"
    folder.mkdir()
    out = tmp_path / "report"
    run_bad(capsys, readout_args(write_spec(tmp_path), folder, out), [str(folder), "no Parquet or CSV"], [out])


def test_unknown_file_type(data, tmp_path, capsys):
    src = tmp_path / "outcomes.xlsx"
    src.write_bytes(b"not really")
    out = tmp_path / "report"
    run_bad(capsys, readout_args(write_spec(tmp_path), src, out), [str(src), ".parquet"], [out])


def test_missing_population_file(data, tmp_path, capsys):
    ledger = tmp_path / "ledger.parquet"
    run_bad(capsys, ["assign", str(data["spec"]), "--population", str(tmp_path / "nope.parquet"), "--ledger", str(ledger)],
            ["nope.parquet", "not found"], [ledger])


def test_csv_not_utf8(data, tmp_path, capsys):
    src = tmp_path / "outcomes.csv"
    src.write_bytes("customer_id,arm,converted,revenue_12m\n1,control,0,1.0\n".encode() + b"2,off\xe9r,0,2.0\n")
    out = tmp_path / "report"
    run_bad(capsys, readout_args(write_spec(tmp_path), src, out), [str(src)], [out])


# --------------------------------------------------------------------------- the same message on both engines


def _with(df: pd.DataFrame, **values) -> pd.DataFrame:
    """A copy of ``df`` with ``column=(row, value)`` set (the column made float or object as needed)."""
    df = df.copy()
    for col, (row, value) in values.items():
        if isinstance(value, str):
            df[col] = df[col].astype(object)
        elif isinstance(value, float):
            df[col] = df[col].astype(float)
        df.loc[row, col] = value
    return df


def _csv(tmp_path: Path, header: str, lines: list[str]) -> Path:
    p = tmp_path / "outcomes.csv"
    p.write_text(header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return p


def _csv_with(data, tmp_path: Path, column: str, spelling: str) -> Path:
    """The outcomes as CSV text with the field of ``column`` in row 3 written as ``spelling``."""
    df = data["out"][["customer_id", "arm", "converted", "revenue_12m"]].astype({"arm": str})
    header = ",".join(df.columns)
    lines = [",".join(str(v) for v in row) for row in df.itertuples(index=False)]
    fields = lines[3].split(",")
    fields[list(df.columns).index(column)] = spelling
    lines[3] = ",".join(fields)
    return _csv(tmp_path, header, lines)


def _empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _ledger_case(data, tmp_path: Path, outcomes: pd.DataFrame, ledger: pd.DataFrame | None = None):
    led = data["ledger"]
    if ledger is not None:
        led = outcomes_file(tmp_path, ledger, "ledger.parquet")
    return write_spec(tmp_path), outcomes_file(tmp_path, outcomes.drop(columns="arm")), ["--ledger", str(led)]


def _plain(data, tmp_path: Path, outcomes: pd.DataFrame, extra: str = "", name: str = "outcomes.parquet"):
    return write_spec(tmp_path, extra), outcomes_file(tmp_path, outcomes, name), []


CATALOGUE = {
    "missing column": (lambda d, t: (write_spec(t, text=SPEC.format(extra="").replace('"converted"', '"convertd"')),
                                     outcomes_file(t, d["out"]), []), ["convertd", "not found"]),
    "text column": (lambda d, t: _plain(d, t, _with(d["out"], revenue_12m=(5, "twelve")), name="outcomes.csv"),
                    ["revenue_12m", "not numbers"]),
    "missing values": (lambda d, t: _plain(d, t, _with(d["out"], revenue_12m=(7, np.nan))), ["revenue_12m", "missing"]),
    "infinities": (lambda d, t: _plain(d, t, _with(d["out"], revenue_12m=(7, np.inf))), ["revenue_12m", "infinite"]),
    "non-0/1 proportion": (lambda d, t: _plain(d, t, _with(d["out"], converted=(3, 2))), ["converted", "0 and 1"]),
    "non-0/1 proportion (float)": (lambda d, t: _plain(d, t, _with(d["out"], converted=(3, 0.5))), ["converted", "0 and 1"]),
    "duplicate units": (lambda d, t: _ledger_case(d, t, pd.concat([d["out"], d["out"].iloc[:2]], ignore_index=True)),
                        ["customer_id", "2 duplicate ids"]),
    "missing unit id": (lambda d, t: _plain(d, t, _with(d["out"], customer_id=(4, np.nan))),
                        ["customer_id", "1 of 1500 rows have no customer_id"]),
    "empty file": (lambda d, t: (write_spec(t), _empty(t / "outcomes.csv"), []), ["outcomes.csv", "0 bytes"]),
    "no rows": (lambda d, t: _plain(d, t, d["out"].iloc[:0]), ["no rows"]),
    "missing arm": (lambda d, t: _plain(d, t, _with(d["out"].astype({"arm": str}), arm=(4, None))), ["arm", "missing"]),
    "unknown arm": (lambda d, t: _plain(d, t, d["out"].astype({"arm": str}).replace({"arm": {"offer": "ofer"}})),
                    ["ofer", "[assignment] arms"]),
    "control missing": (lambda d, t: _plain(d, t, d["out"].astype({"arm": str}).replace({"arm": {"control": "holdout"}})),
                        ["control", "no customers"]),
    "units not in the ledger": (lambda d, t: _ledger_case(d, t, pd.concat(
        [d["out"], d["out"].iloc[:100].assign(customer_id=lambda x: x.customer_id + 10_000_000)], ignore_index=True)),
        ["not in the ledger", "max_unmatched_share"]),
    "ledger with a unit twice": (lambda d, t: _ledger_case(d, t, d["out"], pd.concat(
        [pd.read_parquet(d["ledger"]), pd.read_parquet(d["ledger"]).iloc[:1]], ignore_index=True)),
        ["ledger", "1 duplicate ids"]),
    "ledger of another experiment": (lambda d, t: _ledger_case(d, t, d["out"], pd.read_parquet(d["ledger"]).astype(
        {"experiment": str}).assign(experiment="other")), ["ledger", "'other'", "'hardening'"]),
    "segment missing": (lambda d, t: _plain(d, t, _with(d["out"], segment=(9, None)), "[analysis]\nsegments = [\"segment\"]\n"),
                        ["segment", "missing for 1 of"]),
    "CSV NA spelling": (lambda d, t: (write_spec(t), _csv_with(d, t, "revenue_12m", "NA"), []), ["revenue_12m", "not numbers"]),
    "CSV None spelling": (lambda d, t: (write_spec(t), _csv_with(d, t, "revenue_12m", "None"), []), ["revenue_12m", "not numbers"]),
    "CSV empty field": (lambda d, t: (write_spec(t), _csv_with(d, t, "revenue_12m", ""), []), ["revenue_12m", "missing (empty or NaN)"]),
    "CSV NaN spelling": (lambda d, t: (write_spec(t), _csv_with(d, t, "revenue_12m", "NaN"), []), ["revenue_12m", "missing (empty or NaN)"]),
    "negative tenure": (lambda d, t: _plain(d, t, _with(d["out"], tenure_months=(4, -3)), CLV), ["tenure_months", "negative"]),
    "implausible tenure": (lambda d, t: _plain(d, t, _with(d["out"], tenure_months=(4, 32_000)), CLV),
                           ["tenure_months", "1,200 periods", "max_tenure_periods"]),
    "churn flag not 0/1": (lambda d, t: _plain(d, t, _with(d["out"], churned=(4, 2)), CLV), ["churned", "0 or 1"]),
    "missing margin": (lambda d, t: _plain(d, t, _with(d["out"], monthly_margin=(4, np.nan)), CLV), ["monthly_margin", "missing"]),
}


@pytest.mark.parametrize("case", list(CATALOGUE))
def test_the_same_message_on_both_engines(data, tmp_path, capsys, case):
    """Every data case of the catalogue gives one line, the identical line, in memory and in DuckDB."""
    build, names = CATALOGUE[case]
    spec, src, more = build(data, tmp_path)
    lines = {}
    for engine in ("pandas", "duckdb"):
        out = tmp_path / f"report-{engine}"
        argv = ["readout", str(spec), "--outcomes", str(src), "--out", str(out), "--json-only", "-q", "--engine", engine, *more]
        lines[engine] = run_bad(capsys, argv, names, [out])
    assert lines["pandas"] == lines["duckdb"], lines


# --------------------------------------------------------------------------- command line


def test_argparse_error_is_one_line(data, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["readout", str(data["spec"]), "--outcomes"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("uplift readout: error:"), err


@pytest.mark.parametrize("case", ["malformed_toml", "truncated_parquet"])
def test_console_script_no_traceback(data, tmp_path, case):
    """The installed entry point, in a fresh process: exit 2, one line, no traceback, nothing written."""
    out = tmp_path / "report"
    if case == "malformed_toml":
        spec = write_spec(tmp_path, text="[experiment\n")
        src = data["root"] / "outcomes.parquet"
    else:
        spec = data["spec"]
        raw = (data["root"] / "outcomes.parquet").read_bytes()
        src = tmp_path / "outcomes.parquet"
        src.write_bytes(raw[:100])
    proc = subprocess.run(
        [str(PY), "-m", "uplift.cli", *readout_args(spec, src, out)], capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not out.exists()


def test_bad_value_found_during_full_render_writes_nothing(data, tmp_path, capsys):
    """A value only the metric layer checks (a 2 in a 0/1 column), through the full notebook render."""
    df = data["out"].copy()
    df.loc[3, "converted"] = 2
    src = outcomes_file(tmp_path, df)
    out = tmp_path / "report"
    argv = ["readout", str(write_spec(tmp_path)), "--outcomes", str(src), "--out", str(out), "-q"]
    run_bad(capsys, argv, ["converted", "0 and 1"], [out])


# --------------------------------------------------------------------------- priors and looks (the Bayesian view, planned looks)


@pytest.mark.parametrize("extra,names", [
    ("[analysis]\nprior_sd = 0\n", ["[analysis] prior_sd", "above 0"]),
    ("[economics]\nprofit_prior_sd = -2.5\n", ["[economics] profit_prior_sd", "above 0"]),
    ("[design]\nlooks = 3\nlook_fractions = [0.6, 0.4, 1.0]\n", ["[design] look_fractions", "out of order"]),
])
def test_priors_and_looks(data, tmp_path, capsys, extra, names):
    spec = write_spec(tmp_path, extra)
    out = tmp_path / "report"
    run_bad(capsys, readout_args(spec, data["root"] / "outcomes.parquet", out), [str(spec), *names], [out])
