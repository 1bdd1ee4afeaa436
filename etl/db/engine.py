"""Engines for the three supported backends, configured the same way everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.pool import NullPool

from etl.errors import ConfigError

if TYPE_CHECKING:
    from etl.config import DatabaseConfig

#: Drivers we ship and test; a bare ``postgresql://`` or ``mysql://`` URL gets these.
_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}


#: The execution option naming the job lock flavour of an engine (`etl.locking.uses_leases`).
LOCKS_OPTION = "etl_locks"


def backend_kind(url: URL) -> str:
    """The backend kind a URL names, one name per kind: ``postgres`` is ``postgresql``, ``mysql`` is ``mariadb``
    (``database.read_url`` must name the same kind as ``database.url``)."""
    name = url.get_backend_name()
    return {"postgres": "postgresql", "mysql": "mariadb"}.get(name, name)


def normalize_url(url: str | URL, setting: str = "database.url") -> URL:
    """Parse ``url`` and pick our driver when none is named."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - SQLAlchemy raises ArgumentError with the URL in it
        raise ConfigError(f"{setting}: not a valid SQLAlchemy URL") from None
    if parsed.drivername in _DRIVERS:
        parsed = parsed.set(drivername=_DRIVERS[parsed.drivername])
    if parsed.get_backend_name() in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed


def safe_url(url: str | URL) -> str:
    """The URL for messages: the password masked."""
    return normalize_url(url).render_as_string(hide_password=True)


def driver_message(error: BaseException, password: str | None = None) -> str:
    """A database error as its driver's first line (``database or disk is full``): never SQLAlchemy's
    statement and parameters (they may hold phone numbers), the password masked should a DSN be echoed."""
    text = str(getattr(error, "orig", None) or error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    return line.replace(password, "***") if password else line


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (BI tools, the audience filter) work while a sync writes; foreign keys are
    # off by default in SQLite; the busy timeout turns lock contention into waiting, not errors.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # pysqlite's own transaction handling is off (isolation_level=None below), so we emit BEGIN
    # ourselves. Writers (see `writer`) say IMMEDIATE: the write lock is taken at once, waiting
    # out the busy timeout, instead of failing with SQLITE_BUSY_SNAPSHOT at the first write after
    # a read. Readers stay DEFERRED so that, in WAL mode, they never wait for a writer.
    if conn.get_execution_options().get("sqlite_immediate"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def missing_database_file(url: str | URL) -> str | None:
    """The path of a SQLite database file that does not exist yet (connecting would create it empty), else None."""
    url = normalize_url(url)
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return None
    return None if Path(database).is_file() else database


def make_engine(
    url: str | URL, *, pool: bool = True, locks: str = "auto", prepared_statements: bool = True,
    setting: str = "database.url", **kwargs: Any,
) -> Engine:
    """An engine for ``url`` with the settings every backend needs.

    ``locks = "lease"`` makes `etl.locking` use lease rows on this engine whatever the backend (behind a
    transaction pooler a session lock is not held by anyone in particular); ``prepared_statements=False``
    keeps psycopg from preparing statements the pooler would send to another server connection.
    """
    parsed = normalize_url(url, setting)
    backend = parsed.get_backend_name()
    options: dict[str, Any] = {"pool_pre_ping": True, "future": True}
    if not pool:
        options["poolclass"] = NullPool
    if backend == "sqlite":
        options["connect_args"] = {"timeout": 30, "isolation_level": None}
    elif backend == "postgresql":
        options["connect_args"] = {"connect_timeout": 10, "application_name": "smspartner-etl"}
        if not prepared_statements:
            options["connect_args"]["prepare_threshold"] = None  # psycopg 3: never prepare
    elif backend in ("mysql", "mariadb"):
        options["connect_args"] = {"connect_timeout": 10}
    else:
        raise ConfigError(f"{setting}: unsupported backend {backend!r} (use sqlite, postgresql or mariadb)")
    options.update(kwargs)
    engine = create_engine(parsed, **options)
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    if locks != "auto":
        engine = engine.execution_options(**{LOCKS_OPTION: locks})
    return engine


def database_engine(database: DatabaseConfig, *, pool: bool = True) -> Engine:
    """The primary's engine under ``[database]``: every write, lock and budget slot goes through it."""
    return make_engine(database.url, pool=pool, locks=database.locks, prepared_statements=database.prepared_statements)


def read_engine(database: DatabaseConfig, primary: Engine) -> Engine:
    """Where reads that may lag go (/metrics, the console's read-only pages, filter-audience's stop list):
    an engine on ``database.read_url``, or ``primary`` itself when there is no replica."""
    if not database.read_url:
        return primary
    return make_engine(database.read_url, prepared_statements=database.prepared_statements, setting="database.read_url")


def writer(engine: Engine) -> Engine:
    """The same engine, flagged so that SQLite transactions take the write lock at BEGIN."""
    return engine.execution_options(sqlite_immediate=True)


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction: commits on success, rolls back on any exception."""
    with engine.begin() as conn:
        yield conn
