"""The one adapter to scikit-uplift (``sklift``). Nothing else in the package imports sklift.

scikit-uplift 0.5.1 (2022) is the field's reference for uplift models and metrics, but
it has not kept up with scikit-learn:

* ``sklift.viz`` does not import on current scikit-learn (``check_matplotlib_support``
  is gone): we never import it; plots are ours.
* ``sklift.metrics`` imports ``sklearn.utils.extmath.stable_cumsum``, which
  scikit-learn 1.10 removes (1.8-1.9 warn): :func:`_install_stable_cumsum_shim` puts back
  an equivalent before the import when it is missing, and :func:`metrics` points sklift's
  name at our copy, so the reference comparison in the tests survives and stays quiet.
* its models inside a scikit-learn ``Pipeline`` raise ``NotFittedError`` on predict
  (scikit-learn 1.9): we never wrap them in a Pipeline. :mod:`uplift.targeting.models` encodes
  features itself and hands sklift plain float arrays.

Import this module lazily (inside functions) so ``import uplift`` stays fast.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

__all__ = ["metrics", "models", "stable_cumsum", "solo_model", "two_models", "class_transformation"]


def stable_cumsum(arr: Any, axis: int | None = None, rtol: float = 1e-05, atol: float = 1e-08) -> np.ndarray:
    """Cumulative sum in float64, as scikit-learn's removed ``stable_cumsum`` computed it.

    scikit-learn <= 1.9: ``np.cumsum(arr, axis=axis, dtype=np.float64)`` plus a warning when
    the last element differs from ``np.sum`` (never raised for the sums sklift takes).
    """
    return np.cumsum(arr, axis=axis, dtype=np.float64)


def _install_stable_cumsum_shim() -> None:
    """Make ``from sklearn.utils.extmath import stable_cumsum`` work on scikit-learn >= 1.10."""
    import sklearn.utils.extmath as extmath

    if not hasattr(extmath, "stable_cumsum"):
        extmath.stable_cumsum = stable_cumsum  # type: ignore[attr-defined]


def metrics() -> types.ModuleType:
    """``sklift.metrics``, importable on scikit-learn versions that dropped ``stable_cumsum``."""
    _install_stable_cumsum_shim()
    import sklift.metrics as m
    import sklift.metrics.metrics as impl

    # sklift bound sklearn's (deprecated, warning) function at import: point it at ours,
    # which computes the same float64 cumulative sums. Only sklift's namespace changes.
    impl.stable_cumsum = stable_cumsum
    return m


def models() -> types.ModuleType:
    """``sklift.models`` (SoloModel, TwoModels, ClassTransformation)."""
    _install_stable_cumsum_shim()  # sklift/__init__ may pull metrics in future versions
    import sklift.models as m

    return m


def solo_model(estimator: Any, method: str = "dummy") -> Any:
    """A sklift ``SoloModel`` (S-learner): one model of y on (x, t); uplift = f(x, 1) - f(x, 0)."""
    return models().SoloModel(estimator=estimator, method=method)


def two_models(estimator_trmnt: Any, estimator_ctrl: Any, method: str = "vanilla") -> Any:
    """A sklift ``TwoModels`` (T-learner): uplift = f1(x) - f0(x)."""
    return models().TwoModels(estimator_trmnt=estimator_trmnt, estimator_ctrl=estimator_ctrl, method=method)


def class_transformation(estimator: Any) -> Any:
    """A sklift ``ClassTransformation``: z = y t + (1 - y)(1 - t); uplift = 2 P(z = 1 | x) - 1."""
    return models().ClassTransformation(estimator=estimator)
