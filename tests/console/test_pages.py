"""What the pages show: stale jobs marked, charts drawn from the views, lookups, and every stored text escaped."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from etl.db import funnel_rollup, spend_rollup

from .conftest import NOW
from .seed import NUMBER, XSS, seed

ESCAPED = "&lt;script&gt;"


def test_the_overview_marks_a_job_past_its_staleness_and_not_a_fresh_one(engine: Engine, sign_in: Callable[..., TestClient]) -> None:
    seed(engine, NOW)
    page = sign_in("viewer").get("/").text
    assert re.search(r'<tr class="stale" data-job="rentals" data-account="main">', page)
    assert re.search(r'<tr class="fresh" data-job="stops" data-account="main">', page)


def test_every_stored_text_is_shown_escaped_on_every_page(engine: Engine, sign_in: Callable[..., TestClient]) -> None:
    runs = seed(engine, NOW)
    client = sign_in("admin")
    for path in ("/", "/runs", f"/runs/{runs['failed']}", f"/lookup?number={NUMBER}", "/lookup?number=" + XSS, "/users",
                 "/runs?job=" + XSS, "/login?next=" + XSS):
        body = client.get(path).text
        assert "<script>alert" not in body, path
    assert ESCAPED in client.get(f"/runs/{runs['failed']}").text
    assert ESCAPED in client.get(f"/lookup?number={NUMBER}").text, "the removal's reason and actor"
    assert ESCAPED in client.get("/").text, "the account label and quarantined endpoint"


def test_a_number_in_any_format_finds_its_periods_across_accounts(engine: Engine, sign_in: Callable[..., TestClient]) -> None:
    seed(engine, NOW)
    client = sign_in("viewer")
    for spelling in ("06 12 34 56 78", "+33 6 12 34 56 78", "0033612345678", NUMBER):
        page = client.get("/lookup", params={"number": spelling})
        assert page.status_code == 200, spelling
        assert NUMBER in page.text
        assert 'class="verdict stopped"' in page.text
        assert page.text.count("<tr>") >= 3, "two periods and a write"


def test_a_bad_number_gets_one_sentence_and_400(sign_in: Callable[..., TestClient]) -> None:
    client = sign_in("viewer")
    for bad in ("hello", "06-CALL-ME", "+" + "9" * 80):
        page = client.get("/lookup", params={"number": bad})
        assert page.status_code == 400, bad
        assert "That is not a phone number" in page.text


def test_charts_are_svg_drawn_from_spend_by_day_and_status_funnel(engine: Engine, sign_in: Callable[..., TestClient]) -> None:
    day = NOW.date().isoformat()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sends (message_id, kind, sent_at, started_at, sent_day, source, created_at) "
                          "VALUES ('m1', 'message', :n, :n, :d, 'csv', :n)"), {"n": NOW, "d": day})
        conn.execute(text("INSERT INTO recipients (send_id, message_id, phone_e164, phone_raw, sent_day, final, expired, "
                          "poll_until, poll_count, cost, currency, country, cost_checks, first_seen_at, status) VALUES "
                          "((SELECT id FROM sends), 'm1', :p, :p, :d, TRUE, FALSE, :n, 1, 0.045, 'EUR', 'FR', 1, :n, 'Delivered')"),
                     {"n": NOW, "d": day, "p": NUMBER})
        # Written by hand, not by the jobs: the rollups are rebuilt, as after a bulk import.
        spend_rollup.rebuild(conn)
        funnel_rollup.rebuild(conn)
    page = sign_in("viewer").get("/").text
    assert re.search(r'<figure class="chart spend">\s*<svg', page)
    assert "main · EUR" in page
    assert re.search(r'class="part delivered"><title>delivered: 1</title>', page)


def test_the_run_log_filters_by_job_account_and_outcome(engine: Engine, sign_in: Callable[..., TestClient]) -> None:
    runs = seed(engine, NOW)
    client = sign_in("viewer")
    page = client.get("/runs", params={"outcome": "failed"}).text
    assert f'href="/runs/{runs["failed"]}"' in page and f'href="/runs/{runs["fresh"]}"' not in page
    page = client.get("/runs", params={"job": "rentals", "account": "main"}).text
    assert f'href="/runs/{runs["stale"]}"' in page and f'href="/runs/{runs["fresh"]}"' not in page
    assert client.get("/runs/999999").status_code == 404


def test_every_answer_forbids_framing_and_foreign_assets(sign_in: Callable[..., TestClient]) -> None:
    answer = sign_in("viewer").get("/")
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
    assert "http" not in re.sub(r'xmlns="http://www.w3.org/2000/svg"', "", answer.text), "no external asset"


def test_the_charts_end_on_the_latest_day_with_a_send_or_a_rental_cost(engine: Engine) -> None:
    from datetime import date, timedelta

    from sqlalchemy import insert

    from etl.console.queries import chart_window
    from etl.db.schema import rental_costs, rentals

    assert chart_window(engine, 30, NOW.date()) == (NOW.date() - timedelta(days=29), NOW.date()), "nothing yet: today"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sends (message_id, kind, sent_at, started_at, sent_day, source, created_at) "
                          "VALUES ('m1', 'message', :n, :n, '2026-10-02', 'csv', :n)"), {"n": NOW})
        conn.execute(text("INSERT INTO recipients (send_id, message_id, phone_e164, phone_raw, sent_day, final, expired, "
                          "poll_until, poll_count, cost_checks, first_seen_at) VALUES "
                          "((SELECT id FROM sends), 'm1', :p, :p, '2026-10-02', FALSE, FALSE, :n, 0, 0, :n)"),
                     {"n": NOW, "p": NUMBER})
    assert chart_window(engine, 30, NOW.date())[1] == date(2026, 10, 2), "a send not priced yet counts (the funnel)"
    with engine.begin() as conn:
        rental = conn.execute(insert(rentals).values(token="t", source="cli", added_at=NOW, account_id=1)).inserted_primary_key[0]
        conn.execute(insert(rental_costs).values(rental_id=rental, account_id=1, total=12, currency="EUR",
                                                 cost_day=date(2026, 10, 20), first_seen_at=NOW, changed_at=NOW, observed_at=NOW))
    assert chart_window(engine, 30, NOW.date()) == (date(2026, 9, 21), date(2026, 10, 20)), "and a rental's spend"
