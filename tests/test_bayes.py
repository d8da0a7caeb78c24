"""The Bayesian view (uplift.stats.bayes) and where finance and the primary metric use it.

References, all independent of the code under test:

* the posterior, P(effect > 0) and both expected losses are integrated numerically (scipy ``quad``)
  from the prior density times the normal likelihood, not from the conjugate formulas;
* the expected losses equal gbstats' published test values where the models agree (its Gaussian test's
  risk on the absolute difference under a flat prior), and its risk formula (P(effect < 0) x the mean of
  the effect truncated below 0) applied with scipy's ``truncnorm`` (gbstats is not installed here);
* flat-prior credible intervals cover the true effect at their nominal rate (simulation from raw data).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as st

from uplift.data.moments import SampleMean, block_moments
from uplift.errors import SpecError
from uplift.metrics.analyse import analyse_metrics
from uplift.spec import load_spec
from uplift.stats import compare
from uplift.stats.bayes import (
    NormalPrior,
    normal_posterior,
    partial_expectation,
    prior_for,
    unit_information_prior,
)

CASES = [  # estimate, se, prior mean, prior sd (inf: flat)
    (1.3, 0.73, 0.0, 180.0),
    (1.3, 0.73, 0.0, 1.0),
    (-0.4, 0.5, 2.0, 1.5),
    (0.0164, 0.00197, 0.0, 0.48),
    (0.2, 1.0, 0.0, math.inf),
    (-3.0, 2.0, 1.0, 0.5),
]


def _numerical(est: float, se: float, m0: float, s0: float) -> dict[str, float]:
    """Posterior moments, P(>0) and the losses by integrating prior x likelihood with quad."""
    lo, hi = (est - 12 * se, est + 12 * se) if not math.isfinite(s0) else (
        min(est - 12 * se, m0 - 12 * s0), max(est + 12 * se, m0 + 12 * s0))

    def dens(t: float) -> float:
        prior = 1.0 if not math.isfinite(s0) else st.norm.pdf(t, m0, s0)
        return prior * st.norm.pdf(est, t, se)

    def q(f, a=lo, b=hi) -> float:
        pts = [p for p in (0.0, est, m0) if a < p < b]
        return integrate.quad(f, a, b, points=pts or None, limit=500, epsabs=0, epsrel=1e-11)[0]

    z = q(dens)
    mean = q(lambda t: t * dens(t)) / z
    var = q(lambda t: (t - mean) ** 2 * dens(t)) / z
    p_pos = q(dens, 0.0, max(hi, 1e-12)) / z if hi > 0 else 0.0
    loss_ship = q(lambda t: -t * dens(t), lo, 0.0) / z if lo < 0 else 0.0
    loss_not = q(lambda t: t * dens(t), 0.0, hi) / z if hi > 0 else 0.0
    return {"mean": mean, "sd": math.sqrt(var), "p_pos": p_pos, "loss_ship": loss_ship, "loss_not": loss_not}


@pytest.mark.parametrize("est,se,m0,s0", CASES)
def test_conjugate_posterior_equals_numerical_integration(est, se, m0, s0):
    post = normal_posterior(est, se, NormalPrior(m0, s0, "test"))
    ref = _numerical(est, se, m0, s0)
    scale = max(se, 1e-12)
    assert post.mean == pytest.approx(ref["mean"], abs=1e-7 * scale)
    assert post.sd == pytest.approx(ref["sd"], rel=1e-6)
    assert post.prob_positive() == pytest.approx(ref["p_pos"], abs=1e-8)
    assert post.loss_if_positive_chosen() == pytest.approx(ref["loss_ship"], abs=1e-7 * scale)
    assert post.loss_if_negative_chosen() == pytest.approx(ref["loss_not"], abs=1e-7 * scale)
    d = post.to_dict(0.95)
    assert d["chance_to_win"] == pytest.approx(ref["p_pos"], abs=1e-8)
    assert d["expected_loss_ship"] == pytest.approx(ref["loss_ship"], abs=1e-7 * scale)
    # smaller is better: the roles swap
    s = post.to_dict(0.95, "smaller")
    assert s["chance_to_win"] == pytest.approx(1 - ref["p_pos"], abs=1e-8)
    assert s["expected_loss_ship"] == pytest.approx(ref["loss_not"], abs=1e-7 * scale)
    # the credible interval holds 95% of the numerically integrated posterior mass
    lo, hi = post.credible_interval(0.95)
    assert st.norm.cdf(hi, ref["mean"], ref["sd"]) - st.norm.cdf(lo, ref["mean"], ref["sd"]) == pytest.approx(0.95, abs=1e-6)


@pytest.mark.parametrize("est,se,m0,s0", CASES)
def test_expected_loss_equals_gbstats_risk_formula(est, se, m0, s0):
    """gbstats' risk of choosing treatment: P(d < 0) x |E[d | d < 0]| (truncated-normal mean);
    of keeping control: P(d > 0) x E[d | d > 0]. Applied with scipy's truncnorm."""
    post = normal_posterior(est, se, NormalPrior(m0, s0, "test"))
    m, s = post.mean, post.sd
    p_neg = st.norm.cdf(0, m, s)
    mean_neg = st.truncnorm.mean(-np.inf, (0 - m) / s, loc=m, scale=s)
    mean_pos = st.truncnorm.mean((0 - m) / s, np.inf, loc=m, scale=s)
    assert post.loss_if_positive_chosen() == pytest.approx(-p_neg * mean_neg, rel=1e-7, abs=1e-12)
    assert post.loss_if_negative_chosen() == pytest.approx((1 - p_neg) * mean_pos, rel=1e-7, abs=1e-12)


