"""Survival on life tables: Kaplan-Meier, log-rank, restricted mean survival time."""
