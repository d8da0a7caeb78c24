"""Design power with censoring at the readout (issue 16): uplift.experiment.censoring.

* everyone mature (readout on or after recruitment + window): no inflation, the power is the
  uncensored design's, and the variance is the binomial p (1 - p);
* an early readout: the per-customer variance of 1 - Kaplan-Meier at the window equals the spread
  of the estimate over simulated campaigns (uniform accrual, administrative censoring at the readout,
  conversions spread evenly over the window: the design's stated assumption), and the power at the
  planned n equals the rejection rate of simulated readouts (Kaplan-Meier with Greenwood's variance,
  recomputed here with numpy from the simulated rows);
* a readout before anyone is observed for the whole window: power 0, and the line says so.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from uplift.experiment.censoring import followup_share, window_inflation, window_variance
from uplift.experiment.design import design_experiment
from uplift.spec import load_spec

SPEC = """
[experiment]
name = "timed"
unit = "customer_id"
start_date = "2026-01-05"
{as_of}

[assignment]
salt = "timed-salt"
arms = {{ control = 0.5, offer = 0.5 }}
control = "control"

[design]
alpha = 0.05
power = 0.80
baseline_rate = 0.10
mde_absolute = 0.02
weekly_inflow = 1000

[[metrics]]
name = "conversion"
kind = "proportion"
column = "converted"
primary = true
time_column = "days_to_conversion"
followup_column = "days_observed"
window_days = 60
"""


def _design(tmp_path, as_of: str | None):
    p = tmp_path / "timed.toml"
    p.write_text(SPEC.format(as_of=f'data_as_of = "{as_of}"' if as_of else ""), encoding="utf-8")
    return design_experiment(load_spec(p))


def test_everyone_mature_gives_the_uncensored_power(tmp_path):
    res = _design(tmp_path, None)  # no data_as_of: the first readout that can answer, recruitment + window
    c = res.censoring
    assert c["readout_day"] == pytest.approx(7 * res.duration_weeks + 60)
    assert c["mature_share"] == 1.0
    assert all(v == pytest.approx(1.0, abs=1e-12) for v in c["variance_inflation"].values())
    assert c["power_at_n"] == pytest.approx(res.power, abs=1e-12)
    late = _design(tmp_path, "2027-01-01")  # long after: the same
    assert late.censoring["power_at_n"] == pytest.approx(late.power, abs=1e-12)
    for p in (0.02, 0.1, 0.5, 0.9):
        assert window_variance(p, 60, 50, 200) == pytest.approx(p * (1 - p), rel=1e-12)
        assert window_variance(p, 60, 0, 60.5) == pytest.approx(p * (1 - p), rel=1e-12)  # a fixed pool


def test_follow_up_share_is_uniform_accrual():
    assert [followup_share(t, 50, 100) for t in (0, 50, 60, 75, 100, 101)] == [1.0, 1.0, 0.8, 0.5, 0.0, 0.0]


def _km_at(window: float, time: np.ndarray, event: np.ndarray) -> tuple[float, float]:
    """1 - Kaplan-Meier at `window` and Greenwood's variance, from the rows (continuous times, no ties)."""
    order = np.argsort(time)
    t, e = time[order], event[order]
    at_risk = len(t) - np.arange(len(t))
    keep = (e == 1) & (t <= window)
    n = at_risk[keep].astype(float)
    s = float(np.prod(1 - 1 / n))
    return 1 - s, s * s * float(np.sum(1 / (n * (n - 1))))


def _campaign(rng, n: int, p: float, window: float, recruit: float, readout: float):
    entry = rng.uniform(0, recruit, n)
    follow = readout - entry
    will = rng.random(n) < p
    when = rng.uniform(0, window, n)
    converted = will & (when <= follow)
    return np.where(converted, when, follow), converted.astype(int)


def test_variance_at_the_window_matches_simulated_campaigns(sim_size):
    """Readout on day 70, recruitment 54 days, window 60: 19% observed for the whole window (x1.84)."""
    rng = np.random.default_rng(41)
    runs, n, p, w, r, t = sim_size(400, 3000), 4000, 0.1, 60.0, 54.0, 70.0
    est = np.array([_km_at(w, *_campaign(rng, n, p, w, r, t))[0] for _ in range(runs)])
    predicted = window_variance(p, w, r, t) / n
    observed = est.var(ddof=1)
    se_rel = math.sqrt(2 / (runs - 1))  # relative se of a sample variance (normal estimates)
    print(f"n Var F(60): predicted {n * predicted:.5f} (inflation x{window_inflation(p, w, r, t):.3f}), "
          f"simulated {n * observed:.5f} over {runs} runs; mean estimate {est.mean():.5f} (truth {p})")
    assert abs(observed / predicted - 1) < 3.5 * se_rel
    assert window_inflation(p, w, r, t) > 1.3  # the check has something to find
    assert abs(est.mean() - p) < 4 * est.std() / math.sqrt(runs)


def test_power_at_the_planned_readout_matches_simulated_readouts(tmp_path, sim_size):
    res = _design(tmp_path, "2026-03-16")  # day 70; recruitment ~54 days; window 60
    c = res.censoring
    assert c["readout_day"] == 70 and 0.1 < c["mature_share"] < 0.3
    assert c["power_at_n"] < res.power - 0.05  # censoring costs power
    rng = np.random.default_rng(42)
    runs = sim_size(300, 2000)
    n0, n1 = res.n_per_arm["control"], res.n_per_arm["offer"]
    recruit, z = c["recruitment_days"], stats.norm.ppf(0.975)
    hits = 0
    for _ in range(runs):
        f0, v0 = _km_at(60, *_campaign(rng, n0, 0.10, 60, recruit, 70))
        f1, v1 = _km_at(60, *_campaign(rng, n1, 0.12, 60, recruit, 70))
        hits += abs(f1 - f0) / math.sqrt(v0 + v1) > z
    rate = hits / runs
    mc = math.sqrt(c["power_at_n"] * (1 - c["power_at_n"]) / runs)
    print(f"power at n {res.n_total:,}: uncensored {res.power:.4f}, at day 70 {c['power_at_n']:.4f}; "
          f"simulated readouts {rate:.4f} over {runs} runs")
    assert abs(rate - c["power_at_n"]) < 3.5 * mc


def test_a_readout_before_the_window_cannot_answer(tmp_path, capsys):
    from uplift.cli import main

    res = _design(tmp_path, "2026-02-20")  # day 46 < 60
    assert res.censoring["power_at_n"] == 0.0 and math.isinf(window_variance(0.1, 60, 54, 46))
    assert main(["design", str(tmp_path / "timed.toml"), "--no-population"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("censoring at the readout"))
    assert "day 46 from the start" in line and "cannot answer" in line and "read out on day" in line, line


def test_design_json_and_page_carry_the_censoring(tmp_path, capsys):
    import json

    from uplift.cli import main

    _design(tmp_path, "2026-03-16")
    assert main(["design", str(tmp_path / "timed.toml"), "--no-population", "--out", str(tmp_path / "d")]) == 0
    d = json.loads((tmp_path / "d" / "design.json").read_text())
    c = d["censoring"]
    assert c["readout_day"] == 70 and c["power_at_n"] < d["power"]
    page = (tmp_path / "d" / "design.html").read_text()
    assert f"power at the planned n {100 * c['power_at_n']:.2f}%" in page and "read out on day 114 or later" in page
