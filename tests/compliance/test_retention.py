"""The retention job on the simulated clock: old reply texts and callback bodies purged, opt-outs past 3 years hashed."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select

from etl.config_compliance import ComplianceConfig
from etl.db.engine import make_engine
from etl.db.schema import optout_hashes, push_inbox, replies, stop_periods
from tests.harness import TEST_HASH_KEY
from tests.jobs.helpers import make_client, make_config, run

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=timezone.utc)


def _seed(engine):  # noqa: ANN001, ANN202
    old, recent = NOW - timedelta(days=200), NOW - timedelta(days=10)
    with engine.begin() as conn:
        for i, at in enumerate((old, recent)):
            inbox_id = conn.execute(insert(push_inbox).values(
                channel="stop", kind="reply", content_hash=f"h{i}", received_at=at, body='{"text":"merci"}',
                state="applied", attempts=1)).inserted_primary_key[0]
            conn.execute(insert(replies).values(inbox_id=inbox_id, kind="response", phone_raw="0612345678",
                                                text="merci", received_at=at))
        conn.execute(insert(stop_periods), [
            dict(api_stop_id=1, phone_e164="+33611111111", phone_raw="0611111111", first_seen_at=NOW - timedelta(days=2000),
                 removed_at=NOW - timedelta(days=1100), removed_how="api_missing", source="sync"),
            dict(api_stop_id=2, phone_e164="+33622222222", phone_raw="0622222222", first_seen_at=NOW - timedelta(days=2000),
                 removed_at=NOW - timedelta(days=900), removed_how="api_missing", source="sync"),
            dict(api_stop_id=3, phone_e164="+33633333333", phone_raw="0633333333", first_seen_at=NOW - timedelta(days=2000),
                 removed_at=None, removed_how=None, source="sync"),
        ])


def test_retention_purges_old_texts_and_hashes_only_closed_optouts_past_three_years(migrated_db_url, monkeypatch):
    monkeypatch.setenv("SMSPARTNER_ETL_HASH_KEY", TEST_HASH_KEY)
    engine = make_engine(migrated_db_url, pool=False)
    _seed(engine)
    config = dataclasses.replace(make_config(migrated_db_url, "http://127.0.0.1:9"), compliance=ComplianceConfig(batch_size=1))
    report = run("retention", engine, config, client=make_client("http://127.0.0.1:9"), now=lambda: NOW)
    assert report.outcome.value == "success", report
    with engine.connect() as conn:
        texts = conn.execute(select(replies.c.text, replies.c.text_purged_at.is_not(None)).order_by(replies.c.id)).all()
        bodies = conn.execute(select(push_inbox.c.body).order_by(push_inbox.c.id)).scalars().all()
        left = conn.execute(select(stop_periods.c.phone_e164).order_by(stop_periods.c.id)).scalars().all()
        hashed = conn.execute(select(optout_hashes.c.phone_hash, optout_hashes.c.stop_period_id)).all()
    engine.dispose()
    assert [tuple(t) for t in texts] == [(None, True), ("merci", False)]
    assert bodies == ["", '{"text":"merci"}']
    assert left == ["+33622222222", "+33633333333"]  # closed 900 days ago, and open: both readable
    expected = hmac.new(TEST_HASH_KEY.encode(), b"+33611111111", hashlib.sha256).hexdigest()
    assert [h for h, _ in hashed] == [expected]


@pytest.mark.backends("sqlite")
def test_without_a_key_old_optouts_stay_readable_and_the_run_says_so(migrated_db_url, monkeypatch):
    monkeypatch.delenv("SMSPARTNER_ETL_HASH_KEY", raising=False)
    engine = make_engine(migrated_db_url, pool=False)
    _seed(engine)
    report = run("retention", engine, make_config(migrated_db_url, "http://127.0.0.1:9"), client=make_client("http://127.0.0.1:9"), now=lambda: NOW)
    with engine.connect() as conn:
        assert len(conn.execute(select(stop_periods.c.id)).all()) == 3
    engine.dispose()
    assert report.result is not None and "no hash key" in str(report.result.detail)


def test_retention_in_small_batches_reaches_every_old_row_past_recent_ones_between_them(migrated_db_url, monkeypatch):
    # Old and recent callbacks (and closed opt-outs) interleaved by id, two a batch: each batch continues
    # after the last id it handled, so a recent row between old ones neither stops the walk nor is touched.
    monkeypatch.setenv("SMSPARTNER_ETL_HASH_KEY", TEST_HASH_KEY)
    engine = make_engine(migrated_db_url, pool=False)
    ages = [200, 10, 200, 200, 10, 200, 200, 10]
    closed = [1100, 900, 1100, None, 1100, 1100, 900]  # days since the period closed (None: open)
    with engine.begin() as conn:
        conn.execute(insert(stop_periods), [
            dict(api_stop_id=i, phone_e164=f"+3361111111{i}", phone_raw="x", first_seen_at=NOW - timedelta(days=2000),
                 removed_at=None if days is None else NOW - timedelta(days=days), removed_how=None if days is None else "api_missing",
                 source="sync") for i, days in enumerate(closed)])
        for i, days in enumerate(ages):
            at = NOW - timedelta(days=days)
            inbox_id = conn.execute(insert(push_inbox).values(
                channel="stop", kind="reply", content_hash=f"b{i}", received_at=at, body='{"text":"ok"}',
                state="applied", attempts=1)).inserted_primary_key[0]
            conn.execute(insert(replies).values(inbox_id=inbox_id, kind="response", phone_raw="0612345678", text="ok", received_at=at))
    config = dataclasses.replace(make_config(migrated_db_url, "http://127.0.0.1:9"), compliance=ComplianceConfig(batch_size=2))
    report = run("retention", engine, config, client=make_client("http://127.0.0.1:9"), now=lambda: NOW)
    assert report.outcome.value == "success", report
    with engine.connect() as conn:
        texts = conn.execute(select(replies.c.text).order_by(replies.c.id)).scalars().all()
        bodies = conn.execute(select(push_inbox.c.body).order_by(push_inbox.c.id)).scalars().all()
        left = conn.execute(select(stop_periods.c.api_stop_id).order_by(stop_periods.c.id)).scalars().all()
    engine.dispose()
    assert texts == [None if days == 200 else "ok" for days in ages]
    assert bodies == ["" if days == 200 else '{"text":"ok"}' for days in ages]
    assert left == [i for i, days in enumerate(closed) if days != 1100]
    assert report.result is not None and "reply_texts=5 callback_bodies=5 optouts_hashed=4" in str(report.result.detail)
