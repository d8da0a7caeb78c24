"""Precision achieved: agrees with statsmodels' NormalIndPower and tells under-powered from flat."""

from __future__ import annotations

import math

import pytest
from statsmodels.stats.power import NormalIndPower

from uplift.experiment.precision import mde_from_se, precision_achieved
from uplift.spec import parse_spec

SPEC = """
[experiment]
name = "p"
unit = "u"
[assignment]
salt = "s"
arms = { control = 0.5, offer = 0.5 }
control = "control"
[design]
alpha = 0.05
power = 0.8
mde_absolute = 2.0
"""


def _row(se: float, effect: float = 0.0, alpha: float = 0.05) -> dict:
    return {"metric": "m", "arm": "offer", "kind": "mean", "n_arm": 1000, "n_control": 1000, "abs_se": se,
            "abs_effect": effect, "abs_ci": [effect - 1.96 * se, effect + 1.96 * se], "mean_control": 100.0,
            "alternative": "two-sided", "alpha_used": alpha}


@pytest.mark.parametrize("n0,n1,sd", [(1000, 1000, 10.0), (500, 4500, 3.0), (20000, 30000, 55.0)])
def test_power_and_mde_equal_statsmodels(n0, n1, sd):
    se = sd * math.sqrt(1 / n0 + 1 / n1)
    ref = NormalIndPower()
    spec = parse_spec(SPEC)
    row = precision_achieved(spec, [_row(se)]).rows[0]
    assert row["power"] == pytest.approx(ref.power(effect_size=2.0 / sd, nobs1=n1, ratio=n0 / n1, alpha=0.05), rel=1e-6)
    ours = mde_from_se(se, 0.05, 0.8)
    # statsmodels' power at our MDE is exactly the target (its own solve_power stops at ~1e-6)
    assert ref.power(effect_size=ours / sd, nobs1=n1, ratio=n0 / n1, alpha=0.05) == pytest.approx(0.8, abs=1e-10)
    mde = ref.solve_power(effect_size=None, nobs1=n1, ratio=n0 / n1, alpha=0.05, power=0.8) * sd
    assert ours == pytest.approx(mde, rel=1e-4)


@pytest.mark.parametrize("se", [1e-4, 0.02, 1.0, 37.0])
@pytest.mark.parametrize("alpha", [0.001, 0.01, 0.05, 0.2])
@pytest.mark.parametrize("power", [0.3, 0.5, 0.8, 0.9, 0.99])
def test_two_sided_mde_is_scipys_root(se, alpha, power):
    """The Newton root of power(d) = power is the root scipy.optimize.brentq finds to machine precision."""
    from scipy.optimize import brentq

    from uplift.experiment.power import power_z

    if power <= alpha:
        assert math.isnan(mde_from_se(se, alpha, power))
        return
    ref = brentq(lambda d: power_z(d, se, alpha) - power, 1e-12 * se, 100 * se, xtol=1e-300, rtol=1e-15)
    assert mde_from_se(se, alpha, power) == pytest.approx(ref, rel=1e-13)


@pytest.mark.parametrize("alternative", ["larger", "smaller"])
def test_one_sided_mde_equals_statsmodels(alternative):
    """One-sided, the MDE is (z_{1-a} + z_power) se; a decrease ("smaller") is as detectable as an increase
    (this used to raise: the root was looked for on the wrong side)."""
    n0, n1, sd = 4000, 6000, 12.0
    se = sd * math.sqrt(1 / n0 + 1 / n1)
    ref = NormalIndPower()
    ours = mde_from_se(se, 0.05, 0.8, alternative)
    assert ref.power(effect_size=ours / sd, nobs1=n1, ratio=n0 / n1, alpha=0.05, alternative="larger") == pytest.approx(0.8, abs=1e-12)
    spec = parse_spec(SPEC.replace("mde_absolute = 2.0", f'mde_absolute = 2.0\nalternative = "{alternative}"'))
    row = precision_achieved(spec, [{**_row(se), "alternative": alternative}]).rows[0]
    assert row["mde"] == ours
    assert row["power"] == pytest.approx(ref.power(effect_size=2.0 / sd, nobs1=n1, ratio=n0 / n1, alpha=0.05,
                                                   alternative="larger"), rel=1e-9)


def test_under_powered_is_told_apart_from_flat():
    spec = parse_spec(SPEC)
    small, large = precision_achieved(spec, [_row(se=2.0), _row(se=0.3)]).rows
    assert small["power"] < 0.8 and small["reading"].startswith("inconclusive: under-powered")
    assert large["power"] > 0.8 and large["reading"].startswith("flat")
    detected = precision_achieved(spec, [_row(se=0.3, effect=3.0)]).rows[0]
    assert detected["reading"] == "effect detected"


def test_relative_target_uses_the_control_mean():
    spec = parse_spec(SPEC.replace("mde_absolute = 2.0", "mde_relative = 0.05"))
    row = precision_achieved(spec, [_row(se=1.0)]).rows[0]
    assert row["target_mde"] == pytest.approx(5.0)
