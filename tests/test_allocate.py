"""Next-best-offer allocation (uplift.targeting.allocate): exact against brute force, every constraint
holds, shadow prices equal the LP relaxation's duals computed by scipy on the full programme."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from uplift.targeting.allocate import allocate


def brute_force(value, cost, budget, cap, min_profit):
    n, k = value.shape
    best = 0.0
    for combo in itertools.product(range(-1, k), repeat=n):
        ok = [(i, o) for i, o in enumerate(combo) if o >= 0]
        if any(value[i, o] <= 0 or (min_profit is not None and value[i, o] < min_profit) for i, o in ok):
            continue
        if budget is not None and sum(cost[i, o] for i, o in ok) > budget + 1e-9:
            continue
        if any(sum(1 for _, o in ok if o == j) > c for j, c in cap.items()):
            continue
        best = max(best, sum(value[i, o] for i, o in ok))
    return best


def case(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 7)), int(rng.integers(1, 4))
    value = np.round(rng.normal(1.0, 2.0, size=(n, k)), 2)
    cost = np.round(rng.uniform(0.5, 3.0, size=(n, k)), 2)
    budget = float(np.round(rng.uniform(0.4, 8.0), 2)) if rng.random() < 0.8 else None
    cap = {j: int(rng.integers(0, n + 1)) for j in range(k) if rng.random() < 0.5}
    min_profit = float(np.round(rng.uniform(0, 2), 2)) if rng.random() < 0.3 else None
    return value, cost, budget, cap, min_profit


@pytest.mark.parametrize("seed", range(60))
def test_optimum_equals_brute_force_and_constraints_hold(seed):
    value, cost, budget, cap, min_profit = case(seed)
    offers = [f"o{j}" for j in range(value.shape[1])]
    a = allocate(value, cost, offers, budget, {offers[j]: c for j, c in cap.items()}, min_profit)
    assert a.profit == pytest.approx(brute_force(value, cost, budget, cap, min_profit), abs=1e-6)
    sel = np.flatnonzero(a.offer >= 0)
    picked = value[sel, a.offer[sel]]
    assert (picked > 0).all()
    if min_profit is not None:
        assert (picked >= min_profit).all()
    if budget is not None:
        assert cost[sel, a.offer[sel]].sum() <= budget + 1e-9
    for j, c in cap.items():
        assert (a.offer == j).sum() <= c
    assert a.upper_bound >= a.profit - 1e-9


@pytest.mark.parametrize("seed", range(5))
def test_constraints_hold_on_larger_lists(seed):
    rng = np.random.default_rng(100 + seed)
    n = 3000
    value = rng.normal(0.5, 3.0, size=(n, 3))
    cost = 1.5 + rng.uniform(0.2, 1.0, size=(n, 3))
    budget, cap, m = float(n * 0.3), {"a": n // 30, "b": n // 20}, 0.25
    a = allocate(value, cost, ["a", "b", "c"], budget, cap, m)
    sel = np.flatnonzero(a.offer >= 0)
    assert cost[sel, a.offer[sel]].sum() <= budget + 1e-9
    assert (a.offer == 0).sum() <= cap["a"] and (a.offer == 1).sum() <= cap["b"]
    assert (value[sel, a.offer[sel]] >= m).all()
    assert a.status == "optimal"
    # the LP relaxation of the whole programme (scipy, HiGHS) bounds the optimum from above
    lp = _full_lp(value, cost, budget, {0: cap["a"], 1: cap["b"]}, m)
    assert a.profit <= -lp.fun + 1e-6
    assert a.profit >= -lp.fun - 3 * np.abs(value).max()  # at most one customer per coupling row


def _full_lp(value, cost, budget, cap, m):
    from scipy import sparse

    n, k = value.shape
    keep = (value > 0) & (value >= m)
    c = np.where(keep, -value, 0.0).ravel()
    rows = [sparse.kron(sparse.eye(n), np.ones((1, k)))]
    ub = [np.ones(n)]
    rows.append(sparse.csr_matrix(cost.ravel()[None, :]))
    ub.append([budget])
    for j, cc in cap.items():
        e = np.zeros(k)
        e[j] = 1
        rows.append(sparse.csr_matrix(np.tile(e, n)[None, :]))
        ub.append([cc])
    bounds = [(0, 1 if keep.ravel()[i] else 0) for i in range(n * k)]
    return linprog(c, A_ub=sparse.vstack(rows), b_ub=np.concatenate([np.ravel(u) for u in ub]), bounds=bounds, method="highs")


def test_shadow_price_of_a_binding_budget_matches_the_full_relaxation():
    rng = np.random.default_rng(7)
    n = 400
    value = rng.uniform(0.1, 5.0, size=(n, 2))
    cost = rng.uniform(1.0, 2.0, size=(n, 2))
    budget = 100.0
    a = allocate(value, cost, ["a", "b"], budget)
    lp = _full_lp(value, cost, budget, {}, None or -np.inf)
    assert a.shadow_prices["budget"] == pytest.approx(-lp.ineqlin.marginals[n], rel=1e-6)
    assert a.shadow_prices["budget"] > 0


def test_no_constraint_gives_each_customer_its_best_positive_offer():
    value = np.array([[1.0, 2.0], [-1.0, -0.5], [3.0, 0.0]])
    a = allocate(value, np.ones_like(value), ["a", "b"])
    assert a.offer.tolist() == [1, -1, 0]
    assert a.profit == 5.0


@pytest.mark.parametrize("seed", range(40))
def test_offer_costs_the_same_for_everyone_equals_brute_force(seed):
    """Each offer's cost the same for every customer (as next best offer prices them), sometimes the same
    for every offer: the integer-count MILP path, against brute force."""
    value, _, budget, cap, min_profit = case(1000 + seed)
    rng = np.random.default_rng(seed)
    per_offer = np.round(rng.uniform(0.5, 3.0, size=value.shape[1]), 2) if seed % 2 else np.full(value.shape[1], 1.5)
    cost = np.tile(per_offer, (value.shape[0], 1))
    budget = budget if budget is not None else float(np.round(rng.uniform(0.4, 8.0), 2))
    offers = [f"o{j}" for j in range(value.shape[1])]
    a = allocate(value, cost, offers, budget, {offers[j]: c for j, c in cap.items()}, min_profit)
    assert a.profit == pytest.approx(brute_force(value, cost, budget, cap, min_profit), abs=1e-6)
    assert a.status == "optimal"


def test_equal_costs_and_a_fractional_budget_on_a_large_list():
    """The case that made branch and bound on pairs explode (every contact 1.5, a budget of 2,633.5
    contacts): optimal, and equal to the best 2,633 positive values (one offer at one cost: the greedy
    choice is optimal)."""
    rng = np.random.default_rng(3)
    n = 20_000
    value = rng.normal(2.0, 3.0, size=(n, 1))
    cost = np.full_like(value, 1.5)
    a = allocate(value, cost, ["a"], 3950.25)
    assert a.status == "optimal" and a.contacts["a"] == 2633
    top = np.sort(value[:, 0])[::-1][:2633]
    assert a.profit == pytest.approx(top[top > 0].sum())
