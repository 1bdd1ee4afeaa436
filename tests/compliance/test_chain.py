"""The audit chain: each audited write appends linked entries, and tampering in SQL is detected, on three backends."""

from __future__ import annotations

import multiprocessing
from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from etl.compliance import chain
from etl.compliance.verify import verify
from etl.db.engine import make_engine, writer
from etl.jobs import actions
from tests.jobs.helpers import sim_clock

NUMBER = "+33612345678"
OTHER = "+33612345679"


def sql(engine, statement, **params):
    with engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return [tuple(r) for r in result] if result.returns_rows else []


def findings(engine):
    with engine.connect() as conn:
        report = verify(conn)
        conn.rollback()
    return report


def history(env):
    """A stop added and removed, another added, a cancel: every kind of entry the actions write."""
    engine, sim, _config, client = env
    kw = {"now": sim_clock(sim), "actor": "alice", "reason": "customer asked"}
    actions.add_stop(client, engine, NUMBER, **kw)
    actions.remove_stop(client, engine, NUMBER, consent_evidence="signed form 2026-12-01", **kw)
    actions.add_stop(client, engine, OTHER, **kw)
    actions.cancel_message(client, engine, "does-not-exist", **kw)
    return engine


def test_every_write_appends_its_opening_completion_and_closure_and_the_chain_is_intact(env):
    engine = history(env)

    kinds = sql(engine, "SELECT kind, ref_table FROM audit_chain ORDER BY seq")
    assert kinds == [
        ("action_open", "write_actions"), ("action_complete", "write_actions"),
        ("action_open", "write_actions"), ("stop_closed_by_tool", "stop_periods"), ("action_complete", "write_actions"),
        ("action_open", "write_actions"), ("action_complete", "write_actions"),
        ("action_open", "write_actions"), ("action_complete", "write_actions"),
    ]
    report = findings(engine)
    assert report.intact, report.findings
    assert (report.entries, report.head_seq) == (9, 9)
    assert report.rows_checked == 5  # 4 write_actions rows and the closed period
    [(last,)] = sql(engine, "SELECT entry_hash FROM audit_chain WHERE seq = 9")
    assert report.head_hash == last


TAMPERING = [
    ("UPDATE write_actions SET reason = 'nobody asked' WHERE id = 1", "row_edited"),
    ("UPDATE stop_periods SET removed_at = NULL WHERE removed_how = 'tool'", "row_edited"),
    ("DELETE FROM write_actions WHERE id = 4", "row_deleted"),
    ("INSERT INTO write_actions (action, target, actor, requested_at, outcome) "
     "VALUES ('stop_remove', '+33600000000', 'mallory', '2026-12-01 10:00:00', 'success')", "row_unrecorded"),
    ("UPDATE audit_chain SET entry_hash = '" + "a" * 64 + "' WHERE seq = 3", "entry_edited"),
    ("UPDATE audit_chain SET body = REPLACE(body, 'alice', 'bob') WHERE seq = 1", "entry_edited"),
    ("DELETE FROM audit_chain WHERE seq = 5", "entry_missing"),
    ("DELETE FROM audit_chain WHERE seq = 9", "entry_missing"),
]


@pytest.mark.parametrize(("statement", "kind"), TAMPERING, ids=[
    "reason-updated", "closure-undone", "row-deleted", "row-inserted", "hash-edited", "body-edited",
    "entry-deleted", "last-entry-deleted",
])
def test_tampering_in_sql_is_reported(env, statement, kind):
    engine = history(env)
    sql(engine, statement)

    report = findings(engine)

    assert kind in {f.kind for f in report.findings}, report.findings


def test_two_swapped_seqs_are_reported_as_edited_and_out_of_order(env):
    engine = history(env)
    for a, b in ((2, -1), (3, 2), (-1, 3)):  # one at a time: the key is checked per row
        sql(engine, "UPDATE audit_chain SET seq = :b WHERE seq = :a", a=a, b=b)

    kinds = {f.kind for f in findings(engine).findings}

    assert {"entry_edited", "link_broken"} <= kinds


def test_a_row_inserted_with_its_entry_forged_before_older_rows_is_out_of_order(env):
    engine = history(env)
    with writer(engine).begin() as conn:
        conn.execute(text("INSERT INTO write_actions (id, action, target, actor, requested_at, outcome) "
                          "VALUES (100, 'stop_remove', '+33600000000', 'mallory', '2026-12-01 10:00:00', 'success')"))
        from etl.db.schema import write_actions

        chain.append_row(conn, "action_open", write_actions, 100, at=datetime.now(timezone.utc))
        conn.execute(text("INSERT INTO write_actions (id, action, target, actor, requested_at, outcome) "
                          "VALUES (50, 'stop_remove', '+33600000001', 'mallory', '2026-12-01 10:00:00', 'success')"))
        chain.append_row(conn, "action_open", write_actions, 50, at=datetime.now(timezone.utc))

    assert [f.kind for f in findings(engine).findings] == ["row_out_of_order"]


def _append_many(url: str, who: str, count: int) -> None:
    engine = make_engine(url, pool=False)
    try:
        for i in range(count):
            with writer(engine).begin() as conn:
                chain.append(conn, "test", 1, "write_actions_test", f"{who}-{i}", {"who": who, "i": i}, at=datetime.now(timezone.utc))
    finally:
        engine.dispose()


def test_concurrent_appends_from_two_processes_keep_one_chain(migrated_db_url):
    spawn = multiprocessing.get_context("spawn")
    workers = [spawn.Process(target=_append_many, args=(migrated_db_url, who, 40)) for who in ("a", "b")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0, 0]

    engine = make_engine(migrated_db_url, pool=False)
    try:
        assert sql(engine, "SELECT COUNT(*), MIN(seq), MAX(seq) FROM audit_chain") == [(80, 1, 80)]
        with engine.connect() as conn:
            report = verify(conn)
        assert {f.kind for f in report.findings} <= {"row_deleted"}, report.findings  # the fake table
        assert report.head_seq == 80
    finally:
        engine.dispose()
