"""``[console]``: the web console (docs/console.md): where it listens, its cookies, sessions and sign-in limits."""

from __future__ import annotations

import re
from dataclasses import dataclass

from etl.durations import Duration
from etl.errors import ConfigError
from etl.networks import parse_networks

__all__ = ["ConsoleConfig", "validate_console"]


@dataclass(frozen=True)
class ConsoleConfig:
    """The console: off inside ``run`` unless ``enabled``; ``smspartner-etl console`` serves it alone."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8090
    #: Mark the session cookie Secure (set it behind a TLS proxy; a request seen as https sets it anyway).
    secure_cookies: bool = False
    #: Where the session signing key comes from (env, file, else the systemd credential smspartner-etl-console-key).
    session_key_env: str = "SMSPARTNER_ETL_CONSOLE_KEY"
    session_key_file: str = ""
    #: A session ends this long after sign-in, or after this long unused, whichever comes first.
    session_lifetime: Duration = 12 * 3600.0
    session_idle: Duration = 3600.0
    #: At most this many failed sign-ins per user name, and per client address, within ``login_window``.
    login_attempts: int = 5
    login_window: Duration = 900.0
    #: Single sign-on: a reverse proxy names the signed-in user in this header; accepted only from ``allowed_networks``.
    trusted_header: str = ""
    allowed_networks: tuple[str, ...] = ()
    #: Addresses of the TLS proxy whose X-Forwarded-For/-Proto uvicorn believes (empty: none).
    forwarded_allow_ips: tuple[str, ...] = ()
    #: The audience check: the largest upload in bytes (413 above it), where each run's files live (a folder
    #: per run; empty: ``smspartner-etl-console`` in the system's temporary folder), how long they are kept,
    #: and the filter's worker processes (1: in the console's own process, no fork; docs/console.md).
    upload_limit: int = 1 << 30
    work_dir: str = ""
    upload_keep: Duration = 86400.0
    audience_workers: int = 1


def validate_console(console: ConsoleConfig) -> None:
    if not 0 <= console.port <= 65535:
        raise ConfigError("console.port: must be a port number (0 = any free port)")
    if console.session_lifetime <= 0 or console.session_idle <= 0:
        raise ConfigError("console.session_lifetime and console.session_idle: must be greater than 0")
    if console.login_attempts < 1:
        raise ConfigError("console.login_attempts: must be at least 1")
    parse_networks("console.allowed_networks", console.allowed_networks)
    if console.upload_limit < 1024:
        raise ConfigError("console.upload_limit: must be at least 1024 bytes")
    if console.upload_keep <= 0 or console.audience_workers < 1:
        raise ConfigError("console.upload_keep and console.audience_workers: must be greater than 0")
    if console.trusted_header:
        if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", console.trusted_header):
            raise ConfigError("console.trusted_header: a header name (letters, digits and -)")
        if not console.allowed_networks:
            raise ConfigError("console.trusted_header: needs console.allowed_networks (the proxy's addresses), "
                              "or anyone could name a user in that header")
