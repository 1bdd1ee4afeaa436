"""Migration 0010: every existing row becomes the parent account's, sub-accounts' rows coexist, the way back is guarded."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import bindparam, inspect, text
from sqlalchemy.exc import IntegrityError

from etl.db import backends
from etl.db.engine import make_engine
from etl.db.migrate import downgrade, upgrade
from etl.db.schema import Base
from etl.db.types import UtcDateTime
from etl.errors import SyncRefused

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)

#: Tables that gain ``account_id`` (migration 0010's `TABLES`).
KEYED = (
    "sync_runs", "write_actions", "stop_periods", "rentals", "sends", "recipients", "track_intake", "tracked_tags",
    "account_snapshots", "monthly_costs", "push_inbox", "rejected_items",
)
#: Tables whose rows reach their account through a parent row.
THROUGH_PARENT = ("rental_files", "rental_numbers", "rental_number_events", "status_events", "cost_events", "replies")

VIEWS = (
    "current_stops", "stop_removals", "job_health", "spend_daily", "status_funnel", "pending_recipients",
    "expired_recipients", "spend_vs_account", "rental_stops_current", "rental_numbers_textable", "pushed_stops_unconfirmed",
)

#: One row in every table, as a single-account deployment at revision 0009 holds them.
SEED_0009 = (
    "INSERT INTO sync_runs (job, started_at, finished_at, outcome, rows_added, rows_changed, rows_removed) "
    "VALUES ('stops', :n, :n, 'success', 2, 0, 1)",
    "INSERT INTO write_actions (action, target, actor, requested_at, completed_at, outcome, api_stop_id) "
    "VALUES ('stop_remove', '+33612345602', 'ops', :n, :n, 'success', 102)",
    "INSERT INTO stop_periods (api_stop_id, phone_e164, phone_raw, first_seen_at, source, opened_by_run_id) "
    "VALUES (101, '+33612345601', '0612345601', :n, 'sync', (SELECT MAX(id) FROM sync_runs))",
    "INSERT INTO stop_periods (api_stop_id, phone_e164, phone_raw, first_seen_at, last_seen_at, removed_at, removed_how, "
    "removed_by_action_id, source) VALUES (102, '+33612345602', '0612345602', :n, :n, :n, 'tool', "
    "(SELECT MAX(id) FROM write_actions), 'sync')",
    "INSERT INTO stop_periods (phone_e164, phone_raw, first_seen_at, source) VALUES ('+33612345603', '0612345603', :n, 'push')",
    "INSERT INTO rentals (token, label, source, added_at, active) VALUES ('tok-1', 'fichier', 'cli', :n, TRUE)",
    "INSERT INTO rental_files (rental_id, downloaded_at, loaded_at, file_rows, numbers, stopped, unparseable, added, removed, "
    "stop_on, stop_off) VALUES ((SELECT MAX(id) FROM rentals), :n, :n, 2, 2, 1, 0, 2, 0, 0, 0)",
    "INSERT INTO rental_numbers (rental_id, phone_key, phone_e164, phone_raw, stop, in_file, first_seen_at) "
    "VALUES ((SELECT MAX(id) FROM rentals), '+33612345604', '+33612345604', '0612345604', FALSE, TRUE, :n)",
    "INSERT INTO rental_numbers (rental_id, phone_key, phone_e164, phone_raw, stop, in_file, first_seen_at) "
    "VALUES ((SELECT MAX(id) FROM rentals), '+33612345605', '+33612345605', '0612345605', TRUE, TRUE, :n)",
    "INSERT INTO rental_number_events (rental_id, file_id, phone_key, phone_e164, event, stop, observed_at) "
    "VALUES ((SELECT MAX(id) FROM rentals), (SELECT MAX(id) FROM rental_files), '+33612345604', '+33612345604', 'added', "
    "FALSE, :n)",
    "INSERT INTO sends (message_id, kind, tag, sent_at, started_at, sent_day, announced_cost, source, created_at) "
    "VALUES ('m-1', 'message', 'promo', :n, :n, '2026-12-01', 12.5, 'csv', :n)",
    "INSERT INTO recipients (send_id, message_id, phone_e164, phone_raw, sent_day, status, final, expired, poll_until, "
    "next_poll_at, poll_count, cost, currency, country, cost_checks, first_seen_at) VALUES ((SELECT MAX(id) FROM sends), "
    "'m-1', '+33612345606', '0612345606', '2026-12-01', 'Delivered', TRUE, FALSE, :n, NULL, 3, 0.0451237, 'EUR', 'FR', 1, :n)",
    "INSERT INTO recipients (send_id, message_id, phone_e164, phone_raw, sent_day, final, expired, poll_until, "
    "next_poll_at, poll_count, cost_checks, first_seen_at) VALUES ((SELECT MAX(id) FROM sends), "
    "'m-1', '+33612345607', '0612345607', '2026-12-01', FALSE, FALSE, :n, :n, 1, 0, :n)",
    "INSERT INTO status_events (recipient_id, status, observed_at, run_id, source) "
    "VALUES ((SELECT MIN(id) FROM recipients), 'Delivered', :n, (SELECT MAX(id) FROM sync_runs), 'multi-status')",
    "INSERT INTO cost_events (recipient_id, cost, currency, country, observed_at) "
    "VALUES ((SELECT MIN(id) FROM recipients), 0.0451237, 'EUR', 'FR', :n)",
    "INSERT INTO track_intake (message_id, phone, tag) VALUES ('m-2', '0612345608', 'promo')",
    "INSERT INTO tracked_tags (tag, added_at, items_seen) VALUES ('promo', :n, 1)",
    "INSERT INTO account_snapshots (observed_at, balance, currency, credit_sms) VALUES (:n, 120.5, 'EUR', 2000)",
    "INSERT INTO monthly_costs (period, year, month, cost, currency, nb_send, observed_at) "
    "VALUES ('2026-12', 2026, 12, 10225.119, 'EUR', 3, :n)",
    "INSERT INTO push_inbox (channel, kind, content_hash, received_at, body, phone_e164, state, attempts) "
    "VALUES ('stop', 'stop', :h, :n, '{}', '+33612345603', 'applied', 1)",
    "INSERT INTO replies (inbox_id, kind, phone_e164, phone_raw, received_at) "
    "VALUES ((SELECT MAX(id) FROM push_inbox), 'stop', '+33612345603', '0612345603', :n)",
    "INSERT INTO rejected_items (endpoint, item_hash, item, reason, first_seen_at, last_seen_at, times_seen) "
    "VALUES ('stop-sms/list', :h, '{}', 'date is not a date', :n, :n, 2)",
    "INSERT INTO job_leases (job, owner, acquired_at, expires_at) VALUES ('stops', 'host:1', :n, :n)",
)

#: A sub-account holding the very API ids, keys and periods the parent holds (allowed from 0010 on).
SECOND_ACCOUNT = (
    "INSERT INTO accounts (label, type, parent_id, api_id, token, first_seen_at) "
    "VALUES ('shop', 'simple', 1, '42', 'sub-token-42', :n)",
    "INSERT INTO sync_runs (job, started_at, finished_at, outcome, rows_added, rows_changed, rows_removed, account_id) "
    "VALUES ('stops', :n, :n, 'failed', 0, 0, 0, (SELECT id FROM accounts WHERE label = 'shop'))",
    "INSERT INTO stop_periods (api_stop_id, phone_e164, phone_raw, first_seen_at, source, account_id) "
    "VALUES (101, '+33612345601', '0612345601', :n, 'sync', (SELECT id FROM accounts WHERE label = 'shop'))",
    "INSERT INTO rentals (token, label, source, added_at, active, account_id) "
    "VALUES ('tok-1', 'fichier', 'cli', :n, TRUE, (SELECT id FROM accounts WHERE label = 'shop'))",
    "INSERT INTO sends (message_id, kind, sent_at, started_at, sent_day, source, created_at, account_id) "
    "VALUES ('m-1', 'message', :n, :n, '2026-12-01', 'csv', :n, (SELECT id FROM accounts WHERE label = 'shop'))",
    "INSERT INTO tracked_tags (tag, added_at, items_seen, account_id) "
    "VALUES ('promo', :n, 0, (SELECT id FROM accounts WHERE label = 'shop'))",
    "INSERT INTO monthly_costs (period, year, month, cost, currency, nb_send, observed_at, account_id) "
    "VALUES ('2026-12', 2026, 12, 3.5, 'EUR', 1, :n, (SELECT id FROM accounts WHERE label = 'shop'))",
    "INSERT INTO rejected_items (endpoint, item_hash, item, reason, first_seen_at, last_seen_at, times_seen, account_id) "
    "VALUES ('stop-sms/list', :h, '{}', 'date is not a date', :n, :n, 1, (SELECT id FROM accounts WHERE label = 'shop'))",
)


def _execute(url: str, statements: tuple[str, ...]) -> None:
    engine = make_engine(url, pool=False)
    try:
        with engine.begin() as conn:
            for statement in statements:
                sql = text(statement)
                if ":n" in statement:
                    sql = sql.bindparams(bindparam("n", NOW, type_=UtcDateTime()))
                if ":h" in statement:
                    sql = sql.bindparams(h="a" * 64)
                conn.execute(sql)
    finally:
        engine.dispose()


def _rows(url: str, statement: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(statement))]
    finally:
        engine.dispose()


def _view_columns(url: str) -> dict[str, list[str]]:
    engine = make_engine(url, pool=False)
    try:
        inspector = inspect(engine)
        return {view: [c["name"] for c in inspector.get_columns(view)] for view in VIEWS}
    finally:
        engine.dispose()


def _views(url: str, columns: dict[str, list[str]]) -> dict[str, list[tuple[Any, ...]]]:
    """Each view's rows over ``columns`` (what a BI query written before 0010 selects)."""
    return {view: sorted(_rows(url, f"SELECT {', '.join(names)} FROM {view}"), key=repr) for view, names in columns.items()}


