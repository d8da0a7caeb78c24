"""Shared fixtures. ``--full`` runs slow simulations at full size (CI runs them reduced)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HILLSTROM = ROOT / "experiments" / "data" / "hillstrom.parquet"


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
    """The Hillstrom e-mail experiment (64,000 customers), the project's own copy
    (``experiments/data/hillstrom.parquet``; provenance in the README beside it), with its
    text columns as plain strings, as ``pandas.read_csv`` of the published CSV gives them."""
    import pandas as pd

    df = pd.read_parquet(HILLSTROM)
    for c in df.columns:
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].astype(str)
    return df
