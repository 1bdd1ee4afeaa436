"""A compact set of E.164 numbers kept as ints (``+33612345678`` -> ``33612345678``).

Why not a ``set[str]``: 1,000,000 E.164 strings cost ~110 MB in a set; the same numbers as ints
cost ~64 MB, and as bits in a bitmap over the default country's numbering plan a few MB.

`NumberSet` keeps the numbers of one country code whose national significant numbers have at
most ``bitmap_digits`` digits (``+33`` and 9 digits: 10**9 bits, 125 MB *virtual*) in an
anonymous ``mmap``: the kernel only backs the pages that a number touched, so the resident cost is
bounded by the numbering plan actually used (all French mobiles, 06/07: 25 MB), never by how many
numbers are added. Every other number goes to a plain ``set`` of ints. That is what keeps the
audience filter's "seen" set (duplicates) bounded whatever the size of the input file.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

#: Above this many bits the bitmap is not worth it (10**9 bits = 125 MB of address space).
MAX_BITMAP_BITS = 10**9


class NumberSet:
    """Set of E.164 numbers as ints; ``0`` is never a member (it means "invalid" to callers)."""

    __slots__ = ("_base", "_span", "_bits", "_others", "_count")

    def __init__(self, country_code: int | None = None, nsn_digits: int = 9) -> None:
        span = 10**nsn_digits
        if country_code is not None and 0 < country_code and span <= MAX_BITMAP_BITS:
            self._base = country_code * span
            self._span = span
            self._bits: mmap.mmap | None = mmap.mmap(-1, (span + 7) // 8)
        else:
            self._base = 0
            self._span = 0
            self._bits = None
        self._others: set[int] = set()
        self._count = 0

    @classmethod
    def of(cls, numbers: Iterable[int], country_code: int | None = None, nsn_digits: int = 9) -> NumberSet:
        result = cls(country_code, nsn_digits)
        for number in numbers:
            result.add(number)
        return result

    def add(self, number: int) -> bool:
        """Add ``number``; True when it was not there yet."""
        offset = number - self._base
        if 0 <= offset < self._span:
            bits = self._bits
            assert bits is not None
            index = offset >> 3
            mask = 1 << (offset & 7)
            byte = bits[index]
            if byte & mask:
                return False
            bits[index] = byte | mask
        else:
            if number in self._others:
                return False
            self._others.add(number)
        self._count += 1
        return True

    def contains_many(self, numbers: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        """``numbers[i] in self`` for a numpy int64 array (only where ``where[i]``, False elsewhere)."""
        import numpy as np

        found = np.zeros(len(numbers), dtype=bool)
        if self._count == 0:
            return found
        offset = numbers - self._base
        inside = (offset >= 0) & (offset < self._span)
        if where is not None:
            inside &= where
        if self._bits is not None and inside.any():
            bits = np.frombuffer(self._bits, dtype=np.uint8)
            positions = np.flatnonzero(inside)
            off = offset[positions]
            found[positions] = ((bits[off >> 3] >> (off & 7).astype(np.uint8)) & 1).astype(bool)
            del bits  # no buffer export left behind: `close` must be able to unmap
        if self._others:
            outside = ~inside if where is None else where & ~inside
            others = self._others
            for position in np.flatnonzero(outside).tolist():
                found[position] = int(numbers[position]) in others
        return found

    def add_many(self, numbers: np.ndarray, *, distinct_new: bool = False) -> int:
        """Add a numpy int64 array of numbers (none of them 0); how many were not there yet.

        ``distinct_new``: the caller knows the numbers are distinct and not members yet.
        """
        import numpy as np

        if not distinct_new:
            numbers = np.unique(numbers)
            numbers = numbers[~self.contains_many(numbers)]
        else:
            numbers = np.sort(numbers)
        if len(numbers) == 0:
            return 0
        offset = numbers - self._base
        inside = (offset >= 0) & (offset < self._span)
        if self._bits is not None and inside.any():
            off = offset[inside]  # sorted, so equal bytes are adjacent
            index = off >> 3
            masks = (1 << (off & 7)).astype(np.uint8)
            groups = np.flatnonzero(np.diff(index, prepend=-1))
            bits = np.frombuffer(self._bits, dtype=np.uint8)
            targets = index[groups]
            bits[targets] |= np.bitwise_or.reduceat(masks, groups)
            del bits
        self._others.update(numbers[~inside].tolist())
        self._count += len(numbers)
        return len(numbers)

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, int):
            return False
        offset = number - self._base
        if 0 <= offset < self._span:
            assert self._bits is not None
            return bool(self._bits[offset >> 3] & (1 << (offset & 7)))
        return number in self._others

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        if self._bits is not None:
            self._bits.close()
            self._bits = None
            self._span = 0
