"""The accounts one process follows, each with its key, the keys held in memory only (docs/accounts.md).

Where keys come from: the parent's from ``api.key_env``/``key_file``; a ``[[accounts.follow]]``
entry's from its own ``key_env``/``key_file``; a discovered sub-account's from `subaccount/list`,
which returns it in clear. None is ever written to the database: the ``accounts`` table holds who
the accounts are (id, label, token, email), and a process that restarts reads the list again to
learn the discovered keys. Every key learnt is handed to ``on_secret`` (the log mask) at once.

Which accounts are followed: the parent always; each ``[[accounts.follow]]`` entry; with
``accounts.discover``, every listed sub-account not gone and not in ``accounts.exclude``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from sqlalchemy import Engine, select

from etl.accounts import PARENT, AccountRef, AccountSource, Followed, OneAccount
from etl.api.protocol import ApiClient
from etl.api.redact import SecretBook
from etl.config import Config
from etl.db.schema import accounts as accounts_table
from etl.secrets import Secret

log = logging.getLogger(__name__)

__all__ = ["AccountDirectory", "ClientFactory", "REFRESH_SECONDS", "account_client", "key_of", "named", "wire"]

ClientFactory = Callable[[Secret], ApiClient]
"""Builds the client of one account's key."""

REFRESH_SECONDS = 300.0
"""At most one keys-only read of `subaccount/list` per this many seconds (`AccountDirectory.followed`)."""


class AccountDirectory:
    """Followed accounts and their keys. Thread-safe: the daemon's job threads share one."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        parent_key: Secret,
        *,
        followed_keys: dict[str, Secret] | None = None,
        on_secret: Callable[[str], None] = lambda _secret: None,
        client_factory: Callable[[Secret], ApiClient] | None = None,
        book: SecretBook | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.engine = engine
        self.parent = Followed(PARENT, parent_key)
        self._configured = dict(followed_keys if followed_keys is not None else config.followed_keys())
        self._discovered: dict[str, Secret] = {}  # by sub-account token
        self._lock = threading.Lock()
        #: Shared by every client this process builds, so no account's text carries another's key.
        self.book = book if book is not None else SecretBook()
        self._on_secret = on_secret
        self._client_factory = client_factory
        self._clock = clock
        self._last_refresh: float | None = None
        for key in [parent_key, *self._configured.values()]:
            self._remember(key)

    def learn(self, keys: Iterable[tuple[str, Secret]]) -> None:
        """Remember discovered sub-account keys by token (the accounts job calls this after each list read)."""
        with self._lock:
            for token, key in keys:
                if key and self._discovered.get(token) != key:
                    self._discovered[token] = key
                    self._remember(key)

    def _remember(self, key: Secret) -> None:
        self.book.add(key.reveal())
        self._on_secret(key.reveal())

    def forget(self, token: str) -> None:
        with self._lock:
            self._discovered.pop(token, None)

    def secrets(self) -> list[str]:
        """Every key this process holds, for masking texts it stores."""
        with self._lock:
            keys = [self.parent.key, *self._configured.values(), *self._discovered.values()]
        return [key.reveal() for key in keys if key]

    def followed(self) -> list[Followed]:
        """The parent, then each followed sub-account with a key, by account id.

        A listed sub-account whose key this process never read (another instance ran the accounts
        job, or this one just started) triggers one read of the list for keys only, at most every
        `REFRESH_SECONDS`; until then that account is left out of the cycle, never run keyless.
        """
        candidates = self._candidates()
        if None in candidates and self._may_refresh():
            self.refresh_keys()
            candidates = self._candidates()
        return [self.parent, *(f for f in candidates if f is not None)]

    def _may_refresh(self) -> bool:
        if self._client_factory is None:
            return False
        now = self._clock()
        if self._last_refresh is not None and now - self._last_refresh < REFRESH_SECONDS:
            return False
        self._last_refresh = now
        return True

    def refresh_keys(self) -> None:
        """Read `subaccount/list` with the parent's key and learn the keys; writes nothing (the accounts job does)."""
        if self._client_factory is None:
            return
        from etl.api.parse import SubAccount
        from etl.errors import ApiError

        client = self._client_factory(self.parent.key)
        try:
            self.learn((s.token, s.api_key) for s in client.iter_subaccounts() if isinstance(s, SubAccount))
        except ApiError as exc:
            log.warning("accounts: could not read sub-account keys (%s); their runs wait for the next read", exc)
        finally:
            client.close()

    def _candidates(self) -> list[Followed | None]:
        a = accounts_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(a.id, a.label, a.token).where(a.id != PARENT.id, a.gone_since.is_(None)).order_by(a.id)
            ).all()
        excluded = set(self.config.accounts.exclude)
        out: list[Followed | None] = []
        with self._lock:
            for row in rows:
                ref = AccountRef(int(row.id), str(row.label))
                if ref.label in self._configured:
                    out.append(Followed(ref, self._configured[ref.label]))
                elif self.config.accounts.discover and ref.label not in excluded and row.token not in excluded:
                    key = self._discovered.get(row.token) if row.token else None
                    out.append(Followed(ref, key) if key else None)
        return out


