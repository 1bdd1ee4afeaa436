"""Column types shared by every table: UTC timestamps, money, ids that fit all three backends."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

#: Surrogate keys: BIGINT on PostgreSQL/MariaDB, INTEGER on SQLite (its only autoincrement type).
Id = BigInteger().with_variant(Integer(), "sqlite")

#: Money: exact, 8 decimals and 12 integer digits (the API quotes unit costs like 0.045 and 0.0451237, totals
#: like 10225.119). An amount with more decimals is refused on read (`etl.api.parse`), never rounded (migration 0008).
MONEY_SCALE = 8
Money = Numeric(20, MONEY_SCALE)

#: ISO 4217 currency code.
Currency = String(3)

#: E.164 numbers are at most 15 digits plus "+".
Phone = String(16)


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns aware UTC datetimes (warehouse's ``TZDateTime`` idea).

    PostgreSQL gets ``timestamptz`` (so BI tools show the right zone); SQLite and MariaDB store
    naive UTC with microseconds. A naive datetime handed to the database is a bug, so it is refused.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        # The dialect modules are imported here, when their database is in use: at module level
        # every process pays their import, SQLite's included (docs/benchmarks.md, "Design figures elsewhere in etl/", D2).
        if dialect.name == "postgresql":
            from sqlalchemy.dialects import postgresql

            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects import mysql

            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to a UTC column")
        value = value.astimezone(timezone.utc)
        if dialect.name == "postgresql":
            return value
        return value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value  # str: SQLite rows written by raw INSERT ... SELECT
        if moment.tzinfo is None:
            return moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc)
