"""The admin's stop adds, removals and cancels through the console: the CLI's audited write path against the
simulator (real sockets), the signed-in user as the actor, a reason required, the account chosen, admins only."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from etl.config import Config, load_config

from .conftest import NOW, csrf_of
from .seed import XSS

NUMBER = "+33612345678"
WRITES = ["/stops/add", "/stops/remove", "/messages/cancel"]


@pytest.fixture
def console_config(simulator: Any, api_key: str, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("SMSPARTNER_API_KEY", api_key)  # the console reads the key as the daemon does
    return load_config(None, environ={"SMSPARTNER_ETL__API__BASE_URL": simulator.base_url,
                                      "SMSPARTNER_ETL__API__MAX_ATTEMPTS": "1", "SMSPARTNER_ETL__API__READ_TIMEOUT": "2",
                                      "SMSPARTNER_ETL__ACCOUNTS__DISCOVER": "true"})


def audit(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT a.label, w.action, w.target, w.actor, w.reason, w.outcome FROM write_actions w "
                                 "JOIN accounts a ON a.id = w.account_id ORDER BY w.id")).all()
    return [tuple(r) for r in rows]


def post(client: TestClient, path: str, **fields: str) -> Any:
    return client.post(path, data={"csrf": csrf_of(client.get("/stops").text), **fields})


def test_an_admin_adds_a_stop_audited_with_their_name_and_reason(engine: Engine, sign_in: Callable[..., TestClient],
                                                               simulator: Any) -> None:
    admin = sign_in("admin", "alice")
    page = admin.get("/stops")
    assert page.status_code == 200
    assert 'id="stop-add"' in page.text and 'id="cancel-message"' in page.text
    answer = post(admin, "/stops/add", number="06 12 34 56 78", reason="asked by phone", account="main")
    assert answer.status_code == 200, answer.text
    assert 'class="message ok"' in answer.text and f"{NUMBER} added to the stop list" in answer.text
    assert audit(engine) == [("main", "stop_add", NUMBER, "console:alice", "asked by phone", "success")]
    assert simulator.sim.stop_id_of(NUMBER) is not None
    again = post(admin, "/stops/add", number=NUMBER, reason="twice")
    assert again.status_code == 400 and "is already in the stop list" in again.text, "refused before any call"


def test_a_reason_is_required_and_a_bad_number_is_one_sentence(engine: Engine, sign_in: Callable[..., TestClient],
                                                               simulator: Any) -> None:
    admin = sign_in("admin")
    missing = post(admin, "/stops/add", number=NUMBER, reason="  ")
    assert missing.status_code == 400 and "Give a reason" in missing.text
    bad = post(admin, "/stops/add", number="12", reason="test")
    assert bad.status_code == 400 and 'id="message"' in bad.text and "Traceback" not in bad.text
    assert audit(engine) == [] and simulator.sim.calls == []


def test_a_cancel_too_close_to_its_time_is_one_sentence_and_a_later_one_works(
        engine: Engine, sign_in: Callable[..., TestClient], simulator: Any) -> None:
    sim = simulator.sim
    soon = sim.send(["+33611111111"], scheduled_at=sim.clock.now() + timedelta(minutes=3))
    later = sim.send(["+33622222222"], scheduled_at=sim.clock.now() + timedelta(hours=3))
    admin = sign_in("admin", "bob")
    too_late = post(admin, "/messages/cancel", message_id=soon, reason="wrong text")
    assert too_late.status_code == 502 and "too late to cancel" in too_late.text
    done = post(admin, "/messages/cancel", message_id=later, reason="wrong text")
    assert done.status_code == 200 and f"Send {later} cancelled" in done.text
    assert [row[1:] for row in audit(engine)] == [("message_cancel", soon, "console:bob", "wrong text", "rejected"),
                                                  ("message_cancel", later, "console:bob", "wrong text", "success")]


def test_a_sub_account_is_chosen_like_the_cli_account_option_and_an_unknown_one_is_refused(
        engine: Engine, sign_in: Callable[..., TestClient], simulator: Any, invoke: Callable[..., Any],
        tmp_path: Path) -> None:
    from etl.simulator.seedfile import add_subaccount

    shop = add_subaccount(simulator.sim, {"email": "shop@example.com", "token": "tok-shop", "balance": "50"})
    (tmp_path / "config.toml").write_text("[accounts]\ndiscover = true\n")
    assert invoke("sync", "accounts").exit_code == 0  # the shop lands in `accounts` as shop-1
    admin = sign_in("admin")
    token = csrf_of(admin.get("/stops").text)
    page = admin.get("/stops").text
    assert 'id="stop-add-account"' in page and "shop-1" in page, "a choice once there are several accounts"
    answer = admin.post("/stops/add", data={"csrf": token, "number": NUMBER, "reason": "asked the shop", "account": "shop-1"})
    assert answer.status_code == 200, answer.text
    assert shop.account.stop_id_of(NUMBER) is not None and simulator.sim.stop_id_of(NUMBER) is None
    unknown = admin.post("/stops/add", data={"csrf": token, "number": NUMBER, "reason": "x", "account": "nope"})
    assert unknown.status_code == 400 and "is not the label of an account here" in unknown.text


@pytest.mark.parametrize("path", WRITES)
def test_writes_are_for_admins_only_and_need_the_csrf_token(console_app: Any, sign_in: Callable[..., TestClient],
                                                            engine: Engine, simulator: Any, path: str) -> None:
    anonymous = TestClient(console_app, follow_redirects=False)
    assert anonymous.get("/stops").status_code == 303
    assert anonymous.post(path, data={"csrf": "x", "number": NUMBER, "message_id": "1", "reason": "r"}).status_code == 401
    for role in ("viewer", "marketing"):
        client = sign_in(role)
        assert client.get("/stops").status_code == 403
        token = csrf_of(client.get("/").text)
        refused = client.post(path, data={"csrf": token, "number": NUMBER, "message_id": "1", "reason": "r", "consent_evidence": "e"})
        assert refused.status_code == 403, "refused by the server, by direct POST"
    admin = sign_in("admin")
    for csrf in ("", "wrong"):
        assert admin.post(path, data={"csrf": csrf, "number": NUMBER, "message_id": "1", "reason": "r", "consent_evidence": "e"}).status_code == 403
    assert audit(engine) == [] and simulator.sim.calls == []


def test_stored_texts_are_escaped_and_no_page_shows_the_api_key(engine: Engine, sign_in: Callable[..., TestClient],
                                                               simulator: Any, api_key: str) -> None:
    admin = sign_in("admin")
    answer = post(admin, "/stops/add", number=NUMBER, reason=XSS)
    assert answer.status_code == 200
    looked = admin.get("/lookup", params={"number": NUMBER}).text
    assert "<script>alert" not in looked and "&lt;script&gt;" in looked
    for path in ("/stops", "/lookup?number=" + NUMBER, "/"):
        assert api_key not in admin.get(path).text
    assert api_key not in answer.text and api_key not in str(answer.headers)


def push_stop(engine: Engine, simulator: Any, days_ago: float) -> int:
    """``NUMBER`` stopped in the account and in our copy by a STOP reply (source push) ``days_ago`` before NOW."""
    from etl.db.schema import stop_periods

    stop_id = int(simulator.sim.add_stop(NUMBER))
    with engine.begin() as conn:
        conn.execute(stop_periods.insert().values(api_stop_id=stop_id, phone_e164=NUMBER, phone_raw=NUMBER, source="push",
                                                  first_seen_at=NOW - timedelta(days=days_ago), account_id=1))
    return stop_id


def message_of(page: str) -> str:
    """The sentence a write answered with (the page's message paragraph)."""
    found = re.search(r'<p class="message [a-z]+" id="message"[^>]*>([^<]*)</p>', page)
    assert found, page
    return found.group(1)


def removals(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT target, actor, reason, consent_evidence, cooloff_override, outcome FROM write_actions "
                                 "WHERE action = 'stop_remove' ORDER BY id")).all()
    return [tuple(r) for r in rows]


