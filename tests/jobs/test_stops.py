"""Stop-list sync against the simulator over real sockets, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, text

from etl.config import StopsConfig
from tests.jobs.helpers import (
    TEST_KEY,
    make_config,
    recording_client,
    run,
    sim_clock,
    table_rows,
    timed_behind_a_reader,
)


def sync(engine, config, client, sim, **kwargs):
    return run("stops", engine, config, client, now=sim_clock(sim), **kwargs)


def open_numbers(engine):
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT phone_e164 FROM current_stops ORDER BY phone_e164")).scalars().all()
        conn.rollback()
    return rows


def test_first_load_opens_one_period_per_listed_number(env):
    engine, sim, config, client = env
    for phone in ("+33612345678", "+33712345678", "+32470123456"):
        sim.add_stop(phone)

    report = sync(engine, config, client, sim)

    assert report.outcome == "success"
    assert (report.result.added, report.result.changed, report.result.removed) == (3, 0, 0)
    assert open_numbers(engine) == ["+32470123456", "+33612345678", "+33712345678"]
    with engine.connect() as conn:
        run_row = conn.execute(text("SELECT outcome, rows_added FROM sync_runs WHERE job = 'stops'")).one()
    assert tuple(run_row) == ("success", 3)


def test_first_load_into_an_empty_table_leaves_every_index_in_place(env):
    # The first load builds stop_periods' indexes after its rows (SQLite, PostgreSQL): they must
    # all be back, the partial unique one still refusing a second open period for an id.
    from sqlalchemy import inspect

    from etl.db.schema import stop_periods

    engine, sim, config, client = env
    sim.add_stop("+33612345678")
    assert sync(engine, config, client, sim).outcome == "success"
    with engine.connect() as conn:
        present = {ix["name"] for ix in inspect(conn).get_indexes("stop_periods")}
        conn.rollback()
    expected = {ix.name for ix in stop_periods.indexes}
    if engine.dialect.name == "sqlite" or engine.dialect.name == "postgresql":
        assert expected <= present
        with engine.connect() as conn, pytest.raises(Exception, match="(?i)unique"):
            conn.execute(text(
                "INSERT INTO stop_periods (api_stop_id, phone_raw, first_seen_at, source) "
                "SELECT api_stop_id, phone_raw, first_seen_at, source FROM stop_periods"
            ))


def test_resync_opens_new_numbers_and_closes_vanished_ones(env):
    engine, sim, config, client = env
    config = make_config(config.database.url, config.api.base_url, stops=StopsConfig(max_removed_share=0.5))
    keep = sim.add_stop("+33612345678")
    gone = sim.add_stop("+33712345678")
    sync(engine, config, client, sim)

    sim.remove_stop(gone)
    sim.add_stop("+33698765432")
    sim.clock.advance(timedelta(hours=1))
    report = sync(engine, config, client, sim)

    assert (report.result.added, report.result.removed) == (1, 1)
    assert open_numbers(engine) == ["+33612345678", "+33698765432"]
    with engine.connect() as conn:
        closed = conn.execute(
            text("SELECT api_stop_id, removed_how, last_seen_at, removed_at FROM stop_periods WHERE removed_at IS NOT NULL")
        ).one()
    assert closed.api_stop_id == gone and closed.removed_how == "api_missing"
    assert closed.last_seen_at < closed.removed_at
    assert keep != gone


def test_number_back_after_removal_opens_a_second_period(env):
    engine, sim, config, client = env
    config = make_config(config.database.url, config.api.base_url, stops=StopsConfig(max_removed_share=1.0))
    sim.add_stop("+33611111111")
    first = sim.add_stop("+33612345678")
    sync(engine, config, client, sim)
    sim.remove_stop(first)
    sync(engine, config, client, sim)
    sim.add_stop("+33612345678")
    sync(engine, config, client, sim)

    with engine.connect() as conn:
        periods = conn.execute(
            text("SELECT removed_at IS NULL FROM stop_periods WHERE phone_e164 = '+33612345678' ORDER BY id")
        ).scalars().all()
    assert periods == [False, True]


def test_rerun_without_changes_writes_no_rows(env):
    engine, sim, config, client = env
    for i in range(20):
        sim.add_stop(f"+336120000{i:02d}")
    sync(engine, config, client, sim)
    before = table_rows(engine, "stop_periods")

    report = sync(engine, config, client, sim)

    assert (report.result.added, report.result.changed, report.result.removed) == (0, 0, 0)
    assert table_rows(engine, "stop_periods") == before


@pytest.mark.parametrize("fault", ["drop", "truncated", "invalid_json", "http_503"])
def test_fault_during_download_leaves_stored_stops_untouched(env, fault):
    engine, sim, config, client = env
    config = make_config(config.database.url, config.api.base_url, stops=StopsConfig(max_removed_share=1.0))
    ids = [sim.add_stop(f"+3361234560{i}") for i in range(5)]
    sync(engine, config, client, sim)
    before = table_rows(engine, "stop_periods")
    sim.remove_stop(ids[0])
    sim.add_stop("+33699999999")
    params = {"after_bytes": 40} if fault == "drop" else {}
    sim.faults.inject("stop-sms/list", fault, count=None, **params)

    report = sync(engine, config, client, sim)

    assert report.outcome == "failed"
    assert TEST_KEY not in (report.error or "")
    assert table_rows(engine, "stop_periods") == before
    sim.faults.clear()
    assert sync(engine, config, client, sim).outcome == "success"
    assert "+33699999999" in open_numbers(engine)


def test_empty_list_is_refused_unless_forced(env):
    engine, sim, config, client = env
    ids = [sim.add_stop(f"+3361234560{i}") for i in range(3)]
    sync(engine, config, client, sim)
    for stop_id in ids:
        sim.remove_stop(stop_id)

    refused = sync(engine, config, client, sim)
    assert refused.outcome == "refused"
    assert "empty stop list" in refused.error
    assert len(open_numbers(engine)) == 3

    forced = sync(engine, config, client, sim, force=True)
    assert forced.outcome == "success" and forced.result.removed == 3
    assert open_numbers(engine) == []


def test_list_shrinking_beyond_the_configured_share_is_refused(env):
    engine, sim, config, client = env
    ids = [sim.add_stop(f"+336123456{i:02d}") for i in range(10)]
    sync(engine, config, client, sim)
    for stop_id in ids[:4]:
        sim.remove_stop(stop_id)

    report = sync(engine, config, client, sim)

    assert report.outcome == "refused"
    assert "4 of 10" in report.error
    assert len(open_numbers(engine)) == 10


KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timezone
    from etl.config import Secret
    from etl.db.engine import make_engine
    from etl.api.client import SmsPartnerClient
    from etl.runner import run_job
    from tests.jobs.helpers import make_config
    db_url, base_url = sys.argv[1], sys.argv[2]
    config = make_config(db_url, base_url)
    client = SmsPartnerClient(base_url, Secret(sys.argv[3]), read_timeout=60, max_attempts=1)
    run_job("stops", config=config, client=client, engine=make_engine(db_url))
    """
)