def test_expected_losses_equal_gbstats_published_test_values():
    """gbstats' own test (GrowthBook, packages/stats/tests/bayesian/test_tests.py, test_bayesian_gaussian_ab_test):
    control sum 100, sum of squares 1002.25, n 10; treatment 105, 1111.5, 10; flat prior. Its risk, on the
    absolute difference, is [0.51256, 0.01256] (choosing control, choosing treatment), to 5 decimals. Here the
    comparison's own estimate and se (Welch), a flat prior, and the two expected losses. (Its chance to win and
    interval are of a log-normal model of the relative lift, which is not this model.)"""
    control = SampleMean(10, 100 / 10, (1002.25 - 100**2 / 10) / 9)
    treatment = SampleMean(10, 105 / 10, (1111.5 - 105**2 / 10) / 9)
    comp = compare.compare_means(treatment, control)
    post = normal_posterior(comp.estimate, comp.se, NormalPrior(0.0, math.inf, "flat"))
    d = post.to_dict(0.95)
    assert round(d["expected_loss_not_ship"], 5) == 0.51256
    assert round(d["expected_loss_ship"], 5) == 0.01256


def test_partial_expectation_by_monte_carlo():
    rng = np.random.default_rng(0)
    x = rng.normal(0.3, 1.7, 2_000_000)
    assert partial_expectation(0.3, 1.7) == pytest.approx(np.maximum(x, 0).mean(), rel=3e-3)
    assert partial_expectation(0.3, 0.0) == 0.3 and partial_expectation(-1.0, 0.0) == 0.0


def test_a_prior_needs_a_positive_sd():
    for sd in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError):
            NormalPrior(0.0, sd, "bad")
    with pytest.raises(ValueError):
        normal_posterior(1.0, 0.0, NormalPrior(0.0, 1.0, "ok"))


def test_unit_information_prior_shrinks_by_n_over_n_plus_1():
    """Kass & Wasserman (1995): prior variance n se^2, so the posterior mean is estimate x n / (n + 1)."""
    n, est, se = 99, 2.0, 0.5
    post = normal_posterior(est, se, unit_information_prior(se, n))
    assert post.mean == pytest.approx(est * n / (n + 1), rel=1e-12)
    assert post.sd == pytest.approx(se * math.sqrt(n / (n + 1)), rel=1e-12)
    stated = prior_for(se, n, 1.0, 3.0, "[x] prior_sd")
    assert (stated.mean, stated.sd) == (1.0, 3.0) and "[x] prior_sd" in stated.source


@pytest.mark.parametrize("kind", ["mean", "proportion"])
def test_flat_prior_credible_interval_covers_at_its_nominal_rate(kind, sim_size):
    """Raw data with a known effect; the credible interval from the comparison's estimate and se under a flat
    prior (and under the unit-information default) covers the truth about 95% of the time."""
    rng = np.random.default_rng(20 if kind == "mean" else 21)
    runs = sim_size(600, 6000)
    n1, n0, truth = 400, 300, 0.25 if kind == "mean" else 0.04
    hits = {"flat": 0, "default": 0}
    for _ in range(runs):
        if kind == "mean":
            y1, y0 = rng.lognormal(0.0, 0.8, n1) + truth, rng.lognormal(0.0, 0.8, n0)
            comp = compare.compare_means(block_moments(y1[:, None], ("y",)).sample_mean("y"),
                                         block_moments(y0[:, None], ("y",)).sample_mean("y"))
            true = truth
        else:
            y1, y0 = (rng.random(n1) < 0.20 + truth).astype(float), (rng.random(n0) < 0.20).astype(float)
            comp = compare.compare_proportions(block_moments(y1[:, None], ("y",)).proportion("y"),
                                               block_moments(y0[:, None], ("y",)).proportion("y"))
            true = truth
        for name, prior in (("flat", NormalPrior(0.0, math.inf, "flat")), ("default", unit_information_prior(comp.se, n1 + n0))):
            lo, hi = normal_posterior(comp.estimate, comp.se, prior).credible_interval(0.95)
            hits[name] += lo <= true <= hi
    tol = 4 * math.sqrt(0.95 * 0.05 / runs)
    for name, h in hits.items():
        assert abs(h / runs - 0.95) < tol, (name, h / runs)


