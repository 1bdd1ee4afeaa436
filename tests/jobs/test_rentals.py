"""Rental file sync against the simulator over real sockets, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from etl.api.parse import RentalNumber
from etl.api.rentalrows import rental_row
from etl.config import RentalsConfig, RentalToken
from etl.db.engine import make_engine
from etl.jobs import rentals as rentals_job
from tests.jobs.helpers import make_config, recording_client, run, sim_clock, table_rows, timed_behind_a_reader

NUMBERS = ["+33612345601", "+33612345602", "+33612345603", "+33712345604", "+32470123456"]


@pytest.fixture
def env(job_env, tmp_path, monkeypatch):
    monkeypatch.setenv(rentals_job.SPOOL_ENV, str(tmp_path / "spool"))
    return job_env(rentals=RentalsConfig(tokens=(RentalToken("tok-alpha-0001", "alpha"),)))


def sync(engine, config, client, sim, **kwargs):
    return run("rentals", engine, config, client, now=sim_clock(sim), **kwargs)


def query(engine, sql, **params):
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(sql), params)]
        conn.rollback()
    return rows


def numbers(engine, where="in_file = TRUE"):
    return query(engine, f"SELECT phone_e164, stop FROM rental_numbers WHERE {where} ORDER BY phone_e164")


def rental_status(engine, token="tok-alpha-0001"):
    return query(engine, "SELECT last_status, last_status_code, last_status_text FROM rentals WHERE token = :t", t=token)[0]


def test_first_load_stores_every_number_with_its_stop_flag(env):
    engine, sim, config, client = env
    sim.add_rental("tok-alpha-0001", NUMBERS)
    sim.set_rental_stop("tok-alpha-0001", NUMBERS[1], True)

    report = sync(engine, config, client, sim)

    assert report.outcome == "success", report.error
    assert report.result.added == 5
    assert [(p, bool(s)) for p, s in numbers(engine)] == sorted((p, p == NUMBERS[1]) for p in NUMBERS)
    assert rental_status(engine)[0] == "loaded"
    events = query(engine, "SELECT event, COUNT(*) FROM rental_number_events GROUP BY event")
    assert events == [("added", 5)]
    assert query(engine, "SELECT phone_e164 FROM rental_stops_current") == [(NUMBERS[1],)]
    textable = [p for (p,) in query(engine, "SELECT phone_e164 FROM rental_numbers_textable ORDER BY phone_e164")]
    assert textable == sorted(set(NUMBERS) - {NUMBERS[1]})


def test_flag_flips_are_recorded_as_history_with_the_time_observed(env):
    engine, sim, config, client = env
    sim.add_rental("tok-alpha-0001", NUMBERS)
    sync(engine, config, client, sim)
    sim.set_rental_stop("tok-alpha-0001", NUMBERS[0], True)
    sim.clock.advance(timedelta(hours=1))
    second = sync(engine, config, client, sim)
    sim.set_rental_stop("tok-alpha-0001", NUMBERS[0], False)
    sim.clock.advance(timedelta(hours=1))
    third = sync(engine, config, client, sim)

    assert (second.result.added, second.result.changed, second.result.removed) == (0, 1, 0)
    assert third.result.changed == 1
    history = query(
        engine,
        "SELECT e.event, e.stop, e.observed_at, f.loaded_at FROM rental_number_events e "
        "JOIN rental_files f ON f.id = e.file_id WHERE e.phone_e164 = :p ORDER BY e.id",
        p=NUMBERS[0],
    )
    assert [(h[0], bool(h[1])) for h in history] == [("added", False), ("stop_on", True), ("stop_off", False)]
    assert history[1][2] < history[2][2]
    assert NUMBERS[0] in [p for (p,) in query(engine, "SELECT phone_e164 FROM rental_numbers_textable")]


def test_resync_without_changes_writes_no_number_rows(env):
    engine, sim, config, client = env
    sim.add_rental("tok-alpha-0001", NUMBERS)
    sync(engine, config, client, sim)
    before = table_rows(engine, "rental_numbers")

    report = sync(engine, config, client, sim)

    assert (report.result.added, report.result.changed, report.result.removed) == (0, 0, 0)
    assert table_rows(engine, "rental_numbers") == before
    assert query(engine, "SELECT COUNT(*) FROM rental_files") == [(2,)]


def test_number_leaving_the_file_is_kept_out_of_the_views_and_recorded(env):
    engine, sim, config, client = env
    sim.add_rental("tok-alpha-0001", NUMBERS)
    sync(engine, config, client, sim)
    sim.rentals["tok-alpha-0001"].explicit.remove(NUMBERS[2])

    report = sync(engine, config, client, sim)

    assert report.result.removed == 1
    assert NUMBERS[2] not in [p for p, _ in numbers(engine)]
    assert query(engine, "SELECT in_file, left_at IS NOT NULL FROM rental_numbers WHERE phone_e164 = :p", p=NUMBERS[2]) in (
        [(False, True)], [(0, 1)],
    )
    assert NUMBERS[2] not in [p for (p,) in query(engine, "SELECT phone_e164 FROM rental_numbers_textable")]
    assert query(engine, "SELECT event FROM rental_number_events WHERE phone_e164 = :p ORDER BY id", p=NUMBERS[2]) == [
        ("added",), ("removed",),
    ]

    sim.rentals["tok-alpha-0001"].explicit.append(NUMBERS[2])
    back = sync(engine, config, client, sim)
    assert back.result.added == 1
    assert NUMBERS[2] in [p for p, _ in numbers(engine)]


def test_textable_view_excludes_numbers_in_the_account_stop_list(env):
    engine, sim, config, client = env
    sim.add_rental("tok-alpha-0001", NUMBERS)
    sim.add_stop(NUMBERS[3])
    sync(engine, config, client, sim)
    run("stops", engine, config, client, now=sim_clock(sim))

    textable = [p for (p,) in query(engine, "SELECT phone_e164 FROM rental_numbers_textable")]
    assert NUMBERS[3] not in textable and len(textable) == 4


@pytest.mark.parametrize(
    ("setup", "status", "code"),
    [
        ("unknown_token", "not_found", 32),
        ("token_missing", "token_missing", 31),
        ("file_removed", "file_not_found", 33),
        ("single_download_used", "file_used", 34),
        ("generating", "in_progress", 35),
        ("failed", "rental_failed", 36),
    ],
    ids=["32-not-found", "31-token-missing", "33-file-not-found", "34-file-used", "35-in-progress", "36-failed"],
)
def test_each_download_code_marks_the_rental_and_leaves_its_numbers_untouched(env, setup, status, code):
    engine, sim, config, client = env
    sim.add_rental("tok-alpha-0001", NUMBERS, single_download=setup == "single_download_used")
    first = sync(engine, config, client, sim)
    assert first.outcome == "success"
    before = table_rows(engine, "rental_numbers")
    sim.set_rental_stop("tok-alpha-0001", NUMBERS[0], True)  # a change the failed sync must not apply
    if setup == "unknown_token":
        del sim.rentals["tok-alpha-0001"]
    elif setup == "token_missing":
        sim.faults.inject("location/status", "api_error", code=31)
    elif setup == "file_removed":
        sim.remove_rental_file("tok-alpha-0001")
    elif setup == "generating":
        sim.set_rental_status("tok-alpha-0001", 1)
    elif setup == "failed":
        sim.set_rental_status("tok-alpha-0001", 3)

    report = sync(engine, config, client, sim)

    assert report.outcome == "success", report.error
    assert table_rows(engine, "rental_numbers") == before
    last_status, last_code, last_text = rental_status(engine)
    assert (last_status, last_code) == (status, code)
    assert f"code {code}" in last_text
    run_detail = query(engine, "SELECT detail FROM sync_runs WHERE id = :i", i=report.run_id)[0][0]
    assert f"alpha(…0001)={status}({code})" in run_detail
    assert "tok-alpha-0001" not in run_detail


def test_download_in_progress_is_retried_next_cycle(env):
    engine, sim, config, client = env
    sim.add_rental("tok-alpha-0001", NUMBERS, status=1)
    assert sync(engine, config, client, sim).outcome == "success"
    assert rental_status(engine)[:2] == ("in_progress", 35)
    assert numbers(engine) == []

    sim.set_rental_status("tok-alpha-0001", 2)
    report = sync(engine, config, client, sim)

    assert report.result.added == 5 and rental_status(engine)[0] == "loaded"


def test_single_download_file_survives_a_database_failure_via_the_spool(env, monkeypatch):
    engine, sim, config, client = env
    sim.add_rental("tok-alpha-0001", NUMBERS, single_download=True)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    original = rentals_job.load_file
    monkeypatch.setattr(rentals_job, "load_file", broken)
    failed = sync(engine, config, client, sim)
    assert failed.outcome == "failed"
    assert "disk full" in rental_status(engine)[2]
    assert numbers(engine) == []
    assert len(sim.calls_to("location/file/download")) == 1
    assert len(list(rentals_job.spool_dir().glob("*.tsv"))) == 1
    monkeypatch.setattr(rentals_job, "load_file", original)

    report = sync(engine, config, client, sim)

    assert report.outcome == "success" and report.result.added == 5
    assert len(sim.calls_to("location/file/download")) == 1  # loaded from the spool, not downloaded again
    assert list(rentals_job.spool_dir().glob("*")) == []
    assert sync(engine, config, client, sim).outcome == "success"
    assert rental_status(engine)[:2] == ("file_used", 34)
    assert len(numbers(engine)) == 5


def test_mid_stream_fault_leaves_numbers_untouched_and_no_spool(env):
    engine, sim, config, client = env
    sim.add_rental("tok-alpha-0001", 5000)
    sync(engine, config, client, sim)
    before = table_rows(engine, "rental_numbers")
    sim.flip_rental_stops("tok-alpha-0001", 0.1)
    sim.faults.inject("location/file/download", "drop", count=None, after_bytes=70_000)

    report = sync(engine, config, client, sim)

    assert report.outcome == "failed"
    assert rental_status(engine)[0] == "error"
    assert table_rows(engine, "rental_numbers") == before
    assert list(rentals_job.spool_dir().glob("*")) == []
    sim.faults.clear()
    assert sync(engine, config, client, sim).result.changed == 500


def test_tokens_from_the_table_and_config_are_both_followed_and_removed_ones_ignored(env):
    engine, sim, config, client = env
    sim.add_rental("tok-alpha-0001", NUMBERS[:2])
    sim.add_rental("tok-beta-0002", NUMBERS[2:], stop_share=0.0)
    sim.set_rental_stop("tok-beta-0002", NUMBERS[2], True)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO rentals (token, label, source, added_at, active) "
                "VALUES ('tok-beta-0002', 'beta', 'cli', :now, TRUE)"
            ),
            {"now": sim_clock(sim)().replace(tzinfo=None) if engine.dialect.name != "postgresql" else sim_clock(sim)()},
        )

    report = sync(engine, config, client, sim)
    assert report.result.added == 5
    assert query(engine, "SELECT phone_e164 FROM rental_stops_current") == [(NUMBERS[2],)]

    with engine.begin() as conn:
        conn.execute(text("UPDATE rentals SET active = FALSE WHERE token = 'tok-beta-0002'"))
    assert query(engine, "SELECT phone_e164 FROM rental_stops_current") == []
    calls = len(sim.calls_to("location/status"))
    sync(engine, config, client, sim)
    assert len(sim.calls_to("location/status")) == calls + 1


def test_a_number_listed_twice_is_stored_once_and_stopped_if_any_copy_is(env):
    engine, sim, config, client = env
    sim.add_rental("tok-alpha-0001", NUMBERS + [NUMBERS[0]])
    sim.rentals["tok-alpha-0001"].stop[len(NUMBERS)] = True  # only the second copy says stop

    report = sync(engine, config, client, sim)

    assert report.result.added == 5
    assert query(engine, "SELECT COUNT(*) FROM rental_numbers WHERE phone_e164 = :p", p=NUMBERS[0]) == [(1,)]
    assert query(engine, "SELECT phone_e164 FROM rental_stops_current") == [(NUMBERS[0],)]
    assert query(engine, "SELECT file_rows, numbers, stopped FROM rental_files") == [(6, 5, 1)]


def test_leftover_download_older_than_the_stored_file_is_discarded_not_loaded(env, monkeypatch, tmp_path):
    # Soak finding: a download spooled before a DB outage, found after another instance stored a
    # newer file, turned flags back to the old file's and flipped them again on the next download.
    engine, sim, config, client = env
    sim.add_rental("tok-alpha-0001", NUMBERS)

    def broken(*args, **kwargs):
        raise RuntimeError("database restarting")

    original = rentals_job.load_file
    monkeypatch.setattr(rentals_job, "load_file", broken)
    assert sync(engine, config, client, sim).outcome == "failed"
    monkeypatch.setattr(rentals_job, "load_file", original)
    (old_spool,) = rentals_job.spool_dir().glob("*.tsv")
    kept = tmp_path / "old-spool.tsv"
    old_spool.rename(kept)

    # "Another instance" downloads and stores a newer file in which a number is flagged stop.
    sim.clock.advance(timedelta(hours=1))
    sim.set_rental_stop("tok-alpha-0001", NUMBERS[0], True)
    assert sync(engine, config, client, sim).outcome == "success"
    events_before = query(engine, "SELECT COUNT(*) FROM rental_number_events")[0][0]

    kept.rename(old_spool)  # the stale download reappears
    sim.clock.advance(timedelta(hours=1))
    report = sync(engine, config, client, sim)

    assert report.outcome == "success", report.error
    assert dict((p, bool(s)) for p, s in numbers(engine))[NUMBERS[0]] is True
    assert query(engine, "SELECT COUNT(*) FROM rental_number_events")[0][0] == events_before
    assert list(rentals_job.spool_dir().glob("*.tsv")) == []


# The spool format, through the real load on every backend: odd text must come back unchanged.
ODD = [
    RentalNumber("884310", "+33612345601", "+33612345601", False),
    RentalNumber("884311", "06 12 34 56 02", "+33612345602", True),
    RentalNumber("a\\b\tc", "back\\slash\\N", None, True),
    RentalNumber("x" * 40, "tab\there\nnew\rline", None, False),
    RentalNumber("884314", "\\N", None, False),
    RentalNumber("884315", "é" * 70, None, False),
    RentalNumber("", "+33612345601", "+33612345601", True),  # a duplicate: stored once, stop
]


def _load(engine, rental_id, path, now):
    with engine.begin() as conn:
        return rentals_job.load_file(conn, rental_id, path, downloaded_at=now, now=now, run_id=None)


def _rental(engine, now):
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO rentals (token, label, source, added_at, active) VALUES ('t-spool', 's', 'cli', :now, TRUE)"),
            {"now": now},
        )
        return conn.execute(text("SELECT id FROM rentals WHERE token = 't-spool'")).scalar_one()


def stored(engine):
    return sorted(
        (k, e, r, a, bool(s))
        for k, e, r, a, s in query(engine, "SELECT phone_key, phone_e164, phone_raw, api_contact_id, stop FROM rental_numbers")
    )


EXPECTED_ODD = sorted([
    ("+33612345601", "+33612345601", "+33612345601", "", True),
    ("+33612345602", "+33612345602", "06 12 34 56 02", "884311", True),
    ("raw:back\\slash\\N", None, "back\\slash\\N", "a\\b c", True),
    ("raw:tab here new line", None, "tab here new line", "x" * 32, False),
    ("raw:\\N", None, "\\N", "884314", False),
    ("raw:" + "é" * 64, None, "é" * 64, "884315", False),
])


def test_spool_round_trips_odd_text_unparseable_numbers_and_duplicates(migrated_db_url, tmp_path):
    engine = make_engine(migrated_db_url)
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    rental_id = _rental(engine, now)
    ctx = SimpleNamespace(secrets=(), client=SimpleNamespace(stream_list=lambda spec, shaper, **_: [list(map(rental_row, ODD))]))
    path = tmp_path / "odd.tsv"

    assert rentals_job.download_to_spool(ctx, "t-spool", path, now) == len(ODD)
    _, counts = _load(engine, rental_id, path, now)

    assert stored(engine) == EXPECTED_ODD
    assert (counts.rows, counts.numbers, counts.stopped, counts.unparseable, counts.added) == (7, 6, 3, 4, 6)
    # The same file again changes nothing.
    rentals_job.download_to_spool(ctx, "t-spool", path, now)
    assert _load(engine, rental_id, path, now + timedelta(hours=1))[1].stop_off == 0
    engine.dispose()


def test_a_spool_left_by_the_previous_version_is_still_loaded(migrated_db_url, tmp_path):
    # A v1 spool (api_id, raw, e164, stop), downloaded before an upgrade and not yet stored: the
    # single-use download must not be lost to the format change.
    engine = make_engine(migrated_db_url)
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    rental_id = _rental(engine, now)
    path = tmp_path / "v1.tsv"
    path.write_text(
        f"#{rentals_job.SPOOL_VERSION_1}\t{now.isoformat()}\n"
        "884310\t+33612345601\t+33612345601\t0\n"
        "884311\t06 12 34 56 02\t+33612345602\t1\n"
        "884312\tnot a number\t\t1\n",
        encoding="utf-8",
    )

    assert rentals_job.read_spool_header(path) == now
    _load(engine, rental_id, path, now)

    assert stored(engine) == [
        ("+33612345601", "+33612345601", "+33612345601", "884310", False),
        ("+33612345602", "+33612345602", "06 12 34 56 02", "884311", True),
        ("raw:not a number", None, "not a number", "884312", True),
    ]
    engine.dispose()


@pytest.mark.parametrize(
    ("limit", "entries", "flag"),
    [(100, ODD[:6], False), (100, ODD, True), (2, ODD[:6], True)],
    ids=["no-duplicates", "a-duplicate", "too-long-to-check"],
)
def test_spool_header_says_whether_a_number_may_come_twice(tmp_path, monkeypatch, limit, entries, flag):
    # False lets the load sort without grouping: it must never be said of a file with duplicates.
    monkeypatch.setattr(rentals_job, "DUPLICATE_CHECK_LIMIT", limit)
    ctx = SimpleNamespace(secrets=(), client=SimpleNamespace(stream_list=lambda spec, shaper, **_: [list(map(rental_row, entries))]))
    path = tmp_path / "s.tsv"
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)

    assert rentals_job.download_to_spool(ctx, "t", path, now) == len(entries)

    header = rentals_job._read_header(path)
    assert (header.downloaded_at, header.duplicates) == (now, flag)
    assert len(list(rentals_job._spool_rows(path))) == len(entries)


# The first file into empty number tables: keys and indexes dropped, rows inserted, keys built again.
def keys(engine):
    """What the database says about the number tables' keys and indexes (names and columns)."""
    from sqlalchemy import inspect

    found = {}
    inspector = inspect(engine)
    for table in ("rental_numbers", "rental_number_events"):
        found[table] = (
            sorted((ix["name"], tuple(ix["column_names"]), bool(ix["unique"])) for ix in inspector.get_indexes(table)),
            sorted((uq["name"], tuple(uq["column_names"])) for uq in inspector.get_unique_constraints(table)),
            sorted(
                (fk["name"], tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
                for fk in inspector.get_foreign_keys(table)
            ),
            tuple(inspector.get_pk_constraint(table)["constrained_columns"]),
        )
    return found


def test_first_load_into_empty_tables_leaves_every_key_and_index_as_migrated(env):
    engine, sim, config, client = env
    migrated = keys(engine)
    sim.add_rental("tok-alpha-0001", NUMBERS)

    assert sync(engine, config, client, sim).result.added == 5

    assert keys(engine) == migrated
    rental_id, file_id = query(engine, "SELECT rental_id, id FROM rental_files")[0]
    with pytest.raises(Exception, match="(?i)unique|duplicate"), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO rental_numbers (rental_id, phone_key, phone_raw, stop, in_file, first_seen_at) "
                "VALUES (:r, :k, 'x', FALSE, TRUE, :t)"
            ),
            {"r": rental_id, "k": NUMBERS[0], "t": datetime(2026, 11, 23, tzinfo=UTC)},
        )
    with pytest.raises(Exception, match="(?i)foreign key"), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO rental_number_events (rental_id, file_id, phone_key, event, stop, observed_at) "
                "VALUES (:r, :f, 'k', 'added', FALSE, :t)"
            ),
            {"r": rental_id + 1, "f": file_id, "t": datetime(2026, 11, 23, tzinfo=UTC)},
        )


