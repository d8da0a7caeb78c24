"""The spec reference (Markdown) and the editor schema (JSON Schema), generated from the schema.

Both come from :data:`uplift.spec.schema.SCHEMA` (key, type, default, range) and
:mod:`uplift.spec.meanings` (meaning, example), so they cannot drift from what the loader
accepts; ``tests/test_spec_reference.py`` checks the committed files equal what this module
generates. Regenerate after changing a key::

    python -m uplift.spec.reference docs

The JSON Schema (draft 2020-12) states what a single key may hold and most rules between
keys that JSON Schema can say (unknown keys, required keys, types, ranges, choices, one
primary metric is not among them); the loader's remaining cross-field checks are listed in
the reference. Editors that validate TOML against a JSON Schema (e.g. Taplo / Even Better TOML)
use it with a first line ``#:schema ../docs/spec.schema.json`` in the spec.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from uplift.spec.meanings import CROSS_FIELD_RULES, EXAMPLE_SPEC, KEYS, PROGRAMME_KEYS, PROGRAMME_SECTIONS, SECTIONS
from uplift.spec.schema import ARRAYS, MAX_ARMS, PROGRAMME_SCHEMA, REQUIRED_SECTIONS, SCHEMA, Field

__all__ = ["REFERENCE_FILE", "SCHEMA_FILE", "json_schema", "markdown", "schema_text", "write"]

REFERENCE_FILE = "spec-reference.md"
SCHEMA_FILE = "spec.schema.json"

_TYPE_WORDS = {
    "str": "text", "bool": "true / false", "int": "whole number", "number": "number", "str_list": "list of names",
    "number_list": "list of numbers",
    "weights": "table: arm = weight", "amounts": "table: name = number", "scalar_or_list": "number, text, true/false, or a list of those",
}


def _type_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of a value of ``kind`` (the types :func:`uplift.spec.schema.check_type` accepts)."""
    scalar = ["string", "number", "boolean"]
    return {
        "str": {"type": "string"},
        "bool": {"type": "boolean"},
        "int": {"type": "integer"},
        "number": {"type": "number"},
        "str_list": {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True},
        "number_list": {"type": "array", "items": {"type": "number"}},
        "weights": {"type": "object", "minProperties": 1,
                    "additionalProperties": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}},
        "scalar_or_list": {"type": [*scalar, "array"], "items": {"type": scalar}},
        "amounts": {"type": "object", "minProperties": 1, "additionalProperties": {"type": "number", "minimum": 0}},
    }[kind]


def _key_schema(section: str, key: str, f: Field) -> dict[str, Any]:
    out = _type_schema(f.kind)
    if f.check is not None:
        bounds = dict(f.check.bounds)
        if "items" in bounds and "items" in out:
            out["items"] = {**out["items"], **bounds.pop("items")}
        out.update(bounds)
    if f.kind == "weights":  # at most MAX_ARMS arms; [assignment] arms: a control and at least one offer arm
        out["maxProperties"] = MAX_ARMS
        if section == "assignment":
            out["minProperties"] = 2
    meaning, example = KEYS[(section, key)]
    out["description"] = meaning
    if f.default is not None:
        out["default"] = f.default
    out["examples"] = [example]
    return out


def _table_schema(section: str) -> dict[str, Any]:
    fields = SCHEMA[section]
    table: dict[str, Any] = {
        "type": "object",
        "description": SECTIONS[section],
        "additionalProperties": False,
        "properties": {k: _key_schema(section, k, f) for k, f in fields.items()},
    }
    required = [k for k, f in fields.items() if f.required]
    if required:
        table["required"] = required
    if section == "design":
        table["not"] = {"required": ["mde_relative", "mde_absolute"]}  # one or the other, not both
    return table


