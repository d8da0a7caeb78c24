"""What :func:`uplift.experiment.design.design_experiment` returns: the design per metric and for the test.

:class:`DesignResult` holds the sizes per arm, MDE, power and duration for each metric
(:class:`MetricDesign`), with ``to_dict()`` (what ``uplift design --json`` prints) and a
plain-text ``summary()``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from uplift.results import jsonable
from uplift.text import text_table

__all__ = ["DesignResult", "MetricDesign"]


@dataclass(frozen=True)
class MetricDesign:
    """The design numbers of one metric. Effects are absolute unless named ``*_relative``."""

    name: str
    kind: str
    primary: bool
    baseline: float | None
    sd: float | None
    source: str
    effect: float | None = None
    effect_relative: float | None = None
    n_total: int | None = None
    n_per_arm: Mapping[str, int] = field(default_factory=dict)
    mde: float | None = None
    mde_relative: float | None = None
    power: float | None = None
    rho: float | None = None
    rho_source: str = ""
    cuped_n_total: int | None = None
    cuped_n_per_arm: Mapping[str, int] = field(default_factory=dict)
    cuped_mde: float | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return jsonable(self.__dict__)


@dataclass(frozen=True)
class DesignResult:
    """Sample size, MDE, power and duration of the test described by a spec.

    ``n_per_arm``/``n_total`` are for the primary metric; ``mde``/``power`` are at that n
    (rounded up per arm); ``metrics`` has the same numbers per metric at the primary's n.
    """

    experiment: str
    primary: str
    weights: Mapping[str, float]
    control: str
    alpha: float
    alpha_per_comparison: float
    power_target: float
    alternative: str
    multiple_arms: str
    n_comparisons: int
    n_per_arm: Mapping[str, int]
    n_total: int
    n_total_exact: float
    mde: float | None
    mde_relative: float | None
    power: float | None
    weekly_inflow: int | None
    duration_weeks: float | None
    cuped: Mapping[str, Any] | None
    eligible: int | None
    metrics: tuple[MetricDesign, ...]
    notes: tuple[str, ...] = ()
    method: str = ""
    looks: Mapping[str, Any] | None = None
    """With [design] looks > 1: the price of the planned looks per spending family and of continuous
    monitoring (:func:`uplift.experiment.looks.price_looks`)."""

    @property
    def duration_weeks_whole(self) -> int | None:
        return None if self.duration_weeks is None else int(math.ceil(self.duration_weeks - 1e-9))

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "experiment": self.experiment,
            "primary": self.primary,
            "weights": dict(self.weights),
            "control": self.control,
            "alpha": self.alpha,
            "alpha_per_comparison": self.alpha_per_comparison,
            "power_target": self.power_target,
            "alternative": self.alternative,
            "multiple_arms": self.multiple_arms,
            "n_comparisons": self.n_comparisons,
            "n_per_arm": dict(self.n_per_arm),
            "n_total": self.n_total,
            "n_total_exact": self.n_total_exact,
            "mde": self.mde,
            "mde_relative": self.mde_relative,
            "power": self.power,
            "weekly_inflow": self.weekly_inflow,
            "duration_weeks": self.duration_weeks,
            "duration_weeks_whole": self.duration_weeks_whole,
            "cuped": dict(self.cuped) if self.cuped else None,
            "eligible": self.eligible,
            "metrics": [m.to_dict() for m in self.metrics],
            "notes": list(self.notes),
            "method": self.method,
            "looks": dict(self.looks) if self.looks else None,
        })

    def summary(self) -> str:

        lines = [
            f"Design of experiment '{self.experiment}' (primary metric: {self.primary})",
            f"alpha {self.alpha:g} ({self.alternative}); {self.n_comparisons} offer arm(s) vs {self.control}: "
            f"{self.multiple_arms} -> alpha per comparison {self.alpha_per_comparison:.4g}; target power {self.power_target:g}",
        ]
        rows = [("arm", "weight", "n")]
        for a, w in self.weights.items():
            rows.append((a, f"{w:g}", f"{self.n_per_arm[a]:,}"))
        rows.append(("total", "", f"{self.n_total:,}"))
        lines.append(text_table(rows))
        p = self.metrics[0]
        lines.append(
            f"MDE at this n: {_fmt(self.mde)} absolute ({_pct(self.mde_relative)} relative); "
            f"power at the target effect: {_pct(self.power)}"
        )
        if self.duration_weeks is not None:
            lines.append(
                f"duration: {self.duration_weeks:.2f} weeks at {self.weekly_inflow:,} eligible per week "
                f"(plan {self.duration_weeks_whole} week(s))"
            )
        if self.cuped:
            c = self.cuped
            lines.append(
                f"with CUPED on {c['covariate']} (rho {c['rho']:.3f}, {c['rho_source']}): variance x {c['factor']:.3f} -> "
                f"n total {c['n_total']:,}"
                + (f", {c['duration_weeks']:.2f} weeks" if c.get("duration_weeks") is not None else "")
            )
        if self.eligible is not None:
            lines.append(f"eligible in the population after exclusions: {self.eligible:,}")
        head = ("metric", "kind", "baseline", "sd", "effect", "n total", "MDE at n", "MDE rel", "power", "CUPED n")
        body = []
        for m in self.metrics:
            body.append(
                (
                    m.name + (" *" if m.primary else ""), m.kind, _fmt(m.baseline), _fmt(m.sd),
                    _fmt(m.effect), _int(m.n_total), _fmt(m.mde), _pct(m.mde_relative), _pct(m.power),
                    _int(m.cuped_n_total),
                )
            )
        lines.append("Per metric (* primary; MDE and power at the primary metric's n):")
        lines.append(text_table([head] + body))
        for m in self.metrics:
            if m.note:
                lines.append(f"  {m.name}: {m.note}")
        if self.looks:
            lk = self.looks
            head = ("looks", "spending", "x fixed n", "max n total", "weeks")
            body = [(str(lk["looks"]), f["method"].replace("Lan-DeMets alpha spending, ", "") + (" *" if f["chosen"] else ""),
                     f"{f['inflation_factor']:.3f}", f"{f['n_total']:,}", _fmt(f["duration_weeks"])) for f in lk["families"]]
            c = lk["continuous"]
            body.append(("any", f"always-valid, continuous (tuned to {c['tuning_n']:,}; at most)", f"{c['inflation_factor']:.3f}",
                         f"{c['n_total']:,}", _fmt(c["duration_weeks"])))
            lines.append("The price of looking (* the spec's [design] spending):")
            lines.append(text_table([head] + body))
        lines += [f"note: {n}" for n in self.notes]
        lines.append(f"method: {self.method}")
        del p
        return "\n".join(lines)


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def _pct(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{100 * x:.2f}%"


def _int(x) -> str:
    return "-" if x is None else f"{x:,}"
