"""Next best offer under a budget: which offer, if any, each customer gets.

The allocation is the integer programme (a multiple-choice knapsack with capacity rows)::

    maximise    sum_io v_io x_io
    subject to  sum_o x_io <= 1                  for every customer i   (at most one offer)
                sum_io c_io x_io <= B            (budget, when given)
                sum_i x_io <= K_o                for every offer o with a capacity
                x_io in {0, 1},  x_io = 0 when v_io < m   (minimum expected profit per contact)

with ``v_io`` the expected incremental profit of making offer *o* to customer *i* and ``c_io`` its
expected campaign cost (contact plus expected incentive). It is solved exactly by HiGHS through
:func:`scipy.optimize.milp` (Huangfu & Hall 2018, "Parallelizing the dual revised simplex method",
Math. Prog. Comp. 10:119).

Exact reduction before solving: every constraint row has non-negative coefficients and is an upper
bound, so setting a variable with ``v_io <= 0`` to 0 keeps any solution feasible and never lowers the
objective. Those pairs, the pairs below the minimum profit per contact and the customers left
without a pair are removed; the solver sees only the rest. Without a budget or capacity the optimum
is each customer's best pair (no solver needed).

Shadow prices: the dual values of the budget and capacity rows of the LP relaxation
(:func:`scipy.optimize.linprog`, HiGHS, ``ineqlin.marginals`` with the sign turned for a maximum):
the profit one more unit of budget (currency) or one more contact slot of an offer would add, at the
margin, in the relaxation. They are the relaxation's prices, stated as such: the integer optimum
differs from the relaxation's by at most the value of one customer per binding coupling row.
The minimum profit per contact is a filter on pairs, not a priced row.

Solving: the Lagrangian dual (budget and capacity multipliers) bounds the optimum from above; its
choice, repaired to feasibility, bounds it from below; every pair whose reduced cost exceeds the gap
between the two is fixed (reduced-cost fixing), and a MILP over the rest finishes. When each offer
costs the same for every customer (``c_io = c_o``, as :mod:`uplift.targeting.offers` prices them) that
MILP branches on the k offer counts only (:func:`_count_milp`; exact by total unimodularity).

The efficient frontier (:func:`frontier`) is drawn at a grid of budgets from 0 to what the
unconstrained-budget optimum spends, each point a feasible allocation with the Lagrangian upper bound
of the optimum at that budget.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from typing import Iterator, Mapping, Sequence

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from uplift.errors import DataError
from uplift.text import Msg

__all__ = ["Allocation", "allocate", "frontier", "FRONTIER_POINTS", "OPTIMAL"]

OPTIMAL = Msg("optimal")
"""The solver status of an allocation proved optimal (a catalogued word: the page writes it in its language)."""

FRONTIER_TIME_LIMIT = 3.0
"""Seconds each frontier point's final MILP may take (a point that stops early is the best found, within
its Lagrangian gap)."""

FRONTIER_POINTS = 11
"""Budgets on the efficient frontier: 0%, 10%, ..., 100% of what the unconstrained-budget optimum spends."""


@dataclass(frozen=True)
class Allocation:
    """The optimal allocation: ``offer[i]`` the offer index of customer *i* (-1: none), the total expected
    profit and cost, contacts per offer, the shadow prices of the budget (``"budget"``, profit per
    currency unit) and of each capacity (``"capacity:<offer>"``, profit per contact slot) in the LP
    relaxation, an upper bound of the optimum (the Lagrangian dual), and the pairs the final MILP saw."""

    offer: np.ndarray
    profit: float
    cost: float
    contacts: dict[str, int]
    shadow_prices: dict[str, float] = field(default_factory=dict)
    upper_bound: float = float("nan")
    pairs_solved: int = 0
    pairs_below_minimum: int = 0
    status: str = OPTIMAL


def _reduce(value: np.ndarray, min_profit: float | None) -> tuple[np.ndarray, np.ndarray, int]:
    """(customer index, offer index) of the pairs worth keeping (module docstring), and how many pairs
    with positive value the minimum profit per contact removed."""
    keep = value > 0
    below = 0
    if min_profit is not None:
        below = int((keep & (value < min_profit)).sum())
        keep &= value >= min_profit
    rows, cols = np.nonzero(keep)
    return rows, cols, below


def _rows(rows: np.ndarray, cols: np.ndarray, cost: np.ndarray, budget: float | None,
          capacity: Mapping[int, float]) -> tuple[sparse.csr_matrix, np.ndarray, list[str]]:
    """The constraint matrix of the reduced programme: one row per customer, then budget, then capacities."""
    m = len(rows)
    cust, inv = np.unique(rows, return_inverse=True)
    blocks = [sparse.csr_matrix((np.ones(m), (inv, np.arange(m))), shape=(len(cust), m))]
    ub = [np.ones(len(cust))]
    names: list[str] = []
    if budget is not None:
        blocks.append(sparse.csr_matrix(cost[rows, cols][None, :]))
        ub.append(np.array([budget]))
        names.append("budget")
    for o, cap in capacity.items():
        blocks.append(sparse.csr_matrix((cols == o).astype(float)[None, :]))
        ub.append(np.array([float(cap)]))
        names.append(f"capacity:{o}")
    return sparse.vstack(blocks, format="csr"), np.concatenate(ub), names


def _lagrangian(v: np.ndarray, c: np.ndarray, lam: float, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair ``r_io = v_io - lam c_io - mu_o`` and per customer ``pi_i = max(0, max_o r_io)``."""
    r = v - lam * c if lam else v.copy()
    r -= mu[None, :]
    best = np.maximum(r[:, 0], 0.0)
    for j in range(1, r.shape[1]):  # column by column: faster than a reduction along a short axis
        np.maximum(best, r[:, j], out=best)
    return r, best


