"""The end-to-end path: demo -> readout.html + results.json, checked as a user would check it."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from uplift.cli import main

CONTRACT_ROW_KEYS = {
    "metric", "arm", "control", "n_arm", "n_control", "mean_arm", "mean_control", "abs_effect", "abs_ci",
    "rel_effect", "rel_ci", "p_value", "method",
}


def test_demo_writes_readout_results_and_notebook(demo_readout):
    out, paths = demo_readout
    assert paths.html == out / "readout.html" and paths.html.stat().st_size > 10_000
    assert (out / "results.json").exists() and (out / "readout.ipynb").exists()
    assert not list(out.glob(".render-*")), "temporary render folder left behind"


def test_results_json_follows_the_contract(demo_readout):
    out, _ = demo_readout
    r = json.loads((out / "results.json").read_text())
    for key in ("metrics", "srm", "spec_sha256", "data_sha256", "clv", "roi", "targeting"):
        assert key in r, key
    assert len(r["spec_sha256"]) == 64 and len(r["data_sha256"]) == 64
    names = {row["metric"] for row in r["metrics"]}
    assert {"conversion", "revenue"} <= names
    for row in r["metrics"]:
        assert CONTRACT_ROW_KEYS <= set(row), CONTRACT_ROW_KEYS - set(row)
        assert row["abs_ci"][0] <= row["abs_effect"] <= row["abs_ci"][1]
    assert {"p_value", "observed", "expected"} <= set(r["srm"])


def test_results_equal_an_independent_statsmodels_computation(demo_readout):
    """Conversion and revenue per arm recomputed from the files with statsmodels."""
    import statsmodels.api as sm
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

    out, _ = demo_readout
    r = json.loads((out / "results.json").read_text())
    o = pd.read_parquet(out / "data" / "outcomes.parquet").merge(
        pd.read_parquet(out / "data" / "ledger.parquet")[["customer_id", "arm"]], on="customer_id"
    )
    row = next(x for x in r["metrics"] if x["metric"] == "conversion" and x["arm"] == "offer")
    x1 = o.loc[o.arm == "offer", "converted"].to_numpy(float)
    x0 = o.loc[o.arm == "control", "converted"].to_numpy(float)
    assert row["n_arm"] == len(x1) and row["n_control"] == len(x0)
    assert row["mean_arm"] == pytest.approx(x1.mean(), rel=1e-12)
    assert row["mean_control"] == pytest.approx(x0.mean(), rel=1e-12)
    assert row["abs_effect"] == pytest.approx(x1.mean() - x0.mean(), rel=1e-10)
    assert "Wald" in row["method"]
    lo, hi = confint_proportions_2indep(x1.sum(), len(x1), x0.sum(), len(x0), method="wald", compare="diff")
    assert row["abs_ci"] == pytest.approx([lo, hi], rel=1e-8)
    assert row["p_value"] == pytest.approx(proportions_ztest([x1.sum(), x0.sum()], [len(x1), len(x0)])[1], rel=1e-8)
    rev = next(x for x in r["metrics"] if x["metric"] == "revenue" and x["arm"] == "offer")
    y1 = o.loc[o.arm == "offer", "revenue_12m"].to_numpy(float)
    y0 = o.loc[o.arm == "control", "revenue_12m"].to_numpy(float)
    # CUPED revenue: the OLS coefficient of the arm dummy with the centred pre-period covariate
    assert rev["cuped"] and rev["unadjusted"]["abs_effect"] == pytest.approx(y1.mean() - y0.mean(), rel=1e-10)
    sub = o[o.arm.isin(["offer", "control"])]
    x = sub["revenue_pre_12m"].to_numpy(float)
    design = np.column_stack([np.ones(len(sub)), (sub.arm == "offer").to_numpy(float), x - x.mean()])
    ols = sm.OLS(sub["revenue_12m"].to_numpy(float), design).fit()
    assert rev["abs_effect"] == pytest.approx(ols.params[1], rel=1e-8)
    # SRM: chi-square against the designed 10/90 weights
    from scipy.stats import chisquare

    n = np.array([len(x0), len(x1)])
    assert r["srm"]["p_value"] == pytest.approx(chisquare(n, n.sum() * np.array([0.1, 0.9])).pvalue, rel=1e-10)


def test_page_shows_conversion_lift_with_interval(demo_readout):
    out, _ = demo_readout
    r = json.loads((out / "results.json").read_text())
    page = (out / "readout.html").read_text()
    row = next(x for x in r["metrics"] if x["metric"] == "conversion" and x["arm"] == "offer")
    assert f"{100 * row['abs_effect']:+.2f} pp" in page
    assert f"{100 * row['abs_ci'][0]:+.2f} pp" in page and f"{100 * row['abs_ci'][1]:+.2f} pp" in page


def test_consumer_duty_panel_on_the_page_equals_statsmodels_from_the_files(demo_readout):
    """The demo's [fairness] panel: every age band's complaint difference (offer - control) and pooled z-test
    p recomputed from the files (age band from the population, joined by unit) with statsmodels; the page
    shows the section, the verdict box and the next wave's make-up."""
    import pandas as pd
    from statsmodels.stats.proportion import proportions_ztest

    out, _ = demo_readout
    r = json.loads((out / "results.json").read_text())
    duty = r["consumer_duty"]
    o = pd.read_parquet(out / "data" / "outcomes.parquet")
    led = pd.read_parquet(out / "data" / "ledger.parquet")
    pop = pd.read_parquet(out / "data" / "population.parquet")
    d = o.drop(columns=["arm"], errors="ignore").merge(led[["customer_id", "arm"]], on="customer_id")
    d = d.merge(pop[["customer_id", "age_band"]], on="customer_id")
    rows = [x for x in duty["rows"] if x["group"] == "age_band" and x["outcome"] == "complaint"]
    assert len(rows) == d["age_band"].nunique() >= 3
    for x in rows:
        g = d[d["age_band"].astype(str) == x["value"]]
        s = [int(g[g.arm == a].complaint.sum()) for a in ("offer", "control")]
        n = [int((g.arm == a).sum()) for a in ("offer", "control")]
        assert [x["n_arm"], x["n_control"]] == n
        assert x["difference"] == pytest.approx(s[0] / n[0] - s[1] / n[1], abs=1e-12)
        assert x["p_value"] == pytest.approx(proportions_ztest(s, n)[1], rel=1e-9)
    assert duty["flagged"] == sum(x["harm_flag"] for x in duty["rows"])
    assert sum(c["selected"] for c in duty["composition"] if c["group"] == "age_band") == r["targeting"]["n_targeted"]
    page = (out / "readout.html").read_text()
    assert "Consumer Duty: outcomes by customer group" in page
    assert ("No harm flagged" in page) == (duty["flagged"] == 0)
    assert "The next wave&#x27;s make-up by group" in page or "The next wave's make-up by group" in page


