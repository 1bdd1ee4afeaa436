"""Alembic environment: the URL comes from the caller (etl.db.migrate), never from alembic.ini.

Migrations hold the database-wide migration lock (`etl.locking.migration_lock`: a transaction advisory
lock on PostgreSQL, taken before Alembic is configured, so that Alembic joins that transaction and the commit
below ends both; GET_LOCK on MariaDB) so that two instances starting at once cannot migrate concurrently
(warehouse/migrations/env.py does the same). What a backend needs around a migration (SQLite: foreign
keys off for batch rebuilds, checked in full before the commit) is its own (`etl.db.backends`).
"""

from alembic import context

from etl.db import backends
from etl.db.engine import make_engine
from etl.db.schema import Base
from etl.locking import migration_lock

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"), pool=False)
    with engine.connect() as connection:
        backend = backends.of(connection)
        with migration_lock(connection):
            backend.before_migrations(connection)
            context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=backend.alter_in_batches)
            with context.begin_transaction():
                context.run_migrations()
                backend.check_after_migrations(connection)
            connection.commit()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
