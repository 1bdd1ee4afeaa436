"""Run the Alembic migrations programmatically (``smspartner-etl db upgrade``, tests, demo)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from etl.db.engine import make_engine, normalize_url

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on a '%' in a password.
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def revision_module(filename: str) -> ModuleType:
    """A revision file of ``migrations/versions`` as a module (its frozen view texts, index lists), loaded by
    path: a module name cannot start with a digit."""
    spec = importlib.util.spec_from_file_location(f"_migration_{filename[:4]}", MIGRATIONS_DIR / "versions" / filename)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the database at ``url`` to ``revision`` (default: every head)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def current_heads() -> set[str]:
    """Revisions the code expects."""
    return set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def database_revisions(engine: Engine) -> set[str]:
    """Revisions the database is at (empty when never migrated)."""
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def is_up_to_date(url: str) -> bool:
    engine = make_engine(url, pool=False)
    try:
        return database_revisions(engine) == current_heads()
    finally:
        engine.dispose()