def _dual(v: np.ndarray, c: np.ndarray, budget: float | None, cap: Mapping[int, float]) -> tuple[float, np.ndarray, float]:
    """Multipliers (lam, mu) minimising the Lagrangian dual ``L = lam B + sum_o mu_o K_o + sum_i pi_i``
    (convex, piecewise linear in at most 1 + offers variables; Nelder-Mead from a bisection start on
    each multiplier). Any non-negative multipliers give an upper bound ``L``; better ones only make the
    reduction below smaller. Returns (lam, mu, L)."""
    from scipy.optimize import minimize

    k = v.shape[1]
    free = ([0] if budget is not None else []) + [1 + o for o in sorted(cap)]
    K = np.array([budget or 0.0] + [cap.get(o, 0.0) for o in range(k)])
    scale = np.array([max(float((v / np.maximum(c, 1e-12)).max()), 1.0)] + [max(float(v.max()), 1.0)] * k)

    def split(z: np.ndarray) -> tuple[float, np.ndarray]:
        full = np.zeros(1 + k)
        full[free] = np.maximum(z, 0.0) * scale[free]
        return float(full[0]), full[1:]

    vT, cT = np.ascontiguousarray(v.T), np.ascontiguousarray(c.T)  # offers as contiguous rows
    top, work = np.empty(v.shape[0]), np.empty(v.shape[0])

    def L(z: np.ndarray) -> float:  # sum_i pi_i as in _lagrangian, without the (customers x offers) array
        lam, mu = split(z)
        top.fill(0.0)
        for j in range(k):
            np.multiply(cT[j], -lam, out=work)
            np.add(work, vT[j], out=work)
            np.subtract(work, mu[j], out=work)
            np.maximum(top, work, out=top)
        return float(lam * K[0] + mu @ K[1:] + top.sum())

    z = np.zeros(len(free))
    for j in range(len(free)):  # bisection on each multiplier alone: where its subgradient changes sign
        lo, hi = 0.0, 1.0
        for _ in range(30):
            mid = (lo + hi) / 2
            zz = z.copy()
            zz[j] = mid
            if L(zz + np.eye(len(free))[j] * 1e-7) < L(zz):
                lo = mid
            else:
                hi = mid
        z[j] = lo
    res = minimize(L, z, method="Nelder-Mead", bounds=[(0, 1)] * len(free),
                   options={"xatol": 1e-10, "fatol": 1e-9, "maxiter": 400})
    best = res.x if res.fun <= L(z) else z
    lam, mu = split(best)
    return lam, mu, L(best)


