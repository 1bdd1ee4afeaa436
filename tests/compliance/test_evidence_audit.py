"""`evidence NUMBER` carries the audit chain's status, the entries recording the number's rows and the findings
about them: tampering in SQL on three backends (docs/compliance.md, "The audit chain in the report")."""

from __future__ import annotations

import json

from sqlalchemy import text

from tests.compliance.scenario import REMOVED, STOPPED, play


def _report(invoke, number: str):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
    result = invoke("evidence", number, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_an_intact_chain_is_verified_with_the_entries_of_the_numbers_removal(env, invoke) -> None:  # type: ignore[no-untyped-def]
    engine, sim, config, client = env
    play(engine, config, client, sim)
    report = _report(invoke, REMOVED)
    assert report["audit_chain"]["status"] == "verified" and report["audit_findings"] == []
    kinds = sorted((e["kind"], e["ref_table"]) for e in report["audit_entries"])
    assert kinds == [("action_complete", "write_actions"), ("action_open", "write_actions"), ("stop_closed_by_tool", "stop_periods")]
    assert report["audit_chain"]["head_seq"] == report["audit_chain"]["entries"] >= 3
    assert any(n.startswith("The audit chain verifies") for n in report["notes"])


def test_an_edited_removal_reason_is_a_finding_about_that_number_only(env, invoke) -> None:  # type: ignore[no-untyped-def]
    engine, sim, config, client = env
    play(engine, config, client, sim)
    with engine.begin() as conn:
        conn.execute(text("UPDATE write_actions SET reason = 'nobody asked' WHERE target = :n"), {"n": REMOVED})
    report = _report(invoke, REMOVED)
    assert report["audit_chain"]["status"] == "tampered"
    assert [f["kind"] for f in report["audit_findings"]] == ["row_edited"]
    assert "nobody asked" not in json.dumps(report["audit_findings"])  # findings name columns, not values
    other = _report(invoke, STOPPED)
    assert (other["audit_chain"]["status"], other["audit_chain"]["findings_for_number"], other["audit_findings"]) == ("tampered", 0, [])
    assert any("TAMPERED" in n for n in invoke("evidence", REMOVED).output.splitlines())


def test_a_deleted_entry_of_the_number_is_a_finding_about_it(env, invoke) -> None:  # type: ignore[no-untyped-def]
    engine, sim, config, client = env
    play(engine, config, client, sim)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_chain WHERE ref_table = 'stop_periods'"))
    report = _report(invoke, REMOVED)
    assert report["audit_chain"]["status"] == "tampered"
    assert "row_unrecorded" in {f["kind"] for f in report["audit_findings"]}


def test_an_acknowledged_breach_keeps_the_chain_verified(env, invoke) -> None:  # type: ignore[no-untyped-def]
    engine, sim, config, client = env
    play(engine, config, client, sim)
    (breach,) = _report(invoke, STOPPED)["breaches"]
    assert invoke("breaches", "ack", str(breach["id"]), "--reason", "campaign queued before the STOP").exit_code == 0
    report = _report(invoke, STOPPED)
    assert [e["kind"] for e in report["audit_entries"]] == ["breach_ack"]
    assert report["audit_chain"]["status"] == "verified", report["audit_findings"]
