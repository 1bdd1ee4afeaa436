"""Daemon logs: JSON lines under systemd, text on a terminal, and never the API key."""

from __future__ import annotations

import io
import json
import logging

import pytest

from etl.logging_setup import choose_format, configure_logging

SECRET = "k-3f9a-very-secret"


@pytest.mark.parametrize(
    ("setting", "env", "tty", "expected"),
    [
        ("json", {}, True, "json"),
        ("text", {"JOURNAL_STREAM": "8:123"}, False, "text"),
        ("auto", {"JOURNAL_STREAM": "8:123"}, True, "json"),
        ("auto", {}, True, "text"),
        ("auto", {}, False, "json"),
    ],
    ids=["json-forced", "text-forced", "journal-means-json", "tty-means-text", "pipe-means-json"],
)
def test_log_format_follows_setting_then_journal_then_tty(setting, env, tty, expected) -> None:  # type: ignore[no-untyped-def]
    stream = io.StringIO()
    stream.isatty = lambda: tty  # type: ignore[method-assign]
    assert choose_format(setting, env, stream) == expected


def test_json_lines_carry_the_run_figures_and_mask_the_key() -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    configure_logging("json", secrets=[SECRET], stream=out)
    log = logging.getLogger("etl.test")
    log.info("job %s run %d success", "stops", 7, extra={"job": "stops", "run_id": 7, "added": 3, "figures": {"list_size": 9}})
    log.warning("GET /v1/me?apiKey=%s failed", SECRET)
    log.info("detail", extra={"job": "stops", "note": f"key {SECRET}"})
    try:
        raise RuntimeError(f"boom with {SECRET}")
    except RuntimeError:
        log.exception("crashed")
    text = out.getvalue()
    assert SECRET not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["msg"] == "job stops run 7 success"
    assert (lines[0]["job"], lines[0]["run_id"], lines[0]["added"], lines[0]["figures"]) == ("stops", 7, 3, {"list_size": 9})
    assert "apiKey=********" in lines[1]["msg"]
    assert "RuntimeError" in lines[3]["exc"]


def test_text_format_masks_the_key_from_any_logger() -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    configure_logging("text", secrets=[SECRET], stream=out)
    logging.getLogger("urllib3.connectionpool").warning("GET /v1/stop-sms/list?apiKey=%s HTTP/1.1", SECRET)
    assert SECRET not in out.getvalue() and "stop-sms/list" in out.getvalue()
