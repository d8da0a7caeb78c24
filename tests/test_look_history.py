"""The always-valid look history inside `uplift readout --history` (issue 20), and looks after the end.

* a readout given the results.json of earlier looks carries ``look_history`` (this readout last): at
  each look the running intersection of the looks' always-valid intervals and the running minimum of
  their p-values, recomputed here from each file's own rows; the same on both engines and as
  `uplift monitor` over the same files; results.json passes its schema; the page shows it;
* a look after the end: an earlier look dated after [experiment] end_date + the longest window_days
  is one line (exit 2, nothing written, the same on both engines); the final readout may be later
  (outcomes keep landing: the demo reads out 12-month outcomes long after its end date).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from uplift.cli import main
from uplift.results import validate_results

ENGINES = ("pandas", "duckdb")

SPEC = """
[experiment]
name = "weekly"
unit = "customer_id"
start_date = "2026-01-05"
end_date = "2026-03-29"
data_as_of = "{as_of}"

[analysis]
arm_column = "arm"
control = "control"
always_valid = {always_valid}

[[metrics]]
name = "conversion"
kind = "proportion"
column = "converted"
primary = true
time_column = "days_to_conversion"
followup_column = "days_observed"
window_days = 90

[[metrics]]
name = "revenue"
kind = "mean"
column = "revenue_12m"
"""
LIMIT = "2026-06-27"  # end_date 2026-03-29 + 90 days


@pytest.fixture(scope="module")
def bank():
    from uplift.simulate import simulate

    out = simulate(4000, seed=31).outcomes
    return out.drop(columns=[c for c in out.columns if c.startswith("true_")])


def _look(folder, capsys, df: pd.DataFrame, as_of: str, name: str, engine: str = "pandas",
          history=(), always_valid: bool = True, page: bool = False) -> tuple[int, str, object]:
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / f"{name}.toml"
    spec.write_text(SPEC.format(as_of=as_of, always_valid=str(always_valid).lower()), encoding="utf-8")
    data = folder / f"{name}.parquet"
    df.to_parquet(data, index=False)
    out = folder / name
    argv = ["readout", str(spec), "--outcomes", str(data), "--out", str(out), "-q", "--engine", engine]
    if not page:
        argv.append("--json-only")
    if history:
        argv += ["--history", *map(str, history)]
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err
    if rc != 0:
        assert not out.exists(), "nothing is written on error"
    return rc, err, out


@pytest.fixture(scope="module")
def weekly(bank, tmp_path_factory):
    """Two earlier looks (a third and two thirds of the customers), as `uplift readout --json-only` wrote them."""

    folder = tmp_path_factory.mktemp("looks")
    paths = []
    for k, as_of in ((1, "2026-02-01"), (2, "2026-03-01")):
        spec = folder / f"look{k}.toml"
        spec.write_text(SPEC.format(as_of=as_of, always_valid="true"), encoding="utf-8")
        data = folder / f"look{k}.parquet"
        bank.iloc[: len(bank) * k // 3].to_parquet(data, index=False)
        assert main(["readout", str(spec), "--outcomes", str(data), "--out", str(folder / f"look{k}"), "-q",
                     "--json-only"]) == 0
        paths.append(folder / f"look{k}" / "results.json")
    return paths


def _reference(files: list[dict]) -> dict:
    """Running intersection / minimum recomputed from each look's own metric rows."""
    out = {}
    for row in files[-1]["metrics"]:
        key = (row["metric"], row["arm"])
        lo, hi, p, hist = -np.inf, np.inf, 1.0, []
        for f in files:
            r = next(x for x in f["metrics"] if (x["metric"], x["arm"]) == key)
            av = r["always_valid"]
            lo, hi, p = max(lo, av["ci"][0]), min(hi, av["ci"][1]), min(p, av["p_value"])
            hist.append((r["n_arm"] + r["n_control"], r["abs_effect"], lo, hi, p))
        out[key] = hist
    return out


@pytest.mark.parametrize("engine", ENGINES)
def test_readout_with_history_carries_the_look_history(bank, weekly, tmp_path, capsys, engine):
    rc, err, out = _look(tmp_path, capsys, bank, "2026-04-01", f"look3-{engine}", engine, history=weekly)
    assert rc == 0, err
    res = json.loads((out / "results.json").read_text())
    validate_results(res)
    h = res["look_history"]
    assert [x["file"] for x in h["looks"]] == [str(p) for p in weekly] + ["this readout"]
    assert [x["data_as_of"] for x in h["looks"]] == ["2026-02-01", "2026-03-01", "2026-04-01"]
    ref = _reference([*(json.loads(p.read_text()) for p in weekly), res])
    assert {(r["metric"], r["arm"]) for r in h["rows"]} == set(ref)
    for row in h["rows"]:
        want = ref[(row["metric"], row["arm"])]
        got = [(x["n"], x["estimate"], x["ci"][0], x["ci"][1], x["p_value"]) for x in row["history"]]
        assert np.allclose(np.array(got, float), np.array(want, float), rtol=1e-12, atol=0)
        assert row["history"][-1]["ci"][1] - row["history"][-1]["ci"][0] < want[0][3] - want[0][2]  # it narrows
    # `uplift monitor` over the same three files gives the same history
    (tmp_path / "look3.json").write_text(json.dumps({**res, "look_history": None}), encoding="utf-8")
    capsys.readouterr()
    assert main(["monitor", *map(str, weekly), str(tmp_path / "look3.json"), "--json"]) == 0
    mon = json.loads(capsys.readouterr().out)
    assert [[x["ci"] for x in r["history"]] for r in mon["rows"]] == [[x["ci"] for x in r["history"]] for r in h["rows"]]
    print("conversion, running always-valid interval per look:",
          [[round(100 * v, 2) for v in x["ci"]] for x in h["rows"][0]["history"]])


