"""One story per readout: the finance section of the demo, recomputed from its outcomes file, and
the identities that tie finance to targeting (one value of a conversion, one value of a policy).

Every figure is recomputed here from the demo's rows with pandas/numpy and statsmodels OLS (the
CUPED estimate of ``Y ~ 1 + treated + covariate``), by the method results.json prints beside it,
independently of the toolkit's estimators, to 1e-6 relative. The identities are computed from
results.json and from the next-wave file ``uplift target`` writes.
"""

from __future__ import annotations

import html
import json
import math
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats as st
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

REL = 1e-6


@pytest.fixture(scope="module")
def demo(demo_readout):
    """(results.json, page html, outcomes with arms, folder) of the shared demo run."""
    out, _ = demo_readout
    results = json.loads((out / "results.json").read_text())
    page = (out / "readout.html").read_text()
    o = pd.read_parquet(out / "data" / "outcomes.parquet")
    ledger = pd.read_parquet(out / "data" / "ledger.parquet")
    o = o.merge(ledger[["customer_id", "arm"]], on="customer_id")
    o["arm"] = o["arm"].astype(str)
    o["treated"] = (o["arm"] == "offer").astype(float)
    o["net"] = o["margin_12m"] - o["cannibalised_margin_12m"] - o["service_cost_12m"]
    return results, page, o, out


def _close(block: dict, est: float, se: float, z: float) -> None:
    assert block["estimate"] == pytest.approx(est, rel=REL)
    assert block["se"] == pytest.approx(se, rel=REL)
    assert block["ci"] == pytest.approx([est - z * se, est + z * se], rel=REL)


def _reference(o: pd.DataFrame, covariate: str | None, k0: float, k1: float) -> dict[str, tuple[float, float]]:
    """(estimate, se) of every finance figure per treated customer, from rows: CUPED by statsmodels OLS
    (theta = the covariate's coefficient in ``Y ~ 1 + treated + X``, the pooled within-arm slope),
    variances from the per-arm sample variances of the linearised (influence) values."""
    t, c = o["treated"] == 1, o["treated"] == 0
    n1, n0 = int(t.sum()), int(c.sum())

    def adjusted(col: str) -> pd.Series:
        if not covariate:
            return o[col]
        theta = smf.ols(f"{col} ~ treated + {covariate}", data=o).fit().params[covariate]
        return o[col] - theta * o[covariate]

    def var2(lt: pd.Series, lc: pd.Series) -> float:
        return lt.var(ddof=1) / n1 + lc.var(ddof=1) / n0

    u, conv = adjusted("net"), o["converted"]
    dpi = u[t].mean() - u[c].mean()
    if covariate:
        assert dpi == pytest.approx(smf.ols(f"net ~ treated + {covariate}", data=o).fit().params["treated"], rel=1e-9)
    p1, p0 = conv[t].mean(), conv[c].mean()
    dp = p1 - p0
    cost = k0 + k1 * p1
    net = dpi - cost
    v = dpi / dp
    gA, gB = k1 / dp - cost / dp**2, cost / dp**2
    ref = {
        "incremental_conversion_rate": (dp, math.sqrt(var2(conv[t], conv[c]))),
        "incremental_profit": (dpi, math.sqrt(var2(u[t], u[c]))),
        "campaign_cost": (cost, k1 * math.sqrt(conv[t].var(ddof=1) / n1)),
        "net_incremental_profit": (net, math.sqrt(var2(u[t] - k1 * conv[t], u[c]))),
        "roi": (net / cost, math.sqrt(var2(u[t] / cost - dpi * k1 * conv[t] / cost**2, u[c] / cost))),
        "cost_per_incremental_conversion": (cost / dp, math.sqrt(var2(gA * conv[t], gB * conv[c]))),
        "value_per_incremental_conversion": (v, math.sqrt(var2((u[t] - v * conv[t]) / dp, (u[c] - v * conv[c]) / dp))),
    }
    r = adjusted("revenue_12m")
    ref["incremental_revenue"] = (r[t].mean() - r[c].mean(), math.sqrt(var2(r[t], r[c])))
    return ref


def _welch_t(o: pd.DataFrame, covariate: str, confidence: float) -> float:
    """The t quantile of Welch's interval for the CUPED-adjusted revenue difference: Welch-Satterthwaite
    df = (v1 + v0)^2 / (v1^2 / (n1 - 1) + v0^2 / (n0 - 1)), v = s^2 / n of the adjusted values."""
    theta = smf.ols(f"revenue_12m ~ treated + {covariate}", data=o).fit().params[covariate]
    y = o["revenue_12m"] - theta * o[covariate]
    t, c = y[o["treated"] == 1], y[o["treated"] == 0]
    v1, v0 = t.var(ddof=1) / len(t), c.var(ddof=1) / len(c)
    df = (v1 + v0) ** 2 / (v1**2 / (len(t) - 1) + v0**2 / (len(c) - 1))
    return float(st.t.ppf(0.5 + confidence / 2, df))


