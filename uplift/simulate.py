"""A synthetic bank population and cross-sell campaign with known true effects.

The simulator is the demo's data and the tests' ground truth. It draws

* a **population** of customers (:func:`simulate_population`): id, segment,
  region, age band, tenure with the bank, product holdings (``holds_<product>``
  0/1 columns, 1 to 6 products, correlated through a latent wealth factor),
  heavy-tailed pre-period revenue and balances, and eligibility flags
  (marketing opt-out, complaints in the last 90 days, financial stress,
  already holds the target product, days since last contact);
* **outcomes** for customers given their arms (:func:`simulate_outcomes`): the
  funnel seen -> accepted -> opened -> used -> retained (each stage implies the
  one before), conversion to the target product, 12-month revenue and margin,
  cannibalised margin, cost to serve, complaints, and post-campaign monthly
  tenure with churn and right-censoring at the data cut; and the timing of the
  conversion (``days_to_conversion``, ``days_observed``, ``days_to_closure``: a
  mortgage completes 74 days after the offer on average, 58 under the offer; see
  :func:`true_conversion_by_day`), drawn from a stream of its own, as are the days to each funnel stage
  (``days_to_seen`` ... ``days_to_retained``); ``sold_not_used`` (converted, product never used) is
  the unsuitable-sale signal of the Consumer Duty panel, from the columns above (no draws of its own);
* the **truth** (:class:`Truth`): the true average effect per metric and arm
  (the mean over the simulated customers of each customer's expected outcome
  under the arm minus under control, i.e. the conditional average treatment
  effect) and per-customer true effects as ``true_*`` columns of the outcomes;
  ``conversion_by_day`` the true share converted by 30, 60, 90, 180 and 365 days per arm.

Model (per customer *i*, offer intensity *s* of the arm, 0 for control)::

    logit p0_i  = -4.15 + 0.30 w_i + 0.22 (products_i - 1) + age terms
    tau_i       = s * (0.60 + segment_i + 0.10 (products_i - 2))   (log-odds)
                  s * -0.55 for mass-segment customers aged 60+ with one product,
                  and for customers in complaint or financial stress ("sleeping dogs")
    p_i(arm)    = sigmoid(logit p0_i + tau_i)
    converted   ~ Bernoulli(p_i(arm))
    revenue_12m = revenue_pre_12m * g_i + converted * product_revenue_i
    monthly churn hazard q_i = 0.028 exp(-0.42 (products_i + converted - 1)) h_i,  h_i ~ Gamma(2, 1/2)

where ``w_i`` is the standardised log balance. Churn falls as products held rise
(a customer with 4+ products rarely leaves), so conversion raises retention.
Customers enter in 12 monthly waves; the data cut is 24 months after the first,
so tenure is right-censored at 13 to 24 months.

Everything is deterministic given the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from uplift.results import to_json
from uplift.data.files import json_writer, parquet_writer
from uplift.data.writes import commit_files
from uplift.data.hashing import assign_by_weights

__all__ = [
    "PRODUCTS",
    "SEGMENTS",
    "Truth",
    "Simulation",
    "simulate_population",
    "simulate_outcomes",
    "simulate",
    "true_clv",
    "true_conversion_by_day",
    "TRUTH_DAYS",
    "output_paths",
    "write_outputs",
]

PRODUCTS: tuple[str, ...] = (
    "checking", "savings", "credit_card", "visa_gold", "mortgage", "insurance", "investment_fund",
)
SEGMENTS: tuple[str, ...] = ("mass", "affluent", "private", "small_business")
REGIONS: tuple[str, ...] = ("north", "south", "east", "west", "central", "capital")
AGE_BANDS: tuple[str, ...] = ("18-29", "30-44", "45-59", "60+")
FUNNEL: tuple[str, ...] = ("seen", "accepted", "opened", "used", "retained")

_SEGMENT_SHARE = np.array([0.68, 0.22, 0.05, 0.05])
_SEGMENT_WEALTH = np.array([-0.45, 0.55, 1.6, 0.35])
_SEGMENT_PRODUCT_P = np.array([0.22, 0.42, 0.62, 0.34])  # products = 1 + Binomial(5, p)
_SEGMENT_UPLIFT = np.array([0.0, 0.25, 0.10, -0.20])
_AGE_SHARE = np.array([0.20, 0.30, 0.28, 0.22])
_AGE_LOGIT = np.array([-0.10, 0.20, 0.05, -0.30])
# log-weights for which additional products a customer holds, plus a wealth loading
_PRODUCT_LOGW = np.array([np.nan, 0.9, 0.7, -0.2, -0.3, 0.0, -0.9])
_PRODUCT_WEALTH = np.array([0.0, 0.1, 0.2, 1.2, 1.1, 0.3, 1.3])
_WAVES = 12
_DATA_CUT_MONTHS = 24


@dataclass(frozen=True)
class Truth:
    """The known truth of a simulation.

    ``ate[arm][metric]`` is the mean over the simulated customers of the expected
    outcome under ``arm`` minus under ``control``; ``means[arm][metric]`` the mean
    expected outcome under each arm (including control).
    """

    seed: int
    customers: int
    control: str
    arms: Mapping[str, float]
    intensity: Mapping[str, float]
    target_product: str
    means: Mapping[str, Mapping[str, float]]
    ate: Mapping[str, Mapping[str, float]]
    clv: Mapping[str, object] = field(default_factory=dict)
    conversion_by_day: Mapping[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-ready dict (what ``truth.json`` holds)."""
        return {
            "seed": self.seed,
            "customers": self.customers,
            "control": self.control,
            "arms": dict(self.arms),
            "intensity": dict(self.intensity),
            "target_product": self.target_product,
            "definition": "ate = mean over simulated customers of E[outcome | arm] - E[outcome | control]",
            "means": {a: dict(m) for a, m in self.means.items()},
            "ate": {a: dict(m) for a, m in self.ate.items()},
            "clv": dict(self.clv),
            "conversion_by_day": dict(self.conversion_by_day),
        }


