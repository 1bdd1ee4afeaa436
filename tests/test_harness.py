"""The fixtures in ``conftest.py`` do what their contract says, on every backend."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

_seen_db_names: dict[str, set[str]] = {}


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    eng = sa.create_engine(db_url)
    yield eng
    eng.dispose()


def test_param_ids_are_the_backend_names(request: pytest.FixtureRequest, backend: str) -> None:
    assert request.node.name.endswith(f"[{backend}]")
    assert request.node.get_closest_marker(backend) is not None


def test_db_url_has_the_documented_shape(db_url: str, backend: str) -> None:
    url = make_url(db_url)
    expected = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg", "mariadb": "mariadb+pymysql"}[backend]
    assert url.drivername == expected
    if backend == "mariadb":
        assert url.query.get("charset") == "utf8mb4"
    if backend != "sqlite":
        assert url.host == "127.0.0.1" and url.password is None


def test_db_url_starts_empty_and_round_trips_rows(engine: sa.Engine) -> None:
    assert sa.inspect(engine).get_table_names() == []
    meta = sa.MetaData()
    t = sa.Table("t", meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("txt", sa.String(50)))
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(t.insert(), [{"id": 1, "txt": "é ✓ 😀"}, {"id": 2, "txt": "b"}])
    with engine.connect() as conn:
        assert conn.execute(sa.select(t.c.txt).order_by(t.c.id)).scalars().all() == ["é ✓ 😀", "b"]


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_gets_its_own_database(db_url: str, backend: str, round_: int) -> None:
    name = make_url(db_url).database
    assert name is not None
    seen = _seen_db_names.setdefault(backend, set())
    assert name not in seen
    seen.add(name)


@pytest.mark.backends("postgresql", "mariadb")
def test_two_connections_see_each_others_commits(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    with engine.connect() as a, engine.connect() as b:
        a.execute(sa.text("INSERT INTO t (id) VALUES (1)"))
        assert b.execute(sa.text("SELECT count(*) FROM t")).scalar() == 0  # not committed yet
        a.commit()
        b.rollback()  # a fresh snapshot (MariaDB's REPEATABLE READ keeps the old one until then)
        assert b.execute(sa.text("SELECT count(*) FROM t")).scalar() == 1


@pytest.mark.backends("postgresql", "mariadb")
def test_advisory_locks_exclude_a_second_connection(engine: sa.Engine, backend: str) -> None:
    if backend == "postgresql":
        take = "SELECT pg_try_advisory_lock(42)"
        release = "SELECT pg_advisory_unlock(42)"
    else:
        take = "SELECT GET_LOCK('smsetl-test', 0)"
        release = "SELECT RELEASE_LOCK('smsetl-test')"
    with engine.connect() as a, engine.connect() as b:
        assert a.execute(sa.text(take)).scalar() in (True, 1)
        assert b.execute(sa.text(take)).scalar() in (False, 0)
        assert a.execute(sa.text(release)).scalar() in (True, 1)
        assert b.execute(sa.text(take)).scalar() in (True, 1)
        b.execute(sa.text(release))


@pytest.mark.backends("postgresql", "mariadb")
def test_database_is_dropped_even_with_a_connection_left_open(
    request: pytest.FixtureRequest, backend: str
) -> None:
    server = request.getfixturevalue("pg_server" if backend == "postgresql" else "mariadb_server")
    name = "leftover_" + request.node.callspec.id
    server.drop_database(name)
    url = server.create_database(name)
    eng = sa.create_engine(url)
    conn = eng.connect()
    conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    conn.commit()
    conn.execute(sa.text("SELECT * FROM t"))  # open transaction: holds a metadata lock on MariaDB
    done = threading.Event()
    threading.Thread(target=lambda: (server.drop_database(name), done.set()), daemon=True).start()
    assert done.wait(30), "drop_database hung on a connection left open"
    conn.invalidate()  # the server killed it: do not try to roll it back
    conn.close()
    eng.dispose()
    listing = "SELECT datname FROM pg_database" if backend == "postgresql" else "SHOW DATABASES"
    assert name not in {row[0] for row in server.execute(listing)}


@pytest.mark.backends("postgresql", "mariadb")
def test_server_restarts_on_the_same_port_with_its_data(
    request: pytest.FixtureRequest, backend: str, db_url: str
) -> None:
    server = request.getfixturevalue("pg_server" if backend == "postgresql" else "mariadb_server")
    eng = sa.create_engine(db_url, pool_pre_ping=True)
    with eng.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO t (id) VALUES (7)"))
    port = server.port
    server.stop()
    assert not server.running
    with pytest.raises(sa.exc.OperationalError), eng.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    server.start()
    assert server.port == port
    with eng.connect() as conn:
        assert conn.execute(sa.text("SELECT id FROM t")).scalar() == 7
    eng.dispose()


# --- the key-leak check ---------------------------------------------------------------------------------------------


@pytest.mark.key_may_leak
def test_leak_check_fails_a_test_that_logs_or_prints_the_key(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(
        """
        import logging
        import pytest
        from harness import TEST_API_KEY

        def test_logs_it():
            logging.getLogger("etl.api.client").debug("GET /v1/stops?apiKey=%s", TEST_API_KEY)

        def test_prints_it():
            print("url:", TEST_API_KEY)

        def test_logs_a_subaccount_key():
            logging.getLogger("etl.api.client").warning("refused: sim-sub-0123456789abcdef0123456789abcdef")

        def test_leaks_in_teardown(request):
            request.addfinalizer(lambda: logging.getLogger("etl").warning(TEST_API_KEY))

        def test_clean():
            logging.getLogger("etl").info("GET /v1/stops (200, 3 rows)")

        @pytest.mark.key_may_leak
        def test_exempt():
            print(TEST_API_KEY)
        """
    )
    # In a subprocess: in process, the logging state earlier tests left (a root level of INFO from an
    # in-process CLI run) would hide the DEBUG leak, and the self-test would pass or fail by test order.
    here = Path(__file__).resolve().parent
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(here), str(here.parent), os.environ.get("PYTHONPATH", "")]))
    result = pytester.runpytest_subprocess("-p", "harness.leakcheck", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=3, errors=1)
    result.stdout.fnmatch_lines(["*_ test_logs_it _*", "*the test API key, hash key or a sub-account key leaked into: Captured log call*"])
    result.stdout.fnmatch_lines(["*_ test_prints_it _*", "*leaked into: Captured stdout call*"])
    result.stdout.fnmatch_lines(["*_ test_logs_a_subaccount_key _*", "*leaked into: Captured log call*", "*sim-sub-0123*"])


def test_api_key_fixture_is_the_simulator_key(api_key: str) -> None:
    assert api_key == "sim-test-key-not-secret"


def test_migrated_db_url_is_at_every_head(migrated_db_url: str) -> None:
    from etl.db.migrate import is_up_to_date

    assert is_up_to_date(migrated_db_url)
