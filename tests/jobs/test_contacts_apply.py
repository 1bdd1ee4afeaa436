"""`etl.jobs.contacts.apply`: a read (built by hand) against the stored groups and contacts, on three databases.

The reads come from the job's own row types, not from the API: the set-based diff and its fail-closed
rules are checked here; tests/jobs/test_contacts.py runs the whole job against the simulator.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from etl import runlog
from etl.accounts import AccountRef
from etl.db.engine import make_engine
from etl.jobs.base import JobContext, RunResult
from etl.jobs.contacts.apply import apply
from etl.jobs.contacts.read import COMPLETE, FAILED, PARTIAL, ContactRow, GroupListing, GroupRead, GroupRow, Reading
from etl.quarantine import Rejection
from tests.jobs.helpers import make_config

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    yield engine
    engine.dispose()


def row(cid: str, stop: bool = False, phone: str | None = None) -> ContactRow:
    raw = phone or f"+3361200{int(cid):04d}"
    return ContactRow(cid, raw, raw if raw.startswith("+") else None, stop, T0 - timedelta(days=30))


def reading(groups: dict[str, tuple[str, list[ContactRow]]], rejected: list[Rejection] | None = None,
            list_rejected: list[Rejection] | None = None) -> Reading:
    listing = GroupListing([GroupRow(g, f"group {g}", T0 - timedelta(days=90), False, g == "9")
                            for g in groups], list(list_rejected or []))
    reads = [GroupRead(g, status, rows if status != FAILED else [], list(rejected or []) if status == PARTIAL else [])
             for g, (status, rows) in groups.items()]
    return Reading(listing, reads)


def sync(engine: Engine, read: Reading, at: datetime, *, followed: set[str] | None = None, account: int = 1) -> RunResult:
    config = make_config(str(engine.url.render_as_string(hide_password=False)), "http://127.0.0.1:9")
    run_id = runlog.open_run(engine, "contacts", at)
    ctx = JobContext(config=config, client=None, engine=engine, now=lambda: at, run_id=run_id,  # type: ignore[arg-type]
                     account=AccountRef(account, "main" if account == 1 else f"sub{account}"))
    with engine.begin() as conn:
        return apply(ctx, conn, read, followed, at)


def query(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(sql))]
        conn.rollback()
    return rows


def events(engine: Engine) -> list[tuple[Any, ...]]:
    return query(engine, "SELECT group_id, contact_id, kind FROM contact_events ORDER BY id")


def stops(engine: Engine) -> list[tuple[Any, ...]]:
    return query(engine, "SELECT group_id, phone_e164 FROM contact_stops ORDER BY group_id, phone_e164")


def test_first_read_stores_groups_contacts_and_an_event_per_contact_and_flag(engine: Engine) -> None:
    result = sync(engine, reading({"1": (COMPLETE, [row("1"), row("2", stop=True)]), "2": (COMPLETE, [row("3")])}), T0)
    assert (result.outcome, result.added, result.changed, result.removed) == ("success", 3, 0, 0)
    assert events(engine) == [("1", "1", "appeared"), ("1", "2", "appeared"), ("2", "3", "appeared"), ("1", "2", "stop_on")]
    assert stops(engine) == [("1", "+33612000002")]
    assert query(engine, "SELECT group_id, name, followed, last_read FROM contact_groups ORDER BY group_id") == [
        ("1", "group 1", True, "complete"), ("2", "group 2", True, "complete")]
    (since,) = query(engine, "SELECT since FROM contact_stops")[0]
    assert since is not None


def test_a_flag_flip_writes_stop_on_and_stop_off_events(engine: Engine) -> None:
    sync(engine, reading({"1": (COMPLETE, [row("1"), row("2", stop=True)])}), T0)
    result = sync(engine, reading({"1": (COMPLETE, [row("1", stop=True), row("2")])}), T0 + timedelta(hours=6))
    assert (result.added, result.changed, result.removed) == (0, 2, 0)
    assert events(engine)[-2:] == [("1", "1", "stop_on"), ("1", "2", "stop_off")]
    assert stops(engine) == [("1", "+33612000001")]


def test_a_contact_missing_from_a_complete_read_is_gone_and_comes_back(engine: Engine) -> None:
    sync(engine, reading({"1": (COMPLETE, [row("1", stop=True), row("2")])}), T0)
    result = sync(engine, reading({"1": (COMPLETE, [row("2")])}), T0 + timedelta(hours=6))
    assert result.removed == 1 and events(engine)[-1] == ("1", "1", "gone")
    assert stops(engine) == []
    assert query(engine, "SELECT contact_id FROM contacts WHERE gone_since IS NOT NULL") == [("1",)]
    result = sync(engine, reading({"1": (COMPLETE, [row("1", stop=True), row("2")])}), T0 + timedelta(hours=12))
    assert result.added == 1 and events(engine)[-1] == ("1", "1", "appeared")
    assert stops(engine) == [("1", "+33612000001")]


def test_a_group_missing_from_the_group_list_is_gone_with_its_contacts(engine: Engine) -> None:
    sync(engine, reading({"1": (COMPLETE, [row("1", stop=True)]), "2": (COMPLETE, [row("2", stop=True)])}), T0)
    result = sync(engine, reading({"2": (COMPLETE, [row("2", stop=True)])}), T0 + timedelta(hours=6))
    assert result.removed == 1 and result.figures["groups_gone"] == 1
    assert query(engine, "SELECT group_id FROM contact_groups WHERE gone_since IS NOT NULL") == [("1",)]
    assert events(engine)[-1] == ("1", "1", "gone")
    assert stops(engine) == [("2", "+33612000002")]


def test_an_unreadable_group_in_the_list_marks_no_group_gone(engine: Engine) -> None:
    sync(engine, reading({"1": (COMPLETE, [row("1", stop=True)]), "2": (COMPLETE, [])}), T0)
    bad = Rejection("group/list", {"id": None}, "id: missing", "contact_group", None)
    result = sync(engine, reading({"2": (COMPLETE, [])}, list_rejected=[bad]), T0 + timedelta(hours=6))
    assert result.outcome == "partial" and result.removed == 0
    assert stops(engine) == [("1", "+33612000001")]
    assert query(engine, "SELECT COUNT(*) FROM rejected_items") == [(1,)]


def test_a_partial_read_keeps_flags_and_contacts_but_takes_new_stops(engine: Engine) -> None:
    sync(engine, reading({"1": (COMPLETE, [row("1", stop=True), row("2", stop=True), row("3")])}), T0)
    bad = Rejection("contact/list", {"contactId": "x"}, "phone: missing", "contact", "x")
    result = sync(engine, reading({"1": (PARTIAL, [row("2"), row("3", stop=True)])}, rejected=[bad]),
                  T0 + timedelta(hours=6))
    assert result.outcome == "partial" and "flags kept for 1 (partial)" in (result.detail or "")
    assert (result.added, result.changed, result.removed) == (0, 1, 0)
    assert stops(engine) == [("1", "+33612000001"), ("1", "+33612000002"), ("1", "+33612000003")]
    assert query(engine, "SELECT last_read, last_complete_read_at IS NOT NULL FROM contact_groups") == [("partial", True)]


def test_a_failed_read_keeps_every_flag_of_its_group(engine: Engine) -> None:
    sync(engine, reading({"1": (COMPLETE, [row("1", stop=True)]), "2": (COMPLETE, [row("2", stop=True)])}), T0)
    result = sync(engine, reading({"1": (FAILED, []), "2": (COMPLETE, [])}), T0 + timedelta(hours=6))
    assert result.outcome == "partial" and result.figures["groups_kept"] == 1
    assert "flags kept for 1 (failed)" in (result.detail or "")
    assert stops(engine) == [("1", "+33612000001")]
    assert query(engine, "SELECT group_id, last_read FROM contact_groups ORDER BY group_id") == [("1", "failed"), ("2", "complete")]


def test_an_unfollowed_group_is_stored_but_blocks_nothing(engine: Engine) -> None:
    sync(engine, reading({"1": (COMPLETE, [row("1", stop=True)])}), T0)
    listing = reading({"1": (COMPLETE, []), "2": (COMPLETE, [])})
    unfollowed = Reading(listing.groups, [read for read in listing.reads if read.group_id == "2"])
    sync(engine, unfollowed, T0 + timedelta(hours=6), followed={"2"})
    assert query(engine, "SELECT group_id, followed FROM contact_groups ORDER BY group_id") == [("1", False), ("2", True)]
    assert stops(engine) == []


def test_an_unparseable_number_is_kept_raw_and_a_changed_number_corrected(engine: Engine) -> None:
    sync(engine, reading({"1": (COMPLETE, [row("1", phone="n/a"), row("2", stop=True)])}), T0)
    result = sync(engine, reading({"1": (COMPLETE, [row("1", phone="n/a"), row("2", stop=True, phone="+33699999999")])}),
                  T0 + timedelta(hours=6))
    assert result.changed == 1
    assert query(engine, "SELECT contact_id, phone_raw, phone_e164 FROM contacts ORDER BY contact_id") == [
        ("1", "n/a", None), ("2", "+33699999999", "+33699999999")]
    assert stops(engine) == [("1", "+33699999999")]


def test_the_same_ids_in_two_accounts_are_two_groups(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO accounts (id, label, type, first_seen_at) VALUES (2, 'sub2', 'simple', :n)"), {"n": T0})
    sync(engine, reading({"1": (COMPLETE, [row("1", stop=True)])}), T0)
    sync(engine, reading({"1": (COMPLETE, [row("1")])}), T0, account=2)
    assert query(engine, "SELECT account_id, group_id, stop_sms FROM contacts ORDER BY account_id") == [
        (1, "1", True), (2, "1", False)]
    sync(engine, reading({}), T0 + timedelta(hours=1), account=2)
    assert query(engine, "SELECT account_id FROM contact_groups WHERE gone_since IS NOT NULL") == [(2,)]
    assert stops(engine) == [("1", "+33612000001")]


# --- what a sync writes: O(changes) rows, while first/last seen and gone since stay answerable ------------

@contextmanager
def writes(engine: Engine) -> Iterator[Counter[str]]:
    """Rows each ``INSERT``/``UPDATE`` reported, per table, while the block runs (MariaDB's driver reports
    matched rows, as the others do: SQLAlchemy sets its FOUND_ROWS flag)."""
    counted: Counter[str] = Counter()

    def count(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        head = statement.split(None, 3)
        if head[0] in ("INSERT", "UPDATE") and cursor.rowcount > 0:
            counted[head[2] if head[0] == "INSERT" else head[1]] += cursor.rowcount

    event.listen(engine, "after_cursor_execute", count)
    try:
        yield counted
    finally:
        event.remove(engine, "after_cursor_execute", count)


def seen(engine: Engine) -> list[tuple[Any, ...]]:
    rows = query(engine, "SELECT contact_id, first_seen_at, last_seen_at, gone_since FROM contacts_seen ORDER BY contact_id")
    return [(cid, *(_utc(v) for v in values)) for cid, *values in rows]


def _utc(value: Any) -> datetime | None:
    """A view's timestamp as an aware datetime (SQLite gives the stored text, MariaDB a naive UTC one)."""
    if value is None or isinstance(value, datetime) and value.tzinfo is not None:
        return value
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return parsed.replace(tzinfo=timezone.utc)


