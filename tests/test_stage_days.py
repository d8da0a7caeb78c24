"""Median days to each funnel stage per arm (issue 16): uplift.survival.stage_days.

* equal to lifelines' KaplanMeierFitter.median_survival_time_ and median_survival_times (the
  interval from the band) on the simulator's stage days, recomputed per stage from the rows, on
  both engines;
* the simulator's stage days: present exactly where the stage is reached, in funnel order, within
  the follow-up; the opened day is the conversion day;
* the demo spec names them: results.json carries ``funnel_days`` (valid against the schema) and the
  page's table shows its numbers;
* bad input: a day without the stage, days_columns of the wrong length, no followup_column: one line.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times

from uplift.data.source import open_source
from uplift.survival.stage_days import stage_days

ENGINES = ("pandas", "duckdb")
STAGES = ("seen", "accepted", "opened", "used", "retained")
DAYS = tuple(f"days_to_{s}" for s in STAGES)


@pytest.fixture(scope="module")
def outcomes():
    from uplift.simulate import simulate

    out = simulate(20000, seed=12).outcomes
    return out.drop(columns=[c for c in out.columns if c.startswith("true_")])


def test_simulated_stage_days_are_consistent(outcomes):
    o = outcomes
    for s, d in zip(STAGES, DAYS):
        assert (o[d].notna() == (o[s] == 1)).all(), s
        assert (o[d].dropna() >= 0).all() and (o[d].fillna(0) <= o["days_observed"]).all(), s
    for (a, b) in zip(DAYS, DAYS[1:]):
        m = o[b].notna()
        assert (o.loc[m, a] <= o.loc[m, b]).all(), (a, b)
    assert o["days_to_opened"].equals(o["days_to_conversion"])


@pytest.mark.parametrize("engine", ENGINES)
def test_medians_equal_lifelines(outcomes, tmp_path, engine):
    path = tmp_path / "outcomes.parquet"
    outcomes.to_parquet(path, index=False)
    src = open_source(path if engine == "duckdb" else outcomes, engine=engine)
    res = stage_days(src, "arm", STAGES, DAYS, "days_observed")
    assert [s["stage"] for s in res.stages] == list(STAGES)
    finite = 0
    prev = None
    for st in res.stages:
        for arm, got in st["arms"].items():
            d = outcomes[outcomes["arm"] == arm]
            if prev is not None:
                d = d[d[f"days_to_{prev}"].notna()]
            reached = d[st["stage"]].to_numpy()
            t = np.where(reached == 1, d[st["column"]], d["days_observed"])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                kmf = KaplanMeierFitter().fit(t, reached)
            s = kmf.survival_function_.iloc[:, 0].to_numpy()
            assert np.min(np.abs(s - 0.5)) > 1e-9, "an exact half: the reference is ambiguous there"
            ci = median_survival_times(kmf.confidence_interval_).to_numpy().ravel()
            assert got["customers"] == len(d) and got["reached"] == int(reached.sum())
            assert got["median_days"] == kmf.median_survival_time_
            assert [got["lower"], got["upper"]] == ci.tolist()
            finite += np.isfinite(got["median_days"])
        prev = st["stage"]
    assert finite >= 4  # the comparison includes medians that are reached, not only "not reached"


def test_an_exact_half_takes_the_first_day():
    """S(t) = 1/2 exactly on day 5 (2 of 4 reached, no censoring before): the median is day 5, the first
    day with S <= 1/2 (lifelines may give the next day when its product rounds just above 1/2)."""
    import pandas as pd

    df = pd.DataFrame({"arm": "a", "s0": 1, "d0": 0.0, "s1": [1, 1, 0, 0], "d1": [3.0, 5.0, None, None],
                       "f": [9.0, 9.0, 9.0, 9.0]})
    res = stage_days(open_source(df), "arm", ("s0", "s1"), ("", "d1"), "f")
    assert res.stages[0]["arms"]["a"]["median_days"] == 5.0


def test_the_demo_readout_carries_funnel_days(demo_spec, simulation):
    from uplift.readout.analysis import analyse
    from uplift.readout.timing import funnel_days_table
    from uplift.results import validate_results

    assert demo_spec.funnel.days_columns == DAYS and demo_spec.funnel.followup_column == "days_observed"
    r = analyse(demo_spec, simulation.outcomes).to_results()
    validate_results(r)
    block = r["funnel_days"]
    assert [s["stage"] for s in block["stages"]] == list(STAGES)
    page = funnel_days_table(block)
    used = block["stages"][3]["arms"]["offer"]
    assert "Days to each funnel stage" in page and f"{used['median_days']:g} [{used['lower']:g}, {used['upper']:g}]" in page
    assert "not reached" in page  # fewer than half of the control arm is ever shown the offer
    from uplift.readout.report import methods

    appendix = methods(r)  # the methods appendix names each estimator the readout used, with its source
    for words in ("Days to each funnel stage: Kaplan-Meier", "Brookmeyer &amp; Crowley 1982",
                  "Conversion over time: cumulative incidence", "Aalen-Johansen with Collett",
                  "Always-valid intervals and p-values"):
        assert words in appendix, words
    assert "one-sided" not in appendix and "Look history" not in appendix  # the demo is two-sided, one look


SPEC = """
[experiment]
name = "stages"
unit = "customer_id"

