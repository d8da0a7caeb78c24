"""Alpha spending beyond O'Brien-Fleming (Pocock-type, power family), unequal looks, and the price of looking.

References: rpact's published unit-test values (tests/testthat/test-f_design_group_sequential.R of the
rpact R package: ``getDesignGroupSequential`` / ``getDesignInverseNormal`` critical values, alpha spent
and ``getDesignCharacteristics()$inflationFactor``, stated there to 1e-7; one-sided designs with
non-binding futility, whose efficacy boundaries ignore the futility bounds); crossing probabilities and
power from scipy's multivariate normal; simulation for continuous monitoring.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from uplift.errors import SpecError
from uplift.experiment.design import design_experiment
from uplift.metrics.analyse import analyse_metrics
from uplift.simulate import simulate
from uplift.spec import load_spec
from uplift.spec.schema import SPENDING_FAMILIES
from uplift.stats import sequential
from uplift.stats.sequences import always_valid_inflation, mixture_rho, one_sided_boundary

RPACT = [
    # family, rho, one-sided alpha, information rates, critical values, alpha spent (rpact typeOfDesign)
    ("pocock", 3.0, 0.13, (0.35, 0.7, 1.0), (1.5446617, 1.4828682, 1.4620058), (0.061214062, 0.10266465, 0.13)),  # asP
    ("obrien-fleming", 3.0, 0.13, (0.4, 0.75, 1.0), (2.1280732, 1.4368565, 1.2468994),
     (0.016665509, 0.080406163, 0.12999999)),  # asOF
    ("obrien-fleming", 3.0, 0.13, (0.4, 0.75, 0.85, 1.0), (2.1280732, 1.4368565, 1.422873, 1.2970881),
     (0.016665509, 0.080406163, 0.10053322, 0.13)),  # asOF, kMax = 4
    ("power", 2.2, 0.03, (0.3, 0.7, 1.0), (2.8594012, 2.2435708, 1.9735737), (0.0021222083, 0.013687904, 0.03)),  # asKD
    ("power", 1.0, 0.03, (0.2, 0.4, 1.0), (2.5121443, 2.4228747, 2.0280392), (0.006, 0.012, 0.03)),  # asHSD gamma 0 = linear
]


def test_the_spec_lists_the_same_families():
    assert SPENDING_FAMILIES == sequential.FAMILIES


@pytest.mark.parametrize("family,rho,alpha,fractions,z,spent", RPACT)
def test_boundaries_equal_rpacts_published_values(family, rho, alpha, fractions, z, spent):
    b = sequential.spending_boundaries(len(fractions), alpha, family, rho, fractions=fractions, sides=1)
    np.testing.assert_allclose(b.z, z, atol=1e-6)
    np.testing.assert_allclose(b.alpha_spent, spent, atol=1e-7)
    assert b.nominal_alpha[0] == pytest.approx(spent[0], abs=1e-8)  # the first look spends its alpha at once


def test_inflation_factor_equals_rpacts_published_value():
    """rpact getDesignCharacteristics of asHSD (gammaA = 0, i.e. linear = power family rho 1), one-sided
    alpha 0.03, beta 0.14, information rates (0.2, 0.4, 1): inflation factor 1.0788327, shift 9.4594101."""
    b = sequential.spending_boundaries(3, 0.03, "power", 1.0, fractions=(0.2, 0.4, 1.0), sides=1)
    assert sequential.inflation_factor(b, 0.86) == pytest.approx(1.0788327, abs=1e-6)
    fixed = (st.norm.isf(0.03) + st.norm.ppf(0.86)) ** 2
    assert fixed == pytest.approx(8.7681899, abs=1e-6)
    assert fixed * sequential.inflation_factor(b, 0.86) == pytest.approx(9.4594101, abs=1e-5)


def _mvn(fractions):
    t = np.asarray(fractions)
    return t, np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))


@pytest.mark.parametrize("family,rho", [("pocock", 3.0), ("power", 2.0), ("power", 0.5), ("obrien-fleming", 3.0)])
@pytest.mark.parametrize("fractions", [(0.25, 0.5, 0.75, 1.0), (0.1, 0.35, 1.0)])
def test_two_sided_crossing_probability_is_the_spent_alpha(family, rho, fractions):
    b = sequential.spending_boundaries(len(fractions), 0.05, family, rho, fractions=fractions)
    t, cov = _mvn(fractions)
    z = np.array(b.z)
    for j in range(1, len(t) + 1):  # cumulative: P(cross by look j) = alpha(t_j)
        mvn = st.multivariate_normal(np.zeros(j), cov[:j, :j], seed=1)
        assert 1 - mvn.cdf(z[:j], lower_limit=-z[:j]) == pytest.approx(b.alpha_spent[j - 1], abs=2e-5)
    assert b.alpha_spent[-1] == pytest.approx(0.05)


@pytest.mark.parametrize("family", ["pocock", "power"])
def test_power_equals_the_multivariate_normal(family):
    fractions = (0.3, 0.6, 1.0)
    b = sequential.spending_boundaries(3, 0.05, family, 3.0, fractions=fractions, sides=1)
    t, cov = _mvn(fractions)
    for drift in (1.0, 2.5, 3.2):
        mvn = st.multivariate_normal(drift * np.sqrt(t), cov, seed=2)
        ref = 1 - mvn.cdf(np.array(b.z), lower_limit=np.full(3, -np.inf))
        assert sequential.power_of(b, drift) == pytest.approx(ref, abs=2e-5)


def test_pocock_costs_more_than_obrien_fleming():
    """Jennison & Turnbull (2000, table 2.1 and 2.3): Pocock's flat boundaries need a larger maximum n."""
    f = {fam: sequential.inflation_factor(sequential.spending_boundaries(5, 0.05, fam)) for fam in sequential.FAMILIES}
    assert 1 < f["obrien-fleming"] < f["power"] < f["pocock"] < 1.3


