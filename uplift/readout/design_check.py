"""The readout against its design: the design's hash and the deviations from it (results.json ``design``).

The design is the design.json that ``uplift design --out`` wrote, named by ``[population] design``
(its ``plan`` and ``design_sha256``: :mod:`uplift.experiment.design_plan`). The readout

* shows ``design_sha256`` and checks it is the SHA-256 of the recorded plan (else design.json was
  edited after the design);
* **sizes**: each arm's analysed units against its planned units; an arm below
  (1 - :data:`SIZE_TOLERANCE`) of its plan is flagged, with the primary metric's power at the
  target effect at the actual sizes (:func:`uplift.experiment.power.power_at`, the design's own
  formula and inputs). The split itself is the sample-ratio check's job; this is the count;
* **dates**: the spec's ``[experiment] start_date`` / ``end_date`` against the planned ones, and the
  ledger's first and last ``assigned_at`` against the planned window;
* **metrics**: the primary metrics, the other metrics, the guardrails, the arms and the ``[design]``
  table of the spec now against the plan (:func:`uplift.experiment.design_plan.spec_plan`), each
  change named.

A missing or unreadable design.json is one line naming the file and the fix, before anything is written
(:func:`read_design`, called by :func:`uplift.readout.render.load_inputs`).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from uplift.errors import DataError, UserError
from uplift.experiment.design_plan import plan_sha256, spec_plan
from uplift.experiment.power import power_at
from uplift.text import N_, Msg, localize, t

__all__ = ["SIZE_TOLERANCE", "design_box", "design_check", "read_design"]

SIZE_TOLERANCE = 0.02
"""An arm with fewer than 98% of its planned units is flagged as short of plan."""

_E = html.escape


def read_design(spec: Any) -> tuple[Path, dict[str, Any]] | None:
    """(path, design dict) of ``[population] design``; None when the spec names none. One-line
    :class:`DataError` for a missing file, a file that is not JSON, or one without a plan."""
    path = spec.input_path(None, "population", "design")
    if path is None:
        return None
    fix = "run `uplift design SPEC --out DIR` and set [population] design = \"DIR/design.json\", or remove the key"
    if not path.is_file():
        raise DataError(f"{path}: [population] design file not found; {fix}")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise DataError(f"{path}: [population] design is not a design.json (not JSON); {fix}") from None
    if not isinstance(d, dict) or not isinstance(d.get("plan"), dict) or not d.get("design_sha256"):
        raise DataError(f"{path}: [population] design has no plan and design_sha256 (written before designs were "
                        f"recorded, or another file); {fix}")
    return path, d


def _assigned_dates(ledger: Any, experiment: str) -> tuple[str, str] | None:
    """First and last ``assigned_at`` of the experiment's rows in the ledger (a path or a frame)."""
    if ledger is None:
        return None
    if isinstance(ledger, pd.DataFrame):
        frame = ledger
    else:
        from uplift.data.files import resolve_files

        files, fmt = resolve_files(Path(ledger), None, str(ledger))
        parts = []
        for f in files:
            cols = pd.read_parquet(f).columns if fmt == "parquet" else pd.read_csv(f, nrows=0).columns
            if "assigned_at" not in cols:
                return None
            use = [c for c in ("experiment", "assigned_at") if c in cols]
            parts.append(pd.read_parquet(f, columns=use) if fmt == "parquet" else
                         pd.read_csv(f, usecols=use, dtype=str, keep_default_na=False))
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if "assigned_at" not in frame.columns:
        return None
    if "experiment" in frame.columns:
        frame = frame[frame["experiment"].astype(str) == experiment]
    dates = sorted(str(x) for x in frame["assigned_at"].dropna().unique() if str(x) and str(x) != "unspecified")
    return (dates[0], dates[-1]) if dates else None


_CHECKS = (N_("hash"), N_("sizes"), N_("dates"), N_("metrics"))  # the checks' names, translated where shown


