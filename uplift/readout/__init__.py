"""The readout: one analysis, its results.json, the rendered notebook and its report pieces."""
