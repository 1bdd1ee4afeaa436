"""Server-side sessions: a row per signed-in session, named in a signed cookie (docs/console.md, "Sessions").

The cookie holds a random token and an HMAC of it under the session key; the row is keyed by the SHA-256
of the token, so neither the table nor a forged cookie signs anyone in. Signing in always creates a new
token (a token planted before sign-in is never adopted: fixation). Signing out, `users remove`, `users
passwd`, the lifetime and the idle limit all end a session by deleting or refusing its row.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select, update

from etl.config_console import ConsoleConfig
from etl.db.engine import writer
from etl.db.schema import console_sessions, console_users
from etl.errors import ConfigError
from etl.secrets import Secret, read_secret

log = logging.getLogger(__name__)

COOKIE = "smsetl_session"
CREDENTIAL = "smspartner-etl-console-key"


@dataclass(frozen=True)
class Session:
    id: str
    user_name: str
    role: str
    csrf_token: str


def session_key(console: ConsoleConfig, environ: Mapping[str, str] | None = None) -> Secret:
    """The signing key from ``console.session_key_env``, the key file or the systemd credential; else a
    random one for this process (sessions then end when it stops, which the log says)."""
    env = os.environ if environ is None else environ
    try:
        return read_secret(env, env_name=console.session_key_env, key_file=console.session_key_file,
                           credential=CREDENTIAL, setting="console.session_key")
    except ConfigError:
        if console.session_key_file:
            raise  # a file named but unreadable is a mistake to report, not to paper over
    log.warning("console: no session key configured (%s or the credential %s); using a random one, so "
                "sessions will not survive a restart", console.session_key_env or "console.session_key_file", CREDENTIAL)
    return Secret(secrets.token_urlsafe(32))


def _row_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign(key: Secret, token: str) -> str:
    mac = hmac.new(key.reveal().encode(), token.encode(), hashlib.sha256).hexdigest()
    return f"{token}.{mac}"


def unsign(key: Secret, cookie: str) -> str | None:
    token, _, mac = cookie.rpartition(".")
    if not token:
        return None
    good = hmac.new(key.reveal().encode(), token.encode(), hashlib.sha256).hexdigest()
    return token if hmac.compare_digest(good, mac) else None


def create(engine: Engine, user_id: int, now: datetime, lifetime: float) -> tuple[str, str]:
    """A new session for ``user_id``: (token for the cookie, its CSRF token)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with writer(engine).begin() as conn:
        # Expired rows are swept here, at sign-in, rather than by a job of their own.
        conn.execute(delete(console_sessions).where(console_sessions.c.expires_at < now))
        conn.execute(console_sessions.insert().values(id=_row_id(token), user_id=user_id, csrf_token=csrf,
                                                      created_at=now, last_seen_at=now,
                                                      expires_at=now + timedelta(seconds=lifetime)))
    return token, csrf


def lookup(engine: Engine, token: str, now: datetime, idle: float) -> Session | None:
    """The live session of ``token``, its last use moved to ``now``; None when unknown, expired or idle too long."""
    row_id = _row_id(token)
    with engine.connect() as conn:
        row = conn.execute(
            select(console_sessions.c.csrf_token, console_sessions.c.expires_at, console_sessions.c.last_seen_at,
                   console_users.c.name, console_users.c.role)
            .join(console_users, console_users.c.id == console_sessions.c.user_id)
            .where(console_sessions.c.id == row_id)
        ).first()
    if row is None:
        return None
    csrf, expires_at, last_seen_at, name, role = row
    if now >= expires_at or (now - last_seen_at).total_seconds() > idle:
        end(engine, token)
        return None
    if (now - last_seen_at).total_seconds() > 60:  # one write a minute per session, not one per page
        with writer(engine).begin() as conn:
            conn.execute(update(console_sessions).where(console_sessions.c.id == row_id).values(last_seen_at=now))
    return Session(row_id, name, role, csrf)


def end(engine: Engine, token: str) -> None:
    with writer(engine).begin() as conn:
        conn.execute(delete(console_sessions).where(console_sessions.c.id == _row_id(token)))


def end_all(engine: Engine, user_name: str) -> int:
    """End every session of ``user_name``; how many there were."""
    with writer(engine).begin() as conn:
        user_id = conn.execute(select(console_users.c.id).where(console_users.c.name == user_name)).scalar()
        if user_id is None:
            return 0
        return int(conn.execute(delete(console_sessions).where(console_sessions.c.user_id == user_id)).rowcount)
