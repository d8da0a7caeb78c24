"""Planning and splitting a test: design, precision, exclusions, assignment, the ledger, health checks."""
