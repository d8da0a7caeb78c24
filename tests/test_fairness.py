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


def test_a_cell_equals_statsmodels_wald_interval_and_pooled_z_test():
    """The difference, its Wald interval and the pooled two-sided z-test p of one cell equal statsmodels'
    ``confint_proportions_2indep(method="wald")`` and ``proportions_ztest`` on the same counts."""
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

    rng = np.random.default_rng(5)
    df = simulate(rng, 40_000, 0.01)
    r = duty_panel(df, "arm", "control", ["vulnerable"], "converted", ["complaint"], [], confidence=0.9)
    row = next(x for x in r.rows if x["value"] == "vulnerable" and x["outcome"] == "complaint")
    m = df[df.vulnerable == "vulnerable"]
    s1, n1 = int(m[m.arm == "offer"].complaint.sum()), int((m.arm == "offer").sum())
    s0, n0 = int(m[m.arm == "control"].complaint.sum()), int((m.arm == "control").sum())
    low, high = confint_proportions_2indep(s1, n1, s0, n0, method="wald", compare="diff", alpha=0.1)
    _, p = proportions_ztest([s1, s0], [n1, n0])
    assert (row["n_arm"], row["n_control"]) == (n1, n0)
    assert row["ci"] == pytest.approx([low, high], abs=1e-12)
    assert row["p_value"] == pytest.approx(p, rel=1e-9)


def test_in_duckdb_the_panel_equals_memory():
    """The same rows through the embedded DuckDB give the same panel (one aggregation per group column there)."""
    from uplift.data.source import open_source

    rng = np.random.default_rng(8)
    df = simulate(rng, 30_000, 0.01)
    df["sold_not_used"] = ((df.converted == 1) & (rng.random(len(df)) < 0.2)).astype(int)
    args = ("arm", "control", ["vulnerable"], "converted", ["complaint"], ["sold_not_used"])
    mem = duty_panel(df, *args)
    duck = duty_panel(open_source(df, engine="duckdb"), *args)
    assert len(mem.rows) == len(duck.rows) == 6
    for a, b in zip(mem.rows, duck.rows):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == (pytest.approx(b[k], rel=1e-9, abs=1e-12) if isinstance(a[k], float) else b[k]), k


def test_an_unsuitable_sale_is_a_share_of_the_sales_and_small_cells_are_not_tested():
    """An unsuitable-sale signal compares its share among customers who converted (direct recomputation);
    a cell below ``min_cell_size`` keeps its rates but has no difference, p-value or Holm p."""
    rng = np.random.default_rng(9)
    df = simulate(rng, 50_000, 0.0)
    df["sold_not_used"] = ((df.converted == 1) & (rng.random(len(df)) < 0.3)).astype(int)
    r = duty_panel(df, "arm", "control", ["vulnerable"], "converted", [], ["sold_not_used"], min_cell_size=100)
    by_value = {x["value"]: x for x in r.rows if x["kind"] == "unsuitable_sale"}
    sales = df[(df.vulnerable == "other") & (df.converted == 1)]
    other = by_value["other"]
    assert other["n_arm"] == int((sales.arm == "offer").sum())
    assert other["rate_arm"] == pytest.approx(sales[sales.arm == "offer"].sold_not_used.mean(), abs=1e-12)
    assert other["difference"] == pytest.approx(sales[sales.arm == "offer"].sold_not_used.mean()
                                                - sales[sales.arm == "control"].sold_not_used.mean(), abs=1e-12)
    small = by_value["vulnerable"]  # about 60 sales per arm in the 5% group: below 100
    assert small["n_arm"] < 100 and small["difference"] is None and small["p_holm"] is None and not small["harm_flag"]
    assert small["rate_arm"] is not None


def test_a_flagged_harm_is_shown_beside_the_decision():
    """The readout's decision is never shown without a harm flag: a planted harm the panel flags puts a
    warning box naming the cell next to the decision; no flag, no box."""
    from uplift.readout.duty import duty_alert, duty_section

    rng = np.random.default_rng(12)
    r = duty_panel(simulate(rng, 400_000, 0.02), "arm", "control", ["vulnerable"], "converted", ["complaint"], [])
    assert r.flagged and all(x["value"] == "vulnerable" for x in r.flagged)
    results = {"consumer_duty": r.to_dict()}
    alert = duty_alert(results)
    assert "harm flagged in 1 group cells" in alert and "vulnerable = vulnerable (complaint, offer)" in alert
    assert "Harm flagged in 1 group cells" in duty_section(results)
    calm = {"consumer_duty": duty_panel(simulate(rng, 20_000, 0.0), "arm", "control", ["vulnerable"], "converted",
                                        ["complaint"], []).to_dict()}
    assert calm["consumer_duty"]["flagged"] == 0 and duty_alert(calm) == ""
