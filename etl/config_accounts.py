"""``[accounts]``: which accounts one deployment mirrors besides the parent (docs/accounts.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from etl.errors import ConfigError

__all__ = ["AccountsConfig", "FollowedAccount", "PARENT_LABEL", "validate_accounts"]


@dataclass(frozen=True)
class FollowedAccount:
    """A sub-account followed with a key of its own (``[[accounts.follow]]``, docs/accounts.md)."""

    label: str
    key_env: str = ""
    key_file: str = ""
    #: The sub-account's token in `subaccount/list` (required): ties this entry to the listed sub-account.
    token: str = ""


@dataclass(frozen=True)
class AccountsConfig:
    """Which accounts one deployment mirrors: the parent (label ``main``) plus these (docs/accounts.md).

    TOML cannot hold both ``[accounts]`` and ``[[accounts]]``, hence ``[[accounts.follow]]``.
    """

    #: Follow every sub-account `subaccount/list` returns, with the key it returns (held in memory only).
    discover: bool = False
    follow: tuple[FollowedAccount, ...] = ()
    #: Labels or tokens of discovered sub-accounts not to follow.
    exclude: tuple[str, ...] = ()


PARENT_LABEL = "main"
_LABEL = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


def validate_accounts(accounts: AccountsConfig) -> None:
    seen: set[str] = set()
    tokens: set[str] = set()
    for i, entry in enumerate(accounts.follow):
        where = f"accounts.follow[{i}]"
        if not _LABEL.fullmatch(entry.label):
            raise ConfigError(f"{where}.label: {entry.label!r} is not a label (1-32 of a-z 0-9 _ -, starting alnum)")
        if entry.label == PARENT_LABEL or entry.label in seen:
            raise ConfigError(f"{where}.label: {entry.label!r} is already taken ({PARENT_LABEL!r} is the parent)")
        seen.add(entry.label)
        if not entry.key_env and not entry.key_file:
            raise ConfigError(f"{where}: set key_env or key_file (a sub-account key is never written in the file)")
        if not entry.token.strip():
            raise ConfigError(f"{where}.token: set the sub-account's token (as subaccount/list gives it)")
        if entry.token in tokens:
            raise ConfigError(f"{where}.token: already followed by another entry")
        tokens.add(entry.token)
