"""The declarative base all models share, and its naming convention (same constraint names on every backend)."""

from __future__ import annotations

from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase

# Same constraint names on every backend (sqlalchemy doc/build/core/constraints.rst).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table_of(model: type[Base]) -> Table:
    """A model's `Table`, typed as one: the jobs use the tables with Core (bulk loads, DDL), and the
    declarative ``__table__`` is typed as the wider ``FromClause``, which those refuse."""
    table = model.__table__
    assert isinstance(table, Table)
    return table
