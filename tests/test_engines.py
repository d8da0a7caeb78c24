"""Engine-side aggregation (uplift.data.engine): the same numbers from a file read by DuckDB as from pandas.

References: numpy/pandas for sufficient statistics, :func:`uplift.survival.estimators.life_table` (itself
checked against lifelines) and plain counting for life tables, :mod:`hashlib` for the buckets,
the Hillstrom e-mail experiment for real data, and a simulation (interval coverage, false
positive rate) aggregated in ONE DuckDB query over stacked replicates.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from uplift.clv import analyse as clv
from uplift.data import engine as engines
from uplift.data import hashing as hashing
from uplift.stats import compare as stats
from uplift.survival import estimators as survival
from uplift.errors import DataError
from uplift.metrics.analyse import analyse_metrics, analyse_source
from uplift.simulate import simulate
from uplift.data.source import open_source
from uplift.spec import load_spec

pytestmark = pytest.mark.filterwarnings("ignore:fetch_arrow_table:DeprecationWarning")
ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "experiments" / "demo.toml"
HILLSTROM_SPEC = ROOT / "experiments" / "hillstrom.toml"


def compare(a, b, path="", rel=1e-9, skip=("engine",)):
    """Assert two results.json-like trees are equal: numbers to ``rel``, everything else exactly.

    Covariances of column pairs no estimator reads are None on the engine side (never computed)."""
    if isinstance(b, dict):
        assert isinstance(a, dict), path
        for k in b:
            if k in skip:
                continue
            if path.endswith("/cov") and a.get(k) is None:
                continue
            assert k in a, f"{path}/{k} missing"
            compare(a[k], b[k], f"{path}/{k}", rel, skip)
    elif isinstance(b, (list, tuple)):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b)):
            compare(u, v, f"{path}[{i}]", rel, skip)
    elif isinstance(b, float) and not isinstance(b, bool):
        assert a == pytest.approx(b, rel=rel, abs=1e-12), path
    else:
        assert a == b, path


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    sim = simulate(6000, seed=11, arms={"control": 0.3, "offer": 0.7})
    o = sim.outcomes.drop(columns=[c for c in sim.outcomes.columns if c.startswith("true_")])
    o = o.assign(arm=o["arm"].astype(str))
    folder = tmp_path_factory.mktemp("engines")
    pq = folder / "outcomes.parquet"
    o.to_parquet(pq, index=False)
    csv = folder / "outcomes.csv"
    o.to_csv(csv, index=False)
    return load_spec(DEMO), o, pq, csv


# --------------------------------------------------------------------------- sufficient statistics


def test_aggregate_matches_numpy_on_parquet(demo_data):
    _, o, pq, _ = demo_data
    cols = ["revenue_12m", "revenue_pre_12m", "converted", "products_held"]
    pairs = [("revenue_12m", "revenue_pre_12m"), ("revenue_12m", "products_held")]
    cells = engines.aggregate(pq, ["arm", "segment"], cols, pairs=pairs, binary=["converted"])
    assert set(cells) == set(o.groupby(["arm", "segment"]).groups)
    for (arm, seg), m in cells.items():
        x = o.loc[(o.arm == arm) & (o.segment == seg), cols].to_numpy(float)
        assert m.n == len(x)
        np.testing.assert_allclose(m.mean, x.mean(axis=0), rtol=1e-12)
        ref = np.cov(x, rowvar=False, ddof=1) * (len(x) - 1)
        for i in range(len(cols)):
            assert m.comoment[i, i] == pytest.approx(ref[i, i], rel=1e-9)
        for a, b in pairs:
            i, j = cols.index(a), cols.index(b)
            assert m.comoment[i, j] == pytest.approx(ref[i, j], rel=1e-9)
        # pairs nobody reads are not computed
        assert math.isnan(m.comoment[cols.index("converted"), cols.index("products_held")])


def test_aggregate_is_accurate_for_large_balances(tmp_path):
    """Balances around 1e9 with a spread of 1: sum(x^2) - n mean^2 would lose every digit."""
    rng = np.random.default_rng(1)
    x = 1e9 + rng.standard_normal(5000)
    df = pd.DataFrame({"arm": rng.choice(["a", "b"], 5000), "x": x})
    p = tmp_path / "big.parquet"
    df.to_parquet(p)
    cells = engines.aggregate(p, ["arm"], ["x"])
    for (arm,), m in cells.items():
        v = df.loc[df.arm == arm, "x"].to_numpy()
        assert m.var("x") == pytest.approx(np.var(v - 1e9, ddof=1), rel=1e-6)


def test_readout_from_parquet_csv_folder_equals_pandas(demo_data, tmp_path):
    spec, o, pq, csv = demo_data
    ref = analyse_metrics(spec, o, "arm", "control").to_dict()
    parts = tmp_path / "parts"
    parts.mkdir()
    o.iloc[:2500].to_parquet(parts / "part-0.parquet", index=False)
    o.iloc[2500:].to_parquet(parts / "part-1.parquet", index=False)
    for src in (pq, csv, parts):
        res = analyse_source(spec, src)
        assert res.engine == "duckdb"
        compare(res.to_dict(), ref)


def test_readout_from_an_ibis_table_equals_pandas(demo_data):
    import ibis

    spec, o, pq, _ = demo_data
    con = ibis.duckdb.connect()
    t = con.read_parquet(str(pq))
    res = analyse_source(spec, t)
    compare(res.to_dict(), analyse_metrics(spec, o, "arm", "control").to_dict())


def test_hillstrom_from_a_csv_file(hillstrom, tmp_path):
    """Real data through DuckDB: the published Hillstrom visit lift for the men's e-mail (7.66 points)."""
    spec = load_spec(HILLSTROM_SPEC)
    path = tmp_path / "hillstrom.csv"
    hillstrom.to_csv(path, index=False)
    res = analyse_source(spec, path)
    ref = analyse_metrics(spec, hillstrom, "segment", "No E-Mail")
    compare(res.to_dict(), ref.to_dict())
    visit = [r for r in res.metrics if r["metric"] == "visit" and r["arm"] == "Mens E-Mail"][0]
    # Hillstrom (2008): visit rate 18.28% (men's e-mail) vs 10.62% (no e-mail)
    assert round(visit["mean_arm"] * 100, 2) == 18.28 and round(visit["mean_control"] * 100, 2) == 10.62
    assert [round(x * 100, 3) for x in visit["abs_ci"]] == [6.995, 8.323]


