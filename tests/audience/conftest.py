"""Helpers for the audience tests: a migrated database seeded with stops and sync runs."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import MetaData, Table, func, insert, select

from etl.db.engine import make_engine
from etl.db.schema import stop_periods, sync_runs

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def seed(url: str, stops: Iterable[str], *, synced_ago: timedelta | None = timedelta(minutes=10),
         removed: Iterable[str] = (), synced_at: datetime | None = None) -> None:
    """Open stop periods for ``stops`` (closed ones for ``removed``) and one successful stops run.

    The run started ``synced_ago`` before `NOW`, or at ``synced_at`` when given (the CLI reads the
    system clock, not `NOW`).
    """
    engine = make_engine(url, pool=False)
    started = synced_at if synced_at is not None else (NOW - synced_ago if synced_ago is not None else None)
    try:
        with engine.begin() as conn:
            if started is not None:
                conn.execute(insert(sync_runs).values(
                    job="stops", started_at=started, finished_at=started, outcome="success",
                    rows_added=0, rows_changed=0, rows_removed=0))
            conn.execute(insert(sync_runs).values(
                job="stops", started_at=NOW - timedelta(minutes=1), outcome="failed",
                rows_added=0, rows_changed=0, rows_removed=0))
            rows = [dict(api_stop_id=i, phone_e164=n, phone_raw=n, first_seen_at=NOW - timedelta(days=3),
                         removed_at=None, removed_how=None, source="sync") for i, n in enumerate(stops, start=1)]
            rows += [dict(api_stop_id=1000 + i, phone_e164=n, phone_raw=n, first_seen_at=NOW - timedelta(days=3),
                          removed_at=NOW - timedelta(days=1), removed_how="api_missing", source="sync")
                     for i, n in enumerate(removed)]
            if rows:
                conn.execute(insert(stop_periods), rows)
    finally:
        engine.dispose()


def seed_rental_stops(url: str, numbers: Iterable[str]) -> None:
    """Numbers flagged stop in a followed rental's current file (what ``rental_stops_current`` shows)."""
    engine = make_engine(url, pool=False)
    try:
        with engine.begin() as conn:
            meta = MetaData()
            rentals = Table("rentals", meta, autoload_with=conn)
            numbers_table = Table("rental_numbers", meta, autoload_with=conn)
            rental_id = conn.execute(insert(rentals).values(
                token="tok-test", label="test file", source="config", added_at=NOW, active=True,
            )).inserted_primary_key[0]
            conn.execute(insert(numbers_table), [
                dict(rental_id=rental_id, phone_key=n, phone_e164=n, phone_raw=n, stop=True, in_file=True,
                     first_seen_at=NOW)
                for n in numbers
            ])
    finally:
        engine.dispose()


def seed_contact_stops(url: str, numbers: Iterable[str], *, group_gone: bool = False, synced: bool = True) -> None:
    """Numbers flagged ``stopSms`` in a followed contact group (what ``contact_stops`` shows), and one unflagged;
    with ``synced``, a successful contacts run as fresh as the last stops run (the filter checks both)."""
    engine = make_engine(url, pool=False)
    try:
        with engine.begin() as conn:
            if synced:
                r = sync_runs.c
                last = conn.execute(select(func.max(r.started_at)).where(r.job == "stops", r.outcome == "success")).scalar()
                at = last or NOW - timedelta(minutes=10)
                conn.execute(insert(sync_runs).values(job="contacts", started_at=at, finished_at=at, outcome="success",
                                                      rows_added=0, rows_changed=0, rows_removed=0))
            meta = MetaData()
            groups = Table("contact_groups", meta, autoload_with=conn)
            contacts = Table("contacts", meta, autoload_with=conn)
            conn.execute(insert(groups).values(group_id="6363", name="VIP", followed=True, first_seen_at=NOW,
                                               last_seen_at=NOW, gone_since=NOW if group_gone else None))
            rows = [dict(group_id="6363", contact_id=str(i), phone_raw=n, phone_e164=n, stop_sms=True, stop_since=NOW,
                         first_seen_at=NOW, last_seen_at=NOW) for i, n in enumerate(numbers, start=1)]
            rows.append(dict(group_id="6363", contact_id="999", phone_raw="+33699999999", phone_e164="+33699999999",
                             stop_sms=False, stop_since=None, first_seen_at=NOW, last_seen_at=NOW))
            conn.execute(insert(contacts), rows)
    finally:
        engine.dispose()


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    def write(content: str | bytes, name: str = "audience.csv", encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return path

    return write


@pytest.fixture(scope="module")
def stop_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite database, one per test module, with +33611111111 stopped (synced long ago:
    give ``max_stop_age = "10000d"``). For CLI cases about files, not about the database."""
    from etl.db.migrate import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('stops') / 'stops.sqlite3'}"
    upgrade(url)
    seed(url, ["+33611111111"])
    return url
