"""Deterministic salted-hash assignment of the eligible units, appended to the ledger.

Eligibility comes first (:mod:`uplift.experiment.exclusions`: the rules, a reason per
excluded unit, the waterfall); this module assigns the units that remain.

Assignment (Kohavi, Tang & Xu 2020, *Trustworthy Online Controlled Experiments*, ch. 4 and 21)
    h(u) = first 8 bytes of SHA-256(utf8(salt + ":" + canonical(u))) as an unsigned
    big-endian integer, bucket(u) = h(u) / 2**64 (see :mod:`uplift.data.hashing`).

    * Without stratification, arm k takes the buckets in
      [w_1 + ... + w_{k-1}, w_1 + ... + w_k): a pure function of (salt, unit), the
      same in pandas, DuckDB or Spark.
    * With ``stratify = [...]``, units are assigned in each stratum with exact
      counts (complete randomisation within strata): the target count of arm k in a
      stratum of T units is the largest-remainder (Hamilton) apportionment of
      w_k * T (ties to the arm listed first); the units still to assign are sorted
      by h(u) and the first n_1 get arm 1, the next n_2 arm 2, ... Sorting by a
      salted hash is a uniformly random permutation, so every subset of the target
      size is equally likely to form each arm. The result depends only on the
      salt, the set of unit ids in the stratum and the ledger, so it is the same on
      any machine and can be reproduced in SQL with ``row_number() over
      (partition by stratum order by h)``.

Append-only ledger
    Units already in the ledger keep their arm. Units new to the population are
    assigned as above; in a stratified design the new units' counts are chosen so
    that the stratum's totals (old + new) come as close to the weights as the old
    units allow. A ledger assigned under a different salt, arms, weights, control or
    stratification is refused.

``assigned_at``: the ``assigned_at`` argument (CLI ``--assigned-at``), else the spec's
``[experiment] start_date``, else ``"unspecified"``. Never the wall clock, so two runs
on the same input give byte-identical ledgers.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from uplift.data.collect import id_facts
from uplift.data.facts import LEDGER_COLUMNS, Facts, validate
from uplift.data.files import read_table
from uplift.data.writes import LOCK_WAIT, commit_files, ledger_lock, real_path, refuse_inputs
from uplift.data.hashing import canonical_units, hash64
from uplift.data.source import open_source
from uplift.errors import DataError, SpecError, UserError
from uplift.experiment.checks import SRMResult, sample_ratio_mismatch
from uplift.experiment.exclusions import (
    Eligibility, apply_exclusions, exclusions_path, prepare_exclusion_log,
)
from uplift.experiment.ledger import (
    assignment_config, concat_ledgers, distinct_text, empty_ledger, ledger_columns, normalise, read_ledger, ledger_writer, table_writer,
)
from uplift.spec.record import check_recorded
from uplift.text import text_table

__all__ = [
    "Assignment",
    "assign",
    "assign_to_ledger",
    "largest_remainder",
]

_SCALE = float(2**64)


@dataclass(frozen=True)
class Assignment:
    """The ledger after an assignment run, and what the run did.

    ``ledger``: every row (earlier rows first, unchanged; then the rows added by this
    run, sorted by unit id). ``added``: rows added by this run. ``eligibility``: the
    exclusion result on the population. ``already_assigned_now_excluded``: units in
    the ledger that a rule now excludes (they keep their arm; the ledger is
    append-only).
    """

    ledger: pd.DataFrame
    added: int
    eligibility: Eligibility
    experiment: str
    unit: str
    weights: Mapping[str, float]
    control: str
    stratify: tuple[str, ...]
    assigned_at: str
    already_assigned: int = 0
    already_assigned_now_excluded: int = 0
    in_ledger_not_in_population: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Units per arm in the whole ledger."""
        vc = self.ledger["arm"].value_counts()
        return {a: int(vc.get(a, 0)) for a in self.weights}

    def counts_by_stratum(self) -> dict[str, dict[str, int]]:
        """Units per arm within each stratum (whole ledger)."""
        counts = _counts_by(self.ledger)
        strata = sorted({s for s, _ in counts})
        return {s: {a: counts.get((s, a), 0) for a in self.weights} for s in strata}

    def srm(self, threshold: float = 0.001) -> SRMResult:
        """Sample-ratio check of the whole ledger against the designed weights."""
        return sample_ratio_mismatch(self.counts(), self.weights, threshold=threshold)

    def to_dict(self) -> dict[str, Any]:
        """Aggregates only (no unit ids)."""
        return {
            "experiment": self.experiment,
            "unit": self.unit,
            "weights": dict(self.weights),
            "control": self.control,
            "stratify": list(self.stratify),
            "method": _method(self.stratify),
            "assigned_at": self.assigned_at,
            "added": self.added,
            "ledger_rows": int(len(self.ledger)),
            "already_assigned": self.already_assigned,
            "already_assigned_now_excluded": self.already_assigned_now_excluded,
            "in_ledger_not_in_population": self.in_ledger_not_in_population,
            "counts": self.counts(),
            "counts_by_stratum": self.counts_by_stratum() if self.stratify else {},
            "srm": self.srm().to_dict(),
            "eligibility": self.eligibility.to_dict(),
            **dict(self.extra),
        }

    def summary(self) -> str:
        """Waterfall, counts per arm, and the SRM check, as text."""
        lines = [self.eligibility.summary(), ""]
        lines.append(f"Assignment of experiment '{self.experiment}' ({_method(self.stratify)})")
        lines.append(
            f"added {self.added:,} unit(s); {self.already_assigned:,} already in the ledger keep their arm; "
            f"ledger now holds {len(self.ledger):,}"
        )
        if self.already_assigned_now_excluded:
            lines.append(
                f"note: {self.already_assigned_now_excluded:,} unit(s) already assigned are now excluded by a rule; "
                "they keep their arm in the ledger: check them before contact"
            )
        if self.in_ledger_not_in_population:
            lines.append(f"note: {self.in_ledger_not_in_population:,} ledger unit(s) are not in this population")
        total = max(len(self.ledger), 1)
        rows = [("arm", "weight", "units", "share")]
        for a, w in self.weights.items():
            c = self.counts()[a]
            rows.append((a, f"{w:g}", f"{c:,}", f"{c / total:.4f}"))
        lines.append(text_table(rows))
        lines.append(self.srm().summary())
        return "\n".join(lines)


