"""Shared fixtures and the suite's options.

Sizes: ``pytest`` runs every test, the simulations at a reduced size; ``pytest --full`` runs
them at full size. A test whose size depends on ``--full`` asks for the ``full`` or
``sim_size`` fixture, and is marked ``slow`` here, so ``pytest -m "not slow"`` leaves the
simulations out altogether. Property-based tests and fuzzers scale their budgets by the
hypothesis profile loaded here (``max_examples`` 100, five times that with ``--full``).

Markers (declared in pyproject.toml, checked with ``--strict-markers``): ``slow`` as above,
``browser`` for the test that drives headless Chromium.

Shared setup lives in the session fixtures below (the demo spec, a simulated population and
bank, one rendered demo readout, the Hillstrom data); test modules never import each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

ROOT = Path(__file__).resolve().parents[1]
HILLSTROM = ROOT / "experiments" / "data" / "hillstrom.parquet"
FULL_EXAMPLES = 500  # hypothesis max_examples under --full (its default is 100)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--full", action="store_true", default=False, help="run the simulations at full size")


def pytest_configure(config: pytest.Config) -> None:
    from hypothesis import settings

    settings.register_profile("full", max_examples=FULL_EXAMPLES)
    if config.getoption("--full"):
        settings.load_profile("full")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test whose size depends on --full (it asks for ``full`` or ``sim_size``)."""
    for item in items:
        if {"full", "sim_size"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


# --------------------------------------------------------------------------- sizes


@pytest.fixture(scope="session")
def full(request: pytest.FixtureRequest) -> bool:
    """True when the run asked for full-size simulations (``pytest --full``)."""
    return bool(request.config.getoption("--full"))


@pytest.fixture(scope="session")
def sim_size(full: bool) -> Callable[[int, int], int]:
    """``sim_size(reduced, full_size)``: the number of simulation runs for this session."""

    def size(reduced: int, full_size: int) -> int:
        return full_size if full else reduced

    return size


# --------------------------------------------------------------------------- specs and data


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The checkout's root folder (nothing outside it is read by the tests)."""
    return ROOT


@pytest.fixture(scope="session")
def demo_spec_path() -> Path:
    """``experiments/demo.toml``: the demo spec, which uses every section."""
    return ROOT / "experiments" / "demo.toml"


@pytest.fixture(scope="session")
def demo_spec(demo_spec_path: Path):
    """The demo spec, loaded once (a frozen :class:`uplift.spec.Spec`)."""
    from uplift.spec import load_spec

    return load_spec(demo_spec_path)


@pytest.fixture(scope="session")
def hillstrom_spec_path() -> Path:
    """``experiments/hillstrom.toml``: the Hillstrom e-mail experiment, randomised elsewhere."""
    return ROOT / "experiments" / "hillstrom.toml"


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


@pytest.fixture(scope="session")
def demo_population():
    """A simulated bank of 20,000 customers (seed 11). Shared: copy it before changing it."""
    from uplift.simulate import simulate_population

    return simulate_population(20_000, seed=11)


@pytest.fixture(scope="session")
def simulation():
    """A small simulated campaign (3,000 customers, seed 8, arms control/offer 50/50):
    population, outcomes and the true effects. Shared: copy a frame before changing it."""
    from uplift.simulate import simulate

    return simulate(3000, seed=8)


@pytest.fixture(scope="session")
def demo_readout(tmp_path_factory):
    """One ``uplift demo`` run (20,000 customers, seed 3): ``(folder, paths)`` with
    ``folder/data/{population,outcomes,ledger}.parquet`` and the rendered readout.
    Shared by the readout and browser tests; write new files elsewhere."""
    from uplift.demo import run_demo

    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(out, customers=20_000, seed=3)


@pytest.fixture(scope="session")
def zh_readout(demo_readout, demo_spec, tmp_path_factory):
    """The demo readout's data rendered again in Simplified Chinese (``language="zh"``): ``(folder,
    paths)``. Shared by the language and browser tests; write new files elsewhere."""
    from uplift.readout.render import render_readout

    data = demo_readout[0] / "data"
    out = tmp_path_factory.mktemp("demo-zh")
    return out, render_readout(demo_spec, out, outcomes=data / "outcomes.parquet", ledger=data / "ledger.parquet",
                               population=data / "population.parquet", language="zh")


# --------------------------------------------------------------------------- comparisons


def _same_numbers(a: Any, b: Any, path: str = "", rel: float = 1e-9, skip: tuple[str, ...] = ("engine",)) -> None:
    if isinstance(b, dict):
        assert isinstance(a, dict), path
        for k in b:
            if k in skip:
                continue
            if path.endswith("/cov") and a.get(k) is None:
                continue
            assert k in a, f"{path}/{k} missing"
            _same_numbers(a[k], b[k], f"{path}/{k}", rel, skip)
    elif isinstance(b, (list, tuple)):
        assert isinstance(a, (list, tuple)) and len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b)):
            _same_numbers(u, v, f"{path}[{i}]", rel, skip)
    elif isinstance(b, float) and not isinstance(b, bool):
        assert a == pytest.approx(b, rel=rel, abs=1e-12), path
    else:
        assert a == b, path


@pytest.fixture(scope="session")
def same_numbers() -> Callable[..., None]:
    """``same_numbers(a, b, rel=1e-9)``: assert two results.json-like trees are equal, numbers to
    ``rel`` and everything else exactly (keys named in ``skip``, default ``("engine",)``, are not
    compared). Covariances of column pairs no estimator reads may be None on the engine side."""
    return _same_numbers