@dataclass(frozen=True)
class Simulation:
    """A population, its outcomes (with ``arm`` and ``true_*`` columns) and the truth."""

    population: pd.DataFrame
    outcomes: pd.DataFrame
    truth: Truth

    def write(self, out: str | Path) -> dict[str, Path]:
        """Write population.parquet, outcomes.parquet and truth.json into ``out``, all three or none."""
        return write_outputs(out, population=self.population, outcomes=self.outcomes, truth=self.truth.to_dict())


def output_paths(out: str | Path) -> dict[str, Path]:
    """The files a simulation writes into the folder ``out``."""
    out = Path(out)
    return {"population": out / "population.parquet", "outcomes": out / "outcomes.parquet", "truth": out / "truth.json"}


def write_outputs(out: str | Path, **items: pd.DataFrame | dict) -> dict[str, Path]:
    """Write the given items of :func:`output_paths` (frames as Parquet, the truth as JSON) as one unit."""
    paths = {k: output_paths(out)[k] for k in items}
    commit_files([(paths[k], parquet_writer(v) if isinstance(v, pd.DataFrame) else json_writer(v))
                  for k, v in items.items()])
    return paths


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def simulate_population(customers: int, seed: int = 0, target_product: str = "mortgage") -> pd.DataFrame:
    """Draw ``customers`` bank customers. Deterministic given ``seed``.

    Columns: customer_id, segment, region, age_band, bank_tenure_months,
    holds_<product> for each of :data:`PRODUCTS`, products_held (their sum, 1..6),
    revenue_pre_12m, balance, marketing_opt_out, complaints_90d,
    financial_stress, days_since_last_contact.
    """
    if customers < 1:
        raise ValueError("customers must be at least 1")
    if target_product not in PRODUCTS:
        raise ValueError(f"target_product must be one of {', '.join(PRODUCTS)}")
    n = int(customers)
    rng = np.random.default_rng([seed, 1])
    seg = rng.choice(len(SEGMENTS), size=n, p=_SEGMENT_SHARE)
    age = rng.choice(len(AGE_BANDS), size=n, p=_AGE_SHARE)
    region = rng.integers(0, len(REGIONS), size=n)
    wealth = _SEGMENT_WEALTH[seg] + 0.25 * (age - 1.5) + rng.standard_normal(n)

    n_products = 1 + rng.binomial(5, _SEGMENT_PRODUCT_P[seg])  # 1..6
    # Which products beyond checking: Gumbel top-k over six candidates, weights tilted by wealth.
    keys = _PRODUCT_LOGW[1:] + np.outer(wealth, _PRODUCT_WEALTH[1:]) + rng.gumbel(size=(n, len(PRODUCTS) - 1))
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)  # 0 = most likely
    extra = rank < (n_products - 1)[:, None]
    holds = np.column_stack([np.ones(n, dtype=np.int8), extra.astype(np.int8)])

    revenue_pre = np.exp(4.9 + 0.55 * wealth + 0.30 * (n_products - 1) + 0.8 * rng.standard_normal(n))
    balance = np.exp(8.3 + 1.1 * wealth + 1.2 * rng.standard_normal(n))
    tenure = np.minimum(1 + rng.gamma(2.0, 40.0, size=n), 480).astype(np.int32)
    opt_out = rng.random(n) < 0.06
    complaints = rng.poisson(0.03, size=n)
    stress = rng.random(n) < _sigmoid(-3.3 - 0.5 * wealth)
    recent = rng.random(n) < 0.15
    days_contact = np.where(recent, rng.integers(0, 30, size=n), rng.integers(30, 400, size=n))

    frame = {
        "customer_id": np.arange(10_000_001, 10_000_001 + n, dtype=np.int64),
        "segment": pd.Categorical.from_codes(seg, SEGMENTS),
        "region": pd.Categorical.from_codes(region, REGIONS),
        "age_band": pd.Categorical.from_codes(age, AGE_BANDS),
        "bank_tenure_months": tenure,
    }
    for j, product in enumerate(PRODUCTS):
        frame[f"holds_{product}"] = holds[:, j]
    frame.update(
        products_held=holds.sum(axis=1).astype(np.int8),
        revenue_pre_12m=np.round(revenue_pre, 2),
        balance=np.round(balance, 2),
        marketing_opt_out=opt_out.astype(np.int8),
        complaints_90d=complaints.astype(np.int16),
        financial_stress=stress.astype(np.int8),
        days_since_last_contact=days_contact.astype(np.int16),
    )
    df = pd.DataFrame(frame)
    df.attrs["target_product"] = target_product
    return df


