"""What a consumer asks of the rows: which columns (and what each is for), which co-moments, which 0/1 checks.

A :class:`Needs` is the whole request a metric, a guardrail, the funnel or the ROI makes of the
data. Requests combine with ``|`` (tea-tasting's ``aggr_cols`` merged across metrics), so the
readout asks every backend ONE question for all of them::

    Needs.of({"revenue_12m": "metric 'revenue'", "revenue_pre_12m": "covariate of 'revenue'"},
             pairs=[("revenue_12m", "revenue_pre_12m")])
    | Needs.of({"converted": "metric 'conversion'"}, binary=["converted"])

The role of a column ("metric 'revenue'", "funnel stage", ...) is only used to name it in an
error message; the first role given for a column wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

__all__ = ["Needs"]


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


@dataclass(frozen=True)
class Needs:
    """Columns (with roles), the column pairs whose co-moments are read, and the 0/1 columns.

    ``pairs`` is ``None`` for "every pair" (a full co-moment matrix); otherwise a set of
    unordered pairs. Co-moments of pairs not asked for are NaN in the returned
    :class:`~uplift.data.moments.Moments`, on every backend.
    """

    roles: tuple[tuple[str, str], ...] = ()
    pairs: frozenset[tuple[str, str]] | None = frozenset()
    binary: tuple[str, ...] = ()

    @classmethod
    def of(cls, columns: Mapping[str, str] | Iterable[str],
           pairs: Iterable[tuple[str, str]] | None = (), binary: Iterable[str] = ()) -> "Needs":
        """Build a request. ``columns`` maps column -> role, or is a list of columns (role "column").
        Binary columns are added to the columns if missing; ``pairs=None`` asks for every pair."""
        if isinstance(columns, Mapping):
            roles = {str(c): str(r) for c, r in columns.items()}
        else:
            roles = {str(c): "column" for c in columns}
        for c in binary:
            roles.setdefault(str(c), "column")
        want = None if pairs is None else frozenset(_pair(str(a), str(b)) for a, b in pairs if a != b)
        return cls(tuple(roles.items()), want, tuple(dict.fromkeys(str(c) for c in binary)))

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns, in the order they were first asked for."""
        return tuple(c for c, _ in self.roles)

    def role(self, column: str) -> str:
        """What ``column`` is for (used in messages)."""
        return dict(self.roles).get(column, "column")

    def wants(self, a: str, b: str) -> bool:
        """True if the co-moment of ``a`` and ``b`` is asked for (a variance always is)."""
        return a == b or self.pairs is None or _pair(a, b) in self.pairs

    def pair_indices(self) -> list[tuple[int, int]]:
        """(i, j), i < j, indices into :attr:`columns` of the pairs asked for."""
        cols = self.columns
        return [(i, j) for i in range(len(cols)) for j in range(i + 1, len(cols)) if self.wants(cols[i], cols[j])]

    def __or__(self, other: "Needs") -> "Needs":
        roles = dict(self.roles)
        for c, r in other.roles:
            roles.setdefault(c, r)
        pairs = None if self.pairs is None or other.pairs is None else self.pairs | other.pairs
        return Needs(tuple(roles.items()), pairs, tuple(dict.fromkeys((*self.binary, *other.binary))))