def test_continuous_monitoring_cost_is_an_upper_bound(sim_size):
    """At the priced n the last look's always-valid interval excludes 0 with the target power (simulated), and
    stopping at the first of 50 looks only adds power."""
    n_fixed, alpha, power, tuning = 20_000, 0.05, 0.8, 5000
    r = always_valid_inflation(n_fixed, alpha, power, tuning)
    delta = st.norm.isf(alpha / 2) + st.norm.ppf(power)  # the fixed design's effect, in se units at n_fixed
    rng = np.random.default_rng(5)
    runs = sim_size(2000, 20000)
    looks = np.linspace(r * n_fixed / 50, r * n_fixed, 50)
    rho2 = mixture_rho(alpha, tuning) ** 2
    steps = rng.normal(0, 1, (runs, 50)) * np.sqrt(np.diff(np.concatenate([[0], looks])))
    s = np.cumsum(steps, axis=1) + delta / math.sqrt(n_fixed) * looks  # sum of unit effects: S_n ~ N(n d, n)
    z = s / np.sqrt(looks)
    c = np.sqrt((1 + looks * rho2) / (looks * rho2) * (np.log1p(looks * rho2) - 2 * math.log(alpha)))
    last = np.mean(z[:, -1] > c[-1])
    anywhere = np.mean((np.abs(z) > c).any(axis=1))
    tol = 4 * math.sqrt(power * (1 - power) / runs)
    assert abs(last - power) < tol
    assert anywhere >= last


def _demo_with(demo_spec_path, tmp_path, old: str, new: str):
    text = demo_spec_path.read_text(encoding="utf-8")
    assert old in text
    p = tmp_path / "demo.toml"
    p.write_text(text.replace(old, new, 1), encoding="utf-8")
    return p


