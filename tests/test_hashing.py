"""Salted SHA-256 buckets: the vectorised (DuckDB) path equals hashlib bit for bit."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from uplift.data.hashing import arm_for_buckets, assign_by_weights, bucket, buckets, canonical_unit, canonical_units, hash64


def reference_hash64(unit_text: str, salt: str) -> int:
    """Independent restatement of the canonical definition (not the code under test)."""
    return int.from_bytes(hashlib.sha256((salt + ":" + unit_text).encode("utf-8")).digest()[:8], "big")


def test_known_digest():
    # sha256("a:1") = 2b2c40a6706d9e5f..., first 8 bytes big-endian (computed by `printf 'a:1' | sha256sum`)
    assert hashlib.sha256(b"a:1").hexdigest().startswith("2b2c40a6706d9e5f")
    assert hash64([1], "a", engine="hashlib")[0] == 0x2B2C40A6706D9E5F
    assert hash64(np.arange(1, 6001), "a", engine="duckdb")[0] == 0x2B2C40A6706D9E5F
    assert bucket(1, "a") == 0x2B2C40A6706D9E5F / 2**64


def test_canonical_unit():
    assert canonical_unit(10000001) == "10000001"
    assert canonical_unit(np.int64(7)) == "7"
    assert canonical_unit(7.0) == "7"
    assert canonical_unit("007") == "007"
    with pytest.raises(TypeError):
        canonical_unit(True)
    with pytest.raises(TypeError):
        canonical_unit(1.5)


@pytest.mark.parametrize(
    "units",
    [
        np.arange(10_000_001, 10_020_001, dtype=np.int64),
        np.array([-5, 0, 2**62, -(2**62)] * 2000, dtype=np.int64),
        np.arange(0, 8000, dtype=np.uint32),
        pd.Series(["a", "é", "😀 x", "", " 1", "00123", "a:b", "汉字"] * 1000),
        pd.Series(np.arange(1, 7001, dtype=float)),
        pd.Series(pd.Categorical(["x1", "x2", "x3"] * 3000)),
        pd.Series(pd.array(np.arange(1, 7001), dtype="Int64")),
    ],
    ids=["int64", "signed-extremes", "uint32", "unicode-text", "whole-floats", "categorical", "nullable-int"],
)
def test_duckdb_equals_hashlib(units):
    salt = "sält:2026"
    fast = hash64(units, salt, engine="duckdb")
    slow = hash64(units, salt, engine="hashlib")
    assert fast.dtype == np.uint64
    np.testing.assert_array_equal(fast, slow)
    # and both equal the independent restatement, element by element
    values = units.tolist() if not isinstance(units, np.ndarray) else units.tolist()
    ref = np.array([reference_hash64(canonical_unit(v), salt) for v in values[:500]], dtype=np.uint64)
    np.testing.assert_array_equal(fast[:500], ref)


def test_buckets_unchanged_definition():
    units = list(range(1, 101)) + ["abc", "x"]
    expected = np.array([reference_hash64(str(u), "s") / 2**64 for u in units])
    np.testing.assert_array_equal(buckets(units, "s"), expected)
    assert all(0 <= b < 1 for b in expected)


def test_float_units_rejected():
    with pytest.raises(TypeError):
        canonical_units(pd.Series([1.0, 2.5]))
    with pytest.raises(TypeError):
        canonical_units(pd.Series([True, False]))


def test_arm_cut_points():
    b = np.array([0.0, 0.0999999, 0.1, 0.5, 0.999999999])
    arms = arm_for_buckets(b, {"control": 0.1, "offer": 0.9})
    assert arms.tolist() == ["control", "control", "offer", "offer", "offer"]


def test_assign_by_weights_matches_sql_engine():
    """The same arms computed entirely inside DuckDB SQL (sha256 + cut) as in Python."""
    import duckdb

    ids = np.arange(1, 20_001, dtype=np.int64)
    py = assign_by_weights(ids, "exp-1", {"control": 0.25, "offer": 0.75})
    con = duckdb.connect()
    df = pd.DataFrame({"u": ids})
    con.register("t", df)
    sql = con.execute(
        """
        SELECT CASE WHEN ('0x' || left(sha256('exp-1:' || CAST(u AS VARCHAR)), 16))::UBIGINT::DOUBLE
                         / 18446744073709551616.0 < 0.25 THEN 'control' ELSE 'offer' END AS arm
        FROM t ORDER BY u
        """
    ).fetchnumpy()["arm"]
    assert (np.asarray(sql, dtype=object) == py).all()


def test_mixed_python_lists_use_the_canonical_text():
    units = [1.0, "a", 7, np.int64(9), 2**70]
    expected = np.array([reference_hash64(t, "s") for t in ["1", "a", "7", "9", str(2**70)]], dtype=np.uint64)
    np.testing.assert_array_equal(hash64(units, "s"), expected)
    np.testing.assert_array_equal(hash64([2**70, 3], "s"), expected[[4]].tolist() + [reference_hash64("3", "s")])


def test_property_duckdb_equals_hashlib_on_any_text():
    """Any text ids (any unicode, empty, spaces, colons): both engines give the same digests."""
    from hypothesis import given, settings, strategies as st

    @settings(max_examples=40, deadline=None)
    @given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20), min_size=1, max_size=50),
           st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12))
    def check(ids, salt):
        units = pd.Series(ids, dtype=object)
        np.testing.assert_array_equal(hash64(units, salt, engine="duckdb"), hash64(units, salt, engine="hashlib"))

    check()
