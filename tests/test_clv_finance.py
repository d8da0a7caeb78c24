"""CLV that finance can sign: observed vs extrapolated shares of the incremental CLV, first-year value,
lifetime ROI with its interval, the margin's definition, the value chart, and the influence of one customer.

References: row-level numpy recomputation (no censoring: the life-table estimator is then the sample
mean of each customer's discounted value), a re-analysis without the influential customer, and the
spec's own settings.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from uplift.clv.analyse import clv_analysis, clv_from_life_table, margin_definition
from uplift.clv.discounting import discount_factors
from uplift.demo import DEMO_SPEC
from uplift.readout import report
from uplift.simulate import simulate
from uplift.spec import parse_spec
from uplift.survival.estimators import life_table


def _uncensored(seed: int = 5, n: int = 4000, cap: int = 30) -> pd.DataFrame:
    """Two arms, every lifetime observed to its end or to ``cap`` periods (the only censoring: customers
    still active at ``cap``); margin and conversion correlated with lifetime."""
    rng = np.random.default_rng(seed)
    frames = []
    for arm, q, p in (("control", 0.09, 0.02), ("offer", 0.07, 0.05)):
        raw = rng.geometric(q, n)
        life = np.minimum(raw, cap)
        conv = (rng.random(n) < p + 0.002 * life).astype(int)
        m = rng.lognormal(1.5, 0.8, n) + 3 * conv - 1
        frames.append(pd.DataFrame({"arm": arm, "t": life, "e": (raw <= cap).astype(int), "m": m, "conv": conv}))
    return pd.concat(frames, ignore_index=True)


def _row_values(df: pd.DataFrame, horizon: int, rate: float, timing: str = "end") -> np.ndarray:
    """Each customer's discounted value m sum_{t in grid} v^t 1{T > t} and its first-year part."""
    grid, v = discount_factors(horizon, (1 + rate) ** (1 / 12) - 1, timing)
    t, active = df["t"].to_numpy()[:, None], (df["e"].to_numpy() == 0)[:, None]
    alive = (t > grid[None, :]) | (active & (t >= grid[None, :]))  # active at the cut: survived its last period
    per_t = df["m"].to_numpy()[:, None] * alive * v[None, :]
    return per_t.sum(axis=1), per_t[:, :12].sum(axis=1)


def test_observed_and_extrapolated_shares_of_the_incremental_clv():
    """Horizon 60 beyond 30 observed periods: the observed part is the row-level value of periods 1..30."""
    df = _uncensored()
    res = clv_from_life_table(life_table(df, "t", "e", by="arm", value_col="m"), "arm", "control",
                              horizon_periods=60, annual_discount_rate=0.08, extrapolation="sbg")
    inc = res.incremental[0]
    obs = {a: _row_values(sub, 30, 0.08)[0].mean() for a, sub in df.groupby("arm")}
    assert inc.observed_part == pytest.approx(obs["offer"] - obs["control"], rel=1e-9)
    assert inc.observed_part + inc.tail_part == pytest.approx(inc.estimate, rel=1e-12)
    d = inc.to_dict()
    assert d["share_observed"] == pytest.approx(inc.observed_part / inc.estimate, rel=1e-12)
    assert d["share_observed"] + d["share_extrapolated"] == pytest.approx(1.0, rel=1e-12)
    assert inc.tail_part != 0


@pytest.mark.parametrize("timing", ["end", "start"])
def test_first_year_value_and_its_se_equal_the_row_level_mean(timing):
    df = _uncensored(seed=6)
    res = clv_from_life_table(life_table(df, "t", "e", by="arm", value_col="m"), "arm", "control",
                              horizon_periods=24, annual_discount_rate=0.1, margin_timing=timing)
    means, variances = {}, {}
    for a, sub in df.groupby("arm"):
        _, y12 = _row_values(sub, 24, 0.1, timing)
        means[a], variances[a] = y12.mean(), y12.var(ddof=0) / len(y12)
    fy = res.incremental[0].first_year
    assert fy["periods"] == 12
    assert fy["estimate"] == pytest.approx(means["offer"] - means["control"], rel=1e-9)
    assert fy["se"] == pytest.approx(np.sqrt(variances["offer"] + variances["control"]), rel=1e-6)
    # the whole cumulative curve carries its se; at the horizon it is the CLV's
    for a, arm in res.arms.items():
        assert arm.cumulative_se[-1] == pytest.approx(arm.se, rel=1e-12)
        assert np.all(np.diff(arm.cumulative_se[:5]) >= 0)


