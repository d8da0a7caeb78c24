"""Next best offer end to end on simulated data: bad [targeting] inputs are one line each."""

from __future__ import annotations

import dataclasses

import pytest

from uplift.errors import SpecError
from uplift.simulate import simulate
from uplift.spec import load_spec
from uplift.targeting.offers import next_best_offer

SPEC = "experiments/nbo.toml"
pytestmark = pytest.mark.slow  # fits two uplift models per test (about a minute each)


@pytest.fixture(scope="module")
def bank():
    sim = simulate(8000, seed=5, arms={"control": 0.34, "offer": 0.33, "fee_free": 0.33})
    return sim.population, sim.outcomes


def with_targeting(**kw):
    spec = load_spec(SPEC)
    return dataclasses.replace(spec, targeting=dataclasses.replace(spec.targeting, **kw))


def test_capacity_for_an_offer_that_does_not_exist(bank):
    pop, out = bank
    with pytest.raises(SpecError) as e:
        next_best_offer(with_targeting(capacity={"gold": 10.0}), pop, out, "arm", "control", n_boot=1)
    assert "capacity names 'gold'" in str(e.value) and "\n" not in str(e.value)


def test_budget_below_one_contact(bank):
    pop, out = bank
    with pytest.raises(SpecError) as e:
        next_best_offer(with_targeting(budget=0.5), pop, out, "arm", "control", n_boot=1)
    assert "below the cost of one contact" in str(e.value) and "\n" not in str(e.value)


def test_list_respects_budget_and_capacity(bank):
    pop, out = bank
    r = next_best_offer(with_targeting(budget=300.0, capacity={"fee_free": 20.0}), pop, out, "arm", "control", n_boot=1)
    chosen = r.allocation.offer
    sel = chosen >= 0
    assert r.cost[sel.nonzero()[0], chosen[sel]].sum() <= 300.0 + 1e-9
    assert (r.table["offer"] == "fee_free").sum() <= 20
    assert (r.table.loc[r.table.selected, "expected_incremental_value"] >= 1.0).all()  # min_profit_per_contact