@pytest.mark.backends("postgresql")
def test_first_load_behind_a_long_reader_of_rentals_keeps_the_keys_and_completes(env, caplog):
    # The key drops need rentals and rental_files to themselves; behind a transaction still reading
    # them, the load gives up on that after a moment (instead of queueing every later reader behind
    # it) and loads with its keys in place.
    engine, sim, config, client = env
    migrated = keys(engine)
    sim.add_rental("tok-alpha-0001", NUMBERS)
    report, waited = timed_behind_a_reader(engine, ["rentals", "rental_files"], lambda: sync(engine, config, client, sim))

    assert report.outcome == "success" and report.result.added == 5
    assert waited < 10
    assert "keeps the number tables' keys" in caplog.text
    assert keys(engine) == migrated
    assert sorted(phone for phone, _stop in numbers(engine)) == sorted(NUMBERS)


def test_first_file_of_a_second_rental_is_added_beside_the_numbers_of_the_first(env):
    engine, sim, config, client = env
    migrated = keys(engine)
    sim.add_rental("tok-alpha-0001", NUMBERS[:3])
    sync(engine, config, client, sim)
    sim.add_rental("tok-beta-0002", NUMBERS[2:], stop_share=0.0)
    sim.set_rental_stop("tok-beta-0002", NUMBERS[4], True)
    config = make_config(
        config.database.url, config.api.base_url,
        rentals=RentalsConfig(tokens=(RentalToken("tok-alpha-0001", "alpha"), RentalToken("tok-beta-0002", "beta"))),
    )

    report = sync(engine, config, client, sim)

    assert report.outcome == "success", report.error
    assert report.result.added == 3
    per_rental = query(
        engine,
        "SELECT r.token, n.phone_e164, n.stop FROM rental_numbers n JOIN rentals r ON r.id = n.rental_id "
        "ORDER BY r.token, n.phone_e164",
    )
    assert [(t, p, bool(s)) for t, p, s in per_rental] == [
        ("tok-alpha-0001", p, False) for p in sorted(NUMBERS[:3])
    ] + [("tok-beta-0002", p, p == NUMBERS[4]) for p in sorted(NUMBERS[2:])]
    assert query(engine, "SELECT event, COUNT(*) FROM rental_number_events GROUP BY event") == [("added", 6)]
    assert keys(engine) == migrated


