"""Eligibility: the spec's exclusion rules, a reason code per excluded unit, and the waterfall.

Rules
    The spec's ``[[exclude]]`` rules are applied in order to the customers still
    eligible; the first rule a customer matches is the reason recorded for them.
    A missing value (empty or NaN) in a rule's column follows the rule's
    ``when_missing``: ``"exclude"`` (the default: we cannot show the rule does not
    apply, e.g. an unknown marketing opt-out) records the customer under the rule's
    reason; ``"keep"`` leaves the customer eligible (the rule does not apply, e.g.
    an empty ``days_since_last_contact`` for a customer never contacted). Either way
    the waterfall's ``missing`` counts the still-eligible customers whose value was
    missing. Rules are data (column, op, value); nothing is evaluated as code.

Waterfall
    One row per step: the population, then per rule the units it excluded (of those
    still eligible), how many of those still eligible had no value in the rule's
    column (``missing``: excluded with ``when_missing = "exclude"``, kept with
    ``"keep"``; ``when_missing`` is in the row), and the units remaining. The reasons add up to the waterfall; no unit is dropped silently.

Exclusion log
    Beside a ledger, ``<ledger>.exclusions.<ext>`` records (unit, reason) per excluded
    unit, appended when a unit's reason changes (see :func:`exclusions_path`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from uplift.data.facts import Facts, validate
from uplift.data.hashing import canonical_units
from uplift.errors import DataError, SpecError, UserError
from uplift.experiment.ledger import distinct_text, write_table
from uplift.text import text_table

__all__ = [
    "Eligibility",
    "apply_exclusions",
    "check_population",
    "exclusions_path",
    "prepare_exclusion_log",
    "waterfall_text",
    "write_exclusion_log",
]


@dataclass(frozen=True)
class Eligibility:
    """The result of applying the exclusion rules.

    ``eligible``: the rows kept. ``reasons``: unit id -> first matching reason, for
    excluded rows only. ``waterfall``: one row per step, starting with
    ``{"step": "population", "excluded": 0, "remaining": N}``; rule rows also carry
    ``rule`` (the rule as text), ``missing`` (still-eligible rows whose value was
    missing) and ``when_missing`` (whether those were excluded or kept).
    """

    eligible: pd.DataFrame
    reasons: pd.Series
    waterfall: list[dict]
    unit: str = "unit"
    mask: np.ndarray | None = field(default=None, repr=False, compare=False)  # True for kept population rows

    @property
    def population(self) -> int:
        return int(self.waterfall[0]["remaining"])

    @property
    def n_eligible(self) -> int:
        return int(self.waterfall[-1]["remaining"])

    def to_dict(self) -> dict[str, Any]:
        """Aggregates only (no unit ids)."""
        return {
            "population": self.population,
            "eligible": self.n_eligible,
            "excluded": self.population - self.n_eligible,
            "waterfall": [dict(r) for r in self.waterfall],
        }

    def summary(self) -> str:
        """The exclusion waterfall as a text table."""
        return waterfall_text(self.waterfall)


def waterfall_text(waterfall: list[dict]) -> str:
    """An exclusion waterfall (:attr:`Eligibility.waterfall`) as a text table (``assign`` and ``design`` print it)."""
    rows = [("step", "rule", "excluded", "missing", "remaining")]
    for r in waterfall:
        missing = f"{r['missing']:,} {'kept' if r.get('when_missing') == 'keep' else 'excluded'}" \
            if r.get("missing") else ("0" if "missing" in r else "")
        rows.append((str(r["step"]), str(r.get("rule", "")), f"{r['excluded']:,}", missing, f"{r['remaining']:,}"))
    return "Exclusion waterfall (first matching reason wins)\n" + text_table(rows)


def check_population(population: pd.DataFrame, unit: str, label: str = "population") -> None:
    """Raise :class:`DataError` unless ``population`` has a complete, unique unit column."""
    validate(Facts(label, schema={str(c): "" for c in population.columns}))  # e.g. a ';'-separated file
    if unit not in population.columns:
        raise DataError(
            f"{label}: has no unit column '{unit}' (the spec's [experiment] unit); "
            "add the column or set unit to one of the file's columns"
        )
    ids = population[unit]
    if pd.api.types.is_bool_dtype(ids.dtype):
        raise DataError(f"{label}: unit column '{unit}' holds true/false; use customer ids (whole numbers or text)")
    n_missing = int(ids.isna().sum())
    if ids.dtype == object or isinstance(ids.dtype, (pd.StringDtype, pd.CategoricalDtype)):
        n_missing += int((ids.astype("string").str.strip() == "").fillna(False).sum())  # a blank text id is no id
    if n_missing:
        raise DataError(f"{label}: {n_missing:,} of {len(ids):,} rows have no {unit} (unit column '{unit}' is missing or "
                        "blank there); give every row an id or drop those rows")
    try:
        canonical_units(ids)
    except TypeError as exc:
        raise DataError(f"{label}: unit column '{unit}': {exc}; use whole numbers or text as ids") from None
    index = pd.Index(ids)
    if not index.is_unique:
        dup = index[index.duplicated()]
        raise DataError(
            f"{label}: unit column '{unit}' has {len(dup):,} duplicate id(s), e.g. {dup[0]}; "
            "keep one row per unit"
        )


def _rule_text(rule) -> str:
    if rule.op in ("is_null", "not_null"):
        return f"{rule.column} {rule.op}"
    return f"{rule.column} {rule.op} {json.dumps(rule.value)}"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, str)


def _rule_match(col: pd.Series, rule, label: str) -> tuple[np.ndarray, np.ndarray]:
    """(matches, missing) for one rule on one column. A missing value matches when the rule's
    ``when_missing`` is "exclude" and does not when it is "keep" (is_null/not_null test missingness itself)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = pd.Series(col.cat.categories)
        m_cat, _ = _rule_match(cats, rule, label)
        codes = col.cat.codes.to_numpy()
        missing = codes < 0
        match = np.where(missing, rule.when_missing == "exclude", m_cat[np.maximum(codes, 0)] if len(cats) else False)
        if rule.op in ("is_null", "not_null"):
            return (missing if rule.op == "is_null" else ~missing), np.zeros(len(col), bool)
        return match.astype(bool), missing
    missing = col.isna().to_numpy()
    op, value = rule.op, rule.value
    if op == "is_null":
        return missing, np.zeros(len(col), bool)
    if op == "not_null":
        return ~missing, np.zeros(len(col), bool)
    values = value if isinstance(value, list) else [value]
    numeric_col = pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype)
    numeric_val = all(_is_number(v) for v in values)
    text_val = all(isinstance(v, str) for v in values)
    where = f"{label}: [[exclude]] rule '{rule.reason}' ({_rule_text(rule)})"
    if not (numeric_val or text_val):
        raise SpecError(f"{where} mixes numbers and text in value; use one kind")
    if numeric_val and not numeric_col:
        raise DataError(f"{where}: column '{rule.column}' holds text, not numbers; compare it with text values or fix the column")
    if text_val and numeric_col:
        raise DataError(f"{where}: column '{rule.column}' holds numbers, not text; write the value as a number")
    if numeric_col:
        x = col.to_numpy(dtype=float, na_value=np.nan)
        vals = [float(v) for v in values]
        with np.errstate(invalid="ignore"):
            if op == ">":
                m = x > vals[0]
            elif op == ">=":
                m = x >= vals[0]
            elif op == "<":
                m = x < vals[0]
            elif op == "<=":
                m = x <= vals[0]
            elif op == "==":
                m = x == vals[0]
            elif op == "!=":
                m = x != vals[0]
            elif op == "in":
                m = np.isin(x, vals)
            elif op == "not_in":
                m = ~np.isin(x, vals)
            else:  # pragma: no cover - the spec loader checks ops
                raise SpecError(f"{where}: unknown op {op!r}")
    else:
        if op in (">", ">=", "<", "<="):
            raise SpecError(f"{where}: op {op!r} needs a number; use == or in for text")
        s = col.astype(object)
        if op == "==":
            m = (s == values[0]).to_numpy()
        elif op == "!=":
            m = (s != values[0]).to_numpy()
        elif op == "in":
            m = s.isin(values).to_numpy()
        else:
            m = ~s.isin(values).to_numpy()
    m = np.asarray(m, dtype=bool) & ~missing
    return (m | missing if rule.when_missing == "exclude" else m), missing