def _expected(pop: pd.DataFrame, intensity: float) -> dict[str, np.ndarray]:
    """Per-customer expected outcomes under an arm of the given intensity (0 = control)."""
    seg = pop["segment"].cat.codes.to_numpy()
    age = pop["age_band"].cat.codes.to_numpy()
    products = pop["products_held"].to_numpy().astype(float)
    w = (np.log(pop["balance"].to_numpy()) - 9.0) / 1.6
    logit0 = -4.15 + 0.30 * w + 0.22 * (products - 1) + _AGE_LOGIT[age]
    tau = intensity * (0.60 + _SEGMENT_UPLIFT[seg] + 0.10 * (products - 2))
    sleeping = ((seg == 0) & (age == 3) & (products == 1)) | (pop["complaints_90d"].to_numpy() > 0) | (
        pop["financial_stress"].to_numpy() > 0
    )
    tau = np.where(sleeping, -0.55 * intensity, tau)
    p = _sigmoid(logit0 + tau)
    treated = intensity > 0
    r_seen = 0.55 if treated else 0.08
    use_rate = 0.80 + 0.05 * (products >= 3)
    product_revenue = np.exp(6.4 + 0.35 * w + 0.5**2 / 2)  # E[revenue of the new product | converted]
    growth = np.exp(0.02 + 0.25**2 / 2)
    rev_pre = pop["revenue_pre_12m"].to_numpy()
    base_margin = 0.30 * rev_pre * growth
    product_margin = 0.45 * product_revenue
    cannibalised = 0.20 * product_margin * (0.5 + pop["holds_savings"].to_numpy())
    service0 = 20.0 + 4.0 * products
    service1 = service0 + 60.0
    complaint = 0.008 + 0.001 * treated + np.where(sleeping & treated, 0.01, 0.0)
    return {
        "p": p,
        "converted": p,
        "seen": p + (1 - p) * r_seen,
        "accepted": p + (1 - p) * r_seen * 0.2,
        "opened": p,
        "used": p * use_rate,
        "retained": p * use_rate * 0.85,
        "revenue_12m": rev_pre * growth + p * product_revenue,
        "margin_12m": base_margin + p * product_margin,
        "cannibalised_margin_12m": p * cannibalised,
        "service_cost_12m": service0 + p * (service1 - service0),
        "net_margin_12m": base_margin + p * (product_margin - cannibalised) - (service0 + p * (service1 - service0)),
        "complaint": complaint,
        # pieces for the CLV truth
        "net_monthly_if_converted": (base_margin + product_margin - cannibalised - service1) / 12.0,
        "net_monthly_if_not": (base_margin - service0) / 12.0,
    }


