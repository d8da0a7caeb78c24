"""Estimators on sufficient statistics, checked against independent references.

References on the same input: statsmodels (proportions_ztest, confint_proportions_2indep,
ttest_ind usevar="unequal", OLS, multipletests, test_proportions_2indep), tea-tasting
(relative intervals, ratio metrics, CUPED with tea-tasting's pooled slope), published
group-sequential boundaries (gsDesign sfLDOF / R ldbounds) and scipy's multivariate normal.
Real data: Hillstrom. Simulation with known truth lives in test_metrics.py.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from uplift.stats import compare as stats
from uplift.data.collect import aggregate_frame
from uplift.stats import guardrails, multiplicity, sequential

REL = 1e-8


def _two_arm_frame(seed: int = 0, n1: int = 700, n0: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n1 + n0
    arm = np.array(["offer"] * n1 + ["control"] * n0)
    x = rng.lognormal(4.0, 0.8, n)
    d = rng.integers(1, 6, n).astype(float)
    c = d + rng.integers(0, 2, n)
    y = 0.8 * x + rng.normal(0, 20, n) + 15 * (arm == "offer") + 3 * d
    p = np.where(arm == "offer", 0.12, 0.08)
    conv = (rng.random(n) < p).astype(int)
    return pd.DataFrame({"arm": arm, "y": y, "x": x, "d": d, "c": c, "conv": conv})


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return _two_arm_frame()


@pytest.fixture(scope="module")
def cells(frame):
    return aggregate_frame(frame, ["arm"], ["y", "x", "d", "c", "conv"])


def _close(a, b, rel=REL, abs_=1e-12):
    assert a == pytest.approx(b, rel=rel, abs=abs_)


# --------------------------------------------------------------------------- proportions


def test_proportions_match_statsmodels(frame, cells):
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

    t, c = cells[("offer",)].proportion("conv"), cells[("control",)].proportion("conv")
    res = stats.compare_proportions(t, c)
    x1, x0 = int(frame.conv[frame.arm == "offer"].sum()), int(frame.conv[frame.arm == "control"].sum())
    n1, n0 = int((frame.arm == "offer").sum()), int((frame.arm == "control").sum())
    z, p = proportions_ztest([x1, x0], [n1, n0])
    _close(res.statistic, z)
    _close(res.p_value, p)
    _close(res.one_sided_p("larger"), proportions_ztest([x1, x0], [n1, n0], alternative="larger")[1])
    _close(res.one_sided_p("smaller"), proportions_ztest([x1, x0], [n1, n0], alternative="smaller")[1])
    wald = confint_proportions_2indep(x1, n1, x0, n0, method="wald", compare="diff")
    _close(res.ci[0], wald[0])
    _close(res.ci[1], wald[1])
    newc = confint_proportions_2indep(x1, n1, x0, n0, method="newcomb", compare="diff")
    _close(res.details["newcombe_ci"][0], newc[0])
    _close(res.details["newcombe_ci"][1], newc[1])
    # relative effect: delta method on log(p1/p0) is the Katz log interval for the risk ratio
    katz = confint_proportions_2indep(x1, n1, x0, n0, method="log", compare="ratio")
    _close(res.rel_ci[0], katz[0] - 1)
    _close(res.rel_ci[1], katz[1] - 1)
    _close(res.rel_effect, (x1 / n1) / (x0 / n0) - 1)


@pytest.mark.parametrize("x1, n1, x0, n0", [(20, 20, 1, 20), (0, 40, 3, 40), (199, 200, 180, 200)])
def test_proportions_near_0_or_100_take_newcombe_as_headline(x1, n1, x0, n0):
    """Fewer than 5 successes or failures in an arm: the headline interval is Newcombe's
    (statsmodels "newcomb"), never a Wald interval leaving [-1, 1] or ignoring a 100% arm."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    res = stats.compare_proportions(stats.Proportion(n1, x1), stats.Proportion(n0, x0))
    ref = confint_proportions_2indep(x1, n1, x0, n0, method="newcomb", compare="diff")
    assert res.ci == pytest.approx(ref, rel=1e-10)
    assert res.details["ci_method"] == "newcombe" and "Newcombe" in res.method.split(";")[0]
    wald = confint_proportions_2indep(x1, n1, x0, n0, method="wald", compare="diff")
    assert res.details["wald_ci"] == pytest.approx((max(wald[0], -1), min(wald[1], 1)), rel=1e-10)
    assert -1 <= res.details["wald_ci"][0] <= res.details["wald_ci"][1] <= 1