def test_every_finance_figure_is_recomputed_from_the_rows_by_the_printed_method(demo):
    results, page, o, _ = demo
    roi = results["roi"]
    arm = roi["per_arm"]["offer"]
    # the method printed beside the figures: CUPED with the revenue metric's covariate
    revenue_metric = next(m for m in results["metrics"] if m["metric"] == "revenue")
    assert revenue_metric["cuped"] and roi["adjustment"]["method"] == "cuped"
    covariate = roi["adjustment"]["covariate"]
    assert covariate == "revenue_pre_12m"
    assert arm["estimator"].startswith(f"CUPED-adjusted with {covariate}")
    k0, k1 = roi["contact_cost"], roi["incentive_cost"]
    z = float(st.norm.ppf(0.5 + results["metrics"][0]["confidence"] / 2))
    N = len(o)
    assert roi["eligible_population"] == N  # no [economics] eligible_population: the analysed customers
    ref = _reference(o, covariate, k0, k1)
    # the revenue metric's own row uses Welch's t, as its method says; the rest the delta method's normal quantile
    assert "Welch-Satterthwaite" in arm["incremental_revenue"]["method"]
    quantile = {"incremental_revenue": _welch_t(o, covariate, results["metrics"][0]["confidence"])}
    for key, (est, se) in ref.items():
        _close(arm[key], est, se, quantile.get(key, z))
    scaled = arm["scaled"]
    for key, src in (("incremental_conversions", "incremental_conversion_rate"), ("incremental_revenue", "incremental_revenue"),
                     ("incremental_profit", "incremental_profit"), ("campaign_cost", "campaign_cost"),
                     ("net_incremental_profit", "net_incremental_profit")):
        _close(scaled[key], N * ref[src][0], N * ref[src][1], quantile.get(src, z))
    # one estimate per metric: finance's revenue is the metrics table's CUPED revenue
    assert arm["incremental_revenue"]["estimate"] == pytest.approx(revenue_metric["abs_effect"], rel=1e-12)
    assert arm["incremental_revenue"]["ci"] == pytest.approx(revenue_metric["abs_ci"], rel=1e-12)

    # the unadjusted figures of the footnote: differences in means (revenue by Welch's t, as the metrics table)
    raw = _reference(o, None, k0, k1)
    un = arm["unadjusted"]
    for key in ("incremental_profit", "net_incremental_profit", "roi", "value_per_incremental_conversion"):
        _close(un[key], *raw[key], z)
    t, c = o["treated"] == 1, o["treated"] == 0
    welch = CompareMeans(DescrStatsW(o.loc[t, "revenue_12m"]), DescrStatsW(o.loc[c, "revenue_12m"]))
    assert un["incremental_revenue"]["estimate"] == pytest.approx(raw["incremental_revenue"][0], rel=REL)
    assert un["incremental_revenue"]["ci"] == pytest.approx(list(welch.tconfint_diff(usevar="unequal")), rel=REL)
    assert un["scaled"]["net_incremental_profit"]["estimate"] == pytest.approx(N * raw["net_incremental_profit"][0], rel=REL)

    # the page prints the adjusted figures, says so, and gives the unadjusted ones in the footnote
    section = page[page.index("Finance: incremental value"):page.index("Customer lifetime value")]
    text = html.unescape(re.sub(r"<[^>]+>", " ", section))
    assert f"CUPED-adjusted with {covariate}" in text and "unadjusted difference in means" in text

    def money(x: float) -> str:
        return f"EUR {x:,.0f}" if abs(x) >= 10_000 else f"EUR {x:,.2f}"

    for key in ("incremental_revenue", "incremental_profit", "campaign_cost", "value_per_incremental_conversion"):
        assert money(ref[key][0]) in text, key
    assert money(N * ref["net_incremental_profit"][0]) in text
    assert f"{100 * ref['roi'][0]:.0f}%" in text
    for key in ("incremental_revenue", "incremental_profit", "value_per_incremental_conversion"):
        assert money(raw[key][0]) in text, key
    assert f"ROI {100 * raw['roi'][0]:.0f}%" in text


