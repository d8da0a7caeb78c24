"""The analysis runs targeting beside the life tables (uplift.readout.overlap.in_order): same answers,
errors in the order of the sequential analysis, nothing left running after Ctrl-C."""

from __future__ import annotations

import threading
import time

import pytest

from uplift.errors import DataError, SpecError
from uplift.readout.overlap import in_order


def test_both_answers_and_the_first_runs_beside():
    threads = {}

    def first():
        threads["first"] = threading.current_thread()
        return 1

    def second():
        threads["second"] = threading.current_thread()
        return 2

    assert in_order(first, second) == (1, 2)
    assert threads["first"] is not threads["second"] and threads["second"] is threading.main_thread()


def test_the_first_parts_error_wins_as_in_sequence():
    def first():
        time.sleep(0.05)  # fails after the second has already failed
        raise SpecError("first: [clv] column 'x' is missing")

    def second():
        raise DataError("second: no treated customers")

    with pytest.raises(SpecError, match="first"):
        in_order(first, second)


def test_the_second_parts_error_after_the_first_has_ended():
    done = []

    def first():
        time.sleep(0.05)
        done.append(True)

    def second():
        raise DataError("second: no treated customers")

    with pytest.raises(DataError, match="second"):
        in_order(first, second)
    assert done == [True]


def _stoppable_first() -> tuple:
    """A first part that runs until ``stop`` is called (at most 5 s), and the records of both: ``stopped``
    (stop was called) and ``ended`` (the first part ended, True when it was stopped rather than timed out)."""
    release = threading.Event()
    stopped: list[bool] = []
    ended: list[bool] = []

    def first():
        release.wait(5)
        ended.append(release.is_set())

    def stop():
        stopped.append(True)
        release.set()

    return first, stop, stopped, ended


def test_ctrl_c_stops_the_first_and_waits_for_it():
    first, stop, stopped, ended = _stoppable_first()

    def second():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        in_order(first, second, stop)
    assert stopped == [True] and ended == [True]


def test_ctrl_c_while_waiting_for_the_first_stops_it(monkeypatch):
    """The second part is done and this thread waits for the first when Ctrl-C comes: the first is stopped
    and waited for, and the interrupt goes on."""
    first, stop, stopped, ended = _stoppable_first()
    joins = []
    real_join = threading.Thread.join

    def join(self, timeout=None):
        if not joins:  # the first wait is interrupted, as by Ctrl-C
            joins.append(True)
            raise KeyboardInterrupt
        return real_join(self, timeout)

    monkeypatch.setattr(threading.Thread, "join", join)
    with pytest.raises(KeyboardInterrupt):
        in_order(first, lambda: 2, stop)
    assert stopped == [True] and ended == [True]
