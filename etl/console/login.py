"""Signing in and out (docs/console.md, "Sessions").

The sign-in form carries a token tied to a cookie of its own (double submit), so another site cannot sign
a browser in under an account of its choosing. Each attempt counts against the name and the address
(`LoginLimiter`); at the limit the answer is 429 before any password is checked. A good password always
gets a *new* session (an older cookie is ended, never kept), set HttpOnly, SameSite=Strict, Secure on HTTPS.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from etl.console import sessions, users

if TYPE_CHECKING:
    from etl.console.app import Console

log = logging.getLogger(__name__)

LOGIN_CSRF = "smsetl_login_csrf"
Endpoint = Callable[[Request], Awaitable[Response]]


def safe_next(value: str | None) -> str:
    """Only a path on this site: never ``//host`` or a full URL (an open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _form(console: Console, request: Request, status: int = 200, message: str = "", name: str = "") -> Response:
    token = secrets.token_urlsafe(32)
    response = console.render(request, "login.html", status=status, user=None, csrf=token, message=message, name=name,
                              next=safe_next(request.query_params.get("next")))
    response.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", secure=console.secure(request), path="/login")
    return response


def login_form(console: Console) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        return _form(console, request)

    return endpoint


def login_submit(console: Console) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        form = await request.form()
        name, password = str(form.get("name") or "")[:64], str(form.get("password") or "")[:1024]
        sent, expected = str(form.get("csrf") or ""), request.cookies.get(LOGIN_CSRF, "")
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            return _form(console, request, 403, "The form had expired; please sign in again.", name)
        address = request.client.host if request.client else "unknown"
        if console.limiter.blocked(name, address):
            log.warning("console: sign-in refused, too many failures for this name or address")
            return _form(console, request, 429, "Too many failed sign-ins; wait a few minutes and try again.", name)
        user = users.verify(console.engine, name, password)
        if user is None:
            console.limiter.failed(name, address)
            return _form(console, request, 401, "Wrong name or password.", name)
        console.limiter.succeeded(name)
        old = request.cookies.get(sessions.COOKIE)
        old_token = sessions.unsign(console.auth.key, old) if old else None
        if old_token:
            sessions.end(console.engine, old_token)
        token, _csrf = sessions.create(console.engine, user.id, console.now(), console.config.console.session_lifetime)
        response = RedirectResponse(safe_next(str(form.get("next") or "")), status_code=303)
        response.set_cookie(sessions.COOKIE, sessions.sign(console.auth.key, token), httponly=True, samesite="strict",
                            secure=console.secure(request), max_age=int(console.config.console.session_lifetime), path="/")
        response.delete_cookie(LOGIN_CSRF, path="/login")
        log.info("console: %s signed in", user.name)
        return response

    return endpoint


def logout(console: Console) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        principal = console.auth.principal(request)
        if principal is not None:
            form = await request.form()
            from etl.console.auth import csrf_ok

            sent = form.get("csrf")
            if not csrf_ok(principal, sent if isinstance(sent, str) else None):
                return console.refuse(request, principal, 403, "The form's security token is missing or wrong.")
            if principal.token:
                sessions.end(console.engine, principal.token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(sessions.COOKIE, path="/")
        return response

    return endpoint
