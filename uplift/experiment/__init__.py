"""Planning and splitting a test: design, precision, exclusions, assignment, the ledger, health checks.

In the order of a campaign:

* :mod:`~uplift.experiment.power` - the z-test's power, MDE and sample size;
* :mod:`~uplift.experiment.design` - feasibility, n per arm, MDE and duration before the test (``uplift design``),
  with power curves and guardrail power from :mod:`~uplift.experiment.design_curves`;
* :mod:`~uplift.experiment.precision` - the precision a finished test actually achieved;
* :mod:`~uplift.experiment.exclusions` - eligibility: the spec's rules, a reason per excluded
  unit, the waterfall and the exclusion log;
* :mod:`~uplift.experiment.assign` - salted-hash assignment of the eligible units (``uplift assign``);
* :mod:`~uplift.experiment.ledger` - the append-only record of who got which arm, written atomically;
* :mod:`~uplift.experiment.checks` - sample-ratio mismatch and covariate balance (``uplift check``).
"""
