"""Fixtures for the console: the app on a migrated database (3 backends), users, a signed-in client."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from etl.config import Config, load_config
from etl.console import users
from etl.console.app import build
from etl.db.engine import make_engine

PASSWORD = "correct horse battery"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


class Clock:
    """A settable wall clock for sessions and staleness, and a monotonic one for the sign-in limiter."""

    def __init__(self) -> None:
        self.now = NOW
        self.mono = 1000.0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(migrated_db_url: str) -> Any:
    engine = make_engine(migrated_db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def console_config() -> Config:
    return load_config(None, environ={})


@pytest.fixture
def make_app(engine: Engine, clock: Clock, console_config: Config) -> Callable[..., Any]:
    def make(config: Config | None = None) -> Any:
        return build(config or console_config, engine, now=clock, environ={}, monotonic=lambda: clock.mono)

    return make


@pytest.fixture
def console_app(make_app: Callable[..., Any]) -> Any:
    return make_app()


@pytest.fixture
def add_user(engine: Engine) -> Callable[[str, str], None]:
    def add(name: str, role: str) -> None:
        users.add(engine, name, role, PASSWORD, NOW)

    return add


def login_token(client: TestClient) -> str:
    page = client.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def csrf_of(page_text: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page_text)
    assert found, page_text
    return found.group(1)


@pytest.fixture
def sign_in(console_app: Any, add_user: Callable[[str, str], None]) -> Callable[..., TestClient]:
    """``sign_in("viewer")``: a client signed in as a new user of that role (named after it)."""

    def sign(role: str, name: str | None = None, app: Any = None) -> TestClient:
        name = name or role
        add_user(name, role)
        client = TestClient(app or console_app, follow_redirects=False)
        answer = client.post("/login", data={"name": name, "password": PASSWORD, "csrf": login_token(client), "next": "/"})
        assert answer.status_code == 303, answer.text
        return client

    return sign
