"""Whom to target next: uplift models (scikit-uplift behind one adapter), evaluation, profit, rules."""
