"""Uplift models: same numbers as scikit-uplift/scikit-learn references on the same input,
Hillstrom (real data) Qini above a random score, and ranking of known individual effects
on simulated data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.linear_model import LinearRegression, LogisticRegression

from uplift.targeting import sklift_adapter as _sklift
from uplift.errors import DataError
from uplift.targeting.evaluation import qini_coefficient, random_qini_interval
from uplift.targeting.models import (
    MODEL_NAMES, ClassTransformation, DRLearner, FeatureEncoder, MultiArmUplift, SoloModel, TwoModels, XLearner,
    make_model,
)

@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """OpenMP threads fighting for 2 shared cores made gradient boosting 5x slower: use one."""
    import sklearn.ensemble  # noqa: F401  (load the OpenMP runtime before limiting it)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


HILLSTROM_FEATURES = ["recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie", "channel"]


@pytest.fixture(scope="module")
def hill_split(hillstrom):
    from sklearn.model_selection import train_test_split

    df = hillstrom[hillstrom["segment"].isin(["Womens E-Mail", "No E-Mail"])].reset_index(drop=True)
    t = (df["segment"] == "Womens E-Mail").astype(int).to_numpy()
    y = df["visit"].to_numpy()
    X = df[HILLSTROM_FEATURES]
    return train_test_split(X, y, t, test_size=0.3, random_state=0, stratify=np.c_[t, y])


def test_hillstrom_models_beat_a_random_score(hill_split):
    """Womens E-Mail vs No E-Mail, visit, 70/30 split (seed 0): Qini >= 0.04 above the random upper bound."""
    Xtr, Xte, ytr, yte, ttr, tte = hill_split
    rq = random_qini_interval(yte, tte, n_boot=200, seed=0)
    scores = {}
    for name in MODEL_NAMES:
        m = make_model(name, random_state=0).fit(Xtr, ytr, ttr)
        scores[name] = qini_coefficient(yte, m.predict(Xte), tte)
    print("Hillstrom held-out Qini:", {k: round(v, 4) for k, v in scores.items()},
          f"random 95% interval [{rq.low:.4f}, {rq.high:.4f}]")
    best = max(scores.values())
    assert best >= 0.04
    assert best > rq.high


def test_sklift_backed_models_equal_sklift_on_the_same_arrays(hill_split):
    """Our wrappers hand sklift plain float arrays; the numbers are sklift's own."""
    Xtr, Xte, ytr, yte, ttr, tte = hill_split
    enc = FeatureEncoder().fit(Xtr)
    Ztr, Zte = enc.transform(Xtr), enc.transform(Xte)
    lr = LogisticRegression(max_iter=2000)
    sm = _sklift.models()
    pairs = [
        (SoloModel(estimator=lr), sm.SoloModel(LogisticRegression(max_iter=2000))),
        (TwoModels(estimator=lr), sm.TwoModels(LogisticRegression(max_iter=2000), LogisticRegression(max_iter=2000))),
        (ClassTransformation(estimator=lr), sm.ClassTransformation(LogisticRegression(max_iter=2000))),
    ]
    for ours, ref in pairs:
        a = ours.fit(Xtr, ytr, ttr).predict(Xte)
        b = ref.fit(Ztr, ytr, ttr).predict(Zte)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_two_models_equals_two_independent_scikit_learn_fits(hill_split):
    """Reference without sklift: P(y | x, treated) - P(y | x, control) from two logistic regressions."""
    Xtr, Xte, ytr, yte, ttr, tte = hill_split
    enc = FeatureEncoder().fit(Xtr)
    Ztr, Zte = enc.transform(Xtr), enc.transform(Xte)
    f1 = LogisticRegression(max_iter=2000).fit(Ztr[ttr == 1], ytr[ttr == 1])
    f0 = LogisticRegression(max_iter=2000).fit(Ztr[ttr == 0], ytr[ttr == 0])
    ref = f1.predict_proba(Zte)[:, 1] - f0.predict_proba(Zte)[:, 1]
    ours = TwoModels(estimator=LogisticRegression(max_iter=2000)).fit(Xtr, ytr, ttr).predict(Xte)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)


def test_feature_encoder_one_hot_equals_pandas_get_dummies():
    """Categories (text, categorical with categories in another order, an unseen value) one-hot as
    pandas.get_dummies with the fitted categories; numbers as they are."""
    import pandas as pd

    tr = pd.DataFrame({"seg": ["b", "a", "c", "a"], "band": pd.Categorical(["x", "y", "x", "z"]), "n": [1, 2, 3, 4]})
    te = pd.DataFrame({"seg": ["c", "new", "a", "b", "a"],
                       "band": pd.Categorical(["z", "y", "x", "x", "y"], categories=["z", "y", "x", "w"]),
                       "n": [5.0, 6.0, 7.0, 8.0, 9.0]})
    enc = FeatureEncoder().fit(tr)
    want = np.column_stack([
        pd.get_dummies(pd.Categorical(te["seg"], categories=["a", "b", "c"])).to_numpy(dtype=float),
        pd.get_dummies(pd.Categorical(te["band"].astype(str), categories=["x", "y", "z"])).to_numpy(dtype=float),
        te["n"].to_numpy()])
    np.testing.assert_array_equal(enc.transform(te), want)
    assert enc.feature_names_ == ["seg=a", "seg=b", "seg=c", "band=x", "band=y", "band=z", "n"]