T6, T12, T18 = (T0 + timedelta(hours=h) for h in (6, 12, 18))


def test_an_unchanged_complete_read_writes_no_contact_and_every_contact_is_seen_by_it(engine: Engine) -> None:
    first = {"1": (COMPLETE, [row(str(i), stop=i % 3 == 0) for i in range(1, 31)]), "2": (COMPLETE, [row("40")])}
    sync(engine, reading(first), T0)
    stored = query(engine, "SELECT * FROM contacts ORDER BY id")
    with writes(engine) as written:
        result = sync(engine, reading(first), T6)
    assert (result.added, result.changed, result.removed) == (0, 0, 0)
    assert written["contacts"] == 0 and written["contact_events"] == 0
    assert written["contact_groups"] == 2  # the sync's marker: one row per listed group
    assert query(engine, "SELECT * FROM contacts ORDER BY id") == stored
    assert {(first_seen, last_seen, gone) for _cid, first_seen, last_seen, gone in seen(engine)} == {(T0, T6, None)}


def test_a_flag_flip_writes_only_the_flipped_contact(engine: Engine) -> None:
    sync(engine, reading({"1": (COMPLETE, [row(str(i)) for i in range(1, 21)])}), T0)
    with writes(engine) as written:
        result = sync(engine, reading({"1": (COMPLETE, [row(str(i), stop=i == 7) for i in range(1, 21)])}), T6)
    assert result.changed == 1 and (written["contacts"], written["contact_events"]) == (1, 1)
    assert query(engine, "SELECT contact_id, stop_sms FROM contacts WHERE stop_sms = TRUE") == [("7", True)]
    assert {last for _cid, _first, last, _gone in seen(engine)} == {T6}