@pytest.mark.backends("postgresql")  # the only backend whose keys are dropped for a first load
def test_a_first_load_that_fails_after_dropping_the_keys_leaves_them_and_loads_next_time(env, monkeypatch):
    engine, sim, config, client = env
    migrated = keys(engine)
    sim.add_rental("tok-alpha-0001", NUMBERS, single_download=True)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full while building an index")

    original = rentals_job._rebuild_keys
    monkeypatch.setattr(rentals_job, "_rebuild_keys", broken)
    failed = sync(engine, config, client, sim)
    assert failed.outcome == "failed"
    assert "disk full" in rental_status(engine)[2]
    assert numbers(engine) == [] and keys(engine) == migrated
    monkeypatch.setattr(rentals_job, "_rebuild_keys", original)

    report = sync(engine, config, client, sim)

    assert report.outcome == "success" and report.result.added == 5
    assert len(sim.calls_to("location/file/download")) == 1  # the spool survived the failed load
    assert keys(engine) == migrated
    assert query(engine, "SELECT event, COUNT(*) FROM rental_number_events GROUP BY event") == [("added", 5)]


def test_spool_header_gives_the_files_figures_when_no_number_came_twice(tmp_path):
    entries = [ODD[1], ODD[0], ODD[3], ODD[2], ODD[4]]
    ctx = SimpleNamespace(secrets=(), client=SimpleNamespace(stream_list=lambda spec, shaper, **_: [list(map(rental_row, entries))]))
    path = tmp_path / "s.tsv"
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)

    rentals_job.download_to_spool(ctx, "t", path, now)

    header = rentals_job._read_header(path)
    assert (header.downloaded_at, header.duplicates, header.stopped, header.unparseable) == (now, False, 2, 3)
    assert header.figures_known
    keys_written = [line.split("\t")[0] for line in path.read_text(encoding="utf-8").splitlines()[1:]]
    assert keys_written == ["+33612345602", "+33612345601", "raw:tab here new line", "raw:back\\\\slash\\\\N", "raw:\\\\N"]


