"""Everything the database knows about one number, across accounts, as plain data (docs/compliance.md,
"Answering a complaint with `evidence`").

Deterministic: every section is ordered by time then id, values are text (UTC ISO 8601, exact decimals), and
the SHA-256 digest covers the canonical JSON of the sections and the database's time range, never the time the
report was made: the same database gives the same report and digest. Reads only; `evidence_render` formats it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Connection, column, func, select, table, true

from etl.compliance import breaches as breach_rows
from etl.compliance import evidence_audit, evidence_hashed, intent
from etl.compliance.evidence_rows import rows as _rows
from etl.compliance.evidence_rows import value as _value
from etl.compliance.hashing import NumberHasher
from etl.db.schema import (
    accounts,
    contact_events,
    push_inbox,
    recipients,
    rental_number_events,
    rentals,
    replies,
    sends,
    stop_periods,
    sync_runs,
    write_actions,
)

Report = dict[str, Any]

#: The audited writes that name a number in ``write_actions.target``.
NUMBER_ACTIONS = ("stop_add", "stop_remove")


def _stop_periods(conn: Connection, e164: str) -> list[dict[str, Any]]:
    p, w, a = stop_periods.c, write_actions.c, accounts.c
    return _rows(conn, select(
        p.id, a.label.label("account"), p.api_stop_id, p.source, p.api_created_at, p.first_seen_at, p.removed_at,
        p.removed_how, w.actor.label("removed_by"), w.reason.label("removal_reason"),
    ).select_from(stop_periods.join(accounts, a.id == p.account_id).outerjoin(write_actions, w.id == p.removed_by_action_id))
        .where(p.phone_e164 == e164).order_by(p.first_seen_at, p.id))


def _writes(conn: Connection, e164: str) -> list[dict[str, Any]]:
    w, a = write_actions.c, accounts.c
    return _rows(conn, select(
        w.id, a.label.label("account"), w.action, w.actor, w.reason, w.requested_at, w.completed_at, w.outcome,
        w.api_stop_id,
    ).select_from(write_actions.join(accounts, a.id == w.account_id))
        .where(w.target == e164, w.action.in_(NUMBER_ACTIONS)).order_by(w.requested_at, w.id))


def _replies(conn: Connection, e164: str) -> list[dict[str, Any]]:
    r = replies.c
    found = _rows(conn, select(r.id, r.kind, r.text, r.keyword, r.message_id, r.sent_at, r.received_at, r.text_purged_at,
                               r.stop_intent).where(r.phone_e164 == e164).order_by(r.received_at, r.id))
    for row in found:
        row["stop_intent"] = bool(row["stop_intent"])
    return found


_INTENTS_VIEW = table("reply_stop_intents", column("reply_id"), column("phone_e164"))


def _stop_intents(conn: Connection, e164: str) -> list[dict[str, Any]]:
    """Replies flagged at intake as asking to stop, with the rule that flags their text (`intent.classify`,
    recomputed: the flag is stored, the rule is not; None once the text is purged), whether
    `reply_stop_intents` still lists them (no open stop in the account yet) and the stop add they led to."""
    from etl.jobs.actions.reply_intent import ACTOR, reason_of

    r, i, a, w = replies.c, push_inbox.c, accounts.c, write_actions.c
    found = _rows(conn, select(
        r.id.label("reply_id"), a.label.label("account"), r.kind, r.message_id, r.text, r.received_at, r.text_purged_at,
    ).select_from(replies.join(push_inbox, i.id == r.inbox_id).join(accounts, a.id == i.account_id))
        .where(r.phone_e164 == e164, r.stop_intent == true()).order_by(r.received_at, r.id))
    listed = set(conn.execute(select(_INTENTS_VIEW.c.reply_id).where(_INTENTS_VIEW.c.phone_e164 == e164)).scalars())
    adds = {row.reason: row for row in conn.execute(
        select(w.id, w.reason, w.outcome).where(w.target == e164, w.actor == ACTOR).order_by(w.id))}
    for row in found:
        row["rule"] = intent.classify(row["text"]).rule if row["text"] else None
        row["listed"] = row["reply_id"] in listed
        add = adds.get(reason_of(row["reply_id"]))
        row["stop_add_action_id"], row["stop_add_outcome"] = (add.id, add.outcome) if add else (None, None)
    return found


def _sends(conn: Connection, e164: str) -> list[dict[str, Any]]:
    r, s, a, p = recipients.c, sends.c, accounts.c, stop_periods.c
    opted_out = (
        select(func.count()).select_from(stop_periods)
        .where(p.account_id == r.account_id, p.phone_e164 == r.phone_e164,
               func.coalesce(p.api_created_at, p.first_seen_at) <= s.started_at,
               (p.removed_at.is_(None)) | (p.removed_at > s.started_at))
        .scalar_subquery()
    )
    found = _rows(conn, select(
        r.id.label("recipient_id"), a.label.label("account"), r.message_id, s.tag, s.started_at, r.status, r.status_at,
        r.final, r.cost, r.currency, opted_out.label("opted_out"),
    ).select_from(recipients.join(sends, s.id == r.send_id).join(accounts, a.id == r.account_id))
        .where(r.phone_e164 == e164).order_by(s.started_at, r.id))
    for row in found:
        row["opted_out"] = bool(row["opted_out"])
        row["final"] = bool(row["final"])
    return found


def _rental_events(conn: Connection, e164: str) -> list[dict[str, Any]]:
    e, r = rental_number_events.c, rentals.c
    found = _rows(conn, select(e.id, r.label.label("rental"), e.event, e.stop, e.observed_at)
                  .select_from(rental_number_events.join(rentals, r.id == e.rental_id))
                  .where(e.phone_e164 == e164).order_by(e.observed_at, e.id))
    for row in found:
        row["stop"] = bool(row["stop"])
    return found


def _contact_events(conn: Connection, e164: str) -> list[dict[str, Any]]:
    e, a = contact_events.c, accounts.c
    return _rows(conn, select(e.id, a.label.label("account"), e.group_id, e.contact_id, e.kind, e.at)
                 .select_from(contact_events.join(accounts, a.id == e.account_id))
                 .where(e.phone_e164 == e164).order_by(e.at, e.id))


def _breaches(conn: Connection, e164: str) -> list[dict[str, Any]]:
    return [
        {k: _value(v) for k, v in vars(row).items()}
        for row in breach_rows.list_breaches(conn, include_acknowledged=True, phone_e164=e164)
    ]


def _coverage(conn: Connection) -> dict[str, Any]:
    """The time range the database covers: its first and latest job run."""
    first, last = conn.execute(select(func.min(sync_runs.c.started_at), func.max(sync_runs.c.started_at))).one()
    return {"first_run_at": _value(first), "last_run_at": _value(last)}


SECTIONS = (
    ("stop_periods", _stop_periods),
    ("stop_writes", _writes),
    ("replies", _replies),
    ("stop_intents", _stop_intents),
    ("sends", _sends),
    ("breaches", _breaches),
    ("rental_events", _rental_events),
    ("contact_events", _contact_events),
)


def digest_of(content: Report) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _hashed(conn: Connection, e164: str, hasher: NumberHasher | None, content: Report) -> None:
    """The sections found by the number's keyed hash, what could not be checked, and the sends they put in a
    hashed opt-out period."""
    content["hashed_optouts"] = evidence_hashed.hashed_optouts(conn, e164, hasher)
    content["filter_runs"] = evidence_hashed.runs_blocking(conn, e164, hasher)
    runs = evidence_hashed.filter_run_checks(conn, content["filter_runs"], hasher)
    optouts = evidence_hashed.hashed_optout_checks(conn, hasher)
    key_id = hasher.key_id if hasher else None
    content["hash_checks"] = {"key_id": key_id, "filter_runs": runs, "hashed_optouts": optouts}
    content["notes"] += evidence_hashed.notes(key_id, runs, optouts)
    evidence_hashed.mark_hashed_opt_outs(content["sends"], content["hashed_optouts"])


#: Sections found by the number's keyed hash (`evidence_hashed`); shown after the others.
HASHED_SECTIONS = ("hashed_optouts", "filter_runs")
#: The audit chain's entries for the number's rows and the findings about them (`evidence_audit`).
AUDIT_SECTIONS = ("audit_entries", "audit_findings")
#: Every list section, in the order the renderers show them.
SECTION_NAMES = tuple(name for name, _read in SECTIONS) + HASHED_SECTIONS + AUDIT_SECTIONS


def gather(conn: Connection, e164: str, hasher: NumberHasher | None = None) -> Report:
    """The report for ``e164`` (already E.164): the number, the coverage, each section, what could not be
    checked (``notes``) and the digest of it all. ``hasher``: the configured key, None when there is none."""
    content: Report = {"number": e164, "coverage": _coverage(conn), "notes": []}
    for name, read in SECTIONS:
        content[name] = read(conn, e164)
    _hashed(conn, e164, hasher, content)
    evidence_audit.audit_section(conn, content)
    content["sends_while_opted_out"] = sum(1 for row in content["sends"] if row["opted_out"])
    return {**content, "digest": digest_of(content)}