def test_sync_killed_midway_leaves_state_untouched_and_next_run_completes(env):
    engine, sim, config, client = env
    for i in range(5):
        sim.add_stop(f"+3361234560{i}")
    sync(engine, config, client, sim)
    before = table_rows(engine, "stop_periods")
    sim.generate_stops(20_000)
    sim.faults.inject("stop-sms/list", "delay", count=1, seconds=30)

    child = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, config.database.url, config.api.base_url, TEST_KEY],
        cwd=os.getcwd(),
    )
    try:
        deadline = time.monotonic() + 60  # the child imports the package first: slow on a loaded machine
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                running = conn.execute(text("SELECT COUNT(*) FROM sync_runs WHERE outcome = 'running'")).scalar()
                conn.rollback()
            if running and sim.calls_to("stop-sms/list"):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the child never started its sync")
        time.sleep(0.3)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()

    assert table_rows(engine, "stop_periods") == before
    sim.faults.clear()
    # The dead child's job lock: gone with its session on PostgreSQL/MariaDB; on SQLite a lease row
    # that blocks the job until it expires, so the next run comes after ``daemon.lease``.
    after_lease = lambda: datetime.now(timezone.utc) + timedelta(seconds=config.daemon.lease + 1)  # noqa: E731
    # PostgreSQL/MariaDB drop the dead session (and its lock) once they notice the closed socket,
    # which under load can come a moment after SIGKILL: a skip ("locked") writes no run row, retry.
    deadline = time.monotonic() + 15
    report = sync(engine, config, client, sim, wall_clock=after_lease)
    while report.outcome == "skipped" and time.monotonic() < deadline:
        time.sleep(0.2)
        report = sync(engine, config, client, sim, wall_clock=after_lease)
    assert report.outcome == "success" and report.result.added == 20_000
    with engine.connect() as conn:
        outcomes = conn.execute(text("SELECT outcome FROM sync_runs ORDER BY id")).scalars().all()
    assert outcomes == ["success", "abandoned", "success"]


