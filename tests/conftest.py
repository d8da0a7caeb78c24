"""Shared fixtures. ``--full`` runs slow simulations at full size (CI runs them reduced)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HILLSTROM = ROOT.parent / "shared" / "data" / "hillstrom.csv"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--full", action="store_true", default=False, help="run slow simulations at full size")


@pytest.fixture(scope="session")
def full(request: pytest.FixtureRequest) -> bool:
    """True when the run asked for full-size simulations (``pytest --full``)."""
    return bool(request.config.getoption("--full"))


def sim_size(request_or_full, reduced: int, full_size: int) -> int:
    """The number of simulation runs: ``full_size`` with --full, else ``reduced``."""
    return full_size if request_or_full else reduced


@pytest.fixture(scope="session")
def hillstrom():
    """The Hillstrom e-mail experiment (64,000 customers) from ../shared/data."""
    import pandas as pd

    if not HILLSTROM.exists():
        pytest.fail(f"{HILLSTROM} is missing: the shared data folder must sit beside the repository")
    return pd.read_csv(HILLSTROM)