[analysis]
arm_column = "arm"
control = "control"

[[metrics]]
name = "conversion"
kind = "proportion"
column = "converted"
primary = true

[funnel]
stages = ["seen", "accepted", "opened", "used", "retained"]
{funnel}
"""
GOOD = ('days_columns = ["days_to_seen", "days_to_accepted", "days_to_opened", "days_to_used", "days_to_retained"]\n'
        'followup_column = "days_observed"')


def _readout(tmp_path, capsys, df, engine, funnel=GOOD, name="out"):
    from uplift.cli import main

    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(funnel=funnel), encoding="utf-8")
    data = tmp_path / "outcomes.parquet"
    df.to_parquet(data, index=False)
    out = tmp_path / f"{name}-{engine}"
    capsys.readouterr()
    rc = main(["readout", str(spec), "--outcomes", str(data), "--out", str(out), "--json-only", "-q", "--engine", engine])
    err = capsys.readouterr().err
    if rc != 0:
        assert not out.exists()
    return rc, err


def test_bad_stage_days_are_one_line_on_both_engines(outcomes, tmp_path, capsys):
    df = outcomes.iloc[:3000].copy()
    rc, err = _readout(tmp_path, capsys, df, "pandas", name="good")
    assert rc == 0, err
    not_used = df.index[(df["opened"] == 1) & (df["used"] == 0)][:2]
    df.loc[not_used, "days_to_used"] = 80.0
    lines = []
    for engine in ENGINES:
        rc, err = _readout(tmp_path, capsys, df, engine)
        assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, err
        assert "days_to_used" in err and "[funnel] stage 'used'" in err and "in 2 rows" in err, err
        lines.append(err)
    assert lines[0] == lines[1]


@pytest.mark.parametrize("funnel, words", [
    ('days_columns = ["days_to_seen"]\nfollowup_column = "days_observed"', ["1 columns for 5 stages", "one per stage"]),
    ('days_columns = ["days_to_seen", "days_to_accepted", "days_to_opened", "days_to_used", "days_to_retained"]',
     ["needs followup_column", "days_observed"]),
])
def test_bad_funnel_keys_are_one_line(outcomes, tmp_path, capsys, funnel, words):
    rc, err = _readout(tmp_path, capsys, outcomes.iloc[:500], "pandas", funnel)
    assert rc == 2 and err.count("\n") == 1 and "[funnel] days_columns" in err, err
    for w in words:
        assert w in err, (w, err)
