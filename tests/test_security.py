"""Security: nothing from a spec or a data file is ever evaluated; relative paths in a spec
resolve against the spec's folder; readouts and results.json carry no unit ids.

DESIGN.md "Reliability rules": a spec is data; nothing in a spec, a column name or a data
value is ever evaluated as code; readouts carry aggregates only. The hostile strings below
would create a file ``pwned`` (or run a script in the page) if any of them were passed to
``eval``/``exec``, ``DataFrame.query``/``eval``, a shell, an f-string template, SQL without
quoting, or written to the HTML unescaped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from uplift.cli import main


def hostile(tmp: Path) -> dict[str, str]:
    marker = tmp / "pwned"
    cmd = f"touch {marker}"
    return {
        "py": f"__import__('os').system('{cmd}')",
        "fstr": "{__import__('os').system('" + cmd + "')}",
        "sql": f"x\"); COPY (SELECT 1) TO '{marker}'; --",
        "shell": f"$(touch {marker}); `touch {marker}`",
        "html": "<script>document.title='pwned'</script><img src=x onerror=alert(1)>",
        "query": f"@__import__('os').system('{cmd}')",
    }


def assert_not_pwned(tmp: Path) -> None:
    found = [str(p) for p in tmp.rglob("*pwned*")]
    assert not found, f"a hostile string was evaluated: {found}"
    assert not list(Path.cwd().glob("*pwned*"))


def toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


@pytest.fixture(scope="module")
def hostile_world(tmp_path_factory, simulation):
    """A population and outcomes whose column names, unit ids, segment values, arm names and
    rule values are hostile, and a spec that names them."""
    tmp = tmp_path_factory.mktemp("hostile")
    h = hostile(tmp)
    pop, out = simulation.population.copy(), simulation.outcomes.copy()
    unit = h["sql"]
    ids = np.array([f"CX{i:07d}Z" for i in range(len(pop))])
    id_map = dict(zip(pop["customer_id"], ids))
    for df in (pop, out):
        df.insert(0, unit, df.pop("customer_id").map(id_map))
    # a text column whose values are hostile; rows equal to the py string are excluded by a rule
    flags = np.where(np.arange(len(pop)) % 10 == 0, h["py"], h["shell"])
    pop[h["py"]] = flags
    pop[h["fstr"]] = pop["segment"].astype(str).map({"mass": h["html"]}).fillna(h["query"])
    # outcomes: metric column named hostilely, segment values hostile (HTML)
    out = out.rename(columns={"revenue_12m": h["fstr"]})
    out["channel"] = np.where(np.arange(len(out)) % 2 == 0, h["html"], h["query"])
    offer = h["query"].replace("@", "at ")
    spec_text = f"""
[experiment]
name = "hostile"
unit = {toml_str(unit)}
hypothesis = {toml_str(h['html'] + h['py'])}
owner = {toml_str(h['fstr'])}

[[exclude]]
reason = {toml_str(h['shell'])}
column = {toml_str(h['py'])}
op = "=="
value = {toml_str(h['py'])}
description = {toml_str(h['html'])}

[[exclude]]
reason = "not_in_list"
column = {toml_str(h['py'])}
op = "not_in"
value = [{toml_str(h['py'])}, {toml_str(h['shell'])}]

[assignment]
salt = {toml_str(h['py'])}
arms = {{ control = 0.5, {toml_str(offer)} = 0.5 }}
control = "control"
stratify = [{toml_str(h['fstr'])}]

[[metrics]]
name = {toml_str(h['html'])}
kind = "proportion"
column = "converted"
primary = true
description = {toml_str(h['py'])}

[[metrics]]
name = "revenue"
kind = "mean"
column = {toml_str(h['fstr'])}

