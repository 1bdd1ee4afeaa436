"""The staged read against the stored groups and contacts: one statement per kind of change.

Events are written from the same comparison as the change they record, just before it. A contact's
row is ``clears`` when its group was read completely: only then may a flag be cleared (``stop_off``)
or a contact be found gone (docs/contacts.md, "What a broken read never does").

Unchanged contacts are not written: a complete read of a group saw every contact of it that is not
gone, so the group's ``last_complete_read_at`` says when they were last seen (the ``contacts_seen``
view adds it; migration 0020). A contact's own ``last_seen_at`` is written when that is not so: when
it appears or comes back, when a partial read lists it, and when it goes (frozen at the last read
that saw it). The groups' update, one row per listed group, is the sync's marker and runs last.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    String,
    Table,
    and_,
    case,
    exists,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.sql.expression import ColumnElement, Executable

from etl.db import dialect
from etl.db.schema import contact_events, contact_groups, contacts
from etl.db.types import Phone, UtcDateTime
from etl.jobs.contacts.read import COMPLETE, PHONE_RAW_WIDTH

_ID = String(64)
_EVENT_COLUMNS = ["account_id", "group_id", "contact_id", "phone_e164", "kind", "at", "run_id"]


def group_stage() -> Table:
    """The listed groups; ``read_status`` is how their contacts were read (NULL: not followed)."""
    return dialect.temp_table(
        "stage_contact_groups",
        Column("group_id", _ID, nullable=False),
        Column("name", String(255), nullable=False),
        Column("api_created_at", UtcDateTime()),
        Column("is_special_file", Boolean, nullable=False),
        Column("is_location_file", Boolean, nullable=False),
        Column("followed", Boolean, nullable=False),
        Column("read_status", String(16)),
    )


def contact_stage() -> Table:
    """The contacts read; ``clears`` when their group's read was complete."""
    return dialect.temp_table(
        "stage_contacts",
        Column("group_id", _ID, nullable=False),
        Column("contact_id", _ID, nullable=False),
        Column("phone_raw", String(PHONE_RAW_WIDTH), nullable=False),
        Column("phone_e164", Phone),
        Column("stop_sms", Boolean, nullable=False),
        Column("api_created_at", UtcDateTime()),
        Column("clears", Boolean, nullable=False),
    )


def seen_by_group() -> Any:
    """A present contact's last sight: its own ``last_seen_at``, or its group's last complete read
    when later (that read saw every contact of the group not gone). The ``contacts_seen`` view says
    the same in SQL (migration 0020)."""
    c, g = contacts.c, contact_groups.c
    complete = (select(g.last_complete_read_at)
                .where(g.account_id == c.account_id, g.group_id == c.group_id).scalar_subquery())
    return case((complete > c.last_seen_at, complete), else_=c.last_seen_at)


