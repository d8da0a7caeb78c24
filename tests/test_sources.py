"""Data sources (uplift.data.source): what each kind of input becomes, and one-line errors for bad ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from uplift.errors import DataError, SpecError
from uplift.data.source import open_source, source_from_spec
from uplift.spec import parse_spec


pytestmark = pytest.mark.filterwarnings("ignore:fetch_arrow_table:DeprecationWarning")
@pytest.fixture()
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"customer_id": np.arange(100), "arm": rng.choice(["control", "offer"], 100),
                         "converted": rng.integers(0, 2, 100).astype(np.int8), "revenue": rng.normal(100, 10, 100),
                         "flag": rng.random(100) < 0.5, "segment": "mass"})


def test_kinds(frame, tmp_path):
    import ibis

    assert open_source(frame).kind == "pandas"
    p = tmp_path / "o.parquet"
    frame.to_parquet(p)
    s = open_source(p)
    assert s.kind == "duckdb" and s.format == "parquet" and s.paths == (str(p),) and s.engine == "duckdb"
    assert open_source(s) is s
    t = ibis.duckdb.connect().read_parquet(str(p))
    assert open_source(t).kind == "ibis"
    with pytest.raises(DataError, match="cannot read a list"):
        open_source([1, 2])


def test_schema_families_are_the_same_for_pandas_parquet_and_csv(frame, tmp_path):
    frame.to_parquet(tmp_path / "o.parquet")
    frame.to_csv(tmp_path / "o.csv", index=False)
    want = {"customer_id": "integer", "arm": "string", "converted": "integer", "revenue": "floating",
            "flag": "boolean", "segment": "string"}
    assert open_source(frame).schema() == want
    assert open_source(tmp_path / "o.parquet").schema() == want
    assert open_source(tmp_path / "o.csv").schema() == want


def test_file_source_reads_only_what_is_asked(frame, tmp_path):
    p = tmp_path / "o.parquet"
    frame.to_parquet(p)
    got = open_source(p).to_pandas(["customer_id", "revenue"])
    assert list(got.columns) == ["customer_id", "revenue"]
    pd.testing.assert_frame_equal(got, frame[["customer_id", "revenue"]])


def test_sha256_traces_the_files(frame, tmp_path):
    import hashlib

    p = tmp_path / "o.parquet"
    frame.to_parquet(p)
    assert open_source(p).sha256() == hashlib.sha256(p.read_bytes()).hexdigest()
    assert open_source(frame).sha256() is None
    d = tmp_path / "d"
    d.mkdir()
    frame.to_csv(d / "a.csv", index=False)
    frame.to_csv(d / "b.csv", index=False)
    one = hashlib.sha256((d / "a.csv").read_bytes()).hexdigest()
    want = hashlib.sha256(f"{one}  a.csv\n{one}  b.csv\n".encode()).hexdigest()
    assert open_source(d).sha256() == want


def test_folder_of_parts_and_format_override(frame, tmp_path):
    d = tmp_path / "parts"
    d.mkdir()
    frame.iloc[:40].to_parquet(d / "a.parquet")
    frame.iloc[40:].to_parquet(d / "b.parquet")
    (d / "_SUCCESS").write_text("")
    s = open_source(d)
    assert len(s.paths) == 2 and s.format == "parquet"
    assert len(s.to_pandas()) == 100
    odd = tmp_path / "export.dat"
    frame.to_csv(odd, index=False)
    with pytest.raises(DataError, match="unknown file type .dat"):
        open_source(odd)
    assert len(open_source(odd, format="csv").to_pandas()) == 100


@pytest.mark.parametrize("make, match", [
    (lambda p: p / "missing.parquet", "not found"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "holds no Parquet or CSV files"),
    (lambda p: [(p / "x.parquet").write_text("not parquet"), p / "x.parquet"][1], "cannot be read as parquet"),
])
def test_bad_paths_get_one_line_errors(tmp_path, make, match):
    path = make(tmp_path)
    with pytest.raises(DataError, match=match) as exc:
        open_source(path).schema()
    assert "\n" not in str(exc.value)


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
    assert s.kind == "duckdb" and s.format == "csv" and Path(s.paths[0]) == tmp_path / "data" / "out.txt"
    assert source_from_spec(spec, override=frame).kind == "pandas"
    with pytest.raises(DataError, match=r"no \[population\] source"):
        source_from_spec(spec, which="source")
    with pytest.raises(SpecError, match="format"):
        parse_spec(text.replace('format = "csv"', 'format = "xlsx"'))
