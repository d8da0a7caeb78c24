"""Uplift models behind one API: ``fit(X, y, treatment)`` then ``predict(X)`` -> per-unit uplift.

The uplift (conditional average treatment effect) of a unit with features x is
``tau(x) = E[Y | x, T = 1] - E[Y | x, T = 0]``. ``y`` may be binary (conversion; uplift is
a difference in probabilities) or continuous (revenue or margin; uplift in money).

Models (names accepted by :func:`make_model`):

* ``"solo"``: :class:`SoloModel`, the S-learner (one model of y on (x, t)); via scikit-uplift.
* ``"two_models"``: :class:`TwoModels`, the T-learner (one model per group); via scikit-uplift.
* ``"class_transformation"``: :class:`ClassTransformation` (Jaskowski & Jaroszewicz 2012),
  binary outcomes only; via scikit-uplift. It assumes half the units are treated: with
  unequal groups its score is biased towards the larger group's response, so prefer another
  model there (``targeting`` compares them on held-out data).
* ``"x_learner"``: :class:`XLearner` (Kuenzel, Sekhon, Bickel & Yu 2019, PNAS 116:4156).
* ``"dr_learner"``: :class:`DRLearner`, the doubly robust learner with cross-fitting
  (Kennedy 2023, "Towards optimal doubly robust estimation of heterogeneous causal
  effects", EJS 17:3008).
* :class:`MultiArmUplift`: several treatment arms against one control; per-arm uplift and
  the best arm per unit.

scikit-uplift is reached only through :mod:`uplift.targeting.sklift_adapter`; models never sit inside a
scikit-learn ``Pipeline`` (sklift's models raise ``NotFittedError`` there): features are
encoded here by :class:`FeatureEncoder` and passed to sklift as float arrays.

All models follow scikit-learn conventions: parameters stored in ``__init__`` untouched,
``fit`` returns ``self``, fitted attributes end in ``_``. Base learners default to
histogram gradient boosting (``HistGradientBoostingClassifier`` for a binary outcome,
``...Regressor`` otherwise), seeded by ``random_state``.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from uplift.errors import DataError, UserError
from uplift.targeting import sklift_adapter

__all__ = [
    "FeatureEncoder",
    "SoloModel",
    "TwoModels",
    "ClassTransformation",
    "XLearner",
    "DRLearner",
    "MultiArmUplift",
    "MODEL_NAMES",
    "make_model",
    "fit_work",
]

MODEL_NAMES: tuple[str, ...] = ("solo", "two_models", "class_transformation", "x_learner", "dr_learner")


# --------------------------------------------------------------------------- features


class FeatureEncoder(BaseEstimator):
    """Turn a DataFrame into a float matrix: numbers as they are, categories one-hot.

    Categories are those seen in ``fit`` (an unseen category encodes as all zeros).
    A missing value in a feature is a :class:`DataError` naming the column: nothing is
    imputed or dropped silently. A NumPy array passes through as float.
    """

    def fit(self, X: Any, y: Any = None) -> "FeatureEncoder":
        if isinstance(X, pd.DataFrame):
            self.columns_ = list(X.columns)
            self.categories_: dict[str, list[Any]] = {}
            for c in X.columns:
                col = X[c]
                if isinstance(col.dtype, pd.CategoricalDtype):
                    self.categories_[c] = list(col.cat.categories)
                elif col.dtype == object or pd.api.types.is_string_dtype(col):
                    self.categories_[c] = sorted(col.dropna().unique().tolist(), key=str)
            self.feature_names_ = []
            for c in self.columns_:
                if c in self.categories_:
                    self.feature_names_ += [f"{c}={v}" for v in self.categories_[c]]
                else:
                    self.feature_names_.append(c)
        else:
            arr = np.asarray(X)
            if arr.ndim != 2:
                raise DataError(f"features must be a table (2-D), got shape {arr.shape}")
            self.columns_ = None
            self.categories_ = {}
            self.feature_names_ = [f"x{i}" for i in range(arr.shape[1])]
        return self

    def transform(self, X: Any) -> np.ndarray:
        if self.columns_ is None:
            arr = np.asarray(X, dtype=np.float64)
            if arr.ndim != 2 or arr.shape[1] != len(self.feature_names_):
                raise DataError(f"features: expected {len(self.feature_names_)} columns, got shape {arr.shape}")
            if not np.isfinite(arr).all():
                raise DataError(f"features: {int((~np.isfinite(arr)).sum())} missing or infinite values; fill them first")
            return arr
        if not isinstance(X, pd.DataFrame):
            raise DataError("features: the model was fitted on a table with named columns; pass a DataFrame")
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            raise DataError(f"features: column {missing[0]!r} is missing; the model was fitted with {', '.join(self.columns_)}")
        blocks = []
        for c in self.columns_:
            col = X[c]
            if col.isna().any():
                raise DataError(f"features: column {c!r} has {int(col.isna().sum())} missing values; fill them or drop the feature")
            if c in self.categories_:
                blocks.append(_one_hot(col, self.categories_[c]))
            else:
                try:
                    blocks.append(col.to_numpy(dtype=np.float64)[:, None])
                except (TypeError, ValueError):
                    raise DataError(f"features: column {c!r} is neither numeric nor categorical; convert it") from None
        return np.hstack(blocks) if blocks else np.zeros((len(X), 0))

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        return self.fit(X).transform(X)


def _one_hot(col: pd.Series, categories: list[Any]) -> np.ndarray:
    """0/1 columns, one per fitted category (a value equal to none of them: all zeros): each value's
    position among ``categories`` by one hash look-up (``pandas.Index.get_indexer``), not one
    comparison of the whole column per category; a categorical column maps its categories once."""
    out = np.zeros((len(col), len(categories)))
    if not categories:
        return out
    index = pd.Index(categories, dtype=object)
    if isinstance(col.dtype, pd.CategoricalDtype):
        pos = index.get_indexer(col.cat.categories.astype(object))[col.cat.codes.to_numpy()]
    else:
        pos = index.get_indexer(col.astype(object).to_numpy())
    hit = pos >= 0
    out[np.flatnonzero(hit), pos[hit]] = 1.0
    return out


# --------------------------------------------------------------------------- checks


def _check_y_t(y: Any, treatment: Any, n: int, binary_only: bool = False, who: str = "model") -> tuple[np.ndarray, np.ndarray, bool]:
    y = np.asarray(y, dtype=np.float64).ravel()
    t = np.asarray(treatment).ravel()
    if len(y) != n or len(t) != n:
        raise DataError(f"{who}: features ({n} rows), outcome ({len(y)}) and treatment ({len(t)}) differ in length")
    if not np.isfinite(y).all():
        raise DataError(f"{who}: the outcome has {int((~np.isfinite(y)).sum())} missing values; fill or remove those rows first")
    try:
        t = t.astype(np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{who}: treatment must be 0/1; recode the arm column (or use MultiArmUplift for labels)") from None
    if not np.isin(t, (0.0, 1.0)).all():
        raise DataError(f"{who}: treatment must be 0/1; recode the arm column (or use MultiArmUplift for several arms)")
    if not (t == 1).any() or not (t == 0).any():
        which = "treated" if not (t == 1).any() else "control"
        raise DataError(f"{who}: no {which} units in the training data; uplift needs both groups")
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    if binary_only and not binary:
        raise DataError(f"{who}: needs a binary 0/1 outcome, got other values (e.g. {y[~np.isin(y, (0.0, 1.0))][0]:g}); use x_learner or dr_learner for revenue")
    if binary:
        for g, name in ((1.0, "treated"), (0.0, "control")):
            if len(np.unique(y[t == g])) < 2:
                raise DataError(f"{who}: the outcome is constant among {name} units; nothing to learn from")
    return y, t, binary


def _default_learner(binary: bool, random_state: int | None) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    kw = dict(max_iter=100, learning_rate=0.1, max_leaf_nodes=8, min_samples_leaf=100,
              l2_regularization=1.0, random_state=random_state)
    return HistGradientBoostingClassifier(**kw) if binary else HistGradientBoostingRegressor(**kw)


def _default_effect_learner(random_state: int | None) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=100, learning_rate=0.1, max_leaf_nodes=8, min_samples_leaf=200,
                                         l2_regularization=1.0, random_state=random_state)


def _mean_prediction(est: Any, X: np.ndarray, binary: bool) -> np.ndarray:
    if binary and hasattr(est, "predict_proba"):
        return est.predict_proba(X)[:, 1]
    return np.asarray(est.predict(X), dtype=np.float64)


class _UpliftModel(BaseEstimator):
    """Shared plumbing: encode features, check inputs, predict uplift. ``fit_work``: the work of one fit,
    roughly, in fits of one learner on all the rows (fitting side by side starts the costliest first)."""

    fit_work: ClassVar[float] = 1.0

    def _encode_fit(self, X: Any) -> np.ndarray:
        self.encoder_ = FeatureEncoder().fit(X)
        return self.encoder_.transform(X)

    def _encode(self, X: Any) -> np.ndarray:
        if not hasattr(self, "encoder_"):
            raise UserError(f"{type(self).__name__}: call fit before predict")
        return self.encoder_.transform(X)

    def _learner(self, est: Any, binary: bool) -> Any:
        return clone(est) if est is not None else _default_learner(binary, getattr(self, "random_state", None))

    def predict(self, X: Any) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError


# --------------------------------------------------------------------------- sklift-backed


class SoloModel(_UpliftModel):
    """S-learner: one model ``f(x, t)``; ``tau(x) = f(x, 1) - f(x, 0)`` (sklift ``SoloModel``).

    ``method="treatment_interaction"`` adds ``x * t`` columns (Lo 2002).
    """

    def __init__(self, estimator: Any = None, method: str = "dummy", random_state: int | None = 0):
        self.estimator = estimator
        self.method = method
        self.random_state = random_state

    def fit(self, X: Any, y: Any, treatment: Any) -> "SoloModel":
        Z = self._encode_fit(X)
        y, t, binary = _check_y_t(y, treatment, len(Z), who="solo model")
        self.binary_ = binary
        self.model_ = sklift_adapter.solo_model(self._learner(self.estimator, binary), method=self.method)
        self.model_.fit(Z, y.astype(int) if binary else y, t.astype(int))
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.model_.predict(self._encode(X)), dtype=np.float64)


class TwoModels(_UpliftModel):
    """T-learner: ``tau(x) = f1(x) - f0(x)``, one model per group (sklift ``TwoModels``)."""

    def __init__(self, estimator: Any = None, method: str = "vanilla", random_state: int | None = 0):
        self.estimator = estimator
        self.method = method
        self.random_state = random_state

    def fit(self, X: Any, y: Any, treatment: Any) -> "TwoModels":
        Z = self._encode_fit(X)
        y, t, binary = _check_y_t(y, treatment, len(Z), who="two-models model")
        self.binary_ = binary
        self.model_ = sklift_adapter.two_models(self._learner(self.estimator, binary),
                                                self._learner(self.estimator, binary), method=self.method)
        self.model_.fit(Z, y.astype(int) if binary else y, t.astype(int))
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.model_.predict(self._encode(X)), dtype=np.float64)


class ClassTransformation(_UpliftModel):
    """Class transformation: ``z = y t + (1 - y)(1 - t)``, ``tau(x) = 2 P(z = 1 | x) - 1``.

    Jaskowski & Jaroszewicz (2012); valid when half the units are treated. Binary outcome only.
    """

    def __init__(self, estimator: Any = None, random_state: int | None = 0):
        self.estimator = estimator
        self.random_state = random_state

    def fit(self, X: Any, y: Any, treatment: Any) -> "ClassTransformation":
        Z = self._encode_fit(X)
        y, t, binary = _check_y_t(y, treatment, len(Z), binary_only=True, who="class_transformation model")
        self.binary_ = True
        self.model_ = sklift_adapter.class_transformation(self._learner(self.estimator, True))
        self.model_.fit(Z, y.astype(int), t.astype(int))
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.model_.predict(self._encode(X)), dtype=np.float64)


# --------------------------------------------------------------------------- our learners


class XLearner(_UpliftModel):
    """X-learner (Kuenzel et al. 2019, PNAS 116:4156).

    1. ``mu0``, ``mu1``: outcome models fitted on control and treated units.
    2. Imputed effects ``D1 = Y - mu0(X)`` (treated), ``D0 = mu1(X) - Y`` (control).
    3. ``tau1``, ``tau0``: regressions of ``D1`` and ``D0`` on ``X``.
    4. ``tau(x) = e tau0(x) + (1 - e) tau1(x)`` with ``e`` the share treated (the known
       propensity of a randomised test; Kuenzel et al. eq. 6 with ``g = e``).

    Works for binary and continuous outcomes.
    """

    fit_work = 3.0  # four learners, each on one arm's rows, the effect learners slower to stop early

    def __init__(self, outcome_estimator: Any = None, effect_estimator: Any = None, random_state: int | None = 0):
        self.outcome_estimator = outcome_estimator
        self.effect_estimator = effect_estimator
        self.random_state = random_state

    def fit(self, X: Any, y: Any, treatment: Any) -> "XLearner":
        Z = self._encode_fit(X)
        y, t, binary = _check_y_t(y, treatment, len(Z), who="x_learner model")
        self.binary_ = binary
        tr, co = t == 1, t == 0
        self.mu1_ = self._learner(self.outcome_estimator, binary).fit(Z[tr], y[tr])
        self.mu0_ = self._learner(self.outcome_estimator, binary).fit(Z[co], y[co])
        d1 = y[tr] - _mean_prediction(self.mu0_, Z[tr], binary)
        d0 = _mean_prediction(self.mu1_, Z[co], binary) - y[co]
        eff = self.effect_estimator
        self.tau1_ = (clone(eff) if eff is not None else _default_effect_learner(self.random_state)).fit(Z[tr], d1)
        self.tau0_ = (clone(eff) if eff is not None else _default_effect_learner(self.random_state)).fit(Z[co], d0)
        self.propensity_ = float(t.mean())
        return self

    def predict(self, X: Any) -> np.ndarray:
        Z = self._encode(X)
        e = self.propensity_
        return e * self.tau0_.predict(Z) + (1 - e) * self.tau1_.predict(Z)


class DRLearner(_UpliftModel):
    """Doubly robust learner with cross-fitting (Kennedy 2023, EJS 17:3008).

    On ``n_folds`` folds, outcome models ``mu0``, ``mu1`` fitted on the other folds give
    the pseudo-outcome

        phi = mu1(x) - mu0(x) + t (y - mu1(x)) / e - (1 - t)(y - mu0(x)) / (1 - e)

    with ``e`` the share treated (the known propensity of a randomised test);
    ``E[phi | x] = tau(x)``. ``tau`` is the regression of ``phi`` on ``x``.
    Works for binary and continuous outcomes.
    """

    fit_work = 3.0  # two outcome learners per fold and the effect learner on all the rows

    def __init__(self, outcome_estimator: Any = None, effect_estimator: Any = None, n_folds: int = 2,
                 random_state: int | None = 0):
        self.outcome_estimator = outcome_estimator
        self.effect_estimator = effect_estimator
        self.n_folds = n_folds
        self.random_state = random_state

    def fit(self, X: Any, y: Any, treatment: Any) -> "DRLearner":
        from sklearn.model_selection import StratifiedKFold

        Z = self._encode_fit(X)
        y, t, binary = _check_y_t(y, treatment, len(Z), who="dr_learner model")
        self.binary_ = binary
        e = float(t.mean())
        phi = np.empty(len(y))
        folds = StratifiedKFold(self.n_folds, shuffle=True, random_state=self.random_state)
        for fit_idx, out_idx in folds.split(Z, t):
            tf, yf, Zf = t[fit_idx], y[fit_idx], Z[fit_idx]
            m1 = self._learner(self.outcome_estimator, binary).fit(Zf[tf == 1], yf[tf == 1])
            m0 = self._learner(self.outcome_estimator, binary).fit(Zf[tf == 0], yf[tf == 0])
            Zo, to, yo = Z[out_idx], t[out_idx], y[out_idx]
            p1, p0 = _mean_prediction(m1, Zo, binary), _mean_prediction(m0, Zo, binary)
            phi[out_idx] = p1 - p0 + to * (yo - p1) / e - (1 - to) * (yo - p0) / (1 - e)
        eff = self.effect_estimator
        self.tau_ = (clone(eff) if eff is not None else _default_effect_learner(self.random_state)).fit(Z, phi)
        self.propensity_ = e
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.tau_.predict(self._encode(X)), dtype=np.float64)


# --------------------------------------------------------------------------- several arms


class MultiArmUplift(_UpliftModel):
    """Several treatment arms against one control: one binary uplift model per arm.

    ``treatment`` holds arm labels; each arm's model is fitted on that arm's units and the
    control units. ``predict_arms(X)`` gives a table of uplift per arm, ``predict(X)`` the
    uplift of the best arm, and ``best_arm(X)`` the arm with the largest predicted uplift,
    or the control label where no arm's uplift exceeds ``threshold`` (don't contact).
    """

    def __init__(self, control: str = "control", base: str = "dr_learner", threshold: float = 0.0,
                 random_state: int | None = 0):
        self.control = control
        self.base = base
        self.threshold = threshold
        self.random_state = random_state

    def fit(self, X: Any, y: Any, treatment: Any) -> "MultiArmUplift":
        labels = np.asarray(treatment).astype(str)
        y = np.asarray(y, dtype=np.float64)
        if len(labels) != len(y):
            raise DataError("multi-arm model: outcome and treatment differ in length")
        if self.control not in set(labels):
            raise DataError(f"multi-arm model: no units in the control arm {self.control!r}; name the control arm that exists")
        arms = sorted(set(labels) - {self.control})
        if not arms:
            raise DataError(f"multi-arm model: only the control arm {self.control!r} is present; uplift needs at least one treated arm")
        self.arms_ = arms
        self.models_ = {}
        for a in arms:
            mask = (labels == a) | (labels == self.control)
            Xa = X[mask] if isinstance(X, pd.DataFrame) else np.asarray(X)[mask]
            self.models_[a] = make_model(self.base, random_state=self.random_state).fit(
                Xa.reset_index(drop=True) if isinstance(Xa, pd.DataFrame) else Xa, y[mask], (labels[mask] == a).astype(int))
        return self

    def predict_arms(self, X: Any) -> pd.DataFrame:
        return pd.DataFrame({a: m.predict(X) for a, m in self.models_.items()})

    def predict(self, X: Any) -> np.ndarray:
        return self.predict_arms(X).max(axis=1).to_numpy()

    def best_arm(self, X: Any) -> np.ndarray:
        u = self.predict_arms(X)
        best = u.idxmax(axis=1).to_numpy().astype(object)
        best[u.max(axis=1).to_numpy() <= self.threshold] = self.control
        return best


# --------------------------------------------------------------------------- factory


_FACTORY: dict[str, Callable[..., _UpliftModel]] = {
    "solo": SoloModel,
    "two_models": TwoModels,
    "class_transformation": ClassTransformation,
    "x_learner": XLearner,
    "dr_learner": DRLearner,
}


def make_model(name: str, random_state: int | None = 0, **params: Any) -> _UpliftModel:
    """A fresh uplift model by name (one of :data:`MODEL_NAMES`)."""
    if name not in _FACTORY:
        raise UserError(f"unknown uplift model {name!r}; use one of {', '.join(MODEL_NAMES)}")
    return _FACTORY[name](random_state=random_state, **params)


def fit_work(name: str) -> float:
    """:attr:`_UpliftModel.fit_work` of the model called ``name`` (one of :data:`MODEL_NAMES`)."""
    return _FACTORY[name].fit_work if name in _FACTORY else 1.0


def fit_models(names: Sequence[str], X: Any, y: Any, treatment: Any, random_state: int | None = 0) -> dict[str, _UpliftModel]:
    """Fit several models on the same data (convenience for comparisons)."""
    return {n: make_model(n, random_state=random_state).fit(X, y, treatment) for n in names}
