"""The spec reference and the editor schema: generated from the schema, committed, and right.

* every key of the schema has a meaning and an example, and each example loads;
* docs/spec-reference.md and docs/spec.schema.json equal what the generator writes today;
* the JSON Schema accepts every spec in experiments/ and the packaged demo, and rejects the bad
  specs of the README's catalogue that a JSON Schema can see (the loader rejects them too).
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import tomllib

from uplift.errors import SpecError
from uplift.experiment.design import design_experiment
from uplift.simulate import simulate
from uplift.spec import parse_spec
from uplift.spec.meanings import EXAMPLE_SPEC, KEYS, SECTIONS
from uplift.spec.reference import (
    REFERENCE_FILE,
    SCHEMA_FILE,
    json_schema,
    markdown,
    schema_text,
)
from uplift.spec.schema import SCHEMA, check_table

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SPECS = sorted((ROOT / "experiments").glob("*.toml")) + [ROOT / "uplift" / "demo.toml"]
VALIDATOR = jsonschema.Draft202012Validator(json_schema())


def test_every_key_has_a_meaning_and_a_valid_example():
    schema_keys = {(s, k) for s, fields in SCHEMA.items() for k in fields}
    assert set(KEYS) == schema_keys, "add or remove meanings in uplift/spec/meanings.py"
    assert set(SECTIONS) == set(SCHEMA)
    for (section, key), (meaning, example) in KEYS.items():
        assert meaning.strip() and example is not None, (section, key)
        table = {k: f.default for k, f in SCHEMA[section].items() if f.required}
        table = {k: (KEYS[(section, k)][1]) for k in table} | {key: example}
        check_table("example", section, table, SCHEMA[section])  # raises if the example is out of range


def test_committed_reference_and_schema_equal_the_generated_ones():
    assert (DOCS / REFERENCE_FILE).read_text(encoding="utf-8") == markdown(), \
        "regenerate: python -m uplift.spec.reference docs"
    assert (DOCS / SCHEMA_FILE).read_text(encoding="utf-8") == schema_text(), \
        "regenerate: python -m uplift.spec.reference docs"
    jsonschema.Draft202012Validator.check_schema(json.loads((DOCS / SCHEMA_FILE).read_text()))
    text = markdown()
    for fields in SCHEMA.values():
        for key in fields:
            assert f"| `{key}` |" in text


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_schema_accepts_every_shipped_spec(path):
    errors = list(VALIDATOR.iter_errors(tomllib.loads(path.read_text(encoding="utf-8"))))
    assert not errors, [e.message for e in errors]


def test_schema_and_loader_accept_the_reference_example(tmp_path):
    data = tomllib.loads(EXAMPLE_SPEC)
    assert not list(VALIDATOR.iter_errors(data))
    spec = parse_spec(EXAMPLE_SPEC)
    pop = simulate(20_000, seed=5).population
    res = design_experiment(spec, pop)
    # a designer reads whether it is feasible, for how long (a fixed pool) and the guardrail's power
    assert res.feasibility["verdict"] in ("feasible", "not feasible") and res.enrolment == "fixed pool"
    assert [w["step"] for w in res.waterfall][1:] == ["marketing_opt_out", "financial_stress", "already_holds_product"]
    assert res.guardrails[0]["power"] is not None


DEMO = (ROOT / "experiments" / "demo.toml").read_text(encoding="utf-8")
BAD = {  # README "The spec (TOML)" catalogue: the cases a JSON Schema can see
    "unknown section": DEMO.replace("[design]", "[desing]"),
    "unknown key": DEMO.replace("alpha = 0.05", "alpah = 0.05"),
    "missing required key": DEMO.replace('unit = "customer_id"\n', "", 1),
    "alpha out of range": DEMO.replace("alpha = 0.05", "alpha = 0.7"),
    "mde_relative as a percentage": DEMO.replace("mde_relative = 0.30", "mde_relative = 20"),
    "mde_relative and mde_absolute": DEMO.replace("mde_relative = 0.30", "mde_relative = 0.3\nmde_absolute = 0.005"),
    "not a whole number": DEMO.replace("horizon_periods = 60", "horizon_periods = 2.5"),
    "horizon of zero": DEMO.replace("horizon_periods = 60", "horizon_periods = 0"),
    "horizon past the maximum": DEMO.replace("horizon_periods = 60", "horizon_periods = 1000000000"),
    "impossible discount rate": DEMO.replace("annual_discount_rate = 0.08", "annual_discount_rate = -1.5"),
    "looks past the maximum": DEMO.replace("looks = 1", "looks = 101"),
    "number in quotes": DEMO.replace("alpha = 0.05", 'alpha = "0.05"'),
    "text as a number": DEMO.replace('currency = "EUR"', "currency = 5"),
    "when_missing": DEMO.replace('when_missing = "keep"', 'when_missing = "maybe"'),
    "unknown op": DEMO.replace('op = "<"', 'op = "=<"'),
    "unknown metric kind": DEMO.replace('kind = "mean"', 'kind = "median"'),
    "empty name": DEMO.replace('name = "demo"', 'name = ""'),
    "one arm": DEMO.replace("arms = { control = 0.10, offer = 0.90 }", "arms = { control = 0.5 }"),
    "weight out of range": DEMO.replace("arms = { control = 0.10, offer = 0.90 }", "arms = { control = -0.5, offer = 1.5 }"),
    "no primary metric": DEMO.replace("primary = true\n", ""),
    "a name twice in a list": DEMO.replace('stratify = ["segment"]', 'stratify = ["segment", "segment"]'),
    "margin_net_of": DEMO.replace('margin_net_of = ["cannibalisation", "cost_to_serve"]', 'margin_net_of = ["tax"]'),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_schema_rejects_the_catalogues_bad_specs_as_the_loader_does(case):
    text = BAD[case]
    assert text != DEMO, "the mutation did not apply"
    assert list(VALIDATOR.iter_errors(tomllib.loads(text))), f"the JSON Schema accepts: {case}"
    with pytest.raises(SpecError):
        parse_spec(text)
