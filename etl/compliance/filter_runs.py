"""The record of one ``filter-audience`` run: a ``filter_runs`` row and the keyed hashes of the numbers it blocked.

Why: `evidence` must be able to say "blocked from campaign file X on date Y" without keeping the file
(docs/audience.md, "Filter runs are recorded"). The row is written before filtering (outcome ``running``) and
completed after; a run that fails keeps its row with the failure, and the blocks of a failed run are
deleted (no output was written, so nothing was blocked). Blocks arrive in batches from the filter
and are hashed and loaded set-based (`etl.db.backends` bulk loads: multi-row INSERTs, COPY), one
transaction per batch, so memory stays bounded; a number repeated within a batch is stored once.
Without a hash key the row records counts only (``hash_key_id`` NULL), unless
``compliance.require_hash_key``. The row's insert and its completion each append an audit chain entry in
their transaction (``filter_run_start``, ``filter_run_complete``: `etl.compliance.chain`).
"""

from __future__ import annotations

import getpass
import hashlib
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, inspect, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from etl.compliance import chain
from etl.compliance.hashing import NumberHasher, load_hasher, optional_hasher
from etl.config_compliance import ComplianceConfig
from etl.db import backends
from etl.db.engine import driver_message, writer
from etl.db.schema import accounts, filter_run_blocks, filter_runs
from etl.errors import ConfigError, EtlError

if TYPE_CHECKING:
    from etl.audience.filter import Summary
    from etl.audience.freshness import Freshness

__all__ = ["FileDigest", "FilterRunRecorder", "default_actor", "filter_run_hasher"]

BATCH = 10_000
#: The fields of a `filter_run_blocks` row as the recorder loads them (the id is the table's).
BLOCK_COLUMNS = ("run_id", "number_hash", "reason")

_READ = 1 << 20


def filter_run_hasher(compliance: ComplianceConfig) -> NumberHasher | None:
    """The key when configured; without one the run records counts only, unless ``require_hash_key``."""
    if compliance.require_hash_key:
        return load_hasher(compliance, purpose="filter-audience (compliance.require_hash_key)")
    return optional_hasher(compliance)


def default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class FileDigest:
    """SHA-256 of a file, computed in a thread while the filter reads it (hashlib lets go of the GIL)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._digest = hashlib.sha256()
        self.size = 0
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._read, name="input-digest", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            with self._path.open("rb") as handle:
                while block := handle.read(_READ):
                    self._digest.update(block)
                    self.size += len(block)
        except OSError as exc:
            self._error = exc

    def hexdigest(self) -> str | None:
        self._thread.join()
        return None if self._error else self._digest.hexdigest()


class FilterRunRecorder:
    """Writes one run's row and blocks; `add` is the filter's ``on_opted_out`` sink."""

    def __init__(self, engine: Engine, hasher: NumberHasher | None, now: Callable[[], datetime],
                 batch: int = BATCH) -> None:
        self.engine = engine
        self.hasher = hasher
        self.now = now
        self.batch = batch
        self.run_id = 0
        self.blocks = 0
        self._pending: dict[str, list[int]] = {}
        self._held = 0

    def start(self, *, actor: str, input_path: Path, allow_stale: bool, freshness: Freshness | None,
              input_name: str | None = None) -> int:
        """Insert the ``running`` row; a database without ``filter_runs`` is one sentence. ``input_name``:
        what the record calls the input (the console's upload is stored under a name of its own)."""
        values: dict[str, Any] = dict(
            started_at=self.now(), outcome="running", actor=actor[:128], input_name=(input_name or input_path.name)[:255],
            allow_stale=allow_stale, hash_key_id=self.hasher.key_id if self.hasher else None, blocks_recorded=0,
        )
        if freshness is not None:
            values.update(stop_list_synced_at=freshness.last_success_at, stop_list_age_seconds=freshness.age_seconds)
        try:
            with writer(self.engine).begin() as conn:
                labels = conn.execute(select(accounts.c.label).order_by(accounts.c.id)).scalars().all()
                values["accounts"] = ",".join(labels)[:255]
                chain.lock_head(conn)  # before the insert: run ids then follow the chain's order (chain.AUDITED)
                key = conn.execute(insert(filter_runs).values(**values)).inserted_primary_key
                assert key is not None
                self.run_id = int(key[0])
                chain.append_row(conn, "filter_run_start", filter_runs, self.run_id, at=values["started_at"])
        except SQLAlchemyError as exc:
            # Only a missing table is the user's upgrade to run; a full disk or a lost server is not.
            if not inspect(self.engine).has_table("filter_runs"):
                raise ConfigError("cannot record the filter run: "
                                  "run `smspartner-etl db upgrade` (migration 0017 adds filter_runs)") from None
            raise EtlError(f"cannot record the filter run, nothing was filtered: {driver_message(exc)}") from None
        return self.run_id

    def add(self, reason: str, numbers: Sequence[int]) -> None:
        """Numbers (E.164 digits as integers) blocked for ``reason``; ``""`` forgets what came so far."""
        if not reason:
            self._pending.clear()
            self._held = 0
            self._forget_blocks()
            return
        if self.hasher is None:
            return
        self._pending.setdefault(reason, []).extend(numbers)
        self._held += len(numbers)
        if self._held >= self.batch:
            self._flush()

    def _flush(self) -> None:
        assert self.hasher is not None
        fields: list[Any] = []
        for reason, numbers in self._pending.items():
            # Sorted: the batch enters the (run_id, number_hash) index in key order, within this run's own
            # region of it, whatever the history holds (migration 0026, docs/benchmarks.md).
            for number_hash in sorted(self.hasher.hash_digits(dict.fromkeys(numbers))):
                fields += (self.run_id, number_hash, reason)
        self._pending.clear()
        self._held = 0
        if fields:
            # Multi-row INSERTs on SQLite and MariaDB, COPY on PostgreSQL: no per-row statement or mapping.
            with writer(self.engine).begin() as conn:
                self.blocks += backends.of(conn).bulk_load_runs(conn, filter_run_blocks, [fields], BLOCK_COLUMNS)

    def _forget_blocks(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(filter_run_blocks).where(filter_run_blocks.c.run_id == self.run_id))
        self.blocks = 0

    def finish(self, summary: Summary, digest: FileDigest) -> None:
        if self.hasher is not None:
            self._flush()
        counts = {f"blocked_{reason}": count for reason, count in summary.blocked.items()}
        self._complete(outcome="success", detail=None if self.hasher else "no hash key: counts only",
                       input_sha256=digest.hexdigest(), input_bytes=digest.size, rows=summary.rows,
                       allowed=summary.allowed, blocks_recorded=self.blocks, **counts)

    def fail(self, error: BaseException, digest: FileDigest | None = None) -> None:
        """Keep the row with the failure (one sentence, never a traceback); drop the blocks."""
        detail = str(error) if isinstance(error, EtlError) else f"{type(error).__name__}: the run stopped"
        try:
            self._forget_blocks()
            self._complete(outcome="failed", detail=detail[:2000], blocks_recorded=0,
                           input_sha256=digest.hexdigest() if digest else None,
                           input_bytes=digest.size if digest else None)
        except SQLAlchemyError:
            pass  # the error being reported matters more than its record

    def _complete(self, **values: Any) -> None:
        finished = self.now()
        with writer(self.engine).begin() as conn:
            conn.execute(update(filter_runs).where(filter_runs.c.id == self.run_id).values(finished_at=finished, **values))
            chain.append_row(conn, "filter_run_complete", filter_runs, self.run_id, at=finished)