def test_a_readout_without_history_has_none(bank, tmp_path, capsys):
    rc, err, out = _look(tmp_path, capsys, bank, "2026-04-01", "plain")
    assert rc == 0, err
    assert json.loads((out / "results.json").read_text())["look_history"] is None


def test_the_final_readout_may_come_after_the_end(bank, weekly, tmp_path, capsys):
    """Outcomes keep landing after the end: the last look (this readout) may be dated later."""
    rc, err, out = _look(tmp_path, capsys, bank, "2027-12-31", "final", history=weekly)
    assert rc == 0, err
    assert json.loads((out / "results.json").read_text())["look_history"]["looks"][-1]["data_as_of"] == "2027-12-31"


def _late_copy(path, folder, as_of: str):
    res = json.loads(path.read_text())
    res["provenance"]["data_as_of"] = as_of
    p = folder / f"late-{as_of}.json"
    p.write_text(json.dumps(res), encoding="utf-8")
    return p


def test_an_earlier_look_after_the_end_is_one_line_on_both_engines(bank, weekly, tmp_path, capsys):
    late = _late_copy(weekly[1], tmp_path, "2026-07-15")
    lines = []
    for engine in ENGINES:
        rc, err, _ = _look(tmp_path, capsys, bank, "2026-08-01", f"after-{engine}", engine, history=[weekly[0], late])
        assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, err
        for part in (str(late), "look 2 has data as of 2026-07-15", "end_date 2026-03-29 + the 90-day outcome window",
                     f"({LIMIT})", "only the final readout may come later"):
            assert part in err, (part, err)
        lines.append(err)
    assert lines[0] == lines[1]
    # the day of the limit itself is still a look
    ok = _late_copy(weekly[1], tmp_path, LIMIT)
    rc, err, _ = _look(tmp_path, capsys, bank, "2026-08-01", "at-limit", history=[weekly[0], ok])
    assert rc == 0, err


def test_monitor_refuses_a_look_after_the_end_but_not_the_final_one(bank, weekly, tmp_path, capsys):
    rc, err, out = _look(tmp_path, capsys, bank, "2027-12-31", "final")
    assert rc == 0, err
    late = _late_copy(weekly[1], tmp_path, "2026-07-01")
    capsys.readouterr()
    assert main(["monitor", str(weekly[0]), str(late), str(out / "results.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(late) in err and "after [experiment] end_date 2026-03-29" in err, err
    assert main(["monitor", *map(str, weekly), str(out / "results.json")]) == 0


def test_history_needs_always_valid_and_ordered_looks(bank, weekly, tmp_path, capsys):
    rc, err, _ = _look(tmp_path, capsys, bank, "2026-04-01", "no-av", history=weekly, always_valid=False)
    assert rc == 2 and err.count("\n") == 1 and "always_valid = true" in err, err
    rc, err, _ = _look(tmp_path, capsys, bank, "2026-04-01", "order", history=weekly[::-1])
    assert rc == 2 and err.count("\n") == 1 and "out of order" in err, err
    rc, err, _ = _look(tmp_path, capsys, bank.iloc[:100], "2026-04-01", "fewer", history=weekly)
    assert rc == 2 and err.count("\n") == 1 and "out of order" in err and "this readout" in err, err
    rc, err, _ = _look(tmp_path, capsys, bank, "2026-04-01", "missing", history=[tmp_path / "nope.json"])
    assert rc == 2 and err.count("\n") == 1 and "nope.json: results file not found" in err, err


def test_the_page_shows_the_look_history(bank, weekly, tmp_path, capsys):
    rc, err, out = _look(tmp_path, capsys, bank, "2026-04-01", "page", history=weekly, page=True)
    assert rc == 0, err
    page = (out / "readout.html").read_text(encoding="utf-8")
    res = json.loads((out / "results.json").read_text())
    assert "Look history: always-valid intervals at each look" in page
    assert "Look history: at each look the intersection" in page  # the methods appendix
    assert page.count("this readout") >= len(res["look_history"]["rows"])
    last = res["look_history"]["rows"][0]["history"][-1]
    assert f"[{100 * last['ci'][0]:+.2f} pp, {100 * last['ci'][1]:+.2f} pp]" in page