def apply_exclusions(spec, population: pd.DataFrame, label: str = "population") -> Eligibility:
    """Apply the spec's ``[[exclude]]`` rules in order; the first matching reason wins.

    Returns an :class:`Eligibility` with the kept rows, the reason per excluded unit
    and the waterfall (count per reason, remaining eligible). Raises
    :class:`DataError` for a missing/duplicate unit column or a missing rule column.
    """
    unit = spec.unit
    check_population(population, unit, label)
    n = len(population)
    remaining = np.ones(n, dtype=bool)
    code = np.full(n, -1, dtype=np.int16)
    waterfall: list[dict] = [{"step": "population", "excluded": 0, "remaining": n}]
    for i, rule in enumerate(spec.exclusions):
        if rule.column not in population.columns:
            raise DataError(
                f"{label}: has no column '{rule.column}' used by [[exclude]] rule '{rule.reason}' "
                f"(rule {i + 1}); add the column or fix the rule in {spec.label}"
            )
        match, missing = _rule_match(population[rule.column], rule, label)
        hit = match & remaining
        code[hit] = i
        remaining &= ~hit
        waterfall.append(
            {
                "step": rule.reason,
                "rule": _rule_text(rule),
                "excluded": int(hit.sum()),
                "missing": int((missing & (remaining | hit)).sum()),
                "when_missing": rule.when_missing,
                "remaining": int(remaining.sum()),
            }
        )
    reason_names = _unique([r.reason for r in spec.exclusions])
    rule_to_cat = np.array([reason_names.index(r.reason) for r in spec.exclusions] or [0], dtype=np.int64)
    reasons_cat = pd.Categorical.from_codes(rule_to_cat[code[~remaining]], categories=reason_names or ["none"])
    reasons = pd.Series(reasons_cat, index=pd.Index(population[unit].to_numpy()[~remaining], name=unit), name="reason")
    eligible = population.loc[remaining]
    return Eligibility(eligible=eligible, reasons=reasons, waterfall=waterfall, unit=unit, mask=remaining)


