"""Sufficient statistics: both backends agree with numpy, pool exactly, and refuse bad input with one message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as hs

from uplift.data.collect import aggregate_frame, collect_cells
from uplift.data.moments import AdjustedStats, Moments, Proportion, RatioStats, SampleMean, pool
from uplift.data.needs import Needs
from uplift.data.source import open_source
from uplift.errors import DataError

COLS = ["y", "x", "d", "conv"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    n = 3000
    return pd.DataFrame({
        "arm": pd.Categorical(rng.choice(["control", "a", "b"], n)),
        "segment": rng.choice(["mass", "affluent", "private"], n),
        "y": rng.lognormal(5, 1.2, n),
        "x": rng.normal(100, 30, n),
        "d": rng.integers(1, 7, n).astype(np.int8),
        "conv": rng.random(n) < 0.1,
    })


def _numpy_reference(df: pd.DataFrame, mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    X = df.loc[mask, COLS].to_numpy(float)
    return len(X), X.mean(axis=0), np.cov(X, rowvar=False, ddof=1)


def test_pandas_engine_matches_numpy(frame):
    agg = aggregate_frame(frame, ["arm"], COLS)
    assert set(agg) == {("a",), ("b",), ("control",)}
    for (arm,), m in agg.items():
        n, mean, cov = _numpy_reference(frame, (frame.arm == arm).to_numpy())
        assert m.n == n
        np.testing.assert_allclose(m.mean, mean, rtol=1e-12)
        np.testing.assert_allclose(m.comoment / (m.n - 1), cov, rtol=1e-10, atol=1e-12)
        assert m.var("y") == pytest.approx(frame.y[frame.arm == arm].var(ddof=1), rel=1e-12)


def test_ibis_backend_matches_numpy_on_frame_parquet_and_csv(frame, tmp_path):
    flat = frame.assign(arm=frame.arm.astype(str), conv=frame.conv.astype(int))
    pq = tmp_path / "o.parquet"
    csv = tmp_path / "o.csv"
    flat.to_parquet(pq)
    flat.to_csv(csv, index=False)
    for data in (open_source(flat, engine="duckdb"), open_source(pq), open_source(csv)):
        got = collect_cells(data, ["arm", "segment"], Needs.of(COLS, pairs=None))
        assert set(got) == set(flat.groupby(["arm", "segment"]).groups)
        for (arm, seg), m in got.items():
            n, mean, cov = _numpy_reference(flat, ((flat.arm == arm) & (flat.segment == seg)).to_numpy())
            assert m.n == n
            np.testing.assert_allclose(m.mean, mean, rtol=1e-9)
            np.testing.assert_allclose(m.comoment / (m.n - 1), cov, rtol=1e-8, atol=1e-9)


def test_cells_pool_exactly_to_arms(frame):
    cells = aggregate_frame(frame, ["arm", "segment"], COLS)
    for arm in ("a", "b", "control"):
        pooled = pool(v for k, v in cells.items() if k[0] == arm)
        n, mean, cov = _numpy_reference(frame, (frame.arm == arm).to_numpy())
        assert pooled.n == n
        np.testing.assert_allclose(pooled.mean, mean, rtol=1e-12)
        np.testing.assert_allclose(pooled.comoment / (n - 1), cov, rtol=1e-10, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(hs.lists(hs.floats(-1e6, 1e6, allow_nan=False), min_size=4, max_size=60), hs.integers(1, 3))
def test_pooling_any_split_equals_numpy_on_the_whole(values, cut):
    x = np.array(values)
    cut = min(cut, len(x) - 2)
    df = pd.DataFrame({"g": ["a"] * cut + ["b"] * (len(x) - cut), "y": x, "x": x[::-1]})
    parts = aggregate_frame(df, ["g"], ["y", "x"])
    pooled = parts[("a",)] + parts[("b",)]
    X = df[["y", "x"]].to_numpy()
    assert pooled.n == len(X)
    np.testing.assert_allclose(pooled.mean, X.mean(axis=0), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(pooled.comoment, np.cov(X, rowvar=False, ddof=1) * (len(X) - 1), rtol=1e-8, atol=1e-3)


def test_balances_in_the_billions_keep_their_digits():
    """Centred sums: variance of 1e9 + small noise is exact (sum of squares minus n mean^2 would lose it)."""
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 1.0, 10_000)
    df = pd.DataFrame({"g": "x", "balance": 1e9 + noise})
    m = aggregate_frame(df, ["g"], ["balance"])[("x",)]
    reference = np.var(df.balance.to_numpy() - 1e9, ddof=1)  # shift first: exact in double
    assert m.var("balance") == pytest.approx(reference, rel=1e-6)
    d = collect_cells(open_source(df, engine="duckdb"), ["g"], Needs.of(["balance"]))[("x",)]
    assert d.var("balance") == pytest.approx(reference, rel=1e-6)
    naive = (np.sum(df.balance.to_numpy() ** 2) - len(df) * df.balance.mean() ** 2) / (len(df) - 1)
    assert abs(naive - reference) / reference > 1e-3  # the formula we refuse does lose the digits


def test_linear_combination_equals_numpy_on_the_column(frame):
    m = aggregate_frame(frame, ["arm"], COLS)[("a",)].with_linear("net", {"y": 1.0, "x": -1.0, "d": -2.0})
    a = frame[frame.arm == "a"]
    net = (a.y - a.x - 2 * a.d).to_numpy()
    assert m.mean_of("net") == pytest.approx(net.mean(), rel=1e-12)
    assert m.var("net") == pytest.approx(np.var(net, ddof=1), rel=1e-10)
    assert m.cov("net", "conv") == pytest.approx(np.cov(net, a.conv.to_numpy(float))[0, 1], rel=1e-10)


def test_typed_shapes_pool_to_the_numpy_values_of_both_arms(frame):
    cells = aggregate_frame(frame, ["arm"], COLS)
    a, b = cells[("a",)], cells[("b",)]
    ab = frame[frame.arm.isin(["a", "b"])]
    y, x, d = (ab[c].to_numpy(float) for c in ("y", "x", "d"))
    sm = a.sample_mean("y") + b.sample_mean("y")
    assert sm.mean == pytest.approx(y.mean(), rel=1e-12) and sm.var == pytest.approx(np.var(y, ddof=1), rel=1e-10)
    pr = a.proportion("conv") + b.proportion("conv")
    assert pr.p == pytest.approx(ab.conv.mean(), rel=1e-12)
    rs = a.ratio("y", "d") + b.ratio("y", "d")
    r = y.mean() / d.mean()
    lin = (y - r * d) / d.mean()  # linearised unit values (Deng, Knoblich & Lu 2018)
    assert rs.cov == pytest.approx(np.cov(y, d)[0, 1], rel=1e-10)
    assert rs.variance_of_ratio == pytest.approx(np.var(lin, ddof=1) / len(y), rel=1e-9)
    ad = a.adjusted("y", "x") + b.adjusted("y", "x")
    assert ad.cov_xy == pytest.approx(np.cov(y, x)[0, 1], rel=1e-10)
    assert isinstance(sm, SampleMean) and isinstance(pr, Proportion) and isinstance(rs, RatioStats)
    assert isinstance(ad, AdjustedStats)


def test_to_dict_is_json_ready(frame):
    import json

    m = aggregate_frame(frame.head(1), ["arm"], COLS)
    d = next(iter(m.values())).to_dict()
    json.dumps(d, allow_nan=False)
    assert d["n"] == 1 and d["var"]["y"] is None
    assert Moments.empty(["y"]).n == 0


# --------------------------------------------------------------------------- bad input: one message on both backends


def _message(df, engine, by=("arm",), columns=COLS, binary=()):
    src = open_source(df, engine=engine, label="cells.parquet")
    with pytest.raises(DataError) as e:
        collect_cells(src, list(by), Needs.of({c: "aggregated column" for c in columns}, binary=binary))
    assert "\n" not in str(e.value)
    return str(e.value)


def _nan_at(df, rows, col, value=np.nan):
    bad = df.copy()
    bad[col] = bad[col].astype(float)
    bad.loc[rows, col] = value
    return bad


@pytest.mark.parametrize("case, make, kwargs, want", [
    ("text column", lambda f: f.assign(y=f.y.astype(str)), {},
     "cells.parquet: column 'y' (aggregated column) holds string values, not numbers; "
     "convert it to numbers (e.g. 0/1 or amounts) before the readout"),
    ("missing values", lambda f: _nan_at(f, [3, 7, 11], "x"), {},
     "cells.parquet: column 'x' (aggregated column) is missing (empty or NaN) in 3 of 3000 rows; fill those values "
     "(e.g. 0 for no purchase) or remove the rows and report them before the readout"),
    ("infinities", lambda f: _nan_at(f, [4], "x", np.inf), {},
     "cells.parquet: column 'x' (aggregated column) is infinite in 1 of 3000 rows; fill those values "
     "(e.g. 0 for no purchase) or remove the rows and report them before the readout"),
    ("both", lambda f: _nan_at(_nan_at(f, [4], "x", -np.inf), [5, 6], "x"), {},
     "cells.parquet: column 'x' (aggregated column) is missing or infinite in 3 of 3000 rows; fill those values "
     "(e.g. 0 for no purchase) or remove the rows and report them before the readout"),
    ("missing column", lambda f: f, {"columns": ["nope"]},
     "cells.parquet: column 'nope' (aggregated column) not found; add it or fix the spec "
     "(columns: arm, segment, y, x, d, conv)"),
    ("missing group column", lambda f: f, {"by": ["arms"]}, "cells.parquet: column 'arms' not found; name an existing column"),
    ("missing group value", lambda f: f.assign(arm=f.arm.astype(object).where(f.index != 5, None)), {},
     "cells.parquet: column 'arm' is missing for 1 of 3000 rows; every row needs a value: fill or remove those rows"),
    ("non-0/1", lambda f: f.assign(d=f.d.astype(float)), {"binary": ["d"]},
     "cells.parquet: column 'd' (aggregated column, kind proportion) holds values other than 0 and 1 (range 1 to 6); "
     "use a 0/1 column or set kind = \"mean\""),
    ("non-0/1 integers", lambda f: f, {"binary": ["d"]},
     "cells.parquet: column 'd' (aggregated column, kind proportion) holds values other than 0 and 1 (range 1 to 6); "
     "use a 0/1 column or set kind = \"mean\""),
])
def test_bad_input_gives_the_same_message_on_both_backends(frame, case, make, kwargs, want):
    bad = make(frame)
    assert _message(bad, "pandas", **kwargs) == want
    assert _message(bad.assign(arm=bad.arm.astype(object)), "duckdb", **kwargs) == want


# --------------------------------------------------------------------------- unit facts: counted by marking or hashing


@pytest.mark.parametrize("ids", [
    [5, 6, 6, None, 9, 9, 9, 12],                       # dense whole numbers with repeats and a missing id: marked
    [-7, -7, -3, 0, 4, None, None],                     # negative ids: marked from the minimum
    [1, 2**40, 3, 3, 2**40],                            # sparse: the engine's count(DISTINCT)
    ["a1", "a1", " ", "b2", None, "c3"],                # text (a blank id is no id): count(DISTINCT)
])
def test_unit_facts_in_duckdb_equal_numpy_and_memory(ids, tmp_path):
    """(rows, distinct present ids, rows without an id) from a Parquet file in DuckDB, from the same rows
    scanned by DuckDB and from pandas in memory all equal a numpy recount of the raw ids."""
    text = isinstance(next(i for i in ids if i is not None), str)
    col = pd.Series(ids, dtype="string" if text else "Int64")
    present = [i for i in ids if i is not None and not (text and not i.strip())]
    want = (len(ids), len(np.unique(np.array(present, dtype=object if text else np.int64))), len(ids) - len(present))
    df = pd.DataFrame({"u": col, "x": np.arange(len(ids), dtype=float)})
    path = tmp_path / "ids.parquet"
    df.to_parquet(path, index=False)
    for src in (open_source(path), open_source(df, engine="duckdb"), open_source(df, engine="pandas")):
        assert src.table_facts("u") == want, src.description
        assert src.table_facts("u") == want  # asked again: the same (kept) answer


def test_marking_counts_a_large_dense_column_as_numpy_does(tmp_path, monkeypatch):
    """200,000 whole-number ids (many repeated) marked in the engine: the marks equal np.unique, from the
    Parquet file (asked in SQL) and from the same rows as a DataFrame scanned by DuckDB (through Ibis)."""
    from uplift.data import ibis_backend

    marked = []
    real = ibis_backend.IbisSource._marked
    monkeypatch.setattr(ibis_backend.IbisSource, "_marked", lambda self, *a: marked.append(a) or real(self, *a))
    rng = np.random.default_rng(3)
    ids = rng.integers(10**9, 10**9 + 300_000, size=200_000)
    pd.DataFrame({"u": ids}).to_parquet(tmp_path / "many.parquet", index=False)
    src = open_source(tmp_path / "many.parquet")
    assert src.engine == "duckdb"
    assert src.table_facts("u") == (200_000, len(np.unique(ids)), 0)
    assert marked == [("u", int(ids.min()), int(ids.max() - ids.min()) + 1)]  # counted by marking, not hashing
    scanned = open_source(pd.DataFrame({"u": ids}), engine="duckdb")
    assert scanned.table_facts("u") == (200_000, len(np.unique(ids)), 0)
    assert len(marked) == 2
