"""Contact groups, their contacts' ``stopSms`` flags, and the history of both (migration 0011; docs/schema.md).

Ids are strings as the API gives them (ACCOUNTS.md §3: the group id is a string in group/list, an int in
contact/detail), each unique within its account. Nothing is deleted: a group or contact that leaves the
API gets ``gone_since``, and comes back by clearing it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from etl.db.schema.accounts import account_id_column
from etl.db.schema.base import Base, table_of
from etl.db.types import Id, Phone, UtcDateTime

#: API ids as text: ints today, strings in the docs' examples (ACCOUNTS.md §6.6).
ApiId = String(64)
#: What ``contact_events.kind`` may hold.
CONTACT_EVENT_KINDS = ("appeared", "gone", "stop_on", "stop_off")


class ContactGroup(Base):
    """A contact group of an account (``group/list``), followed or not by the contacts job."""

    __tablename__ = "contact_groups"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = account_id_column()
    group_id: Mapped[str] = mapped_column(ApiId)
    name: Mapped[str] = mapped_column(String(255), default="")
    #: The API's ``createdAt`` (ISO 8601 with an offset), stored UTC; NULL when unreadable.
    api_created_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    is_special_file: Mapped[bool] = mapped_column(Boolean, server_default=false())
    is_location_file: Mapped[bool] = mapped_column(Boolean, server_default=false())
    #: Its contacts are read (``[contacts] groups`` names it, or is empty) and block the audience.
    followed: Mapped[bool] = mapped_column(Boolean, server_default=false())
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: Set when a complete ``group/list`` no longer lists it (its contacts are gone with it).
    gone_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: How the last read of its contacts went: complete, partial (items quarantined) or failed.
    last_read: Mapped[str | None] = mapped_column(String(16))
    #: When its contacts were last read completely: its flags are at least that fresh.
    last_complete_read_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("account_id", "group_id"),)


class Contact(Base):
    """A contact of a group and its ``stopSms`` flag as last read (a number in two groups is two rows)."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = account_id_column()
    group_id: Mapped[str] = mapped_column(ApiId)
    contact_id: Mapped[str] = mapped_column(ApiId)
    phone_raw: Mapped[str] = mapped_column(String(64))
    #: E.164; NULL when no phone library can parse ``phone_raw``.
    phone_e164: Mapped[str | None] = mapped_column(Phone)
    #: Fail-closed: a flag that could not be read is stored True (the item is in ``rejected_items``).
    stop_sms: Mapped[bool] = mapped_column(Boolean, server_default=false())
    #: When the tool first saw the flag set, while it is set.
    stop_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    api_created_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: Set when a complete read of its group no longer lists it, or its group is gone.
    gone_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_run_id: Mapped[int | None] = mapped_column(Id, ForeignKey("sync_runs.id"))
    last_run_id: Mapped[int | None] = mapped_column(Id, ForeignKey("sync_runs.id"))

    __table_args__ = (
        UniqueConstraint("account_id", "group_id", "contact_id"),
        Index(None, "phone_e164"),
    )


class ContactEvent(Base):
    """What a sync saw change: a contact appeared (again) or went, its flag turned on or off."""

    __tablename__ = "contact_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = account_id_column()
    group_id: Mapped[str] = mapped_column(ApiId)
    contact_id: Mapped[str] = mapped_column(ApiId)
    phone_e164: Mapped[str | None] = mapped_column(Phone)
    #: appeared, gone, stop_on, stop_off
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    run_id: Mapped[int | None] = mapped_column(Id, ForeignKey("sync_runs.id"))

    __table_args__ = (
        CheckConstraint("kind IN ('appeared', 'gone', 'stop_on', 'stop_off')", name="kind"),
        Index(None, "account_id", "group_id", "contact_id", "at"),
        Index(None, "at"),
        Index(None, "phone_e164"),
    )


contact_groups = table_of(ContactGroup)
contacts = table_of(Contact)
contact_events = table_of(ContactEvent)
