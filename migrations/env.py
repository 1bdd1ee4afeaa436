"""Alembic environment: the URL comes from the caller (etl.db.migrate), never from alembic.ini.

Migrations hold a database-wide lock (PostgreSQL advisory lock, MariaDB GET_LOCK) so that two
instances starting at once cannot migrate concurrently (warehouse/migrations/env.py does the same).
"""

from alembic import context
from sqlalchemy import text

from etl.db.engine import make_engine
from etl.db.schema import Base

MIGRATION_LOCK = 0x534D5350  # "SMSP"

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"), pool=False)
    with engine.connect() as connection:
        backend = connection.dialect.name
        if backend == "postgresql":
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
        elif backend in ("mysql", "mariadb"):
            connection.execute(text("SELECT GET_LOCK('smspartner_etl_migrate', 300)"))
        connection.commit()
        if backend == "sqlite":
            # Batch mode rebuilds a table by copy, drop and rename; with foreign keys on, dropping a table
            # that others refer to fails (alembic, "Dealing with Referencing Tables"). Off on the raw
            # connection, outside any transaction (SQLite ignores the pragma inside one, and our engine
            # emits BEGIN on every SQLAlchemy statement), then checked in full before the commit.
            dbapi = connection.connection.dbapi_connection
            assert dbapi is not None
            dbapi.execute("PRAGMA foreign_keys=OFF")
        try:
            context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=backend == "sqlite")
            with context.begin_transaction():
                context.run_migrations()
                if backend == "sqlite":
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration left {len(broken)} rows whose foreign key has no parent: {broken[:5]}")
            connection.commit()
        finally:
            if backend == "postgresql":
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
            elif backend in ("mysql", "mariadb"):
                connection.execute(text("SELECT RELEASE_LOCK('smspartner_etl_migrate')"))
            connection.commit()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
