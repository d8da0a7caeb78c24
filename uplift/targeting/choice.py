"""Model choice: every candidate fitted on the fit part, the one with the highest Qini coefficient on the
selection part chosen (a non-finite Qini never wins), every candidate then evaluated on the held-out part,
which played no role in fitting or choosing (stratified bootstrap intervals at ``[analysis] confidence``),
beside the Qini interval of a random score.

The steps are apart so that the work independent of them can run beside them
(:func:`uplift.targeting.analyse.targeting_analysis`): :func:`fit_candidates` fits (side by side, the
costliest first: :func:`uplift.targeting.threads.map_threads`, :func:`uplift.targeting.models.fit_work`),
:func:`evaluate_candidates` and :func:`random_baseline` are the held-out bootstraps, and
:func:`model_choice` puts the three together.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from uplift.targeting.evaluation import (
    Interval,
    UpliftEvaluation,
    evaluate_uplifts,
    qini_coefficient,
    random_qini_interval,
)
from uplift.targeting.models import fit_work, make_model
from uplift.targeting.result import ModelComparison
from uplift.targeting.sample import SampleSplit, TargetingSetup, TrainingSample
from uplift.targeting.threads import map_threads

__all__ = ["ModelChoice", "CandidateFits", "fit_candidates", "evaluate_candidates", "random_baseline", "model_choice"]


@dataclass(frozen=True)
class ModelChoice:
    """The chosen model (``name``, fitted ``model``), every candidate's comparison, the chosen
    model's held-out evaluation with the random-score Qini interval, and its uplift score of the
    held-out part (``holdout_score``, in the order of ``split.holdout``) and of the selection part
    (``select_score``, in the order of ``split.select``)."""

    name: str
    model: Any
    comparisons: tuple[ModelComparison, ...]
    evaluation: UpliftEvaluation
    holdout_score: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    select_score: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)


@dataclass(frozen=True)
class CandidateFits:
    """Every candidate (in ``setup.candidates`` order) fitted on the fit part: the models, their uplift
    scores of the selection and held-out parts, the Qini coefficient on the selection part, and the chosen
    name (the highest finite selection Qini; the first candidate when none is finite)."""

    models: dict[str, Any]
    select_scores: dict[str, np.ndarray]
    holdout_scores: dict[str, np.ndarray]
    select_qini: dict[str, float]
    chosen: str


def fit_candidates(setup: TargetingSetup, sample: TrainingSample, split: SampleSplit) -> CandidateFits:
    """Every candidate fitted on the fit part and scored on the selection and held-out parts, side by
    side (:func:`~uplift.targeting.threads.map_threads`), the costliest fits started first: the same
    models as one after the other, found sooner."""
    X, y, t = sample.X, sample.y, sample.t
    Xf, Xs, Xh = (X.iloc[i].reset_index(drop=True) for i in (split.fit, split.select, split.holdout))

    def fit(name: str) -> tuple[Any, np.ndarray, np.ndarray]:
        m = make_model(name, random_state=setup.seed).fit(Xf, y[split.fit], t[split.fit])
        return m, m.predict(Xs), m.predict(Xh)

    # costliest first (a stable sort: ties keep the spec's order), so that no long fit starts last and runs alone
    order = sorted(setup.candidates, key=lambda name: -fit_work(name))
    done = dict(zip(order, map_threads(fit, order)))
    names = list(setup.candidates)
    sel_q = {n: float(qini_coefficient(y[split.select], done[n][1], t[split.select])) for n in names}
    chosen = max(names, key=lambda k: -np.inf if not np.isfinite(sel_q[k]) else sel_q[k])
    return CandidateFits({n: done[n][0] for n in names}, {n: done[n][1] for n in names},
                         {n: done[n][2] for n in names}, sel_q, chosen)


def evaluate_candidates(setup: TargetingSetup, sample: TrainingSample, split: SampleSplit,
                        fits: CandidateFits) -> dict[str, UpliftEvaluation]:
    """Every candidate's held-out evaluation (:func:`~uplift.targeting.evaluation.evaluate_uplifts`): the
    same resamples for all, drawn once from ``setup.seed``."""
    yh, th = sample.y[split.holdout], sample.t[split.holdout]
    return evaluate_uplifts(yh, fits.holdout_scores, th, n_boot=setup.n_boot, seed=setup.seed,
                            confidence=setup.confidence)


def random_baseline(setup: TargetingSetup, sample: TrainingSample, split: SampleSplit) -> Interval:
    """The Qini interval of a random score on the held-out part
    (:func:`~uplift.targeting.evaluation.random_qini_interval`, seed ``setup.seed + 1``)."""
    yh, th = sample.y[split.holdout], sample.t[split.holdout]
    return random_qini_interval(yh, th, n_boot=setup.n_boot, seed=setup.seed + 1, confidence=setup.confidence)


def model_choice(setup: TargetingSetup, fits: CandidateFits, evaluations: dict[str, UpliftEvaluation],
                 random_qini: Interval) -> ModelChoice:
    """The :class:`ModelChoice` of fitted, evaluated candidates."""
    comparisons = tuple(ModelComparison(n, fits.select_qini[n], evaluations[n].qini, evaluations[n].auuc)
                        for n in setup.candidates)
    c = fits.chosen
    return ModelChoice(c, fits.models[c], comparisons, replace(evaluations[c], random_qini=random_qini),
                       fits.holdout_scores[c], fits.select_scores[c])

