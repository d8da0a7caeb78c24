"""Property-based tests (hypothesis) of the estimators in uplift.stats.compare and uplift.metrics.analyse.

Invariances every two-sample estimator must have, whatever the data:

* swapping the arms negates the effect, mirrors the interval and keeps the p-value;
* adding a constant to the outcome leaves absolute effects, intervals and p-values unchanged;
* multiplying the outcome by k multiplies effects and intervals by k (|k| for the width),
  keeps p-values and relative effects;
* every interval contains its estimate; every p-value lies in [0, 1];
* the result does not depend on the order of the rows.

Data are small integer samples (exact sums, so the only error is floating-point division;
tolerances are relative). Each test is bounded by ``max_examples`` so the file runs in a
few seconds; ``--full`` raises the number of examples.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from uplift.stats import compare as stats
from uplift.data.collect import aggregate_frame
from uplift.data.moments import Moments
from uplift.stats import guardrails, multiplicity
from uplift.spec import parse_spec

# 60 examples per test; five times as many under ``pytest --full`` (conftest.py then loads the
# hypothesis profile "full", max_examples 500 instead of the default 100).
EXAMPLES = 60 * max(1, settings().max_examples // 100)
SETTINGS = dict(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)

values = st.lists(st.integers(-1000, 1000), min_size=3, max_size=40)
positive = st.lists(st.integers(1, 1000), min_size=3, max_size=40)
bits = st.lists(st.integers(0, 1), min_size=3, max_size=60)
shifts = st.integers(-100_000, 100_000)
scales = st.sampled_from([-7.5, -1.0, 0.001, 0.5, 3.0, 1000.0])
confidence = st.sampled_from([0.8, 0.9, 0.95, 0.99])


def moments(*cols: list[float], names: tuple[str, ...] = ("y", "x")) -> Moments:
    """Moments of one arm from equal-length columns (aggregate_frame: the production path)."""
    df = pd.DataFrame({n: np.asarray(c, dtype=float) for n, c in zip(names, cols)})
    df["arm"] = "a"
    return aggregate_frame(df, ["arm"], list(names[: len(cols)]))[("a",)]


def varies(xs) -> bool:
    return len(set(xs)) > 1


def close(a, b, rel=1e-7, abs_=1e-9):
    if a is None or b is None:
        return a is None and b is None
    return a == pytest.approx(b, rel=rel, abs=abs_)


def check_basic(c: stats.Comparison) -> None:
    """Intervals contain their estimates, p in [0, 1]."""
    assert 0.0 <= c.p_value <= 1.0
    lo, hi = c.ci
    tol = 1e-9 * (1 + abs(c.estimate))
    assert lo - tol <= c.estimate <= hi + tol
    if c.rel_effect is not None and c.rel_ci is not None:
        rlo, rhi = c.rel_ci
        rt = 1e-9 * (1 + abs(c.rel_effect))
        assert rlo - rt <= c.rel_effect <= rhi + rt
    for alt in ("larger", "smaller"):
        assert 0.0 <= c.one_sided_p(alt) <= 1.0
    d = c.to_dict()
    assert all(not (isinstance(v, float) and not math.isfinite(v)) for v in d.values())


def check_swapped(a: stats.Comparison, b: stats.Comparison, rel=1e-7) -> None:
    """b is a with the arms swapped."""
    scale = 1 + abs(a.estimate) + a.se
    assert close(b.estimate, -a.estimate, rel, 1e-9 * scale)
    assert close(b.ci[0], -a.ci[1], rel, 1e-9 * scale)
    assert close(b.ci[1], -a.ci[0], rel, 1e-9 * scale)
    assert close(b.p_value, a.p_value, 1e-6, 1e-12)
    assert close(b.one_sided_p("larger"), a.one_sided_p("smaller"), 1e-6, 1e-12)


# --------------------------------------------------------------------------- means (Welch)


@settings(**SETTINGS)
@given(values, values, confidence)
def test_means_swap_shift_scale(y1, y0, conf):
    assume(varies(y1) or varies(y0))
    t, c = moments(y1).sample_mean("y"), moments(y0).sample_mean("y")
    base = stats.compare_means(t, c, conf)
    check_basic(base)
    check_swapped(base, stats.compare_means(c, t, conf))


@settings(**SETTINGS)
@given(values, values, shifts, scales)
def test_means_shift_and_scale(y1, y0, shift, k):
    assume(varies(y1) or varies(y0))
    base = stats.compare_means(moments(y1).sample_mean("y"), moments(y0).sample_mean("y"))
    sh = stats.compare_means(moments([v + shift for v in y1]).sample_mean("y"),
                             moments([v + shift for v in y0]).sample_mean("y"))
    tol = 1e-9 * (1 + abs(shift)) * 1e3
    assert close(sh.estimate, base.estimate, 1e-7, tol)
    assert close(sh.ci[0], base.ci[0], 1e-7, tol) and close(sh.ci[1], base.ci[1], 1e-7, tol)
    assert close(sh.p_value, base.p_value, 1e-5, 1e-9)
    sc = stats.compare_means(moments([v * k for v in y1]).sample_mean("y"),
                             moments([v * k for v in y0]).sample_mean("y"))
    assert close(sc.estimate, k * base.estimate, 1e-7, 1e-9 * abs(k))
    assert close(sc.se, abs(k) * base.se, 1e-7, 1e-9 * abs(k))
    assert close(sc.p_value, base.p_value, 1e-6, 1e-12)
    if base.rel_effect is not None and sc.rel_effect is not None:
        assert close(sc.rel_effect, base.rel_effect, 1e-7, 1e-9)
    check_basic(sh)
    check_basic(sc)


# --------------------------------------------------------------------------- proportions


@settings(**SETTINGS)
@given(bits, bits, confidence)
def test_proportions_swap_bounds(y1, y0, conf):
    t, c = moments(y1).proportion("y"), moments(y0).proportion("y")
    base = stats.compare_proportions(t, c, conf)
    check_basic(base)
    check_swapped(base, stats.compare_proportions(c, t, conf))
    assert -1 <= base.ci[0] <= base.ci[1] <= 1  # the headline interval never leaves [-1, 1]
    lo, hi = base.details["newcombe_ci"]
    assert -1 - 1e-12 <= lo <= base.estimate + 1e-12 and base.estimate - 1e-12 <= hi <= 1 + 1e-12
    for n, s in ((t.n, t.successes), (c.n, c.successes)):
        wl, wh = stats.wilson_interval(s, n, conf)
        assert -1e-12 <= wl <= s / n + 1e-12 and s / n - 1e-12 <= wh <= 1 + 1e-12


@settings(**SETTINGS)
@given(bits, bits)
def test_proportions_label_swap_complement(y1, y0):
    """Recoding the outcome as 1 - y (non-conversion) negates the effect and keeps the p-value."""
    base = stats.compare_proportions(moments(y1).proportion("y"), moments(y0).proportion("y"))
    flip = stats.compare_proportions(moments([1 - v for v in y1]).proportion("y"),
                                     moments([1 - v for v in y0]).proportion("y"))
    assert close(flip.estimate, -base.estimate, 1e-9, 1e-12)
    assert close(flip.p_value, base.p_value, 1e-9, 1e-12)
    assert close(flip.se, base.se, 1e-9, 1e-12)


# --------------------------------------------------------------------------- ratios (delta method)


@settings(**SETTINGS)
@given(st.data())
def test_ratios_swap_scale(data):
    n1 = data.draw(st.integers(3, 30))
    n0 = data.draw(st.integers(3, 30))
    y1 = data.draw(st.lists(st.integers(0, 1000), min_size=n1, max_size=n1))
    d1 = data.draw(st.lists(st.integers(1, 20), min_size=n1, max_size=n1))
    y0 = data.draw(st.lists(st.integers(0, 1000), min_size=n0, max_size=n0))
    d0 = data.draw(st.lists(st.integers(1, 20), min_size=n0, max_size=n0))
    k = data.draw(st.sampled_from([0.01, 2.0, 1000.0]))
    t = moments(y1, d1, names=("y", "d")).ratio("y", "d")
    c = moments(y0, d0, names=("y", "d")).ratio("y", "d")
    base = stats.compare_ratios(t, c)
    check_basic(base)
    check_swapped(base, stats.compare_ratios(c, t))
    sy = stats.compare_ratios(moments([v * k for v in y1], d1, names=("y", "d")).ratio("y", "d"),
                              moments([v * k for v in y0], d0, names=("y", "d")).ratio("y", "d"))
    assert close(sy.estimate, k * base.estimate, 1e-7, 1e-9 * k)
    assert close(sy.p_value, base.p_value, 1e-6, 1e-12)
    sd = stats.compare_ratios(moments(y1, [v * k for v in d1], names=("y", "d")).ratio("y", "d"),
                              moments(y0, [v * k for v in d0], names=("y", "d")).ratio("y", "d"))
    assert close(sd.estimate, base.estimate / k, 1e-7, 1e-9 / k)
    assert close(sd.p_value, base.p_value, 1e-6, 1e-12)


# --------------------------------------------------------------------------- CUPED


@settings(**SETTINGS)
@given(st.data())
def test_cuped_swap_shift_scale(data):
    n1 = data.draw(st.integers(3, 30))
    n0 = data.draw(st.integers(3, 30))
    y1 = data.draw(st.lists(st.integers(-500, 500), min_size=n1, max_size=n1))
    x1 = data.draw(st.lists(st.integers(-500, 500), min_size=n1, max_size=n1))
    y0 = data.draw(st.lists(st.integers(-500, 500), min_size=n0, max_size=n0))
    x0 = data.draw(st.lists(st.integers(-500, 500), min_size=n0, max_size=n0))
    assume(varies(x1) or varies(x0))
    shy, shx = data.draw(shifts), data.draw(shifts)
    k = data.draw(scales)
    se_kind = data.draw(st.sampled_from(["robust", "ols"]))

    def cmp(a1, b1, a0, b0, swap=False):
        t, c = moments(a1, b1).adjusted("y", "x"), moments(a0, b0).adjusted("y", "x")
        return stats.compare_adjusted(c, t, se=se_kind) if swap else stats.compare_adjusted(t, c, se=se_kind)

    base = cmp(y1, x1, y0, x0)
    assume(base.se > 1e-6)
    check_basic(base)
    check_swapped(base, cmp(y1, x1, y0, x0, swap=True), rel=1e-6)
    sh = cmp([v + shy for v in y1], [v + shx for v in x1], [v + shy for v in y0], [v + shx for v in x0])
    assert close(sh.estimate, base.estimate, 1e-6, 1e-6)
    assert close(sh.se, base.se, 1e-6, 1e-6)
    assert close(sh.p_value, base.p_value, 1e-4, 1e-8)
    sc = cmp([v * k for v in y1], x1, [v * k for v in y0], x0)
    assert close(sc.estimate, k * base.estimate, 1e-6, 1e-9 * abs(k))
    assert close(sc.p_value, base.p_value, 1e-5, 1e-10)
    # the covariate's scale does not matter either: theta absorbs it
    sx = cmp(y1, [v * k for v in x1], y0, [v * k for v in x0])
    assert close(sx.estimate, base.estimate, 1e-6, 1e-6)
    assert close(sx.p_value, base.p_value, 1e-5, 1e-10)


# --------------------------------------------------------------------------- guardrails, multiplicity


@settings(**SETTINGS)
@given(values, values, st.floats(0, 100), st.sampled_from(["increase", "decrease"]))
def test_noninferiority_p_in_unit_interval(y1, y0, margin, direction):
    assume(varies(y1) or varies(y0))
    c = stats.compare_means(moments(y1).sample_mean("y"), moments(y0).sample_mean("y"))
    ni = guardrails.noninferiority(c, margin, direction)
    assert 0.0 <= ni.p_value <= 1.0
    # swapping arms and the bad direction is the same question
    other = "decrease" if direction == "increase" else "increase"
    sw = guardrails.noninferiority(stats.compare_means(moments(y0).sample_mean("y"), moments(y1).sample_mean("y")), margin, other)
    assert close(sw.p_value, ni.p_value, 1e-6, 1e-12)


@settings(**SETTINGS)
@given(st.lists(st.one_of(st.none(), st.floats(0, 1)), min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_multiple_testing_bounds_and_order(ps, rnd):
    for f in (multiplicity.holm, multiplicity.benjamini_hochberg):
        adj = f(ps)
        assert len(adj) == len(ps)
        for p, a in zip(ps, adj):
            if p is None:
                assert a is None
            else:
                assert 0.0 <= a <= 1.0 and a >= p - 1e-15
        # permuting the inputs permutes the outputs
        idx = list(range(len(ps)))
        rnd.shuffle(idx)
        adj2 = f([ps[i] for i in idx])
        for j, i in enumerate(idx):
            assert close(adj2[j], adj[i], 1e-12, 1e-15)


# --------------------------------------------------------------------------- row order, end to end

SPEC = """
[experiment]
name = "props"
unit = "customer_id"
[assignment]
salt = "s"
arms = { control = 0.5, offer = 0.5 }
control = "control"
[[metrics]]
name = "conversion"
kind = "proportion"
column = "converted"
primary = true
[[metrics]]
name = "revenue"
kind = "mean"
column = "revenue"
covariate = "revenue_pre"
[[metrics]]
name = "rpp"
kind = "ratio"
column = "revenue"
denominator = "products"
[analysis]
segments = ["segment"]
min_cell_size = 1
"""


@st.composite
def frames(draw):
    n = draw(st.integers(8, 60))
    rows = draw(st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 500), st.integers(0, 500), st.integers(1, 5), st.sampled_from("ab")),
        min_size=n, max_size=n))
    df = pd.DataFrame(rows, columns=["converted", "revenue", "revenue_pre", "products", "segment"])
    df["revenue"] = df["revenue"].astype(float)
    df["revenue_pre"] = df["revenue_pre"].astype(float)
    df["customer_id"] = np.arange(n)
    arms = ["control", "offer"] * (n // 2) + ["control"] * (n % 2)
    df["arm"] = draw(st.permutations(arms))
    return df


def _numbers(obj, path=""):
    """Flatten the numeric leaves of a results dict (keys -> value)."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_numbers(v, f"{path}/{k}"))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(_numbers(v, f"{path}[{i}]"))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[path] = obj
    return out


