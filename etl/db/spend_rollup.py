"""``spend_days``: the recipients' spend per account, day, country and currency, kept exact by its writers.

Why a rollup: ``spend_daily`` aggregated every recipient of the day it was asked for, 0.9-1.75 s for one day on
large data (issue 20); the rollup row is one key seek (docs/benchmarks.md, "spend_by_day").

Exact, not eventually: every statement that changes a recipient's ``cost``, ``currency`` or ``country`` runs
between `take` and `give` of the same recipients, inside the same transaction. `take` stages minus what those
recipients count for now, `give` plus what they count for after the write, and one ``INSERT … SELECT`` adds the
difference per key (upsert with addition), so a late cost (NULL to a value), a corrected one and a currency or
country that changes all move the right rows; a recipient with no cost counts nowhere. The merge touches the
keys in key order, so two writers that both move money between the same keys never wait on each other in a
cycle. Recipients are never deleted and their ``sent_day`` never changes after insert (`etl.tracking`).

`rebuild` recomputes every row from the recipients (after a bulk import that went around the jobs).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ColumnElement, Connection, Date, Select, String, delete, func, insert, literal_column, select

from etl.db import backends, dialect
from etl.db.schema import recipients, spend_days
from etl.db.types import Money

__all__ = ["SpendMove", "rebuild"]

KEY = ("account_id", "sent_day", "country", "currency")


def _contributions(ids: Select[tuple[int]] | None, sign: int) -> Select[tuple[object, ...]]:
    """What the recipients (``ids``; all when None) count for per key now, times ``sign``."""
    r = recipients.c
    # Literal text, not bound values: PostgreSQL matches the GROUP BY to the SELECT list by expression.
    none: ColumnElement[str] = literal_column("''")
    times: ColumnElement[int] = literal_column(str(int(sign)))
    key = (r.account_id, r.sent_day, func.coalesce(r.country, none), func.coalesce(r.currency, none))
    query = select(*key, times * func.count(), times * func.sum(r.cost)).where(r.cost.is_not(None))
    if ids is not None:
        query = query.where(r.id.in_(ids))
    return query.group_by(*key)


class SpendMove:
    """One write of recipients' costs: ``take`` before it, ``give`` after it (same ``ids``, same transaction)."""

    def __init__(self, conn: Connection, ids: Select[tuple[int]]) -> None:
        self.conn, self.ids = conn, ids
        self.stage = dialect.temp_table(
            "stage_spend",
            Column("account_id", BigInteger, nullable=False),
            Column("sent_day", Date, nullable=False),
            Column("country", String(2), nullable=False),
            Column("currency", String(3), nullable=False),
            Column("recipients", BigInteger, nullable=False),
            Column("spend", Money),
        )

    def take(self) -> None:
        dialect.create_temp(self.conn, self.stage)
        self.conn.execute(insert(self.stage).from_select([c.name for c in self.stage.columns], _contributions(self.ids, -1)))

    def give(self) -> None:
        stage = self.stage
        self.conn.execute(insert(stage).from_select([c.name for c in stage.columns], _contributions(self.ids, 1)))
        s = stage.c
        moved = (
            select(s.account_id, s.sent_day, s.country, s.currency, func.sum(s.recipients), func.coalesce(func.sum(s.spend), 0))
            .group_by(s.account_id, s.sent_day, s.country, s.currency)
            .having(func.count() > 0)
            .order_by(s.account_id, s.sent_day, s.country, s.currency)
        )
        _add(self.conn, moved)
        dialect.drop_temp(self.conn, stage)


def _add(conn: Connection, rows: Select[tuple[object, ...]]) -> None:
    """Add ``rows`` (key, recipients, spend) to ``spend_days``: a new key is inserted, a known one summed into."""
    backends.of(conn).insert_adding(conn, spend_days, KEY, ("recipients", "spend"), rows)


def rebuild(conn: Connection) -> None:
    """Every row again from the recipients, inside the caller's transaction."""
    conn.execute(delete(spend_days))
    _add(conn, _contributions(None, 1))