def test_the_design_prices_the_looks(demo_spec_path, tmp_path):
    spec = load_spec(_demo_with(demo_spec_path, tmp_path, "looks = 1",
                                'looks = 4\nspending = "pocock"\nlook_fractions = [0.2, 0.5, 0.8, 1.0]'))
    d = design_experiment(spec).to_dict()
    lk = d["looks"]
    assert lk["chosen"] == "pocock" and lk["information_fractions"] == [0.2, 0.5, 0.8, 1.0]
    for f in lk["families"]:
        b = sequential.spending_boundaries(4, d["alpha_per_comparison"], f["spending"], 3.0, fractions=(0.2, 0.5, 0.8, 1.0))
        assert f["inflation_factor"] == pytest.approx(sequential.inflation_factor(b, d["power_target"]), rel=1e-9)
        assert f["n_total"] == math.ceil(d["n_total_exact"] * f["inflation_factor"] - 1e-9)
    assert lk["continuous"]["inflation_factor"] > max(f["inflation_factor"] for f in lk["families"])
    assert any("pocock" in n.lower() and "x" in n for n in d["notes"])
    assert design_experiment(load_spec(demo_spec_path)).to_dict()["looks"] is None


def test_the_readout_uses_the_specs_spending(demo_spec_path, tmp_path):
    spec = load_spec(_demo_with(demo_spec_path, tmp_path, "looks = 1", 'looks = 4\ncurrent_look = 2\nspending = "power"\nspending_rho = 2'))
    r = analyse_metrics(spec, simulate(4000, seed=3, arms=spec.arms).outcomes).to_dict()
    b = sequential.spending_boundaries(4, spec.design.alpha, "power", 2.0)
    assert r["sequential"]["boundary_z"] == pytest.approx(b.z[1], rel=1e-12)
    assert r["sequential"]["spending"] == "power" and "rho = 2" in r["sequential"]["method"]


@pytest.mark.parametrize("extra,names", [
    ("looks = 3\nlook_fractions = [0.5, 0.3, 1.0]", ["[design] look_fractions", "out of order"]),
    ("looks = 3\nlook_fractions = [0.3, 0.3, 1.0]", ["[design] look_fractions", "out of order"]),
    ("looks = 3\nlook_fractions = [0.3, 1.0]", ["[design] look_fractions", "looks = 3"]),
    ("looks = 2\nlook_fractions = [0.5, 0.9]", ["[design] look_fractions", "ending at 1"]),
    ("looks = 2\nlook_fractions = [0.5, 1.2]", ["[design] look_fractions", "ending at 1"]),
    ("looks = 2\nlook_fractions = [0.5, \"x\"]", ["[design] look_fractions", "list of numbers"]),
    ('looks = 2\nspending = "haybittle"', ["[design] spending", "pocock"]),
    ("looks = 2\nspending_rho = 0", ["[design] spending_rho", "above 0"]),
    ("looks = 2\ncurrent_look = 3", ["[design] current_look", "looks = 2"]),
])
def test_bad_looks_are_one_clear_line(demo_spec_path, tmp_path, extra, names):
    p = _demo_with(demo_spec_path, tmp_path, "looks = 1", extra)
    with pytest.raises(SpecError) as e:
        load_spec(p)
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg
    for n in names:
        assert n in msg, msg


def test_one_sided_continuous_monitoring_cost(sim_size):
    """One-sided: at the priced n the last look's one-sided always-valid bound clears 0 with the target power
    (simulated); the monitored one-sided design needs fewer units than the monitored two-sided one, though
    more than its own (smaller) fixed design in proportion."""
    n_fixed, alpha, power, tuning = 20_000, 0.05, 0.8, 5000
    r = always_valid_inflation(n_fixed, alpha, power, tuning, sides=1)
    zb = st.norm.ppf(power)
    n1, n2 = (st.norm.isf(alpha) + zb) ** 2, (st.norm.isf(alpha / 2) + zb) ** 2  # fixed n, up to a common factor
    assert 1 < r and r * n1 < always_valid_inflation(n_fixed * n2 / n1, alpha, power, tuning) * n2
    delta = st.norm.isf(alpha) + st.norm.ppf(power)  # the one-sided fixed design's effect, in se units at n_fixed
    rng = np.random.default_rng(6)
    runs = sim_size(2000, 20000)
    n = r * n_fixed
    z = rng.normal(delta * math.sqrt(r), 1, runs)  # the z-statistic at the last look
    b = one_sided_boundary(n * mixture_rho(alpha, tuning) ** 2, alpha)
    assert abs(np.mean(z > b) - power) < 4 * math.sqrt(power * (1 - power) / runs)