def _method(stratify) -> str:
    if stratify:
        return (
            "salted SHA-256 hash; exact counts within strata of " + ", ".join(stratify)
            + " (largest-remainder targets, units ordered by hash)"
        )
    return "salted SHA-256 hash cut at the cumulative weights"


def largest_remainder(total: int, weights: list[float]) -> np.ndarray:
    """Integer counts summing to ``total`` closest to ``w_k * total / sum(w)`` (Hamilton's method).

    Each arm gets floor(q_k); the remaining units go to the largest remainders
    q_k - floor(q_k), ties to the arm listed first.
    """
    w = np.asarray(weights, dtype=float)
    q = w / w.sum() * total
    base = np.floor(q).astype(np.int64)
    left = int(total - base.sum())
    if left > 0:
        order = sorted(range(len(w)), key=lambda k: (-(q[k] - base[k]), k))
        for k in order[:left]:
            base[k] += 1
    return base


def _strata(frame: pd.DataFrame, stratify: list[str]) -> tuple[np.ndarray, list[str]]:
    """(code per row, label per code). Labels are ``col=value|col=value``; missing values read ``<missing>``."""
    if not stratify:
        return np.zeros(len(frame), dtype=np.int64), ["all"]
    parts = []
    for c in stratify:
        col = frame[c]
        codes, uniques = pd.factorize(col, sort=False, use_na_sentinel=True)
        text = [f"{c}={u}" for u in uniques] + [f"{c}=<missing>"]
        parts.append((np.where(codes < 0, len(uniques), codes), text))
    # combine into labels via the per-column text, then factorise the labels' integer tuple
    combo = np.zeros(len(frame), dtype=np.int64)
    mult = 1
    for codes, text in parts:
        combo = combo + codes.astype(np.int64) * mult
        mult *= len(text)
    inv, u = pd.factorize(combo, sort=False)  # O(n); the numbering does not matter, only the labels
    labels = []
    for val in u:
        pieces = []
        v = int(val)
        for codes, text in parts:
            pieces.append(text[v % len(text)])
            v //= len(text)
        labels.append("|".join(pieces))
    return np.asarray(inv, dtype=np.int64), labels


