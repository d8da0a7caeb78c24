"""Randomisation health checks: sample-ratio mismatch (SRM) and covariate balance.

SRM (Fabijan et al. 2019, "Diagnosing Sample Ratio Mismatch in Online Controlled
Experiments", KDD; Kohavi, Tang & Xu 2020, ch. 21): Pearson's chi-square goodness of
fit of the observed arm counts o_k against the designed weights w_k,

    e_k = N w_k / sum(w),   chi2 = sum_k (o_k - e_k)^2 / e_k,   df = K - 1,
    p = P(chi2_{K-1} > chi2),

flagged when p < 0.001 (the threshold these references recommend, because SRM checks
run on every experiment and a true SRM is usually large).

Balance (Austin 2009, "Balance diagnostics for comparing the distribution of baseline
covariates between treatment groups in propensity-score matched samples", Stat Med
28:3083-3107, eq. 1): the standardised mean difference of a covariate between an arm
and control,

    SMD = (mean_arm - mean_control) / sqrt((s2_arm + s2_control) / 2),

with sample variances s2 (n - 1 denominator, computed from centred values); a 0/1
covariate uses the same formula. |SMD| > 0.1 is flagged (Austin 2009). A text or
categorical covariate is expanded into one 0/1 indicator per level (``col=level``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from uplift.data.collect import Summary, group_summaries
from uplift.data.hashing import canonical_units
from uplift.data.source import open_source
from uplift.errors import DataError, UserError
from uplift.experiment.exclusions import check_population
from uplift.experiment.ledger import distinct_text
from uplift.spec.record import check_recorded, spec_assignment_config
from uplift.results import jsonable
from uplift.text import Msg, text_table

__all__ = [
    "SRMResult",
    "StratifiedSRM",
    "BalanceResult",
    "CheckResult",
    "sample_ratio_mismatch",
    "srm_by_stratum",
    "covariate_balance",
    "check_ledger",
]


@dataclass(frozen=True)
class SRMResult:
    """Chi-square test of arm counts against designed weights (see module docstring)."""

    observed: Mapping[str, int]
    expected: Mapping[str, float]
    weights: Mapping[str, float]
    chi2: float
    df: int
    p_value: float | None
    threshold: float
    flagged: bool
    stratum: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "p_value": jsonable(self.p_value),
            "chi2": jsonable(self.chi2),
            "df": self.df,
            "observed": {k: int(v) for k, v in self.observed.items()},
            "expected": {k: float(v) for k, v in self.expected.items()},
            "weights": {k: float(v) for k, v in self.weights.items()},
            "threshold": self.threshold,
            "flagged": self.flagged,
            "method": "Pearson chi-square goodness of fit against the designed weights",
        }
        if self.stratum is not None:
            out["stratum"] = self.stratum
        return out

    def summary(self) -> str:
        where = f" in stratum {self.stratum}" if self.stratum else ""
        obs = ", ".join(f"{k} {int(v):,} (expected {self.expected[k]:,.1f})" for k, v in self.observed.items())
        p = "n/a" if self.p_value is None else f"{self.p_value:.4g}"
        verdict = "SAMPLE RATIO MISMATCH" if self.flagged else "ok"
        return f"SRM{where}: {obs}; chi2 = {self.chi2:.3f} (df {self.df}), p = {p} [{verdict} at p < {self.threshold:g}]"


def sample_ratio_mismatch(
    observed: Mapping[str, int], weights: Mapping[str, float], threshold: float = 0.001, stratum: str | None = None
) -> SRMResult:
    """Pearson chi-square test of ``observed`` arm counts against ``weights``.

    ``e_k = N w_k / sum(w)``, ``chi2 = sum (o_k - e_k)^2 / e_k``, df = K - 1; flagged when
    p < ``threshold``. Arms in ``observed`` but not in ``weights`` raise :class:`UserError`.
    With no units at all the p-value is ``None`` and nothing is flagged.
    """
    from uplift.stats import distributions as stats  # scipy.stats' chi2 without importing it

    unknown = [a for a in observed if a not in weights]
    if unknown:
        raise UserError(f"arm(s) {', '.join(map(str, unknown))} are not in the designed weights; check the arm column")
    if any(not (w > 0) for w in weights.values()):
        raise UserError("every designed weight must be above 0")
    if not 0 < threshold < 1:
        raise UserError(f"threshold {threshold} must lie in (0, 1), e.g. 0.001")
    arms = list(weights)
    o = np.array([int(observed.get(a, 0)) for a in arms], dtype=float)
    w = np.array([float(weights[a]) for a in arms])
    n = o.sum()
    e = n * w / w.sum()
    df = len(arms) - 1
    if n == 0:
        return SRMResult(
            observed={a: 0 for a in arms}, expected={a: 0.0 for a in arms}, weights=dict(weights),
            chi2=0.0, df=df, p_value=None, threshold=threshold, flagged=False, stratum=stratum,
        )
    chi2 = float(np.sum((o - e) ** 2 / e))
    p = float(stats.chi2.sf(chi2, df))
    return SRMResult(
        observed={a: int(v) for a, v in zip(arms, o)},
        expected={a: float(v) for a, v in zip(arms, e)},
        weights={a: float(weights[a]) for a in arms},
        chi2=chi2, df=df, p_value=p, threshold=threshold, flagged=p < threshold, stratum=stratum,
    )


@dataclass(frozen=True)
class StratifiedSRM:
    """SRM overall and within each stratum (each stratum flagged at the same threshold)."""

    overall: SRMResult
    strata: tuple[SRMResult, ...]

    @property
    def flagged(self) -> bool:
        return self.overall.flagged or any(s.flagged for s in self.strata)

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.to_dict(),
            "strata": [s.to_dict() for s in self.strata],
            "flagged": self.flagged,
            "flagged_strata": [s.stratum for s in self.strata if s.flagged],
        }

    def summary(self) -> str:
        lines = [self.overall.summary()]
        lines += ["  " + s.summary() for s in self.strata]
        return "\n".join(lines)


def srm_by_stratum(
    frame: pd.DataFrame, arm_column: str, stratum_column: str | None, weights: Mapping[str, float], threshold: float = 0.001
) -> StratifiedSRM:
    """SRM of the whole frame and of each stratum (``stratum_column`` None: overall only)."""
    for c in [arm_column] + ([stratum_column] if stratum_column else []):
        if c not in frame.columns:
            raise DataError(f"no column '{c}' for the SRM check; give a ledger or outcomes with that column")
    arms = frame[arm_column].astype(str)
    overall = sample_ratio_mismatch(arms.value_counts().to_dict(), weights, threshold)
    strata: list[SRMResult] = []
    if stratum_column:
        tab = pd.crosstab(frame[stratum_column].astype(str), arms)
        for s in sorted(tab.index):
            counts = {a: int(tab.loc[s, a]) for a in tab.columns if tab.loc[s, a]}
            strata.append(sample_ratio_mismatch(counts, weights, threshold, stratum=str(s)))
    return StratifiedSRM(overall=overall, strata=tuple(strata))


@dataclass(frozen=True)
class BalanceResult:
    """Standardised mean differences per covariate and arm (vs control); see module docstring."""

    rows: tuple[Mapping[str, Any], ...]
    control: str
    threshold: float

    @property
    def flagged(self) -> bool:
        return any(r["flagged"] for r in self.rows)

    @property
    def flagged_covariates(self) -> list[str]:
        return sorted({r["covariate"] for r in self.rows if r["flagged"]})

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.rows))

    def to_dict(self) -> dict[str, Any]:
        return {
            "control": self.control,
            "threshold": self.threshold,
            "method": "standardised mean difference (mean_arm - mean_control) / sqrt((s2_arm + s2_control)/2), Austin 2009",
            "flagged": self.flagged,
            "rows": jsonable(self.rows),
        }

    def summary(self) -> str:
        head = ("covariate", "arm", "mean control", "mean arm", "SMD", "")
        body = []
        for r in self.rows:
            smd = "n/a" if r["smd"] is None or not math.isfinite(r["smd"]) else f"{r['smd']:+.4f}"
            body.append(
                (r["covariate"], r["arm"], _fmt(r["mean_control"]), _fmt(r["mean_arm"]), smd, "FLAG" if r["flagged"] else "")
            )
        return f"Covariate balance vs {self.control} (|SMD| > {self.threshold:g} flagged)\n" + text_table([head] + body)


def _fmt(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:,.4g}" if abs(x) < 1e6 else f"{x:,.0f}"


def covariate_balance(
    data: Any,
    arm_column: str,
    control: str,
    covariates: Sequence[str],
    threshold: float = 0.1,
) -> BalanceResult:
    """Standardised mean difference of each covariate, each arm vs ``control``.

    ``SMD = (mean_arm - mean_control) / sqrt((s2_arm + s2_control) / 2)`` (Austin 2009,
    eq. 1); flagged when |SMD| > ``threshold``. ``data`` is anything
    :func:`uplift.data.source.open_source` reads; only n, mean and sample variance per arm are
    needed, so they come from the seam (:func:`uplift.data.collect.group_summaries`) wherever the
    rows are. Missing values are left out and counted (``missing_control``/``missing_arm``).
    Text/categorical covariates become one 0/1 indicator per level.
    """
    source = open_source(data)
    columns = source.columns
    if arm_column not in columns:
        raise DataError(f"no arm column '{arm_column}' for the balance check; name the column holding arms")
    missing = [c for c in covariates if c not in columns]
    if missing:
        raise DataError(
            f"balance covariate(s) {', '.join(missing)} not in the data; add the column(s) or remove them from [analysis] covariates"
        )
    summaries = group_summaries(source, arm_column, covariates)
    arms = sorted({a for per in summaries.values() for a in per})
    if covariates and control not in arms:
        raise DataError(f"control arm '{control}' has no units in column '{arm_column}'; check [assignment] control")
    others = [a for a in arms if a != control]
    empty = Summary(0, 0, float("nan"), float("nan"))
    rows = []
    for name, per in summaries.items():
        c = per.get(control, empty)
        for a in others:
            s = per.get(a, empty)
            pooled = math.sqrt((s.var + c.var) / 2) if math.isfinite(s.var) and math.isfinite(c.var) else float("nan")
            if pooled > 0:
                smd: float | None = (s.mean - c.mean) / pooled
                flag = abs(smd) > threshold
            elif pooled == 0:
                smd = 0.0 if s.mean == c.mean else None
                flag = smd is None
            else:
                smd, flag = None, False
            rows.append(
                {
                    "covariate": name, "arm": a, "n_control": c.n, "n_arm": s.n,
                    "missing_control": c.missing, "missing_arm": s.missing,
                    "mean_control": c.mean, "mean_arm": s.mean, "sd_control": math.sqrt(c.var) if c.var >= 0 else float("nan"),
                    "sd_arm": math.sqrt(s.var) if s.var >= 0 else float("nan"), "smd": smd, "flagged": bool(flag),
                }
            )
    return BalanceResult(rows=tuple(rows), control=control, threshold=threshold)


@dataclass(frozen=True)
class CheckResult:
    """Everything ``uplift check`` reports: SRM overall and per stratum, and balance."""

    experiment: str
    srm: StratifiedSRM
    balance: BalanceResult | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def flagged(self) -> bool:
        return self.srm.flagged or bool(self.balance and self.balance.flagged)

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "flagged": self.flagged,
            "srm": self.srm.to_dict(),
            "balance": self.balance.to_dict() if self.balance else None,
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        parts = [f"Checks for experiment '{self.experiment}'", self.srm.summary()]
        if self.balance is not None:
            parts.append(self.balance.summary())
        parts += list(self.notes)
        parts.append("RESULT: " + ("problems flagged (see above)" if self.flagged else "no problems flagged"))
        return "\n".join(parts)


def balance_covariates(spec, population: pd.DataFrame) -> list[str]:
    """Pre-period covariates to check: ``[analysis] covariates``, else the metrics' covariates present."""
    cov = list(spec.analysis.covariates)
    if not cov:
        cov = [m.covariate for m in spec.metrics if m.covariate]
        cov = [c for c in dict.fromkeys(cov) if c in population.columns]
    return cov


