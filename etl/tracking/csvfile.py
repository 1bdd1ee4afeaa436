"""User input → `TrackedSend`: the CSV of ``smspartner-etl track FILE|-`` and the value checks every intake shares.

Every line is checked first; any bad line raises one `InputError` listing each bad line (``file:line:
reason``), and nothing is returned, so nothing is half-imported. The checks (`parse_when`,
``_message_id``, ``_tag``, ``_currency``) are the package's own: `etl.tracking` applies them to the
Python, send-result and intake-table intakes too.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO, TextIO

from etl import phones, polling
from etl.db.types import Money
from etl.errors import InputError, InvalidPhoneNumber

CSV_COLUMNS = ("message_id", "phone", "sent_at", "scheduled_at", "tag", "nb_sms", "cost", "currency")
REQUIRED_CSV_COLUMNS = ("message_id", "phone")
MAX_ERRORS_SHOWN = 20
#: The longest CSV field read; a longer one is refused by its length, never quoted (a message id is
#: at most 64 characters, a phone number a few dozen).
MAX_FIELD_CHARS = 1024
#: ``nb_sms`` is an INTEGER column (32 bits on PostgreSQL and MariaDB).
MAX_INT = 2**31 - 1
#: Amounts must fit the `Money` column exactly: its digits before the point, and its decimals.
MONEY_SCALE = int(Money.scale or 0)
MAX_MONEY = Decimal(10) ** (int(Money.precision or 18) - MONEY_SCALE)


@dataclass(frozen=True)
class TrackedSend:
    """A send to track: its message id and recipients (any spelling; normalised to E.164)."""

    message_id: str
    phones: Sequence[str] = ()
    sent_at: datetime | None = None
    scheduled_at: datetime | None = None
    tag: str | None = None
    nb_sms: int | None = None
    cost: Decimal | None = None
    currency: str | None = None


def parse_when(text: str | None, field_name: str) -> datetime | None:
    """ISO 8601 with an offset (no offset: UTC); empty → None."""
    if text is None or not str(text).strip():
        return None
    try:
        value = datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise InputError(f"{field_name}: not an ISO 8601 date-time: {text!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _message_id(text: Any) -> str:
    mid = str(text or "").strip()
    if not mid:
        raise InputError("message_id: empty")
    if len(mid) > 64 or polling.is_pseudo_message_id(mid):
        raise InputError(f"message_id: not a message id: {mid[:70]!r}")
    return mid


def _tag(text: Any) -> str | None:
    tag = str(text or "").strip()
    if not tag:
        return None
    if len(tag) > 20 or " " in tag:
        raise InputError(f"tag: {tag!r} is not a valid tag (≤20 chars, no spaces)")
    return tag


def _int_or_none(text: Any, name: str) -> int | None:
    if text is None or str(text).strip() == "":
        return None
    try:
        value = int(str(text).strip())
    except ValueError:
        raise InputError(f"{name}: not an integer: {text!r}") from None
    if value < 0:
        raise InputError(f"{name}: negative: {value}")
    if value > MAX_INT:
        raise InputError(f"{name}: {value} is too large (at most {MAX_INT})")
    return value


def _decimal_or_none(text: Any, name: str) -> Decimal | None:
    """An amount exactly as the column stores it (`Money`), or refused: ``1e999999`` was stored as Inf on
    SQLite and overflowed elsewhere, and a 7th decimal would be rounded away (issue 16)."""
    if text is None or str(text).strip() == "":
        return None
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise InputError(f"{name}: not a number: {text!r}") from None
    if not value.is_finite():
        raise InputError(f"{name}: not a number: {text!r}")
    if value < 0:
        raise InputError(f"{name}: negative: {text!r}")
    if value >= MAX_MONEY:
        raise InputError(f"{name}: {text!r} is out of range (below {MAX_MONEY:,})")
    if -int(value.as_tuple().exponent) > MONEY_SCALE and value != value.quantize(Decimal(1).scaleb(-MONEY_SCALE)):
        raise InputError(f"{name}: {text!r} has more than {MONEY_SCALE} decimals")
    return value


def _currency(text: Any) -> str | None:
    code = str(text or "").strip().upper()
    if not code:
        return None
    if len(code) != 3 or not code.isalpha():
        raise InputError(f"currency: not an ISO 4217 code: {text!r}")
    return code


def read_csv(
    stream: TextIO | Iterable[str], *, default_region: str = "FR", source_name: str = "<stdin>"
) -> list[TrackedSend]:
    """Parse a CSV (header ``message_id,phone`` plus optional ``sent_at,scheduled_at,tag,nb_sms,cost,currency``).

    Every line is checked; if any is wrong, one `InputError` lists them (``file:line: reason``)
    and nothing is returned, so nothing is half-imported. Rows of one message id are grouped.
    A file that cannot be read as CSV text at all (not UTF-8, a field over the csv module's 128 KB
    limit, a NUL byte) is one `InputError` too; `read_csv_bytes` names the exact line.
    """
    reader = csv.DictReader(stream)
    try:
        return _read_rows(reader, default_region, source_name)
    except UnicodeDecodeError:  # a text stream opened by the caller
        raise InputError(f"{source_name}: not UTF-8 text (after line {reader.line_num}): {SAVE_AS_UTF8}; nothing imported") from None
    except csv.Error as exc:
        # The csv module stops at the first such line (a field over its 128 KB limit, a NUL byte).
        line = stream.number if isinstance(stream, Utf8Lines) else reader.line_num
        raise InputError(f"{source_name}:{line}: not a CSV line we can read ({exc}); nothing imported") from None


def read_csv_bytes(binary: BinaryIO, *, default_region: str = "FR", source_name: str = "<stdin>") -> list[TrackedSend]:
    """`read_csv` of a file opened in binary mode (``smspartner-etl track``): decoded line by line, so a
    Latin-1 or UTF-16 file is refused naming its line, not halfway through a read buffer."""
    return read_csv(Utf8Lines(binary, source_name), default_region=default_region, source_name=source_name)


SAVE_AS_UTF8 = 'save it as UTF-8 (a spreadsheet\'s "CSV UTF-8")'


class Utf8Lines:
    """The physical lines of a binary stream as text; ``number`` is the line being read."""

    def __init__(self, binary: BinaryIO, source_name: str) -> None:
        self.binary = binary
        self.source_name = source_name
        self.number = 0

    def __iter__(self) -> Iterator[str]:
        # bytes.splitlines also ends a line at a lone CR (old Mac Excel's "CSV"), as text mode did.
        for raw in (line for chunk in self.binary for line in chunk.splitlines(keepends=True)):
            self.number += 1
            if self.number == 1:
                if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    raise InputError(f"{self.source_name}: is UTF-16 text: {SAVE_AS_UTF8}; nothing imported")
                raw = raw.removeprefix(codecs.BOM_UTF8)  # Excel's "CSV UTF-8" starts with one
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{self.source_name}:{self.number}: not UTF-8 text (byte {exc.start + 1} of the line): {SAVE_AS_UTF8}; "
                    "nothing imported"
                ) from None


def _read_rows(reader: csv.DictReader[str], default_region: str, source_name: str) -> list[TrackedSend]:
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_CSV_COLUMNS if c not in header]
    if missing:
        raise InputError(f"{source_name}:1: header must name {', '.join(REQUIRED_CSV_COLUMNS)}; missing {', '.join(missing)}")
    unknown = [h for h in header if h and h not in CSV_COLUMNS]
    if unknown:
        raise InputError(f"{source_name}:1: unknown column(s) {', '.join(unknown)}; known: {', '.join(CSV_COLUMNS)}")
    reader.fieldnames = header
    errors: list[str] = []
    grouped: dict[str, dict[str, Any]] = {}
    for row in reader:
        line = reader.line_num
        try:
            if None in row:
                raise InputError("more fields than the header")
            too_long = next((k for k, v in row.items() if v is not None and len(v) > MAX_FIELD_CHARS), None)
            if too_long is not None:
                raise InputError(f"{too_long}: {len(row[too_long]):,} characters (at most {MAX_FIELD_CHARS})")
            mid = _message_id(row.get("message_id"))
            raw_phone = str(row.get("phone") or "").strip()
            if not raw_phone:
                raise InputError("phone: empty")
            try:
                phones.normalize(raw_phone, default_region)
            except InvalidPhoneNumber as exc:
                raise InputError(f"phone: {exc}") from None
            send = {
                "sent_at": parse_when(row.get("sent_at"), "sent_at"),
                "scheduled_at": parse_when(row.get("scheduled_at"), "scheduled_at"),
                "tag": _tag(row.get("tag")),
                "nb_sms": _int_or_none(row.get("nb_sms"), "nb_sms"),
                "cost": _decimal_or_none(row.get("cost"), "cost"),
                "currency": _currency(row.get("currency")),
            }
        except InputError as exc:
            errors.append(f"{source_name}:{line}: {exc}")
            continue
        entry = grouped.setdefault(mid, {"phones": [], **send})
        for key, value in send.items():
            if value is not None and entry.get(key) is None:
                entry[key] = value
            elif value is not None and entry[key] != value:
                errors.append(f"{source_name}:{line}: {key} {value} differs from an earlier line of message {mid}")
        entry["phones"].append(raw_phone)
    if errors:
        shown = errors[:MAX_ERRORS_SHOWN]
        more = f"\n... and {len(errors) - len(shown)} more" if len(errors) > len(shown) else ""
        raise InputError(f"{len(errors)} bad line(s), nothing imported:\n" + "\n".join(shown) + more)
    return [TrackedSend(message_id=mid, **entry) for mid, entry in grouped.items()]


def csv_template() -> str:
    """A header line for users."""
    out = io.StringIO()
    csv.writer(out).writerow(CSV_COLUMNS)
    return out.getvalue()
