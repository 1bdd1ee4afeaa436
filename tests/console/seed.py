"""Rows for the console's pages, with hostile text in every stored field a page shows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine

from etl.db.schema import accounts, contact_groups, contacts, rejected_items, stop_periods, sync_runs, write_actions

XSS = "<script>alert('x')</script>"
NUMBER = "+33612345678"
#: Account 2's key (`accounts.token`, what its API calls send): no page or answer may show it.
SUB_KEY = "sub-account-key-never-shown-7f3a"


def seed(engine: Engine, now: datetime, hostile: str | Callable[[str], str] = XSS) -> dict[str, int]:
    """Account 2 labelled with ``hostile``; a fresh and a stale job; a stop removed with a hostile reason; a
    quarantined item, a run detail and host, a job name, a contact group and an actor, all hostile. ``hostile``
    may be a function of the field's name (``label``, ``detail``, ...), to tell which field reached a page.
    Returns the run ids (``job``: the run of the hostile job)."""
    text_of = hostile if callable(hostile) else (lambda _field: hostile)
    with engine.begin() as conn:
        conn.execute(accounts.insert().values(id=2, label=text_of("label")[:64], type="simple", token=SUB_KEY, parent_id=1,
                                              first_seen_at=now))
        fresh = conn.execute(sync_runs.insert().values(job="stops", started_at=now - timedelta(minutes=5),
                                                       finished_at=now - timedelta(minutes=4), outcome="success",
                                                       account_id=1)).inserted_primary_key[0]
        stale = conn.execute(sync_runs.insert().values(job="rentals", started_at=now - timedelta(days=5),
                                                       finished_at=now - timedelta(days=5), outcome="success",
                                                       account_id=1)).inserted_primary_key[0]
        failed = conn.execute(sync_runs.insert().values(job="stops", started_at=now - timedelta(minutes=30),
                                                        finished_at=now - timedelta(minutes=29), outcome="failed",
                                                        detail=text_of("detail"), host=text_of("host")[:255],
                                                        account_id=2)).inserted_primary_key[0]
        job = conn.execute(sync_runs.insert().values(job=text_of("job")[:32], started_at=now - timedelta(hours=1),
                                                     finished_at=now - timedelta(hours=1), outcome="success",
                                                     account_id=2)).inserted_primary_key[0]
        action = conn.execute(write_actions.insert().values(action="stop_remove", target=NUMBER, actor=text_of("actor")[:128],
                                                            reason=text_of("reason"), requested_at=now - timedelta(days=1),
                                                            outcome="success", account_id=1)).inserted_primary_key[0]
        conn.execute(stop_periods.insert().values(api_stop_id=7, phone_e164=NUMBER, phone_raw="0612345678",
                                                  first_seen_at=now - timedelta(days=9), removed_at=now - timedelta(days=1),
                                                  removed_how="tool", removed_by_action_id=action, source="sync", account_id=1))
        conn.execute(stop_periods.insert().values(api_stop_id=8, phone_e164=NUMBER, phone_raw="0612345678",
                                                  first_seen_at=now - timedelta(hours=2), source="push", account_id=2))
        conn.execute(rejected_items.insert().values(endpoint=text_of("endpoint")[:48], item_hash="0" * 64, item="{}",
                                                    reason=text_of("quarantine")[:255], ref_kind=text_of("kind")[:16],
                                                    ref=text_of("ref")[:64], first_seen_at=now, last_seen_at=now,
                                                    last_run_id=failed, account_id=2))
        group = text_of("group")[:64]
        conn.execute(contact_groups.insert().values(group_id=group, name=text_of("group_name"), followed=True,
                                                    first_seen_at=now, last_seen_at=now, account_id=2))
        conn.execute(contacts.insert().values(group_id=group, contact_id="1", phone_raw="0612345678",
                                              phone_e164=NUMBER, stop_sms=True, stop_since=now, first_seen_at=now,
                                              last_seen_at=now, account_id=2))
    return {"fresh": int(fresh), "stale": int(stale), "failed": int(failed), "job": int(job)}


def seed_stops(engine: Engine, now: datetime, numbers: list[str], synced_ago: timedelta = timedelta(minutes=10)) -> None:
    """Open stop periods for ``numbers`` in the parent account and a successful stops sync ``synced_ago``."""
    with engine.begin() as conn:
        conn.execute(sync_runs.insert().values(job="stops", started_at=now - synced_ago, finished_at=now - synced_ago,
                                               outcome="success", account_id=1))
        for i, number in enumerate(numbers, start=100):
            conn.execute(stop_periods.insert().values(api_stop_id=i, phone_e164=number, phone_raw=number,
                                                      first_seen_at=now - timedelta(days=3), source="sync", account_id=1))
