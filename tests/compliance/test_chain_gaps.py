"""Filter runs, the retention job's reduction of old opt-outs and breach acknowledgements in the audit chain:
recorded, cross-checked by verify-audit, and tampering in SQL reported, on three backends."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

import pytest

from etl.compliance import breaches
from etl.config_compliance import ComplianceConfig
from etl.db.engine import make_engine, writer
from etl.jobs import actions
from tests.audience.conftest import seed
from tests.compliance.scenario import play
from tests.compliance.test_chain import findings, sql
from tests.compliance.test_filter_runs import STOPPED, run_filter
from tests.harness import TEST_HASH_KEY
from tests.jobs.helpers import run, sim_clock

NUMBER = "+33612345678"


def kinds(engine):
    report = findings(engine)
    return report, {f.kind for f in report.findings}


# --------------------------------------------------------------------------------------------------
# filter runs
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def filtered(migrated_db_url, tmp_path):
    """Two filter-audience runs recorded, with blocks (the hash key is set)."""
    seed(migrated_db_url, STOPPED, synced_at=datetime.now(timezone.utc) - timedelta(minutes=5))
    for _ in range(2):
        result = run_filter(migrated_db_url, tmp_path, "--actor", "anna", env={"SMSPARTNER_ETL_HASH_KEY": TEST_HASH_KEY})
        assert result.exit_code == 0, result.output
    engine = make_engine(migrated_db_url, pool=False)
    yield engine
    engine.dispose()


def test_a_filter_run_appends_its_opening_and_completion_and_verifies(filtered):
    assert sql(filtered, "SELECT kind, ref_table, ref_id FROM audit_chain ORDER BY seq") == [
        ("filter_run_start", "filter_runs", "1"), ("filter_run_complete", "filter_runs", "1"),
        ("filter_run_start", "filter_runs", "2"), ("filter_run_complete", "filter_runs", "2"),
    ]
    [(body,)] = sql(filtered, "SELECT body FROM audit_chain WHERE seq = 2")
    assert (json.loads(body)["outcome"], json.loads(body)["actor"]) == ("success", "anna")
    report, found = kinds(filtered)
    assert report.intact and report.rows_checked == 2, report.findings


FILTER_TAMPERING = [
    ("UPDATE filter_runs SET allowed = allowed + 1 WHERE id = 1", "row_edited"),
    ("UPDATE filter_runs SET allow_stale = TRUE WHERE id = 2", "row_edited"),
    ("INSERT INTO filter_runs (started_at, outcome, actor, input_name, allow_stale, accounts, blocks_recorded) "
     "VALUES ('2026-12-01 10:00:00', 'success', 'mallory', 'other.csv', FALSE, 'main', 0)", "row_unrecorded"),
]


@pytest.mark.parametrize(("statement", "kind"), FILTER_TAMPERING, ids=["counts-edited", "stale-flag-set", "run-inserted"])
def test_a_filter_run_tampered_with_in_sql_is_reported(filtered, statement, kind):
    sql(filtered, statement)
    assert kind in kinds(filtered)[1]


def test_a_filter_run_deleted_in_sql_is_reported(filtered):
    sql(filtered, "DELETE FROM filter_run_blocks WHERE run_id = 1")
    sql(filtered, "DELETE FROM filter_runs WHERE id = 1")
    assert "row_deleted" in kinds(filtered)[1]


# --------------------------------------------------------------------------------------------------
# retention
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def retained(env, monkeypatch):
    """A stop added then removed by the tool (a chained closure), then reduced to a hash 1100 days later."""
    monkeypatch.setenv("SMSPARTNER_ETL_HASH_KEY", TEST_HASH_KEY)
    engine, sim, config, client = env
    kw = {"now": sim_clock(sim), "actor": "alice", "reason": "asked"}
    actions.add_stop(client, engine, NUMBER, **kw)
    actions.remove_stop(client, engine, NUMBER, consent_evidence="form 4711", **kw)
    later = sim_clock(sim)() + timedelta(days=1100)
    config = dataclasses.replace(config, compliance=ComplianceConfig(batch_size=1))
    report = run("retention", engine, config, client, now=lambda: later)
    assert report.outcome.value == "success", report
    assert sql(engine, "SELECT COUNT(*) FROM stop_periods") == [(0,)]
    return engine


def test_retention_reducing_a_tool_closed_stop_to_a_hash_is_chained_and_not_tampering(retained):
    [(kind, ref, body)] = sql(retained, "SELECT kind, ref_id, body FROM audit_chain WHERE kind = 'retention_hashed'")
    [(period_id,)] = sql(retained, "SELECT stop_period_id FROM optout_hashes")
    assert ref == f"{period_id}-{period_id}"
    assert json.loads(body) == {"stop_period_ids": str(period_id), "reduced": 1, "hash_key_id": json.loads(body)["hash_key_id"],
                                "to": "optout_hashes"}
    assert NUMBER not in body and NUMBER[1:] not in body
    report, _ = kinds(retained)
    assert report.intact, report.findings


def test_the_hashed_record_of_a_reduced_stop_deleted_in_sql_is_reported(retained):
    sql(retained, "DELETE FROM optout_hashes")
    report, found = kinds(retained)
    assert found == {"row_deleted"} and "optout_hashes of stop period" in report.findings[0].message


def test_a_reduced_stop_put_back_in_sql_is_reported(retained):
    [(period_id,)] = sql(retained, "SELECT stop_period_id FROM optout_hashes")
    sql(retained, "INSERT INTO stop_periods (id, api_stop_id, phone_e164, phone_raw, first_seen_at, source, removed_at, removed_how) "
                  "VALUES (:i, 1, :p, :p, '2026-01-01 00:00:00', 'tool', '2026-01-02 00:00:00', 'tool')", i=period_id, p=NUMBER)
    assert "row_unrecorded" in kinds(retained)[1]


# --------------------------------------------------------------------------------------------------
# breach acknowledgements
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def acknowledged(env):
    """Two breaches (the compliance scenario), the first acknowledged."""
    engine, sim, config, client = env
    play(engine, config, client, sim)
    [first, _second] = sql(engine, "SELECT id FROM breaches ORDER BY id")
    with writer(engine).begin() as conn:
        breaches.acknowledge(conn, first[0], actor="dpo", reason="campaign queued before the STOP", now=sim_clock(sim)())
    report, _ = kinds(engine)
    assert report.intact, report.findings
    return engine


BREACH_TAMPERING = [
    ("UPDATE breaches SET ack_note = 'nothing to see' WHERE acknowledged_at IS NOT NULL", "row_edited"),
    ("UPDATE breaches SET acknowledged_at = '2026-12-01 10:00:00', acknowledged_by = 'mallory', ack_note = 'fine' "
     "WHERE acknowledged_at IS NULL", "row_unrecorded"),
    ("DELETE FROM breaches WHERE acknowledged_at IS NOT NULL", "row_deleted"),
]


@pytest.mark.parametrize(("statement", "kind"), BREACH_TAMPERING, ids=["ack-note-edited", "ack-forged", "acked-breach-deleted"])
def test_a_breach_acknowledgement_tampered_with_in_sql_is_reported(acknowledged, statement, kind):
    sql(acknowledged, statement)
    assert kind in kinds(acknowledged)[1]
