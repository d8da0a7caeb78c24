"""Extreme and misleading input, round two: each case is one line on stderr and exit 2 (or bounded,
correct work), through the CLI, with the same line on both engines where data is read.

* too big: revenue of 1e200, a spec nested 500 deep, 1e9 periods or a tenure of 1e9, 10,000 arms,
  out-of-range command-line numbers;
* text that is not only text: ``$`` in arm and segment names (matplotlib mathtext), terminal escape
  sequences in values and column names, funnel stages listed out of order;
* messages that mislead: blank unit ids, a ';'-separated CSV, a relative MDE over a zero baseline,
  infinities dropped from a standard deviation, missing values in an exclusion rule's column.
"""

from __future__ import annotations

import io
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from uplift.cli import main
from uplift.simulate import simulate
from uplift.spec.schema import MAX_ARMS, MAX_PERIODS

SPEC = """
[experiment]
name = "extremes"
unit = "customer_id"

[assignment]
salt = "extremes-salt"
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

ELSEWHERE = ('[assignment]\nsalt = "extremes-salt"\narms = { control = 0.5, offer = 0.5 }\ncontrol = "control"\n',
             '[analysis]\narm_column = "arm"\ncontrol = "control"\n')

CLV = """
[clv]
tenure_column = "tenure_months"
churned_column = "churned"
margin_per_period_column = "monthly_margin"
horizon_periods = 24
extrapolation = "none"
"""

ENGINES = ("pandas", "duckdb")


@pytest.fixture(scope="module")
def sim():
    s = simulate(1500, seed=11)
    return {"pop": s.population, "out": s.outcomes}


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def spec_file(tmp_path: Path, extra: str = "", elsewhere: bool = False) -> Path:
    text = SPEC.format(extra=extra)
    if elsewhere:
        text = text.replace(*ELSEWHERE)
    return write(tmp_path, text)


def frame_file(tmp_path: Path, df: pd.DataFrame, name: str = "outcomes.parquet") -> Path:
    p = tmp_path / name
    df.to_csv(p, index=False) if p.suffix == ".csv" else df.to_parquet(p, index=False)
    return p


def one_line_error(capsys, argv: list[str], names: list[str], untouched: list[Path] = ()) -> str:
    """Run the CLI expecting a user error: exit 2, one line naming ``names``, a fix after ';', nothing written."""
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, f"exit {rc}: {err!r}"
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith(f"uplift {argv[0]}: error: "), err
    assert "Traceback" not in err and ";" in lines[0], lines[0]
    for n in names:
        assert n in lines[0], f"{n!r} not in {lines[0]}"
    for p in untouched:
        assert not p.exists(), f"{p} was written"
    return lines[0]


def readout(spec: Path, outcomes: Path, out: Path, engine: str, *more: str, json_only: bool = True) -> list[str]:
    return ["readout", str(spec), "--outcomes", str(outcomes), "--out", str(out), "-q", "--engine", engine,
            *(["--json-only"] if json_only else []), *more]


def same_on_both(capsys, tmp_path: Path, spec: Path, outcomes: Path, names: list[str], *more: str) -> str:
    lines = {e: one_line_error(capsys, readout(spec, outcomes, tmp_path / f"r-{e}", e, *more), names, [tmp_path / f"r-{e}"])
             for e in ENGINES}
    assert lines["pandas"] == lines["duckdb"], lines
    return lines["pandas"]


def console(*argv: str) -> subprocess.CompletedProcess:
    """The console entry point in a fresh process (``python -m uplift``)."""
    return subprocess.run([sys.executable, "-m", "uplift", *argv], capture_output=True, text=True, timeout=300, check=False)


# --------------------------------------------------------------------------- 9. too big: tracebacks and hangs


def test_revenue_of_1e200_is_refused_not_overflowed(sim, tmp_path, capsys):
    df = sim["out"].copy()
    df.loc[3, "revenue_12m"] = 1e200  # its square overflows float64
    line = same_on_both(capsys, tmp_path, spec_file(tmp_path), frame_file(tmp_path, df), ["revenue_12m", "too large"])
    assert "1e+15" in line


def test_large_but_sane_amounts_are_analysed(sim, tmp_path, capsys):
    """The magnitude limit is far from real amounts: revenue in the billions reads out, and its mean is the data's."""
    df = sim["out"].copy()
    df["revenue_12m"] = df["revenue_12m"] * 1e6
    out = tmp_path / "r"
    assert main(readout(spec_file(tmp_path), frame_file(tmp_path, df), out, "pandas")) == 0, capsys.readouterr().err
    rows = [r for r in json.loads((out / "results.json").read_text())["metrics"] if r["metric"] == "revenue"]
    control = df.loc[df["arm"].astype(str) == "control", "revenue_12m"]
    assert rows[0]["mean_control"] == pytest.approx(float(control.mean()), rel=1e-12)


