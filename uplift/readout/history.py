"""The look history of always-valid monitoring, from the results.json of each weekly readout.

:func:`monitor_history` takes the results of several readouts of one experiment, oldest first, and
gives, per metric row (metric, arm), the running always-valid interval and p-value at each look
(:func:`uplift.stats.sequences.look_history`: the running intersection of the intervals, the running
minimum of the p-values; Howard et al. 2021). It refuses, in one line naming the file: results of
another experiment, rows without an always-valid block, looks out of order (fewer customers, or an
earlier ``data_as_of``, than the look before) and looks whose mixture was tuned differently (the
mixture must be fixed before the first look). Pure functions of plain dicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from uplift.errors import DataError
from uplift.stats.sequences import look_history

__all__ = ["history_text", "monitor_history"]


def _rows(label: str, results: Any) -> list[Mapping[str, Any]]:
    rows = results.get("metrics") if isinstance(results, Mapping) else None
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) and "metric" in r and "arm" in r for r in rows):
        raise DataError(f"{label}: is not the results.json of a readout (no metrics rows); give the results.json "
                        "files `uplift readout` wrote, oldest first")
    for r in rows:
        av = r.get("always_valid")
        if not isinstance(av, Mapping) or not all(k in av for k in ("ci", "p_value", "n", "alpha", "tuning_n")):
            raise DataError(f"{label}: metric '{r['metric']}' (arm {r['arm']}) has no always-valid interval; set "
                            "[analysis] always_valid = true in the spec and read this look out again")
    return rows


def monitor_history(looks: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """``{"experiment", "looks": [{"look", "file", "data_as_of"}], "rows": [{"metric", "arm", "history"}]}``
    from ``(label, results)`` pairs, oldest first (module docstring)."""
    if not looks:
        raise DataError("no results.json given; give the results.json of each look, oldest first")
    first_label, first = looks[0]
    name = first.get("experiment") if isinstance(first, Mapping) else None
    per_look = []
    for label, res in looks:
        rows = _rows(label, res)
        other = res.get("experiment")
        if name is not None and other is not None and other != name:
            raise DataError(f"{label}: experiment '{other}' differs from '{name}' in {first_label}; give the looks "
                            "of one experiment")
        per_look.append({(str(r["metric"]), str(r["arm"])): r for r in rows})
    meta = []
    for k, (label, res) in enumerate(looks, 1):
        as_of = str((res.get("provenance") or {}).get("data_as_of") or "") or None
        meta.append({"look": k, "file": label, "data_as_of": as_of})
    for k in range(1, len(looks)):
        prev, cur = meta[k - 1]["data_as_of"], meta[k]["data_as_of"]
        if prev and cur and cur < prev:
            raise DataError(f"{looks[k][0]}: look {k + 1} has data as of {cur}, before look {k}'s {prev} "
                            f"({looks[k - 1][0]}): the looks are out of order; list the results.json files oldest first")
    out_rows = []
    for key in per_look[-1]:
        seq = [(looks[k][0], p[key]) for k, p in enumerate(per_look) if key in p]
        for j in range(1, len(seq)):
            (pl, pr), (cl, cr) = seq[j - 1], seq[j]
            n0, n1 = pr["always_valid"]["n"], cr["always_valid"]["n"]
            if n1 <= n0:
                raise DataError(f"{cl}: {key[0]} (arm {key[1]}) has {n1:,} customers, not more than the look before "
                                f"({pl}: {n0:,}): the looks are out of order; list the results.json files oldest first")
            for field in ("alpha", "tuning_n"):
                if cr["always_valid"][field] != pr["always_valid"][field]:
                    raise DataError(f"{cl}: the always-valid {field} ({cr['always_valid'][field]}) differs from the look "
                                    f"before ({pl}: {pr['always_valid'][field]}); the mixture is fixed before the first "
                                    "look: read out every look with the same [design] alpha and "
                                    "[analysis] always_valid_tuning_n")
        hist = look_history([r for _, r in seq])
        for h, (label, _) in zip(hist, seq):
            h["file"] = label
        out_rows.append({"metric": key[0], "arm": key[1], "history": hist})
    return {"experiment": name, "looks": meta, "rows": out_rows}


def history_text(h: Mapping[str, Any]) -> str:
    """The history as plain text: per metric row, one line per look."""
    lines = [(f"Always-valid look history of {h.get('experiment') or 'the experiment'} ({len(h['looks'])} looks; "
             "running intersection of the intervals, running minimum of the p-values)")]
    for row in h["rows"]:
        lines.append(f"{row['metric']} (arm {row['arm']}):")
        for x in row["history"]:
            lo, hi = x["ci"]
            lines.append(f"  look {x['look']:>2}  n {x['n']:>9,}  effect {x['estimate']:+.6g}  "
                         f"always-valid [{lo:+.6g}, {hi:+.6g}]  p {x['p_value']:.3g}  ({x['file']})")
    return "\n".join(lines)
