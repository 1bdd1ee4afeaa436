"""`etl.db.spend_rollup`: the spend views read from ``spend_days`` answer exactly what the recipients' views of
0010/0012 answered, through first, late, corrected and withdrawn costs, currency and country moves, and two
accounts; `rebuild` gives the same rows as the moves."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, insert, text

from etl.db import backends
from etl.db.engine import make_engine
from etl.db.migrate import revision_module
from etl.db.schema import accounts, monthly_costs, recipients, sends, spend_days
from etl.db.spend_rollup import rebuild
from etl.jobs.status_apply import CostRow, Tally, apply_costs

AT = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
DAYS = (date(2026, 1, 5), date(2026, 1, 6))


def _old_views(conn: Connection) -> dict[str, str]:
    """The views' SELECTs as 0010 and 0012 wrote them, over the recipients themselves."""
    m10, m12 = revision_module("0010_accounts.py"), revision_module("0012_rental_costs_spend_views.py")
    month = backends.of(conn).month_sql("r.sent_day")
    texts = {"spend_daily": m10.SPEND_DAILY, "spend_by_day": m12.SPEND_BY_DAY,
             "spend_vs_account": m10.SPEND_VS_ACCOUNT.format(month=month)}
    return {view: sql.split(" AS\n", 1)[1] for view, sql in texts.items()}


def _money(value: Any) -> Any:
    """Decimals to 8 places (SQLite's NUMERIC is a float), other values as they are."""
    if isinstance(value, (Decimal, float)):
        return Decimal(str(value)).quantize(Decimal("0.00000001"))
    return int(value) if isinstance(value, int) else value


def _rows(conn: Connection, sql: str) -> list[tuple[Any, ...]]:
    return sorted((tuple(_money(v) for v in row) for row in conn.execute(text(sql))), key=repr)


def _assert_views_equal_old(engine: Engine) -> None:
    with engine.connect() as conn:
        for view, old in _old_views(conn).items():
            assert _rows(conn, f"SELECT * FROM {view}") == _rows(conn, old), view


def _seed(engine: Engine) -> None:
    """Two accounts; per account and day one send of four unpriced recipients; a month of cost-resume each."""
    with engine.begin() as conn:
        conn.execute(insert(accounts).values(label="shop", type="simple", parent_id=1, token="sub-tok", first_seen_at=AT))
        for account in (1, 2):
            for day in DAYS:
                send_id = conn.execute(insert(sends).values(
                    account_id=account, message_id=f"m{account}-{day.day}", sent_at=AT, started_at=AT, sent_day=day,
                    source="python", created_at=AT,
                )).inserted_primary_key[0]
                for i in range(4):
                    conn.execute(insert(recipients).values(
                        account_id=account, send_id=send_id, message_id=f"m{account}-{day.day}", phone_e164=f"+3361234560{i}",
                        phone_raw=f"+3361234560{i}", sent_day=day, poll_until=AT, first_seen_at=AT, final=True,
                    ))
            conn.execute(insert(monthly_costs).values(
                account_id=account, period="2026-01", year=2026, month=1, cost=Decimal("1.000"), nb_send=2,
                currency="EUR", observed_at=AT,
            ))


def _read(engine: Engine, account: int, reads: list[tuple[int, str, str | None, str | None, str | None]], hours: int) -> None:
    """Cost reads applied as the statuses job applies them: (day, phone digit, cost, currency, country); no cost: missing."""
    rows = [
        CostRow(message_id=f"m{account}-{DAYS[day].day}", phone_e164=f"+3361234560{digit}",
                kind="found" if cost is not None or currency else "missing", next_cost_at=None,
                cost=Decimal(cost) if cost is not None else None, currency=currency, country=country)
        for day, digit, cost, currency, country in reads
    ]
    with engine.begin() as conn:
        apply_costs(conn, rows, now=AT + timedelta(hours=hours), run_id=None, tally=Tally(), account_id=account)


def test_spend_views_answer_as_the_recipients_views_did_through_late_corrected_and_moved_costs(migrated_db_url: str) -> None:
    engine = make_engine(migrated_db_url)
    try:
        _seed(engine)
        _assert_views_equal_old(engine)  # nothing priced: no rows either way

        # First reads: two days, two accounts; one recipient unknown (missing), one priced without a country.
        _read(engine, 1, [(0, "0", "0.045", "EUR", "FR"), (0, "1", "0.045", "EUR", "FR"), (0, "2", None, None, None),
                          (1, "0", "0.0451237", "EUR", "FR"), (1, "1", "0.05", "EUR", None)], hours=1)
        _read(engine, 2, [(0, "0", "0.035", "EUR", "BE"), (0, "1", "0.035", "EUR", "BE")], hours=1)
        _assert_views_equal_old(engine)

        # Late arrival (the missing one now has a cost), a correction, a move to another currency and country.
        _read(engine, 1, [(0, "2", "0.045", "EUR", "FR"), (0, "0", "0.04", "EUR", "FR"), (1, "0", "0.06", "USD", "US")],
              hours=7)
        # A cost withdrawn (read again, no cost yet) and a key emptied: account 2's BE recipients both move to FR.
        _read(engine, 2, [(0, "0", "0.035", "EUR", "FR"), (0, "1", "0.035", "EUR", "FR"), (1, "3", None, "EUR", "FR")],
              hours=7)
        _read(engine, 1, [(1, "1", None, "EUR", None)], hours=13)
        _assert_views_equal_old(engine)
        with engine.connect() as conn:
            days = conn.execute(text("SELECT sent_day, currency, recipients, spend FROM spend_daily WHERE account_id = 1 "
                                     "ORDER BY sent_day, currency")).all()
            assert [(str(d), c, n, _money(s)) for d, c, n, s in days] == [
                ("2026-01-05", "EUR", 3, _money(Decimal("0.13"))), ("2026-01-06", "USD", 1, _money(Decimal("0.06")))]
            moved = sorted((tuple(_money(v) for v in row) for row in conn.execute(spend_days.select())), key=repr)

        with engine.begin() as conn:
            rebuild(conn)
        with engine.connect() as conn:
            rebuilt = sorted((tuple(_money(v) for v in row) for row in conn.execute(spend_days.select())), key=repr)
        assert [row for row in moved if row[4] != 0] == rebuilt  # the moves leave emptied keys at 0, the views skip them
        _assert_views_equal_old(engine)
    finally:
        engine.dispose()