@pytest.mark.parametrize("nested", ["alpha = " + "[" * 500 + "]" * 500, "x = " + "{a = " * 500 + "1" + "}" * 500])
def test_spec_nested_500_deep(tmp_path, capsys, nested):
    spec = write(tmp_path, SPEC.format(extra="") + "[design]\n" + nested + "\n")
    one_line_error(capsys, ["design", str(spec)], [str(spec), "too deeply"])
    proc = console("design", str(spec))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("value", ["1000000000", "1e9", str(MAX_PERIODS + 1)])
def test_horizon_of_a_billion_periods(sim, tmp_path, capsys, value):
    spec = spec_file(tmp_path, CLV.replace("horizon_periods = 24", f"horizon_periods = {value}"))
    line = one_line_error(capsys, readout(spec, frame_file(tmp_path, sim["out"]), tmp_path / "r", "pandas"),
                          [str(spec), "horizon_periods"], [tmp_path / "r"])
    assert ("1,200" in line) if value != "1e9" else ("whole number" in line)


def test_horizon_at_the_maximum_is_accepted(tmp_path, capsys):
    spec = spec_file(tmp_path, CLV.replace("horizon_periods = 24", f"horizon_periods = {MAX_PERIODS}"))
    assert main(["design", str(spec)]) in (0, 2)  # loads: any error is about the design, not the horizon
    assert "horizon_periods" not in capsys.readouterr().err


@pytest.mark.parametrize("tenure", [10**9, MAX_PERIODS + 1])
def test_tenure_of_a_billion(sim, tmp_path, capsys, tenure):
    df = sim["out"].copy()
    df["tenure_months"] = df["tenure_months"].astype("int64")
    df.loc[4, "tenure_months"] = tenure
    line = same_on_both(capsys, tmp_path, spec_file(tmp_path, CLV), frame_file(tmp_path, df), ["tenure_months", "1,200"])
    assert "1 values above" in line


@pytest.mark.parametrize("argv, names", [
    (["--customers", "100", "--seed", "-1"], ["--seed", "-1", "at least 0"]),
    (["--customers", "100", "--seed", "1.5"], ["--seed", "whole number"]),
    (["--customers", "100", "--control", "offer"], ["--control", "--ledger"]),
    (["--customers", "1e11"], ["--customers", "10,000,000"]),
    (["--customers", "100000000000"], ["--customers", "10,000,000"]),
    (["--customers", "many"], ["--customers", "whole number"]),
])
def test_simulate_arguments_out_of_range(tmp_path, argv, names):
    out = tmp_path / "sim"
    proc = console("simulate", *argv, "--out", str(out))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("uplift simulate: error: ")
    for n in names:
        assert n in lines[0], lines[0]
    assert not out.exists()


def test_simulate_customers_in_e_notation(tmp_path, capsys):
    assert main(["simulate", "--customers", "2e2", "--seed", "3", "--out", str(tmp_path), "-q"]) == 0
    assert len(pd.read_parquet(tmp_path / "population.parquet")) == 200


def test_too_many_arms_in_the_spec(sim, tmp_path, capsys):
    n = MAX_ARMS + 1
    weights = ", ".join(f"a{i} = {1 / n!r}" for i in range(n))
    text = SPEC.format(extra="").replace("control = 0.5, offer = 0.5", weights).replace('control = "control"', 'control = "a0"')
    spec = write(tmp_path, text)
    if abs(sum([1 / n] * n) - 1) > 1e-9:  # pragma: no cover - 27 equal weights sum to 1 within the check's tolerance
        pytest.skip("weights do not sum to 1")
    ledger = tmp_path / "ledger.parquet"
    line = one_line_error(capsys, ["assign", str(spec), "--population", str(frame_file(tmp_path, sim["pop"], "pop.parquet")),
                                   "--ledger", str(ledger)], [str(spec), "[assignment] arms", str(MAX_ARMS)], [ledger])
    assert f"{n} arms" in line


