"""Closed-form statistics on sufficient statistics: comparisons, intervals, multiplicity, sequential looks.

Nothing here touches rows; every input is a small summary from :mod:`uplift.data.moments`.
In the order a readout uses them:

* :mod:`~uplift.stats.compare` - one arm against control for proportions, means, ratios and
  CUPED-adjusted metrics: effect, interval, p-value, relative effect;
* :mod:`~uplift.stats.guardrails` - a guardrail's non-inferiority test and its state (failed, watch, passed);
* :mod:`~uplift.stats.multiplicity` - Holm and Benjamini-Hochberg adjusted p-values for a family;
* :mod:`~uplift.stats.sequential` - alpha-spending boundaries for planned interim looks (O'Brien-Fleming-type,
  Pocock-type, power family) and their sample-size price;
* :mod:`~uplift.stats.sequences` - always-valid intervals and p-values (mixture SPRT) for looking at any time;
* :mod:`~uplift.stats.bayes` - the Bayesian view of an estimate: posterior, chance to win, expected loss.
"""
