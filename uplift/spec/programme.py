"""Load a programme spec: the global holdout, the contact policy and the programme readout.

A programme spec is its own TOML file with the sections of
:data:`uplift.spec.schema.PROGRAMME_SCHEMA` (``[programme]`` required, ``[contact]`` and
``[readout]`` optional, defaults from the schema). A campaign joins a programme with
``[experiment] programme = "programme.toml"``. Every error is one :class:`SpecError` line.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from uplift.errors import SpecError
from uplift.spec.schema import PROGRAMME_SCHEMA, check_table, key_name, suggest
from uplift.spec.settings import (
    PROGRAMME_SETTINGS, ContactSettings, ProgrammeReadoutSettings, ProgrammeSettings, settings_from,
)

__all__ = ["ProgrammeSpec", "load_programme", "parse_programme"]


@dataclass(frozen=True)
class ProgrammeSpec:
    """A validated programme spec with typed, frozen settings per section."""

    path: Path | None
    programme: ProgrammeSettings
    contact: ContactSettings
    readout: ProgrammeReadoutSettings
    sha256: str

    @property
    def name(self) -> str:
        return self.programme.name

    @property
    def label(self) -> str:
        return str(self.path) if self.path else "<programme>"

    @property
    def registry_path(self) -> Path:
        """``[programme] registry``, resolved against the programme spec's folder."""
        p = Path(self.programme.registry).expanduser()
        return p if p.is_absolute() or self.path is None else (self.path.parent / p).resolve()


def load_programme(path: str | Path) -> ProgrammeSpec:
    """Read and validate a programme spec file (one-line :class:`SpecError` on any problem)."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"{path}: programme spec not found; check the path (a .toml file)")
    try:
        text = p.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        raise SpecError(f"{path}: cannot be read as UTF-8 text; save the programme spec as UTF-8 TOML") from None
    return parse_programme(text, p, str(path))


def parse_programme(text: str, path: Path | None = None, label: str = "<programme>") -> ProgrammeSpec:
    """Validate a programme spec given as TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{label}: is not valid TOML ({str(exc).splitlines()[0]}); fix the syntax at that line") from None
    for section in data:
        if section not in PROGRAMME_SCHEMA:
            raise SpecError(f"{label}: unknown section [{key_name(section)}] in a programme spec"
                            f"{suggest(section, PROGRAMME_SCHEMA)}")
    if "programme" not in data:
        raise SpecError(f"{label}: missing section [programme]; add name, unit, salt, start_date, holdout_share, registry")
    tables = {s: check_table(label, s, data.get(s, {}), PROGRAMME_SCHEMA[s]) for s in PROGRAMME_SCHEMA}
    try:
        _dt.date.fromisoformat(tables["programme"]["start_date"])
    except ValueError:
        raise SpecError(f"{label}: [programme] start_date = {tables['programme']['start_date']!r} is not a date; "
                        "write YYYY-MM-DD") from None
    typed = {s: settings_from(PROGRAMME_SETTINGS[s], t) for s, t in tables.items()}
    return ProgrammeSpec(path=path, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(), **typed)
