"""Compliance evidence (issue 18): keyed hashes, filter-run records, retention, audit chain (docs/compliance.md).

One module per concern; `breaches`: sends that reached a number on its account's stop list, found set-based,
acknowledged by people.
"""
