"""A rental file's entries that cannot be read: quarantined, read fail-closed (issue 16).

With its number readable an entry stays in the file, stopped; with none it is left out and counted
``blind`` (then no stopped number may leave the file with that download, `etl.jobs.rentals.diff`).
The rejections wait in a sidecar beside the spool, written before it and deleted with it, so a
spool loaded by a later run still records them in the transaction that loads the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from etl import quarantine
from etl.api import rentalrows
from etl.api.rentalrows import RentalRow
from etl.errors import PayloadError

ENDPOINT = "location/file/download"


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
