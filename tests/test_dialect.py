"""Dialect helpers whose effect is a database setting, checked on the backend that has it."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from etl.db import dialect
from etl.db.engine import make_engine


@pytest.mark.backends("postgresql")
def test_without_hash_joins_rules_them_out_inside_the_block_and_puts_the_settings_back(db_url):
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL jit = on"))
            with dialect.without_hash_joins(conn):
                inside = conn.execute(text("SELECT current_setting('enable_hashjoin'), current_setting('jit')")).one()
            after = conn.execute(text("SELECT current_setting('enable_hashjoin'), current_setting('jit')")).one()
    finally:
        engine.dispose()
    assert tuple(inside) == ("off", "off")
    assert tuple(after) == ("on", "on")
