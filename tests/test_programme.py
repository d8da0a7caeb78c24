"""A programme of campaigns: meta-analysis against statsmodels and a published example, the global
holdout's stability and share, the contact policy on the ledgers, the registry's append-only lock,
the programme readout against a simulated truth, the registry prior's assurance, and bad input."""

from __future__ import annotations

import hashlib
import json
import math
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy import stats as st

from uplift.cli import main
from uplift.errors import SpecError, UserError
from uplift.programme.analysis import programme_readout, validate_programme_results
from uplift.programme.campaign import assign_campaign
from uplift.programme.holdout import holdout_mask
from uplift.programme.meta import random_effects
from uplift.programme.priors import assurance
from uplift.programme.registry import open_registry, registry_lock
from uplift.programme.simulate import simulate_programme
from uplift.simulate import simulate_population
from uplift.spec import parse_spec
from uplift.spec.programme import load_programme, parse_programme

PROGRAMME = """[programme]
name = "p"
unit = "customer_id"
salt = "{salt}"
start_date = "2026-01-01"
holdout_share = {share}
registry = "reg"
[contact]
min_days_between = {min_days}
max_offers = {max_offers}
period_days = {period}
complaint_column = "{complaint}"
cooloff_days = {cooloff}
"""

CAMPAIGN = """[experiment]
name = "{name}"
unit = "customer_id"
start_date = "{day}"
target_product = "credit_card"
programme = "p.toml"
[assignment]
salt = "{name}-salt"
arms = {{ control = 0.3, offer = 0.7 }}
control = "control"
[[metrics]]
name = "conversion"
kind = "proportion"
column = "converted"
primary = true
"""


def make_programme(d: Path, n: int = 3000, seed: int = 1, salt: str = "s", share: float = 0.2, min_days: int = 0,
                   max_offers: int = 0, period: int = 90, complaint: str = "", cooloff: int = 0) -> pd.DataFrame:
    pop = simulate_population(n, seed=seed)
    rng = np.random.default_rng(seed)
    days = rng.integers(0, 120, n)
    pop["last_complaint"] = np.where(rng.random(n) < 0.3, (pd.Timestamp("2026-01-01")
                                     + pd.to_timedelta(days, "D")).strftime("%Y-%m-%d"), "")
    pop.to_parquet(d / "pop.parquet")
    (d / "p.toml").write_text(PROGRAMME.format(salt=salt, share=share, min_days=min_days, max_offers=max_offers,
                                               period=period, complaint=complaint, cooloff=cooloff))
    return pop


def assign(d: Path, name: str, day: str, wait: float = 10.0):
    text = CAMPAIGN.format(name=name, day=day)
    (d / f"{name}.toml").write_text(text)
    spec = parse_spec(text, path=d / f"{name}.toml", label=f"{name}.toml")
    return assign_campaign(spec, d / "pop.parquet", d / f"{name}.parquet", wait=wait)


# ----------------------------------------------------------------------------- meta-analysis

KACKER_EFF = np.array([61.00, 61.40, 62.21, 62.30, 62.34, 62.60, 62.70, 62.84, 65.90])
KACKER_VAR = np.array([0.2025, 1.2100, 0.0900, 0.2025, 0.3844, 0.5625, 0.0676, 0.0225, 1.8225])


def test_meta_analysis_equals_statsmodels_combine_effects():
    from statsmodels.stats.meta_analysis import combine_effects

    rng = np.random.default_rng(4)
    checked = 0
    for _ in range(40):
        k = int(rng.integers(3, 12))
        se = rng.uniform(0.002, 0.01, k)
        y = rng.normal(0.01, rng.uniform(0, 0.01), k) + rng.normal(0, se)
        for method in ("dl", "pm"):
            ours = random_effects(y, se, method=method)
            with np.errstate(invalid="ignore"):
                ref = combine_effects(y, se ** 2, method_re=method)
            if ref.tau2 <= 0:
                continue  # truncated: tested below
            checked += 1
            assert ours.mean == pytest.approx(ref.mean_effect_re, abs=1e-10)
            assert ours.se == pytest.approx(ref.sd_eff_w_re, abs=1e-10)
            assert ours.tau2 == pytest.approx(ref.tau2, abs=1e-10)
            assert ours.q == pytest.approx(ref.q, abs=1e-10) and ours.i2 == pytest.approx(ref.i2, abs=1e-10)
    assert checked > 40


