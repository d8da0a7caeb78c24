"""The design's profit forecast: profit and ROI at the MDE and at a prior effect, expected profit and assurance.

Every figure is checked against a hand computation from the spec's numbers (the arithmetic written out
here, not the code's helpers) and the assurance against scipy's adaptive quadrature of the power written
out by hand.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from scipy import integrate, stats

from uplift.cli import main

SPEC = """
[experiment]
name = "card-forecast"
unit = "customer_id"
hypothesis = "A credit card offer raises card take-up."
currency = "EUR"

[assignment]
salt = "s"
arms = {{ control = 0.3, offer = 0.7 }}
control = "control"

[design]
mde_relative = 0.2
baseline_rate = 0.03
{design}

[[metrics]]
name = "card_take_up"
kind = "proportion"
column = "opened_card"
primary = true

[economics]
contact_cost = 1.5
incentive_cost = 5
eligible_population = 250000
"""
PRIOR = "value_per_conversion = 600\nprior_effect = 0.004\nprior_sd = 0.002"


def _design(tmp_path: Path, capsys, design: str = PRIOR) -> dict:
    p = tmp_path / "spec.toml"
    p.write_text(SPEC.format(design=design))
    assert main(["design", str(p), "--no-population", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_profit_roi_and_expected_profit_equal_a_hand_computation(tmp_path, capsys):
    d = _design(tmp_path, capsys)
    f = d["forecast"]
    offered = d["n_per_arm"]["offer"]
    assert f["treated_units"] == offered and f["rollout_units"] == 250000
    # by hand: profit per offered customer = effect x 600 - 1.5 - 5 x (0.03 + effect)
    mde = d["mde"]
    at_mde, at_prior = f["scenarios"]
    assert at_mde["name"] == "at the MDE" and math.isclose(at_mde["effect"], mde)
    per_mde = mde * 600 - 1.5 - 5 * (0.03 + mde)
    assert math.isclose(at_mde["test_profit"], offered * per_mde, rel_tol=1e-12)
    assert math.isclose(at_mde["test_cost"], offered * (1.5 + 5 * (0.03 + mde)), rel_tol=1e-12)
    assert math.isclose(at_mde["roi"], per_mde / (1.5 + 5 * (0.03 + mde)), rel_tol=1e-12)
    # at the prior effect 0.004: 2.4 - 1.5 - 0.17 = 0.73 per customer; cost 1.67
    assert math.isclose(at_prior["profit_per_customer"], 0.73, rel_tol=1e-12)
    assert math.isclose(at_prior["rollout_profit"], 250000 * 0.73, rel_tol=1e-12)
    assert math.isclose(at_prior["roi"], 0.73 / 1.67, rel_tol=1e-12)
    # expected profit over N(0.004, 0.002^2): the profit is linear in the effect -> at the mean
    p = f["prior"]
    assert math.isclose(p["expected_test_profit"], offered * 0.73, rel_tol=1e-12)
    assert math.isclose(p["expected_rollout_profit"], 182500.0, rel_tol=1e-12)
    # break-even: effect x (600 - 5) = 1.5 + 5 x 0.03
    be = 1.65 / 595
    assert math.isclose(f["break_even_effect"], be, rel_tol=1e-12)
    assert math.isclose(p["chance_of_profit"], stats.norm.sf((be - 0.004) / 0.002), rel_tol=1e-12)


def test_assurance_equals_scipy_quad_of_the_power_over_the_prior(tmp_path, capsys):
    d = _design(tmp_path, capsys)
    n0, n1 = d["n_per_arm"]["control"], d["n_per_arm"]["offer"]
    p0, z = 0.03, stats.norm.isf(0.025)

    def power(delta: float) -> float:  # two-sided unpooled z-test, written out
        p1 = p0 + delta
        se = math.sqrt(p0 * (1 - p0) / n0 + p1 * (1 - p1) / n1)
        return stats.norm.cdf(delta / se - z) + stats.norm.cdf(-delta / se - z)

    ref, _ = integrate.quad(lambda x: power(x) * stats.norm.pdf(x, 0.004, 0.002), 0.004 - 0.028, 0.004 + 0.026,
                            epsabs=1e-12, epsrel=1e-10, limit=200)
    got = d["forecast"]["prior"]["assurance"]
    assert abs(got - ref) < 1e-8
    assert abs(got - power(0.004)) > 0.005  # averaging over the prior is not the power at its mean


def test_assurance_tends_to_the_power_as_the_prior_narrows(tmp_path, capsys):
    d = _design(tmp_path, capsys, "value_per_conversion = 600\nprior_effect = 0.006\nprior_sd = 1e-7")
    assert abs(d["forecast"]["prior"]["assurance"] - d["power"]) < 1e-4  # the target effect 0.006 = 0.2 x 0.03


def test_cli_page_and_json_tell_the_same_forecast(tmp_path, capsys):
    p = tmp_path / "spec.toml"
    p.write_text(SPEC.format(design=PRIOR))
    assert main(["design", str(p), "--no-population", "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    d = json.loads((tmp_path / "o" / "design.json").read_text())
    page = (tmp_path / "o" / "design.html").read_text()
    s = d["forecast"]["scenarios"][0]
    shown = f"EUR {s['test_profit']:,.0f}"
    assert shown in text and shown in page
    assert f"{d['forecast']['prior']['assurance']:.1%}" in text
    assert f"{100 * d['forecast']['prior']['assurance']:.1f}%" in page


def test_without_a_value_the_forecast_says_what_to_set(tmp_path, capsys):
    d = _design(tmp_path, capsys, "")
    assert d["forecast"]["available"] is False and "[design] value_per_conversion" in d["forecast"]["note"]


def test_prior_sd_without_prior_effect_is_one_line(tmp_path, capsys):
    p = tmp_path / "spec.toml"
    p.write_text(SPEC.format(design="value_per_conversion = 600\nprior_sd = 0.002"))
    assert main(["design", str(p), "--no-population"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "prior_sd needs prior_effect" in err and "spec.toml" in err


def test_a_fixed_pool_forecasts_the_test_assign_will_run(tmp_path, capsys):
    """A fixed pool with a population: `uplift assign` puts every eligible unit in the test, so the forecast
    offers the offer arm's share of them (0.7 x 5,000) at the MDE those units reach."""
    import pandas as pd

    pd.DataFrame({"customer_id": [f"c{i}" for i in range(5000)]}).to_csv(tmp_path / "pop.csv", index=False)
    p = tmp_path / "spec.toml"
    p.write_text(SPEC.format(design=PRIOR))
    assert main(["design", str(p), "--population", str(tmp_path / "pop.csv"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    f = d["forecast"]
    assert f["treated_units"] == 3500 and "every eligible unit" in f["units_basis"]
    at_mde = f["scenarios"][0]
    assert math.isclose(at_mde["effect"], d["feasibility"]["mde_at_eligible"], rel_tol=1e-12)
    e = at_mde["effect"]
    assert math.isclose(at_mde["test_profit"], 3500 * (e * 600 - 1.5 - 5 * (0.03 + e)), rel_tol=1e-12)
