"""An item of a list answer that could not be read: kept beside the good ones for the quarantine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Unreadable:
    """An item of a list answer that could not be read: quarantined by the job, never fatal to its answer.

    ``message_id`` and ``phone`` are what could still be read of the item's key (``phone`` in E.164
    when it parses, else as given), so the job can move that pair's polling on.
    """

    endpoint: str
    #: The item as decoded from the answer (an object, or whatever stood in its place).
    item: Any
    reason: str
    message_id: str | None = None
    phone: str | None = None

    @property
    def ref(self) -> str | None:
        """``message_id/phone`` (``rejected_items.ref`` of kind ``recipient``), ``None`` when neither is readable."""
        if self.message_id is None and self.phone is None:
            return None
        return f"{self.message_id or '?'}/{self.phone or '?'}"
