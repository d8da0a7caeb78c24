"""One confidence level, everywhere: a spec at 90% gives 90% intervals in every section of results.json.

The oracle is the normal quantile from scipy: a symmetric interval ``[est - q se, est + q se]``
printed beside its standard error must have ``q = Phi^-1(0.95) = 1.6449`` at 90% (Welch t
intervals, with their large degrees of freedom here, differ from it by far less than the
tolerance, and 95% would give 1.96). Every ``confidence`` field must say 0.9.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import pytest
from scipy import stats as st

import uplift
from uplift.spec import parse_spec



@pytest.fixture(scope="module")
def demo_spec_text() -> str:
    from uplift.demo import DEMO_SPEC

    return DEMO_SPEC.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def demo_campaign(demo_spec_text):
    """(outcomes, ledger, population) of a 30,000-customer demo campaign, as ``uplift demo`` makes it."""
    from uplift.simulate import simulate_outcomes, simulate_population

    spec = parse_spec(demo_spec_text)
    population = simulate_population(30_000, seed=7, target_product="mortgage")
    ledger = uplift.assign(spec, population).ledger
    assigned = population.merge(ledger[[spec.unit, "arm"]], on=spec.unit, how="inner")
    outcomes, _ = simulate_outcomes(assigned.drop(columns=["arm"]), assigned["arm"].to_numpy(), seed=7,
                                    control=spec.control)
    return outcomes.drop(columns=["arm"]), ledger, population


def _intervals(obj: Any, path: str = "") -> Iterator[tuple[str, float, float, float, float]]:
    """(where, estimate, se, lo, hi) for every symmetric interval printed beside its standard error."""
    if isinstance(obj, dict):
        for est_key, se_key, ci_key in (("estimate", "se", "ci"), ("abs_effect", "abs_se", "abs_ci"),
                                        ("clv", "se", "ci")):
            est, se, ci = obj.get(est_key), obj.get(se_key), obj.get(ci_key)
            if (isinstance(se, (int, float)) and se and isinstance(est, (int, float)) and isinstance(ci, list)
                    and len(ci) == 2 and all(isinstance(x, (int, float)) for x in ci)):
                yield path, float(est), float(se), float(ci[0]), float(ci[1])
        for k, v in obj.items():
            yield from _intervals(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _intervals(v, f"{path}[{i}]")


def _confidences(obj: Any, path: str = "") -> Iterator[tuple[str, float]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "confidence" and isinstance(v, (int, float)):
                yield f"{path}.{k}", float(v)
            yield from _confidences(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _confidences(v, f"{path}[{i}]")


@pytest.fixture(scope="module")
def results_at_90(demo_spec_text: str, demo_campaign) -> dict:
    text = demo_spec_text.replace("[analysis]\n", "[analysis]\nconfidence = 0.90\n", 1)
    assert "confidence = 0.90" in text
    spec = parse_spec(text, label="demo90.toml")
    assert spec.analysis.confidence == 0.90
    outcomes, ledger, population = demo_campaign
    return uplift.analyse(spec, outcomes, ledger=ledger, population=population).to_results()


def test_every_interval_in_results_json_is_at_the_spec_confidence(results_at_90):
    q90, q95 = st.norm.ppf(0.95), st.norm.ppf(0.975)
    found = list(_intervals(results_at_90))
    sections = {where.split(".")[1].split("[")[0] for where, *_ in found}
    assert {"metrics", "guardrails", "roi", "clv"} <= sections, sections  # targeting: bootstrap percentiles, by level
    wrong = []
    for where, est, se, lo, hi in found:
        if not (math.isfinite(lo) and math.isfinite(hi)) or abs((lo + hi) / 2 - est) > 1e-9 * max(1.0, abs(est)):
            continue  # asymmetric intervals (relative effects, Newcombe) are checked through their level below
        q = (hi - lo) / (2 * se)
        if abs(q - q90) > 0.01:
            wrong.append(f"{where}: half-width / se = {q:.4f} (90%: {q90:.4f}, 95%: {q95:.4f})")
    assert not wrong, "\n".join(wrong)


def test_every_confidence_field_says_90(results_at_90):
    levels = dict(_confidences(results_at_90))
    assert levels, "results.json names no confidence level"
    assert {k: v for k, v in levels.items() if v != pytest.approx(0.90)} == {}