def test_targeting_explanations_in_results_and_on_the_page(demo_readout):
    """The readout explains its next-wave list: permutation importance over every feature and a depth-2
    policy tree whose leaves cover the customers it was fitted on; the page shows both."""
    out, _ = demo_readout
    r = json.loads((out / "results.json").read_text())
    e = r["targeting"]["explanations"]
    assert {x["feature"] for x in e["permutation_importance"]} == set(r["targeting"]["features"])
    tree = e["policy_tree"]
    leaves = sum(int(rule.rsplit("(", 1)[1].split()[0].replace(",", "")) for rule in tree["rules"])
    assert leaves == tree["customers"] and 0.5 <= tree["agreement"] <= 1
    page = (out / "readout.html").read_text()
    assert "What drives the ranking" in page and html.escape(tree["rules"][0]) in page


def test_page_is_self_contained_offline(demo_readout):
    out, _ = demo_readout
    page = (out / "readout.html").read_text()
    assert "<script" not in page.lower()
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", page, flags=re.I), "external reference"
    assert "<pre" not in page or "Traceback" not in page
    assert "data:image/png;base64," in page  # images embedded
    assert "import " not in page  # code hidden


def test_no_unit_id_leaves_the_data(demo_readout):
    out, _ = demo_readout
    ids = pd.read_parquet(out / "data" / "ledger.parquet")["customer_id"].astype(str)
    for name in ("readout.html", "results.json", "readout.ipynb"):
        text = (out / name).read_text()
        found = set(re.findall(r"\d{8}", text)) & set(ids)
        assert not found, (name, sorted(found)[:3])