def test_dl_by_hand_and_published_values():
    """DerSimonian-Laird by hand on Kacker's (2004) data, and R metafor's values (statsmodels' test data)."""
    res = random_effects(KACKER_EFF, np.sqrt(KACKER_VAR), method="dl")
    w = 1 / KACKER_VAR
    ybar = (w * KACKER_EFF).sum() / w.sum()
    q = (w * (KACKER_EFF - ybar) ** 2).sum()
    tau2 = max(0.0, (q - 8) / (w.sum() - (w ** 2).sum() / w.sum()))
    ws = 1 / (KACKER_VAR + tau2)
    assert res.tau2 == pytest.approx(tau2, rel=1e-10)
    assert res.mean == pytest.approx((ws * KACKER_EFF).sum() / ws.sum(), abs=1e-10)
    # metafor rma(method="DL"): b, se, tau2, QE, I2 (%)
    assert res.mean == pytest.approx(62.3901386044504, abs=1e-10)
    assert res.se == pytest.approx(0.245749668040304, abs=1e-10)
    assert res.tau2 == pytest.approx(0.288049246973751, abs=1e-10)
    assert res.q == pytest.approx(24.801897741835, abs=1e-9)
    assert 100 * res.i2 == pytest.approx(67.744403741711, abs=1e-8)
    assert math.sqrt(random_effects(KACKER_EFF, np.sqrt(KACKER_VAR), method="pm").tau2) == pytest.approx(0.8399, abs=6e-5)


def test_dl_truncates_negative_tau2_to_the_fixed_effect_summary():
    y, se = np.array([0.010, 0.011, 0.0105]), np.array([0.01, 0.01, 0.01])
    res = random_effects(y, se)
    w = 1 / se ** 2
    assert res.tau2 == 0.0 and res.i2 == 0.0
    assert res.mean == pytest.approx((w * y).sum() / w.sum(), abs=1e-15)
    assert res.shrunk == pytest.approx([res.mean] * 3)  # no between-campaign variance: all shrunk to the mean


def test_shrunken_estimates_beat_the_raw_ones_on_simulated_campaigns():
    """Empirical Bayes has lower mean squared error than the raw effects when the truth is known."""
    rng = np.random.default_rng(11)
    raw, shrunk = [], []
    for _ in range(300):
        theta = rng.normal(0.01, 0.004, 8)
        se = rng.uniform(0.002, 0.008, 8)
        y = theta + rng.normal(0, se)
        m = random_effects(y, se)
        raw.append(np.mean((y - theta) ** 2))
        shrunk.append(np.mean((np.array(m.shrunk) - theta) ** 2))
    assert np.mean(shrunk) < 0.8 * np.mean(raw)


# ----------------------------------------------------------------------------- holdout


def test_holdout_is_stable_and_its_share_within_binomial_bounds():
    ids = np.arange(1, 200_001)
    m = holdout_mask(ids, "prog-salt", 0.07)
    shuffled = np.random.default_rng(0).permutation(ids)
    again = holdout_mask(shuffled, "prog-salt", 0.07)
    assert np.array_equal(again, m[shuffled - 1])  # a pure function of (salt, unit): row order never matters
    # independent recomputation from hashlib for a few units
    for u in (1, 17, 99_999):
        h = int.from_bytes(hashlib.sha256(f"prog-salt:{u}".encode()).digest()[:8], "big") / 2 ** 64
        assert m[u - 1] == (h < 0.07)
    n, p = len(ids), 0.07
    lo, hi = st.binom.ppf([0.0005, 0.9995], n, p)
    assert lo <= m.sum() <= hi
    assert not np.array_equal(m, holdout_mask(ids, "other-salt", 0.07))


