"""A customer's identity, reserved names, missing-value spellings and small-cell privacy, through the CLI.

Every readout case runs on both engines (in memory and ``--engine duckdb``) and, for a bad input,
expects the identical one-line message (exit 2, nothing written).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from uplift.cli import main
from uplift.data.facts import LEDGER_COLUMNS, RESERVED_COLUMNS
from uplift.data.hashing import assign_by_weights, id_findings
from uplift.experiment.ledger import ledger_columns
from uplift.simulate import simulate

ENGINES = ("pandas", "duckdb")
SALT = "identity-salt"
SPEC = f"""
[experiment]
name = "identity"
unit = "{{unit}}"

[assignment]
salt = "{SALT}"
arms = {{{{ {{arms}} }}}}
control = "control"

[[metrics]]
name = "conversion"
kind = "proportion"
column = "converted"
primary = true

[[metrics]]
name = "revenue"
kind = "mean"
column = "revenue_12m"
{{extra}}
"""


def spec_file(tmp_path: Path, extra: str = "", unit: str = "customer_id", arms: str = "control = 0.5, offer = 0.5",
              name: str = "spec.toml") -> Path:
    p = tmp_path / name
    p.write_text(SPEC.format(unit=unit, arms=arms, extra=extra), encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def sim():
    s = simulate(600, seed=5)
    out = s.outcomes[["customer_id", "arm", "converted", "revenue_12m", "segment"]].astype({"arm": str})
    return s.population, out


def readout(tmp_path: Path, spec: Path, outcomes: Path, engine: str, *more: str, tag: str = "") -> tuple[int, dict | None]:
    out = tmp_path / f"report-{engine}{tag}"
    rc = main(["readout", str(spec), "--outcomes", str(outcomes), "--out", str(out), "--json-only", "-q",
               "--engine", engine, *more])
    path = out / "results.json"
    return rc, (json.loads(path.read_text()) if path.exists() else None)


def refused_alike(capsys, tmp_path: Path, spec: Path, outcomes: Path, *more: str) -> str:
    """The one line both engines give for a bad input (exit 2, nothing written); asserts they agree."""
    lines = {}
    for engine in ENGINES:
        capsys.readouterr()
        rc, res = readout(tmp_path, spec, outcomes, engine, *more)
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and res is None and len(err) == 1, (engine, rc, err)
        assert "Traceback" not in err[0] and ";" in err[0]
        assert not (tmp_path / f"report-{engine}").exists()
        lines[engine] = err[0]
    assert lines["pandas"] == lines["duckdb"], lines
    return lines["pandas"]


def _close(x, y) -> bool:
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(_close(x[k], y[k]) for k in x)
    if isinstance(x, list):
        return len(x) == len(y) and all(_close(u, v) for u, v in zip(x, y))
    if isinstance(x, float) and isinstance(y, float):
        return x == pytest.approx(y, rel=1e-9, abs=1e-12, nan_ok=True)
    return x == y


# --------------------------------------------------------------------------- 5. a customer's identity


def _padded(pop: pd.DataFrame) -> pd.DataFrame:
    return pop.assign(customer_id=[f"{i:08d}" for i in range(1, len(pop) + 1)])


def test_csv_ids_keep_their_leading_zeros_on_assign(sim, tmp_path):
    """The same customers from CSV and from Parquet get the same arms: the hash sees '00000001', not 1."""
    pop = _padded(sim[0])
    pop.to_csv(tmp_path / "population.csv", index=False)
    pop.to_parquet(tmp_path / "population.parquet", index=False)
    spec = spec_file(tmp_path)
    ledgers = {}
    for fmt in ("csv", "parquet"):
        led = tmp_path / f"ledger-{fmt}.parquet"
        assert main(["assign", str(spec), "--population", str(tmp_path / f"population.{fmt}"), "--ledger", str(led), "-q"]) == 0
        ledgers[fmt] = pd.read_parquet(led).astype({"arm": str, "customer_id": str})
    assert ledgers["csv"]["customer_id"].tolist() == sorted(pop["customer_id"])  # zeros kept, ids as written
    pd.testing.assert_frame_equal(ledgers["csv"][["customer_id", "arm"]], ledgers["parquet"][["customer_id", "arm"]])
    want = assign_by_weights(ledgers["csv"]["customer_id"].tolist(), SALT, {"control": 0.5, "offer": 0.5})
    assert ledgers["csv"]["arm"].tolist() == list(want)


def test_ordinary_ids_keep_their_arms(sim, tmp_path):
    """Whole-number ids hash as before (their decimal text), read from Parquet or CSV: the demo's assignment is unchanged."""
    pop = sim[0]
    pop.to_csv(tmp_path / "population.csv", index=False)
    pop.to_parquet(tmp_path / "population.parquet", index=False)
    spec = spec_file(tmp_path)
    arms = {}
    for fmt in ("csv", "parquet"):
        led = tmp_path / f"ledger-{fmt}.csv"
        assert main(["assign", str(spec), "--population", str(tmp_path / f"population.{fmt}"), "--ledger", str(led), "-q"]) == 0
        arms[fmt] = pd.read_csv(led, dtype=str).set_index("customer_id")["arm"]
    pd.testing.assert_series_equal(arms["csv"], arms["parquet"])
    want = assign_by_weights(pop["customer_id"].to_numpy(), SALT, {"control": 0.5, "offer": 0.5})
    assert arms["parquet"].reindex(pop["customer_id"].astype(str)).tolist() == list(want)