def test_template_is_stored_as_text_without_outputs(repo_root):
    import jupytext

    templates = repo_root / "uplift" / "readout" / "templates"
    text = (templates / "readout.py").read_text()
    assert text.startswith("# ---") and "# %%" in text
    nb = jupytext.reads(text, fmt="py:percent")
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)
    assert not list(templates.glob("*.ipynb")), "store templates as jupytext text, not .ipynb"


def test_two_renders_of_one_input_are_byte_identical(demo_readout, demo_spec, tmp_path):
    from uplift.readout.render import render_readout

    out, _ = demo_readout
    data = out / "data"
    again = render_readout(demo_spec, tmp_path, outcomes=data / "outcomes.parquet", ledger=data / "ledger.parquet",
                           population=data / "population.parquet")
    for name in ("readout.html", "results.json", "readout.ipynb"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name
    assert again.timings["execute"] > 0
    # the stages come from papermill's per-cell durations: all four present, and within the execution
    stages = [again.timings[k] for k in ("kernel", "analysis", "chart setup", "report cells")]
    assert min(stages) >= 0 and sum(stages) == pytest.approx(again.timings["execute"], rel=1e-6)
    assert again.timings["analysis"] > 0 and again.timings["chart setup"] > 0


def test_json_only_writes_the_same_results(demo_readout, demo_spec_path, tmp_path):
    out, _ = demo_readout
    data = out / "data"
    code = main(["readout", str(demo_spec_path), "--outcomes", str(data / "outcomes.parquet"),
                 "--ledger", str(data / "ledger.parquet"), "--population", str(data / "population.parquet"),
                 "--out", str(tmp_path), "--json-only"])
    assert code == 0
    assert (tmp_path / "results.json").read_bytes() == (out / "results.json").read_bytes()
    assert not (tmp_path / "readout.html").exists()


def test_readout_with_a_misspelt_key_exits_2_with_one_line(demo_spec_path, tmp_path):
    bad = tmp_path / "typo.toml"
    bad.write_text(demo_spec_path.read_text().replace("alpha = 0.05", "alpah = 0.05"))
    proc = subprocess.run(
        [sys.executable, "-m", "uplift.cli", "readout", str(bad), "--outcomes", "x.parquet", "--out", str(tmp_path / "o")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "alpah" in lines[0] and str(bad) in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


def test_bad_rows_fail_the_html_readout_as_the_json_one(demo_readout, demo_spec_path, tmp_path):
    """The rows are read once, by the kernel's analysis: a unit listed twice in the outcomes fails the HTML
    readout with the very line --json-only prints, exit 2, and the earlier readout in --out is left whole."""
    import pandas as pd

    out, _ = demo_readout
    data = out / "data"
    rows = pd.read_parquet(data / "outcomes.parquet")
    bad = tmp_path / "outcomes.parquet"
    pd.concat([rows, rows.iloc[:3]], ignore_index=True).to_parquet(bad, index=False)
    earlier = tmp_path / "readout"
    earlier.mkdir()
    (earlier / "results.json").write_text("{}")
    lines = {}
    for how in ("--json-only", None):
        cmd = [sys.executable, "-m", "uplift.cli", "readout", str(demo_spec_path), "--outcomes", str(bad),
               "--ledger", str(data / "ledger.parquet"), "--population", str(data / "population.parquet"),
               "--out", str(earlier), "-q", *([how] if how else [])]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr
        lines[how] = proc.stderr.strip().splitlines()
        assert len(lines[how]) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines["--json-only"] == lines[None]
    assert str(bad) in lines[None][0] and "customer_id" in lines[None][0]
    assert sorted(p.name for p in earlier.iterdir()) == ["results.json"]
    assert (earlier / "results.json").read_text() == "{}"


def test_cli_help_lists_the_commands():
    proc = subprocess.run([sys.executable, "-m", "uplift.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for cmd in ("demo", "simulate", "readout"):
        assert cmd in proc.stdout


def test_hillstrom_readout_from_the_arm_column(tmp_path, hillstrom_spec_path):
    """A spec with [analysis] arm_column = "segment" reads out the real Hillstrom data
    (the project's copy in experiments/data; published figure: Mens E-Mail visit +7.659 pp)."""
    from uplift.readout.render import write_results
    from uplift.spec import load_spec

    spec = load_spec(hillstrom_spec_path)
    path = write_results(spec, tmp_path)
    r = json.loads(path.read_text())
    row = next(x for x in r["metrics"] if x["metric"] == "visit" and x["arm"] == "Mens E-Mail")
    assert row["abs_effect"] == pytest.approx(0.07659, abs=5e-6)
    assert row["n_arm"] == 21307 and row["n_control"] == 21306
    assert r["srm"]["p_value"] > 0.001


def test_readout_cli_with_a_relative_out_folder(demo_readout, demo_spec_path, tmp_path, monkeypatch):
    """Regression: the kernel runs in a temp folder, so a relative --out must be resolved first."""
    out, _ = demo_readout
    data = out / "data"
    monkeypatch.chdir(tmp_path)
    code = main(["readout", str(demo_spec_path), "--outcomes", str(data / "outcomes.parquet"),
                 "--ledger", str(data / "ledger.parquet"), "--population", str(data / "population.parquet"),
                 "--out", "rel/report", "--quiet"])
    assert code == 0
    assert (tmp_path / "rel" / "report" / "results.json").read_bytes() == (out / "results.json").read_bytes()


def test_sample_ratio_mismatch_greys_out_the_results(demo_readout, demo_spec, tmp_path):
    """Lose a third of the control arm's outcomes: SRM fails, the page says so and greys the effects."""
    from uplift.readout.render import render_readout

    out, _ = demo_readout
    data = out / "data"
    ledger = pd.read_parquet(data / "ledger.parquet")
    control_ids = ledger.loc[ledger.arm == "control", "customer_id"]
    lost = set(control_ids.iloc[: len(control_ids) // 3])
    outcomes = pd.read_parquet(data / "outcomes.parquet")
    outcomes[~outcomes.customer_id.isin(lost)].to_parquet(tmp_path / "outcomes.parquet")
    ledger[~ledger.customer_id.isin(lost)].to_parquet(tmp_path / "ledger.parquet")
    render_readout(demo_spec, tmp_path / "r", outcomes=tmp_path / "outcomes.parquet", ledger=tmp_path / "ledger.parquet")
    r = json.loads((tmp_path / "r" / "results.json").read_text())
    assert r["srm"]["flagged"] and r["srm"]["p_value"] < 0.001
    page = (tmp_path / "r" / "readout.html").read_text()
    assert "Sample-ratio mismatch: the results below are greyed out" in page
    assert 'class="greyed"' in page
    assert "Do not act on these results" in page


def test_duckdb_engine_gives_the_same_numbers_as_pandas(demo_readout, demo_spec_path, tmp_path):
    """`uplift readout --engine duckdb`: aggregates in the engine, same metrics, SRM and CLV as in memory."""
    out, _ = demo_readout
    data = out / "data"
    args = ["readout", str(demo_spec_path), "--outcomes", str(data / "outcomes.parquet"),
            "--ledger", str(data / "ledger.parquet"), "--population", str(data / "population.parquet"), "--json-only"]
    assert main([*args, "--out", str(tmp_path / "duck"), "--engine", "duckdb"]) == 0
    duck = json.loads((tmp_path / "duck" / "results.json").read_text())
    mem = json.loads((out / "results.json").read_text())
    assert duck["data_sha256"] == mem["data_sha256"] and duck["arms"] == mem["arms"]
    assert duck["srm"]["p_value"] == pytest.approx(mem["srm"]["p_value"], rel=1e-9)
    for section in ("metrics", "guardrails"):
        for d, m in zip(duck[section], mem[section], strict=True):
            assert (d["metric"], d["arm"]) == (m["metric"], m["arm"])
            for key in ("mean_arm", "mean_control", "abs_effect", "p_value"):
                assert d[key] == pytest.approx(m[key], rel=1e-9, abs=1e-15), (section, d["metric"], key)
            assert d["abs_ci"] == pytest.approx(m["abs_ci"], rel=1e-9)
    for arm, inc in mem["clv"]["incremental"].items():
        assert duck["clv"]["incremental"][arm]["clv"] == pytest.approx(inc["clv"], rel=1e-9)
        assert duck["clv"]["incremental"][arm]["ci"] == pytest.approx(inc["ci"], rel=1e-9)
    # balance and targeting run on the engine path too (targeting reads the columns it needs, in unit order)
    assert duck["notes"] == mem["notes"]
    for d, m in zip(duck["balance"]["rows"], mem["balance"]["rows"], strict=True):
        assert (d["covariate"], d["n_arm"], d["missing_arm"]) == (m["covariate"], m["n_arm"], m["missing_arm"])
        assert d["smd"] == pytest.approx(m["smd"], rel=1e-9)
    assert duck["targeting"]["expected_incremental_profit"] == pytest.approx(
        mem["targeting"]["expected_incremental_profit"], rel=1e-9)


# --------------------------------------------------------------------------- the decision, per arm


def _three_arm_files(tmp_path):
    """Control and three offer arms of 3,000 customers with exact counts. Arms A, B and C all lift
    conversion (8% -> 13%, 13%, 12.6%); A also quadruples complaints (1% -> 4%, margin 1 pp)."""
    n = 3000
    rates = {"control": (0.08, 0.01), "A": (0.13, 0.04), "B": (0.13, 0.01), "C": (0.126, 0.01)}
    frames = []
    for arm, (conv, compl) in rates.items():
        k, c = round(conv * n), round(compl * n)
        frames.append(pd.DataFrame({"customer_id": [f"{arm}-{i}" for i in range(n)], "arm": arm,
                                    "converted": (np.arange(n) < k).astype(int),
                                    "complaint": (np.arange(n)[::-1] < c).astype(int)}))
    outcomes = tmp_path / "outcomes.parquet"
    pd.concat(frames, ignore_index=True).to_parquet(outcomes)
    spec = tmp_path / "three.toml"
    spec.write_text(
        '[experiment]\nname = "three"\nunit = "customer_id"\n'
        'hypothesis = "An offer raises conversion without raising complaints."\n\n'
        '[assignment]\nsalt = "three"\narms = { control = 0.25, A = 0.25, B = 0.25, C = 0.25 }\ncontrol = "control"\n\n'
        '[[metrics]]\nname = "conversion"\nkind = "proportion"\ncolumn = "converted"\nprimary = true\n\n'
        '[[guardrails]]\nname = "complaints"\nkind = "proportion"\ncolumn = "complaint"\n'
        'bad_direction = "increase"\nmargin = 0.01\n')
    return spec, outcomes, {a: (round(c * n), round(m * n), n) for a, (c, m) in rates.items()}


def _status_line(page: str) -> str:
    """The bold first line of the page's decision box (the box right under the Decision heading)."""
    box = page[page.index("<h2>Decision"):]
    return re.search(r'<div class="box (\w+)"><div class="status">(.*?)</div>', box, re.DOTALL).group(2)


def test_three_arms_the_decision_names_the_arm_to_ship_and_the_failed_one(tmp_path):
    """One arm fails its complaints guardrail, two qualify: the decision box's first sentence ships
    the better one, says the other is not significantly different, and names the failed arm;
    results.json says the same, and the pairwise difference equals statsmodels' on the counts."""
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

    from uplift.readout.render import render_readout
    from uplift.results import validate_results
    from uplift.spec import load_spec

    spec_path, outcomes, counts = _three_arm_files(tmp_path)
    render_readout(load_spec(spec_path), tmp_path / "r", outcomes=outcomes)
    r = json.loads((tmp_path / "r" / "results.json").read_text())
    validate_results(r)
    d = r["decision"]
    assert d["ship"] and d["verdict"] == "ship" and d["ship_arms"] == ["B", "C"] and d["recommended_arm"] == "B"
    assert d["per_arm"]["A"]["verdict"] == "do not ship" and d["per_arm"]["A"]["guardrails_failed"] == ["complaints"]
    assert d["per_arm"]["A"]["reason"] == "primary metric conversion significant, guardrail complaints failed"
    assert d["guardrails_failed"] == ["complaints (A)"]
    (pw,) = d["pairwise"]
    (xb, _, n), (xc, _, _) = counts["B"], counts["C"]
    assert (pw["arm"], pw["versus"]) == ("B", "C") and pw["abs_effect"] == pytest.approx((xb - xc) / n, rel=1e-12)
    assert pw["abs_ci"] == pytest.approx(confint_proportions_2indep(xb, n, xc, n, method="wald", compare="diff"), rel=1e-9)
    assert pw["p_value_adjusted"] == pytest.approx(proportions_ztest([xb, xc], [n, n])[1], rel=1e-9)  # one pair: Holm = p
    assert not pw["significant"] and d["recommended_better_than_runner_up"] is False
    assert d["headline"].startswith("Ship arm B: primary metric conversion significant, guardrails passed. "
                                    "Arm C also qualifies but is not significantly different (conversion +0.40 pp [")
    assert d["headline"].endswith("Do not ship arm A: primary metric conversion significant, guardrail complaints failed.")
    page = (tmp_path / "r" / "readout.html").read_text()
    assert _status_line(page) == html.escape(d["headline"])
    assert "SHIP: the rule is met" not in page
    assert "failed: NOT shown non-inferior" in page  # the guardrail table agrees


def test_a_guardrail_on_watch_shows_in_the_decision_box():
    """Significant harm inside the margin: non-inferior (the rule is met) but shown in amber."""
    from uplift.data.moments import Moments
    from uplift.metrics.decision import LookPlan, decide, guardrail_rows
    from uplift.readout import report
    from uplift.spec import MetricSpec

    def arm(n: int, k: int) -> Moments:  # a 0/1 column with k ones
        m = k / n
        return Moments(n, ("complaint",), np.array([m]), np.array([[k * (1 - m) ** 2 + (n - k) * m**2]]))

    per_arm = {"control": arm(50_000, 350), "offer": arm(50_000, 500)}  # 0.70% -> 1.00%
    guard = MetricSpec(name="complaints", kind="proportion", column="complaint", margin=0.005,
                       bad_direction="increase")
    rows = guardrail_rows([guard], per_arm, ["offer"], "control", 0.95, 0.05)
    assert rows[0]["status"] == "watch" and rows[0]["non_inferior"] and rows[0]["abs_ci"][0] > 0
    plan = LookPlan(None, 0.05, 1, 1, True)
    primary = [{"metric": "conversion", "arm": "offer", "primary": True, "improved": True, "significant": True,
                "abs_effect": 0.01}]
    d = decide(primary, rows, ["offer"], plan, 0.05, "two-sided")
    assert d["ship"] and d["guardrails_watch"] == ["complaints (offer)"] and d["guardrails_failed"] == []
    lo, hi = rows[0]["abs_ci"]
    assert d["watch"][0]["text"] == (f"complaints +0.30 pp [{100 * lo:+.2f}, {100 * hi:+.2f}], significant but "
                                     "within the 0.5 pp margin (arm offer)")
    box = report.decision_box({"decision": d, "srm": {}, "provenance": {}})
    assert '<div class="box warn"><div class="status">Watch: complaints +0.30 pp' in box
    assert "Guardrails failed: none" not in box


@pytest.mark.slow
def test_the_default_demo_puts_complaints_on_watch(tmp_path):
    """`uplift demo` (100,000 customers, seed 2026): complaints rise significantly but inside the
    0.5 pp margin, and the decision box says so in amber (users saw 'Guardrails failed: none')."""
    from uplift.demo import run_demo

    paths = run_demo(tmp_path)
    r = json.loads((tmp_path / "results.json").read_text())
    (w,) = r["decision"]["watch"]
    assert w["metric"] == "complaints" and w["abs_ci"][0] > 0 and w["abs_ci"][1] < 0.005
    page = paths.html.read_text()
    assert _status_line(page) == html.escape(r["decision"]["headline"])
    assert f"Watch: {html.escape(w['text'])}" in page
