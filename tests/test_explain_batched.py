"""Permutation importance scores its permuted copies several at a time (and takes the model's score of the
unpermuted rows when it is known): the same drops as scoring each permutation by itself, the earlier loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from uplift.targeting import explain
from uplift.targeting.evaluation import qini_coefficient
from uplift.targeting.models import make_model


def _loop(model, X, y, t, repeats, seed):
    """One model call per permuted copy, in the order the permutations are drawn."""
    base = qini_coefficient(y, model.predict(X), t)
    rng = np.random.default_rng(seed)
    out = []
    for c in X.columns:
        drops = []
        for _ in range(repeats):
            Xp = X.copy()
            Xp[c] = Xp[c].to_numpy()[rng.permutation(len(Xp))]
            drops.append(base - qini_coefficient(y, model.predict(Xp), t))
        out.append((str(c), float(np.mean(drops))))
    return sorted(out, key=lambda kv: -kv[1])


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(5)
    n = 3000
    X = pd.DataFrame({"x1": rng.random(n), "x2": rng.normal(size=n), "n": rng.integers(0, 5, n),
                      "band": pd.Categorical(rng.choice(["a", "b", "c"], n)), "label": rng.choice(["u", "v"], n)})
    t = (rng.random(n) < 0.5).astype(int)
    y = (rng.random(n) < 0.05 + 0.1 * t * X["x1"].to_numpy() + 0.03 * (X["band"] == "b")).astype(int)
    model = make_model("two_models", random_state=0).fit(X.iloc[:2000], y[:2000], t[:2000])
    return model, X.iloc[2000:].reset_index(drop=True), y[2000:], t[2000:]


@pytest.mark.parametrize("batch_rows", [1, 2500, explain.IMPORTANCE_BATCH_ROWS])
def test_batched_importance_equals_one_call_per_permutation(fitted, batch_rows, monkeypatch):
    model, X, y, t = fitted
    want = _loop(model, X, y, t, repeats=3, seed=4)
    assert sum(v != 0 for _, v in want) >= 3  # the model reads the columns: the drops are not all zero
    monkeypatch.setattr(explain, "IMPORTANCE_BATCH_ROWS", batch_rows)  # 1, 2 or all 15 copies per call
    assert explain.permutation_importance(model, X, y, t, repeats=3, seed=4) == want
    assert explain.permutation_importance(model, X, y, t, repeats=3, seed=4, base_score=model.predict(X)) == want
