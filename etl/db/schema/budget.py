"""The shared API budget: one row per call slot of an account's endpoint class (migration 0019; docs/api-client.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from etl.db.schema.base import Base, table_of
from etl.db.types import Id, UtcDateTime


class ApiBudgetSlot(Base):
    """One of the ``N`` calls an account may make to an endpoint class in any window (``N`` = its limit).

    A call takes the slot free soonest (``FOR UPDATE SKIP LOCKED``) if ``free_at`` has passed and sets
    it to now + window + margin, so no window holds more than ``N`` calls, whatever the instances. A 429
    pushes every slot of the class to the end of its ``Retry-After`` (`etl.budget`)."""

    __tablename__ = "api_budget_slots"

    account_id: Mapped[int] = mapped_column(Id, ForeignKey("accounts.id"), primary_key=True)
    #: ``*`` (the account's whole budget), ``statistics/cost-resume`` or ``verification`` (etl/api/budget.py).
    endpoint_class: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: 0 .. N-1; slots at or past the configured limit are deleted when an instance starts with a lower one.
    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: When this slot may be spent again (a slot never spent: 1970).
    free_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index(None, "account_id", "endpoint_class", "free_at"),)


api_budget_slots = table_of(ApiBudgetSlot)
