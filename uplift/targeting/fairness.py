"""Consumer Duty outcome monitoring: per customer group and arm, conversion, harms (complaints, churn)
and unsuitable-sale signals; each offer arm's difference from control within each group with Holm
control; a harm flag; and the next wave's make-up by group against the eligible population.

For group value *g*, outcome *y* (0/1) and offer arm *a*: the difference ``p_a,g - p_c,g`` with the
unpooled Wald interval and the pooled two-sided z-test (:func:`uplift.stats.compare.compare_proportions`).
The p-values of every harm and unsuitable-sale difference (all groups, arms and outcomes: one family)
are Holm-adjusted (:func:`uplift.stats.multiplicity.holm`; Holm 1979), which holds the chance of any
false flag at ``alpha = 1 - [analysis] confidence``. A cell is **flagged** when its difference is
positive (more harm under the offer) and its Holm-adjusted p-value is below alpha. Conversion
differences are shown with their own Holm-adjusted p-values (a separate family) and never flagged.

Next-wave composition: for each group value, its share of the customers selected for the next wave
and of the eligible customers, and the difference in percentage points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from uplift.data.moments import Proportion
from uplift.errors import DataError, SpecError
from uplift.stats.compare import compare_proportions
from uplift.stats.multiplicity import holm

__all__ = ["DutyResult", "duty_panel", "composition"]


@dataclass(frozen=True)
class DutyResult:
    """The panel's rows (one per group column, value, outcome and offer arm), the composition rows and alpha."""

    rows: tuple[dict[str, Any], ...]
    composition: tuple[dict[str, Any], ...] = ()
    alpha: float = 0.05
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def flagged(self) -> list[dict[str, Any]]:
        """The harm-flagged rows."""
        return [r for r in self.rows if r["harm_flag"]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (results.json ``consumer_duty``)."""
        return {"alpha": self.alpha, "rows": [dict(r) for r in self.rows], "composition": [dict(r) for r in self.composition],
                "flagged": len(self.flagged),
                "method": "difference offer - control within each group (Wald interval, pooled z-test); Holm across "
                          "every harm and unsuitable-sale cell; flagged when positive and Holm-adjusted p < alpha",
                "notes": list(self.notes)}


def _groups(frame: pd.DataFrame, columns: Sequence[str], label: str) -> None:
    for c in columns:
        if c not in frame.columns:
            raise SpecError(f"{label}: [fairness] group_columns names '{c}', which is in neither the outcomes nor "
                            "the population; use a column of one of them")
        if frame[c].nunique(dropna=True) < 2:
            raise DataError(f"{label}: [fairness] group column '{c}' has one value only "
                            f"({frame[c].dropna().iloc[0] if frame[c].notna().any() else 'empty'}); "
                            "a group needs at least two values to compare; drop it from group_columns")


def duty_panel(frame: pd.DataFrame, arm_column: str, control: str, group_columns: Sequence[str],
               conversion: str, harms: Sequence[str], unsuitable: Sequence[str], confidence: float = 0.95,
               label: str = "outcomes") -> DutyResult:
    """The panel of the module docstring from one row per customer of the test (arm, group columns, 0/1 outcomes)."""
    _groups(frame, group_columns, label)
    for c in (conversion, *harms, *unsuitable):
        if c and c not in frame.columns:
            raise SpecError(f"{label}: [fairness] outcome column '{c}' is not in the outcomes; check the name")
    arms = [a for a in sorted(frame[arm_column].astype(str).unique()) if a != str(control)]
    arm = frame[arm_column].astype(str).to_numpy()
    rows: list[dict[str, Any]] = []
    kinds = [(conversion, "conversion")] * bool(conversion) + [(h, "harm") for h in harms] + [(u, "unsuitable_sale") for u in unsuitable]
    for g in group_columns:
        values = frame[g].astype(str).to_numpy()
        for v in sorted(set(values)):
            in_g = values == v
            for col, kind in kinds:
                y = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
                ok = in_g & np.isfinite(y)
                c_mask = ok & (arm == str(control))
                for a in arms:
                    a_mask = ok & (arm == a)
                    n1, n0 = int(a_mask.sum()), int(c_mask.sum())
                    row = {"group": g, "value": v, "outcome": col, "kind": kind, "arm": a, "n_arm": n1, "n_control": n0,
                           "rate_arm": float(y[a_mask].mean()) if n1 else None,
                           "rate_control": float(y[c_mask].mean()) if n0 else None,
                           "difference": None, "ci": [None, None], "p_value": None}
                    if n1 >= 2 and n0 >= 2:
                        cmp = compare_proportions(Proportion(n1, float(y[a_mask].sum())), Proportion(n0, float(y[c_mask].sum())),
                                                  confidence)
                        row.update(difference=cmp.estimate, ci=[cmp.ci[0], cmp.ci[1]],
                                   p_value=cmp.p_value if np.isfinite(cmp.p_value) else None)
                    rows.append(row)
    alpha = 1 - confidence
    for family in (("harm", "unsuitable_sale"), ("conversion",)):
        idx = [i for i, r in enumerate(rows) if r["kind"] in family]
        adj = holm([rows[i]["p_value"] for i in idx])
        for i, p in zip(idx, adj):
            rows[i]["p_holm"] = p
    for r in rows:
        r["harm_flag"] = bool(r["kind"] != "conversion" and r.get("p_holm") is not None and r["p_holm"] < alpha
                              and (r["difference"] or 0) > 0)
    return DutyResult(tuple(rows), alpha=alpha)


def composition(eligible: pd.DataFrame, selected: np.ndarray, group_columns: Sequence[str]) -> tuple[dict[str, Any], ...]:
    """Each group value's share among the selected and among the eligible customers (module docstring)."""
    out = []
    sel = np.asarray(selected, dtype=bool)
    for g in group_columns:
        if g not in eligible.columns:
            continue
        values = eligible[g].astype(str).to_numpy()
        for v in sorted(set(values)):
            share_el = float((values == v).mean()) if len(values) else 0.0
            share_sel = float((values[sel] == v).mean()) if sel.any() else 0.0
            out.append({"group": g, "value": v, "share_selected": share_sel, "share_eligible": share_el,
                        "difference_pp": 100 * (share_sel - share_el), "selected": int((values[sel] == v).sum())})
    return tuple(out)
