"""Next best offer against the oracle (issue 18, "verification in tests"): on simulated customers with
planted heterogeneous effects per offer, the policy `uplift target` learns (per-offer X-learner uplift
models, calibration, allocation under a budget: :func:`uplift.targeting.offers.next_best_offer`) earns
at least 90% of the TRUE value of the oracle's policy (the same allocator given the true effects).

The simulation (known truth): 30,000 customers, features ``x1, x2`` standard normal, ``x3`` uniform,
``region`` in {north, south, west}; a randomised test with control and two offers (a third each);
baseline conversion ``0.04 + 0.04 x3``; planted uplift ``tau_a(x) = 0.25 sigmoid(3 x1)`` and
``tau_b(x) = 0.25 sigmoid(3 x2) [region != north]``. A conversion is worth 100, a contact costs 1.5, and
the budget pays for a quarter of the customers (less those who convert in the test and are not listed).

True value of a policy: ``sum over listed customers of tau_o(x) x 100 - 1.5`` for the offer it gives.
The oracle is :func:`uplift.targeting.allocate.allocate` on the true values under the same budget
(the optimum of the true programme, so no policy within the budget beats it).

Seen by hand (policy / oracle true value): seeds 1, 2, 3, 4 gave 0.935, 0.958, 0.946, 0.940 (the
policy gets the split between the offers roughly right and the customers mostly right); with planted
effects of 0.10 instead of 0.25 the ratio fell to 0.83, so the bound is not loose. A policy that gives
random customers the offer with the larger average effect, under the same budget, reaches 0.46 to
0.47 of the oracle: the check below asserts it stays under 0.75, so the 0.90 is earned by the
targeting. ``pytest --full`` runs the four seeds; the default run one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from uplift.spec import load_spec
from uplift.targeting.allocate import allocate
from uplift.targeting.offers import next_best_offer

N = 30_000
VALUE, CONTACT = 100.0, 1.5
EFFECT = 0.25
SPEC = """
[experiment]
name = "oracle"
unit = "customer_id"
[assignment]
salt = "oracle"
arms = {{ control = 0.3334, offer_a = 0.3333, offer_b = 0.3333 }}
control = "control"
[[metrics]]
name = "conversion"
kind = "proportion"
column = "converted"
primary = true
[economics]
contact_cost = {contact}
[targeting]
features = ["x1", "x2", "x3", "region"]
outcome = "converted"
model = "x_learner"
value_per_conversion = {value}
seed = 3
n_bootstrap = 1
budget = {budget}
"""


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def true_uplift(df: pd.DataFrame) -> np.ndarray:
    """(customers x offers) planted uplift: offer_a, offer_b."""
    ta = EFFECT * _sigmoid(3 * df["x1"].to_numpy())
    tb = EFFECT * _sigmoid(3 * df["x2"].to_numpy()) * (df["region"].to_numpy() != "north")
    return np.c_[ta, tb]


def simulate_test(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    pop = pd.DataFrame({"customer_id": [f"c{i}" for i in range(N)], "x1": rng.normal(size=N), "x2": rng.normal(size=N),
                        "x3": rng.uniform(size=N), "region": rng.choice(["north", "south", "west"], size=N)})
    arm = rng.choice(["control", "offer_a", "offer_b"], size=N)
    tau = true_uplift(pop)
    p = 0.04 + 0.04 * pop["x3"].to_numpy() + np.where(arm == "offer_a", tau[:, 0], 0.0) + np.where(arm == "offer_b", tau[:, 1], 0.0)
    out = pd.DataFrame({"customer_id": pop["customer_id"], "arm": arm, "converted": (rng.uniform(size=N) < p).astype(int)})
    return pop, out


def policy_and_oracle(seed: int, tmp: Path) -> tuple[float, float, float]:
    """True values of the learned policy, of the oracle and of the naive policy (module docstring)."""
    pop, out = simulate_test(seed)
    budget = 0.25 * N * 0.9 * CONTACT
    path = tmp / f"oracle{seed}.toml"
    path.write_text(SPEC.format(contact=CONTACT, value=VALUE, budget=budget), encoding="utf-8")
    r = next_best_offer(load_spec(path), pop, out, "arm", "control", n_boot=1)
    assert r.allocation.status == "optimal"
    eligible = pop.set_index("customer_id").loc[r.units].reset_index()
    true_value = true_uplift(eligible) * VALUE - r.cost  # the cost per contact the policy pays
    chosen = r.allocation.offer
    listed = np.flatnonzero(chosen >= 0)
    assert r.cost[listed, chosen[listed]].sum() <= budget + 1e-6
    policy = float(true_value[listed, chosen[listed]].sum())
    oracle = allocate(true_value, r.cost, r.offers, budget, prices=False)
    assert oracle.status == "optimal"
    # naive: the offer with the larger average effect in the test, to random customers within the budget
    arm_rate = out.groupby("arm")["converted"].mean()
    best = int(np.argmax([arm_rate[o] - arm_rate["control"] for o in r.offers]))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(eligible))[: int(budget // r.cost[0, best])]
    naive = float(true_value[order, best].sum())
    return policy, oracle.profit, naive


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_policy_value_within_ten_percent_of_the_oracle(seed, full, tmp_path):
    if seed > 1 and not full:
        pytest.skip("one seed by default; pytest --full runs four")
    policy, oracle, naive = policy_and_oracle(seed, tmp_path)
    assert oracle > 0
    assert policy / oracle >= 0.90, f"policy {policy:,.0f} / oracle {oracle:,.0f} = {policy / oracle:.3f}"
    assert naive / oracle < 0.75, f"naive {naive:,.0f} / oracle {oracle:,.0f}: the simulation does not reward targeting"
