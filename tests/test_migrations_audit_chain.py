"""Migration 0018: the audit chain, with the write_actions history and the tool's closures sealed in, on three backends."""

from __future__ import annotations

from harness.chain import verify_url as _verify
from harness.sql import run_sql

from etl.db.migrate import downgrade, upgrade

_sql = run_sql



def _seed(url: str) -> None:
    for i, (action, outcome, amount) in enumerate((("stop_add", "success", None), ("stop_remove", "success", None),
                                                   ("credit_add", "unknown", "12.5")), start=1):
        _sql(url, "INSERT INTO write_actions (id, action, target, actor, reason, requested_at, completed_at, outcome, "
                  "api_stop_id, amount) VALUES (:i, :a, '+33612345678', 'alice', 'asked', '2026-12-01 09:00:00.123456', "
                  "'2026-12-01 09:00:01', :o, 7, :m)", i=i, a=action, o=outcome, m=amount)
    _sql(url, "INSERT INTO stop_periods (api_stop_id, phone_e164, phone_raw, first_seen_at, source, removed_at, removed_how, "
              "removed_by_action_id) VALUES (7, '+33612345678', '0612345678', '2026-11-30 08:00:00', 'tool', "
              "'2026-12-01 09:00:01', 'tool', 2)")
    _sql(url, "INSERT INTO stop_periods (api_stop_id, phone_e164, phone_raw, first_seen_at, source) "
              "VALUES (8, '+33612345679', '0612345679', '2026-11-30 08:00:00', 'sync')")


def test_existing_history_is_sealed_into_the_chain_and_later_edits_are_detected(db_url: str) -> None:
    upgrade(db_url, "0017")
    _seed(db_url)

    upgrade(db_url)

    assert _sql(db_url, "SELECT seq, kind, ref_table, ref_id FROM audit_chain ORDER BY seq") == [
        (1, "genesis", "write_actions", "1"), (2, "genesis", "write_actions", "2"), (3, "genesis", "write_actions", "3"),
        (4, "genesis", "stop_periods", "1"),
    ]
    report = _verify(db_url)
    assert report.intact, report.findings
    assert report.head_seq == 4

    _sql(db_url, "UPDATE write_actions SET amount = 13 WHERE id = 3")
    assert [f.kind for f in _verify(db_url).findings] == ["row_edited"]

    downgrade(db_url, "0017")
    assert _sql(db_url, "SELECT COUNT(*) FROM write_actions") == [(3,)]