def test_download_broken_once_midstream_is_restarted_and_the_sync_completes(env):
    # Rows are already in the database when the connection drops (the client parses ~1 MB at a
    # time): the restart must discard them without aborting the transaction (a failed COPY does).
    engine, sim, config, client = env
    sim.generate_stops(40_000)
    sim.faults.inject("stop-sms/list", "drop", count=1, after_bytes=2_000_000)

    report = sync(engine, config, client, sim)

    assert report.outcome == "success", report.error
    assert len(sim.calls_to("stop-sms/list")) == 2
    assert report.result.added == 40_000
    assert len(open_numbers(engine)) == 40_000


def stop_rows(runs):
    """The client's flat runs (4 values per stop) as one list of row tuples."""
    values = [value for run in runs for value in run]
    return [tuple(values[i : i + 4]) for i in range(0, len(values), 4)]


def flat(rows):
    return [value for row in rows for value in row]


class WrappedClient:
    """The real client (over the real simulator); subclasses change what its stop list streams."""

    def __init__(self, client) -> None:
        self._client = client

    def __getattr__(self, name):
        return getattr(self._client, name)


class RepeatingClient(WrappedClient):
    """The real client, except that the stop list repeats one entry (an API bug we must refuse)."""

    def __init__(self, client, repeat_index: int) -> None:
        super().__init__(client)
        self._repeat_index = repeat_index

    def stream_list(self, *args, **kwargs):
        rows = stop_rows(self._client.stream_list(*args, **kwargs))
        yield flat(rows[: self._repeat_index + 1] + rows[self._repeat_index :])


@pytest.mark.parametrize("stored_before", [False, True], ids=["first_load", "resync"])
def test_list_with_a_repeated_id_is_refused_and_stores_nothing(env, stored_before):
    engine, sim, config, client = env
    for i in range(5):
        sim.add_stop(f"+3361234560{i}")
    if stored_before:
        assert sync(engine, config, client, sim).outcome == "success"
    before = table_rows(engine, "stop_periods")
    sim.add_stop("+33699999999")

    report = sync(engine, config, RepeatingClient(client, repeat_index=2), sim)

    assert report.outcome == "failed"
    assert "same stop id twice" in report.error
    assert table_rows(engine, "stop_periods") == before


def test_first_load_after_a_refused_one_loads_the_list_and_keeps_the_keys(env):
    # The refused first load had dropped stop_periods' indexes and foreign keys (PostgreSQL) in
    # its transaction: the rollback must bring them back, and the next load must work.
    engine, sim, config, client = env
    for i in range(5):
        sim.add_stop(f"+3361234560{i}")
    keys_before = constraint_definitions(engine)
    assert sync(engine, config, RepeatingClient(client, repeat_index=0), sim).outcome == "failed"
    assert constraint_definitions(engine) == keys_before

    report = sync(engine, config, client, sim)

    assert report.outcome == "success" and report.result.added == 5
    assert len(open_numbers(engine)) == 5
    assert constraint_definitions(engine) == keys_before