# ----------------------------------------------------------------------------- contact policy


@pytest.mark.parametrize("seed", range(4))
def test_contact_rules_hold_on_the_ledgers(tmp_path, seed):
    rng = np.random.default_rng(seed)
    min_days, max_offers, period, cooloff = int(rng.integers(5, 30)), int(rng.integers(1, 3)), 60, int(rng.integers(10, 40))
    pop = make_programme(tmp_path, n=1500, seed=seed, min_days=min_days, max_offers=max_offers, period=period,
                         complaint="last_complaint", cooloff=cooloff)
    days = sorted(pd.Timestamp("2026-01-05") + pd.to_timedelta(np.sort(rng.integers(0, 100, 4)), "D"))
    excluded = 0
    for i, day in enumerate(days):
        res = assign(tmp_path, f"c{i}", day.strftime("%Y-%m-%d"))
        excluded += sum(w["excluded"] for w in res.eligibility.waterfall if w["step"] in
                        ("complaint_cooloff", "contact_min_days", "contact_max_offers"))
    assert excluded > 0  # the rules had work to do
    hold = set(pop["customer_id"][holdout_mask(pop["customer_id"], "s", 0.2)])
    contacts = []
    for i, day in enumerate(days):
        led = pd.read_parquet(tmp_path / f"c{i}.parquet")
        offered = led.loc[led["arm"].astype(str) == "offer", "customer_id"]
        assert not hold & set(offered)  # the holdout is never contacted
        contacts += [(u, day) for u in offered]
    c = pd.DataFrame(contacts, columns=["u", "day"]).sort_values(["u", "day"])
    gaps = c.groupby("u")["day"].diff().dt.days.dropna()
    assert (gaps >= min_days).all()  # at most one campaign per min_days
    for _, g in c.groupby("u"):
        for day in g["day"]:
            assert ((g["day"] > day - pd.Timedelta(days=period)) & (g["day"] <= day)).sum() <= max_offers
    complaint = pd.to_datetime(pop.set_index("customer_id")["last_complaint"].replace("", None))
    age = (c["day"].to_numpy() - complaint.reindex(c["u"]).to_numpy()) / np.timedelta64(1, "D")
    assert not ((age >= 0) & (age < cooloff)).any()  # no offer during the cool-off


def test_two_campaigns_assigned_concurrently_never_both_contact_a_unit(tmp_path):
    make_programme(tmp_path, n=2000, min_days=30)
    errors = []

    def run(name):
        try:
            assign(tmp_path, name, "2026-02-01", wait=60)
        except Exception as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    offered = [set(pd.read_parquet(tmp_path / f"{n}.parquet").query("arm == 'offer'")["customer_id"]) for n in "ab"]
    assert offered[0] and offered[1] and not offered[0] & offered[1]


# ----------------------------------------------------------------------------- registry


def test_registry_is_append_only_and_locked(tmp_path):
    make_programme(tmp_path)
    texts = []
    for i, day in enumerate(("2026-01-10", "2026-02-10")):
        res = assign(tmp_path, f"c{i}", day)
        assert res.eligibility.waterfall[1]["step"] == "global_holdout"
        texts.append((tmp_path / "reg" / "entries.jsonl").read_text())
    assign(tmp_path, "c1", "2026-02-10")  # the same again: nothing new, nothing appended
    assert (tmp_path / "reg" / "entries.jsonl").read_text() == texts[-1]
    assert texts[1].startswith(texts[0]) and texts[1].count("\n") == 2
    reg = open_registry(tmp_path / "reg")
    assert [e["seq"] for e in reg.entries] == [1, 2] and reg.programme == "p"
    assert json.loads((tmp_path / "reg" / "index.json").read_text()) == {"c0": [1], "c1": [2]}
    with registry_lock(tmp_path / "reg"):  # another run holds the registry: the campaign waits, then stops
        with pytest.raises(UserError, match="another run is writing"):
            assign(tmp_path, "c2", "2026-03-10", wait=0.2)
    assert not (tmp_path / "c2.parquet").exists()


# ----------------------------------------------------------------------------- programme readout