@pytest.mark.parametrize(
    ("checked", "sorted_in_memory"),
    [(100, 100), (100, 2), (2, 100)],
    ids=["figures-and-sorted-in-memory", "too-long-to-sort-in-memory", "too-long-to-check"],
)
def test_a_file_without_duplicates_loads_the_same_whichever_way_it_is_staged(
    migrated_db_url, tmp_path, monkeypatch, checked, sorted_in_memory
):
    # Figures from the header and rows sorted in memory (or, on PostgreSQL, hashed in file
    # order), or the database's own sort and counts: the same numbers and figures either way.
    monkeypatch.setattr(rentals_job, "DUPLICATE_CHECK_LIMIT", checked)
    monkeypatch.setattr(rentals_job, "IN_MEMORY_LIMIT", sorted_in_memory)
    engine = make_engine(migrated_db_url)
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    rental_id = _rental(engine, now)
    entries = list(reversed(ODD[:6]))
    ctx = SimpleNamespace(secrets=(), client=SimpleNamespace(stream_list=lambda spec, shaper, **_: [list(map(rental_row, entries))]))
    path = tmp_path / "odd.tsv"
    rentals_job.download_to_spool(ctx, "t-spool", path, now)
    assert rentals_job._read_header(path).figures_known is (checked == 100)

    _, counts = _load(engine, rental_id, path, now)

    first = ("+33612345601", "+33612345601", "+33612345601", "884310", False)  # its later copy is not in ODD[:6]
    assert stored(engine) == sorted([first] + [row for row in EXPECTED_ODD if row[0] != first[0]])
    assert (counts.rows, counts.numbers, counts.stopped, counts.unparseable, counts.added) == (6, 6, 2, 4, 6)
    # A re-sync of the same file, staged the same way, finds nothing to change.
    rentals_job.download_to_spool(ctx, "t-spool", path, now)
    again = _load(engine, rental_id, path, now + timedelta(hours=1))[1]
    assert (again.added, again.removed, again.stop_on, again.stop_off) == (0, 0, 0, 0)
    engine.dispose()