class Diff:
    """The statements of one account's sync, at ``now`` for run ``run_id``."""

    def __init__(self, conn: Connection, account_id: int, now: datetime, run_id: int) -> None:
        self.conn = conn
        self.account_id = account_id
        self.now = now
        self.run_id = run_id

    def _rows(self, statement: Executable) -> int:
        """Rows an ``INSERT ... SELECT`` or ``UPDATE`` wrote (psycopg reports -1 unless asked to keep the count)."""
        return int(self.conn.execute(statement.execution_options(preserve_rowcount=True)).rowcount)

    def _at(self) -> Any:
        return literal(self.now, UtcDateTime())

    def _events(self, kind: str, rows: Any) -> int:
        """``rows`` selects (group_id, contact_id, phone_e164); one event of ``kind`` each."""
        sub = rows.subquery()
        values = select(
            literal(self.account_id, BigInteger()), sub.c.group_id, sub.c.contact_id, sub.c.phone_e164,
            literal(kind), self._at(), literal(self.run_id, BigInteger()),
        )
        return self._rows(insert(contact_events).from_select(_EVENT_COLUMNS, values))

    # --- groups ------------------------------------------------------------------------------------

    def groups(self, stage: Table, list_complete: bool) -> tuple[int, int]:
        """New groups in, and (when the list was read whole) unlisted ones gone with their contacts;
        returns how many groups went, and how many contacts with them. The listed ones are refreshed
        by `listed_groups`, after the contacts."""
        g, s = contact_groups.c, stage.c
        mine = g.account_id == self.account_id
        complete_now = case((s.read_status == COMPLETE, self._at()), else_=None)
        self._rows(insert(contact_groups).from_select(
            ["account_id", "group_id", "name", "api_created_at", "is_special_file", "is_location_file", "followed",
             "first_seen_at", "last_seen_at", "last_read", "last_complete_read_at"],
            select(literal(self.account_id, BigInteger()), s.group_id, s.name, s.api_created_at, s.is_special_file,
                   s.is_location_file, s.followed, self._at(), self._at(), s.read_status, complete_now)
            .where(~exists().where(mine, g.group_id == s.group_id)),
        ))

        if not list_complete:
            return 0, 0
        unlisted = (mine, g.gone_since.is_(None), ~g.group_id.in_(select(s.group_id)))
        gone = [row.group_id for row in self.conn.execute(select(g.group_id).where(*unlisted))]
        if not gone:
            return 0, 0
        with_them = self._gone_with_groups(gone)
        self._rows(update(contact_groups).where(mine, g.group_id.in_(gone)).values(gone_since=self.now))
        return len(gone), with_them

    def listed_groups(self, stage: Table) -> int:
        """Every listed group seen now, with its values and how its contacts were read; a complete
        read's time is its contacts' last sight (`seen_by_group`). Last: the contacts' statements
        before it read the previous ``last_complete_read_at``."""
        g, s = contact_groups.c, stage.c

        def listed(column: Any) -> Any:
            return select(column).where(s.group_id == g.group_id).scalar_subquery()

        complete_now = case((listed(s.read_status) == COMPLETE, self._at()), else_=g.last_complete_read_at)
        return self._rows(update(contact_groups).where(g.account_id == self.account_id, g.group_id.in_(select(s.group_id)))
                          .values(name=listed(s.name), api_created_at=listed(s.api_created_at),
                                  is_special_file=listed(s.is_special_file), is_location_file=listed(s.is_location_file),
                                  followed=listed(s.followed), last_seen_at=self.now, gone_since=None,
                                  last_read=listed(s.read_status), last_complete_read_at=complete_now))

    def _gone_with_groups(self, group_ids: list[str]) -> int:
        c = contacts.c
        present = (c.account_id == self.account_id, c.gone_since.is_(None), c.group_id.in_(group_ids))
        count = self._events("gone", select(c.group_id, c.contact_id, c.phone_e164).where(*present))
        self._rows(update(contacts).where(*present).values(gone_since=self.now, last_seen_at=seen_by_group(),
                                                           last_run_id=self.run_id))
        return count

    # --- contacts ----------------------------------------------------------------------------------

    def _stored(self, s: Any) -> ColumnElement[bool]:
        c = contacts.c
        return and_(c.account_id == self.account_id, c.group_id == s.group_id, c.contact_id == s.contact_id)

    def _listed(self, s: Any, *also: ColumnElement[bool]) -> ColumnElement[bool]:
        """The stored contact is in the stage (by its whole key: a lookup in the stage's unique index), with ``also``."""
        c = contacts.c
        return exists().where(s.group_id == c.group_id, s.contact_id == c.contact_id, *also)

    def appeared(self, stage: Table) -> int:
        """Contacts never seen: stored (their flag's time is now), with an appeared event, and a
        stop_on event when flagged. Returns how many."""
        s = stage.c
        new = select(s.group_id, s.contact_id, s.phone_e164).where(~exists().where(self._stored(s)))
        added = self._events("appeared", new)
        self._events("stop_on", new.where(s.stop_sms.is_(True)))
        at = self._at()
        self._rows(insert(contacts).from_select(
            ["account_id", "group_id", "contact_id", "phone_raw", "phone_e164", "stop_sms", "stop_since",
             "api_created_at", "first_seen_at", "last_seen_at", "first_run_id", "last_run_id"],
            select(literal(self.account_id, BigInteger()), s.group_id, s.contact_id, s.phone_raw, s.phone_e164,
                   s.stop_sms, case((s.stop_sms.is_(True), at), else_=None), s.api_created_at, at, at,
                   literal(self.run_id, BigInteger()), literal(self.run_id, BigInteger()))
            .where(~exists().where(self._stored(s))),
        ))
        return added

    def returned(self, stage: Table) -> int:
        """Contacts listed again after they went: an appeared event, ``gone_since`` cleared."""
        c, s = contacts.c, stage.c
        back = select(c.group_id, c.contact_id, s.phone_e164).select_from(stage.join(contacts, self._stored(s)))
        count = self._events("appeared", back.where(c.gone_since.is_not(None)))
        if count:
            self._rows(update(contacts).where(c.account_id == self.account_id, c.gone_since.is_not(None),
                                              self._listed(s)).values(gone_since=None, last_seen_at=self.now,
                                                                      last_run_id=self.run_id))
        return count

    def flips(self, stage: Table) -> int:
        """Flags that turned on (any read) or off (a complete read only): an event each, then the
        stored flag. Returns how many flipped."""
        c, s = contacts.c, stage.c
        pairs = select(c.group_id, c.contact_id, s.phone_e164).select_from(stage.join(contacts, self._stored(s)))
        on = and_(s.stop_sms.is_(True), c.stop_sms.is_(False))
        off = and_(s.stop_sms.is_(False), c.stop_sms.is_(True), s.clears.is_(True))
        flipped = self._events("stop_on", pairs.where(on)) + self._events("stop_off", pairs.where(off))
        if flipped:
            mine = c.account_id == self.account_id
            self._rows(update(contacts).where(mine, c.stop_sms.is_(False), self._listed(s, s.stop_sms.is_(True)))
                       .values(stop_sms=True, stop_since=self.now, last_run_id=self.run_id))
            self._rows(update(contacts).where(mine, c.stop_sms.is_(True),
                                              self._listed(s, s.stop_sms.is_(False), s.clears.is_(True)))
                       .values(stop_sms=False, stop_since=None, last_run_id=self.run_id))
        return flipped

    def corrections(self, stage: Table) -> int:
        """A changed number or date is corrected (no event: the history is about presence and
        flags). Returns how many changed."""
        c, s = contacts.c, stage.c
        mine = c.account_id == self.account_id
        changed = self._listed(s, or_(s.phone_raw != c.phone_raw, s.phone_e164.is_distinct_from(c.phone_e164),
                                      s.api_created_at.is_distinct_from(c.api_created_at)))

        def listed(column: Any) -> Any:
            return select(column).where(s.group_id == c.group_id, s.contact_id == c.contact_id).scalar_subquery()

        return self._rows(update(contacts).where(mine, changed).values(
            phone_raw=listed(s.phone_raw), phone_e164=listed(s.phone_e164), api_created_at=listed(s.api_created_at),
            last_run_id=self.run_id))

    def seen_partially(self, stage: Table) -> int:
        """Contacts listed by a partial read are seen now: their group's ``last_complete_read_at``
        does not say so (the rows that appeared or came back this run already are)."""
        c, s = contacts.c, stage.c
        return self._rows(update(contacts).where(c.account_id == self.account_id, c.last_seen_at < self._at(),
                                                 self._listed(s, s.clears.is_(False)))
                          .values(last_seen_at=self.now, last_run_id=self.run_id))

    def gone(self, stage: Table, groups: Table) -> int:
        """Contacts of a completely read group that the read no longer lists: an event, ``gone_since``."""
        c, s, g = contacts.c, stage.c, groups.c
        absent = (
            c.account_id == self.account_id,
            c.gone_since.is_(None),
            c.group_id.in_(select(g.group_id).where(g.read_status == COMPLETE)),
            ~exists().where(s.group_id == c.group_id, s.contact_id == c.contact_id),
        )
        count = self._events("gone", select(c.group_id, c.contact_id, c.phone_e164).where(*absent))
        if count:
            # The same rows as the events: gone_since is still NULL on them.
            self._rows(update(contacts).where(*absent).values(gone_since=self.now, last_seen_at=seen_by_group(),
                                                              last_run_id=self.run_id))
        return count


__all__ = ["Diff", "contact_stage", "group_stage", "seen_by_group"]
