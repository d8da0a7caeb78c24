"""results.json: one serialiser, a JSON Schema kept in the repository, and the page drawn from it.

The schema (``uplift/results.schema.json``) is checked with ``jsonschema``, an implementation
of JSON Schema the toolkit did not write; the contract keys are the ones DESIGN.md lists.
"""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import jsonschema
import numpy as np
import pytest

import uplift
from uplift.demo import DEMO_SPEC
from uplift.errors import DataError
from uplift.experiment.assign import assign
from uplift.readout import report
from uplift.readout.render import write_results
from uplift.results import SCHEMA_PATH, SCHEMA_VERSION, jsonable, load_schema, to_json, validate_results
from uplift.simulate import simulate, simulate_outcomes, simulate_population
from uplift.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
# DESIGN.md, "Contracts that other tools read"
CONTRACT_TOP_KEYS = ("metrics", "srm", "clv", "roi", "targeting", "spec_sha256", "data_sha256")
CONTRACT_ROW_KEYS = ("metric", "arm", "control", "n_arm", "n_control", "mean_arm", "mean_control", "abs_effect",
                     "abs_ci", "rel_effect", "rel_ci", "p_value", "method")


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema())


def _errors(results: dict) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in _validator().iter_errors(results)]


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory) -> dict[str, Path]:
    """A small demo campaign on simulated data: population, ledger (hash assignment) and outcomes files."""
    spec = load_spec(DEMO_SPEC)
    population = simulate_population(8000, seed=11)
    ledger = assign(spec, population).ledger
    assigned = population.merge(ledger[["customer_id", "arm"]], on="customer_id")
    outcomes, _ = simulate_outcomes(assigned.drop(columns=["arm"]), assigned["arm"].to_numpy(), seed=11,
                                    control=spec.control)
    folder = tmp_path_factory.mktemp("demo-data")
    paths = {"population": folder / "population.parquet", "ledger": folder / "ledger.parquet",
             "outcomes": folder / "outcomes.parquet"}
    population.to_parquet(paths["population"])
    ledger.to_parquet(paths["ledger"])
    outcomes.drop(columns=["arm"]).to_parquet(paths["outcomes"])
    return paths


def _readout(tmp_path: Path, demo_files: dict[str, Path], engine: str) -> dict:
    path = write_results(load_spec(DEMO_SPEC), tmp_path, outcomes=demo_files["outcomes"], ledger=demo_files["ledger"],
                         population=demo_files["population"], engine=engine)
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def demo_results(tmp_path_factory, demo_files) -> dict:
    """results.json of the demo spec, in memory: every section, targeting included."""
    return _readout(tmp_path_factory.mktemp("demo"), demo_files, "pandas")


# ---------------------------------------------------------------- the schema file


def test_the_schema_is_valid_draft_2020_12_and_ships_as_package_data():
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA_PATH.parent == Path(uplift.__file__).parent
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "results.schema.json" in pyproject["tool"]["setuptools"]["package-data"]["uplift"]


def test_the_schema_and_the_code_name_the_same_version():
    schema = load_schema()
    assert re.fullmatch(schema["properties"]["schema_version"]["pattern"], SCHEMA_VERSION)
    assert f"schema version {SCHEMA_VERSION}." in schema["description"]
    assert schema["$id"].endswith(":" + SCHEMA_VERSION.split(".")[0])  # the major version


def test_every_contract_key_is_required_and_described():
    schema = load_schema()
    for key in CONTRACT_TOP_KEYS:
        assert key in schema["required"], key
        assert schema["properties"][key]["description"].strip(), key
    row = schema["$defs"]["metric_row"]
    for key in CONTRACT_ROW_KEYS:
        assert key in row["required"], key
        assert row["properties"][key]["description"].strip(), key
    for key in ("p_value", "observed", "expected"):
        assert key in schema["properties"]["srm"]["required"], key
    assert {"clv", "ci"} <= set(schema["$defs"]["incremental_clv"]["required"])
    assert {"incremental_profit", "campaign_cost", "roi"} <= set(
        schema["properties"]["roi"]["properties"]["per_arm"]["additionalProperties"]["required"])
    assert {"model", "qini", "qini_ci", "best_depth", "expected_incremental_profit"} <= set(
        schema["properties"]["targeting"]["required"])


def test_every_top_level_key_has_a_description():
    schema = load_schema()
    missing = [k for k, v in schema["properties"].items() if not v.get("description", "").strip()]
    assert not missing, missing


# ---------------------------------------------------------------- results.json validates


def test_demo_results_validate(demo_results):
    assert demo_results["schema_version"] == SCHEMA_VERSION == "1.0"
    assert demo_results["clv"] is not None and demo_results["targeting"] is not None
    assert demo_results["roi"]["per_arm"], "the demo spec has [economics]"
    assert _errors(demo_results) == []
    validate_results(demo_results)


def test_duckdb_engine_results_validate(tmp_path, demo_files):
    results = _readout(tmp_path, demo_files, "duckdb")
    assert "duckdb" in results["provenance"]["engine"]
    assert results["targeting"] is not None and results["balance"] is not None  # the same parts as in memory
    assert _errors(results) == []


def test_hillstrom_results_validate(tmp_path):
    spec = load_spec(ROOT / "experiments" / "hillstrom.toml")
    results = json.loads(write_results(spec, tmp_path).read_text())
    assert len(results["arms"]) == 3 and results["balance"]["rows"]
    assert _errors(results) == []


