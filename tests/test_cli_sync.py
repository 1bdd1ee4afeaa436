"""`sync --once` end to end: its exit status and the line per job (click, simulator, three backends)."""

from __future__ import annotations

from sqlalchemy import text

from etl.db.engine import make_engine


def test_a_partial_sync_exits_0_and_says_partial(invoke, migrated_db_url, simulator):
    sim = simulator.sim
    for phone in ("+33611111111", "+33612222222", "+33613333333"):
        sim.add_stop(phone)
    sim.faults.inject("stop-sms/list", "malformed_item", index=1)

    result = invoke("sync", "stops", "--once")

    assert result.exit_code == 0, result.output
    assert "stops: partial run #1 (added 2, changed 0, removed 0)" in result.output
    engine = make_engine(migrated_db_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT outcome, detail FROM sync_runs")).one()[0] == "partial"
            assert conn.execute(text("SELECT COUNT(*) FROM rejected_items")).scalar() == 1
    finally:
        engine.dispose()


def test_a_sync_the_guard_refuses_exits_3_and_force_applies_it(invoke, simulator):
    sim = simulator.sim
    stops = [sim.add_stop(f"+3361234560{n}") for n in range(3)]
    assert invoke("sync", "stops", "--once").exit_code == 0
    for stop_id in stops:
        sim.remove_stop(stop_id)

    refused = invoke("sync", "stops", "--once")
    forced = invoke("sync", "stops", "--once", "--force")

    assert refused.exit_code == 3 and "stops: refused run #2" in refused.output, refused.output
    assert forced.exit_code == 0 and "stops: success run #3 (added 0, changed 0, removed 3)" in forced.output, forced.output
