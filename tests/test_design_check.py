"""The readout against its design: the design's hash and the deviations (sizes, dates, metrics).

A spec is designed with `uplift design --out`, the readout pointed at that design.json by
[population] design; then the data falls short of plan, the primary metric is changed, the dates move
or design.json is edited, and each deviation must be flagged. The power at the actual sizes is checked
against the two-sided unpooled z-test written out by hand.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
from scipy import stats

from uplift.cli import main
from uplift.results import load_schema

SPEC = """
[experiment]
name = "card-check"
unit = "customer_id"
start_date = "2026-04-06"
end_date = "{end}"
currency = "EUR"

[population]
outcomes = "outcomes.csv"
{design}

[assignment]
salt = "s"
arms = {{ control = 0.5, offer = 0.5 }}
control = "control"

[design]
mde_relative = 0.3
baseline_rate = 0.05

[[metrics]]
name = "card_take_up"
kind = "proportion"
column = "{primary}"
primary = true

[[guardrails]]
name = "complaints"
kind = "proportion"
column = "complaint"
margin = 0.01
baseline = 0.02
"""


def _write(folder: Path, primary: str = "opened_card", end: str = "2026-05-31", design: bool = True) -> Path:
    p = folder / "spec.toml"
    p.write_text(SPEC.format(primary=primary, end=end,
                             design='design = "plan/design.json"' if design else ""))
    return p


def _outcomes(folder: Path, n_control: int, n_offer: int, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    arm = np.array(["control"] * n_control + ["offer"] * n_offer)
    p = np.where(arm == "offer", 0.065, 0.05)
    pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(len(arm))], "arm": arm,
        "opened_card": (rng.random(len(arm)) < p).astype(int), "opened_card_90d": (rng.random(len(arm)) < p).astype(int),
        "complaint": (rng.random(len(arm)) < 0.02).astype(int),
    }).to_csv(folder / "outcomes.csv", index=False)


def _design(folder: Path, capsys) -> dict:
    spec = _write(folder, design=False)
    assert main(["design", str(spec), "--no-population", "--out", str(folder / "plan")]) == 0
    capsys.readouterr()
    return json.loads((folder / "plan" / "design.json").read_text())


def _readout(folder: Path, capsys, engine: str = "pandas", out: str = "rep") -> dict:
    assert main(["readout", str(folder / "spec.toml"), "--json-only", "--out", str(folder / out), "--engine", engine]) == 0
    capsys.readouterr()
    r = json.loads((folder / out / "results.json").read_text())
    jsonschema.Draft202012Validator(load_schema()).validate(r)
    return r


def _check(r: dict, name: str) -> dict:
    return next(c for c in r["design"]["checks"] if c["check"] == name)


def test_as_designed_is_not_flagged_and_shows_the_hash(tmp_path, capsys):
    d = _design(tmp_path, capsys)
    n = d["n_per_arm"]
    _write(tmp_path)
    _outcomes(tmp_path, n["control"], n["offer"])
    r = _readout(tmp_path, capsys)
    assert r["design"]["design_sha256"] == d["design_sha256"] and r["design"]["plan_intact"] is True
    assert r["design"]["flagged"] is False and r["design"]["summary"] == "as designed"
    assert [a["actual"] for a in r["design"]["arms"]] == [n["control"], n["offer"]]


def test_sizes_short_of_plan_are_flagged_with_the_power_they_reach(tmp_path, capsys):
    d = _design(tmp_path, capsys)
    n = d["n_per_arm"]
    short = int(n["offer"] * 0.6)
    _write(tmp_path)
    _outcomes(tmp_path, n["control"], short)
    r = _readout(tmp_path, capsys)
    sizes = _check(r, "sizes")
    assert sizes["flagged"] and f"offer has {short:,} units, 60% of the planned {n['offer']:,}" in sizes["text"]
    assert r["design"]["arms"][0]["flagged"] is False and r["design"]["arms"][1]["flagged"] is True
    # by hand: two-sided unpooled z-test at the design's target effect 0.3 x 0.05
    p0, p1, z = 0.05, 0.065, stats.norm.isf(0.025)
    se = math.sqrt(p0 * (1 - p0) / n["control"] + p1 * (1 - p1) / short)
    ref = stats.norm.cdf(0.015 / se - z) + stats.norm.cdf(-0.015 / se - z)
    assert abs(r["design"]["power_at_actual"] - ref) < 1e-12 and ref < 0.8


def test_a_changed_primary_metric_and_dates_are_flagged_on_both_engines(tmp_path, capsys):
    d = _design(tmp_path, capsys)
    n = d["n_per_arm"]
    _write(tmp_path, primary="opened_card_90d", end="2026-06-30")
    _outcomes(tmp_path, n["control"], n["offer"])
    r = _readout(tmp_path, capsys)
    m = _check(r, "metrics")
    assert m["flagged"]
    assert ("primary metric changed: planned card_take_up (proportion of opened_card), now card_take_up "
            "(proportion of opened_card_90d)") in m["text"]
    dates = _check(r, "dates")
    assert dates["flagged"] and "end_date was 2026-05-31 at the design, now 2026-06-30" in dates["text"]
    assert "metrics" in r["design"]["summary"] and "dates" in r["design"]["summary"]
    assert _readout(tmp_path, capsys, engine="duckdb", out="rep_duckdb")["design"] == r["design"]


def test_an_edited_design_json_is_flagged(tmp_path, capsys):
    d = _design(tmp_path, capsys)
    n = d["n_per_arm"]
    d["plan"]["n_per_arm"]["offer"] = 10
    (tmp_path / "plan" / "design.json").write_text(json.dumps(d))
    _write(tmp_path)
    _outcomes(tmp_path, n["control"], n["offer"])
    r = _readout(tmp_path, capsys)
    assert _check(r, "hash")["flagged"] and "edited after the design" in _check(r, "hash")["text"]


def test_a_missing_design_file_is_one_line_and_writes_nothing(tmp_path, capsys):
    _write(tmp_path)
    _outcomes(tmp_path, 100, 100)
    assert main(["readout", str(tmp_path / "spec.toml"), "--json-only", "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "design.json: [population] design file not found" in err and "uplift design" in err
    assert not (tmp_path / "rep").exists()