def _one_programme(d: Path, seed: int, n: int = 4000):
    make_programme(d, n=n, seed=seed, salt=f"s{seed}", share=0.2, min_days=7)
    for i, day in enumerate(("2026-01-10", "2026-01-20", "2026-02-01", "2026-02-10")):
        text = CAMPAIGN.format(name=f"c{i}", day=day).replace(f'"c{i}-salt"', f'"c{i}-{seed}"')
        (d / f"c{i}.toml").write_text(text)
        assign_campaign(parse_spec(text, path=d / f"c{i}.toml"), d / "pop.parquet", d / f"c{i}.parquet")
    p = load_programme(d / "p.toml")
    reg = open_registry(p.registry_path)
    outcomes, truth = simulate_programme(pd.read_parquet(d / "pop.parquet"), reg, p, seed=seed)
    return p, reg, outcomes, truth


def test_programme_readout_on_a_simulated_programme(tmp_path):
    p, reg, outcomes, truth = _one_programme(tmp_path, seed=2)
    res = programme_readout(p, reg, outcomes)
    validate_programme_results(res)
    conv = res["effect"]["conversions"]
    assert conv["total_ci"][0] <= truth["incremental_conversions"] <= conv["total_ci"][1]
    assert res["units"]["holdout_contacted"] == 0 and len(res["campaigns"]) == 4
    # the totals are N_exposed x the difference of the raw means (numpy recomputation)
    hold = holdout_mask(outcomes["customer_id"], "s2", 0.2)
    y = outcomes["converted"].to_numpy()
    assert conv["total"] == pytest.approx((~hold).sum() * (y[~hold].mean() - y[hold].mean()), rel=1e-12)
    assert res["meta_analysis"]["k"] == 4


@pytest.mark.slow
def test_programme_interval_covers_the_truth_and_the_naive_sum_is_biased(tmp_path):
    runs, covered, est_err, naive_err = 100, 0, [], []
    for seed in range(runs):
        d = tmp_path / f"r{seed}"
        d.mkdir()
        p, reg, outcomes, truth = _one_programme(d, seed=seed, n=3000)
        res = programme_readout(p, reg, outcomes)
        lo, hi = res["effect"]["conversions"]["total_ci"]
        covered += lo <= truth["incremental_conversions"] <= hi
        est_err.append(res["effect"]["conversions"]["total"] - truth["incremental_conversions"])
        naive_err.append(res["naive_sum"]["incremental_conversions"] - truth["incremental_conversions"])
    assert covered / runs >= 0.93
    se = lambda x: np.std(x, ddof=1) / math.sqrt(len(x))  # noqa: E731
    assert abs(np.mean(est_err)) < 3 * se(est_err)  # the holdout contrast is unbiased
    assert abs(np.mean(naive_err)) > 4 * se(naive_err)  # the naive sum is not (saturation, overlap)


# ----------------------------------------------------------------------------- priors


def test_assurance_equals_the_power_averaged_over_the_prior():
    for m, s, sigma, alpha in ((0.01, 0.004, 0.005, 0.05), (0.002, 0.01, 0.003, 0.01), (-0.01, 0.002, 0.004, 0.05)):
        z = st.norm.ppf(1 - alpha / 2)

        def integrand(d):
            return (st.norm.cdf(d / sigma - z) + st.norm.cdf(-d / sigma - z)) * st.norm.pdf(d, m, s)

        ref, _ = integrate.quad(integrand, m - 12 * s, m + 12 * s, epsabs=1e-12)
        assert assurance(m, s, sigma, alpha) == pytest.approx(ref, abs=1e-8)


# ----------------------------------------------------------------------------- bad input


def _cli(args, capsys) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("share", ["0", "1", "1.5", "-0.1"])
def test_holdout_share_outside_0_1_is_one_line(share):
    with pytest.raises(SpecError, match=r"holdout_share = .* is out of range; use a number in \(0, 1\)"):
        parse_programme(PROGRAMME.format(salt="s", share=share, min_days=0, max_offers=0, period=90, complaint="",
                                         cooloff=0), label="p.toml")


