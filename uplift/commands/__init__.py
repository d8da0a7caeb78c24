"""One module per ``uplift`` sub-command; see :mod:`uplift.cli`.

Each module registers its parser and runs by calling the Python API (heavy imports inside
``run``, so ``uplift --help`` stays fast). In the order of the flow: ``simulate``, ``design``,
``assign``, ``check``, ``readout``, ``monitor`` (the always-valid look history of weekly readouts),
``target``, ``rules``; ``demo`` runs the whole flow.
"""
