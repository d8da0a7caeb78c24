"""The data targeting learns from: the spec's settings checked against the files, the customers
eligible for the next wave, the test's customers with their features, and the stratified split
into a training, a model-selection and a held-out part.

Nothing here fits a model; :mod:`uplift.targeting.analyse` runs these steps in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from uplift.errors import DataError, SpecError
from uplift.experiment.exclusions import apply_exclusions, check_population
from uplift.metrics.kinds import metric_for
from uplift.spec.settings import EconomicsSettings, TargetingSettings
from uplift.targeting.models import MODEL_NAMES

__all__ = [
    "TargetingSetup",
    "read_setup",
    "eligible_customers",
    "not_converted_in_test",
    "TrainingSample",
    "training_sample",
    "SampleSplit",
    "split_sample",
    "stratified_split",
    "HeldOutCustomers",
    "eligible_holdout",
]


@dataclass(frozen=True)
class TargetingSetup:
    """The settings of one targeting analysis: the spec's ``[targeting]``, ``[economics]`` and
    ``[analysis]`` values, with their defaults, after checking them against the outcomes."""

    label: str
    unit: str
    arm_column: str
    control: str
    features: tuple[str, ...]
    outcome: str
    binary: bool
    conversion_column: str  # [economics] conversion_column ("" if unset)
    candidates: tuple[str, ...]
    n_boot: int
    seed: int
    holdout_share: float
    max_customers: int
    max_unmatched_share: float
    contact_cost: float
    incentive_cost: float
    confidence: float
    currency: str


def read_setup(spec: Any, population: pd.DataFrame, outcomes: pd.DataFrame, arm_column: str | None = None,
               control: str | None = None, n_boot: int | None = None,
               models: Sequence[str] | None = None) -> TargetingSetup:
    """The settings of :func:`uplift.targeting.analyse.targeting_analysis`, checked against the data.

    Raises a one-line :class:`SpecError`/:class:`DataError` for a missing ``[targeting]`` section,
    features or outcome, a column not found, duplicate units, or an outcome used as a proportion that
    is not 0/1. The outcome is binary when every value is 0 or 1; ``model = "auto"`` compares every
    model (``class_transformation`` only for a binary outcome).
    """
    label = spec.label
    s = spec.targeting
    if s is None:
        raise SpecError(f"{label}: has no [targeting] section; add one with features and outcome")
    econ = spec.economics
    unit = spec.unit
    arm_column = arm_column or spec.arm_column
    control = control or spec.control_arm
    features = list(s.features)
    if not features:
        raise SpecError(f"{label}: [targeting] features is empty; list the population columns to model on, e.g. features = [\"segment\", \"balance\"]")
    outcome = _outcome_column(spec, s, econ)
    _check_columns(spec, population, outcomes, arm_column, features, outcome)
    conversion_col = econ.conversion_column if econ is not None else ""
    binary = _is_binary_outcome(spec, outcomes, outcome, conversion_col)
    return TargetingSetup(
        label=label, unit=unit, arm_column=arm_column, control=control, features=tuple(features), outcome=outcome,
        binary=binary, conversion_column=conversion_col,
        candidates=tuple(_candidate_models(label, s, binary, outcome, models)),
        n_boot=int(n_boot if n_boot is not None else s.n_bootstrap),
        seed=s.seed,
        holdout_share=s.holdout_share,
        max_customers=s.max_customers,
        max_unmatched_share=spec.analysis.max_unmatched_share,
        contact_cost=econ.contact_cost if econ is not None else 0.0,
        incentive_cost=econ.incentive_cost if econ is not None else 0.0,
        confidence=spec.analysis.confidence,
        currency=spec.experiment.currency,
    )


def _outcome_column(spec: Any, s: TargetingSettings, econ: EconomicsSettings | None) -> str:
    """``[targeting] outcome``, else ``[economics] conversion_column``, else the primary metric's column."""
    outcome = s.outcome or (econ.conversion_column if econ is not None else "")
    if not outcome:
        prim = [m for m in spec.metrics if m.primary] or list(spec.metrics)
        outcome = prim[0].column if prim else ""
    if not outcome:
        raise SpecError(f"{spec.label}: [targeting] outcome is not set; name the outcome column, e.g. outcome = \"converted\"")
    return outcome