_METRICS = (
    "converted", "seen", "accepted", "opened", "used", "retained", "revenue_12m", "margin_12m",
    "cannibalised_margin_12m", "service_cost_12m", "net_margin_12m", "complaint",
)


def simulate_outcomes(
    population: pd.DataFrame,
    arms: pd.Series | np.ndarray,
    seed: int = 0,
    intensity: Mapping[str, float] | None = None,
    control: str = "control",
) -> tuple[pd.DataFrame, Truth]:
    """Draw campaign outcomes for ``population`` given each customer's arm.

    ``intensity`` maps arm -> offer strength (control is 0; other arms default to 1.0).
    Returns the outcomes frame (customer_id, arm, funnel stages, converted, revenue,
    margins, costs, complaint, tenure_months, churned, monthly_margin and ``true_*``
    columns) and the :class:`Truth` over these customers.
    """
    arm_values = np.asarray(arms, dtype=object)
    if len(arm_values) != len(population):
        raise ValueError("arms must have one entry per customer")
    arm_names = list(dict.fromkeys(sorted(map(str, set(arm_values)))))
    if control not in arm_names:
        raise ValueError(f"control arm {control!r} has no customers")
    strength = {a: (0.0 if a == control else 1.0) for a in arm_names}
    strength.update({k: float(v) for k, v in (intensity or {}).items() if k in strength})
    strength[control] = 0.0

    n = len(population)
    rng = np.random.default_rng([seed, 2])
    expected = {a: _expected(population, strength[a]) for a in arm_names}
    own = {k: np.empty(n) for k in ("p", "r_seen")}
    for a in arm_names:
        mask = arm_values == a
        own["p"][mask] = expected[a]["p"][mask]
        own["r_seen"][mask] = 0.55 if strength[a] > 0 else 0.08
    products = population["products_held"].to_numpy().astype(float)
    w = (np.log(population["balance"].to_numpy()) - 9.0) / 1.6
    treated = np.array([strength[a] > 0 for a in arm_values], dtype=bool) if n else np.zeros(0, bool)

    converted = rng.random(n) < own["p"]
    u_seen = rng.random(n) < own["r_seen"]
    accepted = converted | (u_seen & (rng.random(n) < 0.2))
    seen = converted | u_seen
    used = converted & (rng.random(n) < 0.80 + 0.05 * (products >= 3))
    retained = used & (rng.random(n) < 0.85)

    growth = np.exp(rng.normal(0.02, 0.25, size=n))
    product_revenue = np.exp(6.4 + 0.35 * w + 0.5 * rng.standard_normal(n))
    rev_pre = population["revenue_pre_12m"].to_numpy()
    revenue = rev_pre * growth + converted * product_revenue
    base_margin = 0.30 * rev_pre * growth
    product_margin = 0.45 * product_revenue
    margin = base_margin + converted * product_margin
    cannibalised = converted * 0.20 * product_margin * (0.5 + population["holds_savings"].to_numpy())
    service = 20.0 + 4.0 * products + converted * 60.0
    seg = population["segment"].cat.codes.to_numpy()
    age = population["age_band"].cat.codes.to_numpy()
    sleeping = ((seg == 0) & (age == 3) & (products == 1)) | (population["complaints_90d"].to_numpy() > 0) | (
        population["financial_stress"].to_numpy() > 0
    )
    complaint = rng.random(n) < 0.008 + 0.001 * treated + np.where(sleeping & treated, 0.01, 0.0)

    frailty = rng.gamma(2.0, 0.5, size=n)
    q0 = np.minimum(0.028 * np.exp(-0.42 * (products - 1)) * frailty, 0.95)
    q1 = np.minimum(0.028 * np.exp(-0.42 * products) * frailty, 0.95)
    q = np.where(converted, q1, q0)
    lifetime = rng.geometric(q)  # months until churn, >= 1
    wave = rng.integers(0, _WAVES, size=n)
    observed = _DATA_CUT_MONTHS - wave
    churned = lifetime <= observed
    tenure = np.where(churned, lifetime, observed)

    out = pd.DataFrame(
        {
            "customer_id": population["customer_id"].to_numpy(),
            "arm": pd.Categorical(arm_values.astype(str), categories=arm_names),
            "seen": seen.astype(np.int8),
            "accepted": accepted.astype(np.int8),
            "opened": converted.astype(np.int8),
            "used": used.astype(np.int8),
            "retained": retained.astype(np.int8),
            "converted": converted.astype(np.int8),
            "revenue_12m": np.round(revenue, 2),
            "margin_12m": np.round(margin, 2),
            "cannibalised_margin_12m": np.round(cannibalised, 2),
            "service_cost_12m": np.round(service, 2),
            "complaint": complaint.astype(np.int8),
            "tenure_months": tenure.astype(np.int16),
            "churned": churned.astype(np.int8),
            "monthly_margin": np.round((margin - cannibalised - service) / 12.0, 4),
            "revenue_pre_12m": rev_pre,
            "products_held": population["products_held"].to_numpy(),
            "segment": population["segment"].to_numpy(),
        }
    )
    days, observed_days, closure = _conversion_days(converted, lifetime, churned, observed,
                                                    np.array([strength[a] for a in arm_values]) if n else np.zeros(0), seed)
    out["days_to_conversion"] = days
    out["days_observed"] = observed_days
    out["days_to_closure"] = closure
    out = out.assign(**_stage_days(out, seed))
    out["sold_not_used"] = (converted & ~used).astype(np.int8)  # an unsuitable-sale signal: sold, never used
    out["true_p_control"] = expected[control]["p"]
    for a in arm_names:
        if a == control:
            continue
        out[f"true_p_{a}"] = expected[a]["p"]
        out[f"true_uplift_{a}"] = expected[a]["p"] - expected[control]["p"]
        out[f"true_revenue_uplift_{a}"] = expected[a]["revenue_12m"] - expected[control]["revenue_12m"]
        out[f"true_net_margin_uplift_{a}"] = expected[a]["net_margin_12m"] - expected[control]["net_margin_12m"]
    out["true_churn_q_if_converted"] = q1
    out["true_churn_q_if_not"] = q0
    out["true_net_monthly_if_converted"] = expected[control]["net_monthly_if_converted"]
    out["true_net_monthly_if_not"] = expected[control]["net_monthly_if_not"]

    means = {a: {m: float(np.mean(expected[a][m])) if n else float("nan") for m in _METRICS} for a in arm_names}
    ate = {
        a: {m: means[a][m] - means[control][m] for m in _METRICS} for a in arm_names if a != control
    }
    truth = Truth(
        seed=seed,
        customers=n,
        control=control,
        arms={a: float(np.mean(arm_values == a)) for a in arm_names},
        intensity=strength,
        target_product=str(population.attrs.get("target_product", "mortgage")),
        means=means,
        ate=ate,
    )
    clv = true_clv(out, control=control, arms=arm_names)
    by_day = true_conversion_by_day({a: expected[a]["p"] for a in arm_names}, strength, control)
    truth = Truth(**{**truth.__dict__, "clv": clv, "conversion_by_day": by_day})
    return out, truth