def _keys(values: np.ndarray) -> np.ndarray:
    """Comparable keys of canonical unit ids (ints stay ints, everything else text)."""
    return values.astype(str) if values.dtype.kind not in "iu" else values


def _validate_ledger(ledger: pd.DataFrame, spec, config: str, label: str) -> None:
    unit = spec.unit
    missing = [c for c in ledger_columns(unit) if c not in ledger.columns]
    if missing:
        raise DataError(f"{label}: is not a ledger for unit '{unit}' (missing {', '.join(missing)}); give this experiment's ledger")
    if len(ledger) == 0:
        return
    exps = distinct_text(ledger["experiment"])
    if exps != [spec.name]:
        raise UserError(
            f"{label}: holds experiment {', '.join(repr(e) for e in exps)}, not {spec.name!r}; "
            "give this experiment its own ledger file"
        )
    check_recorded(distinct_text(ledger["assignment_config"]), config, label, spec.name)
    arms = set(distinct_text(ledger["arm"]))
    unknown = arms - set(spec.arms)
    if unknown:
        raise DataError(f"{label}: has arm(s) {', '.join(sorted(unknown))} not in the spec; the ledger does not match the spec")
    if not pd.Index(ledger[unit]).is_unique:
        raise DataError(f"{label}: lists a unit twice; the ledger is corrupt, restore it from a backup")


def _resolve_assigned_at(spec, assigned_at: str | None) -> str:
    value = assigned_at or spec.experiment.start_date or "unspecified"
    if value != "unspecified":
        try:
            _dt.datetime.fromisoformat(value)
        except ValueError:
            raise UserError(
                f"assigned_at {value!r} is not an ISO date; write it as YYYY-MM-DD (e.g. 2026-01-05)"
            ) from None
    return value


def assign(
    spec,
    population: pd.DataFrame,
    ledger: pd.DataFrame | None = None,
    assigned_at: str | None = None,
    label: str = "population",
    ledger_label: str = "ledger",
) -> Assignment:
    """Apply the exclusions, then assign every eligible unit not yet in ``ledger`` to an arm.

    See the module docstring for the hash, the stratified exact-count rule and the
    append-only behaviour. Returns an :class:`Assignment` whose ``ledger`` is the old
    ledger (unchanged) followed by the new rows sorted by unit id.
    """
    a = spec.assignment
    if a is None:
        raise SpecError(f"{spec.label}: has no [assignment] section; add salt, arms and control to assign units")
    unit = spec.unit
    weights = dict(spec.arms)
    stratify = list(a.stratify)
    config = assignment_config(a.salt, weights, spec.control, stratify, unit)
    when = _resolve_assigned_at(spec, assigned_at)

    elig = _eligible_units(spec, population, stratify, label)
    old = empty_ledger(unit) if ledger is None else ledger
    _validate_ledger(old, spec, config, ledger_label)
    old = normalise(old, unit)
    known = _known_units(population, elig, old, unit)

    new_rows = elig.eligible.loc[~known.in_ledger]
    new_ids = known.eligible_ids[~known.in_ledger]
    codes, labels = _strata(new_rows, stratify)
    arm_idx = _choose_arms(hash64(new_ids, a.salt), codes, labels, new_ids, old, weights, bool(stratify))
    units = _like_ledger(new_rows[unit], new_ids, old[unit], label, ledger_label)
    new = _ledger_rows(spec, units, new_ids, arm_idx, codes, labels, config, when)
    if len(old) and len(new) == 0:
        full = old
    elif len(old):
        full = concat_ledgers(old, new, unit)
    else:
        full = normalise(new, unit)
    return Assignment(
        ledger=full,
        added=int(len(new)),
        eligibility=elig,
        experiment=spec.name,
        unit=unit,
        weights=weights,
        control=spec.control,
        stratify=tuple(stratify),
        assigned_at=when,
        already_assigned=int(known.in_ledger.sum()),
        already_assigned_now_excluded=known.now_excluded,
        in_ledger_not_in_population=known.not_in_population,
    )


