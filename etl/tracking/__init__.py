"""What is tracked: sends and their recipients, from every intake a user would reach for.

Intakes, all ending in `ingest` (set-based, idempotent: re-importing the same data is harmless):

- `read_csv` + `track`: ``smspartner-etl track FILE|-``. Every line is checked first; any bad line
  raises one `InputError` listing each bad line, and nothing is imported.
- `track`: the Python function (``etl.tracking.track(engine, [TrackedSend(...)], ...)``).
- `track_send_result`: right after ``client.send(...)``, from its `SendResult` (the demo uses it).
- the ``track_intake`` table: a user's own sending application INSERTs ``(message_id, phone)``
  rows (plus optional columns, docs/statuses.md); `drain_intake` imports them each cycle.
- `track_message_ids`: a message id alone; the statuses job lists its recipients with
  ``/bulk-status`` (kind ``discover``), and its window then starts at their earliest status date
  (`start_discovered`), not when it was tracked.
- `follow_tags`: tags (also ``statuses.tags`` in the config); the statuses job reads them with
  ``/bulk-status-by-tag``, paged.

Reading the CSV and checking each value is `etl.tracking.csvfile`; every name stays importable
from here.

A send's polling window counts from its actual send time: the scheduled time when later than
the submission (`etl.polling.window_start`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    Engine,
    Integer,
    String,
    Table,
    and_,
    false,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy import exists as sql_exists

from etl import phones, polling
from etl.accounts import PARENT_ID
from etl.config import StatusesConfig
from etl.db import dialect
from etl.db.engine import writer
from etl.db.funnel_rollup import FunnelMove
from etl.db.schema import recipients, sends, track_intake, tracked_tags
from etl.db.types import UtcDateTime
from etl.errors import InputError
from etl.tracking.csvfile import (
    CSV_COLUMNS,
    MAX_ERRORS_SHOWN,
    MAX_FIELD_CHARS,
    MAX_INT,
    MAX_MONEY,
    MONEY_SCALE,
    REQUIRED_CSV_COLUMNS,
    SAVE_AS_UTF8,
    TrackedSend,
    Utf8Lines,
    _currency,
    _message_id,
    _tag,
    csv_template,
    parse_when,
    read_csv,
    read_csv_bytes,
)

if TYPE_CHECKING:
    from etl.api.parse import SendResult

__all__ = [
    "CSV_COLUMNS",
    "IntakeReport",
    "MAX_ERRORS_SHOWN",
    "MAX_FIELD_CHARS",
    "MAX_INT",
    "MAX_MONEY",
    "MONEY_SCALE",
    "REQUIRED_CSV_COLUMNS",
    "SAVE_AS_UTF8",
    "TrackedSend",
    "Utf8Lines",
    "csv_template",
    "drain_intake",
    "follow_tags",
    "ingest",
    "paris_day",
    "parse_when",
    "read_csv",
    "read_csv_bytes",
    "start_discovered",
    "track",
    "track_message_ids",
    "track_send_result",
]

log = logging.getLogger(__name__)

PARIS = ZoneInfo("Europe/Paris")
INTAKE_CHUNK = 5_000


@dataclass(frozen=True)
class IntakeReport:
    sends_added: int = 0
    recipients_added: int = 0
    recipients_seen: int = 0
    refused: int = 0
    errors: tuple[str, ...] = field(default_factory=tuple)


def paris_day(at: datetime) -> date:
    """The account's calendar day of a UTC instant (cost-resume months are Paris months)."""
    return at.astimezone(PARIS).date()


# ---------------------------------------------------------------------------------------------
# Set-based ingest
# ---------------------------------------------------------------------------------------------


def _stage_recipients_table() -> Table:
    return dialect.temp_table(
        "stage_track_recipients",
        Column("send_id", Integer, nullable=False),
        Column("message_id", String(64), nullable=False),
        Column("phone_e164", String(16), nullable=False),
        Column("phone_raw", String(64), nullable=False),
        Column("sent_day", Date, nullable=False),
        Column("poll_until", UtcDateTime(), nullable=False),
        Column("next_poll_at", UtcDateTime(), nullable=True),
    )


