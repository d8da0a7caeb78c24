"""Candidate models fitted side by side (uplift.targeting.threads): the same results as one after the other,
the first error of the sequential order, and one OpenMP thread per worker."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest

from uplift.errors import DataError
from uplift.targeting import threads
from uplift.targeting.threads import map_threads, worker_count


def test_results_in_order_and_on_worker_threads(monkeypatch):
    monkeypatch.setattr(threads, "worker_count", lambda items: 2)
    names = []

    def fn(x):
        time.sleep(0.02 * (3 - x))  # later items finish first
        names.append(threading.current_thread().name)
        return x * x

    assert map_threads(fn, [0, 1, 2, 3]) == [0, 1, 4, 9]
    assert all(n.startswith("uplift-fit") for n in names)


def test_the_earliest_items_error_as_in_sequence(monkeypatch):
    monkeypatch.setattr(threads, "worker_count", lambda items: 2)

    def fn(x):
        if x == 1:
            time.sleep(0.05)
            raise DataError("item 1")
        if x == 2:
            raise DataError("item 2")  # fails first in time, later in order
        return x

    with pytest.raises(DataError, match="item 1"):
        map_threads(fn, [0, 1, 2])


def test_each_worker_runs_one_openmp_thread(monkeypatch):
    import sklearn.ensemble  # noqa: F401 - loads the OpenMP runtime threadpoolctl reads
    from threadpoolctl import threadpool_info

    monkeypatch.setattr(threads, "worker_count", lambda items: 2)
    seen = map_threads(lambda _: {i["user_api"]: i["num_threads"] for i in threadpool_info()}, range(2))
    assert all(s.get("openmp", 1) == 1 for s in seen), seen
    assert 1 <= worker_count(5) <= 2 and worker_count(1) == 1


def test_targeting_equals_the_sequential_fits(monkeypatch):
    """Every candidate model, its comparison and the next-wave list: equal, fitted one after the other
    or side by side."""
    from pathlib import Path

    from uplift.simulate import simulate
    from uplift.spec import load_spec
    from uplift.targeting.analyse import targeting_analysis

    sim = simulate(10_000, seed=11, arms={"control": 0.5, "offer": 0.5})
    spec = load_spec(Path(__file__).resolve().parents[1] / "experiments" / "demo.toml")
    runs = {}
    for workers in (1, 2):
        monkeypatch.setattr(threads, "worker_count", lambda items, w=workers: min(w, items))
        runs[workers] = targeting_analysis(spec, sim.population, sim.outcomes, "arm", "control", n_boot=20,
                                           models=["solo", "two_models", "class_transformation"])
    one, two = runs[1], runs[2]
    assert one.model == two.model
    assert one.models == two.models  # selection Qini, held-out Qini and AUUC with their intervals
    pd.testing.assert_frame_equal(one.next_wave, two.next_wave)
    assert np.array_equal(one.profit, two.profit)


def test_predictions_side_by_side_equal_one_call(monkeypatch):
    """Pieces of the rows on two threads, a scikit-uplift model copied for every piece but the first (it keeps
    its last predictions on itself): the very arrays of one call per model."""
    from uplift.simulate import simulate
    from uplift.targeting.models import make_model
    from uplift.targeting.threads import predict_side_by_side

    monkeypatch.setattr(threads, "worker_count", lambda items: 2)
    sim = simulate(6_000, seed=5, arms={"control": 0.5, "offer": 0.5})
    X = sim.population.set_index("customer_id").loc[sim.outcomes["customer_id"], ["products_held", "balance", "bank_tenure_months"]]
    X = X.reset_index(drop=True)
    y, t = sim.outcomes["converted"].to_numpy(), (sim.outcomes["arm"] == "offer").to_numpy().astype(int)
    solo = make_model("solo", random_state=1).fit(X, y, t)
    two = make_model("two_models", random_state=1).fit(X, y, t)
    whole = [solo.predict(X), two.predict(X.iloc[:1000])]
    got = predict_side_by_side([(solo.predict, X), (two.predict, X.iloc[:1000]), (solo.predict, X.iloc[:0])], max_rows=700)
    assert np.array_equal(got[0], whole[0]) and np.array_equal(got[1], whole[1]) and len(got[2]) == 0
