"""Random-effects meta-analysis of per-campaign effects, and their empirical-Bayes shrinkage.

Model (DerSimonian & Laird 1986, Controlled Clinical Trials 7:177): campaign ``i`` estimates
``y_i ~ N(theta_i, v_i)`` with ``theta_i ~ N(mu, tau^2)``.

* Between-campaign variance ``tau^2``: DerSimonian-Laird moment estimator
  ``tau^2 = max(0, (Q - (k-1)) / (sum w - sum w^2 / sum w))`` with ``w_i = 1/v_i`` and Cochran's
  ``Q = sum w_i (y_i - ybar_w)^2``; or Paule & Mandel (1982), the ``tau^2`` at which the generalised
  Q equals ``k - 1``. Both computed by statsmodels ``statsmodels.stats.meta_analysis.combine_effects``
  (``method_re="dl"`` / ``"pm"``), which this module calls (not re-derived). statsmodels leaves a
  negative DL estimate untruncated; as DerSimonian & Laird (and R's metafor) do, it is truncated at 0
  here, where the random-effects summary is the fixed-effect one (statsmodels' ``mean_effect_fe``).
* Pooled effect ``mu = sum w*_i y_i / sum w*_i``, ``w*_i = 1/(v_i + tau^2)``, ``se(mu) = 1/sqrt(sum w*_i)``,
  normal interval ``mu +- z se``.
* Heterogeneity ``I^2 = max(0, (Q - (k-1)) / Q)`` (Higgins & Thompson 2002, Stat Med 21:1539).
* Predictive distribution of a new campaign's effect: ``N(mu, tau^2 + se(mu)^2)`` (Higgins, Thompson &
  Spiegelhalter 2009, JRSS A 172:137) -- the prior the designer takes (:mod:`uplift.programme.priors`).
* Shrunken per-campaign estimates (empirical Bayes; Morris 1983, JASA 78:47, eq. 3.3-3.4; Raudenbush &
  Bryk 2002, ch. 4): ``B_i = tau^2 / (tau^2 + v_i)``, ``theta*_i = mu + B_i (y_i - mu)``,
  ``var(theta*_i) = B_i v_i + (1 - B_i)^2 se(mu)^2`` (the second term carries the uncertainty of mu).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy import stats as st

from uplift.errors import UserError

__all__ = ["MetaAnalysis", "random_effects"]


@dataclass(frozen=True)
class MetaAnalysis:
    """The random-effects summary of k campaign effects (see the module docstring)."""

    method: str
    k: int
    mean: float
    se: float
    ci: tuple[float, float]
    tau2: float
    i2: float
    q: float
    p_heterogeneity: float
    mean_fixed: float
    se_fixed: float
    predictive_sd: float
    names: tuple[str, ...]
    effects: tuple[float, ...]
    ses: tuple[float, ...]
    shrunk: tuple[float, ...]
    shrunk_se: tuple[float, ...]
    shrinkage: tuple[float, ...]
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        z = float(st.norm.ppf(0.5 + self.confidence / 2))
        return {
            "method": {"dl": "DerSimonian-Laird", "pm": "Paule-Mandel"}[self.method], "k": self.k,
            "mean": self.mean, "se": self.se, "ci": list(self.ci), "tau2": self.tau2, "tau": math.sqrt(self.tau2),
            "i2": self.i2, "q": self.q, "p_heterogeneity": self.p_heterogeneity,
            "mean_fixed": self.mean_fixed, "se_fixed": self.se_fixed, "predictive_sd": self.predictive_sd,
            "campaigns": [{"experiment": n, "effect": y, "se": s, "shrunk": t, "shrunk_se": ts,
                           "shrunk_ci": [t - z * ts, t + z * ts], "shrinkage": b}
                          for n, y, s, t, ts, b in zip(self.names, self.effects, self.ses, self.shrunk,
                                                       self.shrunk_se, self.shrinkage)],
        }


def random_effects(effects: Sequence[float], ses: Sequence[float], names: Sequence[str] | None = None,
                   method: str = "dl", confidence: float = 0.95) -> MetaAnalysis:
    """Random-effects meta-analysis of ``effects`` with standard errors ``ses`` (module docstring)."""
    from statsmodels.stats.meta_analysis import combine_effects

    y = np.asarray(effects, dtype=float)
    v = np.asarray(ses, dtype=float) ** 2
    if len(y) < 2 or not (np.isfinite(y).all() and np.isfinite(v).all() and (v > 0).all()):
        raise UserError(f"a meta-analysis needs at least 2 campaigns with finite effects and positive standard errors "
                        f"(got {len(y)}); record more campaign readouts")
    with np.errstate(invalid="ignore"):  # a negative DL tau^2 makes statsmodels take sqrt of a negative number
        res = combine_effects(y, v, method_re=method, alpha=1 - confidence)
    mu, se_mu, tau2 = float(res.mean_effect_re), float(res.sd_eff_w_re), float(res.tau2)
    if tau2 <= 0:  # truncated at 0: no between-campaign variance, the fixed-effect summary
        mu, se_mu, tau2 = float(res.mean_effect_fe), float(res.sd_eff_w_fe), 0.0
    z = float(st.norm.ppf(0.5 + confidence / 2))
    b = tau2 / (tau2 + v)
    shrunk = mu + b * (y - mu)
    shrunk_se = np.sqrt(b * v + (1 - b) ** 2 * se_mu ** 2)
    k = len(y)
    return MetaAnalysis(
        method=method, k=k, mean=mu, se=se_mu, ci=(mu - z * se_mu, mu + z * se_mu), tau2=tau2, i2=max(0.0, float(res.i2)),
        q=float(res.q), p_heterogeneity=float(st.chi2.sf(float(res.q), k - 1)),
        mean_fixed=float(res.mean_effect_fe), se_fixed=float(res.sd_eff_w_fe),
        predictive_sd=math.sqrt(tau2 + se_mu ** 2),
        names=tuple(names) if names is not None else tuple(f"campaign {i + 1}" for i in range(k)),
        effects=tuple(map(float, y)), ses=tuple(map(float, np.sqrt(v))), shrunk=tuple(map(float, shrunk)),
        shrunk_se=tuple(map(float, shrunk_se)), shrinkage=tuple(map(float, b)), confidence=confidence,
    )