[analysis]
segments = ["channel"]
min_cell_size = 20
"""
    spec = tmp / "spec.toml"
    spec.write_text(spec_text, encoding="utf-8")
    pop.to_parquet(tmp / "population.parquet", index=False)
    return {"tmp": tmp, "h": h, "spec": spec, "pop": pop, "out": out, "unit": unit, "offer": offer, "ids": ids}


def test_hostile_names_and_values_through_assign_and_readout(hostile_world, tmp_path, capsys, monkeypatch):
    w = hostile_world
    tmp, h = w["tmp"], w["h"]
    monkeypatch.chdir(tmp_path)
    ledger = tmp / "ledger.parquet"
    rc = main(["assign", str(w["spec"]), "--population", str(tmp / "population.parquet"), "--ledger", str(ledger), "--json"])
    err = capsys.readouterr()
    assert rc == 0, err.err
    assert_not_pwned(tmp)
    res = json.loads(err.out)
    wf = {r["step"]: r for r in res["eligibility"]["waterfall"]}
    assert wf[h["shell"]]["excluded"] == int((w["pop"][h["py"]] == h["py"]).sum())  # the rule compared text, as data
    assert wf["not_in_list"]["excluded"] == 0
    led = pd.read_parquet(ledger)
    assert set(led["arm"].astype(str)) == {"control", w["offer"]}
    # outcomes for the assigned units, arms from the ledger
    outcomes = w["out"].drop(columns=["arm"]).merge(led[[w["unit"]]], on=w["unit"])
    src = tmp / "outcomes.parquet"
    outcomes.to_parquet(src, index=False)
    report = tmp / "report"
    rc = main(["readout", str(w["spec"]), "--outcomes", str(src), "--ledger", str(ledger), "--out", str(report), "-q"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert_not_pwned(tmp)
    page = (report / "readout.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower(), "a hostile string reached the page unescaped"
    assert "<img src=x" not in page
    # the names are shown, escaped: the page says what the data said, as text
    assert "&lt;script&gt;document.title=" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    names = {r["metric"] for r in results["metrics"]}
    assert h["html"] in names  # kept verbatim as data in the JSON, escaped in the page
    # no unit id anywhere in the outputs
    pattern = re.compile(r"CX\d{7}Z")
    for f in ("results.json", "readout.html", "readout.ipynb"):
        text = (report / f).read_text(encoding="utf-8")
        assert not pattern.search(text), f"{f} carries unit ids"
    assert_not_pwned(tmp)


def test_hostile_rule_value_against_numeric_column_is_a_clean_error(hostile_world, tmp_path, capsys):
    """A rule comparing a numeric column with code-like text is refused as a type mismatch, not run."""
    w = hostile_world
    h = w["h"]
    text = w["spec"].read_text(encoding="utf-8")
    text = text.replace(f"column = {toml_str(h['py'])}\nop = \"==\"", 'column = "complaints_90d"\nop = "=="', 1)
    spec = tmp_path / "spec.toml"
    spec.write_text(text, encoding="utf-8")
    ledger = tmp_path / "ledger.parquet"
    rc = main(["assign", str(spec), "--population", str(w["tmp"] / "population.parquet"), "--ledger", str(ledger)])
    err = capsys.readouterr().err
    assert rc == 2 and "complaints_90d" in err and len(err.strip().splitlines()) == 1, err
    assert not ledger.exists()
    assert_not_pwned(w["tmp"])
    assert_not_pwned(tmp_path)


# --------------------------------------------------------------------------- relative paths

REL_SPEC = """
[experiment]
name = "relpaths"
unit = "customer_id"

[population]
source = "../data/population.parquet"
outcomes = "../data/outcomes.parquet"

[assignment]
salt = "rel"
arms = { control = 0.5, offer = 0.5 }
control = "control"
ledger = "ledgers/ledger.parquet"

