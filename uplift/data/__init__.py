"""The seam: the only package that touches customer rows.

Read it in this order: ``source`` (open_source: a Source with two backends, ``frame_backend``
for pandas in memory and ``ibis_backend`` for DuckDB files, Spark and warehouses), ``needs``
(what a consumer asks for), ``collect`` (cells of ``moments``, life tables, group summaries),
``facts`` (the one ``validate`` for every backend), ``arms`` (attaching arms from the ledger);
``files`` (reading and atomic writing), ``writes`` (the ledger's lock, no output over an input,
several files as one unit) and ``hashing`` (salted SHA-256 buckets) serve them.
Nothing here imports anything above it.
"""
