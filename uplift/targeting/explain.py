"""What drives the predicted uplift: permutation importance on held-out customers, and a shallow policy
tree a designer can read.

* **Permutation importance** (Breiman 2001, "Random forests", Machine Learning 45:5, section 10; here
  on the uplift model's held-out Qini coefficient): for each feature column, the drop in the held-out
  Qini coefficient (:func:`uplift.targeting.evaluation.qini_coefficient`) when that column is permuted
  among the held-out customers, averaged over ``repeats`` seeded permutations. A large drop: the
  ranking leans on that column.
* **Policy tree**: a depth-``depth`` classification tree (scikit-learn ``DecisionTreeClassifier``,
  CART; Breiman et al. 1984) of the allocated offer (or none) on the features of the eligible
  customers, printed as if-then rules with each leaf's offer and customers; its agreement with the
  allocation (share of customers whose leaf's offer is the one allocated) says how much of the
  policy the rules capture (Athey & Wager 2021, "Policy learning with observational data",
  Econometrica 89:133, use trees of depth 2-3 for the same readability).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from uplift.targeting.evaluation import qini_coefficient
from uplift.targeting.models import FeatureEncoder
from uplift.text import Msg

__all__ = ["permutation_importance", "PolicyTree", "policy_tree", "explain_list", "IMPORTANCE_SAMPLE_ROWS", "IMPORTANCE_REPEATS",
           "TREE_SAMPLE_ROWS", "IMPORTANCE_BATCH_ROWS"]


IMPORTANCE_BATCH_ROWS = 200_000
"""Rows of permuted copies of ``X`` scored by one call of the model (several permutations per call: the
model's per-call overhead paid once, memory bounded)."""


def permutation_importance(model: Any, X: pd.DataFrame, y: np.ndarray, t: np.ndarray, repeats: int = 5,
                           seed: int = 0, base_score: np.ndarray | None = None) -> list[tuple[str, float]]:
    """(column, mean drop in held-out Qini when it is permuted) for every column of ``X``, largest first.

    ``base_score``: the model's score of ``X`` when already computed. The permutations are drawn column by
    column, ``repeats`` each, from one seeded generator; the permuted copies are stacked and scored
    :data:`IMPORTANCE_BATCH_ROWS` rows at a time (a customer's score depends on its own row alone)."""
    base = qini_coefficient(y, model.predict(X) if base_score is None else base_score, t)
    rng = np.random.default_rng(seed)
    n = len(X)
    jobs = [(c, rng.permutation(n)) for c in X.columns for _ in range(repeats)]
    per_call = max(1, IMPORTANCE_BATCH_ROWS // max(n, 1))
    drops = []
    for start in range(0, len(jobs), per_call):
        copies = []
        for c, perm in jobs[start:start + per_call]:
            Xp = X.copy()
            Xp[c] = Xp[c].to_numpy()[perm]
            copies.append(Xp)
        scores = model.predict(pd.concat(copies, ignore_index=True)) if len(copies) > 1 else model.predict(copies[0])
        drops += [base - qini_coefficient(y, scores[i * n:(i + 1) * n], t) for i in range(len(copies))]
    out = [(str(c), float(np.mean(drops[j * repeats:(j + 1) * repeats]))) for j, c in enumerate(X.columns)]
    return sorted(out, key=lambda kv: -kv[1])


@dataclass(frozen=True)
class PolicyTree:
    """The tree's rules (one line per leaf: conditions -> offer, customers), and its agreement with the allocation."""

    rules: tuple[str, ...]
    agreement: float
    depth: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"rules": list(self.rules), "agreement": self.agreement, "depth": self.depth}


def policy_tree(X: pd.DataFrame, action: Sequence[str], depth: int = 2, seed: int = 0,
                min_leaf: int = 50) -> PolicyTree:
    """Fit the depth-``depth`` tree of ``action`` (each customer's allocated offer or "none") on ``X`` and
    read its leaves as rules (module docstring)."""
    from sklearn.tree import DecisionTreeClassifier

    enc = FeatureEncoder().fit(X)
    Z = enc.transform(X)
    a = np.asarray(action, dtype=object).astype(str)
    if len(np.unique(a)) < 2:
        return PolicyTree((f"everyone -> {a[0] if len(a) else 'none'} ({len(a):,} customers)",), 1.0, 0)
    tree = DecisionTreeClassifier(max_depth=depth, min_samples_leaf=min(min_leaf, max(1, len(a) // 10)),
                                  random_state=seed).fit(Z, a)
    names = enc.feature_names_
    t = tree.tree_
    rules: list[str] = []

    def walk(node: int, conds: list[str]) -> None:
        if t.children_left[node] == -1:
            label = tree.classes_[int(np.argmax(t.value[node][0]))]
            joined = conds[0] if conds else Msg("always")
            for c in conds[1:]:
                joined = Msg("{a} and {b}", a=joined, b=c)
            rules.append(Msg("if {conditions} -> {action} ({n:,} customers)", conditions=joined, action=str(label),
                             n=int(t.n_node_samples[node])))
            return
        f, thr = names[t.feature[node]], float(t.threshold[node])
        if "=" in f and set(np.unique(Z[:, t.feature[node]])) <= {0.0, 1.0}:
            col, val = f.split("=", 1)
            left, right = Msg("{column} is not {value}", column=col, value=val), Msg("{column} is {value}", column=col, value=val)
        else:
            left, right = f"{f} <= {thr:,.4g}", f"{f} > {thr:,.4g}"
        walk(int(t.children_left[node]), [*conds, left])
        walk(int(t.children_right[node]), [*conds, right])

    walk(0, [])
    return PolicyTree(tuple(rules), float((tree.predict(Z) == a).mean()), depth)


IMPORTANCE_SAMPLE_ROWS = 5_000
IMPORTANCE_REPEATS = 3
"""The readout's permutation importance: at most this many held-out customers (a seeded sample), each column
permuted this many times: 3 x (features + 1) predictions of the chosen model, a second or two whatever the
test's size (the ranking of the columns, not the third decimal, is what a reader takes from it)."""

TREE_SAMPLE_ROWS = 50_000
"""The most eligible customers the readout's policy tree is fitted on (a seeded sample beyond that): a
depth-2 tree's splits are settled long before, and the readout stays fast at a million customers."""


def _sample_rows(n: int, most: int, rng: np.random.Generator) -> np.ndarray:
    """All row positions ``0..n-1``, or a sorted seeded sample of ``most`` of them when there are more."""
    rows = np.arange(n)
    return np.sort(rng.choice(rows, most, replace=False)) if n > most else rows


def explain_list(model: Any, held_X: pd.DataFrame, held_y: np.ndarray, held_t: np.ndarray, eligible_X: pd.DataFrame,
                 selected: np.ndarray, offer: str, seed: int = 0, held_score: np.ndarray | None = None) -> dict[str, Any]:
    """The readout's explanations of its next-wave list: :func:`permutation_importance` of the chosen
    uplift model on the held-out customers (a seeded sample of at most :data:`IMPORTANCE_SAMPLE_ROWS`,
    :data:`IMPORTANCE_REPEATS` permutations per column), and the depth-2 :func:`policy_tree` of the list (``offer``
    where ``selected``, else "none") on the eligible customers' features (a seeded sample of at most
    :data:`TREE_SAMPLE_ROWS`). ``held_score``: the model's score of the held-out customers when already
    computed. JSON-ready: results.json ``targeting.explanations``."""
    rng = np.random.default_rng(seed)
    held = _sample_rows(len(held_y), IMPORTANCE_SAMPLE_ROWS, rng)
    importance = permutation_importance(model, held_X.iloc[held].reset_index(drop=True), np.asarray(held_y)[held],
                                        np.asarray(held_t)[held], repeats=IMPORTANCE_REPEATS, seed=seed,
                                        base_score=None if held_score is None else np.asarray(held_score)[held])
    sel = np.asarray(selected, dtype=bool)
    rows = _sample_rows(len(sel), TREE_SAMPLE_ROWS, rng)
    tree = policy_tree(eligible_X.iloc[rows].reset_index(drop=True), np.where(sel[rows], offer, "none"), seed=seed)
    return {"permutation_importance": [{"feature": c, "qini_drop": v} for c, v in importance],
            "policy_tree": {**tree.to_dict(), "customers": int(len(rows))},
            "method": f"permutation importance: mean drop of the held-out Qini coefficient over {IMPORTANCE_REPEATS} "
                      f"seeded permutations of the column, on {len(held):,} held-out customers (Breiman 2001); "
                      "policy tree: depth-2 CART of the list (offer or none) on the eligible customers' features, "
                      "agreement = share whose leaf matches the list"}
