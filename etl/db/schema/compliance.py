"""Compliance evidence (issue 18): sends that reached a number on its account's stop list (migration 0016;
docs/compliance.md, "Breaches")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from etl.db.schema.accounts import account_id_column
from etl.db.schema.base import Base, table_of
from etl.db.types import Id, Phone, UtcDateTime


class Breach(Base):
    """One tracked recipient texted while its number was opted out in the same account, past the grace.

    Filled set-based after each stops and statuses sync (`etl.compliance.breaches.detect`); a row is a
    finding, never rewritten by a later detection, only acknowledged by an operator.
    """

    __tablename__ = "breaches"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = account_id_column()
    recipient_id: Mapped[int] = mapped_column(Id, ForeignKey("recipients.id"))
    #: The earliest stop period of the number that covered the send.
    stop_period_id: Mapped[int] = mapped_column(Id, ForeignKey("stop_periods.id"))
    phone_e164: Mapped[str] = mapped_column(Phone)
    message_id: Mapped[str] = mapped_column(String(64))
    tag: Mapped[str | None] = mapped_column(String(32))
    #: The send's actual start (``sends.started_at``).
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: When the number opted out: the API's ``createdAt``, else when this tool first saw the stop.
    opted_out_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: ``[compliance] breach_grace`` at detection, in seconds.
    grace_seconds: Mapped[int] = mapped_column(Integer)
    detected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    ack_note: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (
        Index("uq_breaches_recipient_id", "recipient_id", unique=True),
        Index(None, "phone_e164"),
        Index(None, "account_id", "acknowledged_at"),
        # The retention job keeps a breach's period readable (an anti-join on this) and deleting a period
        # checks this foreign key: both scanned every breach per period without it (migration 0029).
        Index(None, "stop_period_id"),
    )


breaches = table_of(Breach)
