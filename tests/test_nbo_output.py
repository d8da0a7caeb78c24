"""``uplift target --json`` for a next-best-offer list: the printed dict validates against
``uplift/targeting/next_best_offer.schema.json``, agrees with the list and page written beside it, and
the schema refuses the dict with a key missing (so the check can fail)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from uplift.cli import main
from uplift.errors import DataError
from uplift.simulate import simulate
from uplift.targeting.offers import NO_OFFER, validate_output

pytestmark = pytest.mark.slow  # fits two uplift models


@pytest.fixture(scope="module")
def printed(tmp_path_factory, repo_root):
    d = tmp_path_factory.mktemp("nbo")
    sim = simulate(8000, seed=5, arms={"control": 0.34, "offer": 0.33, "fee_free": 0.33})
    sim.population.to_parquet(d / "population.parquet")
    sim.outcomes.to_parquet(d / "outcomes.parquet")
    return d, str(repo_root / "experiments" / "nbo.toml")


def test_json_validates_and_agrees_with_the_list_and_page(printed, capsys):
    d, spec = printed
    out = d / "wave.csv"
    code = main(["target", spec, "--outcomes", str(d / "outcomes.parquet"), "--population", str(d / "population.parquet"),
                 "--out", str(out), "--json", "--bootstrap", "1", "--quiet"])
    assert code == 0
    got = json.loads(capsys.readouterr().out)
    validate_output(got)
    wave = pd.read_csv(out)
    counts = wave.loc[wave["offer"] != NO_OFFER, "offer"].value_counts().to_dict()
    assert {o: n for o, n in got["contacts"].items() if n} == counts
    assert got["selected"] == sum(counts.values()) and got["eligible"] == len(wave)
    assert got["expected_incremental_profit"] == pytest.approx(wave.loc[wave["selected"], "expected_incremental_value"].sum())
    assert got["expected_cost"] <= got["budget"] + 1e-9
    assert set(got["shadow_prices"]) <= {"budget", "capacity:fee_free"}
    f = got["frontier"]
    assert len(f["budget"]) == len(f["profit"]) == len(f["upper_bound"]) == 11
    assert (np.array(f["upper_bound"]) >= np.array(f["profit"]) - 1e-6).all()
    assert (np.array(f["cost"]) <= np.array(f["budget"]) + 1e-6).all()
    assert f["max_gap"][0] == pytest.approx(max(u - p for u, p in zip(f["upper_bound"], f["profit"])))
    assert got["upper_bound"] >= got["expected_incremental_profit"] - 1e-6
    page = (d / "wave.html").read_text(encoding="utf-8")
    assert "Profit against budget" in page and "upper bound of the optimum" in page
    for key in ("frontier", "shadow_prices"):
        broken = {k: v for k, v in got.items() if k != key}
        with pytest.raises(DataError, match=key):
            validate_output(broken)
    with pytest.raises(DataError, match="shadow_prices"):
        validate_output({**got, "shadow_prices": {"budgets": 1.0}})
