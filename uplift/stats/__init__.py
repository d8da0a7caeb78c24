"""Closed-form statistics on sufficient statistics: comparisons, intervals, multiplicity, sequential looks."""