@dataclass(frozen=True, kw_only=True)
class _SendRow:
    message_id: str
    kind: str
    tag: str | None
    sent_at: datetime
    source: str
    scheduled_at: datetime | None = None
    nb_sms: int | None = None
    cost: Decimal | None = None
    currency: str | None = None


def _existing_sends(conn: Connection, message_ids: Sequence[str], account_id: int) -> dict[str, tuple[int, datetime, date]]:
    out: dict[str, tuple[int, datetime, date]] = {}
    s = sends.c
    for i in range(0, len(message_ids), 500):
        chunk = message_ids[i : i + 500]
        rows = conn.execute(
            select(s.message_id, s.id, s.started_at, s.sent_day).where(s.account_id == account_id, s.message_id.in_(chunk))
        )
        for mid, sid, started, day in rows:
            out[mid] = (sid, started, day)
    return out


def _send_values(row: _SendRow, now: datetime, account_id: int) -> dict[str, Any]:
    """The ``sends`` row of a new send: its window starts at its actual send time (`etl.polling.window_start`)."""
    start = polling.window_start(row.sent_at, row.scheduled_at)
    return {
        "account_id": account_id,
        "message_id": row.message_id,
        "kind": row.kind,
        "tag": row.tag,
        "sent_at": row.sent_at,
        "scheduled_at": row.scheduled_at,
        "started_at": start,
        "sent_day": paris_day(start),
        "nb_sms": row.nb_sms,
        "announced_cost": row.cost,
        "announced_currency": row.currency,
        "source": row.source,
        "created_at": now,
        "discovered_at": None,
    }


def ingest(
    conn: Connection,
    send_rows: Sequence[_SendRow],
    recipient_rows: Iterable[tuple[str, str, str]],
    *,
    now: datetime,
    config: StatusesConfig,
    account_id: int = PARENT_ID,
) -> tuple[int, int, int]:
    """Insert new sends and ``(message_id, phone_e164, phone_raw)`` recipients of ``account_id``; known ones are left alone.

    Returns ``(sends_added, recipients_added, recipients_seen)``. Runs inside the caller's
    transaction and never commits.
    """
    by_id: dict[str, _SendRow] = {}
    for row in send_rows:
        by_id.setdefault(row.message_id, row)
    recipient_rows = list(recipient_rows)
    ids = list(by_id)
    existing = _existing_sends(conn, sorted(set(ids) | {mid for mid, _, _ in recipient_rows}), account_id)
    new = [by_id[m] for m in ids if m not in existing]
    if new:
        conn.execute(insert(sends), [_send_values(row, now, account_id) for row in new])
        existing.update(_existing_sends(conn, [r.message_id for r in new], account_id))

    ladder = config.ladder
    seen: set[tuple[str, str]] = set()
    staged_rows: list[tuple[Any, ...]] = []
    for mid, e164, raw in recipient_rows:
        if (mid, e164) in seen or mid not in existing:
            continue
        seen.add((mid, e164))
        send_id, started, day = existing[mid]
        until = polling.poll_until(started, config.window)
        first = polling.next_poll_at(started, 0, now, ladder, until)
        staged_rows.append(
            tuple(dialect.driver_value(conn, v) for v in (send_id, mid, e164, raw[:64], day, until, first))
        )
    if not staged_rows:
        return len(new), 0, 0
    stage = _stage_recipients_table()
    s = stage.c
    r = recipients.c
    dialect.create_temp(conn, stage)
    dialect.bulk_load(conn, stage, staged_rows)
    dialect.index_temp(conn, stage, "message_id", "phone_e164")
    known = sql_exists().where(r.account_id == account_id, r.message_id == s.message_id, r.phone_e164 == s.phone_e164)
    added = conn.execute(select(func.count()).select_from(stage).where(~known)).scalar_one()
    # New recipients count in the funnel rollup from their insert (`etl.db.funnel_rollup`); the staged pairs
    # already known count the same before and after, so they move nothing.
    k = recipients.alias("staged_known")
    staged = select(k.c.id).select_from(stage).join(
        k, and_(k.c.account_id == account_id, k.c.message_id == s.message_id, k.c.phone_e164 == s.phone_e164))
    funnel = FunnelMove(conn, staged)
    funnel.take()
    conn.execute(
        insert(recipients).from_select(
            [
                "send_id", "message_id", "phone_e164", "phone_raw", "sent_day", "final", "expired", "poll_until",
                "next_poll_at", "poll_count", "cost_checks", "first_seen_at", "account_id",
            ],
            select(
                s.send_id, s.message_id, s.phone_e164, s.phone_raw, s.sent_day, false(), false(), s.poll_until,
                s.next_poll_at, literal(0), literal(0), literal(now, UtcDateTime()), literal(account_id, BigInteger()),
            ).where(~known),
        )
    )
    funnel.give()
    dialect.drop_temp(conn, stage)
    return len(new), int(added), len(staged_rows)