def test_a_version_2_spool_left_by_the_previous_version_is_still_loaded(migrated_db_url, tmp_path):
    # Version 2 lines start with the contact id and come in file order.
    engine = make_engine(migrated_db_url)
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    rental_id = _rental(engine, now)
    path = tmp_path / "v2.tsv"
    path.write_text(
        f"#{rentals_job.SPOOL_VERSION_2}\t{now.isoformat()}\t0\n"
        "884311\t+33612345602\t+33612345602\t06 12 34 56 02\t1\n"
        "884310\t+33612345601\t+33612345601\t+33612345601\t0\n"
        "a\\\\b\traw:x\\\\y\t\\N\tx\\\\y\t1\n",
        encoding="utf-8",
    )

    _, counts = _load(engine, rental_id, path, now)

    assert stored(engine) == [
        ("+33612345601", "+33612345601", "+33612345601", "884310", False),
        ("+33612345602", "+33612345602", "06 12 34 56 02", "884311", True),
        ("raw:x\\y", None, "x\\y", "a\\b", True),
    ]
    assert (counts.numbers, counts.stopped, counts.unparseable) == (3, 2, 1)
    engine.dispose()


@pytest.mark.backends("sqlite", "mariadb")  # PostgreSQL's COPY refuses such a line itself
def test_a_spool_line_with_a_field_missing_fails_the_load_and_stores_nothing(migrated_db_url, tmp_path):
    engine = make_engine(migrated_db_url)
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    rental_id = _rental(engine, now)
    path = tmp_path / "bad.tsv"
    path.write_text(
        f"#{rentals_job.SPOOL_VERSION}\t{now.isoformat()}\t0\t0\t0\n"
        "+33612345601\t884310\t+33612345601\t+33612345601\t0\n"
        "+33612345602\t884311\t+33612345602\t0\n",
        encoding="utf-8",
    )

    with pytest.raises(rentals_job.EtlError, match="without 5 fields"):
        _load(engine, rental_id, path, now)

    assert stored(engine) == [] and query(engine, "SELECT COUNT(*) FROM rental_files") == [(0,)]
    engine.dispose()


