"""The stop set an audience is checked against, loaded once from the database, and its freshness.

Fail closed: the list must be fresh for every followed account (`etl.audience.freshness`) before
anything is loaded.

Rental stop flags come from the view ``rental_stops_current(phone_e164)`` (numbers flagged stop in
the latest download of any followed rental file), created by the rentals migration. Until that view
exists the rental set is empty, and `StopSet.rental_source` says ``"absent"`` so the report shows it.

Contact stop flags come from the view ``contact_stops(account_id, phone_e164, group_id, since)``
(numbers flagged ``stopSms`` in a contact group not gone, migration 0011): the same rule, with
`StopSet.contact_source`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import phonenumbers
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from etl.audience.freshness import ALLOW_STALE_HINT, Freshness, check_freshness
from etl.audience.numbers import NumberSet
from etl.db.engine import driver_message, missing_database_file
from etl.errors import ConfigError, EtlError

log = logging.getLogger(__name__)

STOPS_QUERY = "SELECT phone_e164 FROM current_stops WHERE phone_e164 IS NOT NULL"
RENTAL_VIEW = "rental_stops_current"
RENTAL_QUERY = f"SELECT phone_e164 FROM {RENTAL_VIEW} WHERE phone_e164 IS NOT NULL"
CONTACT_VIEW = "contact_stops"
CONTACT_QUERY = f"SELECT DISTINCT phone_e164 FROM {CONTACT_VIEW} WHERE phone_e164 IS NOT NULL"
BATCH = 100_000
_POW10 = [10**i for i in range(19)]


@dataclass
class StopSet:
    """Numbers that must not be messaged: the account stop list, the rental and the contact stop flags."""

    stops: NumberSet
    rental: NumberSet
    #: "view" when ``rental_stops_current`` was read, "absent" when it does not exist yet, "none" if not asked.
    rental_source: str = "none"
    #: Stored numbers that are not ``+<digits>`` (cannot match any valid audience number).
    unreadable: int = 0
    #: Numbers flagged ``stopSms`` in a followed contact group (``contact_stops``).
    contact: NumberSet = field(default_factory=NumberSet)
    #: As ``rental_source``, for ``contact_stops``.
    contact_source: str = "none"

    @classmethod
    def from_e164(
        cls, stops: Collection[str], rental: Collection[str] = (), default_region: str = "FR", contact: Collection[str] = (),
    ) -> StopSet:
        """A stop set from E.164 strings (tests, scripts, the bench)."""
        code = phonenumbers.country_code_for_region(default_region) or None
        stop_set, bad = _number_set(stops, code)
        rental_set, bad_rental = _number_set(rental, code)
        contact_set, bad_contact = _number_set(contact, code)
        return cls(stop_set, rental_set, rental_source="given", unreadable=bad + bad_rental + bad_contact,
                   contact=contact_set, contact_source="given")


def _as_int(e164: str) -> int:
    """``+33612345678`` -> 33612345678; 0 for anything that is not ``+<digits>``."""
    if e164[:1] == "+" and e164[1:].isdigit() and e164[1:].isascii():
        return int(e164[1:])
    return 0


def _add_all(target: NumberSet, values: Sequence[str]) -> int:
    """Add the ``+<digits>`` values to ``target`` (as `_as_int` reads them); how many were unreadable.

    With numpy, the batch is read at once: joined by line ends, each line checked and turned into
    an int on the bytes laid end to end, several times faster than value by value (docs/benchmarks.md,
    "Design figures elsewhere in etl/", A4).
    Values it does not take as they are (whitespace, non-ASCII, more than 18 digits) go to `_as_int`.
    """
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is optional
        np = None  # type: ignore[assignment]
    if np is None or not values:
        return _add_rows(target, values)
    data = "\n".join(values).encode("utf-8", "surrogateescape")
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    if len(ends) != len(values) - 1:  # a value holding a line end
        return _add_rows(target, values)
    ends = np.append(ends, len(raw))
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts
    digit = (raw >= 48) & (raw <= 57)
    running = np.concatenate(([0], np.cumsum(digit)))
    ndigits = running[ends] - running[np.minimum(starts + 1, ends)]
    simple = (lengths >= 2) & (lengths <= 19) & (raw[np.minimum(starts, len(raw) - 1)] == 43) & (ndigits == lengths - 1)
    # The int of each line's digits (the '+' and the line ends weigh 0).
    line = np.cumsum(raw == 10) - (raw == 10)
    exponent = np.minimum(ends[line] - 1 - np.arange(len(raw)), 18)
    power = np.where(digit, (raw.astype(np.int64) - 48) * np.array(_POW10)[np.maximum(exponent, 0)], 0)
    numbers = np.add.reduceat(np.append(power, 0), starts)
    picked = simple & (numbers != 0)
    bad = int(np.count_nonzero(simple & (numbers == 0)))
    target.add_many(numbers[picked])
    rest = [values[i] for i in np.flatnonzero(~simple).tolist()]
    return bad + _add_rows(target, rest)


def _add_rows(target: NumberSet, values: Sequence[str]) -> int:
    bad = 0
    for value in values:
        number = _as_int(value.strip())
        if number:
            target.add(number)
        else:
            bad += 1
    return bad


def _number_set(values: object, country_code: int | None) -> tuple[NumberSet, int]:
    result = NumberSet(country_code)
    bad = _add_all(result, [str(value) for value in values])  # type: ignore[attr-defined]
    return result, bad


def rental_view_exists(conn: Connection) -> bool:
    return _view_exists(conn, RENTAL_VIEW)


def _view_exists(conn: Connection, name: str) -> bool:
    inspector = inspect(conn)
    return name in inspector.get_view_names() or inspector.has_table(name)


def _load(conn: Connection, query: str, target: NumberSet) -> int:
    """Stream ``query``'s numbers into ``target``; how many were unreadable."""
    bad = 0
    result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(text(query))
    for batch in result.scalars().partitions(BATCH):
        bad += _add_all(target, batch)
    return bad