def _repair(c: np.ndarray, choice: np.ndarray, r: np.ndarray, budget: float | None,
            cap: Mapping[int, float]) -> np.ndarray:
    """A feasible allocation from the Lagrangian choice: while the budget or a capacity is exceeded, drop
    the chosen pair with the lowest ``r`` among those adding to an exceeded row (a lower bound)."""
    choice = choice.copy()
    idx = np.flatnonzero(choice >= 0)
    spent = float(c[idx, choice[idx]].sum())
    used = {o: int((choice == o).sum()) for o in cap}

    def over_budget() -> bool:
        return budget is not None and spent > budget + 1e-9

    for i in idx[np.argsort(r[idx, choice[idx]], kind="stable")]:
        if not over_budget() and all(used[o] <= cap[o] for o in cap):
            break
        o = int(choice[i])
        if over_budget() or (o in cap and used[o] > cap[o]):
            choice[i] = -1
            spent -= float(c[i, o])
            if o in used:
                used[o] -= 1
    # then fill: customers without an offer, best remaining pair by r first, while it fits
    rest = np.flatnonzero(choice < 0)
    cheapest = float(c.min()) if c.size else 0.0
    for i in rest[np.argsort(-r[rest].max(axis=1), kind="stable")]:
        if budget is not None and cheapest > 0 and spent + cheapest > budget + 1e-9:
            break  # nothing fits any more
        for o in np.argsort(-r[i], kind="stable"):
            if r[i, o] == -np.inf or not np.isfinite(r[i, o]) or r[i, o] < -1e299:
                break
            if (budget is None or spent + c[i, o] <= budget + 1e-9) and (o not in cap or used[o] + 1 <= cap[o]):
                choice[i] = o
                spent += float(c[i, o])
                if o in used:
                    used[o] += 1
                break
    return choice


MIP_GAP = 1e-7
"""HiGHS's relative optimality tolerance for the MILPs (its default, 1e-4, is coarser than a customer)."""

RESTRICTED_CUSTOMERS = 1000
"""Customers left free in the first restricted MILP (those whose runner-up option has the smallest
reduced cost): it finds a near-optimal
allocation whose value shrinks the gap, after which the reduced-cost fixing leaves few pairs."""


@dataclass(frozen=True)
class _Step:
    """A restricted MILP's allocation, value, pairs, whether HiGHS proved it optimal, and its rows."""

    choice: np.ndarray
    profit: float
    pairs: int
    optimal: bool
    A: sparse.csr_matrix
    ub: np.ndarray
    names: list[str]
    objective: np.ndarray

    def shadow_prices(self, offers: Sequence[str]) -> dict[str, float]:
        """Dual values of the budget and capacity rows of this programme's LP relaxation (HiGHS)."""
        lp = linprog(self.objective, A_ub=self.A, b_ub=self.ub, bounds=(0, 1), method="highs")
        if lp.status != 0 or not self.names:
            return {}
        duals = -np.asarray(lp.ineqlin.marginals)[-len(self.names):]
        return {_name(nm, offers): float(d) for nm, d in zip(self.names, duals)}


