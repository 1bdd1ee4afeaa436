"""Freshness for every account: the stalest stop list and any stale contact flags refuse the filter."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, update

from etl.audience import check_freshness
from etl.db.engine import make_engine
from etl.db.schema import accounts, sync_runs
from etl.errors import StaleData
from tests.audience.conftest import NOW, seed, seed_contact_stops


def add_account(conn, label, *, gone=False):
    return conn.execute(insert(accounts).values(
        label=label, type="simple", parent_id=1, token=f"tok-{label}", first_seen_at=NOW,
        gone_since=NOW if gone else None)).inserted_primary_key[0]


def run_row(conn, job, account_id, ago):
    conn.execute(insert(sync_runs).values(job=job, account_id=account_id, started_at=NOW - ago, finished_at=NOW - ago,
                                          outcome="success", rows_added=0, rows_changed=0, rows_removed=0))


@pytest.fixture
def engine(migrated_db_url):
    engine = make_engine(migrated_db_url)
    yield engine
    engine.dispose()


def test_a_sub_account_whose_stop_list_is_stale_refuses_the_filter_and_is_named(migrated_db_url, engine):
    seed(migrated_db_url, ["+33611111111"])
    with engine.begin() as conn:
        shop = add_account(conn, "shop")
        run_row(conn, "stops", shop, timedelta(days=3))
    with engine.connect() as conn, pytest.raises(StaleData, match="stop list of account shop is 3.0 d old"):
        check_freshness(conn, now=NOW, max_age=86400)
    with engine.connect() as conn:
        allowed = check_freshness(conn, now=NOW, max_age=86400, allow_stale=True)
    assert allowed.stale and allowed.age_seconds == pytest.approx(3 * 86400)


def test_a_sub_account_that_never_synced_its_stops_refuses_the_filter(migrated_db_url, engine):
    seed(migrated_db_url, ["+33611111111"])
    with engine.begin() as conn:
        shop = add_account(conn, "shop")
        run_row(conn, "accounts", shop, timedelta(minutes=5))  # known to the runs, stops never synced
    with engine.connect() as conn, pytest.raises(StaleData, match="no successful stops sync on record for stop list of account shop"):
        check_freshness(conn, now=NOW, max_age=86400)


def test_gone_and_never_run_sub_accounts_do_not_hold_the_filter_back(migrated_db_url, engine):
    seed(migrated_db_url, ["+33611111111"])
    with engine.begin() as conn:
        old = add_account(conn, "old", gone=True)
        run_row(conn, "stops", old, timedelta(days=30))
        add_account(conn, "new")
    with engine.connect() as conn:
        assert not check_freshness(conn, now=NOW, max_age=86400).stale


def test_stale_contact_flags_refuse_the_filter(migrated_db_url, engine):
    seed(migrated_db_url, ["+33611111111"])
    seed_contact_stops(migrated_db_url, ["+33633333333"], synced=False)
    with engine.connect() as conn, pytest.raises(StaleData, match="no successful contacts sync on record"):
        check_freshness(conn, now=NOW, max_age=86400)
    with engine.begin() as conn:
        run_row(conn, "contacts", 1, timedelta(days=2))
    with engine.connect() as conn, pytest.raises(StaleData, match="contact flags is 2.0 d old"):
        check_freshness(conn, now=NOW, max_age=86400)
    with engine.begin() as conn:
        conn.execute(update(sync_runs).where(sync_runs.c.job == "contacts").values(started_at=NOW - timedelta(hours=1)))
    with engine.connect() as conn:
        assert not check_freshness(conn, now=NOW, max_age=86400).stale
