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
    assert one.random_qini == two.random_qini  # the random baseline, beside the bootstrap and the value models
    assert one.value_model == two.value_model and "gradient boosting" in one.value_model  # the value models ran
    pd.testing.assert_frame_equal(one.next_wave, two.next_wave)  # expected profits: the value models' numbers
    for a, b in ((one.profit, two.profit), (one.profit_low, two.profit_low), (one.profit_high, two.profit_high)):
        assert np.array_equal(a, b)  # the held-out profit curve, beside the explanations
    assert one.best_profit == two.best_profit
    assert repr(one.explanations) == repr(two.explanations)


def test_the_costliest_candidates_are_fitted_first(monkeypatch):
    """The learners that fit several models start first (no long fit starts last and runs alone); the
    candidates come back in the spec's order."""
    from uplift.targeting import choice
    from uplift.targeting.models import MODEL_NAMES, fit_work

    order = sorted(MODEL_NAMES, key=lambda n: -fit_work(n))
    assert order[:2] == ["x_learner", "dr_learner"] and order[2:] == ["solo", "two_models", "class_transformation"]
    seen: list[str] = []

    def fake_map(fn, items):
        seen.extend(items)
        return [(name, np.zeros(2), np.zeros(2)) for name in items]

    monkeypatch.setattr(choice, "map_threads", fake_map)
    monkeypatch.setattr(choice, "qini_coefficient", lambda y, s, t: 0.0)

    class Setup:
        candidates = ("solo", "dr_learner", "two_models", "x_learner")
        seed = 0

    class Sample:
        X, y, t = pd.DataFrame({"a": [0.0] * 6}), np.zeros(6), np.zeros(6)

    class Split:
        fit, select, holdout = np.arange(2), np.arange(2, 4), np.arange(4, 6)

    fits = choice.fit_candidates(Setup, Sample, Split)
    assert seen == ["dr_learner", "x_learner", "solo", "two_models"]
    assert list(fits.models) == list(Setup.candidates) and fits.models["x_learner"] == "x_learner"
    assert fits.chosen == "solo"  # equal selection Qinis: the first in the spec's order


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
