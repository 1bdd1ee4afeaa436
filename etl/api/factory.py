"""`make_client`: the one place a client is built from the config (daemon, ``sync``, commands, doctor)."""

from __future__ import annotations

from etl.api.client import Observer, SmsPartnerClient
from etl.api.protocol import ApiClient
from etl.api.redact import SecretBook
from etl.config import Config
from etl.secrets import Secret


def make_client(
    config: Config, key: Secret, *, observer: Observer | None = None, max_attempts: int | None = None,
    secrets: SecretBook | None = None,
) -> ApiClient:
    """A client for the account ``key`` opens, with the ``[api]`` timeouts and retry budget; ``secrets``
    is the book it masks with (shared by one process's clients: `etl.account_directory`)."""
    return SmsPartnerClient(
        config.api.base_url,
        key,
        connect_timeout=config.api.connect_timeout,
        read_timeout=config.api.read_timeout,
        max_attempts=config.api.max_attempts if max_attempts is None else max_attempts,
        max_retry_seconds=config.api.max_retry_seconds,
        observer=observer,
        secrets=secrets,
        concurrency=config.api.concurrency,
    )
