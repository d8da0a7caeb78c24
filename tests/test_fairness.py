"""Consumer Duty panel (uplift.targeting.fairness): a planted harm in a small group is flagged, no harm
gives false alarms at most alpha (Holm), a one-valued group column is refused in one line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from uplift.errors import DataError
from uplift.targeting.fairness import composition, duty_panel


def simulate(rng, n, harm_pp):
    group = np.where(rng.random(n) < 0.05, "vulnerable", "other")
    arm = np.where(rng.random(n) < 0.5, "offer", "control")
    p = 0.02 + harm_pp * ((group == "vulnerable") & (arm == "offer"))
    return pd.DataFrame({"arm": arm, "vulnerable": group, "complaint": (rng.random(n) < p).astype(int),
                         "converted": (rng.random(n) < 0.05).astype(int)})


def test_planted_harm_is_flagged_and_no_harm_rarely(sim_size):
    runs = sim_size(20, 200)
    rng = np.random.default_rng(18)
    hits = alarms = 0
    for _ in range(runs):
        r = duty_panel(simulate(rng, 400_000, 0.01), "arm", "control", ["vulnerable"], "converted", ["complaint"], [])
        hits += any(x["value"] == "vulnerable" for x in r.flagged)
        r0 = duty_panel(simulate(rng, 400_000, 0.0), "arm", "control", ["vulnerable"], "converted", ["complaint"], [])
        alarms += bool(r0.flagged)
    assert hits / runs >= 0.8
    # false alarms at most alpha (binomial slack for the number of runs)
    assert alarms / runs <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / runs)


def test_differences_match_a_direct_recomputation():
    rng = np.random.default_rng(3)
    df = simulate(rng, 20_000, 0.0)
    r = duty_panel(df, "arm", "control", ["vulnerable"], "converted", ["complaint"], [])
    row = next(x for x in r.rows if x["value"] == "other" and x["outcome"] == "complaint")
    m = df[df.vulnerable == "other"]
    want = m[m.arm == "offer"].complaint.mean() - m[m.arm == "control"].complaint.mean()
    assert row["difference"] == pytest.approx(want, abs=1e-12)


def test_group_column_with_one_value_is_one_line():
    df = pd.DataFrame({"arm": ["offer", "control"] * 5, "g": ["a"] * 10, "complaint": [0, 1] * 5, "converted": [1, 0] * 5})
    with pytest.raises(DataError) as e:
        duty_panel(df, "arm", "control", ["g"], "converted", ["complaint"], [])
    assert "group column 'g' has one value only" in str(e.value) and "\n" not in str(e.value)


def test_composition_shares():
    el = pd.DataFrame({"g": ["a", "a", "b", "b"]})
    rows = composition(el, np.array([True, True, False, False]), ["g"])
    assert rows[0]["share_selected"] == 1.0 and rows[0]["share_eligible"] == 0.5
