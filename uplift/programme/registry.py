"""The registry of a programme: every assignment and readout, in an append-only, locked folder.

Layout of the folder::

    registry.json    the header, written once: programme name, unit, holdout share, the holdout
                     salt's SHA-256 and start date ("" for a registry of campaigns without a programme)
    entries.jsonl    one JSON object per line, appended, never rewritten in place
    index.json       experiment -> the entries' sequence numbers (rebuilt from entries.jsonl with it)

Writes hold the lock of ``entries.jsonl`` (:func:`uplift.data.writes.ledger_lock`, the ledger's
lock) and replace ``entries.jsonl`` and ``index.json`` together (:func:`uplift.data.writes.commit_files`:
both new or both old). Before the rename the new ``entries.jsonl`` is checked to start with the old
one, byte for byte (append-only). Nothing in an entry comes from the wall clock: dates are the
spec's, so recording the same thing twice gives the same bytes (and an unchanged entry is not
appended again).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from uplift.data.files import text_writer
from uplift.data.writes import LOCK_WAIT, commit_files, ledger_lock
from uplift.errors import UserError
from uplift.results import jsonable

__all__ = ["Registry", "open_registry", "registry_lock", "append_entries", "programme_header", "check_header"]

HEADER = "registry.json"
ENTRIES = "entries.jsonl"
INDEX = "index.json"


def _line(obj: Mapping[str, Any]) -> str:
    return json.dumps(jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class Registry:
    """A registry folder, read: its header and entries (oldest first)."""

    path: Path
    header: Mapping[str, Any]
    entries: tuple[Mapping[str, Any], ...]

    @property
    def programme(self) -> str:
        return str(self.header.get("programme", ""))

    def latest(self, kind: str) -> dict[str, Mapping[str, Any]]:
        """The last entry of ``kind`` per experiment, in order of first appearance."""
        out: dict[str, Mapping[str, Any]] = {}
        for e in self.entries:
            if e.get("kind") == kind:
                out[str(e["experiment"])] = e
        return out

    def ledger_of(self, entry: Mapping[str, Any]) -> Path:
        """An assignment entry's ledger: recorded relative to the registry folder (or absolute)."""
        p = Path(str(entry["ledger"]))
        return p if p.is_absolute() else (self.path / p)

    def experiments(self) -> list[str]:
        return list(dict.fromkeys(str(e["experiment"]) for e in self.entries))

    def of(self, name: str) -> list[Mapping[str, Any]]:
        return [e for e in self.entries if e.get("experiment") == name]


def open_registry(path: str | Path, must_exist: bool = True) -> Registry:
    """Read the registry at ``path``. A folder without ``registry.json`` is refused (one line) when
    ``must_exist``, else read as an empty registry with no header."""
    p = Path(path)
    head = p / HEADER
    if not head.is_file():
        if must_exist:
            raise UserError(f"{p}: is not a registry (no {HEADER}); give the folder named by [programme] registry "
                            "or [experiment] registry, written by `uplift assign`")
        return Registry(p, {}, ())
    try:
        header = json.loads(head.read_text(encoding="utf-8"))
        lines = (p / ENTRIES).read_text(encoding="utf-8").splitlines() if (p / ENTRIES).exists() else []
        entries = tuple(json.loads(x) for x in lines if x.strip())
    except (OSError, ValueError):
        raise UserError(f"{p}: the registry cannot be read (a file is not JSON); restore it from a backup") from None
    if not isinstance(header, dict) or not all(isinstance(e, dict) and "experiment" in e for e in entries):
        raise UserError(f"{p}: is not a registry written by this toolkit; restore it from a backup")
    return Registry(p, header, entries)


@contextlib.contextmanager
def registry_lock(path: str | Path, wait: float = LOCK_WAIT) -> Iterator[Path]:
    """Hold the registry's lock (the lock of its ``entries.jsonl``) for a read-check-write."""
    with ledger_lock(Path(path) / ENTRIES, wait) as lock:
        yield lock


def programme_header(name: str, unit: str, salt: str, holdout_share: float, start_date: str) -> dict[str, Any]:
    """The header a programme's registry records (the salt as its SHA-256 only)."""
    return {"programme": name, "unit": unit, "holdout_share": holdout_share, "start_date": start_date,
            "salt_sha256": hashlib.sha256(salt.encode("utf-8")).hexdigest() if salt else ""}


def check_header(registry: Registry, expected: Mapping[str, Any], label: str) -> None:
    """Refuse a registry of another programme, or one whose holdout was set otherwise at the start."""
    if not registry.header:
        return
    have, want = registry.programme, str(expected.get("programme", ""))
    if have and not want:
        raise UserError(f"{registry.path}: belongs to programme {have!r}; add [experiment] programme = \"<its spec>\" "
                        f"to {label} so its holdout and contact policy apply")
    if have != want:
        raise UserError(f"{registry.path}: is the registry of {'programme ' + repr(have) if have else 'no programme'}, "
                        f"not of {want!r} ({label}); give {want!r} its own registry folder")
    for key, words in (("holdout_share", "holdout_share"), ("salt_sha256", "salt"), ("start_date", "start_date"),
                       ("unit", "unit")):
        if key in registry.header and registry.header[key] != expected.get(key):
            shown = "" if key == "salt_sha256" else f" (registry: {registry.header[key]!r}, spec: {expected.get(key)!r})"
            raise UserError(f"{label}: [programme] {words} changed after the start{shown}; the holdout is fixed once "
                            f"{registry.path} exists: restore the recorded value")


def append_entries(registry: Registry, header: Mapping[str, Any], new: list[Mapping[str, Any]]) -> int:
    """Append ``new`` entries (caller holds :func:`registry_lock`); writes the header if the registry is new.

    Each entry gets ``seq`` (its 1-based line number). An entry equal (``seq`` aside) to the last
    entry of its kind for its experiment is skipped. Returns the number appended."""
    p = registry.path
    last = {(e.get("kind"), e["experiment"]): {k: v for k, v in e.items() if k != "seq"} for e in registry.entries}
    kept: list[dict[str, Any]] = []
    for e in new:
        clean = jsonable(dict(e))
        if last.get((clean.get("kind"), clean["experiment"])) == clean:
            continue
        last[(clean.get("kind"), clean["experiment"])] = clean
        kept.append({"seq": len(registry.entries) + len(kept) + 1, **clean})
    writes = []
    if not registry.header:
        writes.append((p / HEADER, text_writer(json.dumps(jsonable(dict(header)), indent=2, sort_keys=True) + "\n")))
    if not kept and registry.header:
        return 0
    old_text = (p / ENTRIES).read_text(encoding="utf-8") if (p / ENTRIES).exists() else ""
    text = old_text + "".join(_line(e) + "\n" for e in kept)
    if not text.startswith(old_text):  # pragma: no cover - append-only by construction
        raise RuntimeError("internal error: the registry would change an entry; nothing written")
    index: dict[str, list[int]] = {}
    for e in (*registry.entries, *kept):
        index.setdefault(str(e["experiment"]), []).append(int(e["seq"]))
    writes += [(p / ENTRIES, text_writer(text)), (p / INDEX, text_writer(json.dumps(index, indent=1, sort_keys=True) + "\n"))]
    p.mkdir(parents=True, exist_ok=True)
    commit_files(writes)
    return len(kept)
