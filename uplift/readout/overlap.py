"""Two parts of the analysis at once, with the answers and the errors of one after the other.

The readout's targeting (scikit-learn fits and bootstraps on rows already in memory) does not need the
engine, and the life tables, CLV and stage days (queries the engine answers while Python waits) do not
need targeting. :func:`in_order` runs the first in a helper thread while this thread runs the second, so
on two cores each waits less for the other; what comes back is exactly what running them one after the
other returns (each part is deterministic and reads only its own inputs), and when both fail the first
part's error is raised, as it would have been without the overlap.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, TypeVar

__all__ = ["in_order"]

A = TypeVar("A")
B = TypeVar("B")


def in_order(first: Callable[[], A], second: Callable[[], B], stop: Callable[[], Any] | None = None) -> tuple[A, B]:
    """``(first(), second())``, with ``first`` run in a helper thread while this thread runs ``second``.

    Errors as in sequence: ``first``'s error if it failed (raised once ``second`` has ended too), else
    ``second``'s. On Ctrl-C (or any exception) in this thread ``stop`` is called (e.g. interrupting the
    engine's query) and the helper is waited for before the exception goes on, so nothing keeps running.
    """
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = first()
        except BaseException as exc:  # kept and raised in this thread, in order
            box["error"] = exc

    helper = threading.Thread(target=run, name="uplift-analysis-part", daemon=True)
    helper.start()
    try:
        second_value = second()
        helper.join()  # a Ctrl-C while waiting here stops the helper too
    except BaseException as exc:
        if stop is not None and isinstance(exc, KeyboardInterrupt):
            stop()
        helper.join()
        if "error" in box and not isinstance(exc, KeyboardInterrupt):
            raise box["error"] from None
        raise
    if "error" in box:
        raise box["error"]
    return box["value"], second_value