def test_twenty_of_twenty_against_one_of_twenty():
    """The case users saw: 20/20 vs 1/20 gave [0.854, 1.046] (Wald); now Newcombe [0.7038, 0.9911]."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    res = stats.compare_proportions(stats.Proportion(20, 20), stats.Proportion(20, 1))
    lo, hi = confint_proportions_2indep(20, 20, 1, 20, method="newcomb", compare="diff")
    assert res.ci == pytest.approx((lo, hi), rel=1e-10)
    assert res.ci[1] <= 1
    assert round(lo, 4) == 0.7038 and round(hi, 4) == 0.9911


def test_guardrail_with_few_events_is_judged_by_newcombe():
    """0 vs 3 complaints in 40: Wald's standard error is unreliable, so the verdict follows the
    90% Newcombe interval (one-sided 5%: alpha = 0.05) against the margin."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    comp = stats.compare_proportions(stats.Proportion(40, 3), stats.Proportion(40, 0))
    lo, hi = confint_proportions_2indep(3, 40, 0, 40, method="newcomb", compare="diff", alpha=0.10)
    for margin in (hi - 0.01, hi + 0.01):
        ni = guardrails.noninferiority(comp, margin, "increase", alpha=0.05)
        assert ni.non_inferior == (hi < margin) and ni.p_value is None


def test_hillstrom_mens_email_visit(hillstrom):
    """Published figure: Mens E-Mail visit +7.659 pp, 95% CI [6.995, 8.323] (unpooled Wald)."""
    agg = aggregate_frame(hillstrom, ["segment"], ["visit"])
    res = stats.compare_proportions(agg[("Mens E-Mail",)].proportion("visit"), agg[("No E-Mail",)].proportion("visit"))
    assert round(100 * res.estimate, 3) == 7.659
    assert round(100 * res.ci[0], 3) == 6.995
    assert round(100 * res.ci[1], 3) == 8.323
    assert res.p_value < 1e-100


# --------------------------------------------------------------------------- means


def test_welch_matches_statsmodels_and_tea_tasting(frame, cells):
    import tea_tasting as tt
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttest_ind

    y1, y0 = frame.y[frame.arm == "offer"].to_numpy(), frame.y[frame.arm == "control"].to_numpy()
    res = stats.compare_means(cells[("offer",)].sample_mean("y"), cells[("control",)].sample_mean("y"))
    tstat, p, df = ttest_ind(y1, y0, usevar="unequal")
    _close(res.statistic, tstat)
    _close(res.p_value, p)
    _close(res.one_sided_p("smaller"), ttest_ind(y1, y0, usevar="unequal", alternative="smaller")[1])
    _close(res.df, df)
    lo, hi = CompareMeans(DescrStatsW(y1), DescrStatsW(y0)).tconfint_diff(usevar="unequal")
    _close(res.ci[0], lo)
    _close(res.ci[1], hi)
    ref = tt.Mean("y", use_t=True).analyze(frame, "control", "offer", variant="arm")
    _close(res.rel_effect, ref.rel_effect_size)
    _close(res.rel_ci[0], ref.rel_effect_size_ci_lower)
    _close(res.rel_ci[1], ref.rel_effect_size_ci_upper)


