"""Logging for the long-running commands: text on a terminal, JSON lines under systemd.

``daemon.log_format``: ``auto`` (JSON when ``$JOURNAL_STREAM`` is set, i.e. stdout/stderr go to
the journal, or when stderr is not a terminal; text otherwise), ``text`` or ``json``.

Belt and braces for the API key: every handler gets a `SecretMaskFilter` that replaces the key
(and anything shaped like ``apiKey=...``) in the formatted message, the traceback and the extra
fields, whatever module logged it. The client already never puts the key in an error.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, TextIO

MASK = "********"
_KEY_SHAPED = re.compile(r"(?i)(api_?key=)[^&\s\"']+")

#: Attributes every LogRecord has; anything else came through ``extra=`` and goes into the JSON.
_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime", "taskName"}


def mask_text(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return _KEY_SHAPED.sub(lambda m: m.group(1) + MASK, text)


class SecretMaskFilter(logging.Filter):
    """Replace the secrets in a record's message, traceback and extra fields (on a handler)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def add(self, secret: str) -> None:
        if secret and secret not in self.secrets:
            self.secrets.append(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string: log it as written
            message = str(record.msg)
        record.msg = mask_text(message, self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info, self.secrets)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, mask_text(value, self.secrets))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the ``extra=`` fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value if isinstance(value, (str, int, float, bool, type(None), list, dict)) else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, default=str, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def choose_format(setting: str, environ: Mapping[str, str] | None = None, stream: TextIO | None = None) -> str:
    """``text`` or ``json`` for ``daemon.log_format``."""
    if setting in ("text", "json"):
        return setting
    env = os.environ if environ is None else environ
    if env.get("JOURNAL_STREAM"):
        return "json"
    stream = stream or sys.stderr
    return "text" if getattr(stream, "isatty", lambda: False)() else "json"


def configure_logging(
    log_format: str = "auto",
    *,
    level: int = logging.INFO,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> SecretMaskFilter:
    """Put one masked handler on the root logger (replacing plain stream handlers); returns its filter."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    chosen = choose_format(log_format, stream=stream)
    handler.setFormatter(JsonFormatter() if chosen == "json" else logging.Formatter(TEXT_FORMAT))
    mask = SecretMaskFilter(secrets)
    handler.addFilter(mask)
    root = logging.getLogger()
    for old in list(root.handlers):
        # Plain stream handlers (the CLI group's basicConfig, an earlier call) give way; others
        # (a test runner's capture, a syslog handler someone added) stay.
        if type(old) is logging.StreamHandler:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler logs every fire at INFO, and at WARNING each fire skipped because the previous
    # run is still going (counted as smspartner_etl_runs_skipped_total{reason="running"}); the
    # runner logs each run once already.
    logging.getLogger("apscheduler").setLevel(max(level, logging.ERROR))
    return mask