def constraint_definitions(engine):
    """stop_periods' keys and indexes as the database describes them."""
    from sqlalchemy import inspect

    with engine.connect() as conn:
        inspector = inspect(conn)
        described = (
            sorted((fk["name"], fk["constrained_columns"], fk["referred_table"]) for fk in inspector.get_foreign_keys("stop_periods")),
            sorted((ix["name"], ix["column_names"], bool(ix["unique"])) for ix in inspector.get_indexes("stop_periods")),
        )
        conn.rollback()
    return described


def test_first_load_keeps_the_foreign_keys_of_stop_periods_checked(env):
    # PostgreSQL drops stop_periods' foreign keys for a first load and adds them back: they must be
    # back, with the same names and columns, and still refuse a run id that does not exist.
    engine, sim, config, client = env
    keys_before = constraint_definitions(engine)
    sim.add_stop("+33612345678")

    assert sync(engine, config, client, sim).outcome == "success"

    assert constraint_definitions(engine) == keys_before
    assert len(keys_before[0]) == 4  # runs (2), the audit, the account (migration 0010)
    with engine.connect() as conn, pytest.raises(Exception, match="(?i)foreign key"):
        conn.execute(text("UPDATE stop_periods SET opened_by_run_id = opened_by_run_id + 1000"))


class RenumberingClient(WrappedClient):
    """The real client, except that one listed entry now carries another number (as if corrected
    upstream under the same id)."""

    def __init__(self, client, index: int, phone: str) -> None:
        super().__init__(client)
        self._index, self._phone = index, phone

    def stream_list(self, *args, **kwargs):
        rows = stop_rows(self._client.stream_list(*args, **kwargs))
        rows[self._index] = (rows[self._index][0], self._phone, self._phone, *rows[self._index][3:])
        yield flat(rows)


def test_entry_whose_number_changed_upstream_is_corrected_in_place(env):
    engine, sim, config, client = env
    ids = [sim.add_stop(f"+3361234560{i}") for i in range(4)]
    sync(engine, config, client, sim)
    before = {row.api_stop_id: row for row in period_rows(engine)}

    report = sync(engine, config, RenumberingClient(client, index=1, phone="+33699999999"), sim)

    assert (report.result.added, report.result.changed, report.result.removed) == (0, 1, 0)
    after = {row.api_stop_id: row for row in period_rows(engine)}
    assert after[ids[1]].phone_e164 == "+33699999999" and after[ids[1]].id == before[ids[1]].id
    assert {k: v for k, v in after.items() if k != ids[1]} == {k: v for k, v in before.items() if k != ids[1]}


def period_rows(engine):
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, api_stop_id, phone_e164, phone_raw, removed_at FROM stop_periods")).all()
        conn.rollback()
    return rows


class ReversingClient(WrappedClient):
    """The real client, except that the stop list comes newest id first."""

    def stream_list(self, *args, **kwargs):
        yield flat(stop_rows(self._client.stream_list(*args, **kwargs))[::-1])


def test_list_out_of_id_order_is_synced_like_one_in_order(env):
    # Ids that ascend need no unique index to rule out repeats; any other order takes the index.
    engine, sim, config, client = env
    config = make_config(config.database.url, config.api.base_url, stops=StopsConfig(max_removed_share=0.5))
    ids = [sim.add_stop(f"+3361234560{i}") for i in range(6)]
    assert sync(engine, config, ReversingClient(client), sim).result.added == 6
    sim.remove_stop(ids[2])
    sim.add_stop("+33698765432")

    report = sync(engine, config, ReversingClient(client), sim)

    assert (report.result.added, report.result.changed, report.result.removed) == (1, 0, 1)
    assert "+33612345602" not in open_numbers(engine) and "+33698765432" in open_numbers(engine)


class ActingMidDownloadClient(WrappedClient):
    """The real client, calling ``act()`` once the list's first run has been handed over."""

    def __init__(self, client, act) -> None:
        super().__init__(client)
        self._act = act

    def stream_list(self, *args, **kwargs):
        for index, batch in enumerate(self._client.stream_list(*args, **kwargs)):
            yield batch
            if index == 0:
                self._act()


