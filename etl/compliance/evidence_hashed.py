"""The `evidence` sections that find the number by its keyed hash: the filter runs that blocked it
(``filter_run_blocks``) and its opt-outs the retention job reduced to a hash (``optout_hashes``).

Only rows hashed with the configured key can match (``hash_key_id``); the others, and every hashed row
when no key is configured, are counted and the report says they could not be checked. What the report
can claim about filter runs: "blocked" for a run whose blocks hold the number's hash; never "allowed",
since a run keeps no list of the numbers it let through (docs/compliance.md, "Filter runs and hashed
opt-outs in the report").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from etl.compliance.evidence_rows import rows
from etl.compliance.hashing import NumberHasher
from etl.db.schema import accounts, filter_run_blocks, filter_runs, optout_hashes, write_actions

__all__ = ["filter_run_checks", "hashed_optout_checks", "hashed_optouts", "mark_hashed_opt_outs", "notes", "runs_blocking"]

Rows = list[dict[str, Any]]


def runs_blocking(conn: Connection, e164: str, hasher: NumberHasher | None) -> Rows:
    """Each filter run (any outcome) whose recorded blocks hold the number, once per reason."""
    if hasher is None:
        return []
    f, b = filter_runs.c, filter_run_blocks.c
    # The blocks are indexed on (run_id, number_hash) only (migration 0026): the run ids, listed first, make
    # every planner probe that index once per run; a plain join let SQLite scan all the blocks instead.
    keyed_runs = select(f.id).where(f.hash_key_id == hasher.key_id).scalar_subquery()
    found = rows(conn, select(
        f.id.label("run_id"), f.started_at, f.finished_at, f.outcome, f.actor, f.input_name, f.input_sha256,
        f.accounts, b.reason, f.allow_stale, f.stop_list_synced_at, f.stop_list_age_seconds,
    ).select_from(filter_run_blocks.join(filter_runs, f.id == b.run_id))
        .where(b.run_id.in_(keyed_runs), b.number_hash == hasher.hash(e164), f.hash_key_id == hasher.key_id)
        .distinct().order_by(f.started_at, f.id, b.reason))  # a number may recur in two batches of one run
    for row in found:
        row["allow_stale"] = bool(row["allow_stale"])
        age = row["stop_list_age_seconds"]
        row["stop_list_age_seconds"] = None if age is None else round(float(age))  # MariaDB FLOAT is single precision
    return found


def filter_run_checks(conn: Connection, blocking: Rows, hasher: NumberHasher | None) -> dict[str, int]:
    """Successful runs by what can be said of this number: blocked it, hashed with this key but did not
    block it (absent from the file or allowed: not which), or not checkable (counts only, another key)."""
    f = filter_runs.c
    by_key = _by_key(conn, select(f.hash_key_id, func.count()).where(f.outcome == "success").group_by(f.hash_key_id))
    total = sum(by_key.values())
    same_key = by_key.get(hasher.key_id, 0) if hasher else 0
    blocked = len({row["run_id"] for row in blocking if row["outcome"] == "success"})
    return {"runs": total, "blocked": blocked, "not_blocked": same_key - blocked, "unchecked": total - same_key}


def hashed_optouts(conn: Connection, e164: str, hasher: NumberHasher | None) -> Rows:
    """The number's opt-out periods that the retention job reduced to a keyed hash, with who removed them and why."""
    if hasher is None:
        return []
    h, a, w = optout_hashes.c, accounts.c, write_actions.c
    return rows(conn, select(
        h.stop_period_id, a.label.label("account"), h.api_stop_id, h.source, h.api_created_at, h.first_seen_at,
        h.last_seen_at, h.removed_at, h.removed_how, w.actor.label("removed_by"), w.reason.label("removal_reason"),
        h.hashed_at,
    ).select_from(optout_hashes.join(accounts, a.id == h.account_id).outerjoin(write_actions, w.id == h.removed_by_action_id))
        .where(h.phone_hash == hasher.hash(e164), h.hash_key_id == hasher.key_id).order_by(h.first_seen_at, h.stop_period_id))


def hashed_optout_checks(conn: Connection, hasher: NumberHasher | None) -> dict[str, int]:
    """How many hashed opt-outs exist, and how many were made with another key (or any key, when none is configured)."""
    h = optout_hashes.c
    by_key = _by_key(conn, select(h.hash_key_id, func.count()).group_by(h.hash_key_id))
    total = sum(by_key.values())
    return {"hashed_optouts": total, "unchecked": total - (by_key.get(hasher.key_id, 0) if hasher else 0)}


def _by_key(conn: Connection, query: Any) -> dict[str | None, int]:
    return {key: int(count) for key, count in conn.execute(query)}


def mark_hashed_opt_outs(sends: Rows, periods: Rows) -> None:
    """Sends made while a hashed period of the sending account was open are opted out too (no grace)."""
    spans = [(p["account"], _at(p["api_created_at"] or p["first_seen_at"]), _at(p["removed_at"])) for p in periods]
    for send in sends:
        started = _at(send["started_at"])
        if not send["opted_out"] and started is not None and any(
            account == send["account"] and opened is not None and opened <= started and (closed is None or started < closed)
            for account, opened, closed in spans
        ):
            send["opted_out"] = True


def _at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def notes(key_id: str | None, runs: dict[str, int], hashed: dict[str, int]) -> list[str]:
    """What the hashed sections could and could not check, in sentences (deterministic: counts only)."""
    said = []
    if key_id is None:
        said.append(f"No hash key is configured: {runs['unchecked']} filter runs and {hashed['unchecked']} hashed opt-outs "
                    "could not be checked for this number ([compliance] hash_key_env, docs/compliance.md).")
    else:
        said.append(f"Hashed history checked with key id {key_id}.")
        if hashed["unchecked"]:
            said.append(f"{hashed['unchecked']} hashed opt-outs were made with another key and could not be checked.")
        if runs["unchecked"]:
            said.append(f"{runs['unchecked']} successful filter runs recorded counts only or used another key: "
                        "whether they blocked this number cannot be said.")
    if runs["not_blocked"]:
        said.append(f"{runs['not_blocked']} successful filter runs hashed with this key did not block this number: it was "
                    "absent from their file or passed to their allowed output; runs keep no list of allowed numbers, so "
                    "which of the two cannot be said.")
    return said