def test_a_spec_without_clv_targeting_or_economics_validates(tmp_path):
    spec_path = tmp_path / "plain.toml"
    spec_path.write_text(
        '[experiment]\nname = "plain"\nunit = "customer_id"\n\n'
        '[assignment]\nsalt = "plain"\narms = { control = 0.5, offer = 0.5 }\ncontrol = "control"\n\n'
        '[[metrics]]\nname = "conversion"\nkind = "proportion"\ncolumn = "converted"\nprimary = true\n\n'
        '[[metrics]]\nname = "revenue"\nkind = "mean"\ncolumn = "revenue_12m"\n'
    )
    sim = simulate(3000, seed=4)
    results = uplift.analyse(load_spec(spec_path), sim.outcomes).to_results()
    assert results["clv"] is None and results["targeting"] is None and results["roi"]["per_arm"] == {}
    assert results["data_sha256"] == ""  # frames, not files: nothing to digest
    assert _errors(results) == []


# ---------------------------------------------------------------- the schema can fail


@pytest.mark.parametrize("path", [
    ("srm",), ("spec_sha256",), ("data_sha256",), ("metrics",), ("clv",), ("roi",), ("targeting",),
    ("schema_version",), ("metrics", 0, "abs_ci"), ("metrics", 0, "p_value"), ("metrics", 0, "method"),
    ("metrics", 0, "n_control"), ("srm", "observed"), ("clv", "incremental", "offer", "ci"),
    ("targeting", "qini"), ("roi", "per_arm", "offer", "roi"),
])
def test_a_missing_contract_key_is_rejected(demo_results, path):
    broken = copy.deepcopy(demo_results)
    parent = broken
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    assert _errors(broken), path
    with pytest.raises(DataError, match=f"'{path[-1]}' is a required property"):
        validate_results(broken)


@pytest.mark.parametrize("path, value", [
    (("metrics", 0, "p_value"), "0.01"),
    (("metrics", 0, "n_arm"), 12.5),
    (("metrics", 0, "abs_ci"), [0.1]),
    (("metrics", 0, "abs_ci"), None),
    (("metrics", 0, "method"), None),
    (("srm", "observed", "offer"), "many"),
    (("spec_sha256",), "not-a-digest"),
    (("schema_version",), 1.0),
    (("clv", "margin_timing"), "middle"),
    (("clv", "arms", "offer", "survival_model", "params"), "alpha=1"),
    (("targeting", "qini_ci"), "wide"),
    (("notes",), "one note"),
])
def test_a_wrong_type_is_rejected(demo_results, path, value):
    broken = copy.deepcopy(demo_results)
    parent = broken
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    assert _errors(broken), path
    with pytest.raises(DataError) as info:
        validate_results(broken)
    message = str(info.value)
    assert "\n" not in message and message.startswith("results.json: $")


def test_added_keys_are_allowed(demo_results):
    grown = copy.deepcopy(demo_results)
    grown["a_new_section"] = {"anything": 1}
    grown["metrics"][0]["a_new_field"] = [1, 2]
    assert _errors(grown) == []


# ---------------------------------------------------------------- one serialiser


def test_jsonable_turns_typed_values_into_json_values():
    value = {
        "nan": float("nan"), "inf": np.float64("inf"), "minus_inf": -math.inf, "f": np.float32(0.5),
        "i": np.int64(7), "b": np.bool_(True), "t": (1, np.float64(2.5)), "a": np.array([1.0, np.nan]),
        "p": Path("/x/y"), 3: None, "s": "text",
    }
    assert jsonable(value) == {
        "nan": None, "inf": None, "minus_inf": None, "f": 0.5, "i": 7, "b": True, "t": [1, 2.5], "a": [1.0, None],
        "p": "/x/y", "3": None, "s": "text",
    }
    out = jsonable(value)
    assert type(out["i"]) is int and type(out["b"]) is bool and type(out["f"]) is float
    assert jsonable(out) == out  # idempotent


def test_to_json_never_writes_nan():
    text = to_json({"x": [float("nan"), 1.0], "y": np.float64("-inf")})
    assert json.loads(text) == {"x": [None, 1.0], "y": None}
    assert "NaN" not in text and "Infinity" not in text


def test_result_objects_keep_nan_and_serialise_it_as_null():
    """A typed result keeps NaN (here: the p-value of a difference with standard error 0); JSON has null."""
    from uplift.survival.estimators import RMST, rmst_difference

    diff = rmst_difference(RMST("offer", 12.0, 9.0, 0.0, 9.0, 9.0), RMST("control", 12.0, 9.0, 0.0, 9.0, 9.0))
    assert math.isnan(diff.p_value)
    assert diff.to_dict()["p_value"] is None
    assert json.loads(to_json(diff))["p_value"] is None  # a result object goes through its to_dict()


# ---------------------------------------------------------------- the page draws from the results


def test_page_interval_labels_follow_the_results_confidence(demo_results):
    rows = copy.deepcopy(demo_results["metrics"])
    assert "95% CI" in report.metric_table(rows)
    for r in rows:
        r["confidence"] = 0.9
    table = report.metric_table(rows)
    assert "90% CI" in table and "95% CI" not in table


def test_page_multiplicity_label_follows_the_results_adjustment(demo_results):
    primary = [r for r in demo_results["metrics"] if r["primary"]]
    secondary = [r for r in demo_results["metrics"] if not r["primary"]]
    assert report.adjustment_label(primary) == "Holm"
    assert report.adjustment_label(secondary) == "BH"
    assert report.adjustment_label([{k: v for k, v in r.items() if k != "adjustment"} for r in primary]) == ""
