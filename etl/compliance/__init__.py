"""Compliance evidence (issue 18): keyed hashes, filter-run records, retention, audit chain (docs/compliance.md)."""