def test_raw_texts_differing_only_in_case_load_on_every_backend(migrated_db_url, tmp_path):
    # Two keys for SQLite and PostgreSQL; one for MariaDB, whose collation ignores case (stored
    # once there, stop if either is). The writer's duplicate check must not make MariaDB's load
    # fail on its unique key.
    engine = make_engine(migrated_db_url)
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    rental_id = _rental(engine, now)
    entries = [RentalNumber("1", "abc", None, False), RentalNumber("2", "ABC", None, True)]
    ctx = SimpleNamespace(secrets=(), client=SimpleNamespace(stream_list=lambda spec, shaper, **_: [list(map(rental_row, entries))]))
    path = tmp_path / "case.tsv"
    rentals_job.download_to_spool(ctx, "t", path, now)

    _, counts = _load(engine, rental_id, path, now)

    if engine.dialect.name in ("mysql", "mariadb"):
        assert [(k.lower(), s) for k, _, _, _, s in stored(engine)] == [("raw:abc", True)]
    else:
        assert [(k, s) for k, _, _, _, s in stored(engine)] == [("raw:ABC", True), ("raw:abc", False)]
    assert counts.added == len(stored(engine))
    rentals_job.download_to_spool(ctx, "t", path, now)
    again = _load(engine, rental_id, path, now + timedelta(hours=1))[1]
    assert (again.added, again.removed, again.stop_on, again.stop_off) == (0, 0, 0, 0)
    engine.dispose()


