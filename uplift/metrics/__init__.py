"""The metric catalogue: from sufficient statistics to every metric, guardrail, funnel and ROI figure."""
