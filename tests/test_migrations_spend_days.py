"""Migration 0024 (``spend_days`` behind the spend views): the views answer what they answered before it, from
the rows carried forward; the table matches the model; the downgrade gives the recipients' views back."""

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

BEFORE = "0023"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
VIEWS = ("spend_daily", "spend_by_day", "spend_vs_account")


def _seed(url: str) -> None:
    """Two accounts; priced recipients over two days (one without a country, one in USD), one unpriced."""
    n = NOW if url.startswith("postgresql") else NOW.replace(tzinfo=None)
    run_sql(url, "INSERT INTO accounts (label, type, parent_id, token, first_seen_at) VALUES ('shop', 'simple', 1, 't', :n)", n=n)
    for account, day, message in ((1, "2026-12-01", "a"), (1, "2026-12-02", "b"), (2, "2026-12-01", "c")):
        run_sql(url, "INSERT INTO sends (account_id, message_id, kind, sent_at, started_at, sent_day, source, created_at) "
                     "VALUES (:a, :m, 'message', :n, :n, :d, 'csv', :n)", a=account, m=message, d=day, n=n)
        for i, (cost, currency, country) in enumerate((("0.045", "EUR", "FR"), ("0.0451237", "EUR", "FR"),
                                                       ("0.05", "EUR", None), ("0.06", "USD", "US"), (None, None, None))):
            run_sql(url, "INSERT INTO recipients (account_id, send_id, message_id, phone_e164, phone_raw, sent_day, final, "
                         "expired, poll_until, poll_count, cost, currency, country, cost_checks, first_seen_at) VALUES "
                         "(:a, (SELECT id FROM sends WHERE message_id = :m), :m, :p, :p, :d, TRUE, FALSE, :n, 1, :c, :cur, "
                         ":country, 1, :n)", a=account, m=message, p=f"+3361234567{i}", d=day, n=n,
                    c=cost, cur=currency, country=country)
        run_sql(url, "INSERT INTO monthly_costs (account_id, period, year, month, cost, currency, nb_send, observed_at) "
                     "VALUES (:a, '2026-12', 2026, 12, 1.5, 'EUR', 2, :n)" if message != "b" else "SELECT 1", a=account, n=n)


def _norm(value: Any) -> Any:
    if isinstance(value, (Decimal, float)):
        return Decimal(str(value)).quantize(Decimal("0.00000001"))
    return str(value) if value is not None and not isinstance(value, (int, str)) else value


def _answers(url: str) -> dict[str, list[tuple[Any, ...]]]:
    return {view: sorted((tuple(_norm(v) for v in row) for row in run_sql(url, f"SELECT * FROM {view}")), key=repr)
            for view in VIEWS}


def _drift(url: str) -> list[Any]:
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            return [d for d in compare_metadata(MigrationContext.configure(conn), Base.metadata) if "spend_days" in repr(d)]
    finally:
        engine.dispose()


def test_migration_0024_carries_every_priced_recipient_into_spend_days_and_the_views_answer_as_before(db_url: str) -> None:
    upgrade(db_url, BEFORE)
    _seed(db_url)
    before = _answers(db_url)
    assert len(before["spend_daily"]) == 9 and len(before["spend_by_day"]) == 6 and len(before["spend_vs_account"]) == 2

    upgrade(db_url)
    assert _answers(db_url) == before
    assert run_sql(db_url, "SELECT COUNT(*), SUM(recipients) FROM spend_days") == [(9, 12)]
    assert _drift(db_url) == []

    downgrade(db_url, BEFORE)
    assert _answers(db_url) == before
    upgrade(db_url)
    assert _answers(db_url) == before
