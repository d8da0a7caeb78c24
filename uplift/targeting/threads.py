"""Independent model fits side by side: one Python thread per core, one OpenMP thread each.

Targeting limits scikit-learn's OpenMP and BLAS threads to one (:func:`uplift.targeting.analyse.targeting_analysis`:
OpenMP threads spinning for cores another process holds made fitting several times slower), which
leaves the other cores idle while the candidate models are fitted one after the other. The fits are
independent (each model has its own seeded estimators and reads the same rows), and gradient boosting
does its work outside the interpreter lock, so :func:`map_threads` runs them on a small pool of threads,
each limited to one OpenMP thread (the limit is per thread: a new thread starts from the library's
default). Each result is the one the sequential loop computes, in the same order; an error is the one
the sequential loop would raise first (the earliest item's).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

__all__ = ["map_threads", "worker_count"]

T = TypeVar("T")
R = TypeVar("R")


def worker_count(items: int) -> int:
    """Threads for ``items`` independent fits: the cores this process may use, at most 2 (the fits'
    shared Python parts gain little from more), at most ``items``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(2, cores, items))


def map_threads(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[fn(x) for x in items]``, on :func:`worker_count` threads, each with one OpenMP/BLAS thread."""
    items = list(items)
    workers = worker_count(len(items))
    if workers == 1:
        return [fn(x) for x in items]
    from threadpoolctl import threadpool_limits

    def one(x: T) -> R:
        with threadpool_limits(limits=1):
            return fn(x)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="uplift-fit") as pool:
        return list(pool.map(one, items))