def test_a_removal_needs_consent_evidence_and_is_audited_with_it(engine: Engine, sign_in: Callable[..., TestClient],
                                                                  simulator: Any) -> None:
    push_stop(engine, simulator, days_ago=60)  # past the 30-day cool-off
    admin = sign_in("admin", "carol")
    assert 'id="stop-remove"' in admin.get("/stops").text
    missing = post(admin, "/stops/remove", number=NUMBER, reason="opted back in", consent_evidence=" ")
    assert missing.status_code == 400 and "only with consent evidence" in missing.text
    assert "--consent-evidence" not in missing.text, "the sentence names the form, not the CLI"
    done = post(admin, "/stops/remove", number=NUMBER, reason="opted back in", consent_evidence="web form #4711")
    assert done.status_code == 200, done.text
    assert removals(engine) == [(NUMBER, "console:carol", "opted back in", "web form #4711", False, "success")]
    assert simulator.sim.stop_id_of(NUMBER) is None


def test_a_removal_within_the_cooloff_after_a_stop_reply_needs_the_override(engine: Engine, sign_in: Callable[..., TestClient],
                                                                            simulator: Any) -> None:
    push_stop(engine, simulator, days_ago=2)
    admin = sign_in("admin")
    refused = post(admin, "/stops/remove", number=NUMBER, reason="asked again", consent_evidence="call 2026-12-02")
    assert refused.status_code == 400 and "cannot be removed before" in refused.text
    assert "Override the cool-off" in refused.text and "--override" not in refused.text
    assert removals(engine) == [] and simulator.sim.stop_id_of(NUMBER) is not None
    done = post(admin, "/stops/remove", number=NUMBER, reason="asked again", consent_evidence="call 2026-12-02", override="yes")
    assert done.status_code == 200, done.text
    assert [r[4:] for r in removals(engine)] == [(True, "success")]


