"""Dialect helpers whose effect is a database setting, checked on each backend."""

from __future__ import annotations

from sqlalchemy import text

from etl.db import dialect
from etl.db.engine import make_engine


def test_without_hash_joins_rules_them_out_inside_the_block_and_puts_the_settings_back(db_url):
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            postgres = conn.dialect.name == "postgresql"
            if postgres:
                conn.execute(text("SET LOCAL jit = on"))
            with dialect.without_hash_joins(conn):
                inside = conn.execute(text("SHOW enable_hashjoin")).scalar_one() if postgres else None
                jit_inside = conn.execute(text("SHOW jit")).scalar_one() if postgres else None
                assert conn.execute(text("SELECT 1")).scalar_one() == 1
            after = conn.execute(text("SHOW enable_hashjoin")).scalar_one() if postgres else None
            jit_after = conn.execute(text("SHOW jit")).scalar_one() if postgres else None
    finally:
        engine.dispose()
    if postgres:
        assert (inside, jit_inside) == ("off", "off")
        assert (after, jit_after) == ("on", "on")