def _differences(url: str) -> list[Any]:
    """What autogenerate would change to reach the models (MariaDB: its indexes differ by design, migration 0001)."""
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            found = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            exact = backends.of(conn).metadata_indexes
    finally:
        engine.dispose()
    return [d for d in found if exact or not (isinstance(d, tuple) and d[0] in ("add_index", "remove_index"))]


def _counts(url: str, tables: tuple[str, ...]) -> dict[str, int]:
    return {table: _rows(url, f"SELECT COUNT(*) FROM {table}")[0][0] for table in tables}


def test_upgrade_gives_every_existing_row_to_the_parent_account_and_keeps_the_views(db_url: str) -> None:
    upgrade(db_url, "0009")
    _execute(db_url, SEED_0009)
    old_columns = _view_columns(db_url)
    views_before = _views(db_url, old_columns)
    counts_before = _counts(db_url, KEYED + THROUGH_PARENT)

    upgrade(db_url)

    assert _rows(db_url, "SELECT id, label, type, parent_id, api_id, token, gone_since FROM accounts") == [
        (1, "main", "parent", None, None, None, None)]
    for table in KEYED:
        assert _rows(db_url, f"SELECT DISTINCT account_id FROM {table}") == [(1,)], table
    assert _counts(db_url, KEYED + THROUGH_PARENT) == counts_before
    assert _views(db_url, old_columns) == views_before, "a query written before 0010 reads the same rows"
    for view, names in _view_columns(db_url).items():
        assert names == old_columns[view] + ["account_id", "account_label"], view
    assert _rows(db_url, "SELECT DISTINCT account_label FROM job_health") == [("main",)]
    assert _differences(db_url) == [], "the migrated schema is the models'"