def _eligible_units(spec, population: pd.DataFrame, stratify: list[str], label: str) -> Eligibility:
    """The exclusions applied; refuses an empty population, nothing eligible, or a missing stratum column."""
    if len(population) == 0:
        raise DataError(f"{label}: the population has no rows; give a population with at least one unit")
    theirs = tuple((c, "a column of the population") for c in map(str, population.columns) if c in LEDGER_COLUMNS)
    # the unit's name and spelling here; missing and duplicate ids are refused by the exclusions step
    validate(Facts(label, reserved=((spec.unit, "[experiment] unit"), *theirs)))
    if spec.unit in population.columns:
        validate(id_facts(open_source(population, label=label, engine="pandas"), spec.unit))
    elig = apply_exclusions(spec, population, label=label)
    if len(elig.eligible) == 0:
        steps = ", ".join(f"{w['step']} {w['excluded']:,}" for w in elig.waterfall[1:] if w["excluded"])
        raise UserError(
            f"{spec.label}: every one of the {len(population):,} units is excluded ({steps}); "
            "check the [[exclude]] rules: nothing to assign"
        )
    for c in stratify:
        if c not in population.columns:
            raise DataError(
                f"{label}: has no column '{c}' named in [assignment] stratify; add the column or remove it from stratify"
            )
    return elig


@dataclass(frozen=True)
class _KnownUnits:
    """The eligible units' canonical ids, which of them the ledger already holds, and two counts
    about the ledger's units (now excluded by a rule; absent from this population)."""

    eligible_ids: np.ndarray
    in_ledger: np.ndarray
    now_excluded: int
    not_in_population: int


def _known_units(population: pd.DataFrame, elig: Eligibility, old: pd.DataFrame, unit: str) -> _KnownUnits:
    eligible_ids = canonical_units(elig.eligible[unit])
    if not len(old):
        return _KnownUnits(eligible_ids, np.zeros(len(eligible_ids), bool), 0, 0)
    all_ids = canonical_units(population[unit])
    old_ids = canonical_units(old[unit])
    if (eligible_ids.dtype.kind in "iu") != (old_ids.dtype.kind in "iu"):
        elig_keys, old_keys, all_keys = eligible_ids.astype(str), old_ids.astype(str), all_ids.astype(str)
    else:
        elig_keys, old_keys, all_keys = _keys(eligible_ids), _keys(old_ids), _keys(all_ids)
    # membership tests build one hash table each (cheaper than get_indexer on millions of ids)
    in_ledger = pd.Series(elig_keys).isin(old_keys).to_numpy() if len(elig_keys) else np.zeros(0, bool)
    old_s = pd.Series(old_keys)
    now_excluded = int(old_s.isin(all_keys[~elig.mask]).sum())
    not_in_population = int((~old_s.isin(all_keys)).sum())
    return _KnownUnits(eligible_ids, in_ledger, now_excluded, not_in_population)


