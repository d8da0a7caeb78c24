"""A campaign inside a programme: ``uplift assign`` with the global holdout and the contact policy,
and the registry's record of every assignment and readout.

For a spec with ``[experiment] programme`` (or ``registry``), :func:`assign_campaign` holds the
registry's lock for the whole run (read the other campaigns' ledgers, assign, write the ledger,
record), so two campaigns assigned at once take turns and the second sees the first's contacts.
Inside it, the assignment gets extra exclusion rules, in this order in the waterfall:
``global_holdout`` first (:mod:`uplift.programme.holdout`), then the spec's own ``[[exclude]]``
rules, then the contact rules (:mod:`uplift.programme.contact`). A spec without either key takes
the usual path and nothing here runs.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from uplift.data.files import file_sha256
from uplift.data.writes import LOCK_WAIT
from uplift.errors import SpecError, UserError
from uplift.experiment.assign import Assignment, assign_to_ledger
from uplift.experiment.ledger import read_ledger
from uplift.programme.contact import CONTACT_REASONS, contact_flags, contact_history
from uplift.programme.holdout import HOLDOUT_REASON, holdout_mask
from uplift.programme.registry import append_entries, check_header, open_registry, programme_header, registry_lock
from uplift.spec.programme import ProgrammeSpec, load_programme
from uplift.spec.settings import RuleSpec

__all__ = ["programme_of", "registry_of", "assign_campaign", "record_readout", "in_programme", "expected_header",
           "registry_prior", "prior_summary", "check_registry"]

_COLUMN = "programme:{}"


def in_programme(spec) -> bool:
    """True when the spec names a programme or a registry (the programme path of ``assign``)."""
    return bool(spec.experiment.programme or spec.experiment.registry)


def programme_of(spec) -> ProgrammeSpec | None:
    """The programme spec named by ``[experiment] programme`` (resolved against the spec's folder), or None."""
    if not spec.experiment.programme:
        return None
    p = load_programme(spec.resolve(spec.experiment.programme))
    if p.programme.unit != spec.unit:
        raise SpecError(f"{spec.label}: [experiment] unit = {spec.unit!r}, but programme {p.name!r} counts units "
                        f"by {p.programme.unit!r}; use the programme's unit")
    if spec.assignment is not None and spec.assignment.salt == p.programme.salt:
        raise SpecError(f"{spec.label}: [assignment] salt is the programme's holdout salt, so arms would follow the "
                        "holdout's hash; give the campaign its own salt")
    return p


def registry_of(spec, programme: ProgrammeSpec | None) -> Path:
    """``[experiment] registry`` (resolved against the spec's folder), else the programme's registry."""
    if spec.experiment.registry:
        return spec.resolve(spec.experiment.registry)
    assert programme is not None
    return programme.registry_path


def expected_header(programme: ProgrammeSpec | None, unit: str) -> dict[str, Any]:
    """The registry header a campaign expects (a campaign without a programme: programme "")."""
    if programme is None:
        return {"programme": "", "unit": unit}
    s = programme.programme
    return programme_header(s.name, s.unit, s.salt, s.holdout_share, s.start_date)


def _day(spec, assigned_at: str | None) -> _dt.date:
    value = assigned_at or spec.experiment.start_date
    try:
        return _dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise UserError(f"{spec.label}: a campaign in a programme needs its date: set [experiment] start_date "
                        "(YYYY-MM-DD) or pass --assigned-at") from None


def _rules(programme: ProgrammeSpec) -> tuple[list[RuleSpec], list[RuleSpec]]:
    """(before the spec's rules, after them): the holdout, then the contact rules switched on."""
    def rule(reason: str, words: str) -> RuleSpec:
        return RuleSpec(reason=reason, column=_COLUMN.format(reason), op="==", value=1, description=words,
                        when_missing="exclude")
    c = programme.contact
    on = {"complaint_cooloff": bool(c.cooloff_days and c.complaint_column), "contact_min_days": bool(c.min_days_between),
          "contact_max_offers": bool(c.max_offers)}
    after = [rule(r, f"programme {programme.name}: contact policy") for r in CONTACT_REASONS if on[r]]
    return [rule(HOLDOUT_REASON, f"programme {programme.name}: global holdout")], after


def assign_campaign(spec, population_path: str | Path, ledger_path: str | Path, assigned_at: str | None = None,
                    exclusions: str | Path | None = None, wait: float = LOCK_WAIT) -> Assignment:
    """``uplift assign`` for a campaign of a programme (see the module docstring); records the
    assignment in the registry. Nothing is written when a check fails."""
    programme = programme_of(spec)
    reg_path = registry_of(spec, programme)
    ledger_path = Path(ledger_path)
    with registry_lock(reg_path, wait):
        registry = open_registry(reg_path, must_exist=False)
        header = expected_header(programme, spec.unit)
        check_header(registry, header, spec.label)
        adjust = None
        if programme is not None:
            day = _day(spec, assigned_at)
            if day < _dt.date.fromisoformat(programme.programme.start_date):
                raise UserError(f"{spec.label}: the campaign's date {day} is before programme {programme.name!r} "
                                f"starts ({programme.programme.start_date}); date it in the programme")
            history = contact_history(registry, spec.unit, skip=spec.name)
            _refuse_contacted_holdout(spec, programme, ledger_path)
            before, after = _rules(programme)

            def adjust(s, population: pd.DataFrame):
                extra = {HOLDOUT_REASON: holdout_mask(population[s.unit], programme.programme.salt,
                                                      programme.programme.holdout_share)}
                extra.update(contact_flags(population, s.unit, history, day, programme.contact, str(population_path)))
                cols = {_COLUMN.format(r): m.astype(np.int8) for r, m in extra.items()}
                return (dataclasses.replace(s, exclusions=(*before, *s.exclusions, *after)),
                        population.assign(**cols))
        result = assign_to_ledger(spec, population_path, ledger_path, assigned_at=assigned_at, exclusions=exclusions,
                                  wait=wait, adjust=adjust)
        entry = {"kind": "assignment", "experiment": spec.name, "spec_sha256": spec.sha256,
                 "assigned_at": result.assigned_at, "start_date": spec.experiment.start_date,
                 "end_date": spec.experiment.end_date, "product": spec.experiment.target_product,
                 "unit": spec.unit, "control": spec.control, "arms": result.counts(),
                 "ledger": os.path.relpath(ledger_path.resolve(), Path(reg_path).resolve()), "ledger_sha256": file_sha256(ledger_path),
                 "excluded": {w["step"]: w["excluded"] for w in result.eligibility.waterfall[1:]}}
        added = append_entries(registry, header, [entry])
    return Assignment(**{**result.__dict__, "extra": {**result.extra, "registry": str(reg_path),
                                                      "registry_entries_added": added}})


def _refuse_contacted_holdout(spec, programme: ProgrammeSpec, ledger_path: Path) -> None:
    """A ledger that already puts holdout units in an offer arm would contact them: refused."""
    old = read_ledger(ledger_path, spec.unit)
    if old is None or not len(old):
        return
    treated = old.loc[old["arm"].astype(str) != spec.control, spec.unit]
    hit = holdout_mask(treated, programme.programme.salt, programme.programme.holdout_share)
    if hit.any():
        raise UserError(f"{ledger_path}: puts {int(hit.sum()):,} unit(s) of programme {programme.name!r}'s global "
                        f"holdout in an offer arm, e.g. {treated.iloc[int(np.argmax(hit))]}; the campaign would contact "
                        "them: assign it to a new ledger inside the programme")


def record_readout(spec, results: Mapping[str, Any], wait: float = LOCK_WAIT) -> int:
    """Record a campaign readout's key results (its primary metrics' effects) in its registry."""
    programme = programme_of(spec)
    reg_path = registry_of(spec, programme)
    z = _z(float(spec.analysis.confidence))
    effects = []
    for row in results.get("metrics", []):
        if not row.get("primary"):
            continue
        ci = row.get("abs_ci") or [None, None]
        se = row.get("abs_se")
        if se is None and None not in ci:
            se = (ci[1] - ci[0]) / (2 * z)
        effects.append({"metric": row["metric"], "kind": row.get("kind"), "arm": row["arm"], "n_arm": row["n_arm"],
                        "n_control": row["n_control"], "mean_control": row["mean_control"],
                        "abs_effect": row["abs_effect"], "abs_se": se, "abs_ci": ci, "p_value": row["p_value"]})
    entry = {"kind": "readout", "experiment": spec.name, "spec_sha256": spec.sha256,
             "data_sha256": results.get("data_sha256"), "data_as_of": spec.experiment.data_as_of,
             "product": spec.experiment.target_product, "effects": effects,
             "decision": (results.get("decision") or {}).get("verdict") if isinstance(results.get("decision"), dict) else None}
    with registry_lock(reg_path, wait):
        registry = open_registry(reg_path, must_exist=False)
        header = expected_header(programme, spec.unit)
        check_header(registry, header, spec.label)
        return append_entries(registry, header, [entry])


def _z(confidence: float) -> float:
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return z if math.isfinite(z) else 1.96


def registry_prior(spec, design: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`uplift.programme.priors.design_prior` from the spec's registry (``uplift design --prior-from-registry``)."""
    from uplift.programme.priors import design_prior

    if not in_programme(spec):
        raise UserError(f"{spec.label}: --prior-from-registry needs [experiment] programme or registry naming "
                        "where past campaigns are recorded")
    programme = programme_of(spec)
    return design_prior(spec, design, open_registry(registry_of(spec, programme)))


def prior_summary(p: Mapping[str, Any]) -> str:
    """The prior's lines under ``uplift design``'s summary."""
    lines = [f"Prior from the registry ({len(p['campaigns'])} past campaign(s) on {p['product'] or 'any product'}): "
             f"effect {p['prior_mean']:+.4f} (sd {p['prior_sd']:.4f}; tau2 {p['tau2']:.3g})",
             f"chance to detect (assurance, power averaged over the prior): {p['assurance']:.1%}",
             f"expected incremental conversions: {p['incremental_conversions']:,.1f} "
             f"({p['incremental_conversions_interval'][0]:,.1f} to {p['incremental_conversions_interval'][1]:,.1f})"]
    if "incremental_profit" in p:
        lo, hi = sorted(p["incremental_profit_interval"])
        lines.append(f"expected incremental profit: {p['incremental_profit']:,.0f} ({lo:,.0f} to {hi:,.0f})")
    return "\n".join(lines)


def check_registry(spec) -> None:
    """Refuse, before any output is written, a registry of another programme or a changed holdout."""
    programme = programme_of(spec)
    registry = open_registry(registry_of(spec, programme), must_exist=False)
    check_header(registry, expected_header(programme, spec.unit), spec.label)
