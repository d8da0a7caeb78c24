"""Survival on life tables: Kaplan-Meier, log-rank, restricted mean survival time.

:mod:`~uplift.survival.estimators` holds the flow: :func:`~uplift.survival.estimators.life_table`
(the one row-level step: counts at risk, events and censorings per period and group), then
Kaplan-Meier curves (Greenwood standard errors, log-log intervals), the log-rank test between groups, and the
restricted mean survival time with its difference between arms. The CLV code
(:mod:`uplift.clv`) builds on these.
"""