def _like_ledger(units: pd.Series, ids: np.ndarray, old: pd.Series, label: str, ledger_label: str) -> np.ndarray:
    """The new rows' unit ids in the type of the ledger's (one column never mixes whole numbers and
    text): text ids for a text ledger; whole numbers for a whole-number ledger when every new id is
    the decimal text of one (``17``, not ``017``), else a one-line error."""
    if not len(old) or not len(units):
        return units.to_numpy()
    old_numeric = pd.api.types.is_integer_dtype(old.dtype)
    if ids.dtype.kind in "iu":
        return units.to_numpy() if old_numeric else ids.astype(str).astype(object)
    if not old_numeric:
        return units.to_numpy()
    text = pd.Series(ids, dtype=object).astype(str)
    plain = text.str.fullmatch(r"-?(0|[1-9][0-9]{0,17})")
    if not plain.all():
        raise DataError(f"{label}: unit id {text[~plain].iloc[0]!r} is not a whole number, but {ledger_label} holds "
                        "whole-number ids; give the ids as the ledger has them (a leading zero makes another id)")
    return text.astype(np.int64).to_numpy()


def _choose_arms(
    h: np.ndarray, codes: np.ndarray, labels: list[str], ids: np.ndarray, old: pd.DataFrame,
    weights: Mapping[str, float], stratified: bool,
) -> np.ndarray:
    """Arm index per new unit: the hash cut at the cumulative weights, or (stratified) exact counts
    per stratum given to the units in hash order (see the module docstring)."""
    arm_names = list(weights)
    w = [weights[x] for x in arm_names]
    if not stratified:
        return _cut(h / _SCALE, w)
    arm_idx = np.empty(len(h), dtype=np.int64)
    old_counts = _old_counts(old, labels, arm_names) if len(old) else np.zeros((len(labels), len(arm_names)), np.int64)
    order = np.lexsort((h, codes))
    _break_ties(order, h, codes, ids)
    bounds = np.searchsorted(codes[order], np.arange(len(labels) + 1))
    for s in range(len(labels)):
        lo, hi = bounds[s], bounds[s + 1]
        if hi == lo:
            continue
        need = _need(old_counts[s], hi - lo, w)
        arm_idx[order[lo:hi]] = np.repeat(np.arange(len(arm_names)), need)
    return arm_idx


def _ledger_rows(
    spec, units: np.ndarray, ids: np.ndarray, arm_idx: np.ndarray, codes: np.ndarray, labels: list[str],
    config: str, when: str,
) -> pd.DataFrame:
    """The new ledger rows, sorted by unit id; text columns are categoricals (one category each)."""
    n = len(units)

    def const(value: str) -> pd.Categorical:
        return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[value])

    new = pd.DataFrame(
        {
            "experiment": const(spec.name),
            spec.unit: units,
            "arm": pd.Categorical.from_codes(arm_idx, categories=list(spec.arms)),
            "stratum": pd.Categorical.from_codes(codes, categories=labels),
            "spec_sha256": const(spec.sha256),
            "assignment_config": const(config),
            "assigned_at": const(when),
        }
    )
    perm = np.argsort(_keys(ids), kind="stable")
    if not (perm[1:] > perm[:-1]).all():  # already in unit order: skip the copy
        new = new.iloc[perm]
    return new


def _cut(b: np.ndarray, weights: list[float]) -> np.ndarray:
    edges = np.cumsum(weights)
    edges[-1] = 1.0 + 1e-12
    return np.searchsorted(edges, b, side="right").astype(np.int64)


def _counts_by(frame: pd.DataFrame) -> dict[tuple[str, str], int]:
    """(stratum, arm) -> units, grouping on the categoricals (no per-row text)."""
    size = frame.groupby(["stratum", "arm"], observed=True, sort=False).size()
    return {(str(s), str(a)): int(v) for (s, a), v in size.items()}


def _old_counts(old: pd.DataFrame, labels: list[str], arms: list[str]) -> np.ndarray:
    counts = _counts_by(old)
    out = np.zeros((len(labels), len(arms)), dtype=np.int64)
    for i, s in enumerate(labels):
        for k, a in enumerate(arms):
            out[i, k] = counts.get((s, a), 0)
    return out


def _need(old: np.ndarray, n_new: int, weights: list[float]) -> np.ndarray:
    """Counts per arm for ``n_new`` new units so that old + new is closest to the weights."""
    target = largest_remainder(int(old.sum()) + n_new, weights)
    need = np.maximum(target - old, 0)
    if need.sum() != n_new:  # some arm already over its target: share n_new in proportion to the deficits
        need = largest_remainder(n_new, need.astype(float).tolist()) if need.sum() > 0 else largest_remainder(n_new, weights)
    return need