def test_a_fresh_database_starts_with_the_parent_account(db_url: str) -> None:
    upgrade(db_url)

    assert _rows(db_url, "SELECT id, label, type FROM accounts") == [(1, "main", "parent")]
    _execute(db_url, ("INSERT INTO tracked_tags (tag, added_at, items_seen) VALUES ('promo', :n, 0)",))
    assert _rows(db_url, "SELECT account_id, tag FROM tracked_tags") == [(1, "promo")], "a writer that does not say is the parent"


def test_a_sub_account_holds_the_same_api_ids_beside_the_parent(db_url: str) -> None:
    upgrade(db_url, "0009")
    _execute(db_url, SEED_0009)
    upgrade(db_url)

    _execute(db_url, SECOND_ACCOUNT)

    assert _rows(db_url, "SELECT account_label, api_stop_id FROM current_stops WHERE api_stop_id = 101 ORDER BY account_id") == [
        ("main", 101), ("shop", 101)]
    assert _rows(db_url, "SELECT account_label, outcome FROM job_health j JOIN sync_runs r ON r.account_id = j.account_id "
                         "ORDER BY j.account_id") == [("main", "success"), ("shop", "failed")]
    assert sorted(_rows(db_url, "SELECT account_label, account_cost, recorded_recipients FROM spend_vs_account"), key=repr) == sorted(
        [(label, cost, n) for label, cost, n in _rows(db_url, "SELECT a.label, m.cost, CASE WHEN a.id = 1 THEN 1 ELSE 0 END "
                                                             "FROM monthly_costs m JOIN accounts a ON a.id = m.account_id")],
        key=repr), "each account's month against its own recipients"