# --------------------------------------------------------------------------------------------------
# Quarantine and fail-closed flags (issue 16)
# --------------------------------------------------------------------------------------------------


def rejected(engine):
    return query(engine, "SELECT endpoint, ref_kind, ref, reason FROM rejected_items ORDER BY id")


def stopped_now(engine):
    return [p for (p,) in query(engine, "SELECT phone_e164 FROM rental_stops_current ORDER BY phone_e164")]


def test_a_number_whose_stop_flag_is_null_is_stored_stopped_not_textable(env):
    engine, sim, config, client = env
    sim.add_rental("tok-alpha-0001", NUMBERS, stop_share=0.0)
    sim.faults.inject("location/file/download", "malformed_item", field="stopSms", value=None, index=1)

    report = sync(engine, config, client, sim)

    assert report.outcome == "success", report.error  # a null flag is read (stopped), not quarantined
    assert stopped_now(engine) == [NUMBERS[1]]
    textable = [p for (p,) in query(engine, "SELECT phone_e164 FROM rental_numbers_textable")]
    assert NUMBERS[1] not in textable and len(textable) == 4


def test_an_entry_whose_flag_cannot_be_read_is_kept_stopped_and_quarantined(env):
    engine, sim, config, client = env
    sim.add_rental("tok-alpha-0001", NUMBERS, stop_share=0.0)
    sim.faults.inject("location/file/download", "malformed_item", field="stopSms", value="maybe", index=2)

    report = sync(engine, config, client, sim)

    assert report.outcome == "partial", report.error
    assert report.result.detail.startswith("partial, 1 item quarantined")
    assert report.result.added == 5 and stopped_now(engine) == [NUMBERS[2]]
    ((endpoint, kind, ref, reason),) = rejected(engine)
    assert (endpoint, kind, ref) == ("location/file/download", "rental_number", NUMBERS[2]) and "maybe" in reason
    assert list(rentals_job.spool_dir().glob("*")) == []


