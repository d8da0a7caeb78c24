"""The spec's rules that span keys: what no single key's type or range can say (a prior sd without its
mean, looks out of order, a metric's timing columns against the window, ...).

:mod:`uplift.spec.load` calls :func:`check_cross_fields` once every table has passed
:func:`uplift.spec.schema.check_table`; each rule raises a one-line :class:`~uplift.errors.SpecError`
naming the key and the fix.
"""

from __future__ import annotations

import itertools
from typing import Any, Mapping

from uplift.errors import SpecError
from uplift.spec.schema import MAX_ARMS, METRIC_KINDS, key_name

__all__ = ["check_cross_fields", "check_timing"]


def check_cross_fields(label: str, s: dict[str, Any]) -> None:
    """Raise the one-line SpecError of the first cross-key rule the validated sections ``s`` break."""
    exp = s["experiment"]
    a = s.get("assignment")
    if a is not None:
        arms = a["arms"]
        if len(arms) < 2:
            raise SpecError(f"{label}: [assignment] arms has {len(arms)} arm; give a control and at least one offer arm")
        if len(arms) > MAX_ARMS:
            raise SpecError(f"{label}: [assignment] arms has {len(arms):,} arms, more than the maximum of {MAX_ARMS}; "
                            "test fewer arms at a time")
        total = sum(arms.values())
        if abs(total - 1.0) > 1e-9:
            raise SpecError(f"{label}: [assignment] arms weights sum to {total:g}, not 1; make them add up to 1")
        if a["control"] not in arms:
            raise SpecError(
                f"{label}: [assignment] control = {a['control']!r} is not one of the arms "
                f"({', '.join(key_name(x) for x in arms)}); name one of them"
            )
    an = s.get("analysis", {})
    if an and bool(an.get("arm_column")) != bool(an.get("control")):
        raise SpecError(f"{label}: [analysis] needs both arm_column and control, or neither; add the missing one")
    if an and an.get("weights") is not None:
        w = an["weights"]
        if len(w) > MAX_ARMS:
            raise SpecError(f"{label}: [analysis] weights has {len(w):,} arms, more than the maximum of {MAX_ARMS}; "
                            "test fewer arms at a time")
        if abs(sum(w.values()) - 1.0) > 1e-9:
            raise SpecError(f"{label}: [analysis] weights sum to {sum(w.values()):g}, not 1; make them add up to 1")
        if an.get("control") and an["control"] not in w:
            raise SpecError(f"{label}: [analysis] weights has no entry for control {an['control']!r}; add it")
    if an and an.get("decision") == "always-valid" and not an.get("always_valid"):
        raise SpecError(f"{label}: [analysis] decision = \"always-valid\" needs the always-valid intervals; "
                        "add always_valid = true to [analysis]")
    if a is None and not an.get("control"):
        raise SpecError(
            f"{label}: no arms defined; add an [assignment] section, or [analysis] arm_column and control"
        )
    for i, rule in enumerate(s.get("exclude", [])):
        op, value = rule["op"], rule["value"]
        where = f"exclude[{i}]"
        if op in ("is_null", "not_null"):
            if value is not None:
                raise SpecError(f"{label}: [{where}] op = {op!r} takes no value; remove value")
        elif value is None:
            raise SpecError(f"{label}: [{where}] op = {op!r} needs a value; add value = ...")
        elif op in ("in", "not_in") and not isinstance(value, list):
            raise SpecError(f"{label}: [{where}] op = {op!r} needs a list; write value = [..]")
        elif op in (">", ">=", "<", "<=") and (isinstance(value, (bool, list, str))):
            raise SpecError(f"{label}: [{where}] op = {op!r} needs a number; write value = 30")
        elif op in ("==", "!=") and isinstance(value, list):
            raise SpecError(f"{label}: [{where}] op = {op!r} takes one value; use op = \"in\" for a list")
    seen: set[str] = set()
    for section in ("metrics", "guardrails"):
        for i, m in enumerate(s.get(section, [])):
            where = f"{section}[{i}]"
            if m["name"] in seen:
                raise SpecError(f"{label}: [{where}] name = {m['name']!r} is used twice; give each metric its own name")
            seen.add(m["name"])
            takes_denominator = METRIC_KINDS[m["kind"]]
            if takes_denominator and not m["denominator"]:
                raise SpecError(f"{label}: [{where}] kind = {m['kind']!r} needs a denominator; add denominator = \"...\"")
            if not takes_denominator and m["denominator"]:
                with_den = " or ".join(repr(k) for k, d in METRIC_KINDS.items() if d)
                raise SpecError(f"{label}: [{where}] denominator is only for kind = {with_den}; remove it or change kind")
    for i, m in enumerate(s.get("metrics", [])):
        check_timing(label, f"metrics[{i}]", m, exp["data_as_of"])
    if "metrics" in s and s["metrics"] and not any(m["primary"] for m in s["metrics"]):
        raise SpecError(f"{label}: [[metrics]] has no primary metric; set primary = true on one of them")
    f = s.get("funnel")
    if f is not None and len(f["stages"]) < 2:
        raise SpecError(f"{label}: [funnel] stages needs at least two stages, e.g. [\"seen\", \"accepted\"]")
    if f is not None and f["days_columns"]:
        if len(f["days_columns"]) != len(f["stages"]):
            raise SpecError(f"{label}: [funnel] days_columns has {len(f['days_columns'])} columns for {len(f['stages'])} "
                            "stages; give one per stage, in the same order")
        if not f["followup_column"]:
            raise SpecError(f"{label}: [funnel] days_columns needs followup_column, the days each customer has been "
                            "observed, e.g. followup_column = \"days_observed\"")
    c = s.get("clv")
    if c is not None and c["annual_discount_rate"] <= -1:  # pragma: no cover - range check catches it
        raise SpecError(f"{label}: [clv] annual_discount_rate must be above -1")
    d = s.get("design", {})
    if d and d.get("current_look") and d["current_look"] > d["looks"]:
        raise SpecError(f"{label}: [design] current_look = {d['current_look']} exceeds looks = {d['looks']}; raise looks")
    fr = d.get("look_fractions") if d else None
    if fr:
        shown = "[" + ", ".join(f"{v:g}" for v in fr) + "]"
        if len(fr) != d["looks"]:
            raise SpecError(f"{label}: [design] look_fractions = {shown} has {len(fr)} looks but looks = {d['looks']}; "
                            "give one share of the final sample per look")
        if any(not 0 < v <= 1 for v in fr) or abs(fr[-1] - 1) > 1e-12:
            raise SpecError(f"{label}: [design] look_fractions = {shown} must be shares of the final sample in (0, 1] "
                            "ending at 1, e.g. [0.25, 0.5, 1.0]")
        if any(b <= a for a, b in itertools.pairwise(fr)):
            raise SpecError(f"{label}: [design] look_fractions = {shown} is out of order; list the looks in time "
                            "order, each later look with a larger share, e.g. [0.25, 0.5, 1.0]")
    if d and d.get("prior_sd") is not None and d.get("prior_effect") is None:
        raise SpecError(f"{label}: [design] prior_sd needs prior_effect (the prior's mean); add prior_effect, e.g. 0.004")
    if d and d.get("mde_relative") is not None and d.get("mde_absolute") is not None:
        raise SpecError(f"{label}: [design] give mde_relative or mde_absolute, not both; remove one")
    if not exp["name"].replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise SpecError(
            f"{label}: [experiment] name = {exp['name']!r} may hold only letters, digits, '-', '_' and '.'; "
            "it names the report folder"
        )


def check_timing(label: str, where: str, m: Mapping[str, Any], data_as_of: str) -> None:
    """A metric's time-to-conversion keys: time_column and window_days together (followup_column and
    competing_time_column optional), on a proportion metric only. Without followup_column the follow-up
    counts from the ledger's date of assignment to [experiment] data_as_of, which must then be given."""
    keys = ("time_column", "followup_column", "competing_time_column", "window_days")
    given = [k for k in keys if m[k] not in ("", None)]
    if not given:
        return
    if m["kind"] != "proportion":
        raise SpecError(f"{label}: [{where}] {given[0]} is only for kind = 'proportion' (a conversion); "
                        "remove it or change kind")
    for k in ("time_column", "window_days"):
        if m[k] in ("", None):
            example = "90" if k == "window_days" else '"days_to_conversion"'
            raise SpecError(f"{label}: [{where}] {given[0]} needs {k} too; add {k} = {example}")
    if not m["followup_column"] and not data_as_of:
        raise SpecError(f"{label}: [{where}] has no followup_column, so the follow-up counts from each customer's "
                        "assignment to [experiment] data_as_of, which is not set; add data_as_of = \"YYYY-MM-DD\" "
                        "or followup_column = \"days_observed\"")