def _send_rows_and_recipients(
    items: Iterable[TrackedSend], *, now: datetime, source: str, default_region: str
) -> tuple[list[_SendRow], list[tuple[str, str, str]]]:
    send_rows: list[_SendRow] = []
    rcpts: list[tuple[str, str, str]] = []
    for item in items:
        mid = _message_id(item.message_id)
        send_rows.append(
            _SendRow(
                message_id=mid, kind="message", tag=_tag(item.tag), sent_at=item.sent_at or now, source=source,
                scheduled_at=item.scheduled_at, nb_sms=item.nb_sms, cost=item.cost, currency=_currency(item.currency),
            )
        )
        for raw in item.phones:
            rcpts.append((mid, phones.normalize(str(raw), default_region), str(raw).strip()))
    return send_rows, rcpts


def track(
    engine: Engine,
    items: Iterable[TrackedSend],
    *,
    now: datetime,
    config: StatusesConfig,
    source: str = "python",
    default_region: str = "FR",
) -> IntakeReport:
    """Track sends and their recipients, in one transaction; an invalid number raises `InputError`
    (`InvalidPhoneNumber`) before anything is written. Known sends/recipients are left as they are."""
    send_rows, rcpts = _send_rows_and_recipients(list(items), now=now, source=source, default_region=default_region)
    with writer(engine).begin() as conn:
        added_sends, added, seen = ingest(conn, send_rows, rcpts, now=now, config=config)
    log.info("tracked %d recipient(s) of %d send(s): %d new send(s), %d new recipient(s)", seen, len(send_rows), added_sends, added)
    return IntakeReport(added_sends, added, seen)


def track_send_result(
    engine: Engine,
    result: SendResult,
    phone_numbers: Sequence[str],
    *,
    now: datetime,
    config: StatusesConfig,
    tag: str | None = None,
    source: str = "python",
    default_region: str = "FR",
) -> IntakeReport:
    """Track what ``client.send(phone_numbers, ..., tag=tag)`` just sent (``result``: its `SendResult`)."""
    item = TrackedSend(
        message_id=result.message_id,
        phones=list(phone_numbers),
        sent_at=now,
        scheduled_at=result.scheduled_at,
        tag=tag,
        nb_sms=result.nb_sms,
        cost=result.cost,
        currency=result.currency,
    )
    return track(engine, [item], now=now, config=config, source=source, default_region=default_region)


def track_message_ids(
    engine: Engine,
    message_ids: Iterable[str],
    *,
    now: datetime,
    config: StatusesConfig,
    sent_at: datetime | None = None,
    tag: str | None = None,
) -> IntakeReport:
    """Track messages by id alone: the statuses job lists their recipients with /bulk-status."""
    rows = [
        _SendRow(message_id=_message_id(m), kind="discover", tag=_tag(tag), sent_at=sent_at or now, source="message_id")
        for m in message_ids
    ]
    with writer(engine).begin() as conn:
        added, _, _ = ingest(conn, rows, [], now=now, config=config)
    return IntakeReport(sends_added=added)


