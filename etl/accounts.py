"""Which account a run, a row or a metric belongs to: `AccountRef`, and the parent account.

One deployment follows its parent account (row 1 of ``accounts``, label ``main``) and the
sub-accounts it discovers or is given (docs/accounts.md). Jobs receive one `AccountRef` in their
context and write its id on every row; they never see another account's key.
"""

from __future__ import annotations

from dataclasses import dataclass

from etl.config import PARENT_LABEL

__all__ = ["AccountRef", "PARENT", "PARENT_ID"]

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
        """The job's lock for this account: the bare job name for the parent, so an instance from
        before sub-accounts and one after still exclude each other during an upgrade."""
        return job if self.is_parent else f"{job}@{self.id}"


PARENT = AccountRef(PARENT_ID, PARENT_LABEL)
