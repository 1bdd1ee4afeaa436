"""Rental files: each followed token's contact file → `rental_numbers`, with history, one transaction per file.

A rental ("location", REFERENCE §3.13) is a rented opt-in contact file behind a token. Each number
carries a stop flag that may change between downloads. Each sync, for every followed rental
(tokens from ``[rentals]`` in the config *and* the `rentals` table managed by `smspartner-etl
rentals add/remove`):

1. ``GET /location/status``: states 0/1 (requested, generating) wait for a later cycle, 3 (failed)
   is reported; with a numeric state 5 (already downloaded) and a file already loaded, nothing is
   downloaded. Which field carries the numeric state is undocumented (quirk 19): text-only
   answers go on to the download, whose codes then tell.
2. ``GET /location/file/download``, streamed (ijson, through the client) **into a local spool
   file** first, then loaded from it. Why: a file may be downloadable only once (code 34 the second
   time), so the first download must survive a database failure. The spool is fsynced and renamed
   into place only once the whole stream is read; it is deleted only after the transaction that
   loads it has committed. A sync that finds a complete spool for a rental loads it instead of
   downloading again. Side benefit: the database transaction does not stay open during the
   download.
3. The spool is bulk-loaded into a staging table (COPY on PostgreSQL; elsewhere multi-row
   inserts, sorted by key first: those backends join by index lookups), then the difference with
   the stored numbers is applied set-based (the first file ever into empty tables, on PostgreSQL,
   with the keys and indexes built after the rows): numbers new to the file (``added``),
   numbers back in it (``added``), numbers gone from it (``removed``), stop flag changes
   (``stop_on`` / ``stop_off``): each one a `rental_number_events` row with the time it was
   observed. Unchanged numbers are not written.

Codes 31 (token missing), 32 (rental not found), 33 (file not found), 34 (file already used),
35 (download in progress: retried next cycle) and 36 (rental failed) mark that rental's row and
the run log with a plain status and leave its stored numbers untouched; other rentals go on.

Numbers are E.164 (`etl.phones.canonicalize`, via the client's parser); the text as received is
kept. A number no library can parse is kept under ``raw:<text>`` and never appears in the views.

Fail-closed (issue 16): a number whose ``stopSms`` is absent or null is stopped. An entry that
cannot be read is quarantined (`etl.quarantine`): with its number readable it stays in the file,
stopped; with no readable number it is left out, and then no stopped number leaves the file with
that download (it could be the one unread). The rejections travel beside the spool (`_sidecar`),
so a spool loaded by a later run still records them, in the transaction that loads the file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import chain, islice
from operator import itemgetter, methodcaller
from pathlib import Path
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
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from etl import quarantine, runlog
from etl.api import rentalrows, retry
from etl.api.rentalrows import RentalRow
from etl.db import dialect
from etl.db.schema import rental_files, rental_number_events, rental_numbers, rentals
from etl.db.types import UtcDateTime
from etl.errors import ApiRejected, AuthError, EtlError, PayloadError
from etl.jobs.base import JobContext, RunResult

log = logging.getLogger(__name__)

NAME = "rentals"
ENDPOINT = "location/file/download"
#: Where downloaded files wait for their load; override with this environment variable.
SPOOL_ENV = "SMSPARTNER_ETL_SPOOL_DIR"
#: Numbers whose hashes the spool writer keeps to tell whether any came twice (~60 bytes each).
DUPLICATE_CHECK_LIMIT = 2_000_000
#: Lines the SQLite/MariaDB load sorts in memory (~110 bytes each) before staging them in key
#: order; longer files are staged as they come and sorted by the database.
IN_MEMORY_LIMIT = 600_000
#: Version 3: lines in the staging table's column order (key first, so that sorting lines sorts
#: numbers), in COPY text format; the header says whether any number came twice and gives the
#: file's stop-flagged and unparseable numbers.
SPOOL_VERSION = "smspartner-etl rental spool v3"
#: Version 2 (api_id first, file order, a duplicates flag): still loaded, as version 1 below.
SPOOL_VERSION_2 = "smspartner-etl rental spool v2"
#: Version 1 (api_id, raw, e164, stop): still loaded, should one be left from before an upgrade.
SPOOL_VERSION_1 = "smspartner-etl rental spool v1"

# --------------------------------------------------------------------------------------------------
# Statuses: API codes and rental states → one plain word and a sentence (quirk 15: codes per endpoint)
# --------------------------------------------------------------------------------------------------

#: Download/status control codes (REFERENCE §3.13, DOC-err).
CODE_STATUS: dict[int, tuple[str, str]] = {
    31: ("token_missing", "the rental token is empty (API code 31)"),
    32: ("not_found", "no rental with this token on the account (API code 32)"),
    33: ("file_not_found", "the rental has no file to download (API code 33)"),
    34: ("file_used", "the file was already downloaded and can be downloaded only once (API code 34)"),
    35: ("in_progress", "the file is still being prepared (API code 35); retried next cycle"),
    36: ("rental_failed", "the rental failed at the provider (API code 36)"),
}

#: ``location/status`` numeric states that make a download pointless now.
STATE_STATUS: dict[int, tuple[str, str]] = {
    0: ("requested", "rental requested, file not generated yet (state 0); retried next cycle"),
    1: ("generating", "file being generated (state 1); retried next cycle"),
    3: ("rental_failed", "the rental failed at the provider (state 3)"),
}

#: Statuses that will clear up by themselves (the next cycle tries again).
WAITING = frozenset({"requested", "generating", "in_progress"})


@dataclass(frozen=True)
class FollowedRental:
    id: int
    token: str
    label: str
    has_file: bool

    @property
    def name(self) -> str:
        """For logs and the run log: the label and the token's last characters, never the whole token."""
        tail = self.token[-4:] if len(self.token) > 8 else "****"
        return f"{self.label or 'rental'}(…{tail})"


