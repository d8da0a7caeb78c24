"""Time to conversion per customer row: the observed time and what ended it, computed where the rows live.

A proportion metric with a ``time_column`` (:mod:`uplift.spec.schema`) describes each customer by

* ``flag``: converted (1) or not (0) by the data cut;
* ``time``: days from the customer's start to conversion, empty when not converted;
* ``followup``: days the customer has been observed (start to data cut);
* ``competing``: days to an event that ends the chance to convert (closing the relationship), empty when none.

Each row becomes an observed time and a code (the usual competing-risks coding, Kalbfleisch &
Prentice 2002, sec. 8.2): the first of conversion (code :data:`CONVERTED`, at ``time``) and the
competing event (:data:`COMPETING`, at ``competing``; a tie goes to the conversion), else censored
at the follow-up (:data:`CENSORED`). Rows that cannot be read that way get a code of their own, so
that ONE group-by of (arm, time, code) (:func:`uplift.data.collect.incidence_table`) both counts the
life table and finds bad rows, with the same answer on every backend:
:func:`frame_timing` for pandas, :func:`ibis_timing` for an engine (same rules, in that order).

Also per row: ``min(followup, window) / window``, whose mean is the share of the outcome window
observed (maturity).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "BAD_FLAG",
    "BAD_FOLLOWUP",
    "BEYOND_FOLLOWUP",
    "CENSORED",
    "COMPETING",
    "COMPETING_BEYOND_FOLLOWUP",
    "CONVERSION_WITHOUT_TIME",
    "CONVERTED",
    "NEGATIVE",
    "NEGATIVE_COMPETING",
    "NEGATIVE_TIME",
    "TIME_WITHOUT_CONVERSION",
    "frame_timing",
    "ibis_timing",
]

CENSORED, CONVERTED, COMPETING = 0, 1, 2
BAD_FOLLOWUP = 10  # follow-up missing or not finite
NEGATIVE = 11  # negative days of follow-up
NEGATIVE_TIME = 17  # negative days to conversion
NEGATIVE_COMPETING = 18  # negative days to the competing event
BAD_FLAG = 12  # the conversion flag missing or not 0/1
TIME_WITHOUT_CONVERSION = 13
CONVERSION_WITHOUT_TIME = 14
BEYOND_FOLLOWUP = 15  # conversion after the follow-up
COMPETING_BEYOND_FOLLOWUP = 16


def _floats(s: pd.Series) -> np.ndarray:
    return s.to_numpy(dtype=float, na_value=np.nan)


def frame_timing(df: pd.DataFrame, flag: str, time: str, followup: str, competing: str | None,
                 window: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(observed days, code, maturity share) per row of ``df``, by the rules of the module docstring."""
    x, t, f = _floats(df[flag]), _floats(df[time]), _floats(df[followup])
    c = _floats(df[competing]) if competing else np.full(len(df), np.nan)
    has_t, has_c = ~np.isnan(t), ~np.isnan(c)
    with np.errstate(invalid="ignore"):
        first_conv = has_t & (~has_c | (t <= c))
        conditions = [~np.isfinite(f), f < 0, has_t & (t < 0), has_c & (c < 0), ~np.isin(x, (0.0, 1.0)),
                      has_t & (x == 0), ~has_t & (x == 1), has_t & (t > f), has_c & (c > f), first_conv, has_c]
    codes = [BAD_FOLLOWUP, NEGATIVE, NEGATIVE_TIME, NEGATIVE_COMPETING, BAD_FLAG, TIME_WITHOUT_CONVERSION,
             CONVERSION_WITHOUT_TIME, BEYOND_FOLLOWUP, COMPETING_BEYOND_FOLLOWUP, CONVERTED, COMPETING]
    code = np.select(conditions, codes, default=CENSORED).astype(np.int64)
    days = np.select([code >= BAD_FOLLOWUP, code == CONVERTED, code == COMPETING], [0.0, t, c], default=f)
    share = np.where(code >= BAD_FOLLOWUP, 0.0, np.minimum(np.where(np.isfinite(f), f, 0.0), window) / window)
    return days, code, share


def ibis_timing(table: Any, flag: str, time: str, followup: str, competing: str | None,
                window: float) -> tuple[Any, Any, Any]:
    """(observed days, code, maturity share) as Ibis expressions on ``table``: :func:`frame_timing` in the engine."""
    import ibis

    def num(col: str) -> Any:
        v = table[col].cast("float64")
        return ibis.cases((v.isnan(), ibis.null("float64")), else_=v)

    x, t, f = num(flag), num(time), num(followup)
    c = num(competing) if competing else ibis.null("float64")
    has_t, has_c = t.notnull(), c.notnull()
    bad_f = f.isnull() | f.isinf()
    first_conv = has_t & (~has_c | (t <= c))
    code = ibis.cases(
        (bad_f, BAD_FOLLOWUP),
        (f < 0, NEGATIVE),
        (has_t & (t < 0), NEGATIVE_TIME),
        (has_c & (c < 0), NEGATIVE_COMPETING),
        (x.isnull() | ~x.isin([0.0, 1.0]), BAD_FLAG),
        (has_t & (x == 0), TIME_WITHOUT_CONVERSION),
        (~has_t & (x == 1), CONVERSION_WITHOUT_TIME),
        (has_t & (t > f), BEYOND_FOLLOWUP),
        (has_c & (c > f), COMPETING_BEYOND_FOLLOWUP),
        (first_conv, CONVERTED),
        (has_c, COMPETING),
        else_=CENSORED,
    ).cast("int64")
    days = ibis.cases((code >= BAD_FOLLOWUP, 0.0), (code == CONVERTED, t), (code == COMPETING, c), else_=f)
    share = ibis.cases((code >= BAD_FOLLOWUP, 0.0), (f > window, 1.0), else_=f / window)
    return days, code, share
