"""Migration 0025 (``funnel_days`` behind ``status_funnel``): the view answers what it answered before it, from the
rows carried forward; the table matches the model; the downgrade gives the recipients' view back."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from harness.sql import run_sql

from etl.db.engine import make_engine
from etl.db.migrate import downgrade, upgrade
from etl.db.schema import Base

BEFORE = "0024"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
#: (status, final, expired, item_code) per recipient: delivered in two spellings, failed, pending, expired,
#: not found, a late final status after expiry, an expired one not found.
STATES = (("Delivered", True, False, None), ("delivered", True, False, None), ("Not delivered", True, False, None),
          ("Waiting", False, False, None), ("Waiting", False, True, None), (None, False, False, 4),
          ("Delivered", True, True, None), (None, False, True, 4))


def _seed(url: str) -> None:
    """Two accounts; three sends over two days (one tagged), a recipient in each state per send."""
    n = NOW if url.startswith("postgresql") else NOW.replace(tzinfo=None)
    run_sql(url, "INSERT INTO accounts (label, type, parent_id, token, first_seen_at) VALUES ('shop', 'simple', 1, 't', :n)", n=n)
    for account, day, message, tag in ((1, "2026-12-01", "a", "promo"), (1, "2026-12-02", "b", None), (2, "2026-12-01", "c", "promo")):
        run_sql(url, "INSERT INTO sends (account_id, message_id, kind, tag, sent_at, started_at, sent_day, source, created_at) "
                     "VALUES (:a, :m, 'message', :t, :n, :n, :d, 'csv', :n)", a=account, m=message, t=tag, d=day, n=n)
        for i, (status, final, expired, code) in enumerate(STATES[: 8 if message != "b" else 5]):
            run_sql(url, "INSERT INTO recipients (account_id, send_id, message_id, phone_e164, phone_raw, sent_day, status, final, "
                         "expired, item_code, poll_until, poll_count, cost_checks, first_seen_at) VALUES "
                         "(:a, (SELECT id FROM sends WHERE message_id = :m), :m, :p, :p, :d, :s, :f, :e, :c, :n, 1, 0, :n)",
                    a=account, m=message, p=f"+3361234567{i}", d=day, s=status, f=final, e=expired, c=code, n=n)


def _norm(value: Any) -> Any:
    if isinstance(value, (int, float)) or type(value).__name__ == "Decimal":
        return int(value)
    return str(value) if value is not None and not isinstance(value, str) else value


def _answers(url: str) -> list[tuple[Any, ...]]:
    return sorted((tuple(_norm(v) for v in row) for row in run_sql(url, "SELECT * FROM status_funnel")), key=repr)


def _drift(url: str) -> list[Any]:
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            return [d for d in compare_metadata(MigrationContext.configure(conn), Base.metadata) if "funnel_days" in repr(d)]
    finally:
        engine.dispose()


def test_migration_0025_carries_every_recipient_into_funnel_days_and_status_funnel_answers_as_before(db_url: str) -> None:
    upgrade(db_url, BEFORE)
    _seed(db_url)
    before = _answers(db_url)
    assert [row[3:9] for row in before] == [(8, 3, 1, 2, 2, 2), (8, 3, 1, 2, 2, 2), (5, 2, 1, 1, 1, 0)], before

    upgrade(db_url)
    assert _answers(db_url) == before
    assert run_sql(db_url, "SELECT COUNT(*), SUM(recipients) FROM funnel_days") == [(3, 21)]
    assert _drift(db_url) == []

    downgrade(db_url, BEFORE)
    assert _answers(db_url) == before
    upgrade(db_url)
    assert _answers(db_url) == before
