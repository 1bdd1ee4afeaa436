"""Migration 0008: money widened to NUMERIC(20, 8) with every row carried over, tags get a backoff, on three backends."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from harness.sql import run_sql

from etl.db.engine import make_engine
from etl.db.migrate import downgrade, upgrade
from etl.db.schema import Base
from etl.db.spend_rollup import rebuild

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


_sql = run_sql


def _seed(url: str) -> None:
    n = NOW.replace(tzinfo=None) if not url.startswith("postgresql") else NOW
    _sql(url, "INSERT INTO sends (message_id, kind, sent_at, started_at, sent_day, announced_cost, source, created_at) "
              "VALUES ('1', 'message', :n, :n, '2026-12-01', 12.5, 'csv', :n)", n=n)
    _sql(url, "INSERT INTO recipients (send_id, message_id, phone_e164, phone_raw, sent_day, final, expired, poll_until, "
              "poll_count, cost, currency, country, cost_checks, first_seen_at) VALUES ((SELECT id FROM sends), '1', "
              "'+33612345678', '0612345678', '2026-12-01', TRUE, FALSE, :n, 3, 0.045123, 'EUR', 'FR', 1, :n)", n=n)
    _sql(url, "INSERT INTO status_events (recipient_id, status, observed_at, source) "
              "VALUES ((SELECT id FROM recipients), 'Delivered', :n, 'multi-status')", n=n)
    _sql(url, "INSERT INTO cost_events (recipient_id, cost, currency, observed_at) "
              "VALUES ((SELECT id FROM recipients), 0.045123, 'EUR', :n)", n=n)
    _sql(url, "INSERT INTO monthly_costs (period, year, month, cost, nb_send, observed_at) "
              "VALUES ('2026-12', 2026, 12, 10225.119, 3, :n)", n=n)
    _sql(url, "INSERT INTO tracked_tags (tag, added_at, items_seen) VALUES ('promo', :n, 3)", n=n)


def _money_differences(url: str) -> list[Any]:
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            found = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    return [d for d in found if "Numeric" in repr(d) or "NUMERIC" in repr(d) or "tracked_tags" in repr(d)]


def test_money_is_widened_to_8_decimals_with_every_row_and_key_carried_over(db_url: str) -> None:
    upgrade(db_url, "0007")
    _seed(db_url)
    ids_before = _sql(db_url, "SELECT r.id, e.id, c.id FROM recipients r JOIN status_events e ON e.recipient_id = r.id "
                              "JOIN cost_events c ON c.recipient_id = r.id")

    upgrade(db_url)

    assert _sql(db_url, "SELECT r.id, e.id, c.id FROM recipients r JOIN status_events e ON e.recipient_id = r.id "
                        "JOIN cost_events c ON c.recipient_id = r.id") == ids_before
    [(cost, event_cost, announced, month)] = _sql(
        db_url, "SELECT r.cost, c.cost, s.announced_cost, m.cost FROM recipients r JOIN cost_events c ON c.recipient_id = r.id "
                "JOIN sends s ON s.id = r.send_id, monthly_costs m")
    assert [Decimal(str(v)) for v in (cost, event_cost, announced, month)] == [
        Decimal("0.045123"), Decimal("0.045123"), Decimal("12.5"), Decimal("10225.119")]
    assert _sql(db_url, "SELECT failures, next_read_at, last_error FROM tracked_tags") == [(0, None, None)]
    assert _money_differences(db_url) == [], "the migrated schema is the models'"

    _sql(db_url, "UPDATE recipients SET cost = 0.0451237")
    engine = make_engine(db_url, pool=False)
    with engine.begin() as conn:
        rebuild(conn)  # a cost written by hand, not by a cost read: the spend rollup is rebuilt
    engine.dispose()
    [(cost,)] = _sql(db_url, "SELECT cost FROM recipients")
    assert Decimal(str(cost)) == Decimal("0.0451237"), "7 decimals stored as given"
    [(spend,)] = _sql(db_url, "SELECT spend FROM spend_daily")
    assert Decimal(str(spend)) == Decimal("0.0451237"), "the spend views round to 8 decimals"

    downgrade(db_url, "0007")
    assert _sql(db_url, "SELECT COUNT(*) FROM status_events") == [(1,)]
    upgrade(db_url)
    assert _sql(db_url, "SELECT COUNT(*) FROM cost_events") == [(1,)]
