"""uplift.stats.distributions equals scipy.stats (the reference) bit for bit, edges of the support included."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from uplift.stats import distributions as dist

X = np.array([-np.inf, -40.0, -8.5, -3.0, -1.959963984540054, -0.5, -1e-300, 0.0, 1e-12, 0.3, 1.0, 2.5, 7.0, 38.5,
              1e6, np.inf, np.nan])
Q = np.array([-0.1, 0.0, 1e-300, 1e-12, 0.001, 0.025, 0.3, 0.5, 0.975, 1 - 1e-12, 1.0, 1.1, np.nan])
DF = [0.5, 1.0, 2.0, 7.3, 30.0, 1e3, 1e7, np.inf, 0.0, -1.0, np.nan]


def same(a, b) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


@pytest.mark.parametrize("method", ["cdf", "sf", "pdf", "logcdf"])
def test_normal_on_x_equals_scipy(method):
    assert same(getattr(dist.norm, method)(X), getattr(stats.norm, method)(X))
    for x in X:  # scalars in, NumPy scalars out, as scipy.stats
        got, want = getattr(dist.norm, method)(x), getattr(stats.norm, method)(x)
        assert same(got, want) and type(got) is type(want)


@pytest.mark.parametrize("method", ["ppf", "isf"])
def test_normal_quantiles_equal_scipy(method):
    assert same(getattr(dist.norm, method)(Q), getattr(stats.norm, method)(Q))
    assert same(getattr(dist.norm, method)(0.975), getattr(stats.norm, method)(0.975))


@pytest.mark.parametrize("name", ["t", "chi2"])
@pytest.mark.parametrize("method", ["cdf", "sf", "ppf", "isf"])
def test_t_and_chi2_equal_scipy_for_every_df(name, method):
    ours, theirs = getattr(dist, name), getattr(stats, name)
    args = Q if method in ("ppf", "isf") else X
    for df in DF:
        assert same(getattr(ours, method)(args, df), getattr(theirs, method)(args, df)), (name, method, df)
    grid_x, grid_df = np.meshgrid(args, np.array(DF))  # broadcasting, as scipy.stats
    assert same(getattr(ours, method)(grid_x, grid_df), getattr(theirs, method)(grid_x, grid_df))


def test_other_names_and_arguments_are_scipy_stats_own():
    assert dist.beta is stats.beta
    assert same(dist.norm.cdf(1.3, loc=1.0, scale=2.0), stats.norm.cdf(1.3, loc=1.0, scale=2.0))
    assert same(dist.t.ppf(0.9, 5, loc=2.0), stats.t.ppf(0.9, 5, loc=2.0))
    assert dist.norm.interval(0.95) == stats.norm.interval(0.95)