def test_ledger_joined_in_the_engine_equals_the_pandas_join(demo_data, tmp_path):
    from uplift.readout.analysis import prepare_outcomes

    spec, o, _, _ = demo_data
    ledger = o[["customer_id", "arm"]].assign(experiment=spec.name)
    outcomes = o.drop(columns="arm").iloc[:-30]  # fine: units in the ledger without outcomes
    extra = outcomes.iloc[:20].assign(customer_id=outcomes.customer_id.iloc[:20] + 10**9)  # not in the ledger
    outcomes = pd.concat([outcomes, extra], ignore_index=True)
    po, pl = tmp_path / "o.parquet", tmp_path / "ledger.parquet"
    outcomes.to_parquet(po, index=False)
    ledger.to_parquet(pl, index=False)
    src, arm_col, notes = engines.prepare_source(spec, po, pl)
    ref, ref_col, ref_notes = prepare_outcomes(spec, outcomes, ledger)
    assert arm_col == ref_col == "arm" and notes == ref_notes and "20 outcome rows" in notes[0]
    compare(analyse_source(spec, src, arm_col).to_dict(), analyse_metrics(spec, ref, "arm", "control").to_dict())
    # the ledger as a DataFrame, joined in DuckDB as well
    src2, _, _ = engines.prepare_source(spec, po, ledger)
    assert analyse_source(spec, src2, "arm").arm_statistics["offer"].n == (ref.arm == "offer").sum()
    with pytest.raises(DataError, match="duplicate ids; a unit must be in one arm only"):
        engines.prepare_source(spec, po, pd.concat([ledger, ledger.iloc[:1]]))
    bad = pd.concat([outcomes, outcomes.iloc[:3]])
    bad.to_parquet(tmp_path / "dup.parquet", index=False)
    with pytest.raises(DataError, match="3 duplicate ids in unit column 'customer_id'"):
        engines.prepare_source(spec, tmp_path / "dup.parquet", pl)
    with pytest.raises(DataError, match="not in the ledger, above"):
        engines.prepare_source(spec, po, ledger.iloc[:3000])


# --------------------------------------------------------------------------- life tables and CLV


def _plain_life_table(df: pd.DataFrame) -> pd.DataFrame:
    """An independent life table: count churned/active customers per (arm, tenure); at risk = tenure >= t."""
    rows = []
    for arm, g in df.groupby("arm"):
        for t in sorted(g.tenure_months.unique()):
            rows.append({"arm": arm, "time": t, "at_risk": int((g.tenure_months >= t).sum()),
                         "events": int(((g.tenure_months == t) & (g.churned == 1)).sum()),
                         "censored": int(((g.tenure_months == t) & (g.churned == 0)).sum())})
    return pd.DataFrame(rows)