def _unique(xs: list[str]) -> list[str]:
    return list(dict.fromkeys(xs))


def exclusions_path(ledger_path: str | Path) -> Path:
    """Where the per-unit exclusion log of a ledger lives: ``<ledger>.exclusions.<ext>``."""
    p = Path(ledger_path)
    return p.with_name(f"{p.stem}.exclusions{p.suffix}")


def _exclusion_rows(spec, elig: Eligibility, when: str) -> pd.DataFrame:
    n = len(elig.reasons)

    def const(value: str) -> pd.Categorical:
        return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[value])

    reasons = elig.reasons.astype("category")
    return pd.DataFrame(
        {
            "experiment": const(spec.name),
            spec.unit: elig.reasons.index.to_numpy(),
            "reason": pd.Categorical(reasons.to_numpy()),
            "spec_sha256": const(spec.sha256),
            "assessed_at": const(when),
        }
    )


def prepare_exclusion_log(path: Path, spec, elig: Eligibility, when: str) -> tuple[pd.DataFrame | None, int]:
    """The exclusion log after appending (unit, reason) pairs not yet logged with that reason.

    Returns (frame to write or None when nothing changes, rows added).
    """
    unit = spec.unit
    rows = _exclusion_rows(spec, elig, when)
    old = None
    if path.exists():
        try:
            old = pd.read_csv(path, dtype=str, keep_default_na=False) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
        except Exception:
            raise DataError(f"{path}: cannot be read as an exclusion log; restore it or move it away") from None
        cols = ["experiment", unit, "reason", "spec_sha256", "assessed_at"]
        if any(c not in old.columns for c in cols):
            raise DataError(f"{path}: is not an exclusion log for unit '{unit}'; move it away or give another ledger name")
        if len(old) and distinct_text(old["experiment"]) != [spec.name]:
            raise UserError(f"{path}: holds another experiment's exclusions; give this experiment its own ledger file")
        last = old.drop_duplicates(subset=[unit], keep="last")
        if len(rows):
            prev_c = canonical_units(last[unit]) if len(last) else np.zeros(0, dtype=np.int64)
            new_c = canonical_units(rows[unit])
            if (prev_c.dtype.kind in "iu") != (new_c.dtype.kind in "iu"):
                prev_c, new_c = prev_c.astype(str), new_c.astype(str)
            pos = pd.Index(prev_c).get_indexer(new_c)
            old_reason = pd.Categorical(last["reason"])
            cats = list(old_reason.categories.astype(str))
            new_codes = pd.Categorical(rows["reason"].astype(str) if not isinstance(rows["reason"].dtype, pd.CategoricalDtype)
                                       else rows["reason"], categories=cats).codes if cats else np.full(len(rows), -1)
            prev_codes = np.asarray(old_reason.codes)[np.maximum(pos, 0)] if len(last) else np.full(len(rows), -2)
            keep = (pos < 0) | (prev_codes != new_codes)
            rows = rows.loc[keep]
        if len(rows) == 0:
            return None, 0
        if path.suffix.lower() == ".csv":
            rows = rows.astype({unit: str})
        cols = {}
        for c in ("experiment", unit, "reason", "spec_sha256", "assessed_at"):
            if c == unit:
                cols[c] = pd.concat([old[c].reset_index(drop=True), rows[c].reset_index(drop=True)], ignore_index=True)
            else:
                a, b = old[c].astype("category"), rows[c].astype("category")
                a = a.cat.rename_categories([str(v) for v in a.cat.categories])
                b = b.cat.rename_categories([str(v) for v in b.cat.categories])
                cols[c] = pd.Series(union_categoricals([a, b], ignore_order=True))
        out = pd.DataFrame(cols)
    else:
        out = rows
    return out.reset_index(drop=True), int(len(rows))


def write_exclusion_log(path: Path, log: pd.DataFrame) -> None:
    """Write the exclusion log atomically (CSV or Parquet by the file's suffix)."""
    write_table(log, path)
