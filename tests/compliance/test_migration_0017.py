"""Migration 0017: the compliance tables appear, push bodies and replies carry over untouched, and it goes back down."""

from __future__ import annotations

from datetime import datetime, timezone

from harness.sql import run_sql
from sqlalchemy import inspect

from etl.db.engine import make_engine
from etl.db.migrate import downgrade, upgrade

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


_sql = run_sql


def test_compliance_tables_arrive_and_replies_keep_their_text(db_url: str) -> None:
    upgrade(db_url, "0016")
    n = NOW.replace(tzinfo=None) if not db_url.startswith("postgresql") else NOW
    _sql(db_url, "INSERT INTO push_inbox (channel, kind, content_hash, received_at, body, state, attempts) "
                 "VALUES ('stop', 'reply', 'h1', :n, '{\"text\": \"merci\"}', 'applied', 1)", n=n)
    _sql(db_url, "INSERT INTO replies (inbox_id, kind, phone_raw, text, received_at) "
                 "VALUES ((SELECT id FROM push_inbox), 'response', '0612345678', 'merci', :n)", n=n)
    upgrade(db_url, "0017")
    assert _sql(db_url, "SELECT body, body_purged_at FROM push_inbox") == [('{"text": "merci"}', None)]
    assert _sql(db_url, "SELECT text, text_purged_at FROM replies") == [("merci", None)]
    engine = make_engine(db_url, pool=False)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert {"filter_runs", "filter_run_blocks", "optout_hashes"} <= tables
    downgrade(db_url, "0016")
    assert _sql(db_url, "SELECT text FROM replies") == [("merci",)]
