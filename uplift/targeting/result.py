"""Targeting results: one candidate model's comparison (:class:`ModelComparison`) and the whole
analysis (:class:`TargetingResult`: results.json's ``targeting`` block, the text summary and the plots).

Frozen dataclasses filled by :func:`uplift.targeting.analyse.targeting_analysis`; the formulas behind
their numbers are in :mod:`uplift.targeting.analyse`, :mod:`uplift.targeting.value` and
:mod:`uplift.targeting.profit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from uplift.results import jsonable
from uplift.targeting.evaluation import Interval, UpliftEvaluation
from uplift.text import chart_label, t


__all__ = ["ModelComparison", "TargetingResult"]


@dataclass(frozen=True)
class ModelComparison:
    """One candidate model: Qini on the selection part and held-out Qini/AUUC with intervals."""

    model: str
    selection_qini: float
    qini: Interval
    auuc: Interval

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes None)."""
        return {"model": self.model, "selection_qini": jsonable(self.selection_qini),
                "qini": jsonable(self.qini.estimate), "qini_ci": [jsonable(self.qini.low), jsonable(self.qini.high)],
                "auuc": jsonable(self.auuc.estimate), "auuc_ci": [jsonable(self.auuc.low), jsonable(self.auuc.high)]}


@dataclass(frozen=True)
class TargetingResult:
    """Result of :func:`uplift.targeting.analyse.targeting_analysis`. ``to_dict()`` is results.json's ``targeting`` block.

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
    confidence: float = 0.95  # of every interval ([analysis] confidence)
    held_out_profit: Interval | None = None  # the held-out estimate at the best depth (a check of the headline)
    contact_everyone: Interval | None = None  # contacting every eligible customer, finance's valuation
    anchor: dict[str, Any] = field(default_factory=dict)  # how the list was anchored to finance's valuation
    explanations: dict[str, Any] = field(default_factory=dict)  # permutation importance and policy tree (explain_list)

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
            "qini": jsonable(self.qini.estimate),
            "qini_ci": [jsonable(self.qini.low), jsonable(self.qini.high)],
            "random_score_qini": self.random_qini.to_dict(),
            "beats_random": bool(self.qini.estimate > self.random_qini.high),
            "auuc": self.evaluation.auuc.to_dict(),
            "uplift_at_k": self.evaluation.to_dict()["uplift_at_k"],
            "deciles": self.evaluation.to_dict()["deciles"],
            "best_depth": float(self.best_depth),
            "n_targeted": self.n_targeted,
            "expected_incremental_profit": jsonable(self.best_profit.estimate),
            "expected_incremental_profit_ci": [jsonable(self.best_profit.low), jsonable(self.best_profit.high)],
            "expected_incremental_profit_method": self.best_profit.method,
            "predicted_incremental_profit_of_list": jsonable(self.predicted_profit_selected),
            "held_out_check": self.held_out_profit.to_dict() if self.held_out_profit is not None else None,
            "contact_everyone": None if self.contact_everyone is None else {
                **self.contact_everyone.to_dict(), "customers": self.n_eligible,
                "per_customer": jsonable(self.contact_everyone.estimate / self.n_eligible) if self.n_eligible else None},
            "anchor": {k: jsonable(v) for k, v in self.anchor.items()} or None,
            "explanations": self.explanations or None,
            "profit_curve": {
                "depth": [float(d) for d in self.depths[idx]],
                "profit": [jsonable(v) for v in self.profit[idx]],
                "ci_low": [jsonable(v) for v in self.profit_low[idx]],
                "ci_high": [jsonable(v) for v in self.profit_high[idx]],
                "model_expected": [jsonable(v) for v in self.expected_curve[idx]] if self.expected_curve is not None else None,
            },
            "calibration": {k: jsonable(v) for k, v in self.calibration.items()},
            "depth_rule": "contact eligible customers whose calibrated expected incremental profit is positive "
                          "(the depth that maximises the model-expected profit curve)",
            "eligible": {"population": self.n_population, "eligible": self.n_eligible, "excluded": dict(self.excluded)},
            "assumptions": {
                "profit_formula": "profit_i = calibrated uplift_i * value of a conversion_i - contact_cost - incentive_cost * P(convert | offered)_i",
                "value_per_conversion": jsonable(self.value_per_conversion.estimate),
                "value_per_conversion_ci": [jsonable(self.value_per_conversion.low), jsonable(self.value_per_conversion.high)],
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
                 f"{'model':<22}{'select Qini':>12}{'held-out Qini':>15}  {self.confidence:.0%} CI"]
        for m in self.models:
            mark = " *" if m.model == self.model else ""
            lines.append(f"{m.model + mark:<22}{m.selection_qini:>12.4f}{m.qini.estimate:>15.4f}  [{m.qini.low:.4f}, {m.qini.high:.4f}]")
        lines += [
            f"random score Qini {self.confidence:.0%} interval: [{self.random_qini.low:.4f}, {self.random_qini.high:.4f}]",
            f"value per conversion: {self.value_per_conversion.estimate:,.2f} {cur} [{self.value_per_conversion.low:,.2f}, {self.value_per_conversion.high:,.2f}] ({self.value_source})",
            f"contact cost {self.contact_cost:g}, incentive cost {self.incentive_cost:g} {cur}",
            f"calibration slope (BLP): {self.calibration.get('slope', float('nan')):.2f} "
            f"[{self.calibration.get('slope_ci_low', float('nan')):.2f}, {self.calibration.get('slope_ci_high', float('nan')):.2f}]",
            f"eligible customers: {self.n_eligible:,} of {self.n_population:,}"
            + (" (excluded: " + ", ".join(f"{k} {v:,}" for k, v in self.excluded.items()) + ")" if self.excluded else ""),
            f"best depth: {self.best_depth:.0%} ({self.n_targeted:,} customers), expected incremental profit "
            f"{self.best_profit.estimate:,.0f} {cur} [{self.best_profit.low:,.0f}, {self.best_profit.high:,.0f}]",
        ]
        if self.contact_everyone is not None:
            lines.append(f"contact every eligible customer: {self.contact_everyone.estimate:,.0f} {cur} "
                         f"[{self.contact_everyone.low:,.0f}, {self.contact_everyone.high:,.0f}]")
        if self.held_out_profit is not None and self.held_out_profit is not self.best_profit:
            lines.append(f"held-out check at the best depth: {self.held_out_profit.estimate:,.0f} {cur} "
                         f"[{self.held_out_profit.low:,.0f}, {self.held_out_profit.high:,.0f}]")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def plot_qini(self, ax: Any) -> Any:
        """Held-out Qini curve of the chosen model, with the random line."""
        self.evaluation.plot_qini(ax, label=self.model)
        ax.set_title(t("Qini curve (held-out customers)"))
        return ax

    def plot_profit_by_depth(self, ax: Any) -> Any:
        """Total incremental profit by targeting depth with its bootstrap band and the best depth."""
        d = self.depths * 100
        ax.fill_between(d, self.profit_low, self.profit_high, alpha=0.25,
                        label=t("{level} interval", level=f"{self.confidence:.0%}"))
        ax.plot(d, self.profit, label=t("held-out check"))
        if self.expected_curve is not None:
            ax.plot(d, self.expected_curve, ls="-.", label=t("model expectation (calibrated)"))
        ax.axhline(0, color="black", lw=0.8)
        ax.axvline(self.best_depth * 100, ls="--", color="grey", label=t("best depth {depth}", depth=f"{self.best_depth:.0%}"))
        ax.set_xlabel(t("eligible customers contacted (%)"))
        ax.set_ylabel(chart_label(t("incremental profit ({currency})", currency=t(self.currency))))
        ax.set_title(t("Profit by targeting depth"))
        ax.legend()
        return ax
