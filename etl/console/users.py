"""Console users: names, roles and argon2id password hashes (table ``console_users``, docs/console.md).

A password is only ever hashed here (argon2-cffi's defaults: argon2id, RFC 9106's low-memory profile) and
checked against its hash; neither is logged or shown. `verify` spends a hash's time even for an unknown
name, so a sign-in answers as slowly for a name that does not exist as for a wrong password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, select, update

from etl.db.engine import writer
from etl.db.schema import ROLES, console_sessions, console_users
from etl.errors import InputError

__all__ = ["User", "add", "list_users", "remove", "set_password", "verify", "find", "MIN_PASSWORD"]

MIN_PASSWORD = 10
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_HASHER = PasswordHasher()
#: Verified against when the name is unknown, so both failures take one hash's time.
_DUMMY_HASH = _HASHER.hash("not a password anyone has")


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    created_at: datetime


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InputError(f"user name {name!r} is not valid: 1-64 of letters, digits and . _ @ -, starting with a letter or digit")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InputError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InputError(f"the password is too short: at least {MIN_PASSWORD} characters")
    return password


def add(engine: Engine, name: str, role: str, password: str, now: datetime) -> User:
    check_name(name)
    check_role(role)
    digest = _HASHER.hash(check_password(password))
    with writer(engine).begin() as conn:
        if conn.execute(select(console_users.c.id).where(console_users.c.name == name)).first():
            raise InputError(f"user {name!r} exists already; use `users passwd` or `users remove`")
        conn.execute(console_users.insert().values(name=name, role=role, password_hash=digest, created_at=now,
                                                   password_changed_at=now))
    found = find(engine, name)
    assert found is not None
    return found


def find(engine: Engine, name: str) -> User | None:
    with engine.connect() as conn:
        row = conn.execute(select(console_users.c.id, console_users.c.name, console_users.c.role,
                                  console_users.c.created_at).where(console_users.c.name == name)).first()
    return User(*row) if row else None


def list_users(engine: Engine) -> list[User]:
    with engine.connect() as conn:
        rows = conn.execute(select(console_users.c.id, console_users.c.name, console_users.c.role,
                                   console_users.c.created_at).order_by(console_users.c.name)).all()
    return [User(*row) for row in rows]


def remove(engine: Engine, name: str) -> None:
    """The user and every session of theirs (ended at once, not at expiry)."""
    with writer(engine).begin() as conn:
        user_id = conn.execute(select(console_users.c.id).where(console_users.c.name == name)).scalar()
        if user_id is None:
            raise InputError(f"no user named {name!r}")
        conn.execute(delete(console_sessions).where(console_sessions.c.user_id == user_id))
        conn.execute(delete(console_users).where(console_users.c.id == user_id))


def set_password(engine: Engine, name: str, password: str, now: datetime) -> None:
    """A new password ends the user's sessions: whoever knew the old one is signed out."""
    digest = _HASHER.hash(check_password(password))
    with writer(engine).begin() as conn:
        user_id = conn.execute(select(console_users.c.id).where(console_users.c.name == name)).scalar()
        if user_id is None:
            raise InputError(f"no user named {name!r}")
        conn.execute(update(console_users).where(console_users.c.id == user_id)
                     .values(password_hash=digest, password_changed_at=now))
        conn.execute(delete(console_sessions).where(console_sessions.c.user_id == user_id))


def verify(engine: Engine, name: str, password: str) -> User | None:
    """The user when ``password`` is theirs, else None (one hash's time either way)."""
    with engine.connect() as conn:
        row = conn.execute(select(console_users.c.id, console_users.c.name, console_users.c.role,
                                  console_users.c.created_at, console_users.c.password_hash)
                           .where(console_users.c.name == name)).first()
    try:
        _HASHER.verify(row[4] if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return User(*row[:4]) if row else None