def test_life_table_matches_pandas_and_counting(demo_data):
    _, o, pq, _ = demo_data
    lt = engines.life_table(pq, "tenure_months", "churned", by="arm", value_col="monthly_margin", integer_durations=True)
    ref = survival.life_table(o, "tenure_months", "churned", by="arm", value_col="monthly_margin", integer_durations=True)
    pd.testing.assert_frame_equal(lt, ref, check_dtype=False, rtol=1e-9)
    plain = _plain_life_table(o)
    pd.testing.assert_frame_equal(lt[list(plain.columns)], plain, check_dtype=False)
    # the value moments of one cell, from numpy
    t12 = int(o[(o.arm == "offer") & (o.churned == 0)].tenure_months.mode().iloc[0])
    g = o[(o.arm == "offer") & (o.tenure_months == t12) & (o.churned == 0)].monthly_margin.to_numpy()
    assert len(g) > 10
    row = lt[(lt.arm == "offer") & (lt.time == t12)].iloc[0]
    assert row.value_sum_censored == pytest.approx(g.sum(), rel=1e-12)
    assert row.value_m2_censored == pytest.approx(((g - g.mean()) ** 2).sum(), rel=1e-9)


def test_clv_from_parquet_equals_pandas(demo_data):
    spec, o, pq, _ = demo_data
    res = engines.clv_from_source(spec, pq)
    ref = clv.clv_analysis(spec, o)
    compare(res.to_dict(), ref.to_dict())


# --------------------------------------------------------------------------- buckets


def test_buckets_in_duckdb_equal_python_for_100000_ids(tmp_path):
    ids = np.arange(10_000_001, 10_100_001, dtype=np.int64)
    salt = "visa-gold-mortgage-2026q4"
    p = tmp_path / "ids.parquet"
    pd.DataFrame({"customer_id": ids}).to_parquet(p)
    got = engines.hash64(p, "customer_id", salt).sort_values("customer_id")
    assert (got.customer_id.to_numpy() == ids).all()
    ref = hashing._hash64_hashlib(ids, salt)  # the hashlib loop
    assert np.array_equal(got.hash64.to_numpy(), ref)
    assert np.array_equal(got.bucket.to_numpy(), np.array([int(h) / 2**64 for h in ref]))
    # one id by hand
    h = int.from_bytes(hashlib.sha256(f"{salt}:10000001".encode()).digest()[:8], "big")
    assert int(got.hash64.iloc[0]) == h and got.bucket.iloc[0] == hashing.bucket(10_000_001, salt)


def test_arms_assigned_in_duckdb_equal_python(tmp_path):
    ids = np.arange(1, 50_001, dtype=np.int64)
    weights = {"control": 0.1, "offer_a": 0.45, "offer_b": 0.45}
    p = tmp_path / "ids.parquet"
    pd.DataFrame({"customer_id": ids}).to_parquet(p)
    t = open_source(p).table()
    got = t.select("customer_id", arm=engines.arm_expression(t, "customer_id", "s1", weights)).to_pandas()
    got = got.sort_values("customer_id")
    assert (got.arm.to_numpy() == hashing.assign_by_weights(ids, "s1", weights)).all()


def test_buckets_for_text_ids_and_a_non_ascii_salt():
    import ibis

    ids = [f"C{i:07d}" for i in range(2000)] + ["émile-Ω", "with space", "x'y\"z"]
    t = ibis.memtable(pd.DataFrame({"u": ids}))
    got = engines.hash64(t, "u", "sälz:2026").set_index("u").loc[ids]
    ref = np.array([hashing.bucket(u, "sälz:2026") for u in ids])
    assert np.array_equal(got.bucket.to_numpy(), ref)


def test_float_unit_ids_are_refused(tmp_path):
    p = tmp_path / "f.parquet"
    pd.DataFrame({"u": [1.0, 2.5]}).to_parquet(p)
    with pytest.raises(DataError, match="whole numbers or text"):
        engines.hash64(p, "u", "s")


# --------------------------------------------------------------------------- simulation: coverage and FPR


