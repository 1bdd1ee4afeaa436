"""Who is asking: a session cookie, or (``console.trusted_header``) a header set by a trusted proxy.

Roles are ranked (viewer < marketing < admin) and checked on the server by every route (`allows`). The
header is believed only from an address in ``console.allowed_networks``, and only for a name that is a
console user; from anywhere else it is ignored. A header-signed-in user's CSRF token is an HMAC of their
name under the session key (they have no session row), checked like a session's.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from starlette.requests import Request

from etl.config_console import ConsoleConfig
from etl.console import sessions, users
from etl.db.schema import ROLES
from etl.networks import contains, parse_networks
from etl.secrets import Secret


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    csrf_token: str
    #: The cookie's token (None when signed in by the proxy's header).
    token: str | None = None


def allows(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)


def csrf_ok(principal: Principal, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(principal.csrf_token.encode(), str(sent).encode())


class Authenticator:
    def __init__(self, console: ConsoleConfig, engine: Engine, key: Secret, now: Callable[[], datetime]) -> None:
        self.console = console
        self.engine = engine
        self.key = key
        self.now = now
        self.networks = parse_networks("console.allowed_networks", console.allowed_networks)

    def principal(self, request: Request) -> Principal | None:
        if self.console.trusted_header and request.headers.get(self.console.trusted_header):
            return self._from_header(request)
        cookie = request.cookies.get(sessions.COOKIE)
        token = sessions.unsign(self.key, cookie) if cookie else None
        if token is None:
            return None
        found = sessions.lookup(self.engine, token, self.now(), self.console.session_idle)
        return Principal(found.user_name, found.role, found.csrf_token, token) if found else None

    def _from_header(self, request: Request) -> Principal | None:
        address = request.client.host if request.client else None
        if not contains(self.networks, address):
            return None
        user = users.find(self.engine, request.headers[self.console.trusted_header])
        if user is None:
            return None
        csrf = hmac.new(self.key.reveal().encode(), f"csrf:{user.name}".encode(), hashlib.sha256).hexdigest()
        return Principal(user.name, user.role, csrf)
