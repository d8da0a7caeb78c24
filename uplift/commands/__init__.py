"""One module per ``uplift`` sub-command; see :mod:`uplift.cli`.

Each module registers its parser and runs by calling the Python API (heavy imports inside
``run``, so ``uplift --help`` stays fast). In the order of the flow: ``simulate``, ``design``,
``assign``, ``check``, ``readout``, ``target``, ``rules``; ``demo`` runs the whole flow.
"""