def test_coverage_and_false_positive_rate_through_duckdb(full):
    """R replicates stacked in one table, aggregated by (replicate, arm) in ONE DuckDB query; the 95%
    Welch interval of the mean difference must cover the true effect ~95% of the time, and under
    no effect the test must reject ~5% of the time (binomial 99.9% acceptance bands)."""
    import ibis

    reps = 2000 if full else 400
    n = 400
    rng = np.random.default_rng(2026)
    arm = np.tile(np.repeat(["control", "offer"], n // 2), reps)
    rep = np.repeat(np.arange(reps), n)
    base = rng.lognormal(4, 1, reps * n)  # skewed, like revenue
    effect = 3.0
    y_eff = base + np.where(arm == "offer", effect, 0.0)
    y_null = rng.lognormal(4, 1, reps * n)
    t = ibis.memtable(pd.DataFrame({"rep": rep, "arm": arm, "y": y_eff, "z": y_null}))
    cells = engines.aggregate(t, ["rep", "arm"], ["y", "z"], pairs=[])
    assert len(cells) == 2 * reps
    cover = reject = 0
    for r in range(reps):
        a, c = cells[(r, "offer")], cells[(r, "control")]
        ci = stats.compare_means(a.sample_mean("y"), c.sample_mean("y"), 0.95).ci
        cover += ci[0] <= effect <= ci[1]
        reject += stats.compare_means(a.sample_mean("z"), c.sample_mean("z"), 0.95).p_value < 0.05
    lo, hi = st.binom.ppf([0.0005, 0.9995], reps, 0.95)
    assert lo <= cover <= hi
    lo, hi = st.binom.ppf([0.0005, 0.9995], reps, 0.05)
    assert lo <= reject <= hi


# --------------------------------------------------------------------------- bad input


def _write(tmp_path, df, name="o.parquet"):
    p = tmp_path / name
    if name.endswith(".csv"):
        df.to_csv(p, index=False)
    else:
        df.to_parquet(p, index=False)
    return p


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.assign(revenue_12m=d.revenue_12m.where(d.index % 97 != 0)), r"'revenue_12m'.* missing in 62 of 6000 rows"),
    (lambda d: d.assign(revenue_12m=d.revenue_12m.where(d.index != 5, np.inf)), r"'revenue_12m'.* infinite or NaN in 1 of"),
    (lambda d: d.assign(converted=d.converted * 2), r"'converted'.* values other than 0 and 1"),
    (lambda d: d.assign(complaint=d.complaint.astype(float) * 0.5), r"'complaint'.* values other than 0 and 1"),
    (lambda d: d.drop(columns="churned"), r"column 'churned' .* not found"),
    (lambda d: d.assign(revenue_12m=d.revenue_12m.astype(str)), r"'revenue_12m' .* not numbers"),
    (lambda d: d.assign(arm=d.arm.where(d.index % 1000 != 0)), r"'arm' is missing for 6 rows"),
    (lambda d: d.assign(arm=d.arm.replace("offer", "ofer")), r"holds arm 'ofer' that is not in"),
])
def test_bad_files_get_one_line_errors(demo_data, tmp_path, mutate, match):
    spec, o, _, _ = demo_data
    p = _write(tmp_path, mutate(o))
    with pytest.raises(DataError, match=match) as exc:
        analyse_source(spec, p)
    assert "\n" not in str(exc.value) and str(p) in str(exc.value)


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.assign(tenure_months=d.tenure_months.astype(float).where(d.index != 3)), r"1 missing or infinite"),
    (lambda d: d.assign(tenure_months=d.tenure_months - 50), r"negative tenures"),
    (lambda d: d.assign(tenure_months=d.tenure_months + 0.5), r"non-integer tenures"),
    (lambda d: d.assign(churned=d.churned * 3), r"must be 0 or 1"),
    (lambda d: d.assign(monthly_margin=d.monthly_margin.where(d.index % 100 != 1)), r"60 missing or infinite"),
    (lambda d: d.assign(products_held=d.products_held.astype(float).where(d.index % 1000 != 2)), r"6 rows are missing or negative"),
])
def test_bad_clv_columns_get_one_line_errors(demo_data, tmp_path, mutate, match):
    spec, o, _, _ = demo_data
    p = _write(tmp_path, mutate(o))
    with pytest.raises(DataError, match=match):
        engines.clv_from_source(spec, p)


def test_csv_with_text_in_a_metric_column(demo_data, tmp_path):
    spec, o, _, _ = demo_data
    bad = o.astype({"revenue_12m": object})
    bad.loc[7, "revenue_12m"] = "n/a"
    p = _write(tmp_path, bad, "o.csv")
    with pytest.raises(DataError, match=r"'revenue_12m' .* not numbers"):
        analyse_source(spec, p)


def test_pandas_source_goes_to_the_pandas_engine(demo_data):
    spec, o, _, _ = demo_data
    res = analyse_source(spec, open_source(o))
    assert res.engine == "pandas"
    compare(res.to_dict(), analyse_metrics(spec, o, "arm", "control").to_dict(), skip=())
