"""Rollup tables kept exact by their writers: a write of some rows moves what those rows count for, in its transaction.

The shape shared by `etl.db.spend_rollup` (``spend_days``) and `etl.db.funnel_rollup` (``funnel_days``), the
daily rollups behind the spend and funnel views (issue 20, "daily rollup tables behind the spend and funnel views").

A `Rollup` is a table (key columns, then summed columns) and a *contribution* query: what the source rows (all,
or those whose ids a subquery selects) count for per key, times a sign. Around a write of some rows, a `Move`
(`take` before it, `give` after it, same ids, same transaction) stages minus what those rows count for now and
plus what they count for after, and adds the difference per key in one ``INSERT … SELECT`` (`backends`'
``insert_adding``: insert a new key, sum into a known one). So a row that enters a key, leaves it or moves to
another one moves exactly its counts, whatever the write did.

The merge touches the keys in key order, so two writers moving counts between the same keys never wait on each
other in a cycle; a key whose counts did not change (a pending recipient polled again and still pending) is not
written at all, so concurrent batches rarely touch the same rollup row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar

from sqlalchemy import Column, Connection, Select, Table, delete, func, insert, or_, select

from etl.db import backends, dialect

__all__ = ["Move", "Rollup"]

#: ``contributions(ids, sign)``: key columns then summed columns, per key, of the rows ``ids`` selects (all when None).
Contributions = Callable[[Select[tuple[int]] | None, int], Select[tuple[Any, ...]]]


@dataclass(frozen=True)
class Rollup:
    """A rollup table: ``key`` columns, ``summed`` columns, and what source rows contribute to it."""

    table: Table
    key: tuple[str, ...]
    summed: tuple[str, ...]
    contributions: Contributions

    def add(self, conn: Connection, rows: Select[tuple[Any, ...]]) -> None:
        """Add ``rows`` (key, then summed values) to the table: a new key is inserted, a known one summed into."""
        backends.of(conn).insert_adding(conn, self.table, self.key, self.summed, rows)

    def rebuild(self, conn: Connection) -> None:
        """Every row again from the source rows, inside the caller's transaction (after a bulk import that
        went around the writers)."""
        conn.execute(delete(self.table))
        self.add(conn, self.contributions(None, 1))


class Move:
    """One write of source rows: `take` before it, `give` after it (same ``ids``, same transaction); or
    ``with Move(conn, ids):`` around the write. Subclasses name their `rollup`."""

    rollup: ClassVar[Rollup]

    def __init__(self, conn: Connection, ids: Select[tuple[int]]) -> None:
        self.conn, self.ids = conn, ids
        columns = [self.rollup.table.c[name] for name in (*self.rollup.key, *self.rollup.summed)]
        self.stage = dialect.temp_table(f"stage_{self.rollup.table.name}", *(Column(c.name, c.type) for c in columns))

    def take(self) -> None:
        dialect.recreate_temp(self.conn, self.stage)  # several writes of one transaction may each move the rollup
        self._stage(-1)

    def give(self) -> None:
        self._stage(1)
        s, rollup = self.stage.c, self.rollup
        keys = [s[name] for name in rollup.key]
        sums = [func.coalesce(func.sum(s[name]), 0) for name in rollup.summed]
        moved = (
            select(*keys, *sums)
            .group_by(*keys)
            .having(or_(*(total != 0 for total in sums)))
            .order_by(*keys)
        )
        rollup.add(self.conn, moved)
        dialect.drop_temp(self.conn, self.stage)

    def _stage(self, sign: int) -> None:
        names = [c.name for c in self.stage.columns]
        self.conn.execute(insert(self.stage).from_select(names, self.rollup.contributions(self.ids, sign)))

    def __enter__(self) -> Move:
        self.take()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        # On an error the caller's transaction rolls back, the stage with it (or at the session's end).
        if kind is None:
            self.give()
