"""Spec validation: one test per kind of mistake; every error is one line naming file, key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from uplift.spec import SpecError, load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = """
[experiment]
name = "t"
unit = "customer_id"

[assignment]
salt = "s"
arms = { control = 0.5, offer = 0.5 }
control = "control"
"""


def _err(text: str) -> str:
    with pytest.raises(SpecError) as info:
        parse_spec(text, label="x.toml")
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert msg.startswith("x.toml: "), msg
    return msg


def test_demo_spec_is_valid_and_uses_every_section():
    from uplift.spec.schema import SCHEMA

    spec = load_spec(ROOT / "experiments" / "demo.toml")
    assert all(spec.has(s) for s in SCHEMA), [s for s in SCHEMA if not spec.has(s)]
    assert dict(spec.arms) == {"control": 0.10, "offer": 0.90}
    assert [m.name for m in spec.metrics if m.primary] == ["conversion"]
    assert len(spec.sha256) == 64


def test_minimal_spec_fills_defaults():
    spec = parse_spec(MINIMAL)
    assert not spec.has("design") and spec.design.alpha == 0.05  # absent: not in the file, defaults apply
    assert spec.control_arm == "control"
    assert spec.arm_column == "arm"


def test_malformed_toml():
    msg = _err('[experiment\nname = "x"')
    assert "not valid TOML" in msg


def test_unknown_section_suggests_the_right_one():
    msg = _err(MINIMAL + "\n[desing]\nalpha = 0.05\n")
    assert "[desing]" in msg and "did you mean 'design'" in msg


def test_unknown_key_is_an_error_and_named():
    msg = _err(MINIMAL + "\n[design]\nalpah = 0.05\n")
    assert "alpah" in msg and "[design]" in msg and "did you mean 'alpha'" in msg


def test_missing_required_key():
    msg = _err('[experiment]\nname = "t"\n[assignment]\nsalt="s"\narms={a=0.5,b=0.5}\ncontrol="a"\n')
    assert "'unit'" in msg and "add unit" in msg


def test_wrong_type():
    msg = _err(MINIMAL + '\n[design]\nalpha = "0.05"\n')
    assert "alpha" in msg and "number" in msg


def test_alpha_out_of_range():
    msg = _err(MINIMAL + "\n[design]\nalpha = 0.7\n")
    assert "alpha" in msg and "(0, 0.5)" in msg


def test_weight_above_one():
    msg = _err(MINIMAL.replace("control = 0.5, offer = 0.5", "control = 1.2, offer = 0.5"))
    assert "arms.control" in msg and "(0, 1)" in msg


def test_weights_must_sum_to_one():
    msg = _err(MINIMAL.replace("control = 0.5, offer = 0.5", "control = 0.3, offer = 0.5"))
    assert "sum to 0.8" in msg


def test_single_arm_refused():
    msg = _err(MINIMAL.replace("arms = { control = 0.5, offer = 0.5 }", "arms = { control = 0.5 }"))
    assert "at least one offer arm" in msg


def test_control_must_be_an_arm():
    msg = _err(MINIMAL.replace('control = "control"', 'control = "ctrl"'))
    assert "'ctrl'" in msg and "not one of the arms" in msg


def test_bad_operator_in_exclusion_rule():
    msg = _err(MINIMAL + '\n[[exclude]]\nreason = "r"\ncolumn = "c"\nop = "=~"\nvalue = 1\n')
    assert "op" in msg and "'=='" in msg


def test_exclusion_rule_value_must_fit_the_operator():
    msg = _err(MINIMAL + '\n[[exclude]]\nreason = "r"\ncolumn = "c"\nop = "in"\nvalue = 1\n')
    assert "needs a list" in msg


def test_array_section_written_as_table():
    msg = _err(MINIMAL + '\n[metrics]\nname = "m"\n')
    assert "[[metrics]]" in msg


def test_ratio_metric_needs_denominator():
    msg = _err(MINIMAL + '\n[[metrics]]\nname = "m"\nkind = "ratio"\ncolumn = "x"\nprimary = true\n')
    assert "denominator" in msg


def test_metrics_need_a_primary():
    msg = _err(MINIMAL + '\n[[metrics]]\nname = "m"\nkind = "mean"\ncolumn = "x"\n')
    assert "primary = true" in msg


def test_duplicate_metric_names():
    block = '\n[[metrics]]\nname = "m"\nkind = "mean"\ncolumn = "x"\nprimary = true\n'
    msg = _err(MINIMAL + block + block)
    assert "used twice" in msg


def test_discount_rate_of_minus_one_refused():
    msg = _err(MINIMAL + '\n[clv]\ntenure_column = "t"\nchurned_column = "c"\nannual_discount_rate = -1.0\n')
    assert "annual_discount_rate" in msg


def test_horizon_of_zero_refused():
    msg = _err(MINIMAL + '\n[clv]\ntenure_column = "t"\nchurned_column = "c"\nhorizon_periods = 0\n')
    assert "horizon_periods" in msg


def test_analysis_needs_arm_column_and_control_together():
    msg = _err('[experiment]\nname = "t"\nunit = "u"\n[analysis]\narm_column = "segment"\n')
    assert "arm_column and control" in msg


def test_randomised_elsewhere_spec_is_valid():
    spec = parse_spec('[experiment]\nname = "h"\nunit = "u"\n[analysis]\narm_column = "segment"\ncontrol = "No E-Mail"\n')
    assert spec.arm_column == "segment" and spec.control_arm == "No E-Mail"


def test_hostile_values_are_data_not_code(tmp_path):
    hostile = "__import__('os').system('touch pwned')"
    spec = parse_spec(MINIMAL + f'\n[[exclude]]\nreason = "r"\ncolumn = "{hostile}"\nop = "=="\nvalue = "{hostile}"\n')
    assert spec.exclusions[0].column == hostile
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path / "missing.toml")
    with pytest.raises(SpecError, match="is a directory"):
        load_spec(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe[experiment]")
    with pytest.raises(SpecError, match="UTF-8"):
        load_spec(bad)


def test_relative_paths_resolve_against_the_spec_folder(tmp_path):
    p = tmp_path / "sub" / "x.toml"
    p.parent.mkdir()
    p.write_text(MINIMAL)
    spec = load_spec(p)
    assert spec.resolve("data/pop.parquet") == (tmp_path / "sub" / "data" / "pop.parquet").resolve()


def test_every_section_has_settings_with_exactly_its_schema_keys():
    """Defaults live once, in the schema: each settings class has one field per key, no more, no less."""
    import dataclasses

    from uplift.spec.schema import ARRAYS, SCHEMA
    from uplift.spec.settings import SECTION_SETTINGS

    assert set(SECTION_SETTINGS) == set(SCHEMA) - set(ARRAYS)
    for section, cls in SECTION_SETTINGS.items():
        assert [f.name for f in dataclasses.fields(cls)] == list(SCHEMA[section]), section
        assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(cls)), f"{section}: a default outside the schema"


def test_settings_are_typed_frozen_and_defaulted_when_a_section_is_absent():
    import dataclasses

    spec = parse_spec(MINIMAL)
    assert spec.analysis.confidence == 0.95 and spec.analysis.min_cell_size == 50
    assert spec.design.alpha == 0.05 and spec.design.looks == 1
    assert spec.clv is None and spec.targeting is None and spec.economics is None
    assert spec.analysis.segments == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.analysis.confidence = 0.9  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.arms["offer"] = 0.5  # type: ignore[index]
