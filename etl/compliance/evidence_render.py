"""The `evidence` report as text, JSON or HTML (docs/compliance.md). HTML escapes every value: a stop reason of
``<script>`` is shown as text."""

from __future__ import annotations

import html
import json
from typing import Any

from etl.compliance.evidence import SECTION_NAMES, Report

TITLES = {
    "stop_periods": "Stop periods (opt-outs) in every account",
    "stop_writes": "Stop adds and removals made with this tool (write_actions)",
    "replies": "Replies and STOP callbacks from the number (kind stop: the callback, its text and the message id it answered)",
    "stop_intents": "Replies whose text asks to stop (rule: what flags it; listed: not on the account's stop list yet)",
    "sends": "Tracked sends to the number (opted_out: on the sending account's stop list then)",
    "breaches": "Breaches (sends past the grace while opted out)",
    "rental_events": "Rental file flags over time",
    "contact_events": "Contact group flags over time",
    "hashed_optouts": "Opt-outs older than the retention age, kept as a keyed hash (matched with the configured key)",
    "filter_runs": "Audience-filter runs that blocked the number (matched by keyed hash; allowed numbers are not recorded)",
    "audit_entries": "Audit chain entries recording the number's stop periods, stop writes and breaches",
    "audit_findings": "Audit chain findings about those rows and entries (verify-audit)",
}


def _text_value(value: Any) -> str:
    return "-" if value is None else str(value)


def as_text(report: Report) -> str:
    lines = [f"Evidence for {report['number']}",
             f"database covers runs from {_text_value(report['coverage']['first_run_at'])} to "
             f"{_text_value(report['coverage']['last_run_at'])}",
             f"sends while opted out: {report['sends_while_opted_out']}"]
    lines += [f"note: {note}" for note in report["notes"]]
    for name in SECTION_NAMES:
        rows = report[name]
        lines.append("")
        lines.append(f"{TITLES[name]}: {len(rows)}")
        for row in rows:
            lines.append("  " + ", ".join(f"{k}={_text_value(v)}" for k, v in row.items()))
    lines += ["", f"sha256 {report['digest']}"]
    return "\n".join(lines) + "\n"


def as_json(report: Report) -> str:
    return json.dumps(report, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_text_value(v))}</td>" for v in row.values()) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def as_html(report: Report) -> str:
    number = html.escape(report["number"])
    cover = report["coverage"]
    parts = [
        "<!doctype html><html><head><meta charset=\"utf-8\">",
        f"<title>Evidence for {number}</title></head><body>",
        f"<h1>Evidence for {number}</h1>",
        f"<p>Database covers runs from {html.escape(_text_value(cover['first_run_at']))} to "
        f"{html.escape(_text_value(cover['last_run_at']))}. Sends while opted out: {int(report['sends_while_opted_out'])}.</p>",
        *(f"<p class=\"note\">{html.escape(note)}</p>" for note in report["notes"]),
    ]
    for name in SECTION_NAMES:
        parts.append(f"<h2>{html.escape(TITLES[name])}</h2>{_table(report[name])}")
    parts.append(f"<p>SHA-256 of the report's content: <code>{html.escape(report['digest'])}</code></p></body></html>")
    return "".join(parts) + "\n"


RENDERERS = {"text": as_text, "json": as_json, "html": as_html}
