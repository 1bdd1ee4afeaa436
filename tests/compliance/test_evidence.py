"""`evidence NUMBER` on three backends through the simulator: opt-outs, a removal with its reason, sends after a STOP."""

from __future__ import annotations

import json

from tests.compliance.scenario import REMOVED, STOPPED, play


def test_evidence_shows_sends_while_opted_out_and_the_breach_past_the_grace(env, invoke) -> None:  # type: ignore[no-untyped-def]
    engine, sim, config, client = env
    played = play(engine, config, client, sim)
    report = json.loads(invoke("evidence", "06 12 34 56 78", "--format", "json").output)
    assert report["number"] == STOPPED
    assert [p["source"] for p in report["stop_periods"]] == ["sync"]
    assert [(s["message_id"], s["opted_out"]) for s in report["sends"]] == [(played.within_grace, True), (played.after_stop, True)]
    assert report["sends_while_opted_out"] == 2
    assert [b["message_id"] for b in report["breaches"]] == [played.after_stop]
    assert report["coverage"]["first_run_at"] is not None


def test_evidence_names_who_removed_the_stop_and_why_and_html_escapes_it(env, invoke, tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine, sim, config, client = env
    played = play(engine, config, client, sim)
    report = json.loads(invoke("evidence", REMOVED, "--format", "json").output)
    (period,) = report["stop_periods"]
    assert (period["removed_how"], period["removed_by"], period["removal_reason"]) == ("tool", "alice", "re-consent <form> 2026-12-01")
    assert [w["action"] for w in report["stop_writes"]] == ["stop_remove"]
    assert {s["message_id"]: s["opted_out"] for s in report["sends"]} == {played.after_stop: True, played.after_removal: False}
    out = tmp_path / "e.html"
    assert invoke("evidence", REMOVED, "--format", "html", "--out", str(out)).exit_code == 0
    page = out.read_text()
    assert "re-consent &lt;form&gt; 2026-12-01" in page and "<form>" not in page


def test_the_same_database_gives_the_same_report_and_digest(env, invoke) -> None:  # type: ignore[no-untyped-def]
    engine, sim, config, client = env
    play(engine, config, client, sim)
    first, second = (invoke("evidence", STOPPED).output for _ in range(2))
    assert first == second and "sha256 " in first
    assert json.loads(invoke("evidence", STOPPED, "--format", "json").output)["digest"] in first


def test_a_bad_number_is_one_sentence_and_exit_65(invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("evidence", "12")
    assert result.exit_code == 65 and "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