def _check_columns(spec: Any, population: pd.DataFrame, outcomes: pd.DataFrame, arm_column: str,
                   features: list[str], outcome: str) -> None:
    """Arm, unit and outcome columns in the outcomes, one row per unit, every feature somewhere."""
    unit, label = spec.unit, spec.label
    if arm_column not in outcomes.columns:
        raise DataError(f"outcomes: has no arm column '{arm_column}'; give the assignment ledger (--ledger) "
                        "or name the column in [analysis] arm_column")
    for col, what in ((unit, "unit"), (outcome, "[targeting] outcome")):
        if col not in outcomes.columns:
            raise DataError(f"outcomes: has no {what} column '{col}'; add it or fix {label}")
    check_population(population, unit, "population")
    dup = int(outcomes[unit].duplicated().sum())
    if dup:
        raise DataError(f"outcomes: unit column '{unit}' has {dup:,} duplicate ids; keep one row per customer")
    missing = [c for c in features if c not in population.columns and c not in outcomes.columns]
    if missing:
        raise DataError(f"population: has no column '{missing[0]}' listed in [targeting] features; add it or remove it from {label}")


def _is_binary_outcome(spec: Any, outcomes: pd.DataFrame, outcome: str, conversion_col: str) -> bool:
    """True when the outcome holds only 0 and 1; refuses missing values, and a non-0/1 outcome that the
    spec uses as a proportion metric or as the conversion column."""
    yraw = pd.to_numeric(outcomes[outcome], errors="coerce")
    if yraw.isna().any():
        raise DataError(f"outcomes: column '{outcome}' ([targeting] outcome) has {int(yraw.isna().sum()):,} missing or non-numeric values; fill them first")
    binary = bool(yraw.isin([0, 1]).all())
    as_proportion = any(m.column == outcome and metric_for(m).binary for m in (*spec.metrics, *spec.guardrails))
    if not binary and (as_proportion or outcome == conversion_col):
        bad = yraw[~yraw.isin([0, 1])].iloc[0]
        raise DataError(f"outcomes: column '{outcome}' is used as a binary (proportion) outcome but holds {bad:g}; "
                        "give a 0/1 conversion column or declare the metric kind = \"mean\"")
    return binary


def _candidate_models(label: str, s: TargetingSettings, binary: bool, outcome: str,
                      models: Sequence[str] | None) -> list[str]:
    """The models to compare: ``models`` if given, else ``[targeting] model`` ("auto": all that fit the outcome)."""
    requested = s.model or "auto"
    if models is not None:
        candidates = list(models)
    elif requested == "auto":
        candidates = [m for m in MODEL_NAMES if binary or m != "class_transformation"]
    else:
        if requested not in MODEL_NAMES:
            raise SpecError(f"{label}: [targeting] model = {requested!r} is unknown; use \"auto\" or one of {', '.join(MODEL_NAMES)}")
        candidates = [requested]
    if not binary and "class_transformation" in candidates:
        raise SpecError(f"{label}: [targeting] model class_transformation needs a binary outcome; '{outcome}' is continuous")
    return candidates


