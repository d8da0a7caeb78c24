"""The programme's global holdout: a stable share of units no campaign contacts.

A unit is in the holdout when its salted hash bucket is below the share (the hash of
:func:`uplift.data.hashing.hash64`, as campaign assignment uses; Kohavi, Tang & Xu 2020, ch. 4):

    bucket(u) = first 8 bytes of SHA-256(utf8(salt + ":" + canonical(u))) / 2**64,
    holdout(u) = bucket(u) < holdout_share.

A pure function of (salt, unit): the same on every run, machine and engine, and independent of
each campaign's arms as long as the programme's salt differs from the campaigns' salts. The number
held out of n units is Binomial(n, holdout_share).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from uplift.data.hashing import hash64

__all__ = ["holdout_mask", "HOLDOUT_REASON"]

HOLDOUT_REASON = "global_holdout"
_SCALE = float(2**64)


def holdout_mask(units: Iterable[object] | pd.Series | np.ndarray, salt: str, share: float) -> np.ndarray:
    """True for the units in the global holdout (see the module docstring)."""
    return hash64(units, salt) / _SCALE < float(share)