@pytest.mark.parametrize("incentive", [0.0, 20.0])
def test_lifetime_roi_and_its_delta_method_interval_match_a_row_level_recomputation(incentive):
    """ROI = (dCLV - c) / c, c = k0 + k1 p_arm; variance by the delta method from the rows' sample
    moments (ddof 0), the covariance of each customer's value and conversion included."""
    df = _uncensored(seed=7)
    k0 = 1.5
    lt = life_table(df, "t", "e", by="arm", value_col="m")
    split = life_table(df, "t", "e", by=["arm", "conv"], value_col="m")
    res = clv_from_life_table(lt, "arm", "control", horizon_periods=24, annual_discount_rate=0.08,
                              contact_cost=k0, incentive_cost=incentive, conversion_table=split, conversion_column="conv")
    y = {a: _row_values(sub, 24, 0.08)[0] for a, sub in df.groupby("arm")}
    conv = df.loc[df.arm == "offer", "conv"].to_numpy()
    n = len(conv)
    p = conv.mean()
    c = k0 + incentive * p
    d = y["offer"].mean() - y["control"].mean()
    g_p = -d * incentive / c**2
    cov = np.mean((y["offer"] - y["offer"].mean()) * (conv - p)) / n
    var = ((y["offer"].var() / n + y["control"].var() / len(y["control"])) / c**2
           + g_p**2 * p * (1 - p) / n + 2 * g_p * cov / c)
    roi = res.incremental[0].lifetime_roi
    assert roi["campaign_cost"] == pytest.approx(c, rel=1e-12)
    assert roi["estimate"] == pytest.approx((d - c) / c, rel=1e-9)
    assert roi["se"] == pytest.approx(np.sqrt(var), rel=1e-5)
    assert roi["ci"][0] < roi["estimate"] < roi["ci"][1]
    if incentive:  # the covariance term matters: leaving it out gives another se
        assert abs(2 * g_p * cov / c) > 1e-3 * var


def _demo_spec(extra_clv: str = ""):
    text = DEMO_SPEC.read_text()
    if extra_clv:
        text = text.replace('products_column = "products_held"\n', f'products_column = "products_held"\n{extra_clv}\n')
    return parse_spec(text, path=DEMO_SPEC)


@pytest.fixture(scope="module")
def demo_rows():
    return simulate(20_000, seed=1).outcomes


def test_one_planted_customer_with_a_long_tenure_is_flagged(demo_rows):
    """One active offer customer at 61 months (everyone else at most 24) moves the incremental CLV from
    about +9.8 to +40.6: the influence check says so, and its figure without the customer equals a
    re-analysis of the data without that row."""
    spec = _demo_spec("max_tenure_periods = 120")
    clean = clv_analysis(spec, demo_rows).to_dict()
    assert not clean["influence"]["arms"]["offer"]["flagged"]
    assert not any("moves the incremental CLV" in n for n in clean["notes"])
    planted = demo_rows.copy()
    i = planted.index[planted.arm == "offer"][0]
    planted.loc[i, "tenure_months"] = 61
    planted.loc[i, "churned"] = 0
    res = clv_analysis(spec, planted).to_dict()
    row = res["influence"]["arms"]["offer"]
    assert row["flagged"] and row["tenure"] == 61 and row["customers_in_cell"] == 1 and not row["churned"]
    assert abs(row["change"]) > res["incremental"]["offer"]["se"]
    assert any("tenure 61" in n for n in res["notes"])
    without = clv_analysis(spec, planted.drop(index=i)).to_dict()["incremental"]["offer"]["clv"]
    assert row["incremental_without"] == pytest.approx(without, rel=1e-6)
    assert res["incremental"]["offer"]["clv"] - clean["incremental"]["offer"]["clv"] > 25
    page = report.clv_summary({"clv": res}, "EUR")
    assert "One customer moves the incremental CLV" in page and "tenure 61" in page
    assert "One customer moves" not in report.clv_summary({"clv": clean}, "EUR")


def test_the_demo_page_states_margin_shares_first_year_and_lifetime_roi(demo_rows):
    spec = _demo_spec()
    res = clv_analysis(spec, demo_rows)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["margin_definition"] == margin_definition(spec)
    assert "'monthly_margin'" in d["margin_definition"]
    assert "net of cannibalised margin" in d["margin_definition"] and "cost to serve" in d["margin_definition"]
    assert "margin_12m - cannibalised_margin_12m - service_cost_12m" in d["margin_definition"]
    inc = d["incremental"]["offer"]
    conv = demo_rows.loc[demo_rows.arm == "offer", "converted"].mean()
    assert inc["lifetime_roi"]["campaign_cost"] == pytest.approx(1.5 + 20.0 * conv, rel=1e-12)
    page = report.clv_summary({"clv": d}, "EUR")
    assert "Lifetime ROI" in page and "delta method" in page
    assert "observed periods" in page and "extrapolated beyond them" in page
    assert "first 12 periods" in page and "Influence check" in page


def test_margin_not_declared_net_says_so():
    spec = parse_spec(DEMO_SPEC.read_text().replace('margin_net_of = ["cannibalisation", "cost_to_serve"]\n', ""),
                      path=DEMO_SPEC)
    text = margin_definition(spec)
    assert "not net of cannibalised margin nor of cost to serve" in text and "[clv] margin_net_of" in text


def test_value_chart_has_currency_band_and_extrapolation_mark(demo_rows):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = clv_analysis(_demo_spec(), demo_rows)
    fig, ax = plt.subplots()
    res.plot_cumulative_value(ax, currency="EUR")
    assert "(EUR)" in ax.get_ylabel()
    assert len(ax.collections) == len(res.arms)  # one band per arm
    labels = [line.get_label() for line in ax.lines]
    assert any(lab.startswith("extrapolation starts") for lab in labels)
    mark = next(line for line in ax.lines if line.get_label().startswith("extrapolation starts"))
    assert mark.get_xdata()[0] == max(a.tau for a in res.arms.values())
    plt.close(fig)
