"""Data sources (uplift.data.source): what each kind of input becomes on each backend, the one
missing-value rule for CSV, and one-line errors for bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from uplift.errors import DataError, SpecError
from uplift.data.source import open_source, source_from_spec
from uplift.spec import parse_spec


pytestmark = pytest.mark.filterwarnings("ignore:fetch_arrow_table:DeprecationWarning")
ENGINES = ["pandas", "duckdb"]


@pytest.fixture()
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"customer_id": np.arange(100), "arm": rng.choice(["control", "offer"], 100),
                         "converted": rng.integers(0, 2, 100).astype(np.int8), "revenue": rng.normal(100, 10, 100),
                         "flag": rng.random(100) < 0.5, "segment": "mass"})


def test_backends(frame, tmp_path):
    import ibis

    assert open_source(frame).backend == "frame" and open_source(frame).engine == "pandas"
    p = tmp_path / "o.parquet"
    frame.to_parquet(p)
    s = open_source(p)
    assert s.backend == "ibis" and s.paths == (str(p),) and s.engine == "duckdb"
    assert open_source(s) is s
    assert open_source(p, engine="pandas").backend == "frame"
    assert open_source(frame, engine="duckdb").backend == "ibis"
    t = ibis.duckdb.connect().read_parquet(str(p))
    assert open_source(t).backend == "ibis"
    with pytest.raises(DataError, match="cannot read a list"):
        open_source([1, 2])
    with pytest.raises(DataError, match="engine 'spark'"):
        open_source(frame, engine="spark")


def test_schema_families_are_the_same_for_pandas_parquet_and_csv(frame, tmp_path):
    frame.to_parquet(tmp_path / "o.parquet")
    frame.to_csv(tmp_path / "o.csv", index=False)
    want = {"customer_id": "integer", "arm": "string", "converted": "integer", "revenue": "floating",
            "flag": "boolean", "segment": "string"}
    assert open_source(frame).schema() == want
    for engine in ENGINES:
        assert open_source(tmp_path / "o.parquet", engine=engine).schema() == want
        assert open_source(tmp_path / "o.csv", engine=engine).schema() == want


@pytest.mark.parametrize("engine", ENGINES)
def test_csv_missing_value_rule(tmp_path, engine):
    """Only an empty field is missing; NA/None/null are text; NaN in a numeric column is a (missing) number."""
    p = tmp_path / "o.csv"
    p.write_text("id,a,b,c,d\n1,1.5,NA,x,2\n2,,None,,NaN\n3,3.0,null,z,4\n", encoding="utf-8")
    src = open_source(p, engine=engine)
    assert src.schema() == {"id": "integer", "a": "floating", "b": "string", "c": "string", "d": "floating"}
    df = src.to_pandas(order_by="id")
    assert df["a"].isna().tolist() == [False, True, False]
    assert df["b"].tolist() == ["NA", "None", "null"]
    assert df["c"].isna().tolist() == [False, True, False]
    assert df["d"].isna().tolist() == [False, True, False]


@pytest.mark.parametrize("engine", ENGINES)
def test_file_source_reads_only_what_is_asked(frame, tmp_path, engine):
    p = tmp_path / "o.parquet"
    frame.to_parquet(p)
    got = open_source(p, engine=engine).to_pandas(["customer_id", "revenue"], order_by="customer_id")
    assert list(got.columns) == ["customer_id", "revenue"]
    pd.testing.assert_frame_equal(got, frame[["customer_id", "revenue"]])


@pytest.mark.parametrize("engine", ENGINES)
def test_sha256_traces_the_files(frame, tmp_path, engine):
    import hashlib

    p = tmp_path / "o.parquet"
    frame.to_parquet(p)
    assert open_source(p, engine=engine).sha256() == hashlib.sha256(p.read_bytes()).hexdigest()
    assert open_source(frame).sha256() is None
    d = tmp_path / "d"
    d.mkdir()
    frame.to_csv(d / "a.csv", index=False)
    frame.to_csv(d / "b.csv", index=False)
    one = hashlib.sha256((d / "a.csv").read_bytes()).hexdigest()
    want = hashlib.sha256(f"{one}  a.csv\n{one}  b.csv\n".encode()).hexdigest()
    assert open_source(d, engine=engine).sha256() == want


@pytest.mark.parametrize("engine", ENGINES)
def test_folder_of_parts_and_format_override(frame, tmp_path, engine):
    d = tmp_path / "parts"
    d.mkdir()
    frame.iloc[:40].to_parquet(d / "a.parquet")
    frame.iloc[40:].to_parquet(d / "b.parquet")
    (d / "_SUCCESS").write_text("")
    s = open_source(d, engine=engine)
    assert len(s.paths) == 2
    assert len(s.to_pandas()) == 100
    odd = tmp_path / "export.dat"
    frame.to_csv(odd, index=False)
    with pytest.raises(DataError, match="unknown file type .dat"):
        open_source(odd, engine=engine)
    assert len(open_source(odd, format="csv", engine=engine).to_pandas()) == 100


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("make, match", [
    (lambda p: p / "missing.parquet", "not found"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "holds no Parquet or CSV files"),
    (lambda p: [(p / "x.parquet").write_text("not parquet"), p / "x.parquet"][1], "cannot be read as parquet"),
    (lambda p: [(p / "x.csv").write_bytes(b""), p / "x.csv"][1], r"x.csv: the file is empty \(0 bytes\)"),
])
def test_bad_paths_get_one_line_errors(tmp_path, make, match, engine):
    path = make(tmp_path)
    with pytest.raises(DataError, match=match) as exc:
        open_source(path, engine=engine).schema()
    assert "\n" not in str(exc.value) and str(path) in str(exc.value)


def test_mixed_folder_needs_a_format(frame, tmp_path):
    frame.to_parquet(tmp_path / "a.parquet")
    frame.to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(DataError, match="both Parquet and CSV"):
        open_source(tmp_path)
    assert open_source(tmp_path, format="csv").paths == (str(tmp_path / "b.csv"),)


def test_source_from_spec(frame, tmp_path):
    (tmp_path / "data").mkdir()
    frame.to_csv(tmp_path / "data" / "out.txt", index=False)
    text = """
[experiment]
name = "x"
unit = "customer_id"
[population]
outcomes = "data/out.txt"
format = "csv"
[assignment]
salt = "x"
arms = { control = 0.5, offer = 0.5 }
control = "control"
[[metrics]]
name = "conversion"
kind = "proportion"
column = "converted"
primary = true
"""
    f = tmp_path / "x.toml"
    f.write_text(text)
    from uplift.spec import load_spec

    spec = load_spec(f)
    s = source_from_spec(spec)
    assert s.backend == "ibis" and Path(s.paths[0]) == tmp_path / "data" / "out.txt"
    assert s.schema()["converted"] == "integer"  # read as CSV despite the .txt suffix
    assert source_from_spec(spec, override=frame).backend == "frame"
    with pytest.raises(DataError, match=r"no \[population\] source"):
        source_from_spec(spec, which="source")
    with pytest.raises(SpecError, match="format"):
        parse_spec(text.replace('format = "csv"', 'format = "xlsx"'))
