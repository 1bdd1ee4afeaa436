"""Items of API answers and push bodies that could not be read (migration 0006; docs/api-client.md, "Quarantine")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from etl.db.schema.accounts import account_id_column
from etl.db.schema.base import Base, table_of
from etl.db.types import Id, UtcDateTime


class RejectedItem(Base):
    """An item of an API answer (or a push body) that could not be read, kept instead of failing the run.

    One row per distinct item per endpoint (``item_hash``: SHA-256 of the redacted item text); seeing
    it again bumps ``times_seen`` and ``last_seen_at``. The rule: what is unreadable is quarantined
    here, the rest of the answer is applied (docs/api-client.md, "Quarantine").
    """

    __tablename__ = "rejected_items"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    #: The API endpoint (multi-status, stop-sms/list...) or push channel the item came from.
    endpoint: Mapped[str] = mapped_column(String(48))
    item_hash: Mapped[str] = mapped_column(String(64))
    #: The item as received, as JSON text, the API key masked; cut at 4,000 characters.
    item: Mapped[str] = mapped_column(Text)
    #: Why it was refused, one sentence (e.g. "date '04/12/2026 07:00' is not a date").
    reason: Mapped[str] = mapped_column(String(255))
    #: What the item belongs to, when known: recipient, stop, rental_number, tag, push.
    ref_kind: Mapped[str | None] = mapped_column(String(16))
    ref: Mapped[str | None] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    times_seen: Mapped[int] = mapped_column(Integer, default=1)
    #: The run that saw it last (NULL for push bodies, which have no run).
    last_run_id: Mapped[int | None] = mapped_column(Id)
    account_id: Mapped[int] = account_id_column()

    __table_args__ = (
        Index("uq_rejected_items_account_id_endpoint_item_hash", "account_id", "endpoint", "item_hash", unique=True),
        Index(None, "ref_kind", "ref"),
        Index(None, "last_seen_at"),
    )


rejected_items = table_of(RejectedItem)
