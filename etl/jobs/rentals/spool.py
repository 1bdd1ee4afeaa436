"""The spool: one file per (database, token), complete or absent, written by the download and read
by the load (`etl.jobs.rentals.staging`). Why a spool: docs/rentals-and-actions.md, "Why the spool".
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import methodcaller
from pathlib import Path
from typing import Any

from etl.api.rentalrows import RentalRow
from etl.errors import EtlError
from etl.jobs.rentals.unreadable import _sidecar

#: Where downloaded files wait for their load; override with this environment variable.
SPOOL_ENV = "SMSPARTNER_ETL_SPOOL_DIR"


#: Version 3: lines in the staging table's column order (key first, so that sorting lines sorts
#: numbers), in COPY text format; the header says whether any number came twice and gives the
#: file's stop-flagged and unparseable numbers.
SPOOL_VERSION = "smspartner-etl rental spool v3"


#: Version 2 (api_id first, file order, a duplicates flag): still loaded, as version 1 below.
SPOOL_VERSION_2 = "smspartner-etl rental spool v2"


#: Version 1 (api_id, raw, e164, stop): still loaded, should one be left from before an upgrade.
SPOOL_VERSION_1 = "smspartner-etl rental spool v1"


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


def _remove_spool(spool: Path) -> None:
    _sidecar(spool).unlink(missing_ok=True)
    spool.unlink(missing_ok=True)


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
