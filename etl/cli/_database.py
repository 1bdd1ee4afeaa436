"""A database error that escapes a command, as one sentence: unreachable, or not migrated (issue 16).

Driver messages differ per backend (``no such table`` on SQLite, ``UndefinedTable`` on PostgreSQL,
1146 on MariaDB, and as many ways to say "connection refused"), so this module does not parse them:
it looks again. A fresh connection that fails means the database is unreachable; one that works on
a database whose Alembic revision is not the code's means it was never migrated, or is behind.
Anything else is a real bug and keeps its traceback. Only the masked URL is ever shown.
"""

from __future__ import annotations

import logging
import sys

from etl.errors import DatabaseUnavailable, EtlError, NotMigrated

log = logging.getLogger(__name__)

UPGRADE_HINT = "run `smspartner-etl db upgrade`"


def unreachable(error: BaseException, url: str) -> DatabaseUnavailable:
    """The sentence for a connection that failed with ``error``."""
    from etl.db.engine import driver_message, normalize_url, safe_url

    return DatabaseUnavailable(f"database unreachable: {safe_url(url)}: {driver_message(error, normalize_url(url).password)}")


def explain(error: BaseException, url: str | None, *, upgrading: bool = False) -> EtlError | None:
    """What ``error`` (raised by a command using ``url``) means for the user, or ``None`` when it is not
    a database problem we can name. ``upgrading``: the command was ``db upgrade``, so a schema behind
    the code is its own doing, not the user's."""
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if url is None or sa_exc is None or not isinstance(error, sa_exc.SQLAlchemyError):
        return None
    log.debug("database error, looking again to name it", exc_info=error)
    from etl.db.engine import make_engine, safe_url
    from etl.db.migrate import current_heads, database_revisions

    try:
        engine = make_engine(url, pool=False)
    except EtlError as bad_url:
        return bad_url
    try:
        try:
            have = database_revisions(engine)
        except sa_exc.SQLAlchemyError as again:
            return unreachable(again, url)
    finally:
        engine.dispose()
    want = current_heads()
    if upgrading or have == want:
        return None
    if not have:
        return NotMigrated(f"database {safe_url(url)} is not migrated: {UPGRADE_HINT}")
    return NotMigrated(
        f"database {safe_url(url)} is at revision {', '.join(sorted(have))}, the code expects {', '.join(sorted(want))}: {UPGRADE_HINT}"
    )