_LAG_SHIFT, _LAG_SHAPE, _LAG_SCALE, _LAG_SPEEDUP = 10, 4.0, 16.0, 0.33
_DAYS_PER_MONTH = 30
TRUTH_DAYS: tuple[int, ...] = (30, 60, 90, 180, 365)
"""The days at which the truth gives the share converted per arm (``Truth.conversion_by_day``)."""


def _lag_scale(strength: np.ndarray | float) -> np.ndarray:
    """The Gamma scale of the days to conversion: 16 under control, 16 / (1 + 0.33 s) under an offer of
    strength s (the offer speeds the application up: mean lag 74 days under control, 58 under s = 1)."""
    return _LAG_SCALE / (1.0 + _LAG_SPEEDUP * np.asarray(strength, dtype=float))


def _conversion_days(converted: np.ndarray, lifetime: np.ndarray, churned: np.ndarray, observed_months: np.ndarray,
                     strength: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Days to conversion, days observed and days to closing the relationship, from their own random stream
    (so the other outcome columns do not change).

    days_to_conversion = floor(10 + G), G ~ Gamma(4, scale(s)), at most 364 (a mortgage is completed
    10 + 4 x 16 = 74 days after the offer on average; the offer's customers 58), empty when not converted;
    days_observed = 30 x months from the customer's wave to the data cut (390 to 720 days);
    days_to_closure = 30 x churn month - U{0..29}, for customers who churned without converting
    (a competing event: it ends the chance to convert), empty otherwise."""
    rng = np.random.default_rng([seed, 5])
    n = len(converted)
    lag = np.minimum(np.floor(_LAG_SHIFT + rng.gamma(_LAG_SHAPE, _lag_scale(strength), size=n)), 364)
    days = np.where(converted, lag, np.nan)
    observed_days = (observed_months * _DAYS_PER_MONTH).astype(np.int32)
    closing = lifetime * _DAYS_PER_MONTH - rng.integers(0, _DAYS_PER_MONTH, size=n)
    closure = np.where(churned & ~converted, closing, np.nan)
    return days, observed_days, closure


def _stage_days(out: pd.DataFrame, seed: int) -> dict[str, np.ndarray]:
    """``days_to_<stage>`` for the funnel, from a stream of their own (earlier columns keep their values):
    seen U{0..3}, accepted seen + U{0..6}, opened = days_to_conversion, used opened + floor(Gamma(2, 10)),
    retained used + 90 (still using 3 months on); at most days_observed, empty where the stage is not reached."""
    rng = np.random.default_rng([seed, 6])
    n, cap, opened = len(out), out["days_observed"].to_numpy(float), out["days_to_conversion"].to_numpy(float)
    seen = rng.integers(0, 4, n).astype(float)
    used = opened + np.floor(rng.gamma(2.0, 10.0, n))
    days = {"seen": seen, "accepted": seen + rng.integers(0, 7, n), "opened": opened, "used": used, "retained": used + 90}
    return {f"days_to_{k}": np.where(out[k].to_numpy() == 1, np.minimum(v, cap), np.nan) for k, v in days.items()}


def true_conversion_by_day(p: Mapping[str, np.ndarray], strength: Mapping[str, float], control: str,
                           days: tuple[int, ...] = TRUTH_DAYS) -> dict:
    """The true share converted by each day per arm: mean_i p_i(arm) P(lag_arm <= day), with
    P(floor(10 + G) <= d) = P(G < d - 9) = GammaCDF(d - 9; 4, scale(s)) (days below 365, where the cap
    at 364 does not bind), and its difference from control. Closing the relationship only happens to
    customers who do not convert, so it does not change this share."""
    from scipy import stats

    def share(a: str, d: int) -> float:
        if not len(p[a]):
            return float("nan")
        cdf = stats.gamma.cdf(d - (_LAG_SHIFT - 1), _LAG_SHAPE, scale=float(_lag_scale(strength[a])))
        return float(np.mean(p[a]) * (cdf if d < 365 else 1.0))

    means = {a: {str(d): share(a, d) for d in days} for a in p}
    return {
        "definition": "mean over customers of P(converted within d days of their start | arm)",
        "days": list(days),
        "means": means,
        "ate": {a: {k: means[a][k] - means[control][k] for k in means[a]} for a in means if a != control},
    }


def true_clv(
    outcomes: pd.DataFrame,
    control: str = "control",
    arms: list[str] | None = None,
    horizon_periods: int = 60,
    annual_discount_rate: float = 0.08,
    periods_per_year: int = 12,
    margin_timing: str = "end",
) -> dict:
    """The true expected CLV per customer under each arm, from the simulation's latent parameters.

    CLV_i(arm) = sum_t E[m_i 1{T_i > t}] / (1 + d)^t, summed over t = 1..H ("end" timing:
    the margin of period t arrives at its end, if the customer is still there) or over
    t = 0..H-1 ("start" timing: paid in advance), with the period rate
    d = (1 + annual)^(1/periods_per_year) - 1 (Fader & Hardie 2007: E[CLV] = sum_t m S(t) / (1+d)^t).
    A customer with geometric lifetime T ~ Geom(q) has S(t) = P(T > t) = (1 - q)^t; conversion
    is random, so E[.] = p_i m1_i (1 - q1_i)^t + (1 - p_i) m0_i (1 - q0_i)^t.
    """
    arms = arms or sorted(
        c[len("true_p_"):] for c in outcomes.columns if c.startswith("true_p_")
    )
    d = (1 + annual_discount_rate) ** (1 / periods_per_year) - 1

    def annuity(q: np.ndarray) -> np.ndarray:
        # sum_{t=t0}^{t0+H-1} r^t with r = (1-q)/(1+d); t0 = 1 ("end") or 0 ("start")
        r = (1 - q) / (1 + d)
        first = r if margin_timing == "end" else np.ones_like(r)
        return first * np.where(np.isclose(r, 1.0), float(horizon_periods), (1 - r**horizon_periods) / (1 - r))

    a1 = annuity(outcomes["true_churn_q_if_converted"].to_numpy())
    a0 = annuity(outcomes["true_churn_q_if_not"].to_numpy())
    m1 = outcomes["true_net_monthly_if_converted"].to_numpy()
    m0 = outcomes["true_net_monthly_if_not"].to_numpy()
    per_arm = {}
    for a in arms:
        col = f"true_p_{a}"
        if col not in outcomes:
            continue
        p = outcomes[col].to_numpy()
        per_arm[a] = float(np.mean(p * m1 * a1 + (1 - p) * m0 * a0))
    return {
        "definition": "mean over customers of sum_t E[net monthly margin x 1{still a customer after t}] / (1+d)^t",
        "horizon_periods": horizon_periods,
        "annual_discount_rate": annual_discount_rate,
        "periods_per_year": periods_per_year,
        "margin_timing": margin_timing,
        "clv": per_arm,
        "incremental": {a: per_arm[a] - per_arm[control] for a in per_arm if a != control},
    }


def simulate(
    customers: int,
    seed: int = 0,
    arms: Mapping[str, float] | None = None,
    control: str = "control",
    salt: str | None = None,
    intensity: Mapping[str, float] | None = None,
    target_product: str = "mortgage",
) -> Simulation:
    """Population plus outcomes for everyone, arms assigned by salted SHA-256 hash.

    ``arms`` maps arm -> weight (default control 0.5 / offer 0.5); ``salt`` defaults
    to ``"simulate-<seed>"``.
    """
    arms = dict(arms or {control: 0.5, "offer": 0.5})
    pop = simulate_population(customers, seed=seed, target_product=target_product)
    arm = assign_by_weights(pop["customer_id"], salt or f"simulate-{seed}", arms)
    outcomes, truth = simulate_outcomes(pop, arm, seed=seed, intensity=intensity, control=control)
    return Simulation(population=pop, outcomes=outcomes, truth=truth)


def truth_json(truth: Truth) -> str:
    """The truth as pretty JSON text."""
    return to_json(truth.to_dict())
