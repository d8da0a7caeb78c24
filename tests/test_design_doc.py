"""The designer's workbench: honest feasibility, the exclusion waterfall, power curves in design.json.

Power curves are checked point by point against statsmodels' NormalIndPower; the waterfall and
the MDE the eligible units reach against what `uplift assign` then records.
"""

from __future__ import annotations

import html
import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from scipy import optimize
from statsmodels.stats.power import NormalIndPower

from uplift.cli import main
from uplift.experiment.design import mde_at_n

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "experiments" / "demo.toml"
SM = NormalIndPower()


@pytest.fixture(scope="module")
def tour(tmp_path_factory) -> Path:
    """The README tour's population: `uplift simulate --customers 200000 --seed 1`."""
    out = tmp_path_factory.mktemp("tour")
    assert main(["simulate", "--customers", "200000", "--seed", "1", "--out", str(out / "sim"), "--quiet"]) == 0
    return out


def _spec(folder: Path, text: str | None = None, name: str = "spec.toml") -> Path:
    p = folder / name
    p.write_text(text if text is not None else DEMO.read_text())
    return p


def _show(capsys, text: str) -> None:
    """Print a figure to the terminal (``pytest -s``), not into the captured output the test reads."""
    with capsys.disabled():
        print(text)


def _run_json(capsys, argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_relative_mde_above_one_is_refused_with_the_fraction(tmp_path, capsys):
    spec = _spec(tmp_path, DEMO.read_text().replace("mde_relative = 0.30", "mde_relative = 20"))
    assert main(["design", str(spec), "--no-population"]) == 2
    err = capsys.readouterr().err
    _show(capsys, err.strip())
    assert err.count("\n") == 1 and "mde_relative = 20" in err and "did 20 mean 0.2 (20%)?" in err
    spec.write_text(DEMO.read_text().replace("mde_relative = 0.30", "mde_relative = 1.0"))
    assert main(["design", str(spec), "--no-population"]) == 0  # a doubling is a fraction too
    capsys.readouterr()


def test_tour_design_fits_its_population_and_the_old_one_said_so_first(tour, tmp_path, capsys):
    pop = tour / "sim" / "population.parquet"
    assert main(["design", str(DEMO), "--population", str(pop)]) == 0
    text = capsys.readouterr().out
    _show(capsys, "tour design (mde_relative 0.30): " + text.splitlines()[0])
    assert text.startswith("Feasible: the test needs 48,868 units and 120,917 are eligible")
    assert "fixed pool" in text and "eligible per week" not in text
    old = _spec(tmp_path, DEMO.read_text().replace("mde_relative = 0.30", "mde_relative = 0.15"))
    assert main(["design", str(old), "--population", str(pop)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    _show(capsys, "old tour design (mde_relative 0.15): " + first)
    assert first.startswith("NOT FEASIBLE: the test needs 192,706 units") and "only 120,917 are eligible" in first


def test_waterfall_and_reachable_mde_equal_what_assign_records(tour, tmp_path, capsys):
    pop = tour / "sim" / "population.parquet"
    spec = _spec(tmp_path, DEMO.read_text().replace("mde_relative = 0.30", "mde_relative = 0.15"))
    before = sorted(p.name for p in tmp_path.iterdir())
    d = _run_json(capsys, ["design", str(spec), "--population", str(pop), "--json"])
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # design writes nothing
    ledger = tmp_path / "ledger.parquet"
    a = _run_json(capsys, ["assign", str(spec), "--population", str(pop), "--ledger", str(ledger), "--json"])
    waterfall = a["eligibility"]["waterfall"]
    assert d["exclusions"]["waterfall"] == waterfall and len(waterfall) == 6
    # the per-unit log assign wrote: one row per excluded unit, counted by reason as the waterfall says
    log = pd.read_parquet(tmp_path / "ledger.exclusions.parquet")
    assert log["reason"].astype(str).value_counts().to_dict() == {
        w["step"]: w["excluded"] for w in waterfall[1:] if w["excluded"]}
    arms = pd.read_parquet(ledger)["arm"].astype(str).value_counts()
    assert int(arms.sum()) == d["eligible"] == waterfall[-1]["remaining"] == 120_917
    # a fixed pool: assign puts every eligible unit in the test; the design's MDE at the eligible is the ledger's
    f = d["feasibility"]
    ref = mde_at_n(int(arms["control"]), int(arms["offer"]), kind="proportion", baseline=0.02)
    _show(capsys, f"{f['verdict']}: needs {f['needed']:,}, eligible {f['eligible']:,}, MDE at eligible {f['mde_at_eligible']:.6f} "
          f"(ledger's arms {arms['control']:,}/{arms['offer']:,}: {ref:.6f})")
    assert f["verdict"] == "not feasible" and f["mde_at_eligible"] == pytest.approx(ref, rel=1e-3)


def _sigma_eff(v0: float, v1: float, w0: float, w1: float) -> float:
    return math.sqrt((v0 / w0 + v1 / w1) / (1 / w0 + 1 / w1))


def test_power_curves_equal_statsmodels_point_by_point(tour, tmp_path, capsys):
    pop = tour / "sim" / "population.parquet"
    spec = _spec(tmp_path, DEMO.read_text().replace("looks = 1\n", "looks = 1\nweekly_inflow = 20000\n"))
    out = tmp_path / "out"
    d = _run_json(capsys, ["design", str(spec), "--population", str(pop), "--out", str(out), "--json"])
    assert json.loads((out / "design.json").read_text()) == d
    w0, w1, alpha = 0.1, 0.9, 0.05
    curves = {c["metric"]: c for c in d["curves"]}
    conv, rev = curves["conversion"], curves["revenue"]
    p0, delta = 0.02, 0.006
    p1 = p0 + delta
    s = _sigma_eff(p0 * (1 - p0), p1 * (1 - p1), w0, w1)
    assert len(conv["power_vs_n"]) >= 30
    for pt in conv["power_vs_n"]:
        ref = SM.power(effect_size=delta / s, nobs1=w0 * pt["n_total"], alpha=alpha, ratio=w1 / w0)
        assert pt["power"] == pytest.approx(ref, rel=1e-9)
    sd, eff = next(m["sd"] for m in d["metrics"] if m["name"] == "revenue"), rev["effect"]
    for pt in rev["power_vs_n"]:
        ref = SM.power(effect_size=eff / sd, nobs1=w0 * pt["n_total"], alpha=alpha, ratio=w1 / w0)
        assert pt["power"] == pytest.approx(ref, rel=1e-9)

    def sm_mde(n: float, prop: bool) -> float:
        def f(e: float) -> float:
            sig = _sigma_eff(p0 * (1 - p0), (p0 + e) * (1 - p0 - e), w0, w1) if prop else sd
            return SM.power(effect_size=e / sig, nobs1=w0 * n, alpha=alpha, ratio=w1 / w0) - 0.8
        return optimize.brentq(f, 1e-9, 0.9 if prop else 50 * sd, xtol=1e-15, rtol=1e-13)

    weeks = conv["mde_vs_weeks"]
    assert [p["weeks"] for p in weeks] == list(range(1, len(weeks) + 1)) and len(weeks) >= 4
    for pt in weeks + conv["mde_vs_n"][::5]:
        assert pt["mde"] == pytest.approx(sm_mde(pt["n_total"], True), rel=1e-8)
        assert pt["mde_relative"] == pytest.approx(pt["mde"] / p0, rel=1e-12)
    for pt in rev["mde_vs_weeks"][::3]:
        assert pt["n_total"] == 20000 * pt["weeks"] and pt["mde"] == pytest.approx(sm_mde(pt["n_total"], False), rel=1e-8)
    # guardrails: one-sided non-inferiority at alpha/2 against the margin, true harm 0
    for g in d["guardrails"]:
        sig = math.sqrt(g["baseline"] * (1 - g["baseline"]))
        ref = SM.power(effect_size=g["margin"] / sig, nobs1=w0 * d["n_total"], alpha=alpha / 2, ratio=w1 / w0,
                       alternative="larger")
        _show(capsys, f"guardrail {g['guardrail']}: power {g['power']:.4f} (statsmodels {ref:.4f}), "
              f"margin at 80% power {g['margin_at_power']:.5f}")
        assert g["power"] == pytest.approx(ref, rel=1e-9)
        at = SM.power(effect_size=g["margin_at_power"] / sig, nobs1=w0 * d["n_total"], alpha=alpha / 2, ratio=w1 / w0,
                      alternative="larger")
        assert at == pytest.approx(0.8, rel=1e-9)
        for pt in g["power_vs_n"][::7]:
            assert pt["power"] == pytest.approx(SM.power(effect_size=g["margin"] / sig, nobs1=w0 * pt["n_total"],
                                                         alpha=alpha / 2, ratio=w1 / w0, alternative="larger"), rel=1e-9)


def test_design_json_and_html_rerun_byte_identical_and_bad_input_writes_nothing(tour, tmp_path, capsys):
    pop = tour / "sim" / "population.parquet"
    out = tmp_path / "out"
    assert main(["design", str(DEMO), "--population", str(pop), "--out", str(out), "--quiet"]) == 0
    first = {n: (out / n).read_bytes() for n in ("design.json", "design.html")}
    assert main(["design", str(DEMO), "--population", str(pop), "--out", str(out), "--quiet"]) == 0
    assert {n: (out / n).read_bytes() for n in first} == first
    capsys.readouterr()
    # the page: offline (no scripts, nothing fetched) and drawn from design.json's numbers
    d, page = json.loads(first["design.json"]), first["design.html"].decode("utf-8")
    assert "<script" not in page.lower() and "http" not in page and page.count('src="data:image/png;base64,') == 2
    assert html.escape(d["feasibility"]["text"]) in page and f"<b>{d['n_total']:,}</b>" in page
    for w in d["exclusions"]["waterfall"]:
        assert f"<td>{w['remaining']:,}</td>" in page
    for g in d["guardrails"]:
        assert f"{100 * g['power']:.2f}%" in page
    bad = _spec(tmp_path, DEMO.read_text().replace('column = "holds_mortgage"', 'column = "holds_mortgage_x"'))
    assert main(["design", str(bad), "--population", str(pop), "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds_mortgage_x" in err and not (tmp_path / "bad").exists()
    assert main(["design", str(DEMO), "--population", str(pop), "--out", str(pop.parent)]) == 0  # beside, not over
    capsys.readouterr()


def test_design_defaults_to_the_spec_population(tour, tmp_path, capsys):
    shutil.copy(tour / "sim" / "population.parquet", tmp_path / "pop.parquet")
    text = DEMO.read_text().replace('source = "../reports/demo/data/population.parquet"', 'source = "pop.parquet"')
    spec = _spec(tmp_path, text)
    d = _run_json(capsys, ["design", str(spec), "--json"])
    assert d["eligible"] == 120_917 and d["feasibility"]["verdict"] == "feasible"
    assert _run_json(capsys, ["design", str(spec), "--json", "--no-population"])["eligible"] is None
    missing = _spec(tmp_path, DEMO.read_text(), "missing.toml")  # its source (../reports/...) is not there
    assert main(["design", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "[population] source" in err and "--no-population" in err