def _welch_frame(seed: int, uncorrelated: bool) -> pd.DataFrame:
    """Two arms of unequal size and spread; with ``uncorrelated`` the covariate is made exactly
    uncorrelated with the outcome within each arm (so theta = 0 and CUPED changes nothing)."""
    rng = np.random.default_rng(seed)
    parts = []
    for arm, n, sd, shift in (("offer", 60, 30.0, 8.0), ("control", 25, 12.0, 0.0)):
        x = rng.normal(50, 10, n)
        y = 0.9 * x + rng.normal(shift, sd, n)
        if uncorrelated:
            yc = y - y.mean()
            x = x - (x - x.mean()) @ yc / (yc @ yc) * yc
        parts.append(pd.DataFrame({"arm": arm, "y": y, "x": x}))
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("uncorrelated", [True, False])
def test_cuped_uses_welch_t_on_the_residualised_values(uncorrelated):
    """One t-or-z convention: CUPED gives the df, interval and p of Welch's t (scipy) on the
    residualised values Y - theta X, theta the pooled within-arm slope (OLS, statsmodels)."""
    import statsmodels.api as sm

    df = _welch_frame(4, uncorrelated)
    agg = aggregate_frame(df, ["arm"], ["y", "x"])
    res = stats.compare_adjusted(agg[("offer",)].adjusted("y", "x"), agg[("control",)].adjusted("y", "x"))
    X = sm.add_constant(np.column_stack([(df.arm == "offer").astype(float), df.x]))
    theta = sm.OLS(df.y.to_numpy(), X).fit().params[2]
    if uncorrelated:
        assert theta == pytest.approx(0.0, abs=1e-9)
    z = df.y - theta * df.x
    ref = st.ttest_ind(z[df.arm == "offer"], z[df.arm == "control"], equal_var=False)
    _close(res.df, ref.df, rel=1e-7)
    _close(res.statistic, ref.statistic, rel=1e-7)
    _close(res.p_value, ref.pvalue, rel=1e-7)
    ci = ref.confidence_interval(0.95)
    _close(res.ci[0], ci.low, rel=1e-7)
    _close(res.ci[1], ci.high, rel=1e-7)
    plain = stats.compare_means(agg[("offer",)].sample_mean("y"), agg[("control",)].sample_mean("y"))
    ref_plain = st.ttest_ind(df.y[df.arm == "offer"], df.y[df.arm == "control"], equal_var=False)
    _close(plain.df, ref_plain.df)
    _close(plain.p_value, ref_plain.pvalue)
    if uncorrelated:  # adding a useless covariate does not switch the test
        _close(res.df, plain.df, rel=1e-7)
        _close(res.p_value, plain.p_value, rel=1e-7)


def test_ratio_matches_tea_tasting(frame, cells):
    import tea_tasting as tt

    res = stats.compare_ratios(cells[("offer",)].ratio("y", "d"), cells[("control",)].ratio("y", "d"))
    ref = tt.RatioOfMeans("y", "d", use_t=True).analyze(frame, "control", "offer", variant="arm")
    _close(res.estimate, ref.effect_size)
    _close(res.ci[0], ref.effect_size_ci_lower)
    _close(res.ci[1], ref.effect_size_ci_upper)
    _close(res.p_value, ref.pvalue)
    _close(res.rel_ci[0], ref.rel_effect_size_ci_lower)
    _close(res.rel_ci[1], ref.rel_effect_size_ci_upper)


def test_ratio_delta_method_by_hand(frame):
    """The ratio variance equals the variance of the linearised unit values (Y - R D)/mean(D) over n."""
    for arm in ("offer", "control"):
        sub = frame[frame.arm == arm]
        r = sub.y.mean() / sub.d.mean()
        lin = (sub.y - r * sub.d) / sub.d.mean()
        agg = aggregate_frame(sub, ["arm"], ["y", "d"])[(arm,)].ratio("y", "d")
        _close(agg.variance_of_ratio, lin.var(ddof=1) / len(sub))


# --------------------------------------------------------------------------- CUPED


def test_cuped_estimate_and_ols_se_match_statsmodels_ols(frame, cells):
    import statsmodels.api as sm

    X = sm.add_constant(np.column_stack([(frame.arm == "offer").astype(float), frame.x]))
    fit = sm.OLS(frame.y.to_numpy(), X).fit()
    t, c = cells[("offer",)].adjusted("y", "x"), cells[("control",)].adjusted("y", "x")
    ols = stats.compare_adjusted(t, c, se="ols")
    _close(ols.estimate, fit.params[1])
    _close(ols.se, fit.bse[1])
    _close(ols.p_value, fit.pvalues[1])
    lo, hi = fit.conf_int()[1]
    _close(ols.ci[0], lo)
    _close(ols.ci[1], hi)
    _close(ols.details["theta"], fit.params[2])
    robust = stats.compare_adjusted(t, c)
    _close(robust.estimate, fit.params[1])  # same estimate, per-arm variances
    # robust variance = sum over arms of var(Y - theta X)/n, computed here on rows
    theta = fit.params[2]
    v = sum(
        (frame.y[frame.arm == a] - theta * frame.x[frame.arm == a]).var(ddof=1) / (frame.arm == a).sum()
        for a in ("offer", "control")
    )
    _close(robust.se, math.sqrt(v))
    # close to OLS with heteroscedasticity-robust HC1 errors (not identical: HC has leverage terms)
    assert robust.se == pytest.approx(fit.get_robustcov_results("HC1").bse[1], rel=0.02)