[[metrics]]
name = "conversion"
kind = "proportion"
column = "converted"
primary = true
"""


def test_relative_paths_resolve_against_the_spec_folder(simulation, tmp_path, monkeypatch, capsys):
    root = tmp_path / "project"
    (root / "specs").mkdir(parents=True)
    (root / "data").mkdir()
    elsewhere = tmp_path / "elsewhere" / "deeper"
    elsewhere.mkdir(parents=True)
    simulation.population.to_parquet(root / "data" / "population.parquet", index=False)
    simulation.outcomes.drop(columns=["arm"]).to_parquet(root / "data" / "outcomes.parquet", index=False)
    spec = root / "specs" / "x.toml"
    spec.write_text(REL_SPEC, encoding="utf-8")
    # decoys at the same relative paths from the working directory: they must not be used
    (tmp_path / "elsewhere" / "data").mkdir()
    (tmp_path / "elsewhere" / "data" / "population.parquet").write_bytes(b"decoy, not parquet")
    monkeypatch.chdir(elsewhere)

    rc = main(["assign", str(spec), "--json"])
    assert rc == 0, capsys.readouterr().err
    ledger = root / "specs" / "ledgers" / "ledger.parquet"
    assert ledger.exists(), "[assignment] ledger did not resolve against the spec's folder"
    assert not (elsewhere / "ledgers").exists()
    out = tmp_path / "report"
    rc = main(["readout", str(spec), "--ledger", str(ledger), "--out", str(out), "--json-only", "-q"])
    assert rc == 0, capsys.readouterr().err
    res = json.loads((out / "results.json").read_text())
    assert res["provenance"]["units_analysed"] == len(pd.read_parquet(ledger))
    assert sorted(p.name for p in elsewhere.iterdir()) == [], "something was written to the working directory"


def test_spec_resolve_unit():
    from uplift.spec import parse_spec

    spec = parse_spec('[experiment]\nname = "x"\nunit = "u"\n[analysis]\narm_column = "a"\ncontrol = "c"\n',
                      path=Path("/srv/experiments/x.toml"))
    assert spec.resolve("../data/a.parquet") == Path("/srv/data/a.parquet")
    assert spec.resolve("/abs/b.parquet") == Path("/abs/b.parquet")


def test_readout_with_relative_paths_on_the_command_line(simulation, tmp_path, monkeypatch, capsys):
    """Regression: a relative --out once sent the notebook's results.json to the kernel's temp folder (traceback)."""
    simulation.outcomes.to_parquet(tmp_path / "outcomes.parquet", index=False)
    spec = tmp_path / "spec.toml"
    spec.write_text(REL_SPEC.replace('ledger = "ledgers/ledger.parquet"\n', "").replace("[population]\n", "[population]\n#")
                    .replace('outcomes = "../data/outcomes.parquet"', ""), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    rc = main(["readout", "spec.toml", "--outcomes", "outcomes.parquet", "--out", "rel-report", "-q"])
    capsys.readouterr()
    assert rc == 0
    assert (tmp_path / "rel-report" / "readout.html").exists()


# --------------------------------------------------------------------------- aggregates only


def test_results_json_carries_no_unit_ids_and_suppresses_small_cells(simulation, tmp_path, capsys):
    """Integer and text ids never reach results.json; a segment cell below min_cell_size shows no numbers."""
    out = simulation.outcomes.copy()
    out["customer_id"] = 880_000_000_000 + out["customer_id"].to_numpy() * 97  # 12-digit ids, easy to spot
    out["region"] = np.where(np.arange(len(out)) < 7, "tiny", "big")  # a 7-customer cell
    src = tmp_path / "outcomes.parquet"
    out.to_parquet(src, index=False)
    spec = tmp_path / "spec.toml"
    spec.write_text(REL_SPEC.replace("[population]\n", "[analysis]\nsegments = [\"region\"]\nmin_cell_size = 30\n#")
                    .replace('outcomes = "../data/outcomes.parquet"', "").replace('ledger = "ledgers/ledger.parquet"\n', ""),
                    encoding="utf-8")
    report = tmp_path / "r"
    assert main(["readout", str(spec), "--outcomes", str(src), "--out", str(report), "--json-only", "-q"]) == 0, capsys.readouterr().err
    text = (report / "results.json").read_text(encoding="utf-8")
    ids = set(out["customer_id"].astype(str))
    tokens = set(re.findall(r"(?<![\d.eE+-])\d{12}(?![\d.])", text))  # whole 12-digit integers only
    assert not tokens & ids, "results.json carries unit ids"
    res = json.loads(text)
    tiny = [r for r in res["segments"]["by"]["region"] if r.get("segment") == "tiny" or "tiny" in json.dumps(r)]
    assert tiny, "the small cell should be listed (as suppressed)"
    for r in tiny:
        assert r["suppressed"] is True
        assert r.get("abs_effect") is None and r.get("n_arm") is None
