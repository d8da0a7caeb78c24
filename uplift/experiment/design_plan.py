"""The design's record: what the readout later checks the test against, and its hash.

``uplift design --out DIR`` writes ``plan`` and ``design_sha256`` into design.json. The plan is the
spec's design-relevant part -- the arms and control, ``[experiment]`` start and end dates, the
``[design]`` table, each metric's and guardrail's name, kind, column(s), primary flag and margin
(:func:`spec_plan`) -- plus the planned units per arm and the primary metric's inputs for power
(baseline, sd, target effect, alpha per comparison; :func:`design_plan`). ``design_sha256`` is the
SHA-256 of the plan's canonical JSON (keys sorted, no spaces, UTF-8; :func:`plan_sha256`), so two
designs with the same plan have the same hash on any machine, and an edit of design.json after the
design shows as a hash that no longer matches its plan.

The whole spec file is hashed elsewhere (the ledger's ``spec_sha256``); that hash changes with any
edit, a comment included. The plan's hash changes only with what the design depends on, and the
readout compares the plan field by field (:mod:`uplift.readout.design_check`), so it can say *what*
changed: the primary metric, a guardrail, the dates or the sizes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from uplift.results import jsonable

__all__ = ["design_plan", "design_record", "plan_sha256", "spec_plan"]


def _metric(m: Any) -> dict[str, Any]:
    out = {"name": m.name, "kind": m.kind, "column": m.column, "denominator": m.denominator}
    if m.is_guardrail:
        out.update(bad_direction=m.bad_direction, margin=m.margin)
    else:
        out.update(primary=bool(m.primary), window_days=m.window_days)
    return out


def spec_plan(spec: Any) -> dict[str, Any]:
    """The spec's design-relevant part as plain JSON values (module docstring)."""
    e = spec.experiment
    return jsonable({
        "experiment": spec.name,
        "arms": dict(spec.arms or {}),
        "control": spec.control or "",
        "start_date": e.start_date,
        "end_date": e.end_date,
        "design": dataclasses.asdict(spec.design),
        "metrics": [_metric(m) for m in spec.metrics],
        "guardrails": [_metric(g) for g in spec.guardrails],
    })


def design_plan(spec: Any, design: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`spec_plan` plus the planned units per arm and the primary metric's power inputs, from the
    design dict (:meth:`uplift.experiment.design_result.DesignResult.to_dict`)."""
    top = design["metrics"][0]
    return jsonable({
        **spec_plan(spec),
        "n_per_arm": dict(design["n_per_arm"]),
        "primary": {"name": top["name"], "kind": top["kind"], "baseline": top["baseline"], "sd": top["sd"],
                    "effect": top["effect"]},
        "alpha_per_comparison": design["alpha_per_comparison"],
        "alternative": design["alternative"],
        "power_target": design["power_target"],
    })


def plan_sha256(plan: Mapping[str, Any]) -> str:
    """SHA-256 of the plan's canonical JSON: ``json.dumps(plan, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` encoded as UTF-8."""
    text = json.dumps(plan, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def design_record(spec: Any, result: Any) -> dict[str, Any]:
    """design.json: the design dict (``result.to_dict()``) with its ``plan`` and ``design_sha256``."""
    data = result.to_dict()
    data["plan"] = design_plan(spec, data)
    data["design_sha256"] = plan_sha256(data["plan"])
    return data