def test_cuped_total_theta_matches_tea_tasting(frame, cells):
    import tea_tasting as tt

    res = stats.compare_adjusted(cells[("offer",)].adjusted("y", "x"), cells[("control",)].adjusted("y", "x"), theta="total")
    ref = tt.Mean("y", covariate="x", use_t=True).analyze(frame, "control", "offer", variant="arm")
    _close(res.estimate, ref.effect_size)
    _close(res.ci[0], ref.effect_size_ci_lower)
    _close(res.ci[1], ref.effect_size_ci_upper)
    _close(res.p_value, ref.pvalue)
    _close(res.rel_ci[0], ref.rel_effect_size_ci_lower)
    _close(res.rel_ci[1], ref.rel_effect_size_ci_upper)


def test_cuped_proportion_matches_ols(frame, cells):
    import statsmodels.api as sm

    X = sm.add_constant(np.column_stack([(frame.arm == "offer").astype(float), frame.x]))
    fit = sm.OLS(frame.conv.to_numpy(float), X).fit()
    res = stats.compare_adjusted(cells[("offer",)].adjusted("conv", "x"), cells[("control",)].adjusted("conv", "x"),
                                 se="ols", kind="proportion")
    _close(res.estimate, fit.params[1])
    _close(res.se, fit.bse[1])


def test_cuped_ratio_matches_tea_tasting(frame, cells):
    import tea_tasting as tt

    res = stats.compare_adjusted_ratios(cells[("offer",)], cells[("control",)], "y", "d", "x", "c", theta="total")
    ref = tt.RatioOfMeans("y", "d", "x", "c", use_t=True).analyze(frame, "control", "offer", variant="arm")
    _close(res.estimate, ref.effect_size)
    _close(res.ci[0], ref.effect_size_ci_lower)
    _close(res.ci[1], ref.effect_size_ci_upper)
    _close(res.p_value, ref.pvalue)
    within = stats.compare_adjusted_ratios(cells[("offer",)], cells[("control",)], "y", "d", "x", "c")
    assert within.se < stats.compare_ratios(cells[("offer",)].ratio("y", "d"), cells[("control",)].ratio("y", "d")).se


def test_cuped_ratio_without_denominator_matches_ols(frame, cells):
    """No denominators: the adjusted ratio is the CUPED mean, i.e. OLS's arm coefficient, with the
    per-arm variance of Y - theta X computed on the rows (theta = OLS's covariate coefficient)."""
    import statsmodels.api as sm

    res = stats.compare_adjusted_ratios(cells[("offer",)], cells[("control",)], "y", None, "x", None)
    X = sm.add_constant(np.column_stack([(frame.arm == "offer").astype(float), frame.x]))
    fit = sm.OLS(frame.y.to_numpy(), X).fit()
    _close(res.estimate, fit.params[1])
    theta = fit.params[2]
    v = sum(
        (frame.y[frame.arm == a] - theta * frame.x[frame.arm == a]).var(ddof=1) / (frame.arm == a).sum()
        for a in ("offer", "control")
    )
    _close(res.se, math.sqrt(v))


def test_hillstrom_cuped_spend_on_history(hillstrom):
    agg = aggregate_frame(hillstrom, ["segment"], ["spend", "history"])
    t, c = agg[("Mens E-Mail",)], agg[("No E-Mail",)]
    raw = stats.compare_means(t.sample_mean("spend"), c.sample_mean("spend"))
    adj = stats.compare_adjusted(t.adjusted("spend", "history"), c.adjusted("spend", "history"))
    assert adj.ci[1] - adj.ci[0] < raw.ci[1] - raw.ci[0]
    assert raw.ci[0] < adj.estimate < raw.ci[1]
    assert abs(adj.estimate - raw.estimate) < 0.25 * raw.se  # consistent: history is balanced by randomisation


