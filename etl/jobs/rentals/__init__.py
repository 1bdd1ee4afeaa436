"""Rental files: each followed token's contact file → `rental_numbers`, with history, one transaction per file.

A rental ("location", REFERENCE §3.13) is a rented opt-in contact file behind a token. Each number
carries a stop flag that may change between downloads. Each sync, for every followed rental
(tokens from ``[rentals]`` in the config *and* the `rentals` table managed by `smspartner-etl
rentals add/remove`):

1. ``GET /location/status``: its quoted cost goes to ``rental_costs`` (`costs`); states 0/1 (requested, generating) wait for a later cycle, 3 (failed)
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

import logging
import os
from dataclasses import replace
from datetime import datetime
from itertools import chain, islice
from operator import itemgetter
from pathlib import Path

from sqlalchemy import BigInteger, Connection, Table, insert, literal, select, update

from etl import quarantine, runlog
from etl.api import rentalrows, retry
from etl.api.lists import rental_file
from etl.api.parse import RentalStatus
from etl.db import dialect
from etl.db.schema import rental_files, rental_number_events, rental_numbers, rentals
from etl.db.types import UtcDateTime
from etl.errors import ApiRejected, AuthError, EtlError
from etl.jobs.base import JobContext, Outcome, RunResult
from etl.jobs.rentals import costs
from etl.jobs.rentals.diff import _apply_diff
from etl.jobs.rentals.followed import _mark, followed, sync_config_tokens
from etl.jobs.rentals.keys import _drop_keys_if_empty
from etl.jobs.rentals.keys import _rebuild_keys as _rebuild_keys
from etl.jobs.rentals.outcomes import CODE_STATUS, STATE_STATUS, WAITING, FileCounts, FollowedRental, RentalOutcome
from etl.jobs.rentals.spool import (
    _FIGURES_WIDTH,
    SPOOL_ENV,
    SPOOL_VERSION,
    SPOOL_VERSION_1,
    SPOOL_VERSION_2,
    SpoolHeader,
    _remove_spool,
    _split_key,
    _spool_line,
    _stopped,
    _unparseable,
    read_spool_header,
    spool_dir,
    spool_path,
)
from etl.jobs.rentals.spool import (
    _read_header as _read_header,
)
from etl.jobs.rentals.spool import (
    _spool_rows as _spool_rows,
)
from etl.jobs.rentals.staging import SORT_MEMORY_MB, STAGE_COLS, _field_runs, _file_figures, _sorted_stage, _staging_table
from etl.jobs.rentals.unreadable import ENDPOINT, _read_sidecar, _Unreadable, _write_sidecar

__all__ = [
    "CODE_STATUS", "DUPLICATE_CHECK_LIMIT", "ENDPOINT", "IN_MEMORY_LIMIT", "NAME", "SORT_MEMORY_MB", "SPOOL_ENV",
    "SPOOL_VERSION", "SPOOL_VERSION_1", "SPOOL_VERSION_2", "STAGE_COLS", "STATE_STATUS", "WAITING", "EtlError",
    "FileCounts", "FollowedRental", "RentalOutcome", "SpoolHeader", "download_to_spool", "followed", "load_file",
    "read_spool_header", "run", "spool_dir", "spool_path", "sync_config_tokens", "sync_rental",
]

log = logging.getLogger(__name__)

NAME = "rentals"
#: Numbers whose hashes the spool writer keeps to tell whether any came twice (~60 bytes each).
DUPLICATE_CHECK_LIMIT = 2_000_000
#: Lines the SQLite/MariaDB load sorts in memory (~110 bytes each) before staging them in key
#: order; longer files are staged as they come and sorted by the database.
IN_MEMORY_LIMIT = 600_000


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
            for rows in ctx.client.stream_list(rental_file(token), rentalrows.run_shaper(unreadable), budget=budget):
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


def _stage_spool(conn: Connection, stage: Table, path: Path, header: SpoolHeader) -> tuple[int, bool]:
    """Bulk-load a spool file into ``stage``; returns the row count and whether the rows went in
    ``phone_key`` order.

    A current-version spool goes to PostgreSQL's ``COPY`` block by block, untouched (it is already
    in COPY's text format), in the file's order: PostgreSQL joins it with the stored numbers by
    hashing, in any order. SQLite and MariaDB look each number up in the index, fastest in key
    order (docs/benchmarks.md, "Design figures", R1): a file without duplicates of at most `IN_MEMORY_LIMIT` lines is sorted here
    (cheaper than the database's sort into a second staging table) and goes in as multi-row inserts
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


def load_file(
    conn: Connection, rental_id: int, spool: Path, *, downloaded_at: datetime, now: datetime, run_id: int | None,
    keep_stopped: bool = False,
) -> tuple[int, FileCounts]:
    """Stage the spool file and apply the difference to ``rental_numbers``; returns (file id, counts).

    ``keep_stopped``: no stopped number leaves the file (the file had an entry naming no number).

    Helpers take a connection and never commit: the caller's transaction covers the whole file.
    The file's staging table is left to the connection (`_load_spool` closes it instead of
    pooling it): dropping the staged rows would walk their pages (docs/benchmarks.md, "Design figures", R2), and a
    later load on the same connection replaces the table anyway (`dialect.create_temp`).
    """
    header = _read_header(spool)
    if not dialect.keys_compare_bytewise(conn):
        # Numbers the writer saw as different may be one key here (raw texts differing in case
        # or accents): the database groups them, as its unique key would.
        header = replace(header, duplicates=None)
    dropped = _drop_keys_if_empty(conn)
    # With the default 4 MB, sorting, grouping or hashing a file spills to disk (docs/benchmarks.md, "Design figures", R3).
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
                quarantine.record(conn, rejections, now, run_id=ctx.run_id, secrets=ctx.secrets, account_id=ctx.account.id)
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


def _record_cost(ctx: JobContext, rental: FollowedRental, status: RentalStatus) -> None:
    try:
        costs.record(ctx, rental, status)
    except Exception:  # noqa: BLE001 - the price is finance's; the file and its stop flags still load
        log.exception("rental %s: its cost could not be stored", rental.name)


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
    _record_cost(ctx, rental, status)
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
        todo = followed(conn, ctx.account.id)
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
        outcome=Outcome.FAILED if errors else Outcome.PARTIAL if quarantined else Outcome.SUCCESS,
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
