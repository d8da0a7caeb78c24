"""The always-valid look history inside a readout: ``uplift readout --history EARLIER.json ...``.

The earlier looks are the results.json files of earlier readouts of the same experiment, oldest
first; the readout being made is the last look. :func:`readout_history` hands all of them to
:func:`uplift.readout.history.monitor_history` (the same running intersection of always-valid
intervals and running minimum of p-values as ``uplift monitor``; Howard et al. 2021), with the
spec's ``[experiment] end_date`` and longest outcome window for the rule on looks after the end
(:mod:`uplift.readout.history`). results.json carries the result as ``look_history``; the page shows
it as a chart and a table per metric row (:func:`history_chart`, :func:`history_section`), both
drawn from that block.

:func:`load_looks` reads the files (one line naming the file when one cannot be read) and
:func:`check_earlier` checks the earlier looks on their own before anything is rendered: each one
has always-valid rows, they are in order, and none is dated after the end (the readout being made
may be: it is the final look).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from uplift.errors import DataError
from uplift.readout.history import monitor_history
from uplift.spec import Spec
from uplift.text import chart_label

__all__ = ["THIS_READOUT", "check_earlier", "history_chart", "history_section", "is_rate", "load_looks",
           "readout_history", "spec_window"]

THIS_READOUT = "this readout"
"""The label of the readout being made, the last look of its history."""

_E = html.escape


def load_looks(paths: Sequence[str | Path]) -> list[tuple[str, dict[str, Any]]]:
    """``(label, results)`` per results.json, in the order given; one line naming the file when it is
    missing or not JSON."""
    looks = []
    for name in paths:
        path = Path(name)
        if not path.is_file():
            raise DataError(f"{name}: results file not found; give the results.json of each look, oldest first")
        try:
            looks.append((str(name), json.loads(path.read_text(encoding="utf-8"))))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise DataError(f"{name}: is not a JSON file; give the results.json `uplift readout` wrote") from None
    return looks


def spec_window(spec: Spec) -> int:
    """The longest outcome window of the spec's timed metrics, in days (0 without one)."""
    return max((int(m.window_days or 0) for m in spec.metrics if m.timed), default=0)


def check_earlier(spec: Spec, earlier: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    """The earlier looks on their own (module docstring): refused in one line before anything is written.
    A spec without ``[analysis] always_valid = true`` has no look history to extend."""
    if not earlier:
        return
    if not spec.analysis.always_valid:
        raise DataError(f"{spec.label}: --history needs always-valid intervals; set [analysis] always_valid = true "
                        "(and read the earlier looks out with it)")
    # every earlier look is a monitoring look: none may be dated after the end, the last one included
    monitor_history(list(earlier), spec.experiment.end_date, spec_window(spec), final_may_be_late=False)


def readout_history(spec: Spec, earlier: Sequence[tuple[str, Mapping[str, Any]]],
                    results: Mapping[str, Any]) -> dict[str, Any]:
    """The look history with this readout's ``results`` as the last look (module docstring)."""
    return monitor_history([*earlier, (THIS_READOUT, results)], spec.experiment.end_date, spec_window(spec))


def _fmt(x: Any, rate: bool) -> str:
    if x is None:
        return "&mdash;"
    return f"{100 * x:+.2f} pp" if rate else f"{x:+,.4g}"


def _interval(ci: Sequence[Any], rate: bool) -> str:
    lo, hi = ci
    left = "(&minus;&infin;" if lo is None else f"[{_fmt(lo, rate)}"
    right = "+&infin;)" if hi is None else f"{_fmt(hi, rate)}]"
    return f"{left}, {right}"


def is_rate(results: Mapping[str, Any], metric: str) -> bool:
    """True when the results' rows show ``metric`` as a rate (percentage points)."""
    return any(r.get("metric") == metric and r.get("display") == "rate" for r in results.get("metrics") or [])


def history_chart(block: Mapping[str, Any], row: Mapping[str, Any], rate: bool) -> Any:
    """One metric row: the estimate at each look and the running always-valid interval as a bar,
    0 marked (an open end of a one-sided interval is drawn to the edge)."""
    import matplotlib.pyplot as plt

    hist = row["history"]
    scale = 100.0 if rate else 1.0
    x = [h["look"] for h in hist]
    est = [scale * h["estimate"] for h in hist]
    finite = [scale * v for h in hist for v in (*h["ci"], h["estimate"]) if v is not None]
    span = (max(finite) - min(finite)) or 1.0
    lo = [scale * h["ci"][0] if h["ci"][0] is not None else min(finite) - 0.1 * span for h in hist]
    hi = [scale * h["ci"][1] if h["ci"][1] is not None else max(finite) + 0.1 * span for h in hist]
    fig, ax = plt.subplots(figsize=(8, 3.4))
    ax.vlines(x, lo, hi, color="#1f4e99", linewidth=4, alpha=0.45, label="always-valid interval (running)")
    ax.plot(x, est, "o", color="#1f4e99", label="estimate at the look")
    ax.axhline(0, color="#555555", linewidth=1, linestyle="--")
    ax.set_xticks(x)
    ax.set_xticklabels([str((block["looks"][k - 1] or {}).get("data_as_of") or k)[:10] for k in x], rotation=0, fontsize=8)
    ax.set_xlabel("look (data as of)")
    ax.set_ylabel("effect (pp)" if rate else "effect")
    ax.set_title(chart_label(f"{row['metric']} (arm {row['arm']}): always-valid interval at each look"))
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def history_section(block: Mapping[str, Any], results: Mapping[str, Any]) -> str:
    """One table per metric row: look, file, data as of, customers, estimate, running always-valid
    interval and p-value."""
    out = [f"<p>{len(block['looks'])} looks, oldest first; this readout is the last. At each look the interval is "
           "the intersection of every always-valid interval so far and the p-value the smallest so far: both stay "
           "valid however often the campaign was looked at.</p>"]
    for row in block["rows"]:
        rate = is_rate(results, row["metric"])
        body = [[str(h["look"]), _E(str(h.get("file", ""))),
                 _E(str((block["looks"][h["look"] - 1] or {}).get("data_as_of") or "")), f"{h['n']:,}",
                 _fmt(h["estimate"], rate), _interval(h["ci"], rate), f"{h['p_value']:.3g}"] for h in row["history"]]
        head = "".join(f"<th>{c}</th>" for c in ("Look", "File", "Data as of", "Customers", "Estimate",
                                                 "Always-valid interval (running)", "Always-valid p (running)"))
        cells = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in body)
        out.append(f"<h4>{_E(str(row['metric']))} (arm {_E(str(row['arm']))})</h4>"
                   f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
    return "".join(out)