def _load_view(conn: Connection, view: str, query: str, target: NumberSet, migration: str) -> tuple[str, int]:
    """``("view", unreadable)`` once ``view`` is read into ``target``; ``("absent", 0)`` before its migration."""
    if not _view_exists(conn, view):
        log.info("view %s does not exist (%s migration not applied): no flags from it", view, migration)
        return "absent", 0
    return "view", _load(conn, query, target)


def load_stop_set(conn: Connection, *, default_region: str = "FR") -> StopSet:
    """Read ``current_stops`` (and ``rental_stops_current``, ``contact_stops`` when they exist) once, streaming."""
    code = phonenumbers.country_code_for_region(default_region) or None
    stops, rental, contact = NumberSet(code), NumberSet(code), NumberSet(code)
    bad = _load(conn, STOPS_QUERY, stops)
    source, bad_rental = _load_view(conn, RENTAL_VIEW, RENTAL_QUERY, rental, "rentals")
    contact_source, bad_contact = _load_view(conn, CONTACT_VIEW, CONTACT_QUERY, contact, "contacts")
    bad += bad_rental + bad_contact
    log.info("loaded %d stops, %d rental and %d contact stop flags (%d unreadable)", len(stops), len(rental),
             len(contact), bad)
    return StopSet(stops, rental, rental_source=source, unreadable=bad, contact=contact, contact_source=contact_source)


def read_stop_list(
    engine: Engine, *, now: datetime, max_age: float, allow_stale: bool = False, default_region: str = "FR",
    stale_hint: str = ALLOW_STALE_HINT,
) -> tuple[Freshness, StopSet]:
    """`check_freshness`, then `load_stop_set`, on one connection; a database problem is one sentence.

    ``ConfigError`` when the database cannot be reached (a missing SQLite file included: reading
    must not create an empty one) or was never migrated; `EtlError` when reading fails midway.
    The URL is shown with its password masked, and a driver message that echoes it is redacted.
    """
    url = engine.url
    shown = url.render_as_string(hide_password=True)
    missing_file = missing_database_file(url)
    if missing_file is not None:
        raise ConfigError(f"the database file {missing_file} does not exist: check database.url, or run "
                          f"`smspartner-etl db upgrade` to create it")
    try:
        conn = engine.connect()
    except SQLAlchemyError as exc:
        raise ConfigError(f"cannot connect to the database {shown} ({driver_message(exc, url.password)}): "
                          f"check database.url and that the server is running") from None
    with conn:
        try:
            missing = _missing_relations(conn)
            if missing:
                raise ConfigError(f"the database {shown} is not migrated (no {' or '.join(missing)}): "
                                  f"run `smspartner-etl db upgrade`")
            freshness = check_freshness(conn, now=now, max_age=max_age, allow_stale=allow_stale, hint=stale_hint)
            stops = load_stop_set(conn, default_region=default_region)
        except SQLAlchemyError as exc:
            raise EtlError(f"reading the stop list from {shown} failed ({driver_message(exc, url.password)})") from None
    return freshness, stops


def _missing_relations(conn: Connection) -> list[str]:
    """Which of the tables and views the filter reads do not exist (a database not migrated)."""
    inspector = inspect(conn)
    views = set(inspector.get_view_names())
    missing = [] if inspector.has_table("sync_runs") else ["sync_runs"]
    if "current_stops" not in views and not inspector.has_table("current_stops"):
        missing.append("current_stops")
    return missing
