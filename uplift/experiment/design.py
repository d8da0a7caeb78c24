"""Power, sample size, minimum detectable effect (MDE) and duration of a campaign test.

The test planned for is the two-sample z-test (Wald) of the difference in means
between an offer arm and control, with unpooled variances:

    z = (mean_1 - mean_0) / sqrt(v_0 / n_0 + v_1 / n_1)

where v_a is the per-unit variance in arm a. Its power for a true difference
delta, with se = sqrt(v_0 / n_0 + v_1 / n_1), is (Chow, Shao & Wang 2008,
*Sample Size Calculations in Clinical Research*, 2nd ed., sec. 4.2; statsmodels
``normal_power``)::

    two-sided: Phi(delta/se - z_{1-a/2}) + Phi(-delta/se - z_{1-a/2})
    larger:    Phi(delta/se - z_{1-a})
    smaller:   Phi(-delta/se - z_{1-a})

The total sample size N for arm weights w_0 (control) and w_1 (offer) solves
power(delta, se(N)) = target with se(N)^2 = (v_0/w_0 + v_1/w_1) / N; ignoring the
far tail it is the textbook closed form

    N = (z_{1-a'} + z_{power})^2 (v_0/w_0 + v_1/w_1) / delta^2,

which we refine with Brent's method so the far tail is included, as statsmodels does.
When v_0 = v_1 = sigma^2 this is exactly ``statsmodels.stats.power.NormalIndPower``
with effect size delta/sigma, nobs1 = n_0 and ratio = n_1/n_0; in general it is
NormalIndPower with the effective sigma^2 = (v_0/w_0 + v_1/w_1) / (1/w_0 + 1/w_1).

Per-unit variances (each metric kind gives its own: :meth:`uplift.metrics.base.Metric.unit_variance`,
:meth:`uplift.metrics.base.Metric.design_inputs`):

* proportion: v = p (1 - p), p_1 = p_0 + delta (p_0 - delta for ``smaller``);
* mean: v_0 = v_1 = the sample variance of the metric's column in the population,
  or of its pre-period covariate when the population has no post-period column;
* ratio (sum y / sum x, delta method; Deng, Knoblich & Lu 2018, "Applying the delta
  method in metric analytics", KDD): v = (s_yy - 2 R s_xy + R^2 s_xx) / mean(x)^2
  with R = mean(y) / mean(x).

Several offer arms against one control: each comparison is tested at
a' = a / K (Bonferroni, K = number of offer arms; ``[design] multiple_arms``) and N
is the largest N over the comparisons. CUPED (Deng, Xu, Kohavi & Walker 2013,
"Improving the sensitivity of online controlled experiments by utilizing
pre-experiment data", WSDM) multiplies the variance by 1 - rho^2, rho the
correlation of the metric with its pre-period covariate, so N shrinks by the same
factor. Duration in weeks = N / ``[design] weekly_inflow`` (an inflow; without it the units come from
a fixed pool, the eligible population, and the test is feasible when the pool holds N). When the primary
metric is a time to conversion (``window_days``), the readout can first answer the question after the
recruitment plus the outcome window (``readout_weeks`` = duration + window_days / 7; a fixed pool: the window);
a readout planned earlier (``[experiment] data_as_of``) censors the customers not yet observed for the whole
window, and the power at that readout allows for it (:mod:`uplift.experiment.censoring`).
The formulas live in :mod:`uplift.experiment.power`; curves in :mod:`uplift.experiment.design_curves`.
"""

from __future__ import annotations

import math
from typing import Mapping

import pandas as pd

from uplift.errors import DataError, UserError
from uplift.experiment.design_result import DesignResult, MetricDesign, judge_feasibility
from uplift.experiment.forecast import profit_forecast
from uplift.experiment.censoring import censoring_block, planned_readout_day
from uplift.experiment.looks import price_looks
from uplift.experiment.power import alpha_per_comparison, mde_at_n, power_at, power_z, sample_size, unit_variance
from uplift.metrics.kinds import correlation, metric_for, ratio_unit_variance
from uplift.text import Msg

__all__ = [
    "DesignResult",
    "MetricDesign",
    "design_experiment",
    "power_z",
    "power_at",
    "mde_at_n",
    "sample_size",
    "unit_variance",
    "ratio_unit_variance",
    "alpha_per_comparison",
]

# --------------------------------------------------------------------------- the spec-level design