def check_ledger(
    spec, ledger: pd.DataFrame, population: pd.DataFrame | None = None, threshold_srm: float = 0.001,
    threshold_smd: float = 0.1, label: str = "ledger",
) -> CheckResult:
    """SRM of a ledger (overall and per stratum) and, with a population, covariate balance.

    A ledger assigned under other settings than the spec's (salt, arms, weights, control,
    stratify, unit; :mod:`uplift.spec.record`) is refused: its arms would not mean the spec's.
    """
    unit = spec.unit
    if len(ledger) and distinct_text(ledger["experiment"]) != [spec.name]:
        got = ", ".join(distinct_text(ledger["experiment"]))
        raise UserError(f"ledger holds experiment {got}, not {spec.name!r}; give this experiment's ledger")
    check_population(ledger, unit, label="ledger")  # every row a unit id, each unit once
    expected = spec_assignment_config(spec)
    if len(ledger) and expected is not None and "assignment_config" in ledger.columns:
        check_recorded(distinct_text(ledger["assignment_config"]), expected, label, spec.name)
    stratified = spec.assignment is not None and bool(spec.assignment.stratify)
    srm = srm_by_stratum(ledger, "arm", "stratum" if stratified else None, spec.arms, threshold_srm)
    balance = None
    notes: list[str] = []
    if population is not None:
        if unit not in population.columns:
            raise DataError(f"population: has no unit column '{unit}'; give the population the ledger was assigned from")
        covs = balance_covariates(spec, population)
        if covs:
            lc, pc = canonical_units(ledger[unit]), canonical_units(population[unit])
            if (lc.dtype.kind in "iu") != (pc.dtype.kind in "iu"):
                lc, pc = lc.astype(str), pc.astype(str)
            pos = pd.Index(pc).get_indexer(lc)
            found = pos >= 0
            if not found.all():
                notes.append(Msg("note: {n:,} ledger unit(s) are not in the population; left out of the balance check",
                                 n=int((~found).sum())))
            frame = population.iloc[pos[found]][covs].reset_index(drop=True)
            frame["arm"] = ledger["arm"].astype(str).to_numpy()[found]
            balance = covariate_balance(frame, "arm", spec.control, covs, threshold_smd)
        else:
            notes.append(Msg("note: no covariates for the balance check; list them in [analysis] covariates"))
    return CheckResult(experiment=spec.name, srm=srm, balance=balance, notes=tuple(notes))