def test_an_admin_removes_a_stop_by_its_id_when_its_number_has_several_open_stops(
        engine: Engine, sign_in: Callable[..., TestClient], simulator: Any) -> None:
    from etl.db.schema import stop_periods

    stop_id = push_stop(engine, simulator, days_ago=60)
    with engine.begin() as conn:  # our copy holds a second open stop of the number (a hand import, an old sync)
        conn.execute(stop_periods.insert().values(api_stop_id=stop_id + 1000, phone_e164=NUMBER, phone_raw=NUMBER,
                                                  source="sync", first_seen_at=NOW - timedelta(days=90), account_id=1))
    admin = sign_in("admin", "dan")
    lookup = admin.get("/lookup", params={"number": NUMBER}).text
    assert f'<td class="stop-id">{stop_id}</td>' in lookup and f'<td class="stop-id">{stop_id + 1000}</td>' in lookup
    fields = {"reason": "opted back in", "consent_evidence": "web form #4712"}
    by_number = post(admin, "/stops/remove", number=NUMBER, **fields)
    said = message_of(by_number.text)
    assert by_number.status_code == 400 and "remove one by its stop id" in said and "--id" not in said, said
    both = post(admin, "/stops/remove", number=NUMBER, stop_id=str(stop_id), **fields)
    assert both.status_code == 400 and message_of(both.text) == "Give a number or a stop id (one of them)."
    for typed in ("12x", "-3", "0", "99999999999999999999"):
        bad = post(admin, "/stops/remove", stop_id=typed, **fields)
        assert bad.status_code == 400 and "Stop id: a stop id is a whole number from 1 to" in message_of(bad.text), typed
    assert removals(engine) == [] and simulator.sim.stop_id_of(NUMBER) == stop_id

    done = post(admin, "/stops/remove", stop_id=f" {stop_id} ", **fields)
    assert done.status_code == 200, done.text
    assert removals(engine) == [(NUMBER, "console:dan", "opted back in", "web form #4712", False, "success")]
    assert simulator.sim.stop_id_of(NUMBER) is None
    with engine.connect() as conn:
        still_open = conn.execute(text("SELECT api_stop_id FROM stop_periods WHERE removed_at IS NULL")).scalars().all()
    assert still_open == [stop_id + 1000], "only the stop named by its id is closed"