def _metric_note(has_effect: bool, basis: str, source: str) -> Msg | str:
    """A metric row's note: that it has no target effect, and where its baseline or variance came from."""
    parts = ([] if has_effect else [Msg("no target effect: MDE and power shown at the primary's n only")]) + (
        [Msg("{basis} from {source}", basis=Msg("baseline") if basis == "baseline" else Msg("variance") if basis == "variance"
             else basis, source=source)] if source else [])
    if len(parts) == 2:
        return Msg("{first}; {second}", first=parts[0], second=parts[1])
    return parts[0] if parts else ""


def _per_arm(n_exact: float, weights: Mapping[str, float]) -> dict[str, int]:
    """Units per arm: ceil(w_a N) (each arm at least its share of the exact N)."""
    return {a: int(math.ceil(w * n_exact - 1e-9)) for a, w in weights.items()}


def design_experiment(spec, population: pd.DataFrame | None = None, n_total: int | None = None) -> DesignResult:
    """Design the test in ``spec``: n per arm, MDE, power, duration, CUPED-reduced n.

    ``population`` (optional) supplies variances of mean/ratio metrics (the metric's
    column, else its pre-period covariate), CUPED's rho (when it has both the metric and
    its covariate), proportion baselines other than ``[design] baseline_rate``, and the
    eligible count after exclusions (the exclusion waterfall, as ``uplift assign`` would
    record it; nothing is written). ``n_total`` (optional) replaces the solved N: the
    result then gives the MDE and power at that N. Without ``[design] weekly_inflow`` the
    units come from a fixed pool (the eligible population, assigned at once); the result's
    ``feasibility`` says whether the pool holds the N units and the MDE its eligible units
    reach. Power curves and guardrail power: :mod:`uplift.experiment.design_curves`.
    Formulas: module docstring.
    """
    from uplift.experiment.design_curves import guardrail_power, metric_curves

    d = spec.design
    if not spec.arms or not spec.control:
        raise UserError(f"{spec.label}: design needs [assignment] arms and control")
    if not spec.metrics:
        raise UserError(f"{spec.label}: design needs [[metrics]] with a primary metric")
    weights = dict(spec.arms)
    control = spec.control
    offers = [a for a in weights if a != control]
    alpha = d.alpha
    target = d.power
    alternative = d.alternative
    method_k = d.multiple_arms
    a_cmp = alpha_per_comparison(alpha, len(offers), method_k)
    notes: list[str] = []
    label = spec.label

    eligible = None
    pop = population
    waterfall: list[dict] = []
    if population is not None:
        if spec.exclusions:  # the rules as `uplift assign` applies them; nothing is written
            from uplift.experiment.exclusions import apply_exclusions

            el = apply_exclusions(spec, population)
            eligible = el.n_eligible
            pop = el.eligible
            waterfall = el.waterfall
        else:
            eligible = len(population)
            waterfall = [{"step": "population", "excluded": 0, "remaining": eligible}]
    if pop is not None and len(pop) < 2:
        raise DataError("population: fewer than two eligible units; check the exclusion rules or the file")

    metrics = {m.name: metric_for(m) for m in spec.metrics}

    def inputs(m) -> tuple[float | None, float | None, str, str]:
        """Baseline, sd, where they came from, or why they are unknown (asked of the metric's kind)."""
        got = metrics[m.name].design_inputs(pop, d.baseline_rate if m.primary else None)
        return got.baseline, got.sd, got.source, got.missing

    def rho_for(m) -> tuple[float | None, str]:
        pair = metrics[m.name].cuped_columns()
        if pair is None:
            return None, ""
        y, x = pair
        if pop is not None and y in pop.columns and x in pop.columns:
            return correlation(pop, y, x), f"corr({y}, {x}) in the population"
        if d.cuped_rho is not None:
            return d.cuped_rho, "assumed: [design] cuped_rho"
        return None, ""

    primary = next(m for m in spec.metrics if m.primary)
    ordered = [primary] + [m for m in spec.metrics if m is not primary]

    def effect_for(m, baseline: float | None) -> tuple[float | None, float | None]:
        if m.primary and d.mde_absolute is not None:
            eff = d.mde_absolute
            return eff, (eff / baseline if baseline else None)
        if d.mde_relative is not None and baseline:
            return d.mde_relative * abs(baseline), d.mde_relative
        return None, None

    def n_for(kind, baseline, sd, effect) -> float:
        return max(
            sample_size(effect, kind=kind, baseline=baseline, sd=sd, weights=(weights[control], weights[a]),
                        alpha=a_cmp, power=target, alternative=alternative)
            for a in offers
        )

    def mde_power(kind, baseline, sd, n_arm: Mapping[str, int], effect) -> tuple[float, float | None]:
        # the worst comparison: largest MDE, lowest power
        mdes, powers = [], []
        for a in offers:
            mdes.append(mde_at_n(n_arm[control], n_arm[a], kind=kind, baseline=baseline, sd=sd, alpha=a_cmp,
                                 power=target, alternative=alternative))
            if effect is not None:
                powers.append(power_at(effect, n_arm[control], n_arm[a], kind=kind, baseline=baseline, sd=sd,
                                       alpha=a_cmp, alternative=alternative))
        return max(mdes), (min(powers) if powers else None)

    # the primary metric sets N
    b, sd, src, why = inputs(primary)
    if why:
        raise UserError(f"{label}: primary metric '{primary.name}' ({primary.kind}): {why}")
    eff, eff_rel = effect_for(primary, b)
    if n_total is not None:
        if n_total < len(weights):
            raise UserError(f"--n {n_total} is too small; give at least one unit per arm")
        n_exact = float(n_total)
    else:
        if eff is None and d.mde_relative is not None:  # set, but relative to a baseline of zero
            raise UserError(f"{label}: primary metric '{primary.name}' has a baseline of 0 ({src or 'its baseline'}), so "
                            "[design] mde_relative cannot size the test (a share of zero is zero); "
                            "set mde_absolute instead, e.g. mde_absolute = 0.005")
        if eff is None:
            raise UserError(f"{label}: [design] needs mde_relative or mde_absolute to size the test; add one, e.g. mde_relative = 0.1")
        n_exact = n_for(primary.kind, b, sd, eff)
    n_arm = _per_arm(n_exact, weights) if n_total is None else _split(n_total, weights)
    n_tot = int(sum(n_arm.values()))

    rows: list[MetricDesign] = []
    cuped_block = None
    inflow = d.weekly_inflow
    for m in ordered:
        b_m, sd_m, src_m, why_m = (b, sd, src, why) if m is primary else inputs(m)
        if why_m:
            rows.append(MetricDesign(name=m.name, kind=m.kind, primary=m.primary, baseline=None, sd=None, source="", note=why_m))
            continue
        e_m, er_m = (eff, eff_rel) if m is primary else effect_for(m, b_m)
        try:
            need = n_for(m.kind, b_m, sd_m, e_m) if e_m is not None else None
            mde, pw = mde_power(m.kind, b_m, sd_m, n_arm, e_m)
        except UserError as exc:
            rows.append(MetricDesign(name=m.name, kind=m.kind, primary=m.primary, baseline=b_m, sd=sd_m, source=src_m, note=str(exc)))
            continue
        need_arm = _per_arm(need, weights) if need is not None else {}
        rho, rho_src = rho_for(m)
        c_n = c_arm = c_mde = None
        if rho is not None:
            sd_c = sd_m * math.sqrt(1 - rho * rho)
            if e_m is not None:
                c_exact = n_for(m.kind, b_m, sd_c, e_m)
                c_arm = _per_arm(c_exact, weights)
                c_n = int(sum(c_arm.values()))
            c_mde, _ = mde_power(m.kind, b_m, sd_c, n_arm, None)
            if m is primary and c_n is not None:
                cuped_block = {
                    "covariate": m.covariate, "rho": rho, "rho_source": rho_src, "factor": 1 - rho * rho,
                    "n_total": c_n, "n_per_arm": c_arm,
                    "duration_weeks": (c_n / inflow) if inflow else None,
                    "mde_at_n": c_mde,
                }
        rows.append(
            MetricDesign(
                name=m.name, kind=m.kind, primary=m.primary, baseline=b_m, sd=sd_m, source=src_m,
                effect=e_m, effect_relative=er_m,
                n_total=int(sum(need_arm.values())) if need_arm else None, n_per_arm=need_arm,
                mde=mde, mde_relative=(mde / abs(b_m) if b_m else None), power=pw,
                rho=rho, rho_source=rho_src, cuped_n_total=c_n, cuped_n_per_arm=c_arm or {}, cuped_mde=c_mde,
                note=_metric_note(e_m is not None, metrics[m.name].design_basis, src_m),
            )
        )

    top = rows[0]
    duration = (n_tot / inflow) if inflow else None
    at_eligible = None
    if eligible is not None:
        try:  # the primary metric with every eligible unit in the test (a fixed pool: what `assign` does)
            at_eligible = mde_power(primary.kind, b, sd, _split(eligible, weights), eff)
        except UserError:  # too few eligible units for one per arm
            at_eligible = None
    feasibility = judge_feasibility(
        n_tot, eligible, inflow, at_eligible, b, target, uneven=len(set(weights.values())) > 1
    )
    for m in rows:
        events = metrics[m.name].expected_events(m.baseline, n_arm[control]) if m.primary else None
        if events is not None and events < 50:
            notes.append(
                Msg("only ~{events:.0f} expected {metric} events in {control}: the normal approximation behind "
                    "this design is rough (simulated power can fall a few points short); consider a larger control share",
                    events=events, metric=m.name, control=control)
            )
    censoring = None
    if primary.window_days and primary.kind == "proportion" and eff is not None and b and 0 < b < 1:
        p1 = b - eff if alternative == "smaller" else b + eff
        if 0 < p1 < 1:
            delta = -eff if alternative == "smaller" else eff
            readout_day = planned_readout_day(spec.experiment.start_date, spec.experiment.data_as_of)
            censoring = min((censoring_block(b, p1, n_arm[control], n_arm[a], delta, primary.window_days,
                                             7.0 * duration if duration else 0.0, readout_day,
                                             lambda e, se: power_z(e, se, a_cmp, alternative), (control, a))
                             for a in offers), key=lambda c: c["power_at_n"])
    looks = None
    if d.looks > 1:
        looks = price_looks(d, a_cmp, 2 if alternative == "two-sided" else 1, target, n_exact, inflow,
                            spec.analysis.always_valid_tuning_n)
        notes.append(Msg("{looks}; n above is the fixed-horizon design's (see looks)", looks=looks["note"]))
    method = Msg(
        "two-sample z-test of the difference in means (unpooled variance); n solved exactly incl. the far tail "
        "(Brent), each arm rounded up; {multiplicity}; CUPED factor 1 - rho^2 (Deng et al. 2013); ratio variance by "
        "the delta method (Deng et al. 2018)",
        multiplicity=(Msg("Bonferroni split of alpha over the offer arms") if method_k == "bonferroni" and len(offers) > 1
                      else Msg("no multiplicity adjustment") if len(offers) > 1 else Msg("one comparison")))
    # the forecast's test: a fixed pool with a known eligible count puts every eligible unit in the test
    pooled = inflow is None and eligible is not None and at_eligible is not None and n_total is None
    forecast = profit_forecast(spec, kind=primary.kind, baseline=b, sd=sd, mde=at_eligible[0] if pooled else top.mde,
                               n_per_arm=_split(eligible, weights) if pooled else n_arm, control=control,
                               eligible=eligible, alpha=a_cmp, alternative=alternative,
                               basis=(Msg("every eligible unit, split as `uplift assign` will (a fixed pool)") if pooled
                                      else Msg("the design's units per arm")))
    return DesignResult(
        experiment=spec.name, primary=primary.name, weights=weights, control=control, alpha=alpha,
        alpha_per_comparison=a_cmp, power_target=target, alternative=alternative,
        multiple_arms=method_k if len(offers) > 1 else "none needed (one offer arm)", n_comparisons=len(offers),
        n_per_arm=n_arm, n_total=n_tot, n_total_exact=n_exact, mde=top.mde, mde_relative=top.mde_relative,
        power=top.power, weekly_inflow=inflow, duration_weeks=duration, cuped=cuped_block, eligible=eligible,
        metrics=tuple(rows), notes=tuple(notes), method=method, window_days=primary.window_days,
        enrolment="inflow" if inflow else "fixed pool", feasibility=feasibility, waterfall=tuple(waterfall),
        data_as_of=spec.experiment.data_as_of, start_date=spec.experiment.start_date,
        curves=metric_curves(rows, weights, control, a_cmp, target, alternative, n_tot, eligible, inflow),
        guardrails=guardrail_power(spec.guardrails, pop, weights, control, alpha, target, n_tot, eligible),
        looks=looks, forecast=forecast, censoring=censoring,
    )


def _split(n_total: int, weights: Mapping[str, float]) -> dict[str, int]:
    from uplift.experiment.assign import largest_remainder

    counts = largest_remainder(int(n_total), list(weights.values()))
    return {a: int(c) for a, c in zip(weights, counts)}