@settings(**{**SETTINGS, "max_examples": 25})
@given(frames(), st.randoms(use_true_random=False))
def test_results_do_not_depend_on_row_order(df, rnd):
    from uplift.metrics.analyse import analyse_metrics

    assume(df.groupby("arm")["revenue"].nunique().min() > 1)
    spec = parse_spec(SPEC)
    a = analyse_metrics(spec, df, "arm", "control").to_dict()
    idx = list(range(len(df)))
    rnd.shuffle(idx)
    import uplift.data.moments as agg

    chunk = agg._CHUNK
    agg._CHUNK = 5  # rows read in blocks of 5: the blocks are pooled (Chan et al.), in a different order
    try:
        b = analyse_metrics(spec, df.iloc[idx].reset_index(drop=True), "arm", "control").to_dict()
    finally:
        agg._CHUNK = chunk
    na, nb = _numbers(a), _numbers(b)
    assert na.keys() == nb.keys()
    for key in na:
        assert close(nb[key], na[key], 1e-7, 1e-9), key
    for row in a["metrics"]:
        if row.get("p_value") is not None:
            assert 0.0 <= row["p_value"] <= 1.0
        if row.get("abs_ci") and row.get("abs_effect") is not None and None not in row["abs_ci"]:
            lo, hi = row["abs_ci"]
            assert lo - 1e-9 <= row["abs_effect"] <= hi + 1e-9


