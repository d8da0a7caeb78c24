"""The seam: the only package that touches customer rows (files, sources, sufficient statistics, hashing)."""