def json_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) for spec files, from the schema and the meanings."""
    props: dict[str, Any] = {}
    for section in SCHEMA:
        t = _table_schema(section)
        if section in ARRAYS:
            t = {"type": "array", "description": t.pop("description"), "items": t}
            if section == "metrics":  # at least one primary metric
                t["contains"] = {"properties": {"primary": {"const": True}}, "required": ["primary"]}
        props[section] = t
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "xsell-uplift experiment spec",
        "description": "An experiment spec (TOML) for the uplift toolkit. Generated from uplift/spec/schema.py "
                       "by `python -m uplift.spec.reference docs`; see docs/spec-reference.md.",
        "type": "object",
        "additionalProperties": False,
        "required": list(REQUIRED_SECTIONS),
        "properties": props,
    }


def _show(v: Any) -> str:
    if v is None:
        return "not set"
    return "`" + json.dumps(v, ensure_ascii=False).replace("|", "\\|") + "`" if not isinstance(v, str) else f'`"{v}"`'


def _example(key: str, v: Any) -> str:
    if isinstance(v, dict):
        inner = ", ".join(f"{k} = {json.dumps(x)}" for k, x in v.items())
        text = f"{key} = {{ {inner} }}"
    elif isinstance(v, bool):
        text = f"{key} = {'true' if v else 'false'}"
    else:
        text = f"{key} = {json.dumps(v, ensure_ascii=False)}"
    return "`" + text.replace("|", "\\|") + "`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown() -> str:
    """The spec reference: per section, every key with its type, default, allowed values, meaning and an example."""
    lines = [
        "# Spec reference",
        "",
        ("<!-- Generated from uplift/spec/schema.py and uplift/spec/meanings.py by "
        "`python -m uplift.spec.reference docs`; do not edit by hand. -->"),
        "",
        ("An experiment spec is a TOML file. Every key below is checked when the spec is loaded: an unknown "
        "section or key, a wrong type or a value out of range stops the command with one line naming the key "
        "and the fix. Keys not given take the default shown. Paths are read relative to the spec's folder."),
        "",
        ("Editors that validate TOML against a JSON Schema (Taplo, Even Better TOML) check a spec while it is "
        "typed with [spec.schema.json](spec.schema.json): put `#:schema ../docs/spec.schema.json` (the path "
        "from the spec to this folder) on the spec's first line."),
        "",
        "Sections: " + ", ".join(f"[`{_head(s)}`](#{_anchor(s)})" for s in SCHEMA) + ".",
        "",
    ]
    for section, fields in SCHEMA.items():
        lines += [f"## `{_head(section)}`", "", SECTIONS[section]
                  + (" Required." if section in REQUIRED_SECTIONS and "Required" not in SECTIONS[section] else ""), ""]
        lines += ["| key | type | default | allowed | meaning | example |", "|---|---|---|---|---|---|"]
        for key, f in fields.items():
            meaning, example = KEYS[(section, key)]
            default = "**required**" if f.required else _show(f.default)
            allowed = f.check.allowed if f.check is not None else (
                f"each in (0, 1), at most {MAX_ARMS} arms" if f.kind == "weights" else "")
            lines.append(f"| `{key}` | {_TYPE_WORDS[f.kind]} | {default} | {_cell(allowed)} | {_cell(meaning)} | "
                         f"{_example(key, example)} |")
        lines.append("")
    lines += ["## Programme spec", "", ("A programme spec is its own TOML file (`uplift programme`); a campaign joins it "
              "with `[experiment] programme`. Its sections:"), ""]
    for section, fields in PROGRAMME_SCHEMA.items():
        lines += [f"### programme spec `[{section}]`", "", PROGRAMME_SECTIONS[section], ""]
        lines += ["| key | type | default | allowed | meaning | example |", "|---|---|---|---|---|---|"]
        for key, f in fields.items():
            meaning, example = PROGRAMME_KEYS[(section, key)]
            default = "**required**" if f.required else _show(f.default)
            allowed = f.check.allowed if f.check is not None else ""
            lines.append(f"| `{key}` | {_TYPE_WORDS[f.kind]} | {default} | {_cell(allowed)} | {_cell(meaning)} | "
                         f"{_example(key, example)} |")
        lines.append("")
    lines += ["## Rules between keys", ""] + [f"- {r}" for r in CROSS_FIELD_RULES] + [""]
    lines += ["## A complete example", "",
              ("Offer a credit card to current-account holders (`uplift design` it, `uplift assign` it, "
              "`uplift readout` it):"), "", "```toml", EXAMPLE_SPEC.rstrip("\n"), "```", ""]
    return "\n".join(lines)


def _head(section: str) -> str:
    return f"[[{section}]]" if section in ARRAYS else f"[{section}]"


def _anchor(section: str) -> str:
    return section  # GitHub drops the brackets and backticks: "## `[[metrics]]`" -> #metrics


def write(folder: str | Path) -> list[Path]:
    """Write :data:`REFERENCE_FILE` and :data:`SCHEMA_FILE` into ``folder`` (atomically, each)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = [(folder / REFERENCE_FILE, markdown()), (folder / SCHEMA_FILE, schema_text())]
    for path, text in out:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    return [p for p, _ in out]


def schema_text() -> str:
    """:func:`json_schema` as the committed file holds it (2-space indent, a final newline)."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # pragma: no cover - python -m uplift.spec.reference DIR
    for p in write(sys.argv[1] if len(sys.argv) > 1 else "docs"):
        print(p)
