"""`smspartner-etl users`: passwords from a prompt or stdin only, argon2id hashes, sessions ended with the user."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import text

from etl.db.engine import make_engine

PASSWORD = "a long enough password"


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def test_users_are_added_from_stdin_listed_and_stored_as_argon2id(invoke: Callable[..., Any], migrated_db_url: str) -> None:
    added = invoke("users", "add", "alice", "--role", "admin", "--password-stdin", input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert PASSWORD not in added.output
    assert invoke("users", "add", "bob", "--role", "viewer", input=f"{PASSWORD}\n{PASSWORD}\n").exit_code == 0, "the prompt"
    listed = invoke("users", "list")
    assert [line.split("\t")[:2] for line in listed.output.splitlines()] == [["alice", "admin"], ["bob", "viewer"]]
    [(digest,)] = _rows(migrated_db_url, "SELECT password_hash FROM console_users WHERE name = 'alice'")
    assert digest.startswith("$argon2id$") and PASSWORD not in digest


def test_there_is_no_way_to_give_a_password_on_the_command_line(invoke: Callable[..., Any]) -> None:
    answer = invoke("users", "add", "alice", "--role", "admin", "--password", PASSWORD)
    assert answer.exit_code == 2 and "No such option" in answer.output


def test_bad_names_roles_and_short_passwords_get_one_sentence(invoke: Callable[..., Any]) -> None:
    short = invoke("users", "add", "alice", "--role", "admin", "--password-stdin", input="short\n")
    assert short.exit_code == 65 and short.output.strip() == "error: the password is too short: at least 10 characters"
    bad = invoke("users", "add", "<x>", "--role", "admin", "--password-stdin", input=PASSWORD + "\n")
    assert bad.exit_code == 65 and "not valid" in bad.output
    assert invoke("users", "add", "alice", "--role", "root", "--password-stdin", input=PASSWORD + "\n").exit_code == 2
    invoke("users", "add", "alice", "--role", "admin", "--password-stdin", input=PASSWORD + "\n")
    again = invoke("users", "add", "alice", "--role", "viewer", "--password-stdin", input=PASSWORD + "\n")
    assert again.exit_code == 65 and "exists already" in again.output
    assert invoke("users", "remove", "nobody").exit_code == 65


def test_passwd_and_remove_end_the_users_sessions(invoke: Callable[..., Any], migrated_db_url: str) -> None:
    from datetime import datetime, timedelta, timezone

    from etl.console import sessions, users

    invoke("users", "add", "alice", "--role", "admin", "--password-stdin", input=PASSWORD + "\n")
    engine = make_engine(migrated_db_url)
    try:
        user = users.find(engine, "alice")
        assert user is not None
        now = datetime.now(timezone.utc)
        token, _ = sessions.create(engine, user.id, now, 3600)
        assert invoke("users", "passwd", "alice", "--password-stdin", input="another long password\n").exit_code == 0
        assert sessions.lookup(engine, token, now + timedelta(seconds=1), 3600) is None
        assert users.verify(engine, "alice", "another long password") is not None
        assert users.verify(engine, "alice", PASSWORD) is None
        token, _ = sessions.create(engine, user.id, now, 3600)
        assert invoke("users", "remove", "alice").exit_code == 0
        assert _rows(migrated_db_url, "SELECT COUNT(*) FROM console_sessions") == [(0,)]
        assert invoke("users", "list").output.startswith("no console users")
    finally:
        engine.dispose()
