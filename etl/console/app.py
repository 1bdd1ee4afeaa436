"""The console's ASGI application: `build(config, engine)` gives it, for uvicorn and for tests alike.

Every route but ``/login``, ``/static/...`` and ``/healthz`` needs a signed-in user of a role at least
the route's (`page`); an anonymous GET is sent to the sign-in page, an anonymous POST gets 401, a role too
low 403, a POST without the session's CSRF token 403. Pages are server-rendered with autoescape on, and
every answer carries a Content-Security-Policy allowing this server's own assets only (docs/console.md).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from etl.clock import utcnow
from etl.config import Config
from etl.console.audience_runs import AudienceRuns
from etl.console.auth import Authenticator, Principal, allows, csrf_ok
from etl.console.ratelimit import LoginLimiter
from etl.console.sessions import session_key

HERE = Path(__file__).parent
Handler = Callable[["Console", Request, Principal], Awaitable[Response]]

HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


@dataclass
class Console:
    """What every route needs: settings, database, who is asking, templates."""

    config: Config
    engine: Engine
    auth: Authenticator
    limiter: LoginLimiter
    templates: Environment
    now: Callable[[], datetime]
    runs: AudienceRuns
    #: The read-only pages' engine: ``database.read_url`` (a replica) when set, else ``engine``. Sign-in,
    #: sessions, users and the audience checks' own records stay on ``engine`` (they write, or were just written).
    reads: Engine

    def render(self, request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        body = self.templates.get_template(template).render(request=request, **values)
        return HTMLResponse(body, status_code=status)

    def refuse(self, request: Request, principal: Principal | None, status: int, message: str) -> HTMLResponse:
        return self.render(request, "error.html", status=status, user=principal, message=message)

    def secure(self, request: Request) -> bool:
        return self.config.console.secure_cookies or request.url.scheme == "https"


def page(role: str, *, streamed: bool = False) -> Callable[[Handler], Callable[["Console"], Callable[[Request], Awaitable[Response]]]]:
    """A route for ``role`` and above; POSTs must carry the session's CSRF token (form field ``csrf``).

    ``streamed``: the handler reads the body itself (an upload, `etl.console.uploads`) and must check the
    token there, before it stores anything; the role is still checked here, before a byte is read."""

    def wrap(handler: Handler) -> Callable[[Console], Callable[[Request], Awaitable[Response]]]:
        def bind(console: Console) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                principal = console.auth.principal(request)
                if principal is None:
                    if request.method == "GET":
                        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
                    return console.refuse(request, None, 401, "Sign in first.")
                if not allows(principal.role, role):
                    return console.refuse(request, principal, 403, f"This page is for the {role} role; you are {principal.role}.")
                if request.method == "POST" and not streamed:
                    form = await request.form()
                    sent = form.get("csrf")
                    if not csrf_ok(principal, sent if isinstance(sent, str) else None):
                        return console.refuse(request, principal, 403, "The form's security token is missing or wrong; reload the page and try again.")
                return await handler(console, request, principal)

            return endpoint

        return bind

    return wrap


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def templates() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M:%S UTC") if isinstance(value, datetime) else ("never" if value is None else str(value))
    env.filters["age"] = _age
    return env


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never succeeded"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit} ago"
    return f"{seconds:.0f} s ago"


def build(config: Config, engine: Engine, *, now: Callable[[], datetime] = utcnow,
          environ: Mapping[str, str] | None = None, monotonic: Callable[[], float] = time.monotonic,
          reads: Engine | None = None) -> Starlette:
    """The console for ``config`` on ``engine`` (migrated). ``now``: the time sessions and staleness use.
    ``reads``: the read-only pages' engine (default: one on ``database.read_url``, or ``engine``)."""
    from etl.console import audience_pages, login, pages, write_pages
    from etl.db.engine import read_engine

    cfg = config.console
    reads = reads if reads is not None else read_engine(config.database, engine)
    console = Console(config, engine, Authenticator(cfg, engine, session_key(cfg, environ), now),
                      LoginLimiter(cfg.login_attempts, cfg.login_window, monotonic), templates(), now,
                      AudienceRuns(config, engine, now, reads), reads)
    routes = [
        Route("/login", login.login_form(console), methods=["GET"]),
        Route("/login", login.login_submit(console), methods=["POST"]),
        Route("/logout", login.logout(console), methods=["POST"]),
        Route("/healthz", _healthz, methods=["GET"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        *[Route(path, bind(console), methods=methods)
          for path, bind, methods in (*pages.ROUTES, *audience_pages.ROUTES, *write_pages.ROUTES)],
    ]
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])
    app.state.console = console
    return app


async def _healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})