def test_padded_csv_outcomes_join_a_text_ledger_on_both_engines(sim, tmp_path):
    """Outcomes CSV with ids '00000001', ... joined with the ledger assigned from them: every unit matched, same figures."""
    pop = _padded(sim[0])
    pop.to_csv(tmp_path / "population.csv", index=False)
    spec = spec_file(tmp_path)
    led = tmp_path / "ledger.parquet"
    assert main(["assign", str(spec), "--population", str(tmp_path / "population.csv"), "--ledger", str(led), "-q"]) == 0
    out = sim[1].drop(columns="arm").assign(customer_id=pop["customer_id"].to_numpy())
    out.to_csv(tmp_path / "outcomes.csv", index=False)
    res = {}
    for engine in ENGINES:
        rc, res[engine] = readout(tmp_path, spec, tmp_path / "outcomes.csv", engine, "--ledger", str(led))
        assert rc == 0
        assert res[engine]["provenance"]["units_analysed"] == len(pop)
    assert res["pandas"]["arms"] == res["duckdb"]["arms"]
    assert res["pandas"]["arms"] == pd.read_parquet(led)["arm"].astype(str).value_counts().to_dict()


def test_integer_ledger_against_text_outcomes(sim, tmp_path, capsys):
    """A ledger with whole-number ids (from Parquet) and outcomes with the same ids as text: no traceback, the
    same figures as with whole-number outcomes, on both engines."""
    pop, out = sim
    pop.to_parquet(tmp_path / "population.parquet", index=False)
    spec = spec_file(tmp_path)
    led = tmp_path / "ledger.parquet"
    assert main(["assign", str(spec), "--population", str(tmp_path / "population.parquet"), "--ledger", str(led), "-q"]) == 0
    assert pd.api.types.is_integer_dtype(pd.read_parquet(led)["customer_id"])
    as_int = out.drop(columns="arm")
    as_int.to_parquet(tmp_path / "int.parquet", index=False)
    as_int.astype({"customer_id": str}).to_parquet(tmp_path / "text.parquet", index=False)
    for engine in ENGINES:
        rc, ref = readout(tmp_path, spec, tmp_path / "int.parquet", engine, "--ledger", str(led), tag="-int")
        rc2, got = readout(tmp_path, spec, tmp_path / "text.parquet", engine, "--ledger", str(led), tag="-text")
        assert (rc, rc2) == (0, 0), capsys.readouterr().err
        assert got["provenance"]["units_analysed"] == len(out)
        assert _close(got["metrics"], ref["metrics"])


