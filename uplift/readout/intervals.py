"""An interval as the readout pages write it: ``[lo, hi]`` with each bound formatted by the caller's
number formatter, an em dash when there is none, and the open end of a one-sided interval."""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["interval_text"]


def interval_text(ci: Any, f: Callable[[Any], str], open_end: bool = False) -> str:
    """``[f(lo), f(hi)]``, or an em dash when ``ci`` is missing or a bound is null; with ``open_end`` (a
    one-sided sequence) a null bound is the open end: ``[lo, +&infin;)`` or ``(&minus;&infin;, hi]``."""
    if not isinstance(ci, (list, tuple)) or len(ci) != 2 or (ci[0] is None and ci[1] is None):
        return "&mdash;"
    if ci[0] is None or ci[1] is None:
        if not open_end:
            return "&mdash;"
        return f"[{f(ci[0])}, +&infin;)" if ci[1] is None else f"(&minus;&infin;, {f(ci[1])}]"
    return f"[{f(ci[0])}, {f(ci[1])}]"
