"""Held-out (and model-selection) customers who are also in the next wave are predicted once: the
targeting result with the shared predictions equals, number for number, the result with every customer
predicted separately by each model (the earlier computation), for each way of valuing a conversion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from uplift.spec import parse_spec
from uplift.targeting import analyse
from uplift.targeting.analyse import targeting_analysis

DEMO = Path(__file__).resolve().parents[1] / "experiments" / "demo.toml"

VARIANTS = {
    "finance value, value model": lambda text: text,
    "value column": lambda text: text.replace("\nvalue = \"margin\"", "\nvalue = \"margin\"\nvalue_column = \"margin_12m\""),
    "fixed value": lambda text: text.replace("\nvalue = \"margin\"", "\nvalue = \"margin\"\nvalue_per_conversion = 250"),
    "money outcome": lambda text: text.replace('outcome = "converted"', 'outcome = "revenue_12m"'),
}


@pytest.fixture(scope="module")
def small():
    from uplift.simulate import simulate

    return simulate(12_000, seed=31, arms={"control": 0.5, "offer": 0.5})


def _run(spec, sim):
    import sklearn.ensemble  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return targeting_analysis(spec, sim.population, sim.outcomes, "arm", "control", n_boot=20, models=["solo"])


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_shared_predictions_give_the_same_result(variant, small, monkeypatch):
    spec = parse_spec(VARIANTS[variant](DEMO.read_text()), path=DEMO, label=str(DEMO))
    calls = []
    real = analyse.shared_rows

    def counted(*a, **k):
        calls.append(real(*a, **k))
        return calls[-1]

    monkeypatch.setattr(analyse, "shared_rows", counted)
    shared = _run(spec, small)
    assert len(calls) == 2  # the held-out part, then the selection part (the chosen model's scores)
    assert len(calls[0].held) > 0.5 * shared.n_holdout_eligible and len(calls[1].held) > 0.5 * shared.n_select
    monkeypatch.setattr(analyse, "shared_rows",
                        lambda *a, **k: analyse.SharedRows(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)))
    separate = _run(spec, small)
    assert shared.to_dict() == separate.to_dict()
    pd.testing.assert_frame_equal(shared.next_wave, separate.next_wave, check_exact=True)
    for name in ("profit", "profit_low", "profit_high", "expected_curve"):
        assert np.array_equal(getattr(shared, name), getattr(separate, name), equal_nan=True)


def test_shared_rows_need_the_same_features(small):
    """A held-out customer whose features differ in the pool (here: a changed balance) is not shared."""
    from uplift.targeting.models import FeatureEncoder

    pop = small.population.head(200).reset_index(drop=True)
    feats = ["segment", "balance"]
    enc = FeatureEncoder().fit(pop[feats])
    pool = pop.copy()
    pool.loc[5, "balance"] += 1.0
    held = pop.loc[[3, 5, 7], feats].reset_index(drop=True)
    got = analyse.shared_rows(enc, held, pop.loc[[3, 5, 7], "customer_id"].to_numpy(), pool.iloc[::-1], "customer_id")
    assert got.held.tolist() == [0, 2]
    assert pool.iloc[::-1]["customer_id"].to_numpy()[got.pool].tolist() == pop.loc[[3, 7], "customer_id"].tolist()
