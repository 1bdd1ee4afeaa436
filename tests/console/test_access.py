"""Who may see what: forged cookies, roles, CSRF, fixation, expiry, the sign-in limit and the proxy header, checked
on the server (no browser). The same checks over every route of the app: test_every_route.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from etl.config import Config
from etl.console.sessions import COOKIE

from .conftest import PASSWORD, Clock, csrf_of, login_token


def test_a_forged_or_unsigned_cookie_signs_nobody_in(console_app: Any, sign_in: Callable[..., TestClient]) -> None:
    real = sign_in("viewer").cookies[COOKIE]
    token = real.rsplit(".", 1)[0]
    for forged in (token, f"{token}.{'0' * 64}", "x.y", ""):
        client = TestClient(console_app, follow_redirects=False, cookies={COOKIE: forged})
        assert client.get("/").status_code == 303, forged


def test_a_viewer_is_refused_admin_routes_by_the_server_even_with_a_good_csrf_token(sign_in: Callable[..., TestClient]) -> None:
    viewer = sign_in("viewer")
    sign_in("admin")
    assert viewer.get("/users").status_code == 403
    token = csrf_of(viewer.get("/").text)
    assert viewer.post("/users/admin/sessions/end", data={"csrf": token}).status_code == 403
    marketing = sign_in("marketing")
    assert marketing.get("/users").status_code == 403
    assert marketing.get("/").status_code == 200


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused_403(sign_in: Callable[..., TestClient]) -> None:
    admin = sign_in("admin")
    other = sign_in("viewer")
    other_token = csrf_of(other.get("/").text)
    assert admin.post("/users/viewer/sessions/end", data={}).status_code == 403
    assert admin.post("/users/viewer/sessions/end", data={"csrf": "wrong"}).status_code == 403
    assert admin.post("/users/viewer/sessions/end", data={"csrf": other_token}).status_code == 403, "another session's token"
    assert other.get("/").status_code == 200, "nothing was done"
    assert admin.post("/logout", data={}).status_code == 403
    good = csrf_of(admin.get("/").text)
    assert admin.post("/users/viewer/sessions/end", data={"csrf": good}).status_code == 303
    assert other.get("/").status_code == 303, "the viewer's session really ended"


def test_sign_in_without_its_form_token_is_refused(console_app: Any, add_user: Callable[[str, str], None]) -> None:
    add_user("ann", "viewer")
    client = TestClient(console_app, follow_redirects=False)
    assert client.post("/login", data={"name": "ann", "password": PASSWORD}).status_code == 403
    assert COOKIE not in client.cookies


def test_signing_in_rotates_a_planted_session_id(console_app: Any, sign_in: Callable[..., TestClient],
                                                 add_user: Callable[[str, str], None]) -> None:
    attacker = sign_in("viewer", "mallory")
    planted = attacker.cookies[COOKIE]
    add_user("victim", "admin")
    victim = TestClient(console_app, follow_redirects=False, cookies={COOKIE: planted})
    answer = victim.post("/login", data={"name": "victim", "password": PASSWORD, "csrf": login_token(victim), "next": "/"})
    assert answer.status_code == 303
    fresh = answer.cookies[COOKIE]
    assert fresh != planted
    assert attacker.get("/").status_code == 303, "the planted session was ended, not promoted"
    signed_in = TestClient(console_app, follow_redirects=False, cookies={COOKIE: fresh})
    assert signed_in.get("/users").status_code == 200


def test_the_session_cookie_is_httponly_samesite_strict_and_secure_when_configured(
        make_app: Callable[..., Any], console_config: Config, add_user: Callable[[str, str], None]) -> None:
    add_user("ann", "viewer")
    for secure in (False, True):
        config = dataclasses.replace(console_config, console=dataclasses.replace(console_config.console, secure_cookies=secure))
        app = make_app(config)
        form_cookie = TestClient(app).get("/login").headers["set-cookie"]
        assert ("Secure" in form_cookie) is secure, "secure_cookies marks cookies Secure even over plain HTTP (TLS proxy)"
        # A browser sends a Secure cookie back over HTTPS only.
        client = TestClient(app, follow_redirects=False, base_url="https://testserver" if secure else "http://testserver")
        answer = client.post("/login", data={"name": "ann", "password": PASSWORD, "csrf": login_token(client)})
        cookie = next(v for v in answer.headers.get_list("set-cookie") if v.startswith(COOKIE))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert ("Secure" in cookie) is secure
    https = TestClient(make_app(), follow_redirects=False, base_url="https://testserver")
    answer = https.post("/login", data={"name": "ann", "password": PASSWORD, "csrf": login_token(https)})
    assert "Secure" in next(v for v in answer.headers.get_list("set-cookie") if v.startswith(COOKIE)), "HTTPS sets it anyway"


def test_logout_and_expiry_end_the_session_on_the_server(console_app: Any, sign_in: Callable[..., TestClient],
                                                         clock: Clock) -> None:
    client = sign_in("viewer")
    copied = client.cookies[COOKIE]
    assert client.post("/logout", data={"csrf": csrf_of(client.get("/").text)}).status_code == 303
    replay = TestClient(console_app, follow_redirects=False, cookies={COOKIE: copied})
    assert replay.get("/").status_code == 303, "a copied cookie dies with the logout"

    idle = sign_in("viewer", "idle")
    clock.now += timedelta(hours=2)  # past session_idle (1 h)
    assert idle.get("/").status_code == 303


def test_sign_in_is_rate_limited_per_name_and_per_address(console_app: Any, add_user: Callable[[str, str], None],
                                                          clock: Clock) -> None:
    add_user("ann", "viewer")
    client = TestClient(console_app, follow_redirects=False)
    for _ in range(5):
        assert client.post("/login", data={"name": "ann", "password": "wrong", "csrf": login_token(client)}).status_code == 401
    blocked = client.post("/login", data={"name": "ann", "password": PASSWORD, "csrf": login_token(client)})
    assert blocked.status_code == 429, "even the right password waits"
    assert "Too many" in blocked.text
    clock.mono += 901  # the window passes
    assert client.post("/login", data={"name": "ann", "password": PASSWORD, "csrf": login_token(client)}).status_code == 303


def test_unknown_names_from_one_address_are_limited_too(console_app: Any) -> None:
    client = TestClient(console_app, follow_redirects=False)
    for i in range(5):
        client.post("/login", data={"name": f"guess{i}", "password": "x", "csrf": login_token(client)})
    assert client.post("/login", data={"name": "other", "password": "x", "csrf": login_token(client)}).status_code == 429


@pytest.mark.parametrize("networks, status", [(("127.0.0.0/8",), 200), (("10.9.0.0/16",), 303)])
def test_the_trusted_header_is_believed_only_from_allowed_networks(
        make_app: Callable[..., Any], console_config: Config, add_user: Callable[[str, str], None],
        networks: tuple[str, ...], status: int) -> None:
    add_user("sso-user", "admin")
    config = dataclasses.replace(console_config, console=dataclasses.replace(
        console_config.console, trusted_header="X-Remote-User", allowed_networks=networks))
    client = TestClient(make_app(config), follow_redirects=False, client=("127.0.0.1", 5000))
    assert client.get("/users", headers={"X-Remote-User": "sso-user"}).status_code == status
    assert client.get("/users", headers={"X-Remote-User": "nobody"}).status_code == 303, "only an existing user"


def test_a_configured_session_key_keeps_sessions_across_a_restart_and_a_random_one_does_not(
        engine: Any, clock: Clock, console_config: Config, add_user: Callable[[str, str], None]) -> None:
    from etl.console.app import build

    add_user("ann", "viewer")
    keyed = {"SMSPARTNER_ETL_CONSOLE_KEY": "a-console-session-key-for-tests"}
    for environ, survives in ((keyed, True), ({}, False)):
        first = TestClient(build(console_config, engine, now=clock, environ=environ), follow_redirects=False)
        first.post("/login", data={"name": "ann", "password": PASSWORD, "csrf": login_token(first)})
        restarted = build(console_config, engine, now=clock, environ=environ)
        again = TestClient(restarted, follow_redirects=False, cookies={COOKIE: first.cookies[COOKIE]})
        assert (again.get("/").status_code == 200) is survives
