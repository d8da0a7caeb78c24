"""The same readout on a Spark table (local mode) as on pandas, and the same buckets as Python.

Spark needs Java and pyspark, and a session takes ~10-15 s to start, so a quick local run skips
this module. It runs when ``CI=true`` (CI) or ``UPLIFT_SPARK=1``, and then it FAILS (never skips)
if pyspark or Java is missing. References: hashlib and Spark's own ``sha2``, statsmodels, lifelines,
plain counting; and the in-memory backend, number for number.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from uplift.clv.analyse import clv_analysis
from uplift.data import hashing
from uplift.data.arms import attach_arms
from uplift.data.collect import life_table
from uplift.data.source import open_source
from uplift.metrics.analyse import analyse_metrics
from uplift.simulate import simulate


RUN = os.environ.get("CI", "").lower() in ("1", "true", "yes") or os.environ.get("UPLIFT_SPARK", "") not in ("", "0")
pytestmark = pytest.mark.skipif(not RUN, reason="Spark tests run in CI (CI=true) or with UPLIFT_SPARK=1")


@pytest.fixture(scope="module")
def spark():
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        pytest.fail("pyspark is not installed: install the 'spark' extra (pip install -e .[spark])")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.fail("Java is not installed: Spark needs Java 17 (apt-get install openjdk-17-jre-headless)")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("uplift-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory, demo_spec):
    sim = simulate(6000, seed=11, arms={"control": 0.3, "offer": 0.7})
    o = sim.outcomes.drop(columns=[c for c in sim.outcomes.columns if c.startswith("true_")])
    o = o.assign(arm=o["arm"].astype(str))
    p = tmp_path_factory.mktemp("spark") / "outcomes.parquet"
    o.to_parquet(p, index=False)
    return demo_spec, o, p


def test_buckets_python_duckdb_spark_agree_on_100000_ids(spark, tmp_path):
    ids = np.arange(10_000_001, 10_100_001, dtype=np.int64)
    salt = "visa-gold-mortgage-2026q4"
    p = tmp_path / "ids.parquet"
    pd.DataFrame({"customer_id": ids}).to_parquet(p)
    py = np.array([int.from_bytes(hashlib.sha256(f"{salt}:{i}".encode()).digest()[:8], "big") for i in ids],
                  dtype=np.uint64)
    duck = open_source(p).hash64("customer_id", salt).sort_values("customer_id")
    sp = open_source(spark.read.parquet(str(p))).hash64("customer_id", salt).sort_values("customer_id")
    assert (duck.customer_id.to_numpy() == ids).all() and (sp.customer_id.to_numpy() == ids).all()
    assert np.array_equal(duck.hash64.to_numpy(), py)
    assert np.array_equal(sp.hash64.to_numpy(), py)
    assert np.array_equal(sp.bucket.to_numpy(), py / 2**64)
    # arms assigned inside Spark equal Python's
    weights = {"control": 0.1, "offer_a": 0.45, "offer_b": 0.45}
    t = open_source(spark.read.parquet(str(p))).table
    arms = t.select("customer_id", arm=hashing.arm_expression(t, "customer_id", salt, weights)).to_pandas()
    arms = arms.sort_values("customer_id")
    assert (arms.arm.to_numpy() == hashing.assign_by_weights(ids, salt, weights)).all()
    # Spark's own sha2 on one id, read by hand (checks the digest, not just our arithmetic)
    row = spark.sql(f"SELECT sha2('{salt}:10000001', 256) AS h").collect()[0]
    assert int(row.h[:16], 16) == int(py[0])


def test_readout_on_spark_equals_statsmodels_and_memory(spark, demo_data, same_numbers):
    from statsmodels.stats.proportion import proportions_ztest

    spec, o, p = demo_data
    src = open_source(spark.read.parquet(str(p)))
    assert src.backend == "ibis" and src.engine == "pyspark"
    res = analyse_metrics(spec, src)
    assert res.engine == "pyspark"
    conv = [r for r in res.metrics if r["metric"] == "conversion"][0]
    a, c = o[o.arm == "offer"].converted, o[o.arm == "control"].converted
    assert conv["p_value"] == pytest.approx(proportions_ztest([a.sum(), c.sum()], [len(a), len(c)])[1], rel=1e-9)
    same_numbers(res.to_dict(), analyse_metrics(spec, o, "arm", "control").to_dict())


def test_ledger_joined_in_spark(spark, demo_data, same_numbers, tmp_path):
    spec, o, _ = demo_data
    o.drop(columns="arm").to_parquet(tmp_path / "o.parquet", index=False)
    o[["customer_id", "arm"]].to_parquet(tmp_path / "l.parquet", index=False)
    armed = attach_arms(open_source(spark.read.parquet(str(tmp_path / "o.parquet"))), unit="customer_id",
                        ledger=spark.read.parquet(str(tmp_path / "l.parquet")))
    assert armed.source.engine == "pyspark" and armed.arm_column == "arm" and armed.notes == ()
    assert dict(armed.counts) == o.arm.value_counts().to_dict()
    same_numbers(analyse_metrics(spec, armed.source, "arm").to_dict(), analyse_metrics(spec, o, "arm", "control").to_dict())


def test_clv_and_life_table_on_spark(spark, demo_data, same_numbers):
    from lifelines import KaplanMeierFitter

    spec, o, p = demo_data
    df = spark.read.parquet(str(p))
    lt = life_table(open_source(df), "tenure_months", "churned", by="arm", value="monthly_margin", integer_durations=True)
    for (arm, t), row in lt.set_index(["arm", "time"]).iterrows():
        g = o[o.arm == arm]
        assert row.at_risk == int((g.tenure_months >= t).sum())
        assert row.events == int(((g.tenure_months == t) & (g.churned == 1)).sum())
    res = clv_analysis(spec, df)
    for arm, r in res.arms.items():
        g = o[o.arm == arm]
        kmf = KaplanMeierFitter().fit(g.tenure_months, g.churned)
        np.testing.assert_allclose(r.km.survival, kmf.survival_function_.loc[r.km.times].iloc[:, 0], atol=1e-10)
    same_numbers(res.to_dict(), clv_analysis(spec, o).to_dict())
    assert not math.isnan(res.to_dict()["incremental"]["offer"]["clv"])


def test_whole_readout_on_spark_equals_duckdb_file(spark, demo_data, same_numbers):
    """The readout's analysis (metrics, SRM, balance, CLV, conversion timing: everything but targeting,
    which needs the population) on a Spark table equals the same file read by the embedded DuckDB, number
    for number; and the primary metric's p-value equals statsmodels' z-test on the raw rows."""
    from scipy.stats import chisquare
    from statsmodels.stats.proportion import proportions_ztest

    from uplift.readout.analysis import analyse

    spec, o, p = demo_data
    on_spark = analyse(spec, spark.read.parquet(str(p))).to_results()
    on_duckdb = analyse(spec, p).to_results()
    assert on_spark["provenance"]["engine"] != on_duckdb["provenance"]["engine"]  # two engines, not one twice
    same_numbers(on_spark, on_duckdb, skip=("engine",))
    conv = [r for r in on_spark["metrics"] if r["metric"] == "conversion"][0]
    a, c = o[o.arm == "offer"].converted, o[o.arm == "control"].converted
    assert conv["p_value"] == pytest.approx(proportions_ztest([a.sum(), c.sum()], [len(a), len(c)])[1], rel=1e-9)
    counts = o.arm.value_counts()
    weights = dict(spec.analysed_arm_weights)
    expected = [len(o) * weights[a] / sum(weights.values()) for a in ("control", "offer")]
    assert on_spark["srm"]["p_value"] == pytest.approx(chisquare([counts["control"], counts["offer"]], expected).pvalue,
                                                       rel=1e-9)