def start_discovered(
    conn: Connection, message_id: str, status_dates: Iterable[datetime | None], account_id: int = PARENT_ID
) -> None:
    """A send tracked by message id alone was sent before it was tracked, maybe long before: once its
    recipients are listed, its window starts at the earliest status date they carry, not at the moment
    it was tracked (which gave a 40-hour-old send 48 more hours of polling; issue 16). Call before
    `ingest` adds the recipients: their ``poll_until`` counts from ``started_at``."""
    first = min((d for d in status_dates if d is not None), default=None)
    if first is None:
        return
    s = sends.c
    conn.execute(
        update(sends)
        .where(s.account_id == account_id, s.message_id == message_id, s.kind == "discover", s.started_at > first)
        .values(sent_at=first, started_at=first, sent_day=paris_day(first))
    )


def follow_tags(engine: Engine, tags: Iterable[str], *, now: datetime) -> int:
    """Follow tags (discovered with /bulk-status-by-tag by the statuses job); returns how many are new."""
    wanted = {t for t in (_tag(t) for t in tags) if t}
    with writer(engine).begin() as conn:
        return ensure_tags(conn, wanted, now)


def ensure_tags(conn: Connection, tags: Iterable[str], now: datetime, account_id: int = PARENT_ID) -> int:
    wanted = set(tags)
    if not wanted:
        return 0
    t = tracked_tags.c
    known = set(conn.execute(select(t.tag).where(t.account_id == account_id, t.tag.in_(sorted(wanted)))).scalars())
    new = sorted(wanted - known)
    if new:
        rows = [{"account_id": account_id, "tag": tag, "added_at": now, "last_read_at": None, "items_seen": 0} for tag in new]
        conn.execute(insert(tracked_tags), rows)
    return len(new)


# ---------------------------------------------------------------------------------------------
# The intake table
# ---------------------------------------------------------------------------------------------


def drain_intake(
    conn: Connection, *, now: datetime, config: StatusesConfig, default_region: str = "FR", account_id: int = PARENT_ID
) -> IntakeReport:
    """Import ``account_id``'s unprocessed ``track_intake`` rows (chunks of `INTAKE_CHUNK`), inside the caller's transaction.

    A bad row gets ``error`` and is not imported; the others are. Every row read gets ``processed_at``.
    """
    t = track_intake.c
    total_sends = total_added = total_seen = refused = 0
    last_id = 0
    while True:
        rows = conn.execute(
            select(t.id, t.message_id, t.phone, t.tag, t.sent_at, t.scheduled_at, t.nb_sms, t.cost, t.currency)
            .where(t.account_id == account_id, t.processed_at.is_(None), t.id > last_id)
            .order_by(t.id)
            .limit(INTAKE_CHUNK)
        ).all()
        if not rows:
            break
        last_id = rows[-1].id
        send_rows: list[_SendRow] = []
        rcpts: list[tuple[str, str, str]] = []
        errors: list[dict[str, Any]] = []
        for row in rows:
            try:
                mid = _message_id(row.message_id)
                e164 = phones.normalize(str(row.phone), default_region)
                sent_at = parse_when(row.sent_at, "sent_at") or now
                send_rows.append(
                    _SendRow(
                        message_id=mid, kind="message", tag=_tag(row.tag), sent_at=sent_at, source="intake",
                        scheduled_at=parse_when(row.scheduled_at, "scheduled_at"), nb_sms=row.nb_sms, cost=row.cost,
                        currency=_currency(row.currency),
                    )
                )
                rcpts.append((mid, e164, str(row.phone).strip()))
            except InputError as exc:
                errors.append({"row_id": row.id, "err": str(exc)[:255]})
        added_sends, added, seen = ingest(conn, send_rows, rcpts, now=now, config=config, account_id=account_id)
        total_sends += added_sends
        total_added += added
        total_seen += seen
        refused += len(errors)
        conn.execute(
            update(track_intake).where(t.id.in_([r.id for r in rows]), t.processed_at.is_(None)).values(processed_at=now)
        )
        for err in errors:
            conn.execute(update(track_intake).where(t.id == err["row_id"]).values(error=err["err"]))
        if len(rows) < INTAKE_CHUNK:
            break
    if total_seen or refused:
        log.info("intake table: %d row(s) imported (%d new recipient(s)), %d refused", total_seen, total_added, refused)
    return IntakeReport(total_sends, total_added, total_seen, refused)


# Re-exported for the jobs (they ingest discovered recipients the same way).
SendRow = _SendRow
