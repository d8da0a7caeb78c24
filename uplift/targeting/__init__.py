"""Whom to target next: uplift models (scikit-uplift behind one adapter), evaluation, profit, rules.

In the order of the work:

* :mod:`~uplift.targeting.sklift_adapter` - the only module that imports scikit-uplift;
* :mod:`~uplift.targeting.models` - uplift models behind one ``fit``/``predict`` API;
* :mod:`~uplift.targeting.evaluation` - Qini and uplift curves, AUUC, uplift@k, with bootstrap intervals;
* :mod:`~uplift.targeting.analyse` - models compared on held-out data, profit by depth, the next-wave list;
* :mod:`~uplift.targeting.rules` - next-product discovery: association rules and a propensity model.
"""