def test_ten_thousand_arms_in_the_data(sim, tmp_path, capsys):
    """An arm column with 10,000 values (an id given as the arm): refused at once, not a quadratic summary."""
    base = sim["out"]
    df = pd.concat([base] * 7, ignore_index=True).iloc[:10_000].copy()
    df["customer_id"] = np.arange(len(df)) + 1
    df["arm"] = ["control"] + [f"arm{i}" for i in range(1, len(df))]
    line = same_on_both(capsys, tmp_path, spec_file(tmp_path, elsewhere=True), frame_file(tmp_path, df),
                        ["arm", "10,000 distinct arms", str(MAX_ARMS)])
    assert "more than the maximum" in line


def test_bounded_numbers_elsewhere_on_the_command_line(tmp_path, capsys):
    for argv in (["demo", "--customers", "1e9"], ["demo", "--seed", "-3"], ["rules", "x", "--top", "0"]):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "out of range" in err[0], err


# --------------------------------------------------------------------------- 10. text that is not only text


def test_dollar_in_arm_and_segment_names_renders(sim, tmp_path, capsys):
    """'off$^$er' is invalid mathtext: unescaped, matplotlib aborts the readout with a bare ValueError."""
    df = sim["out"].copy()
    df["arm"] = df["arm"].astype(str).replace({"offer": "off$^$er"})
    df["segment"] = df["segment"].astype(str) + " $x^$"
    spec = spec_file(tmp_path, '[analysis]\nsegments = ["segment"]\n[funnel]\nstages = ["seen", "accepted", "opened"]\n',
                     elsewhere=True)
    spec.write_text(spec.read_text().replace('[analysis]\narm_column = "arm"\ncontrol = "control"\n', "").replace(
        "[analysis]\n", '[analysis]\narm_column = "arm"\ncontrol = "control"\n'), encoding="utf-8")
    out = tmp_path / "report"
    rc = main(readout(spec, frame_file(tmp_path, df), out, "pandas", json_only=False))
    assert rc == 0, capsys.readouterr().err
    html = (out / "readout.html").read_text(encoding="utf-8")
    assert "off$^$er" in html


def test_chart_helpers_escape_every_label():
    import matplotlib

    matplotlib.use("Agg")
    from uplift.readout.charts import forest_plot, funnel_chart
    from uplift.text import chart_label

    assert chart_label("a$b$c") == r"a\$b\$c" and chart_label("plain") == "plain"
    fig = forest_plot([{"label": "off$^$er", "abs_effect": 0.01, "abs_ci": [0.0, 0.02]}], "metric $^$")
    fig.savefig(io.BytesIO(), format="svg")  # mathtext is parsed on drawing: this raised ValueError before
    fig = funnel_chart({"stages": ["se$^$en", "x"], "rates": {"off$^$er": {"se$^$en": 0.5, "x": 0.2}}})
    fig.savefig(io.BytesIO(), format="svg")
    assert fig.axes[0].get_xticklabels()[0].get_text() == r"se\$^\$en"


def test_escape_sequences_never_reach_the_terminal(sim, tmp_path, capsys):
    df = sim["out"].copy()
    df["arm"] = df["arm"].astype(str).replace({"offer": "off\x1b[31mer"})
    line = same_on_both(capsys, tmp_path, spec_file(tmp_path), frame_file(tmp_path, df), ["arm", r"off\x1b[31mer"])
    assert "\x1b" not in line
    df = sim["out"].rename(columns={"revenue_12m": "rev\x1b[2J\x07"})
    df.loc[3, "rev\x1b[2J\x07"] = np.nan
    spec = write(tmp_path, SPEC.format(extra="").replace('"revenue_12m"', '"rev\\u001b[2J\\u0007"'))
    line = same_on_both(capsys, tmp_path, spec, frame_file(tmp_path, df), [r"rev\x1b[2J\x07", "missing"])
    assert "\x1b" not in line and "\x07" not in line


def test_escape_sequences_in_arguments_are_escaped(tmp_path):
    proc = console("simulate", "--customers", "\x1b[2Jmany", "--out", str(tmp_path / "s"))
    assert proc.returncode == 2 and "\x1b" not in proc.stderr and r"\x1b[2J" in proc.stderr, proc.stderr


def test_one_line_keeps_printable_text():
    from uplift.text import one_line

    assert one_line("café: déjà\n vu\t!") == "café: déjà vu !"
    assert one_line("a\x1bb\x00c\u202ed") == r"a\x1bb\x00c\u202ed"


