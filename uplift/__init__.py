"""xsell-uplift: A/B experiments and uplift modelling for financial-services cross-selling.

The public API is listed in ``__all__``; ``tests/test_api.py`` pins it, so growing
the API is a decision.
"""

from __future__ import annotations

__version__ = "0.1.0"

from uplift.analysis import Analysis, analyse
from uplift.errors import DataError, SpecError, UserError
from uplift.spec import Spec, load_spec
from uplift.simulate import Simulation, Truth, simulate, simulate_outcomes, simulate_population

__all__ = [
    "__version__",
    "Analysis",
    "analyse",
    "DataError",
    "SpecError",
    "UserError",
    "Spec",
    "load_spec",
    "Simulation",
    "Truth",
    "simulate",
    "simulate_outcomes",
    "simulate_population",
]
