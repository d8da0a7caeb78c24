"""The Ibis backend (files through the embedded DuckDB, engine tables): right numbers, and the same as in memory.

Every number is checked against a reference computed here from the raw rows (numpy, scipy,
statsmodels, lifelines, hashlib, plain counting, the published Hillstrom figures); the
readout from a file must moreover equal the in-memory readout number for number, since the
two backends answer the same questions.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from uplift.clv.analyse import clv_analysis
from uplift.data import hashing
from uplift.data.arms import attach_arms
from uplift.data.collect import collect_cells, life_table
from uplift.data.needs import Needs
from uplift.data.source import open_source
from uplift.errors import DataError
from uplift.metrics.analyse import analyse_metrics
from uplift.simulate import simulate
from uplift.spec import load_spec
from uplift.stats import compare as stats

pytestmark = pytest.mark.filterwarnings("ignore:fetch_arrow_table:DeprecationWarning")
ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "experiments" / "demo.toml"
HILLSTROM_SPEC = ROOT / "experiments" / "hillstrom.toml"


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
    parts = folder / "parts"
    parts.mkdir()
    o.iloc[:2500].to_parquet(parts / "part-0.parquet", index=False)
    o.iloc[2500:].to_parquet(parts / "part-1.parquet", index=False)
    return load_spec(DEMO), o, pq, csv, parts


# --------------------------------------------------------------------------- sufficient statistics


def _labels_as_categoricals(o: pd.DataFrame) -> pd.DataFrame:
    """``o`` with the arm and segment as categoricals whose categories are out of alphabetical order
    (the offer first; the segments in reverse, as the simulated population's mass, affluent, ...)."""
    return o.assign(arm=pd.Categorical(o["arm"], categories=["offer", "control"]),
                    segment=pd.Categorical(o["segment"], categories=sorted(o["segment"].unique(), reverse=True)))


@pytest.mark.parametrize("backend", ["frame", "frame, categorical", "file"])
def test_cells_match_numpy(demo_data, backend):
    """Each cell's moments equal numpy's on the rows picked by value; "frame, categorical" holds the arm
    and segment as categoricals whose categories are not in alphabetical order (as the simulated
    population's segment: mass, affluent, ...), so each cell must keep its own rows' numbers."""
    _, o, pq, _, _ = demo_data
    cols = ["revenue_12m", "revenue_pre_12m", "converted", "products_held"]
    pairs = [("revenue_12m", "revenue_pre_12m"), ("revenue_12m", "products_held")]
    if backend == "frame, categorical":
        src = open_source(_labels_as_categoricals(o))
    else:
        src = open_source(o) if backend == "frame" else open_source(pq)
    cells = collect_cells(src, ["arm", "segment"], Needs.of(cols, pairs=pairs, binary=["converted"]))
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
        # pairs nobody asked for are not computed, on either backend
        assert math.isnan(m.comoment[cols.index("converted"), cols.index("products_held")])


def test_file_cells_are_accurate_for_large_balances(tmp_path):
    """Balances around 1e9 with a spread of 1: sum(x^2) - n mean^2 would lose every digit."""
    rng = np.random.default_rng(1)
    x = 1e9 + rng.standard_normal(5000)
    df = pd.DataFrame({"arm": rng.choice(["a", "b"], 5000), "x": x})
    p = tmp_path / "big.parquet"
    df.to_parquet(p)
    for (arm,), m in collect_cells(open_source(p), ["arm"], Needs.of(["x"])).items():
        v = df.loc[df.arm == arm, "x"].to_numpy()
        assert m.var("x") == pytest.approx(np.var(v - 1e9, ddof=1), rel=1e-6)


# --------------------------------------------------------------------------- the readout from files


def _oracle(o: pd.DataFrame, arm: str = "offer", control: str = "control") -> dict:
    """Conversion (Wald interval, statsmodels pooled z-test) and unadjusted revenue (scipy Welch) from raw rows."""
    from statsmodels.stats.proportion import proportions_ztest

    a, c = o[o.arm == arm], o[o.arm == control]
    p1, p0 = a.converted.mean(), c.converted.mean()
    se = math.sqrt(p1 * (1 - p1) / len(a) + p0 * (1 - p0) / len(c))
    z = st.norm.ppf(0.975)
    _, p = proportions_ztest([a.converted.sum(), c.converted.sum()], [len(a), len(c)])
    welch = st.ttest_ind(a.revenue_12m, c.revenue_12m, equal_var=False)
    return {"conv_ci": [p1 - p0 - z * se, p1 - p0 + z * se], "conv_p": p, "rev_p": welch.pvalue,
            "rev_ci": list(welch.confidence_interval(0.95)), "rev_effect": a.revenue_12m.mean() - c.revenue_12m.mean()}


def test_readout_from_parquet_csv_folder_equals_the_references_and_memory(demo_data, same_numbers):
    spec, o, pq, csv, parts = demo_data
    ref = _oracle(o)
    memory = analyse_metrics(spec, o, "arm", "control")
    for data in (pq, csv, parts):
        res = analyse_metrics(spec, data)
        assert res.engine == "duckdb"
        rows = {(r["metric"], r["arm"]): r for r in res.metrics}
        conv, rev = rows[("conversion", "offer")], rows[("revenue", "offer")]
        np.testing.assert_allclose(conv["abs_ci"], ref["conv_ci"], rtol=1e-9)
        assert conv["p_value"] == pytest.approx(ref["conv_p"], rel=1e-9)
        assert rev["unadjusted"]["abs_effect"] == pytest.approx(ref["rev_effect"], rel=1e-9)
        assert rev["unadjusted"]["p_value"] == pytest.approx(ref["rev_p"], rel=1e-6)
        same_numbers(res.to_dict(), memory.to_dict())


def test_categorical_arm_and_segment_columns_give_the_file_numbers(demo_data, same_numbers):
    """A DataFrame whose arm and segment are categoricals with categories out of alphabetical order (as
    the simulated population's segment) gives, segment by segment, the numbers of the Parquet file."""
    spec, o, pq, _, _ = demo_data
    res = analyse_metrics(spec, _labels_as_categoricals(o), "arm", "control").to_dict()
    ref = analyse_metrics(spec, pq).to_dict()
    assert len(ref["segments"]["by"]["segment"]) >= 2
    same_numbers(res, ref)


def test_a_categorical_arm_read_into_memory_keeps_its_sign(demo_data, tmp_path, capsys):
    """``uplift readout --engine pandas`` on a Parquet file whose arm column is categorical with the
    offer first (pandas keeps that order on reading) gives the default engine's effects, not their
    negatives: the rows of each (arm, segment) cell stay under that cell's own key."""
    import json

    from uplift.cli import main

    _, o, _, _, _ = demo_data
    p = tmp_path / "categorical.parquet"
    _labels_as_categoricals(o).to_parquet(p, index=False)
    effects = {}
    for engine in ("auto", "pandas"):
        assert main(["readout", str(DEMO), "--outcomes", str(p), "--out", str(tmp_path / engine), "--json-only",
                     "--engine", engine, "--quiet"]) == 0
        res = json.loads((tmp_path / engine / "results.json").read_text(encoding="utf-8"))
        effects[engine] = {(m["metric"], m["arm"]): (m["n_arm"], m.get("abs_effect")) for m in res["metrics"]}
    capsys.readouterr()
    assert effects["pandas"].keys() == effects["auto"].keys()
    for key, value in effects["auto"].items():
        assert effects["pandas"][key] == pytest.approx(value, rel=1e-9), key
    a, c = o[o.arm == "offer"], o[o.arm == "control"]
    assert effects["pandas"][("conversion", "offer")] == pytest.approx((len(a), a.converted.mean() - c.converted.mean()),
                                                                       rel=1e-9)


def test_finance_is_cuped_and_the_same_on_every_backend(demo_data):
    """Finance's money figures are CUPED with the revenue metric's covariate (statsmodels OLS of the net
    value on arm and covariate) whether the rows are aggregated in memory or by DuckDB, and the
    valuation targeting computes from a file equals the readout's."""
    import statsmodels.formula.api as smf

    from uplift.metrics.analyse import economics_valuation

    spec, o, pq, _, _ = demo_data
    memory = analyse_metrics(spec, o, "arm", "control")
    duck = analyse_metrics(spec, pq)
    d = o.assign(net=o.margin_12m - o.cannibalised_margin_12m - o.service_cost_12m,
                 treated=(o.arm == "offer").astype(float))
    ols = smf.ols("net ~ treated + revenue_pre_12m", data=d).fit().params["treated"]
    for res in (memory, duck):
        fin = res.to_dict()["roi"]["per_arm"]["offer"]
        assert fin["incremental_profit"]["estimate"] == pytest.approx(ols, rel=1e-9)
        assert fin["estimator"].startswith("CUPED-adjusted with revenue_pre_12m")
    a, b = memory.to_dict()["roi"], duck.to_dict()["roi"]
    for key in ("incremental_revenue", "incremental_profit", "net_incremental_profit", "roi", "value_per_incremental_conversion"):
        x, y = a["per_arm"]["offer"][key], b["per_arm"]["offer"][key]
        assert y["estimate"] == pytest.approx(x["estimate"], rel=1e-9), key
        assert (y["ci"] is None) == (x["ci"] is None), key
        if x["ci"] is not None:
            assert y["ci"] == pytest.approx(x["ci"], rel=1e-9), key
    from_file = economics_valuation(spec, pq, "arm", "control", "offer")
    assert from_file is not None
    assert from_file.net_incremental_profit == pytest.approx(memory.valuations["offer"].net_incremental_profit, rel=1e-9)
    assert from_file.value_per_conversion == pytest.approx(memory.valuations["offer"].value_per_conversion, rel=1e-9)


def test_readout_from_an_ibis_table(demo_data, same_numbers):
    import ibis

    spec, o, pq, _, _ = demo_data
    res = analyse_metrics(spec, ibis.duckdb.connect().read_parquet(str(pq)))
    conv = [r for r in res.metrics if r["metric"] == "conversion"][0]
    np.testing.assert_allclose(conv["abs_ci"], _oracle(o)["conv_ci"], rtol=1e-9)
    same_numbers(res.to_dict(), analyse_metrics(spec, o).to_dict())


def test_hillstrom_from_a_csv_file(hillstrom, tmp_path, same_numbers):
    """Real data through DuckDB: the published Hillstrom visit lift for the men's e-mail (7.66 points)."""
    spec = load_spec(HILLSTROM_SPEC)
    path = tmp_path / "hillstrom.csv"
    hillstrom.to_csv(path, index=False)
    res = analyse_metrics(spec, path)
    visit = [r for r in res.metrics if r["metric"] == "visit" and r["arm"] == "Mens E-Mail"][0]
    # Hillstrom (2008): visit rate 18.28% (men's e-mail) vs 10.62% (no e-mail)
    assert round(visit["mean_arm"] * 100, 2) == 18.28 and round(visit["mean_control"] * 100, 2) == 10.62
    assert [round(x * 100, 3) for x in visit["abs_ci"]] == [6.995, 8.323]
    same_numbers(res.to_dict(), analyse_metrics(spec, hillstrom, "segment", "No E-Mail").to_dict())


def test_ledger_joined_in_the_engine(demo_data, tmp_path):
    spec, o, _, _, _ = demo_data
    ledger = o[["customer_id", "arm"]].assign(experiment=spec.name)
    outcomes = o.drop(columns="arm").iloc[:-30]  # fine: units in the ledger without outcomes
    extra = outcomes.iloc[:20].assign(customer_id=outcomes.customer_id.iloc[:20] + 10**9)  # not in the ledger
    outcomes = pd.concat([outcomes, extra], ignore_index=True)
    po, pl = tmp_path / "o.parquet", tmp_path / "ledger.parquet"
    outcomes.to_parquet(po, index=False)
    ledger.to_parquet(pl, index=False)
    want = o.iloc[:-30]["arm"].value_counts().to_dict()  # plain counting of the matched units
    for data, led in ((po, pl), (po, ledger), (outcomes, ledger), (outcomes, pl)):
        armed = attach_arms(open_source(data), unit="customer_id", ledger=led, experiment=spec.name)
        assert armed.arm_column == "arm" and dict(armed.counts) == want
        assert armed.notes == ("20 outcome rows for units not in the ledger were left out (counted, not analysed).",)
        res = analyse_metrics(spec, armed.source, "arm")
        assert {a: m.n for a, m in res.arm_statistics.items()} == want
        conv = [r for r in res.metrics if r["metric"] == "conversion"][0]
        np.testing.assert_allclose(conv["abs_ci"], _oracle(o.iloc[:-30])["conv_ci"], rtol=1e-9)


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


@pytest.mark.parametrize("backend", ["frame", "file"])
def test_life_table_matches_counting(demo_data, backend):
    _, o, pq, _, _ = demo_data
    src = open_source(o) if backend == "frame" else open_source(pq)
    lt = life_table(src, "tenure_months", "churned", by="arm", value="monthly_margin", integer_durations=True)
    plain = _plain_life_table(o)
    pd.testing.assert_frame_equal(lt[list(plain.columns)], plain, check_dtype=False)
    # the value moments of one cell, from numpy
    t12 = int(o[(o.arm == "offer") & (o.churned == 0)].tenure_months.mode().iloc[0])
    g = o[(o.arm == "offer") & (o.tenure_months == t12) & (o.churned == 0)].monthly_margin.to_numpy()
    assert len(g) > 10
    row = lt[(lt.arm == "offer") & (lt.time == t12)].iloc[0]
    assert row.value_sum_censored == pytest.approx(g.sum(), rel=1e-12)
    assert row.value_m2_censored == pytest.approx(((g - g.mean()) ** 2).sum(), rel=1e-9)


def test_clv_from_parquet_matches_lifelines_and_memory(demo_data, same_numbers):
    from lifelines import KaplanMeierFitter
    from lifelines.utils import restricted_mean_survival_time

    spec, o, pq, _, _ = demo_data
    res = clv_analysis(spec, pq)
    for arm, r in res.arms.items():
        g = o[o.arm == arm]
        kmf = KaplanMeierFitter().fit(g.tenure_months, g.churned)
        np.testing.assert_allclose(r.km.survival, kmf.survival_function_.loc[r.km.times].iloc[:, 0], atol=1e-10)
        horizon = float(res.to_dict()["arms"][arm]["rmst_horizon"])
        assert res.to_dict()["arms"][arm]["rmst"] == pytest.approx(restricted_mean_survival_time(kmf, horizon), rel=1e-9)
    for label, mask in (("1", o.products_held == 1), ("4+", o.products_held >= 4)):
        kmf = KaplanMeierFitter().fit(o.loc[mask, "tenure_months"], o.loc[mask, "churned"])
        km = res.retention_by_products[label]
        np.testing.assert_allclose(km.survival, kmf.survival_function_.loc[km.times].iloc[:, 0], atol=1e-10)
    same_numbers(res.to_dict(), clv_analysis(spec, o).to_dict())


# --------------------------------------------------------------------------- buckets


def test_buckets_in_duckdb_equal_python_for_100000_ids(tmp_path):
    ids = np.arange(10_000_001, 10_100_001, dtype=np.int64)
    salt = "visa-gold-mortgage-2026q4"
    p = tmp_path / "ids.parquet"
    pd.DataFrame({"customer_id": ids}).to_parquet(p)
    got = open_source(p).hash64("customer_id", salt).sort_values("customer_id")
    assert (got.customer_id.to_numpy() == ids).all()
    ref = np.array([int.from_bytes(hashlib.sha256(f"{salt}:{i}".encode()).digest()[:8], "big") for i in ids],
                   dtype=np.uint64)
    assert np.array_equal(got.hash64.to_numpy(), ref)
    assert np.array_equal(got.bucket.to_numpy(), np.array([int(h) / 2**64 for h in ref]))


def test_arms_assigned_in_duckdb_equal_python(tmp_path):
    ids = np.arange(1, 50_001, dtype=np.int64)
    weights = {"control": 0.1, "offer_a": 0.45, "offer_b": 0.45}
    p = tmp_path / "ids.parquet"
    pd.DataFrame({"customer_id": ids}).to_parquet(p)
    t = open_source(p).table
    got = t.select("customer_id", arm=hashing.arm_expression(t, "customer_id", "s1", weights)).to_pandas()
    got = got.sort_values("customer_id")
    edges = np.cumsum(list(weights.values()))
    ref = [list(weights)[int(np.searchsorted(edges, hashing.bucket(i, "s1"), side="right"))] for i in ids]
    assert (got.arm.to_numpy() == np.array(ref, dtype=object)).all()


def test_buckets_for_text_ids_and_a_non_ascii_salt():
    import ibis

    ids = [f"C{i:07d}" for i in range(2000)] + ["émile-Ω", "with space", "x'y\"z"]
    got = open_source(ibis.memtable(pd.DataFrame({"u": ids}))).hash64("u", "sälz:2026").set_index("u").loc[ids]
    ref = np.array([int.from_bytes(hashlib.sha256(f"sälz:2026:{u}".encode()).digest()[:8], "big") / 2**64 for u in ids])
    assert np.array_equal(got.bucket.to_numpy(), ref)


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_float_unit_ids_are_refused(tmp_path, engine):
    p = tmp_path / "f.parquet"
    pd.DataFrame({"u": [1.0, 2.5]}).to_parquet(p)
    with pytest.raises(DataError, match="whole number"):
        open_source(p, engine=engine).hash64("u", "s")


# --------------------------------------------------------------------------- simulation: coverage and FPR


def test_coverage_and_false_positive_rate_through_duckdb(full):
    """R replicates stacked in one table, aggregated by (replicate, arm) in ONE DuckDB query; the 95%
    Welch interval of the mean difference must cover the true effect ~95% of the time, and under
    no effect the test must reject ~5% of the time (binomial 99.9% acceptance bands)."""
    reps = 2000 if full else 400
    n = 400
    rng = np.random.default_rng(2026)
    arm = np.tile(np.repeat(["control", "offer"], n // 2), reps)
    rep = np.repeat(np.arange(reps), n)
    base = rng.lognormal(4, 1, reps * n)  # skewed, like revenue
    effect = 3.0
    y_eff = base + np.where(arm == "offer", effect, 0.0)
    y_null = rng.lognormal(4, 1, reps * n)
    src = open_source(pd.DataFrame({"rep": rep, "arm": arm, "y": y_eff, "z": y_null}), engine="duckdb")
    cells = collect_cells(src, ["rep", "arm"], Needs.of(["y", "z"]))
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


# --------------------------------------------------------------------------- the whole readout, rendered


ENGINE_FIELDS = {"provenance/engine", "sufficient_statistics/engine"}  # the only fields that name the engine


def _flatten(obj, path=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _flatten(v, f"{path}/{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _flatten(v, f"{path}[{i}]")
    else:
        yield path, obj


def test_duckdb_readout_html_equals_the_in_memory_readout(tmp_path):
    """`uplift readout --engine duckdb` renders the demo's HTML in the notebook kernel, and its results.json
    equals the in-memory readout's number for number: same keys, floats to 1e-9 relative, everything
    else exactly, except the fields that name the engine (ENGINE_FIELDS)."""
    import json

    from uplift.cli import main
    from uplift.demo import DEMO_SPEC
    from uplift.experiment.assign import assign
    from uplift.simulate import simulate_outcomes, simulate_population

    spec = load_spec(DEMO_SPEC)
    population = simulate_population(20_000, seed=5)
    ledger = assign(spec, population).ledger
    assigned = population.merge(ledger[[spec.unit, "arm"]], on=spec.unit)
    outcomes, _ = simulate_outcomes(assigned.drop(columns=["arm"]), assigned["arm"].to_numpy(), seed=5)
    files = {"outcomes": tmp_path / "outcomes.parquet", "ledger": tmp_path / "ledger.parquet",
             "population": tmp_path / "population.parquet"}
    outcomes.drop(columns=["arm"]).to_parquet(files["outcomes"], index=False)
    ledger.to_parquet(files["ledger"], index=False)
    population.to_parquet(files["population"], index=False)
    args = [f"--{k}={v}" for k, v in files.items()]
    assert main(["readout", str(DEMO_SPEC), *args, "--out", str(tmp_path / "duck"), "--engine", "duckdb", "-q"]) == 0
    assert main(["readout", str(DEMO_SPEC), *args, "--out", str(tmp_path / "mem"), "--json-only", "-q",
                 "--engine", "pandas"]) == 0
    # as a user types it: the default engine reads the files in DuckDB, the same results as --engine duckdb
    assert main(["readout", str(DEMO_SPEC), *args, "--out", str(tmp_path / "default"), "--json-only", "-q"]) == 0
    page = (tmp_path / "duck" / "readout.html").read_text(encoding="utf-8")
    assert "Covariate balance (standardised mean difference vs control)" in page and "<script" not in page
    duck = json.loads((tmp_path / "duck" / "results.json").read_text())
    mem = json.loads((tmp_path / "mem" / "results.json").read_text())
    assert duck["balance"] and duck["targeting"] and duck["clv"]["retention_by_products"]  # the engine path has them all
    assert duck["consumer_duty"]["rows"] and duck["consumer_duty"]["composition"]
    d, m = dict(_flatten(duck)), dict(_flatten(mem))
    assert set(d) == set(m)
    assert {k for k in d if d[k] != m[k] and not (isinstance(d[k], float) and isinstance(m[k], float)
                                                   and math.isclose(d[k], m[k], rel_tol=1e-9, abs_tol=1e-12))} \
        == ENGINE_FIELDS
    assert duck["provenance"]["engine"].startswith("duckdb") and mem["provenance"]["engine"].startswith("pandas")
    default = json.loads((tmp_path / "default" / "results.json").read_text())
    assert default == duck


def test_the_command_offers_the_engines_of_the_seam():
    """`uplift readout --engine` lists the engines :func:`uplift.data.source.open_source` takes (one tuple,
    :data:`uplift.data.engines.ENGINES`, which imports no data library), and files default to DuckDB, frames to
    memory."""
    import pandas as pd

    from uplift.cli import build_parser
    from uplift.commands.readout import ENGINES as CLI_ENGINES
    from uplift.data.engines import ENGINES
    from uplift.data.source import ENGINES as SOURCE_ENGINES, open_source
    from uplift.readout.render import ENGINES as RENDER_ENGINES

    assert CLI_ENGINES is ENGINES and SOURCE_ENGINES is ENGINES and RENDER_ENGINES is ENGINES
    assert build_parser().parse_args(["readout", "spec.toml", "--engine", "duckdb"]).engine == "duckdb"
    args = build_parser().parse_args(["readout", "spec.toml"])
    assert args.engine == "auto"
    assert open_source(pd.DataFrame({"a": [1]})).engine == "pandas"


def test_the_default_readout_scans_each_question_once_and_equals_memory(demo_data, tmp_path, monkeypatch):
    """`write_results` with the default engine asks DuckDB for the unit facts, the rows per arm and the
    metrics' cells once each (asked ahead while SciPy imports, the answers kept), and its results.json
    equals the in-memory run's number for number (floats to 1e-9 relative; the engine's name aside)."""
    import json

    from uplift.data import duck_files, ibis_backend
    from uplift.readout.render import write_results

    spec, o, pq, _, _ = demo_data
    asked: list[str] = []
    for name in ("_unit_facts", "_moments"):
        real = getattr(ibis_backend.IbisSource, name)
        monkeypatch.setattr(ibis_backend.IbisSource, name,
                            lambda self, *a, _real=real, _name=name: asked.append(_name) or _real(self, *a))
    real_execute = ibis_backend.IbisSource.execute
    monkeypatch.setattr(ibis_backend.IbisSource, "execute",
                        lambda self, expr: asked.append("query") or real_execute(self, expr))
    real_rows = duck_files.DuckFiles.rows  # the Parquet file's questions asked in SQL
    monkeypatch.setattr(duck_files.DuckFiles, "rows", lambda self, *a, **k: asked.append("query") or real_rows(self, *a, **k))
    real_frame = duck_files.DuckFiles.frame  # the life tables asked in SQL (files, and views of the joined rows)
    monkeypatch.setattr(duck_files.DuckFiles, "frame", lambda self, *a, **k: asked.append("query") or real_frame(self, *a, **k))
    duck = json.loads(write_results(spec, tmp_path / "duck", pq).read_text())
    assert asked.count("_unit_facts") == 1 and asked.count("_moments") == 1
    # one query per table: rows and id range, the ids' marks, rows per arm, the metrics'
    # cells, covariate balance, the CLV life tables (by arm, by arm and conversion, by products held) and
    # the conversion-timing table of the demo spec; then one life table per funnel stage with days
    # ([funnel] days_columns: each stage among those who reached the one before). Without the population,
    # whose age band is a [fairness] group, the Consumer Duty panel is left out with a note.
    assert asked.count("query") == 9 + len(spec.funnel.days_columns), asked
    assert duck["consumer_duty"] is None and any(n.startswith("Consumer Duty panel left out") for n in duck["notes"])
    mem = json.loads(write_results(spec, tmp_path / "mem", pq, engine="pandas").read_text())
    assert duck["provenance"]["engine"].startswith("duckdb") and mem["provenance"]["engine"].startswith("pandas")
    d, m = dict(_flatten(duck)), dict(_flatten(mem))
    assert set(d) == set(m)
    assert {k for k in d if d[k] != m[k] and not (isinstance(d[k], float) and isinstance(m[k], float)
                                                   and math.isclose(d[k], m[k], rel_tol=1e-9, abs_tol=1e-12))} \
        <= ENGINE_FIELDS


def test_the_way_to_the_first_query_imports_no_statistics_library():
    """What the readout needs before the engine's first scan (the render module, the data seam, the arm
    checks and the metric planner) imports neither SciPy, scikit-learn, statsmodels nor matplotlib, so
    those load while the engine scans; `uplift --help` imports no data library either."""
    import subprocess
    import sys

    heavy = ("scipy", "sklearn", "statsmodels", "matplotlib")
    code = ("import sys; import uplift.readout.render, uplift.data.arms, uplift.metrics.analyse; "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    code = ("import sys; from uplift.cli import build_parser; build_parser(); "
            f"print(sorted(m for m in {heavy + ('pandas', 'numpy', 'ibis', 'duckdb')!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_html_readout_checks_its_inputs_without_the_data_libraries(demo_data):
    """Before the notebook's kernel starts, the HTML readout's own process checks the files named (the render
    module, :func:`~uplift.readout.render.check_paths`, the earlier looks) and loads jupytext and papermill:
    none of that imports pandas, pyarrow or DuckDB (half a second, which the kernel's analysis imports anyway),
    and a missing file is still refused there, in one line."""
    import subprocess
    import sys

    spec, _, pq, _, _ = demo_data
    code = ("import sys; from uplift.readout.render import check_paths; from uplift.readout.look_history import "
            "check_earlier, load_looks; from uplift.spec import load_spec; spec = load_spec(sys.argv[1]); "
            "check_earlier(spec, load_looks(())); check_paths(spec, sys.argv[2]); import jupytext, papermill, nbformat; "
            "print(sorted(m for m in ('pandas', 'pyarrow.parquet', 'duckdb', 'ibis') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(spec.path), str(pq)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    missing = subprocess.run([sys.executable, "-c", code, str(spec.path), str(pq) + ".gone"], capture_output=True, text=True)
    assert missing.returncode == 1 and "outcomes file not found; check the path" in missing.stderr.splitlines()[-1]
