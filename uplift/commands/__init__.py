"""One module per ``uplift`` sub-command; see :mod:`uplift.cli`."""