def wire(
    config: Config, engine: Engine, *, on_secret: Callable[[str], None] = lambda _secret: None,
    observer: Callable[[str, str, int], None] | None = None,
) -> tuple[AccountSource, ClientFactory]:
    """The accounts to run jobs for and the client factory for their keys, sharing one `SecretBook`.

    Without ``[accounts]`` settings, the parent alone (no `subaccount/list` read, no accounts query).
    """
    from etl.api.factory import make_client

    parent_key = config.api_key()
    book = SecretBook([parent_key.reveal()])

    def factory(key: Secret) -> ApiClient:
        return make_client(config, key, observer=observer, secrets=book)

    if not config.accounts.discover and not config.accounts.follow:
        return OneAccount(parent_key), factory
    return AccountDirectory(config, engine, parent_key, on_secret=on_secret, client_factory=factory, book=book), factory


def named(engine: Engine, label: str) -> AccountRef:
    """The account labelled ``label`` (``main``: the parent), for a command acting on one account.

    `InputError` for a label ``accounts`` does not hold and for a sub-account gone from the list (its
    key answers code 10): one sentence, before any call or row."""
    from etl.errors import InputError

    if label == PARENT.label:
        return PARENT
    a = accounts_table.c
    with engine.connect() as conn:
        row = conn.execute(select(a.id, a.label, a.gone_since).where(a.label == label)).first()
        conn.rollback()
    if row is None:
        raise InputError(f"--account: {label!r} is not the label of an account here (`smspartner-etl accounts list` shows them)")
    if row.gone_since is not None:
        raise InputError(f"--account: {row.label} left subaccount/list on {row.gone_since:%Y-%m-%d %H:%M} UTC (removed): nothing sent")
    return AccountRef(int(row.id), str(row.label))


def key_of(source: AccountSource, account: AccountRef) -> Secret:
    """The key ``source`` follows ``account`` with; `ConfigError` when it does not follow it (no key known)."""
    from etl.errors import ConfigError

    for followed in source.followed():
        if followed.ref.id == account.id:
            return followed.key
    raise ConfigError(
        f"--account: {account.label} is not followed, so its key is unknown: set [accounts] discover = true "
        "or give it an [[accounts.follow]] entry (docs/accounts.md)"
    )


def account_client(config: Config, engine: Engine, label: str, parent: Callable[[], ApiClient]) -> tuple[AccountRef, ApiClient]:
    """The account ``label`` names and a client holding its key, for one write (``stops``, ``messages``,
    the console's admin pages); ``parent`` makes the parent's client. Refusals as `named` and `key_of`."""
    account = named(engine, label)
    if account == PARENT:
        return account, parent()
    source, factory = wire(config, engine)
    return account, factory(key_of(source, account))
