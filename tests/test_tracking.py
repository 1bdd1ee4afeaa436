"""Intake: CSV (per-line errors, nothing half-imported), the Python function, the intake table, re-imports."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from etl.config import StatusesConfig
from etl.db.engine import make_engine
from etl.errors import InputError
from etl.tracking import TrackedSend, drain_intake, read_csv, track

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)
CFG = StatusesConfig()

GOOD = """message_id,phone,sent_at,tag,cost,currency
300001,0612345678,2026-01-05T09:00:00+01:00,promo,0.09,EUR
300001,+33 6 12 34 56 79,,,,
300002,+32470123456,2026-01-05T10:00:00+01:00,,,
"""


@pytest.fixture
def engine(migrated_db_url):
    engine = make_engine(migrated_db_url)
    yield engine
    engine.dispose()


def count(engine, table):
    with engine.connect() as conn:
        n = conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
        conn.rollback()
    return n


def test_read_csv_groups_lines_by_message_id():
    items = read_csv(io.StringIO(GOOD))
    assert [(i.message_id, list(i.phones), i.tag) for i in items] == [
        ("300001", ["0612345678", "+33 6 12 34 56 79"], "promo"),
        ("300002", ["+32470123456"], None),
    ]
    assert items[0].sent_at == datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)


def test_read_csv_lists_every_bad_line_and_returns_nothing():
    bad = GOOD + "300003,not-a-number,,,,\n,0612345678,,,,\n300004,0612345678,yesterday,,,\n300005,0612345678,,,,usd1\n"
    with pytest.raises(InputError) as caught:
        read_csv(io.StringIO(bad), source_name="sends.csv")
    message = str(caught.value)
    assert "4 bad line(s), nothing imported" in message
    for line, what in [(5, "phone"), (6, "message_id"), (7, "sent_at"), (8, "currency")]:
        assert f"sends.csv:{line}: {what}" in message


def test_read_csv_refuses_a_header_without_the_required_columns():
    with pytest.raises(InputError, match="missing phone"):
        read_csv(io.StringIO("message_id,number\n1,0612345678\n"))


def test_track_then_reimport_is_harmless(engine):
    items = read_csv(io.StringIO(GOOD))
    first = track(engine, items, now=NOW, config=CFG, source="csv")
    again = track(engine, items, now=NOW, config=CFG, source="csv")
    assert (first.sends_added, first.recipients_added) == (2, 3)
    assert (again.sends_added, again.recipients_added) == (0, 0)
    assert count(engine, "sends") == 2 and count(engine, "recipients") == 3
    with engine.connect() as conn:
        phones = conn.execute(text("SELECT phone_e164 FROM recipients ORDER BY phone_e164")).scalars().all()
    assert phones == ["+32470123456", "+33612345678", "+33612345679"]


def test_track_with_an_invalid_number_writes_nothing(engine):
    with pytest.raises(InputError):
        track(engine, [TrackedSend("1", ["0612345678", "12"])], now=NOW, config=CFG)
    assert count(engine, "sends") == 0


def test_intake_table_rows_are_imported_and_bad_rows_flagged(engine):
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO track_intake (message_id, phone, tag, sent_at) VALUES "
                "('300010', '+33612345678', 'promo', '2026-01-05T09:00:00+01:00'), "
                "('300010', '0612345679', NULL, NULL), "
                "('300011', 'garbage', NULL, NULL)"
            )
        )
    with engine.begin() as conn:
        report = drain_intake(conn, now=NOW, config=CFG)
    assert (report.recipients_added, report.refused) == (2, 1)
    with engine.begin() as conn:
        again = drain_intake(conn, now=NOW, config=CFG)
    assert again.recipients_seen == 0
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT phone, processed_at IS NOT NULL, error FROM track_intake ORDER BY id")).all()
    assert [(p, bool(done)) for p, done, _ in rows] == [("+33612345678", True), ("0612345679", True), ("garbage", True)]
    assert rows[0][2] is None and rows[2][2] is not None
    assert count(engine, "recipients") == 2


def test_cli_track_csv_reports_bad_lines_with_exit_65(engine, tmp_path, monkeypatch):
    from etl.cli import cli

    url = str(engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("SMSPARTNER_ETL__DATABASE__URL", url)
    monkeypatch.setenv("SMSPARTNER_API_KEY", "unused-by-track")
    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    bad = tmp_path / "bad.csv"
    bad.write_text(GOOD + "300003,not-a-number,,,,\n")
    runner = CliRunner()
    result = runner.invoke(cli, ["track", str(bad)])
    assert result.exit_code == 65 and "bad.csv:5: phone" in result.output
    assert count(engine, "recipients") == 0
    result = runner.invoke(cli, ["track", str(good)])
    assert result.exit_code == 0, result.output
    assert "3 new recipient(s)" in result.output
    result = runner.invoke(cli, ["track", "--message-id", "300099", "--tag", "promo"])
    assert result.exit_code == 0, result.output
    assert count(engine, "tracked_tags") == 1 and count(engine, "sends") == 3


def test_a_message_id_tracked_late_is_polled_48_h_from_its_send_not_from_when_it_was_tracked(engine, simulator, api_key):
    """Issue 16: a send tracked by id 40 h after it left was polled for 48 more hours (until 88 h)."""
    from datetime import timedelta

    from sqlalchemy import select

    from etl.cli import cli
    from etl.db.schema import recipients, sends

    sim = simulator.sim
    phone = "+33612345678"
    mid = sim.send([phone])
    sent = sim.clock.now()
    sim.plan(mid, phone, [(timedelta(seconds=20), "Waiting")])  # never final: polled to the end of its window
    sim.clock.advance(timedelta(hours=40))
    env = {
        "SMSPARTNER_ETL__DATABASE__URL": engine.url.render_as_string(hide_password=False),
        "SMSPARTNER_ETL__API__BASE_URL": simulator.base_url,
        "SMSPARTNER_ETL__API__CLOCK": "simulator",
        "SMSPARTNER_ETL__API__MAX_ATTEMPTS": "1",
        "SMSPARTNER_API_KEY": api_key,
    }
    runner = CliRunner()
    tracked = runner.invoke(cli, ["track", "--message-id", str(mid)], env=env, catch_exceptions=False)
    assert tracked.exit_code == 0, tracked.output
    synced = runner.invoke(cli, ["sync", "statuses"], env=env, catch_exceptions=False)
    assert synced.exit_code == 0, synced.output

    with engine.connect() as conn:
        started, until = conn.execute(
            select(sends.c.started_at, recipients.c.poll_until).join(recipients, recipients.c.send_id == sends.c.id)
        ).one()
        conn.rollback()
    window = timedelta(seconds=CFG.window)
    assert abs(started - sent) <= timedelta(minutes=1)
    assert abs(until - (sent + window)) <= timedelta(minutes=1), f"polled until {until}, sent {sent}"
