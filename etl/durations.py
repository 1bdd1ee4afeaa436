"""Durations in settings, written as a number of seconds or with a unit, read as seconds (`etl.config`)."""

from __future__ import annotations

import re
import typing

from etl.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object, key: str) -> float:
    """Seconds from ``90``, ``"90s"``, ``"15m"``, ``"2h"`` or ``"1d"``."""
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a duration like '15m', got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ConfigError(f"{key}: expected a duration like '90s', '15m', '2h' or '1d', got {value!r}")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 0:
        raise ConfigError(f"{key}: a duration cannot be negative, got {value!r}")
    return seconds


Duration = typing.Annotated[float, "duration"]
"""A float of seconds that the TOML may write as ``"15m"``."""
