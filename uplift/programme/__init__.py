"""A programme of campaigns: its registry, global holdout, contact policy, readout and priors.

* :mod:`uplift.programme.registry` - the append-only, locked record of assignments and readouts;
* :mod:`uplift.programme.holdout` - the global holdout by salted hash;
* :mod:`uplift.programme.contact` - the contact policy across campaigns, from the registry's ledgers;
* :mod:`uplift.programme.campaign` - ``uplift assign`` inside a programme;
* :mod:`uplift.programme.meta` - random-effects meta-analysis and empirical-Bayes shrinkage;
* :mod:`uplift.programme.analysis` - the programme readout (holdout against everyone else);
* :mod:`uplift.programme.priors` - the registry's past effects as the designer's prior;
* :mod:`uplift.programme.simulate` - a simulated programme with known truth.
"""
