"""Fuzzing (hypothesis) of the spec loader and the file readers: clean errors only, never a crash.

* :func:`uplift.spec.parse_spec` / :func:`uplift.spec.load_spec` on arbitrary text and bytes,
  and on structured mutations of a valid spec (wrong types, NaN/inf, dates, nested tables,
  unknown and missing keys): each either returns a :class:`~uplift.spec.Spec` or raises
  :class:`~uplift.errors.SpecError` with a one-line message naming the file;
* :func:`uplift.data.files.read_table` and :func:`uplift.experiment.ledger.read_ledger` on arbitrary bytes and
  on truncated / bit-flipped Parquet and CSV files: a DataFrame or a one-line
  :class:`~uplift.errors.DataError`.

Bounded by ``max_examples`` (about 10 s in all); ``pytest --full`` runs five times as many.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uplift.errors import DataError, SpecError, UserError
from uplift.data.files import read_table
from uplift.spec import Spec, load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[1]
DEMO = (ROOT / "experiments" / "demo.toml").read_text(encoding="utf-8")
# Budgets scale with the hypothesis profile: under ``pytest --full`` conftest.py loads "full"
# (max_examples 500 instead of hypothesis' default 100), so N is 5 there and 1 otherwise.
N = max(1, settings().max_examples // 100)
# UPLIFT_FUZZ_RANDOM=1 explores new inputs on each run (CI stays deterministic)
SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=not os.environ.get("UPLIFT_FUZZ_RANDOM"))


def one_line(exc: BaseException) -> None:
    msg = str(exc)
    assert msg and len(msg.splitlines()) == 1 and "\n" not in msg and "\r" not in msg, repr(msg)
    assert "Traceback" not in msg


def parse_or_spec_error(text: str, label: str = "fuzz.toml") -> Spec | None:
    try:
        spec = parse_spec(text, label=label)
    except SpecError as exc:
        one_line(exc)
        assert str(exc).startswith(label), str(exc)
        return None
    assert isinstance(spec, Spec)
    return spec


# --------------------------------------------------------------------------- spec: raw text


@settings(max_examples=150 * N, **SETTINGS)
@given(st.text(max_size=400))
def test_parse_spec_arbitrary_text(text):
    parse_or_spec_error(text)


@settings(max_examples=100 * N, **SETTINGS)
@given(st.data())
def test_parse_spec_mutated_text(data):
    """Insert, delete or replace characters of the demo spec."""
    text = DEMO
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        j = min(len(text), i + data.draw(st.integers(0, 30)))
        text = text[:i] + data.draw(st.text(max_size=12)) + text[j:]
    parse_or_spec_error(text)


@settings(max_examples=60 * N, **SETTINGS)
@given(st.binary(max_size=300))
def test_load_spec_arbitrary_bytes(raw):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "spec.toml"
        p.write_bytes(raw)
        try:
            load_spec(p)
        except SpecError as exc:
            one_line(exc)
            assert str(p) in str(exc)


# --------------------------------------------------------------------------- spec: structured mutations

def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        r = repr(v)
        return r if any(c in r for c in ".e") else r + ".0"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def to_toml(doc: dict) -> str:
    """A minimal TOML writer (no tomli_w here): top-level scalars, [tables], [[arrays of tables]]."""
    head, body = [], []
    for sec, val in doc.items():
        if isinstance(val, dict):
            body.append(f"[{json.dumps(sec)}]")
            body += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in val.items()]
        elif isinstance(val, list) and val and all(isinstance(x, dict) for x in val):
            for item in val:
                body.append(f"[[{json.dumps(sec)}]]")
                body += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in item.items()]
        else:
            head.append(f"{json.dumps(sec)} = {_toml_value(val)}")
    return "\n".join(head + body) + "\n"


scalars = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20), st.dates(), st.sampled_from(["", " ", "control", "offer", "__import__('os')", "../../etc/passwd"]),
    st.sampled_from([0, 1, -1, 0.0, 0.5, 1.0, 1e308, -1e-308]),
)
toml_values = st.recursive(scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(min_size=1, max_size=8), kids, max_size=3)), max_leaves=8)


def _demo_doc() -> dict:
    import tomllib

    return tomllib.loads(DEMO)


@settings(max_examples=250 * N, **SETTINGS)
@given(st.data())
def test_parse_spec_structured_mutations(data):
    doc = _demo_doc()
    for _ in range(data.draw(st.integers(1, 3))):
        sec = data.draw(st.sampled_from(sorted(doc) + ["new_section"]))
        action = data.draw(st.sampled_from(["set", "delete", "replace_section", "drop_section"]))
        target = doc.get(sec)
        if isinstance(target, list) and target:
            target = target[data.draw(st.integers(0, len(target) - 1))]
        if action == "drop_section":
            doc.pop(sec, None)
        elif action == "replace_section":
            doc[sec] = data.draw(toml_values)
        elif isinstance(target, dict):
            keys = sorted(target) + ["new_key"]
            key = data.draw(st.sampled_from(keys))
            if action == "delete":
                target.pop(key, None)
            else:
                target[key] = data.draw(toml_values)
    try:
        text = to_toml(doc)
    except TypeError:
        return
    parse_or_spec_error(text)


# --------------------------------------------------------------------------- file readers


def _frame(n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "customer_id": np.arange(n), "arm": pd.Categorical(rng.choice(["control", "offer"], n)),
        "converted": rng.integers(0, 2, n).astype("int8"), "revenue": rng.gamma(2, 50, n),
        "segment": rng.choice(["a", "b"], n),
    })


def _parquet_bytes() -> bytes:
    buf = io.BytesIO()
    _frame().to_parquet(buf, index=False)
    return buf.getvalue()


def _csv_bytes() -> bytes:
    return _frame().to_csv(index=False).encode()


PARQUET = _parquet_bytes()
CSV = _csv_bytes()


def read_or_data_error(raw: bytes, suffix: str):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"data{suffix}"
        p.write_bytes(raw)
        try:
            df = read_table(p, "outcomes")
        except DataError as exc:
            one_line(exc)
            assert str(p) in str(exc)
            return None
        assert isinstance(df, pd.DataFrame) and len(df) > 0
        return df


@settings(max_examples=80 * N, **SETTINGS)
@given(st.binary(max_size=2000), st.sampled_from([".parquet", ".csv", ".pq", ".txt"]))
def test_read_table_arbitrary_bytes(raw, suffix):
    read_or_data_error(raw, suffix)


@settings(max_examples=150 * N, **SETTINGS)
@given(st.data(), st.sampled_from([".parquet", ".csv"]))
def test_read_table_corrupted_files(data, suffix):
    """Truncate, bit-flip and splice a valid file."""
    raw = bytearray(PARQUET if suffix == ".parquet" else CSV)
    kind = data.draw(st.sampled_from(["truncate", "flip", "splice", "flip_footer"]))
    if kind == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "flip_footer":  # Parquet's metadata sits at the end: aim there
        for _ in range(data.draw(st.integers(1, 4))):
            i = len(raw) - 1 - data.draw(st.integers(0, min(600, len(raw) - 1)))
            raw[i] = data.draw(st.integers(0, 255))
    else:
        i = data.draw(st.integers(0, len(raw)))
        raw[i:i] = data.draw(st.binary(min_size=1, max_size=64))
    read_or_data_error(bytes(raw), suffix)


@settings(max_examples=60 * N, **SETTINGS)
@given(st.data())
def test_read_ledger_corrupted(data):
    """The ledger reader (uplift.experiment.ledger) on corrupted ledgers: a ledger, None, or a one-line DataError."""
    from uplift.experiment.ledger import read_ledger

    led = _frame().assign(experiment="x", stratum="all", spec_sha256="0", assignment_config="{}", assigned_at="2026-01-01")
    buf = io.BytesIO()
    led.to_parquet(buf, index=False)
    raw = bytearray(buf.getvalue())
    raw = raw[: data.draw(st.integers(0, len(raw)))]
    if raw and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= 0xFF
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "ledger.parquet"
        p.write_bytes(bytes(raw))
        try:
            read_ledger(p, "customer_id")
        except DataError as exc:
            one_line(exc)


def test_read_table_paths():
    """Paths that are not files: missing, a directory, unknown suffix, no suffix."""
    with tempfile.TemporaryDirectory() as d:
        for p in (Path(d) / "missing.parquet", Path(d), Path(d) / "x.json", Path(d) / "noext"):
            if p.name in ("x.json", "noext"):
                p.write_text("{}")
            with pytest.raises(DataError) as exc:
                read_table(p)
            one_line(exc.value)
            assert str(p) in str(exc.value)


def test_every_error_is_a_user_error():
    assert issubclass(SpecError, UserError) and issubclass(DataError, UserError)


@pytest.mark.parametrize("text", [
    '[experiment]\nname = "x"\nunit = "u"\n[analysis]\n"\\r" = false\n',        # found by the fuzzer
    '"a\\nb" = 1\n[experiment]\nname = "x"\nunit = "u"\n',
    '[experiment]\nname = "x"\nunit = "u"\n[assignment]\nsalt = "s"\ncontrol = "c"\narms = { "c\\nx" = 0.5, "d" = 0.5 }\n',
    '[experiment]\nname = "x"\nunit = "u"\n[assignment]\nsalt = "s"\ncontrol = "z"\narms = { "c\\nx" = 0.5, "d" = 0.5 }\n',
    '[experiment]\nname = "x"\nunit = "u"\n[assignment]\nsalt = "s"\ncontrol = "c"\narms = { "c\\u2028x" = 1.5, "d" = 0.5 }\n',
])
def test_spec_names_with_line_breaks_stay_on_one_line(text):
    """Regression: a quoted key holding a line break once split the error message over two lines."""
    with pytest.raises(SpecError) as exc:
        parse_spec(text, label="fuzz.toml")
    one_line(exc.value)