def test_period_opened_during_a_first_download_is_closed_when_its_id_is_not_listed(env):
    # The first load's stage gets no id index (nothing was open when the download began); a
    # period opened meanwhile (here: one the tool added) turns the sync into a re-sync, whose
    # scan for vanished ids must still find it. Under MariaDB's repeatable read the sync may
    # not see it yet: then the next sync closes it.
    engine, sim, config, client = env
    config = make_config(config.database.url, config.api.base_url, stops=StopsConfig(max_removed_share=1.0))
    for i in range(5):
        sim.add_stop(f"+3361234560{i}")

    def open_a_period_elsewhere() -> None:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO stop_periods (api_stop_id, phone_e164, phone_raw, first_seen_at, source) "
                "VALUES (999999, '+33698765432', '+33698765432', CURRENT_TIMESTAMP, 'tool')"
            ))

    first = sync(engine, config, ActingMidDownloadClient(client, open_a_period_elsewhere), sim)
    second = sync(engine, config, client, sim)

    assert first.outcome == "success" and first.result.added == 5
    assert first.result.removed + second.result.removed == 1
    assert open_numbers(engine) == [f"+3361234560{i}" for i in range(5)]
    with engine.connect() as conn:
        how = conn.execute(text("SELECT removed_how FROM stop_periods WHERE api_stop_id = 999999")).scalar_one()
        conn.rollback()
    assert how == "api_missing"


@pytest.mark.backends("postgresql")
def test_first_load_behind_a_long_reader_of_sync_runs_keeps_the_keys_and_completes(env, caplog):
    # Dropping stop_periods' foreign keys for a first load needs sync_runs to itself; behind a
    # transaction still reading it, the load gives up on that after a moment instead of queueing
    # every later reader behind it, and loads with its keys in place.
    engine, sim, config, client = env
    for i in range(5):
        sim.add_stop(f"+3361234560{i}")
    keys_before = constraint_definitions(engine)
    report, waited = timed_behind_a_reader(engine, ["sync_runs"], lambda: sync(engine, config, client, sim))

    assert report.outcome == "success" and report.result.added == 5
    assert waited < 10
    assert "keeps stop_periods' foreign keys" in caplog.text
    assert constraint_definitions(engine) == keys_before
    assert len(open_numbers(engine)) == 5


@pytest.mark.parametrize(
    ("runs", "ascending"),
    [
        ([[1, "a", "a", None, 5, "b", "b", None], [6, "c", "c", None]], True),
        ([[1, "a", "a", None, 5, "b", "b", None], [5, "c", "c", None]], False),  # a repeat across runs
        ([[1, "a", "a", None, 5, "b", "b", None], [4, "c", "c", None]], False),
        ([[3, "a", "a", None, 2, "b", "b", None]], False),
        ([], True),
    ],
    ids=["ascending", "repeat-at-boundary", "step-back-at-boundary", "descending-in-run", "empty"],
)
def test_id_order_watches_ids_across_runs_and_passes_runs_through(runs, ascending):
    from etl.jobs.stops import _IdOrder

    order = _IdOrder()
    assert list(order.watch(iter(runs))) == runs
    assert order.ascending is ascending


# --------------------------------------------------------------------------------------------------
# Quarantine (issue 16): an unreadable entry never stalls the sync, and is read fail-closed
# --------------------------------------------------------------------------------------------------


def rejected(engine):
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT endpoint, ref_kind, ref, reason, times_seen FROM rejected_items ORDER BY id")
        ).all()
        conn.rollback()
    return rows


def periods(engine):
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT api_stop_id, phone_e164, api_created_at, created_at_unreadable, removed_at IS NULL AS open"
                " FROM stop_periods ORDER BY id"
            )
        ).all()
        conn.rollback()
    return rows


def run_row(engine):
    with engine.connect() as conn:
        row = conn.execute(text("SELECT outcome, detail FROM sync_runs WHERE job = 'stops' ORDER BY id DESC")).first()
        conn.rollback()
    return row


