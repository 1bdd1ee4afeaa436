"""The STOP (opt-out) list, compact enough for millions of entries.

Why: /stop-sms/list has no paging (REFERENCE §3.10, quirk 23), so the benchmark needs a
1,000,000-entry list. A generated block stores only (base id, n, seed): the phone and createdAt
of entry i are derived from i by a bijective affine map, so ids and phones are unique and the
reverse lookup (phone -> id, for code 3 "already in list") is arithmetic. Only deletions and
explicit additions are stored.
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from .clock import PARIS

_SPACE = 200_000_000  # +336xxxxxxxx and +337xxxxxxxx
_MULT = 19_260_817  # odd, not a multiple of 5: invertible modulo 2**9 * 5**8
_INV = pow(_MULT, -1, _SPACE)


@functools.cache
def _times_of_day() -> list[str]:
    """"HH:MM:SS" for each second of a day (86,400 short strings, built once, ~6 MB)."""
    return [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]


@dataclass(frozen=True)
class GeneratedBlock:
    base_id: int
    n: int
    seed: int
    first_created: datetime  # naive Europe/Paris local time
    step_seconds: float

    def offset(self) -> int:
        return (self.seed * 7_777_777 + 12_345) % _SPACE

    def phone(self, i: int) -> str:
        x = (i * _MULT + self.offset()) % _SPACE
        return f"+33{6 + x // 100_000_000}{x % 100_000_000:08d}"

    def index_of(self, phone: str) -> int | None:
        if len(phone) != 12 or not phone.startswith(("+336", "+337")) or not phone[1:].isdigit():
            return None
        x = (int(phone[3]) - 6) * 100_000_000 + int(phone[4:])
        i = ((x - self.offset()) * _INV) % _SPACE
        return i if i < self.n else None

    def created_naive(self, i: int) -> datetime:
        return self.first_created + timedelta(seconds=int(i * self.step_seconds))


@dataclass(frozen=True)
class StopsSnapshot:
    """An immutable view for streaming without holding the simulator lock."""

    block: GeneratedBlock | None
    deleted: frozenset[int]
    extra: tuple[tuple[int, str, datetime], ...]

    def __len__(self) -> int:
        n = self.block.n - len(self.deleted) if self.block else 0
        return n + len(self.extra)

    def iter_naive(self) -> Iterator[tuple[int, str, datetime]]:
        """(id, phone, createdAt as naive Paris local) in id order."""
        return heapq.merge(self._iter_block(), self._iter_extra(), key=lambda row: row[0])

    def _iter_block(self) -> Iterator[tuple[int, str, datetime]]:
        if self.block is not None:
            b, deleted = self.block, self.deleted
            for i in range(b.n):
                if i in deleted:
                    continue
                yield b.base_id + i, b.phone(i), b.created_naive(i)

    def iter_text(self) -> Iterator[tuple[int, str, str]]:
        """Like ``iter_naive`` with createdAt already as "Y-m-d H:i:s" (Paris local): the fast path
        for serving 1,000,000 entries (incremental arithmetic, one date string per day)."""
        extra = [(sid, p, str(c.astimezone(PARIS).replace(tzinfo=None))) for sid, p, c in self.extra]
        if not extra:
            return self._iter_block_text()
        return heapq.merge(self._iter_block_text(), iter(extra), key=lambda row: row[0])

    def _iter_block_text(self) -> Iterator[tuple[int, str, str]]:
        b = self.block
        if b is None:
            return
        deleted, step, base_id = self.deleted, b.step_seconds, b.base_id
        first = b.first_created
        first_day = datetime(first.year, first.month, first.day)
        first_sod = (first - first_day).seconds
        x = b.offset()
        day_cache: dict[int, str] = {}
        tod = _times_of_day()
        for i in range(b.n):
            if i not in deleted:
                day, sod = divmod(first_sod + int(i * step), 86400)
                dstr = day_cache.get(day)
                if dstr is None:
                    day_cache.clear()
                    dstr = day_cache[day] = str((first_day + timedelta(days=day)).date())
                yield base_id + i, "+33%d" % (600_000_000 + x), dstr + " " + tod[sod]
            x += _MULT
            if x >= _SPACE:
                x -= _SPACE

    def _iter_extra(self) -> Iterator[tuple[int, str, datetime]]:
        for sid, phone, created in self.extra:
            yield sid, phone, created.astimezone(PARIS).replace(tzinfo=None)


class StopStore:
    """Mutable ground truth of the STOP list. Not thread-safe: the Simulator locks around it."""

    def __init__(self) -> None:
        self.next_id = 1
        self.block: GeneratedBlock | None = None
        self.deleted: set[int] = set()
        self.extra: dict[int, tuple[str, datetime]] = {}
        self._extra_by_phone: dict[str, int] = {}

    def generate(self, n: int, seed: int, now: datetime) -> None:
        if self.block is not None:
            raise ValueError("generate_stops may be called once per simulator")
        if not 0 <= n <= _SPACE:
            raise ValueError("n out of range")
        span = timedelta(days=730).total_seconds()
        first = (now - timedelta(days=731)).astimezone(PARIS).replace(tzinfo=None, microsecond=0)
        self.block = GeneratedBlock(self.next_id, n, seed, first, span / max(n, 1))
        self.next_id += n

    def find(self, phone: str) -> int | None:
        sid = self._extra_by_phone.get(phone)
        if sid is not None:
            return sid
        if self.block is not None:
            i = self.block.index_of(phone)
            if i is not None and i not in self.deleted:
                return self.block.base_id + i
        return None

    def add(self, phone: str, created_at: datetime) -> int:
        sid = self.next_id
        self.next_id += 1
        self.extra[sid] = (phone, created_at.replace(microsecond=0))
        self._extra_by_phone[phone] = sid
        return sid

    def get(self, sid: int) -> tuple[str, datetime] | None:
        if sid in self.extra:
            return self.extra[sid]
        b = self.block
        if b is not None and b.base_id <= sid < b.base_id + b.n and (sid - b.base_id) not in self.deleted:
            i = sid - b.base_id
            return b.phone(i), b.created_naive(i).replace(tzinfo=PARIS)
        return None

    def remove(self, sid: int) -> tuple[str, datetime]:
        entry = self.get(sid)
        if entry is None:
            raise KeyError(sid)
        if sid in self.extra:
            phone, _ = self.extra.pop(sid)
            self._extra_by_phone.pop(phone, None)
        else:
            assert self.block is not None
            self.deleted.add(sid - self.block.base_id)
        return entry

    def snapshot(self) -> StopsSnapshot:
        return StopsSnapshot(
            self.block,
            frozenset(self.deleted),
            tuple((sid, p, c) for sid, (p, c) in sorted(self.extra.items())),
        )

    def __len__(self) -> int:
        return len(self.snapshot())