def _stage_counts(df: pd.DataFrame, stages: list[str]) -> dict[str, dict[str, int]]:
    return {a: {s: int(g[s].sum()) for s in stages} for a, g in df.groupby(df["arm"].astype(str))}


@pytest.mark.parametrize("engine", ENGINES)
def test_funnel_stages_out_of_order_get_a_note(sim, tmp_path, capsys, engine):
    stages = ["opened", "seen", "accepted"]
    spec = spec_file(tmp_path, f"[funnel]\nstages = {json.dumps(stages)}\n")
    out = tmp_path / "r"
    assert main(readout(spec, frame_file(tmp_path, sim["out"]), out, engine)) == 0, capsys.readouterr().err
    res = json.loads((out / "results.json").read_text())
    counts = _stage_counts(sim["out"], stages)  # the reference: counts from the raw rows
    expected = [{"previous": p, "stage": s, "arms": sorted(a for a in counts if counts[a][s] > counts[a][p])}
                for p, s in itertools.pairwise(stages)]
    expected = [x for x in expected if x["arms"]]
    assert expected and [dict(x, arms=sorted(x["arms"])) for x in res["funnel"]["not_nested"]] == expected
    assert any("not nested" in n and "'seen'" in n and "'opened'" in n for n in res["notes"]), res["notes"]
    for a, rates in res["funnel"]["conditional_rates"].items():
        assert rates["seen"] is None  # not a share: it would be above 100%
        assert rates["accepted"] == pytest.approx(counts[a]["accepted"] / counts[a]["seen"], rel=1e-9)


def test_funnel_in_order_has_no_note(sim, tmp_path, capsys):
    stages = ["seen", "accepted", "opened"]
    out = tmp_path / "r"
    spec = spec_file(tmp_path, f"[funnel]\nstages = {json.dumps(stages)}\n")
    assert main(readout(spec, frame_file(tmp_path, sim["out"]), out, "pandas")) == 0, capsys.readouterr().err
    res = json.loads((out / "results.json").read_text())
    assert res["funnel"]["not_nested"] == [] and not any("not nested" in n for n in res["notes"])
    assert all(0 <= v <= 1 for rates in res["funnel"]["conditional_rates"].values() for v in rates.values())


# --------------------------------------------------------------------------- 11. messages that mislead


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("blank", ["", "  "])
def test_blank_unit_ids_are_missing_not_units_or_duplicates(sim, tmp_path, capsys, k, blank):
    df = sim["out"].copy()
    df["customer_id"] = df["customer_id"].astype(str)
    df.loc[list(range(4, 4 + k)), "customer_id"] = blank
    line = same_on_both(capsys, tmp_path, spec_file(tmp_path), frame_file(tmp_path, df),
                        [f"{k} of 1500 rows have no customer_id"])
    assert "duplicate" not in line
    pop = sim["pop"].copy()
    pop["customer_id"] = pop["customer_id"].astype(str)
    pop.loc[list(range(4, 4 + k)), "customer_id"] = blank
    ledger = tmp_path / "ledger.parquet"
    line = one_line_error(capsys, ["assign", str(spec_file(tmp_path)), "--population",
                                   str(frame_file(tmp_path, pop, "pop.parquet")), "--ledger", str(ledger)],
                          [f"{k} of 1,500 rows have no customer_id"], [ledger])
    assert "duplicate" not in line


def test_null_unit_ids_in_a_ledger_fail_the_check(sim, tmp_path, capsys):
    spec = spec_file(tmp_path)
    ledger = tmp_path / "ledger.parquet"
    assert main(["assign", str(spec), "--population", str(frame_file(tmp_path, sim["pop"], "pop.parquet")),
                 "--ledger", str(ledger), "-q", "--json"]) == 0
    led = pd.read_parquet(ledger)
    led["customer_id"] = led["customer_id"].astype(object)
    led.loc[[1, 2], "customer_id"] = None
    bad = frame_file(tmp_path, led, "bad-ledger.parquet")
    one_line_error(capsys, ["check", str(spec), "--ledger", str(bad)], ["2 of", "rows have no customer_id"])