def eligible_customers(spec: Any, setup: TargetingSetup, population: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """The population after the spec's exclusion rules, and the count excluded by each rule (in order).

    Every feature must be a column of the population: the next-wave list scores every eligible
    customer (a one-line :class:`DataError` otherwise).
    """
    missing = [c for c in setup.features if c not in population.columns]
    if missing:
        raise DataError(f"population: has no column '{missing[0]}' listed in [targeting] features; the next-wave list needs it for every customer")
    if not spec.exclusions:
        return population, {}
    el = apply_exclusions(spec, population)
    excluded = {str(r["step"]): int(r["excluded"]) for r in el.waterfall[1:]}
    return el.eligible, excluded


def not_converted_in_test(setup: TargetingSetup, sample: TrainingSample, eligible: pd.DataFrame,
                          excluded: dict[str, int]) -> tuple[pd.DataFrame, dict[str, int]]:
    """The eligible customers who did not convert during the test (binary outcome): they already hold the
    product, whatever a pre-campaign population file says, so they are never listed again (counted as
    ``converted_in_test``)."""
    if not setup.binary:
        return eligible, excluded
    bought = np.isin(eligible[setup.unit].to_numpy(), sample.frame.loc[sample.y == 1, setup.unit].to_numpy())
    return eligible.loc[~bought], {**excluded, "converted_in_test": int(bought.sum())}


@dataclass(frozen=True)
class TrainingSample:
    """The test's customers of the modelled arm and of control who are in the population.

    ``arm_rows``: the outcome rows of the arm and control, ``matched`` those in the population;
    ``frame``: the matched rows with the population's features joined; ``X`` the feature columns,
    ``y`` the outcome, ``t`` 1 for the arm and 0 for control, ``converted`` the conversion flag (the
    outcome itself when binary; zeros without a conversion column)."""

    arm: str
    arm_rows: pd.DataFrame
    matched: np.ndarray
    frame: pd.DataFrame
    X: pd.DataFrame
    y: np.ndarray
    t: np.ndarray
    converted: np.ndarray
    notes: tuple[str, ...] = ()

    def outcome_rows(self) -> pd.DataFrame:
        """The outcome rows of the sample's customers, in the order of ``frame``."""
        return self.arm_rows.loc[self.matched].reset_index(drop=True)


def training_sample(setup: TargetingSetup, population: pd.DataFrame, outcomes: pd.DataFrame,
                    arm: str | None = None) -> TrainingSample:
    """Customers of ``arm`` (default: the largest treated arm) and control, with the features joined from
    the population on the unit (outcomes' own columns where the population lacks them).

    Customers of the test missing from the population are left out (noted) unless they exceed
    ``[analysis] max_unmatched_share``, which is a one-line :class:`DataError`.
    """
    notes: list[str] = []
    arm_column, control, unit = setup.arm_column, setup.control, setup.unit
    arms_present = outcomes[arm_column].astype(str)
    counts = arms_present.value_counts()
    if control not in counts.index:
        raise DataError(f"outcomes: no customers in the control arm '{control}' of column '{arm_column}'; targeting needs a control group")
    treated_arms = [a for a in counts.index if a != control]
    if not treated_arms:
        raise DataError(f"outcomes: only one arm ('{control}') in column '{arm_column}'; targeting needs treated and control customers")
    if arm is None:
        arm = str(counts[treated_arms].idxmax())
        if len(treated_arms) > 1:
            notes.append(f"several treated arms; targeting models the largest, '{arm}', against '{control}'")
    elif arm not in treated_arms:
        raise DataError(f"outcomes: no customers in arm '{arm}'; use one of {', '.join(treated_arms)}")
    keep = arms_present.isin([arm, control]).to_numpy()
    out = outcomes.loc[keep].reset_index(drop=True)
    t_all = (out[arm_column].astype(str) == arm).to_numpy().astype(int)

    pop_feats = [c for c in setup.features if c in population.columns]
    frame = out.drop(columns=[c for c in pop_feats if c in out.columns and c != unit]).merge(
        population[[unit, *pop_feats]], on=unit, how="left", indicator=True)
    unmatched = int((frame["_merge"] != "both").sum()) if pop_feats else 0
    if unmatched:
        if unmatched / len(frame) > setup.max_unmatched_share:
            raise DataError(f"outcomes: {unmatched:,} of {len(frame):,} customers are not in the population file; "
                            f"check the unit column '{unit}' or raise [analysis] max_unmatched_share")
        notes.append(f"{unmatched:,} customers of the test are not in the population and were left out of the model")
    matched = (frame["_merge"] == "both").to_numpy() if pop_feats else np.ones(len(frame), bool)
    frame = frame.loc[matched].reset_index(drop=True)
    y_all = pd.to_numeric(frame[setup.outcome]).to_numpy(dtype=np.float64)
    conv_col = setup.outcome if setup.binary else (setup.conversion_column if setup.conversion_column in frame.columns else "")
    conv_all = frame[conv_col].to_numpy(dtype=np.float64) if conv_col else np.zeros(len(frame))
    if not setup.binary and setup.incentive_cost > 0 and not conv_col:
        raise SpecError(f"{setup.label}: [economics] incentive_cost needs a conversion column for a revenue outcome; set [economics] conversion_column")
    return TrainingSample(arm=arm, arm_rows=out, matched=matched, frame=frame,
                          X=frame[list(setup.features)], y=y_all,
                          t=t_all[matched], converted=conv_all, notes=tuple(notes))


@dataclass(frozen=True)
class SampleSplit:
    """Row indices into the training sample: ``fit`` (models are fitted), ``select`` (the model is
    chosen), ``holdout`` (every reported number); ``training`` = fit and select together."""

    fit: np.ndarray
    select: np.ndarray
    holdout: np.ndarray
    training: np.ndarray
    notes: tuple[str, ...] = ()


def split_sample(setup: TargetingSetup, sample: TrainingSample) -> SampleSplit:
    """Held-out part (``[targeting] holdout_share``), then a quarter of the rest for model selection, each
    split stratified by arm and (binary outcome) conversion.

    Fitting and bootstrapping scale with rows: above ``[targeting] max_customers``, models are fitted
    and evaluated on a seeded random sample (the next-wave list still scores everyone). Refuses (one
    line) a part without treated or control customers.
    """
    notes: list[str] = []
    seed, t_all, n = setup.seed, sample.t, len(sample.frame)
    strata = t_all * 2 + (sample.y if setup.binary else np.zeros(len(sample.y))).astype(int)
    cap = setup.max_customers
    pool = np.arange(n)
    if n > cap:
        pool = np.sort(np.random.default_rng(seed + 7).choice(n, size=cap, replace=False))
        notes.append(f"models fitted and evaluated on a random sample of {cap:,} of {n:,} customers "
                     "([targeting] max_customers); every eligible customer is scored")
    rest, hold = stratified_split(len(pool), strata[pool], setup.holdout_share, seed)
    sub_fit, sub_sel = stratified_split(int(rest.sum()), strata[pool][rest], 0.25, seed + 1)
    idx_rest = pool[rest]
    fit_idx, sel_idx, hold_idx = idx_rest[sub_fit], idx_rest[sub_sel], pool[hold]
    for part, idx in (("training", fit_idx), ("model-selection", sel_idx), ("held-out", hold_idx)):
        for g, name in ((1, "treated"), (0, "control")):
            if not (t_all[idx] == g).any():
                raise DataError(f"{setup.label}: no {name} customers in the {part} part of the split; "
                                "use more customers or change [targeting] holdout_share")
    return SampleSplit(fit=fit_idx, select=sel_idx, holdout=hold_idx, training=idx_rest, notes=tuple(notes))


def stratified_split(n: int, strata: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified random split of ``n`` rows: (mask of the rest, mask of the ``share`` part), the
    ``share`` part drawn without replacement, round(share x size) rows in each stratum."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(n, dtype=bool)
    for s in np.unique(strata):
        idx = np.flatnonzero(strata == s)
        k = int(round(share * len(idx)))
        mask[rng.choice(idx, size=k, replace=False)] = True
    return ~mask, mask


@dataclass(frozen=True)
class HeldOutCustomers:
    """The held-out customers the calibration and the profit curve use, with their features, outcome,
    arm (1/0), conversion flag and positions in the held-out part (``split.holdout``); ``notes`` says
    when they are all held-out customers."""

    X: pd.DataFrame
    y: np.ndarray
    t: np.ndarray
    converted: np.ndarray
    notes: tuple[str, ...] = ()
    positions: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


def eligible_holdout(setup: TargetingSetup, sample: TrainingSample, split: SampleSplit,
                     eligible_units: np.ndarray) -> HeldOutCustomers:
    """The held-out customers who are eligible now (units in ``eligible_units``: the spec's exclusion
    rules), so that the profit curve and the calibration describe the customers of the next wave; all
    held-out customers when fewer than 100 per arm are eligible (noted)."""
    hold = split.holdout
    el_mask = np.isin(sample.frame[setup.unit].to_numpy()[hold], eligible_units)
    th = sample.t[hold]
    notes = []
    if min(int((el_mask & (th == 1)).sum()), int((el_mask & (th == 0)).sum())) < 100:
        el_mask = np.ones(len(hold), dtype=bool)
        notes.append("fewer than 100 eligible held-out customers per arm: profit curve from all held-out customers")
    idx = hold[el_mask]
    return HeldOutCustomers(X=sample.X.iloc[idx].reset_index(drop=True), y=sample.y[idx], t=sample.t[idx],
                            converted=sample.converted[idx], notes=tuple(notes), positions=np.flatnonzero(el_mask))

