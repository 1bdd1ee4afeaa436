"""Re-consent before a stop is removed: the evidence it needs, and the cool-off after a STOP reply.

A stop is removed only with the evidence that the number opted back in (free text or a reference: a form, a
URL, a date), kept on the ``stop_remove`` audit row and so in its chain entry. A stop whose open period came
from a STOP reply (``source`` ``push``: the callback; ``reply-intent``: a flagged reply) is not removed
within ``[compliance] stop_reply_cooloff`` of that STOP: a re-consent days after a STOP reply is rarely one.
``override`` (with a reason) removes it anyway; the row says ``cooloff_override`` and the chain holds an
entry for it (docs/compliance.md, "Removing an opt-out").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, or_, select

from etl.db.schema import stop_periods
from etl.errors import InputError

__all__ = ["MAX_EVIDENCE", "REPLY_SOURCES", "ReplyStop", "cooloff_until", "evidence_of", "overrides_cooloff", "reply_stop_of"]

#: The sources of a stop period that are a STOP reply from the number itself.
REPLY_SOURCES = ("push", "reply-intent")
#: Characters of consent evidence kept: a reference or a short account, not a document.
MAX_EVIDENCE = 2000


@dataclass(frozen=True)
class ReplyStop:
    """The latest STOP reply behind a number's open stop: when, and through what (``push``, ``reply-intent``)."""

    at: datetime
    source: str


def reply_stop_of(conn: Connection, account_id: int, phone_e164: str | None, stop_id: int | None) -> ReplyStop | None:
    """The latest open stop period of the number (or of the stop id) in ``account_id`` that a STOP reply opened."""
    p = stop_periods.c
    which = []
    if phone_e164 is not None:
        which.append(p.phone_e164 == phone_e164)
    if stop_id is not None:
        which.append(p.api_stop_id == stop_id)
    if not which:
        return None
    since = func.coalesce(p.api_created_at, p.first_seen_at)
    row = conn.execute(
        select(since, p.source)
        .where(p.account_id == account_id, p.removed_at.is_(None), p.source.in_(REPLY_SOURCES), or_(*which))
        .order_by(since.desc(), p.id.desc())
        .limit(1)
    ).first()
    return None if row is None else ReplyStop(row[0], str(row[1]))


def cooloff_until(stop: ReplyStop | None, cooloff: float) -> datetime | None:
    """When the cool-off after ``stop`` ends (None: no STOP reply behind the stop, or no cool-off)."""
    if stop is None or cooloff <= 0:
        return None
    return stop.at + timedelta(seconds=cooloff)


def evidence_of(consent_evidence: str) -> str:
    """The consent evidence to store (stripped); `InputError` when there is none or it is a document, not a reference."""
    evidence = (consent_evidence or "").strip()
    if not evidence:
        raise InputError(
            "a stop is removed only with consent evidence (--consent-evidence): how the number opted back in, "
            "e.g. a form reference, a URL or a date"
        )
    if len(evidence) > MAX_EVIDENCE:
        raise InputError(f"consent evidence is at most {MAX_EVIDENCE} characters (a reference, not the document), got {len(evidence)}")
    return evidence


def overrides_cooloff(
    stop: ReplyStop | None, *, override: bool, reason: str | None, cooloff: float, now: datetime, target: str
) -> bool:
    """Whether this removal overrides the cool-off after a STOP reply; `InputError` when it may not be made."""
    until = cooloff_until(stop, cooloff)
    if stop is None or until is None or now >= until:
        return False
    if not override:
        raise InputError(
            f"{target} opted out by STOP reply ({stop.source}) on {stop.at:%Y-%m-%d %H:%M} UTC: it cannot be removed "
            f"before {until:%Y-%m-%d %H:%M} UTC ([compliance] stop_reply_cooloff); --override with --reason removes it anyway, audited"
        )
    if not (reason or "").strip():
        raise InputError("--override needs --reason: the audit records why the cool-off after a STOP reply was overridden")
    return True
