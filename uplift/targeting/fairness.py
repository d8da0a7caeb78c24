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

from uplift.data.collect import collect_cells
from uplift.data.facts import ARM, GROUP, Facts, GroupRole, validate
from uplift.data.moments import Proportion, pool
from uplift.data.needs import Needs
from uplift.data.source import open_source
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
    min_cell_size: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def flagged(self) -> list[dict[str, Any]]:
        """The harm-flagged rows."""
        return [r for r in self.rows if r["harm_flag"]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (results.json ``consumer_duty``)."""
        return {"alpha": self.alpha, "min_cell_size": self.min_cell_size, "rows": [dict(r) for r in self.rows],
                "composition": [dict(r) for r in self.composition], "flagged": len(self.flagged),
                "method": "difference offer - control within each group (Wald interval, pooled z-test); Holm across "
                          "every harm and unsuitable-sale cell; flagged when positive and Holm-adjusted p < alpha",
                "notes": list(self.notes)}


MAX_GROUP_VALUES = 50
"""The most values a group column may hold: a Consumer Duty group is a category (age band, segment,
vulnerability flag), not an id; band a number first."""

GROUP_COLUMN = GroupRole("group column", " (from [fairness] group_columns)", "remove it or add the column",
                         "fill it (e.g. 'unknown') before the readout")


def duty_panel(data: Any, arm_column: str, control: str, group_columns: Sequence[str],
               conversion: str, harms: Sequence[str], unsuitable: Sequence[str], confidence: float = 0.95,
               label: str = "outcomes", min_cell_size: int = 0) -> DutyResult:
    """The panel of the module docstring from the test's rows (a DataFrame, a file or a source: anything
    :func:`uplift.data.source.open_source` reads), one aggregation per group column in the rows' own
    backend (:func:`uplift.data.collect.collect_cells`), so the same input gives the same panel and the
    same one-line messages in memory and in DuckDB.

    Conversion and harm rates are over every customer of the group and arm; an unsuitable-sale signal is
    a share of the SALES (customers with ``conversion`` = 1), since a product used little or closed early
    can only follow a sale and an offer that sells more would otherwise look harmful by volume alone.
    A cell with fewer than ``min_cell_size`` customers (or sales) in the arm or in control is not tested:
    its rates are shown, its difference, interval and p-value are None and it is outside the Holm family.
    """
    source = open_source(data, label=label)
    label = source.label
    have = set(source.columns)
    for g in group_columns:
        if g not in have:
            raise SpecError(f"{label}: [fairness] group_columns names '{g}', which is in neither the outcomes nor "
                            "the population; use a column of one of them")
    for c in (conversion, *harms, *unsuitable):
        if c and c not in have:
            raise SpecError(f"{label}: [fairness] outcome column '{c}' is not in the outcomes; check the name")
    if unsuitable and not conversion:
        raise SpecError(f"{label}: [fairness] unsuitable_sale_columns need a conversion column "
                        "([economics] conversion_column or a primary proportion metric)")
    kinds = [(conversion, "conversion")] * bool(conversion) + [(h, "harm") for h in harms] + [(u, "unsuitable_sale") for u in unsuitable]
    columns = list(dict.fromkeys(c for c, _ in kinds))
    needs = Needs.of({c: "[fairness] outcome column" for c in columns}, binary=columns)
    rows: list[dict[str, Any]] = []
    for g in group_columns:
        by = {arm_column: ARM, g: GROUP_COLUMN}
        if unsuitable and conversion != g:
            by[conversion] = GROUP
        cells = {tuple(str(x) for x in k): v for k, v in collect_cells(source, by, needs).items()}
        values = sorted({k[1] for k in cells})
        units = int(sum(m.n for m in cells.values()))
        validate(Facts(label, id_like=(g, len(values), units)))
        if len(values) < 2:
            raise DataError(f"{label}: [fairness] group column '{g}' has one value only "
                            f"({values[0] if values else 'empty'}); a group needs at least two values to compare; "
                            "drop it from group_columns")
        if len(values) > MAX_GROUP_VALUES:
            raise DataError(f"{label}: [fairness] group column '{g}' has {len(values)} distinct values; a group "
                            f"column needs a category with at most {MAX_GROUP_VALUES} values (band it first)")
        arms = sorted({k[0] for k in cells} - {str(control)})
        for v in values:
            for col, kind in kinds:
                def cell(a: str) -> Proportion:
                    picked = [m for k, m in cells.items() if k[0] == a and k[1] == v
                              and (kind != "unsuitable_sale" or len(k) < 3 or k[2] == "1")]
                    if not picked:
                        return Proportion(0, 0.0)
                    m = pool(picked)
                    return Proportion(m.n, round(m.n * m.mean_of(col)))
                ctrl = cell(str(control))
                for a in arms:
                    arm_p = cell(a)
                    row = {"group": g, "value": v, "outcome": col, "kind": kind, "arm": a, "n_arm": arm_p.n,
                           "n_control": ctrl.n, "rate_arm": arm_p.successes / arm_p.n if arm_p.n else None,
                           "rate_control": ctrl.successes / ctrl.n if ctrl.n else None,
                           "difference": None, "ci": [None, None], "p_value": None}
                    if min(arm_p.n, ctrl.n) >= max(min_cell_size, 2):
                        cmp = compare_proportions(arm_p, ctrl, confidence)
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
    return DutyResult(tuple(rows), alpha=alpha, min_cell_size=min_cell_size)


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
