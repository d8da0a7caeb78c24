"""Always-valid monitoring (uplift.stats.sequences): mixture SPRT p-values and confidence sequences.

References independent of the code: the mixture likelihood ratio is integrated numerically (scipy
``quad``) over the N(0, tau^2) mixing distribution; the half-width is compared with GrowthBook's
documented formula (docs, "Sequential testing": Waudby-Smith et al. 2023, eq. 9); the error rate over
30 looks is simulated from raw A/A data through the readout's own comparisons (proportion, mean,
CUPED and ratio metrics), and so is the coverage of the sequence under a real effect.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as st

from uplift.data.moments import block_moments
from uplift.metrics.analyse import analyse_metrics
from uplift.metrics.kinds import metric_for
from uplift.spec import MetricSpec, load_spec
from uplift.stats.sequences import (
    always_valid,
    one_sided_boundary,
    crossed,
    look_history,
    mixture_rho,
    mixture_variance,
    running,
)

ALPHA = 0.05
LOOKS = 30
METRICS = {
    "proportion": MetricSpec(name="conv", kind="proportion", column="y"),
    "mean": MetricSpec(name="rev", kind="mean", column="r"),
    "cuped": MetricSpec(name="rev_cuped", kind="mean", column="r", covariate="x"),
    "ratio": MetricSpec(name="rev_per_product", kind="ratio", column="r", denominator="d"),
}
COLUMNS = ("y", "r", "x", "d")


@pytest.mark.parametrize("est,se,n", [(0.0, 1.0, 100), (0.3, 0.1, 2000), (-2.5, 1.3, 50_000), (0.016, 0.002, 60_000)])
def test_mixture_likelihood_ratio_equals_numerical_integration(est, se, n):
    tau = math.sqrt(mixture_variance(se, n, ALPHA, 5000))
    num = integrate.quad(lambda t: st.norm.pdf(est, t, se) * st.norm.pdf(t, 0, tau), -12 * tau + min(est, 0),
                         12 * tau + max(est, 0), points=[0.0, est], limit=400, epsabs=0, epsrel=1e-11)[0]
    lr = num / st.norm.pdf(est, 0, se)
    av = always_valid(est, se, n, ALPHA, 5000)
    assert av.log_lr == pytest.approx(math.log(lr), abs=1e-7)
    assert av.p_value == pytest.approx(min(1.0, 1 / lr), rel=1e-7)


def test_half_width_is_growthbooks_documented_formula():
    """sigma sqrt(2 (N rho^2 + 1) / (N^2 rho^2) log(sqrt(N rho^2 + 1) / alpha)), sigma^2 = N se^2,
    rho = sqrt((-2 log alpha + log(-2 log alpha + 1)) / N*)."""
    for se, n, tuning in ((0.8, 6000, 5000), (0.002, 60_000, 5000), (3.0, 400, 100_000)):
        rho = math.sqrt((-2 * math.log(ALPHA) + math.log(-2 * math.log(ALPHA) + 1)) / tuning)
        assert mixture_rho(ALPHA, tuning) == pytest.approx(rho, rel=1e-14)
        sigma = se * math.sqrt(n)
        half = sigma * math.sqrt(2 * (n * rho**2 + 1) / (n**2 * rho**2) * math.log(math.sqrt(n * rho**2 + 1) / ALPHA))
        av = always_valid(1.0, se, n, ALPHA, tuning)
        assert (av.ci[1] - av.ci[0]) / 2 == pytest.approx(half, rel=1e-12)
        # always wider than the fixed-horizon interval
        assert half > st.norm.ppf(1 - ALPHA / 2) * se


def test_the_interval_excludes_zero_exactly_when_p_is_below_alpha():
    rng = np.random.default_rng(1)
    for _ in range(2000):
        se = float(rng.uniform(0.01, 5))
        est = float(rng.normal(0, 4 * se))
        n = int(rng.integers(10, 100_000))
        av = always_valid(est, se, n, ALPHA, 5000)
        excluded = av.ci[0] > 0 or av.ci[1] < 0
        if abs(av.p_value - ALPHA) > 1e-9:
            assert excluded == (av.p_value < ALPHA)


@pytest.mark.parametrize("est,se,n", [(0.0, 1.0, 100), (0.3, 0.1, 2000), (-0.25, 0.1, 50_000), (0.016, 0.002, 60_000)])
@pytest.mark.parametrize("alternative", ["larger", "smaller"])
def test_one_sided_mixture_equals_numerical_integration(est, se, n, alternative):
    """The one-sided likelihood ratio is the half-normal mixture (2 N(0, tau^2) on the alternative's side)
    of N(est; theta, se) / N(est; 0, se), integrated by scipy."""
    tau = math.sqrt(mixture_variance(se, n, ALPHA, 5000))
    lo, hi = (0.0, 14 * tau + abs(est)) if alternative == "larger" else (-14 * tau - abs(est), 0.0)
    num = integrate.quad(lambda t: st.norm.pdf(est, t, se) * 2 * st.norm.pdf(t, 0, tau), lo, hi,
                         points=[est] if lo < est < hi else None, limit=400, epsabs=0, epsrel=1e-11)[0]
    lr = num / st.norm.pdf(est, 0, se)
    av = always_valid(est, se, n, ALPHA, 5000, alternative)
    assert av.log_lr == pytest.approx(math.log(lr), abs=1e-7)
    assert av.p_value == pytest.approx(min(1.0, 1 / lr), rel=1e-7)
    assert av.alternative == alternative and av.to_dict()["alternative"] == alternative


def test_one_sided_bound_lies_between_the_two_sided_ones_and_matches_p():
    """The one-sided bound b solves Lambda_1(b) = 1/alpha: its distance lies between the two-sided
    half-widths at alpha and at 2 alpha; the bound excludes 0 exactly when p < alpha."""
    rng = np.random.default_rng(3)
    for _ in range(500):
        se, n = float(rng.uniform(0.01, 5)), int(rng.integers(10, 100_000))
        est = float(rng.normal(0, 4 * se))
        two = always_valid(est, se, n, ALPHA, 5000)
        up, down = always_valid(est, se, n, ALPHA, 5000, "larger"), always_valid(est, se, n, ALPHA, 5000, "smaller")
        b = est - up.ci[0]
        assert up.ci[1] == math.inf and down.ci[0] == -math.inf
        assert down.ci[1] - est == pytest.approx(b, rel=1e-10)
        r = mixture_variance(se, n, ALPHA, 5000) / se**2
        assert b / se == pytest.approx(one_sided_boundary(r, ALPHA), rel=1e-10)
        # the two-sided half-width at 2 alpha uses the mixture tuned at 2 alpha: compare at the same tau
        half_2a = se * math.sqrt((1 + r) / r * (math.log1p(r) - 2 * math.log(2 * ALPHA)))
        assert half_2a < b < (two.ci[1] - two.ci[0]) / 2
        for av, out in ((up, up.ci[0] > 0), (down, down.ci[1] < 0)):
            if abs(av.p_value - ALPHA) > 1e-9:
                assert out == (av.p_value < ALPHA)


def test_aa_one_sided_false_positive_rate_over_30_looks_is_at_most_alpha(sim_size):
    """A/A, and an effect on the wrong side, with 30 looks: the running one-sided always-valid p-value
    ("larger") falls below alpha in at most alpha of campaigns for every metric kind; the one-sided
    fixed-horizon p looked at 30 times does not keep alpha."""
    runs = sim_size(150, 2000)
    for effect, seed in ((0.0, 11), (-0.05, 12)):
        rng = np.random.default_rng(seed)
        hits = dict.fromkeys(METRICS, 0)
        naive_hits = dict.fromkeys(METRICS, 0)
        for _ in range(runs):
            avs, naive = _monitor(rng, effect, 100, "larger")
            for k in METRICS:
                hits[k] += crossed(running(a for _, a in avs[k]), ALPHA)
                naive_hits[k] += naive[k]
        print(f"effect {effect}: one-sided always-valid false positives "
              + ", ".join(f"{k} {hits[k] / runs:.3f}" for k in METRICS)
              + f"; one-sided fixed p at 30 looks {sum(naive_hits.values()) / (runs * len(METRICS)):.3f}")
        for k in METRICS:
            assert hits[k] / runs <= ALPHA, (effect, k, hits[k] / runs)
        if effect == 0.0:
            assert sum(naive_hits.values()) / (runs * len(METRICS)) > 2 * ALPHA, naive_hits


def test_running_keeps_the_intersection_and_the_minimum():
    looks = [always_valid(e, s, n, ALPHA, 5000) for e, s, n in ((0.5, 1.0, 100), (2.0, 0.5, 400), (0.1, 0.3, 1100))]
    hist = running(looks)
    assert hist[-1]["ci"][0] == max(a.ci[0] for a in looks) and hist[-1]["ci"][1] == min(a.ci[1] for a in looks)
    assert hist[-1]["p_value"] == min(a.p_value for a in looks)
    assert [h["look"] for h in hist] == [1, 2, 3]


def _draw(rng: np.random.Generator, n: int, effect: float) -> np.ndarray:
    """n customers: y converted (0/1), r revenue, x pre-period revenue, d products (>= 1)."""
    x = rng.gamma(2.0, 50.0, n)
    d = 1.0 + rng.poisson(1.5, n)
    y = (rng.random(n) < 0.1 + effect * 0.1).astype(float)
    r = 0.6 * x + rng.gamma(1.5, 40.0, n) * (1 + effect) + 20.0 * y
    return np.column_stack([y, r, x, d])


def _monitor(rng: np.random.Generator, effect: float, per_look: int,
             alternative: str = "two-sided") -> tuple[dict[str, list], dict[str, bool]]:
    """30 weekly looks at cumulative data; per metric kind the always-valid look history and whether
    a naive fixed-horizon test (p < alpha at any look) fired."""
    cum_t = cum_c = None
    avs: dict[str, list] = {k: [] for k in METRICS}
    naive = dict.fromkeys(METRICS, False)
    for _ in range(LOOKS):
        bt, bc = block_moments(_draw(rng, per_look, effect), COLUMNS), block_moments(_draw(rng, per_look, 0.0), COLUMNS)
        cum_t = bt if cum_t is None else cum_t + bt
        cum_c = bc if cum_c is None else cum_c + bc
        for k, m in METRICS.items():
            comp = metric_for(m).compare(cum_t, cum_c, 1 - ALPHA)
            avs[k].append((comp.estimate, always_valid(comp.estimate, comp.se, cum_t.n + cum_c.n, ALPHA, 5000,
                                                       alternative)))
            naive[k] |= (comp.p_value if alternative == "two-sided" else comp.one_sided_p(alternative)) < ALPHA
    return avs, naive


def test_aa_false_positive_rate_over_30_looks_is_at_most_alpha(sim_size):
    """A/A with 30 looks: the running always-valid p-value falls below alpha in at most alpha of campaigns,
    for every metric kind; the fixed-horizon p-value, looked at 30 times, does not keep alpha (so the
    simulation can tell the two apart)."""
    rng = np.random.default_rng(2026)
    runs = sim_size(150, 2000)
    hits = dict.fromkeys(METRICS, 0)
    naive_hits = dict.fromkeys(METRICS, 0)
    for _ in range(runs):
        avs, naive = _monitor(rng, 0.0, 100)
        for k in METRICS:
            hits[k] += crossed(running(a for _, a in avs[k]), ALPHA)
            naive_hits[k] += naive[k]
    for k in METRICS:
        assert hits[k] / runs <= ALPHA, (k, hits[k] / runs)
    assert sum(naive_hits.values()) / (runs * len(METRICS)) > 2 * ALPHA, naive_hits


def test_the_sequence_covers_a_real_effect_at_every_look(sim_size):
    """Under a real effect, the running intersection contains the true difference at all 30 looks in at
    least 1 - alpha of campaigns (truth from a large sample of the same generator)."""
    rng = np.random.default_rng(7)
    big_t, big_c = _draw(rng, 2_000_000, 0.15), _draw(rng, 2_000_000, 0.0)
    truth = {"proportion": big_t[:, 0].mean() - big_c[:, 0].mean(), "mean": big_t[:, 1].mean() - big_c[:, 1].mean(),
             "cuped": big_t[:, 1].mean() - big_c[:, 1].mean(),
             "ratio": big_t[:, 1].mean() / big_t[:, 3].mean() - big_c[:, 1].mean() / big_c[:, 3].mean()}
    runs = sim_size(100, 1000)
    missed = dict.fromkeys(METRICS, 0)
    for _ in range(runs):
        avs, _ = _monitor(rng, 0.15, 100)
        for k in METRICS:
            hist = running(a for _, a in avs[k])
            missed[k] += any(not (h["ci"][0] <= truth[k] <= h["ci"][1]) for h in hist)
    for k in METRICS:
        assert missed[k] / runs <= ALPHA + 2 * math.sqrt(ALPHA * (1 - ALPHA) / runs), (k, missed[k] / runs)


def test_readout_rows_carry_the_always_valid_interval(demo_spec, simulation):
    assert demo_spec.analysis.always_valid  # the demo switches it on
    r = analyse_metrics(demo_spec, simulation.outcomes).to_dict()
    for row in r["metrics"]:
        av = row["always_valid"]
        ref = always_valid(row["abs_effect"], row["abs_se"], row["n_arm"] + row["n_control"], r["alpha"],
                           demo_spec.analysis.always_valid_tuning_n)
        assert av["ci"] == pytest.approx(list(ref.ci), rel=1e-12) and av["p_value"] == pytest.approx(ref.p_value, rel=1e-12)
        assert av["ci"][0] < row["abs_ci"][0] and av["ci"][1] > row["abs_ci"][1]
        assert av["p_value"] >= row.get("p_value_two_sided", row["p_value"])


def test_look_history_of_weekly_readouts(demo_spec, simulation):
    """Weekly readouts of growing data: the history is the running intersection of each row's interval."""
    out = simulation.outcomes
    rows = [analyse_metrics(demo_spec, out.iloc[: len(out) * k // 3]).to_dict()["metrics"][0] for k in (1, 2, 3)]
    hist = look_history(rows)
    assert [h["n"] for h in hist] == [r["n_arm"] + r["n_control"] for r in rows]
    assert hist[-1]["ci"] == [max(r["always_valid"]["ci"][0] for r in rows), min(r["always_valid"]["ci"][1] for r in rows)]
    assert hist[-1]["p_value"] == min(r["always_valid"]["p_value"] for r in rows)
    with pytest.raises(ValueError, match="always_valid"):
        look_history([{**rows[0], "always_valid": None}])


def _spec_with(demo_spec_path, tmp_path, extra: str):
    text = demo_spec_path.read_text(encoding="utf-8").replace("[analysis]\n", f"[analysis]\n{extra}\n", 1)
    p = tmp_path / "demo.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_the_decision_can_use_the_always_valid_p_values(demo_spec_path, simulation, tmp_path):
    from uplift.stats.multiplicity import holm

    spec = load_spec(_spec_with(demo_spec_path, tmp_path, 'decision = "always-valid"'))
    r = analyse_metrics(spec, simulation.outcomes).to_dict()
    prim = [x for x in r["metrics"] if x["primary"]]
    expected = holm([x["always_valid"]["p_value"] for x in prim])
    for x, p in zip(prim, expected):
        assert x["decision_p_value"] == "always-valid"
        assert x["p_value_adjusted"] == pytest.approx(p, rel=1e-12)
        assert x["significant"] == (p < r["alpha"]) and x["alpha_used"] == r["alpha"]
    assert "always-valid" in r["decision"]["rule"]
    fixed = analyse_metrics(load_spec(demo_spec_path), simulation.outcomes).to_dict()
    assert all(x["decision_p_value"] == "fixed-horizon" for x in fixed["metrics"] if x["primary"])


def test_a_one_sided_design_gets_one_sided_always_valid_rows(demo_spec_path, simulation, tmp_path):
    """[design] alternative = "larger": each row's always-valid block is the one-sided sequence (open upper
    end, null in results.json), the page's table says one-sided, and results.json passes its schema."""
    from uplift.readout.analysis import analyse
    from uplift.readout.monitoring import always_valid_table
    from uplift.results import validate_results

    text = _spec_with(demo_spec_path, tmp_path, 'decision = "always-valid"').read_text(encoding="utf-8")
    p = tmp_path / "one_sided.toml"
    p.write_text(text.replace('alternative = "two-sided"', 'alternative = "larger"'), encoding="utf-8")
    spec = load_spec(p)
    results = analyse(spec, simulation.outcomes).to_results()
    validate_results(results)
    for row in results["metrics"]:
        av = row["always_valid"]
        ref = always_valid(row["abs_effect"], row["abs_se"], row["n_arm"] + row["n_control"], results["metrics"][0]["alpha_used"],
                           spec.analysis.always_valid_tuning_n, "larger")
        assert av["alternative"] == "larger" and av["ci"][1] is None
        assert av["ci"][0] == pytest.approx(ref.ci[0], rel=1e-12) and av["p_value"] == pytest.approx(ref.p_value, rel=1e-12)
    page = always_valid_table(results["metrics"])
    assert "Always-valid p (one-sided, larger)" in page and "+&infin;)" in page
    from uplift.readout.report import methods

    assert "one-sided (larger): the mixture over a half-normal" in methods(results)


def test_an_always_valid_decision_without_the_intervals_is_one_clear_line(demo_spec_path, tmp_path):
    from uplift.errors import SpecError

    text = demo_spec_path.read_text(encoding="utf-8").replace("always_valid = true", 'decision = "always-valid"')
    p = tmp_path / "demo.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as e:
        load_spec(p)
    msg = str(e.value)
    assert "\n" not in msg and "[analysis] decision" in msg and "always_valid = true" in msg and str(p) in msg


# --------------------------------------------------------------------------- uplift monitor: the look history from weekly results.json


@pytest.fixture(scope="module")
def weekly(demo_spec, simulation, tmp_path_factory):
    """Three weekly results.json of the simulated campaign (growing data), oldest first."""
    import json

    folder = tmp_path_factory.mktemp("weekly")
    out = simulation.outcomes
    paths = []
    for k, as_of in ((1, "2026-01-12"), (2, "2026-01-19"), (3, "2026-01-26")):
        r = analyse_metrics(demo_spec, out.iloc[: len(out) * k // 3]).to_dict()
        r.update(experiment=demo_spec.name, provenance={"data_as_of": as_of})
        p = folder / f"week{k}.json"
        p.write_text(json.dumps(r), encoding="utf-8")
        paths.append(p)
    return paths


def _run(capsys, argv):
    from uplift.cli import main

    capsys.readouterr()
    rc = main(argv)
    return rc, capsys.readouterr()


def test_monitor_prints_the_look_history(weekly, capsys):
    import json

    rc, cap = _run(capsys, ["monitor", *map(str, weekly), "--json"])
    assert rc == 0, cap.err
    h = json.loads(cap.out)
    rows = [json.loads(p.read_text())["metrics"] for p in weekly]
    for row in h["rows"]:
        same = [next(r for r in rs if r["metric"] == row["metric"] and r["arm"] == row["arm"]) for rs in rows]
        expected = [{**x, "file": str(p)} for x, p in zip(look_history(same), weekly)]
        assert row["history"] == json.loads(json.dumps(expected))
        widths = [x["ci"][1] - x["ci"][0] for x in row["history"]]
        assert widths == sorted(widths, reverse=True)  # the running interval only narrows
    rc, cap = _run(capsys, ["monitor", *map(str, weekly)])
    assert rc == 0 and "look  3" in cap.out and "always-valid [" in cap.out


def _bad(capsys, argv, *names):
    rc, cap = _run(capsys, argv)
    assert rc == 2, cap
    lines = cap.err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("uplift monitor: error: ") and "Traceback" not in cap.err
    for n in names:
        assert n in lines[0], lines[0]


def test_monitor_refuses_looks_out_of_order(weekly, capsys):
    _bad(capsys, ["monitor", str(weekly[0]), str(weekly[2]), str(weekly[1])], str(weekly[1]), "out of order", "oldest first")


def test_monitor_refuses_bad_files(weekly, capsys, tmp_path):
    import json

    r = json.loads(weekly[1].read_text())
    for row in r["metrics"]:
        row.pop("always_valid")
    no_av = tmp_path / "no_av.json"
    no_av.write_text(json.dumps(r))
    _bad(capsys, ["monitor", str(weekly[0]), str(no_av)], str(no_av), "always_valid = true")
    r = json.loads(weekly[1].read_text())
    r["experiment"] = "another"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(r))
    _bad(capsys, ["monitor", str(weekly[0]), str(other)], str(other), "another", "one experiment")
    r = json.loads(weekly[1].read_text())
    for row in r["metrics"]:
        row["always_valid"]["tuning_n"] = 100_000
    tuned = tmp_path / "tuned.json"
    tuned.write_text(json.dumps(r))
    _bad(capsys, ["monitor", str(weekly[0]), str(tuned)], str(tuned), "tuning_n", "always_valid_tuning_n")
    r = json.loads(weekly[1].read_text())
    r["provenance"]["data_as_of"] = "2025-12-01"
    early = tmp_path / "early.json"
    early.write_text(json.dumps(r))
    _bad(capsys, ["monitor", str(weekly[0]), str(early)], str(early), "before", "out of order")
    text = tmp_path / "x.json"
    text.write_text("not json")
    _bad(capsys, ["monitor", str(text)], str(text), "JSON")
    _bad(capsys, ["monitor", str(tmp_path / "missing.json")], "missing.json", "not found")
    notres = tmp_path / "list.json"
    notres.write_text("[1, 2]")
    _bad(capsys, ["monitor", str(notres)], str(notres), "results.json")
