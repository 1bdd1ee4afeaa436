"""The retention job on the simulated clock: numbers of rentals no longer followed deleted `rental_numbers_age`
after the rental was dropped, those that ever carried a stop flag only after `optout_age`; three backends."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from sqlalchemy import insert, select

from etl.config_compliance import ComplianceConfig
from etl.db.engine import make_engine
from etl.db.schema import rental_files, rental_number_events, rental_numbers, rentals
from tests.compliance.test_retention import NOW
from tests.jobs.helpers import make_client, make_config, run

# rental: (days since it was dropped or None while followed, [(number, stop now, stop_on event earlier)])
RENTALS = {
    "dropped-100d": (100, [("+33610000001", False, False), ("+33610000002", True, False), ("+33610000003", False, True)]),
    "dropped-10d": (10, [("+33610000004", False, False)]),
    "followed": (None, [("+33610000005", False, False)]),
    "dropped-1200d": (1200, [("+33610000006", True, True)]),
}


def _seed(engine) -> None:  # type: ignore[no-untyped-def]  # noqa: ANN001
    with engine.begin() as conn:
        for token, (dropped, numbers) in RENTALS.items():
            removed = None if dropped is None else NOW - timedelta(days=dropped)
            rental_id = conn.execute(insert(rentals).values(
                token=token, label=token, source="cli", added_at=NOW - timedelta(days=2000), active=removed is None,
                removed_at=removed)).inserted_primary_key[0]
            seen = NOW - timedelta(days=1500)
            file_id = conn.execute(insert(rental_files).values(
                rental_id=rental_id, downloaded_at=seen, loaded_at=seen, file_rows=len(numbers), numbers=len(numbers),
                stopped=0)).inserted_primary_key[0]
            for phone, stop, was_stopped in numbers:
                conn.execute(insert(rental_numbers).values(
                    rental_id=rental_id, phone_key=phone, phone_e164=phone, phone_raw=phone, stop=stop, in_file=True,
                    first_seen_at=seen))
                events = [("added", stop and not was_stopped)] + ([("stop_on", True), ("stop_off", stop)] if was_stopped else [])
                conn.execute(insert(rental_number_events), [
                    dict(rental_id=rental_id, file_id=file_id, phone_key=phone, phone_e164=phone, event=event, stop=flag,
                         observed_at=seen) for event, flag in events])


def test_numbers_of_dropped_rentals_are_purged_after_the_age_and_stop_flagged_ones_after_three_years(migrated_db_url) -> None:
    engine = make_engine(migrated_db_url, pool=False)
    _seed(engine)
    config = dataclasses.replace(make_config(migrated_db_url, "http://127.0.0.1:9"), compliance=ComplianceConfig(batch_size=1))
    report = run("retention", engine, config, client=make_client("http://127.0.0.1:9"), now=lambda: NOW)
    with engine.connect() as conn:
        left = conn.execute(select(rental_numbers.c.phone_key).order_by(rental_numbers.c.phone_key)).scalars().all()
        history = set(conn.execute(select(rental_number_events.c.phone_key)).scalars())
        files = conn.execute(select(rental_files.c.id)).scalars().all()
    engine.dispose()
    assert report.outcome.value == "success", report
    assert left == ["+33610000002", "+33610000003", "+33610000004", "+33610000005"]
    assert history == set(left)  # a purged number's history goes with it
    assert len(files) == 4  # the files' counts hold no number: kept
    assert report.result is not None and "rental_numbers=2" in str(report.result.detail)


def test_a_second_run_purges_nothing_more(migrated_db_url) -> None:
    engine = make_engine(migrated_db_url, pool=False)
    _seed(engine)
    config = make_config(migrated_db_url, "http://127.0.0.1:9")
    for expected in ("rental_numbers=2", "rental_numbers=0"):
        report = run("retention", engine, config, client=make_client("http://127.0.0.1:9"), now=lambda: NOW)
        assert report.result is not None and expected in str(report.result.detail), report
    engine.dispose()