def test_a_contact_gone_keeps_its_last_sight_and_one_back_is_seen_again(engine: Engine) -> None:
    sync(engine, reading({"1": (COMPLETE, [row("1"), row("2")])}), T0)
    sync(engine, reading({"1": (COMPLETE, [row("1"), row("2")])}), T6)  # seen again, not written
    with writes(engine) as written:
        assert sync(engine, reading({"1": (COMPLETE, [row("2")])}), T12).removed == 1
    assert written["contacts"] == 1
    assert seen(engine) == [("1", T0, T6, T12), ("2", T0, T12, None)]
    sync(engine, reading({"1": (COMPLETE, [row("2")])}), T18)
    assert seen(engine)[0] == ("1", T0, T6, T12)  # a gone contact's sight does not follow its group's reads
    sync(engine, reading({"1": (COMPLETE, [row("1"), row("2")])}), T18 + timedelta(hours=6))
    assert seen(engine)[0] == ("1", T0, T18 + timedelta(hours=6), None)


def test_a_group_gone_freezes_its_contacts_last_sight(engine: Engine) -> None:
    sync(engine, reading({"1": (COMPLETE, [row("1")]), "2": (COMPLETE, [row("2")])}), T0)
    sync(engine, reading({"1": (COMPLETE, [row("1")]), "2": (COMPLETE, [row("2")])}), T6)
    sync(engine, reading({"2": (COMPLETE, [row("2")])}), T12)
    assert seen(engine) == [("1", T0, T6, T12), ("2", T0, T12, None)]


def test_partial_and_failed_reads_write_only_what_they_saw_and_clear_nothing(engine: Engine) -> None:
    sync(engine, reading({"1": (COMPLETE, [row("1", stop=True), row("2"), row("3")])}), T0)
    bad = Rejection("contact/list", {"contactId": "x"}, "phone: missing", "contact", "x")
    with writes(engine) as written:
        result = sync(engine, reading({"1": (PARTIAL, [row("1"), row("2")])}, rejected=[bad]), T6)
    assert result.outcome == "partial" and (result.changed, result.removed) == (0, 0)
    assert written["contacts"] == 2  # the two it listed are seen now; the flag of 1 stands
    assert stops(engine) == [("1", "+33612000001")]
    assert seen(engine) == [("1", T0, T6, None), ("2", T0, T6, None), ("3", T0, T0, None)]
    with writes(engine) as written:
        sync(engine, reading({"1": (FAILED, [])}), T12)
    assert written["contacts"] == 0 and stops(engine) == [("1", "+33612000001")]
    assert seen(engine)[2] == ("3", T0, T0, None)