@settings(**{**SETTINGS, "max_examples": 20})
@given(frames(), st.permutations(["control", "offer", "unused"]), st.permutations(["a", "b", "c"]))
def test_results_do_not_depend_on_how_the_labels_are_stored(df, arm_order, segment_order):
    """The arm and segment as categoricals, their categories in any order and one never used, give the
    numbers of the same labels as text: each cell keeps its own rows whatever the categories' order."""
    from uplift.metrics.analyse import analyse_metrics

    assume(df.groupby("arm")["revenue"].nunique().min() > 1)
    spec = parse_spec(SPEC)
    a = analyse_metrics(spec, df, "arm", "control").to_dict()
    cat = df.assign(arm=pd.Categorical(df["arm"], categories=arm_order),
                    segment=pd.Categorical(df["segment"], categories=segment_order))
    b = analyse_metrics(spec, cat, "arm", "control").to_dict()
    na, nb = _numbers(a), _numbers(b)
    assert na.keys() == nb.keys()
    for key in na:
        assert close(nb[key], na[key], 1e-9, 1e-12), key


@settings(**{**SETTINGS, "max_examples": 20})
@given(frames())
def test_swapping_arm_labels_end_to_end(df):
    """Relabel control <-> offer and declare the other control: effects negate, p-values stay."""
    from uplift.metrics.analyse import analyse_metrics

    assume(df.groupby("arm")["revenue"].nunique().min() > 1)
    spec = parse_spec(SPEC)
    a = {r["metric"]: r for r in analyse_metrics(spec, df, "arm", "control").to_dict()["metrics"]}
    swapped = df.assign(arm=df["arm"].map({"control": "offer", "offer": "control"}))
    b = {r["metric"]: r for r in analyse_metrics(spec, swapped, "arm", "control").to_dict()["metrics"]}
    for m in a:
        assert close(b[m]["abs_effect"], -a[m]["abs_effect"], 1e-7, 1e-9), m
        assert close(b[m]["p_value"], a[m]["p_value"], 1e-6, 1e-12), m


