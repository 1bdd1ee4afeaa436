"""Migration 0020 (the ``contacts_seen`` view): existing contacts keep their sight, and downgrade writes the view's back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from etl.db.migrate import downgrade, upgrade
from tests.harness.sql import run_sql

BEFORE = "0019"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
T6, T12 = T0 + timedelta(hours=6), T0 + timedelta(hours=12)


def _at(url: str, value: datetime) -> datetime:
    return value if url.startswith("postgresql") else value.replace(tzinfo=None)


def _utc(value: Any) -> datetime:
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _seed(url: str) -> None:
    """As the sync before 0020 left them: every read wrote last_seen_at; contact 2 went at T6, last seen at T0."""
    run_sql(url, "INSERT INTO contact_groups (group_id, name, followed, first_seen_at, last_seen_at, last_read, "
                 "last_complete_read_at) VALUES ('6363', 'VIP', TRUE, :t0, :t6, 'complete', :t6)",
            t0=_at(url, T0), t6=_at(url, T6))
    run_sql(url, "INSERT INTO contacts (group_id, contact_id, phone_raw, phone_e164, stop_sms, first_seen_at, last_seen_at, "
                 "gone_since) VALUES ('6363', '1', '0611111111', '+33611111111', TRUE, :t0, :t6, NULL), "
                 "('6363', '2', '0622222222', '+33622222222', FALSE, :t0, :t0, :t6)", t0=_at(url, T0), t6=_at(url, T6))


def _seen(url: str, source: str) -> list[tuple[Any, ...]]:
    rows = run_sql(url, f"SELECT contact_id, last_seen_at FROM {source} ORDER BY contact_id")
    return [(cid, _utc(at)) for cid, at in rows]


def test_existing_contacts_keep_their_sight_in_the_view_and_downgrade_writes_the_groups_read_back(db_url: str) -> None:
    upgrade(db_url, BEFORE)
    _seed(db_url)

    upgrade(db_url)
    assert _seen(db_url, "contacts_seen") == [("1", T6), ("2", T0)]
    assert run_sql(db_url, "SELECT account_id, account_label, gone_since IS NULL FROM contacts_seen ORDER BY contact_id") == [
        (1, "main", True), (1, "main", False)]

    # A sync from now on: the group's complete read at T12 changes no contact row.
    run_sql(db_url, "UPDATE contact_groups SET last_complete_read_at = :t", t=_at(db_url, T12))
    assert _seen(db_url, "contacts_seen") == [("1", T12), ("2", T0)]  # a gone contact keeps its own

    downgrade(db_url, BEFORE)
    assert _seen(db_url, "contacts") == [("1", T12), ("2", T0)]
    assert run_sql(db_url, "SELECT COUNT(*) FROM contacts") == [(2,)]
    upgrade(db_url)
    assert _seen(db_url, "contacts_seen") == [("1", T12), ("2", T0)]