def test_semicolon_separated_csv(sim, tmp_path, capsys):
    src = tmp_path / "outcomes.csv"
    sim["out"].head(300).to_csv(src, index=False, sep=";")
    line = same_on_both(capsys, tmp_path, spec_file(tmp_path), src, [str(src), "semicolon-separated", "comma-separated"])
    assert "no arm" not in line and "not found" not in line
    pop = tmp_path / "pop.csv"
    sim["pop"].head(300).to_csv(pop, index=False, sep=";")
    ledger = tmp_path / "ledger.parquet"
    one_line_error(capsys, ["assign", str(spec_file(tmp_path)), "--population", str(pop), "--ledger", str(ledger)],
                   [str(pop), "semicolon-separated"], [ledger])


def test_relative_mde_over_a_zero_baseline(sim, tmp_path, capsys):
    pop = sim["pop"].assign(converted=0, revenue_12m=sim["pop"]["revenue_pre_12m"])
    spec = spec_file(tmp_path, "[design]\nmde_relative = 0.1\n")
    line = one_line_error(capsys, ["design", str(spec), "--population", str(frame_file(tmp_path, pop, "pop.parquet"))],
                          [str(spec), "baseline of 0", "mde_absolute"])
    assert "needs mde_relative" not in line


def test_infinity_in_a_design_population(sim, tmp_path, capsys):
    pop = sim["pop"].assign(converted=(np.arange(len(sim["pop"])) % 10 == 0).astype(int),
                            revenue_12m=sim["pop"]["revenue_pre_12m"].astype(float))
    pop.loc[2, "revenue_12m"] = -np.inf
    spec = spec_file(tmp_path, "[design]\nmde_relative = 0.1\n")
    one_line_error(capsys, ["design", str(spec), "--population", str(frame_file(tmp_path, pop, "pop.parquet"))],
                   ["revenue_12m", "infinite in 1 of 1500"])


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinity_in_a_balance_covariate(sim, tmp_path, capsys, bad):
    df = sim["out"].copy()
    df.loc[5, "revenue_pre_12m"] = bad
    spec = spec_file(tmp_path, '[analysis]\ncovariates = ["revenue_pre_12m"]\n')
    same_on_both(capsys, tmp_path, spec, frame_file(tmp_path, df), ["revenue_pre_12m", "infinite in 1 of 1500"])


EXCLUDE = """
[[exclude]]
reason = "contacted_recently"
column = "days_since_last_contact"
op = "{op}"
value = 30
{when}
"""


@pytest.mark.parametrize("op", ["<", "!="])
@pytest.mark.parametrize("when", ["", 'when_missing = "exclude"', 'when_missing = "keep"'])
def test_exclusion_rule_with_missing_values(sim, tmp_path, capsys, op, when):
    pop = sim["pop"].copy()
    pop["days_since_last_contact"] = pop["days_since_last_contact"].astype(float)
    never = np.arange(len(pop)) % 15 == 0  # never contacted: no value
    pop.loc[never, "days_since_last_contact"] = np.nan
    spec = spec_file(tmp_path, EXCLUDE.format(op=op, when=when))
    ledger = tmp_path / "ledger.parquet"
    capsys.readouterr()
    assert main(["assign", str(spec), "--population", str(frame_file(tmp_path, pop, "pop.parquet")),
                 "--ledger", str(ledger), "--json", "-q"]) == 0
    res = json.loads(capsys.readouterr().out)
    step = res["eligibility"]["waterfall"][1]
    x = pop["days_since_last_contact"]
    hit = (x < 30) if op == "<" else (x != 30) & x.notna()
    keep = "keep" in when
    excluded = hit | (x.isna() & (not keep))  # reference: numpy/pandas on the raw column
    assert step["missing"] == int(never.sum()) and step["when_missing"] == ("keep" if keep else "exclude")
    assert step["excluded"] == int(excluded.sum())
    assert res["eligibility"]["eligible"] == int((~excluded).sum())
    logged = pd.read_parquet(tmp_path / "ledger.exclusions.parquet")
    assert set(logged["customer_id"]) == set(pop.loc[excluded, "customer_id"])


def test_when_missing_takes_two_values(tmp_path, capsys):
    spec = spec_file(tmp_path, EXCLUDE.format(op="<", when='when_missing = "maybe"'))
    one_line_error(capsys, ["design", str(spec)], [str(spec), "when_missing", "'exclude', 'keep'"])


def test_demo_spec_keeps_never_contacted_customers(demo_spec):
    rule = next(r for r in demo_spec.exclusions if r.reason == "contacted_recently")
    assert rule.when_missing == "keep"
    assert {r.when_missing for r in demo_spec.exclusions if r is not rule} == {"exclude"}