def _linear_world(n: int, seed: int):
    """y = 1 + x0 + 0.5 x1 + t (2 + 3 x1) + noise: true effect tau(x) = 2 + 3 x1."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    t = (rng.random(n) < 0.3).astype(int)
    tau = 2 + 3 * X[:, 1]
    y = 1 + X[:, 0] + 0.5 * X[:, 1] + t * tau + rng.normal(size=n)
    return X, y, t, tau


@pytest.mark.parametrize("cls", [XLearner, DRLearner])
def test_x_and_dr_learners_recover_a_known_linear_effect(cls):
    """Continuous outcome, unequal groups: with linear learners the effect 2 + 3 x1 is recovered."""
    X, y, t, tau = _linear_world(20_000, 1)
    m = cls(outcome_estimator=LinearRegression(), effect_estimator=LinearRegression()).fit(X, y, t)
    Xn, _, _, tau_n = _linear_world(2000, 2)
    pred = m.predict(Xn)
    assert np.max(np.abs(pred - tau_n)) < 0.25
    eff = m.tau_ if cls is DRLearner else m.tau1_
    np.testing.assert_allclose(eff.coef_, [0, 3, 0], atol=0.08)


def test_solo_and_two_models_handle_continuous_outcomes():
    X, y, t, tau = _linear_world(8000, 3)
    for cls in (SoloModel, TwoModels):
        pred = cls(estimator=LinearRegression(), method="treatment_interaction" if cls is SoloModel else "vanilla").fit(X, y, t).predict(X)
        assert np.corrcoef(pred, tau)[0, 1] > 0.98


@pytest.fixture(scope="module")
def sim_data():
    from uplift.simulate import simulate

    sim = simulate(40_000, seed=3, arms={"control": 0.5, "offer": 0.5})
    feats = ["segment", "age_band", "products_held", "revenue_pre_12m", "balance", "bank_tenure_months",
             "complaints_90d", "financial_stress", "holds_savings"]
    X = sim.population[feats]
    return X, sim.outcomes


@pytest.mark.parametrize("name", ["solo", "x_learner", "dr_learner", "two_models"])
def test_scores_rank_the_true_effects(sim_data, name):
    X, o = sim_data
    y, t = o["converted"].to_numpy(), (o["arm"] == "offer").to_numpy().astype(int)
    n = int(0.7 * len(y))
    pred = make_model(name).fit(X.iloc[:n], y[:n], t[:n]).predict(X.iloc[n:])
    rho = spearmanr(pred, o["true_uplift_offer"].to_numpy()[n:]).statistic
    print(f"{name}: Spearman vs true uplift {rho:.3f}")
    assert rho >= 0.5


def test_x_learner_ranks_true_net_margin_effects(sim_data):
    """Continuous outcome (net margin, money): the X-learner still ranks the true money effects."""
    X, o = sim_data
    net = (o["margin_12m"] - o["cannibalised_margin_12m"] - o["service_cost_12m"]).to_numpy()
    t = (o["arm"] == "offer").to_numpy().astype(int)
    n = int(0.7 * len(t))
    pred = XLearner().fit(X.iloc[:n], net[:n], t[:n]).predict(X.iloc[n:])
    rho = spearmanr(pred, o["true_net_margin_uplift_offer"].to_numpy()[n:]).statistic
    print(f"x_learner on net margin: Spearman {rho:.3f}")
    assert rho >= 0.3


def test_multi_arm_picks_the_best_arm_per_customer():
    """Arm A helps segment 0, arm B helps segment 1, nobody gains in segment 2."""
    rng = np.random.default_rng(5)
    n = 30_000
    seg = rng.integers(0, 3, n)
    arm = rng.choice(["control", "A", "B"], n)
    p = 0.10 + 0.08 * ((arm == "A") & (seg == 0)) + 0.08 * ((arm == "B") & (seg == 1)) - 0.03 * ((arm != "control") & (seg == 2))
    y = (rng.random(n) < p).astype(int)
    X = pd.DataFrame({"seg": pd.Categorical(seg.astype(str)), "noise": rng.normal(size=n)})
    m = MultiArmUplift(control="control", base="two_models").fit(X, y, arm)
    Xq = pd.DataFrame({"seg": pd.Categorical(["0", "1", "2"]), "noise": [0.0, 0.0, 0.0]})
    assert list(m.best_arm(Xq)) == ["A", "B", "control"]
    assert m.predict_arms(Xq).shape == (3, 2)


def test_bad_input_gives_one_line_errors():
    X, y, t, _ = _linear_world(500, 0)
    df = pd.DataFrame({"a": np.r_[np.nan, np.ones(499)]})
    cases = [
        (lambda: ClassTransformation().fit(X, y, t), "needs a binary 0/1 outcome"),
        (lambda: XLearner().fit(X, (y > 1).astype(int), np.zeros(500)), "no treated units"),
        (lambda: MultiArmUplift().fit(X, y, np.array(["control"] * 500)), "only the control arm"),
        (lambda: SoloModel().fit(df, (y > 1).astype(int), t), "column 'a' has 1 missing"),
    ]
    for fit, message in cases:
        with pytest.raises(DataError, match=message) as exc:
            fit()
        assert "\n" not in str(exc.value), str(exc.value)
    with pytest.raises(Exception, match="unknown uplift model"):
        make_model("forest")


def test_models_follow_scikit_learn_conventions():
    from sklearn.base import clone

    m = DRLearner(n_folds=3, random_state=4)
    assert clone(m).get_params()["n_folds"] == 3
    X, y, t, _ = _linear_world(3000, 7)
    assert m.fit(X, y, t) is m
    assert hasattr(m, "tau_") and not hasattr(clone(m), "tau_")
    # deterministic given random_state
    np.testing.assert_array_equal(DRLearner(random_state=4).fit(X, y, t).predict(X[:20]),
                                  DRLearner(random_state=4).fit(X, y, t).predict(X[:20]))