def test_an_entry_that_cannot_be_read_is_quarantined_and_no_stopped_number_leaves_the_file(env):
    engine, sim, config, client = env
    sim.add_rental("tok-alpha-0001", NUMBERS, stop_share=0.0)
    sim.set_rental_stop("tok-alpha-0001", NUMBERS[1], True)
    assert sync(engine, config, client, sim).outcome == "success"
    sim.faults.inject("location/file/download", "malformed_item", index=1)  # the stopped entry becomes "n/a"
    sim.set_rental_status("tok-alpha-0001", 2)

    report = sync(engine, config, client, sim)

    assert report.outcome == "partial", report.error
    assert report.result.removed == 0
    assert stopped_now(engine) == [NUMBERS[1]]  # still blocked: the unread entry may be it
    assert [(e, k, r) for e, k, r, _ in rejected(engine)] == [("location/file/download", "rental_number", None)]


def test_the_quarantined_entries_of_a_spool_are_recorded_by_the_run_that_loads_it(env, monkeypatch):
    engine, sim, config, client = env
    sim.add_rental("tok-alpha-0001", NUMBERS, single_download=True, stop_share=0.0)
    sim.faults.inject("location/file/download", "malformed_item", index=0)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    original = rentals_job.load_file
    monkeypatch.setattr(rentals_job, "load_file", broken)
    assert sync(engine, config, client, sim).outcome == "failed"
    assert rejected(engine) == []
    monkeypatch.setattr(rentals_job, "load_file", original)

    report = sync(engine, config, client, sim)

    assert report.outcome == "partial" and report.result.added == 4
    assert len(sim.calls_to("location/file/download")) == 1
    assert len(rejected(engine)) == 1
    assert list(rentals_job.spool_dir().glob("*")) == []


# --------------------------------------------------------------------------------------------------
# Restarts (issue 16, issue 21 item 5): one retry budget for the whole download, sleeps injected
# --------------------------------------------------------------------------------------------------



@pytest.mark.parametrize(
    "faults",
    [
        [("truncated", {"count": None})],
        [("drop", {"count": None, "after_bytes": 70_000})],
        [("drop", {"count": 1, "after_bytes": 70_000}), ("http_503", {"count": None})],
    ],
    ids=["truncated_every_time", "dropped_mid_stream_every_time", "dropped_then_refused"],
)
def test_restarts_and_the_retries_of_each_start_spend_one_budget(env, faults):
    engine, sim, config, _ = env
    client, sleeps = recording_client(config.api.base_url)
    sim.add_rental("tok-alpha-0001", 5000)
    for kind, params in faults:
        sim.faults.inject("location/file/download", kind, **params)

    report = sync(engine, config, client, sim)

    assert report.outcome == "failed" and rental_status(engine)[0] == "error"
    assert len(sim.calls_to("location/file/download")) == 3  # max_attempts, not restarts x attempts
    assert len(sleeps) == 2  # every wait through the client's sleep, none real
    assert numbers(engine) == [] and list(rentals_job.spool_dir().glob("*")) == []
    client.close()