def test_integer_ledger_refuses_padded_new_ids(sim, tmp_path, capsys):
    """A whole-number ledger extended from a CSV whose ids carry leading zeros: one line, not a second id per customer."""
    pop = sim[0]
    pop.iloc[:300].to_parquet(tmp_path / "first.parquet", index=False)
    spec = spec_file(tmp_path)
    led = tmp_path / "ledger.parquet"
    assert main(["assign", str(spec), "--population", str(tmp_path / "first.parquet"), "--ledger", str(led), "-q"]) == 0
    before = led.read_bytes()
    pop.assign(customer_id=[f"0{i}" for i in pop["customer_id"]]).to_csv(tmp_path / "all.csv", index=False)
    capsys.readouterr()
    assert main(["assign", str(spec), "--population", str(tmp_path / "all.csv"), "--ledger", str(led), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "all.csv" in err[0] and "whole-number" in err[0] and ";" in err[0], err
    assert led.read_bytes() == before


LOOKALIKES = {
    "surrounding space": (lambda ids: ids.assign(customer_id=ids.customer_id.where(ids.index != 4, " " + ids.customer_id[4])),
                          ["customer_id", "1 ids with surrounding spaces or invisible characters"]),
    "zero-width space": (lambda ids: ids.assign(customer_id=ids.customer_id.where(ids.index != 4, ids.customer_id[4] + "\u200b")),
                         ["customer_id", "invisible", "\\u200b"]),
    "full-width twin": (lambda ids: ids.assign(customer_id=ids.customer_id.where(
        ids.index != 4, ids.customer_id[5].translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"}))),
        ["customer_id", "2 ids that look like another id", "NFKC"]),
    "decomposed accent": (lambda ids: ids.assign(customer_id=ids.customer_id.where(~ids.index.isin([4, 5]), pd.Series(
        {4: "ren\u00e9", 5: "rene\u0301"}))), ["customer_id", "2 ids that look like another id"]),
}


@pytest.mark.parametrize("case", list(LOOKALIKES))
def test_lookalike_ids_are_refused_on_both_engines(sim, tmp_path, capsys, case):
    make, names = LOOKALIKES[case]
    out = make(sim[1].astype({"customer_id": str}))
    out.to_parquet(tmp_path / "outcomes.parquet", index=False)
    line = refused_alike(capsys, tmp_path, spec_file(tmp_path), tmp_path / "outcomes.parquet")
    for n in names:
        assert n in line, line


def test_lookalike_ids_are_refused_on_assign(sim, tmp_path, capsys):
    pop = sim[0].astype({"customer_id": str})
    pop.loc[7, "customer_id"] = pop.loc[8, "customer_id"] + "\u200b"
    pop.to_csv(tmp_path / "population.csv", index=False)
    led = tmp_path / "ledger.parquet"
    capsys.readouterr()
    assert main(["assign", str(spec_file(tmp_path)), "--population", str(tmp_path / "population.csv"), "--ledger", str(led),
                 "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "population.csv" in err[0] and "customer_id" in err[0] and "invisible" in err[0], err
    assert not led.exists()


def test_id_findings_counts_and_pairs():
    ids = {"A1", "B2", "\uff21\uff11", " B2", "caf\u00e9", "cafe\u0301", "\u65e5\u672c"}
    odd = [i for i in ids if any(not ("!" <= c <= "~") for c in i)]
    spaced, alike = id_findings(odd, lambda cands: {c for c in cands if c in ids})
    assert spaced == (1, " B2")
    assert alike[0] == 6  # A1/Ａ１, B2/" B2", café/café
    assert id_findings(["\u65e5\u672c"], lambda c: set()) == (None, None)  # non-Latin ids alone are fine


# --------------------------------------------------------------------------- 3. reserved names


def test_reserved_names_are_the_ledger_columns_and_the_derived_ones():
    assert set(ledger_columns("customer_id")) - {"customer_id"} == set(LEDGER_COLUMNS) <= set(RESERVED_COLUMNS)
    from uplift.metrics.crosssell import NET_PROFIT, PRODUCTS_AFTER

    assert {NET_PROFIT, PRODUCTS_AFTER, "derived:bin"} <= set(RESERVED_COLUMNS)


@pytest.mark.parametrize("unit", ["arm", "stratum"])
def test_unit_named_like_a_ledger_column_is_refused_on_assign(sim, tmp_path, capsys, unit):
    pop = sim[0].rename(columns={"customer_id": unit})
    pop.to_csv(tmp_path / "population.csv", index=False)
    led = tmp_path / "ledger.parquet"
    capsys.readouterr()
    rc = main(["assign", str(spec_file(tmp_path, unit=unit)), "--population", str(tmp_path / "population.csv"),
               "--ledger", str(led), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert f"population.csv: column '{unit}' ([experiment] unit) is {RESERVED_COLUMNS[unit]}" in err[0]
    assert not led.exists()


def test_population_column_named_like_a_ledger_column_is_refused(sim, tmp_path, capsys):
    sim[0].assign(stratum="x").to_csv(tmp_path / "population.csv", index=False)
    led = tmp_path / "ledger.parquet"
    capsys.readouterr()
    assert main(["assign", str(spec_file(tmp_path)), "--population", str(tmp_path / "population.csv"), "--ledger", str(led),
                 "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "column 'stratum' (a column of the population) is the ledger's stratum column" in err
    assert not led.exists()


@pytest.mark.parametrize("extra, column", [('segments = ["stratum"]', "stratum"),
                                           ('segments = ["derived:net_profit"]', "derived:net_profit")])
def test_spec_naming_a_reserved_column_is_refused_on_both_engines(sim, tmp_path, capsys, extra, column):
    out = sim[1].assign(**{column: "a"})
    out.to_parquet(tmp_path / "outcomes.parquet", index=False)
    line = refused_alike(capsys, tmp_path, spec_file(tmp_path, "[analysis]\n" + extra), tmp_path / "outcomes.parquet")
    assert f"column '{column}' ([analysis] segments) is {RESERVED_COLUMNS[column]}" in line


def test_readout_unit_named_arm_is_refused_on_both_engines(sim, tmp_path, capsys):
    out = sim[1].rename(columns={"arm": "group", "customer_id": "arm"})
    out.to_parquet(tmp_path / "outcomes.parquet", index=False)
    spec = spec_file(tmp_path, '[analysis]\narm_column = "group"\ncontrol = "control"\n', unit="arm")
    line = refused_alike(capsys, tmp_path, spec, tmp_path / "outcomes.parquet")
    assert "column 'arm' ([experiment] unit) is the toolkit's arm column" in line


# --------------------------------------------------------------------------- 6. missing-value spellings


def test_na_segment_and_none_arm_are_values_on_both_engines(sim, tmp_path):
    """Only an empty field is missing: a segment 'NA' and an arm 'None' in a CSV are values, on both engines."""
    out = sim[1].copy()
    out["arm"] = out["arm"].replace({"offer": "None"})
    out["segment"] = np.where(out["segment"] == "mass", "NA", out["segment"])
    out.to_csv(tmp_path / "outcomes.csv", index=False)
    spec = spec_file(tmp_path, '[analysis]\nsegments = ["segment"]\nmin_cell_size = 5\n', arms='control = 0.5, "None" = 0.5')
    res = {}
    for engine in ENGINES:
        rc, res[engine] = readout(tmp_path, spec, tmp_path / "outcomes.csv", engine)
        assert rc == 0
        assert set(res[engine]["arms"]) == {"control", "None"}
        assert sum(res[engine]["arms"].values()) == len(out)
        assert "NA" in {r["segment"] for r in res[engine]["segments"]["by"]["segment"]}
    assert _close(res["pandas"]["segments"], res["duckdb"]["segments"])
    assert _close(res["pandas"]["metrics"], res["duckdb"]["metrics"])


# --------------------------------------------------------------------------- 7. privacy


def _attack(res: dict, seg: str) -> dict[str, float | None]:
    """Per treated arm, the conversions of the one unpublished segment cell recovered as the arm's total
    (results.json metrics) minus its published cells; None when not exactly one cell is unpublished."""
    row = next(r for r in res["metrics"] if r["metric"] == "conversion")
    total = row["mean_arm"] * row["n_arm"]
    cells = [r for r in res["segments"]["by"][seg] if r["arm"] == row["arm"]]
    hidden = [r for r in cells if r["suppressed"]]
    if len(hidden) != 1:
        return {"hidden": len(hidden), "recovered": None}
    shown = sum(r["mean_arm"] * r["n_arm"] for r in cells if not r["suppressed"])
    return {"hidden": 1, "recovered": total - shown, "value": hidden[0]["segment"]}


def test_small_cell_is_not_recovered_by_subtraction(sim, tmp_path):
    """A segment with 3 customers per arm is suppressed, and so is the next-smallest: subtracting the published
    cells from the arm's total no longer gives the small cell's conversions, on either engine."""
    out = sim[1].copy()
    out["segment"] = np.where(out["segment"] == "mass", "mass", "other")
    tiny = out.groupby("arm").head(3).index
    out.loc[tiny, "segment"] = "tiny"
    out.loc[tiny, "converted"] = np.array([1, 0, 1, 1, 1, 0], dtype=out["converted"].dtype)
    out.to_parquet(tmp_path / "outcomes.parquet", index=False)
    spec = spec_file(tmp_path, '[analysis]\nsegments = ["segment"]\nmin_cell_size = 5\n')
    for engine in ENGINES:
        rc, res = readout(tmp_path, spec, tmp_path / "outcomes.parquet", engine)
        assert rc == 0
        attack = _attack(res, "segment")
        assert attack["recovered"] is None and attack["hidden"] == 2, attack
        rows = {r["segment"]: r for r in res["segments"]["by"]["segment"]}
        assert rows["tiny"]["suppressed"] and rows["other"]["suppressed"] and not rows["mass"]["suppressed"]
        assert "subtraction" in rows["other"]["reason"]
        # what is published is still right: the published cell against a recomputation from the rows
        mass = out[(out.segment == "mass") & (out.arm == "offer")]
        assert rows["mass"]["n_arm"] == len(mass) and rows["mass"]["mean_arm"] == pytest.approx(mass.converted.mean())


def test_id_like_segment_column_is_refused_on_both_engines(sim, tmp_path, capsys):
    out = sim[1].assign(ref=lambda d: "R" + d["customer_id"].astype(str))
    out.to_parquet(tmp_path / "outcomes.parquet", index=False)
    line = refused_alike(capsys, tmp_path, spec_file(tmp_path, '[analysis]\nsegments = ["ref"]\n'), tmp_path / "outcomes.parquet")
    assert f"segment column 'ref' ([analysis] segments) has {len(out)} distinct values for {len(out)} units" in line


def test_every_engine_hashes_the_text_of_a_csv_id(tmp_path):
    """A CSV's padded ids reach the hash as written, in memory and in DuckDB (the bucket of '00000001', not of 1)."""
    from uplift.data.hashing import hash64
    from uplift.data.source import open_source

    ids = [f"{i:08d}" for i in range(1, 201)]
    pd.DataFrame({"customer_id": ids, "x": range(200)}).to_csv(tmp_path / "ids.csv", index=False)
    want = hash64(ids, SALT, engine="hashlib")
    for engine in ENGINES:
        src = open_source(tmp_path / "ids.csv", engine=engine, text_columns=("customer_id",))
        got = src.hash64("customer_id", SALT).set_index("customer_id")["hash64"]
        assert got.reindex(ids).to_numpy(dtype=np.uint64).tolist() == want.tolist(), engine
