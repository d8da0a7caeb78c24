"""Parquet files asked in SQL directly (uplift.data.duck_files): the same answers as the same rows in
memory (numpy) and as the Ibis path on the same file, the answers asked ahead only for the same file,
and a `readout --json-only` that imports neither Ibis nor scipy.stats."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from uplift.data import duck_files, ibis_backend
from uplift.data.needs import Needs
from uplift.data.source import open_source

NEEDS = Needs.of({"y": "metric", "x": "covariate", "flag": "conversion", "k": "orders", "d": "amount"},
                 pairs=[("y", "x"), ("y", "k"), ("x", "d")], binary=["flag"])


def frame(n: int = 3000, seed: int = 11, text_ids: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = np.arange(5_000, 5_000 + n)
    df = pd.DataFrame({
        "u": [f"C{i:07d}" for i in ids] if text_ids else ids,
        "arm": rng.choice(["control", "a", 'b "quoted"'], size=n),
        "y": rng.gamma(2.0, 30.0, size=n),
        "x": rng.normal(50.0, 10.0, size=n),
        "flag": (rng.random(n) < 0.2).astype(np.int8),
        "k": rng.poisson(3.0, size=n).astype(np.int32),
        "d": rng.normal(1e3, 1.0, size=n).round(2),
    })
    return df


def close(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-10, abs_tol=1e-12)


@pytest.mark.parametrize("text_ids", [False, True])
def test_parquet_in_sql_equals_memory_and_the_ibis_path(tmp_path, text_ids):
    df = frame(text_ids=text_ids)
    df.loc[[3, 10], "u"] = df.loc[[4, 11], "u"].to_numpy()  # two ids twice
    p = tmp_path / "o.parquet"
    df.to_parquet(p, index=False)
    sql = open_source(p)
    assert sql.duck is not None and sql.engine == "duckdb"
    con = ibis_backend.duckdb_connection()
    via_ibis = ibis_backend.IbisSource(con.read_parquet(str(p)), str(p), con=con, paths=(str(p),))
    mem = open_source(df, engine="pandas")
    assert sql.schema() == via_ibis.schema()
    # rows, distinct ids (numpy recount), rows without an id
    want = (len(df), len(np.unique(df["u"].to_numpy())), 0)
    assert sql.table_facts("u") == via_ibis.table_facts("u") == mem.table_facts("u") == want
    # the moments per arm: equal to the in-memory numpy aggregation (1e-10) and the Ibis SQL (same aggregates)
    for x in (sql, via_ibis):
        got, tally = x.moments(["arm"], NEEDS)
        ref, ref_tally = mem.moments(["arm"], NEEDS)
        assert set(got) == set(ref) and tally == ref_tally
        for key, m in got.items():
            r = ref[key]
            assert m.n == r.n and m.columns == r.columns
            assert all(close(a, b) for a, b in zip(m.mean, r.mean))
            assert all(close(a, b) for a, b in zip(m.comoment.ravel(), r.comoment.ravel()))
            assert np.array_equal(np.isnan(m.comoment), np.isnan(r.comoment))  # pairs not asked for: NaN everywhere
    # the rows per arm came with the moments; equal to a count of the rows
    counts = sql.counts(["arm"]).set_index("arm")["n"].to_dict()
    assert counts == df["arm"].value_counts().to_dict() == via_ibis.counts(["arm"]).set_index("arm")["n"].to_dict()


def test_bad_values_are_counted_alike(tmp_path):
    """NaN, infinite and non-0/1 values: the diagnostic queries in SQL give the in-memory counts."""
    df = frame(400)
    df.loc[[1, 2], "y"] = np.inf
    df.loc[5, "d"] = np.nan
    df.loc[::97, "x"] = np.nan
    df["flag"] = df["flag"].astype(float)
    df.loc[7, "flag"] = 2.5
    p = tmp_path / "bad.parquet"
    df.to_parquet(p, index=False)
    _, tally = open_source(p).moments(["arm"], NEEDS)
    assert tally == open_source(df, engine="pandas").moments(["arm"], NEEDS)[1]
    assert tally.infinite["y"] == 2 and tally.non_binary["flag"] == (0.0, 2.5)


def _timing_rows(n: int = 2000, seed: int = 5) -> pd.DataFrame:
    """Customers with every kind of timing row of :mod:`uplift.data.timing`: converted, competing (ties with
    the conversion included), censored, and each bad kind (NaN and infinite follow-up, negative days, a flag
    of 2, a time without a conversion and the reverse, events after the follow-up)."""
    rng = np.random.default_rng(seed)
    f = rng.integers(0, 400, n).astype(float)
    flag = (rng.random(n) < 0.3).astype(float)
    t = np.where(flag == 1, np.floor(f * rng.random(n)), np.nan)
    c = np.where(rng.random(n) < 0.2, np.floor(f * rng.random(n)), np.nan)
    c[:20] = t[:20]  # ties go to the conversion
    df = pd.DataFrame({"arm": rng.choice(["control", "offer"], n), "flag": flag, "t": t, "f": f, "c": c,
                       "seen": np.where(rng.random(n) < 0.7, f, np.nan), "v": rng.normal(10.0, 3.0, n),
                       "churned": rng.random(n) < 0.4, "tenure": rng.integers(0, 60, n).astype(np.int16)})
    df.loc[30:32, "f"] = np.nan
    df.loc[33, "f"] = np.inf
    df.loc[34:35, "f"] = -3.0
    df.loc[36, "t"], df.loc[36, "flag"] = -1.0, 1.0
    df.loc[37, "c"] = -2.0
    df.loc[38, "flag"] = 2.0
    df.loc[39, "t"], df.loc[39, "flag"] = 5.0, 0.0
    df.loc[40, "t"], df.loc[40, "flag"] = np.nan, 1.0
    df.loc[41, "t"], df.loc[41, "flag"], df.loc[41, "f"] = 50.0, 1.0, 10.0
    df.loc[42, "c"], df.loc[42, "f"] = 90.0, 10.0
    df.loc[43:45, "v"] = np.nan
    df.loc[30:45, "seen"] = 1.0  # the bad rows are among the rows present
    return df


def _parquet(folder, df: pd.DataFrame):
    p = folder / "held.parquet"
    df.to_parquet(p, index=False)
    return p


def _sorted(g: pd.DataFrame) -> pd.DataFrame:
    g = g.assign(time=pd.to_numeric(g["time"]).astype(float), event=pd.to_numeric(g["event"]).astype(float))
    return g.sort_values(list(g.columns[:3])).reset_index(drop=True)


def test_views_asked_in_sql_equal_memory_and_the_ibis_path(tmp_path):
    """The life counts, the rows present and the conversion-timing codes asked in SQL (a Parquet file, and
    the view of a join on the embedded DuckDB) equal the in-memory numpy/pandas answers and the Ibis path's
    on the same rows: counts exactly, the value's sum and centred sum of squares to 1e-10."""
    df = _timing_rows()
    p = tmp_path / "t.parquet"
    df.to_parquet(p, index=False)
    sql, via_ibis, mem = open_source(p), open_source(df, engine="duckdb"), open_source(df, engine="pandas")
    assert sql.duck is not None and via_ibis.duck is None
    names = ("days", "code", "share")
    for competing in ("c", None):
        answers = []
        for src in (sql, via_ibis, mem):
            timed = src.where_present("seen").with_timing("flag", "t", "f", competing, 90.0, names)
            long, _ = timed.life_counts(["arm"], "days", "code", "share")
            answers.append(_sorted(long))
        for other in answers[1:]:
            assert answers[0][["arm", "time", "event", "n"]].equals(other[["arm", "time", "event", "n"]])
            assert np.allclose(answers[0]["value_sum"], other["value_sum"], rtol=1e-10, atol=1e-12)
        codes = answers[0].groupby("event")["n"].sum()
        assert set(codes.index) == {0, 1, 10, 11, 12, 13, 14, 15, 17} | ({2, 16, 18} if competing else set())
    # bins of a count column (missing, NaN, negative, below the first edge, fractional, open above)
    held = pd.Series(np.random.default_rng(3).integers(0, 7, len(df)), dtype=float)
    held[:6] = [np.nan, -1.0, 0.5, 1.0, 3.999, 4.0]
    binned = [src.with_bins("held", [1, 2, 3, 4], ["1", "2", "3", "4+"], "bin").life_counts(["bin"], "tenure", "churned", None)[0]
              for src in (open_source(_parquet(tmp_path, df.assign(held=held))), open_source(df.assign(held=held), engine="duckdb"),
                          open_source(df.assign(held=held), engine="pandas"))]
    binned = [_sorted(b[["bin", "time", "event", "n"]]) for b in binned]
    assert binned[0].equals(binned[1]) and binned[0].equals(binned[2])
    assert set(binned[0]["bin"]) == {"__missing", "__negative", "<1", "1", "2", "3", "4+"}
    # life counts with a value (NaN counted as missing) and a boolean flag, on a view of a joined source
    extra = pd.DataFrame({"u": np.arange(len(df)), "segment": np.where(np.arange(len(df)) % 3 == 0, "a", "b")})
    joined = open_source(df.assign(u=np.arange(len(df))), engine="duckdb")
    joined = joined.join_columns(open_source(extra, beside=joined, label="pop"), "u", ["segment"])
    assert joined.duck is not None  # the join became a view, asked in SQL
    ref = open_source(df.assign(segment=extra["segment"]), engine="pandas")
    for src in (joined, sql):
        by = ["arm", "segment"] if src is joined else ["arm"]
        got, bad = src.life_counts(by, "tenure", "churned", "v")
        want, want_bad = (ref if src is joined else mem).life_counts(by, "tenure", "churned", "v")
        got, want = (x.sort_values([*by, "time", "event"]).reset_index(drop=True) for x in (got, want))
        assert bad == want_bad == (3, 0)
        assert got[[*by, "n"]].equals(want[[*by, "n"]])
        assert np.array_equal(got["time"].astype(float), want["time"].astype(float))
        assert np.array_equal(got["event"].astype(float), want["event"].astype(float))
        assert np.allclose(got["value_sum"], want["value_sum"], rtol=1e-10)
        assert np.allclose(got["value_m2"], want["value_m2"], rtol=1e-10, atol=1e-9)