def test_a_campaign_that_would_contact_holdout_units_is_refused(tmp_path, capsys):
    make_programme(tmp_path)
    text = CAMPAIGN.format(name="c0", day="2026-01-10").replace('programme = "p.toml"\n', "")
    (tmp_path / "alone.toml").write_text(text)
    assert main(["assign", str(tmp_path / "alone.toml"), "--population", str(tmp_path / "pop.parquet"),
                 "--ledger", str(tmp_path / "c0.parquet"), "-q"]) == 0  # assigned outside the programme
    before = (tmp_path / "c0.parquet").read_bytes()
    (tmp_path / "c0.toml").write_text(CAMPAIGN.format(name="c0", day="2026-01-10"))
    err = _cli(["assign", str(tmp_path / "c0.toml"), "--population", str(tmp_path / "pop.parquet"),
                "--ledger", str(tmp_path / "c0.parquet")], capsys)
    assert "global holdout in an offer arm" in err
    assert (tmp_path / "c0.parquet").read_bytes() == before and not (tmp_path / "reg").exists()


def test_campaign_before_the_start_or_with_the_holdout_salt_is_refused(tmp_path, capsys):
    make_programme(tmp_path)
    pop = str(tmp_path / "pop.parquet")
    (tmp_path / "early.toml").write_text(CAMPAIGN.format(name="early", day="2025-12-01"))
    err = _cli(["assign", str(tmp_path / "early.toml"), "--population", pop, "--ledger", str(tmp_path / "e.parquet")], capsys)
    assert "before programme 'p' starts" in err
    (tmp_path / "salty.toml").write_text(CAMPAIGN.format(name="salty", day="2026-02-01").replace('"salty-salt"', '"s"'))
    err = _cli(["assign", str(tmp_path / "salty.toml"), "--population", pop, "--ledger", str(tmp_path / "s.parquet")], capsys)
    assert "holdout salt" in err
    assert not (tmp_path / "e.parquet").exists() and not (tmp_path / "s.parquet").exists()


def test_unknown_registry_is_one_line(tmp_path, capsys):
    err = _cli(["registry", "list", str(tmp_path / "nowhere")], capsys)
    assert "is not a registry" in err


def test_registry_of_another_programme_changed_holdout_and_missing_programme(tmp_path, capsys):
    make_programme(tmp_path)
    assign(tmp_path, "c0", "2026-01-10")
    entries = (tmp_path / "reg" / "entries.jsonl").read_bytes()
    pop = str(tmp_path / "pop.parquet")
    (tmp_path / "p.toml").write_text((tmp_path / "p.toml").read_text().replace("holdout_share = 0.2", "holdout_share = 0.3"))
    (tmp_path / "c1.toml").write_text(CAMPAIGN.format(name="c1", day="2026-02-10"))
    err = _cli(["assign", str(tmp_path / "c1.toml"), "--population", pop, "--ledger", str(tmp_path / "c1.parquet")], capsys)
    assert "holdout_share changed after the start" in err
    (tmp_path / "p.toml").write_text((tmp_path / "p.toml").read_text().replace('name = "p"', 'name = "q"'))
    err = _cli(["assign", str(tmp_path / "c1.toml"), "--population", pop, "--ledger", str(tmp_path / "c1.parquet")], capsys)
    assert "not of 'q'" in err
    (tmp_path / "c2.toml").write_text(CAMPAIGN.format(name="c2", day="2026-02-10").replace('programme = "p.toml"',
                                                                                          'registry = "reg"'))
    err = _cli(["assign", str(tmp_path / "c2.toml"), "--population", pop, "--ledger", str(tmp_path / "c2.parquet")], capsys)
    assert "belongs to programme 'p'" in err
    assert (tmp_path / "reg" / "entries.jsonl").read_bytes() == entries
    assert not (tmp_path / "c1.parquet").exists() and not (tmp_path / "c2.parquet").exists()


# ----------------------------------------------------------------------------- the walk-through, by the CLI


