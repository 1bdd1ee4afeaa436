"""Migration 0021: ``write_actions.consent_evidence`` and ``cooloff_override``, existing rows and their chain carried forward, on three backends."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from harness.chain import verify_url as _verify
from harness.sql import run_sql

from etl.db.engine import make_engine
from etl.db.migrate import downgrade, upgrade
from etl.db.schema import Base

_sql = run_sql



def _write_action_differences(url: str) -> list[Any]:
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            found = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    return [d for d in found if "write_actions" in repr(d)]


def test_existing_removals_are_carried_forward_without_evidence_and_the_chain_stays_intact(db_url: str) -> None:
    upgrade(db_url, "0017")
    for i, action in enumerate(("stop_add", "stop_remove"), start=1):
        _sql(db_url, "INSERT INTO write_actions (id, action, target, actor, reason, requested_at, completed_at, outcome, "
                     "api_stop_id) VALUES (:i, :a, '+33612345678', 'alice', 'asked', '2026-12-01 09:00:00', "
                     "'2026-12-01 09:00:01', 'success', 7)", i=i, a=action)
    upgrade(db_url, "0018")  # seals both rows into the chain

    upgrade(db_url)

    assert _sql(db_url, "SELECT id, action, actor, reason, consent_evidence, cooloff_override FROM write_actions ORDER BY id") == [
        (1, "stop_add", "alice", "asked", None, False), (2, "stop_remove", "alice", "asked", None, False),
    ]
    assert _write_action_differences(db_url) == []
    report = _verify(db_url)
    assert report.intact and report.rows_checked == 2, report.findings

    _sql(db_url, "UPDATE write_actions SET reason = 'edited' WHERE id = 2")
    assert [f.kind for f in _verify(db_url).findings] == ["row_edited"]

    downgrade(db_url, "0018")
    assert _sql(db_url, "SELECT id, reason FROM write_actions ORDER BY id") == [(1, "asked"), (2, "edited")]