def _restricted(value: np.ndarray, cost: np.ndarray, reduced: np.ndarray, pi: np.ndarray, delta: float,
                budget: float | None, cap: Mapping[int, float], time_limit: float) -> _Step | None:
    """The programme with every pair of reduced cost above ``delta`` set to 0 and every customer with one
    option left fixed to it (reduced-cost fixing; exact when ``delta`` is at least the gap between the
    Lagrangian upper bound and a feasible value). None when it has no solution."""
    n = len(pi)
    allowed = reduced <= delta
    none_ok = pi <= delta
    free = (allowed.sum(axis=1) + none_ok) > 1
    choice = np.full(n, -1, dtype=np.int64)
    fixed = ~free
    choice[fixed] = np.where(none_ok[fixed], -1, allowed[fixed].argmax(axis=1))
    sel = np.flatnonzero(choice >= 0)
    rest_budget = None if budget is None else budget - float(cost[sel, choice[sel]].sum())
    rest_cap = {o: cap[o] - int((choice == o).sum()) for o in cap}
    if (rest_budget is not None and rest_budget < -1e-9) or any(v < 0 for v in rest_cap.values()):
        return None
    fr, fc = np.nonzero(allowed & free[:, None])
    A, ub, names = _rows(fr, fc, cost, rest_budget, rest_cap)
    objective = -value[fr, fc]
    optimal = True
    if len(fr):
        per_offer = _offer_costs(cost)
        counted = None
        if per_offer is not None and rest_budget is not None:
            counted = _count_milp(fr, fc, objective, per_offer, max(rest_budget, 0.0), rest_cap, time_limit)
        if counted is not None:
            chosen, optimal = counted
        else:
            with _quiet():  # HiGHS may print progress lines to the process's stdout
                res = milp(objective, constraints=LinearConstraint(A, -np.inf, np.maximum(ub, 0.0)),
                           integrality=np.ones(len(fr)), bounds=Bounds(0, 1),
                           options={"mip_rel_gap": MIP_GAP, "time_limit": time_limit})
            if res.x is None:
                return None
            optimal = res.status == 0
            chosen = res.x > 0.5
        choice[fr[chosen]] = fc[chosen]
    sel = np.flatnonzero(choice >= 0)
    return _Step(choice, float(value[sel, choice[sel]].sum()), len(fr), optimal, A, np.maximum(ub, 0.0), names, objective)


def _offer_costs(cost: np.ndarray) -> np.ndarray | None:
    """The cost of each offer when it is the same for every customer (``c_io = c_o``), else None."""
    if not len(cost) or not (cost == cost[:1]).all():
        return None
    return cost[0].copy()


INTEGRAL = 1e-6
"""How far from 0 or 1 a pair's value in the count formulation may be and still count as integral."""


def _count_milp(fr: np.ndarray, fc: np.ndarray, objective: np.ndarray, offer_cost: np.ndarray, budget: float,
                cap: Mapping[int, float], time_limit: float) -> tuple[np.ndarray, bool] | None:
    """The restricted programme when every customer's cost of offer *o* is the same ``c_o``, with integer
    counts ``n_o`` and continuous pairs::

        maximise sum v_io x_io  s.t.  sum_o x_io <= 1,  sum_i x_io <= n_o,  sum_o c_o n_o <= B,
                                      0 <= x_io <= 1,  0 <= n_o <= K_o,  n_o integer.

    Exact: for integer ``n`` the rows in ``x`` are the incidence matrix of a bipartite graph (customers
    against offers), totally unimodular, so every vertex of the polytope with ``n`` fixed is integral
    (Schrijver 2003, Combinatorial Optimization, Thm 19.3 and Cor. 21.2b). Branch and bound then runs on
    the k counts only, instead of on every pair, where a budget row with equal coefficients makes
    branching on pairs exponential. The optimum's ``x`` is checked: if HiGHS returns a non-vertex point,
    the LP with ``n`` fixed is solved by the dual simplex (a vertex); None (use the binary programme) if
    that is still not integral. Returns (chosen pairs, proved optimal)."""
    m, k = len(fr), len(offer_cost)
    cust, inv = np.unique(fr, return_inverse=True)
    x_rows = sparse.vstack([sparse.csr_matrix((np.ones(m), (inv, np.arange(m))), shape=(len(cust), m)),
                            sparse.csr_matrix((np.ones(m), (fc, np.arange(m))), shape=(k, m))], format="csr")
    cheapest = float(offer_cost.min())
    most = np.floor(budget / cheapest + 1e-9) if cheapest > 0 else float(m)
    A = sparse.vstack([sparse.hstack([x_rows, sparse.vstack([sparse.csr_matrix((len(cust), k)), -sparse.eye(k)])]),
                       sparse.hstack([sparse.csr_matrix((1, m)), sparse.csr_matrix(offer_cost[None, :])]),
                       sparse.hstack([sparse.csr_matrix((1, m)), sparse.csr_matrix(np.ones((1, k)))])], format="csr")
    lo = np.full(A.shape[0], -np.inf)
    # the last row, sum_o n_o <= floor(B / min_o c_o), is valid for integer counts and is the budget row
    # itself, rounded, when every offer costs the same (then branch and bound has nothing left to do)
    hi = np.concatenate([np.ones(len(cust)), np.zeros(k), [budget, most]])
    n_hi = np.array([min(float(cap.get(o, np.inf)), float((fc == o).sum())) for o in range(k)])
    c = np.concatenate([objective, np.zeros(k)])
    with _quiet():
        res = milp(c, constraints=LinearConstraint(A, lo, hi), integrality=np.r_[np.zeros(m), np.ones(k)],
                   bounds=Bounds(0, np.r_[np.ones(m), np.maximum(n_hi, 0.0)]),
                   options={"mip_rel_gap": MIP_GAP, "time_limit": time_limit, "presolve": False})
    if res.x is None:  # (HiGHS's MIP presolve can take minutes on this structure and removes little: off)
        return None
    x, n = res.x[:m], np.round(res.x[m:])
    if np.minimum(x, 1 - x).max() > INTEGRAL:
        lp = linprog(objective, A_ub=x_rows, b_ub=np.concatenate([np.ones(len(cust)), n]), bounds=(0, 1), method="highs-ds")
        if lp.status != 0 or np.minimum(lp.x, 1 - lp.x).max() > INTEGRAL:
            return None
        x = lp.x
    return x > 0.5, res.status == 0


