"""The readout: one analysis, its results.json, the rendered notebook and its report pieces.

In the order a readout is made:

* :mod:`~uplift.readout.analysis` - from a spec and the data to everything the readout shows;
* :mod:`~uplift.readout.render` - runs the notebook template (``templates/readout.py``, package
  data) with a real kernel and writes readout.html and results.json (``uplift readout``);
* :mod:`~uplift.readout.report` and :mod:`~uplift.readout.charts` - the HTML pieces and charts
  the template draws from results.json.
"""
