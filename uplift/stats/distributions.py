"""The normal, Student t and chi-squared distributions the readout's tests and intervals use, without
importing ``scipy.stats``.

``from uplift.stats import distributions as st`` reads like ``from scipy import stats as st``:
``st.norm``, ``st.t`` and ``st.chi2`` here compute ``cdf``, ``sf``, ``ppf`` and ``isf`` (and the normal's
``pdf`` and ``logcdf``) with the very functions ``scipy.stats`` calls for them (SciPy 1.17,
``scipy/stats/_continuous_distns.py``) -- ``scipy.special.ndtr``/``ndtri``/``log_ndtr`` (normal),
``stdtr``/``stdtrit`` (t; Student 1908), ``chdtr``/``chdtrc``/``gammaincinv``/``chdtri`` (chi-squared) -- with the same
answers at the edges of the support (rv_continuous: 0 or 1 beyond it, the support's ends for
q = 0 and 1, NaN for q outside [0, 1], a NaN argument or a degrees-of-freedom parameter that is not > 0).
So the numbers are those of ``scipy.stats``, bit for bit (tests/test_distributions.py checks),
while ``scipy.special`` takes a fraction of ``scipy.stats``' import time (which builds every
distribution and parses their docstrings: over a second). Any other name (``st.beta``, a ``loc``
or ``scale`` argument, ``rvs``...) is ``scipy.stats``' own, imported on first use.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import numpy as np

__all__ = ["norm", "t", "chi2"]

_SQRT_2PI = math.sqrt(2 * math.pi)


def _special() -> Any:
    return importlib.import_module("scipy.special")


def _scipy(name: str) -> Any:
    return getattr(importlib.import_module("scipy.stats"), name)


def _out(v: Any) -> Any:
    """As ``scipy.stats`` returns: a NumPy float for scalar arguments, else an array."""
    return np.asarray(v, dtype=float)[()]


class _Distribution:
    """cdf/sf/ppf/isf of a standard distribution (support [a, b], shape parameters ``args``) through the
    rv_continuous rules; ``_cdf``/``_sf``/``_ppf``/``_isf`` are ``scipy.stats``' own formulas."""

    name = ""
    a, b = -math.inf, math.inf
    n_args = 0

    def __getattr__(self, attr: str) -> Any:  # anything else: scipy.stats' distribution of the same name
        return getattr(_scipy(self.name), attr)

    def _call(self, method: str, x: Any, args: tuple, kwargs: dict) -> Any:
        if kwargs or len(args) != self.n_args:  # loc, scale, keywords: scipy.stats itself
            return getattr(_scipy(self.name), method)(x, *args, **kwargs)
        x = np.asarray(x, dtype=float)
        shape = [np.asarray(a, dtype=float) for a in args]
        good = np.ones(np.broadcast_shapes(x.shape, *(s.shape for s in shape)), dtype=bool)
        for s in shape:
            good = good & (s > 0)
        with np.errstate(all="ignore"):
            if method in ("cdf", "sf"):
                inside = (x > self.a) & (x < self.b)
                beyond = np.where(x >= self.b, 1.0, 0.0) if method == "cdf" else np.where(x <= self.a, 1.0, 0.0)
                safe = [np.where(good, s, 1.0) for s in shape]
                value = np.where(inside, getattr(self, f"_{method}")(np.where(inside, x, 0.0), *safe), beyond)
                bad = ~good | np.isnan(x)
            else:  # ppf, isf
                inside = (x > 0) & (x < 1)
                lo, hi = (self.a, self.b) if method == "ppf" else (self.b, self.a)
                ends = np.where(x == 0, lo, np.where(x == 1, hi, np.nan))
                safe = [np.where(good, s, 1.0) for s in shape]
                value = np.where(inside, getattr(self, f"_{method}")(np.where(inside, x, 0.5), *safe), ends)
                bad = ~good | np.isnan(x) | (x < 0) | (x > 1)
        return _out(np.where(bad, np.nan, value))

    def cdf(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        """P(X <= x)."""
        return self._call("cdf", x, args, kwargs)

    def sf(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        """P(X > x) = 1 - cdf(x), computed without the subtraction."""
        return self._call("sf", x, args, kwargs)

    def ppf(self, q: Any, *args: Any, **kwargs: Any) -> Any:
        """The quantile: the x with cdf(x) = q."""
        return self._call("ppf", q, args, kwargs)

    def isf(self, q: Any, *args: Any, **kwargs: Any) -> Any:
        """The upper quantile: the x with sf(x) = q."""
        return self._call("isf", q, args, kwargs)


class _Norm(_Distribution):
    """The standard normal: Phi(x) = ndtr(x), Phi^-1(q) = ndtri(q) (scipy.stats.norm's _norm_cdf/_norm_ppf)."""

    name = "norm"

    def _cdf(self, x: Any) -> Any:
        return _special().ndtr(x)

    def _sf(self, x: Any) -> Any:
        return _special().ndtr(-x)

    def _ppf(self, q: Any) -> Any:
        return _special().ndtri(q)

    def _isf(self, q: Any) -> Any:
        return -_special().ndtri(q)

    def pdf(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        """exp(-x^2 / 2) / sqrt(2 pi) (scipy.stats.norm's _norm_pdf)."""
        if args or kwargs:
            return _scipy("norm").pdf(x, *args, **kwargs)
        x = np.asarray(x, dtype=float)
        return _out(np.exp(-x**2 / 2.0) / _SQRT_2PI)

    def logcdf(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        """log Phi(x) = log_ndtr(x) (scipy.stats.norm's _norm_logcdf)."""
        if args or kwargs:
            return _scipy("norm").logcdf(x, *args, **kwargs)
        x = np.asarray(x, dtype=float)
        return _out(np.where(np.isnan(x), np.nan, _special().log_ndtr(x)))


class _T(_Distribution):
    """Student's t with ``df`` degrees of freedom: stdtr(df, x) and stdtrit(df, q) (scipy.stats.t)."""

    name, n_args = "t", 1

    def _cdf(self, x: Any, df: Any) -> Any:
        return _special().stdtr(df, x)

    def _sf(self, x: Any, df: Any) -> Any:
        return _special().stdtr(df, -x)

    def _ppf(self, q: Any, df: Any) -> Any:
        return _special().stdtrit(df, q)

    def _isf(self, q: Any, df: Any) -> Any:
        return -_special().stdtrit(df, q)


class _Chi2(_Distribution):
    """The chi-squared distribution with ``df`` degrees of freedom on [0, inf): chdtr, chdtrc, 2 gammaincinv(df / 2, q),
    chdtri (scipy.stats.chi2)."""

    name, n_args, a = "chi2", 1, 0.0

    def _cdf(self, x: Any, df: Any) -> Any:
        return _special().chdtr(df, x)

    def _sf(self, x: Any, df: Any) -> Any:
        return _special().chdtrc(df, x)

    def _ppf(self, q: Any, df: Any) -> Any:
        return 2 * _special().gammaincinv(df / 2, q)

    def _isf(self, q: Any, df: Any) -> Any:
        return _special().chdtri(df, q)


norm = _Norm()
t = _T()
chi2 = _Chi2()


def __getattr__(name: str) -> Any:
    """Every other name of ``scipy.stats`` (imported on first use)."""
    if name.startswith("__"):
        raise AttributeError(name)
    return _scipy(name)
