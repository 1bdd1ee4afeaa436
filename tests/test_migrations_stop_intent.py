"""Migration 0014: existing replies classified for STOP intent in Python, the two views, and back, on three backends."""

from __future__ import annotations

from datetime import datetime, timezone

from etl.db.migrate import downgrade, upgrade
from tests.test_migrations_money import _sql  # one SQL helper for the migration tests

BEFORE = "0013"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
TEXTS = ["stop svp", "Oui merci", "ARRÊT", "stop à 18h ?", None, "désabonnez-moi", "top"]


def _seed(url: str) -> None:
    n = NOW.replace(tzinfo=None) if not url.startswith("postgresql") else NOW
    for i, reply in enumerate(TEXTS):
        phone = f"+3361234567{i}"
        _sql(url, "INSERT INTO push_inbox (channel, kind, content_hash, received_at, body, phone_e164, state, attempts) "
                  "VALUES ('stop', 'reply', :h, :n, '{}', :p, 'applied', 1)", h=f"{i:064d}", n=n, p=phone)
        _sql(url, "INSERT INTO replies (inbox_id, kind, phone_e164, phone_raw, text, received_at) "
                  "VALUES ((SELECT id FROM push_inbox WHERE content_hash = :h), 'response', :p, :p, :t, :n)",
             h=f"{i:064d}", p=phone, t=reply, n=n)
    # The ARRÊT sender is already on the stop list: flagged, but not listed.
    _sql(url, "INSERT INTO stop_periods (phone_e164, phone_raw, first_seen_at, source, created_at_unreadable) "
              "VALUES ('+33612345672', '+33612345672', :n, 'sync', FALSE)", n=n)


def test_existing_replies_are_classified_and_the_views_list_them_and_downgrade_drops_both(db_url: str) -> None:
    upgrade(db_url, BEFORE)
    _seed(db_url)

    upgrade(db_url)

    flags = _sql(db_url, "SELECT text, stop_intent FROM replies ORDER BY id")
    assert [(t, bool(f)) for t, f in flags] == [
        ("stop svp", True), ("Oui merci", False), ("ARRÊT", True), ("stop à 18h ?", False), (None, False),
        ("désabonnez-moi", True), ("top", False)]
    assert _sql(db_url, "SELECT text FROM reply_stop_intents ORDER BY reply_id") == [("stop svp",), ("désabonnez-moi",)]
    assert _sql(db_url, "SELECT phone_e164, attributed_by, stopped_at IS NOT NULL FROM optout_attribution") == [
        ("+33612345672", None, True)]

    downgrade(db_url, BEFORE)
    assert _sql(db_url, "SELECT COUNT(*) FROM replies") == [(len(TEXTS),)]
    upgrade(db_url)
    assert _sql(db_url, "SELECT COUNT(*) FROM reply_stop_intents") == [(2,)]