def test_walk_through_by_the_command_line(tmp_path, capsys):
    import shutil

    root = Path(__file__).resolve().parents[1] / "experiments" / "programme"
    d = tmp_path / "programme"
    shutil.copytree(root, d)
    simulate_population(6000, seed=3).to_parquet(d / "pop.parquet")
    for c in ("c1", "c2", "c3"):
        assert main(["assign", str(d / f"{c}.toml"), "--population", str(d / "pop.parquet"), "-q"]) == 0
    capsys.readouterr()
    assert main(["registry", "list", str(d / "registry")]) == 0
    listing = capsys.readouterr().out
    assert all(f"campaign-{i}" in listing for i in (1, 2, 3))
    out = d / "sim.parquet"
    assert main(["programme", str(d / "programme.toml"), "--simulate-from", str(d / "pop.parquet"), "--outcomes", str(out)]) == 0
    pages = []
    for _ in range(2):
        assert main(["programme", str(d / "programme.toml"), "--outcomes", str(out), "--out", str(d / "rep")]) == 0
        pages.append({n: (d / "rep" / n).read_bytes() for n in ("results.json", "programme.html")})
    assert pages[0] == pages[1]  # byte-identical reruns
    res = json.loads(pages[0]["results.json"])
    validate_programme_results(res)
    printed = capsys.readouterr().out
    assert f"{res['effect']['conversions']['total']:,.1f} incremental conversions" in printed  # CLI == results.json
    html = pages[0]["programme.html"].decode()
    assert "<script" not in html and "http" not in html.replace("http-equiv", "")
    assert f"{res['effect']['conversions']['total']:,.1f}" in html  # page == results.json
    # --lang zh: the page in Chinese, results.json byte for byte the English run's
    assert main(["programme", str(d / "programme.toml"), "--outcomes", str(out), "--out", str(d / "rep_zh"), "--lang", "zh"]) == 0
    capsys.readouterr()
    assert (d / "rep_zh" / "results.json").read_bytes() == pages[0]["results.json"]
    zh = (d / "rep_zh" / "programme.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN"' in zh and "营销计划读出报告" in zh and "元分析" in zh and "对照组" in zh
    assert "Campaigns side by side" in html and "Campaigns side by side" not in zh
    assert f"{res['effect']['conversions']['total']:,.1f}" in zh
    entries = open_registry(d / "registry").entries
    assert sum(e["kind"] == "campaign_effect" for e in entries) == 3
    assert main(["design", str(d / "c4.toml"), "--no-population", "--prior-from-registry", "--json"]) == 0
    prior = json.loads(capsys.readouterr().out)["registry_prior"]
    assert prior["campaigns"] == ["campaign-1", "campaign-2", "campaign-3"] and 0 < prior["assurance"] < 1
    # c4 values a conversion at [design] value_per_conversion = 250 and has no contact or incentive cost:
    # the expected profit is units offered x prior effect x 250, and its interval the same at mu -/+ z sd
    n_t, mu, sd = prior["n_treated"], prior["prior_mean"], prior["prior_sd"]
    assert prior["incremental_profit"] == pytest.approx(n_t * mu * 250.0, rel=1e-12)
    assert prior["incremental_profit_interval"] == pytest.approx([n_t * (mu - 1.959963984540054 * sd) * 250.0,
                                                                  n_t * (mu + 1.959963984540054 * sd) * 250.0], rel=1e-9)
    # a campaign readout is recorded in the registry too
    ledger = pd.read_parquet(d / "ledgers" / "c1.parquet")
    sim = pd.read_parquet(out)
    sim[sim["customer_id"].isin(ledger["customer_id"])].to_parquet(d / "c1_outcomes.parquet")
    assert main(["readout", str(d / "c1.toml"), "--outcomes", str(d / "c1_outcomes.parquet"), "--ledger", str(d / "ledgers" / "c1.parquet"),
                 "--out", str(d / "r1"), "--json-only"]) == 0
    last = open_registry(d / "registry").entries[-1]
    assert last["kind"] == "readout" and last["experiment"] == "campaign-1" and last["effects"][0]["metric"] == "conversion"
