"""Matplotlib charts of the readout drawn from the results dict: forest plot and funnel.

Every label that can hold user text (arm, segment, metric and stage names) goes through
:func:`uplift.text.chart_label`, so a ``$`` in a name is shown, never parsed as mathtext.

Survival, cumulative value and Qini charts are drawn by their result objects
(:mod:`uplift.clv.analyse`, :mod:`uplift.targeting.analyse`), next to the numbers they fit.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt

from uplift.text import chart_label
from uplift.readout.fonts import chart_fonts
from uplift.text import current_language, t

__all__ = ["style", "forest_plot", "funnel_chart"]

_COLORS = ("#1f4e99", "#d4762c", "#2e8b57", "#8e44ad", "#b03a48")


def style() -> None:
    """Readable-when-printed defaults: white background, DejaVu Sans (with a CJK font after it for a
    Chinese page, :func:`uplift.readout.fonts.chart_fonts`), no top/right spines."""
    fonts = chart_fonts(current_language())
    plt.rcParams.update({
        "figure.dpi": 100, "savefig.dpi": 100, "font.size": 10, "axes.spines.top": False,
        "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3, "figure.facecolor": "white",
        "svg.hashsalt": "uplift", "font.family": "DejaVu Sans" if len(fonts) == 1 else list(fonts),
    })


def forest_plot(rows: Sequence[Mapping[str, Any]], title: str, percent: bool = True, ax=None):
    """Effects with 95% intervals, one line per row (label, abs_effect, abs_ci); zero marked."""
    rows = [r for r in rows if not r.get("suppressed") and r.get("abs_ci")]
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.4))
    scale = 100.0 if percent else 1.0
    for i, r in enumerate(rows):
        y = len(rows) - 1 - i
        lo, hi = r["abs_ci"]
        est = r["abs_effect"]
        color = _COLORS[0] if lo > 0 else (_COLORS[4] if hi < 0 else "#777777")
        ax.plot([lo * scale, hi * scale], [y, y], color=color, lw=2)
        ax.plot([est * scale], [y], "o", color=color)
    ax.axvline(0, color="black", lw=1)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([chart_label(r.get("label", "")) for r in reversed(rows)])
    ax.set_xlabel(t("effect vs control, percentage points") if percent else t("effect vs control"))
    ax.set_title(chart_label(title))
    if fig is not None:
        fig.tight_layout()
    return fig if fig is not None else ax.figure


def funnel_chart(funnel: Mapping[str, Any], ax=None):
    """Rate at each funnel stage per arm (grouped bars, percent), from the results' funnel block."""
    rates = funnel.get("rates") or {}
    stages = list(funnel.get("stages") or next(iter(rates.values()), {}).keys())
    arms = list(rates)
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / max(len(arms), 1)
    for j, arm in enumerate(arms):
        vals = [100 * (rates[arm].get(s) or 0.0) for s in stages]
        xs = [i + (j - (len(arms) - 1) / 2) * width for i in range(len(stages))]
        bars = ax.bar(xs, vals, width=width, label=chart_label(arm), color=_COLORS[j % len(_COLORS)])
        for b, v in zip(bars, vals):
            ax.annotate(f"{v:.1f}%", (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(stages)))
    ax.set_xticklabels([chart_label(s) for s in stages])
    ax.set_ylabel(t("share of customers, %"))
    ax.set_title(t("Funnel: share of customers reaching each stage"))
    ax.legend(frameon=False)
    if fig is not None:
        fig.tight_layout()
    return fig if fig is not None else ax.figure