@dataclass(frozen=True)
class FileCounts:
    rows: int
    numbers: int
    stopped: int
    unparseable: int
    added: int
    removed: int
    stop_on: int
    stop_off: int


@dataclass(frozen=True)
class RentalOutcome:
    status: str
    text: str
    code: int | None = None
    counts: FileCounts | None = None
    #: Entries of the loaded file that could not be read (quarantined).
    quarantined: int = 0


# --------------------------------------------------------------------------------------------------
# The spool: one file per (database, token), complete or absent
# --------------------------------------------------------------------------------------------------


def spool_dir() -> Path:
    configured = os.environ.get(SPOOL_ENV)
    if configured:
        return Path(configured)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "smspartner-etl" / "rental-spool"


def spool_path(database_url: str, token: str) -> Path:
    """Named by a hash of database and token: the token never appears in a file name."""
    digest = hashlib.sha256(f"{database_url}\n{token}".encode()).hexdigest()[:24]
    return spool_dir() / f"rental-{digest}.tsv"


def _clean(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ").replace("\r", " ")


def _copy_field(text: str) -> str:
    """A text field for COPY's text format: tabs and line breaks already cleaned, backslashes doubled."""
    return text.replace("\\", "\\\\")


def _spool_line(row: RentalRow) -> str:
    """One spool line, ready for the staging table: ``phone_key, api_id, phone_e164, phone_raw, stop``.

    PostgreSQL's COPY text format (``\\N`` is NULL, backslashes doubled), so the spool is copied
    into the staging table as it is, without a Python object per row. The key comes first so that
    sorting the lines sorts the numbers. ``row`` is the client's ``(rental_id, phone_raw,
    phone_e164, stop)`` (`etl.api.rentalrows`).
    """
    api_id, raw, e164, stop = row
    # The common case (digits, an E.164 number, nothing to clean) costs one check per field; a raw
    # text that is its own E.164 spelling (the very object canonicalizer returned) is plain.
    if not api_id.isalnum() or len(api_id) > 32:
        api_id = _copy_field(_clean(api_id)[:32])
    if raw is not e164 and not _PLAIN.fullmatch(raw):
        raw = _copy_field(_clean(raw)[:64])
    if e164:
        return f"{e164}\t{api_id}\t{e164}\t{raw}\t{1 if stop else 0}\n"
    return f"raw:{raw}\t{api_id}\t\\N\t{raw}\t{1 if stop else 0}\n"


_split_key = methodcaller("partition", "\t")  # a spool line's key is its first field
_stopped = methodcaller("endswith", "\t1\n")
_unparseable = methodcaller("startswith", "raw:")

#: Raw phone text that needs no cleaning, truncation nor escaping (what almost every file holds).
_PLAIN = re.compile(r"[+0-9 ().-]{1,64}")


@dataclass(frozen=True)
class SpoolHeader:
    version: str
    downloaded_at: datetime
    #: False only when the writer saw every number once (older spools do not say: None).
    duplicates: bool | None
    #: Version 3 without duplicates: the file's numbers flagged stop, and those no library could parse.
    stopped: int | None = None
    unparseable: int | None = None

    @property
    def figures_known(self) -> bool:
        """Every number once and the file's figures given: nothing for the database to group or count."""
        return self.duplicates is False and self.stopped is not None and self.unparseable is not None


#: Room kept in a version 3 header for the figures, written once the whole file is read.
_FIGURES_WIDTH = 40


class _Unreadable:
    """The entries of one download that could not be read (`etl.api.rentalrows.OnUnreadable`).

    Returns the row that still stands for an entry: its number readable, it stays in the file,
    stopped (fail-closed); else ``None``, and the entry is counted ``blind``.
    """

    def __init__(self, secrets: Sequence[str]) -> None:
        self.secrets = tuple(secrets)
        #: (item as text, reason, ref): what `quarantine.record` stores, kept as text for the sidecar.
        self.rejections: list[tuple[str, str, str | None]] = []
        self.blind = 0

    def __call__(self, item: Any, error: PayloadError) -> RentalRow | None:
        rental_id, row = rentalrows.salvage(item, ENDPOINT)
        if row is not None:
            self._reject(item, f"{error}; kept in the file, stopped", row[2] or row[1])
            return row
        self.blind += 1
        self._reject(item, f"{error}; no stopped number leaves the file with this download", rental_id)
        return None

    def _reject(self, item: Any, reason: str, ref: str | None) -> None:
        self.rejections.append((quarantine.item_text(item, self.secrets), reason, ref))


def _sidecar(spool: Path) -> Path:
    """Where a spool's quarantined entries wait with it (written before it, deleted after it)."""
    return spool.with_suffix(".rejected.json")


def _write_sidecar(spool: Path, unreadable: _Unreadable) -> None:
    side = _sidecar(spool)
    if not unreadable.rejections:
        side.unlink(missing_ok=True)
        return
    part = side.with_suffix(".part")
    with open(part, "w", encoding="utf-8") as out:
        json.dump({"blind": unreadable.blind, "rejections": unreadable.rejections}, out, ensure_ascii=False)
        out.flush()
        os.fsync(out.fileno())
    os.replace(part, side)


def _read_sidecar(spool: Path) -> tuple[list[quarantine.Rejection], int]:
    """The quarantined entries of a spool, and how many of them named no number."""
    side = _sidecar(spool)
    if not side.exists():
        return [], 0
    with open(side, encoding="utf-8") as found:
        data = json.load(found)
    rejections = [quarantine.Rejection(ENDPOINT, item, reason, "rental_number", ref) for item, reason, ref in data["rejections"]]
    return rejections, int(data["blind"])


def _remove_spool(spool: Path) -> None:
    _sidecar(spool).unlink(missing_ok=True)
    spool.unlink(missing_ok=True)


def download_to_spool(
    ctx: JobContext, token: str, path: Path, downloaded_at: datetime, budget: retry.RetryBudget | None = None
) -> int:
    """Stream the file into ``path`` (via ``.part``, fsync, rename); returns the row count.

    Entries that cannot be read go to the spool's sidecar (`_Unreadable`), written first.

    The header says whether any number came twice (``1``), or surely not (``0``): a set of the
    numbers' hashes (~30 MB for 500,000; longer files than `DUPLICATE_CHECK_LIMIT` count as
    possibly duplicated) decides it, so the load can skip the grouping when the file has no
    duplicates (a hash collision only costs that grouping). Without duplicates it also gives the
    stop-flagged and unparseable numbers, which the load then need not count.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    count = stopped = unparseable = 0
    seen: set[int] = set()
    unreadable = _Unreadable(ctx.secrets)
    try:
        with open(part, "w", encoding="utf-8", newline="\n", buffering=1 << 20) as out:
            header = f"#{SPOOL_VERSION}\t{downloaded_at.isoformat()}\t"
            out.write(f"{header}{'?'.ljust(_FIGURES_WIDTH)}\n")
            # A run (~a megabyte of the body) at a time, each step over the whole run in C where it
            # can be: the per-number Python loop was ~40 % of the download's CPU.
            for rows in ctx.client.iter_rental_runs(token, on_unreadable=unreadable, budget=budget):
                lines = list(map(_spool_line, rows))
                out.write("".join(lines))
                if count + len(lines) <= DUPLICATE_CHECK_LIMIT:  # past it: memory stays bounded, the load groups
                    seen.update(map(hash, map(itemgetter(0), map(_split_key, lines))))
                    stopped += sum(map(_stopped, lines))
                    unparseable += sum(map(_unparseable, lines))
                count += len(lines)
        figures = "1" if len(seen) != count else f"0\t{stopped}\t{unparseable}"
        del seen
        with open(part, "r+b") as out:
            out.seek(len(header.encode()))
            out.write(figures.ljust(_FIGURES_WIDTH).encode())
            out.flush()
            os.fsync(out.fileno())
        _write_sidecar(path, unreadable)
        os.replace(part, path)
    finally:
        if part.exists():
            part.unlink()
    return count


def _read_header(path: Path) -> SpoolHeader:
    with open(path, encoding="utf-8") as spool:
        first = spool.readline().rstrip("\n").rstrip(" ")
    marker, stamp, *rest = first.split("\t") + [""]
    versions = {f"#{v}": v for v in (SPOOL_VERSION, SPOOL_VERSION_2, SPOOL_VERSION_1)}
    if marker not in versions:
        raise EtlError(f"{path}: not a rental spool file")
    version = versions[marker]
    duplicates = None if version == SPOOL_VERSION_1 else {"0": False, "1": True}.get(rest[0])
    if version != SPOOL_VERSION or duplicates is not False or len(rest) < 3:
        return SpoolHeader(version, datetime.fromisoformat(stamp), duplicates)
    return SpoolHeader(version, datetime.fromisoformat(stamp), False, int(rest[1]), int(rest[2]))


def read_spool_header(path: Path) -> datetime:
    return _read_header(path).downloaded_at


def _unescape(field: str) -> str | None:
    if field == "\\N":
        return None
    return field.replace("\\\\", "\\")


def _spool_rows(path: Path) -> Iterator[Sequence[Any]]:
    """Staging rows (``phone_key, api_id, phone_e164, phone_raw, stop``) from a spool file, one by one.

    ``stop`` stays the text ``0``/``1``: SQLite's and MariaDB's boolean columns store it as the
    integer. Spools of versions 1 and 2 (written before an upgrade, not yet loaded) are read too.
    """
    version = _read_header(path).version
    with open(path, encoding="utf-8", buffering=1 << 20) as spool:
        spool.readline()
        if version == SPOOL_VERSION_1:
            for line in spool:
                api_id, raw, e164, stop = line.rstrip("\n").split("\t")
                yield e164 or f"raw:{raw}", api_id, e164 or None, raw, stop == "1"
            return
        for line in spool:
            fields: list[str | None] = [_unescape(f) for f in line[:-1].split("\t")]
            if version == SPOOL_VERSION_2:
                fields[0], fields[1] = fields[1], fields[0]
            yield fields


def _field_runs(path: Path, lines: Iterable[str]) -> Iterator[Sequence[str | None]]:
    """Version 3 spool lines as flat runs of staging values, `dialect.VALUES_ROWS` lines at a time.

    One ``split`` per run instead of one per line; only a run with a backslash in it is unescaped
    field by field.
    """
    width = len(STAGE_COLS)
    lines = iter(lines)
    while run := list(islice(lines, dialect.VALUES_ROWS)):
        block = "".join(run)
        if not block.endswith("\n"):
            raise EtlError(f"{path}: truncated spool file")
        fields = block[:-1].replace("\n", "\t").split("\t")
        if len(fields) != width * len(run):
            raise EtlError(f"{path}: a spool line without {width} fields")
        yield [_unescape(f) for f in fields] if "\\" in block else fields


def _stage_spool(conn: Connection, stage: Table, path: Path, header: SpoolHeader) -> tuple[int, bool]:
    """Bulk-load a spool file into ``stage``; returns the row count and whether the rows went in
    ``phone_key`` order.

    A current-version spool goes to PostgreSQL's ``COPY`` block by block, untouched (it is already
    in COPY's text format), in the file's order: PostgreSQL joins it with the stored numbers by
    hashing, in any order. SQLite and MariaDB look each number up in the index, fastest in key
    order (0.3 s against 1.7-2.7 s for SQLite's compare of 500,000 numbers): a file without
    duplicates of at most `IN_MEMORY_LIMIT` lines is sorted here (~0.4 s of CPU, less than the
    database's sort into a second staging table, 0.5 s) and goes in as multi-row inserts
    (`dialect.bulk_load_fields`). Older spools go row by row.
    """
    if header.version != SPOOL_VERSION:
        return dialect.bulk_load(conn, stage, _spool_rows(path)), False
    if dialect.hash_joins(conn):
        with open(path, "rb") as raw:
            raw.readline()
            return dialect.copy_text(conn, stage, iter(lambda: raw.read(1 << 20), b"")), False
    with open(path, encoding="utf-8", buffering=1 << 20) as spool:
        spool.readline()
        if header.duplicates is not False:  # the database groups and sorts
            return dialect.bulk_load_fields(conn, stage, _field_runs(path, spool)), False
        lines = list(islice(spool, IN_MEMORY_LIMIT + 1))
        if len(lines) > IN_MEMORY_LIMIT:
            return dialect.bulk_load_fields(conn, stage, _field_runs(path, chain(lines, spool))), False
        lines.sort()
        return dialect.bulk_load_fields(conn, stage, _field_runs(path, lines)), True


# --------------------------------------------------------------------------------------------------
# Loading one file: staging table + set-based diff, inside the caller's transaction
# --------------------------------------------------------------------------------------------------


def _staging_table(name: str) -> Table:
    """The file's rows; the key first, as in the spool's lines (`_spool_line`)."""
    return dialect.temp_table(
        name,
        Column("phone_key", String(80), nullable=False),
        Column("api_id", String(32)),
        Column("phone_e164", String(16)),
        Column("phone_raw", String(64), nullable=False),
        Column("stop", Boolean, nullable=False),
    )


#: PostgreSQL ``work_mem`` for sorting one file (server memory, not this process's).
SORT_MEMORY_MB = 128

STAGE_COLS = ["phone_key", "api_id", "phone_e164", "phone_raw", "stop"]


def _sorted_stage(conn: Connection, loaded: Table, duplicates: bool | None) -> Table:
    """The loaded rows once per number, written **in ``phone_key`` order**.

    The same number twice in one file: one row, flagged stop if any copy is (fail closed).

    Why sorted: every later statement walks the file in key order, so the inserts into
    `rental_numbers` and `rental_number_events` (whose indexes lead with the number) append to
    their B-trees instead of touching a random page per row, and the re-sync's lookups of stored
    numbers move forward through the index. In file order, with the indexes far larger than the
    cache, the first load of 500,000 numbers took ~6× longer (``docs/benchmarks.md``). One sort
    does both jobs: the grouping that removes duplicates and the order.
    """
    s = loaded.c
    stage = _staging_table("stage_rental")
    dialect.create_temp(conn, stage)
    if duplicates is False:
        # The spool's writer saw no number twice: sorting is enough (half the work of grouping).
        rows = select(s.phone_key, s.api_id, s.phone_e164, s.phone_raw, s.stop).order_by(s.phone_key)
    else:
        any_stop = func.max(case((s.stop == True, 1), else_=0)) == 1  # noqa: E712 - SQL, not Python truthiness
        rows = (
            select(s.phone_key, func.min(s.api_id), func.max(s.phone_e164), func.min(s.phone_raw), any_stop)
            .group_by(s.phone_key)
            .order_by(s.phone_key)
        )
    conn.execute(insert(stage).from_select(STAGE_COLS, rows))
    dialect.drop_temp(conn, loaded)
    return stage


def _changes_table() -> Table:
    return dialect.temp_table(
        "stage_rental_changes",
        #: new, back (in the file again), flip (stop flag changed), gone (left the file)
        Column("kind", String(8), nullable=False),
        Column("number_id", BigInteger),
        Column("phone_key", String(80), nullable=False),
        Column("phone_e164", String(16)),
        Column("phone_raw", String(64), nullable=False),
        Column("api_id", String(32)),
        #: The flag in the new file (for ``gone``: the flag the number had when it left).
        Column("stop", Boolean, nullable=False),
    )


def _apply_diff(
    conn: Connection, stage: Table, numbers: int, rental_id: int, rid: Any, fid: Any, at: Any, now: datetime,
    events_cols: list[str], number_cols: list[str], keep_stopped: bool = False,
) -> FileCounts:
    """One pass (file → stored numbers) finds the new, returning and flipped numbers; the numbers
    gone from the file are looked for (stored → file) only when the counts say some are. The
    changes go to a small table, and the writes then touch only the changed rows (a 1 % re-sync
    of 500,000 numbers writes ~5,000 rows; an unchanged file writes none). ``keep_stopped``: no
    stopped number leaves the file (an unreadable entry may have been one)."""
    s, n = stage.c, rental_numbers.c
    changes = _changes_table()
    c = changes.c
    dialect.create_temp(conn, changes)
    cols = ["kind", "number_id", "phone_key", "phone_e164", "phone_raw", "api_id", "stop"]
    kind = case((n.id.is_(None), literal("new")), (n.in_file == False, literal("back")), else_=literal("flip"))  # noqa: E712
    conn.execute(
        insert(changes).from_select(
            cols,
            select(kind, n.id, s.phone_key, s.phone_e164, s.phone_raw, s.api_id, s.stop)
            .select_from(stage.outerjoin(rental_numbers, and_(n.rental_id == rental_id, n.phone_key == s.phone_key)))
            .where(or_(n.id.is_(None), n.in_file == False, n.stop != s.stop)),  # noqa: E712
        )
    )
    tally: dict[tuple[str, bool], int] = {
        (k, bool(flag)): int(count)
        for k, flag, count in conn.execute(select(c.kind, c.stop, func.count()).group_by(c.kind, c.stop))
    }

    def total(*keys: tuple[str, bool]) -> int:
        return sum(tally.get(k, 0) for k in keys)

    # Every file number is new, back, or matched with a stored in-file number; the stored in-file
    # numbers left over are the ones gone from the file.
    stored_in_file = conn.execute(
        select(func.count()).select_from(rental_numbers).where(n.rental_id == rental_id, n.in_file == True)  # noqa: E712
    ).scalar_one()
    matched = numbers - total(("new", True), ("new", False), ("back", True), ("back", False))
    if stored_in_file > matched:
        # Only now is an index on the file's numbers worth building (each stored number looks itself up).
        dialect.index_temp(conn, stage, "phone_key", unique=True)
        conn.execute(
            insert(changes).from_select(
                cols,
                select(literal("gone"), n.id, n.phone_key, n.phone_e164, n.phone_raw, n.api_contact_id, n.stop).where(
                    n.rental_id == rental_id, n.in_file == True, ~exists().where(s.phone_key == n.phone_key)  # noqa: E712
                ),
            )
        )
        if keep_stopped:
            conn.execute(delete(changes).where(c.kind == "gone", c.stop == True))  # noqa: E712
        for flag in (True, False):
            tally[("gone", flag)] = int(
                conn.execute(select(func.count()).where(c.kind == "gone", c.stop == flag)).scalar_one()
            )
    if tally:
        event = case(
            (c.kind == "gone", literal("removed")),
            (c.kind == "flip", case((c.stop == True, literal("stop_on")), else_=literal("stop_off"))),  # noqa: E712
            else_=literal("added"),
        )
        conn.execute(
            insert(rental_number_events).from_select(
                events_cols, select(rid, fid, c.phone_key, c.phone_e164, event, c.stop, at).order_by(c.phone_key)
            )
        )

        def ids(which: str, flag: bool | None = None) -> Any:
            query = select(c.number_id).where(c.kind == which)
            return query.where(c.stop == flag) if flag is not None else query

        for flag in (True, False):
            if tally.get(("flip", flag)):
                conn.execute(update(rental_numbers).where(n.id.in_(ids("flip", flag))).values(stop=flag, stop_changed_at=now))
            if tally.get(("back", flag)):
                conn.execute(
                    update(rental_numbers).where(n.id.in_(ids("back", flag))).values(in_file=True, left_at=None, stop=flag)
                )
        if total(("gone", True), ("gone", False)):
            conn.execute(update(rental_numbers).where(n.id.in_(ids("gone"))).values(in_file=False, left_at=now))
        if total(("new", True), ("new", False)):
            conn.execute(
                insert(rental_numbers).from_select(
                    number_cols,
                    select(rid, c.phone_key, c.phone_e164, c.phone_raw, c.api_id, c.stop, literal(True), at)
                    .where(c.kind == "new")
                    .order_by(c.phone_key),
                )
            )
    dialect.drop_temp(conn, changes)
    return FileCounts(
        rows=0, numbers=0, stopped=0, unparseable=0,
        added=total(("new", True), ("new", False), ("back", True), ("back", False)),
        removed=total(("gone", True), ("gone", False)),
        stop_on=total(("flip", True)),
        stop_off=total(("flip", False)),
    )


def _file_figures(conn: Connection, stage: Table) -> tuple[int, int, int]:
    """Numbers, stop-flagged numbers and unparseable numbers of a staged file (once per number)."""
    s = stage.c
    numbers, stopped, unparseable = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((s.stop == True, 1), else_=0)), 0),  # noqa: E712
            func.coalesce(func.sum(case((s.phone_e164.is_(None), 1), else_=0)), 0),
        ).select_from(stage)
    ).one()
    return int(numbers), int(stopped), int(unparseable)


def _empty(conn: Connection, table: Table) -> bool:
    return conn.execute(select(literal(1)).select_from(table).limit(1)).first() is None


def _drop_keys_if_empty(conn: Connection) -> list[Any] | None:
    """PostgreSQL, before the first file ever: drop the number tables' foreign keys, unique and
    primary keys and secondary indexes, to build them once after the inserts (`_rebuild_keys`);
    returns the constraints dropped, ``None`` when nothing was. No foreign key refers to either
    table (a primary key could not be dropped then).

    Why: into empty tables, 500,000 numbers and their events took PostgreSQL ~13 s row by row (two
    foreign-key trigger calls and seven index insertions per number, with their WAL); the same rows
    with the keys built afterwards, ~4 s (dropping only the foreign keys or only the indexes saved
    little).

    Only when both tables are empty, as the stop sync does: other rentals' rows would be checked
    and indexed again, and the drops lock the tables (and, for the foreign keys, ``rentals`` and
    ``rental_files``) until commit; done first in the transaction, those locks come before any
    other. Not on SQLite, whose keys cannot be dropped: the secondary indexes alone, dropped and
    rebuilt, made its first load no faster (3.2 s without, 3.8-4.5 s with). Behind a long
    transaction on any of those tables, the keys are kept (`dialect.within_lock_wait`).
    """
    tables = (rental_numbers, rental_number_events)
    if dialect.backend(conn) not in dialect.ALTERABLE_CONSTRAINTS or not all(_empty(conn, t) for t in tables):
        return None

    def drop() -> list[Any]:
        dropped: list[Any] = []
        for table in tables:
            dialect.drop_indexes(conn, table)
            dropped += dialect.drop_constraints(conn, table) + dialect.drop_primary_key(conn, table)
        return dropped

    dropped = dialect.within_lock_wait(conn, drop)
    if dropped is None:
        log.info("first load keeps the number tables' keys (their tables were not free within %s)", dialect.DDL_LOCK_WAIT)
    return dropped


def _rebuild_keys(conn: Connection, constraints: list[Any]) -> None:
    """Build again what `_drop_keys_if_empty` dropped, as the metadata defines it, and give
    PostgreSQL statistics of the numbers for the re-syncs' plans (a hash join of the file with the
    stored numbers; the events are only appended to, autovacuum's ANALYZE can wait)."""
    for table in (rental_numbers, rental_number_events):
        dialect.create_indexes(conn, table)
    dialect.add_constraints(conn, constraints)
    dialect.analyze(conn, rental_numbers)


def load_file(
    conn: Connection, rental_id: int, spool: Path, *, downloaded_at: datetime, now: datetime, run_id: int | None,
    keep_stopped: bool = False,
) -> tuple[int, FileCounts]:
    """Stage the spool file and apply the difference to ``rental_numbers``; returns (file id, counts).

    ``keep_stopped``: no stopped number leaves the file (the file had an entry naming no number).

    Helpers take a connection and never commit: the caller's transaction covers the whole file.
    The file's staging table is left to the connection (`_load_spool` closes it instead of
    pooling it): dropping 500,000 staged rows walked their pages, 0.05-0.14 s on SQLite, and a
    later load on the same connection replaces the table anyway (`dialect.create_temp`).
    """
    header = _read_header(spool)
    if not dialect.keys_compare_bytewise(conn):
        # Numbers the writer saw as different may be one key here (raw texts differing in case
        # or accents): the database groups them, as its unique key would.
        header = replace(header, duplicates=None)
    dropped = _drop_keys_if_empty(conn)
    # With the default 4 MB, sorting, grouping or hashing 500,000 rows spills to disk in ~40
    # batches (EXPLAIN ANALYZE: 2.4 s); in memory, a fraction of that.
    dialect.transaction_work_mem(conn, SORT_MEMORY_MB)
    loaded = _staging_table("stage_rental_load")
    dialect.create_temp(conn, loaded)
    staged, ordered = _stage_spool(conn, loaded, spool, header)
    if header.figures_known and (ordered or dialect.hash_joins(conn)):
        # Each number once, in an order the joins can use: the loaded rows are the stage.
        stage = loaded
        numbers, stopped, unparseable = staged, int(header.stopped or 0), int(header.unparseable or 0)
    else:
        stage = _sorted_stage(conn, loaded, header.duplicates)
        numbers, stopped, unparseable = _file_figures(conn, stage)
        ordered = True
    s = stage.c
    n = rental_numbers.c
    ev = rental_number_events

    file_id = dialect.inserted_id(conn.execute(
        insert(rental_files).values(
            rental_id=rental_id, run_id=run_id, downloaded_at=downloaded_at, loaded_at=now, file_rows=staged,
            numbers=numbers, stopped=stopped, unparseable=unparseable, added=0, removed=0, stop_on=0, stop_off=0,
        )
    ))

    at = literal(now, UtcDateTime())
    rid = literal(rental_id, BigInteger())
    fid = literal(file_id, BigInteger())
    events_cols = ["rental_id", "file_id", "phone_key", "phone_e164", "event", "stop", "observed_at"]
    number_cols = ["rental_id", "phone_key", "phone_e164", "phone_raw", "api_contact_id", "stop", "in_file", "first_seen_at"]

    first = dropped is not None or conn.execute(select(n.id).where(n.rental_id == rental_id).limit(1)).first() is None
    if first:
        # The rental's first file: every number is new; no comparison needed. Into indexes
        # already holding other rentals' numbers, rows go in key order (appended to the B-trees,
        # not at random); with the keys dropped, any order: they are built afterwards. The order
        # only matters to speed, never to the result.
        numbers_rows = select(rid, s.phone_key, s.phone_e164, s.phone_raw, s.api_id, s.stop, literal(True), at)
        events_rows = select(rid, fid, s.phone_key, s.phone_e164, literal("added"), s.stop, at)
        if not ordered and dropped is None:
            numbers_rows, events_rows = numbers_rows.order_by(s.phone_key), events_rows.order_by(s.phone_key)
        conn.execute(insert(rental_numbers).from_select(number_cols, numbers_rows))
        conn.execute(insert(ev).from_select(events_cols, events_rows))
        counts = FileCounts(staged, numbers, stopped, unparseable, added=numbers, removed=0, stop_on=0, stop_off=0)
    else:
        diff = _apply_diff(conn, stage, numbers, rental_id, rid, fid, at, now, events_cols, number_cols, keep_stopped)
        counts = FileCounts(staged, numbers, stopped, unparseable, diff.added, diff.removed, diff.stop_on, diff.stop_off)
    if dropped is not None:
        _rebuild_keys(conn, dropped)
    if counts.added or counts.removed or counts.stop_on or counts.stop_off:
        conn.execute(
            update(rental_files)
            .where(rental_files.c.id == file_id)
            .values(added=counts.added, removed=counts.removed, stop_on=counts.stop_on, stop_off=counts.stop_off)
        )
    if staged > numbers:
        log.warning("rental %d: %d duplicate numbers in the file (kept once, stop if any copy was)", rental_id, staged - numbers)
    return int(file_id), counts


# --------------------------------------------------------------------------------------------------
# Followed rentals
# --------------------------------------------------------------------------------------------------


def sync_config_tokens(conn: Connection, ctx: JobContext, now: datetime) -> None:
    """Config tokens get a row (source ``config``); config rows no longer in the config are deactivated."""
    r = rentals.c
    configured = {t.token: t.label for t in ctx.config.rentals.tokens}
    stored = {row.token: row for row in conn.execute(select(r.id, r.token, r.source, r.active, r.label))}
    for token, label in configured.items():
        row = stored.get(token)
        if row is None:
            conn.execute(
                insert(rentals).values(token=token, label=label, source="config", added_at=now, added_by="config", active=True)
            )
        elif not row.active or (label and row.label != label):
            conn.execute(
                update(rentals).where(r.id == row.id).values(active=True, removed_at=None, label=label or row.label)
            )
    for token, row in stored.items():
        if row.source == "config" and row.active and token not in configured:
            conn.execute(update(rentals).where(r.id == row.id).values(active=False, removed_at=now))


def followed(conn: Connection) -> list[FollowedRental]:
    r = rentals.c
    rows = conn.execute(select(r.id, r.token, r.label, r.current_file_id).where(r.active == True).order_by(r.id))  # noqa: E712
    return [FollowedRental(row.id, row.token, row.label, row.current_file_id is not None) for row in rows]


def _mark(ctx: JobContext, rental: FollowedRental, outcome: RentalOutcome, now: datetime) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(
            update(rentals)
            .where(rentals.c.id == rental.id)
            .values(last_status=outcome.status, last_status_code=outcome.code, last_status_text=outcome.text, last_checked_at=now)
        )


# --------------------------------------------------------------------------------------------------
# One rental
# --------------------------------------------------------------------------------------------------


def _rejected(exc: ApiRejected, rental: FollowedRental) -> RentalOutcome:
    status, text = CODE_STATUS.get(exc.code, ("error", f"the API refused: code {exc.code}"))
    if exc.code == 34 and rental.has_file:
        text += "; the numbers loaded earlier are kept"
    return RentalOutcome(status, text, exc.code)


def _load_spool(ctx: JobContext, rental: FollowedRental, path: Path, now: datetime) -> RentalOutcome:
    downloaded_at = read_spool_header(path)
    rejections, blind = _read_sidecar(path)
    with ctx.engine.connect() as conn:
        try:
            with conn.begin():
                file_id, counts = load_file(
                    conn, rental.id, path, downloaded_at=downloaded_at, now=now, run_id=ctx.run_id, keep_stopped=blind > 0
                )
                quarantine.record(conn, rejections, now, run_id=ctx.run_id, secrets=ctx.secrets)
                text = (
                    f"loaded {counts.numbers} numbers ({counts.stopped} flagged stop): +{counts.added} "
                    f"-{counts.removed} stop_on={counts.stop_on} stop_off={counts.stop_off}"
                ) + (f"; {quarantine.summary(len(rejections))}" if rejections else "")
                conn.execute(
                    update(rentals)
                    .where(rentals.c.id == rental.id)
                    .values(
                        last_status="loaded", last_status_code=None, last_status_text=text, last_checked_at=now,
                        last_loaded_at=now, current_file_id=file_id,
                    )
                )
        finally:
            # Closed, not pooled: the staging table goes with the session (on SQLite, its
            # temporary database file) instead of being dropped page by page (`load_file`).
            conn.detach()
    # Only now that the numbers are committed may the single-use download go.
    _remove_spool(path)
    return RentalOutcome("loaded", text, None, counts, quarantined=len(rejections))


def _spool_is_stale(ctx: JobContext, rental: FollowedRental, path: Path) -> bool:
    """True when the stored current file was downloaded at or after the spooled one."""
    spooled_at = read_spool_header(path)
    with ctx.engine.connect() as conn:
        stored_at = conn.execute(
            select(rental_files.c.downloaded_at)
            .select_from(rental_files.join(rentals, rentals.c.current_file_id == rental_files.c.id))
            .where(rentals.c.id == rental.id)
        ).scalar()
        conn.rollback()
    return stored_at is not None and stored_at >= spooled_at


def sync_rental(ctx: JobContext, rental: FollowedRental) -> RentalOutcome:
    """Status, download to the spool, load. Documented refusals become a status, never an exception."""
    now = ctx.now()
    path = spool_path(ctx.config.database.url, rental.token)
    if path.exists():
        if _spool_is_stale(ctx, rental, path):
            # Another instance (or this one, before a crash) has since stored a file at least as
            # recent: loading this older one would turn flags back and flip them again later.
            log.warning("rental %s: discarding a leftover download older than the file already stored", rental.name)
            _remove_spool(path)
        else:
            log.warning("rental %s: loading the file downloaded earlier and not yet stored", rental.name)
            return _load_spool(ctx, rental, path, now)
    try:
        status = ctx.client.rental_status(rental.token)
    except AuthError:
        raise
    except ApiRejected as exc:
        return _rejected(exc, rental)
    if status.state in STATE_STATUS:
        word, text = STATE_STATUS[status.state]
        return RentalOutcome(word, text, status.state)
    if status.state == 5 and rental.has_file:
        return RentalOutcome("file_used", "file already downloaded (state 5); the numbers loaded earlier are kept", 5)
    # The restarts and the retries of each download's start spend one budget (etl.api.retry).
    budget = ctx.client.retry_budget()
    restarted = False
    try:
        for attempt in retry.build_restarting(budget, endpoint=ENDPOINT):
            with attempt:
                restarted = attempt.retry_state.attempt_number > 1
                download_to_spool(ctx, rental.token, path, now, budget)
    except AuthError:
        raise
    except ApiRejected as exc:
        if restarted and exc.code == 34:
            return RentalOutcome(
                "file_used", "the first download was cut short and the file can be downloaded only once "
                "(API code 34); ask the provider to re-issue it", 34,
            )
        return _rejected(exc, rental)
    return _load_spool(ctx, rental, path, now)


def run(ctx: JobContext) -> RunResult:
    with ctx.engine.begin() as conn:
        sync_config_tokens(conn, ctx, ctx.now())
        todo = followed(conn)
    outcomes: list[tuple[FollowedRental, RentalOutcome]] = []
    for rental in todo:
        if ctx.should_stop():
            break
        try:
            outcome = sync_rental(ctx, rental)
        except AuthError:
            raise
        except EtlError as exc:
            # One rental's fault (network after retries, malformed file, spool) must not stop the others.
            outcome = RentalOutcome("error", runlog.redact(f"{type(exc).__name__}: {exc}"))
        except Exception as exc:  # noqa: BLE001 - e.g. a database error on one file: the others go on
            log.exception("rental %s: load failed", rental.name)
            outcome = RentalOutcome("error", runlog.redact(f"{type(exc).__name__}: {exc}").splitlines()[0])
        if outcome.status != "loaded":
            _mark(ctx, rental, outcome, ctx.now())
        log.info("rental %s: %s (%s)", rental.name, outcome.status, outcome.text, extra={"rental_id": rental.id})
        outcomes.append((rental, outcome))

    counts = [o.counts for _, o in outcomes if o.counts is not None]
    errors = [r for r, o in outcomes if o.status == "error"]
    quarantined = sum(o.quarantined for _, o in outcomes)
    detail = "; ".join(
        f"{r.name}={o.status}" + (f"({o.code})" if o.code is not None else "") + (f": {o.text}" if o.status != "loaded" or o.counts else "")
        for r, o in outcomes
    )
    result = RunResult(
        added=sum(c.added for c in counts),
        changed=sum(c.stop_on + c.stop_off for c in counts),
        removed=sum(c.removed for c in counts),
        outcome="failed" if errors else "partial" if quarantined else "success",
        detail=(f"{quarantine.summary(quarantined)}; " if quarantined else "")
        + f"rentals={len(todo)} loaded={len(counts)}"
        + (f"; {detail}" if detail else ""),
        figures={
            "rentals": len(todo),
            "files_loaded": len(counts),
            "numbers": sum(c.numbers for c in counts),
            "waiting": sum(1 for _, o in outcomes if o.status in WAITING),
            "errors": len(errors),
            "quarantined": quarantined,
        },
    )
    with ctx.engine.begin() as conn:
        runlog.finish_run(conn, ctx.run_id, result, ctx.now())
    return result