@pytest.mark.backends("sqlite", "postgresql")
def test_one_open_period_per_api_stop_id_and_account(db_url: str) -> None:
    upgrade(db_url)
    _execute(db_url, SECOND_ACCOUNT[:1] + SECOND_ACCOUNT[2:3])
    _execute(db_url, ("INSERT INTO stop_periods (api_stop_id, phone_e164, phone_raw, first_seen_at, source) "
                      "VALUES (101, '+33612345601', '0612345601', :n, 'sync')",))

    with pytest.raises(IntegrityError):
        _execute(db_url, ("INSERT INTO stop_periods (api_stop_id, phone_e164, phone_raw, first_seen_at, source) "
                          "VALUES (101, '+33612345601', '0612345601', :n, 'sync')",))


def test_a_row_of_an_unknown_account_is_refused(db_url: str) -> None:
    upgrade(db_url)

    with pytest.raises(IntegrityError):
        _execute(db_url, ("INSERT INTO tracked_tags (tag, added_at, items_seen, account_id) VALUES ('promo', :n, 0, 99)",))


def test_downgrade_with_only_parent_rows_gives_back_the_0009_schema_and_rows(db_url: str) -> None:
    upgrade(db_url, "0009")
    _execute(db_url, SEED_0009)
    columns = _view_columns(db_url)
    views_before = _views(db_url, columns)
    counts_before = _counts(db_url, KEYED + THROUGH_PARENT)
    upgrade(db_url)

    downgrade(db_url, "0009")

    assert _view_columns(db_url) == columns
    assert _views(db_url, columns) == views_before
    assert _counts(db_url, KEYED + THROUGH_PARENT) == counts_before
    assert "accounts" not in inspect(make_engine(db_url, pool=False)).get_table_names()
    upgrade(db_url)
    assert _rows(db_url, "SELECT DISTINCT account_id FROM stop_periods") == [(1,)]
    assert _differences(db_url) == []


def test_downgrade_is_refused_while_a_sub_account_has_rows(db_url: str) -> None:
    upgrade(db_url, "0010")  # from 0010 itself: a later revision's downgrade is not transactional on every backend
    _execute(db_url, SECOND_ACCOUNT)

    with pytest.raises(SyncRefused, match=r"^refusing to downgrade below 0010: rows of accounts other than the parent"):
        downgrade(db_url, "0009")

    assert _rows(db_url, "SELECT version_num FROM alembic_version") == [("0010",)]
    assert _rows(db_url, "SELECT COUNT(*) FROM stop_periods WHERE account_id <> 1") == [(1,)]
