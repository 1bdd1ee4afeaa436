"""Rows for the console's pages, with hostile text in every stored field a page shows."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from etl.db.schema import accounts, contact_groups, contacts, rejected_items, stop_periods, sync_runs, write_actions

XSS = "<script>alert('x')</script>"
NUMBER = "+33612345678"


def seed(engine: Engine, now: datetime, hostile: str = XSS) -> dict[str, int]:
    """Account 2 labelled with ``hostile``; a fresh and a stale job; a stop removed with a hostile reason; a
    quarantined item, a run detail, a contact group and an actor, all hostile. Returns the run ids."""
    with engine.begin() as conn:
        conn.execute(accounts.insert().values(id=2, label=hostile[:64], type="simple", token="tok-2", parent_id=1,
                                              first_seen_at=now))
        fresh = conn.execute(sync_runs.insert().values(job="stops", started_at=now - timedelta(minutes=5),
                                                       finished_at=now - timedelta(minutes=4), outcome="success",
                                                       account_id=1)).inserted_primary_key[0]
        stale = conn.execute(sync_runs.insert().values(job="rentals", started_at=now - timedelta(days=5),
                                                       finished_at=now - timedelta(days=5), outcome="success",
                                                       account_id=1)).inserted_primary_key[0]
        failed = conn.execute(sync_runs.insert().values(job="stops", started_at=now - timedelta(minutes=30),
                                                        finished_at=now - timedelta(minutes=29), outcome="failed",
                                                        detail=hostile, account_id=2)).inserted_primary_key[0]
        action = conn.execute(write_actions.insert().values(action="stop_remove", target=NUMBER, actor=hostile[:128],
                                                            reason=hostile, requested_at=now - timedelta(days=1),
                                                            outcome="success", account_id=1)).inserted_primary_key[0]
        conn.execute(stop_periods.insert().values(api_stop_id=7, phone_e164=NUMBER, phone_raw="0612345678",
                                                  first_seen_at=now - timedelta(days=9), removed_at=now - timedelta(days=1),
                                                  removed_how="tool", removed_by_action_id=action, source="sync", account_id=1))
        conn.execute(stop_periods.insert().values(api_stop_id=8, phone_e164=NUMBER, phone_raw="0612345678",
                                                  first_seen_at=now - timedelta(hours=2), source="push", account_id=2))
        conn.execute(rejected_items.insert().values(endpoint=hostile[:48], item_hash="0" * 64, item="{}", reason=hostile,
                                                    ref_kind="stop", ref=hostile[:64], first_seen_at=now, last_seen_at=now,
                                                    last_run_id=failed, account_id=2))
        conn.execute(contact_groups.insert().values(group_id=hostile[:64], name=hostile, followed=True, first_seen_at=now,
                                                    last_seen_at=now, account_id=2))
        conn.execute(contacts.insert().values(group_id=hostile[:64], contact_id="1", phone_raw="0612345678",
                                              phone_e164=NUMBER, stop_sms=True, stop_since=now, first_seen_at=now,
                                              last_seen_at=now, account_id=2))
    return {"fresh": int(fresh), "stale": int(stale), "failed": int(failed)}


def seed_stops(engine: Engine, now: datetime, numbers: list[str], synced_ago: timedelta = timedelta(minutes=10)) -> None:
    """Open stop periods for ``numbers`` in the parent account and a successful stops sync ``synced_ago``."""
    with engine.begin() as conn:
        conn.execute(sync_runs.insert().values(job="stops", started_at=now - synced_ago, finished_at=now - synced_ago,
                                               outcome="success", account_id=1))
        for i, number in enumerate(numbers, start=100):
            conn.execute(stop_periods.insert().values(api_stop_id=i, phone_e164=number, phone_raw=number,
                                                      first_seen_at=now - timedelta(days=3), source="sync", account_id=1))
