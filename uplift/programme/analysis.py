"""The programme readout: the global holdout against everyone else, campaign by campaign, and pooled.

Programme effect
    The holdout is a random ``holdout_share`` of the units (salted hash), never contacted; everyone else
    is exposed to whatever the programme did to them (any number of campaigns, overlapping, saturating,
    cannibalising). So ``mean(others) - mean(holdout)`` estimates the programme's average effect per
    non-holdout unit, and ``N_others x`` that its total incremental conversions, revenue, profit and CLV.
    Conversion: :func:`uplift.stats.compare.compare_proportions` (unpooled Wald interval); money:
    :func:`uplift.stats.compare.compare_means` (Welch). A total's interval is the per-unit interval
    times ``N_others`` (N fixed by design). Net incremental profit subtracts the campaigns' contact
    cost, ``contact_cost x contacts`` (contacts counted from the ledgers, no sampling error), as
    :class:`uplift.metrics.valuation.Valuation` does per treated customer.

Per-campaign effects
    Each campaign's offer arms against its own control, on the programme's outcomes (the same
    comparisons). The *naive sum* adds each campaign's incremental conversions ``effect_i x n_treated_i``
    (variance: the sum of ``(n_treated_i se_i)^2``); it ignores overlap and saturation, so it is not
    the programme effect (both are shown). The effects are pooled by :mod:`uplift.programme.meta`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy import stats as st

from uplift.data.moments import Proportion, SampleMean
from uplift.errors import DataError, UserError
from uplift.experiment.ledger import read_ledger
from uplift.metrics.valuation import interval
from uplift.programme.contact import unit_keys
from uplift.programme.holdout import holdout_mask
from uplift.programme.meta import random_effects
from uplift.programme.registry import Registry, check_header, programme_header
from uplift.spec.programme import ProgrammeSpec
from uplift.stats.compare import Comparison, compare_means, compare_proportions

__all__ = ["programme_readout", "validate_programme_results", "PROGRAMME_SCHEMA_VERSION", "SCHEMA_PATH"]

PROGRAMME_SCHEMA_VERSION = "1.0"


def _binary(col: pd.Series, name: str, label: str) -> np.ndarray:
    x = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
    if np.isnan(x).any() or not np.isin(x, (0.0, 1.0)).all():
        raise DataError(f"{label}: column '{name}' ([readout] conversion_column) must hold 0 or 1 in every row; fix the column")
    return x


def _numeric(col: pd.Series, name: str, label: str) -> np.ndarray:
    x = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(x).all():
        raise DataError(f"{label}: column '{name}' must hold a number in every row; fill or drop the empty rows")
    return x


def _compare(x: np.ndarray, treated: np.ndarray, control: np.ndarray, binary: bool, confidence: float) -> Comparison:
    a, b = x[treated], x[control]
    if binary:
        return compare_proportions(Proportion(len(a), float(a.sum())), Proportion(len(b), float(b.sum())), confidence)
    return compare_means(SampleMean(len(a), float(a.mean()), float(a.var(ddof=1))),
                         SampleMean(len(b), float(b.mean()), float(b.var(ddof=1))), confidence)


def _total(c: Comparison, n: int, z: float, shift: float = 0.0) -> dict[str, Any]:
    per = interval(c.estimate, c.se ** 2, z)
    return {"per_unit": c.estimate, "per_unit_se": c.se, "per_unit_ci": list(c.ci),
            "total": n * c.estimate - shift, "total_se": n * per["se"],
            "total_ci": [n * c.ci[0] - shift, n * c.ci[1] - shift], "p_value": c.p_value,
            "mean_exposed": c.mean_treatment, "mean_holdout": c.mean_control, "method": c.method}


def programme_readout(programme: ProgrammeSpec, registry: Registry, outcomes: pd.DataFrame, label: str = "outcomes",
                      start: str = "", end: str = "") -> dict[str, Any]:
    """The programme readout as a results dict (``programme_results.schema.json``); see the module docstring.

    ``start``/``end`` (YYYY-MM-DD) keep the campaigns assigned in that period (default: all)."""
    s, r = programme.programme, programme.readout
    check_header(registry, programme_header(s.name, s.unit, s.salt, s.holdout_share, s.start_date), programme.label)
    if not registry.header:
        raise UserError(f"{registry.path}: records no campaign yet; assign the programme's campaigns first")
    unit = s.unit
    for col in (unit, r.conversion_column):
        if col not in outcomes.columns:
            raise DataError(f"{label}: has no column '{col}'; add it or set the [readout] key naming it")
    keys = unit_keys(outcomes[unit])
    if len(set(keys)) != len(keys):
        raise DataError(f"{label}: lists a {unit} twice; give one row per unit over the programme's period")
    hold = holdout_mask(outcomes[unit], s.salt, s.holdout_share)
    exposed = ~hold
    if hold.sum() < 2 or exposed.sum() < 2:
        raise DataError(f"{label}: has {int(hold.sum())} holdout unit(s); the holdout needs at least 2 (more units)")
    conf = r.confidence
    z = float(st.norm.ppf(0.5 + conf / 2))
    columns = {"conversions": (r.conversion_column, True), "revenue": (r.revenue_column, False),
               "profit": (r.profit_column, False), "clv": (r.clv_column, False)}
    values: dict[str, np.ndarray] = {}
    for name, (col, binary) in columns.items():
        if not col:
            continue
        if col not in outcomes.columns:
            raise DataError(f"{label}: has no column '{col}' ([readout] {name if name != 'conversions' else 'conversion'}"
                            "_column); add it or remove the key")
        values[name] = _binary(outcomes[col], col, label) if binary else _numeric(outcomes[col], col, label)
    campaigns, contacts, contacted_holdout = _campaigns(registry, unit, start, end, keys, hold, values, conf, z)
    n_exposed = int(exposed.sum())
    effect = {}
    for name, x in values.items():
        shift = r.contact_cost * contacts if name == "profit" else 0.0
        effect[name] = _total(_compare(x, exposed, hold, name == "conversions", conf), n_exposed, z, shift)
    naive_total = float(sum(c["incremental_conversions"] for c in campaigns))
    naive_se = math.sqrt(sum(c["incremental_conversions_se"] ** 2 for c in campaigns))
    meta = None
    usable = [c for c in campaigns if c["conversion"]["abs_se"] and c["conversion"]["abs_se"] > 0]
    if len(usable) >= 2:
        meta = random_effects([c["conversion"]["abs_effect"] for c in usable], [c["conversion"]["abs_se"] for c in usable],
                              [c["experiment"] for c in usable], r.meta_method, conf).to_dict()
    return {
        "schema_version": PROGRAMME_SCHEMA_VERSION, "programme": s.name, "unit": unit, "currency": s.currency,
        "programme_sha256": programme.sha256, "registry": str(registry.path),
        "period": {"start": start or s.start_date, "end": end or max([c["assigned_at"] for c in campaigns] or [s.start_date])},
        "confidence": conf, "holdout_share": s.holdout_share,
        "units": {"total": int(len(keys)), "holdout": int(hold.sum()), "exposed": n_exposed,
                  "contacts": contacts, "holdout_contacted": contacted_holdout},
        "contact_cost": r.contact_cost, "effect": effect, "campaigns": campaigns,
        "naive_sum": {"incremental_conversions": naive_total, "se": naive_se,
                      "ci": [naive_total - z * naive_se, naive_total + z * naive_se],
                      "note": "sum over campaigns of effect x treated units: ignores overlap and saturation"},
        "meta_analysis": meta,
    }


def _campaigns(registry: Registry, unit: str, start: str, end: str, keys: np.ndarray, hold: np.ndarray,
               values: Mapping[str, np.ndarray], conf: float, z: float) -> tuple[list[dict[str, Any]], int, int]:
    """Per campaign: offer arms against control on the outcomes; the contacts; holdout units contacted."""
    out, contacts, contacted_holdout = [], 0, 0
    position = pd.Index(keys)
    for name, entry in registry.latest("assignment").items():
        when = str(entry.get("assigned_at", ""))
        if (start and when < start) or (end and when > end):
            continue
        ledger = read_ledger(registry.ledger_of(entry), unit)
        if ledger is None:
            raise DataError(f"{entry['ledger']}: the ledger of campaign {name!r} recorded in {registry.path} is missing; "
                            "restore it")
        pos = position.get_indexer(unit_keys(ledger[unit]))
        found = pos >= 0
        arm = ledger["arm"].astype(str).to_numpy()[found]
        pos = pos[found]
        treated_pos, control_pos = pos[arm != entry["control"]], pos[arm == entry["control"]]
        contacts += int((arm != entry["control"]).sum())
        contacted_holdout += int(hold[treated_pos].sum())
        row: dict[str, Any] = {"experiment": name, "assigned_at": when, "product": entry.get("product", ""),
                               "n_treated": int(len(treated_pos)), "n_control": int(len(control_pos)),
                               "not_in_outcomes": int((~found).sum())}
        if len(treated_pos) < 2 or len(control_pos) < 2:
            row.update(conversion={"abs_effect": None, "abs_se": None, "abs_ci": [None, None]},
                       incremental_conversions=0.0, incremental_conversions_se=0.0)
            out.append(row)
            continue
        t = np.zeros(len(keys), bool)
        c = np.zeros(len(keys), bool)
        t[treated_pos], c[control_pos] = True, True
        for metric, x in values.items():
            comp = _compare(x, t, c, metric == "conversions", conf)
            row["conversion" if metric == "conversions" else metric] = {
                "abs_effect": comp.estimate, "abs_se": comp.se, "abs_ci": list(comp.ci), "p_value": comp.p_value,
                "mean_treated": comp.mean_treatment, "mean_control": comp.mean_control}
        conv = row["conversion"]
        row["incremental_conversions"] = conv["abs_effect"] * len(treated_pos)
        row["incremental_conversions_se"] = conv["abs_se"] * len(treated_pos)
        out.append(row)
    return out, contacts, contacted_holdout


SCHEMA_PATH = Path(__file__).resolve().parent / "results.schema.json"  # package data


def validate_programme_results(results: Mapping[str, Any], label: str = "results.json") -> None:
    """Check a programme results dict against ``programme/results.schema.json``; a breach is one :class:`DataError` line."""
    import json

    import jsonschema

    from uplift.results import jsonable

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    error = jsonschema.exceptions.best_match(validator.iter_errors(jsonable(results)))
    if error is not None:
        raise DataError(f"{label}: {error.json_path}: {' '.join(error.message.split())[:200]} (programme results schema)")
