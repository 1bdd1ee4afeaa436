"""`verify` on a database URL in its own short-lived engine: what the migration tests check the audit chain with."""

from __future__ import annotations

from etl.compliance.verify import Report, verify
from etl.db.engine import make_engine


def verify_url(url: str) -> Report:
    """The audit chain's report on ``url`` (read only)."""
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            return verify(conn)
    finally:
        engine.dispose()