def test_a_proportion_is_a_whole_number_of_successes_whatever_the_sum_order():
    """5 successes in 14 rows whose mean came out a hair below 5/14 (another summation order): the count
    is still 5, so the Wald-or-Newcombe choice (fewer than 5 successes) and the interval do not move.
    Before the count was rounded, 4.999... successes switched the headline interval to Newcombe."""
    exact = 5 / 14
    below = np.nextafter(exact, 0.0)
    assert below * 14 < 5
    counts = [Moments(14, ("y",), np.array([m]), np.array([[14 * m * (1 - m)]])).proportion("y").successes
              for m in (exact, below)]
    assert counts == [5.0, 5.0]
    ctrl = Moments(14, ("y",), np.array([2 / 14]), np.array([[14 * (2 / 14) * (12 / 14)]])).proportion("y")
    a, b = (stats.compare_proportions(Moments(14, ("y",), np.array([m]), np.array([[14 * m * (1 - m)]])).proportion("y"),
                                      ctrl) for m in (exact, below))
    assert a.details["ci_method"] == b.details["ci_method"] and a.ci == b.ci


def test_a_control_mean_near_zero_gives_an_interval_not_an_overflow():
    """Found by the shift-and-scale property: control mean 3 with a spread of hundreds made the log-scale
    relative interval exp(t x se) overflow (OverflowError, a traceback). The absolute effect is untouched;
    the relative interval runs from about -100% to an unbounded upper end."""
    y1, y0 = [3.0 * v for v in (160, 90, -185, 27, 703, -143)], [3.0 * v for v in (330, -66, -261)]
    c = stats.compare_means(moments(y1).sample_mean("y"), moments(y0).sample_mean("y"))
    assert c.estimate == pytest.approx(np.mean(y1) - np.mean(y0), rel=1e-12)
    assert c.rel_ci[0] == pytest.approx(-1.0) and c.rel_ci[1] > 1e100
    big = stats.welch_df(1e300, 1e300, 10, 10)  # variances this large no longer overflow a square
    assert big == pytest.approx(18.0)
