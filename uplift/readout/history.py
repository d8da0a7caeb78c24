"""The look history of always-valid monitoring, from the results.json of each weekly readout.

:func:`monitor_history` takes the results of several readouts of one experiment, oldest first, and
gives, per metric row (metric, arm), the running always-valid interval and p-value at each look
(:func:`uplift.stats.sequences.look_history`: the running intersection of the intervals, the running
minimum of the p-values; Howard et al. 2021). It refuses, in one line naming the file: results of
another experiment, rows without an always-valid block, looks out of order (fewer customers, or an
earlier ``data_as_of``, than the look before) and looks whose mixture was tuned differently (the
mixture must be fixed before the first look), and a look after the end (below). Pure functions of plain dicts.

**A look after the end.** Monitoring looks are taken while the campaign's outcomes can still arrive:
up to ``[experiment] end_date`` plus the longest outcome window (``window_days`` of the timed metrics;
0 without one), :func:`last_look_date`. Only the last look of a history (the final readout) may be
dated later: outcomes keep landing after the end (the demo reads out 12-month outcomes), and the final
readout closes the history. An earlier look dated after that limit is refused in one line, since it
is a readout of a finished campaign listed as a look (a wrong file or a wrong data_as_of).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from uplift.errors import DataError
from uplift.stats.sequences import look_history

__all__ = ["history_text", "last_look_date", "monitor_history", "results_end"]


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


def last_look_date(end_date: str, window_days: int) -> str | None:
    """``end_date + window_days`` as ISO text: the last day a monitoring look may be dated (module
    docstring); None when there is no (readable) end date."""
    try:
        end = date.fromisoformat(str(end_date or "")[:10])
    except ValueError:
        return None
    return (end + timedelta(days=int(window_days or 0))).isoformat()


def results_end(results: Mapping[str, Any]) -> tuple[str, int]:
    """(``[experiment] end_date``, the longest outcome window in days) recorded in one results.json:
    ``provenance.end_date`` and the ``window_days`` of its ``conversion_timing`` blocks (0 without)."""
    end = str((results.get("provenance") or {}).get("end_date") or "")
    windows = [int(b.get("window_days") or 0) for b in results.get("conversion_timing") or [] if isinstance(b, Mapping)]
    return end, max(windows, default=0)


def _check_dates(looks: Sequence[tuple[str, Mapping[str, Any]]], meta: list[dict[str, Any]], end_date: str,
                 window_days: int, final_may_be_late: bool) -> None:
    limit = last_look_date(end_date, window_days)
    if limit is None:
        return
    window = f" + the {window_days}-day outcome window" if window_days else ""
    for k, m in enumerate(meta[:-1] if final_may_be_late else meta):
        if m["data_as_of"] and m["data_as_of"][:10] > limit:
            raise DataError(f"{looks[k][0]}: look {k + 1} has data as of {m['data_as_of']}, after [experiment] end_date "
                            f"{end_date}{window} ({limit}); only the final readout may come later: drop this file "
                            "from the looks or fix its data_as_of")


def monitor_history(looks: Sequence[tuple[str, Mapping[str, Any]]], end_date: str | None = None,
                    window_days: int | None = None, final_may_be_late: bool = True) -> dict[str, Any]:
    """``{"experiment", "looks": [{"look", "file", "data_as_of"}], "rows": [{"metric", "arm", "history"}]}``
    from ``(label, results)`` pairs, oldest first (module docstring). ``end_date`` / ``window_days``
    default to what the last look's results.json records (:func:`results_end`); with
    ``final_may_be_late=False`` the last look, too, must be dated within them."""
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
    recorded_end, recorded_window = results_end(looks[-1][1])
    _check_dates(looks, meta, recorded_end if end_date is None else end_date,
                 recorded_window if window_days is None else window_days, final_may_be_late)
    out_rows = []
    for key in per_look[-1]:
        seq = [(looks[k][0], p[key]) for k, p in enumerate(per_look) if key in p]
        for j in range(1, len(seq)):
            (pl, pr), (cl, cr) = seq[j - 1], seq[j]
            n0, n1 = pr["always_valid"]["n"], cr["always_valid"]["n"]
            if n1 <= n0:
                raise DataError(f"{cl}: {key[0]} (arm {key[1]}) has {n1:,} customers, not more than the look before "
                                f"({pl}: {n0:,}): the looks are out of order; list the results.json files oldest first")
            for field in ("alpha", "tuning_n", "alternative"):
                if cr["always_valid"].get(field, "two-sided") != pr["always_valid"].get(field, "two-sided"):
                    raise DataError(f"{cl}: the always-valid {field} ({cr['always_valid'].get(field, 'two-sided')}) differs from the look "
                                    f"before ({pl}: {pr['always_valid'].get(field, 'two-sided')}); the mixture is fixed before the first "
                                    "look: read out every look with the same [design] alpha, [design] alternative "
                                    "and [analysis] always_valid_tuning_n")
        hist = look_history([r for _, r in seq])
        for h, (label, _) in zip(hist, seq):
            h["file"] = label
        out_rows.append({"metric": key[0], "arm": key[1], "history": hist})
    return {"experiment": name, "looks": meta, "rows": out_rows}


def history_text(h: Mapping[str, Any]) -> str:
    """The history as plain text: per metric row, one line per look."""
    n = len(h["looks"])
    lines = [(f"Always-valid look history of {h.get('experiment') or 'the experiment'} ({n} look{'' if n == 1 else 's'}; "
             "running intersection of the intervals, running minimum of the p-values)")]
    for row in h["rows"]:
        lines.append(f"{row['metric']} (arm {row['arm']}):")
        for x in row["history"]:
            lo, hi = (float(default) if v is None else v for v, default in zip(x["ci"], ("-inf", "inf")))
            lines.append(f"  look {x['look']:>2}  n {x['n']:>9,}  effect {x['estimate']:+.6g}  "
                         f"always-valid [{lo:+.6g}, {hi:+.6g}]  p {x['p_value']:.3g}  ({x['file']})")
    return "\n".join(lines)
