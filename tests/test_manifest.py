"""The input manifest: every hash is what sha256sum prints, every size what os.stat says, every row count what pandas reads."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess

import pandas as pd
import pytest

from uplift.demo import DEMO_SPEC
from uplift.experiment.assign import assign
from uplift.readout import report
from uplift.readout.provenance import manifest_table
from uplift.readout.render import write_results
from uplift.results import validate_results
from uplift.simulate import simulate_outcomes, simulate_population
from uplift.spec import load_spec


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    spec = load_spec(DEMO_SPEC)
    population = simulate_population(3000, seed=5)
    ledger = assign(spec, population).ledger
    assigned = population.merge(ledger[["customer_id", "arm"]], on="customer_id")
    outcomes, _ = simulate_outcomes(assigned.drop(columns=["arm"]), assigned["arm"].to_numpy(), seed=5,
                                    control=spec.control)
    outcomes = outcomes.drop(columns=["arm"])
    folder = tmp_path_factory.mktemp("inputs")
    paths = {"population": folder / "population.parquet", "ledger": folder / "ledger.parquet",
             "outcomes": folder / "outcomes.parquet", "outcomes_csv": folder / "outcomes.csv",
             "parts": folder / "outcomes_parts"}
    population.to_parquet(paths["population"])
    ledger.to_parquet(paths["ledger"])
    outcomes.to_parquet(paths["outcomes"])
    outcomes.to_csv(paths["outcomes_csv"], index=False)
    paths["parts"].mkdir()
    outcomes.iloc[:1700].to_parquet(paths["parts"] / "part-0.parquet")
    outcomes.iloc[1700:].to_parquet(paths["parts"] / "part-1.parquet")
    return spec, paths


def _sha256sum(path) -> str | None:
    """What the real ``sha256sum`` prints for the file (None where the command is not installed)."""
    exe = shutil.which("sha256sum")
    if exe is None:
        return None
    out = subprocess.run([exe, str(path)], capture_output=True, text=True, check=True).stdout
    return out.split()[0]


def _check_entry(entry, path, reader):
    data = path.read_bytes()
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    cmd = _sha256sum(path)
    if cmd is not None:
        assert entry["sha256"] == cmd
    assert entry["bytes"] == os.stat(path).st_size
    assert entry["rows"] == len(reader(path))


@pytest.mark.parametrize("outcomes_key", ["outcomes", "outcomes_csv"])
def test_manifest_hashes_sizes_and_rows_match_the_files(files, tmp_path, outcomes_key):
    spec, paths = files
    out = write_results(spec, tmp_path, outcomes=paths[outcomes_key], ledger=paths["ledger"],
                        population=paths["population"])
    r = json.loads(out.read_text())
    validate_results(r)
    m = r["manifest"]
    assert [e["role"] for e in m["files"]] == ["outcomes", "ledger", "population"]
    assert [e["name"] for e in m["files"]] == [paths[outcomes_key].name, "ledger.parquet", "population.parquet"]
    readers = {".parquet": pd.read_parquet, ".csv": pd.read_csv}
    for entry, key in zip(m["files"], [outcomes_key, "ledger", "population"]):
        _check_entry(entry, paths[key], readers[paths[key].suffix])
    # the spec file: sha256sum of the file, and the ledger recorded the same spec
    spec_bytes = DEMO_SPEC.read_bytes()
    assert m["spec"]["sha256"] == hashlib.sha256(spec_bytes).hexdigest() == r["spec_sha256"]
    assert m["spec"]["bytes"] == len(spec_bytes)
    assert m["ledger_spec_sha256"] == [r["spec_sha256"]] and m["ledger_matches_spec"] is True
    # data_sha256 is the SHA-256 of the checksum lines, exactly as sha256sum prints them
    lines = "".join(f"{hashlib.sha256(paths[k].read_bytes()).hexdigest()}  {paths[k].name}\n"
                    for k in (outcomes_key, "ledger", "population"))
    assert r["data_sha256"] == hashlib.sha256(lines.encode()).hexdigest()
    assert {"numpy", "pandas", "scipy"} <= set(m["libraries"]) and m["libraries"] == r["provenance"]["libraries"]
    page = report.header(r) + manifest_table(r)
    assert "sha256sum" in page and m["files"][0]["sha256"] in page and lines.splitlines()[1] in page
    assert "Data SHA-256" not in page


def test_a_folder_input_lists_each_part(files, tmp_path):
    spec, paths = files
    r = json.loads(write_results(spec, tmp_path, outcomes=paths["parts"], ledger=paths["ledger"]).read_text())
    parts = [e for e in r["manifest"]["files"] if e["role"] == "outcomes"]
    assert [e["name"] for e in parts] == ["outcomes_parts/part-0.parquet", "outcomes_parts/part-1.parquet"]
    for e, name in zip(parts, ("part-0.parquet", "part-1.parquet")):
        _check_entry(e, paths["parts"] / name, pd.read_parquet)
    assert sum(e["rows"] for e in parts) == r["provenance"]["units_analysed"]


def test_a_ledger_from_another_spec_is_shown(files, tmp_path):
    spec, paths = files
    ledger = pd.read_parquet(paths["ledger"])
    ledger["spec_sha256"] = "0" * 64
    other = tmp_path / "other_ledger.parquet"
    ledger.to_parquet(other)
    r = json.loads(write_results(spec, tmp_path, outcomes=paths["outcomes"], ledger=other).read_text())
    assert r["manifest"]["ledger_spec_sha256"] == ["0" * 64] and r["manifest"]["ledger_matches_spec"] is False
    assert "not this spec" in manifest_table(r)
