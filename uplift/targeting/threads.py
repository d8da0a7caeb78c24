"""Independent steps side by side (the candidate fits; the held-out bootstraps beside the value models; the
profit curve beside the explanations; the next wave's scores): one Python thread per core, one OpenMP thread each.

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

import copy
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Sequence, TypeVar

import numpy as np

__all__ = ["map_threads", "predict_side_by_side", "worker_count"]

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


def predict_side_by_side(jobs: Sequence[tuple[Callable[[Any], np.ndarray], Any]], max_rows: int) -> list[np.ndarray]:
    """``[predict(X) for predict, X in jobs]``: each ``X`` (a DataFrame) cut into row pieces, at least one per
    worker and at most ``max_rows`` rows each, every piece of every job on :func:`map_threads` at once, the
    pieces put back in row order (an empty ``X``: an empty array, no call). A piece other than a job's first
    is predicted by a deep copy of ``predict``'s model (scikit-uplift's models keep their last predictions on
    the model, ``trmnt_preds_``, so one model object never predicts two pieces at once). For row-wise
    predictions (each row's answer depends on that row and the fitted model only) this is the very array
    of one call, computed sooner on two cores."""
    workers = worker_count(2)
    pieces: list[tuple[int, Callable[[Any], np.ndarray], Any]] = []
    for j, (predict, X) in enumerate(jobs):
        n = len(X)
        if not n:
            continue
        k = max(-(-n // max_rows), min(workers, n))
        bounds = np.linspace(0, n, k + 1).round().astype(int)
        for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
            pieces.append((j, predict if i == 0 else copy.deepcopy(predict), X.iloc[a:b]))
    out = map_threads(lambda piece: np.asarray(piece[1](piece[2])), pieces)
    return [np.concatenate([o for (j, _, _), o in zip(pieces, out) if j == i] or [np.empty(0)]) for i in range(len(jobs))]