# --------------------------------------------------------------------------- non-inferiority, multiplicity


def test_noninferiority_matches_statsmodels(frame, cells):
    from statsmodels.stats.proportion import test_proportions_2indep
    from statsmodels.stats.weightstats import ttest_ind

    t, c = cells[("offer",)].proportion("conv"), cells[("control",)].proportion("conv")
    comp = stats.compare_proportions(t, c)
    margin = 0.06
    ni = guardrails.noninferiority(comp, margin, "increase", alpha=0.025)
    ref = test_proportions_2indep(t.successes, t.n, c.successes, c.n, value=margin, method="wald",
                                  compare="diff", alternative="smaller", correction=False)
    _close(ni.p_value, ref.pvalue)
    assert ni.non_inferior == (ref.pvalue < 0.025)
    # bad direction "decrease" on a mean: H0 d <= -margin
    y1, y0 = frame.y[frame.arm == "offer"], frame.y[frame.arm == "control"]
    compm = stats.compare_means(cells[("offer",)].sample_mean("y"), cells[("control",)].sample_mean("y"))
    ni2 = guardrails.noninferiority(compm, 5.0, "decrease")
    _, p2, _ = ttest_ind(y1, y0, usevar="unequal", value=-5.0, alternative="larger")
    _close(ni2.p_value, p2)


def test_noninferiority_without_margin():
    comp = stats.compare_proportions(stats.Proportion(1000, 200), stats.Proportion(1000, 100))
    assert not guardrails.noninferiority(comp, None, "increase").non_inferior
    assert guardrails.noninferiority(comp, None, "decrease").non_inferior


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_holm_and_bh_match_multipletests(seed):
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(seed).uniform(0, 0.2, 9) ** 2
    _close_all = lambda a, b: np.testing.assert_allclose(np.array(a, float), b, rtol=1e-12)  # noqa: E731
    _close_all(multiplicity.holm(list(p)), multipletests(p, method="holm")[1])
    _close_all(multiplicity.benjamini_hochberg(list(p)), multipletests(p, method="fdr_bh")[1])


def test_multiplicity_skips_missing():
    assert multiplicity.holm([0.01, None, 0.04]) == [0.02, None, 0.04]
    assert multiplicity.benjamini_hochberg([float("nan"), 0.01]) == [None, 0.01]


# --------------------------------------------------------------------------- group-sequential


@pytest.mark.parametrize(
    "looks, published",
    [
        # gsDesign sfLDOF (alpha/2 = 0.025 per side) / R ldbounds iuse=1, two-sided 0.05, equal spacing
        (4, (4.3326, 2.9631, 2.3590, 2.0141)),
        (5, (4.8769, 3.3569, 2.6803, 2.2898, 2.0310)),
    ],
)
def test_obrien_fleming_boundaries_match_published(looks, published):
    b = sequential.obrien_fleming_boundaries(looks, 0.05)
    np.testing.assert_allclose(b.z, published, atol=6e-4)


@pytest.mark.parametrize("fractions", [(0.25, 0.5, 0.75, 1.0), (0.3, 0.65, 1.0)])
def test_obrien_fleming_crossing_probability_is_alpha(fractions):
    """Independent check: P(|Z_k| >= c_k for some k) under H0 from scipy's multivariate normal."""
    b = sequential.obrien_fleming_boundaries(len(fractions), 0.05, fractions=fractions)
    t = np.array(fractions)
    cov = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    z = np.array(b.z)
    mvn = st.multivariate_normal(np.zeros(len(t)), cov, seed=1)
    cross = 1 - mvn.cdf(z, lower_limit=-z)
    assert cross == pytest.approx(0.05, abs=2e-4)
    assert b.alpha_spent[-1] == pytest.approx(0.05)
    assert sequential.obrien_fleming_boundaries(1, 0.05).z[0] == pytest.approx(st.norm.ppf(0.975), rel=1e-12)


def test_comparison_to_dict_is_json_ready():
    import json

    comp = stats.compare_proportions(stats.Proportion(10, 0), stats.Proportion(10, 0))
    d = comp.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["rel_effect"] is None and d["p_value"] == 1.0
    assert "Wald" in d["method"]
    assert "effect" in comp.summary()
