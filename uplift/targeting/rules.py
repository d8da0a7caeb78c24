"""Next-product discovery: association rules over product holdings, and a propensity model
("who will buy product X") with a gains/lift table.

Association rules (Agrawal, Imielinski & Swami 1993; the measures as in Tan, Kumar &
Srivastava 2002). For products A (the rule's body) and B (its head) over ``n`` units::

    support(A -> B)    = n(A and B) / n
    confidence(A -> B) = n(A and B) / n(A)           share of A holders who hold B
    lift(A -> B)       = confidence / (n(B) / n)     how many times the base rate of B
    leverage(A -> B)   = support - (n(A) / n)(n(B) / n)
    candidates(A -> B) = n(A) - n(A and B)           A holders without B: whom to offer B

E.g. "28.5% of VISA Gold holders hold a mortgage, 10.7 times the base rate" is
confidence 0.285 and lift 10.7 of ``visa_gold -> mortgage``; VISA Gold holders without a
mortgage are its candidates.

Holdings come as a wide table (one 0/1 column ``holds_<product>`` per product, one row
per unit) or a long table of (unit, product) rows (one row per product held).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from uplift.errors import DataError
from uplift.text import chart_label

__all__ = ["RulesResult", "PropensityResult", "holdings_matrix", "association_rules", "rule_candidates", "propensity_model",
           "gains_table"]

_PREFIX = "holds_"


# --------------------------------------------------------------------------- holdings


def holdings_matrix(holdings: pd.DataFrame, unit: str | None = None, product: str | None = None,
                    label: str = "holdings") -> tuple[pd.DataFrame, dict[str, int]]:
    """A units x products 0/1 frame (columns = product names) from a wide or long table.

    Wide: every ``holds_<product>`` column, values 0/1 (or true/false). Long: ``unit`` and
    ``product`` columns (default: the table's two columns when it has exactly two), one
    row per product held; repeated (unit, product) rows count once and are reported in
    the returned counts (``duplicate_rows``). Missing values are an error, never dropped.
    """
    if not isinstance(holdings, pd.DataFrame) or holdings.empty:
        raise DataError(f"{label}: is empty; give a table of product holdings")
    wide_cols = [c for c in holdings.columns if isinstance(c, str) and c.startswith(_PREFIX)]
    info = {"rows": int(len(holdings)), "duplicate_rows": 0}
    if wide_cols and product is None:
        block = holdings[wide_cols]
        n_missing = int(block.isna().sum().sum())
        if n_missing:
            first = block.columns[block.isna().any()][0]
            raise DataError(f"{label}: {n_missing:,} missing values in the holdings columns (first: '{first}'); use 0 for not held")
        for c in wide_cols:
            vals = pd.unique(block[c])
            bad = [v for v in vals if v not in (0, 1, True, False)]
            if bad:
                shown = bad[0].item() if hasattr(bad[0], "item") else bad[0]
                raise DataError(f"{label}: column '{c}' holds {shown!r}; holds_<product> columns must be 0 or 1")
        if unit and unit in holdings.columns:
            ids = holdings[unit]
            if ids.duplicated().any():
                raise DataError(f"{label}: unit column '{unit}' has {int(ids.duplicated().sum()):,} duplicate ids; one row per unit in a wide table")
        mat = block.astype(np.int8)
        mat.columns = [c[len(_PREFIX):] for c in wide_cols]
        return mat.reset_index(drop=True), info
    # long table
    cols = list(holdings.columns)
    if unit is None or product is None:
        if len(cols) == 2 and unit is None and product is None:
            unit, product = cols
        else:
            raise DataError(f"{label}: no holds_<product> columns; for a long table of (unit, product) rows name the columns "
                            "with --unit and --product")
    for c, what in ((unit, "unit"), (product, "product")):
        if c not in holdings.columns:
            raise DataError(f"{label}: has no {what} column '{c}'; columns are {', '.join(map(str, cols[:8]))}")
        n_missing = int(holdings[c].isna().sum())
        if n_missing:
            raise DataError(f"{label}: column '{c}' has {n_missing:,} missing values; fill or remove those rows first")
    pairs = holdings[[unit, product]]
    dup = int(pairs.duplicated().sum())
    info["duplicate_rows"] = dup
    pairs = pairs.drop_duplicates()
    mat = pd.crosstab(pairs[unit], pairs[product].astype(str)).clip(upper=1).astype(np.int8)
    mat.columns = [str(c) for c in mat.columns]
    return mat.reset_index(drop=True), info


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class RulesResult:
    """Association rules between pairs of products. ``rules`` has one row per rule A -> B."""

    n_units: int
    products: tuple[str, ...]
    product_support: dict[str, float]
    rules: pd.DataFrame = field(repr=False)
    min_support: float = 0.0
    input_info: dict[str, int] = field(default_factory=dict)

    def top(self, k: int = 10, by: str = "lift") -> pd.DataFrame:
        """The ``k`` best rules by ``by`` (lift, confidence, support or candidates)."""
        if by not in ("lift", "confidence", "support", "candidates", "leverage"):
            raise DataError(f"rules: cannot sort by {by!r}; use lift, confidence, support, candidates or leverage")
        return self.rules.sort_values([by, "support"], ascending=False, kind="stable").head(k).reset_index(drop=True)

    def to_dict(self, k: int = 20) -> dict[str, Any]:
        """JSON-ready: product base rates and the top ``k`` rules by lift (aggregates only)."""
        return {
            "n_units": self.n_units,
            "min_support": self.min_support,
            "product_support": {p: float(v) for p, v in self.product_support.items()},
            "input": dict(self.input_info),
            "n_rules": int(len(self.rules)),
            "rules": [{k2: (v.item() if hasattr(v, "item") else v) for k2, v in r.items()}
                      for r in self.top(k).to_dict("records")],
        }

    def summary(self, k: int = 10) -> str:
        """The top ``k`` rules by lift as text, each with its candidates."""
        lines = [f"{self.n_units:,} units, {len(self.products)} products, {len(self.rules)} rules with support >= {self.min_support:g}"]
        if self.input_info.get("duplicate_rows"):
            lines.append(f"({self.input_info['duplicate_rows']:,} repeated (unit, product) rows counted once)")
        lines.append(f"{'rule':<36}{'support':>9}{'confidence':>12}{'lift':>7}{'candidates':>12}")
        for r in self.top(k).itertuples():
            lines.append(f"{r.body + ' -> ' + r.head:<36}{r.support:>9.3f}{r.confidence:>12.3f}{r.lift:>7.2f}{r.candidates:>12,}")
        for r in self.top(min(k, 3)).itertuples():
            lines.append(f"{r.confidence:.1%} of {r.body} holders hold {r.head}, {r.lift:.1f} times the base rate "
                         f"({self.product_support[r.head]:.1%}): {r.candidates:,} {r.body} holders without {r.head} are candidates")
        return "\n".join(lines)


def association_rules(holdings: pd.DataFrame, min_support: float = 0.01, unit: str | None = None,
                      product: str | None = None, label: str = "holdings") -> RulesResult:
    """Every pairwise rule A -> B with support >= ``min_support`` (formulas in the module docstring).

    ``holdings`` is a wide ``holds_<product>`` table or a long (unit, product) table; see
    :func:`holdings_matrix`. Rules are sorted by lift, then support.
    """
    if not 0 <= float(min_support) < 1:
        raise DataError(f"rules: min_support={min_support} must lie in [0, 1), e.g. 0.01")
    mat, info = holdings_matrix(holdings, unit=unit, product=product, label=label)
    products = tuple(mat.columns)
    if len(products) < 2:
        raise DataError(f"{label}: only {len(products)} product(s); rules need at least two products")
    H = mat.to_numpy(dtype=np.int64)
    n = H.shape[0]
    both = H.T @ H  # n(A and B); diagonal = n(A)
    n_a = np.diag(both).astype(np.float64)
    rows = []
    for i, a in enumerate(products):
        for j, b in enumerate(products):
            if i == j or n_a[i] == 0:
                continue
            n_ab = int(both[i, j])
            support = n_ab / n
            if support < min_support or n_ab == 0:
                continue
            conf = n_ab / n_a[i]
            base_b = n_a[j] / n
            rows.append(dict(body=a, head=b, n_body=int(n_a[i]), n_head=int(n_a[j]), n_both=n_ab, support=support,
                             confidence=conf, lift=conf / base_b, leverage=support - (n_a[i] / n) * base_b,
                             candidates=int(n_a[i]) - n_ab))
    rules = pd.DataFrame(rows, columns=["body", "head", "n_body", "n_head", "n_both", "support", "confidence", "lift",
                                        "leverage", "candidates"])
    rules = rules.sort_values(["lift", "support"], ascending=False, kind="stable").reset_index(drop=True)
    return RulesResult(n_units=n, products=products, product_support={p: float(n_a[k] / n) for k, p in enumerate(products)},
                       rules=rules, min_support=float(min_support), input_info=info)


def rule_candidates(holdings: pd.DataFrame, body: str, head: str, unit: str) -> pd.Series:
    """Unit ids holding ``body`` but not ``head`` (wide ``holds_<product>`` table)."""
    for p in (body, head):
        if _PREFIX + p not in holdings.columns:
            raise DataError(f"holdings: has no column '{_PREFIX}{p}'; products are " +
                            ", ".join(c[len(_PREFIX):] for c in holdings.columns if str(c).startswith(_PREFIX)))
    mask = (holdings[_PREFIX + body] == 1) & (holdings[_PREFIX + head] == 0)
    return holdings.loc[mask, unit].reset_index(drop=True)


# --------------------------------------------------------------------------- propensity


def gains_table(y: Any, score: Any, bins: int = 10) -> pd.DataFrame:
    """Cumulative gains and lift by score decile (1 = highest scores).

    Per bin: ``n``, ``buyers``, ``rate``, ``lift = rate / base rate``; cumulative:
    ``gain`` = share of all buyers found in bins 1..k, ``cum_lift = gain / (share of units)``.
    Bins are ``numpy.array_split`` of the score-sorted units (sizes differ by at most 1).
    """
    y = np.asarray(y, dtype=np.float64)
    s = np.asarray(score, dtype=np.float64)
    order = np.argsort(-s, kind="stable")
    base = y.mean()
    total = y.sum()
    rows, cum_n, cum_b = [], 0, 0.0
    for k, part in enumerate(np.array_split(y[order], bins), start=1):
        cum_n += len(part)
        cum_b += part.sum()
        rate = part.mean() if len(part) else float("nan")
        rows.append(dict(decile=k, n=len(part), buyers=int(part.sum()), rate=rate, lift=rate / base if base else float("nan"),
                         gain=cum_b / total if total else float("nan"),
                         cum_lift=(cum_b / total) / (cum_n / len(y)) if total else float("nan")))
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class PropensityResult:
    """Propensity model for one product, evaluated on a later window or a random test split."""

    target: str
    model: str
    split: str
    n_train: int
    n_test: int
    base_rate_test: float
    auc: float
    gains: pd.DataFrame = field(repr=False)
    estimator: Any = field(repr=False, default=None)
    features: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "model": self.model, "split": self.split, "n_train": self.n_train,
                "n_test": self.n_test, "base_rate_test": self.base_rate_test, "auc": self.auc,
                "features": list(self.features), "gains": self.gains.to_dict("records")}

    def summary(self) -> str:
        lines = [f"propensity to hold/buy '{self.target}' ({self.model}; {self.split}): test AUC {self.auc:.3f}, "
                 f"base rate {self.base_rate_test:.2%} on {self.n_test:,} test units"]
        lines.append(f"{'decile':>6}{'n':>9}{'rate':>9}{'lift':>7}{'gain':>7}")
        for r in self.gains.itertuples():
            lines.append(f"{r.decile:>6}{r.n:>9,}{r.rate:>9.2%}{r.lift:>7.2f}{r.gain:>7.0%}")
        return "\n".join(lines)

    def plot_gains(self, ax: Any) -> Any:
        """Cumulative gains chart on a matplotlib Axes (model vs random)."""
        x = np.r_[0, self.gains["n"].cumsum() / self.gains["n"].sum()] * 100
        ax.plot(x, np.r_[0, self.gains["gain"]] * 100, marker="o", label=f"model (AUC {self.auc:.2f})")
        ax.plot([0, 100], [0, 100], ls="--", color="black", label="random")
        ax.set_xlabel("customers contacted (%)")
        ax.set_ylabel(chart_label(f"{self.target} buyers found (%)"))
        ax.set_title("Cumulative gains (test data)")
        ax.legend()
        return ax

    def plot_lift(self, ax: Any) -> Any:
        """Lift by decile (bar chart)."""
        ax.bar(self.gains["decile"], self.gains["lift"])
        ax.axhline(1, color="black", lw=0.8)
        ax.set_xlabel("score decile (1 = highest)")
        ax.set_ylabel("lift over base rate")
        return ax


def propensity_model(frame: pd.DataFrame, target: str, features: Sequence[str], model: str = "logistic",
                     time_column: str | None = None, cutoff: Any = None, test_share: float = 0.3,
                     seed: int = 0) -> PropensityResult:
    """Fit "who will buy ``target``" and evaluate it out of sample.

    With ``time_column`` and ``cutoff``: train on rows with ``time < cutoff`` and test on
    ``time >= cutoff`` (an earlier window predicts a later one); otherwise a random
    ``test_share`` split stratified by the target. ``model`` is ``"logistic"``
    (standardised L2 logistic regression) or ``"gbm"`` (histogram gradient boosting).
    AUC is the Mann-Whitney probability that a buyer outscores a non-buyer.
    """
    from sklearn.metrics import roc_auc_score

    from uplift.targeting.models import FeatureEncoder

    if target not in frame.columns:
        raise DataError(f"propensity: no target column '{target}'; name a 0/1 column of the table")
    y = pd.to_numeric(frame[target], errors="coerce")
    if y.isna().any() or not y.isin([0, 1]).all():
        raise DataError(f"propensity: target column '{target}' must hold only 0/1 (bought or not)")
    features = [f for f in features if f != target]
    if not features:
        raise DataError("propensity: no features left; give at least one feature column")
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise DataError(f"propensity: feature column '{missing[0]}' is missing from the table")
    y = y.to_numpy(dtype=int)
    if time_column is not None:
        if time_column not in frame.columns or cutoff is None:
            raise DataError(f"propensity: time split needs column '{time_column}' and a cutoff")
        train = (frame[time_column] < cutoff).to_numpy()
        split = f"trained on {time_column} < {cutoff}, tested on {time_column} >= {cutoff}"
    else:
        from sklearn.model_selection import train_test_split

        idx = np.arange(len(frame))
        tr, _ = train_test_split(idx, test_size=test_share, random_state=seed, stratify=y if 0 < y.sum() < len(y) else None)
        train = np.zeros(len(frame), bool)
        train[tr] = True
        split = f"random {1 - test_share:.0%}/{test_share:.0%} split (seed {seed})"
    test = ~train
    for part, m in (("training", train), ("test", test)):
        if len(np.unique(y[m])) < 2:
            raise DataError(f"propensity: the {part} part has no {'buyers' if y[m].sum() == 0 else 'non-buyers'} of '{target}'; change the split")
    enc = FeatureEncoder().fit(frame.loc[train, features])
    Xtr, Xte = enc.transform(frame.loc[train, features]), enc.transform(frame.loc[test, features])
    if model == "logistic":
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(Xtr)
        est = LogisticRegression(max_iter=1000).fit(scaler.transform(Xtr), y[train])
        score = est.predict_proba(scaler.transform(Xte))[:, 1]
        est = (scaler, est)
    elif model == "gbm":
        from sklearn.ensemble import HistGradientBoostingClassifier

        est = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, random_state=seed).fit(Xtr, y[train])
        score = est.predict_proba(Xte)[:, 1]
    else:
        raise DataError(f"propensity: model {model!r} is unknown; use 'logistic' or 'gbm'")
    yte = y[test]
    return PropensityResult(target=target, model=model, split=split, n_train=int(train.sum()), n_test=int(test.sum()),
                            base_rate_test=float(yte.mean()), auc=float(roc_auc_score(yte, score)),
                            gains=gains_table(yte, score), estimator=est, features=tuple(features))