def _break_ties(order: np.ndarray, h: np.ndarray, codes: np.ndarray, canon: np.ndarray) -> None:
    """Order units with equal hash (p ~ n^2 / 2**65) by canonical id, so input row order never matters."""
    if len(order) < 2:
        return
    hs, cs = h[order], codes[order]
    same = (hs[1:] == hs[:-1]) & (cs[1:] == cs[:-1])
    if not same.any():
        return
    keys = _keys(canon)
    sub = np.lexsort((keys[order].astype(str), hs, cs))
    order[:] = order[sub]


def assign_to_ledger(
    spec,
    population_path: str | Path,
    ledger_path: str | Path,
    assigned_at: str | None = None,
    exclusions: str | Path | None = None,
    wait: float = LOCK_WAIT,
    adjust: Callable[[Any, pd.DataFrame], tuple[Any, pd.DataFrame]] | None = None,
) -> Assignment:
    """Read the population, assign, and append the new rows to the ledger file atomically.

    ``adjust(spec, population) -> (spec, population)``, when given, runs on the population just read
    (a programme adds its holdout and contact-policy rules, :mod:`uplift.programme.campaign`).

    The ledger's lock (:func:`uplift.data.writes.ledger_lock`, waiting up to ``wait`` seconds for
    another run) is held from reading the ledger to renaming it, so concurrent runs append in
    turn and none loses rows. The ledger is rewritten only if rows were added, so re-running the
    same spec on the same population leaves the file byte-identical. The per-unit exclusion
    reasons are appended to ``exclusions`` (default :func:`exclusions_path`) when they change.
    The exclusion log and the ledger are replaced together or not at all
    (:func:`uplift.data.writes.commit_files`); nothing is written if any check fails.
    """
    population = read_table(population_path, what="population", text_columns=(spec.unit,))
    if adjust is not None:
        spec, population = adjust(spec, population)
    ledger_path = Path(ledger_path)
    log = Path(exclusions) if exclusions else exclusions_path(ledger_path)
    if log.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise UserError(f"{log}: unknown exclusion-log type; name it .parquet or .csv")
    if real_path(log) == real_path(ledger_path):
        raise UserError(f"{log}: the exclusion log cannot be the ledger itself; give another file name")
    for out, flag in ((ledger_path, "--ledger"), (log, "--exclusions")):
        refuse_inputs(out, {"--population": population_path}, flag)
    with ledger_lock(ledger_path, wait):
        old = read_ledger(ledger_path, spec.unit)
        result = assign(
            spec, population, old, assigned_at=assigned_at, label=str(population_path), ledger_label=str(ledger_path)
        )
        log_frame, added_excl = prepare_exclusion_log(log, spec, result.eligibility, result.assigned_at)
        # every check passed: the exclusion log and the ledger (the record of arms, renamed last) as one unit
        writes = [] if log_frame is None else [(log, table_writer(log_frame, log))]
        if result.added or old is None:
            if old is not None and len(old):
                _assert_prefix(old, result.ledger, spec.unit)
            writes.append((ledger_path, ledger_writer(result.ledger, ledger_path, spec.unit)))
        commit_files(writes)
    return Assignment(
        **{**result.__dict__, "extra": {"ledger_path": str(ledger_path), "exclusions_path": str(log),
                                        "exclusions_logged": added_excl}}
    )


def _assert_prefix(old: pd.DataFrame, new: pd.DataFrame, unit: str) -> None:
    """The new ledger starts with the old one, unchanged (append-only)."""
    head = new.iloc[: len(old)]
    for c in ledger_columns(unit):
        if not np.array_equal(head[c].astype(object).to_numpy(), old[c].astype(object).to_numpy()):
            raise RuntimeError(f"internal error: ledger column {c} would change; nothing written")  # pragma: no cover