def _joined(parts: list[Msg]) -> Msg:
    """Catalogued sentences joined with "; " (each still translated where shown)."""
    out = parts[0]
    for p in parts[1:]:
        out = Msg("{first}; {second}", first=out, second=p)
    return out


def _describe(m: Mapping[str, Any]) -> Msg:
    col = m["column"] + (f" / {m['denominator']}" if m.get("denominator") else "")
    if m.get("margin") is not None:
        return Msg("{name} ({kind} of {column}, margin {margin:g})", name=m["name"], kind=Msg(m["kind"]), column=col,
                   margin=m["margin"])
    return Msg("{name} ({kind} of {column})", name=m["name"], kind=Msg(m["kind"]), column=col)


def _changes(what: Msg, before: list[Mapping[str, Any]], now: list[Mapping[str, Any]]) -> list[Msg]:
    """The named differences between two lists of metric records."""
    b, n = {m["name"]: m for m in before}, {m["name"]: m for m in now}
    out = [Msg("{what} {metric} removed", what=what, metric=_describe(b[k])) for k in b if k not in n]
    out += [Msg("{what} {metric} added", what=what, metric=_describe(n[k])) for k in n if k not in b]
    out += [Msg("{what} changed: planned {before}, now {now}", what=what, before=_describe(b[k]), now=_describe(n[k]))
            for k in b if k in n and b[k] != n[k]]
    return out


