"""A guardrail's verdict from one comparison: the non-inferiority test and the three states.

* Non-inferiority - one-sided test of ``H0: harm >= margin`` (Wellek 2010, ch. 1; ICH E9):
  for bad_direction "increase" ``z = (d - margin)/se``, ``p = F(z)``; "decrease"
  ``z = (d + margin)/se``, ``p = 1 - F(z)``; F the comparison's reference distribution
  (t with its df, else normal). When the comparison's headline interval is Newcombe's (a
  proportion with fewer than 5 successes or failures in an arm, see
  :func:`uplift.stats.compare.compare_proportions`) the Wald standard error is unreliable, so
  the verdict is read from the Newcombe interval at level ``1 - 2 alpha`` instead (its bound on
  the harmful side must lie inside the margin; the test inverted from that interval).
* States (:func:`guardrail_state`): **failed** - not shown non-inferior at the margin;
  **watch** - shown non-inferior, but the two-sided interval excludes 0 on the harmful side
  (a significant harm that stays inside the margin); **passed** - otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from uplift.results import jsonable
from uplift.stats.compare import Comparison, newcombe_interval
from uplift.stats import distributions as st  # scipy.stats' normal, t, chi2 without importing it
from uplift.text import Msg


__all__ = ["GUARDRAIL_STATES", "NonInferiority", "guardrail_state", "noninferiority"]

GUARDRAIL_STATES = ("failed", "watch", "passed")


@dataclass(frozen=True)
class NonInferiority:
    """A guardrail's non-inferiority test. ``non_inferior`` is the verdict used by the decision rule."""

    margin: float | None
    bad_direction: str
    statistic: float | None
    p_value: float | None
    alpha: float
    non_inferior: bool
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "margin": jsonable(self.margin),
            "bad_direction": self.bad_direction,
            "statistic_noninferiority": jsonable(self.statistic),
            "p_value_noninferiority": jsonable(self.p_value),
            "alpha_noninferiority": self.alpha,
            "non_inferior": bool(self.non_inferior),
            "method_noninferiority": self.method,
        }


def noninferiority(
    comparison: Comparison, margin: float | None, bad_direction: str = "increase", alpha: float = 0.025
) -> NonInferiority:
    """One-sided non-inferiority test of a guardrail (e.g. Wellek 2010, ch. 1; ICH E9).

    bad_direction "increase": ``H0: d >= margin`` vs ``H1: d < margin``, ``z = (d - margin)/se``,
    ``p = F(z)``; "decrease": ``H0: d <= -margin``, ``z = (d + margin)/se``, ``p = 1 - F(z)``.
    F is the comparison's reference distribution (t with its df, else normal). Non-inferior
    when ``p < alpha`` (one-sided; the default 0.025 is the two-sided 95% interval's upper
    bound lying below the margin). A proportion whose headline interval is Newcombe's is judged
    by the Newcombe interval at level ``1 - 2 alpha`` (no p-value). Without a margin there is
    no non-inferiority test: the guardrail fails only if the two-sided interval lies wholly on
    the bad side of 0.
    """
    if bad_direction not in ("increase", "decrease"):
        raise ValueError("bad_direction must be 'increase' or 'decrease'")
    d, se = comparison.estimate, comparison.se
    if margin is None:
        lo, hi = comparison.ci
        harmed = lo > 0 if bad_direction == "increase" else hi < 0
        return NonInferiority(None, bad_direction, None, None, alpha, not harmed,
                              Msg("no margin set: fails only if the interval lies wholly on the bad side of 0"))
    if comparison.details.get("ci_method") == "newcombe":
        n1, n0 = comparison.n_treatment, comparison.n_control
        lo, hi = newcombe_interval(comparison.mean_treatment * n1, n1, comparison.mean_control * n0, n0, 1 - 2 * alpha)
        ok = hi < margin if bad_direction == "increase" else lo > -margin
        return NonInferiority(
            margin, bad_direction, None, None, alpha, ok,
            Msg("few events: non-inferior if the {level:.0%} Newcombe interval's harmful bound lies inside the margin "
                "{margin:g}", level=1 - 2 * alpha, margin=margin))
    cdf = (lambda z: st.t.cdf(z, comparison.df)) if comparison.df is not None else st.norm.cdf
    if bad_direction == "increase":
        z = (d - margin) / se if se > 0 else (-math.inf if d < margin else math.inf)
        p = float(cdf(z))
    else:
        z = (d + margin) / se if se > 0 else (math.inf if d > -margin else -math.inf)
        p = float(1 - cdf(z))
    return NonInferiority(
        margin, bad_direction, float(z), p, alpha, p < alpha,
        Msg("one-sided non-inferiority test, H0: harm >= margin {margin:g}; non-inferior if p < {alpha:g}", margin=margin,
            alpha=alpha),
    )


def guardrail_state(comparison: Comparison, test: NonInferiority) -> str:
    """"failed" (not shown non-inferior), "watch" (non-inferior, but the two-sided interval
    excludes 0 on the harmful side: significant harm inside the margin) or "passed"."""
    if not test.non_inferior:
        return "failed"
    lo, hi = comparison.ci
    harmed = lo > 0 if test.bad_direction == "increase" else hi < 0
    return "watch" if harmed else "passed"