def test_answers_asked_ahead_serve_the_same_file_only(tmp_path, monkeypatch):
    p = tmp_path / "o.parquet"
    frame(2000).to_parquet(p, index=False)
    want = open_source(p).table_facts("u")
    duck_files.ask_ahead(p, None, "u")
    duck_files._AHEAD[duck_files._identity([str(p)])].join()
    assert len(duck_files._KEPT) == 2  # rows and id range, the marks
    asked: list[str] = []
    real = duck_files.DuckFiles.rows
    monkeypatch.setattr(duck_files.DuckFiles, "rows", lambda self, *a, **k: asked.append(len(duck_files._KEPT))
                        or real(self, *a, **k))
    assert open_source(p).table_facts("u") == want
    assert asked == [2, 1] and not duck_files._KEPT  # both kept answers used, once each
    # asked ahead, then the file is rewritten: its new rows are counted, not the kept answers
    duck_files.ask_ahead(p, None, "u")
    duck_files._AHEAD[duck_files._identity([str(p)])].join()
    frame(1500, seed=2).iloc[:1200].to_parquet(p, index=False)
    assert open_source(p).table_facts("u") == (1200, 1200, 0)
    duck_files._KEPT.clear()


def test_json_only_readout_imports_neither_ibis_nor_scipy_stats(tmp_path):
    """The default `uplift readout --json-only` on a Parquet file, in a fresh interpreter: its results equal
    the in-memory engine's, and Ibis and scipy.stats were never imported."""
    from uplift.demo import DEMO_SPEC  # noqa: F401 - the package imports

    df = frame(3000).rename(columns={"u": "customer_id", "flag": "converted", "y": "revenue", "x": "revenue_pre"})
    df["arm"] = df["arm"].map({"control": "control", "a": "offer_a", 'b "quoted"': "offer_b"})
    p = tmp_path / "o.parquet"
    df.to_parquet(p, index=False)
    spec = tmp_path / "spec.toml"
    spec.write_text("""
[experiment]
name = "sqlpath"
unit = "customer_id"
[assignment]
salt = "s"
arms = { control = 0.2, offer_a = 0.4, offer_b = 0.4 }
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
name = "revenue_per_order"
kind = "ratio"
column = "revenue"
denominator = "k"
""", encoding="utf-8")
    code = ("import sys; from uplift.cli import main; rc = main(sys.argv[1:]); "
            "print([m for m in ('ibis', 'scipy.stats', 'scipy.optimize') if m in sys.modules]); sys.exit(rc)")
    runs = {}
    for engine in ("auto", "pandas"):
        out = tmp_path / engine
        res = subprocess.run([sys.executable, "-c", code, "readout", str(spec), "--outcomes", str(p), "--out", str(out),
                              "--json-only", "--engine", engine, "-q"], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        runs[engine] = (res.stdout.strip().splitlines()[-1], json.loads((out / "results.json").read_text()))
    assert runs["auto"][0] == "[]"
    mine, mem = runs["auto"][1]["metrics"], runs["pandas"][1]["metrics"]
    assert len(mine) == len(mem) == 6
    for a, b in zip(mine, mem):
        for k in ("abs_effect", "abs_se", "p_value", "rel_effect"):
            assert close(float(a[k]), float(b[k])), (a["metric"], k)
