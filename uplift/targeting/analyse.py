"""Whom to target next: uplift models compared on held-out data, the profit curve by
targeting depth, the profit-maximising depth and the next-wave list of eligible customers.

Expected incremental profit of contacting customer *i* (Devriendt, Berrevoets & Verbeke
2021, "Why you should stop predicting customer churn and start using uplift models",
Information Sciences 548:497; sklift's ``max_prof_uplift`` uses the same accounting)::

    profit_i = tau_i * V_i  -  c_contact  -  c_incentive * p1_i

* ``tau_i``: predicted uplift of the ``[targeting] outcome`` (a conversion probability
  for a binary outcome; money for a continuous one, where ``V_i = 1``), calibrated on the
  held-out part by its best linear predictor (:func:`calibrate_uplift`);
* ``V_i``: incremental value of one conversion for customer *i*. If ``[targeting]
  value_per_conversion`` is set, that number for everyone. Otherwise from the test's net
  value per customer (``[targeting] value_column`` if set, else ``[economics]`` margin -
  cannibalised margin - cost to serve): ``V_i = f1(x_i) - f0(x_i)``, gradient-boosting
  regressions of net value on the features among converters and among non-converters of
  the training part. Its average is reported as the coefficient of the conversion
  indicator in an OLS regression of net value on conversion and the features (HC1
  interval): controlling for the features removes the part of "converters have higher
  margins" that is due to who they are rather than to the new product;
* ``c_contact``, ``c_incentive``: ``[economics] contact_cost`` (every contacted
  customer) and ``incentive_cost`` (every customer who converts when offered);
* ``p1_i``: predicted probability of converting when offered (a gradient-boosting
  classifier on the treated training units).

Held-out profit by depth: the held-out customers who are eligible now (the spec's
exclusion rules, so they resemble the next wave) are ranked by ``profit_i``; at
depth ``d`` (share of customers contacted) the incremental profit per eligible customer
is estimated from the top ``d`` share as ``d * [(vbar_t - vbar_c) - c_contact -
c_incentive * convbar_t]`` with ``v = y V_i``, and scaled to the eligible population. The
interval is a stratified bootstrap of the held-out units, rescaling the values by a draw
of the average value's sampling distribution in each resample. The best depth contacts
every eligible customer whose expected profit is positive (the maximum of the model's
expected-profit curve); the held-out estimate at that depth, with its interval, is the
reported expected incremental profit.

The next-wave list holds every customer of the population who passes the spec's
exclusion rules and did not convert during the test (they already hold the product,
even if the population file predates the campaign; counted as ``converted_in_test``).

Model choice (``[targeting] model = "auto"``): every candidate is fitted on one part of
the training data and the one with the highest Qini coefficient on the other part is
chosen; all candidates are then scored on the held-out part, which played no role in
fitting or choosing, so the held-out numbers are honest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from uplift.errors import DataError, SpecError
from uplift.targeting.evaluation import Interval, UpliftEvaluation, _clean, _group_weights, evaluate_uplift, qini_coefficient

__all__ = ["ModelComparison", "TargetingResult", "targeting_analysis", "estimate_value_per_conversion", "profit_by_depth"]

_DEPTHS = np.round(np.linspace(0.0, 1.0, 101), 2)


@dataclass(frozen=True)
class ModelComparison:
    """One candidate model: Qini on the selection part and held-out Qini/AUUC with intervals."""

    model: str
    selection_qini: float
    qini: Interval
    auuc: Interval

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "selection_qini": _clean(self.selection_qini),
                "qini": _clean(self.qini.estimate), "qini_ci": [_clean(self.qini.low), _clean(self.qini.high)],
                "auuc": _clean(self.auuc.estimate), "auuc_ci": [_clean(self.auuc.low), _clean(self.auuc.high)]}


@dataclass(frozen=True)
class TargetingResult:
    """Result of :func:`targeting_analysis`. ``to_dict()`` is results.json's ``targeting`` block.

    ``next_wave`` holds the customer-level list (unit, score, decile,
    expected_incremental_profit, selected) and is never part of ``to_dict()``.
    """

    model: str
    arm: str
    control: str
    outcome: str
    outcome_kind: str
    features: tuple[str, ...]
    n_fit: int
    n_select: int
    n_holdout: int
    models: tuple[ModelComparison, ...]
    random_qini: Interval
    evaluation: UpliftEvaluation
    value_per_conversion: Interval
    value_source: str
    contact_cost: float
    incentive_cost: float
    currency: str
    depths: np.ndarray = field(repr=False)
    profit: np.ndarray = field(repr=False)
    profit_low: np.ndarray = field(repr=False)
    profit_high: np.ndarray = field(repr=False)
    best_depth: float
    best_profit: Interval
    n_population: int
    n_eligible: int
    excluded: dict[str, int]
    n_targeted: int
    predicted_profit_selected: float
    next_wave: pd.DataFrame = field(repr=False)
    notes: tuple[str, ...] = ()
    calibration: dict[str, float] = field(default_factory=dict)
    value_model: str = ""
    n_holdout_eligible: int = 0
    expected_curve: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]

    @property
    def qini(self) -> Interval:
        """Held-out Qini coefficient of the chosen model."""
        return self.evaluation.qini

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready aggregates (no customer ids); NaN becomes None."""
        idx = np.arange(0, len(self.depths), 5)
        return {
            "model": self.model,
            "arm": self.arm,
            "control": self.control,
            "outcome": self.outcome,
            "outcome_kind": self.outcome_kind,
            "features": list(self.features),
            "n_fit": self.n_fit, "n_select": self.n_select, "n_holdout": self.n_holdout,
            "n_holdout_eligible": self.n_holdout_eligible,
            "selection": "highest Qini on a selection part of the training data; all numbers below on the held-out part",
            "models": [m.to_dict() for m in self.models],
            "qini": _clean(self.qini.estimate),
            "qini_ci": [_clean(self.qini.low), _clean(self.qini.high)],
            "random_score_qini": self.random_qini.to_dict(),
            "beats_random": bool(self.qini.estimate > self.random_qini.high),
            "auuc": self.evaluation.auuc.to_dict(),
            "uplift_at_k": self.evaluation.to_dict()["uplift_at_k"],
            "deciles": self.evaluation.to_dict()["deciles"],
            "best_depth": float(self.best_depth),
            "n_targeted": self.n_targeted,
            "expected_incremental_profit": _clean(self.best_profit.estimate),
            "expected_incremental_profit_ci": [_clean(self.best_profit.low), _clean(self.best_profit.high)],
            "expected_incremental_profit_method": self.best_profit.method,
            "predicted_incremental_profit_of_list": _clean(self.predicted_profit_selected),
            "profit_curve": {
                "depth": [float(d) for d in self.depths[idx]],
                "profit": [_clean(v) for v in self.profit[idx]],
                "ci_low": [_clean(v) for v in self.profit_low[idx]],
                "ci_high": [_clean(v) for v in self.profit_high[idx]],
                "model_expected": [_clean(v) for v in self.expected_curve[idx]] if self.expected_curve is not None else None,
            },
            "calibration": {k: _clean(v) for k, v in self.calibration.items()},
            "depth_rule": "contact eligible customers whose calibrated expected incremental profit is positive "
                          "(the depth that maximises the model-expected profit curve)",
            "eligible": {"population": self.n_population, "eligible": self.n_eligible, "excluded": dict(self.excluded)},
            "assumptions": {
                "profit_formula": "profit_i = calibrated uplift_i * value of a conversion_i - contact_cost - incentive_cost * P(convert | offered)_i",
                "value_per_conversion": _clean(self.value_per_conversion.estimate),
                "value_per_conversion_ci": [_clean(self.value_per_conversion.low), _clean(self.value_per_conversion.high)],
                "value_source": self.value_source,
                "value_model": self.value_model,
                "contact_cost": self.contact_cost,
                "incentive_cost": self.incentive_cost,
                "currency": self.currency,
                "scaling": "profit per eligible held-out customer times the number of eligible customers",
            },
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        """Text summary: model table, chosen model, best depth and profit."""
        cur = self.currency
        lines = [f"Targeting: arm {self.arm!r} vs {self.control!r}, outcome {self.outcome!r} ({self.outcome_kind})",
                 f"fit/select/held-out units: {self.n_fit:,} / {self.n_select:,} / {self.n_holdout:,}",
                 f"{'model':<22}{'select Qini':>12}{'held-out Qini':>15}  95% CI"]
        for m in self.models:
            mark = " *" if m.model == self.model else ""
            lines.append(f"{m.model + mark:<22}{m.selection_qini:>12.4f}{m.qini.estimate:>15.4f}  [{m.qini.low:.4f}, {m.qini.high:.4f}]")
        lines += [
            f"random score Qini 95% interval: [{self.random_qini.low:.4f}, {self.random_qini.high:.4f}]",
            f"value per conversion: {self.value_per_conversion.estimate:,.2f} {cur} [{self.value_per_conversion.low:,.2f}, {self.value_per_conversion.high:,.2f}] ({self.value_source})",
            f"contact cost {self.contact_cost:g}, incentive cost {self.incentive_cost:g} {cur}",
            f"calibration slope (BLP): {self.calibration.get('slope', float('nan')):.2f} "
            f"[{self.calibration.get('slope_ci_low', float('nan')):.2f}, {self.calibration.get('slope_ci_high', float('nan')):.2f}]",
            f"eligible customers: {self.n_eligible:,} of {self.n_population:,}"
            + (" (excluded: " + ", ".join(f"{k} {v:,}" for k, v in self.excluded.items()) + ")" if self.excluded else ""),
            f"best depth: {self.best_depth:.0%} ({self.n_targeted:,} customers), expected incremental profit "
            f"{self.best_profit.estimate:,.0f} {cur} [{self.best_profit.low:,.0f}, {self.best_profit.high:,.0f}]",
        ]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def plot_qini(self, ax: Any) -> Any:
        """Held-out Qini curve of the chosen model, with the random line."""
        self.evaluation.plot_qini(ax, label=self.model)
        ax.set_title("Qini curve (held-out customers)")
        return ax

    def plot_profit_by_depth(self, ax: Any) -> Any:
        """Total incremental profit by targeting depth with its bootstrap band and the best depth."""
        d = self.depths * 100
        ax.fill_between(d, self.profit_low, self.profit_high, alpha=0.25, label="95% interval")
        ax.plot(d, self.profit, label="held-out estimate")
        if self.expected_curve is not None:
            ax.plot(d, self.expected_curve, ls="-.", label="model expectation (calibrated)")
        ax.axhline(0, color="black", lw=0.8)
        ax.axvline(self.best_depth * 100, ls="--", color="grey", label=f"best depth {self.best_depth:.0%}")
        ax.set_xlabel("eligible customers contacted (%)")
        ax.set_ylabel(f"incremental profit ({self.currency})")
        ax.set_title("Profit by targeting depth")
        ax.legend()
        return ax


# --------------------------------------------------------------------------- pieces


def clv_value_per_conversion(spec: Any, outcomes: pd.DataFrame, arm_column: str, control: str, arm: str,
                             converted: np.ndarray, treated: np.ndarray) -> Interval:
    """Value of one conversion from the test's incremental CLV: V = dCLV / dp.

    dCLV is the incremental CLV per treated customer of ``arm`` (:func:`uplift.clv.analyse.clv_analysis`)
    and dp the incremental conversion rate; the interval is the delta method for a ratio of two
    independent estimates, se(V) = |V| sqrt((se_dCLV / dCLV)^2 + (se_dp / dp)^2).
    Refused (one line) when dp is not clearly positive: the ratio would be meaningless.
    """
    from scipy.stats import norm

    from uplift.clv.analyse import clv_analysis

    if not spec.has("clv"):
        raise SpecError(f"{spec.label}: [targeting] value = \"clv\" needs a [clv] section; add it or use value = \"margin\"")
    confidence = float(spec.section("analysis").get("confidence", 0.95) or 0.95)
    z = float(norm.ppf(0.5 + confidence / 2))
    inc = clv_analysis(spec, outcomes, arm_column, control).to_dict()["incremental"][arm]
    c1, c0 = converted[treated == 1], converted[treated == 0]
    dp = float(c1.mean() - c0.mean())
    se_dp = float(np.sqrt(c1.var() / len(c1) + c0.var() / len(c0)))
    if not dp - z * se_dp > 0:
        raise DataError(f"outcomes: the incremental conversion rate ({dp:+.4f}, se {se_dp:.4f}) is not clearly above 0, so "
                        "incremental CLV cannot be priced per conversion; set [targeting] value = \"margin\" or value_per_conversion")
    v = float(inc["clv"]) / dp
    se_v = abs(v) * float(np.sqrt((inc["se"] / inc["clv"]) ** 2 + (se_dp / dp) ** 2)) if inc["clv"] else float("inf")
    return Interval(v, v - z * se_v, v + z * se_v, confidence,
                    "incremental CLV / incremental conversion rate, delta method (independent estimates)")


def estimate_value_per_conversion(value: Any, converted: Any, features: np.ndarray | None = None,
                                  confidence: float = 0.95) -> Interval:
    """OLS coefficient of ``converted`` in ``value ~ 1 + converted + features`` with an HC1 interval.

    By Frisch-Waugh-Lovell this is the value difference between converters and
    non-converters after removing what the features explain (statsmodels OLS, HC1).
    """
    import statsmodels.api as sm
    from scipy.stats import norm

    v = np.asarray(value, dtype=np.float64)
    c = np.asarray(converted, dtype=np.float64)
    cols = [np.ones(len(v)), c]
    if features is not None and features.shape[1]:
        f = np.asarray(features, dtype=np.float64)
        f = (f - f.mean(axis=0)) / np.where(f.std(axis=0) > 0, f.std(axis=0), 1.0)
        cols.append(f)
    X = np.column_stack(cols)
    # keep a linearly independent set of columns (one-hot blocks are collinear with the
    # constant): pivoted QR, constant and conversion first so they are always kept
    X = X[:, _independent_columns(X)]
    res = sm.OLS(v, X).fit(cov_type="HC1")
    est, se = float(res.params[1]), float(res.bse[1])
    z = float(norm.ppf(0.5 + confidence / 2))
    return Interval(est, est - z * se, est + z * se, confidence, "OLS coefficient of conversion given the features, HC1 standard error")


def calibrate_uplift(y: np.ndarray, t: np.ndarray, tau_hat: np.ndarray, confidence: float = 0.95) -> dict[str, float]:
    """Best linear predictor of the uplift given a score (Chernozhukov, Demirer, Duflo &
    Fernandez-Val 2018, "Generic machine learning inference on heterogeneous treatment
    effects", NBER w24678, eq. for BLP with a constant propensity ``e``).

    OLS of ``y`` on ``1, (t - e), (t - e)(tau_hat - mean tau_hat)`` (HC1):
    the coefficient of ``t - e`` is the average effect, the slope ``b`` of the interaction
    measures how well the score tracks the true uplift (``b = 1``: calibrated; ``b = 0``:
    no detected heterogeneity). Calibrated uplift: ``ate + b (tau_hat - mean)``.
    """
    import statsmodels.api as sm
    from scipy.stats import norm

    y = np.asarray(y, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    s = np.asarray(tau_hat, dtype=np.float64)
    e = float(t.mean())
    center = float(s.mean())
    X = np.column_stack([np.ones(len(y)), t - e, (t - e) * (s - center)])
    if np.ptp(s) == 0:
        X = X[:, :2]
    res = sm.OLS(y, X).fit(cov_type="HC1")
    z = float(norm.ppf(0.5 + confidence / 2))
    b = float(res.params[2]) if X.shape[1] == 3 else 0.0
    b_se = float(res.bse[2]) if X.shape[1] == 3 else float("nan")
    return {"ate": float(res.params[1]), "ate_se": float(res.bse[1]), "slope": b, "slope_se": b_se,
            "slope_ci_low": b - z * b_se, "slope_ci_high": b + z * b_se, "center": center}


def _independent_columns(X: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Indices of a maximal set of linearly independent columns, chosen left to right (Gram-Schmidt)."""
    keep: list[int] = []
    basis = np.zeros((X.shape[0], 0))
    for j in range(X.shape[1]):
        v = X[:, j] - basis @ (basis.T @ X[:, j]) if basis.shape[1] else X[:, j].astype(float)
        norm_v = float(np.linalg.norm(v))
        if norm_v > tol * max(1.0, float(np.linalg.norm(X[:, j]))):
            keep.append(j)
            basis = np.column_stack([basis, v / norm_v])
    return np.asarray(keep, dtype=int)


def profit_by_depth(y: np.ndarray, t: np.ndarray, converted: np.ndarray, score: np.ndarray, value: Interval,
                    contact_cost: float, incentive_cost: float, scale: float, n_boot: int = 200, seed: int = 0,
                    confidence: float = 0.95, depths: np.ndarray = _DEPTHS,
                    unit_value: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Estimated total incremental profit at each depth (share contacted, by descending ``score``).

    ``P(d) = scale * (m/n) * [(vbar_t - vbar_c) - c_contact - c_incentive convbar_t]`` over the
    top ``m = round(d n)`` held-out units, where ``v_i = y_i V_i`` is each unit's converted
    value (``V_i = unit_value`` if given, else the constant ``V``) and ``scale`` is the number
    of eligible customers. Returns (point, low, high, bootstrap draws) over ``depths``;
    intervals are stratified bootstrap percentiles, and each resample also rescales the
    values by ``V_b / V`` with ``V_b ~ Normal(V, se)`` (the value's own uncertainty).
    """
    from scipy.stats import norm

    n = len(y)
    order = np.argsort(-score, kind="stable")
    vals = y * (unit_value if unit_value is not None else value.estimate)
    ys, ts, cs = vals[order], t[order], converted[order]
    cut = np.round(depths * n).astype(int)
    z = float(norm.ppf(0.5 + value.confidence / 2))
    v_se = (value.high - value.low) / (2 * z) if np.isfinite(value.high) else 0.0
    rel_se = v_se / abs(value.estimate) if value.estimate else 0.0

    def curve(w: np.ndarray | None, factor: float) -> np.ndarray:
        ww = np.ones(n) if w is None else w[order]
        n_all = np.r_[0.0, np.cumsum(ww)]
        n_t = np.r_[0.0, np.cumsum(ww * ts)]
        n_c = n_all - n_t
        y_t = np.r_[0.0, np.cumsum(ww * ys * ts)]
        y_c = np.r_[0.0, np.cumsum(ww * ys * (1 - ts))]
        c_t = np.r_[0.0, np.cumsum(ww * cs * ts)]
        with np.errstate(invalid="ignore", divide="ignore"):
            up = y_t[cut] / n_t[cut] - y_c[cut] / n_c[cut]
            conv = c_t[cut] / n_t[cut]
            per = n_all[cut] / n_all[-1] * (up * factor - contact_cost - incentive_cost * conv)
        per[cut == 0] = 0.0
        return scale * per

    point = curve(None, 1.0)
    rng = np.random.default_rng(seed)
    draws = np.empty((n_boot, len(depths)))
    for b in range(n_boot):
        draws[b] = curve(_group_weights(rng, t), 1.0 + rel_se * rng.standard_normal())
    a = (1 - confidence) / 2
    with np.errstate(all="ignore"):
        low = np.nanquantile(draws, a, axis=0)
        high = np.nanquantile(draws, 1 - a, axis=0)
    return point, low, high, draws


def _settings(spec: Any) -> dict[str, Any]:
    s = spec.section("targeting")
    if not s:
        raise SpecError(f"{spec.label}: has no [targeting] section; add one with features and outcome")
    return s


def _eligibility(spec: Any, population: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    from uplift.experiment.assign import apply_exclusions

    if not spec.exclusions:
        return population, {}
    el = apply_exclusions(spec, population)
    excluded = {str(r["step"]): int(r["excluded"]) for r in el.waterfall[1:]}
    return el.eligible, excluded


def _split(n: int, strata: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified random split: boolean mask of the ``share`` part, same share in each stratum."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(n, dtype=bool)
    for s in np.unique(strata):
        idx = np.flatnonzero(strata == s)
        k = int(round(share * len(idx)))
        mask[rng.choice(idx, size=k, replace=False)] = True
    return ~mask, mask


def _check_split(t: np.ndarray, part: str, spec_label: str) -> None:
    for g, name in ((1, "treated"), (0, "control")):
        if not (t == g).any():
            raise DataError(f"{spec_label}: no {name} customers in the {part} part of the split; "
                            "use more customers or change [targeting] holdout_share")


# --------------------------------------------------------------------------- analysis


def targeting_analysis(
    spec: Any,
    population: pd.DataFrame,
    outcomes: pd.DataFrame,
    arm_column: str | None = None,
    control: str | None = None,
    n_boot: int | None = None,
    models: Sequence[str] | None = None,
    arm: str | None = None,
    n_threads: int | None = 1,
    progress: bool = False,
) -> TargetingResult:
    """Fit and compare uplift models on a finished test and build the next-wave list.

    ``outcomes`` holds the unit, arm and outcome columns; features come from
    ``population`` (joined on the unit; outcomes' own columns are used when the
    population lacks them). The list covers ``population`` after the spec's exclusion
    rules. See the module docstring for every formula.

    ``n_threads`` caps the OpenMP and BLAS threads (gradient boosting, OLS) (default 1:
    on a shared machine, OpenMP threads competing for cores made fitting 5x slower;
    ``None`` leaves the library default). ``progress`` shows a progress bar on stderr.
    """
    if n_threads is None:
        return _targeting_analysis(spec, population, outcomes, arm_column, control, n_boot, models, arm, progress)
    import sklearn.ensemble  # noqa: F401  (load the OpenMP runtime first: threadpoolctl only limits loaded libraries)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n_threads):
        return _targeting_analysis(spec, population, outcomes, arm_column, control, n_boot, models, arm, progress)


def _targeting_analysis(spec: Any, population: pd.DataFrame, outcomes: pd.DataFrame, arm_column: str | None,
                        control: str | None, n_boot: int | None, models: Sequence[str] | None,
                        arm: str | None, progress: bool = False) -> TargetingResult:
    from uplift.targeting.models import MODEL_NAMES, FeatureEncoder, make_model

    label = spec.label
    s = _settings(spec)
    econ = spec.section("economics")
    unit = spec.unit
    arm_column = arm_column or spec.arm_column
    control = control or spec.control_arm
    features = list(s.get("features") or [])
    if not features:
        raise SpecError(f"{label}: [targeting] features is empty; list the population columns to model on, e.g. features = [\"segment\", \"balance\"]")
    outcome = s.get("outcome") or econ.get("conversion_column") or ""
    if not outcome:
        prim = [m for m in spec.metrics if m.primary] or list(spec.metrics)
        outcome = prim[0].column if prim else ""
    if not outcome:
        raise SpecError(f"{label}: [targeting] outcome is not set; name the outcome column, e.g. outcome = \"converted\"")
    if arm_column not in outcomes.columns:
        raise DataError(f"outcomes: has no arm column '{arm_column}'; give the assignment ledger (--ledger) "
                        "or name the column in [analysis] arm_column")
    for col, what in ((unit, "unit"), (outcome, "[targeting] outcome")):
        if col not in outcomes.columns:
            raise DataError(f"outcomes: has no {what} column '{col}'; add it or fix {label}")
    from uplift.experiment.exclusions import check_population

    check_population(population, unit, "population")
    dup = int(outcomes[unit].duplicated().sum())
    if dup:
        raise DataError(f"outcomes: unit column '{unit}' has {dup:,} duplicate ids; keep one row per customer")
    missing = [c for c in features if c not in population.columns and c not in outcomes.columns]
    if missing:
        raise DataError(f"population: has no column '{missing[0]}' listed in [targeting] features; add it or remove it from {label}")
    notes: list[str] = []
    n_boot = int(n_boot if n_boot is not None else s.get("n_bootstrap") or 200)

    # ---- outcome kind: a binary metric must hold 0/1
    yraw = pd.to_numeric(outcomes[outcome], errors="coerce")
    if yraw.isna().any():
        raise DataError(f"outcomes: column '{outcome}' ([targeting] outcome) has {int(yraw.isna().sum()):,} missing or non-numeric values; fill them first")
    binary = bool(yraw.isin([0, 1]).all())
    as_proportion = any(m.column == outcome and m.kind == "proportion" for m in (*spec.metrics, *spec.guardrails))
    conversion_col = econ.get("conversion_column") or ""
    if not binary and (as_proportion or outcome == conversion_col):
        bad = yraw[~yraw.isin([0, 1])].iloc[0]
        raise DataError(f"outcomes: column '{outcome}' is used as a binary (proportion) outcome but holds {bad:g}; "
                        "give a 0/1 conversion column or declare the metric kind = \"mean\"")

    requested = s.get("model") or "auto"
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

    # ---- arms
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

    # ---- join features
    pop_feats = [c for c in features if c in population.columns]
    frame = out.drop(columns=[c for c in pop_feats if c in out.columns and c != unit]).merge(
        population[[unit, *pop_feats]], on=unit, how="left", indicator=True)
    unmatched = int((frame["_merge"] != "both").sum()) if pop_feats else 0
    if unmatched:
        max_share = float(spec.section("analysis").get("max_unmatched_share", 0.01) or 0.0)
        if unmatched / len(frame) > max_share:
            raise DataError(f"outcomes: {unmatched:,} of {len(frame):,} customers are not in the population file; "
                            f"check the unit column '{unit}' or raise [analysis] max_unmatched_share")
        notes.append(f"{unmatched:,} customers of the test are not in the population and were left out of the model")
    matched = (frame["_merge"] == "both").to_numpy() if pop_feats else np.ones(len(frame), bool)
    frame = frame.loc[matched].reset_index(drop=True)
    t_all = t_all[matched]
    X_all = frame[features]
    y_all = pd.to_numeric(frame[outcome]).to_numpy(dtype=np.float64)
    conv_col = outcome if binary else (conversion_col if conversion_col in frame.columns else "")
    conv_all = frame[conv_col].to_numpy(dtype=np.float64) if conv_col else np.zeros(len(frame))
    if not binary and float(econ.get("incentive_cost") or 0.0) > 0 and not conv_col:
        raise SpecError(f"{label}: [economics] incentive_cost needs a conversion column for a revenue outcome; set [economics] conversion_column")

    # ---- value per conversion
    encoder = FeatureEncoder().fit(X_all)
    net_values: np.ndarray | None = None
    if not binary:
        value = Interval(1.0, 1.0, 1.0, 0.95, "the outcome is already money")
        value_source = f"the outcome '{outcome}' is money: value 1 per unit of uplift"
    elif s.get("value_per_conversion") is not None:
        v = float(s["value_per_conversion"])
        value = Interval(v, v, v, 0.95, "fixed in the spec")
        value_source = "[targeting] value_per_conversion"
    elif s.get("value") == "clv":
        value = clv_value_per_conversion(spec, out.loc[matched].reset_index(drop=True), arm_column, control, arm,
                                         y_all, t_all)
        value_source = ("incremental CLV per treated customer / incremental conversion rate "
                        "([targeting] value = \"clv\"; the offer's lifetime value flows through conversion)")
    else:
        vcol = s.get("value_column") or ""
        if vcol:
            if vcol not in frame.columns:
                raise DataError(f"outcomes: has no column '{vcol}' ([targeting] value_column); add it or remove the key to derive value from [economics]")
            net = pd.to_numeric(frame[vcol], errors="coerce")
            value_source = f"OLS of '{vcol}' on conversion and the features"
        else:
            mcol = econ.get("margin_column") or ""
            if not mcol:
                raise SpecError(f"{label}: cannot value a conversion; set [targeting] value_per_conversion, [targeting] value_column or [economics] margin_column")
            parts = [(mcol, 1.0), (econ.get("cannibalised_column") or "", -1.0), (econ.get("cost_to_serve_column") or "", -1.0)]
            net = pd.Series(0.0, index=frame.index)
            used = []
            for col, sign in parts:
                if not col:
                    continue
                if col not in frame.columns:
                    raise DataError(f"outcomes: has no column '{col}' named in [economics]; add it or fix {label}")
                net = net + sign * pd.to_numeric(frame[col], errors="coerce")
                used.append(("+ " if sign > 0 else "- ") + col)
            value_source = "OLS of (" + " ".join(used).lstrip("+ ") + ") on conversion and the features"
        if net.isna().any():
            raise DataError(f"outcomes: the value columns have {int(net.isna().sum()):,} missing values; fill them first")
        net_values = net.to_numpy(dtype=np.float64)
        value = estimate_value_per_conversion(net_values, y_all, encoder.transform(X_all),
                                              confidence=float(spec.section("analysis").get("confidence", 0.95) or 0.95))
    contact = float(econ.get("contact_cost") or 0.0)
    incentive = float(econ.get("incentive_cost") or 0.0)

    # ---- splits: held-out part, then fit / select parts of the rest
    seed = int(s.get("seed", 0) or 0)
    share = float(s.get("holdout_share", 0.3) or 0.3)
    strata = t_all * 2 + (y_all if binary else np.zeros(len(y_all))).astype(int)
    # Fitting and bootstrapping scale with rows: above [targeting] max_customers, models are
    # fitted and evaluated on a seeded random sample (the next-wave list still scores everyone).
    cap = int(s.get("max_customers") or 200_000)
    pool = np.arange(len(frame))
    if len(frame) > cap:
        pool = np.sort(np.random.default_rng(seed + 7).choice(len(frame), size=cap, replace=False))
        notes.append(f"models fitted and evaluated on a random sample of {cap:,} of {len(frame):,} customers "
                     "([targeting] max_customers); every eligible customer is scored")
    rest, hold = _split(len(pool), strata[pool], share, seed)
    sub_fit, sub_sel = _split(int(rest.sum()), strata[pool][rest], 0.25, seed + 1)
    idx_rest = pool[rest]
    fit_idx, sel_idx, hold_idx = idx_rest[sub_fit], idx_rest[sub_sel], pool[hold]
    for part, idx in (("training", fit_idx), ("model-selection", sel_idx), ("held-out", hold_idx)):
        _check_split(t_all[idx], part, label)
    Xf, Xs, Xh = (X_all.iloc[i].reset_index(drop=True) for i in (fit_idx, sel_idx, hold_idx))

    import sys

    from tqdm import tqdm

    bar = tqdm(total=2 * len(candidates) + 2, desc="targeting", unit="step", file=sys.stderr, disable=not progress,
               leave=False)
    fitted, sel_q = {}, {}
    for name in candidates:
        bar.set_postfix_str(f"fit {name}")
        m = make_model(name, random_state=seed).fit(Xf, y_all[fit_idx], t_all[fit_idx])
        fitted[name] = m
        sel_q[name] = qini_coefficient(y_all[sel_idx], m.predict(Xs), t_all[sel_idx])
        bar.update()
    chosen = max(candidates, key=lambda k: -np.inf if not np.isfinite(sel_q[k]) else sel_q[k])
    model = fitted[chosen]

    yh, th = y_all[hold_idx], t_all[hold_idx]
    comparisons, evals = [], {}
    for name in candidates:
        bar.set_postfix_str(f"bootstrap {name}")
        bar.update()
        ev = evaluate_uplift(yh, fitted[name].predict(Xh), th, n_boot=n_boot, seed=seed, random_baseline=False)
        evals[name] = ev
        comparisons.append(ModelComparison(name, float(sel_q[name]), ev.qini, ev.auuc))
    from uplift.targeting.evaluation import random_qini_interval

    bar.set_postfix_str("random baseline, value model, profit curve")
    bar.update()
    rq = random_qini_interval(yh, th, n_boot=n_boot, seed=seed + 1)
    evaluation = UpliftEvaluation(**{**evals[chosen].__dict__, "random_qini": rq})

    # ---- P(convert | offered): classifier on treated training units
    p1_model = None
    if incentive > 0:
        from sklearn.ensemble import HistGradientBoostingClassifier

        tr = fit_idx[t_all[fit_idx] == 1]
        if len(np.unique(conv_all[tr])) > 1:
            p1_model = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.05, min_samples_leaf=100,
                                                      random_state=seed).fit(encoder.transform(X_all.iloc[tr]), conv_all[tr])

    # ---- value of a conversion per customer: E[net | x, converted] - E[net | x, not converted]
    value_model = None
    value_model_text = "one value per conversion for every customer"
    if net_values is not None:
        from sklearn.ensemble import HistGradientBoostingRegressor

        rows = idx_rest  # training units only: the held-out part stays untouched
        conv_r = y_all[rows] == 1
        if conv_r.sum() >= 50 and (~conv_r).sum() >= 50:
            Zr = encoder.transform(X_all.iloc[rows])
            kw = dict(max_iter=100, learning_rate=0.1, max_leaf_nodes=8, min_samples_leaf=50, random_state=seed)
            value_model = (HistGradientBoostingRegressor(**kw).fit(Zr[conv_r], net_values[rows][conv_r]),
                           HistGradientBoostingRegressor(**kw).fit(Zr[~conv_r], net_values[rows][~conv_r]))
            value_model_text = ("per customer: gradient boosting of net value on the features among converters "
                                "minus among non-converters (training units)")
        else:
            notes.append("fewer than 50 converters (or non-converters) in training: one average value per conversion")

    def unit_value(X: pd.DataFrame) -> np.ndarray:
        if value_model is None:
            return np.full(len(X), value.estimate)
        Z = encoder.transform(X)
        return value_model[0].predict(Z) - value_model[1].predict(Z)

    def expected_profit(X: pd.DataFrame, tau: np.ndarray) -> np.ndarray:
        p1 = p1_model.predict_proba(encoder.transform(X))[:, 1] if p1_model is not None else (
            np.full(len(X), conv_all[t_all == 1].mean()) if incentive > 0 else np.zeros(len(X)))
        return tau * unit_value(X) - contact - incentive * p1

    # ---- eligible population and the profit curve
    eligible, excluded = _eligibility(spec, population)
    if binary:
        # customers who converted during the test already hold the product, whatever a
        # pre-campaign population file says: never list them (counted as their own reason)
        bought = np.isin(eligible[unit].to_numpy(), frame.loc[y_all == 1, unit].to_numpy())
        excluded["converted_in_test"] = int(bought.sum())
    else:
        bought = np.zeros(len(eligible), dtype=bool)
    eligible_by_rules = eligible[unit].to_numpy()
    eligible = eligible.loc[~bought]
    missing_el = [c for c in features if c not in eligible.columns]
    if missing_el:
        raise DataError(f"population: has no column '{missing_el[0]}' listed in [targeting] features; the next-wave list needs it for every customer")
    n_el = len(eligible)
    # The profit curve and the calibration use the held-out customers who are eligible now,
    # so that they describe the customers of the next wave (all held-out ones if too few).
    held_units = frame[unit].to_numpy()[hold_idx]
    el_mask = np.isin(held_units, eligible_by_rules)
    if min(int((el_mask & (th == 1)).sum()), int((el_mask & (th == 0)).sum())) < 100:
        el_mask = np.ones(len(hold_idx), dtype=bool)
        notes.append("fewer than 100 eligible held-out customers per arm: profit curve from all held-out customers")
    Xp = Xh.loc[el_mask].reset_index(drop=True)
    yp, tp, cp = yh[el_mask], th[el_mask], conv_all[hold_idx][el_mask]
    tau_p = model.predict(Xp)
    cal = calibrate_uplift(yp, tp, tau_p)
    cal["n"] = float(len(yp))
    slope = max(cal["slope"], 0.0)

    def calibrated(tau: np.ndarray) -> np.ndarray:
        return cal["ate"] + slope * (tau - cal["center"])

    profit_h = expected_profit(Xp, calibrated(tau_p))
    value_h = unit_value(Xp) if binary else None
    point, low, high, _ = profit_by_depth(yp, tp, cp, profit_h, value, contact, incentive,
                                          scale=float(n_el), n_boot=n_boot, seed=seed + 2, unit_value=value_h)

    # ---- next-wave list: eligible customers ranked by calibrated expected profit
    if n_el:
        Xe = eligible[features].reset_index(drop=True)
        tau_e = model.predict(Xe)
        prof_e = expected_profit(Xe, calibrated(tau_e))
        order = np.argsort(-prof_e, kind="stable")
        rank = np.empty(n_el, dtype=np.int64)
        rank[order] = np.arange(n_el)
        n_target = int((prof_e > 0).sum())
        cum = np.r_[0.0, np.cumsum(prof_e[order])]
        expected_curve = cum[np.round(_DEPTHS * n_el).astype(int)]
        wave = pd.DataFrame({
            unit: eligible[unit].to_numpy(),
            "score": tau_e,
            "decile": (rank * 10 // n_el + 1).astype(np.int16),
            "expected_incremental_profit": prof_e,
            "selected": rank < n_target,
        }).iloc[order].reset_index(drop=True)
        pred_sel = float(cum[n_target])
        best_depth = n_target / n_el
    else:
        wave = pd.DataFrame({unit: [], "score": [], "decile": [], "expected_incremental_profit": [], "selected": []})
        n_target, pred_sel, best_depth = 0, 0.0, 0.0
        expected_curve = np.zeros(len(_DEPTHS))
        notes.append("no eligible customers: the next-wave list is empty")
    bp, bl, bh, _ = profit_by_depth(yp, tp, cp, profit_h, value, contact, incentive, scale=float(n_el),
                                    n_boot=n_boot, seed=seed + 2, depths=np.array([best_depth]), unit_value=value_h)
    best_profit = Interval(float(bp[0]), float(bl[0]), float(bh[0]), 0.95,
                           f"held-out estimate at the chosen depth, scaled to {n_el:,} eligible customers; "
                           f"stratified bootstrap ({n_boot}) with the value per conversion redrawn")

    bar.update()
    bar.close()
    return TargetingResult(
        model=chosen, arm=arm, control=control, outcome=outcome, outcome_kind="binary" if binary else "continuous",
        features=tuple(features), n_fit=len(fit_idx), n_select=len(sel_idx), n_holdout=len(hold_idx),
        models=tuple(comparisons), random_qini=rq, evaluation=evaluation, value_per_conversion=value,
        value_source=value_source, contact_cost=contact, incentive_cost=incentive,
        currency=spec.section("experiment").get("currency", "EUR") or "EUR",
        depths=_DEPTHS.copy(), profit=point, profit_low=low, profit_high=high, best_depth=best_depth,
        best_profit=best_profit, n_population=len(population), n_eligible=n_el, excluded=excluded,
        n_targeted=n_target, predicted_profit_selected=pred_sel, next_wave=wave, notes=tuple(notes),
        n_holdout_eligible=int(el_mask.sum()),
        calibration=cal, expected_curve=expected_curve, value_model=value_model_text,
    )
