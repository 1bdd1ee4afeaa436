"""Which account a run, a row or a metric belongs to: `AccountRef`, and the parent account.

One deployment follows its parent account (row 1 of ``accounts``, label ``main``) and the
sub-accounts it discovers or is given (docs/accounts.md). Jobs receive one `AccountRef` in their
context and write its id on every row; they never see another account's key.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from etl.config import PARENT_LABEL
from etl.secrets import Secret

__all__ = ["AccountRef", "AccountSource", "Followed", "OneAccount", "PARENT", "PARENT_ID", "lock_name_of"]

PARENT_ID = 1
"""The parent account's ``accounts.id``: created by migration 0010 and by a fresh ``db migrate``."""


@dataclass(frozen=True, order=True)
class AccountRef:
    """An account as jobs see it: its ``accounts.id`` and its label (for logs, metrics, locks)."""

    id: int
    label: str

    @property
    def is_parent(self) -> bool:
        return self.id == PARENT_ID

    def shown(self, job: str) -> str:
        """``job`` as logs and command output name it: ``stops`` for the parent, ``stops@shop`` otherwise."""
        return job if self.is_parent else f"{job}@{self.label}"

    def lock_name(self, job: str) -> str:
        """The job's lock for this account (`lock_name_of`)."""
        return lock_name_of(self.id, job)


def lock_name_of(account_id: int, job: str) -> str:
    """``job``'s lock for an account: the bare job name for the parent, so an instance from before
    sub-accounts and one after still exclude each other during an upgrade; ``job@<id>`` otherwise."""
    return job if account_id == PARENT_ID else f"{job}@{account_id}"


PARENT = AccountRef(PARENT_ID, PARENT_LABEL)


@dataclass(frozen=True)
class Followed:
    """An account to run jobs for, with the key its runs use (never stored: `etl.account_directory`)."""

    ref: AccountRef
    key: Secret


class AccountSource(Protocol):
    """What the daemon and ``sync`` ask for the accounts to run a job for (`etl.account_directory`)."""

    def followed(self) -> list[Followed]:
        """The parent first, then each followed sub-account whose key is known."""
        ...

    def learn(self, keys: Iterable[tuple[str, Secret]]) -> None:
        """Remember (token, key) pairs the accounts job read."""
        ...


class OneAccount:
    """The parent alone: a deployment without ``[accounts]``, and tests."""

    def __init__(self, key: Secret) -> None:
        self._followed = [Followed(PARENT, key)]

    def followed(self) -> list[Followed]:
        return list(self._followed)

    def learn(self, keys: Iterable[tuple[str, Secret]]) -> None:
        """Nothing to remember: sub-accounts are not followed."""