# --------------------------------------------------------------------------- where the readout uses it


@pytest.fixture(scope="module")
def readout(demo_spec, simulation):
    return analyse_metrics(demo_spec, simulation.outcomes).to_dict()


def test_finance_posterior_is_computed_from_finance_estimate_and_se(readout):
    """The posterior is the conjugate update of finance's OWN estimate and se (nothing re-estimated): with the
    unit-information prior, mean = estimate x n/(n+1), sd = se sqrt(n/(n+1)); the eligible population's is N x it."""
    roi = readout["roi"]
    N = roi["eligible_population"]
    for a in roi["per_arm"].values():
        n = a["valuation"]["n_arm"] + a["valuation"]["n_control"]
        for key in ("net_incremental_profit", "incremental_profit"):
            est, se = a[key]["estimate"], a[key]["se"]
            b = a["bayes"]["per_treated_customer"][key]
            assert b["posterior_mean"] == pytest.approx(est * n / (n + 1), rel=1e-9)
            assert b["posterior_sd"] == pytest.approx(se * math.sqrt(n / (n + 1)), rel=1e-9)
            assert b["prob_positive"] == pytest.approx(st.norm.cdf(b["posterior_mean"] / b["posterior_sd"]), rel=1e-12)
            sc = a["bayes"]["scaled"][key]
            assert sc["posterior_mean"] == pytest.approx(N * b["posterior_mean"], rel=1e-12)
            assert sc["expected_loss_ship"] == pytest.approx(N * b["expected_loss_ship"], rel=1e-9, abs=1e-12)
            assert sc["prob_positive"] == pytest.approx(b["prob_positive"], rel=1e-12)
            # the eligible population's frequentist estimate is the same N x per-customer figure
            assert a["scaled"][key]["estimate"] == pytest.approx(N * est, rel=1e-12)


def test_primary_metric_chance_to_beat_control(readout):
    rows = [r for r in readout["metrics"] if r["primary"]]
    assert rows
    for r in rows:
        b = r["bayes"]
        n = r["n_arm"] + r["n_control"]
        m = r["abs_effect"] * n / (n + 1)
        assert b["posterior_mean"] == pytest.approx(m, rel=1e-9)
        assert b["chance_to_win"] == pytest.approx(st.norm.cdf(m / (r["abs_se"] * math.sqrt(n / (n + 1)))), rel=1e-9)
    assert all("bayes" not in r for r in readout["metrics"] if not r["primary"])


def test_a_stated_prior_is_used_and_stated(demo_spec_path, simulation, tmp_path):
    text = demo_spec_path.read_text(encoding="utf-8")
    text = text.replace("contact_cost = 1.5", "contact_cost = 1.5\nprofit_prior_mean = -2.0\nprofit_prior_sd = 0.5")
    text = text.replace("min_cell_size = 50", "min_cell_size = 50\nprior_mean = 0.001\nprior_sd = 0.002")
    p = tmp_path / "demo.toml"
    p.write_text(text, encoding="utf-8")
    r = analyse_metrics(load_spec(p), simulation.outcomes).to_dict()
    for a in r["roi"]["per_arm"].values():
        est, se = a["net_incremental_profit"]["estimate"], a["net_incremental_profit"]["se"]
        b = a["bayes"]["per_treated_customer"]["net_incremental_profit"]
        w0, w1 = 1 / 0.5**2, 1 / se**2
        assert b["posterior_mean"] == pytest.approx((w0 * -2.0 + w1 * est) / (w0 + w1), rel=1e-9)
        assert b["prior"]["sd"] == 0.5 and "[economics] profit_prior_sd" in b["prior"]["source"]
    row = next(x for x in r["metrics"] if x["primary"])
    w0, w1 = 1 / 0.002**2, 1 / row["abs_se"] ** 2
    assert row["bayes"]["posterior_mean"] == pytest.approx((w0 * 0.001 + w1 * row["abs_effect"]) / (w0 + w1), rel=1e-9)


@pytest.mark.parametrize("section,key", [("economics", "profit_prior_sd"), ("analysis", "prior_sd")])
@pytest.mark.parametrize("value", ["0", "-1.5", "0.0"])
def test_a_prior_sd_of_zero_or_less_is_one_clear_line(demo_spec_path, tmp_path, section, key, value):
    text = demo_spec_path.read_text(encoding="utf-8").replace(f"[{section}]\n", f"[{section}]\n{key} = {value}\n", 1)
    p = tmp_path / "demo.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as e:
        load_spec(p)
    msg = str(e.value)
    assert "\n" not in msg and f"[{section}] {key}" in msg and "above 0" in msg and str(p) in msg
