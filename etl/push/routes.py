"""Which account a callback URL names: ``/<token>/stop|dlr`` the parent, ``/<token>/<label>/stop|dlr`` the
account labelled so in ``accounts`` (docs/push.md, "One URL per account").

Every row of ``accounts`` is routed, a sub-account gone from the list or not followed included: a STOP
sent to its URL is an opt-out all the same, so it is stored and applied to that account's rows (fail-closed).
Only a label no row has is refused (``unknown_account``), with the same 404 as a bad token.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import logging
import time

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from etl.db.schema import accounts

log = logging.getLogger(__name__)

__all__ = ["AccountLabels", "PLACEHOLDER", "RELOAD_SECONDS", "path_of", "route"]

#: An unknown label reads the labels again at most this often: a flood of guesses costs one query a second.
RELOAD_SECONDS = 1.0


#: What `path_of` writes for the token where it is shown to people (the token itself never is).
PLACEHOLDER = "<path_token>"


def path_of(label: str | None, channel: str, token: str = PLACEHOLDER) -> str:
    """The path SMS Partner calls for ``channel`` of the account labelled ``label`` (None: the parent's,
    without a label); the inverse of `route`."""
    return f"/{token}/{label}/{channel}" if label is not None else f"/{token}/{channel}"


def route(path: str, token: bytes) -> tuple[str | None, str] | None:
    """(account label, or None for the parent's URL; channel) of a request path, or None when the token
    does not match (compared in constant time) or the path has too few or too many segments."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if len(parts) not in (2, 3):
        return None
    if not hmac.compare_digest(parts[0].encode(), token):
        return None
    return (parts[1] if len(parts) == 3 else None), parts[-1]


class AccountLabels:
    """Label → ``accounts.id``, read on the receiver's database thread and swapped whole, so the event
    loop only ever reads a dict; an account the accounts job just recorded is routed without a restart."""

    def __init__(self, engine: Engine, db: concurrent.futures.Executor) -> None:
        self._engine = engine
        self._db = db
        self._ids: dict[str, int] = {}
        self._read_at = float("-inf")
        self._reading: asyncio.Future[None] | None = None

    def reload(self) -> None:
        """Read every label (the database thread, or before serving)."""
        try:
            with self._engine.connect() as conn:
                self._ids = {str(label): int(i) for i, label in conn.execute(select(accounts.c.id, accounts.c.label))}
                conn.rollback()
        except SQLAlchemyError as exc:
            log.error("push: could not read the accounts' labels: %s", type(exc).__name__)

    async def account_of(self, label: str) -> int | None:
        """The id labelled ``label``; when unknown, the labels are read again unless read within
        `RELOAD_SECONDS` (a read in flight answers every request waiting on it)."""
        found = self._ids.get(label)
        if found is not None:
            return found
        if self._reading is None and time.monotonic() - self._read_at >= RELOAD_SECONDS:
            self._read_at = time.monotonic()
            self._reading = asyncio.get_running_loop().run_in_executor(self._db, self.reload)
        reading = self._reading
        if reading is not None:
            await asyncio.shield(reading)
            if self._reading is reading:
                self._reading = None
        return self._ids.get(label)
