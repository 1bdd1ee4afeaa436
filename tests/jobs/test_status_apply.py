"""`apply_statuses` / `apply_costs` on a staged batch, directly (no simulator), on SQLite, PostgreSQL and MariaDB.

The steps join the recipients on the ids the stage resolved first (issue 20: the batch drives the updates):
these pin that each staged pair reaches exactly its account's recipient, and nothing else moves.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import bindparam, text

from etl.config import StatusesConfig
from etl.db.engine import make_engine
from etl.db.types import UtcDateTime
from etl.jobs.status_apply import CostRow, StatusRow, Tally, apply_costs, apply_statuses, unread_row
from etl.tracking import TrackedSend, track

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MID = "9001"
PHONES = ["+33612345601", "+33612345602", "+33612345603"]
COLUMNS = "status, final, poll_count, item_code, cost, next_cost_at IS NULL, next_poll_at IS NULL"


@pytest.fixture
def engine(migrated_db_url):
    engine = make_engine(migrated_db_url)
    track(engine, [TrackedSend(MID, PHONES, sent_at=NOW)], now=NOW, config=StatusesConfig())
    with engine.begin() as conn:  # the same message id and numbers under a sub-account
        conn.execute(text("INSERT INTO accounts (label, type, parent_id, token, first_seen_at) VALUES ('shop', 'simple', 1, 'tok-shop', :n)")
                     .bindparams(bindparam("n", NOW, type_=UtcDateTime())))
        shop = conn.execute(text("SELECT id FROM accounts WHERE label = 'shop'")).scalar_one()
        conn.execute(text(
            "INSERT INTO sends (message_id, kind, tag, sent_at, scheduled_at, started_at, sent_day, nb_sms, source, created_at, account_id) "
            "SELECT message_id, kind, tag, sent_at, scheduled_at, started_at, sent_day, nb_sms, source, created_at, :a FROM sends"), {"a": shop})
        conn.execute(text(
            "INSERT INTO recipients (send_id, message_id, phone_e164, phone_raw, sent_day, status, final, expired, poll_until, "
            "next_poll_at, poll_count, cost_checks, first_seen_at, account_id) "
            "SELECT (SELECT id FROM sends WHERE account_id = :a), message_id, phone_e164, phone_raw, sent_day, status, final, expired, "
            "poll_until, next_poll_at, poll_count, cost_checks, first_seen_at, :a FROM recipients"), {"a": shop})
    engine.shop_id = shop  # type: ignore[attr-defined]
    yield engine
    engine.dispose()


def states(engine, account_id: int) -> list[tuple]:
    with engine.connect() as conn:
        found = conn.execute(text(f"SELECT phone_e164, {COLUMNS} FROM recipients WHERE account_id = :a ORDER BY phone_e164"),
                             {"a": account_id}).all()
        conn.rollback()
    return [(r[0], r[1], bool(r[2]), r[3], r[4], None if r[5] is None else Decimal(str(r[5])).normalize(), bool(r[6]), bool(r[7])) for r in found]


def delivered(phone: str) -> StatusRow:
    return StatusRow(message_id=MID, phone_e164=phone, ok=True, polled=True, source="multi-status", status="Delivered",
                     status_at=NOW + timedelta(seconds=40), final=True)


def test_a_batch_reaches_exactly_its_accounts_recipients_and_ignores_pairs_it_does_not_track(engine):
    shop_before = states(engine, engine.shop_id)
    batch = [
        delivered(PHONES[0]),
        StatusRow(message_id=MID, phone_e164=PHONES[1], ok=False, polled=True, source="multi-status", code=4, error="Numéro introuvable"),
        delivered("+33699999999"),  # not tracked: nothing to match
        StatusRow(message_id="77", phone_e164=PHONES[2], ok=True, polled=True, source="multi-status", status="Delivered", final=True),
    ]
    tally = Tally()
    with engine.begin() as conn:
        apply_statuses(conn, batch, now=NOW + timedelta(minutes=1), run_id=None, config=StatusesConfig(), tally=tally)

    assert (tally.status_events, tally.status_changed, tally.item_failures) == (1, 1, 1)
    mine = states(engine, 1)
    assert mine[0][:4] == (PHONES[0], "Delivered", True, 1) and mine[0][6:] == (False, True)  # first cost read due, polled no more
    assert mine[1][:5] == (PHONES[1], None, False, 1, 4) and mine[1][7] is False
    assert mine[2][3] == 0  # another message's pair with its number: untouched
    assert states(engine, engine.shop_id) == shop_before
    with engine.connect() as conn:
        events = conn.execute(text("SELECT r.account_id, r.phone_e164, e.status FROM status_events e "
                                   "JOIN recipients r ON r.id = e.recipient_id")).all()
    assert [tuple(e) for e in events] == [(1, PHONES[0], "Delivered")]


def test_a_sub_accounts_batch_moves_its_own_recipients_and_never_the_parents(engine):
    parent_before = states(engine, 1)
    tally = Tally()
    with engine.begin() as conn:
        apply_statuses(conn, [delivered(PHONES[0]), unread_row(MID, PHONES[1], "multi-status")], now=NOW + timedelta(minutes=1),
                       run_id=None, config=StatusesConfig(), tally=tally, account_id=engine.shop_id)
        apply_costs(conn, [CostRow(message_id=MID, phone_e164=PHONES[0], kind="found", next_cost_at=None, cost=Decimal("0.045"),
                                   currency="EUR", country="FR")],
                    now=NOW + timedelta(minutes=2), run_id=None, tally=tally, account_id=engine.shop_id)

    shop = states(engine, engine.shop_id)
    assert shop[0][:6] == (PHONES[0], "Delivered", True, 1, None, Decimal("0.045"))
    assert shop[1][3] == 1 and shop[1][1] is None  # unread: the ladder moved, nothing else
    assert shop[2][3] == 0
    assert (tally.status_events, tally.cost_events) == (1, 1)
    assert states(engine, 1) == parent_before


def test_a_batch_applied_twice_writes_its_history_once(engine):
    for _ in range(2):
        with engine.begin() as conn:
            apply_statuses(conn, [delivered(p) for p in PHONES], now=NOW + timedelta(minutes=1), run_id=None, config=StatusesConfig(),
                           tally=Tally())
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM status_events")).scalar_one() == 3
        assert conn.execute(text("SELECT COUNT(*) FROM recipients WHERE account_id = 1 AND final")).scalar_one() == 3