def test_a_resync_with_every_entry_readable_sends_no_quarantine_statement(env):
    """The quarantine costs a clean run nothing: no statement on rejected_items, no stage date fix-up
    (the A/B before and after it: docs/benchmarks.md, "Stop re-sync")."""
    engine, sim, config, client = env
    ids = [sim.add_stop(f"+336130000{i:02d}") for i in range(20)]
    assert sync(engine, config, client, sim).outcome == "success"
    sim.remove_stop(ids[3])
    sim.add_stop("+33613000099")
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        report = sync(engine, config, client, sim)
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert report.outcome == "success" and (report.result.added, report.result.removed) == (1, 1)
    assert any("stop_periods" in s for s in statements)
    assert [s for s in statements if "rejected_items" in s or s.lstrip().startswith("UPDATE stage_stops")] == []


@pytest.mark.parametrize("stored_before", [False, True], ids=["first_load", "resync"])
def test_an_entry_that_cannot_be_read_is_quarantined_and_the_rest_applied(env, stored_before):
    engine, sim, config, client = env
    sim.add_stop("+33611111111")
    if stored_before:
        assert sync(engine, config, client, sim).outcome == "success"
    sim.add_stop("+33612222222")
    sim.add_stop("+33613333333")
    sim.faults.inject("stop-sms/list", "malformed_item", index=1)  # the entry becomes "n/a"

    report = sync(engine, config, client, sim)

    assert report.outcome == "partial", report.error
    assert report.result.detail.startswith("partial, 1 item quarantined")
    assert run_row(engine).outcome == "partial"
    assert open_numbers(engine) == ["+33611111111", "+33613333333"]
    assert [(r.endpoint, r.ref_kind, r.ref) for r in rejected(engine)] == [("stop-sms/list", "stop", None)]


def test_an_entry_whose_date_is_unreadable_is_still_a_stop_dated_null_and_flagged(env):
    engine, sim, config, client = env
    sim.add_stop("+33611111111")
    flagged = sim.add_stop("+33612222222")
    sim.faults.inject("stop-sms/list", "malformed_item", field="createdAt", value="04/12/2026 07:00", index=1)

    report = sync(engine, config, client, sim)

    assert report.outcome == "partial" and report.result.added == 2
    assert open_numbers(engine) == ["+33611111111", "+33612222222"]
    rows = {r.api_stop_id: r for r in periods(engine)}
    assert rows[flagged].api_created_at is None and bool(rows[flagged].created_at_unreadable)
    assert not rows[flagged - 1].created_at_unreadable and rows[flagged - 1].api_created_at is not None
    ((endpoint, kind, ref, reason, _seen),) = rejected(engine)
    assert (endpoint, kind, ref) == ("stop-sms/list", "stop", str(flagged)) and "04/12/2026 07:00" in reason

    # Readable again: the date is stored and the flag cleared, in place (no second period).
    sim.clock.advance(timedelta(hours=1))
    assert sync(engine, config, client, sim).outcome == "success"
    rows = periods(engine)
    assert len(rows) == 2 and all(r.api_created_at is not None and not r.created_at_unreadable for r in rows)


def test_an_unreadable_date_never_erases_the_date_stored_before(env):
    engine, sim, config, client = env
    sim.add_stop("+33611111111")
    sync(engine, config, client, sim)
    (before,) = periods(engine)
    sim.faults.inject("stop-sms/list", "malformed_item", field="createdAt", value="n/a", index=0)

    report = sync(engine, config, client, sim)

    assert report.outcome == "partial" and (report.result.added, report.result.changed, report.result.removed) == (0, 0, 0)
    assert periods(engine) == [before]


