"""Reading an account's groups and their contacts: every call spaced by the budget, each group on its own.

No database here: the whole read is held in memory (a group is 20 contacts a page, an account a few
hundred thousand contacts at most), so no transaction stays open while calls are spaced out over
minutes. What a read could not use is said per group (`GroupRead.status`), and `etl.jobs.contacts.apply`
keeps the stored flags of every group not read completely.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from etl import quarantine
from etl.errors import ApiError, AuthError

log = logging.getLogger(__name__)

#: ``contacts.phone_raw``'s width: a longer text is cut (it cannot be a number anyway).
PHONE_RAW_WIDTH = 64
COMPLETE, PARTIAL, FAILED = "complete", "partial", "failed"


@dataclass(frozen=True, slots=True)
class GroupRow:
    """A ``group/list`` item as stored."""

    group_id: str
    name: str
    api_created_at: datetime | None
    is_special_file: bool
    is_location_file: bool


@dataclass(frozen=True, slots=True)
class ContactRow:
    """A contact as stored; ``stop_sms`` is True when the flag could not be read (fail-closed)."""

    contact_id: str
    phone_raw: str
    phone_e164: str | None
    stop_sms: bool
    api_created_at: datetime | None


@dataclass(frozen=True)
class Batch:
    """What one call gave: the rows it could read and the items it could not."""

    rows: list[ContactRow]
    rejections: list[quarantine.Rejection] = field(default_factory=list)


@dataclass(frozen=True)
class GroupListing:
    rows: list[GroupRow]
    rejections: list[quarantine.Rejection] = field(default_factory=list)


class ContactSource(Protocol):
    """The calls the job makes (`etl.jobs.contacts.source.ClientSource` over the API client)."""

    def groups(self) -> GroupListing: ...

    def pages(self, group_id: str, before_call: Callable[[], None]) -> Iterator[Batch]:
        """The group's contacts, one batch per call; ``before_call`` runs just before each call."""
        ...


@dataclass
class GroupRead:
    """One group's contacts as read: ``complete`` (every item read, every page), ``partial`` (items
    quarantined: the rows read are kept, nothing is inferred from what is missing) or ``failed``
    (a call refused or failing after its retries: nothing of it is used)."""

    group_id: str
    status: str = COMPLETE
    rows: list[ContactRow] = field(default_factory=list)
    rejections: list[quarantine.Rejection] = field(default_factory=list)
    why: str | None = None


@dataclass
class Reading:
    """An account's groups and the reads of the followed ones."""

    groups: GroupListing
    reads: list[GroupRead]
    calls: int = 0
    waited: float = 0.0

    @property
    def rejections(self) -> list[quarantine.Rejection]:
        return [*self.groups.rejections, *(r for read in self.reads for r in read.rejections)]

    def kept(self) -> list[GroupRead]:
        """The followed groups whose stored flags stand this run (their read was not complete)."""
        return [read for read in self.reads if read.status != COMPLETE]


class Pacer:
    """Spaces calls ``60 / per_minute`` seconds apart on the injected clock and sleep (0: unspaced).

    A clock that does not move while the sleep runs (a test's, the simulator's when frozen) still
    spaces calls by one interval each: the time after a wait is taken as the end of that wait.
    """

    def __init__(self, per_minute: float, now: Callable[[], datetime], sleep: Callable[[float], None]) -> None:
        self.interval = timedelta(seconds=60.0 / per_minute) if per_minute > 0 else timedelta(0)
        self._now = now
        self._sleep = sleep
        self._last: datetime | None = None
        self.calls = 0
        self.waited = 0.0

    def before_call(self) -> None:
        self.calls += 1
        if not self.interval:
            return
        current = self._now()
        if self._last is not None:
            current = max(current, self._last)
            due = self._last + self.interval
            if current < due:
                seconds = (due - current).total_seconds()
                self._sleep(seconds)
                self.waited += seconds
                current = due
        self._last = current


def read_account(
    source: ContactSource, followed: Callable[[str], bool], pacer: Pacer, should_stop: Callable[[], bool] = lambda: False
) -> Reading:
    """``group/list``, then every followed group's pages. A failing ``group/list`` fails the run (it
    raises: nothing is known); a failing group is ``failed`` and the others go on. A refused key
    (`AuthError`) stops the whole read: the account is not readable, every stored flag stands. On
    shutdown (``should_stop``) the groups not read yet are ``failed``: what was read is applied."""
    pacer.before_call()
    listing = source.groups()
    reads = []
    for row in listing.rows:
        if not followed(row.group_id):
            continue
        if should_stop():
            reads.append(GroupRead(row.group_id, FAILED, why="not read: the daemon is stopping"))
        else:
            reads.append(_read_group(source, row.group_id, pacer))
    return Reading(listing, reads, calls=pacer.calls, waited=pacer.waited)


def _read_group(source: ContactSource, group_id: str, pacer: Pacer) -> GroupRead:
    read = GroupRead(group_id)
    seen: set[str] = set()
    try:
        for batch in source.pages(group_id, pacer.before_call):
            for row in batch.rows:
                if row.contact_id not in seen:  # a contact repeated across pages (the group changed mid-read)
                    seen.add(row.contact_id)
                    read.rows.append(row)
            if batch.rejections:
                read.rejections.extend(batch.rejections)
                read.status = PARTIAL
    except AuthError:
        raise
    except ApiError as exc:
        log.warning("contact group %s: read failed (%s); its stored flags stand", group_id, type(exc).__name__)
        return GroupRead(group_id, FAILED, rejections=read.rejections, why=str(exc)[:200])
    return read