def test_cross_sell_measures_of_the_finance_section(demo):
    """CSR/attach rate (difference of proportions, Wald) and APC (CUPED: OLS of products after on arm and
    products before), from rows."""
    results, _, o, _ = demo
    cat = results["catalogue"]
    t, c = o["treated"] == 1, o["treated"] == 0
    e = cat["cross_sell_rate"]["effects"][0]
    p1, p0 = o.converted[t].mean(), o.converted[c].mean()
    assert e["abs_effect"] == pytest.approx(p1 - p0, rel=REL)
    z = float(st.norm.ppf(0.975))
    se = math.sqrt(p1 * (1 - p1) / t.sum() + p0 * (1 - p0) / c.sum())
    assert e["abs_ci"] == pytest.approx([p1 - p0 - z * se, p1 - p0 + z * se], rel=REL)
    after = o.assign(after=o.products_held + o.converted)
    fit = smf.ols("after ~ treated + products_held", data=after).fit()
    assert cat["apc"]["effects"][0]["abs_effect"] == pytest.approx(fit.params["treated"], rel=REL)


# --------------------------------------------------------------------------- one valuation


def test_targeting_prices_a_conversion_and_contacting_everyone_as_finance(demo):
    results, page, _, _ = demo
    fin = results["roi"]["per_arm"]["offer"]
    tg = results["targeting"]
    # the value of a conversion is one number: finance's value per incremental conversion
    assert tg["assumptions"]["value_per_conversion"] == pytest.approx(fin["value_per_incremental_conversion"]["estimate"], rel=1e-9)
    assert tg["assumptions"]["value_per_conversion_ci"] == pytest.approx(fin["value_per_incremental_conversion"]["ci"], rel=1e-9)
    # and it is finance's incremental profit over its incremental conversion rate
    assert fin["value_per_incremental_conversion"]["estimate"] == pytest.approx(
        fin["incremental_profit"]["estimate"] / fin["incremental_conversion_rate"]["estimate"], rel=1e-9)
    # contacting everyone: finance's net incremental profit per treated customer, for the list's customers
    everyone = tg["contact_everyone"]
    assert everyone["per_customer"] == pytest.approx(fin["net_incremental_profit"]["estimate"], rel=1e-9)
    assert everyone["estimate"] == pytest.approx(everyone["customers"] * fin["net_incremental_profit"]["estimate"], rel=1e-9)
    assert everyone["customers"] == tg["eligible"]["eligible"]
    assert everyone["ci"] == pytest.approx([everyone["customers"] * x for x in fin["net_incremental_profit"]["ci"]], rel=1e-9)
    # the model-expected curve at 100% is contacting everyone
    assert tg["profit_curve"]["depth"][-1] == 1.0
    assert tg["profit_curve"]["model_expected"][-1] == pytest.approx(everyone["estimate"], rel=1e-9)
    # the page says it
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    assert "Contacting every eligible customer" in text and "Value of a conversion" in text


@pytest.fixture(scope="module")
def next_wave(demo, demo_spec_path, tmp_path_factory):
    """``uplift target`` on the demo's files: (its JSON, the next-wave list it wrote)."""
    _, _, _, out = demo
    folder = tmp_path_factory.mktemp("wave")
    dest = folder / "next_wave.parquet"
    run = subprocess.run(
        [sys.executable, "-m", "uplift", "target", str(demo_spec_path), "--outcomes", str(out / "data" / "outcomes.parquet"),
         "--population", str(out / "data" / "population.parquet"), "--ledger", str(out / "data" / "ledger.parquet"),
         "--out", str(dest), "--json", "--quiet"],
        capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout), pd.read_parquet(dest)


def test_next_wave_list_adds_up_to_the_headline_and_to_contacting_everyone(demo, next_wave):
    results, _, _, _ = demo
    js, wave = next_wave
    selected = wave.loc[wave["selected"], "expected_incremental_profit"]
    assert len(selected) == js["n_targeted"]
    assert float(selected.sum()) == pytest.approx(js["expected_incremental_profit"], rel=1e-9)
    assert float(selected.sum()) == pytest.approx(js["predicted_incremental_profit_of_list"], rel=1e-9)
    assert float(wave["expected_incremental_profit"].sum()) == pytest.approx(js["contact_everyone"]["estimate"], rel=1e-9)
    assert len(wave) == js["contact_everyone"]["customers"]
    # computed without the readout, the valuation is the readout's finance one
    fin = results["roi"]["per_arm"]["offer"]
    assert js["contact_everyone"]["per_customer"] == pytest.approx(fin["net_incremental_profit"]["estimate"], rel=1e-9)
    assert js["assumptions"]["value_per_conversion"] == pytest.approx(fin["value_per_incremental_conversion"]["estimate"], rel=1e-9)
    # the mean uplift of the list is the test's incremental conversion rate (the anchor)
    assert js["anchor"]["uplift_level"] == pytest.approx(fin["incremental_conversion_rate"]["estimate"], rel=1e-9)
    assert np.isfinite(wave["expected_incremental_profit"]).all()
