"""Methods-appendix entries for conversion timing, funnel days and always-valid monitoring.

:func:`timing_methods` gives the appendix's list items (HTML ``<li>``) for the parts a readout has:
conversions read as a time to conversion (results.json ``conversion_timing``), the days to each
funnel stage (``funnel_days``), always-valid intervals (rows' ``always_valid``, one- or two-sided)
and the look history (``look_history``). Each states the estimator, its variance and its source,
as the modules that compute them do (:mod:`uplift.survival.incidence`, :mod:`uplift.survival.stage_days`,
:mod:`uplift.stats.sequences`, :mod:`uplift.readout.history`). Pure functions of plain dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from uplift.text import t

__all__ = ["timing_methods"]


def timing_methods(r: Mapping[str, Any]) -> list[str]:
    """The appendix items for the timing and monitoring parts present in results ``r``, in the page's language."""
    out: list[str] = []
    blocks = r.get("conversion_timing") or []
    if blocks:
        competing = any(b.get("method") == "Aalen-Johansen" for b in blocks)
        out.append(
            t("<li>Conversion over time: cumulative incidence per arm from a life table censored at each customer's "
              "follow-up; 1 &minus; Kaplan-Meier with Greenwood's variance (Greenwood 1926; Kalbfleisch &amp; Prentice "
              "2002, sec. 1.4)")
            + (t("; with a competing event (closing the relationship), Aalen-Johansen with Collett's delta-method "
                 "variance (Aalen &amp; Johansen 1978; Collett 2015, p. 411)") if competing else "")
            + t(". Bands: pointwise log(&minus;log) intervals. Effect at a horizon: F<sub>arm</sub>(t) &minus; "
                "F<sub>control</sub>(t), variance the sum of the arms' (independent), Wald interval and two-sided "
                "normal p-value. Maturity: mean over customers of min(follow-up, window) / window; below 100% the "
                "estimate at the window assumes censoring independent of the time to conversion.</li>"))
    if r.get("funnel_days"):
        out.append(
            t("<li>Days to each funnel stage: Kaplan-Meier per arm of the days from the customer's start to the stage, "
              "among the customers who reached the stage before, censored at the follow-up; the median is the first "
              "day with S(t) &le; 1/2, its interval read off the pointwise log-log band (Brookmeyer &amp; Crowley "
              "1982); \"not reached\" when fewer than half get there within the follow-up.</li>"))
    rows = [x for x in r.get("metrics") or [] if x.get("always_valid")]
    if rows:
        one_sided = sorted({str(x["always_valid"].get("alternative")) for x in rows} - {"two-sided", "None"})
        out.append(
            t("<li>Always-valid intervals and p-values: normal-mixture confidence sequence and mixture SPRT on each "
              "row's estimate and standard error, mixing variance tuned as GrowthBook documents (Robbins 1970; "
              "Johari et al. 2022; Howard et al. 2021)")
            + (t("; one-sided ({sides}): the mixture over a half-normal on the alternative's side, "
                 "&Lambda; = 2&Phi;(z&radic;(r/(1+r))) &radic;(1/(1+r)) exp(z&sup2;r/(2(1+r))), r = &tau;&sup2;/se&sup2;, "
                 "p = min(1, 1/&Lambda;), the bound solving &Lambda; = 1/&alpha; (Howard et al. 2021, sec. 3.5)",
                 sides=", ".join(t(x) for x in one_sided))
               if one_sided else "")
            + t(". Valid at every look by Ville's inequality.</li>"))
    if r.get("look_history"):
        out.append(
            t("<li>Look history: at each look the intersection of every always-valid interval so far and the smallest "
              "p-value so far (Howard et al. 2021, sec. 3). Looks are taken up to [experiment] end_date plus the "
              "longest outcome window; only the final readout may be dated later.</li>"))
    return out