@pytest.mark.parametrize(
    "spoil",
    [{"field": "id", "value": "n/a"}, {"field": "phoneNumber", "value": 612}, {}],
    ids=["id_unreadable", "number_unreadable", "nothing_readable"],
)
def test_a_removal_is_never_inferred_from_an_unreadable_entry(env, spoil):
    # The spoiled entry's stop is still upstream: its period must stay open. An entry naming nothing
    # readable could be any open stop, so then no period closes at all, not even one really removed.
    engine, sim, config, client = env
    config = make_config(config.database.url, config.api.base_url, stops=StopsConfig(max_removed_share=1.0))
    sim.add_stop("+33611111111")
    sim.add_stop("+33612222222")
    really_removed = sim.add_stop("+33613333333")
    sync(engine, config, client, sim)
    sim.remove_stop(really_removed)
    sim.faults.inject("stop-sms/list", "malformed_item", index=1, **spoil)

    report = sync(engine, config, client, sim)

    assert report.outcome == "partial", report.error
    still_open = ["+33611111111", "+33612222222"] + (["+33613333333"] if not spoil else [])
    assert open_numbers(engine) == still_open
    assert report.result.removed == (0 if not spoil else 1)
    (row,) = rejected(engine)
    assert row.ref == {"id": "+33612222222", "phoneNumber": str(really_removed - 1)}.get(spoil.get("field"))

    # The next readable list closes what really left, and nothing else.
    sim.clock.advance(timedelta(hours=1))
    assert sync(engine, config, client, sim).outcome == "success"
    assert open_numbers(engine) == ["+33611111111", "+33612222222"]


def test_a_number_read_without_its_id_is_kept_as_a_stop_and_adopted_once_readable(env):
    engine, sim, config, client = env
    sim.add_stop("+33611111111")
    stop_id = sim.add_stop("+33612222222")
    sim.faults.inject("stop-sms/list", "malformed_item", field="id", value=None, index=1)

    report = sync(engine, config, client, sim)

    assert report.outcome == "partial" and report.result.added == 2
    assert open_numbers(engine) == ["+33611111111", "+33612222222"]
    assert [r.api_stop_id for r in periods(engine) if r.phone_e164 == "+33612222222"] == [None]

    sim.clock.advance(timedelta(hours=1))
    assert sync(engine, config, client, sim).outcome == "success"
    assert [r.api_stop_id for r in periods(engine) if r.phone_e164 == "+33612222222"] == [stop_id]


def test_a_list_of_only_unreadable_entries_is_not_taken_for_an_empty_list(env):
    engine, sim, config, client = env
    sim.add_stop("+33611111111")
    sync(engine, config, client, sim)
    sim.faults.inject("stop-sms/list", "malformed_item", index=0)

    report = sync(engine, config, client, sim)

    assert report.outcome == "partial", report.error
    assert open_numbers(engine) == ["+33611111111"]


# --------------------------------------------------------------------------------------------------
# Restarts (issue 16, issue 21 item 5): one retry budget for the whole download, sleeps injected
# --------------------------------------------------------------------------------------------------



@pytest.mark.parametrize(
    ("stops", "faults"),
    [
        (3, [("truncated", {"count": None})]),
        (40_000, [("drop", {"count": None, "after_bytes": 2_000_000})]),
        (40_000, [("drop", {"count": 1, "after_bytes": 2_000_000}), ("http_503", {"count": None})]),
    ],
    ids=["truncated_every_time", "dropped_mid_stream_every_time", "dropped_then_refused"],
)
def test_restarts_and_the_retries_of_each_start_spend_one_budget(env, stops, faults):
    engine, sim, config, _ = env
    client, sleeps = recording_client(config.api.base_url)
    if stops > 3:
        sim.generate_stops(stops)
    else:
        for i in range(stops):
            sim.add_stop(f"+3361111111{i}")
    for kind, params in faults:
        sim.faults.inject("stop-sms/list", kind, **params)

    report = sync(engine, config, client, sim)

    assert report.outcome == "failed"
    assert len(sim.calls_to("stop-sms/list")) == 3  # max_attempts, not restarts x attempts
    assert len(sleeps) == 2  # every wait through the client's sleep, none real
    assert open_numbers(engine) == []
    client.close()


def test_a_download_restarted_once_completes_within_the_budget(env):
    engine, sim, config, _ = env
    client, sleeps = recording_client(config.api.base_url)
    sim.generate_stops(40_000)
    sim.faults.inject("stop-sms/list", "drop", count=1, after_bytes=2_000_000)
    sim.faults.inject("stop-sms/list", "http_503", count=1)

    report = sync(engine, config, client, sim)

    assert report.outcome == "success", report.error
    assert len(sim.calls_to("stop-sms/list")) == 3 and len(sleeps) == 2
    assert report.result.added == 40_000
    client.close()
