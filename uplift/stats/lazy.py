"""A module imported on first use: ``st = lazy_module("scipy.stats")`` reads like ``from scipy import stats as st``.

SciPy's statistics take a second or more to import. The readout imports them while the engine
scans the data (:func:`uplift.readout.render.write_results`), so modules on the way to the first
query (planning which columns to aggregate) must not import them at load time. The first
attribute asked of a :class:`LazyModule` imports the module (thread-safe: Python's import lock)
and every later one goes straight to it.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["LazyModule", "lazy_module"]


class LazyModule:
    """A stand-in for the module ``name`` until one of its attributes is read."""

    __slots__ = ("_name", "_module")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}{' (imported)' if self._module is not None else ''}>"


def lazy_module(name: str) -> Any:
    """The module ``name``, imported when first used (see :class:`LazyModule`)."""
    return LazyModule(name)