def allocate(value: np.ndarray, cost: np.ndarray, offers: Sequence[str], budget: float | None = None,
             capacity: Mapping[str, float] | None = None, min_profit: float | None = None,
             prices: bool = True, time_limit: float = 20.0, exact: bool = True) -> Allocation:
    """Solve the programme of the module docstring. ``value`` and ``cost`` are (customers x offers);
    ``capacity`` maps an offer name to its maximum contacts. ``prices`` also solves the LP relaxation
    of the remaining programme for the shadow prices. ``time_limit`` (seconds) bounds the final MILP;
    when it stops early the status says so and ``upper_bound`` bounds what is missed. ``exact=False``
    stops after the first restricted MILP (the :data:`RESTRICTED_CUSTOMERS` closest to changing option):
    the allocation is feasible and ``upper_bound`` (the Lagrangian dual) bounds its distance to the optimum."""
    value = np.asarray(value, dtype=np.float64)
    cost = np.asarray(cost, dtype=np.float64)
    n, k = value.shape
    if cost.shape != value.shape:
        raise DataError(f"allocation: values {value.shape} and costs {cost.shape} differ in shape")
    if not (np.isfinite(value).all() and np.isfinite(cost).all()) or (cost < 0).any():
        raise DataError("allocation: values and costs must be finite and costs at least 0")
    index = {o: j for j, o in enumerate(offers)}
    cap = {index[o]: float(c) for o, c in (capacity or {}).items()}
    rows, cols, below = _reduce(value, min_profit)
    v = np.full((n, k), -np.inf)
    v[rows, cols] = value[rows, cols]  # pairs removed by the reduction are never chosen
    choice = np.full(n, -1, dtype=np.int64)
    shadow: dict[str, float] = {}
    status, upper, solved, last, proved = OPTIMAL, float("nan"), 0, None, True
    if len(rows) and (budget is not None or cap):
        vv = np.where(np.isfinite(v), v, -1e300)
        lam, mu, upper = _dual(vv, cost, budget, cap)
        r, pi = _lagrangian(vv, cost, lam, mu)
        reduced = pi[:, None] - r  # >= 0; the Lagrangian choice has 0
        start = _repair(cost, np.where(r.max(axis=1) > 0, r.argmax(axis=1), -1), r, budget, cap)
        best, lower = start, float(value[np.flatnonzero(start >= 0), start[start >= 0]].sum())
        second = np.sort(np.partition(np.c_[reduced, pi], 1, axis=1)[:, 1])  # each customer's runner-up option
        delta = float(second[min(n - 1, RESTRICTED_CUSTOMERS)])
        gap = max(upper - lower, 0.0) * (1 + 1e-9) + 1e-9
        for _ in range(2 if exact else 1):  # a restricted MILP; again with every pair within the gap when it could miss the optimum
            step = _restricted(value, cost, reduced, pi, min(delta, gap), budget, cap, time_limit)
            if step is not None and step.profit >= lower:
                best, lower, solved, last = step.choice, step.profit, step.pairs, step
            gap = max(upper - lower, 0.0) * (1 + 1e-9) + 1e-9  # the better feasible value narrows the gap
            # reduced-cost fixing: a solution better than `lower` uses only pairs within `gap` of the bound
            proved = step is not None and step.optimal and delta >= gap
            if proved:
                break
            delta = gap
        choice = best
        if not proved:
            why = (Msg("the final MILP stopped at its time limit ({seconds} s)", seconds=f"{time_limit:g}") if exact else
                   Msg("one restricted MILP over the {n:,} customers closest to changing option", n=RESTRICTED_CUSTOMERS))
            status = Msg("best found within {gap} of the optimum (Lagrangian upper bound): {why}",
                         gap=f"{max(upper - lower, 0.0):,.2f}", why=why)
        if prices and last is not None and solved:
            shadow = last.shadow_prices(offers)
        if prices and not shadow:
            shadow = {**({"budget": lam} if budget is not None else {}),
                      **{f"capacity:{offers[o]}": float(mu[o]) for o in cap}}
    elif len(rows):
        best = np.argmax(v, axis=1)
        ok = np.isfinite(v[np.arange(n), best])
        choice[ok] = best[ok]
    sel = choice >= 0
    picked = np.arange(n)[sel], choice[sel]
    total = float(value[picked].sum())
    return Allocation(
        offer=choice, profit=total, cost=float(cost[picked].sum()),
        contacts={o: int((choice == j).sum()) for j, o in enumerate(offers)}, shadow_prices=shadow,
        upper_bound=upper if np.isfinite(upper) else total, pairs_solved=solved, pairs_below_minimum=below,
        status=status,
    )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Send file descriptor 1 to the null device for the duration (the solver's own prints)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _name(row: str, offers: Sequence[str]) -> str:
    return row if not row.startswith("capacity:") else f"capacity:{offers[int(row.split(':')[1])]}"


def frontier(value: np.ndarray, cost: np.ndarray, offers: Sequence[str], capacity: Mapping[str, float] | None = None,
             min_profit: float | None = None, points: int = FRONTIER_POINTS) -> dict[str, list[float]]:
    """Profit against budget at ``points`` budgets evenly spaced from 0 to what the optimum without a
    budget spends. Each point is :func:`allocate` with ``exact=False``: a feasible allocation from the
    Lagrangian solution and one restricted MILP, with the Lagrangian dual as an upper bound of the
    optimum at that budget (``upper_bound``; the optimum lies between ``profit`` and it, and the
    largest gap is in ``max_gap``). Returns ``{"budget", "profit", "upper_bound", "cost", "contacts",
    "max_gap"}`` (``max_gap`` a one-element list)."""
    top = allocate(value, cost, offers, None, capacity, min_profit, prices=False, time_limit=FRONTIER_TIME_LIMIT)
    budgets = np.linspace(0.0, top.cost, points)
    out: dict[str, list[float]] = {"budget": [], "profit": [], "upper_bound": [], "cost": [], "contacts": []}
    for b in budgets:
        a = top if b >= top.cost else allocate(value, cost, offers, float(b), capacity, min_profit, prices=False,
                                               time_limit=FRONTIER_TIME_LIMIT, exact=False)
        out["budget"].append(float(b))
        out["profit"].append(a.profit)
        out["upper_bound"].append(max(a.upper_bound, a.profit))
        out["cost"].append(a.cost)
        out["contacts"].append(float(sum(a.contacts.values())))
    out["max_gap"] = [float(max(u - p for u, p in zip(out["upper_bound"], out["profit"]))) if points else 0.0]
    return out
