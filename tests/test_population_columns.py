"""Segment and covariate columns from the population, joined by unit onto the outcomes.

The outcomes hold no segment or covariate; the population does. Both engines must give the same
segment effects and balance, equal to a direct pandas merge of the two files and statsmodels'
two-proportion tests; a column in neither file is one line naming both files, the same on both engines.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from uplift.cli import main

SPEC = """
[experiment]
name = "pop-columns"
unit = "customer_id"

[population]
source = "population.csv"
outcomes = "outcomes.csv"

[analysis]
arm_column = "arm"
control = "control"
segments = [{segments}]
covariates = ["age"]

[[metrics]]
name = "conversion"
kind = "proportion"
column = "converted"
primary = true
"""


@pytest.fixture()
def files(tmp_path: Path) -> Path:
    rng = np.random.default_rng(5)
    n = 6000
    ids = [f"u{i:05d}" for i in range(n)]
    region = rng.choice(["north", "south", "west"], n)
    pd.DataFrame({"customer_id": ids, "region": region, "age": rng.normal(45, 12, n).round(1)}).to_csv(
        tmp_path / "population.csv", index=False)
    arm = rng.choice(["control", "offer"], n)
    p = 0.05 + 0.02 * (arm == "offer") + 0.02 * (region == "west")
    out = pd.DataFrame({"customer_id": ids, "arm": arm, "converted": (rng.random(n) < p).astype(int)})
    out.sample(frac=1, random_state=1).to_csv(tmp_path / "outcomes.csv", index=False)  # another row order
    (tmp_path / "spec.toml").write_text(SPEC.format(segments='"region"'))
    return tmp_path


def _results(folder: Path, engine: str, capsys) -> dict:
    out = folder / f"rep_{engine}"
    assert main(["readout", str(folder / "spec.toml"), "--json-only", "--out", str(out), "--engine", engine]) == 0
    capsys.readouterr()
    return json.loads((out / "results.json").read_text())


def test_segments_and_covariates_from_the_population_equal_a_direct_merge_on_both_engines(files, capsys, same_numbers):
    r = _results(files, "pandas", capsys)
    d = _results(files, "duckdb", capsys)
    same_numbers(r["segments"], d["segments"])
    same_numbers(r["balance"], d["balance"])
    merged = pd.read_csv(files / "outcomes.csv").merge(pd.read_csv(files / "population.csv"), on="customer_id")
    rows = {row["segment"]: row for row in r["segments"]["by"]["region"]}
    assert sorted(rows) == ["north", "south", "west"]
    for seg, g in merged.groupby("region"):
        a, c = g[g.arm == "offer"].converted, g[g.arm == "control"].converted
        row = rows[seg]
        assert (row["n_arm"], row["n_control"]) == (len(a), len(c))
        assert math.isclose(row["abs_effect"], a.mean() - c.mean(), rel_tol=1e-12)
        _, p = proportions_ztest([a.sum(), c.sum()], [len(a), len(c)])  # pooled two-sided z-test
        assert math.isclose(row["p_value"], p, rel_tol=1e-9)
        lo, hi = confint_proportions_2indep(a.sum(), len(a), c.sum(), len(c), method="wald", compare="diff")
        assert math.isclose(row["abs_ci"][0], lo, rel_tol=1e-9) and math.isclose(row["abs_ci"][1], hi, rel_tol=1e-9)
    b = r["balance"]["rows"][0]
    a, c = merged[merged.arm == "offer"].age, merged[merged.arm == "control"].age
    smd = (a.mean() - c.mean()) / math.sqrt((a.var() + c.var()) / 2)  # Austin 2009
    assert b["covariate"] == "age" and math.isclose(b["smd"], smd, rel_tol=1e-9)


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_column_in_neither_file_names_both_files(files, capsys, engine):
    (files / "spec.toml").write_text(SPEC.format(segments='"region", "channel"'))
    out = files / "rep"
    assert main(["readout", str(files / "spec.toml"), "--json-only", "--out", str(out), "--engine", engine]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and not out.exists()
    assert ("segment column 'channel' ([analysis] segments) is in neither the outcomes (outcomes.csv) nor the "
            "population (population.csv)") in err


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_duplicate_population_ids_are_refused_before_the_join(files, capsys, engine):
    pop = pd.read_csv(files / "population.csv")
    pd.concat([pop, pop.head(3)]).to_csv(files / "population.csv", index=False)
    assert main(["readout", str(files / "spec.toml"), "--json-only", "--out", str(files / "rep"), "--engine", engine]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "population.csv: 3 duplicate ids in unit column 'customer_id'" in err


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_consumer_duty_groups_from_the_population_and_bad_groups_in_one_line(files, capsys, engine):
    """A [fairness] group column from the population is joined by unit: the panel's cells equal a direct
    merge with statsmodels' pooled z-test; a group column in neither file, or with one value, is one line."""
    (files / "spec.toml").write_text(SPEC.format(segments='"region"') + '\n[fairness]\ngroup_columns = ["region"]\n'
                                     'harm_columns = ["converted"]\n')
    r = _results(files, engine, capsys)
    merged = pd.read_csv(files / "outcomes.csv").merge(pd.read_csv(files / "population.csv"), on="customer_id")
    row = next(x for x in r["consumer_duty"]["rows"] if x["value"] == "west" and x["kind"] == "harm")
    g = merged[merged.region == "west"]
    s = [int(g[g.arm == a].converted.sum()) for a in ("offer", "control")]
    n = [int((g.arm == a).sum()) for a in ("offer", "control")]
    assert [row["n_arm"], row["n_control"]] == n
    assert math.isclose(row["p_value"], proportions_ztest(s, n)[1], rel_tol=1e-9)
    for groups, message in ((['"channel"'], "group column 'channel' ([fairness] group_columns) is in neither the "
                                             "outcomes (outcomes.csv) nor the population (population.csv)"),
                            (['"one"'], "[fairness] group column 'one' has one value only (x)")):
        pd.read_csv(files / "population.csv").assign(one="x").to_csv(files / "population.csv", index=False)
        (files / "spec.toml").write_text(SPEC.format(segments='"region"')
                                         + f'\n[fairness]\ngroup_columns = [{", ".join(groups)}]\n')
        out = files / f"bad_{engine}"
        assert main(["readout", str(files / "spec.toml"), "--json-only", "--out", str(out), "--engine", engine]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and not out.exists() and message in err, err