def design_check(spec: Any, arms: Mapping[str, int], ledger: Any = None) -> dict[str, Any] | None:
    """The design block of results.json (module docstring); None when the spec names no design."""
    found = read_design(spec)
    if found is None:
        return None
    path, d = found
    plan = d["plan"]
    recorded = str(d["design_sha256"])
    intact = plan_sha256(plan) == recorded
    now = spec_plan(spec)
    checks: list[dict[str, Any]] = []

    def add(check: str, flagged: bool, text: Msg) -> None:
        checks.append({"check": check, "flagged": bool(flagged), "text": text})

    add("hash", not intact, Msg("design {hash}: {state}", hash=recorded[:12],
                                state=Msg("the plan in design.json matches its hash") if intact else
                                Msg("design.json was edited after the design (its plan no longer has this hash)")))
    # sizes
    planned = {str(a): int(n) for a, n in (plan.get("n_per_arm") or {}).items()}
    rows = []
    for a, n_plan in planned.items():
        got = int(arms.get(a, 0))
        short = got < (1 - SIZE_TOLERANCE) * n_plan
        rows.append({"arm": a, "planned": n_plan, "actual": got, "share_of_plan": got / n_plan if n_plan else None,
                     "flagged": bool(short)})
    p = plan.get("primary") or {}
    control = plan.get("control") or ""
    power_now = None
    offers = [r for r in rows if r["arm"] != control]
    if p.get("effect") is not None and control in arms and offers and all(r["actual"] > 0 for r in rows):
        try:
            power_now = min(power_at(p["effect"], arms[control], r["actual"], kind=p["kind"], baseline=p.get("baseline"),
                                     sd=p.get("sd"), alpha=plan["alpha_per_comparison"], alternative=plan["alternative"])
                            for r in offers)
        except (UserError, ValueError, ZeroDivisionError):
            power_now = None
    short = [r for r in rows if r["flagged"]]
    sizes = (Msg("{arms} (short of plan)", arms=_joined([
        Msg("{arm} has {actual:,} units, {share:.0%} of the planned {planned:,}", arm=r["arm"], actual=r["actual"],
            share=r["share_of_plan"], planned=r["planned"]) for r in short])) if short else
        Msg("every arm has at least its planned units ({arms})",
            arms=", ".join(f"{r['arm']} {r['actual']:,}/{r['planned']:,}" for r in rows)))
    add("sizes", bool(short),
        Msg("{sizes}; power at the target effect with these units {power:.0%} (planned {target:.0%})", sizes=sizes,
            power=power_now, target=plan["power_target"]) if power_now is not None else sizes)
    # dates
    date_notes = [Msg("[experiment] {key} was {before} at the design, now {now}", key=k, before=plan.get(k) or Msg("unset"),
                      now=now[k] or Msg("unset"))
                  for k in ("start_date", "end_date") if (plan.get(k) or "") != (now[k] or "")]
    assigned = _assigned_dates(ledger, spec.name)
    if assigned is not None:
        first, last = assigned
        if plan.get("start_date") and first < plan["start_date"]:
            date_notes.append(Msg("the ledger's first assignment {first} is before the planned start {start}", first=first,
                                  start=plan["start_date"]))
        if plan.get("end_date") and last > plan["end_date"]:
            date_notes.append(Msg("the ledger's last assignment {last} is after the planned end {end}", last=last,
                                  end=plan["end_date"]))
    add("dates", bool(date_notes), _joined(date_notes) if date_notes else
        Msg("as planned ({start} to {end}{assigned})", start=plan.get("start_date") or Msg("no start date"),
            end=plan.get("end_date") or Msg("no end date"),
            assigned=Msg("; assigned {first} to {last}", first=assigned[0], last=assigned[1]) if assigned else ""))
    # metrics, guardrails, arms, design table
    prim = _changes(Msg("primary metric"), [m for m in plan.get("metrics", []) if m.get("primary")],
                    [m for m in now["metrics"] if m.get("primary")])
    other = _changes(Msg("metric"), [m for m in plan.get("metrics", []) if not m.get("primary")],
                     [m for m in now["metrics"] if not m.get("primary")])
    guard = _changes(Msg("guardrail"), plan.get("guardrails", []), now["guardrails"])
    setup: list[Msg] = []
    if plan.get("arms") != now["arms"] or plan.get("control") != now["control"]:
        setup.append(Msg("arms were {before} (control {control_before}), now {now} (control {control_now})",
                         before=plan.get("arms"), control_before=plan.get("control"), now=now["arms"],
                         control_now=now["control"]))
    if plan.get("design") != now["design"]:
        keys = sorted(k for k in set(plan.get("design") or {}) | set(now["design"])
                      if (plan.get("design") or {}).get(k) != now["design"].get(k))
        setup.append(Msg("[design] {changes}", changes=", ".join(f"{k} {(plan.get('design') or {}).get(k)} -> "
                                                                 f"{now['design'].get(k)}" for k in keys)))
    changed = prim + other + guard + setup
    add("metrics", bool(changed), Msg("{changes} since the design", changes=_joined(changed)) if changed else
        Msg("the metrics, guardrails, arms and [design] are those of the design"))
    flagged = [c for c in checks if c["flagged"]]
    return {
        "file": path.name, "design_sha256": recorded, "plan_intact": intact,
        "spec_plan_sha256": plan_sha256(now),
        "arms": rows, "power_at_actual": power_now, "size_tolerance": SIZE_TOLERANCE,
        "assigned_from": assigned[0] if assigned else None, "assigned_to": assigned[1] if assigned else None,
        "checks": checks, "flagged": bool(flagged),
        "summary": (Msg("{n} deviation(s) from the design: {checks}", n=len(flagged),
                        checks=_joined([Msg(c["check"]) for c in flagged])) if flagged else Msg("as designed")),
    }


def design_box(r: Mapping[str, Any]) -> str:
    """The page's small Design box: the design's hash and each check, flagged ones first."""
    from uplift.readout.report import box

    d = r.get("design")
    if not d:
        return ""
    items = sorted(d["checks"], key=lambda c: not c["flagged"])
    body = ("<p>" + t("Design <code>{hash}</code> ({file}).", hash=_E(d['design_sha256']), file=_E(d['file'])) + "</p><ul>"
            + "".join(f"<li>{'&#9888; ' if c['flagged'] else ''}<b>{_E(t(c['check']))}</b>: {_E(localize(c['text']))}</li>"
                      for c in items) + "</ul>")
    return box("warn" if d["flagged"] else "good", _E(t("Design: {summary}", summary=localize(d["summary"]))), body)
